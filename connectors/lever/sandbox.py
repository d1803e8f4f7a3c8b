"""A local Lever Data API v1 server for demos, end-to-end tests and benchmarks.

It speaks the subset of ``/v1`` the connector uses, with Lever's documented semantics:

* ``{data, hasNext, next}`` list envelopes with opaque offset tokens that are only valid for the exact
  query that produced them (and for this server process): anything else is a 400
  ``Invalid offset token: Offset token is invalid for sort``;
* millisecond timestamps; ``updated_at_*`` filters never return opportunities whose ``updatedAt`` is null;
* confidential opportunities, postings and requisitions hidden unless ``confidentiality=all`` (or
  ``confidential``) is asked for;
* API-key Basic auth (key as username) and an OAuth token endpoint whose refresh tokens are single-use;
* ``perform_as`` required on ``POST /opportunities`` and ``POST /postings[/:id]``, checked when present
  elsewhere; every ``POST /opportunities`` makes a new opportunity (under the existing contact when an
  e-mail matches, or under ``contact`` when given; ``postings`` holds at most one posting); notes do not
  move ``updatedAt``, tags do; requisition ``PUT`` replaces the whole record, a requisition code is used
  once, custom fields are checked against ``/requisition_fields``; postings are linked to requisitions by
  ``requisitionCodes`` (the requisition lists them in ``postings``); posting HTML checked against the
  whitelist; deleted opportunities listed by ``/opportunities/deleted``;
* a token bucket (default 10 rps, bursts of 20) answering 429 without rate-limit headers;
* injected latency and faults (429, 500, 503, dropped connections, refused offset tokens), all before the
  request has any effect; ``/_sandbox/...`` admin endpoints (config, stats, token expiry, deletes).

Data lives in one SQLite file (WAL) and survives restarts.  ``seed(size=N)`` makes N opportunities.

Run it with ``python -m syncbridge.connectors.lever.sandbox serve --db PATH``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import random
import secrets
import sqlite3
import threading
import time
import unicodedata
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from syncbridge.plugins import Sandbox
from syncbridge.sandbox_server import ThreadedSandbox, drop_connection, send_bytes, serve_forever

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_REFRESH_TOKEN",
    "DEMO_ENV",
    "DEMO_PERFORM_AS_EMAIL",
    "SandboxServer",
    "create_app",
    "demo_connector_block",
    "demo_conversion_rule",
    "demo_people",
    "main",
    "people_snapshot",
    "seed",
]

DEFAULT_API_KEY = "sbx-lever-key-3c9d2f71b8e4"
DEFAULT_CLIENT_ID = "sbx-lever-client-1"
DEFAULT_CLIENT_SECRET = "sbx-lever-secret-8a41c7e09d"
DEFAULT_REFRESH_TOKEN = "sbx-lever-refresh-initial-5e2b"
DEMO_PERFORM_AS_EMAIL = "ada.admin@sandbox-hr.example"
DEMO_ENV: dict[str, str] = {"LEVER_SANDBOX_API_KEY": DEFAULT_API_KEY}

MAX_LIMIT = 100
INVALID_OFFSET = "Invalid offset token: Offset token is invalid for sort"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _now_ms() -> int:
    return int(time.time() * 1000)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


class LeverError(Exception):
    """An error answered as Lever does: ``{"code": ..., "message": ...}``."""

    def __init__(self, status: int, code: str, message: str, *, body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body if body is not None else {"code": code, "message": message}


def _bad(message: str) -> LeverError:
    return LeverError(400, "BadRequestError", message)


def _not_found(what: str, ident: str) -> LeverError:
    return LeverError(404, "ResourceNotFound", f"{what} {ident} was not found")


# ------------------------------------------------------------------------------------------------------
# storage: every table is (id TEXT, sort INTEGER, data TEXT) plus the columns its filters need

TABLES: dict[str, tuple[str, ...]] = {
    "users": ("email_lc", "deactivated"),
    "stages": (),
    "archive_reasons": (),
    "requisition_fields": (),
    "postings": ("updated_at", "state", "confidential"),
    "requisitions": ("updated_at", "code", "status", "confidential"),
    "contacts": (),
    "opportunities": ("contact", "updated_at", "archived", "confidential"),
    "notes": ("opp_id",),
    "deleted_opportunities": ("contact",),
}
INDEXES = [
    "CREATE INDEX IF NOT EXISTS ix_opp_contact ON opportunities(contact)",
    "CREATE INDEX IF NOT EXISTS ix_opp_updated ON opportunities(updated_at)",
    "CREATE INDEX IF NOT EXISTS ix_notes_opp ON notes(opp_id, sort, id)",
    "CREATE INDEX IF NOT EXISTS ix_users_email ON users(email_lc)",
    "CREATE INDEX IF NOT EXISTS ix_req_code ON requisitions(code)",
    "CREATE TABLE IF NOT EXISTS contact_emails (email TEXT NOT NULL, contact TEXT NOT NULL, "
    "position INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS ix_ce_email ON contact_emails(email)",
    "CREATE INDEX IF NOT EXISTS ix_ce_contact ON contact_emails(contact)",
    "CREATE TABLE IF NOT EXISTS refresh_tokens (token TEXT PRIMARY KEY, used INTEGER NOT NULL, "
    "created_at INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)",
]


def _connect(path: str | Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def _ensure_schema(conn: sqlite3.Connection) -> None:
    for table, cols in TABLES.items():
        extra = "".join(f", {c}" for c in cols)
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, sort INTEGER NOT NULL, "
            f"data TEXT NOT NULL{extra})"
        )
        conn.execute(f"CREATE INDEX IF NOT EXISTS ix_{table}_sort ON {table}(sort, id)")
    for stmt in INDEXES:
        conn.execute(stmt)


def _insert_sql(table: str) -> str:
    cols = ("id", "sort", "data", *TABLES[table])
    return f"INSERT OR REPLACE INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"


def _columns(table: str, rec: dict[str, Any]) -> tuple[Any, ...]:
    if table == "users":
        return ((rec.get("email") or "").strip().lower(), int(rec.get("deactivatedAt") is not None))
    if table == "postings":
        return (rec.get("updatedAt"), rec.get("state"), int(rec.get("confidentiality") == "confidential"))
    if table == "requisitions":
        return (
            rec.get("updatedAt"),
            rec.get("requisitionCode"),
            rec.get("status"),
            int(rec.get("confidentiality") == "confidential"),
        )
    if table == "opportunities":
        return (
            rec["contact"],
            rec.get("updatedAt"),
            int(bool(rec.get("archived"))),
            int(rec.get("confidentiality") == "confidential"),
        )
    if table == "notes":
        return (rec["_opp"],)
    if table == "deleted_opportunities":
        return (rec.get("contact"),)
    return ()


def _sort_of(table: str, rec: dict[str, Any]) -> int:
    if table == "deleted_opportunities":
        return int(rec.get("deletedAt") or 0)
    if table == "stages":
        return int(rec.get("_pos", 0))
    return int(rec.get("createdAt") or 0)


def _row(table: str, rec: dict[str, Any]) -> tuple[Any, ...]:
    return (rec["id"], _sort_of(table, rec), _dumps(rec), *_columns(table, rec))


class _Store:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.conn = _connect(self.path)
        self.lock = threading.RLock()
        with self.lock:
            _ensure_schema(self.conn)

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def get(self, table: str, rec_id: str) -> dict[str, Any] | None:
        with self.lock:
            row = self.conn.execute(f"SELECT data FROM {table} WHERE id = ?", (rec_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, table: str, rec: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.conn.execute(_insert_sql(table), _row(table, rec))
        return rec

    def delete(self, table: str, rec_id: str) -> None:
        with self.lock:
            self.conn.execute(f"DELETE FROM {table} WHERE id = ?", (rec_id,))

    def count(self, table: str, where: str = "") -> int:
        with self.lock:
            return int(self.conn.execute(f"SELECT COUNT(*) FROM {table} {where}").fetchone()[0])

    def all(self, table: str) -> list[dict[str, Any]]:
        with self.lock:
            return [
                json.loads(r[0]) for r in self.conn.execute(f"SELECT data FROM {table} ORDER BY sort, id")
            ]

    def set_contact_emails(self, contact: dict[str, Any]) -> None:
        with self.lock:
            self.conn.execute("DELETE FROM contact_emails WHERE contact = ?", (contact["id"],))
            self.conn.executemany(
                "INSERT INTO contact_emails(email, contact, position) VALUES (?, ?, ?)",
                [(e.strip().lower(), contact["id"], i) for i, e in enumerate(contact.get("emails") or [])],
            )


# ------------------------------------------------------------------------------------------------------
# seeding

SEED_ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
SPAN_MS = 730 * 86_400_000
NOTE_CAP = 5_000

# fmt: off
FIRST = ["José", "Zoë", "Renée", "François", "Björn", "Søren", "Łukasz", "Mary-Kate", "Siobhán", "Chloé",
         "Maria", "James", "Priya", "Aisha", "Oluwaseun", "Mohammed", "Wei", "美咲", "翔太", "Дмитрий",
         "Анна",
         "Emily", "Michael", "Sarah", "David", "Fatima", "Carlos", "Ingrid", "Kwame", "Yuki", "Liam", "Noah",
         "Olivia", "Jae-won", "민준", "Ngozi", "Tomás", "Ángel", "Gaëlle", "Sofía", "Zeynep", "Mateo", "Elif"]
LAST = ["O'Brien", "García", "Müller", "Smith-Jones", "Nguyễn", "Østergaard", "Kowalski", "Иванов",
        "Петрова", "佐藤", "鈴木", "王", "김", "Fernández", "van der Berg", "de la Cruz", "Smith",
        "Johnson",
        "Okafor", "Adeyemi", "Patel", "Singh", "Chen", "Nakamura", "Rossi", "Dubois", "Şahin", "Kovačević",
        "Ó Súilleabháin", "MacDonald", "Haddad", "Andersson", "Mendes", "Kaur", "Yilmaz"]
DOMAINS = ["gmail.com", "yahoo.com", "outlook.com", "proton.me", "icloud.com", "mail.ru", "qq.com", "gmx.de",
           "stateu.edu", "techinst.edu", "university.ac.uk", "acme.io", "globex.com", "initech.com"]
HEADLINES = ["Student", "Software Engineer at Globex", "Data Analyst", "Research Assistant", "Barista",
             "Product Designer", "Marketing Intern", "Junior Developer", "Étudiante en informatique",
             "学生", "Студент"]
LOCATIONS = ["Oakland", "San Francisco", "New York", "London", "Berlin", "Paris", "Tokyo", "Москва", "Remote"]
TAGS = ["Referral", "Boomerang", "University Recruiting", "Full-time", "San Francisco", "Silver Medalist",
        "Do Not Contact"]
SOURCES = ["linkedin", "indeed", "referral", "university fair", "company website"]
ORIGINS = ["applied", "applied", "sourced", "referred", "university", "agency", "internal"]
STAGES = [("lead-new", "New lead"), ("lead-reached-out", "Reached out"), ("lead-responded", "Responded"),
          ("applicant-new", "New applicant"), ("recruiter-screen", "Recruiter screen"),
          ("phone-interview", "Phone interview"), ("onsite-interview", "On-site interview"),
          ("offer", "Offer")]
ARCHIVE_REASONS = [("Underqualified", "non-hired"), ("Withdrew", "non-hired"),
                   ("Position filled", "non-hired"), ("Hired", "hired")]
USERS = [("Ada Admin", "ada.admin@sandbox-hr.example", "super admin", False),
         ("Rita Recruiter", "rita.recruiter@sandbox-hr.example", "admin", False),
         ("Rafael Núñez", "rafael.nunez@sandbox-hr.example", "team member", False),
         ("Hiro Tanaka", "hiro.tanaka@sandbox-hr.example", "team member", False),
         ("Grace O'Neill", "grace.oneill@sandbox-hr.example", "limited team member", False),
         ("Pavel Орлов", "pavel.orlov@sandbox-hr.example", "interviewer", False),
         ("Old Account", "old.account@sandbox-hr.example", "team member", True)]
# (title, team, department, state, confidential)
POSTINGS = [("Software Engineer II", "Platform", "Engineering", "published", False),
            ("Data Analyst", "Analytics", "Data", "published", False),
            ("Product Designer", "Design", "Design", "internal", False),
            ("Customer Success Associate", "Support", "Customer Success", "closed", False),
            ("Marketing Coordinator", "Growth", "Marketing", "draft", False),
            ("VP Engineering (confidential)", "Leadership", "Engineering", "published", True)]
REQ_FIELDS = [{"id": "cost_center", "text": "Cost center", "type": "text", "isRequired": False},
              {"id": "target_hire_date", "text": "Target hire date", "type": "date", "isRequired": False},
              {"id": "budget_band", "text": "Budget band", "type": "dropdown", "isRequired": False,
               "options": [{"text": "A"}, {"text": "B"}, {"text": "C"}]},
              {"id": "mi_source_project", "text": "Micro-internship source project", "type": "text",
               "isRequired": False}]
NOTE_TEXTS = ["Great phone screen, strong SQL.", "Asked to follow up in Q3.", "Prefers remote roles.",
              "Relocating to Berlin — check visa.", "Référence vérifiée.", "候補者と面談済み。"]
# fmt: on


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _anchor_ms() -> int:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return int(min(SEED_ANCHOR, today).timestamp() * 1000)


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def _phone(rng: random.Random) -> str:
    a, b, c = rng.randrange(200, 999), rng.randrange(100, 999), rng.randrange(1000, 9999)
    return [f"({a}) {b}-{c}", f"+1 {a} {b} {c}", f"+44 20 {b}{c}", f"+49{a}{b}{c}"][rng.randrange(4)]


@dataclass
class _World:
    anchor: int
    users: list[str]
    stages: list[str]
    reasons: list[str]
    postings: list[dict[str, Any]]


def _seed_dictionaries(conn: sqlite3.Connection, rng: random.Random) -> _World:
    anchor = _anchor_ms()
    early = anchor - SPAN_MS - 200 * 86_400_000
    users: list[dict[str, Any]] = []
    for name, email, role, deactivated in USERS:
        created = early + rng.randrange(100 * 86_400_000)
        users.append(
            {
                "id": _uuid(rng),
                "name": name,
                "username": email.split("@")[0],
                "email": email,
                "createdAt": created,
                "deactivatedAt": created + 86_400_000 if deactivated else None,
                "accessRole": role,
                "photo": None,
                "externalDirectoryId": None,
                "linkedContactIds": None,
                "jobTitle": None,
                "managerId": None,
            }
        )
    conn.executemany(_insert_sql("users"), [_row("users", u) for u in users])
    stages: list[dict[str, Any]] = [
        {"id": sid, "text": text, "_pos": i} for i, (sid, text) in enumerate(STAGES)
    ]
    conn.executemany(_insert_sql("stages"), [_row("stages", s) for s in stages])
    reasons: list[dict[str, Any]] = [
        {"id": _uuid(rng), "text": text, "status": "active", "type": kind, "createdAt": early}
        for text, kind in ARCHIVE_REASONS
    ]
    conn.executemany(_insert_sql("archive_reasons"), [_row("archive_reasons", r) for r in reasons])
    conn.executemany(
        _insert_sql("requisition_fields"),
        [_row("requisition_fields", {**f, "createdAt": early + i}) for i, f in enumerate(REQ_FIELDS)],
    )
    active = [u["id"] for u in users if u["deactivatedAt"] is None]
    postings: list[dict[str, Any]] = []
    for k, (title, team, dept, state, confidential) in enumerate(POSTINGS):
        created = anchor - SPAN_MS + rng.randrange(SPAN_MS // 2)
        pid = _uuid(rng)
        postings.append(
            {
                "id": pid,
                "text": title,
                "createdAt": created,
                "updatedAt": created + rng.randrange(SPAN_MS // 2),
                "user": active[0],
                "owner": active[1 + k % 3],
                "hiringManager": active[3],
                "confidentiality": "confidential" if confidential else "non-confidential",
                "categories": {
                    "team": team,
                    "department": dept,
                    "location": LOCATIONS[k % 4],
                    "allLocations": [LOCATIONS[k % 4]],
                    "commitment": "Full-time",
                    "level": None,
                },
                "content": {
                    "description": f"Join us as a {title}.",
                    "descriptionHtml": f"<div>Join us as a {title}.</div>",
                    "lists": [{"text": "Requirements", "content": "<li>Curiosity</li><li>Teamwork</li>"}],
                    "closing": "",
                    "closingHtml": "",
                },
                "country": "US",
                "tags": [],
                "state": state,
                "distributionChannels": ["internal", "public"],
                "reqCode": f"REQ-{1001 + k}",
                "requisitionCodes": [f"REQ-{1001 + k}"],
                "salaryDescription": None,
                "salaryDescriptionHtml": None,
                "salaryRange": None,
                "urls": {
                    "list": "https://jobs.sandbox.example/acme",
                    "show": f"https://jobs.sandbox.example/acme/{pid}",
                    "apply": f"https://jobs.sandbox.example/acme/{pid}/apply",
                },
                "workplaceType": ["onsite", "remote", "hybrid"][k % 3],
                "followers": [],
            }
        )
    conn.executemany(_insert_sql("postings"), [_row("postings", p) for p in postings])
    reqs: list[dict[str, Any]] = []
    for k, p in enumerate(postings):
        created = p["createdAt"] - 86_400_000
        updated = None if k == 0 else p["updatedAt"]
        reqs.append(
            {
                "id": _uuid(rng),
                "requisitionCode": f"REQ-{1001 + k}",
                "name": p["text"],
                "backfill": k == 3,
                "confidentiality": p["confidentiality"],
                "createdAt": created,
                "creator": active[0],
                "headcountHired": 0,
                "headcountTotal": "unlimited" if k == 1 else 1 + k % 3,
                "status": {"published": "open", "internal": "open", "closed": "closed", "draft": "draft"}[
                    p["state"]
                ],
                "hiringManager": active[3],
                "owner": active[1],
                "compensationBand": None,
                "employmentStatus": "full-time",
                "location": p["categories"]["location"],
                "internalNotes": "",
                "postings": [p["id"]],
                "department": p["categories"]["department"],
                "team": p["categories"]["team"],
                "offerIds": [],
                "approval": None,
                "customFields": {"cost_center": f"CC-{100 + k}"},
                "closedAt": None,
                "timeToFillStartAt": None,
                "timeToFillEndAt": None,
                "updatedAt": updated,
            }
        )
    conn.executemany(_insert_sql("requisitions"), [_row("requisitions", r) for r in reqs])
    return _World(
        anchor=anchor,
        users=active,
        stages=[s["id"] for s in stages],
        reasons=[r["id"] for r in reasons],
        postings=postings,
    )


def _gen_contact(rng: random.Random, i: int, recent: list[str], shared: set[str]) -> dict[str, Any]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    fa, la = _ascii(first) or "x", _ascii(last) or "y"
    roll = rng.random()
    count = 0 if roll < 0.02 else 1 if roll < 0.72 else 2 if roll < 0.94 else 3
    emails = []
    for k in range(count):
        local = [f"{fa}.{la}{i}", f"{fa[0]}{la}{i}", f"{la}.{fa}{i}"][k % 3]
        email = f"{local}@{rng.choice(DOMAINS)}"
        if rng.random() < 0.04:
            email = email[:1].upper() + email[1:]
        if rng.random() < 0.02:
            email = " " + email
        emails.append(email)
    if i > 10 and recent and (rng.random() < 0.01 or (i == 12 and not shared)):  # at least one pair
        borrowed = rng.choice(recent)
        if borrowed.strip().lower() not in shared:
            shared.add(borrowed.strip().lower())
            emails.insert(rng.randrange(len(emails) + 1), borrowed)
    if emails:
        recent.append(emails[0])
        del recent[:-400]
    phones: list[dict[str, Any]] = []
    if rng.random() > 0.25:
        phone: dict[str, Any] = {"value": _phone(rng)}
        if rng.random() > 0.2:  # the type is optional
            phone["type"] = rng.choice(["mobile", "mobile", "home", "work", "other"])
        phones.append(phone)
    return {
        "id": "",
        "name": f"{first} {last}" if rng.random() > 0.01 else first,
        "headline": rng.choice(HEADLINES) if rng.random() < 0.6 else "",
        "location": rng.choice(LOCATIONS) if rng.random() < 0.7 else None,
        "emails": emails,
        "phones": phones,
        "links": [f"https://www.linkedin.com/in/{fa}-{la}-{i}"] if rng.random() < 0.15 else [],
        "isAnonymized": False,
    }


def _gen_opportunity(rng: random.Random, w: _World, contact: dict[str, Any], created: int) -> dict[str, Any]:
    oid = _uuid(rng)
    on_posting = rng.random() < 0.7
    posting = None
    if on_posting:
        public = [p for p in w.postings if p["confidentiality"] != "confidential"]
        secret = [p for p in w.postings if p["confidentiality"] == "confidential"]
        posting = rng.choice(secret) if secret and rng.random() < 0.03 else rng.choice(public)
    confidential = bool(posting and posting["confidentiality"] == "confidential")
    updated: int | None = min(w.anchor, created + rng.randrange(1, 200 * 86_400_000))
    if rng.random() < 0.03:
        updated = None  # an old opportunity nobody touched since the updatedAt field appeared
    stage = rng.choice(w.stages[3:] if on_posting else w.stages[:3])
    archived = None
    if rng.random() < 0.35:
        archived = {
            "archivedAt": (updated or created) - rng.randrange(0, 1000),
            "reason": rng.choice(w.reasons),
        }
    apps = []
    if posting is not None:
        apps.append(
            {
                "id": _uuid(rng),
                "opportunityId": oid,
                "candidateId": oid,
                "createdAt": created,
                "type": "posting",
                "posting": posting["id"],
                "postingOwner": posting["owner"],
                "postingHiringManager": posting["hiringManager"],
                "user": None,
                "name": contact["name"],
                "email": (contact["emails"] or [None])[0],
                "phone": contact["phones"][0] if contact["phones"] else None,
                "company": None,
                "links": None,
                "comments": None,
                "customQuestions": [],
                "archived": archived,
                "requisitionForHire": None,
            }
        )
    owner = rng.choice(w.users)
    return {
        "id": oid,
        "contact": contact["id"],
        "createdAt": created,
        "updatedAt": updated,
        "lastInteractionAt": updated or created,
        "lastAdvancedAt": updated or created,
        "snoozedUntil": None,
        "archived": archived,
        "stage": stage,
        "stageChanges": [
            {"toStageId": stage, "toStageIndex": w.stages.index(stage), "userId": owner, "updatedAt": created}
        ],
        "owner": owner,
        "followers": [owner],
        "tags": rng.sample(TAGS, rng.choice([1, 1, 2])) if rng.random() < 0.2 else [],
        "sources": [rng.choice(SOURCES)] if rng.random() < 0.6 else [],
        "origin": "applied" if on_posting else rng.choice(ORIGINS),
        "sourcedBy": None if on_posting else owner,
        "confidentiality": "confidential" if confidential else "non-confidential",
        "dataProtection": None,
        "isAnonymized": False,
        "opportunityLocation": contact.get("location"),
        "_applications": apps,
    }


def seed(db_path: str | Path, size: int = 200, seed: int = 7, *, reset: bool = False) -> None:
    """Create the schema and ``size`` deterministic opportunities (about 0.85 contacts per opportunity).

    A no-op when the file is already seeded, unless ``reset`` wipes it first.
    """
    if not 1 <= size <= 5_000_000:
        raise ValueError("size must be between 1 and 5,000,000")
    path = Path(db_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = _connect(path)
    try:
        if reset:
            for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
                if not name.startswith("sqlite_"):
                    conn.execute(f'DROP TABLE IF EXISTS "{name}"')
        _ensure_schema(conn)
        if conn.execute("SELECT value FROM meta WHERE key = 'seeded'").fetchone():
            return
        # one big transaction: no WAL copy of every page, and a page cache that holds the random-UUID
        # indexes (without it a million-row seed slows down quadratically)
        conn.execute("PRAGMA journal_mode=MEMORY")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-262144")
        conn.execute("BEGIN IMMEDIATE")
        try:
            _seed_all(conn, size, seed)
            conn.execute(
                "INSERT INTO meta(key, value) VALUES ('seeded', ?)",
                (_dumps({"size": size, "seed": seed, "at": _now_ms()}),),
            )
            conn.execute(
                "INSERT OR IGNORE INTO refresh_tokens(token, used, created_at) VALUES (?, 0, ?)",
                (DEFAULT_REFRESH_TOKEN, _now_ms()),
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    finally:
        conn.close()


def _seed_all(conn: sqlite3.Connection, size: int, seed_value: int) -> None:
    w = _seed_dictionaries(conn, random.Random(f"lever-sandbox:{seed_value}:dicts"))
    rng = random.Random(f"lever-sandbox:{seed_value}:people")
    note_rng = random.Random(f"lever-sandbox:{seed_value}:notes")
    start = w.anchor - SPAN_MS
    recent: list[str] = []
    shared: set[str] = set()
    contacts: list[tuple[Any, ...]] = []
    emails: list[tuple[str, str, int]] = []
    opps: list[tuple[Any, ...]] = []
    notes: list[tuple[Any, ...]] = []
    deleted: list[tuple[Any, ...]] = []
    made = 0
    i = 0

    def flush() -> None:
        conn.executemany(_insert_sql("contacts"), contacts)
        conn.executemany("INSERT INTO contact_emails(email, contact, position) VALUES (?, ?, ?)", emails)
        conn.executemany(_insert_sql("opportunities"), opps)
        conn.executemany(_insert_sql("notes"), notes)
        conn.executemany(_insert_sql("deleted_opportunities"), deleted)
        for batch in (contacts, emails, opps, notes, deleted):
            batch.clear()

    while made < size:
        i += 1
        contact = _gen_contact(rng, i, recent, shared)
        contact["id"] = _uuid(rng)
        roll = rng.random()
        n_opps = min(size - made, 1 if roll < 0.82 else 2 if roll < 0.96 else 3)
        first_created = start + int(SPAN_MS * (made + rng.random()) / size)
        contact["createdAt"] = first_created
        contacts.append(_row("contacts", contact))
        emails.extend((e.strip().lower(), contact["id"], p) for p, e in enumerate(contact["emails"]))
        for k in range(n_opps):
            created = (
                first_created if k == 0 else min(w.anchor, first_created + rng.randrange(1, 90 * 86_400_000))
            )
            opp = _gen_opportunity(rng, w, contact, created)
            opps.append(_row("opportunities", opp))
            made += 1
            if len(notes) < NOTE_CAP and note_rng.random() < 0.25:
                ts = created + note_rng.randrange(1, 86_400_000)
                notes.append(
                    _row(
                        "notes",
                        _note_record(
                            _uuid(note_rng),
                            opp["id"],
                            note_rng.choice(NOTE_TEXTS),
                            note_rng.choice(w.users),
                            ts,
                            secret=False,
                            score=None,
                        ),
                    )
                )
        if rng.random() < 0.005:  # an opportunity of this person that was deleted last month
            when = w.anchor - rng.randrange(1, 30 * 86_400_000)
            gone = _gen_opportunity(rng, w, contact, first_created)
            gone.pop("_applications")
            gone.update({"deletedBy": w.users[0], "deletedAt": when, "applications": []})
            deleted.append(_row("deleted_opportunities", gone))
        if len(opps) >= 5000:
            flush()
    flush()


def _note_record(
    note_id: str, opp_id: str, value: str, user: str | None, ts: int, *, secret: bool, score: int | None
) -> dict[str, Any]:
    return {
        "id": note_id,
        "_opp": opp_id,
        "text": "Note",
        "fields": [
            {
                "type": "note",
                "text": "Comment",
                "value": value,
                "createdAt": ts,
                "user": user,
                "score": score,
                "stage": None,
            }
        ],
        "user": user,
        "secret": secret,
        "createdAt": ts,
        "completedAt": ts,
        "deletedAt": None,
    }


# ------------------------------------------------------------------------------------------------------
# demo helpers


def demo_people(db_path: str | Path, n: int = 12, seed: int = 7) -> list[dict[str, Any]]:
    """Deterministic people for a demo outcomes file (kinds primary, secondary, ambiguous, unmatched).

    ``primary``: an e-mail that is the first of exactly one contact; ``secondary``: a later e-mail of
    exactly one contact; ``ambiguous``: an e-mail two contacts share; ``unmatched``: nobody has it.
    """
    conn = sqlite3.connect(str(db_path))
    try:
        rng = random.Random(f"lever-sandbox-demo:{seed}")
        rows = conn.execute(
            "SELECT ce.email, ce.contact, ce.position FROM contact_emails ce "
            "WHERE ce.contact IN (SELECT id FROM contacts ORDER BY sort, id LIMIT 5000) "
            "AND EXISTS (SELECT 1 FROM opportunities o WHERE o.contact = ce.contact) "
            "ORDER BY ce.contact, ce.position"
        ).fetchall()
        if not rows:
            return []
        owners: dict[str, set[str]] = {}
        for email, contact, _pos in rows:
            owners.setdefault(email, set()).add(contact)
        primary = [(e, c) for e, c, p in rows if p == 0 and len(owners[e]) == 1]
        secondary = [(e, c) for e, c, p in rows if p > 0 and len(owners[e]) == 1]
        ambiguous = sorted(e for e, cs in owners.items() if len(cs) == 2)

        def person(contact: str, email_lc: str, kind: str) -> dict[str, Any]:
            data = json.loads(
                conn.execute("SELECT data FROM contacts WHERE id = ?", (contact,)).fetchone()[0]
            )
            raw = next((e for e in data["emails"] if e.strip().lower() == email_lc), email_lc)
            parts = (data.get("name") or "").split()
            first = parts[0] if parts else "Student"
            last = " ".join(parts[1:]) or "Unknown"
            return {"email": raw.strip(), "first_name": first, "last_name": last, "kind": kind}

        # the rare kinds are chosen first, so that a small sandbox still has one of each
        used: set[str] = set()
        rare: list[dict[str, Any]] = []
        for email in rng.sample(ambiguous, len(ambiguous)):
            both = sorted(owners[email])
            if not used.intersection(both):
                used.update(both)
                rare.append(person(both[0], email, "ambiguous"))
                break
        for email, contact in rng.sample(secondary, len(secondary)):
            if contact not in used:
                used.add(contact)
                rare.insert(0, person(contact, email, "secondary"))
                break
        out: list[dict[str, Any]] = []
        want = max(n - 4, 0)
        for email, contact in rng.sample(primary, len(primary)):
            if len(out) >= want:
                break
            if contact not in used:
                used.add(contact)
                out.append(person(contact, email, "primary"))
        out.extend(rare)
        made_up = [
            ("Quinn", "Holloway"),
            ("Marisol", "Ortega-Ruiz"),
            ("Tobias", "Brandt"),
            ("Leilani", "Kahale"),
        ]
        for k in range(2):
            first, last = made_up[(k + rng.randrange(len(made_up))) % len(made_up)]
            email = f"{first.lower()}.{_ascii(last)}.{rng.randrange(1000, 9999)}@nowhere.example"
            if email not in owners and all(p["email"] != email for p in out):
                out.append({"email": email, "first_name": first, "last_name": last, "kind": "unmatched"})
        return out
    finally:
        conn.close()


def demo_conversion_rule(employer: str) -> dict[str, Any]:
    """The demo's conversion rule for this sandbox: strong micro-interns of ``employer`` get one Lever
    requisition per team and role (with the seeded ``mi_source_project`` requisition field), its posting
    published on the internal job site only, a new opportunity on it and the prescreen note."""
    return {
        "name": "strong-intern-lever",
        "when": {"employer": employer, "min_rating": 4.5, "would_hire": True},
        "requisition": {
            "title": "{project.role_title}",
            "code": "MI-{project.team}-{project.role_title}",
            "fields": {"mi_source_project": "project.title"},
            "options": {
                "publish": "published",
                "distribution": "internal",
                "commitment": "Internship",
                "employmentStatus": "intern",
                "location": "Remote",
            },
        },
        "prescreen": {},
    }


def demo_connector_block(base_url: str) -> dict[str, Any]:
    """The YAML connector block the demo uses against a sandbox at ``base_url`` (the server root, e.g.
    ``SandboxServer.url``).  Secrets are ``${ENV}`` references; :data:`DEMO_ENV` has their values."""
    root = base_url.rstrip("/")
    if root.endswith("/v1"):
        root = root[:-3]
    return {
        "type": "lever",
        "base_url": f"{root}/v1",
        "api_key": "${LEVER_SANDBOX_API_KEY}",
        "perform_as_email": DEMO_PERFORM_AS_EMAIL,
        "rate_per_second": 8.0,
        "burst": 16,
        "note_secret": False,
        "score_from_rating": True,
        "new_candidate_origin": "sourced",
        "new_candidate_source": "Micro-internship",
        "page_size": 100,
        "window_days": 30,
        "max_offset_restarts": 3,
        "lookback_minutes": 10,
        "connect_timeout": 5.0,
        "read_timeout": 60.0,
        "max_attempts": 6,
        "backoff_base": 0.5,
    }


def people_snapshot(db_path: str | Path) -> dict[str, dict[str, Any]]:
    """What history a person carries, keyed by the person's sorted normalized e-mails (ids differ between
    sandboxes for people created through the API): note texts and tags over all their opportunities."""
    conn = sqlite3.connect(str(db_path))
    try:
        contacts = {cid: json.loads(data) for cid, data in conn.execute("SELECT id, data FROM contacts")}
        out: dict[str, dict[str, Any]] = {}
        opp_contact: dict[str, str] = {}
        tags: dict[str, set[str]] = {}
        for oid, contact, data in conn.execute("SELECT id, contact, data FROM opportunities"):
            opp_contact[oid] = contact
            tags.setdefault(contact, set()).update(json.loads(data).get("tags") or [])
        notes: dict[str, list[str]] = {}
        for opp_id, data in conn.execute("SELECT opp_id, data FROM notes"):
            note = json.loads(data)
            contact = opp_contact.get(opp_id)
            if contact is not None:
                notes.setdefault(contact, []).extend(f["value"] for f in note["fields"])
        for cid, contact in contacts.items():
            if cid not in opp_contact.values() and cid not in tags:
                continue
            key = "|".join(sorted({e.strip().lower() for e in contact.get("emails") or []})) or f"#{cid}"
            entry = out.setdefault(key, {"notes": [], "tags": set(), "people": 0})
            entry["notes"].extend(notes.get(cid, []))
            entry["tags"].update(tags.get(cid, set()))
            entry["people"] += 1
        return {
            k: {"notes": sorted(v["notes"]), "tags": sorted(v["tags"]), "people": v["people"]}
            for k, v in out.items()
        }
    finally:
        conn.close()


# ------------------------------------------------------------------------------------------------------
# runtime: config, rate limit, faults, tokens


@dataclass
class _Config:
    rate_per_second: float = 10.0
    burst: int = 20
    latency_ms: float = 0.0
    fault_rate: float = 0.0
    fault_seed: int = 0
    offset_fault_rate: float = 0.0
    token_ttl: int = 3600
    send_retry_after: bool = False
    requisition_api: bool = True


class _Bucket:
    def __init__(self, rate: float, burst: int) -> None:
        self.configure(rate, burst)

    def configure(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, max(1, burst)
        self.tokens = float(self.burst)
        self.last = time.monotonic()

    def take(self) -> tuple[bool, float]:
        """(allowed?, seconds until a token is available)."""
        if self.rate <= 0:
            return True, 0.0
        now = time.monotonic()
        self.tokens = min(float(self.burst), self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True, 0.0
        return False, (1 - self.tokens) / self.rate


def _json_response(body: Any, status: int = 200) -> Response:
    return Response(_dumps(body).encode(), status_code=status, media_type="application/json")


async def _send_json(
    send: Send, status: int, body: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send_bytes(send, status, _dumps(body).encode(), headers)


class _Sandbox:
    """Everything behind one app: the store, runtime config, bucket, faults, tokens and counters."""

    def __init__(
        self, db_path: str | Path, config: _Config, *, api_key: str, client_id: str, client_secret: str
    ) -> None:
        self.store = _Store(db_path)
        self.config = config
        self.api_key, self.client_id, self.client_secret = api_key, client_id, client_secret
        self.bucket = _Bucket(config.rate_per_second, config.burst)
        self.fault_rng = random.Random(config.fault_seed)
        self.offset_secret = secrets.token_bytes(16)
        self.access_tokens: dict[str, float] = {}
        self.counters = {
            "requests": 0,
            "faults": 0,
            "rate_limited": 0,
            "offset_refused": 0,
            "notes_written": 0,
            "tags_added": 0,
            "opportunities_created": 0,
            "token_refreshes": 0,
            "requisitions_written": 0,
            "postings_written": 0,
        }
        self.stage_text = {s["id"]: s["text"] for s in self.store.all("stages")}
        with self.store.lock:
            self.store.conn.execute(
                "INSERT OR IGNORE INTO refresh_tokens(token, used, created_at) VALUES (?, 0, ?)",
                (DEFAULT_REFRESH_TOKEN, _now_ms()),
            )

    def close(self) -> None:
        self.store.close()

    # -- admin
    def reconfigure(self, changes: dict[str, Any]) -> dict[str, Any]:
        known = {f.name: f.type for f in fields(_Config)}
        for key, value in changes.items():
            if key not in known:
                raise _bad(f"{key} is not a sandbox setting")
            current = getattr(self.config, key)
            if isinstance(current, bool):
                if not isinstance(value, bool):
                    raise _bad(f"{key} must be true or false")
            elif isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise _bad(f"{key} must be a number >= 0")
            elif key.endswith("_rate") and value > 1:
                raise _bad(f"{key} must be between 0 and 1")
            setattr(self.config, key, type(current)(value))
        if "rate_per_second" in changes or "burst" in changes:
            self.bucket.configure(self.config.rate_per_second, self.config.burst)
        if "fault_seed" in changes:
            self.fault_rng = random.Random(self.config.fault_seed)
        return self.config_dict()

    def config_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self.config, f.name) for f in fields(_Config)}

    def stats(self) -> dict[str, int]:
        s = self.store
        out = {
            "contacts": s.count("contacts"),
            "opportunities": s.count("opportunities"),
            "confidential_opportunities": s.count("opportunities", "WHERE confidential = 1"),
            "deleted_opportunities": s.count("deleted_opportunities"),
            "notes": s.count("notes"),
            "postings": s.count("postings"),
            "requisitions": s.count("requisitions"),
            "users": s.count("users"),
            "attachments": 0,
        }
        out.update(self.counters)
        return out

    # -- the /v1 gate
    async def gate(self, scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
        self.counters["requests"] += 1
        if self.config.latency_ms > 0:
            await asyncio.sleep(self.config.latency_ms / 1000.0)
        allowed, wait = self.bucket.take()
        if not allowed:
            self.counters["rate_limited"] += 1
            headers = (
                [(b"retry-after", str(max(1, round(wait))).encode())] if self.config.send_retry_after else []
            )
            await _send_json(send, 429, {"code": "TooManyRequests", "message": "Too many requests"}, headers)
            return
        if self.config.fault_rate > 0 and self.fault_rng.random() < self.config.fault_rate:
            self.counters["faults"] += 1
            kind = self.fault_rng.choice(("429", "500", "503", "drop"))
            if kind == "drop":
                await drop_connection(send)
            elif kind == "429":
                await _send_json(send, 429, {"code": "TooManyRequests", "message": "Too many requests"})
            elif kind == "500":
                await _send_json(
                    send, 500, {"code": "InternalServerError", "message": "Something went wrong"}
                )
            else:
                await _send_json(
                    send, 503, {"code": "ServiceUnavailable", "message": "Lever is down for maintenance"}
                )
            return
        await app(scope, receive, send)

    # -- auth
    def authenticate(self, header: str) -> None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "basic" and value:
            try:
                user = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")[0]
            except (binascii.Error, UnicodeDecodeError):
                user = ""
            if user and hmac.compare_digest(user.encode(), self.api_key.encode()):
                return
        elif scheme.lower() == "bearer":
            expires = self.access_tokens.get(value.strip())
            if expires is not None and expires > time.time():
                return
        raise LeverError(401, "UnauthorizedError", "Invalid or missing credentials")

    def issue_token(self, form: dict[str, str]) -> dict[str, Any]:
        cid, secret = form.get("client_id", ""), form.get("client_secret", "")
        if not (
            hmac.compare_digest(cid.encode(), self.client_id.encode())
            and hmac.compare_digest(secret.encode(), self.client_secret.encode())
        ):
            raise LeverError(
                401,
                "access_denied",
                "Unauthorized",
                body={"error": "access_denied", "error_description": "Unauthorized"},
            )
        if form.get("grant_type") != "refresh_token":
            raise LeverError(
                400,
                "unsupported_grant_type",
                "grant",
                body={
                    "error": "unsupported_grant_type",
                    "error_description": "only refresh_token is supported here",
                },
            )
        token = form.get("refresh_token", "")
        with self.store.tx() as conn:
            row = conn.execute("SELECT used FROM refresh_tokens WHERE token = ?", (token,)).fetchone()
            if row is None or row[0]:
                raise LeverError(
                    403,
                    "invalid_grant",
                    "grant",
                    body={"error": "invalid_grant", "error_description": "Unknown or invalid refresh token."},
                )
            conn.execute("UPDATE refresh_tokens SET used = 1 WHERE token = ?", (token,))
            new_refresh = "sbx-rt-" + secrets.token_urlsafe(24)
            conn.execute(
                "INSERT INTO refresh_tokens(token, used, created_at) VALUES (?, 0, ?)",
                (new_refresh, _now_ms()),
            )
        access = "sbx-at-" + secrets.token_urlsafe(24)
        now = time.time()
        self.access_tokens = {t: e for t, e in self.access_tokens.items() if e > now}
        self.access_tokens[access] = now + self.config.token_ttl
        self.counters["token_refreshes"] += 1
        return {
            "access_token": access,
            "refresh_token": new_refresh,
            "token_type": "Bearer",
            "scope": "opportunities:read:admin offline_access",
            "expires_in": self.config.token_ttl,
        }

    def mint_refresh_token(self) -> str:
        token = "sbx-rt-" + secrets.token_urlsafe(24)
        with self.store.lock:
            self.store.conn.execute(
                "INSERT INTO refresh_tokens(token, used, created_at) VALUES (?, 0, ?)", (token, _now_ms())
            )
        return token

    def user_ok(self, user_id: str | None, *, required: bool) -> str | None:
        if not user_id:
            if required:
                raise _bad("perform_as is required for this request")
            return None
        user = self.store.get("users", user_id)
        if user is None or user.get("deactivatedAt") is not None:
            raise _bad(f"perform_as user {user_id} is not an active user")
        return user_id

    # -- offset tokens
    def _signature(self, path: str, params: list[tuple[str, str]]) -> str:
        canon = "&".join(f"{k}={v}" for k, v in sorted(params) if k != "offset")
        return hmac.new(self.offset_secret, f"{path}?{canon}".encode(), hashlib.sha256).hexdigest()[:12]

    def make_offset(self, path: str, params: list[tuple[str, str]], sort: int, rec_id: str) -> str:
        return f"0.{sort}.{rec_id}.{self._signature(path, params)}"

    def read_offset(self, path: str, params: list[tuple[str, str]], token: str) -> tuple[int, str]:
        parts = token.split(".")
        if len(parts) != 4 or parts[0] != "0" or not parts[1].lstrip("-").isdigit():
            raise _bad(INVALID_OFFSET)
        if not hmac.compare_digest(parts[3], self._signature(path, params)):
            raise _bad(INVALID_OFFSET)
        if self.config.offset_fault_rate > 0 and self.fault_rng.random() < self.config.offset_fault_rate:
            self.counters["offset_refused"] += 1
            raise _bad(INVALID_OFFSET)
        return int(parts[1]), parts[2]

    # -- listing
    def list_page(
        self,
        path: str,
        request: Request,
        table: str,
        where: list[str],
        args: list[Any],
        render: Callable[[dict[str, Any]], dict[str, Any]],
        *,
        join_contacts: bool = False,
    ) -> Response:
        params = [(k, v) for k, v in request.query_params.multi_items()]
        limit = _limit(request.query_params.get("limit"))
        offset = request.query_params.get("offset")
        where = list(where)
        args = list(args)
        if offset:
            sort, after = self.read_offset(path, params, offset)
            where.append("(t.sort > ? OR (t.sort = ? AND t.id > ?))")
            args += [sort, sort, after]
        sql = f"SELECT t.id, t.sort, t.data{', c.data' if join_contacts else ''} FROM {table} t"
        if join_contacts:
            sql += " JOIN contacts c ON c.id = t.contact"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY t.sort, t.id LIMIT ?"
        with self.store.lock:
            rows = self.store.conn.execute(sql, (*args, limit + 1)).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        data = []
        for row in rows:
            rec = json.loads(row[2])
            if join_contacts:
                rec["_contact"] = json.loads(row[3])
            data.append(render(rec))
        body: dict[str, Any] = {"data": data, "hasNext": more}
        if more:
            body["next"] = self.make_offset(path, params, rows[-1][1], rows[-1][0])
        return _json_response(body)

    # -- rendering
    def render_opportunity(self, rec: dict[str, Any], expand: set[str]) -> dict[str, Any]:
        contact = rec.pop("_contact", None) or self.store.get("contacts", rec["contact"]) or {}
        apps = rec.pop("_applications", [])
        out = {
            "id": rec["id"],
            "name": contact.get("name"),
            "headline": contact.get("headline"),
            "contact": rec["contact"],
            "emails": list(contact.get("emails") or []),
            "phones": list(contact.get("phones") or []),
            "location": contact.get("location"),
            "links": list(contact.get("links") or []),
        }
        out.update({k: v for k, v in rec.items() if not k.startswith("_")})
        if "stage" in expand and rec.get("stage"):
            out["stage"] = {"id": rec["stage"], "text": self.stage_text.get(rec["stage"], rec["stage"])}
        out["applications"] = apps if "applications" in expand else [a["id"] for a in apps]
        out["urls"] = {
            "list": "https://hire.sandbox.example/candidates",
            "show": f"https://hire.sandbox.example/candidates/{rec['id']}",
        }
        return out


def _limit(value: str | None) -> int:
    if value is None or value == "":
        return MAX_LIMIT
    try:
        limit = int(value)
    except ValueError:
        raise _bad("limit must be an integer between 1 and 100") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise _bad("limit must be an integer between 1 and 100")
    return limit


def _ms_param(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise _bad(f"{name} must be a timestamp in milliseconds") from None


def _confidential_filter(request: Request, column: str = "t.confidential") -> list[str]:
    value = request.query_params.get("confidentiality") or "non-confidential"
    if value == "all":
        return []
    if value == "confidential":
        return [f"{column} = 1"]
    if value == "non-confidential":
        return [f"{column} = 0"]
    raise _bad("confidentiality must be one of confidential, non-confidential, all")


def _bool_param(request: Request, name: str) -> bool | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _bad(f"{name} must be true or false")


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        data = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise _bad("Request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise _bad("Request body must be a JSON object")
    return data


def _str_list(body: dict[str, Any], key: str) -> list[str]:
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise _bad(f"{key} must be an array of non-empty strings")
    return list(value)


# ------------------------------------------------------------------------------------------------------
# posting HTML whitelist

DESCRIPTION_TAGS = {"div", "p", "span", "br", "b", "i", "s", "u", "a"}
LIST_TAGS = {"li", "b", "i", "s", "u", "a"}
ALLOWED_ATTRS = {"class", "href", "style"}


class _HtmlCheck(HTMLParser):
    def __init__(self, allowed: set[str]) -> None:
        super().__init__()
        self.allowed = allowed
        self.problem: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.allowed:
            self.problem = self.problem or f"tag <{tag}> is not allowed"
        for name, _ in attrs:
            if name not in ALLOWED_ATTRS:
                self.problem = self.problem or f"attribute {name} is not allowed"


def _check_html(value: Any, allowed: set[str], where: str) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise _bad(f"{where} must be a string")
    checker = _HtmlCheck(allowed)
    checker.feed(value)
    checker.close()
    if checker.problem:
        raise _bad(f"Invalid HTML in {where}: {checker.problem}")


def _check_posting_html(body: dict[str, Any]) -> None:
    content = body.get("content")
    if content is not None:
        if not isinstance(content, dict):
            raise _bad("content must be an object")
        unknown = set(content) - {"description", "descriptionHtml", "lists", "closing", "closingHtml"}
        if unknown:
            raise _bad(
                f"content has unknown fields: {', '.join(sorted(unknown))} (closing HTML is closingHtml)"
            )
        for key in ("descriptionHtml", "closingHtml"):
            _check_html(content.get(key), DESCRIPTION_TAGS, f"content.{key}")
        for item in content.get("lists") or []:
            if not isinstance(item, dict):
                raise _bad("content.lists items must be objects")
            _check_html(item.get("content"), LIST_TAGS, "content.lists")
    _check_html(body.get("salaryDescriptionHtml"), DESCRIPTION_TAGS, "salaryDescriptionHtml")


# ------------------------------------------------------------------------------------------------------
# the application


class _App(FastAPI):
    """FastAPI with a gate in front of ``/v1`` (latency, rate limit, faults)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and (path == "/v1" or path.startswith("/v1/")):
            await self.state.sandbox.gate(scope, receive, send, super().__call__)
            return
        await super().__call__(scope, receive, send)


def create_app(
    db_path: str | Path,
    *,
    fault_rate: float = 0.0,
    latency_ms: float = 0.0,
    fault_seed: int = 0,
    rate_per_second: float = 10.0,
    burst: int = 20,
    offset_fault_rate: float = 0.0,
    token_ttl: int = 3600,
    send_retry_after: bool = False,
    requisition_api: bool = True,
    api_key: str = DEFAULT_API_KEY,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
) -> FastAPI:
    """The sandbox ASGI app over the SQLite file ``db_path`` (schema created if missing, not seeded).
    ``rate_per_second=0`` turns the rate limit off."""
    config = _Config(
        rate_per_second=rate_per_second,
        burst=burst,
        latency_ms=latency_ms,
        fault_rate=fault_rate,
        fault_seed=fault_seed,
        offset_fault_rate=offset_fault_rate,
        token_ttl=token_ttl,
        send_retry_after=send_retry_after,
        requisition_api=requisition_api,
    )
    sb = _Sandbox(db_path, config, api_key=api_key, client_id=client_id, client_secret=client_secret)
    app = _App(title="Lever v1 sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sandbox = sb

    async def lever_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LeverError)
        return _json_response(exc.body, exc.status)

    async def http_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            return _json_response({"code": "ResourceNotFound", "message": "Not found"}, 404)
        return _json_response({"code": "BadRequestError", "message": str(exc.detail)}, exc.status_code)

    async def unexpected(_request: Request, _exc: Exception) -> Response:
        return _json_response({"code": "InternalServerError", "message": "Something went wrong"}, 500)

    app.add_exception_handler(LeverError, lever_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
    _admin_routes(app, sb)
    _v1_routes(app, sb)
    return app


def _admin_routes(app: FastAPI, sb: _Sandbox) -> None:
    @app.post("/oauth/token")
    async def token(request: Request) -> Response:
        raw = await request.body()
        if "json" in request.headers.get("content-type", ""):
            try:
                data = json.loads(raw or b"{}")
            except ValueError:
                data = {}
            form = {k: str(v) for k, v in data.items()} if isinstance(data, dict) else {}
        else:
            form = {k: v[-1] for k, v in urllib.parse.parse_qs(raw.decode("utf-8", "replace")).items()}
        return _json_response(sb.issue_token(form))

    @app.get("/_sandbox/health")
    async def health() -> Response:
        return _json_response({"ok": True})

    @app.get("/_sandbox/config")
    async def get_config() -> Response:
        return _json_response(sb.config_dict())

    @app.post("/_sandbox/config")
    async def set_config(request: Request) -> Response:
        return _json_response(sb.reconfigure(await _body(request)))

    @app.get("/_sandbox/stats")
    async def stats() -> Response:
        return _json_response(sb.stats())

    @app.post("/_sandbox/expire_tokens")
    async def expire_tokens() -> Response:
        count = len(sb.access_tokens)
        sb.access_tokens.clear()
        return _json_response({"expired": count})

    @app.post("/_sandbox/rotate_offsets")
    async def rotate_offsets() -> Response:
        sb.offset_secret = secrets.token_bytes(16)
        return _json_response({"ok": True})

    @app.post("/_sandbox/oauth/refresh_token")
    async def mint() -> Response:
        return _json_response({"refresh_token": sb.mint_refresh_token()})

    @app.post("/_sandbox/opportunities/{opp_id}/delete")
    async def delete_opportunity(opp_id: str) -> Response:
        with sb.store.tx():
            opp = sb.store.get("opportunities", opp_id)
            if opp is None:
                raise _not_found("opportunity", opp_id)
            rendered = sb.render_opportunity(opp, set())
            rendered.update({"deletedBy": None, "deletedAt": _now_ms()})
            sb.store.put("deleted_opportunities", rendered)
            sb.store.delete("opportunities", opp_id)
            sb.store.conn.execute("DELETE FROM notes WHERE opp_id = ?", (opp_id,))
        return _json_response({"data": rendered})


def _v1_routes(app: FastAPI, sb: _Sandbox) -> None:
    store = sb.store

    def auth(request: Request) -> None:
        sb.authenticate(request.headers.get("authorization", ""))

    # ---- opportunities
    @app.get("/v1/opportunities")
    async def list_opportunities(request: Request) -> Response:
        auth(request)
        q = request.query_params
        where = _confidential_filter(request)
        args: list[Any] = []
        for name, column, op in (
            ("updated_at_start", "t.updated_at", ">="),
            ("updated_at_end", "t.updated_at", "<="),
            ("created_at_start", "t.sort", ">="),
            ("created_at_end", "t.sort", "<="),
        ):
            value = _ms_param(request, name)
            if value is not None:
                where.append(f"{column} IS NOT NULL AND {column} {op} ?")
                args.append(value)
        if q.get("email"):
            where.append("t.contact IN (SELECT contact FROM contact_emails WHERE email = ?)")
            args.append(q["email"].strip().lower())
        contacts = [c for c in q.getlist("contact_id") if c]
        if contacts:
            where.append(f"t.contact IN ({', '.join('?' * len(contacts))})")
            args += contacts
        archived = _bool_param(request, "archived")
        if archived is not None:
            where.append("t.archived = ?")
            args.append(int(archived))
        tags = [t for t in q.getlist("tag") if t]
        if tags:
            where.append(
                "("
                + " OR ".join(
                    "EXISTS (SELECT 1 FROM json_each(t.data, '$.tags') j WHERE j.value = ?)" for _ in tags
                )
                + ")"
            )
            args += tags
        posting_ids = [p for p in q.getlist("posting_id") if p]
        if posting_ids:
            where.append(
                "EXISTS (SELECT 1 FROM json_each(t.data, '$._applications') j "
                f"WHERE json_extract(j.value, '$.posting') IN ({', '.join('?' * len(posting_ids))}))"
            )
            args += posting_ids
        stage_ids = [s for s in q.getlist("stage_id") if s]
        if stage_ids:
            where.append(f"json_extract(t.data, '$.stage') IN ({', '.join('?' * len(stage_ids))})")
            args += stage_ids
        expand = set(q.getlist("expand"))
        return sb.list_page(
            "/v1/opportunities",
            request,
            "opportunities",
            where,
            args,
            lambda r: sb.render_opportunity(r, expand),
            join_contacts=True,
        )

    @app.get("/v1/opportunities/deleted")
    async def list_deleted(request: Request) -> Response:
        auth(request)
        where: list[str] = []
        args: list[Any] = []
        for name, op in (("deleted_at_start", ">="), ("deleted_at_end", "<=")):
            value = _ms_param(request, name)
            if value is not None:
                where.append(f"t.sort {op} ?")
                args.append(value)
        return sb.list_page(
            "/v1/opportunities/deleted", request, "deleted_opportunities", where, args, lambda r: r
        )

    def require_opp(opp_id: str) -> dict[str, Any]:
        opp = store.get("opportunities", opp_id)
        if opp is None:
            raise _not_found("opportunity", opp_id)
        return opp

    @app.get("/v1/opportunities/{opp_id}")
    async def get_opportunity(opp_id: str, request: Request) -> Response:
        auth(request)
        opp = require_opp(opp_id)
        return _json_response(
            {"data": sb.render_opportunity(opp, set(request.query_params.getlist("expand")))}
        )

    @app.post("/v1/opportunities")
    async def create_opportunity(request: Request) -> Response:
        auth(request)
        body = await _body(request)
        actor = sb.user_ok(request.query_params.get("perform_as"), required=True)
        emails = _str_list(body, "emails")
        tags, sources, links = _str_list(body, "tags"), _str_list(body, "sources"), _str_list(body, "links")
        postings = _str_list(body, "postings")
        if len(postings) > 1:
            raise _bad("postings can contain at most one posting")
        phones = body.get("phones") or []
        if not isinstance(phones, list) or not all(
            isinstance(p, dict) and isinstance(p.get("value"), str) for p in phones
        ):
            raise _bad("phones must be an array of {value, type}")
        origin = body.get("origin") or "sourced"
        if origin not in ("agency", "applied", "internal", "referred", "sourced", "university"):
            raise _bad("origin is not valid")
        now = _now_ms()
        created = body.get("createdAt", now)
        if not isinstance(created, int) or isinstance(created, bool) or created > now:
            raise _bad("createdAt must be a timestamp in milliseconds, not in the future")
        posting = None
        if postings:
            posting = store.get("postings", postings[0])
            if posting is None:
                raise _bad(f"posting {postings[0]} does not exist")
        stage = body.get("stage") or ("applicant-new" if posting else "lead-new")
        if stage not in sb.stage_text:
            raise _bad(f"stage {stage} does not exist")
        rng = random.Random(secrets.token_bytes(16))
        with store.tx() as conn:
            contact = None
            if body.get("contact"):
                contact = store.get("contacts", str(body["contact"]))
                if contact is None:
                    raise _bad(f"contact {body['contact']} does not exist")
                contact["emails"] += [e for e in emails if e not in contact["emails"]]
                contact["phones"] += [p for p in phones if p not in contact["phones"]]
                contact["links"] += [x for x in links if x not in contact["links"]]
            else:
                for email in emails:
                    row = conn.execute(
                        "SELECT contact FROM contact_emails WHERE email = ? ORDER BY position LIMIT 1",
                        (email.strip().lower(),),
                    ).fetchone()
                    if row is not None:
                        contact = store.get("contacts", row[0])  # the stored contact data wins
                        break
            if contact is None:
                contact = {
                    "id": _uuid(rng),
                    "name": body.get("name") or "",
                    "headline": body.get("headline") or "",
                    "location": body.get("location"),
                    "emails": emails,
                    "phones": [{k: v for k, v in p.items() if k in ("type", "value")} for p in phones],
                    "links": links,
                    "isAnonymized": False,
                    "createdAt": now,
                }
            store.put("contacts", contact)
            store.set_contact_emails(contact)
            oid = _uuid(rng)
            apps = []
            if posting is not None:
                apps.append(
                    {
                        "id": _uuid(rng),
                        "opportunityId": oid,
                        "candidateId": oid,
                        "createdAt": created,
                        "type": "user",
                        "posting": posting["id"],
                        "postingOwner": posting["owner"],
                        "postingHiringManager": posting["hiringManager"],
                        "user": actor,
                        "name": contact["name"],
                        "email": (contact["emails"] or [None])[0],
                        "phone": None,
                        "company": None,
                        "links": None,
                        "comments": None,
                        "customQuestions": [],
                        "archived": None,
                        "requisitionForHire": None,
                    }
                )
            opp = {
                "id": oid,
                "contact": contact["id"],
                "createdAt": created,
                "updatedAt": now,
                "lastInteractionAt": now,
                "lastAdvancedAt": now,
                "snoozedUntil": None,
                "archived": None,
                "stage": stage,
                "stageChanges": [{"toStageId": stage, "toStageIndex": 0, "userId": actor, "updatedAt": now}],
                "owner": body.get("owner") or actor,
                "followers": [actor, *_str_list(body, "followers")],
                "tags": list(dict.fromkeys(tags)),
                "sources": list(dict.fromkeys(sources)),
                "origin": origin,
                "sourcedBy": actor if origin == "sourced" else None,
                "confidentiality": posting["confidentiality"] if posting else "non-confidential",
                "dataProtection": None,
                "isAnonymized": False,
                "opportunityLocation": body.get("opportunityLocation"),
                "_applications": apps,
            }
            store.put("opportunities", opp)
        sb.counters["opportunities_created"] += 1
        return _json_response({"data": sb.render_opportunity(dict(opp), set())}, 201)

    @app.get("/v1/opportunities/{opp_id}/notes")
    async def list_notes(opp_id: str, request: Request) -> Response:
        auth(request)
        require_opp(opp_id)

        def render(rec: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in rec.items() if not k.startswith("_")}

        return sb.list_page(
            f"/v1/opportunities/{opp_id}/notes", request, "notes", ["t.opp_id = ?"], [opp_id], render
        )

    @app.post("/v1/opportunities/{opp_id}/notes")
    async def create_note(opp_id: str, request: Request) -> Response:
        auth(request)
        body = await _body(request)
        actor = sb.user_ok(request.query_params.get("perform_as"), required=False)
        value = body.get("value")
        if not isinstance(value, str) or not value.strip():
            raise _bad("value is required")
        score = body.get("score")
        if score is not None and (
            not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 4
        ):
            raise _bad("score must be an integer from 1 to 4")
        secret = body.get("secret", False)
        if not isinstance(secret, bool):
            raise _bad("secret must be true or false")
        now = _now_ms()
        created = body.get("createdAt", now)
        if not isinstance(created, int) or isinstance(created, bool) or created > now:
            raise _bad("createdAt must be a timestamp in milliseconds, not in the future")
        with store.tx():
            require_opp(opp_id)  # notes do not move the opportunity's updatedAt
            note = _note_record(str(uuid.uuid4()), opp_id, value, actor, created, secret=secret, score=score)
            note["_api"] = True  # only notes made through the API may be deleted through it
            store.put("notes", note)
        sb.counters["notes_written"] += 1
        return _json_response({"data": {"noteId": note["id"]}}, 201)

    @app.delete("/v1/opportunities/{opp_id}/notes/{note_id}")
    async def delete_note(opp_id: str, note_id: str, request: Request) -> Response:
        auth(request)
        sb.user_ok(request.query_params.get("perform_as"), required=False)
        with store.tx():
            require_opp(opp_id)
            note = store.get("notes", note_id)
            if note is None or note.get("_opp") != opp_id:
                raise _not_found("note", note_id)
            if not note.get("_api"):
                raise LeverError(403, "ForbiddenError", "Only notes created through the API can be deleted")
            store.delete("notes", note_id)
        return Response(status_code=204)

    async def change_tags(opp_id: str, request: Request, add: bool) -> Response:
        auth(request)
        body = await _body(request)
        sb.user_ok(request.query_params.get("perform_as"), required=False)
        tags = _str_list(body, "tags")
        if not tags:
            raise _bad("tags is required")
        with store.tx():
            opp = require_opp(opp_id)
            current = list(opp.get("tags") or [])
            if add:
                new = [t for t in dict.fromkeys(tags) if t not in current]
                changed = current + new
            else:
                new = []
                changed = [t for t in current if t not in tags]
            if changed != current:
                opp["tags"] = changed
                opp["updatedAt"] = _now_ms()
                store.put("opportunities", opp)
        if new:
            sb.counters["tags_added"] += len(new)
        return _json_response({"data": sb.render_opportunity(dict(opp), set())})

    @app.post("/v1/opportunities/{opp_id}/addTags")
    async def add_tags(opp_id: str, request: Request) -> Response:
        return await change_tags(opp_id, request, True)

    @app.put("/v1/opportunities/{opp_id}/stage")
    async def change_stage(opp_id: str, request: Request) -> Response:
        auth(request)
        body = await _body(request)
        actor = sb.user_ok(request.query_params.get("perform_as"), required=False)
        stage = body.get("stage")
        if not isinstance(stage, str) or store.get("stages", stage) is None:
            raise _not_found("stages", str(stage))
        with store.tx():
            opp = require_opp(opp_id)
            if opp.get("stage") != stage:
                now = _now_ms()
                opp["stage"] = stage
                index = [s["id"] for s in store.all("stages")].index(stage)
                opp.setdefault("stageChanges", []).append(
                    {"toStageId": stage, "toStageIndex": index, "userId": actor, "updatedAt": now}
                )
                opp["updatedAt"] = now
                store.put("opportunities", opp)
        return _json_response({"data": sb.render_opportunity(dict(opp), set())})

    @app.post("/v1/opportunities/{opp_id}/removeTags")
    async def remove_tags(opp_id: str, request: Request) -> Response:
        return await change_tags(opp_id, request, False)

    # ---- postings
    @app.get("/v1/postings")
    async def list_postings(request: Request) -> Response:
        auth(request)
        q = request.query_params
        where = _confidential_filter(request)
        args: list[Any] = []
        windowed = any(q.get(k) for k in ("updated_at_start", "updated_at_end"))
        others = {
            k
            for k in q
            if k not in ("updated_at_start", "updated_at_end", "confidentiality", "limit", "offset")
        }
        if windowed and others:
            raise _bad("updated_at_start and updated_at_end can only be combined with confidentiality")
        for name, op in (("updated_at_start", ">="), ("updated_at_end", "<=")):
            value = _ms_param(request, name)
            if value is not None:
                where.append(f"t.updated_at IS NOT NULL AND t.updated_at {op} ?")
                args.append(value)
        states = [s for s in q.getlist("state") if s]
        if states:
            where.append(f"t.state IN ({', '.join('?' * len(states))})")
            args += states
        return sb.list_page("/v1/postings", request, "postings", where, args, lambda r: r)

    @app.get("/v1/postings/{posting_id}")
    async def get_posting(posting_id: str, request: Request) -> Response:
        auth(request)
        posting = store.get("postings", posting_id)
        if posting is None:
            raise _not_found("posting", posting_id)
        return _json_response({"data": posting})

    def posting_fields(body: dict[str, Any], posting: dict[str, Any]) -> None:
        _check_posting_html(body)
        if "state" in body and body["state"] not in (
            "published",
            "internal",
            "closed",
            "draft",
            "pending",
            "rejected",
        ):
            raise _bad("state is not valid")
        if body.get("workplaceType") == "unspecified" and posting.get("workplaceType") not in (
            None,
            "unspecified",
        ):
            raise _bad("workplaceType cannot be set back to unspecified")
        for key in (
            "text",
            "state",
            "distributionChannels",
            "owner",
            "hiringManager",
            "categories",
            "tags",
            "content",
            "workplaceType",
            "requisitionCodes",
            "salaryDescriptionHtml",
            "salaryRange",
        ):
            if key in body:
                posting[key] = body[key]

    def link_requisitions(conn: sqlite3.Connection, posting: dict[str, Any], before: list[str]) -> None:
        """A posting is linked to the requisitions its ``requisitionCodes`` name: they list it in their
        ``postings`` (their ``updatedAt`` does not move: postings are not among the fields that move it)."""
        now = [str(c) for c in posting.get("requisitionCodes") or []]
        for code in dict.fromkeys([*before, *now]):
            for (data,) in conn.execute("SELECT data FROM requisitions WHERE code = ?", (code,)).fetchall():
                req = json.loads(data)
                linked = [p for p in req.get("postings") or [] if p != posting["id"]]
                if code in now:
                    linked.append(posting["id"])
                if linked != (req.get("postings") or []):
                    req["postings"] = linked
                    store.put("requisitions", req)

    @app.post("/v1/postings")
    async def create_posting(request: Request) -> Response:
        auth(request)
        body = await _body(request)
        actor = sb.user_ok(request.query_params.get("perform_as"), required=True)
        if not isinstance(body.get("text"), str) or not body["text"].strip():
            raise _bad("text is required")
        if body.get("confidentiality") == "confidential":
            raise _bad("confidential postings cannot be created through the API")
        now = _now_ms()
        posting: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "createdAt": now,
            "updatedAt": now,
            "user": actor,
            "owner": actor,
            "hiringManager": None,
            "confidentiality": "non-confidential",
            "categories": {},
            "content": {},
            "tags": [],
            "state": "draft",
            "distributionChannels": ["public", "internal"],
            "requisitionCodes": [],
            "workplaceType": "unspecified",
            "followers": [actor],
        }
        posting_fields(body, posting)
        with store.tx() as conn:
            store.put("postings", posting)
            link_requisitions(conn, posting, [])
        sb.counters["postings_written"] += 1
        return _json_response({"data": posting}, 201)

    @app.post("/v1/postings/{posting_id}")
    async def update_posting(posting_id: str, request: Request) -> Response:
        auth(request)
        body = await _body(request)
        sb.user_ok(request.query_params.get("perform_as"), required=True)
        with store.tx() as conn:
            posting = store.get("postings", posting_id)
            if posting is None:
                raise _not_found("posting", posting_id)
            before = [str(c) for c in posting.get("requisitionCodes") or []]
            posting_fields(body, posting)
            posting["updatedAt"] = _now_ms()
            store.put("postings", posting)
            link_requisitions(conn, posting, before)
        sb.counters["postings_written"] += 1
        return _json_response({"data": posting})

    # ---- requisitions
    @app.get("/v1/requisitions")
    async def list_requisitions(request: Request) -> Response:
        auth(request)
        q = request.query_params
        where = _confidential_filter(request)
        args: list[Any] = []
        for name, op in (("created_at_start", ">="), ("created_at_end", "<=")):
            value = _ms_param(request, name)
            if value is not None:
                where.append(f"t.sort {op} ?")
                args.append(value)
        if q.get("requisition_code"):
            where.append("t.code = ?")
            args.append(q["requisition_code"])
        if q.get("status"):
            where.append("t.status = ?")
            args.append(q["status"])
        return sb.list_page("/v1/requisitions", request, "requisitions", where, args, lambda r: r)

    @app.get("/v1/requisitions/{req_id}")
    async def get_requisition(req_id: str, request: Request) -> Response:
        auth(request)
        rec = store.get("requisitions", req_id)
        if rec is None:
            raise _not_found("requisition", req_id)
        return _json_response({"data": rec})

    def requisition_body(body: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
        if not sb.config.requisition_api:
            raise LeverError(403, "ForbiddenError", "API management of requisitions is not enabled")
        for key in ("requisitionCode", "name"):
            if not isinstance(body.get(key), str) or not body[key].strip():
                raise _bad(f"{key} is required")
        head = body.get("headcountTotal")
        if head != "unlimited" and (not isinstance(head, int) or isinstance(head, bool) or head < 0):
            raise _bad('headcountTotal is required (an integer or "unlimited")')
        status = body.get("status", "open")
        if status not in ("open", "onHold", "closed", "draft"):
            raise _bad("status is not valid")
        if current is not None and status == "draft" and current.get("status") != "draft":
            raise _bad("status cannot go back to draft")
        emp = body.get("employmentStatus")
        if emp is not None and emp not in ("full-time", "part-time", "intern", "contractor", "temp-worker"):
            raise _bad("employmentStatus is not valid")
        custom = body.get("customFields") or {}
        known = {f["id"] for f in store.all("requisition_fields")}
        if not isinstance(custom, dict) or set(custom) - known:
            raise _bad(f"customFields has unknown fields: {', '.join(sorted(set(custom) - known))}")
        unknown = set(body) - {
            "requisitionCode",
            "name",
            "headcountTotal",
            "status",
            "owner",
            "hiringManager",
            "employmentStatus",
            "location",
            "team",
            "department",
            "compensationBand",
            "internalNotes",
            "backfill",
            "createdAt",
            "postingIds",
            "customFields",
        }
        if unknown:
            raise _bad(f"unknown fields: {', '.join(sorted(unknown))}")
        now = _now_ms()
        rec = {
            "id": current["id"] if current else str(uuid.uuid4()),
            "createdAt": current["createdAt"] if current else body.get("createdAt", now),
            "creator": current.get("creator") if current else None,
            "headcountHired": current.get("headcountHired", 0) if current else 0,
            "confidentiality": current.get("confidentiality", "non-confidential")
            if current
            else "non-confidential",
            "offerIds": current.get("offerIds", []) if current else [],
            "approval": None,
            "closedAt": now if status == "closed" else None,
            "timeToFillStartAt": None,
            "timeToFillEndAt": None,
            "updatedAt": now,
        }
        # a PUT resets everything it was not sent; postings are left alone when postingIds is omitted
        for key in (
            "requisitionCode",
            "name",
            "headcountTotal",
            "owner",
            "hiringManager",
            "employmentStatus",
            "location",
            "team",
            "department",
            "compensationBand",
            "internalNotes",
        ):
            rec[key] = body.get(key)
        rec["status"] = status
        rec["backfill"] = bool(body.get("backfill", False))
        rec["customFields"] = custom
        rec["postings"] = body["postingIds"] if "postingIds" in body else (current or {}).get("postings", [])
        return rec

    @app.post("/v1/requisitions")
    async def create_requisition(request: Request) -> Response:
        auth(request)
        body = await _body(request)
        with store.tx() as conn:
            rec = requisition_body(body, None)
            if conn.execute(
                "SELECT 1 FROM requisitions WHERE code = ?", (rec["requisitionCode"],)
            ).fetchone():
                raise _bad(f"requisitionCode {rec['requisitionCode']} is already in use")
            for (data,) in conn.execute("SELECT data FROM postings").fetchall():
                posting = json.loads(data)
                named = rec["requisitionCode"] in (posting.get("requisitionCodes") or [])
                if named and posting["id"] not in rec["postings"]:
                    rec["postings"] = [*rec["postings"], posting["id"]]
            store.put("requisitions", rec)
        sb.counters["requisitions_written"] += 1
        return _json_response({"data": rec}, 201)

    @app.put("/v1/requisitions/{req_id}")
    async def replace_requisition(req_id: str, request: Request) -> Response:
        auth(request)
        body = await _body(request)
        with store.tx():
            current = store.get("requisitions", req_id)
            if current is None:
                raise _not_found("requisition", req_id)
            rec = requisition_body(body, current)
            store.put("requisitions", rec)
        sb.counters["requisitions_written"] += 1
        return _json_response({"data": rec})

    @app.delete("/v1/requisitions/{req_id}")
    async def delete_requisition(req_id: str, request: Request) -> Response:
        auth(request)
        if not sb.config.requisition_api:
            raise LeverError(403, "ForbiddenError", "API management of requisitions is not enabled")
        if store.get("requisitions", req_id) is None:
            raise _not_found("requisition", req_id)
        store.delete("requisitions", req_id)
        return Response(status_code=204)

    # ---- dictionaries
    @app.get("/v1/users")
    async def list_users(request: Request) -> Response:
        auth(request)
        where: list[str] = []
        args: list[Any] = []
        if _bool_param(request, "includeDeactivated") is not True:
            where.append("t.deactivated = 0")
        if request.query_params.get("email"):
            where.append("t.email_lc = ?")
            args.append(request.query_params["email"].strip().lower())
        return sb.list_page("/v1/users", request, "users", where, args, lambda r: r)

    def simple_list(table: str) -> Callable[[Request], Awaitable[Response]]:
        async def handler(request: Request) -> Response:
            auth(request)
            return sb.list_page(
                f"/v1/{table}",
                request,
                table,
                [],
                [],
                lambda r: {k: v for k, v in r.items() if not k.startswith("_")},
            )

        return handler

    for table in ("stages", "archive_reasons", "requisition_fields"):
        app.add_api_route(f"/v1/{table}", simple_list(table), methods=["GET"])


# ------------------------------------------------------------------------------------------------------
# server


class SandboxServer(ThreadedSandbox):
    """The Lever sandbox served by uvicorn in a background thread (port 0 = a free port).

    Use as a context manager; ``url`` is the server root (the API is under ``/v1``).
    """

    vendor = "Lever"

    def create_app(self) -> FastAPI:
        return create_app(self.db_path, **self.app_kwargs)

    @property
    def api_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def sandbox(self) -> _Sandbox:
        assert self.app is not None, "server not started"
        sb: _Sandbox = self.app.state.sandbox
        return sb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m syncbridge.connectors.lever.sandbox", description="Local Lever Data API v1 sandbox"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="seed the database if needed, then serve until interrupted")
    serve.add_argument("--db", required=True, help="SQLite file (created and seeded if missing)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="0 picks a free port")
    serve.add_argument("--size", type=int, default=200, help="number of opportunities to seed")
    serve.add_argument("--seed", type=int, default=7)
    serve.add_argument("--reset", action="store_true", help="wipe and re-seed the database")
    serve.add_argument("--rate", type=float, default=10.0, help="requests per second; 0 = unlimited")
    serve.add_argument("--burst", type=int, default=20)
    serve.add_argument("--latency-ms", type=float, default=0.0)
    serve.add_argument("--fault-rate", type=float, default=0.0)
    serve.add_argument("--fault-seed", type=int, default=0)
    serve.add_argument("--offset-fault-rate", type=float, default=0.0)
    serve.add_argument("--token-ttl", type=int, default=3600)
    args = parser.parse_args(argv)

    seed(args.db, size=args.size, seed=args.seed, reset=args.reset)
    app = create_app(
        args.db,
        rate_per_second=args.rate,
        burst=args.burst,
        latency_ms=args.latency_ms,
        fault_rate=args.fault_rate,
        fault_seed=args.fault_seed,
        offset_fault_rate=args.offset_fault_rate,
        token_ttl=args.token_ttl,
    )
    return serve_forever(app, args.host, args.port, banner=" (API under /v1; API key: see DEMO_ENV)")


_seed_file = seed  # the plugin's method of that name takes a parameter called seed


class LeverSandbox(Sandbox):
    """The Lever sandbox as a plugin (entry point ``syncbridge.sandboxes``)."""

    vendor = "lever"
    employer = "Globex"
    connector_name = "globex-lever"
    outcome_prefix = "LV"
    env = DEMO_ENV
    demo_server_options = {}
    conformance_server_options = {"rate_per_second": 0}
    conformance_block_options = {"rate_per_second": 500.0, "burst": 500, "backoff_base": 0.02}

    def seed(self, db_path: Path, *, size: int = 200, seed: int = 7, reset: bool = False) -> None:
        _seed_file(db_path, size=size, seed=seed, reset=reset)

    def demo_people(self, db_path: Path, *, n: int = 12, seed: int = 7) -> list[dict[str, Any]]:
        return demo_people(db_path, n=n, seed=seed)

    def server(self, db_path: Path, **options: Any) -> SandboxServer:
        return SandboxServer(db_path, **options)

    def main(self, argv: list[str]) -> int:
        return main(argv)

    def connector_block(self, base_url: str) -> dict[str, Any]:
        return demo_connector_block(base_url)

    def conversion_rule(self, employer: str) -> dict[str, Any] | None:
        return demo_conversion_rule(employer)

    def nurture_options(self) -> dict[str, Any] | None:
        return {"stage": "lead-reached-out"}

    def note_texts(self, db_path: Path, email: str) -> list[str] | None:
        wanted = email.strip().lower()
        people = people_snapshot(db_path).items()
        return [text for key, person in people if wanted in key.split("|") for text in person["notes"]]


if __name__ == "__main__":
    raise SystemExit(main())
