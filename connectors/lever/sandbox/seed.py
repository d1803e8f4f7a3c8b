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

from syncbridge.sandbox import seed as kit
from syncbridge.sandbox.store import Index, Table, dumps, ensure_tables, seed_file

#: the credentials the sandbox accepts (the refresh token is seeded)
DEFAULT_API_KEY = "sbx-lever-key-3c9d2f71b8e4"
DEFAULT_CLIENT_ID = "sbx-lever-client-1"
DEFAULT_CLIENT_SECRET = "sbx-lever-secret-8a41c7e09d"
DEFAULT_REFRESH_TOKEN = "sbx-lever-refresh-initial-5e2b"
DAY_MS = 86_400_000
Record = dict[str, Any]


def now_ms() -> int:
    return int(time.time() * 1000)


# --------------------------------------------------------------------------------------------------------
# tables

#: how a filter column is computed from a record (a column without a getter is the record's own key)
_GETTERS: dict[str, Callable[[Record], Any]] = {
    "email_lc": lambda r: (r.get("email") or "").strip().lower(),
    "deactivated": lambda r: r.get("deactivatedAt") is not None,
    "updated_at": lambda r: r.get("updatedAt"),
    "code": lambda r: r.get("requisitionCode"),
    "archived": lambda r: bool(r.get("archived")),
    "confidential": lambda r: r.get("confidentiality") == "confidential",
    "opp_id": lambda r: r["_opp"],
}
# fmt: off
#: table: (its filter columns, the record key its ``sort`` is, its other indexes as ``name=columns;...``)
_TABLES = {
    "users": ("email_lc deactivated", "createdAt", "ix_users_email=email_lc"),
    "stages": ("", "_pos", ""),
    "archive_reasons": ("", "createdAt", ""),
    "requisition_fields": ("", "createdAt", ""),
    "postings": ("updated_at state confidential", "createdAt", ""),
    "requisitions": ("updated_at code status confidential", "createdAt", "ix_req_code=code"),
    "contacts": ("", "createdAt", ""),
    "opportunities": ("contact updated_at archived confidential", "createdAt",
                      "ix_opp_contact=contact;ix_opp_updated=updated_at"),
    "notes": ("opp_id", "createdAt", "ix_notes_opp=opp_id, sort, id"),
    "deleted_opportunities": ("contact", "deletedAt", ""),
}
# fmt: on


def _table(name: str, columns: str, sort: str, indexes: str) -> Table:
    """``id``, ``sort``, the JSON ``data`` and the filter ``columns`` (the index on ``sort, id`` first)."""
    extra = [Index(ix, cols) for ix, cols in (spec.split("=") for spec in indexes.split(";") if spec)]
    return Table.records(
        name,
        ("id TEXT PRIMARY KEY", "sort INTEGER NOT NULL"),
        columns.split(),
        indexes=(Index(f"ix_{name}_sort", "sort, id"), *extra),
        getters={"sort": lambda r: int(r.get(sort) or 0), **_GETTERS},
    )


TABLES = {name: _table(name, *spec) for name, spec in _TABLES.items()}
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


def put(conn: sqlite3.Connection, table: str, *records: Record) -> None:
    """Insert or replace ``records`` in ``table``."""
    conn.executemany(TABLES[table].insert_sql("INSERT OR REPLACE"), [TABLES[table].row(r) for r in records])


def email_rows(contact: Record) -> list[tuple[str, str, int]]:
    """The ``contact_emails`` rows of a contact (lower-cased, in order)."""
    return [(e.strip().lower(), contact["id"], i) for i, e in enumerate(contact.get("emails") or [])]


def add_refresh_token(conn: sqlite3.Connection, token: str = DEFAULT_REFRESH_TOKEN) -> None:
    sql = "INSERT OR IGNORE INTO refresh_tokens(token, used, created_at) VALUES (?, 0, ?)"
    conn.execute(sql, (token, now_ms()))


# --------------------------------------------------------------------------------------------------------
# shapes shared by the seed and the API: each record's keys in Lever's order, with their defaults

# fmt: off
CONTACT: Record = dict.fromkeys(["id", "name", "headline", "location", "emails", "phones", "links"]) | {
    "isAnonymized": False, "createdAt": None}
APPLICATION: Record = dict.fromkeys([
    "id", "opportunityId", "candidateId", "createdAt", "type", "posting", "postingOwner",
    "postingHiringManager", "user", "name", "email", "phone", "company", "links", "comments",
    "customQuestions", "archived", "requisitionForHire"])
OPPORTUNITY: Record = dict.fromkeys([
    "id", "contact", "createdAt", "updatedAt", "lastInteractionAt", "lastAdvancedAt", "snoozedUntil",
    "archived", "stage", "stageChanges", "owner", "followers", "tags", "sources", "origin", "sourcedBy",
    "confidentiality", "dataProtection", "isAnonymized", "opportunityLocation", "_applications"])
NOTE: Record = {"id": None, "_opp": None, "text": "Note", "fields": None, "user": None, "secret": False,
                "createdAt": None, "completedAt": None, "deletedAt": None}
NOTE_FIELD: Record = {"type": "note", "text": "Comment", "value": None, "createdAt": None, "user": None,
                      "score": None, "stage": None}
REQUISITION: Record = dict.fromkeys([
    "id", "requisitionCode", "name", "backfill", "confidentiality", "createdAt", "creator",
    "headcountHired", "headcountTotal", "status", "hiringManager", "owner", "compensationBand",
    "employmentStatus", "location", "internalNotes", "postings", "department", "team", "offerIds",
    "approval", "customFields", "closedAt", "timeToFillStartAt", "timeToFillEndAt", "updatedAt"])
# fmt: on


def shape(template: Record, **values: Any) -> Record:
    """A record with ``template``'s keys in its order, ``values`` in place of the defaults."""
    assert values.keys() <= template.keys(), values.keys() - template.keys()
    return {**template, **values}


def application_shape(
    app_id: str, opp_id: str, created: int, posting: Record, contact: Record, kind: str, **values: Any
) -> Record:
    """An application of ``contact`` to ``posting`` (``values``: ``user``, ``phone``, ``archived``)."""
    app = shape(APPLICATION, id=app_id, opportunityId=opp_id, candidateId=opp_id, createdAt=created)
    app.update(type=kind, posting=posting["id"], postingOwner=posting["owner"], name=contact["name"])
    app.update(postingHiringManager=posting["hiringManager"], email=(contact["emails"] or [None])[0])
    return app | {"customQuestions": [], **values}


def opportunity_shape(touched: int, posting: Record | None, **values: Any) -> Record:
    """An opportunity as stored (``_applications`` is rendered as ``applications``); ``touched`` is its
    last interaction and advance; it is confidential when its ``posting`` is."""
    secret = bool(posting and posting["confidentiality"] == "confidential")
    opp = shape(OPPORTUNITY, lastInteractionAt=touched, lastAdvancedAt=touched, isAnonymized=False)
    return opp | {"confidentiality": "confidential" if secret else "non-confidential", **values}


def stage_change(stage: str, index: int, user: str | None, at: int) -> Record:
    return {"toStageId": stage, "toStageIndex": index, "userId": user, "updatedAt": at}


def note_shape(
    note_id: str, opp_id: str, value: str, user: str | None, ts: int, secret: bool = False, score: Any = None
) -> Record:
    field = shape(NOTE_FIELD, value=value, createdAt=ts, user=user, score=score)
    note = shape(NOTE, id=note_id, _opp=opp_id, fields=[field], user=user, secret=secret)
    return note | {"createdAt": ts, "completedAt": ts}


# --------------------------------------------------------------------------------------------------------
# seed data

SEED_ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
SPAN_MS = 730 * DAY_MS
NOTE_CAP = 5_000

# fmt: off
# the kit's names and domains but for a few (what a seed draws from these lists must not move)
_NOT_FIRST = {"Jean-Luc", "Ольга", "Sergei", "Hana", "Ava", "Dorothée", "Ana", "Ethan", "Amara", "Nikolai"}
FIRST = [name for name, _ in kit.FIRST_NAMES if name not in _NOT_FIRST]
LAST = [name for name, _ in kit.LAST_NAMES
        if name not in {"D'Angelo", "李", "Williams", "Brown", "Lefèvre", "St. John", "Lopez"}]
DOMAINS = ([d for d in kit.PERSONAL_DOMAINS if d not in ("hotmail.co.uk", "web.de")]
           + kit.SCHOOL_DOMAINS[:3] + kit.WORK_DOMAINS[:3])
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
USER_EMPTY = ("photo", "externalDirectoryId", "linkedContactIds", "jobTitle", "managerId")
# fmt: on


def _phone(rng: random.Random) -> str:
    a, b, c = kit.phone_digits(rng)
    return [f"({a}) {b}-{c}", f"+1 {a} {b} {c}", f"+44 20 {b}{c}", f"+49{a}{b}{c}"][rng.randrange(4)]


@dataclass
class _World:
    anchor: int
    users: list[str]
    stages: list[str]
    reasons: list[str]
    postings: list[Record]


def _posting(rng: random.Random, k: int, anchor: int, active: list[str]) -> Record:
    title, team, dept, state, confidential = POSTINGS[k]
    created = anchor - SPAN_MS + rng.randrange(SPAN_MS // 2)
    pid = kit.uuid_from(rng)
    rec: Record = {"id": pid, "text": title, "createdAt": created}
    rec["updatedAt"] = created + rng.randrange(SPAN_MS // 2)
    rec |= {"user": active[0], "owner": active[1 + k % 3], "hiringManager": active[3]}
    rec["confidentiality"] = "confidential" if confidential else "non-confidential"
    where, site = LOCATIONS[k % 4], f"https://jobs.sandbox.example/acme/{pid}"
    rec["categories"] = {"team": team, "department": dept, "location": where, "allLocations": [where]}
    rec["categories"] |= {"commitment": "Full-time", "level": None}
    lists = [{"text": "Requirements", "content": "<li>Curiosity</li><li>Teamwork</li>"}]
    html = f"<div>Join us as a {title}.</div>"
    rec["content"] = {"description": f"Join us as a {title}.", "descriptionHtml": html, "lists": lists}
    rec["content"] |= {"closing": "", "closingHtml": ""}
    rec |= {"country": "US", "tags": [], "state": state, "distributionChannels": ["internal", "public"]}
    rec |= {"reqCode": f"REQ-{1001 + k}", "requisitionCodes": [f"REQ-{1001 + k}"]}
    rec |= dict.fromkeys(("salaryDescription", "salaryDescriptionHtml", "salaryRange"))
    rec["urls"] = {"list": "https://jobs.sandbox.example/acme", "show": site, "apply": f"{site}/apply"}
    return rec | {"workplaceType": ["onsite", "remote", "hybrid"][k % 3], "followers": []}


def _seed_dictionaries(conn: sqlite3.Connection, rng: random.Random) -> _World:
    anchor = int(kit.seed_anchor(SEED_ANCHOR).timestamp() * 1000)
    early = anchor - SPAN_MS - 200 * DAY_MS
    users: list[Record] = []
    for name, email, role, deactivated in USERS:
        created = early + rng.randrange(100 * DAY_MS)
        user: Record = {"id": kit.uuid_from(rng), "name": name, "username": email.split("@")[0]}
        gone = created + DAY_MS if deactivated else None
        user |= {"email": email, "createdAt": created, "deactivatedAt": gone}
        users.append(user | {"accessRole": role, **dict.fromkeys(USER_EMPTY)})
    put(conn, "users", *users)
    put(conn, "stages", *({"id": sid, "text": text, "_pos": i} for i, (sid, text) in enumerate(STAGES)))
    reasons: list[Record] = [
        {"id": kit.uuid_from(rng), "text": text, "status": "active", "type": kind, "createdAt": early}
        for text, kind in ARCHIVE_REASONS
    ]
    put(conn, "archive_reasons", *reasons)
    put(conn, "requisition_fields", *({**f, "createdAt": early + i} for i, f in enumerate(REQ_FIELDS)))
    active = [u["id"] for u in users if u["deactivatedAt"] is None]
    postings = [_posting(rng, k, anchor, active) for k in range(len(POSTINGS))]
    put(conn, "postings", *postings)
    for k, p in enumerate(postings):
        cats = p["categories"]
        req = shape(REQUISITION, id=kit.uuid_from(rng), requisitionCode=f"REQ-{1001 + k}", name=p["text"])
        req.update(backfill=k == 3, confidentiality=p["confidentiality"], createdAt=p["createdAt"] - DAY_MS)
        req.update(creator=active[0], headcountHired=0, headcountTotal="unlimited" if k == 1 else 1 + k % 3)
        req.update(status=REQ_STATUS[p["state"]], hiringManager=active[3], owner=active[1])
        req.update(employmentStatus="full-time", location=cats["location"], internalNotes="")
        req.update(postings=[p["id"]], department=cats["department"], team=cats["team"], offerIds=[])
        req.update(customFields={"cost_center": f"CC-{100 + k}"}, updatedAt=p["updatedAt"] if k else None)
        put(conn, "requisitions", req)
    return _World(anchor, active, [s for s, _ in STAGES], [r["id"] for r in reasons], postings)


def _gen_contact(rng: random.Random, i: int, recent: list[str], shared: set[str]) -> Record:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    fa, la = kit.ascii_fold(first) or "x", kit.ascii_fold(last) or "y"
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
    contact = shape(CONTACT, name=f"{first} {last}" if rng.random() > 0.01 else first)
    contact["headline"] = rng.choice(HEADLINES) if rng.random() < 0.6 else ""
    contact["location"] = rng.choice(LOCATIONS) if rng.random() < 0.7 else None
    linkedin = [f"https://www.linkedin.com/in/{fa}-{la}-{i}"] if rng.random() < 0.15 else []
    return contact | {"emails": emails, "phones": phones, "links": linkedin}


def _gen_opportunity(rng: random.Random, w: _World, contact: Record, created: int) -> Record:
    oid = kit.uuid_from(rng)
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
        at = (updated or created) - rng.randrange(0, 1000)
        archived = {"archivedAt": at, "reason": rng.choice(w.reasons)}
    apps = []
    if posting is not None:
        phone = contact["phones"][0] if contact["phones"] else None
        app = application_shape(kit.uuid_from(rng), oid, created, posting, contact, "posting", phone=phone)
        apps.append(app | {"archived": archived})
    owner = rng.choice(w.users)
    opp = opportunity_shape(updated or created, posting, id=oid, contact=contact["id"], createdAt=created)
    opp.update(updatedAt=updated, archived=archived, stage=stage, owner=owner, followers=[owner])
    opp["stageChanges"] = [stage_change(stage, w.stages.index(stage), owner, created)]
    opp["tags"] = rng.sample(TAGS, rng.choice([1, 1, 2])) if rng.random() < 0.2 else []
    opp["sources"] = [rng.choice(SOURCES)] if rng.random() < 0.6 else []
    opp["origin"] = "applied" if on_posting else rng.choice(ORIGINS)
    opp.update(sourcedBy=None if on_posting else owner, opportunityLocation=contact.get("location"))
    return opp | {"_applications": apps}


#: how a file is filled: in one big transaction, without a WAL copy of every page and with a page cache
#: that holds the random-UUID indexes (without it a million-row seed slows down quadratically); the fill
#: wrote no WAL: nothing to checkpoint
_FILL: dict[str, Any] = {
    "pragmas": ("journal_mode=MEMORY", "synchronous=OFF", "cache_size=-262144"),
    "restore": ("journal_mode=WAL", "synchronous=NORMAL"),
    "checkpoint": False,
}


def seed(db_path: str | Path, size: int = 200, seed: int = 7, *, reset: bool = False) -> None:
    """Create the schema and ``size`` deterministic opportunities (about 0.85 contacts per opportunity).

    A no-op when the file is already seeded, unless ``reset`` wipes it first.
    """
    if not 1 <= size <= 5_000_000:
        raise ValueError("size must be between 1 and 5,000,000")

    def marker() -> str:  # asked for when the fill is done
        return dumps({"size": size, "seed": seed, "at": now_ms()})

    fill = functools.partial(_seed_all, size=size, seed_value=seed)
    seed_file(db_path, ensure_schema, fill, seeded=marker, reset=reset, **_FILL)


def _seed_all(conn: sqlite3.Connection, size: int, seed_value: int) -> None:
    w = _seed_dictionaries(conn, kit.rng_for("lever-sandbox", seed_value, "dicts"))
    rng = kit.rng_for("lever-sandbox", seed_value, "people")
    note_rng = kit.rng_for("lever-sandbox", seed_value, "notes")
    start = w.anchor - SPAN_MS
    recent: list[str] = []
    shared: set[str] = set()
    batches = {t: list[Record]() for t in ("contacts", "opportunities", "notes", "deleted_opportunities")}
    emails: list[tuple[str, str, int]] = []
    made = i = 0

    def flush() -> None:
        for table, records in batches.items():
            put(conn, table, *records)
            records.clear()
        conn.executemany(CONTACT_EMAILS.insert_sql(), emails)
        emails.clear()

    while made < size:
        i += 1
        contact = _gen_contact(rng, i, recent, shared)
        contact["id"] = kit.uuid_from(rng)
        roll = rng.random()
        n_opps = min(size - made, 1 if roll < 0.82 else 2 if roll < 0.96 else 3)
        first_created = start + int(SPAN_MS * (made + rng.random()) / size)
        contact["createdAt"] = first_created
        batches["contacts"].append(contact)
        emails.extend(email_rows(contact))
        for k in range(n_opps):
            created = min(w.anchor, first_created + rng.randrange(1, 90 * DAY_MS)) if k else first_created
            opp = _gen_opportunity(rng, w, contact, created)
            batches["opportunities"].append(opp)
            made += 1
            if len(batches["notes"]) < NOTE_CAP and note_rng.random() < 0.25:
                ts = created + note_rng.randrange(1, DAY_MS)
                note_id, text = kit.uuid_from(note_rng), note_rng.choice(NOTE_TEXTS)
                user = note_rng.choice(w.users)
                batches["notes"].append(note_shape(note_id, opp["id"], text, user, ts))
        if rng.random() < 0.005:  # an opportunity of this person that was deleted last month
            when = w.anchor - rng.randrange(1, 30 * DAY_MS)
            gone = _gen_opportunity(rng, w, contact, first_created)
            gone.pop("_applications")
            gone.update({"deletedBy": w.users[0], "deletedAt": when, "applications": []})
            batches["deleted_opportunities"].append(gone)
        if len(batches["opportunities"]) >= 5000:
            flush()
    flush()
    add_refresh_token(conn)
