"""The Greenhouse sandbox's records: their tables, their shapes (shared by the seed and the API) and the
deterministic seed.

Each record is stored as JSON next to the indexed columns the list filters need; candidate e-mails are
kept lower-cased in their own table.  Ids of different resources live in different ranges, so that a
connector mixing them up fails loudly.
"""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from syncbridge.sandbox.seed import (
    FIRST_NAMES,
    LAST_NAMES,
    PERSONAL_DOMAINS,
    SCHOOL_DOMAINS,
    WORK_DOMAINS,
    messy_email,
    phone,
    rng_for,
    seed_anchor,
    spread,
)
from syncbridge.sandbox.store import Index, Table, dumps, ensure_tables, seed_file


def iso_ts(dt: datetime) -> str:
    """ISO-8601 UTC with milliseconds and ``Z``, e.g. ``2024-12-15T03:55:00.000Z``."""
    if dt.tzinfo is not UTC:
        dt = dt.astimezone(UTC)
    return dt.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def now_ts() -> str:
    return iso_ts(datetime.now(UTC))


def parse_ts(text: str) -> datetime | None:
    """An ISO-8601 time (``Z`` or an offset; none means UTC), or None when it is not one."""
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


# --------------------------------------------------------------------------------------------------------
# tables

# fmt: off
#: table: (the id before its first, filter columns beside id/created_at/updated_at/data, those with an index)
_TABLES = {
    "users": (1_000_000, "primary_email_lc deactivated service_account", "primary_email_lc"),
    "departments": (2_000, "external_id", ""),
    "offices": (3_000, "external_id", ""),
    "job_boards": (5_000, "", ""),
    "sources": (5_500, "", ""),
    "custom_fields": (6_000, "field_type active name_key", "name_key"),
    "custom_field_options": (7_000, "custom_field_id active", ""),
    "jobs": (4_100_000, "status requisition_id department_id is_template confidential opened_at closed_at",
             ""),
    "job_posts": (4_200_000, "job_id job_board_id live active internal", "job_id"),
    "openings": (4_300_000, "job_id open", "job_id"),
    "candidates": (20_000_000, "last_activity_at private", ""),
    "candidate_tags": (8_000, "name", ""),
    "applied_candidate_tags": (60_000_000, "candidate_id candidate_tag_id", "candidate_id"),
    "applications": (40_000_000, "candidate_id job_id status prospect stage_name last_activity_at",
                     "candidate_id job_id"),
    "notes": (80_000_000, "candidate_id application_id user_id note_type visibility", "candidate_id"),
    "attachments": (90_000_000, "application_id candidate_id type", "application_id candidate_id"),
}
# fmt: on
ID_BASES = {name: base for name, (base, _columns, _indexed) in _TABLES.items()}
_UNIQUE = {
    "candidate_tags": Index("ux_candidate_tags_name", "name", unique=True),
    "applied_candidate_tags": Index("ux_applied_pair", "candidate_id, candidate_tag_id", unique=True),
}
_GETTERS = {
    "users": {
        "primary_email_lc": lambda r: (r.get("primary_email") or "").strip().lower(),
        "service_account": lambda r: int(not r.get("primary_email")),
    }
}


def _table(name: str, columns: str, indexed: str) -> Table:
    indexes = [
        Index(f"ix_{name}_updated", "updated_at"),
        Index(f"ix_{name}_created", "created_at"),
        *(Index(f"ix_{name}_{col}", col) for col in indexed.split()),
        *([_UNIQUE[name]] if name in _UNIQUE else []),
    ]
    lead = ("id INTEGER PRIMARY KEY", "created_at TEXT NOT NULL", "updated_at TEXT NOT NULL")
    return Table.records(name, lead, columns.split(), indexes=indexes, getters=_GETTERS.get(name))


TABLES = {name: _table(name, columns, indexed) for name, (_base, columns, indexed) in _TABLES.items()}
EMAIL_INSERT = "INSERT INTO candidate_emails(email, candidate_id, position) VALUES (?, ?, ?)"


def ensure_schema(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
    ensure_tables(
        conn,
        TABLES.values(),
        [
            "CREATE TABLE IF NOT EXISTS candidate_emails "
            "(email TEXT NOT NULL, candidate_id INTEGER NOT NULL, position INTEGER NOT NULL)",
            "CREATE INDEX IF NOT EXISTS ix_candidate_emails_email ON candidate_emails(email)",
            "CREATE INDEX IF NOT EXISTS ix_candidate_emails_cand ON candidate_emails(candidate_id)",
            "CREATE TABLE IF NOT EXISTS attachment_blobs (id INTEGER PRIMARY KEY, content BLOB NOT NULL)",
        ],
    )


def _insert(conn: sqlite3.Connection, table: str, records: list[dict[str, Any]]) -> None:
    conn.executemany(TABLES[table].insert_sql(), [TABLES[table].row(r) for r in records])


# --------------------------------------------------------------------------------------------------------
# record shapes: key order and defaults of the records both the seed and the API make

OMIT: Any = object()  # a key left out unless given (the prospect pool of applications made through the API)
# fmt: off
SHAPES: dict[str, dict[str, Any]] = {
    "candidates": {
        "id": None, "first_name": None, "last_name": None, "preferred_name": None, "company": None,
        "title": None, "created_at": None, "updated_at": None, "last_activity_at": None, "private": False,
        "can_email": True, "time_zone": None, "tags": [], "linked_user_ids": [], "phone_numbers": [],
        "addresses": [], "email_addresses": [], "website_addresses": [], "social_media_addresses": [],
        "custom_fields": {}},
    "applications": {
        "id": None, "candidate_id": None, "job_id": None, "job_post_id": None, "status": "in_process",
        "prospect": False, "prospective_job_ids": [], "stage_id": None, "job_interview_stage_id": None,
        "stage_name": None, "recruiter_id": None, "coordinator_id": None, "source_id": None,
        "referrer_id": None, "prospect_pool_id": OMIT, "prospect_stage_id": OMIT, "agency_note_id": None,
        "rejection_reason_id": None, "rejected_at": None, "needs_decision": False, "last_activity_at": None,
        "location_address": None, "answers": [], "custom_fields": {}, "created_at": None, "updated_at": None},
    "jobs": {
        "id": None, "name": None, "requisition_id": None, "notes": None, "confidential": False,
        "status": "open", "opened_at": None, "closed_at": None, "is_template": False, "copied_from_id": None,
        "department_id": None, "office_ids": [], "custom_fields": {}, "created_at": None, "updated_at": None},
    "openings": {
        "id": None, "job_id": None, "opening_id": None, "open": True, "opened_at": None, "closed_at": None,
        "application_id": None, "close_reason_id": None, "target_start_on": None, "sort_order": 1,
        "custom_fields": {}, "created_at": None, "updated_at": None},
    "notes": {
        "id": None, "candidate_id": None, "application_id": None, "user_id": None, "type": "NOTE",
        "note_type": "NOTE", "body": "", "body_with_tags": "", "subject": None, "visibility": None,
        "email_from": None, "email_to": None, "email_cc": [], "email_attachment_file_names": [],
        "import_hash": None, "created_at": None, "updated_at": None},
}
# fmt: on


def make(kind: str, rec_id: int | None, created: str, updated: str | None = None, /, **fields: Any) -> dict:
    """A record of the table ``kind`` in its key order: for a kind in :data:`SHAPES` its defaults, then
    ``fields`` (``last_activity_at`` follows ``updated_at``); for others ``id``, ``fields``, ``created_at``,
    ``updated_at``."""
    updated = updated or created
    shape = SHAPES.get(kind)
    if shape is None:
        return {"id": rec_id, **fields, "created_at": created, "updated_at": updated}
    out = {k: v.copy() if isinstance(v, list | dict) else v for k, v in shape.items()}
    out.update(id=rec_id, created_at=created, updated_at=updated)
    if "last_activity_at" in out:
        out["last_activity_at"] = updated
    out.update(fields)
    return {k: v for k, v in out.items() if v is not OMIT}


def field_name(key: str) -> str:
    """A custom field's name: its key in words (``mi_last_project``: ``MI Last Project``)."""
    return " ".join(w.upper() if w == "mi" else w.capitalize() for w in key.split("_"))


def custom_field(key: str, value_type: str, value: Any) -> dict[str, Any]:
    """A custom field value in the READ shape, ``{key: {"name", "type", "value"}}``."""
    return {key: {"name": field_name(key), "type": value_type, "value": value}}


def note_shape(note_id: int | None, ts: str, body: str, note_type: str = "NOTE", **fields: Any) -> dict:
    return make(
        "notes", note_id, ts, type=note_type, note_type=note_type, body=body, body_with_tags=body, **fields
    )


# --------------------------------------------------------------------------------------------------------
# seed data

SEED_ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
SEED_SPAN = timedelta(days=730)
APPLICATION_CAP = 20_000
NOTE_CAP = 3_000

# fmt: off
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
NOTE_BODIES = ["Great phone screen, strong SQL.", "Asked to follow up in Q3.", "Prefers remote roles.",
               "Relocating to Berlin — check visa.", "Référence vérifiée.", "候補者と面談済み。"]

#: (name_key, field_type, value_type); a field's name is its key in words.  The ones after the first 14 were
#: added later: fixed timestamps keep the seed the same
CUSTOM_FIELDS = [
    ("mi_rating", "candidate", "number"), ("mi_last_project", "candidate", "short_text"),
    ("mi_skills", "candidate", "long_text"), ("mi_would_hire", "candidate", "yes_no"),
    ("degree", "candidate", "single_select"), ("current_salary", "candidate", "short_text"),
    ("available_from", "candidate", "date"), ("mi_prescreen_score", "application", "number"),
    ("mi_prescreen_summary", "application", "long_text"), ("mi_supervisor", "application", "short_text"),
    ("referral_notes", "application", "long_text"), ("mi_source_project", "job", "short_text"),
    ("cost_center", "job", "short_text"), ("employment_type", "job", "single_select"),
    ("mi_skill_set", "candidate", "multi_select"), ("mi_mentor", "candidate", "user"),
    ("mi_stipend", "application", "currency"),
]
FIXED_CUSTOM_FIELDS = 14
PRIVATE_CUSTOM_FIELDS = {"current_salary"}
# the skill options a recruiting team might keep (deliberately not every skill a project can show)
SKILL_OPTIONS = [*SKILLS, "Data Visualization", "PostgreSQL", "Docker", "Statistics", "Data Cleaning",
                 "User Research", "Prototyping", "Accessibility", "Presentation Skills", "REST APIs"]
SELECT_OPTIONS = {"mi_skill_set": SKILL_OPTIONS, "degree": DEGREES,
                  "employment_type": ["Full-time", "Part-time", "Intern", "Contract"]}

# (name, status, is_template, department index, requisition_id)
JOBS = [
    ("Template: Software Engineering Intern", "draft", True, 0, None),
    ("Template: Data Analyst (Entry Level)", "draft", True, 1, None),
    ("Software Engineer II", "open", False, 0, "REQ-1001"), ("Data Analyst", "open", False, 1, "REQ-1002"),
    ("Product Designer", "open", False, 2, "REQ-1003"),
    ("Customer Success Associate", "closed", False, 3, "REQ-0990"),
    ("Marketing Coordinator", "draft", False, 4, "REQ-1005"),
    ("Site Reliability Engineer", "open", False, 0, "REQ-1006"),
]
# (name, internal, url token): the two live boards, then a paused one (a fixed timestamp)
BOARDS = [("Sandbox Careers", False, "sandbox"), ("Sandbox Internal Jobs", True, "sandbox-internal"),
          ("Sandbox Campus Board (paused)", True, "sandbox-campus")]
LIVE_BOARDS = 2
# (name, source type): the sources an application can be attributed to
SOURCES = [("LinkedIn", "Social media"), ("Referral", "Referrals"), ("Micro-internship", "Prospecting"),
           ("University Career Fair", "Events")]
DEPARTMENTS = ["Engineering", "Data", "Design", "Customer Success", "Marketing"]
OFFICES = [("New York", "New York, NY"), ("London", "London, UK"), ("Remote", "Anywhere")]
DOMAIN_KINDS = {**dict.fromkeys(WORK_DOMAINS, "work"), **dict.fromkeys(PERSONAL_DOMAINS, "personal")}

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


def _seed_dictionaries(conn: sqlite3.Connection, rng: random.Random, anchor: datetime) -> dict[str, Any]:
    """Users, departments, offices, boards, sources, custom fields, tags, jobs with posts and openings."""
    start, old = anchor - SEED_SPAN - timedelta(days=200), iso_ts(anchor - SEED_SPAN)

    def stamp() -> str:
        return iso_ts(spread(rng, start, anchor - SEED_SPAN))

    def new(table: str, created: str, updated: str | None = None, /, **fields: Any) -> dict[str, Any]:
        """A record numbered after the ones before it."""
        recs = made.setdefault(table, [])
        recs.append(make(table, ID_BASES[table] + len(recs) + 1, created, updated, **fields))
        return recs[-1]

    made: dict[str, list[dict[str, Any]]] = {}
    # fmt: off
    for k, (first, last, email, title, admin, deact) in enumerate(USERS, start=1):
        new("users", stamp(), first_name=first, last_name=last, name=f"{first} {last}", primary_email=email,
            emails=[email] if email else [], job_title=title, agency_id=None, deactivated=deact,
            site_admin=admin, employee_id=f"E{1000 + k}" if email else None, linked_candidate_ids=[],
            office_ids=[], department_ids=[], interviewer_tags=[], custom_fields={})
    for k, name in enumerate(DEPARTMENTS, start=1):
        new("departments", stamp(), name=name, parent_id=None, external_id=f"dept-{k:02d}")
    for k, (name, loc) in enumerate(OFFICES, start=1):
        new("offices", stamp(), name=name, parent_id=None, external_id=f"office-{k:02d}",
            location={"name": loc}, primary_in_house_contact_user_id=None)
    # the paused board is made last (so first in the newest-first list order): its posts reach nobody
    for k, (name, internal, token) in enumerate(BOARDS, start=1):
        live = k <= LIVE_BOARDS
        new("job_boards", stamp() if live else old, name=name, internal=internal, live=live, url_token=token)
    for k, (name, kind) in enumerate(SOURCES, start=1):
        new("sources", old, name=name, type={"id": k, "name": kind})
    for k, (key, ftype, vtype) in enumerate(CUSTOM_FIELDS, start=1):
        ts = stamp() if k <= FIXED_CUSTOM_FIELDS else old
        field = new("custom_fields", ts, name=field_name(key), name_key=key, field_type=ftype,
                    value_type=vtype, private=key in PRIVATE_CUSTOM_FIELDS, required=False, active=True,
                    sort_order=k, internal_type=None, expose_in_job_board_api=False,
                    api_only=key.startswith("mi_"), default_value=None)
        for n, opt in enumerate(SELECT_OPTIONS.get(key, []), start=1):
            new("custom_field_options", ts, custom_field_id=field["id"], name=opt, active=True, sort_order=n,
                external_id=None)
    for name in TAG_NAMES:
        new("candidate_tags", stamp(), name=name)
    board_ids = [b["id"] for b in made["job_boards"][:LIVE_BOARDS]]
    for k, (name, status, template, dept, req) in enumerate(JOBS, start=1):
        created = spread(rng, anchor - SEED_SPAN, anchor - SEED_SPAN / 2)
        updated = spread(rng, created, anchor)
        title, live = name.replace("Template: ", ""), status == "open"
        opened = None if status == "draft" else iso_ts(created + timedelta(days=2))
        cost = {} if template else custom_field("cost_center", "short_text", f"CC-{100 + k}")
        job = new("jobs", iso_ts(created), iso_ts(updated), name=name, requisition_id=req,
                  notes=f"<p>{name}. Hiring plan FY26.</p>", status=status, opened_at=opened,
                  closed_at=iso_ts(updated) if status == "closed" else None, is_template=template,
                  department_id=ID_BASES["departments"] + dept + 1,
                  office_ids=[ID_BASES["offices"] + 1 + (k % len(OFFICES))],
                  custom_fields=cost)
        for board_id in board_ids[: 2 if template or k % 3 == 0 else 1]:
            new("job_posts", iso_ts(updated), title=title, job_id=job["id"], job_board_id=board_id,
                internal=board_id == board_ids[1], active=True, live=live, featured=False,
                first_published_at=opened if live else None, content=f"<p>Join us as a {title}.</p>",
                internal_content=None, language="en", public_url=None, demographic_question_set_id=None,
                questions=[])
        for n in range(1, 2 if template else 3):
            new("openings", iso_ts(created), job_id=job["id"], opening_id=f"{req or 'TPL'}-{n}",
                open=status != "closed", opened_at=opened, sort_order=n)
    # fmt: on
    for table, recs in made.items():
        _insert(conn, table, recs)
    return {
        "anchor": anchor,
        "user_ids": [u["id"] for u in made["users"] if u["primary_email"] and not u["deactivated"]],
        "tag_ids": {t["name"]: t["id"] for t in made["candidate_tags"]},
        "jobs": [j for j in made["jobs"] if not j["is_template"]],
        "external_post": {
            p["job_id"]: p["id"] for p in made["job_posts"] if p["job_board_id"] == board_ids[0]
        },
    }


def _gen_candidate(
    rng: random.Random, i: int, created: datetime, anchor: datetime, recent: list[str], shared: set[str]
) -> dict[str, Any]:
    first, first_ascii = rng.choice(FIRST_NAMES)
    last, last_ascii = rng.choice(LAST_NAMES)
    if rng.random() < 0.02:
        first = first.lower()
    updated = created if rng.random() < 0.3 else spread(rng, created, anchor)

    roll = rng.random()
    n_emails = 0 if roll < 0.06 else 1 if roll < 0.76 else 2 if roll < 0.94 else 3
    emails: list[dict[str, str]] = []
    domains = rng.sample(
        [rng.choice(PERSONAL_DOMAINS), rng.choice(SCHOOL_DOMAINS), rng.choice(WORK_DOMAINS)], 3
    )
    for k in range(n_emails):
        f, la = first_ascii or "x", last_ascii or "y"
        local = [f"{f}.{la}{i}", f"{f[0]}{la}{i}", f"{la}.{f}{i}", f"{f}_{la[:1]}{i}"][rng.randrange(4)]
        kind = DOMAIN_KINDS.get(domains[k], "other")
        emails.append({"value": messy_email(rng, f"{local}@{domains[k]}"), "type": kind})
    # about 1% of candidates share an address with an earlier one; candidate 12 always does (small seeds)
    if i > 10 and recent and (i == 12 or rng.random() < 0.01):
        borrowed = rng.choice(recent)
        if borrowed.strip().lower() not in shared:
            shared.add(borrowed.strip().lower())
            emails.insert(1 if emails and rng.random() < 0.5 else 0, {"value": borrowed, "type": "personal"})
    if emails:
        recent.append(emails[0]["value"])
        del recent[:-400]

    phones = []
    if rng.random() > 0.25:
        phones.append({"value": phone(rng), "type": rng.choice(["mobile", "mobile", "home", "work"])})
        if rng.random() < 0.15:
            phones.append({"value": phone(rng), "type": "other"})
    addresses = [{"value": rng.choice(CITIES), "type": "home"}] if rng.random() < 0.3 else []
    websites = [{"value": f"https://{first_ascii}{i}.dev", "type": "portfolio"}] if rng.random() < 0.1 else []
    linkedin = f"https://www.linkedin.com/in/{first_ascii}-{last_ascii}-{i}"
    social = [{"value": linkedin}] if rng.random() < 0.15 else []
    tags = rng.sample(TAG_NAMES, rng.choice([1, 1, 2])) if rng.random() < 0.2 else []

    cf: dict[str, Any] = {}
    if rng.random() < 0.12:
        cf.update(custom_field("degree", "single_select", rng.choice(DEGREES)))
    if rng.random() < 0.01:
        cf.update(custom_field("mi_rating", "number", rng.randint(1, 5)))
        cf.update(custom_field("mi_last_project", "short_text", "Churn dashboard"))
        cf.update(custom_field("mi_skills", "long_text", ", ".join(rng.sample(SKILLS, 3))))
    if rng.random() < 0.02:
        cf.update(custom_field("current_salary", "short_text", "$52,000"))
    # fmt: off
    return make("candidates", ID_BASES["candidates"] + i, iso_ts(created), iso_ts(updated), first_name=first,
                last_name=last, preferred_name=(first_ascii.capitalize() if rng.random() < 0.1 else None),
                company=rng.choice(COMPANIES) if rng.random() < 0.55 else None,
                title=rng.choice(TITLES) if rng.random() < 0.6 else None, private=rng.random() < 0.03,
                can_email=rng.random() < 0.95,
                time_zone=rng.choice(TIME_ZONES) if rng.random() < 0.5 else None,
                tags=tags, phone_numbers=phones, addresses=addresses, email_addresses=emails,
                website_addresses=websites, social_media_addresses=social, custom_fields=cf)
    # fmt: on


def seed(db_path: str | Path, size: int = 200, seed: int = 7, *, reset: bool = False) -> None:
    """Create the schema and deterministic data from ``(size, seed)``.

    A no-op when the file is already seeded, unless ``reset`` wipes it first.
    """
    if size < 1:
        raise ValueError("size must be at least 1")
    # commits in batches (a 1M seed would otherwise build one giant WAL); the progress mark makes a rerun
    # after an interruption start over
    seed_file(
        db_path,
        ensure_schema,
        lambda conn: _seed_all(conn, size, seed),
        seeded=lambda: dumps({"size": size, "seed": seed, "at": now_ts()}),
        reset=reset,
        mark_progress=True,
        started=now_ts(),
    )


def _seed_all(conn: sqlite3.Connection, size: int, seed_value: int) -> None:
    anchor = seed_anchor(SEED_ANCHOR)
    base = _seed_dictionaries(conn, rng_for("gh-sandbox", seed_value, "dicts"), anchor)
    rng = rng_for("gh-sandbox", seed_value, "candidates")
    start, span = anchor - SEED_SPAN, SEED_SPAN.total_seconds()
    recent: list[str] = []
    shared: set[str] = set()
    cands: list[dict[str, Any]] = []
    applied_id = ID_BASES["applied_candidate_tags"]
    early: list[tuple[int, str]] = []  # (id, created_at) of the first candidates: applications and notes

    def flush() -> int:
        _insert(conn, "candidates", cands)
        emails = [
            (e["value"].strip().lower(), c["id"], pos)
            for c in cands
            for pos, e in enumerate(c["email_addresses"])
        ]
        conn.executemany(EMAIL_INSERT, emails)
        tags = [(c["id"], base["tag_ids"][t], c["created_at"]) for c in cands for t in c["tags"]]
        rows = [
            make("applied_candidate_tags", applied_id + k, ts, candidate_id=cid, candidate_tag_id=tid)
            for k, (cid, tid, ts) in enumerate(tags, 1)
        ]
        _insert(conn, "applied_candidate_tags", rows)
        cands.clear()
        conn.execute("COMMIT")
        conn.execute("BEGIN IMMEDIATE")
        return len(rows)

    for i in range(1, size + 1):
        created = start + timedelta(seconds=span * (i - 1 + rng.random()) / size)
        cands.append(_gen_candidate(rng, i, created, anchor, recent, shared))
        if len(early) < max(APPLICATION_CAP, NOTE_CAP * 3):
            early.append((cands[-1]["id"], cands[-1]["created_at"]))
        if len(cands) >= 5000:
            applied_id += flush()
    flush()
    apps = _applications(rng_for("gh-sandbox", seed_value, "applications"), base, early[:APPLICATION_CAP])
    _insert(conn, "applications", apps)
    _insert(conn, "notes", _notes(rng_for("gh-sandbox", seed_value, "notes"), base, early[: NOTE_CAP * 3]))


def _applications(rng: random.Random, base: dict[str, Any], cands: list[tuple[int, str]]) -> list[dict]:
    """One or two applications for each of the first candidates (prospects, rejections, hires) up to
    :data:`APPLICATION_CAP`."""
    anchor, apps = base["anchor"], list[dict[str, Any]]()
    for cand_id, cand_created in cands:
        if len(apps) >= APPLICATION_CAP:
            break
        for job in rng.sample(base["jobs"], 1 if rng.random() < 0.5 else 2):
            created = spread(rng, datetime.fromisoformat(cand_created.replace("Z", "+00:00")), anchor)
            updated = spread(rng, created, anchor)
            prospect = rng.random() < 0.08
            roll = rng.random()
            status = "in_process" if prospect or roll < 0.7 else "rejected" if roll < 0.93 else "hired"
            stage = 0 if status == "rejected" else rng.randrange(len(STAGES))
            if status == "hired":
                stage = len(STAGES) - 1
            cf = (
                custom_field("referral_notes", "long_text", "Met at a meetup.") if rng.random() < 0.05 else {}
            )
            stage_id = None if prospect else job["id"] * 10 + stage + 1
            rejected = status == "rejected"
            # fmt: off
            apps.append(make(
                "applications", ID_BASES["applications"] + len(apps) + 1, iso_ts(created), iso_ts(updated),
                candidate_id=cand_id, job_id=None if prospect else job["id"],
                job_post_id=None if prospect else base["external_post"].get(job["id"]), status=status,
                prospect=prospect, prospective_job_ids=[job["id"]] if prospect else [], stage_id=stage_id,
                job_interview_stage_id=stage_id, stage_name=None if prospect else STAGES[stage],
                recruiter_id=rng.choice(base["user_ids"][1:3]),
                coordinator_id=base["user_ids"][3] if rng.random() < 0.5 else None,
                rejection_reason_id=1 if rejected else None,
                rejected_at=iso_ts(updated) if rejected else None,
                custom_fields=cf))
            # fmt: on
    return apps


def _notes(rng: random.Random, base: dict[str, Any], cands: list[tuple[int, str]]) -> list[dict[str, Any]]:
    """A note on about 30% of the first candidates, up to :data:`NOTE_CAP`."""
    anchor, notes = base["anchor"], list[dict[str, Any]]()
    for cand_id, cand_created in cands:
        if len(notes) >= NOTE_CAP:
            break
        if rng.random() >= 0.3:
            continue
        ts = iso_ts(spread(rng, datetime.fromisoformat(cand_created.replace("Z", "+00:00")), anchor))
        vis = rng.choice(["admin_only_visible", "privately_visible", "publicly_visible", "publicly_visible"])
        user, body = rng.choice(base["user_ids"]), rng.choice(NOTE_BODIES)
        note_id = ID_BASES["notes"] + len(notes) + 1
        notes.append(note_shape(note_id, ts, body, candidate_id=cand_id, user_id=user, visibility=vis))
    return notes
