"""The Workday sandbox's tenant: its credentials, reference data, tables and the deterministic seed.

Records are stored in plain columns (the SOAP answers are rendered from them); timestamps are fixed-width
UTC text so that SQLite compares them correctly.  Every change to a candidate or requisition is written to
``tx_log``, which Transaction_Log_Criteria_Data reads.
"""

from __future__ import annotations

import json
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from syncbridge.sandbox.seed import ascii_fold, phone_digits, rng_for, seed_anchor, spread, stable_hex
from syncbridge.sandbox.store import add_missing_columns, ensure_tables, seed_file

DEFAULT_TENANT = "syncbridge_sandbox1"
DEFAULT_USERNAME = f"ISU_Syncbridge@{DEFAULT_TENANT}"
DEFAULT_PASSWORD = "sbx-wd-Pa55word-7c41e0"
DEFAULT_CLIENT_ID = "sbx-wd-client-8d21"
DEFAULT_CLIENT_SECRET = "sbx-wd-secret-93be1f6a"
DEFAULT_REFRESH_TOKEN = "sbx-wd-refresh-0f5a2c9e77"
DEFAULT_VERSION = "v46.0"
DEFAULT_MAX_VERSION = "v47.0"
DEFAULT_DOCUMENT_CATEGORY = "OTHER_DOCUMENTS"
DOCUMENT_CATEGORY_TYPE = "Document_Category__Workday_Owned__ID"
TAG_ID_TYPE = "Candidate_Tag_ID"
MIN_SIZE, MAX_SIZE = 20, 1_000_000


def ts(dt: datetime) -> str:
    """Stored form of a moment: UTC, microseconds, ``Z``."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now_ts() -> str:
    return ts(datetime.now(UTC))


def make_wid(seed_value: int | str, kind: str, n: int | str) -> str:
    """A deterministic 32-hex Workday ID."""
    return stable_hex("wd-sandbox", seed_value, kind, n)


def _names(names: str) -> list[tuple[str, str]]:
    """``"Ada|陽菜=hina"`` → (as written, ASCII form for e-mail local parts), the form folded unless given."""
    pairs = (name.partition("=") for name in names.split("|"))
    return [(name, ascii or ascii_fold(name)) for name, _, ascii in pairs]


# fmt: off
FIRST_NAMES = _names(
    "Ada|Émilie|Kofi|Ines|Matías|Saoirse|Nikolaj|Zofia|Aarav|Mei|陽菜=hina|蓮=ren|지우=jiwoo|Алексей=aleksei|"
    "Мария=mariya|Chidera|Thandiwe|Björk|Þórunn=thorunn|Ørjan=orjan|Renée|José Luis|Anne-Sophie|Rahul|Fatou|"
    "Yusuf|Leilani|Tomasz|Grace|Oliver|Amelia|Lucas|Chloé|Niamh|Dao|Minh|Hüseyin|Ayşe|Sven|Priyanka|Kwabena|"
    "Valentina"
)
LAST_NAMES = _names(
    "Okonkwo|Ó Briain|Nuñez|Schäfer|Lindqvist|Wiśniewska|Трофимов=trofimov|Соколова=sokolova|高橋=takahashi|"
    "田中=tanaka|陈=chen|박=park|Nguyễn|da Silva|van Dijk|Al-Mansouri|O'Connor|Martin-Lefebvre|Østby=ostby|"
    "Smith|Jones|Garcia|Mensah|Banerjee|Kaya|Rossi|Haddad|Kowalczyk|Andersen|Dubois|MacLeod|Yamamoto|Ivanova|Popescu"
)
PERSONAL_DOMAINS = ["gmail.com", "outlook.com", "yahoo.co.uk", "proton.me", "icloud.com", "gmx.net",
                    "yandex.ru", "naver.com", "web.de", "hotmail.fr"]
SCHOOL_DOMAINS = ["student.uni-example.edu", "alumni.tech-example.ac.uk", "campus.example.ac.jp",
                  "mail.polytechnic-example.fr"]
WORK_DOMAINS = ["acme.example", "globex.example", "initrode.example", "soylent.example"]
CITIES = [("Leeds", "GBR", "+44"), ("Lagos", "NGA", "+234"), ("Lyon", "FRA", "+33"), ("Kraków", "POL", "+48"),
          ("Osaka", "JPN", "+81"), ("Austin", "USA", "+1"), ("São Paulo", "BRA", "+55"),
          ("Pune", "IND", "+91"), ("Toronto", "CAN", "+1"), ("Berlin", "DEU", "+49")]
SOURCES = ["LinkedIn", "Career Site", "Referral", "University Event", "Agency"]
# Applicant_Source_IDs the tenant knows (the seeded ones, plus the one syncbridge attributes its writes to)
SOURCE_IDS = frozenset([*SOURCES, "Micro-internship"])
# (Candidate_Tag_ID, name, active)
TAGS = [
    ("MICRO_INTERN", "Micro-intern", True), ("MICRO_INTERN_SOURCED", "Micro-intern (sourced)", True),
    ("SILVER_MEDALIST", "Silver medalist", True), ("BOOMERANG", "Boomerang", True),
    ("CAMPUS_2026", "Campus 2026", True), ("DIVERSITY_EVENT", "Diversity event", True),
    ("LEGACY_2019", "Legacy 2019", False),
]
# Prospect_Status_IDs the tenant knows (tenant-configured in a real Workday)
PROSPECT_STATUSES = ("NEW", "CONTACTED", "NURTURE", "NOT_INTERESTED")
STAGES = ["Review", "Screen", "Assessment", "Interview", "Reference Check", "Offer", "Background Check",
          "Ready for Hire"]
DISPOSITIONS = {"DISP_NOT_QUALIFIED": "Not qualified", "DISP_WITHDREW": "Candidate withdrew",
                "DISP_POSITION_FILLED": "Position filled"}
ORGS = {"SUP-ENG": "Engineering", "SUP-DATA": "Data & Analytics", "SUP-DESIGN": "Design",
        "SUP-OPS": "Operations", "SUP-PEOPLE": "People"}
LOCATIONS = {"LDS": "Leeds", "BER": "Berlin", "AUS": "Austin", "REMOTE": "Remote"}
REASONS = {"NEW_HEADCOUNT": "New headcount", "BACKFILL": "Backfill", "INTERN_CONVERSION": "Intern conversion"}
JOB_PROFILES = {"JP-ANALYST": "Analyst", "JP-SOFTWARE-ENGINEER": "Software Engineer",
                "JP-DESIGNER": "Designer", "JP-ASSOCIATE": "Associate",
                "JP-GRADUATE": "Graduate (Early Careers)"}
WORKER_TYPES = {"Employee": "Employee", "Contingent_Worker": "Contingent Worker"}
TIME_TYPES = {"Full_time": "Full time", "Part_time": "Part time"}
JOB_POSTING_SITES = {"INTERNAL": "Internal Career Site", "EXTERNAL": "External Career Site"}
NOT_OPEN_FOR_APPLICATIONS = ("Closed", "Filled", "Frozen")
# (title, status, org, location, allocated, available)
REQUISITIONS = [
    ("Software Engineer II", "Open", "SUP-ENG", "LDS", 2, 1),
    ("Data Analyst", "Open", "SUP-DATA", "BER", 1, 1),
    ("Product Designer", "Open", "SUP-DESIGN", "REMOTE", 1, 1),
    ("Site Reliability Engineer", "Open", "SUP-ENG", "AUS", 1, 1),
    ("Operations Associate", "Filled", "SUP-OPS", "LDS", 1, 0),
    ("People Partner", "Closed", "SUP-PEOPLE", "BER", 1, 0),
    ("Machine Learning Engineer", "Open", "SUP-DATA", "REMOTE", 3, 2),
    ("Graduate Software Engineer", "Open", "SUP-ENG", "LDS", 5, 4),
    ("UX Researcher", "Frozen", "SUP-DESIGN", "BER", 1, 1),
    ("Analytics Engineer", "Open", "SUP-DATA", "AUS", 1, 1),
    ("Customer Operations Lead", "Open", "SUP-OPS", "REMOTE", 1, 1),
    ("Talent Coordinator", "Closed", "SUP-PEOPLE", "LDS", 1, 0),
]
# Document_Category__Workday_Owned__ID → (name, the ISU may use it)
DOCUMENT_CATEGORIES = {
    "OTHER_DOCUMENTS": ("Other Documents", True),
    "CANDIDATE_RESUME_AND_COVER_LETTER": ("Resume and Cover Letter", True),
    "CONFIDENTIAL_REFERENCE_CHECKS": ("Confidential Reference Checks", False),
}

#: table → its columns
TABLES = {
    "meta": "key TEXT PRIMARY KEY, value TEXT",
    "candidates": "pk INTEGER PRIMARY KEY, wid TEXT NOT NULL UNIQUE, candidate_id TEXT NOT NULL UNIQUE, "
    "first_name TEXT, last_name TEXT, phone TEXT, phone_code TEXT, city TEXT, country TEXT, prospect "
    "INTEGER NOT NULL DEFAULT 0, do_not_hire INTEGER NOT NULL DEFAULT 0, withdrawn INTEGER NOT NULL DEFAULT "
    "0, source TEXT, origin TEXT NOT NULL DEFAULT 'seed', touched INTEGER NOT NULL DEFAULT 0, created_at "
    "TEXT NOT NULL, updated_at TEXT NOT NULL, prospect_status TEXT",
    "candidate_emails": "email_lc TEXT NOT NULL, raw TEXT NOT NULL, cand_pk INTEGER NOT NULL, position "
    "INTEGER NOT NULL",
    "tags": "pk INTEGER PRIMARY KEY, wid TEXT NOT NULL UNIQUE, tag_id TEXT NOT NULL UNIQUE, name TEXT NOT "
    "NULL, active INTEGER NOT NULL",
    "candidate_tags": "cand_pk INTEGER NOT NULL, tag_pk INTEGER NOT NULL, position INTEGER NOT NULL, "
    "PRIMARY KEY (cand_pk, tag_pk)",
    "requisitions": "pk INTEGER PRIMARY KEY, wid TEXT NOT NULL UNIQUE, req_id TEXT NOT NULL UNIQUE, title "
    "TEXT NOT NULL, status TEXT NOT NULL, allocated INTEGER NOT NULL, available INTEGER NOT NULL, "
    "description TEXT, org_id TEXT, location_id TEXT, start_date TEXT, target_hire_date TEXT, confidential "
    "INTEGER NOT NULL DEFAULT 0, origin TEXT NOT NULL DEFAULT 'seed', created_at TEXT NOT NULL, updated_at "
    "TEXT NOT NULL, job_profile TEXT, worker_type TEXT, time_type TEXT, justification TEXT, reason TEXT",
    "applications": "pk INTEGER PRIMARY KEY, wid TEXT NOT NULL UNIQUE, app_id TEXT NOT NULL UNIQUE, "
    "cand_pk INTEGER NOT NULL, req_pk INTEGER NOT NULL, applied_at TEXT NOT NULL, stage TEXT NOT NULL, "
    "disposition TEXT, source TEXT, status_at TEXT NOT NULL",
    "attachments": "pk INTEGER PRIMARY KEY, wid TEXT NOT NULL UNIQUE, cand_pk INTEGER NOT NULL, filename "
    "TEXT NOT NULL, content BLOB NOT NULL, comment TEXT, category TEXT NOT NULL, mime TEXT, origin TEXT NOT "
    "NULL DEFAULT 'seed', created_at TEXT NOT NULL, app_pk INTEGER",
    "job_postings": "pk INTEGER PRIMARY KEY, wid TEXT NOT NULL UNIQUE, posting_id TEXT NOT NULL UNIQUE, "
    "req_pk INTEGER NOT NULL, site TEXT NOT NULL, start_date TEXT NOT NULL, end_date TEXT, primary_posting "
    "INTEGER NOT NULL DEFAULT 0, active INTEGER NOT NULL DEFAULT 1, created_at TEXT NOT NULL",
    "tx_log": "kind TEXT NOT NULL, rec_pk INTEGER NOT NULL, at TEXT NOT NULL",
    "events": "pk INTEGER PRIMARY KEY, wid TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, at TEXT NOT NULL, "
    "detail TEXT",
    "refresh_tokens": "token TEXT PRIMARY KEY, active INTEGER NOT NULL, created_at TEXT NOT NULL",
}
INDEXES = ["ix_candidates_created ON candidates(created_at)", "ix_emails_email ON candidate_emails(email_lc)",
           "ix_emails_cand ON candidate_emails(cand_pk)", "ix_apps_cand ON applications(cand_pk)",
           "ix_apps_applied ON applications(applied_at)", "ix_attachments_cand ON attachments(cand_pk)",
           "ix_postings_req ON job_postings(req_pk)", "ix_tx_kind_at ON tx_log(kind, at)",
           "ix_attachments_app ON attachments(app_pk)"]
#: columns added after the first release: (table, column, declaration), added to older files on open
MIGRATIONS = [("requisitions", "job_profile", "TEXT"), ("requisitions", "worker_type", "TEXT"),
              ("requisitions", "time_type", "TEXT"), ("requisitions", "justification", "TEXT"),
              ("requisitions", "reason", "TEXT"), ("attachments", "app_pk", "INTEGER")]
# fmt: on


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create what is missing, add the columns of :data:`MIGRATIONS` and the default refresh token."""
    ensure_tables(conn, (), [f"CREATE TABLE IF NOT EXISTS {t} ({cols})" for t, cols in TABLES.items()])
    add_missing_columns(conn, MIGRATIONS)
    ensure_tables(conn, (), [f"CREATE INDEX IF NOT EXISTS {index}" for index in INDEXES])
    conn.execute(
        "INSERT OR IGNORE INTO refresh_tokens(token, active, created_at) VALUES (?, 1, ?)",
        (DEFAULT_REFRESH_TOKEN, now_ts()),
    )


def insert_sql(table: str, columns: str, verb: str = "INSERT") -> str:
    """``INSERT INTO table (columns) VALUES (?, ...)`` for a comma-separated column list."""
    return f"{verb} INTO {table}({columns}) VALUES ({', '.join('?' * (columns.count(',') + 1))})"


SEED_ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
SEED_SPAN = timedelta(days=730)
APPLICATION_CAP = 100_000
#: the seeded rows: table → its columns
SEEDED = {
    "tags": "pk, wid, tag_id, name, active",
    "requisitions": "pk, wid, req_id, title, status, allocated, available, description, org_id, location_id, "
    "start_date, target_hire_date, created_at, updated_at",
    "candidates": "pk, wid, candidate_id, first_name, last_name, phone, phone_code, city, country, prospect, "
    "do_not_hire, withdrawn, source, created_at, updated_at",
    "candidate_emails": "email_lc, raw, cand_pk, position",
    "candidate_tags": "cand_pk, tag_pk, position",
    "applications": "pk, wid, app_id, cand_pk, req_pk, applied_at, stage, disposition, source, status_at",
    "attachments": "pk, wid, cand_pk, filename, content, comment, category, mime, created_at",
    "tx_log": "kind, rec_pk, at",
}


def _messy(rng: random.Random, email: str) -> str:
    """Real ATS data: some addresses are capitalised or padded."""
    roll = rng.random()
    if roll < 0.03:
        email = email[:1].upper() + email[1:]
    elif roll < 0.05:
        email = email.upper()
    return " " + email + " " if rng.random() < 0.02 else email


def seed(db_path: str | Path, size: int = 200, seed: int = 7, *, reset: bool = False) -> None:
    """Create the schema and deterministic data for ``(size, seed)``; a no-op when already seeded
    (use ``reset=True`` to start again).  ``size`` candidates, 20..1,000,000."""
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size must be between {MIN_SIZE} and {MAX_SIZE:,}")

    def fill(conn: sqlite3.Connection) -> None:
        _seed_all(conn, size, seed)
        conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('seed', ?)", (str(seed),))

    seeded = lambda: json.dumps({"size": size, "seed": seed, "at": now_ts()})  # noqa: E731
    seed_file(db_path, ensure_schema, fill, seeded=seeded, reset=reset)


def _seed_all(conn: sqlite3.Connection, size: int, seed_value: int) -> None:
    anchor = seed_anchor(SEED_ANCHOR, lag=timedelta(days=1))
    start = anchor - SEED_SPAN
    rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table in SEEDED}

    def flush() -> None:
        for table, batch in rows.items():
            conn.executemany(insert_sql(table, SEEDED[table]), batch)
            batch.clear()

    rows["tags"] = [
        (k, make_wid(seed_value, "tag", k), *tag[:2], int(tag[2])) for k, tag in enumerate(TAGS, 1)
    ]
    rng = rng_for("wd-sandbox", seed_value, "reference")
    for k, (title, status, org, loc, alloc, avail) in enumerate(REQUISITIONS, 1):
        created = spread(rng, start - timedelta(days=120), start + SEED_SPAN / 2)
        updated = spread(rng, created, anchor)
        ids = (k, make_wid(seed_value, "requisition", k), f"R-{k:05d}", title, status, alloc, avail)
        about = (f"<p>{title}: join the {ORGS[org]} team.</p>", org, loc, created.date().isoformat())
        target = (created + timedelta(days=60)).date().isoformat()
        rows["requisitions"].append((*ids, *about, target, ts(created), ts(updated)))
    reqs = rows["requisitions"]
    rows["tx_log"] = [("requisition", r[0], r[12]) for r in reqs]
    rows["tx_log"] += [("requisition", r[0], r[13]) for r in reqs if r[13] != r[12]]
    open_reqs = [r for r in reqs if r[4] in ("Open", "Filled", "Frozen")]
    flush()

    rng = rng_for("wd-sandbox", seed_value, "candidates")
    span = SEED_SPAN.total_seconds()
    forced_share = max(12, size // 2)
    recent: list[str] = []
    shared: set[str] = set()
    app_count = 0
    for i in range(1, size + 1):
        created = start + timedelta(seconds=span * (i - 1 + rng.random()) / size)
        updated = created if rng.random() < 0.7 else spread(rng, created, anchor)
        first, first_a = rng.choice(FIRST_NAMES)
        last, last_a = rng.choice(LAST_NAMES)
        first_out: str | None = first if rng.random() > 0.01 else None  # mononyms happen
        city, country, code = rng.choice(CITIES)
        roll = rng.random()
        n_emails = 0 if roll < 0.04 else 1 if roll < 0.78 else 2 if roll < 0.95 else 3
        pool = [rng.choice(PERSONAL_DOMAINS), rng.choice(SCHOOL_DOMAINS), rng.choice(WORK_DOMAINS)]
        domains = rng.sample(pool, 3)
        locals_ = [f"{first_a}.{last_a}{i}", f"{first_a[:1]}{last_a}.{i}", f"{last_a}_{first_a}{i}"]
        addresses = [_messy(rng, f"{locals_[k]}@{domains[k]}") for k in range(n_emails)]
        if i > 10 and recent and (rng.random() < 0.01 or i == forced_share):
            borrowed = rng.choice(recent)
            if borrowed.strip().lower() not in shared:
                shared.add(borrowed.strip().lower())
                addresses.insert(1 if addresses and rng.random() < 0.5 else 0, borrowed)
        if addresses:
            recent.append(addresses[0])
            del recent[:-300]
        rows["candidate_emails"] += [(raw.strip().lower(), raw, i, pos) for pos, raw in enumerate(addresses)]
        has_phone, prospect = rng.random() < 0.7, rng.random() < 0.35
        source = rng.choice(SOURCES) if rng.random() < 0.8 else None
        phone = " ".join(map(str, phone_digits(rng))) if has_phone else None
        phone_code = code if has_phone and rng.random() < 0.8 else None
        person = (i, make_wid(seed_value, "candidate", i), f"C{i:07d}", first_out, last, phone, phone_code)
        where = (city if rng.random() < 0.6 else None, country)
        flags = (int(prospect), int(rng.random() < 0.01), int(rng.random() < 0.03))
        rows["candidates"].append((*person, *where, *flags, source, ts(created), ts(updated)))
        rows["tx_log"] += [("candidate", i, ts(at)) for at in dict.fromkeys((created, updated))]
        if rng.random() < 0.15:
            for pos, tag_pk in enumerate(sorted(rng.sample(range(3, 7), rng.choice([1, 1, 2]))), 1):
                rows["candidate_tags"].append((i, tag_pk, pos))
        elif rng.random() < 0.01:
            rows["candidate_tags"].append((i, len(TAGS), 1))  # the inactive legacy tag, still on old records
        if not prospect and app_count < APPLICATION_CAP:
            for req in rng.sample(open_reqs, rng.choice([1, 1, 2])):
                app_count += 1
                applied = spread(rng, created, anchor)
                stage = rng.choice(STAGES[:6])
                disp = rng.choice(list(DISPOSITIONS)) if rng.random() < 0.2 else None
                app_id = f"JA-{app_count:07d}"
                app = (app_count, make_wid(seed_value, "application", app_count), app_id, i, req[0])
                status_at = ts(spread(rng, applied, anchor))
                rows["applications"].append((*app, ts(applied), stage, disp, source, status_at))
        if rng.random() < 0.05:
            text = f"Résumé of {first} {last}\nSkills: Python, SQL\n"
            file = (make_wid(seed_value, "attachment", i), i, f"resume-{i}.txt", text.encode())
            kind = ("Uploaded by the candidate", "CANDIDATE_RESUME_AND_COVER_LETTER", "text/plain")
            rows["attachments"].append((None, *file, *kind, ts(created)))
        if len(rows["candidates"]) >= 5000:
            flush()
    flush()
