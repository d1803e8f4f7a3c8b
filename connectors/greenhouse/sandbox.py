"""A local Greenhouse Harvest v3 server for demos, end-to-end tests and benchmarks.

It speaks the subset of Harvest v3 that the connector uses, as Greenhouse documents it:

* ``POST /token``: OAuth client credentials (HTTP Basic client auth, form body), opaque expiring bearer
  tokens;
* ``/v3/...``: bare-array lists in ``id`` descending order with an opaque ``cursor`` in the ``Link`` header,
  the pipe date filters, the 422 error bodies, array-replacing PATCH, duplicate tag 422s, notes, jobs from
  templates, job posts, attachments;
* a fixed-window rate limit with the ``X-RateLimit-*`` headers and ``Retry-After``;
* injected latency and faults (429, 500, 503, dropped connections) that happen before a request has any
  effect;
* ``/_sandbox/...`` admin endpoints (runtime config, stats, token expiry, attachment downloads).

Data lives in one SQLite file (WAL) and survives restarts.  Each record is stored as JSON text next to the
indexed columns the filters need; candidate emails are kept lower-cased in their own table.

Run it with ``python -m syncbridge.connectors.greenhouse.sandbox serve --db PATH``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import json
import math
import mimetypes
import random
import secrets
import sqlite3
import threading
import time
import unicodedata
import urllib.parse
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from syncbridge.plugins import Sandbox
from syncbridge.sandbox_server import ThreadedSandbox, serve_forever

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "SandboxServer",
    "create_app",
    "demo_people",
    "main",
    "seed",
]

DEFAULT_CLIENT_ID = "sandbox-client-1"
DEFAULT_CLIENT_SECRET = "sbx-gh-secret-5f1c0e2d9a"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UNAUTHORIZED_DETAIL = "Token could not be decoded. Please ensure your token is from a trusted source."
CURSOR_WITH_PARAMS = "When passing a cursor, do not include other query params."
MAX_PER_PAGE = 500
DEFAULT_PER_PAGE = 100
MAX_ID_LIST = 50
UNLIMITED = 1_000_000

# --------------------------------------------------------------------------------------------------------
# time helpers


def _iso(dt: datetime) -> str:
    """ISO-8601 UTC with milliseconds and ``Z``, e.g. ``2024-12-15T03:55:00.000Z``."""
    if dt.tzinfo is not UTC:
        dt = dt.astimezone(UTC)
    return dt.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def _now() -> str:
    return _iso(datetime.now(UTC))


def _parse_ts(text: str) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt


# --------------------------------------------------------------------------------------------------------
# errors


class ApiError(Exception):
    """An error answered with a JSON body ``{"message": ..., "errors": [...]}``."""

    def __init__(
        self,
        status: int,
        message: str,
        errors: list[Any] | None = None,
        *,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = body if body is not None else {"message": message}
        if body is None and errors is not None:
            self.body["errors"] = errors
        self.headers = headers or {}


def _unprocessable(*errors: Any) -> ApiError:
    return ApiError(422, "Unprocessable Content", list(errors))


def _not_found() -> ApiError:
    return ApiError(404, "Resource not found")


def _error_id() -> str:
    return "err-" + secrets.token_hex(8)


# --------------------------------------------------------------------------------------------------------
# storage

# id ranges keep ids of different resources apart, so that a connector mixing them up fails loudly
ID_BASES = {
    "users": 1_000_000,
    "departments": 2_000,
    "offices": 3_000,
    "job_boards": 5_000,
    "sources": 5_500,
    "custom_fields": 6_000,
    "custom_field_options": 7_000,
    "candidate_tags": 8_000,
    "jobs": 4_100_000,
    "job_posts": 4_200_000,
    "openings": 4_300_000,
    "candidates": 20_000_000,
    "applications": 40_000_000,
    "applied_candidate_tags": 60_000_000,
    "notes": 80_000_000,
    "attachments": 90_000_000,
}

# indexed columns beside id / created_at / updated_at / data, per table
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "users": ("primary_email_lc", "deactivated", "service_account"),
    "departments": ("external_id",),
    "offices": ("external_id",),
    "job_boards": (),
    "sources": (),
    "custom_fields": ("field_type", "active", "name_key"),
    "custom_field_options": ("custom_field_id", "active"),
    "jobs": (
        "status",
        "requisition_id",
        "department_id",
        "is_template",
        "confidential",
        "opened_at",
        "closed_at",
    ),
    "job_posts": ("job_id", "job_board_id", "live", "active", "internal"),
    "openings": ("job_id", "open"),
    "candidates": ("last_activity_at", "private"),
    "candidate_tags": ("name",),
    "applied_candidate_tags": ("candidate_id", "candidate_tag_id"),
    "applications": ("candidate_id", "job_id", "status", "prospect", "stage_name", "last_activity_at"),
    "notes": ("candidate_id", "application_id", "user_id", "note_type", "visibility"),
    "attachments": ("application_id", "candidate_id", "type"),
}

INDEXED = {
    "users": ("primary_email_lc",),
    "custom_fields": ("name_key",),
    "job_posts": ("job_id",),
    "openings": ("job_id",),
    "applied_candidate_tags": ("candidate_id",),
    "applications": ("candidate_id", "job_id"),
    "notes": ("candidate_id",),
    "attachments": ("application_id", "candidate_id"),
}

SPECIAL_COLUMNS: dict[tuple[str, str], Callable[[dict[str, Any]], Any]] = {
    ("users", "primary_email_lc"): lambda r: (r.get("primary_email") or "").strip().lower(),
    ("users", "service_account"): lambda r: int(not r.get("primary_email")),
}


def _column_value(table: str, column: str, record: dict[str, Any]) -> Any:
    special = SPECIAL_COLUMNS.get((table, column))
    value = special(record) if special is not None else record.get(column)
    if isinstance(value, bool):
        return int(value)
    return value


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _dumps(obj: Any) -> str:
    return _ENCODER.encode(obj)


def _connect(db_path: str | Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(db_path), isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def _ensure_schema(conn: sqlite3.Connection) -> None:
    stmts = ["CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)"]
    for table, cols in TABLE_COLUMNS.items():
        extra = "".join(f", {c}" for c in cols)
        stmts.append(
            f"CREATE TABLE IF NOT EXISTS {table} (id INTEGER PRIMARY KEY, created_at TEXT NOT NULL, "
            f"updated_at TEXT NOT NULL, data TEXT NOT NULL{extra})"
        )
        stmts.append(f"CREATE INDEX IF NOT EXISTS ix_{table}_updated ON {table}(updated_at)")
        stmts.append(f"CREATE INDEX IF NOT EXISTS ix_{table}_created ON {table}(created_at)")
        for col in INDEXED.get(table, ()):
            stmts.append(f"CREATE INDEX IF NOT EXISTS ix_{table}_{col} ON {table}({col})")
    stmts += [
        "CREATE UNIQUE INDEX IF NOT EXISTS ux_candidate_tags_name ON candidate_tags(name)",
        "CREATE UNIQUE INDEX IF NOT EXISTS ux_applied_pair "
        "ON applied_candidate_tags(candidate_id, candidate_tag_id)",
        "CREATE TABLE IF NOT EXISTS candidate_emails "
        "(email TEXT NOT NULL, candidate_id INTEGER NOT NULL, position INTEGER NOT NULL)",
        "CREATE INDEX IF NOT EXISTS ix_candidate_emails_email ON candidate_emails(email)",
        "CREATE INDEX IF NOT EXISTS ix_candidate_emails_cand ON candidate_emails(candidate_id)",
        "CREATE TABLE IF NOT EXISTS attachment_blobs (id INTEGER PRIMARY KEY, content BLOB NOT NULL)",
    ]
    for stmt in stmts:
        conn.execute(stmt)


def _drop_all(conn: sqlite3.Connection) -> None:
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    for name in names:
        if not name.startswith("sqlite_"):
            conn.execute(f'DROP TABLE IF EXISTS "{name}"')


def _insert_sql(table: str) -> str:
    cols = ("id", "created_at", "updated_at", "data", *TABLE_COLUMNS[table])
    return f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"


def _row(table: str, record: dict[str, Any]) -> tuple[Any, ...]:
    return (
        record["id"],
        record["created_at"],
        record["updated_at"],
        _dumps(record),
        *(_column_value(table, c, record) for c in TABLE_COLUMNS[table]),
    )


class _Store:
    """The sandbox's SQLite file. All access goes through one connection guarded by a lock."""

    def __init__(self, db_path: str | Path) -> None:
        self.path = Path(db_path)
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

    def get(self, table: str, rec_id: int) -> dict[str, Any] | None:
        with self.lock:
            row = self.conn.execute(f"SELECT data FROM {table} WHERE id = ?", (rec_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def require(self, table: str, rec_id: int) -> dict[str, Any]:
        record = self.get(table, rec_id)
        if record is None:
            raise _not_found()
        return record

    def exists(self, table: str, rec_id: Any) -> bool:
        if not isinstance(rec_id, int) or isinstance(rec_id, bool):
            return False
        with self.lock:
            return self.conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (rec_id,)).fetchone() is not None

    def next_id(self, table: str) -> int:
        with self.lock:
            row = self.conn.execute(f"SELECT MAX(id) FROM {table}").fetchone()
        return int(row[0] or ID_BASES[table]) + 1

    def insert(self, table: str, record: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            if record.get("id") is None:
                record["id"] = self.next_id(table)
            self.conn.execute(_insert_sql(table), _row(table, record))
        return record

    def update(self, table: str, record: dict[str, Any]) -> dict[str, Any]:
        cols = TABLE_COLUMNS[table]
        sets = ", ".join(["updated_at = ?", "data = ?", *(f"{c} = ?" for c in cols)])
        values = [record["updated_at"], _dumps(record), *(_column_value(table, c, record) for c in cols)]
        with self.lock:
            self.conn.execute(f"UPDATE {table} SET {sets} WHERE id = ?", (*values, record["id"]))
        return record

    def count(self, table: str) -> int:
        with self.lock:
            return int(self.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


# --------------------------------------------------------------------------------------------------------
# seeding

SEED_ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
SEED_SPAN = timedelta(days=730)
APPLICATION_CAP = 20_000
NOTE_CAP = 3_000

# fmt: off
# (as written, ascii form for email local parts)
FIRST_NAMES = [
    ("José", "jose"), ("Zoë", "zoe"), ("Renée", "renee"), ("François", "francois"), ("Björn", "bjorn"),
    ("Søren", "soren"), ("Łukasz", "lukasz"), ("Mary-Kate", "marykate"), ("Jean-Luc", "jeanluc"),
    ("Siobhán", "siobhan"), ("Chloé", "chloe"), ("Maria", "maria"), ("James", "james"), ("Priya", "priya"),
    ("Aisha", "aisha"), ("Oluwaseun", "oluwaseun"), ("Mohammed", "mohammed"), ("Wei", "wei"),
    ("美咲", "misaki"), ("翔太", "shota"), ("Дмитрий", "dmitry"), ("Анна", "anna"), ("Ольга", "olga"),
    ("Sergei", "sergei"), ("Emily", "emily"), ("Michael", "michael"), ("Sarah", "sarah"), ("David", "david"),
    ("Fatima", "fatima"), ("Carlos", "carlos"), ("Ingrid", "ingrid"), ("Kwame", "kwame"), ("Yuki", "yuki"),
    ("Hana", "hana"), ("Liam", "liam"), ("Noah", "noah"), ("Olivia", "olivia"), ("Ava", "ava"),
    ("Jae-won", "jaewon"), ("민준", "minjun"), ("Ngozi", "ngozi"), ("Tomás", "tomas"), ("Ángel", "angel"),
    ("Dorothée", "dorothee"), ("Gaëlle", "gaelle"), ("Ana", "ana"), ("Sofía", "sofia"), ("Zeynep", "zeynep"),
    ("Mateo", "mateo"), ("Ethan", "ethan"), ("Amara", "amara"), ("Nikolai", "nikolai"), ("Elif", "elif"),
]
LAST_NAMES = [
    ("O'Brien", "obrien"), ("D'Angelo", "dangelo"), ("García", "garcia"), ("Müller", "muller"),
    ("Smith-Jones", "smithjones"), ("Nguyễn", "nguyen"), ("Østergaard", "ostergaard"),
    ("Kowalski", "kowalski"), ("Иванов", "ivanov"), ("Петрова", "petrova"), ("佐藤", "sato"),
    ("鈴木", "suzuki"), ("王", "wang"), ("李", "li"), ("김", "kim"), ("Fernández", "fernandez"),
    ("van der Berg", "vanderberg"), ("de la Cruz", "delacruz"), ("Smith", "smith"), ("Johnson", "johnson"),
    ("Williams", "williams"), ("Brown", "brown"), ("Okafor", "okafor"), ("Adeyemi", "adeyemi"),
    ("Patel", "patel"), ("Singh", "singh"), ("Chen", "chen"), ("Nakamura", "nakamura"), ("Rossi", "rossi"),
    ("Dubois", "dubois"), ("Lefèvre", "lefevre"), ("Şahin", "sahin"), ("Kovačević", "kovacevic"),
    ("Ó Súilleabháin", "osullivan"), ("MacDonald", "macdonald"), ("St. John", "stjohn"), ("Lopez", "lopez"),
    ("Haddad", "haddad"), ("Andersson", "andersson"), ("Mendes", "mendes"), ("Kaur", "kaur"),
    ("Yilmaz", "yilmaz"),
]
PERSONAL_DOMAINS = ["gmail.com", "yahoo.com", "outlook.com", "proton.me", "icloud.com", "mail.ru", "qq.com",
                    "hotmail.co.uk", "gmx.de", "web.de"]
SCHOOL_DOMAINS = ["stateu.edu", "techinst.edu", "university.ac.uk", "uni-muenchen.de", "utokyo.ac.jp"]
WORK_DOMAINS = ["acme.io", "globex.com", "initech.com", "umbrella.co", "hooli.xyz", "vandelay.org"]
COMPANIES = ["Acme Corp", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay Industries", "Stark Industries",
             "Wayne Enterprises", "Société Générale", "株式会社テスト", "ООО Ромашка",  # noqa: RUF001
             "Müller & Söhne GmbH"]
TITLES = ["Software Engineer", "Data Analyst", "Student", "Research Assistant", "Product Designer",
          "Marketing Intern", "Operations Associate", "Teaching Assistant", "Barista", "Junior Developer"]
TIME_ZONES = ["UTC", "Eastern Time (US & Canada)", "Central Time (US & Canada)",
              "Mountain Time (US & Canada)", "Pacific Time (US & Canada)", "London", "Berlin", "Paris",
              "Madrid", "Moscow", "Kolkata", "Singapore", "Tokyo", "Seoul", "Sydney", "Lagos", "Nairobi",
              "Sao Paulo", "Mexico City"]
CITIES = ["12 Rue de Rivoli, 75001 Paris", "221B Baker Street, London", "1-1 Chiyoda, Tokyo",
          "Unter den Linden 5, Berlin", "500 Main St, Springfield, IL", "ул. Тверская, 7, Москва"]
TAG_NAMES = ["Referral", "Boomerang", "University Recruiting", "Diversity Outreach", "Do Not Contact",
             "Silver Medalist", "Top Talent"]
DEGREES = ["High School", "Associate's", "Bachelor's", "Master's", "PhD"]
STAGES = ["Application Review", "Preliminary Phone Screen", "Face to Face", "Reference Check", "Offer"]
SKILLS = ["Python", "SQL", "Figma", "Excel", "React", "Customer research", "Copywriting", "Go", "Data viz"]

# (name, name_key, field_type, value_type, private)
CUSTOM_FIELDS = [
    ("MI Rating", "mi_rating", "candidate", "number", False),
    ("MI Last Project", "mi_last_project", "candidate", "short_text", False),
    ("MI Skills", "mi_skills", "candidate", "long_text", False),
    ("MI Would Hire", "mi_would_hire", "candidate", "yes_no", False),
    ("Degree", "degree", "candidate", "single_select", False),
    ("Current Salary", "current_salary", "candidate", "short_text", True),
    ("Available From", "available_from", "candidate", "date", False),
    ("MI Prescreen Score", "mi_prescreen_score", "application", "number", False),
    ("MI Prescreen Summary", "mi_prescreen_summary", "application", "long_text", False),
    ("MI Supervisor", "mi_supervisor", "application", "short_text", False),
    ("Referral Notes", "referral_notes", "application", "long_text", False),
    ("MI Source Project", "mi_source_project", "job", "short_text", False),
    ("Cost Center", "cost_center", "job", "short_text", False),
    ("Employment Type", "employment_type", "job", "single_select", False),
]
# fields of the other value types, seeded after the ones above (fixed timestamps: the seed stays the same)
EXTRA_CUSTOM_FIELDS = [
    ("MI Skill Set", "mi_skill_set", "candidate", "multi_select", False),
    ("MI Mentor", "mi_mentor", "candidate", "user", False),
    ("MI Stipend", "mi_stipend", "application", "currency", False),
]
# the skill options a recruiting team might keep (deliberately not every skill a project can show)
SKILL_OPTIONS = [*SKILLS, "Data Visualization", "PostgreSQL", "Docker", "Statistics", "Data Cleaning",
                 "User Research", "Prototyping", "Accessibility", "Presentation Skills", "REST APIs"]
SELECT_OPTIONS = {"mi_skill_set": SKILL_OPTIONS, "degree": DEGREES,
                  "employment_type": ["Full-time", "Part-time", "Intern", "Contract"]}

# (name, status, is_template, department index, requisition_id)
JOBS = [
    ("Template: Software Engineering Intern", "draft", True, 0, None),
    ("Template: Data Analyst (Entry Level)", "draft", True, 1, None),
    ("Software Engineer II", "open", False, 0, "REQ-1001"),
    ("Data Analyst", "open", False, 1, "REQ-1002"),
    ("Product Designer", "open", False, 2, "REQ-1003"),
    ("Customer Success Associate", "closed", False, 3, "REQ-0990"),
    ("Marketing Coordinator", "draft", False, 4, "REQ-1005"),
    ("Site Reliability Engineer", "open", False, 0, "REQ-1006"),
]
# (name, internal, url token): boards seeded after the two live ones, all paused
EXTRA_BOARDS = [("Sandbox Campus Board (paused)", True, "sandbox-campus")]
# (name, source type): the sources an application can be attributed to
SOURCES = [
    ("LinkedIn", "Social media"),
    ("Referral", "Referrals"),
    ("Micro-internship", "Prospecting"),
    ("University Career Fair", "Events"),
]
DEPARTMENTS = ["Engineering", "Data", "Design", "Customer Success", "Marketing"]
OFFICES = [("New York", "New York, NY"), ("London", "London, UK"), ("Remote", "Anywhere")]

# (first, last, email, title, site_admin, deactivated); the last one is the integration's service account
USERS = [
    ("Ada", "Admin", "ada.admin@sandbox-hr.example", "Head of Talent", True, False),
    ("Rita", "Recruiter", "rita.recruiter@sandbox-hr.example", "Recruiter", False, False),
    ("Rafael", "Núñez", "rafael.nunez@sandbox-hr.example", "Senior Recruiter", False, False),
    ("Cora", "Coordinator", "cora.coordinator@sandbox-hr.example", "Recruiting Coordinator", False, False),
    ("Hiro", "Tanaka", "hiro.tanaka@sandbox-hr.example", "Engineering Manager", False, False),
    ("Grace", "O'Neill", "grace.oneill@sandbox-hr.example", "Data Lead", False, False),
    ("Sven", "Lindqvist", "sven.lindqvist@sandbox-hr.example", "Design Director", False, False),
    ("Amina", "Diallo", "amina.diallo@sandbox-hr.example", "Sourcer", False, False),
    ("Pavel", "Орлов", "pavel.orlov@sandbox-hr.example", "Interviewer", False, False),
    ("Old", "Account", "old.account@sandbox-hr.example", "Former Recruiter", False, True),
    ("Integration", "Service User", "", "Harvest API", True, False),
]
# fmt: on


def _seed_anchor() -> datetime:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return min(SEED_ANCHOR, today)


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def _messy_email(rng: random.Random, email: str) -> str:
    roll = rng.random()
    if roll < 0.04:
        email = email.upper() if rng.random() < 0.3 else email[:1].upper() + email[1:]
    elif roll < 0.08:
        local, _, domain = email.partition("@")
        email = local.title() + "@" + domain.capitalize()
    if rng.random() < 0.03:
        email = rng.choice([" ", "  ", "\t"]) + email + rng.choice(["", " ", " \n"])
    return email


def _phone(rng: random.Random) -> str:
    style = rng.randrange(4)
    a, b, c = rng.randrange(200, 999), rng.randrange(100, 999), rng.randrange(1000, 9999)
    if style == 0:
        return f"+1 ({a}) {b}-{c}"
    if style == 1:
        return f"{a}.{b}.{c}"
    if style == 2:
        return f"+44 20 {b}{rng.randrange(10)} {c}"
    return f"+49{a}{b}{c}"


def _spread(rng: random.Random, start: datetime, end: datetime) -> datetime:
    seconds = max(0.0, (end - start).total_seconds())
    return start + timedelta(seconds=rng.random() * seconds)


@dataclass
class _SeedCtx:
    now: str
    anchor: datetime
    tag_ids: dict[str, int]
    custom_fields: dict[str, dict[str, Any]]


def _seed_dictionaries(conn: sqlite3.Connection, rng: random.Random, ctx: _SeedCtx) -> dict[str, Any]:
    start = ctx.anchor - SEED_SPAN - timedelta(days=200)

    def stamp() -> str:
        return _iso(_spread(rng, start, ctx.anchor - SEED_SPAN))

    out: dict[str, Any] = {}
    users: list[dict[str, Any]] = []
    for k, (first, last, email, title, admin, deact) in enumerate(USERS, start=1):
        ts = stamp()
        users.append(
            {
                "id": ID_BASES["users"] + k,
                "first_name": first,
                "last_name": last,
                "name": f"{first} {last}",
                "primary_email": email,
                "emails": [email] if email else [],
                "job_title": title,
                "agency_id": None,
                "deactivated": deact,
                "site_admin": admin,
                "employee_id": f"E{1000 + k}" if email else None,
                "linked_candidate_ids": [],
                "office_ids": [],
                "department_ids": [],
                "interviewer_tags": [],
                "custom_fields": {},
                "created_at": ts,
                "updated_at": ts,
            }
        )
    conn.executemany(_insert_sql("users"), [_row("users", u) for u in users])
    out["user_ids"] = [u["id"] for u in users if u["primary_email"] and not u["deactivated"]]

    departments: list[dict[str, Any]] = []
    for k, name in enumerate(DEPARTMENTS, start=1):
        ts = stamp()
        departments.append(
            {
                "id": ID_BASES["departments"] + k,
                "name": name,
                "parent_id": None,
                "external_id": f"dept-{k:02d}",
                "created_at": ts,
                "updated_at": ts,
            }
        )
    conn.executemany(_insert_sql("departments"), [_row("departments", d) for d in departments])
    offices: list[dict[str, Any]] = []
    for k, (name, loc) in enumerate(OFFICES, start=1):
        ts = stamp()
        offices.append(
            {
                "id": ID_BASES["offices"] + k,
                "name": name,
                "parent_id": None,
                "external_id": f"office-{k:02d}",
                "location": {"name": loc},
                "primary_in_house_contact_user_id": None,
                "created_at": ts,
                "updated_at": ts,
            }
        )
    conn.executemany(_insert_sql("offices"), [_row("offices", o) for o in offices])

    boards: list[dict[str, Any]] = []
    for k, (name, internal) in enumerate(
        [("Sandbox Careers", False), ("Sandbox Internal Jobs", True)], start=1
    ):
        ts = stamp()
        boards.append(
            {
                "id": ID_BASES["job_boards"] + k,
                "name": name,
                "internal": internal,
                "live": True,
                "url_token": "sandbox" if not internal else "sandbox-internal",
                "created_at": ts,
                "updated_at": ts,
            }
        )
    out["board_ids"] = [b["id"] for b in boards]
    # a paused board made last (so first in the newest-first list order): posts on it reach nobody
    for k, (name, internal, token) in enumerate(EXTRA_BOARDS, start=len(boards) + 1):
        boards.append(
            {
                "id": ID_BASES["job_boards"] + k,
                "name": name,
                "internal": internal,
                "live": False,
                "url_token": token,
                "created_at": _iso(ctx.anchor - SEED_SPAN),
                "updated_at": _iso(ctx.anchor - SEED_SPAN),
            }
        )
    conn.executemany(_insert_sql("job_boards"), [_row("job_boards", b) for b in boards])
    sources = [
        {
            "id": ID_BASES["sources"] + k,
            "name": name,
            "type": {"id": k, "name": kind},
            "created_at": _iso(ctx.anchor - SEED_SPAN),
            "updated_at": _iso(ctx.anchor - SEED_SPAN),
        }
        for k, (name, kind) in enumerate(SOURCES, start=1)
    ]
    conn.executemany(_insert_sql("sources"), [_row("sources", x) for x in sources])

    fields: list[dict[str, Any]] = []
    options: list[dict[str, Any]] = []
    for k, (name, key, ftype, vtype, private) in enumerate([*CUSTOM_FIELDS, *EXTRA_CUSTOM_FIELDS], start=1):
        ts = stamp() if k <= len(CUSTOM_FIELDS) else _iso(ctx.anchor - SEED_SPAN)
        fid = ID_BASES["custom_fields"] + k
        fields.append(
            {
                "id": fid,
                "name": name,
                "name_key": key,
                "field_type": ftype,
                "value_type": vtype,
                "private": private,
                "required": False,
                "active": True,
                "sort_order": k,
                "internal_type": None,
                "expose_in_job_board_api": False,
                "api_only": key.startswith("mi_"),
                "default_value": None,
                "created_at": ts,
                "updated_at": ts,
            }
        )
        for n, opt in enumerate(SELECT_OPTIONS.get(key, []), start=1):
            options.append(
                {
                    "id": ID_BASES["custom_field_options"] + len(options) + 1,
                    "custom_field_id": fid,
                    "name": opt,
                    "active": True,
                    "sort_order": n,
                    "external_id": None,
                    "created_at": ts,
                    "updated_at": ts,
                }
            )
    conn.executemany(_insert_sql("custom_fields"), [_row("custom_fields", f) for f in fields])
    conn.executemany(_insert_sql("custom_field_options"), [_row("custom_field_options", o) for o in options])
    ctx.custom_fields.update({f["name_key"]: f for f in fields})

    tags: list[dict[str, Any]] = []
    for k, name in enumerate(TAG_NAMES, start=1):
        ts = stamp()
        tags.append({"id": ID_BASES["candidate_tags"] + k, "name": name, "created_at": ts, "updated_at": ts})
    conn.executemany(_insert_sql("candidate_tags"), [_row("candidate_tags", t) for t in tags])
    ctx.tag_ids.update({t["name"]: t["id"] for t in tags})

    jobs: list[dict[str, Any]] = []
    posts: list[dict[str, Any]] = []
    openings: list[dict[str, Any]] = []
    for k, (name, status, template, dept, req) in enumerate(JOBS, start=1):
        created = _spread(rng, ctx.anchor - SEED_SPAN, ctx.anchor - SEED_SPAN / 2)
        updated = _spread(rng, created, ctx.anchor)
        jid = ID_BASES["jobs"] + k
        opened = None if status == "draft" else _iso(created + timedelta(days=2))
        cf: dict[str, Any] = {}
        if not template:
            cf["cost_center"] = {"name": "Cost Center", "type": "short_text", "value": f"CC-{100 + k}"}
        jobs.append(
            {
                "id": jid,
                "name": name,
                "requisition_id": req,
                "notes": f"<p>{name}. Hiring plan FY26.</p>",
                "confidential": False,
                "status": status,
                "opened_at": opened,
                "closed_at": _iso(updated) if status == "closed" else None,
                "is_template": template,
                "copied_from_id": None,
                "department_id": ID_BASES["departments"] + dept + 1,
                "office_ids": [ID_BASES["offices"] + 1 + (k % len(OFFICES))],
                "custom_fields": cf,
                "created_at": _iso(created),
                "updated_at": _iso(updated),
            }
        )
        board_ids = out["board_ids"][:2] if template or k % 3 == 0 else out["board_ids"][:1]
        for board_id in board_ids:
            pts = _iso(updated)
            live = status == "open"
            internal = board_id == out["board_ids"][1]
            posts.append(
                {
                    "id": ID_BASES["job_posts"] + len(posts) + 1,
                    "title": name.replace("Template: ", ""),
                    "job_id": jid,
                    "job_board_id": board_id,
                    "internal": internal,
                    "active": True,
                    "live": live,
                    "featured": False,
                    "first_published_at": opened if live else None,
                    "content": f"<p>Join us as a {name.replace('Template: ', '')}.</p>",
                    "internal_content": None,
                    "language": "en",
                    "public_url": None,
                    "demographic_question_set_id": None,
                    "questions": [],
                    "created_at": pts,
                    "updated_at": pts,
                }
            )
        for n in range(1 if template else 2):
            openings.append(
                {
                    "id": ID_BASES["openings"] + len(openings) + 1,
                    "job_id": jid,
                    "opening_id": f"{req or 'TPL'}-{n + 1}",
                    "open": status != "closed",
                    "opened_at": opened,
                    "closed_at": None,
                    "application_id": None,
                    "close_reason_id": None,
                    "target_start_on": None,
                    "sort_order": n + 1,
                    "custom_fields": {},
                    "created_at": _iso(created),
                    "updated_at": _iso(created),
                }
            )
    conn.executemany(_insert_sql("jobs"), [_row("jobs", j) for j in jobs])
    conn.executemany(_insert_sql("job_posts"), [_row("job_posts", p) for p in posts])
    conn.executemany(_insert_sql("openings"), [_row("openings", o) for o in openings])
    out["jobs"] = [j for j in jobs if not j["is_template"]]
    out["external_post"] = {p["job_id"]: p["id"] for p in posts if p["job_board_id"] == out["board_ids"][0]}
    return out


def _gen_candidate(
    rng: random.Random, i: int, created: datetime, ctx: _SeedCtx, recent: list[str], shared: set[str]
) -> tuple[dict[str, Any], list[tuple[str, int]], list[int]]:
    first, first_ascii = rng.choice(FIRST_NAMES)
    last, last_ascii = rng.choice(LAST_NAMES)
    if rng.random() < 0.02:
        first = first.lower()
    cid = ID_BASES["candidates"] + i
    updated = created if rng.random() < 0.3 else _spread(rng, created, ctx.anchor)

    roll = rng.random()
    n_emails = 0 if roll < 0.06 else 1 if roll < 0.76 else 2 if roll < 0.94 else 3
    emails: list[dict[str, str]] = []
    domains = rng.sample(
        [rng.choice(PERSONAL_DOMAINS), rng.choice(SCHOOL_DOMAINS), rng.choice(WORK_DOMAINS)], 3
    )
    for k in range(n_emails):
        pattern = rng.randrange(4)
        f, la = first_ascii or "x", last_ascii or "y"
        local = [f"{f}.{la}{i}", f"{f[0]}{la}{i}", f"{la}.{f}{i}", f"{f}_{la[:1]}{i}"][pattern]
        domain = domains[k]
        kind = "work" if domain in WORK_DOMAINS else "personal" if domain in PERSONAL_DOMAINS else "other"
        emails.append({"value": _messy_email(rng, f"{local}@{domain}"), "type": kind})
    # about 1% of candidates share an address with an earlier one; candidate 12 always does (small seeds)
    if i > 10 and recent and (i == 12 or rng.random() < 0.01):
        borrowed = rng.choice(recent)
        if borrowed.strip().lower() not in shared:
            shared.add(borrowed.strip().lower())
            entry = {"value": borrowed, "type": "personal"}
            if emails and rng.random() < 0.5:
                emails.insert(1, entry)
            else:
                emails.insert(0, entry)
    if emails:
        recent.append(emails[0]["value"])
        if len(recent) > 400:
            del recent[: len(recent) - 400]

    phones = []
    if rng.random() > 0.25:
        phones.append({"value": _phone(rng), "type": rng.choice(["mobile", "mobile", "home", "work"])})
        if rng.random() < 0.15:
            phones.append({"value": _phone(rng), "type": "other"})
    addresses = [{"value": rng.choice(CITIES), "type": "home"}] if rng.random() < 0.3 else []
    websites = [{"value": f"https://{first_ascii}{i}.dev", "type": "portfolio"}] if rng.random() < 0.1 else []
    social = (
        [{"value": f"https://www.linkedin.com/in/{first_ascii}-{last_ascii}-{i}"}]
        if rng.random() < 0.15
        else []
    )

    tag_ids: list[int] = []
    tags: list[str] = []
    if rng.random() < 0.2:
        tags = rng.sample(TAG_NAMES, rng.choice([1, 1, 2]))
        tag_ids = [ctx.tag_ids[t] for t in tags]

    cf: dict[str, Any] = {}
    if rng.random() < 0.12:
        cf["degree"] = {"name": "Degree", "type": "single_select", "value": rng.choice(DEGREES)}
    if rng.random() < 0.01:
        cf["mi_rating"] = {"name": "MI Rating", "type": "number", "value": rng.randint(1, 5)}
        cf["mi_last_project"] = {"name": "MI Last Project", "type": "short_text", "value": "Churn dashboard"}
        cf["mi_skills"] = {
            "name": "MI Skills",
            "type": "long_text",
            "value": ", ".join(rng.sample(SKILLS, 3)),
        }
    if rng.random() < 0.02:
        cf["current_salary"] = {"name": "Current Salary", "type": "short_text", "value": "$52,000"}

    record = {
        "id": cid,
        "first_name": first,
        "last_name": last,
        "preferred_name": (first_ascii.capitalize() if rng.random() < 0.1 else None),
        "company": rng.choice(COMPANIES) if rng.random() < 0.55 else None,
        "title": rng.choice(TITLES) if rng.random() < 0.6 else None,
        "created_at": _iso(created),
        "updated_at": _iso(updated),
        "last_activity_at": _iso(updated),
        "private": rng.random() < 0.03,
        "can_email": rng.random() < 0.95,
        "time_zone": rng.choice(TIME_ZONES) if rng.random() < 0.5 else None,
        "tags": tags,
        "linked_user_ids": [],
        "phone_numbers": phones,
        "addresses": addresses,
        "email_addresses": emails,
        "website_addresses": websites,
        "social_media_addresses": social,
        "custom_fields": cf,
    }
    email_rows = [(e["value"].strip().lower(), pos) for pos, e in enumerate(emails)]
    return record, email_rows, tag_ids


def seed(db_path: str | Path, size: int = 200, seed: int = 7, *, reset: bool = False) -> None:
    """Create the schema and deterministic data from ``(size, seed)``.

    A no-op when the file is already seeded, unless ``reset`` wipes it first.
    """
    if size < 1:
        raise ValueError("size must be at least 1")
    path = Path(db_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = _connect(path)
    try:
        _ensure_schema(conn)
        state = dict(
            conn.execute("SELECT key, value FROM meta WHERE key IN ('seeded', 'seeding')").fetchall()
        )
        if reset or "seeding" in state:  # a wipe was asked for, or an earlier seed was interrupted
            _drop_all(conn)
            _ensure_schema(conn)
        elif "seeded" in state:
            return
        conn.execute("PRAGMA synchronous=OFF")
        # commit in batches (a 1M seed would otherwise build one giant WAL);
        # the 'seeding' mark makes a rerun after an interruption start over
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO meta(key, value) VALUES ('seeding', ?)", (_now(),))
        try:
            _seed_all(conn, size, seed)
            conn.execute("DELETE FROM meta WHERE key = 'seeding'")
            conn.execute(
                "INSERT INTO meta(key, value) VALUES ('seeded', ?)",
                (_dumps({"size": size, "seed": seed, "at": _now()}),),
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def _seed_all(conn: sqlite3.Connection, size: int, seed_value: int) -> None:
    anchor = _seed_anchor()
    ctx = _SeedCtx(now=_now(), anchor=anchor, tag_ids={}, custom_fields={})
    base = _seed_dictionaries(conn, random.Random(f"gh-sandbox:{seed_value}:dicts"), ctx)

    rng = random.Random(f"gh-sandbox:{seed_value}:candidates")
    start = anchor - SEED_SPAN
    span = SEED_SPAN.total_seconds()
    recent: list[str] = []
    shared: set[str] = set()
    cand_sql, tag_sql = _insert_sql("candidates"), _insert_sql("applied_candidate_tags")
    cand_rows: list[tuple[Any, ...]] = []
    email_rows: list[tuple[str, int, int]] = []
    tag_rows: list[tuple[Any, ...]] = []
    applied_id = ID_BASES["applied_candidate_tags"]
    app_candidates: list[tuple[int, str]] = []
    note_candidates: list[tuple[int, str]] = []

    def flush() -> None:
        conn.executemany(cand_sql, cand_rows)
        conn.executemany(
            "INSERT INTO candidate_emails(email, candidate_id, position) VALUES (?, ?, ?)", email_rows
        )
        conn.executemany(tag_sql, tag_rows)
        cand_rows.clear()
        email_rows.clear()
        tag_rows.clear()
        conn.execute("COMMIT")
        conn.execute("BEGIN IMMEDIATE")

    for i in range(1, size + 1):
        created = start + timedelta(seconds=span * (i - 1 + rng.random()) / size)
        record, emails, tag_ids = _gen_candidate(rng, i, created, ctx, recent, shared)
        cand_rows.append(_row("candidates", record))
        email_rows.extend((email, record["id"], pos) for email, pos in emails)
        for tag_id in tag_ids:
            applied_id += 1
            ts = record["created_at"]
            tag_rows.append(
                _row(
                    "applied_candidate_tags",
                    {
                        "id": applied_id,
                        "candidate_id": record["id"],
                        "candidate_tag_id": tag_id,
                        "created_at": ts,
                        "updated_at": ts,
                    },
                )
            )
        if len(app_candidates) < APPLICATION_CAP:
            app_candidates.append((record["id"], record["created_at"]))
        if len(note_candidates) < NOTE_CAP * 3:
            note_candidates.append((record["id"], record["created_at"]))
        if len(cand_rows) >= 5000:
            flush()
    flush()
    _seed_applications(
        conn, random.Random(f"gh-sandbox:{seed_value}:applications"), ctx, base, app_candidates
    )
    _seed_notes(conn, random.Random(f"gh-sandbox:{seed_value}:notes"), ctx, base, note_candidates)


def _seed_applications(
    conn: sqlite3.Connection,
    rng: random.Random,
    ctx: _SeedCtx,
    base: dict[str, Any],
    candidates: list[tuple[int, str]],
) -> None:
    jobs = base["jobs"]
    rows: list[tuple[Any, ...]] = []
    app_id = ID_BASES["applications"]
    for cand_id, cand_created in candidates:
        if app_id - ID_BASES["applications"] >= APPLICATION_CAP:
            break
        count = 1 if rng.random() < 0.5 else 2
        picks = rng.sample(jobs, count)
        for job in picks:
            app_id += 1
            created = _spread(rng, datetime.fromisoformat(cand_created.replace("Z", "+00:00")), ctx.anchor)
            updated = _spread(rng, created, ctx.anchor)
            prospect = rng.random() < 0.08
            roll = rng.random()
            status = "in_process" if roll < 0.7 else "rejected" if roll < 0.93 else "hired"
            if prospect:
                status = "in_process"
            stage = 0 if status == "rejected" else rng.randrange(len(STAGES))
            if status == "hired":
                stage = len(STAGES) - 1
            cf: dict[str, Any] = {}
            if rng.random() < 0.05:
                cf["referral_notes"] = {
                    "name": "Referral Notes",
                    "type": "long_text",
                    "value": "Met at a meetup.",
                }
            job_id = None if prospect else job["id"]
            record = {
                "id": app_id,
                "candidate_id": cand_id,
                "job_id": job_id,
                "job_post_id": None if prospect else base["external_post"].get(job["id"]),
                "status": status,
                "prospect": prospect,
                "prospective_job_ids": [job["id"]] if prospect else [],
                "stage_id": None if prospect else job["id"] * 10 + stage + 1,
                "job_interview_stage_id": None if prospect else job["id"] * 10 + stage + 1,
                "stage_name": None if prospect else STAGES[stage],
                "recruiter_id": rng.choice(base["user_ids"][1:3]),
                "coordinator_id": base["user_ids"][3] if rng.random() < 0.5 else None,
                "source_id": None,
                "referrer_id": None,
                "agency_note_id": None,
                "rejection_reason_id": 1 if status == "rejected" else None,
                "rejected_at": _iso(updated) if status == "rejected" else None,
                "needs_decision": False,
                "last_activity_at": _iso(updated),
                "location_address": None,
                "answers": [],
                "custom_fields": cf,
                "created_at": _iso(created),
                "updated_at": _iso(updated),
            }
            rows.append(_row("applications", record))
    conn.executemany(_insert_sql("applications"), rows)


def _seed_notes(
    conn: sqlite3.Connection,
    rng: random.Random,
    ctx: _SeedCtx,
    base: dict[str, Any],
    candidates: list[tuple[int, str]],
) -> None:
    rows: list[tuple[Any, ...]] = []
    bodies = [
        "Great phone screen, strong SQL.",
        "Asked to follow up in Q3.",
        "Prefers remote roles.",
        "Relocating to Berlin — check visa.",
        "Référence vérifiée.",
        "候補者と面談済み。",
    ]
    for cand_id, cand_created in candidates:
        if len(rows) >= NOTE_CAP:
            break
        if rng.random() >= 0.3:
            continue
        ts = _iso(_spread(rng, datetime.fromisoformat(cand_created.replace("Z", "+00:00")), ctx.anchor))
        vis = rng.choice(["admin_only_visible", "privately_visible", "publicly_visible", "publicly_visible"])
        record = _note_record(
            ID_BASES["notes"] + len(rows) + 1,
            cand_id,
            None,
            rng.choice(base["user_ids"]),
            rng.choice(bodies),
            None,
            vis,
            "NOTE",
            ts,
        )
        rows.append(_row("notes", record))
    conn.executemany(_insert_sql("notes"), rows)


def _note_record(
    note_id: int,
    cand_id: int,
    app_id: int | None,
    user_id: int | None,
    body: str,
    subject: str | None,
    visibility: str,
    note_type: str,
    ts: str,
    email: dict[str, Any] | None = None,
) -> dict[str, Any]:
    email = email or {}
    return {
        "id": note_id,
        "candidate_id": cand_id,
        "application_id": app_id,
        "user_id": user_id,
        "type": note_type,
        "note_type": note_type,
        "body": body,
        "body_with_tags": body,
        "subject": subject,
        "visibility": visibility,
        "email_from": email.get("email_from"),
        "email_to": email.get("email_to"),
        "email_cc": email.get("email_cc", []),
        "email_attachment_file_names": [],
        "import_hash": None,
        "created_at": ts,
        "updated_at": ts,
    }


# --------------------------------------------------------------------------------------------------------
# demo people


#: the seeded Site Admin (Ada Admin) that the demo's writes are attributed to
DEMO_USER_ID = 1000001
DEMO_ENV: dict[str, str] = {
    "GREENHOUSE_SANDBOX_CLIENT_ID": DEFAULT_CLIENT_ID,
    "GREENHOUSE_SANDBOX_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
}


def demo_connector_block(base_url: str) -> dict[str, Any]:
    """The YAML connector block the demo uses against a sandbox at ``base_url``; secrets are ``${ENV}``
    references whose values are in :data:`DEMO_ENV`."""
    root = base_url.rstrip("/")
    return {
        "type": "greenhouse",
        "client_id": "${GREENHOUSE_SANDBOX_CLIENT_ID}",
        "client_secret": "${GREENHOUSE_SANDBOX_CLIENT_SECRET}",
        "user_id": DEMO_USER_ID,
        "base_url": root,
        "token_url": f"{root}/token",
    }


def demo_conversion_rule(employer: str) -> dict[str, Any]:
    """The demo's conversion rule for this sandbox: strong micro-interns get a job copied from the seeded
    "Template: Data Analyst (Entry Level)" job, posted live on the internal board, with prescreen fields."""
    return {
        "name": "strong-intern-greenhouse",
        "when": {"employer": employer, "min_rating": 4.5, "would_hire": True},
        "requisition": {
            "title": "{project.role_title}",
            "code": "MI-{project.team}-{project.role_title}",
            "fields": {"mi_source_project": "project.title"},
            "options": {"template_job_id": 4100002, "publish": "internal", "board": "Sandbox Internal Jobs"},
        },
        "prescreen": {
            "fields": {
                "mi_prescreen_score": "prescreen.score",
                "mi_prescreen_summary": "prescreen.summary",
                "mi_supervisor": "project.supervisor.name",
            },
        },
    }


def demo_people(db_path: str | Path, n: int = 12, seed: int = 7) -> list[dict[str, Any]]:
    """Deterministic people for a demo outcomes file: primary, secondary, ambiguous and unmatched emails."""
    conn = sqlite3.connect(str(db_path))
    try:
        rng = random.Random(f"gh-sandbox-demo:{seed}")
        row = conn.execute("SELECT MIN(id) FROM candidates").fetchone()
        if row is None or row[0] is None:
            return []
        window = int(row[0]) + 5000
        counts = dict(
            conn.execute(
                "SELECT email, COUNT(DISTINCT candidate_id) FROM candidate_emails WHERE email IN "
                "(SELECT email FROM candidate_emails WHERE candidate_id <= ?) GROUP BY email",
                (window,),
            ).fetchall()
        )
        rows = conn.execute(
            "SELECT email, candidate_id, position FROM candidate_emails WHERE candidate_id <= ? "
            "ORDER BY candidate_id, position",
            (window,),
        ).fetchall()
        primary = [(e, c) for e, c, p in rows if p == 0 and counts.get(e) == 1]
        secondary = [(e, c) for e, c, p in rows if p > 0 and counts.get(e) == 1]
        ambiguous = sorted({e for e, _c, _p in rows if counts.get(e) == 2})

        def person(cand_id: int, email_lc: str, kind: str) -> dict[str, Any]:
            data = json.loads(
                conn.execute("SELECT data FROM candidates WHERE id = ?", (cand_id,)).fetchone()[0]
            )
            raw = next(
                (e["value"] for e in data["email_addresses"] if e["value"].strip().lower() == email_lc),
                email_lc,
            )
            return {
                "email": raw.strip(),
                "first_name": data["first_name"],
                "last_name": data["last_name"],
                "kind": kind,
            }

        used: set[int] = set()
        picked: dict[str, list[dict[str, Any]]] = {"primary": [], "secondary": [], "ambiguous": []}
        # the scarce kinds first, so that the primaries cannot use up their candidates in a small seed
        for email in rng.sample(ambiguous, len(ambiguous)):
            owners = [
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT candidate_id FROM candidate_emails WHERE email = ? "
                    "ORDER BY candidate_id",
                    (email,),
                )
            ]
            if not used.intersection(owners):
                used.update(owners)
                picked["ambiguous"].append(person(owners[0], email, "ambiguous"))
                break
        for email, cand in rng.sample(secondary, len(secondary)):
            if cand not in used:
                used.add(cand)
                picked["secondary"].append(person(cand, email, "secondary"))
                break
        want = max(n - 4, 0)
        for email, cand in rng.sample(primary, len(primary)):
            if len(picked["primary"]) >= want:
                break
            if cand not in used:
                used.add(cand)
                picked["primary"].append(person(cand, email, "primary"))
        out = picked["primary"] + picked["secondary"] + picked["ambiguous"]
        made_up = [
            ("Quinn", "Holloway"),
            ("Marisol", "Ortega-Ruiz"),
            ("Tobias", "Brandt"),
            ("Leilani", "Kahale"),
        ]
        offset = rng.randrange(len(made_up))
        for k in range(2):
            first, last = made_up[(offset + k) % len(made_up)]
            email = f"{first.lower()}.{_ascii(last)}.{rng.randrange(1000, 9999)}@nowhere.example"
            if conn.execute("SELECT 1 FROM candidate_emails WHERE email = ?", (email,)).fetchone():
                continue
            out.append({"email": email, "first_name": first, "last_name": last, "kind": "unmatched"})
        return out
    finally:
        conn.close()


# --------------------------------------------------------------------------------------------------------
# runtime state: tokens, rate limit, faults, stats


class _RateLimiter:
    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._start = -1.0
        self._count = 0

    def configure(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self._start, self._count = -1.0, 0

    def hit(self) -> tuple[bool, list[tuple[bytes, bytes]], int]:
        """Count one request: (over the limit?, X-RateLimit headers, Retry-After seconds)."""
        now = time.time()
        window = self.window if self.window > 0 else 30.0
        start = math.floor(now / window) * window
        end = start + window
        if start != self._start:
            self._start, self._count = start, 0
        self._count += 1
        reset = str(math.ceil(end)).encode()
        if self.limit <= 0:
            return (
                False,
                [
                    (b"x-ratelimit-limit", str(UNLIMITED).encode()),
                    (b"x-ratelimit-remaining", str(UNLIMITED).encode()),
                    (b"x-ratelimit-reset", reset),
                ],
                0,
            )
        remaining = max(0, self.limit - self._count)
        headers = [
            (b"x-ratelimit-limit", str(self.limit).encode()),
            (b"x-ratelimit-remaining", str(remaining).encode()),
            (b"x-ratelimit-reset", reset),
        ]
        return self._count > self.limit, headers, max(1, math.ceil(end - now))


@dataclass
class _Config:
    rate_limit: int
    rate_window: float
    latency_ms: float
    fault_rate: float
    fault_seed: int
    token_ttl: int


async def _send_json(send: Send, status: int, body: Any, headers: list[tuple[bytes, bytes]]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def _drop_connection(send: Send) -> None:
    """Close the client's socket without answering (uvicorn's per-request ``send`` knows its transport)."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise ConnectionAbortedError("sandbox fault: dropped connection")
    transport.abort()
    for _ in range(3):  # let connection_lost run so the server does not try to send a 500
        await asyncio.sleep(0)


class _Sandbox:
    """The state behind one app: store, config, tokens, limiter, fault RNG, counters."""

    def __init__(self, db_path: str | Path, client_id: str, client_secret: str, config: _Config) -> None:
        self.store = _Store(db_path)
        self._client_id = client_id
        self._client_secret = client_secret
        self.config = config
        self.limiter = _RateLimiter(config.rate_limit, config.rate_window)
        self.fault_rng = random.Random(config.fault_seed)
        self.tokens: dict[str, tuple[float, int | None]] = {}
        self.counters = {"requests": 0, "faults": 0, "rate_limited": 0}
        self._custom_fields: dict[str, dict[str, Any]] = {}
        self._custom_field_ids: dict[int, dict[str, Any]] = {}
        self._options: dict[int, list[dict[str, Any]]] = {}
        self.reload_custom_fields()

    def close(self) -> None:
        self.store.close()

    # ---- config
    def reconfigure(self, changes: dict[str, Any]) -> dict[str, Any]:
        types: dict[str, type] = {
            "rate_limit": int,
            "rate_window": float,
            "latency_ms": float,
            "fault_rate": float,
            "fault_seed": int,
            "token_ttl": int,
        }
        for key, value in changes.items():
            if key not in types:
                raise _unprocessable({key: "is not a sandbox setting"})
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise _unprocessable({key: "must be a number"})
            if value < 0 or (key == "fault_rate" and value > 1):
                raise _unprocessable({key: "is out of range"})
            setattr(self.config, key, types[key](value))
        if "rate_limit" in changes or "rate_window" in changes:
            self.limiter.configure(self.config.rate_limit, self.config.rate_window)
        if "fault_seed" in changes:
            self.fault_rng = random.Random(self.config.fault_seed)
        return self.config_dict()

    def config_dict(self) -> dict[str, Any]:
        c = self.config
        return {
            "rate_limit": c.rate_limit,
            "rate_window": c.rate_window,
            "latency_ms": c.latency_ms,
            "fault_rate": c.fault_rate,
            "fault_seed": c.fault_seed,
            "token_ttl": c.token_ttl,
        }

    def stats(self) -> dict[str, int]:
        out = {
            t: self.store.count(t)
            for t in (
                "candidates",
                "notes",
                "applied_candidate_tags",
                "candidate_tags",
                "applications",
                "jobs",
                "job_posts",
                "attachments",
            )
        }
        out.update(self.counters)
        return out

    # ---- the /v3 gate: latency, rate limit, faults, headers
    async def gate_v3(self, scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
        self.counters["requests"] += 1
        if self.config.latency_ms > 0:
            await asyncio.sleep(self.config.latency_ms / 1000.0)
        over, headers, retry_after = self.limiter.hit()
        if over:
            self.counters["rate_limited"] += 1
            await _send_json(
                send,
                429,
                {"message": "Too Many Requests"},
                [*headers, (b"retry-after", str(retry_after).encode())],
            )
            return
        if self.config.fault_rate > 0 and self.fault_rng.random() < self.config.fault_rate:
            self.counters["faults"] += 1
            kind = self.fault_rng.choice(("429", "500", "503", "drop"))
            if kind == "drop":
                await _drop_connection(send)
            elif kind == "429":
                await _send_json(
                    send, 429, {"message": "Too Many Requests"}, [*headers, (b"retry-after", b"1")]
                )
            elif kind == "500":
                await _send_json(send, 500, {"message": "Internal Server Error"}, headers)
            else:
                await _send_json(send, 503, {"message": "Service Unavailable"}, headers)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = [*message.get("headers", []), *headers]
            await send(message)

        await app(scope, receive, send_with_headers)

    # ---- tokens
    def issue_token(self, authorization: str, form: dict[str, str]) -> dict[str, Any]:
        client_id, secret = "", ""
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() == "basic" and encoded:
            try:
                decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            client_id, _, secret = decoded.partition(":")
            client_id, secret = urllib.parse.unquote(client_id), urllib.parse.unquote(secret)
        ok_id = secrets.compare_digest(client_id.encode(), self._client_id.encode())
        ok_secret = secrets.compare_digest(secret.encode(), self._client_secret.encode())
        if not (client_id and ok_id and ok_secret):
            raise ApiError(401, "invalid_client", body={"error": "invalid_client"})
        grant = form.get("grant_type", "")
        if grant != "client_credentials":
            raise ApiError(
                400,
                "bad grant",
                body={
                    "message": "Must include `grant_type` parameter with one of: authorization_code, "
                    "refresh_token, client_credentials, urn:ietf:params:oauth:grant-type:token-exchange",
                    "errorId": _error_id(),
                },
            )
        sub: int | None = None
        if form.get("sub"):
            try:
                sub = int(form["sub"])
            except ValueError:
                raise ApiError(
                    400, "bad sub", body={"message": "sub must be a numeric user id", "errorId": _error_id()}
                ) from None
            user = self.store.get("users", sub)
            if user is None or user.get("deactivated"):
                raise ApiError(
                    400, "bad sub", body={"message": "sub is not an active user", "errorId": _error_id()}
                )
        now = time.time()
        self.tokens = {t: v for t, v in self.tokens.items() if v[0] > now}
        token = "gh3." + secrets.token_urlsafe(32)
        expires = now + self.config.token_ttl
        self.tokens[token] = (expires, sub)
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_at": _iso(datetime.fromtimestamp(expires, UTC)),
        }

    def check_token(self, authorization: str) -> int | None:
        scheme, _, token = authorization.partition(" ")
        entry = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if entry is None or entry[0] <= time.time():
            raise ApiError(401, "Unauthorized", [UNAUTHORIZED_DETAIL])
        return entry[1]

    def expire_tokens(self) -> int:
        count = len(self.tokens)
        self.tokens.clear()
        return count

    # ---- custom fields
    def reload_custom_fields(self) -> None:
        with self.store.lock:
            fields = [json.loads(r[0]) for r in self.store.conn.execute("SELECT data FROM custom_fields")]
            options = [
                json.loads(r[0]) for r in self.store.conn.execute("SELECT data FROM custom_field_options")
            ]
        self._custom_fields = {f["name_key"]: f for f in fields}
        self._custom_field_ids = {f["id"]: f for f in fields}
        self._options = {}
        for opt in options:
            self._options.setdefault(opt["custom_field_id"], []).append(opt)

    def custom_fields_from_write(
        self, items: Any, field_type: str, start: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """WRITE shape (list of {name_key|custom_field_id, value}) → READ shape, starting from ``start``."""
        if not isinstance(items, list):
            raise _unprocessable({"custom_fields": "must be an array"})
        result = dict(start or {})
        for item in items:
            if not isinstance(item, dict) or "value" not in item:
                raise _unprocessable({"custom_fields": "each entry needs a value"})
            has_key, has_id = "name_key" in item, "custom_field_id" in item
            if has_key == has_id:
                raise _unprocessable({"custom_fields": "give exactly one of name_key or custom_field_id"})
            field = self._custom_field(item, has_key)
            if field is None:  # the file may have been seeded after this app started
                self.reload_custom_fields()
                field = self._custom_field(item, has_key)
            ident = item.get("name_key", item.get("custom_field_id"))
            if field is None or field["field_type"] != field_type or not field["active"]:
                raise _unprocessable({"custom_fields": f"unknown {field_type} custom field: {ident}"})
            value = self._custom_field_value(field, item["value"])
            if value is None:
                result.pop(field["name_key"], None)
            else:
                result[field["name_key"]] = {
                    "name": field["name"],
                    "type": field["value_type"],
                    "value": value,
                }
        return result

    def _custom_field(self, item: dict[str, Any], by_key: bool) -> dict[str, Any] | None:
        if by_key:
            key = item["name_key"]
            return self._custom_fields.get(key) if isinstance(key, str) else None
        fid = item["custom_field_id"]
        return self._custom_field_ids.get(fid) if _is_int(fid) else None

    def _custom_field_value(self, field: dict[str, Any], value: Any) -> Any:
        if value is None:
            return None
        vtype, key = field["value_type"], field["name_key"]

        def bad(expected: str) -> ApiError:
            return _unprocessable({"custom_fields": f"{key}: value must be {expected}"})

        if vtype in ("short_text", "long_text", "rich_text", "url"):
            if not isinstance(value, str):
                raise bad("a string")
            return value
        if vtype == "date":
            try:
                datetime.strptime(value, "%Y-%m-%d")
            except (TypeError, ValueError):
                raise bad("a date YYYY-MM-DD") from None
            return value
        if vtype == "number":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise bad("a number")
            return value
        if vtype == "yes_no":
            if not isinstance(value, bool):
                raise bad("true or false")
            return value
        if vtype in ("single_select", "multi_select"):
            options = self._options.get(field["id"], [])
            by_name = {o["name"]: o["name"] for o in options}
            by_id = {o["id"]: o["name"] for o in options}

            def pick(v: Any) -> str:
                name = by_id.get(v) if isinstance(v, int) else by_name.get(v) if isinstance(v, str) else None
                if name is None:
                    raise bad("one of " + ", ".join(by_name))
                return name

            if vtype == "single_select":
                return pick(value)
            if not isinstance(value, list):
                raise bad("an array")
            return [pick(v) for v in value]
        if vtype == "currency":
            if (
                not isinstance(value, dict)
                or isinstance(value.get("amount"), bool)
                or not isinstance(value.get("amount"), int | float)
                or not isinstance(value.get("currency_code"), str)
                or len(value["currency_code"]) != 3
            ):
                raise bad('{"amount": number, "currency_code": "USD"}')
            return value
        if vtype == "user":
            if isinstance(value, bool) or not isinstance(value, int) or not self.store.exists("users", value):
                raise bad("a user id")
            return value
        return value


# --------------------------------------------------------------------------------------------------------
# list endpoints


@dataclass(frozen=True)
class _Filter:
    kind: str  # ids | date | str | lstr | int | bool | enum | email | tag
    column: str = ""
    allowed: tuple[str, ...] = ()


COMMON_FILTERS = {
    "ids": _Filter("ids", "id"),
    "created_at": _Filter("date", "created_at"),
    "updated_at": _Filter("date", "updated_at"),
    "fields": _Filter("fields"),
}

LISTS: dict[str, dict[str, _Filter]] = {
    "candidates": {
        "email": _Filter("email"),
        "tag": _Filter("tag"),
        "last_activity_at": _Filter("date", "last_activity_at"),
        "private": _Filter("bool", "private"),
    },
    "applications": {
        "candidate_ids": _Filter("ids", "candidate_id"),
        "job_ids": _Filter("ids", "job_id"),
        "status": _Filter("enum", "status", ("active", "in_process", "rejected", "hired", "converted")),
        "prospect": _Filter("bool", "prospect"),
        "stage_name": _Filter("str", "stage_name"),
        "last_activity_at": _Filter("date", "last_activity_at"),
    },
    "jobs": {
        "status": _Filter("enum", "status", ("open", "draft", "closed")),
        "requisition_id": _Filter("str", "requisition_id"),
        "department_id": _Filter("int", "department_id"),
        "confidential": _Filter("bool", "confidential"),
        "opened_at": _Filter("date", "opened_at"),
        "closed_at": _Filter("date", "closed_at"),
    },
    "job_posts": {
        "job_ids": _Filter("ids", "job_id"),
        "job_board_ids": _Filter("ids", "job_board_id"),
        "live": _Filter("bool", "live"),
        "active": _Filter("bool", "active"),
        "internal": _Filter("bool", "internal"),
    },
    "job_boards": {},
    "sources": {},
    "users": {
        "primary_email": _Filter("lstr", "primary_email_lc"),
        "deactivated": _Filter("bool", "deactivated"),
        "show_service_accounts": _Filter("service"),
    },
    "custom_fields": {
        "field_type": _Filter("str", "field_type"),
        "active": _Filter("bool", "active"),
        "name_key": _Filter("str", "name_key"),
    },
    "custom_field_options": {
        "custom_field_ids": _Filter("ids", "custom_field_id"),
        "active": _Filter("bool", "active"),
    },
    "candidate_tags": {},
    "applied_candidate_tags": {
        "candidate_ids": _Filter("ids", "candidate_id"),
        "candidate_tag_ids": _Filter("ids", "candidate_tag_id"),
    },
    "notes": {
        "candidate_ids": _Filter("ids", "candidate_id"),
        "application_ids": _Filter("ids", "application_id"),
        "user_ids": _Filter("ids", "user_id"),
        "type": _Filter("str", "note_type"),
        "visibility": _Filter("str", "visibility"),
    },
    "attachments": {
        "application_ids": _Filter("ids", "application_id"),
        "candidate_ids": _Filter("ids", "candidate_id"),
        "type": _Filter("str", "type"),
    },
    "openings": {
        "job_ids": _Filter("ids", "job_id"),
        "open": _Filter("bool", "open"),
    },
    "departments": {"external_id": _Filter("str", "external_id")},
    "offices": {"external_id": _Filter("str", "external_id")},
}


def _encode_cursor(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(_dumps(state).encode()).decode().rstrip("=")


def _decode_cursor(text: str) -> dict[str, Any]:
    try:
        padded = text + "=" * (-len(text) % 4)
        state = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")).decode())
        if not (
            isinstance(state, dict)
            and isinstance(state.get("r"), str)
            and isinstance(state.get("q"), dict)
            and isinstance(state.get("n"), int)
            and isinstance(state.get("a"), int)
        ):
            raise ValueError("cursor shape")
    except (ValueError, UnicodeError, binascii.Error):
        raise _unprocessable({"cursor": "is invalid"}) from None
    return state


def _parse_bool(name: str, value: str) -> int:
    lowered = value.strip().lower()
    if lowered in ("true", "1"):
        return 1
    if lowered in ("false", "0"):
        return 0
    raise _unprocessable({name: f"`{value}` is not a valid boolean"})


def _parse_ids(name: str, value: str) -> list[int]:
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if len(parts) > MAX_ID_LIST:
        raise _unprocessable({name: f"must contain at most {MAX_ID_LIST} items"})
    out = []
    for part in parts:
        try:
            out.append(int(part))
        except ValueError:
            raise _unprocessable({name: f"`{part}` is not a valid integer"}) from None
    return out


DATE_OPS = {"gte": ">=", "gt": ">", "lte": "<=", "lt": "<"}


def _parse_date_filter(name: str, value: str) -> list[tuple[str, str]]:
    parts = value.split("|")
    if len(parts) not in (2, 4):
        raise _unprocessable(
            {name: f"`{value}` is not a valid date filter, use e.g. gte|2024-01-01T00:00:00Z"}
        )
    out = []
    for op, stamp in zip(parts[0::2], parts[1::2], strict=True):
        dt = _parse_ts(stamp)
        if op not in DATE_OPS or dt is None:
            raise _unprocessable(
                {name: f"`{value}` is not a valid date filter, use e.g. gte|2024-01-01T00:00:00Z"}
            )
        out.append((DATE_OPS[op], _iso(dt)))
    return out


def _build_where(resource: str, filters: dict[str, str]) -> tuple[list[str], list[Any], list[str] | None]:
    specs = {**COMMON_FILTERS, **LISTS[resource]}
    where: list[str] = []
    args: list[Any] = []
    fields: list[str] | None = None
    service_accounts = False
    for name, value in filters.items():
        spec = specs[name]
        if spec.kind == "ids":
            ids = _parse_ids(name, value)
            where.append(f"{spec.column} IN ({', '.join('?' * len(ids))})" if ids else "0")
            args.extend(ids)
        elif spec.kind == "date":
            for op, stamp in _parse_date_filter(name, value):
                where.append(f"{spec.column} {op} ?")
                args.append(stamp)
        elif spec.kind == "str":
            where.append(f"{spec.column} = ?")
            args.append(value)
        elif spec.kind == "lstr":
            where.append(f"{spec.column} = ?")
            args.append(value.strip().lower())
        elif spec.kind == "int":
            try:
                args.append(int(value))
            except ValueError:
                raise _unprocessable({name: f"`{value}` is not a valid integer"}) from None
            where.append(f"{spec.column} = ?")
        elif spec.kind == "bool":
            where.append(f"{spec.column} = ?")
            args.append(_parse_bool(name, value))
        elif spec.kind == "enum":
            if value not in spec.allowed:
                raise _unprocessable({name: f"`{value}` is not one of: {', '.join(spec.allowed)}"})
            where.append(f"{spec.column} = ?")
            args.append("in_process" if value == "active" else value)
        elif spec.kind == "email":
            where.append("id IN (SELECT candidate_id FROM candidate_emails WHERE email = ?)")
            args.append(value.strip().lower())
        elif spec.kind == "tag":
            where.append(
                "id IN (SELECT a.candidate_id FROM applied_candidate_tags a JOIN candidate_tags t "
                "ON t.id = a.candidate_tag_id WHERE t.name = ?)"
            )
            args.append(value)
        elif spec.kind == "service":
            service_accounts = bool(_parse_bool(name, value))
        elif spec.kind == "fields":
            fields = [f.strip() for f in value.split(",") if f.strip()] or None
            if fields is not None and len(fields) > MAX_ID_LIST:
                raise _unprocessable({name: f"must contain at most {MAX_ID_LIST} items"})
    if resource == "users" and not service_accounts:
        where.append("service_account = 0")
    return where, args, fields


# --------------------------------------------------------------------------------------------------------
# request helpers

CONTACT_TYPES: dict[str, set[str] | None] = {
    "phone_numbers": {"home", "work", "mobile", "skype", "other"},
    "addresses": {"home", "work", "other"},
    "email_addresses": {"personal", "work", "other"},
    "website_addresses": {"personal", "company", "portfolio", "blog", "other"},
    "social_media_addresses": None,
}
TIME_ZONE_LOOKUP = {tz.lower(): tz for tz in TIME_ZONES}
VISIBILITY = {
    "admin_only": "admin_only_visible",
    "private": "privately_visible",
    "public": "publicly_visible",
}
ATTACHMENT_TYPES = {
    "resume",
    "cover_letter",
    "take_home_test",
    "offer_packet",
    "offer_letter",
    "signed_offer_letter",
    "other",
    "form_attachment",
    "midfunnel_agreement",
    "automated_agreement",
}
BLOCKED_EXTENSIONS = {".exe", ".bat", ".cmd", ".com", ".js", ".msi", ".scr", ".sh", ".vbs", ".dll"}


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        raise _unprocessable("Request body must be a JSON object")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise _unprocessable("Malformed JSON in request body") from None
    if not isinstance(data, dict):
        raise _unprocessable("Request body must be a JSON object")
    return data


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _req_int(body: dict[str, Any], key: str) -> int:
    value = body.get(key)
    if value is None:
        raise _unprocessable({key: "is required"})
    if not _is_int(value):
        raise _unprocessable({key: "must be an integer"})
    return int(value)


def _opt_int(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if not _is_int(value):
        raise _unprocessable({key: "must be an integer"})
    return int(value)


def _opt_str(body: dict[str, Any], key: str, *, max_len: int = 255, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise _unprocessable({key: "is required"})
        return None
    if not isinstance(value, str):
        raise _unprocessable({key: "must be a string"})
    if required and not value.strip():
        raise _unprocessable({key: "can't be blank"})
    if len(value) > max_len:
        raise _unprocessable({key: f"is too long (maximum is {max_len} characters)"})
    return value


def _opt_bool(body: dict[str, Any], key: str) -> bool | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise _unprocessable({key: "must be true or false"})
    return value


def _int_list(body: dict[str, Any], key: str) -> list[int] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(_is_int(v) for v in value):
        raise _unprocessable({key: "must be an array of integers"})
    return list(value)


def _contacts(key: str, value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list):
        raise _unprocessable({key: "must be an array"})
    allowed = CONTACT_TYPES[key]
    out = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("value"), str) or not item["value"].strip():
            raise _unprocessable({key: "each entry needs a non-empty value"})
        entry = {"value": item["value"]}
        if allowed is not None:
            kind = item.get("type")
            if kind not in allowed:
                raise _unprocessable({key: f"type must be one of: {', '.join(sorted(allowed))}"})
            entry["type"] = kind
        if key == "email_addresses" and "@" not in item["value"]:
            raise _unprocessable({key: f"`{item['value']}` is not a valid email address"})
        out.append(entry)
    return out


# --------------------------------------------------------------------------------------------------------
# the application


class _SandboxApp(FastAPI):
    """FastAPI with a gate in front of ``/v3`` that applies latency, the rate limit and faults."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and (path == "/v3" or path.startswith("/v3/")):
            sandbox: _Sandbox = self.state.sandbox
            await sandbox.gate_v3(scope, receive, send, super().__call__)
            return
        await super().__call__(scope, receive, send)


def create_app(
    db_path: str | Path,
    *,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    rate_limit: int = 50,
    rate_window: float = 30.0,
    latency_ms: float = 0.0,
    fault_rate: float = 0.0,
    fault_seed: int = 0,
    token_ttl: int = 3600,
) -> FastAPI:
    """Build the sandbox ASGI app over the SQLite file ``db_path`` (schema created if missing, not seeded)."""
    config = _Config(rate_limit, rate_window, latency_ms, fault_rate, fault_seed, token_ttl)
    sb = _Sandbox(db_path, client_id, client_secret, config)
    app = _SandboxApp(title="Greenhouse Harvest v3 sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sandbox = sb
    _install_error_handlers(app)
    _install_admin_routes(app, sb)
    _install_v3_routes(app, sb)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    async def api_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)

    async def http_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            return JSONResponse({"message": "Resource not found"}, status_code=404)
        if exc.status_code == 405:  # a known path with an undocumented method: no such route in v3
            return JSONResponse({"message": "Resource not found"}, status_code=404)
        return JSONResponse({"message": str(exc.detail)}, status_code=exc.status_code)

    async def validation_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [{".".join(str(p) for p in e.get("loc", ())): e.get("msg", "")} for e in exc.errors()]
        return JSONResponse({"message": "Unprocessable Content", "errors": errors}, status_code=422)

    async def unexpected(_request: Request, _exc: Exception) -> Response:
        return JSONResponse({"message": "Internal Server Error"}, status_code=500)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected)


def _install_admin_routes(app: FastAPI, sb: _Sandbox) -> None:
    @app.post("/token")
    async def token(request: Request) -> Response:
        raw = await request.body()
        form: dict[str, str] = {k: v for k, v in request.query_params.items()}
        ctype = request.headers.get("content-type", "")
        if "json" in ctype:
            try:
                data = json.loads(raw or b"{}")
            except ValueError:
                data = {}
            if isinstance(data, dict):
                form.update({k: str(v) for k, v in data.items() if v is not None})
        else:
            form.update({k: v[-1] for k, v in urllib.parse.parse_qs(raw.decode("utf-8", "replace")).items()})
        body = sb.issue_token(request.headers.get("authorization", ""), form)
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    @app.post("/_sandbox/expire_tokens")
    async def expire_tokens() -> Response:
        return JSONResponse({"expired": sb.expire_tokens()})

    @app.get("/_sandbox/config")
    async def get_config() -> Response:
        return JSONResponse(sb.config_dict())

    @app.post("/_sandbox/config")
    async def set_config(request: Request) -> Response:
        return JSONResponse(sb.reconfigure(await _json_body(request)))

    @app.get("/_sandbox/stats")
    async def stats() -> Response:
        return JSONResponse(sb.stats())

    @app.get("/_sandbox/health")
    async def health() -> Response:
        return JSONResponse({"ok": True})

    @app.get("/_sandbox/attachments/{att_id}/content")
    async def attachment_content(att_id: str) -> Response:
        rec_id = _path_id(att_id)
        record = sb.store.require("attachments", rec_id)
        with sb.store.lock:
            row = sb.store.conn.execute(
                "SELECT content FROM attachment_blobs WHERE id = ?", (rec_id,)
            ).fetchone()
        if row is None:
            raise _not_found()
        mime = mimetypes.guess_type(record["filename"])[0] or "application/octet-stream"
        return Response(bytes(row[0]), media_type=mime)


def _path_id(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _not_found() from None


def _install_v3_routes(app: FastAPI, sb: _Sandbox) -> None:
    api = _V3(sb)

    def list_route(resource: str) -> Callable[[Request], Awaitable[Response]]:
        async def handler(request: Request) -> Response:
            sb.check_token(request.headers.get("authorization", ""))
            return api.list_records(resource, request)

        return handler

    for resource in LISTS:
        app.add_api_route(f"/v3/{resource}", list_route(resource), methods=["GET"])

    def write_route(
        method: Callable[[dict[str, Any], int | None, Request], dict[str, Any]],
        status: int,
        with_body: bool = True,
    ) -> Callable[[Request], Awaitable[Response]]:
        async def handler(request: Request) -> Response:
            sub = sb.check_token(request.headers.get("authorization", ""))
            rec_id = request.path_params.get("rec_id")
            body = await _json_body(request) if with_body else {}
            result = method(body, _path_id(rec_id) if rec_id is not None else sub, request)
            return JSONResponse(result, status_code=status)

        return handler

    routes: list[tuple[str, str, Callable[..., dict[str, Any]], int, bool]] = [
        ("POST", "/v3/candidates", api.create_candidate, 201, True),
        ("PATCH", "/v3/candidates/{rec_id}", api.update_candidate, 200, True),
        ("POST", "/v3/applications", api.create_application, 201, True),
        ("PATCH", "/v3/applications/{rec_id}", api.update_application, 200, True),
        ("POST", "/v3/applications/{rec_id}/convert_to_candidate", api.convert_to_candidate, 200, True),
        ("POST", "/v3/jobs", api.create_job, 201, True),
        ("PATCH", "/v3/jobs/{rec_id}", api.update_job, 200, True),
        ("POST", "/v3/job_posts", api.create_job_post, 201, True),
        ("PATCH", "/v3/job_posts/{rec_id}", api.update_job_post, 200, True),
        ("POST", "/v3/notes", api.create_note, 201, True),
        ("POST", "/v3/candidate_tags", api.create_candidate_tag, 201, True),
        ("POST", "/v3/applied_candidate_tags", api.create_applied_tag, 201, True),
        ("DELETE", "/v3/applied_candidate_tags/{rec_id}", api.delete_applied_tag, 200, False),
        ("POST", "/v3/attachments", api.create_attachment, 201, True),
    ]
    for verb, path, method, status, with_body in routes:
        app.add_api_route(path, write_route(method, status, with_body), methods=[verb])

    async def board_jobs(request: Request) -> Response:
        # the candidate-facing view (Job Board API style, no token): what a person browsing sees
        return JSONResponse(api.board_view(str(request.path_params["token"])))

    app.add_api_route("/boards/{token}/jobs", board_jobs, methods=["GET"])


class _V3:
    """The /v3 resource handlers. ``sub`` is the token's user (POST) or the path id (PATCH/DELETE)."""

    def __init__(self, sb: _Sandbox) -> None:
        self.sb = sb
        self.store = sb.store

    # ---- lists
    def list_records(self, resource: str, request: Request) -> Response:
        params = list(request.query_params.multi_items())
        specs = {**COMMON_FILTERS, **LISTS[resource]}
        if any(k == "cursor" for k, _ in params):
            if len(params) != 1:
                raise _unprocessable(CURSOR_WITH_PARAMS)
            state = _decode_cursor(params[0][1])
            if state["r"] != resource or not all(k in specs for k in state["q"]):
                raise _unprocessable({"cursor": "is invalid"})
            filters: dict[str, str] = state["q"]
            per_page, after = state["n"], state["a"]
        else:
            filters, per_page, after = {}, DEFAULT_PER_PAGE, None
            for key, value in params:
                if key == "per_page":
                    per_page = self._per_page(value)
                elif key in specs:
                    filters[key] = value
        where, args, fields = _build_where(resource, filters)
        if after is not None:
            where.append("id < ?")
            args.append(after)
        sql = f"SELECT id, data FROM {resource}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        with self.store.lock:
            rows = self.store.conn.execute(sql, (*args, per_page + 1)).fetchall()
        more = len(rows) > per_page
        rows = rows[:per_page]
        base = str(request.base_url).rstrip("/")
        records = [self.render(resource, json.loads(data), base) for _id, data in rows]
        if fields is not None:
            records = [{k: r[k] for k in fields if k in r} for r in records]
        headers = {}
        if more:
            cursor = _encode_cursor({"r": resource, "q": filters, "n": per_page, "a": rows[-1][0]})
            headers["Link"] = f'<{base}/v3/{resource}?cursor={cursor}>; rel="next"'
        return JSONResponse(records, headers=headers)

    @staticmethod
    def _per_page(value: str) -> int:
        try:
            per_page = int(value)
        except ValueError:
            raise _unprocessable({"per_page": f"`{value}` is not a valid integer"}) from None
        if per_page > MAX_PER_PAGE:
            raise _unprocessable({"per_page": f"`{per_page}` number is greater than: {MAX_PER_PAGE}"})
        if per_page < 1:
            raise _unprocessable({"per_page": f"`{per_page}` number is less than: 1"})
        return per_page

    @staticmethod
    def render(resource: str, record: dict[str, Any], base: str) -> dict[str, Any]:
        if resource == "attachments":
            out = {k: v for k, v in record.items() if not k.startswith("_")}
            if record.get("_stored"):
                out["url"] = f"{base}/_sandbox/attachments/{record['id']}/content"
            return out
        return record

    # ---- candidates
    def _candidate_changes(
        self, body: dict[str, Any], record: dict[str, Any], creating: bool
    ) -> dict[str, Any]:
        """Validate a candidate body and apply scalar and array fields to ``record``; returns the extras."""
        for key in ("first_name", "last_name"):
            if creating or key in body:
                record[key] = _opt_str(body, key, required=True)
        for key in ("preferred_name", "company", "title"):
            if key in body:
                record[key] = _opt_str(body, key)
        if "can_email" in body:
            record["can_email"] = bool(_opt_bool(body, "can_email"))
        for key in ("is_private", "private"):
            if key in body:
                record["private"] = bool(_opt_bool(body, key))
        if "time_zone" in body:
            tz = body["time_zone"]
            if tz is None:
                record["time_zone"] = None
            elif isinstance(tz, str) and tz.strip().lower() in TIME_ZONE_LOOKUP:
                record["time_zone"] = TIME_ZONE_LOOKUP[tz.strip().lower()]
            else:
                raise _unprocessable({"time_zone": "is not included in the list"})
        for key in CONTACT_TYPES:
            if key in body:
                record[key] = _contacts(key, body[key] if body[key] is not None else [])
        if "linked_user_ids" in body:
            users = _int_list(body, "linked_user_ids") or []
            for uid in users:
                if not self.store.exists("users", uid):
                    raise _unprocessable({"linked_user_ids": f"unknown user {uid}"})
            record["linked_user_ids"] = users
        if "custom_fields" in body:
            record["custom_fields"] = self.sb.custom_fields_from_write(
                body["custom_fields"] or [], "candidate"
            )
        extras: dict[str, Any] = {}
        if "tags" in body:
            tags = body["tags"] if body["tags"] is not None else []
            if not isinstance(tags, list) or not all(isinstance(t, str) and 0 < len(t) <= 255 for t in tags):
                raise _unprocessable({"tags": "must be an array of tag names"})
            extras["tags"] = list(dict.fromkeys(tags))
        return extras

    def _set_emails(self, cand: dict[str, Any]) -> None:
        conn = self.store.conn
        conn.execute("DELETE FROM candidate_emails WHERE candidate_id = ?", (cand["id"],))
        conn.executemany(
            "INSERT INTO candidate_emails(email, candidate_id, position) VALUES (?, ?, ?)",
            [(e["value"].strip().lower(), cand["id"], pos) for pos, e in enumerate(cand["email_addresses"])],
        )

    def _tag_id(self, name: str, now: str, create: bool) -> int | None:
        row = self.store.conn.execute("SELECT id FROM candidate_tags WHERE name = ?", (name,)).fetchone()
        if row:
            return int(row[0])
        if not create:
            return None
        rec = self.store.insert(
            "candidate_tags", {"id": None, "name": name, "created_at": now, "updated_at": now}
        )
        return int(rec["id"])

    def _set_tags(self, cand: dict[str, Any], names: list[str], now: str) -> None:
        conn = self.store.conn
        wanted = {self._tag_id(n, now, create=True): n for n in names}
        current = {
            r[1]: r[0]
            for r in conn.execute(
                "SELECT id, candidate_tag_id FROM applied_candidate_tags WHERE candidate_id = ?",
                (cand["id"],),
            )
        }
        for tag_id, row_id in current.items():
            if tag_id not in wanted:
                conn.execute("DELETE FROM applied_candidate_tags WHERE id = ?", (row_id,))
        for tag_id in wanted:
            if tag_id not in current:
                self.store.insert(
                    "applied_candidate_tags",
                    {
                        "id": None,
                        "candidate_id": cand["id"],
                        "candidate_tag_id": tag_id,
                        "created_at": now,
                        "updated_at": now,
                    },
                )
        cand["tags"] = names

    def create_candidate(self, body: dict[str, Any], sub: int | None, request: Request) -> dict[str, Any]:
        now = _now()
        cand: dict[str, Any] = {
            "id": None,
            "first_name": None,
            "last_name": None,
            "preferred_name": None,
            "company": None,
            "title": None,
            "created_at": now,
            "updated_at": now,
            "last_activity_at": now,
            "private": False,
            "can_email": True,
            "time_zone": None,
            "tags": [],
            "linked_user_ids": [],
            "phone_numbers": [],
            "addresses": [],
            "email_addresses": [],
            "website_addresses": [],
            "social_media_addresses": [],
            "custom_fields": {},
        }
        extras = self._candidate_changes(body, cand, creating=True)
        app_body = body.get("application")
        if app_body is not None and not isinstance(app_body, dict):
            raise _unprocessable({"application": "must be an object"})
        with self.store.tx():
            self.store.insert("candidates", cand)
            self._set_emails(cand)
            if "tags" in extras:
                self._set_tags(cand, extras["tags"], now)
                self.store.update("candidates", cand)
            application = None
            if app_body is not None:
                application = self._new_application(cand["id"], app_body, now)
        return {"candidate": cand, "application": application}

    def update_candidate(self, body: dict[str, Any], rec_id: int | None, request: Request) -> dict[str, Any]:
        assert rec_id is not None
        with self.store.tx():
            cand = self.store.require("candidates", rec_id)
            extras = self._candidate_changes(body, cand, creating=False)
            now = _now()
            cand["updated_at"] = now
            if "email_addresses" in body:
                self._set_emails(cand)
            if "tags" in extras:
                self._set_tags(cand, extras["tags"], now)
            self.store.update("candidates", cand)
        return cand

    # ---- applications
    def _new_application(self, cand_id: int, body: dict[str, Any], now: str) -> dict[str, Any]:
        prospect = body.get("prospect") is True
        job_id = _opt_int(body, "job_id")
        job: dict[str, Any] | None = None
        if not prospect and job_id is None:
            raise _unprocessable({"job_id": "is required unless prospect is true"})
        if job_id is not None:
            job = self.store.get("jobs", job_id)
            if job is None or job["is_template"]:
                raise _unprocessable({"job_id": f"unknown job {job_id}"})
            dup = self.store.conn.execute(
                "SELECT 1 FROM applications WHERE candidate_id = ? AND job_id = ?", (cand_id, job_id)
            ).fetchone()
            if dup:
                raise _unprocessable({"job_id": "The candidate already has an application on this job"})
        prospective = _int_list(body, "job_ids") or []
        for pj in prospective:
            if not self.store.exists("jobs", pj):
                raise _unprocessable({"job_ids": f"unknown job {pj}"})
        for key in ("source_id", "referrer_id", "recruiter_id", "coordinator_id"):
            _opt_int(body, key)
        self._check_source(body)
        for key in ("recruiter_id", "coordinator_id"):
            uid = body.get(key)
            if uid is not None and not self.store.exists("users", uid):
                raise _unprocessable({key: f"unknown user {uid}"})
        created = now
        if body.get("created_at") is not None:
            dt = _parse_ts(str(body["created_at"]))
            if dt is None:
                raise _unprocessable({"created_at": "is not a valid date"})
            created = _iso(dt)
        cf = self.sb.custom_fields_from_write(body.get("custom_fields") or [], "application")
        post = None
        if job is not None:
            row = self.store.conn.execute(
                "SELECT id FROM job_posts WHERE job_id = ? AND internal = 0 ORDER BY id LIMIT 1", (job["id"],)
            ).fetchone()
            post = row[0] if row else None
        stage = job["id"] * 10 + 1 if job is not None else None
        record = {
            "id": None,
            "candidate_id": cand_id,
            "job_id": job_id,
            "job_post_id": post,
            "status": "in_process",
            "prospect": prospect,
            "prospective_job_ids": prospective if prospect else [],
            "stage_id": stage,
            "job_interview_stage_id": stage,
            "stage_name": STAGES[0] if job else None,
            "recruiter_id": body.get("recruiter_id"),
            "coordinator_id": body.get("coordinator_id"),
            "source_id": body.get("source_id"),
            "referrer_id": body.get("referrer_id"),
            "prospect_pool_id": _opt_int(body, "prospect_pool_id") if prospect else None,
            "prospect_stage_id": _opt_int(body, "prospect_pool_stage_id") if prospect else None,
            "agency_note_id": None,
            "rejection_reason_id": None,
            "rejected_at": None,
            "needs_decision": False,
            "last_activity_at": now,
            "location_address": None,
            "answers": [],
            "custom_fields": cf,
            "created_at": created,
            "updated_at": now,
        }
        return self.store.insert("applications", record)

    def create_application(self, body: dict[str, Any], sub: int | None, request: Request) -> dict[str, Any]:
        cand_id = _req_int(body, "candidate_id")
        with self.store.tx():
            if not self.store.exists("candidates", cand_id):
                raise _unprocessable({"candidate_id": f"unknown candidate {cand_id}"})
            return self._new_application(cand_id, body, _now())

    def convert_to_candidate(
        self, body: dict[str, Any], rec_id: int | None, request: Request
    ) -> dict[str, Any]:
        """A prospect application becomes a candidate application on ``job_id`` (200 with it)."""
        assert rec_id is not None
        job_id = _req_int(body, "job_id")
        with self.store.tx():
            app = self.store.require("applications", rec_id)
            if not app.get("prospect"):
                raise _unprocessable({"application": "is not a prospect application"})
            job = self.store.get("jobs", job_id)
            if job is None or job["is_template"]:
                raise _unprocessable({"job_id": f"unknown job {job_id}"})
            dup = self.store.conn.execute(
                "SELECT 1 FROM applications WHERE candidate_id = ? AND job_id = ?",
                (app["candidate_id"], job_id),
            ).fetchone()
            if dup:
                raise _unprocessable({"job_id": "The candidate already has an application on this job"})
            stage = job_id * 10 + 1
            app.update(
                prospect=False,
                job_id=job_id,
                prospective_job_ids=[],
                stage_id=stage,
                job_interview_stage_id=stage,
                stage_name=STAGES[0],
                updated_at=_now(),
            )
            self.store.update("applications", app)
        return app

    def update_application(
        self, body: dict[str, Any], rec_id: int | None, request: Request
    ) -> dict[str, Any]:
        assert rec_id is not None
        with self.store.tx():
            app = self.store.require("applications", rec_id)
            self._check_source(body)
            for key in (
                "source_id",
                "referrer_id",
                "recruiter_id",
                "coordinator_id",
                "prospect_pool_id",
                "prospect_stage_id",
            ):
                if key in body:
                    app[key] = _opt_int(body, key)
            for key in ("rejected_at", "created_at"):
                if key in body:
                    if body[key] is None:
                        if key == "created_at":
                            raise _unprocessable({key: "can't be blank"})
                        app[key] = None
                        continue
                    dt = _parse_ts(str(body[key]))
                    if dt is None:
                        raise _unprocessable({key: "is not a valid date"})
                    app[key] = _iso(dt)
            if "custom_fields" in body:
                app["custom_fields"] = self.sb.custom_fields_from_write(
                    body["custom_fields"] or [], "application"
                )
            app["updated_at"] = _now()
            self.store.update("applications", app)
        return app

    def _check_source(self, body: dict[str, Any]) -> None:
        source = _opt_int(body, "source_id")
        if source is not None and not self.store.exists("sources", source):
            raise _unprocessable({"source_id": f"unknown source {source}"})

    def board_view(self, token: str) -> dict[str, Any]:
        """What a person browsing the board sees (the public Job Board API's job list, reduced): the
        active, live posts on a live board, with their job's id.  A paused board shows nothing."""
        row = None
        for data in self.store.conn.execute("SELECT data FROM job_boards"):
            board = json.loads(data[0])
            if board.get("url_token") == token:
                row = board
        if row is None:
            raise _not_found()
        jobs: list[dict[str, Any]] = []
        if row.get("live"):
            for (data,) in self.store.conn.execute(
                "SELECT data FROM job_posts WHERE job_board_id = ? AND live = 1 AND active = 1 ORDER BY id",
                (row["id"],),
            ):
                post = json.loads(data)
                jobs.append(
                    {
                        "id": post["id"],
                        "internal_job_id": post["job_id"],
                        "title": post["title"],
                        "content": post.get("content"),
                        "updated_at": post["updated_at"],
                    }
                )
        return {"jobs": jobs, "meta": {"total": len(jobs)}}

    # ---- jobs and posts
    def _office_ids(self, body: dict[str, Any]) -> list[int] | None:
        offices = _int_list(body, "office_ids")
        for oid in offices or []:
            if not self.store.exists("offices", oid):
                raise _unprocessable({"office_ids": f"unknown office {oid}"})
        return offices

    def _department_id(self, body: dict[str, Any]) -> int | None:
        dept = _opt_int(body, "department_id")
        if dept is not None and not self.store.exists("departments", dept):
            raise _unprocessable({"department_id": f"unknown department {dept}"})
        return dept

    def create_job(self, body: dict[str, Any], sub: int | None, request: Request) -> dict[str, Any]:
        template_id = _req_int(body, "template_job_id")
        openings = _req_int(body, "number_of_openings")
        if not 1 <= openings <= 200:
            raise _unprocessable({"number_of_openings": "must be between 1 and 200"})
        name = _opt_str(body, "job_name")
        post_name = _opt_str(body, "job_post_name")
        notes = _opt_str(body, "notes", max_len=100_000)
        requisition = _opt_str(body, "requisition_id")
        opening_ids = body.get("opening_ids") or []
        if not isinstance(opening_ids, list) or not all(isinstance(o, str) for o in opening_ids):
            raise _unprocessable({"opening_ids": "must be an array of strings"})
        if len(opening_ids) > openings:
            raise _unprocessable({"opening_ids": "has more entries than number_of_openings"})
        with self.store.tx():
            template = self.store.get("jobs", template_id)
            if template is None or not template["is_template"]:
                raise _unprocessable({"template_job_id": f"{template_id} is not a template job"})
            dept = self._department_id(body)
            offices = self._office_ids(body)
            cf = self.sb.custom_fields_from_write(
                body.get("custom_fields") or [], "job", start=template.get("custom_fields")
            )
            now = _now()
            job = {
                "id": None,
                "name": name or template["name"],
                "requisition_id": requisition,
                "notes": notes if notes is not None else template["notes"],
                "confidential": False,
                "status": "open",
                "opened_at": now,
                "closed_at": None,
                "is_template": False,
                "copied_from_id": template_id,
                "department_id": dept if dept is not None else template["department_id"],
                "office_ids": offices if offices is not None else list(template["office_ids"]),
                "custom_fields": cf,
                "created_at": now,
                "updated_at": now,
            }
            self.store.insert("jobs", job)
            for n in range(openings):
                self.store.insert(
                    "openings",
                    {
                        "id": None,
                        "job_id": job["id"],
                        "opening_id": opening_ids[n] if n < len(opening_ids) else None,
                        "open": True,
                        "opened_at": now,
                        "closed_at": None,
                        "application_id": None,
                        "close_reason_id": None,
                        "target_start_on": None,
                        "sort_order": n + 1,
                        "custom_fields": {},
                        "created_at": now,
                        "updated_at": now,
                    },
                )
            posts = [
                json.loads(r[0])
                for r in self.store.conn.execute(
                    "SELECT data FROM job_posts WHERE job_id = ? AND active = 1 ORDER BY id", (template_id,)
                )
            ]
            for post in posts:
                self.store.insert(
                    "job_posts",
                    {
                        **post,
                        "id": None,
                        "job_id": job["id"],
                        "title": post_name or job["name"],
                        "live": False,
                        "first_published_at": None,
                        "public_url": None,
                        "created_at": now,
                        "updated_at": now,
                    },
                )
        return job

    def update_job(self, body: dict[str, Any], rec_id: int | None, request: Request) -> dict[str, Any]:
        assert rec_id is not None
        with self.store.tx():
            job = self.store.require("jobs", rec_id)
            if "name" in body:
                job["name"] = _opt_str(body, "name", required=True)
            if "notes" in body:
                job["notes"] = _opt_str(body, "notes", max_len=100_000)
            if "requisition_id" in body:
                job["requisition_id"] = _opt_str(body, "requisition_id")
            if "department_id" in body:
                job["department_id"] = self._department_id(body)
            if "office_ids" in body:
                job["office_ids"] = self._office_ids(body) or []
            if "custom_fields" in body:
                job["custom_fields"] = self.sb.custom_fields_from_write(body["custom_fields"] or [], "job")
            job["updated_at"] = _now()
            self.store.update("jobs", job)
        return job

    def create_job_post(self, body: dict[str, Any], sub: int | None, request: Request) -> dict[str, Any]:
        template_id = _req_int(body, "template_job_post_id")
        board_id = _req_int(body, "job_board_id")
        title = _opt_str(body, "title")
        content = _opt_str(body, "content", max_len=1_000_000)
        status = body.get("status", "draft")
        if status not in ("draft", "live"):
            raise _unprocessable({"status": "must be draft or live"})
        with self.store.tx():
            template = self.store.get("job_posts", template_id)
            if template is None:
                raise _unprocessable({"template_job_post_id": f"unknown job post {template_id}"})
            board = self.store.get("job_boards", board_id)
            if board is None:
                raise _unprocessable({"job_board_id": f"unknown job board {board_id}"})
            now = _now()
            live = status == "live" and bool(board["live"])
            post = {
                **template,
                "id": None,
                "job_board_id": board_id,
                "internal": bool(board["internal"]),
                "title": title if title is not None else template["title"],
                "content": content if content is not None else template["content"],
                "live": live,
                "active": True,
                "first_published_at": now if live else None,
                "created_at": now,
                "updated_at": now,
            }
            return self.store.insert("job_posts", post)

    def update_job_post(self, body: dict[str, Any], rec_id: int | None, request: Request) -> dict[str, Any]:
        assert rec_id is not None
        with self.store.tx():
            post = self.store.require("job_posts", rec_id)
            if "title" in body:
                post["title"] = _opt_str(body, "title", required=True)
            if "content" in body:
                post["content"] = _opt_str(body, "content", max_len=1_000_000)
            now = _now()
            if "job_application_status" in body:
                status = body["job_application_status"]
                if status not in ("draft", "live"):
                    raise _unprocessable({"job_application_status": "must be draft or live"})
                board = self.store.get("job_boards", post["job_board_id"]) or {"live": True}
                post["live"] = status == "live" and bool(board["live"])
                if post["live"] and not post.get("first_published_at"):
                    post["first_published_at"] = now
            post["updated_at"] = now
            self.store.update("job_posts", post)
        return post

    # ---- notes
    def create_note(self, body: dict[str, Any], sub: int | None, request: Request) -> dict[str, Any]:
        cand_id = _req_int(body, "candidate_id")
        text = _opt_str(body, "body", max_len=100_000, required=True)
        visibility = body.get("visibility")
        if visibility not in VISIBILITY:
            raise _unprocessable({"visibility": "must be one of: admin_only, private, public"})
        note_type = body.get("note_type")
        if note_type not in ("NOTE", "ACTIVITY", "EMAIL"):
            raise _unprocessable({"note_type": "must be one of: NOTE, ACTIVITY, EMAIL"})
        subject = _opt_str(body, "subject")
        email_keys = [k for k in ("email_from", "email_to", "email_cc") if k in body]
        email: dict[str, Any] = {}
        if note_type == "EMAIL":
            if subject is None:
                raise _unprocessable({"subject": "is required for EMAIL notes"})
            for key in ("email_from", "email_to", "email_cc"):
                if not isinstance(body.get(key), list):
                    raise _unprocessable({key: "is required for EMAIL notes (an array)"})
                email[key] = body[key]
        elif email_keys:
            raise _unprocessable({email_keys[0]: f"is not allowed on {note_type} notes"})
        app_id = _opt_int(body, "application_id")
        user_id = _opt_int(body, "user_id")
        with self.store.tx():
            cand = self.store.get("candidates", cand_id)
            if cand is None:
                raise _unprocessable({"candidate_id": f"unknown candidate {cand_id}"})
            if app_id is not None:
                app = self.store.get("applications", app_id)
                if app is None or app["candidate_id"] != cand_id:
                    raise _unprocessable({"application_id": "does not belong to this candidate"})
            if user_id is not None and not self.store.exists("users", user_id):
                raise _unprocessable({"user_id": f"unknown user {user_id}"})
            if user_id is None:
                user_id = sub if sub is not None else self._service_user()
            now = _now()
            note = _note_record(
                self.store.next_id("notes"),
                cand_id,
                app_id,
                user_id,
                text or "",
                subject,
                VISIBILITY[visibility],
                note_type,
                now,
                email,
            )
            self.store.insert("notes", note)
            cand["last_activity_at"] = now  # notes bump activity, not updated_at
            with self.store.lock:
                self.store.conn.execute(
                    "UPDATE candidates SET data = ?, last_activity_at = ? WHERE id = ?",
                    (_dumps(cand), now, cand_id),
                )
        return note

    def _service_user(self) -> int | None:
        row = self.store.conn.execute(
            "SELECT id FROM users WHERE service_account = 1 ORDER BY id LIMIT 1"
        ).fetchone()
        return int(row[0]) if row else None

    # ---- tags
    def create_candidate_tag(self, body: dict[str, Any], sub: int | None, request: Request) -> dict[str, Any]:
        name = _opt_str(body, "name", required=True)
        assert name is not None
        with self.store.tx():
            if self._tag_id(name, "", create=False) is not None:
                raise _unprocessable({"name": "has already been taken"})
            now = _now()
            return self.store.insert(
                "candidate_tags", {"id": None, "name": name, "created_at": now, "updated_at": now}
            )

    def create_applied_tag(self, body: dict[str, Any], sub: int | None, request: Request) -> dict[str, Any]:
        cand_id = _req_int(body, "candidate_id")
        tag_id = _req_int(body, "candidate_tag_id")
        with self.store.tx():
            cand = self.store.get("candidates", cand_id)
            if cand is None:
                raise _unprocessable({"candidate_id": f"unknown candidate {cand_id}"})
            tag = self.store.get("candidate_tags", tag_id)
            if tag is None:
                raise _unprocessable({"candidate_tag_id": f"unknown candidate tag {tag_id}"})
            dup = self.store.conn.execute(
                "SELECT 1 FROM applied_candidate_tags WHERE candidate_id = ? AND candidate_tag_id = ?",
                (cand_id, tag_id),
            ).fetchone()
            if dup:
                raise _unprocessable({"candidate_tag_id": "has already been taken"})
            now = _now()
            row = self.store.insert(
                "applied_candidate_tags",
                {
                    "id": None,
                    "candidate_id": cand_id,
                    "candidate_tag_id": tag_id,
                    "created_at": now,
                    "updated_at": now,
                },
            )
            cand["tags"] = [*cand["tags"], tag["name"]]
            cand["updated_at"] = now
            self.store.update("candidates", cand)
        return row

    def delete_applied_tag(
        self, body: dict[str, Any], rec_id: int | None, request: Request
    ) -> dict[str, Any]:
        assert rec_id is not None
        with self.store.tx():
            row = self.store.require("applied_candidate_tags", rec_id)
            self.store.conn.execute("DELETE FROM applied_candidate_tags WHERE id = ?", (rec_id,))
            tag = self.store.get("candidate_tags", row["candidate_tag_id"])
            cand = self.store.get("candidates", row["candidate_id"])
            if cand is not None and tag is not None:
                cand["tags"] = [t for t in cand["tags"] if t != tag["name"]]
                cand["updated_at"] = _now()
                self.store.update("candidates", cand)
        return {"message": f"Applied candidate tag {rec_id} deleted successfully"}

    # ---- attachments
    def create_attachment(self, body: dict[str, Any], sub: int | None, request: Request) -> dict[str, Any]:
        app_id = _req_int(body, "application_id")
        filename = _opt_str(body, "filename", required=True)
        assert filename is not None
        kind = body.get("type")
        if kind not in ATTACHMENT_TYPES:
            raise _unprocessable({"type": "must be one of: " + ", ".join(sorted(ATTACHMENT_TYPES))})
        if Path(filename).suffix.lower() in BLOCKED_EXTENSIONS:
            raise _unprocessable({"filename": "has a blocked file extension"})
        content, url = body.get("content"), body.get("url")
        if (content is None) == (url is None):
            raise _unprocessable({"content": "give exactly one of content or url"})
        blob: bytes | None = None
        if content is not None:
            if not isinstance(content, str):
                raise _unprocessable({"content": "must be base64 text"})
            try:
                blob = base64.b64decode(content, validate=True)
            except (binascii.Error, ValueError):
                raise _unprocessable({"content": "is not valid base64"}) from None
        elif not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise _unprocessable({"url": "must be a public http(s) URL"})
        visibility = body.get("visibility")
        if visibility is not None and visibility not in VISIBILITY:
            raise _unprocessable({"visibility": "must be one of: admin_only, private, public"})
        with self.store.tx():
            app = self.store.get("applications", app_id)
            if app is None:
                raise _unprocessable({"application_id": f"unknown application {app_id}"})
            now = _now()
            if kind in ("resume", "cover_letter"):
                for row in self.store.conn.execute(
                    "SELECT data FROM attachments WHERE application_id = ? AND type = ?", (app_id, kind)
                ).fetchall():
                    old = json.loads(row[0])
                    old["type"], old["updated_at"] = "other", now
                    self.store.update("attachments", old)
            record = {
                "id": None,
                "application_id": app_id,
                "candidate_id": app["candidate_id"],
                "type": kind,
                "filename": filename,
                "url": url if blob is None else None,
                "visibility": VISIBILITY.get(visibility or "admin_only"),
                "created_at": now,
                "updated_at": now,
                "_stored": blob is not None,
            }
            self.store.insert("attachments", record)
            if blob is not None:
                self.store.conn.execute(
                    "INSERT INTO attachment_blobs(id, content) VALUES (?, ?)", (record["id"], blob)
                )
        return self.render("attachments", record, str(request.base_url).rstrip("/"))


# --------------------------------------------------------------------------------------------------------
# server


class SandboxServer(ThreadedSandbox):
    """The Greenhouse sandbox served by uvicorn in a background thread; use as a context manager."""

    vendor = "Greenhouse"

    def create_app(self) -> FastAPI:
        return create_app(self.db_path, **self.app_kwargs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m syncbridge.connectors.greenhouse.sandbox",
        description="Local Greenhouse Harvest v3 sandbox",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="seed the database if needed, then serve until SIGTERM/SIGINT")
    serve.add_argument("--db", required=True, help="SQLite file (created and seeded if missing)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="0 picks a free port")
    serve.add_argument("--size", type=int, default=200, help="number of candidates to seed")
    serve.add_argument("--seed", type=int, default=7)
    serve.add_argument("--reset", action="store_true", help="wipe and re-seed the database")
    serve.add_argument("--rate-limit", type=int, default=50, help="requests per window; 0 = unlimited")
    serve.add_argument("--rate-window", type=float, default=30.0, help="window length in seconds")
    serve.add_argument("--latency-ms", type=float, default=0.0)
    serve.add_argument("--fault-rate", type=float, default=0.0)
    serve.add_argument("--fault-seed", type=int, default=0)
    serve.add_argument("--token-ttl", type=int, default=3600)
    args = parser.parse_args(argv)

    seed(args.db, size=args.size, seed=args.seed, reset=args.reset)
    app = create_app(
        args.db,
        rate_limit=args.rate_limit,
        rate_window=args.rate_window,
        latency_ms=args.latency_ms,
        fault_rate=args.fault_rate,
        fault_seed=args.fault_seed,
        token_ttl=args.token_ttl,
    )
    return serve_forever(app, args.host, args.port, banner="")


_seed_file = seed  # the plugin's method of that name takes a parameter called seed


class GreenhouseSandbox(Sandbox):
    """The Greenhouse sandbox as a plugin (entry point ``syncbridge.sandboxes``)."""

    vendor = "greenhouse"
    employer = "Acme Corp"
    connector_name = "acme-greenhouse"
    outcome_prefix = "GH"
    demo_order = 0  # the default demo: it shows every feature (custom fields, webhooks, assessments)
    env = DEMO_ENV
    demo_server_options = {"rate_limit": 0}

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
        return {"prospect_pool_id": 1, "prospect_stage_id": 1}

    def history_fields(self) -> dict[str, str]:
        # Greenhouse carries the custom fields the sandbox seeds (Lever has no candidate fields API)
        return {
            "mi_rating": "evaluation.rating",
            "mi_last_project": "project.title",
            "mi_skills": "evaluation.skills",
            "mi_would_hire": "evaluation.would_hire",
        }

    def note_texts(self, db_path: Path, email: str) -> list[str] | None:
        conn = sqlite3.connect(str(db_path))
        try:
            rows = conn.execute(
                "SELECT data FROM notes WHERE candidate_id IN "
                "(SELECT candidate_id FROM candidate_emails WHERE email = ?)",
                (email.strip().lower(),),
            )
            return [str(json.loads(data)["body"]) for (data,) in rows]
        finally:
            conn.close()


if __name__ == "__main__":
    raise SystemExit(main())
