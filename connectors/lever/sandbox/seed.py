"""The Lever sandbox's records: their tables, their shapes (shared by the seed and the API) and the
deterministic seed.

Every record is stored as JSON next to its ``sort`` key (``createdAt`` in milliseconds; ``deletedAt`` for
deleted opportunities, the position for stages) and the columns its filters need; contacts' e-mails are
kept lower-cased in their own table.
"""

from __future__ import annotations

import functools
import random
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from syncbridge.connectors.lever.sandbox.demo import DEFAULT_REFRESH_TOKEN
from syncbridge.sandbox.seed import (
    FIRST_NAMES,
    LAST_NAMES,
    PERSONAL_DOMAINS,
    SCHOOL_DOMAINS,
    WORK_DOMAINS,
    ascii_fold,
    phone_digits,
    rng_for,
    seed_anchor,
    uuid_from,
)
from syncbridge.sandbox.store import Index, Table, dumps, ensure_tables, seed_file

DAY_MS = 86_400_000


def now_ms() -> int:
    return int(time.time() * 1000)


# --------------------------------------------------------------------------------------------------------
# tables

Record = dict[str, Any]


def _confidential(rec: Record) -> bool:
    return rec.get("confidentiality") == "confidential"


def _updated(rec: Record) -> Any:
    return rec.get("updatedAt")


def _table(
    name: str,
    columns: tuple[str, ...] = (),
    getters: dict[str, Callable[[Record], Any]] | None = None,
    indexes: tuple[Index, ...] = (),
    sort: Callable[[Record], int] = lambda r: int(r.get("createdAt") or 0),
) -> Table:
    """``id``, ``sort``, the JSON ``data`` and the filter ``columns`` (the index on ``sort, id`` first)."""
    return Table.records(
        name,
        ("id TEXT PRIMARY KEY", "sort INTEGER NOT NULL"),
        columns,
        indexes=(Index(f"ix_{name}_sort", "sort, id"), *indexes),
        getters={"sort": sort, **(getters or {})},
    )


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        _table(
            "users",
            ("email_lc", "deactivated"),
            {
                "email_lc": lambda r: (r.get("email") or "").strip().lower(),
                "deactivated": lambda r: r.get("deactivatedAt") is not None,
            },
            (Index("ix_users_email", "email_lc"),),
        ),
        _table("stages", sort=lambda r: int(r.get("_pos", 0))),
        _table("archive_reasons"),
        _table("requisition_fields"),
        _table(
            "postings",
            ("updated_at", "state", "confidential"),
            {"updated_at": _updated, "confidential": _confidential},
        ),
        _table(
            "requisitions",
            ("updated_at", "code", "status", "confidential"),
            {
                "updated_at": _updated,
                "code": lambda r: r.get("requisitionCode"),
                "confidential": _confidential,
            },
            (Index("ix_req_code", "code"),),
        ),
        _table("contacts"),
        _table(
            "opportunities",
            ("contact", "updated_at", "archived", "confidential"),
            {
                "updated_at": _updated,
                "archived": lambda r: bool(r.get("archived")),
                "confidential": _confidential,
            },
            (Index("ix_opp_contact", "contact"), Index("ix_opp_updated", "updated_at")),
        ),
        _table(
            "notes",
            ("opp_id",),
            {"opp_id": lambda r: r["_opp"]},
            (Index("ix_notes_opp", "opp_id, sort, id"),),
        ),
        _table("deleted_opportunities", ("contact",), sort=lambda r: int(r.get("deletedAt") or 0)),
    )
}
CONTACT_EMAILS = Table(
    "contact_emails",
    ("email TEXT NOT NULL", "contact TEXT NOT NULL", "position INTEGER NOT NULL"),
    (Index("ix_ce_email", "email"), Index("ix_ce_contact", "contact")),
    data_column=None,
)
_OTHER_TABLES = (
    CONTACT_EMAILS,
    Table(
        "refresh_tokens", ("token TEXT PRIMARY KEY", "used INTEGER NOT NULL", "created_at INTEGER NOT NULL")
    ),
    Table("meta", ("key TEXT PRIMARY KEY", "value TEXT")),
)


def ensure_schema(conn: sqlite3.Connection) -> None:
    ensure_tables(conn, (*TABLES.values(), *_OTHER_TABLES))


def put_sql(table: str) -> str:
    return TABLES[table].insert_sql("INSERT OR REPLACE")


def row(table: str, rec: Record) -> tuple[Any, ...]:
    return TABLES[table].row(rec)


def email_rows(contact: Record) -> list[tuple[str, str, int]]:
    """The ``contact_emails`` rows of a contact (lower-cased, in order)."""
    return [(e.strip().lower(), contact["id"], i) for i, e in enumerate(contact.get("emails") or [])]


# --------------------------------------------------------------------------------------------------------
# shapes shared by the seed and the API


def contact_shape(
    cid: str, name: str, headline: str, location: Any, emails: list[str], phones: list[Any], links: list[str]
) -> Record:
    return {
        "id": cid,
        "name": name,
        "headline": headline,
        "location": location,
        "emails": emails,
        "phones": phones,
        "links": links,
        "isAnonymized": False,
    }


def application_shape(
    app_id: str,
    opp_id: str,
    created: int,
    posting: Record,
    contact: Record,
    kind: str,
    *,
    user: str | None = None,
    phone: Any = None,
    archived: Any = None,
) -> Record:
    return {
        "id": app_id,
        "opportunityId": opp_id,
        "candidateId": opp_id,
        "createdAt": created,
        "type": kind,
        "posting": posting["id"],
        "postingOwner": posting["owner"],
        "postingHiringManager": posting["hiringManager"],
        "user": user,
        "name": contact["name"],
        "email": (contact["emails"] or [None])[0],
        "phone": phone,
        "company": None,
        "links": None,
        "comments": None,
        "customQuestions": [],
        "archived": archived,
        "requisitionForHire": None,
    }


def opportunity_shape(
    oid: str,
    contact: str,
    created: int,
    updated: int | None,
    touched: int,
    *,
    archived: Any,
    stage: str,
    stage_change: Record,
    owner: str | None,
    followers: list[Any],
    tags: list[str],
    sources: list[str],
    origin: str,
    sourced_by: str | None,
    confidential: bool,
    location: Any,
    applications: list[Record],
) -> Record:
    """An opportunity as stored (``_applications`` is rendered as ``applications``); ``touched`` is its
    last interaction and advance."""
    return {
        "id": oid,
        "contact": contact,
        "createdAt": created,
        "updatedAt": updated,
        "lastInteractionAt": touched,
        "lastAdvancedAt": touched,
        "snoozedUntil": None,
        "archived": archived,
        "stage": stage,
        "stageChanges": [stage_change],
        "owner": owner,
        "followers": followers,
        "tags": tags,
        "sources": sources,
        "origin": origin,
        "sourcedBy": sourced_by,
        "confidentiality": "confidential" if confidential else "non-confidential",
        "dataProtection": None,
        "isAnonymized": False,
        "opportunityLocation": location,
        "_applications": applications,
    }


def note_shape(
    note_id: str, opp_id: str, value: str, user: str | None, ts: int, *, secret: bool, score: int | None
) -> Record:
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


# --------------------------------------------------------------------------------------------------------
# seed data

SEED_ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
SPAN_MS = 730 * DAY_MS
NOTE_CAP = 5_000

# the kit's names and domains but for a few (what a seed draws from these lists must not move)
FIRST = [
    name
    for name, _ in FIRST_NAMES
    if name
    not in {"Jean-Luc", "Ольга", "Sergei", "Hana", "Ava", "Dorothée", "Ana", "Ethan", "Amara", "Nikolai"}
]
LAST = [
    name
    for name, _ in LAST_NAMES
    if name not in {"D'Angelo", "李", "Williams", "Brown", "Lefèvre", "St. John", "Lopez"}
]
DOMAINS = (
    [d for d in PERSONAL_DOMAINS if d not in ("hotmail.co.uk", "web.de")]
    + SCHOOL_DOMAINS[:3]
    + WORK_DOMAINS[:3]
)
# fmt: off
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
REQ_STATUS = {"published": "open", "internal": "open", "closed": "closed", "draft": "draft"}
# fmt: on


def _phone(rng: random.Random) -> str:
    a, b, c = phone_digits(rng)
    return [f"({a}) {b}-{c}", f"+1 {a} {b} {c}", f"+44 20 {b}{c}", f"+49{a}{b}{c}"][rng.randrange(4)]


@dataclass
class _World:
    anchor: int
    users: list[str]
    stages: list[str]
    reasons: list[str]
    postings: list[Record]


def _insert(conn: sqlite3.Connection, table: str, records: list[Record]) -> None:
    conn.executemany(put_sql(table), [row(table, r) for r in records])


def _seed_dictionaries(conn: sqlite3.Connection, rng: random.Random) -> _World:
    anchor = int(seed_anchor(SEED_ANCHOR).timestamp() * 1000)
    early = anchor - SPAN_MS - 200 * DAY_MS
    users: list[Record] = []
    for name, email, role, deactivated in USERS:
        created = early + rng.randrange(100 * DAY_MS)
        users.append(
            {
                "id": uuid_from(rng),
                "name": name,
                "username": email.split("@")[0],
                "email": email,
                "createdAt": created,
                "deactivatedAt": created + DAY_MS if deactivated else None,
                "accessRole": role,
                **dict.fromkeys(
                    ("photo", "externalDirectoryId", "linkedContactIds", "jobTitle", "managerId")
                ),
            }
        )
    _insert(conn, "users", users)
    stages: list[Record] = [{"id": sid, "text": text, "_pos": i} for i, (sid, text) in enumerate(STAGES)]
    _insert(conn, "stages", stages)
    reasons: list[Record] = [
        {"id": uuid_from(rng), "text": text, "status": "active", "type": kind, "createdAt": early}
        for text, kind in ARCHIVE_REASONS
    ]
    _insert(conn, "archive_reasons", reasons)
    _insert(conn, "requisition_fields", [{**f, "createdAt": early + i} for i, f in enumerate(REQ_FIELDS)])
    active = [u["id"] for u in users if u["deactivatedAt"] is None]
    postings: list[Record] = []
    for k, (title, team, dept, state, confidential) in enumerate(POSTINGS):
        created = anchor - SPAN_MS + rng.randrange(SPAN_MS // 2)
        pid = uuid_from(rng)
        where = LOCATIONS[k % 4]
        site = f"https://jobs.sandbox.example/acme/{pid}"
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
                    "location": where,
                    "allLocations": [where],
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
                **dict.fromkeys(("salaryDescription", "salaryDescriptionHtml", "salaryRange")),
                "urls": {"list": "https://jobs.sandbox.example/acme", "show": site, "apply": f"{site}/apply"},
                "workplaceType": ["onsite", "remote", "hybrid"][k % 3],
                "followers": [],
            }
        )
    _insert(conn, "postings", postings)
    reqs: list[Record] = []
    for k, p in enumerate(postings):
        reqs.append(
            {
                "id": uuid_from(rng),
                "requisitionCode": f"REQ-{1001 + k}",
                "name": p["text"],
                "backfill": k == 3,
                "confidentiality": p["confidentiality"],
                "createdAt": p["createdAt"] - DAY_MS,
                "creator": active[0],
                "headcountHired": 0,
                "headcountTotal": "unlimited" if k == 1 else 1 + k % 3,
                "status": REQ_STATUS[p["state"]],
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
                **dict.fromkeys(("closedAt", "timeToFillStartAt", "timeToFillEndAt")),
                "updatedAt": None if k == 0 else p["updatedAt"],
            }
        )
    _insert(conn, "requisitions", reqs)
    return _World(anchor, active, [s["id"] for s in stages], [r["id"] for r in reasons], postings)


def _gen_contact(rng: random.Random, i: int, recent: list[str], shared: set[str]) -> Record:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    fa, la = ascii_fold(first) or "x", ascii_fold(last) or "y"
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
    phones: list[Record] = []
    if rng.random() > 0.25:
        phone: Record = {"value": _phone(rng)}
        if rng.random() > 0.2:  # the type is optional
            phone["type"] = rng.choice(["mobile", "mobile", "home", "work", "other"])
        phones.append(phone)
    return contact_shape(
        "",
        name=f"{first} {last}" if rng.random() > 0.01 else first,
        headline=rng.choice(HEADLINES) if rng.random() < 0.6 else "",
        location=rng.choice(LOCATIONS) if rng.random() < 0.7 else None,
        emails=emails,
        phones=phones,
        links=[f"https://www.linkedin.com/in/{fa}-{la}-{i}"] if rng.random() < 0.15 else [],
    )


def _gen_opportunity(rng: random.Random, w: _World, contact: Record, created: int) -> Record:
    oid = uuid_from(rng)
    on_posting = rng.random() < 0.7
    posting = None
    if on_posting:
        public = [p for p in w.postings if p["confidentiality"] != "confidential"]
        secret = [p for p in w.postings if p["confidentiality"] == "confidential"]
        posting = rng.choice(secret) if secret and rng.random() < 0.03 else rng.choice(public)
    updated: int | None = min(w.anchor, created + rng.randrange(1, 200 * DAY_MS))
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
        phone = contact["phones"][0] if contact["phones"] else None
        app = application_shape(
            uuid_from(rng), oid, created, posting, contact, "posting", phone=phone, archived=archived
        )
        apps.append(app)
    owner = rng.choice(w.users)
    change = {
        "toStageId": stage,
        "toStageIndex": w.stages.index(stage),
        "userId": owner,
        "updatedAt": created,
    }
    return opportunity_shape(
        oid,
        contact["id"],
        created,
        updated,
        updated or created,
        archived=archived,
        stage=stage,
        stage_change=change,
        owner=owner,
        followers=[owner],
        tags=rng.sample(TAGS, rng.choice([1, 1, 2])) if rng.random() < 0.2 else [],
        sources=[rng.choice(SOURCES)] if rng.random() < 0.6 else [],
        origin="applied" if on_posting else rng.choice(ORIGINS),
        sourced_by=None if on_posting else owner,
        confidential=bool(posting and posting["confidentiality"] == "confidential"),
        location=contact.get("location"),
        applications=apps,
    )


#: how a file is filled: in one big transaction, without a WAL copy of every page and with a page cache
#: that holds the random-UUID indexes (without it a million-row seed slows down quadratically)
_FILL_PRAGMAS = ("journal_mode=MEMORY", "synchronous=OFF", "cache_size=-262144")


def seed(db_path: str | Path, size: int = 200, seed: int = 7, *, reset: bool = False) -> None:
    """Create the schema and ``size`` deterministic opportunities (about 0.85 contacts per opportunity).

    A no-op when the file is already seeded, unless ``reset`` wipes it first.
    """
    if not 1 <= size <= 5_000_000:
        raise ValueError("size must be between 1 and 5,000,000")

    def marker() -> str:  # asked for when the fill is done
        return dumps({"size": size, "seed": seed, "at": now_ms()})

    fill = functools.partial(_seed_all, size=size, seed_value=seed)
    after = ("journal_mode=WAL", "synchronous=NORMAL")  # the fill wrote no WAL: nothing to checkpoint
    seed_file(
        db_path,
        ensure_schema,
        fill,
        seeded=marker,
        reset=reset,
        pragmas=_FILL_PRAGMAS,
        restore=after,
        checkpoint=False,
    )


def add_refresh_token(conn: sqlite3.Connection, token: str = DEFAULT_REFRESH_TOKEN) -> None:
    conn.execute(
        "INSERT OR IGNORE INTO refresh_tokens(token, used, created_at) VALUES (?, 0, ?)", (token, now_ms())
    )


def _seed_all(conn: sqlite3.Connection, size: int, seed_value: int) -> None:
    w = _seed_dictionaries(conn, rng_for("lever-sandbox", seed_value, "dicts"))
    rng = rng_for("lever-sandbox", seed_value, "people")
    note_rng = rng_for("lever-sandbox", seed_value, "notes")
    start = w.anchor - SPAN_MS
    recent: list[str] = []
    shared: set[str] = set()
    batches: dict[str, list[tuple[Any, ...]]] = {
        t: [] for t in ("contacts", "contact_emails", "opportunities", "notes", "deleted_opportunities")
    }
    made = 0
    i = 0

    def flush() -> None:
        for table, rows in batches.items():
            sql = CONTACT_EMAILS.insert_sql() if table == "contact_emails" else put_sql(table)
            conn.executemany(sql, rows)
            rows.clear()

    while made < size:
        i += 1
        contact = _gen_contact(rng, i, recent, shared)
        contact["id"] = uuid_from(rng)
        roll = rng.random()
        n_opps = min(size - made, 1 if roll < 0.82 else 2 if roll < 0.96 else 3)
        first_created = start + int(SPAN_MS * (made + rng.random()) / size)
        contact["createdAt"] = first_created
        batches["contacts"].append(row("contacts", contact))
        batches["contact_emails"].extend(email_rows(contact))
        for k in range(n_opps):
            created = (
                first_created if k == 0 else min(w.anchor, first_created + rng.randrange(1, 90 * DAY_MS))
            )
            opp = _gen_opportunity(rng, w, contact, created)
            batches["opportunities"].append(row("opportunities", opp))
            made += 1
            if len(batches["notes"]) < NOTE_CAP and note_rng.random() < 0.25:
                ts = created + note_rng.randrange(1, DAY_MS)
                note_id, text, user = (
                    uuid_from(note_rng),
                    note_rng.choice(NOTE_TEXTS),
                    note_rng.choice(w.users),
                )
                note = note_shape(note_id, opp["id"], text, user, ts, secret=False, score=None)
                batches["notes"].append(row("notes", note))
        if rng.random() < 0.005:  # an opportunity of this person that was deleted last month
            when = w.anchor - rng.randrange(1, 30 * DAY_MS)
            gone = _gen_opportunity(rng, w, contact, first_created)
            gone.pop("_applications")
            gone.update({"deletedBy": w.users[0], "deletedAt": when, "applications": []})
            batches["deleted_opportunities"].append(row("deleted_opportunities", gone))
        if len(batches["opportunities"]) >= 5000:
            flush()
    flush()
    add_refresh_token(conn)
