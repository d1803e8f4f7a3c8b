"""The Greenhouse sandbox's records: their tables, their shapes (shared by the seed and the API) and the
deterministic seed.

Each record is stored as JSON next to the indexed columns the list filters need; candidate e-mails are
kept lower-cased in their own table.  Ids of different resources live in different ranges, so that a
connector mixing them up fails loudly.
"""

from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass
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

# --------------------------------------------------------------------------------------------------------
# timestamps


def iso_ts(dt: datetime) -> str:
    """ISO-8601 UTC with milliseconds and ``Z``, e.g. ``2024-12-15T03:55:00.000Z``."""
    if dt.tzinfo is not UTC:
        dt = dt.astimezone(UTC)
    return dt.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def now_ts() -> str:
    return iso_ts(datetime.now(UTC))


def parse_ts(text: str) -> datetime | None:
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
# tables

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

# (indexed filter columns beside id / created_at / updated_at / data, the ones with an index of their own)
_COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "users": (("primary_email_lc", "deactivated", "service_account"), ("primary_email_lc",)),
    "departments": (("external_id",), ()),
    "offices": (("external_id",), ()),
    "job_boards": ((), ()),
    "sources": ((), ()),
    "custom_fields": (("field_type", "active", "name_key"), ("name_key",)),
    "custom_field_options": (("custom_field_id", "active"), ()),
    "jobs": (
        (
            "status",
            "requisition_id",
            "department_id",
            "is_template",
            "confidential",
            "opened_at",
            "closed_at",
        ),
        (),
    ),
    "job_posts": (("job_id", "job_board_id", "live", "active", "internal"), ("job_id",)),
    "openings": (("job_id", "open"), ("job_id",)),
    "candidates": (("last_activity_at", "private"), ()),
    "candidate_tags": (("name",), ()),
    "applied_candidate_tags": (("candidate_id", "candidate_tag_id"), ("candidate_id",)),
    "applications": (
        ("candidate_id", "job_id", "status", "prospect", "stage_name", "last_activity_at"),
        ("candidate_id", "job_id"),
    ),
    "notes": (("candidate_id", "application_id", "user_id", "note_type", "visibility"), ("candidate_id",)),
    "attachments": (("application_id", "candidate_id", "type"), ("application_id", "candidate_id")),
}
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


def _table(name: str, columns: tuple[str, ...], indexed: tuple[str, ...]) -> Table:
    indexes = [
        Index(f"ix_{name}_updated", "updated_at"),
        Index(f"ix_{name}_created", "created_at"),
        *(Index(f"ix_{name}_{col}", col) for col in indexed),
        *([_UNIQUE[name]] if name in _UNIQUE else []),
    ]
    lead = ("id INTEGER PRIMARY KEY", "created_at TEXT NOT NULL", "updated_at TEXT NOT NULL")
    return Table.records(name, lead, columns, indexes=indexes, getters=_GETTERS.get(name))


TABLES = {name: _table(name, cols, indexed) for name, (cols, indexed) in _COLUMNS.items()}


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


def insert_sql(table: str) -> str:
    return TABLES[table].insert_sql()


def row(table: str, record: dict[str, Any]) -> tuple[Any, ...]:
    return TABLES[table].row(record)


# --------------------------------------------------------------------------------------------------------
# record shapes


def record(rec_id: int | None, created: str, updated: str | None = None, /, **fields: Any) -> dict[str, Any]:
    """``{"id", **fields, "created_at", "updated_at"}``, the order most resources use."""
    return {"id": rec_id, **fields, "created_at": created, "updated_at": updated or created}


def candidate_shape(cand_id: int | None, created: str, updated: str, **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": cand_id,
        "first_name": None,
        "last_name": None,
        "preferred_name": None,
        "company": None,
        "title": None,
        "created_at": created,
        "updated_at": updated,
        "last_activity_at": updated,
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
    out.update(fields)
    return out


def application_shape(
    app_id: int | None,
    cand_id: int,
    created: str,
    updated: str,
    *,
    pool: dict[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """An application; ``pool`` (the prospect pool and stage) only on applications made through the API."""
    out: dict[str, Any] = {
        "id": app_id,
        "candidate_id": cand_id,
        "job_id": None,
        "job_post_id": None,
        "status": "in_process",
        "prospect": False,
        "prospective_job_ids": [],
        "stage_id": None,
        "job_interview_stage_id": None,
        "stage_name": None,
        "recruiter_id": None,
        "coordinator_id": None,
        "source_id": None,
        "referrer_id": None,
        **(pool or {}),
        "agency_note_id": None,
        "rejection_reason_id": None,
        "rejected_at": None,
        "needs_decision": False,
        "last_activity_at": updated,
        "location_address": None,
        "answers": [],
        "custom_fields": {},
        "created_at": created,
        "updated_at": updated,
    }
    out.update(fields)
    return out


def job_shape(job_id: int | None, created: str, updated: str, **fields: Any) -> dict[str, Any]:
    return record(
        job_id,
        created,
        updated,
        **{
            "name": None,
            "requisition_id": None,
            "notes": None,
            "confidential": False,
            "status": "open",
            "opened_at": None,
            "closed_at": None,
            "is_template": False,
            "copied_from_id": None,
            "department_id": None,
            "office_ids": [],
            "custom_fields": {},
            **fields,
        },
    )


def opening_shape(
    job_id: int, opening_id: str | None, is_open: bool, opened: str | None, n: int, ts: str
) -> dict[str, Any]:
    return record(
        None,
        ts,
        job_id=job_id,
        opening_id=opening_id,
        open=is_open,
        opened_at=opened,
        closed_at=None,
        application_id=None,
        close_reason_id=None,
        target_start_on=None,
        sort_order=n,
        custom_fields={},
    )


def tag_shape(name: str, ts: str, tag_id: int | None = None) -> dict[str, Any]:
    return record(tag_id, ts, name=name)


def applied_tag_shape(cand_id: int, tag_id: int, ts: str, row_id: int | None = None) -> dict[str, Any]:
    return record(row_id, ts, candidate_id=cand_id, candidate_tag_id=tag_id)


def note_shape(
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
    return record(
        note_id,
        ts,
        candidate_id=cand_id,
        application_id=app_id,
        user_id=user_id,
        type=note_type,
        note_type=note_type,
        body=body,
        body_with_tags=body,
        subject=subject,
        visibility=visibility,
        email_from=email.get("email_from"),
        email_to=email.get("email_to"),
        email_cc=email.get("email_cc", []),
        email_attachment_file_names=[],
        import_hash=None,
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
# (name, internal, url token): the two live boards, then the extra ones (paused, fixed timestamps)
BOARDS = [("Sandbox Careers", False, "sandbox"), ("Sandbox Internal Jobs", True, "sandbox-internal")]
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


@dataclass
class _SeedCtx:
    anchor: datetime
    tag_ids: dict[str, int]


def _insert(conn: sqlite3.Connection, table: str, records: list[dict[str, Any]]) -> None:
    conn.executemany(insert_sql(table), [row(table, r) for r in records])


def _seed_dictionaries(conn: sqlite3.Connection, rng: random.Random, ctx: _SeedCtx) -> dict[str, Any]:
    start, old = ctx.anchor - SEED_SPAN - timedelta(days=200), iso_ts(ctx.anchor - SEED_SPAN)

    def stamp() -> str:
        return iso_ts(spread(rng, start, ctx.anchor - SEED_SPAN))

    out: dict[str, Any] = {}
    users = [
        record(
            ID_BASES["users"] + k,
            stamp(),
            first_name=first,
            last_name=last,
            name=f"{first} {last}",
            primary_email=email,
            emails=[email] if email else [],
            job_title=title,
            agency_id=None,
            deactivated=deact,
            site_admin=admin,
            employee_id=f"E{1000 + k}" if email else None,
            linked_candidate_ids=[],
            office_ids=[],
            department_ids=[],
            interviewer_tags=[],
            custom_fields={},
        )
        for k, (first, last, email, title, admin, deact) in enumerate(USERS, start=1)
    ]
    _insert(conn, "users", users)
    out["user_ids"] = [u["id"] for u in users if u["primary_email"] and not u["deactivated"]]
    departments = [
        record(ID_BASES["departments"] + k, stamp(), name=name, parent_id=None, external_id=f"dept-{k:02d}")
        for k, name in enumerate(DEPARTMENTS, start=1)
    ]
    _insert(conn, "departments", departments)
    offices = [
        record(
            ID_BASES["offices"] + k,
            stamp(),
            name=name,
            parent_id=None,
            external_id=f"office-{k:02d}",
            location={"name": loc},
            primary_in_house_contact_user_id=None,
        )
        for k, (name, loc) in enumerate(OFFICES, start=1)
    ]
    _insert(conn, "offices", offices)
    # the paused boards are made last (so first in the newest-first list order): their posts reach nobody
    boards = [
        record(
            ID_BASES["job_boards"] + k,
            stamp() if k <= len(BOARDS) else old,
            name=name,
            internal=internal,
            live=k <= len(BOARDS),
            url_token=token,
        )
        for k, (name, internal, token) in enumerate([*BOARDS, *EXTRA_BOARDS], start=1)
    ]
    _insert(conn, "job_boards", boards)
    out["board_ids"] = [b["id"] for b in boards[: len(BOARDS)]]
    sources = [
        record(ID_BASES["sources"] + k, old, name=name, type={"id": k, "name": kind})
        for k, (name, kind) in enumerate(SOURCES, start=1)
    ]
    _insert(conn, "sources", sources)

    fields: list[dict[str, Any]] = []
    options: list[dict[str, Any]] = []
    for k, (name, key, ftype, vtype, private) in enumerate([*CUSTOM_FIELDS, *EXTRA_CUSTOM_FIELDS], start=1):
        ts = stamp() if k <= len(CUSTOM_FIELDS) else old
        fid = ID_BASES["custom_fields"] + k
        fields.append(
            record(
                fid,
                ts,
                name=name,
                name_key=key,
                field_type=ftype,
                value_type=vtype,
                private=private,
                required=False,
                active=True,
                sort_order=k,
                internal_type=None,
                expose_in_job_board_api=False,
                api_only=key.startswith("mi_"),
                default_value=None,
            )
        )
        for n, opt in enumerate(SELECT_OPTIONS.get(key, []), start=1):
            options.append(
                record(
                    ID_BASES["custom_field_options"] + len(options) + 1,
                    ts,
                    custom_field_id=fid,
                    name=opt,
                    active=True,
                    sort_order=n,
                    external_id=None,
                )
            )
    _insert(conn, "custom_fields", fields)
    _insert(conn, "custom_field_options", options)

    tags = [
        tag_shape(name, stamp(), ID_BASES["candidate_tags"] + k) for k, name in enumerate(TAG_NAMES, start=1)
    ]
    _insert(conn, "candidate_tags", tags)
    ctx.tag_ids.update({t["name"]: t["id"] for t in tags})

    jobs: list[dict[str, Any]] = []
    posts: list[dict[str, Any]] = []
    openings: list[dict[str, Any]] = []
    for k, (name, status, template, dept, req) in enumerate(JOBS, start=1):
        created = spread(rng, ctx.anchor - SEED_SPAN, ctx.anchor - SEED_SPAN / 2)
        updated = spread(rng, created, ctx.anchor)
        jid = ID_BASES["jobs"] + k
        opened = None if status == "draft" else iso_ts(created + timedelta(days=2))
        cf: dict[str, Any] = {}
        if not template:
            cf["cost_center"] = {"name": "Cost Center", "type": "short_text", "value": f"CC-{100 + k}"}
        jobs.append(
            job_shape(
                jid,
                iso_ts(created),
                iso_ts(updated),
                name=name,
                requisition_id=req,
                notes=f"<p>{name}. Hiring plan FY26.</p>",
                status=status,
                opened_at=opened,
                closed_at=iso_ts(updated) if status == "closed" else None,
                is_template=template,
                department_id=ID_BASES["departments"] + dept + 1,
                office_ids=[ID_BASES["offices"] + 1 + (k % len(OFFICES))],
                custom_fields=cf,
            )
        )
        title = name.replace("Template: ", "")
        live = status == "open"
        for board_id in out["board_ids"][:2] if template or k % 3 == 0 else out["board_ids"][:1]:
            posts.append(
                record(
                    ID_BASES["job_posts"] + len(posts) + 1,
                    iso_ts(updated),
                    title=title,
                    job_id=jid,
                    job_board_id=board_id,
                    internal=board_id == out["board_ids"][1],
                    active=True,
                    live=live,
                    featured=False,
                    first_published_at=opened if live else None,
                    content=f"<p>Join us as a {title}.</p>",
                    internal_content=None,
                    language="en",
                    public_url=None,
                    demographic_question_set_id=None,
                    questions=[],
                )
            )
        for n in range(1 if template else 2):
            opening = opening_shape(
                jid, f"{req or 'TPL'}-{n + 1}", status != "closed", opened, n + 1, iso_ts(created)
            )
            opening["id"] = ID_BASES["openings"] + len(openings) + 1
            openings.append(opening)
    _insert(conn, "jobs", jobs)
    _insert(conn, "job_posts", posts)
    _insert(conn, "openings", openings)
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
    updated = created if rng.random() < 0.3 else spread(rng, created, ctx.anchor)

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
        emails.append({"value": messy_email(rng, f"{local}@{domain}"), "type": kind})
    # about 1% of candidates share an address with an earlier one; candidate 12 always does (small seeds)
    if i > 10 and recent and (i == 12 or rng.random() < 0.01):
        borrowed = rng.choice(recent)
        if borrowed.strip().lower() not in shared:
            shared.add(borrowed.strip().lower())
            entry = {"value": borrowed, "type": "personal"}
            emails.insert(1 if emails and rng.random() < 0.5 else 0, entry)
    if emails:
        recent.append(emails[0]["value"])
        if len(recent) > 400:
            del recent[: len(recent) - 400]

    phones = []
    if rng.random() > 0.25:
        phones.append({"value": phone(rng), "type": rng.choice(["mobile", "mobile", "home", "work"])})
        if rng.random() < 0.15:
            phones.append({"value": phone(rng), "type": "other"})
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

    cand = candidate_shape(
        cid,
        iso_ts(created),
        iso_ts(updated),
        first_name=first,
        last_name=last,
        preferred_name=(first_ascii.capitalize() if rng.random() < 0.1 else None),
        company=rng.choice(COMPANIES) if rng.random() < 0.55 else None,
        title=rng.choice(TITLES) if rng.random() < 0.6 else None,
        private=rng.random() < 0.03,
        can_email=rng.random() < 0.95,
        time_zone=rng.choice(TIME_ZONES) if rng.random() < 0.5 else None,
        tags=tags,
        phone_numbers=phones,
        addresses=addresses,
        email_addresses=emails,
        website_addresses=websites,
        social_media_addresses=social,
        custom_fields=cf,
    )
    email_rows = [(e["value"].strip().lower(), pos) for pos, e in enumerate(emails)]
    return cand, email_rows, tag_ids


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
    ctx = _SeedCtx(anchor=anchor, tag_ids={})
    base = _seed_dictionaries(conn, rng_for("gh-sandbox", seed_value, "dicts"), ctx)

    rng = rng_for("gh-sandbox", seed_value, "candidates")
    start = anchor - SEED_SPAN
    span = SEED_SPAN.total_seconds()
    recent: list[str] = []
    shared: set[str] = set()
    cand_rows: list[tuple[Any, ...]] = []
    email_rows: list[tuple[str, int, int]] = []
    tag_rows: list[tuple[Any, ...]] = []
    applied_id = ID_BASES["applied_candidate_tags"]
    app_candidates: list[tuple[int, str]] = []
    note_candidates: list[tuple[int, str]] = []

    def flush() -> None:
        conn.executemany(insert_sql("candidates"), cand_rows)
        conn.executemany(
            "INSERT INTO candidate_emails(email, candidate_id, position) VALUES (?, ?, ?)", email_rows
        )
        conn.executemany(insert_sql("applied_candidate_tags"), tag_rows)
        cand_rows.clear()
        email_rows.clear()
        tag_rows.clear()
        conn.execute("COMMIT")
        conn.execute("BEGIN IMMEDIATE")

    for i in range(1, size + 1):
        created = start + timedelta(seconds=span * (i - 1 + rng.random()) / size)
        cand, emails, tag_ids = _gen_candidate(rng, i, created, ctx, recent, shared)
        cand_rows.append(row("candidates", cand))
        email_rows.extend((email, cand["id"], pos) for email, pos in emails)
        for tag_id in tag_ids:
            applied_id += 1
            tag_rows.append(
                row(
                    "applied_candidate_tags",
                    applied_tag_shape(cand["id"], tag_id, cand["created_at"], applied_id),
                )
            )
        if len(app_candidates) < APPLICATION_CAP:
            app_candidates.append((cand["id"], cand["created_at"]))
        if len(note_candidates) < NOTE_CAP * 3:
            note_candidates.append((cand["id"], cand["created_at"]))
        if len(cand_rows) >= 5000:
            flush()
    flush()
    _seed_applications(conn, rng_for("gh-sandbox", seed_value, "applications"), ctx, base, app_candidates)
    _seed_notes(conn, rng_for("gh-sandbox", seed_value, "notes"), ctx, base, note_candidates)


def _seed_applications(
    conn: sqlite3.Connection,
    rng: random.Random,
    ctx: _SeedCtx,
    base: dict[str, Any],
    candidates: list[tuple[int, str]],
) -> None:
    rows: list[tuple[Any, ...]] = []
    app_id = ID_BASES["applications"]
    for cand_id, cand_created in candidates:
        if app_id - ID_BASES["applications"] >= APPLICATION_CAP:
            break
        for job in rng.sample(base["jobs"], 1 if rng.random() < 0.5 else 2):
            app_id += 1
            created = spread(rng, datetime.fromisoformat(cand_created.replace("Z", "+00:00")), ctx.anchor)
            updated = spread(rng, created, ctx.anchor)
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
            stage_id = None if prospect else job["id"] * 10 + stage + 1
            app = application_shape(
                app_id,
                cand_id,
                iso_ts(created),
                iso_ts(updated),
                job_id=None if prospect else job["id"],
                job_post_id=None if prospect else base["external_post"].get(job["id"]),
                status=status,
                prospect=prospect,
                prospective_job_ids=[job["id"]] if prospect else [],
                stage_id=stage_id,
                job_interview_stage_id=stage_id,
                stage_name=None if prospect else STAGES[stage],
                recruiter_id=rng.choice(base["user_ids"][1:3]),
                coordinator_id=base["user_ids"][3] if rng.random() < 0.5 else None,
                rejection_reason_id=1 if status == "rejected" else None,
                rejected_at=iso_ts(updated) if status == "rejected" else None,
                custom_fields=cf,
            )
            rows.append(row("applications", app))
    conn.executemany(insert_sql("applications"), rows)


def _seed_notes(
    conn: sqlite3.Connection,
    rng: random.Random,
    ctx: _SeedCtx,
    base: dict[str, Any],
    candidates: list[tuple[int, str]],
) -> None:
    rows: list[tuple[Any, ...]] = []
    for cand_id, cand_created in candidates:
        if len(rows) >= NOTE_CAP:
            break
        if rng.random() >= 0.3:
            continue
        ts = iso_ts(spread(rng, datetime.fromisoformat(cand_created.replace("Z", "+00:00")), ctx.anchor))
        vis = rng.choice(["admin_only_visible", "privately_visible", "publicly_visible", "publicly_visible"])
        note = note_shape(
            ID_BASES["notes"] + len(rows) + 1,
            cand_id,
            None,
            rng.choice(base["user_ids"]),
            rng.choice(NOTE_BODIES),
            None,
            vis,
            "NOTE",
            ts,
        )
        rows.append(row("notes", note))
    conn.executemany(insert_sql("notes"), rows)
