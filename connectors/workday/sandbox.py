"""A local Workday Recruiting (WWS) server for demos, end-to-end tests and benchmarks.

It answers SOAP 1.1 POSTs at ``/ccx/service/{tenant}/Recruiting/{version}`` with the element names and
shapes the connector expects (``docs/workday.md``):

* **auth**: a WS-Security UsernameToken (``user@tenant``, PasswordText) or an OAuth bearer token from
  ``POST /ccx/oauth2/{tenant}/token`` (refresh-token grant, optional refresh-token rotation);
* **operations**: Get_Candidates (Request_References or Request_Criteria with
  Transaction_Log_Criteria_Data, Candidate_Email_Address, Applied_From/Through, Created_From/Through,
  Candidate_Tag_Reference), Get_Job_Requisitions, Put_Candidate (create, or update with a *replacing*
  tag list; missing or inactive tags are validation faults; ``Job_Application_Data`` applies the person
  to a requisition), Put_Candidate_Attachment (on the candidate or, with Job_Application_Attachment_Data,
  on one of its job applications; stored and listed back inline by Get_Candidates when attachments are
  not excluded), Create_Job_Requisition (root ``Create_Requisition_Request``; a given Job_Requisition_ID
  must be unique; unknown organisations, reasons, profiles, locations, worker and time types are
  validation faults with an Xpath), Post_Job and Get_Job_Postings (only an *Open* requisition can be
  posted, once per site), and Move_Candidate;
* **paging**: Response_Filter Page/Count (1..999) with ``As_Of_Entry_DateTime`` honoured (later records
  and transaction-log entries are invisible), Response_Results with Total_Results/Total_Pages;
* **faults**: SOAP 1.1 ``Fault`` with ``faultcode``/``faultstring`` and a ``detail`` holding
  ``wd:Validation_Fault`` (Message, Detail_Message, Xpath) or ``wd:Processing_Fault``, HTTP 500;
* a tenant **version cap** (a request above ``max_version`` is refused the way tenants refuse it), a
  switch that makes the tenant refuse the transaction-log criterion, injected latency, a fixed-window
  rate limit (429 + Retry-After) and injected faults (429, Processing_Fault 500, 503, dropped connection)
  that happen **before** a request has any effect;
* ``/_sandbox/...`` admin endpoints: ``config`` (GET/POST), ``stats``, ``health``, ``expire_tokens``,
  ``candidates/{wid}``, ``requisitions/{id}`` (GET, and POST ``{"status": "Open"}`` to finish an approval).

Requisitions created without ``Auto_Complete`` wait in status *Awaiting Approval* (the tenant's approval
process); candidates can be applied to them, but they cannot be posted until they are Open.

One liberty, for the matching tests: a v46 ``Contact_Data`` carries one ``Email_Address``; the sandbox
repeats the element for people with several addresses (the connector reads both shapes).

Data lives in one SQLite file (WAL) and survives restarts.  Run it with
``python -m syncbridge.connectors.workday.sandbox serve --db PATH``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import hashlib
import json
import math
import random
import secrets
import sqlite3
import threading
import time
import unicodedata
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as _safe_fromstring
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from syncbridge.plugins import Sandbox
from syncbridge.sandbox.server import ThreadedSandbox, drop_connection, send_bytes, serve_forever

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_DOCUMENT_CATEGORY",
    "DEFAULT_MAX_VERSION",
    "DEFAULT_PASSWORD",
    "DEFAULT_REFRESH_TOKEN",
    "DEFAULT_TENANT",
    "DEFAULT_USERNAME",
    "DEFAULT_VERSION",
    "DEMO_ENV",
    "SandboxServer",
    "create_app",
    "demo_connector_block",
    "demo_conversion_rule",
    "demo_people",
    "history_snapshot",
    "main",
    "seed",
]

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

#: env names the demo config refers to → the sandbox credentials
DEMO_ENV: dict[str, str] = {
    "SB_DEMO_WD_USERNAME": DEFAULT_USERNAME,
    "SB_DEMO_WD_PASSWORD": DEFAULT_PASSWORD,
}

WD_NS = "urn:com.workday/bsvc"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
MIN_SIZE, MAX_SIZE = 20, 1_000_000
MAX_COUNT = 999
VERSION_INVALID = "The web service or version is invalid for the requested operation."

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


# --------------------------------------------------------------------------------------------------------
# time: stored as fixed-width UTC text so that SQLite compares it correctly


def _ts(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _now() -> str:
    return _ts(datetime.now(UTC))


def _out_ts(stored: str) -> str:
    """Stored text → what the sandbox sends (ISO with an explicit offset, milliseconds)."""
    return stored[:23] + "+00:00"


def _parse_dt(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _parse_date(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text.strip()[:10])
    except ValueError:
        return None


def _version_tuple(version: str) -> tuple[int, int] | None:
    if not version.startswith("v"):
        return None
    major, _, minor = version[1:].partition(".")
    if not major.isdigit() or (minor and not minor.isdigit()):
        return None
    return int(major), int(minor or 0)


# --------------------------------------------------------------------------------------------------------
# faults


class _Fault(Exception):
    """A SOAP fault the handler answers with (HTTP 500 unless told otherwise)."""

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        xpath: str | None = None,
        detail: str | None = None,
        code: str | None = None,
        status: int = 500,
    ) -> None:
        super().__init__(message)
        self.kind, self.message, self.xpath, self.detail, self.code = kind, message, xpath, detail, code
        self.status = status


def _validation(message: str, xpath: str | None = None, detail: str | None = None) -> _Fault:
    return _Fault("validation", message, xpath=xpath, detail=detail)


def _invalid_id(value: str, id_type: str, xpath: str) -> _Fault:
    return _validation(f"Invalid ID value.  '{value}' is not a valid ID value for type = '{id_type}'", xpath)


def _fault_xml(fault: _Fault) -> str:
    if fault.kind == "validation":
        code, string = "SOAP-ENV:Client.validationError", f"Validation error occurred. {fault.message}"
        inner = _t("Message", fault.message) + _t("Detail_Message", fault.detail or fault.message)
        if fault.xpath:
            inner += _t("Xpath", fault.xpath)
        if fault.code:
            inner += _t("Code", fault.code)
        detail = (
            f"<detail><wd:Validation_Fault><wd:Validation_Error>{inner}</wd:Validation_Error>"
            "</wd:Validation_Fault></detail>"
        )
    elif fault.kind == "processing":
        code, string = "SOAP-ENV:Client.processingError", f"Processing error occurred. {fault.message}"
        inner = _t("Detail_Message", fault.message) + (_t("Code", fault.code) if fault.code else "")
        detail = f"<detail><wd:Processing_Fault>{inner}</wd:Processing_Fault></detail>"
    else:
        code, string, detail = "SOAP-ENV:Client.authenticationError", fault.message, ""
    return (
        f'<SOAP-ENV:Fault xmlns:SOAP-ENV="{SOAP_NS}" xmlns:wd="{WD_NS}"><faultcode>{code}</faultcode>'
        f"<faultstring>{_esc(string)}</faultstring>{detail}</SOAP-ENV:Fault>"
    )


def _envelope(inner: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="{SOAP_NS}">'
        f"<env:Body>{inner}</env:Body></env:Envelope>"
    ).encode()


# --------------------------------------------------------------------------------------------------------
# XML output helpers (string building: the responses are large and simple)


def _esc(value: str) -> str:
    """XML text escaping (faster than ``saxutils.escape`` on large pages)."""
    if "&" in value:
        value = value.replace("&", "&amp;")
    if "<" in value:
        value = value.replace("<", "&lt;")
    if ">" in value:
        value = value.replace(">", "&gt;")
    return value


def _attr(value: str) -> str:
    value = _esc(value)
    return value.replace('"', "&quot;") if '"' in value else value


def _t(name: str, value: Any) -> str:
    """A leaf element; ``None`` gives nothing."""
    if value is None:
        return ""
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"<wd:{name}>{_esc(str(value))}</wd:{name}>"


def _e(name: str, inner: str, descriptor: str | None = None) -> str:
    attrs = f' wd:Descriptor="{_attr(descriptor)}"' if descriptor else ""
    return f"<wd:{name}{attrs}>{inner}</wd:{name}>"


def _ref(name: str, ids: Sequence[tuple[str, str]], descriptor: str | None = None) -> str:
    inner = "".join(f'<wd:ID wd:type="{_attr(t)}">{_esc(v)}</wd:ID>' for t, v in ids if v)
    return _e(name, inner, descriptor)


# --------------------------------------------------------------------------------------------------------
# XML input helpers (requests are parsed with defusedxml: the sandbox is a server too)


def _l(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _kid(el: ET.Element | None, name: str) -> ET.Element | None:
    if el is None:
        return None
    return next((c for c in el if _l(c.tag) == name), None)


def _kids(el: ET.Element | None, name: str) -> list[ET.Element]:
    return [] if el is None else [c for c in el if _l(c.tag) == name]


def _txt(el: ET.Element | None, name: str) -> str | None:
    c = _kid(el, name)
    if c is None or c.text is None:
        return None
    return c.text.strip() or None


def _ids(el: ET.Element | None) -> list[tuple[str, str]]:
    out = []
    for c in _kids(el, "ID"):
        kind = next((v for k, v in c.attrib.items() if _l(k) == "type"), "")
        if c.text and c.text.strip():
            out.append((kind, c.text.strip()))
    return out


def _attr_of(el: ET.Element, name: str) -> str | None:
    return next((v for k, v in el.attrib.items() if _l(k) == name), None)


def _bool_text(value: str | None, default: bool = False) -> bool:
    if value is None:
        return default
    return value.strip().lower() in ("true", "1")


# --------------------------------------------------------------------------------------------------------
# storage

SCHEMA = [
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)",
    """CREATE TABLE IF NOT EXISTS candidates (
        pk INTEGER PRIMARY KEY, wid TEXT NOT NULL UNIQUE, candidate_id TEXT NOT NULL UNIQUE,
        first_name TEXT, last_name TEXT, phone TEXT, phone_code TEXT, city TEXT, country TEXT,
        prospect INTEGER NOT NULL DEFAULT 0, do_not_hire INTEGER NOT NULL DEFAULT 0,
        withdrawn INTEGER NOT NULL DEFAULT 0, source TEXT, origin TEXT NOT NULL DEFAULT 'seed',
        touched INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
        prospect_status TEXT)""",
    "CREATE INDEX IF NOT EXISTS ix_candidates_created ON candidates(created_at)",
    """CREATE TABLE IF NOT EXISTS candidate_emails (
        email_lc TEXT NOT NULL, raw TEXT NOT NULL, cand_pk INTEGER NOT NULL, position INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS ix_emails_email ON candidate_emails(email_lc)",
    "CREATE INDEX IF NOT EXISTS ix_emails_cand ON candidate_emails(cand_pk)",
    """CREATE TABLE IF NOT EXISTS tags (
        pk INTEGER PRIMARY KEY, wid TEXT NOT NULL UNIQUE, tag_id TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
        active INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS candidate_tags (
        cand_pk INTEGER NOT NULL, tag_pk INTEGER NOT NULL, position INTEGER NOT NULL,
        PRIMARY KEY (cand_pk, tag_pk))""",
    """CREATE TABLE IF NOT EXISTS requisitions (
        pk INTEGER PRIMARY KEY, wid TEXT NOT NULL UNIQUE, req_id TEXT NOT NULL UNIQUE, title TEXT NOT NULL,
        status TEXT NOT NULL, allocated INTEGER NOT NULL, available INTEGER NOT NULL, description TEXT,
        org_id TEXT, location_id TEXT, start_date TEXT, target_hire_date TEXT, confidential INTEGER NOT NULL
        DEFAULT 0, origin TEXT NOT NULL DEFAULT 'seed', created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL, job_profile TEXT, worker_type TEXT, time_type TEXT, justification TEXT,
        reason TEXT)""",
    """CREATE TABLE IF NOT EXISTS applications (
        pk INTEGER PRIMARY KEY, wid TEXT NOT NULL UNIQUE, app_id TEXT NOT NULL UNIQUE,
        cand_pk INTEGER NOT NULL,
        req_pk INTEGER NOT NULL, applied_at TEXT NOT NULL, stage TEXT NOT NULL, disposition TEXT,
        source TEXT, status_at TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS ix_apps_cand ON applications(cand_pk)",
    "CREATE INDEX IF NOT EXISTS ix_apps_applied ON applications(applied_at)",
    """CREATE TABLE IF NOT EXISTS attachments (
        pk INTEGER PRIMARY KEY, wid TEXT NOT NULL UNIQUE, cand_pk INTEGER NOT NULL, filename TEXT NOT NULL,
        content BLOB NOT NULL, comment TEXT, category TEXT NOT NULL, mime TEXT, origin TEXT NOT NULL
        DEFAULT 'seed', created_at TEXT NOT NULL, app_pk INTEGER)""",
    "CREATE INDEX IF NOT EXISTS ix_attachments_cand ON attachments(cand_pk)",
    """CREATE TABLE IF NOT EXISTS job_postings (
        pk INTEGER PRIMARY KEY, wid TEXT NOT NULL UNIQUE, posting_id TEXT NOT NULL UNIQUE,
        req_pk INTEGER NOT NULL, site TEXT NOT NULL, start_date TEXT NOT NULL, end_date TEXT,
        primary_posting INTEGER NOT NULL DEFAULT 0, active INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS ix_postings_req ON job_postings(req_pk)",
    "CREATE TABLE IF NOT EXISTS tx_log (kind TEXT NOT NULL, rec_pk INTEGER NOT NULL, at TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS ix_tx_kind_at ON tx_log(kind, at)",
    """CREATE TABLE IF NOT EXISTS events (
        pk INTEGER PRIMARY KEY, wid TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, at TEXT NOT NULL,
        detail TEXT)""",
    """CREATE TABLE IF NOT EXISTS refresh_tokens (
        token TEXT PRIMARY KEY, active INTEGER NOT NULL, created_at TEXT NOT NULL)""",
]


def _connect(db_path: str | Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(db_path), isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


#: columns added after the first release: (table, column, declaration), added to older files on open
MIGRATIONS = [
    ("requisitions", "job_profile", "TEXT"),
    ("requisitions", "worker_type", "TEXT"),
    ("requisitions", "time_type", "TEXT"),
    ("requisitions", "justification", "TEXT"),
    ("requisitions", "reason", "TEXT"),
    ("attachments", "app_pk", "INTEGER"),
]


def _ensure_schema(conn: sqlite3.Connection) -> None:
    for stmt in SCHEMA:
        conn.execute(stmt)
    for table, column, decl in MIGRATIONS:
        have = {row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')}
        if column not in have:
            conn.execute(f'ALTER TABLE "{table}" ADD COLUMN {column} {decl}')
    conn.execute("CREATE INDEX IF NOT EXISTS ix_attachments_app ON attachments(app_pk)")
    conn.execute(
        "INSERT OR IGNORE INTO refresh_tokens(token, active, created_at) VALUES (?, 1, ?)",
        (DEFAULT_REFRESH_TOKEN, _now()),
    )


def _drop_all(conn: sqlite3.Connection) -> None:
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
        if not name.startswith("sqlite_"):
            conn.execute(f'DROP TABLE IF EXISTS "{name}"')


def _wid(seed_value: int | str, kind: str, n: int | str) -> str:
    """A deterministic 32-hex Workday ID."""
    return hashlib.md5(f"wd-sandbox:{seed_value}:{kind}:{n}".encode()).hexdigest()


# --------------------------------------------------------------------------------------------------------
# reference data

# fmt: off
FIRST_NAMES = [
    ("Ada", "ada"), ("Émilie", "emilie"), ("Kofi", "kofi"), ("Ines", "ines"), ("Matías", "matias"),
    ("Saoirse", "saoirse"), ("Nikolaj", "nikolaj"), ("Zofia", "zofia"), ("Aarav", "aarav"), ("Mei", "mei"),
    ("陽菜", "hina"), ("蓮", "ren"), ("지우", "jiwoo"), ("Алексей", "aleksei"), ("Мария", "mariya"),
    ("Chidera", "chidera"), ("Thandiwe", "thandiwe"), ("Björk", "bjork"), ("Þórunn", "thorunn"),
    ("Ørjan", "orjan"), ("Renée", "renee"), ("José Luis", "joseluis"), ("Anne-Sophie", "annesophie"),
    ("Rahul", "rahul"), ("Fatou", "fatou"), ("Yusuf", "yusuf"), ("Leilani", "leilani"), ("Tomasz", "tomasz"),
    ("Grace", "grace"), ("Oliver", "oliver"), ("Amelia", "amelia"), ("Lucas", "lucas"), ("Chloé", "chloe"),
    ("Niamh", "niamh"), ("Dao", "dao"), ("Minh", "minh"), ("Hüseyin", "huseyin"), ("Ayşe", "ayse"),
    ("Sven", "sven"), ("Priyanka", "priyanka"), ("Kwabena", "kwabena"), ("Valentina", "valentina"),
]
LAST_NAMES = [
    ("Okonkwo", "okonkwo"), ("Ó Briain", "obriain"), ("Nuñez", "nunez"), ("Schäfer", "schafer"),
    ("Lindqvist", "lindqvist"), ("Wiśniewska", "wisniewska"), ("Трофимов", "trofimov"),
    ("Соколова", "sokolova"),
    ("高橋", "takahashi"), ("田中", "tanaka"), ("陈", "chen"), ("박", "park"), ("Nguyễn", "nguyen"),
    ("da Silva", "dasilva"), ("van Dijk", "vandijk"), ("Al-Mansouri", "almansouri"), ("O'Connor", "oconnor"),
    ("Martin-Lefebvre", "martinlefebvre"), ("Østby", "ostby"), ("Smith", "smith"), ("Jones", "jones"),
    ("Garcia", "garcia"), ("Mensah", "mensah"), ("Banerjee", "banerjee"), ("Kaya", "kaya"),
    ("Rossi", "rossi"),
    ("Haddad", "haddad"), ("Kowalczyk", "kowalczyk"), ("Andersen", "andersen"), ("Dubois", "dubois"),
    ("MacLeod", "macleod"), ("Yamamoto", "yamamoto"), ("Ivanova", "ivanova"), ("Popescu", "popescu"),
]
PERSONAL_DOMAINS = ["gmail.com", "outlook.com", "yahoo.co.uk", "proton.me", "icloud.com", "gmx.net",
                    "yandex.ru", "naver.com", "web.de", "hotmail.fr"]
SCHOOL_DOMAINS = ["student.uni-example.edu", "alumni.tech-example.ac.uk", "campus.example.ac.jp",
                  "mail.polytechnic-example.fr"]
WORK_DOMAINS = ["acme.example", "globex.example", "initrode.example", "soylent.example"]
CITIES = [("Leeds", "GBR", "+44"), ("Lagos", "NGA", "+234"), ("Lyon", "FRA", "+33"), ("Kraków", "POL", "+48"),
          ("Osaka", "JPN", "+81"), ("Austin", "USA", "+1"), ("São Paulo", "BRA", "+55"),
          ("Pune", "IND", "+91"),
          ("Toronto", "CAN", "+1"), ("Berlin", "DEU", "+49")]
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
    ("Product Designer", "Open", "SUP-DESIGN", "REMOTE", 1, 1), ("Site Reliability Engineer", "Open",
    "SUP-ENG", "AUS", 1, 1), ("Operations Associate", "Filled", "SUP-OPS", "LDS", 1, 0),
    ("People Partner", "Closed", "SUP-PEOPLE", "BER", 1, 0), ("Machine Learning Engineer", "Open",
    "SUP-DATA", "REMOTE", 3, 2), ("Graduate Software Engineer", "Open", "SUP-ENG", "LDS", 5, 4),
    ("UX Researcher", "Frozen", "SUP-DESIGN", "BER", 1, 1), ("Analytics Engineer", "Open", "SUP-DATA",
    "AUS", 1, 1), ("Customer Operations Lead", "Open", "SUP-OPS", "REMOTE", 1, 1),
    ("Talent Coordinator", "Closed", "SUP-PEOPLE", "LDS", 1, 0),
]
# Document_Category__Workday_Owned__ID → (name, the ISU may use it)
DOCUMENT_CATEGORIES = {
    "OTHER_DOCUMENTS": ("Other Documents", True),
    "CANDIDATE_RESUME_AND_COVER_LETTER": ("Resume and Cover Letter", True),
    "CONFIDENTIAL_REFERENCE_CHECKS": ("Confidential Reference Checks", False),
}
# fmt: on

SEED_ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
SEED_SPAN = timedelta(days=730)
APPLICATION_CAP = 100_000


def _seed_anchor() -> datetime:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return min(SEED_ANCHOR, today - timedelta(days=1))


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def _messy(rng: random.Random, email: str) -> str:
    """Real ATS data: some addresses are capitalised or padded."""
    roll = rng.random()
    if roll < 0.03:
        email = email[:1].upper() + email[1:]
    elif roll < 0.05:
        email = email.upper()
    if rng.random() < 0.02:
        email = " " + email + " "
    return email


def _phone(rng: random.Random) -> str:
    return f"{rng.randrange(200, 999)} {rng.randrange(100, 999)} {rng.randrange(1000, 9999)}"


def _spread(rng: random.Random, start: datetime, end: datetime) -> datetime:
    return start + timedelta(seconds=rng.random() * max(0.0, (end - start).total_seconds()))


def seed(db_path: str | Path, size: int = 200, seed: int = 7, *, reset: bool = False) -> None:
    """Create the schema and deterministic data for ``(size, seed)``; a no-op when already seeded
    (use ``reset=True`` to start again).  ``size`` candidates, 20..1,000,000."""
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size must be between {MIN_SIZE} and {MAX_SIZE:,}")
    path = Path(db_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = _connect(path)
    try:
        if reset:
            _drop_all(conn)
        _ensure_schema(conn)
        if conn.execute("SELECT value FROM meta WHERE key = 'seeded'").fetchone():
            return
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("BEGIN IMMEDIATE")
        try:
            _seed_all(conn, size, seed)
            conn.execute(
                "INSERT INTO meta(key, value) VALUES ('seeded', ?)",
                (json.dumps({"size": size, "seed": seed, "at": _now()}),),
            )
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('seed', ?)", (str(seed),))
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
    start = anchor - SEED_SPAN
    rng = random.Random(f"wd-sandbox:{seed_value}:reference")
    conn.executemany(
        "INSERT INTO tags(pk, wid, tag_id, name, active) VALUES (?, ?, ?, ?, ?)",
        [
            (k, _wid(seed_value, "tag", k), tid, name, int(active))
            for k, (tid, name, active) in enumerate(TAGS, 1)
        ],
    )
    req_rows = []
    for k, (title, status, org, loc, alloc, avail) in enumerate(REQUISITIONS, 1):
        created = _spread(rng, start - timedelta(days=120), start + SEED_SPAN / 2)
        updated = _spread(rng, created, anchor)
        req_rows.append(
            (
                k,
                _wid(seed_value, "requisition", k),
                f"R-{k:05d}",
                title,
                status,
                alloc,
                avail,
                f"<p>{title}: join the {ORGS[org]} team.</p>",
                org,
                loc,
                created.date().isoformat(),
                (created + timedelta(days=60)).date().isoformat(),
                _ts(created),
                _ts(updated),
            )
        )
    conn.executemany(
        "INSERT INTO requisitions(pk, wid, req_id, title, status, allocated, available, description, org_id, "
        "location_id, start_date, target_hire_date, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        req_rows,
    )
    conn.executemany(
        "INSERT INTO tx_log(kind, rec_pk, at) VALUES ('requisition', ?, ?)",
        [(r[0], r[12]) for r in req_rows] + [(r[0], r[13]) for r in req_rows if r[13] != r[12]],
    )
    open_reqs = [r for r in req_rows if r[4] in ("Open", "Filled", "Frozen")]

    rng = random.Random(f"wd-sandbox:{seed_value}:candidates")
    span = SEED_SPAN.total_seconds()
    forced_share = max(12, size // 2)
    recent: list[str] = []
    shared: set[str] = set()
    cands: list[tuple[Any, ...]] = []
    emails: list[tuple[str, str, int, int]] = []
    tags: list[tuple[int, int, int]] = []
    apps: list[tuple[Any, ...]] = []
    atts: list[tuple[Any, ...]] = []
    txs: list[tuple[int, str]] = []
    app_count = 0

    def flush() -> None:
        conn.executemany(
            "INSERT INTO candidates(pk, wid, candidate_id, first_name, last_name, phone, phone_code, city, "
            "country, prospect, do_not_hire, withdrawn, source, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            cands,
        )
        conn.executemany(
            "INSERT INTO candidate_emails(email_lc, raw, cand_pk, position) VALUES (?, ?, ?, ?)", emails
        )
        conn.executemany("INSERT INTO candidate_tags(cand_pk, tag_pk, position) VALUES (?, ?, ?)", tags)
        conn.executemany(
            "INSERT INTO applications(pk, wid, app_id, cand_pk, req_pk, applied_at, stage, disposition, "
            "source, "
            "status_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            apps,
        )
        conn.executemany(
            "INSERT INTO attachments(pk, wid, cand_pk, filename, content, comment, category, mime, "
            "created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            atts,
        )
        conn.executemany("INSERT INTO tx_log(kind, rec_pk, at) VALUES ('candidate', ?, ?)", txs)
        for rows in (cands, emails, tags, apps, atts, txs):
            rows.clear()

    for i in range(1, size + 1):
        created = start + timedelta(seconds=span * (i - 1 + rng.random()) / size)
        updated = created if rng.random() < 0.7 else _spread(rng, created, anchor)
        first, first_a = rng.choice(FIRST_NAMES)
        last, last_a = rng.choice(LAST_NAMES)
        first_out: str | None = first if rng.random() > 0.01 else None  # mononyms happen
        city, country, code = rng.choice(CITIES)
        roll = rng.random()
        n_emails = 0 if roll < 0.04 else 1 if roll < 0.78 else 2 if roll < 0.95 else 3
        domains = rng.sample(
            [rng.choice(PERSONAL_DOMAINS), rng.choice(SCHOOL_DOMAINS), rng.choice(WORK_DOMAINS)], 3
        )
        addresses = []
        for k in range(n_emails):
            local = [f"{first_a}.{last_a}{i}", f"{first_a[:1]}{last_a}.{i}", f"{last_a}_{first_a}{i}"][k]
            addresses.append(_messy(rng, f"{local}@{domains[k]}"))
        if i > 10 and recent and (rng.random() < 0.01 or i == forced_share):
            borrowed = rng.choice(recent)
            if borrowed.strip().lower() not in shared:
                shared.add(borrowed.strip().lower())
                addresses.insert(1 if addresses and rng.random() < 0.5 else 0, borrowed)
        if addresses:
            recent.append(addresses[0])
            del recent[:-300]
        for pos, raw in enumerate(addresses):
            emails.append((raw.strip().lower(), raw, i, pos))
        has_phone = rng.random() < 0.7
        prospect = rng.random() < 0.35
        source = rng.choice(SOURCES) if rng.random() < 0.8 else None
        cands.append(
            (
                i,
                _wid(seed_value, "candidate", i),
                f"C{i:07d}",
                first_out,
                last,
                _phone(rng) if has_phone else None,
                code if has_phone and rng.random() < 0.8 else None,
                city if rng.random() < 0.6 else None,
                country,
                int(prospect),
                int(rng.random() < 0.01),
                int(rng.random() < 0.03),
                source,
                _ts(created),
                _ts(updated),
            )
        )
        txs.append((i, _ts(created)))
        if updated != created:
            txs.append((i, _ts(updated)))
        if rng.random() < 0.15:
            for pos, tag_pk in enumerate(sorted(rng.sample(range(3, 7), rng.choice([1, 1, 2]))), 1):
                tags.append((i, tag_pk, pos))
        elif rng.random() < 0.01:
            tags.append((i, len(TAGS), 1))  # the inactive legacy tag, still on old records
        if not prospect and app_count < APPLICATION_CAP:
            for req in rng.sample(open_reqs, rng.choice([1, 1, 2])):
                app_count += 1
                applied = _spread(rng, created, anchor)
                stage = rng.choice(STAGES[:6])
                disp = rng.choice(list(DISPOSITIONS)) if rng.random() < 0.2 else None
                apps.append(
                    (
                        app_count,
                        _wid(seed_value, "application", app_count),
                        f"JA-{app_count:07d}",
                        i,
                        req[0],
                        _ts(applied),
                        stage,
                        disp,
                        source,
                        _ts(_spread(rng, applied, anchor)),
                    )
                )
        if rng.random() < 0.05:
            text = f"Résumé of {first} {last}\nSkills: Python, SQL\n"
            atts.append(
                (
                    None,
                    _wid(seed_value, "attachment", i),
                    i,
                    f"resume-{i}.txt",
                    text.encode(),
                    "Uploaded by the candidate",
                    "CANDIDATE_RESUME_AND_COVER_LETTER",
                    "text/plain",
                    _ts(created),
                )
            )
        if len(cands) >= 5000:
            flush()
    flush()


# --------------------------------------------------------------------------------------------------------
# demo people and snapshots


def demo_people(db_path: str | Path, n: int = 12, seed: int = 7) -> list[dict[str, Any]]:
    """Deterministic people for a demo outcomes file: ``n - 4`` matched by their primary e-mail, one by
    a secondary e-mail, one by an e-mail two people share (ambiguous) and two nobody has (unmatched)."""
    conn = sqlite3.connect(str(db_path))
    try:
        rng = random.Random(f"wd-sandbox-demo:{seed}")
        window = 5000
        counts = dict(
            conn.execute(
                "SELECT email_lc, COUNT(DISTINCT cand_pk) FROM candidate_emails WHERE email_lc IN "
                "(SELECT email_lc FROM candidate_emails WHERE cand_pk <= ?) GROUP BY email_lc",
                (window,),
            ).fetchall()
        )
        rows = conn.execute(
            "SELECT e.email_lc, e.raw, e.cand_pk, e.position, c.first_name, c.last_name "
            "FROM candidate_emails e "
            "JOIN candidates c ON c.pk = e.cand_pk WHERE e.cand_pk <= ? AND c.origin = 'seed' "
            "ORDER BY e.cand_pk, e.position",
            (window,),
        ).fetchall()
        people = {r[2]: (r[4], r[5]) for r in rows}
        primary = [r for r in rows if r[3] == 0 and counts.get(r[0]) == 1 and r[4]]
        secondary = [r for r in rows if r[3] > 0 and counts.get(r[0]) == 1 and r[4]]
        ambiguous = sorted({r[0] for r in rows if counts.get(r[0]) == 2})

        def person(row: tuple[Any, ...], kind: str) -> dict[str, Any]:
            first, last = people[row[2]]
            return {
                "email": str(row[1]).strip(),
                "first_name": first or "Alex",
                "last_name": last,
                "kind": kind,
            }

        used: set[int] = set()
        out: list[dict[str, Any]] = []
        want = max(n - 4, 0)
        for row in rng.sample(primary, len(primary)):
            if len(out) >= want:
                break
            if row[2] not in used:
                used.add(row[2])
                out.append(person(row, "primary"))
        for row in rng.sample(secondary, len(secondary)):
            if row[2] not in used:
                used.add(row[2])
                out.append(person(row, "secondary"))
                break
        for email in rng.sample(ambiguous, len(ambiguous)):
            owners = [
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT cand_pk FROM candidate_emails WHERE email_lc = ? ORDER BY cand_pk",
                    (email,),
                )
            ]
            if used.intersection(owners):
                continue
            used.update(owners)
            row = next(r for r in rows if r[0] == email and r[2] == owners[0])
            out.append(person(row, "ambiguous"))
            break
        made_up = [
            ("Imogen", "Achterberg"),
            ("Bartholomew", "Nkemelu"),
            ("Solveig", "Quispe"),
            ("Rafferty", "Oyelaran"),
        ]
        offset = rng.randrange(len(made_up))
        for k in range(2):
            first, last = made_up[(k + offset) % len(made_up)]
            email = f"{first.lower()}.{_ascii(last)}.{rng.randrange(1000, 9999)}@nobody-here.example"
            if conn.execute("SELECT 1 FROM candidate_emails WHERE email_lc = ?", (email,)).fetchone():
                continue
            out.append({"email": email, "first_name": first, "last_name": last, "kind": "unmatched"})
        return out
    finally:
        conn.close()


def history_snapshot(db_path: str | Path) -> dict[str, list[dict[str, Any]]]:
    """What the API changed, per e-mail: for every person written to (tags set, attachments added or
    created through the API), their tag ids and the comments and contents of API-written attachments.
    Ids and timestamps are left out, so two identically seeded sandboxes can be compared."""
    conn = sqlite3.connect(str(db_path))
    try:
        touched = conn.execute(
            "SELECT pk FROM candidates WHERE touched = 1 OR origin = 'api' "
            "UNION SELECT cand_pk FROM attachments WHERE origin = 'api'"
        ).fetchall()
        out: dict[str, list[dict[str, Any]]] = {}
        for (pk,) in touched:
            addresses = [
                r[0]
                for r in conn.execute(
                    "SELECT email_lc FROM candidate_emails WHERE cand_pk = ? ORDER BY position", (pk,)
                )
            ]
            tag_ids = sorted(
                r[0]
                for r in conn.execute(
                    "SELECT t.tag_id FROM candidate_tags ct JOIN tags t ON t.pk = ct.tag_pk "
                    "WHERE ct.cand_pk = ?",
                    (pk,),
                )
            )
            notes = sorted(
                (r[0] or "", bytes(r[1]).decode("utf-8", "replace"))
                for r in conn.execute(
                    "SELECT comment, content FROM attachments WHERE cand_pk = ? AND origin = 'api'", (pk,)
                )
            )
            state = {"tags": tag_ids, "attachments": [list(n) for n in notes]}
            key = addresses[0] if addresses else f"(no e-mail #{pk})"
            out.setdefault(key, []).append(state)
        for states in out.values():
            states.sort(key=lambda s: json.dumps(s, sort_keys=True))
        return out
    finally:
        conn.close()


def demo_connector_block(base_url: str) -> dict[str, Any]:
    """The YAML connector block the demo uses against a sandbox at ``base_url`` (every setting spelled
    out; secrets as ``${ENV}`` references, see :data:`DEMO_ENV`)."""
    return {
        "type": "workday",
        "host": base_url.rstrip("/"),
        "tenant": DEFAULT_TENANT,
        "version": DEFAULT_VERSION,
        "username": "${SB_DEMO_WD_USERNAME}",
        "password": "${SB_DEMO_WD_PASSWORD}",
        "document_category": DEFAULT_DOCUMENT_CATEGORY,
        "document_category_id_type": DOCUMENT_CATEGORY_TYPE,
        "tag_ids": {"micro-intern": "MICRO_INTERN", "micro-intern-sourced": "MICRO_INTERN_SOURCED"},
        "tag_id_type": TAG_ID_TYPE,
        "application_stage": "Review",
        "move_to_step": "Screen",
        "lag_minutes": 60,
        "lookback_minutes": 10,
        "page_size": 100,
        "requests_per_second": 50.0,
        "connect_timeout": 5.0,
        "read_timeout": 60.0,
        "max_attempts": 5,
    }


def demo_conversion_rule(employer: str) -> dict[str, Any]:
    """The demo's conversion rule for this sandbox: a strong micro-intern gets a job requisition per team
    and role in the seeded Data & Analytics organisation (its approval process left to run), and is
    applied to it, moved on to the Screen step, with the prescreen summary on the job application."""
    return {
        "name": "strong-intern-workday",
        "when": {"employer": employer, "min_rating": 4.5, "would_hire": True},
        "requisition": {
            "title": "{project.role_title}",
            "code": "MI-{project.team}-{project.role_title}",
            "options": {
                "supervisory_organization": "SUP-DATA",
                "reason": "INTERN_CONVERSION",
                "job_profile": "JP-GRADUATE",
                "location": "REMOTE",
                "worker_type": "Employee",
                "time_type": "Full_time",
                "target_hire_days": 60,
            },
        },
        "prescreen": {
            "fields": {
                "mi_prescreen_score": "prescreen.score",
                "mi_supervisor": "project.supervisor.name",
            },
            "stage": "Review",
        },
    }


# --------------------------------------------------------------------------------------------------------
# runtime state


@dataclass
class _Config:
    tenant: str
    max_version: str
    transaction_log: bool
    rate_limit: int
    rate_window: float
    latency_ms: float
    fault_rate: float
    fault_seed: int
    token_ttl: int
    rotate_refresh_tokens: bool


class _RateLimit:
    """A fixed window: at most ``limit`` requests per ``window`` seconds (0 = unlimited)."""

    def __init__(self, limit: int, window: float) -> None:
        self.configure(limit, window)

    def configure(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window if window > 0 else 60.0
        self._start, self._count = -1.0, 0

    def hit(self) -> int | None:
        """Count one request; seconds to wait when over the limit, else ``None``."""
        if self.limit <= 0:
            return None
        now = time.time()
        start = math.floor(now / self.window) * self.window
        if start != self._start:
            self._start, self._count = start, 0
        self._count += 1
        if self._count > self.limit:
            return max(1, math.ceil(start + self.window - now))
        return None


async def _plain(
    send: Send,
    status: int,
    body: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
    content_type: bytes = b"text/plain; charset=utf-8",
) -> None:
    await send_bytes(send, status, body, headers, content_type)


class _Tenant:
    """Everything behind one app: the SQLite file, the config, tokens, counters and the operations."""

    def __init__(
        self,
        db_path: str | Path,
        config: _Config,
        *,
        username: str,
        password: str,
        client_id: str,
        client_secret: str,
    ) -> None:
        self.path = Path(db_path)
        self.conn = _connect(self.path)
        self.lock = threading.RLock()
        with self.lock:
            _ensure_schema(self.conn)
            row = self.conn.execute("SELECT value FROM meta WHERE key = 'seed'").fetchone()
        self.seed_value = row[0] if row else "unseeded"
        self.config = config
        self.username, self.password = username, password
        self.client_id, self.client_secret = client_id, client_secret
        self.limiter = _RateLimit(config.rate_limit, config.rate_window)
        self.fault_rng = random.Random(config.fault_seed)
        self.access_tokens: dict[str, float] = {}
        self.counters: dict[str, int] = {
            "requests": 0,
            "faults": 0,
            "rate_limited": 0,
            "soap_faults": 0,
            "auth_failures": 0,
            "attachments_written": 0,
            "candidates_created": 0,
            "tag_updates": 0,
            "requisitions_created": 0,
            "applications_created": 0,
            "application_attachments_written": 0,
            "jobs_posted": 0,
            "moves": 0,
            "tokens_issued": 0,
        }
        self.ops: dict[str, int] = {}
        self._walks: dict[tuple[Any, ...], dict[str, Any]] = {}

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

    def q(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.lock:
            return self.conn.execute(sql, tuple(args)).fetchall()

    # ---- config and stats
    _TYPES: dict[str, type] = {
        "max_version": str,
        "transaction_log": bool,
        "rate_limit": int,
        "rate_window": float,
        "latency_ms": float,
        "fault_rate": float,
        "fault_seed": int,
        "token_ttl": int,
        "rotate_refresh_tokens": bool,
    }

    def reconfigure(self, changes: dict[str, Any]) -> dict[str, Any]:
        for key, value in changes.items():
            kind = self._TYPES.get(key)
            if kind is None:
                raise ValueError(f"{key}: not a sandbox setting (one of {', '.join(sorted(self._TYPES))})")
            if kind is bool:
                if not isinstance(value, bool):
                    raise ValueError(f"{key}: must be true or false")
            elif kind is str:
                if not isinstance(value, str) or _version_tuple(value) is None:
                    raise ValueError(f"{key}: must look like v46.0")
            elif (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or value < 0
                or (key == "fault_rate" and value > 1)
            ):
                raise ValueError(f"{key}: out of range")
        for key, value in changes.items():
            setattr(self.config, key, self._TYPES[key](value))
        if "rate_limit" in changes or "rate_window" in changes:
            self.limiter.configure(self.config.rate_limit, self.config.rate_window)
        if "fault_seed" in changes:
            self.fault_rng = random.Random(self.config.fault_seed)
        return asdict(self.config)

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, sql in (
            ("candidates", "SELECT COUNT(*) FROM candidates"),
            ("requisitions", "SELECT COUNT(*) FROM requisitions"),
            ("applications", "SELECT COUNT(*) FROM applications"),
            ("tags_applied", "SELECT COUNT(*) FROM candidate_tags"),
            ("attachments", "SELECT COUNT(*) FROM attachments"),
            ("notes", "SELECT COUNT(*) FROM attachments WHERE origin = 'api' AND app_pk IS NULL"),
            ("application_attachments", "SELECT COUNT(*) FROM attachments WHERE app_pk IS NOT NULL"),
            ("job_postings", "SELECT COUNT(*) FROM job_postings"),
        ):
            out[name] = int(self.q(sql)[0][0])
        out.update(self.counters)
        out["operations"] = dict(self.ops)
        return out

    # ---- the gate in front of /ccx: latency, rate limit, faults (before anything takes effect)
    async def gate(self, scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
        self.counters["requests"] += 1
        if self.config.latency_ms > 0:
            await asyncio.sleep(self.config.latency_ms / 1000.0)
        wait = self.limiter.hit()
        if wait is not None:
            self.counters["rate_limited"] += 1
            await _plain(send, 429, b"Too Many Requests", [(b"retry-after", str(wait).encode())])
            return
        if self.config.fault_rate > 0 and self.fault_rng.random() < self.config.fault_rate:
            self.counters["faults"] += 1
            kind = self.fault_rng.choice(("429", "500", "503", "drop"))
            if kind == "drop":
                await drop_connection(send)
            elif kind == "429":
                await _plain(send, 429, b"Too Many Requests", [(b"retry-after", b"1")])
            elif kind == "500":
                body = _envelope(
                    _fault_xml(
                        _Fault("processing", "An unexpected error occurred; please try again.", code="S99")
                    )
                )
                await _plain(send, 500, body, content_type=b"text/xml; charset=utf-8")
            else:
                await _plain(
                    send, 503, b"<html><body>Service Unavailable</body></html>", content_type=b"text/html"
                )
            return
        await app(scope, receive, send)

    # ---- OAuth
    def issue_token(
        self, tenant: str, authorization: str, form: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        if tenant != self.config.tenant:
            return 404, {"error": "invalid_request", "error_description": "unknown tenant"}
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() == "basic" and encoded:
            try:
                decoded = base64.b64decode(encoded.strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            user, _, pw = decoded.partition(":")
            client_id, secret = urllib.parse.unquote(user), urllib.parse.unquote(pw)
        if not (
            secrets.compare_digest(client_id.encode(), self.client_id.encode())
            and secrets.compare_digest(secret.encode(), self.client_secret.encode())
        ):
            return 401, {"error": "invalid_client"}
        if form.get("grant_type") != "refresh_token":
            return 400, {"error": "unsupported_grant_type"}
        token = form.get("refresh_token", "")
        with self.tx() as conn:
            row = conn.execute("SELECT active FROM refresh_tokens WHERE token = ?", (token,)).fetchone()
            if not row or not row[0]:
                return 400, {"error": "invalid_grant"}
            body: dict[str, Any] = {"token_type": "Bearer", "expires_in": self.config.token_ttl}
            if self.config.rotate_refresh_tokens:
                new = "sbx-wd-refresh-" + secrets.token_hex(12)
                conn.execute("UPDATE refresh_tokens SET active = 0 WHERE token = ?", (token,))
                conn.execute(
                    "INSERT INTO refresh_tokens(token, active, created_at) VALUES (?, 1, ?)", (new, _now())
                )
                body["refresh_token"] = new
        access = "wdsbx." + secrets.token_urlsafe(24)
        now = time.time()
        self.access_tokens = {t: exp for t, exp in self.access_tokens.items() if exp > now}
        self.access_tokens[access] = now + self.config.token_ttl
        self.counters["tokens_issued"] += 1
        body["access_token"] = access
        return 200, body

    # ---- SOAP
    def soap(self, tenant: str, version: str, authorization: str, body: bytes) -> tuple[int, bytes]:
        try:
            payload, descriptors = self._authenticate(tenant, version, authorization, body)
            op = _l(payload.tag)
            handler = self._handlers().get(op)
            if handler is None:
                raise _validation(
                    f"Invalid request element '{op}' for the Recruiting web service.", f"/wd:{op}[1]"
                )
            root_version = _attr_of(payload, "version")
            if root_version is not None and self._over_cap(root_version):
                raise _validation(VERSION_INVALID, f"/wd:{op}[1]/@wd:version")
            self.ops[op] = self.ops.get(op, 0) + 1
            return 200, _envelope(handler(payload, version, descriptors))
        except _Fault as fault:
            self.counters["soap_faults"] += 1
            if fault.kind == "authentication":
                self.counters["auth_failures"] += 1
            return fault.status, _envelope(_fault_xml(fault))

    def _over_cap(self, version: str) -> bool:
        wanted, cap = _version_tuple(version), _version_tuple(self.config.max_version)
        return wanted is None or cap is None or wanted > cap

    def _authenticate(
        self, tenant: str, version: str, authorization: str, body: bytes
    ) -> tuple[ET.Element, bool]:
        if tenant != self.config.tenant:
            raise _Fault("authentication", f"Invalid tenant '{tenant}'", status=404)
        if self._over_cap(version):
            raise _validation(
                VERSION_INVALID,
                detail=f"The highest version this tenant accepts is {self.config.max_version}.",
            )
        try:
            root = _safe_fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
        except DefusedXmlException:
            raise _validation("DTDs and entity declarations are not allowed.") from None
        except ET.ParseError as exc:
            raise _validation(f"The request is not well-formed XML: {exc}") from None
        if _l(root.tag) != "Envelope" or _kid(root, "Body") is None:
            raise _validation("The request is not a SOAP 1.1 envelope.")
        header = _kid(root, "Header")
        payload = next(iter(_kid(root, "Body") or []), None)
        if payload is None:
            raise _validation("The SOAP Body is empty.")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer":
            expires = self.access_tokens.get(token.strip())
            if expires is None or expires <= time.time():
                raise _Fault("authentication", "invalid or expired access token")
        else:
            utoken = _kid(_kid(header, "Security"), "UsernameToken")
            user, password = _txt(utoken, "Username"), _txt(utoken, "Password")
            if utoken is None:
                raise _Fault("authentication", "no WS-Security UsernameToken and no bearer token")
            if not (
                user
                and password
                and user.lower() == self.username.lower()
                and secrets.compare_digest(password.encode(), self.password.encode())
            ):
                raise _Fault("authentication", "invalid username or password")
        common = _kid(header, "Workday_Common_Header")
        descriptors = _bool_text(_txt(common, "Include_Reference_Descriptors_In_Response"))
        return payload, descriptors

    def _handlers(self) -> dict[str, Callable[[ET.Element, str, bool], str]]:
        return {
            "Get_Candidates_Request": self.get_candidates,
            "Get_Job_Requisitions_Request": self.get_job_requisitions,
            "Put_Candidate_Request": self.put_candidate,
            "Put_Candidate_Attachment_Request": self.put_candidate_attachment,
            "Create_Requisition_Request": self.create_requisition,
            "Move_Candidate_Request": self.move_candidate,
            "Post_Job_Request": self.post_job,
            "Get_Job_Postings_Request": self.get_job_postings,
        }

    # ---- shared request pieces
    def _paging(self, req: ET.Element, op: str) -> tuple[int, int, str]:
        rf = _kid(req, "Response_Filter")
        try:
            page = int(float(_txt(rf, "Page") or 1))
            count = int(float(_txt(rf, "Count") or 100))
        except ValueError:
            raise _validation(
                "Page and Count must be numbers.", f"/wd:{op}[1]/wd:Response_Filter[1]"
            ) from None
        if page < 1:
            raise _validation("Page must be greater than 0.", f"/wd:{op}[1]/wd:Response_Filter[1]/wd:Page[1]")
        if not 1 <= count <= MAX_COUNT:
            raise _validation(
                f"Count must be between 1 and {MAX_COUNT}.", f"/wd:{op}[1]/wd:Response_Filter[1]/wd:Count[1]"
            )
        as_of_text = _txt(rf, "As_Of_Entry_DateTime")
        as_of = _parse_dt(as_of_text) if as_of_text else datetime.now(UTC)
        if as_of is None:
            raise _validation(
                "As_Of_Entry_DateTime is not a valid dateTime.",
                f"/wd:{op}[1]/wd:Response_Filter[1]/wd:As_Of_Entry_DateTime[1]",
            )
        return page, count, _ts(as_of)

    def _range(
        self, el: ET.Element | None, lo: str, hi: str, xpath: str, *, not_future: bool = False
    ) -> tuple[str, str] | None:
        start_text, end_text = _txt(el, lo), _txt(el, hi)
        if start_text is None and end_text is None:
            return None
        if start_text is None or end_text is None:
            raise _validation(f"{lo} and {hi} must be given together.", xpath)
        start, end = _parse_dt(start_text), _parse_dt(end_text)
        if start is None or end is None:
            raise _validation(f"{lo}/{hi} must be valid dateTimes.", xpath)
        if start > end:
            raise _validation(f"{lo} must not be later than {hi}.", xpath)
        if not_future and end > datetime.now(UTC) + timedelta(seconds=1):
            raise _validation(f"{hi} must not be later than the current moment.", f"{xpath}/wd:{hi}[1]")
        return _ts(start), _ts(end)

    def _transaction_log(
        self, criteria: ET.Element | None, op: str, kind: str, as_of: str, where: list[str], args: list[Any]
    ) -> None:
        tl = _kid(criteria, "Transaction_Log_Criteria_Data")
        if tl is None:
            return
        xpath = f"/wd:{op}[1]/wd:Request_Criteria[1]/wd:Transaction_Log_Criteria_Data[1]"
        if not self.config.transaction_log:
            raise _validation("Transaction_Log_Criteria_Data is not enabled for this tenant.", xpath)
        bounds = self._range(
            _kid(tl, "Transaction_Date_Range_Data"),
            "Updated_From",
            "Updated_Through",
            f"{xpath}/wd:Transaction_Date_Range_Data[1]",
            not_future=True,
        )
        if bounds is None:
            return
        where.append(
            f"pk IN (SELECT rec_pk FROM tx_log WHERE kind = '{kind}' AND at >= ? AND at <= ? AND at <= ?)"
        )
        args.extend([bounds[0], bounds[1], as_of])

    def _page(
        self, table: str, clause: str, args: list[Any], page: int, count: int, stable: bool
    ) -> tuple[int, list[int]]:
        """(Total_Results, the pks of one page).  A walk with a pinned As_Of_Entry_DateTime sees a
        result set that later writes cannot change, so its total and page boundaries are remembered and
        the next page continues after the last pk (keyset) instead of re-scanning an OFFSET."""
        key = (table, clause, tuple(args), count)
        walk = self._walks.get(key) if stable else None
        if walk is None:
            total = int(self.q(f"SELECT COUNT(*) FROM {table} WHERE {clause}", args)[0][0])
            walk = {"total": total, "after": {0: 0}}
            if stable:
                if len(self._walks) >= 64:
                    self._walks.pop(next(iter(self._walks)))
                self._walks[key] = walk
        after = walk["after"].get(page - 1)
        if after is not None:
            rows = self.q(
                f"SELECT pk FROM {table} WHERE {clause} AND pk > ? ORDER BY pk LIMIT ?", [*args, after, count]
            )
        else:
            rows = self.q(
                f"SELECT pk FROM {table} WHERE {clause} ORDER BY pk LIMIT ? OFFSET ?",
                [*args, count, (page - 1) * count],
            )
        selected = [int(r[0]) for r in rows]
        if stable and selected:
            walk["after"][page] = selected[-1]
        return int(walk["total"]), selected

    @staticmethod
    def _results(total: int, page: int, count: int, shown: int) -> str:
        pages = math.ceil(total / count) if total else 0
        return _e(
            "Response_Results",
            _t("Total_Results", total)
            + _t("Total_Pages", pages)
            + _t("Page_Results", shown)
            + _t("Page", page),
        )

    # ---- Get_Candidates
    def _candidate_pk(self, ids: list[tuple[str, str]]) -> int | None:
        for kind, value in ids:
            column = {"WID": "wid", "Candidate_ID": "candidate_id"}.get(kind)
            if column:
                row = self.q(f"SELECT pk FROM candidates WHERE {column} = ?", (value,))
                if row:
                    return int(row[0][0])
        return None

    def get_candidates(self, req: ET.Element, version: str, descriptors: bool) -> str:
        op = "Get_Candidates_Request"
        page, count, as_of = self._paging(req, op)
        include_att = not _bool_text(_txt(_kid(req, "Response_Group"), "Exclude_All_Attachments"), True)
        refs = _kid(req, "Request_References")
        if refs is not None:
            skip = _bool_text(_attr_of(refs, "Skip_Non_Existing_Instances"))
            pks: list[int] = []
            for n, ref in enumerate(_kids(refs, "Candidate_Reference"), 1):
                ids = _ids(ref)
                pk = self._candidate_pk(ids)
                if pk is None:
                    if skip:
                        continue
                    kind, value = ids[0] if ids else ("WID", "")
                    raise _invalid_id(
                        value, kind, f"/wd:{op}[1]/wd:Request_References[1]/wd:Candidate_Reference[{n}]"
                    )
                if pk not in pks:
                    pks.append(pk)
            total = len(pks)
            selected = pks[(page - 1) * count : page * count]
        else:
            criteria = _kid(req, "Request_Criteria")
            where, args = ["created_at <= ?"], [as_of]
            self._transaction_log(criteria, op, "candidate", as_of, where, args)
            email = _txt(criteria, "Candidate_Email_Address")
            if email:
                where.append("pk IN (SELECT cand_pk FROM candidate_emails WHERE email_lc = ?)")
                args.append(email.strip().lower())
            xp = f"/wd:{op}[1]/wd:Request_Criteria[1]"
            applied = self._range(criteria, "Applied_From", "Applied_Through", xp)
            if applied:
                where.append(
                    "pk IN (SELECT cand_pk FROM applications WHERE applied_at >= ? AND applied_at <= ?)"
                )
                args.extend(applied)
            created = self._range(criteria, "Created_From", "Created_Through", xp)
            if created:
                where.append("created_at >= ? AND created_at <= ?")
                args.extend(created)
            for n, tag_ref in enumerate(_kids(criteria, "Candidate_Tag_Reference"), 1):
                tag = self._tag(_ids(tag_ref), f"{xp}/wd:Candidate_Tag_Reference[{n}]")
                where.append("pk IN (SELECT cand_pk FROM candidate_tags WHERE tag_pk = ?)")
                args.append(tag[0])
            pinned = _kid(_kid(req, "Response_Filter"), "As_Of_Entry_DateTime") is not None
            stable = (
                pinned and as_of <= _now() and not email and not _kids(criteria, "Candidate_Tag_Reference")
            )
            total, selected = self._page("candidates", " AND ".join(where), args, page, count, stable)
        body = "".join(self._render_candidates(selected, descriptors, include_att))
        return (
            f'<wd:Get_Candidates_Response xmlns:wd="{WD_NS}" wd:version="{_attr(version)}">'
            + self._results(total, page, count, len(selected))
            + _e("Response_Data", body)
            + "</wd:Get_Candidates_Response>"
        )

    def _render_candidates(self, pks: list[int], descriptors: bool, include_att: bool) -> list[str]:
        if not pks:
            return []
        marks = ",".join("?" * len(pks))
        cands = {
            r[0]: r
            for r in self.q(
                "SELECT pk, wid, candidate_id, first_name, last_name, phone, phone_code, city, country, "
                "prospect, "
                f"do_not_hire, withdrawn, source, prospect_status FROM candidates WHERE pk IN ({marks})",
                pks,
            )
        }
        emails: dict[int, list[str]] = {}
        for cand_pk, raw in self.q(
            f"SELECT cand_pk, raw FROM candidate_emails WHERE cand_pk IN ({marks}) "
            "ORDER BY cand_pk, position",
            pks,
        ):
            emails.setdefault(cand_pk, []).append(raw)
        tags: dict[int, list[tuple[Any, ...]]] = {}
        for row in self.q(
            "SELECT ct.cand_pk, t.wid, t.tag_id, t.name FROM candidate_tags ct "
            "JOIN tags t ON t.pk = ct.tag_pk "
            f"WHERE ct.cand_pk IN ({marks}) ORDER BY ct.cand_pk, ct.position",
            pks,
        ):
            tags.setdefault(row[0], []).append(row)
        apps: dict[int, list[tuple[Any, ...]]] = {}
        for row in self.q(
            "SELECT a.cand_pk, a.wid, a.app_id, r.wid, r.req_id, r.title, a.applied_at, a.stage, "
            "a.disposition, "
            "a.source, a.status_at, a.pk FROM applications a JOIN requisitions r ON r.pk = a.req_pk "
            f"WHERE a.cand_pk IN ({marks}) ORDER BY a.cand_pk, a.pk",
            pks,
        ):
            apps.setdefault(row[0], []).append(row)
        atts: dict[int, list[tuple[Any, ...]]] = {}
        app_atts: dict[int, list[tuple[Any, ...]]] = {}
        if include_att:
            for row in self.q(
                "SELECT cand_pk, wid, filename, content, comment, category, mime, app_pk FROM attachments "
                f"WHERE cand_pk IN ({marks}) ORDER BY cand_pk, pk",
                pks,
            ):
                if row[7] is None:
                    atts.setdefault(row[0], []).append(row[:7])
                else:
                    app_atts.setdefault(int(row[7]), []).append(row[:7])

        def d(value: str | None) -> str | None:
            return value if descriptors else None

        out = []
        for pk in pks:
            c = cands.get(pk)
            if c is None:
                continue
            (
                _pk,
                wid,
                cid,
                first,
                last,
                phone,
                code,
                city,
                country,
                prospect,
                dnh,
                withdrawn,
                source,
                status,
            ) = c
            name = " ".join(p for p in (first, last) if p)
            parts = [_t("Candidate_ID", cid)]
            parts.append(
                _e(
                    "Name_Data",
                    _e("Legal_Name", _e("Name_Detail_Data", _t("First_Name", first) + _t("Last_Name", last))),
                )
            )
            contact = ""
            if phone:
                if code:
                    contact += _ref(
                        "Country_Phone_Code_Reference",
                        [("Country_Phone_Code_ID", f"{country}_{code[1:]}")],
                        d(code),
                    )
                contact += _t("Phone_Number", phone)
            contact += "".join(_t("Email_Address", e) for e in emails.get(pk, []))
            location = _ref("Country_Reference", [("ISO_3166-1_Alpha-3_Code", country)], d(country))
            if city:
                location += _t("City", city)
            contact += _e("Location_Data", location)
            parts.append(_e("Contact_Data", contact))
            parts.append(_e("Status_Data", _t("Do_Not_Hire", bool(dnh)) + _t("Withdrawn", bool(withdrawn))))
            for a in apps.get(pk, []):
                (
                    _c,
                    a_wid,
                    app_id,
                    r_wid,
                    req_id,
                    title,
                    applied_at,
                    stage,
                    disp,
                    a_source,
                    status_at,
                    a_pk,
                ) = a
                applied = (
                    _t("Job_Application_ID", app_id)
                    + _ref(
                        "Job_Requisition_Reference",
                        [("WID", r_wid), ("Job_Requisition_ID", req_id)],
                        d(f"{req_id} {title}"),
                    )
                    + _t("Job_Application_Date", _out_ts(applied_at))
                    + _ref("Stage_Reference", [("Recruiting_Stage_ID", stage)], d(stage))
                    + (
                        _ref(
                            "Disposition_Reference",
                            [("Recruiting_Disposition_ID", disp)],
                            d(DISPOSITIONS.get(disp, disp)),
                        )
                        if disp
                        else ""
                    )
                    + _t("Status_Timestamp", _out_ts(status_at))
                    + (
                        _ref("Source_Reference", [("Applicant_Source_ID", a_source)], d(a_source))
                        if a_source
                        else ""
                    )
                )
                resumes = "".join(
                    _e(
                        "Resume_Attachment_Data",
                        _t("ID", x_wid)
                        + _t("Filename", x_name)
                        + _t("File_Content", base64.b64encode(bytes(x_content)).decode())
                        + (
                            _ref("Mime_Type_Reference", [("Content_Type_ID", x_mime)], d(x_mime))
                            if x_mime
                            else ""
                        )
                        + _t("Comment", x_comment),
                    )
                    for _c2, x_wid, x_name, x_content, x_comment, _cat, x_mime in app_atts.get(a_pk, [])
                )
                parts.append(
                    _e(
                        "Job_Application_Data",
                        _ref("Job_Application_Reference", [("WID", a_wid), ("Job_Application_ID", app_id)])
                        + _e("Job_Applied_To_Data", applied)
                        + resumes,
                    )
                )
            if prospect:
                parts.append(
                    _e(
                        "Prospect_Data",
                        _t("Prospect", True)
                        + (
                            _ref("Prospect_Status_Reference", [("Prospect_Status_ID", status)], d(status))
                            if status
                            else ""
                        )
                        + (
                            _ref("Source_Reference", [("Applicant_Source_ID", source)], d(source))
                            if source
                            else ""
                        ),
                    )
                )
            for _c, t_wid, tag_id, tag_name in tags.get(pk, []):
                parts.append(
                    _ref("Candidate_Tag_Reference", [("WID", t_wid), (TAG_ID_TYPE, tag_id)], d(tag_name))
                )
            for _c, a_wid, filename, content, comment, category, mime in atts.get(pk, []):
                att = (
                    _t("Filename", filename)
                    + _t("File_Content", base64.b64encode(bytes(content)).decode())
                    + (_ref("Mime_Type_Reference", [("Content_Type_ID", mime)], d(mime)) if mime else "")
                    + _t("Comment", comment)
                )
                parts.append(
                    _e(
                        "Candidate_Attachment_Data",
                        _ref("Candidate_Attachment_Reference", [("WID", a_wid)])
                        + _e("Attachment_Data", att)
                        + _ref(
                            "Document_Category_Reference",
                            [(DOCUMENT_CATEGORY_TYPE, category)],
                            d(DOCUMENT_CATEGORIES.get(category, (category, True))[0]),
                        ),
                    )
                )
            out.append(
                _e(
                    "Candidate",
                    _ref("Candidate_Reference", [("WID", wid), ("Candidate_ID", cid)], d(name or cid))
                    + _e("Candidate_Data", "".join(parts)),
                )
            )
        return out

    # ---- Get_Job_Requisitions
    def get_job_requisitions(self, req: ET.Element, version: str, descriptors: bool) -> str:
        op = "Get_Job_Requisitions_Request"
        page, count, as_of = self._paging(req, op)
        refs = _kid(req, "Request_References")
        if refs is not None:
            pks: list[int] = []
            for ref in _kids(refs, "Job_Requisition_Reference"):
                pk = self._requisition_pk(_ids(ref))
                if pk is not None and pk not in pks:
                    pks.append(pk)
            total, selected = len(pks), pks[(page - 1) * count : page * count]
        else:
            where, args = ["created_at <= ?"], [as_of]
            self._transaction_log(_kid(req, "Request_Criteria"), op, "requisition", as_of, where, args)
            total, selected = self._page("requisitions", " AND ".join(where), args, page, count, False)
        rows = []
        for pk in selected:
            r = self.q(
                "SELECT wid, req_id, title, status, allocated, available, description, org_id, location_id, "
                "start_date, target_hire_date, confidential, job_profile, worker_type, time_type "
                "FROM requisitions WHERE pk = ?",
                (pk,),
            )[0]
            wid, req_id, title, status, alloc, avail, desc, org, loc, start, target, confidential = r[:12]
            profile, worker_type, time_type = r[12:]

            def dsc(value: str | None) -> str | None:
                return value if descriptors else None

            detail = (
                _t("Job_Posting_Title", title)
                + _t("Positions_Allocated", alloc)
                + _t("Positions_Available", avail)
                + _t("Job_Description", desc)
                + _t("Confidential_Job_Requisition", bool(confidential))
            )
            hiring = (
                _t("Recruiting_Start_Date", start)
                + _t("Target_Hire_Date", target)
                + (
                    _ref(
                        "Job_Profile_Reference", [("Job_Profile_ID", profile)], dsc(JOB_PROFILES.get(profile))
                    )
                    if profile
                    else ""
                )
                + (
                    _ref("Worker_Type_Reference", [("Worker_Type_ID", worker_type)], dsc(worker_type))
                    if worker_type
                    else ""
                )
                + (
                    _ref("Primary_Location_Reference", [("Location_ID", loc)], dsc(LOCATIONS.get(loc, loc)))
                    if loc
                    else ""
                )
                + (
                    _ref("Time_Type_Reference", [("Position_Time_Type_ID", time_type)], dsc(time_type))
                    if time_type
                    else ""
                )
            )
            data = (
                _ref("Job_Requisition_Status_Reference", [("Job_Requisition_Status_ID", status)], dsc(status))
                + _e("Job_Requisition_Detail_Data", detail)
                + _e("Hiring_Requirement_Data", hiring)
                + (
                    _ref(
                        "Supervisory_Organization_Reference",
                        [("Organization_Reference_ID", org)],
                        dsc(ORGS.get(org, org)),
                    )
                    if org
                    else ""
                )
            )
            rows.append(
                _e(
                    "Job_Requisition",
                    _ref(
                        "Job_Requisition_Reference",
                        [("WID", wid), ("Job_Requisition_ID", req_id)],
                        dsc(title),
                    )
                    + _e("Job_Requisition_Data", data),
                )
            )
        return (
            f'<wd:Get_Job_Requisitions_Response xmlns:wd="{WD_NS}" wd:version="{_attr(version)}">'
            + self._results(total, page, count, len(selected))
            + _e("Response_Data", "".join(rows))
            + "</wd:Get_Job_Requisitions_Response>"
        )

    def _requisition_pk(self, ids: list[tuple[str, str]]) -> int | None:
        for kind, value in ids:
            column = {"WID": "wid", "Job_Requisition_ID": "req_id"}.get(kind)
            if column:
                row = self.q(f"SELECT pk FROM requisitions WHERE {column} = ?", (value,))
                if row:
                    return int(row[0][0])
        return None

    # ---- writes
    def _tag(self, ids: list[tuple[str, str]], xpath: str) -> tuple[Any, ...]:
        for kind, value in ids:
            column = {"WID": "wid", TAG_ID_TYPE: "tag_id"}.get(kind)
            if column:
                rows = self.q(f"SELECT pk, wid, tag_id, name, active FROM tags WHERE {column} = ?", (value,))
                if rows:
                    return rows[0]
        kind, value = ids[0] if ids else (TAG_ID_TYPE, "")
        raise _invalid_id(value, kind, f"{xpath}/wd:ID[1]")

    def _touch(self, conn: sqlite3.Connection, cand_pk: int, now: str) -> None:
        conn.execute("UPDATE candidates SET updated_at = ?, touched = 1 WHERE pk = ?", (now, cand_pk))
        conn.execute("INSERT INTO tx_log(kind, rec_pk, at) VALUES ('candidate', ?, ?)", (cand_pk, now))

    def put_candidate(self, req: ET.Element, version: str, descriptors: bool) -> str:
        op = "Put_Candidate_Request"
        add_only = _bool_text(_attr_of(req, "Add_Only"))
        ref = _kid(req, "Candidate_Reference")
        data = _kid(req, "Candidate_Data")
        if data is None:
            raise _validation("Candidate_Data is required.", f"/wd:{op}[1]")
        detail = _kid(_kid(_kid(data, "Name_Data"), "Legal_Name"), "Name_Detail_Data")
        first, last = _txt(detail, "First_Name"), _txt(detail, "Last_Name")
        contact = _kid(data, "Contact_Data")
        email, phone = _txt(contact, "Email_Address"), _txt(contact, "Phone_Number")
        prospect_el = _kid(data, "Prospect_Data")
        tag_refs = _kids(data, "Candidate_Tag_Reference")
        xp = f"/wd:{op}[1]/wd:Candidate_Data[1]"
        tags = []
        for n, tag_ref in enumerate(tag_refs, 1):
            tag = self._tag(_ids(tag_ref), f"{xp}/wd:Candidate_Tag_Reference[{n}]")
            if not tag[4]:
                raise _validation(
                    "Enter active candidate tags.",
                    f"{xp}/wd:Candidate_Tag_Reference[{n}]",
                    detail=f"Candidate Tag '{tag[3]}' is inactive. Enter active candidate tags.",
                )
            tags.append(tag)
        applications = self._job_applications(data, xp)
        now = _now()
        if ref is not None:
            pk = self._candidate_pk(_ids(ref))
            if pk is None:
                kind, value = (_ids(ref) or [("WID", "")])[0]
                raise _invalid_id(value, kind, f"/wd:{op}[1]/wd:Candidate_Reference[1]")
            if add_only:
                raise _validation(
                    "The candidate already exists; Add_Only does not allow updates.",
                    f"/wd:{op}[1]/wd:Candidate_Reference[1]",
                )
            with self.tx() as conn:
                if first is not None or last is not None:
                    conn.execute(
                        "UPDATE candidates SET first_name = COALESCE(?, first_name), "
                        "last_name = COALESCE(?, last_name) WHERE pk = ?",
                        (first, last, pk),
                    )
                if phone is not None:
                    conn.execute("UPDATE candidates SET phone = ? WHERE pk = ?", (phone, pk))
                if prospect_el is not None:
                    status_ids = _ids(_kid(prospect_el, "Prospect_Status_Reference"))
                    status = status_ids[0][1] if status_ids else None
                    if status is not None and status not in PROSPECT_STATUSES:
                        raise _invalid_id(
                            status,
                            status_ids[0][0],
                            f"{xp}/wd:Prospect_Data[1]/wd:Prospect_Status_Reference[1]",
                        )
                    conn.execute(
                        "UPDATE candidates SET prospect = ?, prospect_status = COALESCE(?, prospect_status) "
                        "WHERE pk = ?",
                        (int(_bool_text(_txt(prospect_el, "Prospect"), True)), status, pk),
                    )
                if email is not None:
                    conn.execute("DELETE FROM candidate_emails WHERE cand_pk = ? AND position = 0", (pk,))
                    conn.execute(
                        "INSERT INTO candidate_emails(email_lc, raw, cand_pk, position) VALUES (?, ?, ?, 0)",
                        (email.strip().lower(), email, pk),
                    )
                if tag_refs:
                    conn.execute("DELETE FROM candidate_tags WHERE cand_pk = ?", (pk,))
                    conn.executemany(
                        "INSERT OR IGNORE INTO candidate_tags(cand_pk, tag_pk, position) VALUES (?, ?, ?)",
                        [(pk, t[0], n) for n, t in enumerate(tags, 1)],
                    )
                    self.counters["tag_updates"] += 1
                created_apps = self._apply(conn, pk, applications, now, xp)
                self._touch(conn, pk, now)
        else:
            if not last:
                raise _validation("Enter a name for the candidate.", f"{xp}/wd:Name_Data[1]")
            if not email and not phone:
                raise _validation("Enter an email address or a phone number.", f"{xp}/wd:Contact_Data[1]")
            if prospect_el is None and _kid(data, "Job_Application_Data") is None:
                raise _validation("Enter Job Application Data or Prospect Data for a new candidate.", xp)
            with self.tx() as conn:
                pk = int(conn.execute("SELECT COALESCE(MAX(pk), 0) + 1 FROM candidates").fetchone()[0])
                conn.execute(
                    "INSERT INTO candidates(pk, wid, candidate_id, first_name, last_name, phone, country, "
                    "prospect, origin, touched, created_at, updated_at, source) "
                    "VALUES (?, ?, ?, ?, ?, ?, 'USA', ?, 'api', 1, ?, ?, ?)",
                    (
                        pk,
                        _wid(self.seed_value, "created-candidate", pk),
                        f"C{pk:07d}",
                        first,
                        last,
                        phone,
                        int(
                            _bool_text(_txt(prospect_el, "Prospect"), True) if prospect_el is not None else 0
                        ),
                        now,
                        now,
                        self._source(
                            _kid(prospect_el, "Source_Reference") if prospect_el is not None else None,
                            f"{xp}/wd:Prospect_Data[1]/wd:Source_Reference[1]",
                        ),
                    ),
                )
                if email:
                    conn.execute(
                        "INSERT INTO candidate_emails(email_lc, raw, cand_pk, position) VALUES (?, ?, ?, 0)",
                        (email.strip().lower(), email, pk),
                    )
                conn.executemany(
                    "INSERT OR IGNORE INTO candidate_tags(cand_pk, tag_pk, position) VALUES (?, ?, ?)",
                    [(pk, t[0], n) for n, t in enumerate(tags, 1)],
                )
                created_apps = self._apply(conn, pk, applications, now, xp)
                conn.execute("INSERT INTO tx_log(kind, rec_pk, at) VALUES ('candidate', ?, ?)", (pk, now))
            self.counters["candidates_created"] += 1
        wid, cid = self.q("SELECT wid, candidate_id FROM candidates WHERE pk = ?", (pk,))[0]
        return (
            f'<wd:Put_Candidate_Response xmlns:wd="{WD_NS}" wd:version="{_attr(version)}">'
            + _ref("Candidate_Reference", [("WID", wid), ("Candidate_ID", cid)])
            + "".join(
                _e(
                    "Candidate_Job_Application_Data",
                    _ref("Job_Application_Reference", [("WID", a_wid), ("Job_Application_ID", app_id)])
                    + _ref("Job_Requisition_Reference", [("WID", r_wid), ("Job_Requisition_ID", req_id)]),
                )
                for a_wid, app_id, r_wid, req_id in created_apps
            )
            + "</wd:Put_Candidate_Response>"
        )

    def _source(self, ref: ET.Element | None, xp: str) -> str | None:
        ids = _ids(ref)
        if not ids:
            return None
        kind, value = ids[0]
        if value not in SOURCE_IDS:
            raise _invalid_id(value, kind, xp)
        return value

    def _job_applications(self, data: ET.Element, xp: str) -> list[tuple[int, str, str | None, str]]:
        """Validate ``Job_Application_Data*/Job_Applied_To_Data``: (requisition pk, stage, source, xpath)."""
        out = []
        for n, app_el in enumerate(_kids(data, "Job_Application_Data"), 1):
            for m, applied in enumerate(_kids(app_el, "Job_Applied_To_Data"), 1):
                axp = f"{xp}/wd:Job_Application_Data[{n}]/wd:Job_Applied_To_Data[{m}]"
                req_ids = _ids(_kid(applied, "Job_Requisition_Reference"))
                req_pk = self._requisition_pk(req_ids)
                if req_pk is None:
                    kind, value = req_ids[0] if req_ids else ("Job_Requisition_ID", "")
                    raise _invalid_id(value, kind, f"{axp}/wd:Job_Requisition_Reference[1]")
                req_id, status = self.q("SELECT req_id, status FROM requisitions WHERE pk = ?", (req_pk,))[0]
                if status in NOT_OPEN_FOR_APPLICATIONS:
                    raise _validation(
                        f"Job Requisition {req_id} is {status} and does not accept applications.",
                        f"{axp}/wd:Job_Requisition_Reference[1]",
                    )
                stage_ids = _ids(_kid(applied, "Stage_Reference"))
                if not stage_ids:
                    raise _validation("Enter a Stage for the job application.", axp)
                stage = stage_ids[0][1]
                if stage not in STAGES:
                    raise _invalid_id(stage, stage_ids[0][0], f"{axp}/wd:Stage_Reference[1]")
                source = self._source(_kid(applied, "Source_Reference"), f"{axp}/wd:Source_Reference[1]")
                out.append((req_pk, stage, source, axp))
        return out

    def _apply(
        self,
        conn: sqlite3.Connection,
        cand_pk: int,
        applications: list[tuple[int, str, str | None, str]],
        now: str,
        xp: str,
    ) -> list[tuple[str, str, str, str]]:
        """Insert the job applications; (application WID, Job_Application_ID, requisition WID, its ID)."""
        created = []
        for req_pk, stage, source, axp in applications:
            if conn.execute(
                "SELECT 1 FROM applications WHERE cand_pk = ? AND req_pk = ?", (cand_pk, req_pk)
            ).fetchone():
                name, req_id = conn.execute(
                    "SELECT COALESCE(c.first_name || ' ', '') || c.last_name, r.req_id FROM candidates c, "
                    "requisitions r WHERE c.pk = ? AND r.pk = ?",
                    (cand_pk, req_pk),
                ).fetchone()
                raise _validation(f"{name} has already applied to {req_id}.", axp)
            pk = int(conn.execute("SELECT COALESCE(MAX(pk), 0) + 1 FROM applications").fetchone()[0])
            wid, app_id = _wid(self.seed_value, "created-application", pk), f"JA-{pk:07d}"
            conn.execute(
                "INSERT INTO applications(pk, wid, app_id, cand_pk, req_pk, applied_at, stage, disposition, "
                "source, status_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)",
                (pk, wid, app_id, cand_pk, req_pk, now, stage, source, now),
            )
            r_wid, req_id = conn.execute(
                "SELECT wid, req_id FROM requisitions WHERE pk = ?", (req_pk,)
            ).fetchone()
            created.append((wid, app_id, r_wid, req_id))
            self.counters["applications_created"] += 1
        return created

    def put_candidate_attachment(self, req: ET.Element, version: str, descriptors: bool) -> str:
        op = "Put_Candidate_Attachment_Request"
        ref = _kid(req, "Candidate_Reference")
        pk = self._candidate_pk(_ids(ref))
        if pk is None:
            kind, value = (_ids(ref) or [("WID", "")])[0]
            raise _invalid_id(value, kind, f"/wd:{op}[1]/wd:Candidate_Reference[1]")
        cad = _kid(req, "Candidate_Attachment_Data")
        xp = f"/wd:{op}[1]/wd:Candidate_Attachment_Data[1]"
        if cad is None:
            if _kids(req, "Job_Application_Attachment_Data"):
                return self._put_application_attachments(req, pk, version)
            raise _validation(
                "Candidate_Attachment_Data or Job_Application_Attachment_Data is required.", f"/wd:{op}[1]"
            )
        att = _kid(cad, "Attachment_Data")
        filename, content, comment, mime = self._attachment_content(att, f"{xp}/wd:Attachment_Data[1]")
        category_ids = _ids(_kid(cad, "Document_Category_Reference"))
        category = next((v for k, v in category_ids if k == DOCUMENT_CATEGORY_TYPE), None)
        if category is None or category not in DOCUMENT_CATEGORIES:
            value = category_ids[0][1] if category_ids else ""
            raise _invalid_id(
                value,
                category_ids[0][0] if category_ids else DOCUMENT_CATEGORY_TYPE,
                f"{xp}/wd:Document_Category_Reference[1]",
            )
        if not DOCUMENT_CATEGORIES[category][1]:
            raise _validation(
                "You must have access to the document category.", f"{xp}/wd:Document_Category_Reference[1]"
            )
        now = _now()
        with self.tx() as conn:
            att_pk = int(conn.execute("SELECT COALESCE(MAX(pk), 0) + 1 FROM attachments").fetchone()[0])
            wid = _wid(self.seed_value, "created-attachment", att_pk)
            conn.execute(
                "INSERT INTO attachments(pk, wid, cand_pk, filename, content, comment, category, mime, "
                "origin, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'api', ?)",
                (
                    att_pk,
                    wid,
                    pk,
                    filename,
                    content,
                    comment,
                    category,
                    mime or "text/plain",
                    now,
                ),
            )
            self._touch(conn, pk, now)
        self.counters["attachments_written"] += 1
        return (
            f'<wd:Put_Candidate_Attachment_Response xmlns:wd="{WD_NS}" wd:version="{_attr(version)}">'
            + _ref("Attachment_Reference", [("WID", wid)])
            + "</wd:Put_Candidate_Attachment_Response>"
        )

    @staticmethod
    def _attachment_content(att: ET.Element | None, xpath: str) -> tuple[str, bytes, str | None, str | None]:
        """(Filename, decoded File_Content, Comment, Content_Type_ID) of an Attachment_WWS_Data."""
        filename, content_b64 = _txt(att, "Filename"), _txt(att, "File_Content")
        if not filename or not content_b64:
            raise _validation("Enter the Filename and File Content.", xpath)
        try:
            content = base64.b64decode(content_b64, validate=True)
        except (binascii.Error, ValueError):
            raise _validation("File_Content is not valid base64.", f"{xpath}/wd:File_Content[1]") from None
        mime = next((v for k, v in _ids(_kid(att, "Mime_Type_Reference")) if k == "Content_Type_ID"), None)
        return filename, content, _txt(att, "Comment"), mime

    def _put_application_attachments(self, req: ET.Element, cand_pk: int, version: str) -> str:
        """``Job_Application_Attachment_Data*``: files on job applications of the candidate."""
        op = "Put_Candidate_Attachment_Request"
        items = []
        for n, jad in enumerate(_kids(req, "Job_Application_Attachment_Data"), 1):
            xp = f"/wd:{op}[1]/wd:Job_Application_Attachment_Data[{n}]"
            app_ids = _ids(_kid(jad, "Job_Application_Reference"))
            row: list[tuple[Any, ...]] = []
            for kind, value in app_ids:
                column = {"WID": "wid", "Job_Application_ID": "app_id"}.get(kind)
                if column:
                    row = self.q(
                        f"SELECT pk, cand_pk, wid, app_id FROM applications WHERE {column} = ?", (value,)
                    )
                    if row:
                        break
            if not row:
                kind, value = app_ids[0] if app_ids else ("Job_Application_ID", "")
                raise _invalid_id(value, kind, f"{xp}/wd:Job_Application_Reference[1]")
            if row[0][1] != cand_pk:
                raise _validation(
                    "The job application does not belong to the candidate.",
                    f"{xp}/wd:Job_Application_Reference[1]",
                )
            attachments = _kids(jad, "Attachment_Data")
            if not attachments:
                raise _validation("Enter the Filename and File Content.", f"{xp}/wd:Attachment_Data[1]")
            for m, att in enumerate(attachments, 1):
                items.append((row[0], self._attachment_content(att, f"{xp}/wd:Attachment_Data[{m}]")))
        now = _now()
        written: list[tuple[str, str, list[str]]] = []
        with self.tx() as conn:
            for (app_pk, _cand, app_wid, app_id), (filename, content, comment, mime) in items:
                att_pk = int(conn.execute("SELECT COALESCE(MAX(pk), 0) + 1 FROM attachments").fetchone()[0])
                wid = _wid(self.seed_value, "created-attachment", att_pk)
                conn.execute(
                    "INSERT INTO attachments(pk, wid, cand_pk, filename, content, comment, category, mime, "
                    "origin, created_at, app_pk) "
                    "VALUES (?, ?, ?, ?, ?, ?, 'JOB_APPLICATION', ?, 'api', ?, ?)",
                    (att_pk, wid, cand_pk, filename, content, comment, mime or "text/plain", now, app_pk),
                )
                if written and written[-1][0] == app_wid:
                    written[-1][2].append(wid)
                else:
                    written.append((app_wid, app_id, [wid]))
            self._touch(conn, cand_pk, now)
        self.counters["application_attachments_written"] += len(items)
        wid_c, cid = self.q("SELECT wid, candidate_id FROM candidates WHERE pk = ?", (cand_pk,))[0]
        return (
            f'<wd:Put_Candidate_Attachment_Response xmlns:wd="{WD_NS}" wd:version="{_attr(version)}">'
            + _ref("Candidate_Reference", [("WID", wid_c), ("Candidate_ID", cid)])
            + "".join(
                _e(
                    "Job_Application_Attachment_Data",
                    _ref("Job_Application_Reference", [("WID", a_wid), ("Job_Application_ID", a_id)])
                    + "".join(_ref("Job_Application_Attachment_Reference", [("WID", w)]) for w in wids),
                )
                for a_wid, a_id, wids in written
            )
            + "</wd:Put_Candidate_Attachment_Response>"
        )

    def _known(self, el: ET.Element | None, table: dict[str, str], id_type: str, xpath: str) -> str | None:
        """The value of a reference to seeded reference data (None when the element is absent)."""
        ids = _ids(el)
        if el is None or not ids:
            return None
        value = ids[0][1]
        if value not in table:
            raise _invalid_id(value, ids[0][0] or id_type, xpath)
        return value

    def create_requisition(self, req: ET.Element, version: str, descriptors: bool) -> str:
        op = "Create_Requisition_Request"
        bpp = _kid(req, "Business_Process_Parameters")
        auto_complete = _bool_text(_txt(bpp, "Auto_Complete"))
        data = _kid(req, "Create_Job_Requisition_Data")
        xp = f"/wd:{op}[1]/wd:Create_Job_Requisition_Data[1]"
        if data is None:
            raise _validation("Create_Job_Requisition_Data is required.", f"/wd:{op}[1]")
        org_ids = _ids(_kid(data, "Supervisory_Organization_Reference"))
        position_ids = _ids(_kid(data, "Position_Restriction_Reference"))
        if bool(org_ids) == bool(position_ids):
            raise _validation("Enter either a Supervisory Organization or a Position Restriction.", xp)
        org = next((v for _k, v in org_ids), None)
        if org is not None and org not in ORGS:
            raise _invalid_id(org, org_ids[0][0], f"{xp}/wd:Supervisory_Organization_Reference[1]")
        reason = next((v for _k, v in _ids(_kid(data, "Create_Job_Requisition_Reason_Reference"))), None)
        if reason not in REASONS:
            raise _invalid_id(
                reason or "",
                "General_Event_Subcategory_ID",
                f"{xp}/wd:Create_Job_Requisition_Reason_Reference[1]",
            )
        try:
            openings = int(float(_txt(data, "Number_of_Openings") or "0"))
        except ValueError:
            openings = 0
        if openings < 1:
            raise _validation("Number of Openings must be at least 1.", f"{xp}/wd:Number_of_Openings[1]")
        jrd = _kid(data, "Job_Requisition_Data")
        jxp = f"{xp}/wd:Job_Requisition_Data[1]"
        title = _txt(jrd, "Job_Posting_Title")
        if not title:
            raise _validation("Enter a Job Posting Title.", jxp)
        wanted_id = _txt(jrd, "Job_Requisition_ID")
        if wanted_id is not None and self.q("SELECT 1 FROM requisitions WHERE req_id = ?", (wanted_id,)):
            raise _validation(
                f"The Job Requisition ID '{wanted_id}' is already in use.",
                f"{jxp}/wd:Job_Requisition_ID[1]",
                detail=f"Job Requisition ID '{wanted_id}' already exists. Enter a unique ID.",
            )
        location = next((v for _k, v in _ids(_kid(jrd, "Primary_Location_Reference"))), None)
        if location is not None and location not in LOCATIONS:
            raise _invalid_id(location, "Location_ID", f"{jxp}/wd:Primary_Location_Reference[1]")
        profile = self._known(
            _kid(jrd, "Job_Profile_Reference"),
            JOB_PROFILES,
            "Job_Profile_ID",
            f"{jxp}/wd:Job_Profile_Reference[1]",
        )
        worker_type = self._known(
            _kid(jrd, "Worker_Type_Reference"),
            WORKER_TYPES,
            "Worker_Type_ID",
            f"{jxp}/wd:Worker_Type_Reference[1]",
        )
        time_type = self._known(
            _kid(jrd, "Position_Time_Type_Reference"),
            TIME_TYPES,
            "Position_Time_Type_ID",
            f"{jxp}/wd:Position_Time_Type_Reference[1]",
        )
        now = _now()
        with self.tx() as conn:
            pk = int(conn.execute("SELECT COALESCE(MAX(pk), 0) + 1 FROM requisitions").fetchone()[0])
            wid = _wid(self.seed_value, "created-requisition", pk)
            req_id = wanted_id or f"R-{pk:05d}"
            conn.execute(
                "INSERT INTO requisitions(pk, wid, req_id, title, status, allocated, available, description, "
                "org_id, location_id, start_date, target_hire_date, origin, created_at, updated_at, "
                "job_profile, worker_type, time_type, justification, reason) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'api', ?, ?, ?, ?, ?, ?, ?)",
                (
                    pk,
                    wid,
                    req_id,
                    title,
                    "Open" if auto_complete else "Awaiting Approval",
                    openings,
                    openings,
                    _txt(jrd, "Job_Description"),
                    org,
                    location,
                    _txt(jrd, "Recruiting_Start_Date"),
                    _txt(jrd, "Target_Hire_Date"),
                    now,
                    now,
                    profile,
                    worker_type,
                    time_type,
                    _txt(jrd, "Justification"),
                    reason,
                ),
            )
            conn.execute("INSERT INTO tx_log(kind, rec_pk, at) VALUES ('requisition', ?, ?)", (pk, now))
            event = self._event(conn, "Create_Job_Requisition", now, req_id)
        self.counters["requisitions_created"] += 1
        return (
            f'<wd:Create_Job_Requisition_Response xmlns:wd="{WD_NS}" wd:version="{_attr(version)}">'
            + _ref("Event_Reference", [("WID", event)])
            + _ref("Job_Requisition_Reference", [("WID", wid), ("Job_Requisition_ID", req_id)])
            + "</wd:Create_Job_Requisition_Response>"
        )

    def set_requisition_status(self, req_id: str, status: str) -> dict[str, Any] | None:
        """Admin: move a requisition to ``status`` (e.g. finish its approval with ``Open``)."""
        pk = self._requisition_pk([("Job_Requisition_ID", req_id), ("WID", req_id)])
        if pk is None:
            return None
        now = _now()
        with self.tx() as conn:
            conn.execute("UPDATE requisitions SET status = ?, updated_at = ? WHERE pk = ?", (status, now, pk))
            conn.execute("INSERT INTO tx_log(kind, rec_pk, at) VALUES ('requisition', ?, ?)", (pk, now))
        return self.requisition(req_id)

    def requisition(self, req_id: str) -> dict[str, Any] | None:
        """Admin: one requisition by Job_Requisition_ID or WID, with its postings."""
        pk = self._requisition_pk([("Job_Requisition_ID", req_id), ("WID", req_id)])
        if pk is None:
            return None
        cols = (
            "wid, req_id, title, status, allocated, description, org_id, location_id, start_date, "
            "target_hire_date, job_profile, worker_type, time_type, justification, reason, origin"
        )
        row = self.q(f"SELECT {cols} FROM requisitions WHERE pk = ?", (pk,))[0]
        out = dict(zip([c.strip() for c in cols.split(",")], row, strict=True))
        out["postings"] = [
            {"posting_id": r[0], "site": r[1], "start_date": r[2], "end_date": r[3], "active": bool(r[4])}
            for r in self.q(
                "SELECT posting_id, site, start_date, end_date, active FROM job_postings WHERE req_pk = ? "
                "ORDER BY pk",
                (pk,),
            )
        ]
        return out

    # ---- Post_Job / Get_Job_Postings
    def post_job(self, req: ET.Element, version: str, descriptors: bool) -> str:
        op = "Post_Job_Request"
        data = _kid(req, "Post_Job_Data")
        xp = f"/wd:{op}[1]/wd:Post_Job_Data[1]"
        if data is None:
            raise _validation("Post_Job_Data is required.", f"/wd:{op}[1]")
        req_ids = _ids(_kid(data, "Job_Requisition_Reference"))
        req_pk = self._requisition_pk(req_ids)
        if req_pk is None:
            kind, value = req_ids[0] if req_ids else ("Job_Requisition_ID", "")
            raise _invalid_id(value, kind, f"{xp}/wd:Job_Requisition_Reference[1]")
        req_id, status, title = self.q(
            "SELECT req_id, status, title FROM requisitions WHERE pk = ?", (req_pk,)
        )[0]
        if status != "Open":
            raise _validation(
                f"Job Requisition {req_id} must be open to be posted.",
                f"{xp}/wd:Job_Requisition_Reference[1]",
                detail=f"Job Requisition {req_id} is {status}; "
                "it can be posted once its approval is complete.",
            )
        sites = _kids(data, "Job_Posting_Site_Data")
        if not sites:
            raise _validation("Enter at least one job posting site.", xp)
        rows = []
        for n, site_el in enumerate(sites, 1):
            sxp = f"{xp}/wd:Job_Posting_Site_Data[{n}]"
            site = self._known(
                _kid(site_el, "Job_Posting_Site_Reference"),
                JOB_POSTING_SITES,
                "Job_Posting_Site_ID",
                f"{sxp}/wd:Job_Posting_Site_Reference[1]",
            )
            if site is None:
                raise _validation("Enter a job posting site.", sxp)
            start_text, end_text = (
                _txt(site_el, "Job_Posting_Start_Date"),
                _txt(site_el, "Job_Posting_End_Date"),
            )
            start = _parse_date(start_text)
            if start is None:
                raise _validation(
                    "Enter a valid Job Posting Start Date.", f"{sxp}/wd:Job_Posting_Start_Date[1]"
                )
            end = _parse_date(end_text) if end_text else None
            if end_text and (end is None or end < start):
                raise _validation(
                    "The Job Posting End Date must be on or after the start date.",
                    f"{sxp}/wd:Job_Posting_End_Date[1]",
                )
            if self.q(
                "SELECT 1 FROM job_postings WHERE req_pk = ? AND site = ? AND active = 1", (req_pk, site)
            ):
                raise _validation(
                    f"Job Requisition {req_id} is already posted on {JOB_POSTING_SITES[site]}.",
                    f"{sxp}/wd:Job_Posting_Site_Reference[1]",
                )
            primary = _bool_text(_txt(site_el, "Primary_Posting"))
            rows.append((site, start.isoformat(), end.isoformat() if end else None, primary))
        now = _now()
        out = ""
        with self.tx() as conn:
            for site, start_s, end_s, primary in rows:
                pk = int(conn.execute("SELECT COALESCE(MAX(pk), 0) + 1 FROM job_postings").fetchone()[0])
                wid, posting_id = _wid(self.seed_value, "job-posting", pk), f"JOB_POSTING-{pk:05d}"
                conn.execute(
                    "INSERT INTO job_postings(pk, wid, posting_id, req_pk, site, start_date, end_date, "
                    "primary_posting, active, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?)",
                    (pk, wid, posting_id, req_pk, site, start_s, end_s, int(primary), now),
                )
                out += _e(
                    "Job_Posting_Data",
                    _ref("Job_Posting_Reference", [("WID", wid), ("Job_Posting_ID", posting_id)], title)
                    + _ref("Job_Posting_Site_Reference", [("Job_Posting_Site_ID", site)])
                    + _t("Primary_Posting", primary),
                )
            conn.execute("INSERT INTO tx_log(kind, rec_pk, at) VALUES ('requisition', ?, ?)", (req_pk, now))
            event = self._event(conn, "Post_Job", now, req_id)
        self.counters["jobs_posted"] += len(rows)
        return (
            f'<wd:Post_Job_Response xmlns:wd="{WD_NS}" wd:version="{_attr(version)}">'
            + _ref("Event_Reference", [("WID", event)])
            + out
            + "</wd:Post_Job_Response>"
        )

    def get_job_postings(self, req: ET.Element, version: str, descriptors: bool) -> str:
        op = "Get_Job_Postings_Request"
        page, count, as_of = self._paging(req, op)
        criteria = _kid(req, "Request_Criteria")
        where: list[str] = ["p.created_at <= ?"]
        args: list[Any] = [as_of]
        req_pks = []
        for ref in _kids(criteria, "Job_Requisition_Reference"):
            pk = self._requisition_pk(_ids(ref))
            req_pks.append(pk if pk is not None else -1)
        if req_pks:
            where.append(f"p.req_pk IN ({','.join('?' * len(req_pks))})")
            args.extend(req_pks)
        sites = [v for ref in _kids(criteria, "Job_Posting_Site_Reference") for _k, v in _ids(ref)[:1]]
        if sites:
            where.append(f"p.site IN ({','.join('?' * len(sites))})")
            args.extend(sites)
        if _bool_text(_txt(criteria, "Show_Only_Active_Job_Postings")):
            where.append("p.active = 1")
        clause = " AND ".join(where)
        total = int(self.q(f"SELECT COUNT(*) FROM job_postings p WHERE {clause}", args)[0][0])
        rows = self.q(
            "SELECT p.wid, p.posting_id, p.site, p.start_date, p.end_date, p.primary_posting, r.wid, "
            "r.req_id, r.title FROM job_postings p JOIN requisitions r ON r.pk = p.req_pk "
            f"WHERE {clause} ORDER BY p.pk LIMIT ? OFFSET ?",
            [*args, count, (page - 1) * count],
        )
        body = "".join(
            _e(
                "Job_Posting",
                _ref("Job_Posting_Reference", [("WID", wid), ("Job_Posting_ID", posting_id)])
                + _e(
                    "Job_Posting_Data",
                    _t("Job_Posting_ID", posting_id)
                    + _t("Job_Posting_Title", title)
                    + _ref("Job_Requisition_Reference", [("WID", r_wid), ("Job_Requisition_ID", req_id)])
                    + _ref(
                        "Job_Posting_Site_Reference",
                        [("Job_Posting_Site_ID", site)],
                        JOB_POSTING_SITES.get(site) if descriptors else None,
                    )
                    + _t("Job_Posting_Start_Date", start)
                    + _t("Job_Posting_End_Date", end)
                    + _t("Primary_Posting", bool(primary)),
                ),
            )
            for wid, posting_id, site, start, end, primary, r_wid, req_id, title in rows
        )
        return (
            f'<wd:Get_Job_Postings_Response xmlns:wd="{WD_NS}" wd:version="{_attr(version)}">'
            + self._results(total, page, count, len(rows))
            + _e("Response_Data", body)
            + "</wd:Get_Job_Postings_Response>"
        )

    def _event(self, conn: sqlite3.Connection, kind: str, now: str, detail: str) -> str:
        pk = int(conn.execute("SELECT COALESCE(MAX(pk), 0) + 1 FROM events").fetchone()[0])
        wid = _wid(self.seed_value, "event", pk)
        conn.execute(
            "INSERT INTO events(pk, wid, kind, at, detail) VALUES (?, ?, ?, ?, ?)",
            (pk, wid, kind, now, detail),
        )
        return wid

    def move_candidate(self, req: ET.Element, version: str, descriptors: bool) -> str:
        op = "Move_Candidate_Request"
        dbp = _kid(req, "Dynamic_Business_Process_Parameters")
        mcd = _kid(req, "Move_Candidate_Data")
        xp = f"/wd:{op}[1]"
        if mcd is None:
            raise _validation("Move_Candidate_Data is required.", xp)
        app_ids = _ids(_kid(mcd, "Job_Application_Reference"))
        row: list[tuple[Any, ...]] = []
        if app_ids:
            for kind, value in app_ids:
                column = {"WID": "wid", "Job_Application_ID": "app_id"}.get(kind)
                if column:
                    row = self.q(
                        f"SELECT pk, cand_pk, disposition FROM applications WHERE {column} = ?", (value,)
                    )
                    if row:
                        break
            if not row:
                raise _invalid_id(
                    app_ids[0][1],
                    app_ids[0][0],
                    f"{xp}/wd:Move_Candidate_Data[1]/wd:Job_Application_Reference[1]",
                )
        else:
            ccd = _kid(mcd, "Candidate_Criteria_Data")
            cand_pk = self._candidate_pk(_ids(_kid(ccd, "Candidate_Reference")))
            req_pk = self._requisition_pk(_ids(_kid(ccd, "Requisition_Reference")))
            if cand_pk is None or req_pk is None:
                raise _validation(
                    "Enter a Candidate Reference and a Requisition Reference, or a Job Application.",
                    f"{xp}/wd:Move_Candidate_Data[1]",
                )
            row = self.q(
                "SELECT pk, cand_pk, disposition FROM applications WHERE cand_pk = ? AND req_pk = ?",
                (cand_pk, req_pk),
            )
            if not row:
                raise _validation(
                    "The candidate has no job application for this requisition.",
                    f"{xp}/wd:Move_Candidate_Data[1]/wd:Candidate_Criteria_Data[1]",
                )
        app_pk, cand_pk, disposition = row[0]
        if disposition:
            raise _validation(
                "An in-progress Job Application event is required.", f"{xp}/wd:Move_Candidate_Data[1]"
            )
        next_step = next((v for _k, v in _ids(_kid(dbp, "Next_Step_Reference"))), None)
        disp_step = next((v for _k, v in _ids(_kid(dbp, "Disposition_Step_Reference"))), None)
        if (next_step is None) == (disp_step is None):
            raise _validation(
                "Enter either a Next Step or a Disposition Step.",
                f"{xp}/wd:Dynamic_Business_Process_Parameters[1]",
            )
        if next_step is not None and next_step not in STAGES:
            raise _invalid_id(
                next_step,
                "Workflow_Step_ID",
                f"{xp}/wd:Dynamic_Business_Process_Parameters[1]/wd:Next_Step_Reference[1]",
            )
        if disp_step is not None and disp_step not in DISPOSITIONS:
            raise _invalid_id(
                disp_step,
                "Workflow_Step_ID",
                f"{xp}/wd:Dynamic_Business_Process_Parameters[1]/wd:Disposition_Step_Reference[1]",
            )
        now = _now()
        with self.tx() as conn:
            if next_step is not None:
                conn.execute(
                    "UPDATE applications SET stage = ?, status_at = ? WHERE pk = ?", (next_step, now, app_pk)
                )
            else:
                conn.execute(
                    "UPDATE applications SET disposition = ?, status_at = ? WHERE pk = ?",
                    (disp_step, now, app_pk),
                )
            self._touch(conn, cand_pk, now)
            event = self._event(conn, "Move_Candidate", now, str(app_pk))
        self.counters["moves"] += 1
        return (
            f'<wd:Move_Candidate_Response xmlns:wd="{WD_NS}" wd:version="{_attr(version)}">'
            + _ref("Event_Reference", [("WID", event)])
            + "</wd:Move_Candidate_Response>"
        )

    # ---- admin
    def person(self, wid: str) -> dict[str, Any] | None:
        rows = self.q(
            "SELECT pk, wid, candidate_id, first_name, last_name, origin, prospect, prospect_status "
            "FROM candidates WHERE wid = ?",
            (wid,),
        )
        if not rows:
            return None
        pk, wid, cid, first, last, origin, prospect, prospect_status = rows[0]
        return {
            "wid": wid,
            "prospect": bool(prospect),
            "prospect_status": prospect_status,
            "candidate_id": cid,
            "first_name": first,
            "last_name": last,
            "origin": origin,
            "emails": [
                r[0]
                for r in self.q("SELECT raw FROM candidate_emails WHERE cand_pk = ? ORDER BY position", (pk,))
            ],
            "tags": [
                r[0]
                for r in self.q(
                    "SELECT t.tag_id FROM candidate_tags ct JOIN tags t ON t.pk = ct.tag_pk "
                    "WHERE ct.cand_pk = ? "
                    "ORDER BY ct.position",
                    (pk,),
                )
            ],
            "attachments": [
                {
                    "wid": r[0],
                    "filename": r[1],
                    "comment": r[2],
                    "category": r[3],
                    "origin": r[4],
                    "content": bytes(r[5]).decode("utf-8", "replace"),
                }
                for r in self.q(
                    "SELECT wid, filename, comment, category, origin, content FROM attachments "
                    "WHERE cand_pk = ? AND app_pk IS NULL ORDER BY pk",
                    (pk,),
                )
            ],
            "applications": [
                {
                    "wid": r[0],
                    "application_id": r[1],
                    "requisition_wid": r[2],
                    "requisition_id": r[3],
                    "stage": r[4],
                    "disposition": r[5],
                    "source": r[6],
                    "attachments": [
                        {
                            "wid": a[0],
                            "filename": a[1],
                            "comment": a[2],
                            "content": bytes(a[3]).decode("utf-8", "replace"),
                        }
                        for a in self.q(
                            "SELECT wid, filename, comment, content FROM attachments WHERE app_pk = ? "
                            "ORDER BY pk",
                            (r[7],),
                        )
                    ],
                }
                for r in self.q(
                    "SELECT a.wid, a.app_id, q.wid, q.req_id, a.stage, a.disposition, a.source, a.pk "
                    "FROM applications a JOIN requisitions q ON q.pk = a.req_pk WHERE a.cand_pk = ? "
                    "ORDER BY a.pk",
                    (pk,),
                )
            ],
        }


# --------------------------------------------------------------------------------------------------------
# the app


class _SandboxApp(FastAPI):
    """FastAPI with the gate (latency, rate limit, faults) in front of every ``/ccx/`` path."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path", "").startswith("/ccx/"):
            tenant: _Tenant = self.state.sandbox
            await tenant.gate(scope, receive, send, super().__call__)
            return
        await super().__call__(scope, receive, send)


def create_app(
    db_path: str | Path,
    *,
    tenant: str = DEFAULT_TENANT,
    username: str = DEFAULT_USERNAME,
    password: str = DEFAULT_PASSWORD,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    max_version: str = DEFAULT_MAX_VERSION,
    transaction_log: bool = True,
    rate_limit: int = 0,
    rate_window: float = 60.0,
    latency_ms: float = 0.0,
    fault_rate: float = 0.0,
    fault_seed: int = 0,
    token_ttl: int = 3600,
    rotate_refresh_tokens: bool = False,
) -> FastAPI:
    """The sandbox ASGI app over the SQLite file ``db_path`` (schema created if missing, not seeded)."""
    config = _Config(
        tenant,
        max_version,
        transaction_log,
        rate_limit,
        rate_window,
        latency_ms,
        fault_rate,
        fault_seed,
        token_ttl,
        rotate_refresh_tokens,
    )
    sb = _Tenant(
        db_path,
        config,
        username=username,
        password=password,
        client_id=client_id,
        client_secret=client_secret,
    )
    app = _SandboxApp(
        title="Workday Recruiting (WWS) sandbox", docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.sandbox = sb

    @app.post("/ccx/service/{tenant_name}/Recruiting/{version}")
    async def soap(tenant_name: str, version: str, request: Request) -> Response:
        status, body = sb.soap(
            tenant_name, version, request.headers.get("authorization", ""), await request.body()
        )
        return Response(body, status_code=status, media_type="text/xml; charset=utf-8")

    @app.post("/ccx/oauth2/{tenant_name}/token")
    async def token(tenant_name: str, request: Request) -> Response:
        raw = (await request.body()).decode("utf-8", "replace")
        form = {k: v[-1] for k, v in urllib.parse.parse_qs(raw).items()}
        status, body = sb.issue_token(tenant_name, request.headers.get("authorization", ""), form)
        return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})

    @app.get("/_sandbox/config")
    async def get_config() -> Response:
        return JSONResponse(asdict(sb.config))

    @app.post("/_sandbox/config")
    async def set_config(request: Request) -> Response:
        try:
            changes = json.loads(await request.body() or b"{}")
            if not isinstance(changes, dict):
                raise ValueError("send a JSON object")
            return JSONResponse(sb.reconfigure(changes))
        except ValueError as exc:
            return JSONResponse({"message": str(exc)}, status_code=422)

    @app.get("/_sandbox/stats")
    async def stats() -> Response:
        return JSONResponse(sb.stats())

    @app.get("/_sandbox/health")
    async def health() -> Response:
        return JSONResponse({"ok": True})

    @app.post("/_sandbox/expire_tokens")
    async def expire_tokens() -> Response:
        count = len(sb.access_tokens)
        sb.access_tokens.clear()
        return JSONResponse({"expired": count})

    @app.get("/_sandbox/candidates/{wid}")
    async def candidate(wid: str) -> Response:
        found = sb.person(wid)
        if found is None:
            return JSONResponse({"message": "not found"}, status_code=404)
        return JSONResponse(found)

    @app.get("/_sandbox/requisitions/{req_id}")
    async def requisition(req_id: str) -> Response:
        found = sb.requisition(req_id)
        if found is None:
            return JSONResponse({"message": "not found"}, status_code=404)
        return JSONResponse(found)

    @app.post("/_sandbox/requisitions/{req_id}")
    async def set_requisition(req_id: str, request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            body = None
        status = body.get("status") if isinstance(body, dict) else None
        if not isinstance(status, str) or not status.strip():
            return JSONResponse({"message": 'send {"status": "Open"}'}, status_code=422)
        found = sb.set_requisition_status(req_id, status.strip())
        if found is None:
            return JSONResponse({"message": "not found"}, status_code=404)
        return JSONResponse(found)

    return app


class SandboxServer(ThreadedSandbox):
    """The Workday sandbox served by uvicorn in a background thread (port 0 picks a free one)."""

    vendor = "Workday"

    def create_app(self) -> FastAPI:
        return create_app(self.db_path, **self.app_kwargs)

    @property
    def tenant(self) -> str:
        return str(self.app_kwargs.get("tenant", DEFAULT_TENANT))

    @property
    def service_url(self) -> str:
        return f"{self.url}/ccx/service/{self.tenant}/Recruiting/{DEFAULT_VERSION}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m syncbridge.connectors.workday.sandbox",
        description="Local Workday Recruiting (WWS) sandbox",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="seed the database if needed, then serve until SIGTERM/SIGINT")
    serve.add_argument("--db", required=True, help="SQLite file (created and seeded if missing)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="0 picks a free port")
    serve.add_argument("--size", type=int, default=200, help=f"candidates to seed ({MIN_SIZE}..{MAX_SIZE})")
    serve.add_argument("--seed", type=int, default=7)
    serve.add_argument("--reset", action="store_true", help="wipe and re-seed the database")
    serve.add_argument("--max-version", default=DEFAULT_MAX_VERSION, help="highest WWS version accepted")
    serve.add_argument(
        "--no-transaction-log",
        action="store_true",
        help="refuse Transaction_Log_Criteria_Data like some tenants do",
    )
    serve.add_argument("--rate-limit", type=int, default=0, help="requests per window; 0 = unlimited")
    serve.add_argument("--rate-window", type=float, default=60.0)
    serve.add_argument("--latency-ms", type=float, default=0.0)
    serve.add_argument("--fault-rate", type=float, default=0.0)
    serve.add_argument("--fault-seed", type=int, default=0)
    serve.add_argument("--token-ttl", type=int, default=3600)
    serve.add_argument("--rotate-refresh-tokens", action="store_true")
    args = parser.parse_args(argv)

    seed(args.db, size=args.size, seed=args.seed, reset=args.reset)
    app = create_app(
        args.db,
        max_version=args.max_version,
        transaction_log=not args.no_transaction_log,
        rate_limit=args.rate_limit,
        rate_window=args.rate_window,
        latency_ms=args.latency_ms,
        fault_rate=args.fault_rate,
        fault_seed=args.fault_seed,
        token_ttl=args.token_ttl,
        rotate_refresh_tokens=args.rotate_refresh_tokens,
    )
    return serve_forever(
        app,
        args.host,
        args.port,
        banner=f"  (tenant {DEFAULT_TENANT}, SOAP at "
        f"/ccx/service/{DEFAULT_TENANT}/Recruiting/{DEFAULT_VERSION})",
    )


_seed_file = seed  # the plugin's method of that name takes a parameter called seed


class WorkdaySandbox(Sandbox):
    """The Workday sandbox as a plugin (entry point ``syncbridge.sandboxes``)."""

    vendor = "workday"
    employer = "Initech"
    connector_name = "initech-workday"
    outcome_prefix = "WD"
    env = DEMO_ENV
    demo_server_options = {}
    conformance_block_options = {"lag_minutes": 0}  # changes show at once (the sandbox has no lag)

    def seed(self, db_path: Path, *, size: int = 200, seed: int = 7, reset: bool = False) -> None:
        _seed_file(db_path, size=size, seed=seed, reset=reset)

    def demo_people(self, db_path: Path, *, n: int = 12, seed: int = 7) -> list[dict[str, Any]]:
        return demo_people(db_path, n=n, seed=seed)

    def server(self, db_path: Path, **options: Any) -> SandboxServer:
        return SandboxServer(db_path, **options)

    def main(self, argv: list[str]) -> int:
        return main(argv)

    def connector_block(self, base_url: str) -> dict[str, Any]:
        block = demo_connector_block(base_url)
        # Workday tags are tenant ids: the sandbox has a campus tag for the early-talent rule
        block["tag_ids"] = {**block["tag_ids"], "early-talent": "CAMPUS_2026"}
        return block

    def conversion_rule(self, employer: str) -> dict[str, Any] | None:
        return demo_conversion_rule(employer)

    def nurture_options(self) -> dict[str, Any] | None:
        return {"prospect_status": "NURTURE"}

    def note_texts(self, db_path: Path, email: str) -> list[str] | None:
        conn = sqlite3.connect(str(db_path))
        try:
            rows = conn.execute(
                "SELECT comment, content FROM attachments WHERE cand_pk IN "
                "(SELECT cand_pk FROM candidate_emails WHERE email_lc = ?)",
                (email.strip().lower(),),
            )
            return [f"{c or ''}\n{bytes(body).decode('utf-8', 'replace')}" for c, body in rows]
        finally:
            conn.close()


if __name__ == "__main__":
    raise SystemExit(main())
