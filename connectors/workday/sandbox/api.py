"""The Workday Recruiting (WWS) API of the sandbox: what each SOAP request means, its faults, OAuth tokens
and the admin endpoints (see the package docstring).

Latency, the rate limit and injected faults are the kit's gate in front of ``/ccx``; this module answers
what passes it.  Requests are parsed with defusedxml (DTDs and entities refused) and read through
:class:`_Node`, which knows each element's Xpath (where a fault points); responses are built as strings.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import secrets
import sqlite3
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Container
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from syncbridge.connectors.workday.envelopes import MAX_COUNT, NS, SOAP_NS
from syncbridge.connectors.workday.parse import local
from syncbridge.connectors.workday.sandbox import tenant as wd
from syncbridge.sandbox.faults import Gate, GatedApp, Reply, Settings
from syncbridge.sandbox.limits import FixedWindow
from syncbridge.sandbox.settings import setting_problem
from syncbridge.sandbox.store import Store
from syncbridge.sandbox.web import basic_credentials, install_admin_routes, read_form

VERSION_INVALID = "The web service or version is invalid for the requested operation."
Ids = list[tuple[str, str]]
Desc = Callable[[str | None], str | None]
Conn = sqlite3.Connection
Row = dict[str, Any]


def _parse_dt(text: str | None) -> datetime | None:
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00")) if text else None
    except ValueError:
        return None
    return dt if dt is None or dt.tzinfo else dt.replace(tzinfo=UTC)


def _parse_date(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text.strip()[:10]) if text else None
    except ValueError:
        return None


def _version_tuple(version: str) -> tuple[int, int] | None:
    major, _, minor = version[1:].partition(".")
    if not version.startswith("v") or not major.isdigit() or (minor and not minor.isdigit()):
        return None
    return int(major), int(minor or 0)


# --------------------------------------------------------------------------------------------------------
# XML output (string building) and faults


def _esc(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attr(value: str) -> str:
    return _esc(value).replace('"', "&quot;")


def _t(name: str, value: Any) -> str:
    """A leaf element; ``None`` gives nothing."""
    if value is None:
        return ""
    text = ("true" if value else "false") if isinstance(value, bool) else _esc(str(value))
    return f"<wd:{name}>{text}</wd:{name}>"


def _e(name: str, inner: str, descriptor: str | None = None) -> str:
    attrs = f' wd:Descriptor="{_attr(descriptor)}"' if descriptor else ""
    return f"<wd:{name}{attrs}>{inner}</wd:{name}>"


def _ref(name: str, ids: Ids, descriptor: str | None = None) -> str:
    inner = "".join(f'<wd:ID wd:type="{_attr(t)}">{_esc(v)}</wd:ID>' for t, v in ids if v)
    return _e(name, inner, descriptor)


def _opt(name: str, id_type: str, value: str | None, descriptor: str | None = None) -> str:
    """A reference with one ID, or nothing when there is no value."""
    return _ref(name, [(id_type, value)], descriptor) if value else ""


def _wid(name: str, wid: str) -> str:
    return _ref(name, [("WID", wid)])


def _key(kind: str, wid: str, key: str, descriptor: str | None = None) -> str:
    """``{kind}_Reference`` by WID and ``{kind}_ID``."""
    return _ref(f"{kind}_Reference", [("WID", wid), (f"{kind}_ID", key)], descriptor)


@dataclass(eq=False)
class _Fault(Exception):
    """A SOAP fault the handler answers with (HTTP 500 unless told otherwise)."""

    kind: str
    message: str
    xpath: str | None = None
    detail: str | None = None
    code: str | None = None
    status: int = 500


def _invalid_id(value: str, id_type: str, xpath: str) -> _Fault:
    message = f"Invalid ID value.  '{value}' is not a valid ID value for type = '{id_type}'"
    return _Fault("validation", message, xpath)


def _fault_xml(fault: _Fault) -> str:
    code_el = _t("Code", fault.code)
    if fault.kind == "validation":
        code, string = "SOAP-ENV:Client.validationError", f"Validation error occurred. {fault.message}"
        inner = _t("Message", fault.message) + _t("Detail_Message", fault.detail or fault.message)
        detail = _e("Validation_Fault", _e("Validation_Error", inner + _t("Xpath", fault.xpath) + code_el))
    elif fault.kind == "processing":
        code, string = "SOAP-ENV:Client.processingError", f"Processing error occurred. {fault.message}"
        detail = _e("Processing_Fault", _t("Detail_Message", fault.message) + code_el)
    else:
        code, string, detail = "SOAP-ENV:Client.authenticationError", fault.message, ""
    detail = f"<detail>{detail}</detail>" if detail else ""
    return (
        f'<SOAP-ENV:Fault xmlns:SOAP-ENV="{SOAP_NS}" xmlns:wd="{NS}"><faultcode>{code}</faultcode>'
        f"<faultstring>{_esc(string)}</faultstring>{detail}</SOAP-ENV:Fault>"
    )


def _envelope(inner: str) -> bytes:
    head = f'<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="{SOAP_NS}">'
    return f"{head}<env:Body>{inner}</env:Body></env:Envelope>".encode()


def _file_xml(f: Row, d: Desc) -> str:
    """An attachment's Filename, File_Content, Mime_Type_Reference and Comment."""
    content = _t("File_Content", base64.b64encode(bytes(f["content"])).decode())
    mime = _opt("Mime_Type_Reference", "Content_Type_ID", f["mime"], d(f["mime"]))
    return _t("Filename", f["filename"]) + content + mime + _t("Comment", f["comment"])


def _results(total: int, page: int, count: int, shown: int, body: str) -> str:
    pages = math.ceil(total / count) if total else 0
    results = _t("Total_Results", total) + _t("Total_Pages", pages) + _t("Page_Results", shown)
    return _e("Response_Results", results + _t("Page", page)) + _e("Response_Data", body)


# --------------------------------------------------------------------------------------------------------
# XML input


def _truthy(value: str | None, default: bool = False) -> bool:
    return default if value is None else value.strip().lower() in ("true", "1")


class _Node:
    """A request element, or the place of a missing one, with its Xpath (where its faults point)."""

    def __init__(self, el: ET.Element | None, xpath: str) -> None:
        self.el, self.xpath = el, xpath

    def _kids(self, name: str) -> list[ET.Element]:
        return [] if self.el is None else [c for c in self.el if local(c.tag) == name]

    def __getitem__(self, name: str) -> _Node:
        return _Node(next(iter(self._kids(name)), None), f"{self.xpath}/wd:{name}[1]")

    def all(self, name: str) -> list[_Node]:
        return [_Node(c, f"{self.xpath}/wd:{name}[{n}]") for n, c in enumerate(self._kids(name), 1)]

    @property
    def missing(self) -> bool:
        return self.el is None

    def attr(self, name: str) -> str | None:
        items = () if self.el is None else self.el.attrib.items()
        return next((v for k, v in items if local(k) == name), None)

    def text(self, name: str) -> str | None:
        el = self[name].el
        return None if el is None or el.text is None else el.text.strip() or None

    def flag(self, name: str, default: bool = False) -> bool:
        return _truthy(self.text(name), default)

    @property
    def ids(self) -> Ids:
        kids = self._kids("ID")
        return [(_Node(c, "").attr("type") or "", c.text.strip()) for c in kids if c.text and c.text.strip()]

    @property
    def value(self) -> str | None:
        """The first ID's value."""
        return next((v for _k, v in self.ids), None)

    def id_of(self, id_type: str) -> str | None:
        return next((v for k, v in self.ids if k == id_type), None)

    def bad(self, message: str, detail: str | None = None) -> _Fault:
        return _Fault("validation", message, self.xpath, detail)

    def check(self, ok: Any, message: str, detail: str | None = None) -> None:
        """A validation fault here unless ``ok``."""
        if not ok:
            raise self.bad(message, detail)

    def need(self, name: str) -> _Node:
        """The child ``name``, which the request must have."""
        self.check(not self[name].missing, f"{name} is required.")
        return self[name]

    def unknown(self, id_type: str = "WID", at: str = "") -> _Fault:
        """The fault for a reference that names nothing (its first ID, else an empty ``id_type``)."""
        kind, value = self.ids[0] if self.ids else (id_type, "")
        return _invalid_id(value, kind, self.xpath + at)

    def known(
        self, table: Container[str], id_type: str = "", fixed: bool = False, required: bool = False
    ) -> Any:
        """The first ID's value, which must be in ``table`` (``None`` when there is none, a fault if
        ``required``); a fault names the ID's own type (else ``id_type``), or ``id_type`` when ``fixed``."""
        kind, value = self.ids[0] if self.ids else (id_type, None)
        if (value is None and required) or (value is not None and value not in table):
            raise _invalid_id(value or "", id_type if fixed else kind or id_type, self.xpath)
        return value


def _by(rows: list[Row], key: str) -> dict[Any, list[Row]]:
    out: dict[Any, list[Row]] = {}
    for row in rows:
        out.setdefault(row[key], []).append(row)
    return out


def _decoded(rows: list[Row]) -> list[Row]:
    for row in rows:
        row["content"] = bytes(row["content"]).decode("utf-8", "replace")
    return rows


def _insert(conn: Conn, table: str, row: Row) -> None:
    conn.execute(wd.insert_sql(table, ", ".join(row)), tuple(row.values()))


# --------------------------------------------------------------------------------------------------------
# runtime state


@dataclass
class _Config(Settings):
    """The tenant's settings, all changeable while it runs (``/_sandbox/config``): the gate's latency and
    faults (the kit's); the highest WWS version accepted and whether Transaction_Log_Criteria_Data is; the
    fixed window (``rate_limit`` 0: unlimited); OAuth's access-token lifetime and refresh-token rotation."""

    max_version: str = wd.DEFAULT_MAX_VERSION
    transaction_log: bool = True
    rate_limit: int = 0
    rate_window: float = 60.0
    token_ttl: int = 3600
    rotate_refresh_tokens: bool = False


_SETTING_TYPES = {name: type(value) for name, value in asdict(_Config()).items()}
_TEXT = b"text/plain; charset=utf-8"
_UNEXPECTED = _Fault("processing", "An unexpected error occurred; please try again.", code="S99")
_GATE_REPLIES = {
    "rate_limited": Reply(429, b"Too Many Requests", _TEXT),
    "429": Reply(429, b"Too Many Requests", _TEXT, [(b"retry-after", b"1")]),
    "500": Reply(500, _envelope(_fault_xml(_UNEXPECTED)), b"text/xml; charset=utf-8"),
    "503": Reply(503, b"<html><body>Service Unavailable</body></html>", b"text/html"),
}
_CREDENTIALS = {"username": wd.DEFAULT_USERNAME, "password": wd.DEFAULT_PASSWORD}
_CREDENTIALS |= {"client_id": wd.DEFAULT_CLIENT_ID, "client_secret": wd.DEFAULT_CLIENT_SECRET}
_TX = "INSERT INTO tx_log(kind, rec_pk, at) VALUES (?, ?, ?)"
_SOURCE = ("Source_Reference", "Applicant_Source_ID")
# fmt: off
_COUNTERS = ["requests", "faults", "rate_limited", "soap_faults", "auth_failures", "attachments_written",
             "candidates_created", "tag_updates", "requisitions_created", "applications_created",
             "application_attachments_written", "jobs_posted", "moves", "tokens_issued"]
#: what ``/_sandbox/stats`` counts: name → (table, condition)
_STATS = {"candidates": ("candidates", ""), "requisitions": ("requisitions", ""),
          "applications": ("applications", ""), "tags_applied": ("candidate_tags", ""),
          "attachments": ("attachments", ""),
          "notes": ("attachments", "WHERE origin = 'api' AND app_pk IS NULL"),
          "application_attachments": ("attachments", "WHERE app_pk IS NOT NULL"),
          "job_postings": ("job_postings", "")}
#: the columns a reference's ID types name, per table
_KEYS = {"candidates": {"WID": "wid", "Candidate_ID": "candidate_id"},
         "requisitions": {"WID": "wid", "Job_Requisition_ID": "req_id"},
         "applications": {"WID": "wid", "Job_Application_ID": "app_id"},
         "tags": {"WID": "wid", wd.TAG_ID_TYPE: "tag_id"}}
#: the request elements answered, each by the method named after it (the response is named after it too)
_OPERATIONS = {"Get_Candidates_Request", "Get_Job_Requisitions_Request", "Put_Candidate_Request",
               "Put_Candidate_Attachment_Request", "Create_Requisition_Request", "Move_Candidate_Request",
               "Post_Job_Request", "Get_Job_Postings_Request"}
#: a created requisition's columns ← its Job_Requisition_Data: texts, and references to the tenant's values
#: (element, the values, ID type, whether a fault names that type whatever the request's)
_REQUISITION_TEXTS = {"description": "Job_Description", "start_date": "Recruiting_Start_Date",
                      "target_hire_date": "Target_Hire_Date", "justification": "Justification"}
_REQUISITION_REFS = {
    "location_id": ("Primary_Location_Reference", wd.LOCATIONS, "Location_ID", True),
    "job_profile": ("Job_Profile_Reference", wd.JOB_PROFILES, "Job_Profile_ID", False),
    "worker_type": ("Worker_Type_Reference", wd.WORKER_TYPES, "Worker_Type_ID", False),
    "time_type": ("Position_Time_Type_Reference", wd.TIME_TYPES, "Position_Time_Type_ID", False),
}
#: a requisition's references in Hiring_Requirement_Data: element, ID type, column, the tenant's names
_HIRING_REFS = [("Job_Profile_Reference", "Job_Profile_ID", "job_profile", wd.JOB_PROFILES),
                ("Worker_Type_Reference", "Worker_Type_ID", "worker_type", {}),
                ("Primary_Location_Reference", "Location_ID", "location_id", wd.LOCATIONS),
                ("Time_Type_Reference", "Position_Time_Type_ID", "time_type", {})]
# fmt: on


class _Tenant(Store):
    """Everything behind one app: the SQLite file, the config, tokens, counters and the operations."""

    def __init__(self, db_path: str | Path, config: _Config, tenant: str, **credentials: str) -> None:
        super().__init__(db_path, wd.ensure_schema)
        row = self.one("SELECT value FROM meta WHERE key = 'seed'")
        self.seed_value = row[0] if row else "unseeded"
        self.config, self.tenant, self.credentials = config, tenant, credentials
        self.limiter = FixedWindow(config.rate_limit, config.rate_window, default_window=60.0)
        self.counters = dict.fromkeys(_COUNTERS, 0)
        replies = _GATE_REPLIES.__getitem__
        self.gate = Gate(config, replies, limiter=self.limiter, prefix="/ccx", counters=self.counters)
        self.access_tokens: dict[str, float] = {}
        self.ops: dict[str, int] = {}
        self._walks: dict[tuple[Any, ...], tuple[int, dict[int, int]]] = {}

    # ---- admin: config, stats, tokens, records
    def config_dict(self) -> dict[str, Any]:
        return {"tenant": self.tenant, **asdict(self.config)}

    def reconfigure(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Change settings: all of them, or none when one cannot be changed (``ValueError``)."""

        def problem(key: str, value: Any) -> str | None:
            if key != "max_version":
                return setting_problem(self.config, key, value)
            return None if isinstance(value, str) and _version_tuple(value) else "must look like v46.0"

        bad = next((f"{k} {p}" for k, v in changes.items() if (p := problem(k, v))), None)
        if bad is not None:
            raise ValueError(bad)
        for key, value in changes.items():
            setattr(self.config, key, _SETTING_TYPES[key](value))
        if changes.keys() & {"rate_limit", "rate_window"}:
            self.limiter.configure(self.config.rate_limit, self.config.rate_window)
        if "fault_seed" in changes:
            self.gate.faults.reseed()
        return self.config_dict()

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: self.count(table, where) for name, (table, where) in _STATS.items()}
        return {**out, **self.counters, "operations": dict(self.ops)}

    def expire_tokens(self) -> int:
        count = len(self.access_tokens)
        self.access_tokens.clear()
        return count

    def person(self, wid: str) -> Row | None:
        columns = "pk, wid, prospect, prospect_status, candidate_id, first_name, last_name, origin"
        rows = self.dicts(f"SELECT {columns} FROM candidates WHERE wid = ?", (wid,))
        if not rows:
            return None
        out, pk = rows[0], rows[0].pop("pk")
        out["prospect"] = bool(out["prospect"])
        sql = "SELECT raw FROM candidate_emails WHERE cand_pk = ? ORDER BY position"
        out["emails"] = [r[0] for r in self.query(sql, (pk,))]
        sql = "SELECT t.tag_id FROM candidate_tags ct JOIN tags t ON t.pk = ct.tag_pk WHERE ct.cand_pk = ?"
        out["tags"] = [r[0] for r in self.query(f"{sql} ORDER BY ct.position", (pk,))]
        sql = "SELECT wid, filename, comment, category, origin, content FROM attachments WHERE cand_pk = ?"
        out["attachments"] = _decoded(self.dicts(f"{sql} AND app_pk IS NULL ORDER BY pk", (pk,)))
        out["applications"] = self.dicts(
            "SELECT a.wid, a.app_id AS application_id, q.wid AS requisition_wid, q.req_id AS requisition_id, "
            "a.stage, a.disposition, a.source, a.pk FROM applications a "
            "JOIN requisitions q ON q.pk = a.req_pk WHERE a.cand_pk = ? ORDER BY a.pk",
            (pk,),
        )
        for app in out["applications"]:
            sql = "SELECT wid, filename, comment, content FROM attachments WHERE app_pk = ? ORDER BY pk"
            app["attachments"] = _decoded(self.dicts(sql, (app.pop("pk"),)))
        return out

    def requisition(self, req_id: str) -> Row | None:
        """One requisition by Job_Requisition_ID or WID, with its postings."""
        pk = self._pk("requisitions", [("Job_Requisition_ID", req_id), ("WID", req_id)])
        if pk is None:
            return None
        columns = "wid, req_id, title, status, allocated, description, org_id, location_id, start_date, "
        columns += "target_hire_date, job_profile, worker_type, time_type, justification, reason, origin"
        out = self.dicts(f"SELECT {columns} FROM requisitions WHERE pk = ?", (pk,))[0]
        sql = "SELECT posting_id, site, start_date, end_date, active FROM job_postings WHERE req_pk = ?"
        postings = self.dicts(f"{sql} ORDER BY pk", (pk,))
        return {**out, "postings": [{**p, "active": bool(p["active"])} for p in postings]}

    def set_requisition_status(self, req_id: str, status: str) -> Row | None:
        """Move a requisition to ``status`` (e.g. finish its approval with ``Open``)."""
        pk = self._pk("requisitions", [("Job_Requisition_ID", req_id), ("WID", req_id)])
        if pk is None:
            return None
        now = wd.now_ts()
        with self.transaction() as conn:
            conn.execute("UPDATE requisitions SET status = ?, updated_at = ? WHERE pk = ?", (status, now, pk))
            conn.execute(_TX, ("requisition", pk, now))
        return self.requisition(req_id)

    # ---- OAuth
    def issue_token(self, tenant: str, authorization: str, form: dict[str, str]) -> tuple[int, Row]:
        if tenant != self.tenant:
            return 404, {"error": "invalid_request", "error_description": "unknown tenant"}
        given = basic_credentials(authorization) or (form.get("client_id", ""), form.get("client_secret", ""))
        wanted = (self.credentials["client_id"], self.credentials["client_secret"])
        if not all(
            secrets.compare_digest(a.encode(), b.encode()) for a, b in zip(given, wanted, strict=True)
        ):
            return 401, {"error": "invalid_client"}
        if form.get("grant_type") != "refresh_token":
            return 400, {"error": "unsupported_grant_type"}
        token = form.get("refresh_token", "")
        with self.transaction() as conn:
            row = conn.execute("SELECT active FROM refresh_tokens WHERE token = ?", (token,)).fetchone()
            if not row or not row[0]:
                return 400, {"error": "invalid_grant"}
            body: Row = {"token_type": "Bearer", "expires_in": self.config.token_ttl}
            if self.config.rotate_refresh_tokens:
                body["refresh_token"] = new = "sbx-wd-refresh-" + secrets.token_hex(12)
                conn.execute("UPDATE refresh_tokens SET active = 0 WHERE token = ?", (token,))
                _insert(conn, "refresh_tokens", {"token": new, "active": 1, "created_at": wd.now_ts()})
        access, now = "wdsbx." + secrets.token_urlsafe(24), time.time()
        self.access_tokens = {t: exp for t, exp in self.access_tokens.items() if exp > now}
        self.access_tokens[access] = now + self.config.token_ttl
        self.counters["tokens_issued"] += 1
        return 200, {**body, "access_token": access}

    # ---- SOAP
    def soap(self, tenant: str, version: str, authorization: str, body: bytes) -> tuple[int, bytes]:
        try:
            payload, descriptors = self._authenticate(tenant, version, authorization, body)
            op = local(payload.tag)
            if op not in _OPERATIONS:
                message = f"Invalid request element '{op}' for the Recruiting web service."
                raise _Fault("validation", message, f"/wd:{op}[1]")
            root_version = _Node(payload, "").attr("version")
            if root_version is not None and self._over_cap(root_version):
                raise _Fault("validation", VERSION_INVALID, f"/wd:{op}[1]/@wd:version")
            self.ops[op] = self.ops.get(op, 0) + 1
            d: Desc = (lambda value: value) if descriptors else (lambda value: None)
            inner = getattr(self, op.removesuffix("_Request").lower())(_Node(payload, f"/wd:{op}[1]"), d)
            name = op.replace("Create_Requisition", "Create_Job_Requisition").replace("_Request", "_Response")
            return 200, _envelope(
                f'<wd:{name} xmlns:wd="{NS}" wd:version="{_attr(version)}">{inner}</wd:{name}>'
            )
        except _Fault as fault:
            self.counters["soap_faults"] += 1
            self.counters["auth_failures"] += fault.kind == "authentication"
            return fault.status, _envelope(_fault_xml(fault))

    def _over_cap(self, version: str) -> bool:
        wanted, cap = _version_tuple(version), _version_tuple(self.config.max_version)
        return wanted is None or cap is None or wanted > cap

    def _authenticate(self, tenant: str, version: str, auth: str, body: bytes) -> tuple[ET.Element, bool]:
        if tenant != self.tenant:
            raise _Fault("authentication", f"Invalid tenant '{tenant}'", status=404)
        if self._over_cap(version):
            detail = f"The highest version this tenant accepts is {self.config.max_version}."
            raise _Fault("validation", VERSION_INVALID, detail=detail)
        try:
            envelope = fromstring(body, forbid_dtd=True)
        except DefusedXmlException:
            raise _Fault("validation", "DTDs and entity declarations are not allowed.") from None
        except ET.ParseError as exc:
            raise _Fault("validation", f"The request is not well-formed XML: {exc}") from None
        header, soap_body = _Node(envelope, "")["Header"], _Node(envelope, "")["Body"].el
        if local(envelope.tag) != "Envelope" or soap_body is None:
            raise _Fault("validation", "The request is not a SOAP 1.1 envelope.")
        if (payload := next(iter(soap_body), None)) is None:
            raise _Fault("validation", "The SOAP Body is empty.")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer":
            if self.access_tokens.get(token.strip(), 0) <= time.time():
                raise _Fault("authentication", "invalid or expired access token")
        else:
            utoken = header["Security"]["UsernameToken"]
            user, password = utoken.text("Username"), utoken.text("Password")
            if utoken.missing:
                raise _Fault("authentication", "no WS-Security UsernameToken and no bearer token")
            same = secrets.compare_digest((password or "").encode(), self.credentials["password"].encode())
            if not (user and password and user.lower() == self.credentials["username"].lower() and same):
                raise _Fault("authentication", "invalid username or password")
        return payload, header["Workday_Common_Header"].flag("Include_Reference_Descriptors_In_Response")

    # ---- reading requests
    def _find(self, table: str, ids: Ids, select: str = "pk") -> tuple[Any, ...] | None:
        """The first row a reference's IDs name (tried in order)."""
        for kind, value in ids:
            column = _KEYS[table].get(kind)
            row = self.one(f"SELECT {select} FROM {table} WHERE {column} = ?", (value,)) if column else None
            if row:
                return row
        return None

    def _pk(self, table: str, ids: Ids) -> int | None:
        row = self._find(table, ids)
        return int(row[0]) if row else None

    def _named(self, table: str, ref: _Node, select: str = "pk", id_type: str = "WID", at: str = "") -> Any:
        """The row a reference names (a fault when it names nothing)."""
        if (row := self._find(table, ref.ids, select)) is None:
            raise ref.unknown(id_type, at)
        return row

    def _tag(self, ref: _Node) -> tuple[Any, ...]:
        return self._named("tags", ref, "pk, wid, tag_id, name, active", wd.TAG_ID_TYPE, "/wd:ID[1]")

    def _paging(self, req: _Node) -> tuple[int, int, str]:
        rf = req["Response_Filter"]
        try:
            page, count = int(float(rf.text("Page") or 1)), int(float(rf.text("Count") or 100))
        except ValueError:
            raise rf.bad("Page and Count must be numbers.") from None
        rf["Page"].check(page >= 1, "Page must be greater than 0.")
        rf["Count"].check(1 <= count <= MAX_COUNT, f"Count must be between 1 and {MAX_COUNT}.")
        as_of_text = rf.text("As_Of_Entry_DateTime")
        as_of = _parse_dt(as_of_text) if as_of_text else datetime.now(UTC)
        if as_of is None:
            raise rf["As_Of_Entry_DateTime"].bad("As_Of_Entry_DateTime is not a valid dateTime.")
        return page, count, wd.ts(as_of)

    def _range(self, node: _Node, lo: str, hi: str, *, not_future: bool = False) -> tuple[str, str] | None:
        start_text, end_text = node.text(lo), node.text(hi)
        if start_text is None and end_text is None:
            return None
        node.check(start_text and end_text, f"{lo} and {hi} must be given together.")
        start, end = _parse_dt(start_text), _parse_dt(end_text)
        if start is None or end is None:
            raise node.bad(f"{lo}/{hi} must be valid dateTimes.")
        node.check(start <= end, f"{lo} must not be later than {hi}.")
        future = not_future and end > datetime.now(UTC) + timedelta(seconds=1)
        node[hi].check(not future, f"{hi} must not be later than the current moment.")
        return wd.ts(start), wd.ts(end)

    def _criteria(self, req: _Node, kind: str, as_of: str) -> tuple[list[str], list[Any]]:
        """The WHERE parts of Request_Criteria common to both lists: the entry moment, the transaction log."""
        where, args = ["created_at <= ?"], [as_of]
        tl = req["Request_Criteria"]["Transaction_Log_Criteria_Data"]
        if tl.missing:
            return where, args
        tl.check(self.config.transaction_log, "Transaction_Log_Criteria_Data is not enabled for this tenant.")
        dates = tl["Transaction_Date_Range_Data"]
        if (bounds := self._range(dates, "Updated_From", "Updated_Through", not_future=True)) is not None:
            where.append(
                "pk IN (SELECT rec_pk FROM tx_log WHERE kind = ? AND at >= ? AND at <= ? AND at <= ?)"
            )
            args.extend([kind, *bounds, as_of])
        return where, args

    def _page(
        self, table: str, where: list[str], args: list[Any], page: int, count: int, stable: bool
    ) -> Any:
        """(Total_Results, the pks of one page).  A walk with a pinned As_Of_Entry_DateTime sees a result set
        that later writes cannot change, so its total and page boundaries are remembered and the next page
        continues after the last pk (keyset) instead of re-scanning an OFFSET."""
        clause = " AND ".join(where)
        key = (table, clause, tuple(args), count)
        walk = self._walks.get(key) if stable else None
        if walk is None:
            walk = (self.count(table, f"WHERE {clause}", args), {0: 0})
            if stable:
                if len(self._walks) >= 64:
                    self._walks.pop(next(iter(self._walks)))
                self._walks[key] = walk
        after = walk[1].get(page - 1)
        offset = 0 if after is not None else (page - 1) * count
        sql = f"SELECT pk FROM {table} WHERE {clause} AND pk > ? ORDER BY pk LIMIT ? OFFSET ?"
        selected = [int(r[0]) for r in self.query(sql, [*args, after or 0, count, offset])]
        if stable and selected:
            walk[1][page] = selected[-1]
        return walk[0], selected

    def _listing(self, refs: _Node, name: str, table: str, skip: bool, page: int, count: int) -> Any:
        """(Total_Results, the pks of one page) of Request_References: distinct, a missing one a fault unless
        ``skip``."""
        pks: list[int] = []
        for ref in refs.all(name):
            pk = self._pk(table, ref.ids)
            if pk is None and not skip:
                raise ref.unknown()
            if pk is not None and pk not in pks:
                pks.append(pk)
        return len(pks), pks[(page - 1) * count : page * count]

    # ---- Get_Candidates / Get_Job_Requisitions
    def get_candidates(self, req: _Node, d: Desc) -> str:
        page, count, as_of = self._paging(req)
        include_att = not req["Response_Group"].flag("Exclude_All_Attachments", True)
        if not (refs := req["Request_References"]).missing:
            skip = _truthy(refs.attr("Skip_Non_Existing_Instances"))
            total, selected = self._listing(refs, "Candidate_Reference", "candidates", skip, page, count)
        else:
            criteria = req["Request_Criteria"]
            where, args = self._criteria(req, "candidate", as_of)
            if email := criteria.text("Candidate_Email_Address"):
                where.append("pk IN (SELECT cand_pk FROM candidate_emails WHERE email_lc = ?)")
                args.append(email.strip().lower())
            if applied := self._range(criteria, "Applied_From", "Applied_Through"):
                where.append(
                    "pk IN (SELECT cand_pk FROM applications WHERE applied_at >= ? AND applied_at <= ?)"
                )
                args.extend(applied)
            if created := self._range(criteria, "Created_From", "Created_Through"):
                where.append("created_at >= ? AND created_at <= ?")
                args.extend(created)
            for tag_ref in (tag_refs := criteria.all("Candidate_Tag_Reference")):
                where.append("pk IN (SELECT cand_pk FROM candidate_tags WHERE tag_pk = ?)")
                args.append(self._tag(tag_ref)[0])
            pinned = not req["Response_Filter"]["As_Of_Entry_DateTime"].missing
            stable = pinned and as_of <= wd.now_ts() and not email and not tag_refs
            total, selected = self._page("candidates", where, args, page, count, stable)
        return _results(total, page, count, len(selected), self._candidates_xml(selected, d, include_att))

    def _candidates_xml(self, pks: list[int], d: Desc, include_att: bool) -> str:
        marks = ",".join("?" * len(pks))

        def grouped(key: str, columns: str, tables: str, order: str) -> dict[Any, list[Row]]:
            sql = f"SELECT {columns} FROM {tables} WHERE {order.split(',')[0]} IN ({marks}) ORDER BY {order}"
            return _by(self.dicts(sql, pks), key)

        cands = grouped("pk", "*", "candidates", "pk")
        emails = grouped("cand_pk", "cand_pk, raw", "candidate_emails", "cand_pk, position")
        tags = "candidate_tags ct JOIN tags t ON t.pk = ct.tag_pk"
        tags_of = grouped("cand_pk", "ct.cand_pk, t.wid, t.tag_id, t.name", tags, "ct.cand_pk, ct.position")
        apps = "applications a JOIN requisitions r ON r.pk = a.req_pk"
        apps_of = grouped("cand_pk", "a.*, r.wid AS r_wid, r.req_id, r.title", apps, "a.cand_pk, a.pk")
        files = grouped("app_pk", "*", "attachments", "cand_pk, pk") if include_att else {}
        on_candidate, out = _by(files.get(None, []), "cand_pk"), ""
        for c in (cands[pk][0] for pk in pks if pk in cands):
            pk, first, last, cid, country, code = (
                c[k] for k in ("pk", "first_name", "last_name", "candidate_id", "country", "phone_code")
            )
            contact = ""
            if c["phone"] and code:
                code_ids = [("Country_Phone_Code_ID", f"{country}_{code[1:]}")]
                contact += _ref("Country_Phone_Code_Reference", code_ids, d(code))
            contact += _t("Phone_Number", c["phone"] or None)
            contact += "".join(_t("Email_Address", e["raw"]) for e in emails.get(pk, []))
            location = _ref("Country_Reference", [("ISO_3166-1_Alpha-3_Code", country)], d(country))
            contact += _e("Location_Data", location + _t("City", c["city"] or None))
            name = _e("Name_Detail_Data", _t("First_Name", first) + _t("Last_Name", last))
            status = _t("Do_Not_Hire", bool(c["do_not_hire"])) + _t("Withdrawn", bool(c["withdrawn"]))
            parts = _t("Candidate_ID", cid) + _e("Name_Data", _e("Legal_Name", name))
            parts += _e("Contact_Data", contact) + _e("Status_Data", status)
            parts += "".join(self._application_xml(a, files.get(a["pk"], []), d) for a in apps_of.get(pk, []))
            if c["prospect"]:
                status_id, source = c["prospect_status"], c["source"]
                prospect = _t("Prospect", True)
                prospect += _opt("Prospect_Status_Reference", "Prospect_Status_ID", status_id, d(status_id))
                parts += _e("Prospect_Data", prospect + _opt(*_SOURCE, source, d(source)))
            for t in tags_of.get(pk, []):
                tag = [("WID", t["wid"]), (wd.TAG_ID_TYPE, t["tag_id"])]
                parts += _ref("Candidate_Tag_Reference", tag, d(t["name"]))
            for f in on_candidate.get(pk, []):
                category = [(wd.DOCUMENT_CATEGORY_TYPE, f["category"])]
                category_name = wd.DOCUMENT_CATEGORIES.get(f["category"], (f["category"], True))[0]
                attachment = _wid("Candidate_Attachment_Reference", f["wid"])
                attachment += _e("Attachment_Data", _file_xml(f, d))
                attachment += _ref("Document_Category_Reference", category, d(category_name))
                parts += _e("Candidate_Attachment_Data", attachment)
            full = " ".join(p for p in (first, last) if p)
            ref = _key("Candidate", c["wid"], cid, d(full or cid))
            out += _e("Candidate", ref + _e("Candidate_Data", parts))
        return out

    @staticmethod
    def _application_xml(a: Row, files: list[Row], d: Desc) -> str:
        disp, req_id = a["disposition"], a["req_id"]
        applied = _t("Job_Application_ID", a["app_id"])
        applied += _key("Job_Requisition", a["r_wid"], req_id, d(f"{req_id} {a['title']}"))
        applied += _t("Job_Application_Date", a["applied_at"][:23] + "+00:00")  # stored UTC, sent with offset
        applied += _ref("Stage_Reference", [("Recruiting_Stage_ID", a["stage"])], d(a["stage"]))
        disp_name = d(wd.DISPOSITIONS.get(disp, disp))
        applied += _opt("Disposition_Reference", "Recruiting_Disposition_ID", disp, disp_name)
        applied += _t("Status_Timestamp", a["status_at"][:23] + "+00:00")
        applied += _opt(*_SOURCE, a["source"], d(a["source"]))
        resumes = "".join(_e("Resume_Attachment_Data", _t("ID", f["wid"]) + _file_xml(f, d)) for f in files)
        ref = _key("Job_Application", a["wid"], a["app_id"])
        return _e("Job_Application_Data", ref + _e("Job_Applied_To_Data", applied) + resumes)

    def get_job_requisitions(self, req: _Node, d: Desc) -> str:
        page, count, as_of = self._paging(req)
        if not (refs := req["Request_References"]).missing:
            name = "Job_Requisition_Reference"
            total, selected = self._listing(refs, name, "requisitions", True, page, count)
        else:
            where, args = self._criteria(req, "requisition", as_of)
            total, selected = self._page("requisitions", where, args, page, count, False)
        out = ""
        for pk in selected:
            r = self.dicts("SELECT * FROM requisitions WHERE pk = ?", (pk,))[0]
            detail = _t("Job_Posting_Title", r["title"]) + _t("Positions_Allocated", r["allocated"])
            detail += _t("Positions_Available", r["available"]) + _t("Job_Description", r["description"])
            detail += _t("Confidential_Job_Requisition", bool(r["confidential"]))
            hiring = _t("Recruiting_Start_Date", r["start_date"])
            hiring += _t("Target_Hire_Date", r["target_hire_date"])
            for name, id_type, column, names in _HIRING_REFS:
                hiring += _opt(name, id_type, r[column], d(names.get(r[column], r[column])))
            status, org = r["status"], r["org_id"]
            status_ids = [("Job_Requisition_Status_ID", status)]
            data = _ref("Job_Requisition_Status_Reference", status_ids, d(status))
            data += _e("Job_Requisition_Detail_Data", detail) + _e("Hiring_Requirement_Data", hiring)
            org_name = d(wd.ORGS.get(org, org))
            data += _opt("Supervisory_Organization_Reference", "Organization_Reference_ID", org, org_name)
            ref = _key("Job_Requisition", r["wid"], r["req_id"], d(r["title"]))
            out += _e("Job_Requisition", ref + _e("Job_Requisition_Data", data))
        return _results(total, page, count, len(selected), out)

    # ---- writes
    def _ids(self, conn: Conn, table: str, kind: str) -> tuple[int, str]:
        """The next pk of ``table`` and its WID."""
        pk = int(conn.execute(f"SELECT COALESCE(MAX(pk), 0) + 1 FROM {table}").fetchone()[0])
        return pk, wd.make_wid(self.seed_value, kind, pk)

    def _touch(self, conn: Conn, cand_pk: int, now: str) -> None:
        conn.execute("UPDATE candidates SET updated_at = ?, touched = 1 WHERE pk = ?", (now, cand_pk))
        conn.execute(_TX, ("candidate", cand_pk, now))

    def _event(self, conn: Conn, kind: str, now: str, detail: str) -> str:
        """Record a business process event; its ``Event_Reference``."""
        pk, wid = self._ids(conn, "events", "event")
        _insert(conn, "events", {"pk": pk, "wid": wid, "kind": kind, "at": now, "detail": detail})
        return _wid("Event_Reference", wid)

    def _candidate_ref(self, pk: int) -> str:
        wid, cid = self.one("SELECT wid, candidate_id FROM candidates WHERE pk = ?", (pk,)) or ("", "")
        return _key("Candidate", wid, cid)

    def put_candidate(self, req: _Node, d: Desc) -> str:
        data = req.need("Candidate_Data")
        name, contact = data["Name_Data"]["Legal_Name"]["Name_Detail_Data"], data["Contact_Data"]
        first, last = name.text("First_Name"), name.text("Last_Name")
        email, phone = contact.text("Email_Address"), contact.text("Phone_Number")
        prospect_el, tag_refs, tags = data["Prospect_Data"], data.all("Candidate_Tag_Reference"), []
        for n, tag_ref in enumerate(tag_refs, 1):
            tag = self._tag(tag_ref)
            inactive = f"Candidate Tag '{tag[3]}' is inactive. Enter active candidate tags."
            tag_ref.check(tag[4], "Enter active candidate tags.", inactive)
            tags.append((tag[0], n))
        applications = self._job_applications(data)
        now, ref = wd.now_ts(), req["Candidate_Reference"]
        if not ref.missing:
            pk = self._named("candidates", ref)[0]
            add_only = _truthy(req.attr("Add_Only"))
            ref.check(not add_only, "The candidate already exists; Add_Only does not allow updates.")
            with self.transaction() as conn:
                if first is not None or last is not None:
                    names = "first_name = COALESCE(?, first_name), last_name = COALESCE(?, last_name)"
                    conn.execute(f"UPDATE candidates SET {names} WHERE pk = ?", (first, last, pk))
                if phone is not None:
                    conn.execute("UPDATE candidates SET phone = ? WHERE pk = ?", (phone, pk))
                if not prospect_el.missing:
                    status = prospect_el["Prospect_Status_Reference"].known(wd.PROSPECT_STATUSES)
                    sql = "UPDATE candidates SET prospect = ?, prospect_status = COALESCE(?, prospect_status)"
                    conn.execute(f"{sql} WHERE pk = ?", (int(prospect_el.flag("Prospect", True)), status, pk))
                if email is not None:
                    conn.execute("DELETE FROM candidate_emails WHERE cand_pk = ? AND position = 0", (pk,))
                if tag_refs:
                    conn.execute("DELETE FROM candidate_tags WHERE cand_pk = ?", (pk,))
                    self.counters["tag_updates"] += 1
                created = self._add(conn, pk, email, tags, applications, now)
                self._touch(conn, pk, now)
        else:
            data["Name_Data"].check(last, "Enter a name for the candidate.")
            data["Contact_Data"].check(email or phone, "Enter an email address or a phone number.")
            wanted = "Enter Job Application Data or Prospect Data for a new candidate."
            data.check(not prospect_el.missing or not data["Job_Application_Data"].missing, wanted)
            prospect = 0 if prospect_el.missing else int(prospect_el.flag("Prospect", True))
            source = prospect_el["Source_Reference"].known(wd.SOURCE_IDS)
            with self.transaction() as conn:
                pk, wid = self._ids(conn, "candidates", "created-candidate")
                row = {"pk": pk, "wid": wid, "candidate_id": f"C{pk:07d}", "first_name": first}
                row |= {"last_name": last, "phone": phone, "country": "USA", "prospect": prospect}
                row |= {"origin": "api", "touched": 1, "created_at": now, "updated_at": now, "source": source}
                _insert(conn, "candidates", row)
                created = self._add(conn, pk, email, tags, applications, now)
                conn.execute(_TX, ("candidate", pk, now))
            self.counters["candidates_created"] += 1
        refs = (_key("Job_Application", *app) + _key("Job_Requisition", *req) for app, req in created)
        return self._candidate_ref(pk) + "".join(_e("Candidate_Job_Application_Data", r) for r in refs)

    def _job_applications(self, data: _Node) -> list[tuple[int, str, str | None, _Node]]:
        """Validate ``Job_Application_Data*/Job_Applied_To_Data``: (requisition pk, stage, source, node)."""
        out = []
        for app in data.all("Job_Application_Data"):
            for applied in app.all("Job_Applied_To_Data"):
                out.append(self._job_application(applied))
        return out

    def _job_application(self, applied: _Node) -> tuple[int, str, str | None, _Node]:
        req_ref = applied["Job_Requisition_Reference"]
        found = self._named("requisitions", req_ref, "pk, req_id, status", "Job_Requisition_ID")
        req_pk, req_id, status = found
        closed = f"Job Requisition {req_id} is {status} and does not accept applications."
        req_ref.check(status not in wd.NOT_OPEN_FOR_APPLICATIONS, closed)
        stage = applied["Stage_Reference"].known(wd.STAGES)
        applied.check(stage, "Enter a Stage for the job application.")
        return int(req_pk), stage, applied["Source_Reference"].known(wd.SOURCE_IDS), applied

    def _add(
        self, conn: Conn, cand_pk: int, email: str | None, tags: list[Any], apps: list[Any], now: str
    ) -> list[Any]:
        """Add a candidate's first e-mail, tags and job applications; ((WID, ID) of each application, and
        of its requisition)."""
        if email is not None:
            emails = {"email_lc": email.strip().lower(), "raw": email, "cand_pk": cand_pk, "position": 0}
            _insert(conn, "candidate_emails", emails)
        sql = wd.insert_sql("candidate_tags", "cand_pk, tag_pk, position", "INSERT OR IGNORE")
        conn.executemany(sql, [(cand_pk, tag_pk, n) for tag_pk, n in tags])
        created = []
        for req_pk, stage, source, applied in apps:
            requisition = self.query("SELECT wid, req_id FROM requisitions WHERE pk = ?", (req_pk,))[0]
            if self.one("SELECT 1 FROM applications WHERE cand_pk = ? AND req_pk = ?", (cand_pk, req_pk)):
                sql = "SELECT COALESCE(first_name || ' ', '') || last_name FROM candidates WHERE pk = ?"
                name = self.query(sql, (cand_pk,))[0][0]
                raise applied.bad(f"{name} has already applied to {requisition[1]}.")
            pk, wid = self._ids(conn, "applications", "created-application")
            row = {"pk": pk, "wid": wid, "app_id": f"JA-{pk:07d}", "cand_pk": cand_pk, "req_pk": req_pk}
            row |= {"applied_at": now, "stage": stage, "source": source, "status_at": now}
            _insert(conn, "applications", row)
            created.append(((wid, row["app_id"]), requisition))
            self.counters["applications_created"] += 1
        return created

    def _add_file(self, conn: Conn, cand_pk: int, file: Any, category: str, now: str, app_pk: Any) -> str:
        """Insert a file (Filename, content, Comment, Content_Type_ID); its WID."""
        pk, wid = self._ids(conn, "attachments", "created-attachment")
        filename, content, comment, mime = file
        row = {"pk": pk, "wid": wid, "cand_pk": cand_pk, "filename": filename, "content": content}
        row |= {"comment": comment, "category": category, "mime": mime or "text/plain", "origin": "api"}
        _insert(conn, "attachments", {**row, "created_at": now, "app_pk": app_pk})
        return wid

    @staticmethod
    def _file(att: _Node) -> tuple[str, bytes, str | None, str | None]:
        """(Filename, decoded File_Content, Comment, Content_Type_ID) of an Attachment_WWS_Data."""
        filename, content_b64 = att.text("Filename"), att.text("File_Content")
        if not filename or not content_b64:
            raise att.bad("Enter the Filename and File Content.")
        try:
            content = base64.b64decode(content_b64, validate=True)
        except (binascii.Error, ValueError):
            raise att["File_Content"].bad("File_Content is not valid base64.") from None
        return filename, content, att.text("Comment"), att["Mime_Type_Reference"].id_of("Content_Type_ID")

    def put_candidate_attachment(self, req: _Node, d: Desc) -> str:
        cand_pk = self._named("candidates", req["Candidate_Reference"])[0]
        cad, now = req["Candidate_Attachment_Data"], wd.now_ts()
        if cad.missing:
            jads = req.all("Job_Application_Attachment_Data")
            req.check(jads, "Candidate_Attachment_Data or Job_Application_Attachment_Data is required.")
            return self._put_application_attachments(jads, cand_pk, now)
        file = self._file(cad["Attachment_Data"])
        category_ref = cad["Document_Category_Reference"]
        if (category := category_ref.id_of(wd.DOCUMENT_CATEGORY_TYPE)) not in wd.DOCUMENT_CATEGORIES:
            raise category_ref.unknown(wd.DOCUMENT_CATEGORY_TYPE)
        allowed = wd.DOCUMENT_CATEGORIES[str(category)][1]
        category_ref.check(allowed, "You must have access to the document category.")
        with self.transaction() as conn:
            wid = self._add_file(conn, cand_pk, file, str(category), now, None)
            self._touch(conn, cand_pk, now)
        self.counters["attachments_written"] += 1
        return _wid("Attachment_Reference", wid)

    def _put_application_attachments(self, jads: list[_Node], cand_pk: int, now: str) -> str:
        """``Job_Application_Attachment_Data*``: files on job applications of the candidate."""
        items = []
        for jad in jads:
            app_ref = jad["Job_Application_Reference"]
            app = self._named("applications", app_ref, "pk, cand_pk, wid, app_id", "Job_Application_ID")
            app_ref.check(app[1] == cand_pk, "The job application does not belong to the candidate.")
            attachments = jad.all("Attachment_Data")
            jad["Attachment_Data"].check(attachments, "Enter the Filename and File Content.")
            items += [(app, self._file(att)) for att in attachments]
        written: list[tuple[tuple[str, str], list[str]]] = []  # (application WID, ID), its new files
        with self.transaction() as conn:
            for (app_pk, _cand, app_wid, app_id), file in items:
                if not written or written[-1][0] != (app_wid, app_id):
                    written.append(((app_wid, app_id), []))
                written[-1][1].append(self._add_file(conn, cand_pk, file, "JOB_APPLICATION", now, app_pk))
            self._touch(conn, cand_pk, now)
        self.counters["application_attachments_written"] += len(items)
        out = self._candidate_ref(cand_pk)
        for app, wids in written:
            files = "".join(_wid("Job_Application_Attachment_Reference", w) for w in wids)
            out += _e("Job_Application_Attachment_Data", _key("Job_Application", *app) + files)
        return out

    def create_requisition(self, req: _Node, d: Desc) -> str:
        auto_complete = req["Business_Process_Parameters"].flag("Auto_Complete")
        data = req.need("Create_Job_Requisition_Data")
        org_ref = data["Supervisory_Organization_Reference"]
        one_of = bool(org_ref.ids) != bool(data["Position_Restriction_Reference"].ids)
        data.check(one_of, "Enter either a Supervisory Organization or a Position Restriction.")
        org, reason_ref = org_ref.known(wd.ORGS), data["Create_Job_Requisition_Reason_Reference"]
        reason = reason_ref.known(wd.REASONS, "General_Event_Subcategory_ID", fixed=True, required=True)
        try:
            openings = int(float(data.text("Number_of_Openings") or "0"))
        except ValueError:
            openings = 0
        data["Number_of_Openings"].check(openings >= 1, "Number of Openings must be at least 1.")
        jrd = data["Job_Requisition_Data"]
        title, wanted_id = jrd.text("Job_Posting_Title"), jrd.text("Job_Requisition_ID")
        jrd.check(title, "Enter a Job Posting Title.")
        taken = wanted_id is not None and self._pk("requisitions", [("Job_Requisition_ID", wanted_id)])
        message = f"The Job Requisition ID '{wanted_id}' is already in use."
        detail = f"Job Requisition ID '{wanted_id}' already exists. Enter a unique ID."
        jrd["Job_Requisition_ID"].check(not taken, message, detail)
        row: Row = {column: jrd.text(name) for column, name in _REQUISITION_TEXTS.items()}
        for column, (name, values, id_type, fixed) in _REQUISITION_REFS.items():
            row[column] = jrd[name].known(values, id_type, fixed)
        now = wd.now_ts()
        with self.transaction() as conn:
            pk, wid = self._ids(conn, "requisitions", "created-requisition")
            req_id, status = wanted_id or f"R-{pk:05d}", "Open" if auto_complete else "Awaiting Approval"
            row |= {"pk": pk, "wid": wid, "req_id": req_id, "title": title, "status": status, "org_id": org}
            row |= {"allocated": openings, "available": openings, "reason": reason, "origin": "api"}
            _insert(conn, "requisitions", {**row, "created_at": now, "updated_at": now})
            conn.execute(_TX, ("requisition", pk, now))
            event = self._event(conn, "Create_Job_Requisition", now, req_id)
        self.counters["requisitions_created"] += 1
        return event + _key("Job_Requisition", wid, req_id)

    # ---- Post_Job / Get_Job_Postings / Move_Candidate
    def post_job(self, req: _Node, d: Desc) -> str:
        data = req.need("Post_Job_Data")
        req_ref = data["Job_Requisition_Reference"]
        found = self._named("requisitions", req_ref, "pk, req_id, status, title", "Job_Requisition_ID")
        req_pk, req_id, status, title = found
        detail = f"Job Requisition {req_id} is {status}; it can be posted once its approval is complete."
        req_ref.check(status == "Open", f"Job Requisition {req_id} must be open to be posted.", detail)
        data.check(sites := data.all("Job_Posting_Site_Data"), "Enter at least one job posting site.")
        rows = []
        for site_el in sites:
            site_ref = site_el["Job_Posting_Site_Reference"]
            site = site_ref.known(wd.JOB_POSTING_SITES, "Job_Posting_Site_ID")
            site_el.check(site, "Enter a job posting site.")
            start = _parse_date(site_el.text("Job_Posting_Start_Date"))
            site_el["Job_Posting_Start_Date"].check(start, "Enter a valid Job Posting Start Date.")
            end = _parse_date(end_text) if (end_text := site_el.text("Job_Posting_End_Date")) else None
            ok = not end_text or (end is not None and start is not None and end >= start)
            message = "The Job Posting End Date must be on or after the start date."
            site_el["Job_Posting_End_Date"].check(ok, message)
            sql = "SELECT 1 FROM job_postings WHERE req_pk = ? AND site = ? AND active = 1"
            taken = f"Job Requisition {req_id} is already posted on {wd.JOB_POSTING_SITES[site]}."
            site_ref.check(not self.one(sql, (req_pk, site)), taken)
            dates = {"start_date": str(start), "end_date": end and end.isoformat()}
            rows.append({"site": site, **dates, "primary_posting": site_el.flag("Primary_Posting")})
        now, out = wd.now_ts(), ""
        with self.transaction() as conn:
            for row in rows:
                pk, wid = self._ids(conn, "job_postings", "job-posting")
                posting = {"pk": pk, "wid": wid, "posting_id": f"JOB_POSTING-{pk:05d}", "req_pk": req_pk}
                _insert(conn, "job_postings", {**posting, **row, "active": 1, "created_at": now})
                xml = _key("Job_Posting", wid, posting["posting_id"], title)
                xml += _ref("Job_Posting_Site_Reference", [("Job_Posting_Site_ID", row["site"])])
                out += _e("Job_Posting_Data", xml + _t("Primary_Posting", row["primary_posting"]))
            conn.execute(_TX, ("requisition", req_pk, now))
            event = self._event(conn, "Post_Job", now, req_id)
        self.counters["jobs_posted"] += len(rows)
        return event + out

    def get_job_postings(self, req: _Node, d: Desc) -> str:
        page, count, as_of = self._paging(req)
        criteria, where = req["Request_Criteria"], ["p.created_at <= ?"]
        args: list[Any] = [as_of]
        req_pks = [self._pk("requisitions", ref.ids) for ref in criteria.all("Job_Requisition_Reference")]
        sites = [ref.value for ref in criteria.all("Job_Posting_Site_Reference") if ref.value is not None]
        for column, values in (("p.req_pk", [-1 if pk is None else pk for pk in req_pks]), ("p.site", sites)):
            if values:
                where.append(f"{column} IN ({','.join('?' * len(values))})")
                args.extend(values)
        if criteria.flag("Show_Only_Active_Job_Postings"):
            where.append("p.active = 1")
        clause = " AND ".join(where)
        total = self.count("job_postings p", f"WHERE {clause}", args)
        sql = "SELECT p.*, r.wid AS r_wid, r.req_id, r.title FROM job_postings p JOIN requisitions r"
        sql += " ON r.pk = p.req_pk"
        rows = self.dicts(
            f"{sql} WHERE {clause} ORDER BY p.pk LIMIT ? OFFSET ?", [*args, count, (page - 1) * count]
        )
        body = ""
        for p in rows:
            site = [("Job_Posting_Site_ID", p["site"])]
            data = _t("Job_Posting_ID", p["posting_id"]) + _t("Job_Posting_Title", p["title"])
            data += _key("Job_Requisition", p["r_wid"], p["req_id"])
            data += _ref("Job_Posting_Site_Reference", site, d(wd.JOB_POSTING_SITES.get(p["site"])))
            data += _t("Job_Posting_Start_Date", p["start_date"]) + _t("Job_Posting_End_Date", p["end_date"])
            data += _t("Primary_Posting", bool(p["primary_posting"]))
            posting = _key("Job_Posting", p["wid"], p["posting_id"])
            body += _e("Job_Posting", posting + _e("Job_Posting_Data", data))
        return _results(total, page, count, len(rows), body)

    def move_candidate(self, req: _Node, d: Desc) -> str:
        mcd = req.need("Move_Candidate_Data")
        if (app_ref := mcd["Job_Application_Reference"]).ids:
            row = self._named("applications", app_ref, "pk, cand_pk, disposition")
        else:
            ccd = mcd["Candidate_Criteria_Data"]
            cand_pk = self._pk("candidates", ccd["Candidate_Reference"].ids)
            req_pk = self._pk("requisitions", ccd["Requisition_Reference"].ids)
            wanted = "Enter a Candidate Reference and a Requisition Reference, or a Job Application."
            mcd.check(cand_pk is not None and req_pk is not None, wanted)
            sql = "SELECT pk, cand_pk, disposition FROM applications WHERE cand_pk = ? AND req_pk = ?"
            found = self.one(sql, (cand_pk, req_pk))
            if found is None:
                raise ccd.bad("The candidate has no job application for this requisition.")
            row = found
        app_pk, cand_pk, disposition = row
        mcd.check(not disposition, "An in-progress Job Application event is required.")
        dbp = req["Dynamic_Business_Process_Parameters"]
        next_ref, disp_ref = dbp["Next_Step_Reference"], dbp["Disposition_Step_Reference"]
        one_of = (next_ref.value is None) != (disp_ref.value is None)
        dbp.check(one_of, "Enter either a Next Step or a Disposition Step.")
        stage = next_ref.known(wd.STAGES, "Workflow_Step_ID", fixed=True)
        disposition = disp_ref.known(wd.DISPOSITIONS, "Workflow_Step_ID", fixed=True)
        column, value = ("stage", stage) if stage is not None else ("disposition", disposition)
        now = wd.now_ts()
        with self.transaction() as conn:
            conn.execute(
                f"UPDATE applications SET {column} = ?, status_at = ? WHERE pk = ?", (value, now, app_pk)
            )
            self._touch(conn, cand_pk, now)
            event = self._event(conn, "Move_Candidate", now, str(app_pk))
        self.counters["moves"] += 1
        return event


# --------------------------------------------------------------------------------------------------------
# the app


async def _json_object(request: Request) -> dict[str, Any]:
    changes = json.loads(await request.body() or b"{}")
    if not isinstance(changes, dict):
        raise ValueError("send a JSON object")
    return changes


def _found(record: Row | None) -> Response:
    return JSONResponse({"message": "not found"}, status_code=404) if record is None else JSONResponse(record)


def create_app(db_path: str | Path, *, tenant: str = wd.DEFAULT_TENANT, **options: Any) -> FastAPI:
    """The sandbox ASGI app over the SQLite file ``db_path`` (schema created if missing, not seeded).

    ``options`` are the credentials (``username``, ``password``, ``client_id``, ``client_secret``: those
    of :mod:`.tenant` unless given) and the tenant's runtime settings (:class:`_Config`: ``max_version``,
    ``transaction_log``, ``rate_limit`` (0 = unlimited), ``rate_window``, ``latency_ms``, ``fault_rate``,
    ``fault_seed``, ``token_ttl``, ``rotate_refresh_tokens``)."""
    credentials = {key: options.pop(key, default) for key, default in _CREDENTIALS.items()}
    sb = _Tenant(db_path, _Config(**options), tenant, **credentials)
    app = GatedApp(title="Workday Recruiting (WWS) sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sandbox = sb
    app.gate = sb.gate

    async def invalid(_request: Request, exc: Exception) -> Response:
        return JSONResponse({"message": str(exc)}, status_code=422)

    app.add_exception_handler(ValueError, invalid)
    install_admin_routes(app, sb, read_json=_json_object)

    @app.post("/ccx/service/{tenant_name}/Recruiting/{version}")
    async def soap(tenant_name: str, version: str, request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        status, body = sb.soap(tenant_name, version, auth, await request.body())
        return Response(body, status_code=status, media_type="text/xml; charset=utf-8")

    @app.post("/ccx/oauth2/{tenant_name}/token")
    async def token(tenant_name: str, request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        status, body = sb.issue_token(tenant_name, auth, await read_form(request))
        return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})

    @app.get("/_sandbox/candidates/{wid}")
    async def candidate(wid: str) -> Response:
        return _found(sb.person(wid))

    @app.get("/_sandbox/requisitions/{req_id}")
    async def requisition(req_id: str) -> Response:
        return _found(sb.requisition(req_id))

    @app.post("/_sandbox/requisitions/{req_id}")
    async def set_requisition(req_id: str, request: Request) -> Response:
        try:
            status = (await _json_object(request)).get("status")
        except ValueError:
            status = None
        if not isinstance(status, str) or not status.strip():
            raise ValueError('send {"status": "Open"}')
        return _found(sb.set_requisition_status(req_id, status.strip()))

    return app
