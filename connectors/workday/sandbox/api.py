"""The Workday Recruiting (WWS) API of the sandbox: what each SOAP request means, its faults, OAuth tokens
and the admin endpoints (see the package docstring).

Latency, the rate limit and injected faults are the kit's gate in front of ``/ccx``; this module answers
what passes it.  Responses are built as strings (they are large and simple); requests are parsed with
defusedxml, DTDs and entities refused (the sandbox is a server too).
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
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as _safe_fromstring
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from syncbridge.connectors.workday.envelopes import MAX_COUNT, SOAP_NS
from syncbridge.connectors.workday.envelopes import NS as WD_NS
from syncbridge.connectors.workday.parse import local
from syncbridge.connectors.workday.sandbox.seed import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_MAX_VERSION,
    DEFAULT_PASSWORD,
    DEFAULT_TENANT,
    DEFAULT_USERNAME,
    DISPOSITIONS,
    DOCUMENT_CATEGORIES,
    DOCUMENT_CATEGORY_TYPE,
    JOB_POSTING_SITES,
    JOB_PROFILES,
    LOCATIONS,
    NOT_OPEN_FOR_APPLICATIONS,
    ORGS,
    PROSPECT_STATUSES,
    REASONS,
    SOURCE_IDS,
    STAGES,
    TAG_ID_TYPE,
    TIME_TYPES,
    WORKER_TYPES,
    ensure_schema,
    insert_sql,
    make_wid,
    now_ts,
    ts,
)
from syncbridge.sandbox.faults import Gate, GatedApp, Reply, Settings
from syncbridge.sandbox.limits import FixedWindow
from syncbridge.sandbox.store import Store
from syncbridge.sandbox.web import basic_credentials, install_admin_routes, read_form

VERSION_INVALID = "The web service or version is invalid for the requested operation."
Ids = list[tuple[str, str]]
Desc = Callable[[str | None], str | None]
Row = dict[str, Any]

# --------------------------------------------------------------------------------------------------------
# time and versions


def _out_ts(stored: str) -> str:
    """Stored text → what the sandbox sends (ISO with an explicit offset, milliseconds)."""
    return stored[:23] + "+00:00"


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


def _opt(name: str, id_type: str, value: str | None, descriptor: str | None = None) -> str:
    """A reference with one ID, or nothing when there is no value."""
    return _ref(name, [(id_type, value)], descriptor) if value else ""


@dataclass(eq=False)
class _Fault(Exception):
    """A SOAP fault the handler answers with (HTTP 500 unless told otherwise)."""

    kind: str
    message: str
    xpath: str | None = None
    detail: str | None = None
    code: str | None = None
    status: int = 500


def _validation(message: str, xpath: str | None = None, detail: str | None = None) -> _Fault:
    return _Fault("validation", message, xpath, detail)


def _invalid_id(value: str, id_type: str, xpath: str) -> _Fault:
    return _validation(f"Invalid ID value.  '{value}' is not a valid ID value for type = '{id_type}'", xpath)


def _fault_xml(fault: _Fault) -> str:
    code_el = _t("Code", fault.code) if fault.code else ""
    if fault.kind == "validation":
        code, string = "SOAP-ENV:Client.validationError", f"Validation error occurred. {fault.message}"
        inner = _t("Message", fault.message) + _t("Detail_Message", fault.detail or fault.message)
        inner += (_t("Xpath", fault.xpath) if fault.xpath else "") + code_el
        detail = (
            f"<detail><wd:Validation_Fault>{_e('Validation_Error', inner)}</wd:Validation_Fault></detail>"
        )
    elif fault.kind == "processing":
        code, string = "SOAP-ENV:Client.processingError", f"Processing error occurred. {fault.message}"
        inner = _t("Detail_Message", fault.message) + code_el
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


def _file_xml(f: Row, d: Desc) -> str:
    """An attachment's Filename, File_Content, Mime_Type_Reference and Comment."""
    content = _t("File_Content", base64.b64encode(bytes(f["content"])).decode())
    mime = _opt("Mime_Type_Reference", "Content_Type_ID", f["mime"], d(f["mime"]))
    return _t("Filename", f["filename"]) + content + mime + _t("Comment", f["comment"])


# --------------------------------------------------------------------------------------------------------
# XML input


def _kid(el: ET.Element | None, name: str) -> ET.Element | None:
    return None if el is None else next((c for c in el if local(c.tag) == name), None)


def _kids(el: ET.Element | None, name: str) -> list[ET.Element]:
    return [] if el is None else [c for c in el if local(c.tag) == name]


def _txt(el: ET.Element | None, name: str) -> str | None:
    c = _kid(el, name)
    return None if c is None or c.text is None else c.text.strip() or None


def _attr_of(el: ET.Element | None, name: str) -> str | None:
    return None if el is None else next((v for k, v in el.attrib.items() if local(k) == name), None)


def _bool_text(value: str | None, default: bool = False) -> bool:
    return default if value is None else value.strip().lower() in ("true", "1")


class _Node:
    """A request element, or the place of a missing one, with its Xpath (where its faults point)."""

    def __init__(self, el: ET.Element | None, xpath: str) -> None:
        self.el, self.xpath = el, xpath

    def __getitem__(self, name: str) -> _Node:
        return _Node(_kid(self.el, name), f"{self.xpath}/wd:{name}[1]")

    def all(self, name: str) -> list[_Node]:
        return [_Node(c, f"{self.xpath}/wd:{name}[{n}]") for n, c in enumerate(_kids(self.el, name), 1)]

    @property
    def missing(self) -> bool:
        return self.el is None

    def text(self, name: str) -> str | None:
        return _txt(self.el, name)

    def flag(self, name: str, default: bool = False) -> bool:
        return _bool_text(_txt(self.el, name), default)

    @property
    def ids(self) -> Ids:
        kids = _kids(self.el, "ID")
        return [(_attr_of(c, "type") or "", c.text.strip()) for c in kids if c.text and c.text.strip()]

    @property
    def value(self) -> str | None:
        """The first ID's value."""
        return next((v for _k, v in self.ids), None)

    def bad(self, message: str, detail: str | None = None) -> _Fault:
        return _validation(message, self.xpath, detail)

    def unknown(self, id_type: str = "WID", at: str = "") -> _Fault:
        """The fault for a reference that names nothing (its first ID, else an empty ``id_type``)."""
        kind, value = self.ids[0] if self.ids else (id_type, "")
        return _invalid_id(value, kind, self.xpath + at)

    def known(self, table: dict[str, str], id_type: str) -> str | None:
        """The value of a reference to seeded reference data (None when it has no ID)."""
        ids = self.ids
        if ids and ids[0][1] not in table:
            raise _invalid_id(ids[0][1], ids[0][0] or id_type, self.xpath)
        return ids[0][1] if ids else None


def _by(rows: list[Row], key: str) -> dict[Any, list[Row]]:
    out: dict[Any, list[Row]] = {}
    for row in rows:
        out.setdefault(row[key], []).append(row)
    return out


def _decoded(rows: list[Row]) -> list[Row]:
    for row in rows:
        row["content"] = bytes(row["content"]).decode("utf-8", "replace")
    return rows


def _next_pk(conn: sqlite3.Connection, table: str) -> int:
    return int(conn.execute(f"SELECT COALESCE(MAX(pk), 0) + 1 FROM {table}").fetchone()[0])


# --------------------------------------------------------------------------------------------------------
# runtime state


@dataclass
class _Config(Settings):
    """The tenant's settings, all changeable while it runs (``/_sandbox/config``): the gate's latency
    and faults (the kit's), and these."""

    #: the highest WWS version accepted; whether Transaction_Log_Criteria_Data is
    max_version: str = DEFAULT_MAX_VERSION
    transaction_log: bool = True
    #: the fixed window (``rate_limit`` 0: unlimited)
    rate_limit: int = 0
    rate_window: float = 60.0
    #: OAuth: access-token lifetime, refresh-token rotation
    token_ttl: int = 3600
    rotate_refresh_tokens: bool = False


#: what ``/_sandbox/config`` may change, with its type
_SETTING_TYPES: dict[str, type] = {
    f.name: {"str": str, "bool": bool, "int": int, "float": float}[str(f.type)] for f in fields(_Config)
}


def _setting_problem(key: str, value: Any) -> str | None:
    kind = _SETTING_TYPES.get(key)
    if kind is None:
        return f"not a sandbox setting (one of {', '.join(sorted(_SETTING_TYPES))})"
    if kind is bool:
        return None if isinstance(value, bool) else "must be true or false"
    if kind is str:
        return None if isinstance(value, str) and _version_tuple(value) else "must look like v46.0"
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return None if number and value >= 0 and not (key == "fault_rate" and value > 1) else "out of range"


_COUNTERS = ["requests", "faults", "rate_limited", "soap_faults", "auth_failures", "attachments_written"]
_COUNTERS += ["candidates_created", "tag_updates", "requisitions_created", "applications_created"]
_COUNTERS += ["application_attachments_written", "jobs_posted", "moves", "tokens_issued"]
_STATS = {
    "candidates": ("candidates", ""),
    "requisitions": ("requisitions", ""),
    "applications": ("applications", ""),
    "tags_applied": ("candidate_tags", ""),
    "attachments": ("attachments", ""),
    "notes": ("attachments", "WHERE origin = 'api' AND app_pk IS NULL"),
    "application_attachments": ("attachments", "WHERE app_pk IS NOT NULL"),
    "job_postings": ("job_postings", ""),
}
_TEXT = b"text/plain; charset=utf-8"
_UNEXPECTED = _Fault("processing", "An unexpected error occurred; please try again.", code="S99")
_GATE_REPLIES = {
    "rate_limited": Reply(429, b"Too Many Requests", _TEXT),
    "429": Reply(429, b"Too Many Requests", _TEXT, [(b"retry-after", b"1")]),
    "500": Reply(500, _envelope(_fault_xml(_UNEXPECTED)), b"text/xml; charset=utf-8"),
    "503": Reply(503, b"<html><body>Service Unavailable</body></html>", b"text/html"),
}
#: the columns a reference's ID types name, per table
_KEYS = {
    "candidates": {"WID": "wid", "Candidate_ID": "candidate_id"},
    "requisitions": {"WID": "wid", "Job_Requisition_ID": "req_id"},
    "applications": {"WID": "wid", "Job_Application_ID": "app_id"},
    "tags": {"WID": "wid", TAG_ID_TYPE: "tag_id"},
}
#: request element → handler method; the response element is named after the request's
_HANDLERS = {
    "Get_Candidates_Request": "get_candidates",
    "Get_Job_Requisitions_Request": "get_job_requisitions",
    "Put_Candidate_Request": "put_candidate",
    "Put_Candidate_Attachment_Request": "put_candidate_attachment",
    "Create_Requisition_Request": "create_requisition",
    "Move_Candidate_Request": "move_candidate",
    "Post_Job_Request": "post_job",
    "Get_Job_Postings_Request": "get_job_postings",
}
_RESPONSES = {"Create_Requisition_Request": "Create_Job_Requisition_Response"}
_TX = "INSERT INTO tx_log(kind, rec_pk, at) VALUES (?, ?, ?)"
_APPLICANT_SOURCE = ("Source_Reference", "Applicant_Source_ID")


class _Tenant(Store):
    """Everything behind one app: the SQLite file, the config, tokens, counters and the operations."""

    def __init__(self, db_path: str | Path, config: _Config, tenant: str, **credentials: str) -> None:
        super().__init__(db_path, ensure_schema)
        row = self.one("SELECT value FROM meta WHERE key = 'seed'")
        self.seed_value = row[0] if row else "unseeded"
        self.config, self.tenant, self.credentials = config, tenant, credentials
        self.limiter = FixedWindow(config.rate_limit, config.rate_window, default_window=60.0)
        self.counters = dict.fromkeys(_COUNTERS, 0)
        replies = _GATE_REPLIES.__getitem__
        self.gate = Gate(config, replies, limiter=self.limiter, prefix="/ccx", counters=self.counters)
        self.access_tokens: dict[str, float] = {}
        self.ops: dict[str, int] = {}
        self._walks: dict[tuple[Any, ...], dict[str, Any]] = {}

    # ---- admin: config, stats, tokens
    def config_dict(self) -> dict[str, Any]:
        return {"tenant": self.tenant, **asdict(self.config)}

    def reconfigure(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Change settings: all of them, or none when one cannot be changed (``ValueError``)."""
        problem = next((f"{k}: {p}" for k, v in changes.items() if (p := _setting_problem(k, v))), None)
        if problem is not None:
            raise ValueError(problem)
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
                new = "sbx-wd-refresh-" + secrets.token_hex(12)
                conn.execute("UPDATE refresh_tokens SET active = 0 WHERE token = ?", (token,))
                conn.execute(insert_sql("refresh_tokens", "token, active, created_at"), (new, 1, now_ts()))
                body["refresh_token"] = new
        access = "wdsbx." + secrets.token_urlsafe(24)
        now = time.time()
        self.access_tokens = {t: exp for t, exp in self.access_tokens.items() if exp > now}
        self.access_tokens[access] = now + self.config.token_ttl
        self.counters["tokens_issued"] += 1
        return 200, {**body, "access_token": access}

    # ---- SOAP
    def soap(self, tenant: str, version: str, authorization: str, body: bytes) -> tuple[int, bytes]:
        try:
            payload, descriptors = self._authenticate(tenant, version, authorization, body)
            op = local(payload.tag)
            if op not in _HANDLERS:
                raise _validation(
                    f"Invalid request element '{op}' for the Recruiting web service.", f"/wd:{op}[1]"
                )
            root_version = _attr_of(payload, "version")
            if root_version is not None and self._over_cap(root_version):
                raise _validation(VERSION_INVALID, f"/wd:{op}[1]/@wd:version")
            self.ops[op] = self.ops.get(op, 0) + 1
            d: Desc = (lambda value: value) if descriptors else (lambda value: None)
            inner = getattr(self, _HANDLERS[op])(_Node(payload, f"/wd:{op}[1]"), d)
            name = _RESPONSES.get(op, op.replace("_Request", "_Response"))
            head = f'<wd:{name} xmlns:wd="{WD_NS}" wd:version="{_attr(version)}">'
            return 200, _envelope(f"{head}{inner}</wd:{name}>")
        except _Fault as fault:
            self.counters["soap_faults"] += 1
            if fault.kind == "authentication":
                self.counters["auth_failures"] += 1
            return fault.status, _envelope(_fault_xml(fault))

    def _over_cap(self, version: str) -> bool:
        wanted, cap = _version_tuple(version), _version_tuple(self.config.max_version)
        return wanted is None or cap is None or wanted > cap

    def _authenticate(self, tenant: str, version: str, auth: str, body: bytes) -> tuple[ET.Element, bool]:
        if tenant != self.tenant:
            raise _Fault("authentication", f"Invalid tenant '{tenant}'", status=404)
        if self._over_cap(version):
            detail = f"The highest version this tenant accepts is {self.config.max_version}."
            raise _validation(VERSION_INVALID, detail=detail)
        try:
            root = _safe_fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
        except DefusedXmlException:
            raise _validation("DTDs and entity declarations are not allowed.") from None
        except ET.ParseError as exc:
            raise _validation(f"The request is not well-formed XML: {exc}") from None
        if local(root.tag) != "Envelope" or _kid(root, "Body") is None:
            raise _validation("The request is not a SOAP 1.1 envelope.")
        header = _kid(root, "Header")
        payload = next(iter(_kid(root, "Body") or []), None)
        if payload is None:
            raise _validation("The SOAP Body is empty.")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer":
            expires = self.access_tokens.get(token.strip())
            if expires is None or expires <= time.time():
                raise _Fault("authentication", "invalid or expired access token")
        else:
            utoken = _kid(_kid(header, "Security"), "UsernameToken")
            user, password = _txt(utoken, "Username"), _txt(utoken, "Password")
            if utoken is None:
                raise _Fault("authentication", "no WS-Security UsernameToken and no bearer token")
            wanted = self.credentials["password"].encode()
            if not (
                user
                and password
                and user.lower() == self.credentials["username"].lower()
                and secrets.compare_digest(password.encode(), wanted)
            ):
                raise _Fault("authentication", "invalid username or password")
        common = _kid(header, "Workday_Common_Header")
        return payload, _bool_text(_txt(common, "Include_Reference_Descriptors_In_Response"))

    # ---- shared request pieces
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

    def _paging(self, req: _Node) -> tuple[int, int, str]:
        rf = req["Response_Filter"]
        try:
            page, count = int(float(rf.text("Page") or 1)), int(float(rf.text("Count") or 100))
        except ValueError:
            raise rf.bad("Page and Count must be numbers.") from None
        if page < 1:
            raise rf["Page"].bad("Page must be greater than 0.")
        if not 1 <= count <= MAX_COUNT:
            raise rf["Count"].bad(f"Count must be between 1 and {MAX_COUNT}.")
        as_of_text = rf.text("As_Of_Entry_DateTime")
        as_of = _parse_dt(as_of_text) if as_of_text else datetime.now(UTC)
        if as_of is None:
            raise rf["As_Of_Entry_DateTime"].bad("As_Of_Entry_DateTime is not a valid dateTime.")
        return page, count, ts(as_of)

    def _range(self, node: _Node, lo: str, hi: str, *, not_future: bool = False) -> tuple[str, str] | None:
        start_text, end_text = node.text(lo), node.text(hi)
        if start_text is None and end_text is None:
            return None
        if start_text is None or end_text is None:
            raise node.bad(f"{lo} and {hi} must be given together.")
        start, end = _parse_dt(start_text), _parse_dt(end_text)
        if start is None or end is None:
            raise node.bad(f"{lo}/{hi} must be valid dateTimes.")
        if start > end:
            raise node.bad(f"{lo} must not be later than {hi}.")
        if not_future and end > datetime.now(UTC) + timedelta(seconds=1):
            raise node[hi].bad(f"{hi} must not be later than the current moment.")
        return ts(start), ts(end)

    def _criteria(self, req: _Node, kind: str, as_of: str) -> tuple[list[str], list[Any]]:
        """The WHERE parts of Request_Criteria common to both lists: the entry moment, the transaction log."""
        where, args = ["created_at <= ?"], [as_of]
        tl = req["Request_Criteria"]["Transaction_Log_Criteria_Data"]
        if tl.missing:
            return where, args
        if not self.config.transaction_log:
            raise tl.bad("Transaction_Log_Criteria_Data is not enabled for this tenant.")
        bounds = self._range(
            tl["Transaction_Date_Range_Data"], "Updated_From", "Updated_Through", not_future=True
        )
        if bounds is not None:
            where.append(
                "pk IN (SELECT rec_pk FROM tx_log WHERE kind = ? AND at >= ? AND at <= ? AND at <= ?)"
            )
            args.extend([kind, *bounds, as_of])
        return where, args

    def _page(
        self, table: str, where: list[str], args: list[Any], page: int, count: int, stable: bool
    ) -> list[Any]:
        """[Total_Results, the pks of one page].  A walk with a pinned As_Of_Entry_DateTime sees a result set
        that later writes cannot change, so its total and page boundaries are remembered and the next page
        continues after the last pk (keyset) instead of re-scanning an OFFSET."""
        clause = " AND ".join(where)
        key = (table, clause, tuple(args), count)
        walk = self._walks.get(key) if stable else None
        if walk is None:
            walk = {"total": self.count(table, f"WHERE {clause}", args), "after": {0: 0}}
            if stable:
                if len(self._walks) >= 64:
                    self._walks.pop(next(iter(self._walks)))
                self._walks[key] = walk
        after = walk["after"].get(page - 1)
        if after is not None:
            sql, more = (
                f"SELECT pk FROM {table} WHERE {clause} AND pk > ? ORDER BY pk LIMIT ?",
                [after, count],
            )
        else:
            sql, more = (
                f"SELECT pk FROM {table} WHERE {clause} ORDER BY pk LIMIT ? OFFSET ?",
                [count, (page - 1) * count],
            )
        selected = [int(r[0]) for r in self.query(sql, [*args, *more])]
        if stable and selected:
            walk["after"][page] = selected[-1]
        return [int(walk["total"]), selected]

    def _listing(self, refs: _Node, name: str, table: str, skip: bool, page: int, count: int) -> list[Any]:
        """[Total_Results, the pks of one page] of Request_References: distinct, a missing one a fault
        unless ``skip``."""
        pks: list[int] = []
        for ref in refs.all(name):
            pk = self._pk(table, ref.ids)
            if pk is None and not skip:
                raise ref.unknown()
            if pk is not None and pk not in pks:
                pks.append(pk)
        return [len(pks), pks[(page - 1) * count : page * count]]

    @staticmethod
    def _results(total: int, page: int, count: int, shown: int, body: str) -> str:
        pages = math.ceil(total / count) if total else 0
        results = _t("Total_Results", total) + _t("Total_Pages", pages) + _t("Page_Results", shown)
        return _e("Response_Results", results + _t("Page", page)) + _e("Response_Data", body)

    # ---- Get_Candidates
    def get_candidates(self, req: _Node, d: Desc) -> str:
        page, count, as_of = self._paging(req)
        include_att = not req["Response_Group"].flag("Exclude_All_Attachments", True)
        refs = req["Request_References"]
        if not refs.missing:
            skip = _bool_text(_attr_of(refs.el, "Skip_Non_Existing_Instances"))
            total, selected = self._listing(refs, "Candidate_Reference", "candidates", skip, page, count)
        else:
            criteria = req["Request_Criteria"]
            where, args = self._criteria(req, "candidate", as_of)
            email = criteria.text("Candidate_Email_Address")
            if email:
                where.append("pk IN (SELECT cand_pk FROM candidate_emails WHERE email_lc = ?)")
                args.append(email.strip().lower())
            applied = self._range(criteria, "Applied_From", "Applied_Through")
            if applied:
                where.append(
                    "pk IN (SELECT cand_pk FROM applications WHERE applied_at >= ? AND applied_at <= ?)"
                )
                args.extend(applied)
            created = self._range(criteria, "Created_From", "Created_Through")
            if created:
                where.append("created_at >= ? AND created_at <= ?")
                args.extend(created)
            tag_refs = criteria.all("Candidate_Tag_Reference")
            for tag_ref in tag_refs:
                where.append("pk IN (SELECT cand_pk FROM candidate_tags WHERE tag_pk = ?)")
                args.append(self._tag(tag_ref)[0])
            pinned = not req["Response_Filter"]["As_Of_Entry_DateTime"].missing
            stable = pinned and as_of <= now_ts() and not email and not tag_refs
            total, selected = self._page("candidates", where, args, page, count, stable)
        return self._results(
            total, page, count, len(selected), self._candidates_xml(selected, d, include_att)
        )

    def _candidates_xml(self, pks: list[int], d: Desc, include_att: bool) -> str:
        if not pks:
            return ""
        marks = ",".join("?" * len(pks))

        def grouped(key: str, sql: str) -> dict[Any, list[Row]]:
            return _by(self.dicts(sql.format(marks=marks), pks), key)

        cands = {c["pk"]: c for c in self.dicts(f"SELECT * FROM candidates WHERE pk IN ({marks})", pks)}
        emails = grouped(
            "cand_pk",
            "SELECT cand_pk, raw FROM candidate_emails WHERE cand_pk IN ({marks}) ORDER BY cand_pk, position",
        )
        tags = grouped(
            "cand_pk",
            "SELECT ct.cand_pk, t.wid, t.tag_id, t.name FROM candidate_tags ct JOIN tags t "
            "ON t.pk = ct.tag_pk WHERE ct.cand_pk IN ({marks}) ORDER BY ct.cand_pk, ct.position",
        )
        apps = grouped(
            "cand_pk",
            "SELECT a.*, r.wid AS r_wid, r.req_id, r.title FROM applications a JOIN requisitions r "
            "ON r.pk = a.req_pk WHERE a.cand_pk IN ({marks}) ORDER BY a.cand_pk, a.pk",
        )
        sql = "SELECT * FROM attachments WHERE cand_pk IN ({marks}) ORDER BY cand_pk, pk"
        files = grouped("app_pk", sql) if include_att else {}
        on_candidate = _by(files.get(None, []), "cand_pk")
        out = ""
        for pk in pks:
            c = cands.get(pk)
            if c is None:
                continue
            first, last, cid, country, code = (
                c[k] for k in ("first_name", "last_name", "candidate_id", "country", "phone_code")
            )
            contact = ""
            if c["phone"]:
                if code:
                    code_ids = [("Country_Phone_Code_ID", f"{country}_{code[1:]}")]
                    contact += _ref("Country_Phone_Code_Reference", code_ids, d(code))
                contact += _t("Phone_Number", c["phone"])
            contact += "".join(_t("Email_Address", e["raw"]) for e in emails.get(pk, []))
            location = _ref("Country_Reference", [("ISO_3166-1_Alpha-3_Code", country)], d(country))
            location += _t("City", c["city"] or None)
            name = _e("Name_Detail_Data", _t("First_Name", first) + _t("Last_Name", last))
            status = _t("Do_Not_Hire", bool(c["do_not_hire"])) + _t("Withdrawn", bool(c["withdrawn"]))
            parts = _t("Candidate_ID", cid) + _e("Name_Data", _e("Legal_Name", name))
            parts += _e("Contact_Data", contact + _e("Location_Data", location)) + _e("Status_Data", status)
            parts += "".join(self._application_xml(a, files.get(a["pk"], []), d) for a in apps.get(pk, []))
            if c["prospect"]:
                prospect_status, source = c["prospect_status"], c["source"]
                prospect = _t("Prospect", True)
                prospect += _opt(
                    "Prospect_Status_Reference", "Prospect_Status_ID", prospect_status, d(prospect_status)
                )
                parts += _e("Prospect_Data", prospect + _opt(*_APPLICANT_SOURCE, source, d(source)))
            for t in tags.get(pk, []):
                parts += _ref(
                    "Candidate_Tag_Reference", [("WID", t["wid"]), (TAG_ID_TYPE, t["tag_id"])], d(t["name"])
                )
            for f in on_candidate.get(pk, []):
                category = DOCUMENT_CATEGORIES.get(f["category"], (f["category"], True))[0]
                attachment = _ref("Candidate_Attachment_Reference", [("WID", f["wid"])])
                attachment += _e("Attachment_Data", _file_xml(f, d))
                attachment += _ref(
                    "Document_Category_Reference", [(DOCUMENT_CATEGORY_TYPE, f["category"])], d(category)
                )
                parts += _e("Candidate_Attachment_Data", attachment)
            full = " ".join(p for p in (first, last) if p)
            ref = _ref("Candidate_Reference", [("WID", c["wid"]), ("Candidate_ID", cid)], d(full or cid))
            out += _e("Candidate", ref + _e("Candidate_Data", parts))
        return out

    @staticmethod
    def _application_xml(a: Row, files: list[Row], d: Desc) -> str:
        disp, source, req_id = a["disposition"], a["source"], a["req_id"]
        requisition = [("WID", a["r_wid"]), ("Job_Requisition_ID", req_id)]
        applied = (
            _t("Job_Application_ID", a["app_id"])
            + _ref("Job_Requisition_Reference", requisition, d(f"{req_id} {a['title']}"))
            + _t("Job_Application_Date", _out_ts(a["applied_at"]))
            + _ref("Stage_Reference", [("Recruiting_Stage_ID", a["stage"])], d(a["stage"]))
            + _opt(
                "Disposition_Reference", "Recruiting_Disposition_ID", disp, d(DISPOSITIONS.get(disp, disp))
            )
            + _t("Status_Timestamp", _out_ts(a["status_at"]))
            + _opt(*_APPLICANT_SOURCE, source, d(source))
        )
        resumes = "".join(_e("Resume_Attachment_Data", _t("ID", f["wid"]) + _file_xml(f, d)) for f in files)
        ref = _ref("Job_Application_Reference", [("WID", a["wid"]), ("Job_Application_ID", a["app_id"])])
        return _e("Job_Application_Data", ref + _e("Job_Applied_To_Data", applied) + resumes)

    # ---- Get_Job_Requisitions
    def get_job_requisitions(self, req: _Node, d: Desc) -> str:
        page, count, as_of = self._paging(req)
        refs = req["Request_References"]
        if not refs.missing:
            total, selected = self._listing(
                refs, "Job_Requisition_Reference", "requisitions", True, page, count
            )
        else:
            where, args = self._criteria(req, "requisition", as_of)
            total, selected = self._page("requisitions", where, args, page, count, False)
        out = ""
        for pk in selected:
            r = self.dicts("SELECT * FROM requisitions WHERE pk = ?", (pk,))[0]
            profile, worker, loc, time_type, org = (
                r[k] for k in ("job_profile", "worker_type", "location_id", "time_type", "org_id")
            )
            detail = _t("Job_Posting_Title", r["title"]) + _t("Positions_Allocated", r["allocated"])
            detail += _t("Positions_Available", r["available"]) + _t("Job_Description", r["description"])
            detail += _t("Confidential_Job_Requisition", bool(r["confidential"]))
            hiring = (
                _t("Recruiting_Start_Date", r["start_date"])
                + _t("Target_Hire_Date", r["target_hire_date"])
                + _opt("Job_Profile_Reference", "Job_Profile_ID", profile, d(JOB_PROFILES.get(profile)))
                + _opt("Worker_Type_Reference", "Worker_Type_ID", worker, d(worker))
                + _opt("Primary_Location_Reference", "Location_ID", loc, d(LOCATIONS.get(loc, loc)))
                + _opt("Time_Type_Reference", "Position_Time_Type_ID", time_type, d(time_type))
            )
            data = _ref(
                "Job_Requisition_Status_Reference",
                [("Job_Requisition_Status_ID", r["status"])],
                d(r["status"]),
            )
            data += _e("Job_Requisition_Detail_Data", detail) + _e("Hiring_Requirement_Data", hiring)
            data += _opt(
                "Supervisory_Organization_Reference", "Organization_Reference_ID", org, d(ORGS.get(org, org))
            )
            ref = _ref(
                "Job_Requisition_Reference",
                [("WID", r["wid"]), ("Job_Requisition_ID", r["req_id"])],
                d(r["title"]),
            )
            out += _e("Job_Requisition", ref + _e("Job_Requisition_Data", data))
        return self._results(total, page, count, len(selected), out)

    # ---- writes
    def _tag(self, ref: _Node) -> tuple[Any, ...]:
        found = self._find("tags", ref.ids, "pk, wid, tag_id, name, active")
        if found is None:
            raise ref.unknown(TAG_ID_TYPE, "/wd:ID[1]")
        return found

    def _touch(self, conn: sqlite3.Connection, cand_pk: int, now: str) -> None:
        conn.execute("UPDATE candidates SET updated_at = ?, touched = 1 WHERE pk = ?", (now, cand_pk))
        conn.execute(_TX, ("candidate", cand_pk, now))

    def _candidate_ref(self, pk: int) -> str:
        wid, cid = self.one("SELECT wid, candidate_id FROM candidates WHERE pk = ?", (pk,)) or ("", "")
        return _ref("Candidate_Reference", [("WID", wid), ("Candidate_ID", cid)])

    def put_candidate(self, req: _Node, d: Desc) -> str:
        data = req["Candidate_Data"]
        if data.missing:
            raise req.bad("Candidate_Data is required.")
        name = data["Name_Data"]["Legal_Name"]["Name_Detail_Data"]
        first, last = name.text("First_Name"), name.text("Last_Name")
        email, phone = data["Contact_Data"].text("Email_Address"), data["Contact_Data"].text("Phone_Number")
        prospect_el = data["Prospect_Data"]
        tag_refs = data.all("Candidate_Tag_Reference")
        tags = []
        for n, tag_ref in enumerate(tag_refs, 1):
            tag = self._tag(tag_ref)
            if not tag[4]:
                inactive = f"Candidate Tag '{tag[3]}' is inactive. Enter active candidate tags."
                raise tag_ref.bad("Enter active candidate tags.", inactive)
            tags.append((tag[0], n))
        applications = self._job_applications(data)
        now = now_ts()
        ref = req["Candidate_Reference"]
        if not ref.missing:
            pk = self._pk("candidates", ref.ids)
            if pk is None:
                raise ref.unknown()
            if _bool_text(_attr_of(req.el, "Add_Only")):
                raise ref.bad("The candidate already exists; Add_Only does not allow updates.")
            with self.transaction() as conn:
                if first is not None or last is not None:
                    names = "first_name = COALESCE(?, first_name), last_name = COALESCE(?, last_name)"
                    conn.execute(f"UPDATE candidates SET {names} WHERE pk = ?", (first, last, pk))
                if phone is not None:
                    conn.execute("UPDATE candidates SET phone = ? WHERE pk = ?", (phone, pk))
                if not prospect_el.missing:
                    status_ref = prospect_el["Prospect_Status_Reference"]
                    status = status_ref.value
                    if status is not None and status not in PROSPECT_STATUSES:
                        raise status_ref.unknown()
                    sql = "UPDATE candidates SET prospect = ?, prospect_status = COALESCE(?, prospect_status)"
                    conn.execute(f"{sql} WHERE pk = ?", (int(prospect_el.flag("Prospect", True)), status, pk))
                if email is not None:
                    conn.execute("DELETE FROM candidate_emails WHERE cand_pk = ? AND position = 0", (pk,))
                    self._add_email(conn, pk, email)
                if tag_refs:
                    conn.execute("DELETE FROM candidate_tags WHERE cand_pk = ?", (pk,))
                    self._add_tags(conn, pk, tags)
                    self.counters["tag_updates"] += 1
                created_apps = self._apply(conn, pk, applications, now)
                self._touch(conn, pk, now)
        else:
            if not last:
                raise data["Name_Data"].bad("Enter a name for the candidate.")
            if not email and not phone:
                raise data["Contact_Data"].bad("Enter an email address or a phone number.")
            if prospect_el.missing and data["Job_Application_Data"].missing:
                raise data.bad("Enter Job Application Data or Prospect Data for a new candidate.")
            prospect = 0 if prospect_el.missing else int(prospect_el.flag("Prospect", True))
            source = self._source(prospect_el["Source_Reference"])
            with self.transaction() as conn:
                pk = _next_pk(conn, "candidates")
                person = (
                    pk,
                    make_wid(self.seed_value, "created-candidate", pk),
                    f"C{pk:07d}",
                    first,
                    last,
                    phone,
                )
                columns = (
                    "pk, wid, candidate_id, first_name, last_name, phone, country, prospect, origin, touched"
                )
                sql = insert_sql("candidates", f"{columns}, created_at, updated_at, source")
                conn.execute(sql, (*person, "USA", prospect, "api", 1, now, now, source))
                if email:
                    self._add_email(conn, pk, email)
                self._add_tags(conn, pk, tags)
                created_apps = self._apply(conn, pk, applications, now)
                conn.execute(_TX, ("candidate", pk, now))
            self.counters["candidates_created"] += 1
        applied = "".join(
            _e(
                "Candidate_Job_Application_Data",
                _ref("Job_Application_Reference", [("WID", a_wid), ("Job_Application_ID", app_id)])
                + _ref("Job_Requisition_Reference", [("WID", r_wid), ("Job_Requisition_ID", req_id)]),
            )
            for a_wid, app_id, r_wid, req_id in created_apps
        )
        return self._candidate_ref(pk) + applied

    @staticmethod
    def _add_email(conn: sqlite3.Connection, pk: int, email: str) -> None:
        sql = insert_sql("candidate_emails", "email_lc, raw, cand_pk, position")
        conn.execute(sql, (email.strip().lower(), email, pk, 0))

    @staticmethod
    def _add_tags(conn: sqlite3.Connection, pk: int, tags: list[tuple[int, int]]) -> None:
        sql = insert_sql("candidate_tags", "cand_pk, tag_pk, position", "INSERT OR IGNORE")
        conn.executemany(sql, [(pk, tag_pk, n) for tag_pk, n in tags])

    def _source(self, ref: _Node) -> str | None:
        if ref.value is not None and ref.value not in SOURCE_IDS:
            raise ref.unknown()
        return ref.value

    def _job_applications(self, data: _Node) -> list[tuple[int, str, str | None, _Node]]:
        """Validate ``Job_Application_Data*/Job_Applied_To_Data``: (requisition pk, stage, source, node)."""
        out = []
        for app_el in data.all("Job_Application_Data"):
            for applied in app_el.all("Job_Applied_To_Data"):
                req_ref = applied["Job_Requisition_Reference"]
                found = self._find("requisitions", req_ref.ids, "pk, req_id, status")
                if found is None:
                    raise req_ref.unknown("Job_Requisition_ID")
                req_pk, req_id, status = found
                if status in NOT_OPEN_FOR_APPLICATIONS:
                    raise req_ref.bad(
                        f"Job Requisition {req_id} is {status} and does not accept applications."
                    )
                stage = applied["Stage_Reference"]
                if stage.value is None:
                    raise applied.bad("Enter a Stage for the job application.")
                if stage.value not in STAGES:
                    raise stage.unknown()
                out.append((int(req_pk), stage.value, self._source(applied["Source_Reference"]), applied))
        return out

    def _apply(
        self, conn: sqlite3.Connection, cand_pk: int, applications: list[Any], now: str
    ) -> list[tuple[str, ...]]:
        """Insert the job applications; (application WID, Job_Application_ID, requisition WID, its ID)."""
        created: list[tuple[str, ...]] = []
        for req_pk, stage, source, applied in applications:
            if conn.execute(
                "SELECT 1 FROM applications WHERE cand_pk = ? AND req_pk = ?", (cand_pk, req_pk)
            ).fetchone():
                name, req_id = conn.execute(
                    "SELECT COALESCE(c.first_name || ' ', '') || c.last_name, r.req_id FROM candidates c, "
                    "requisitions r WHERE c.pk = ? AND r.pk = ?",
                    (cand_pk, req_pk),
                ).fetchone()
                raise applied.bad(f"{name} has already applied to {req_id}.")
            pk = _next_pk(conn, "applications")
            wid, app_id = make_wid(self.seed_value, "created-application", pk), f"JA-{pk:07d}"
            columns = "pk, wid, app_id, cand_pk, req_pk, applied_at, stage, source, status_at"
            conn.execute(
                insert_sql("applications", columns),
                (pk, wid, app_id, cand_pk, req_pk, now, stage, source, now),
            )
            r_wid, req_id = conn.execute(
                "SELECT wid, req_id FROM requisitions WHERE pk = ?", (req_pk,)
            ).fetchone()
            created.append((wid, app_id, r_wid, req_id))
            self.counters["applications_created"] += 1
        return created

    def _add_attachment(self, conn: sqlite3.Connection, *values: Any) -> str:
        """Insert (cand_pk, filename, content, comment, category, mime, created_at, app_pk); its WID."""
        pk = _next_pk(conn, "attachments")
        wid = make_wid(self.seed_value, "created-attachment", pk)
        columns = "pk, wid, cand_pk, filename, content, comment, category, mime, origin, created_at, app_pk"
        conn.execute(insert_sql("attachments", columns), (pk, wid, *values[:6], "api", *values[6:]))
        return wid

    def put_candidate_attachment(self, req: _Node, d: Desc) -> str:
        ref = req["Candidate_Reference"]
        pk = self._pk("candidates", ref.ids)
        if pk is None:
            raise ref.unknown()
        cad = req["Candidate_Attachment_Data"]
        if cad.missing:
            if req.all("Job_Application_Attachment_Data"):
                return self._put_application_attachments(req, pk)
            raise req.bad("Candidate_Attachment_Data or Job_Application_Attachment_Data is required.")
        filename, content, comment, mime = self._attachment_content(cad["Attachment_Data"])
        category_ref = cad["Document_Category_Reference"]
        category = next((v for k, v in category_ref.ids if k == DOCUMENT_CATEGORY_TYPE), None)
        if category is None or category not in DOCUMENT_CATEGORIES:
            raise category_ref.unknown(DOCUMENT_CATEGORY_TYPE)
        if not DOCUMENT_CATEGORIES[category][1]:
            raise category_ref.bad("You must have access to the document category.")
        now = now_ts()
        with self.transaction() as conn:
            wid = self._add_attachment(
                conn, pk, filename, content, comment, category, mime or "text/plain", now, None
            )
            self._touch(conn, pk, now)
        self.counters["attachments_written"] += 1
        return _ref("Attachment_Reference", [("WID", wid)])

    @staticmethod
    def _attachment_content(att: _Node) -> tuple[str, bytes, str | None, str | None]:
        """(Filename, decoded File_Content, Comment, Content_Type_ID) of an Attachment_WWS_Data."""
        filename, content_b64 = att.text("Filename"), att.text("File_Content")
        if not filename or not content_b64:
            raise att.bad("Enter the Filename and File Content.")
        try:
            content = base64.b64decode(content_b64, validate=True)
        except (binascii.Error, ValueError):
            raise att["File_Content"].bad("File_Content is not valid base64.") from None
        mime = next((v for k, v in att["Mime_Type_Reference"].ids if k == "Content_Type_ID"), None)
        return filename, content, att.text("Comment"), mime

    def _put_application_attachments(self, req: _Node, cand_pk: int) -> str:
        """``Job_Application_Attachment_Data*``: files on job applications of the candidate."""
        items = []
        for jad in req.all("Job_Application_Attachment_Data"):
            app_ref = jad["Job_Application_Reference"]
            row = self._find("applications", app_ref.ids, "pk, cand_pk, wid, app_id")
            if row is None:
                raise app_ref.unknown("Job_Application_ID")
            if row[1] != cand_pk:
                raise app_ref.bad("The job application does not belong to the candidate.")
            attachments = jad.all("Attachment_Data")
            if not attachments:
                raise jad["Attachment_Data"].bad("Enter the Filename and File Content.")
            items += [(row, self._attachment_content(att)) for att in attachments]
        now = now_ts()
        written: list[tuple[str, str, list[str]]] = []
        with self.transaction() as conn:
            for (app_pk, _cand, app_wid, app_id), (filename, content, comment, mime) in items:
                file = (filename, content, comment, "JOB_APPLICATION", mime or "text/plain")
                wid = self._add_attachment(conn, cand_pk, *file, now, app_pk)
                if written and written[-1][0] == app_wid:
                    written[-1][2].append(wid)
                else:
                    written.append((app_wid, app_id, [wid]))
            self._touch(conn, cand_pk, now)
        self.counters["application_attachments_written"] += len(items)
        return self._candidate_ref(cand_pk) + "".join(
            _e(
                "Job_Application_Attachment_Data",
                _ref("Job_Application_Reference", [("WID", a_wid), ("Job_Application_ID", a_id)])
                + "".join(_ref("Job_Application_Attachment_Reference", [("WID", w)]) for w in wids),
            )
            for a_wid, a_id, wids in written
        )

    def create_requisition(self, req: _Node, d: Desc) -> str:
        auto_complete = req["Business_Process_Parameters"].flag("Auto_Complete")
        data = req["Create_Job_Requisition_Data"]
        if data.missing:
            raise req.bad("Create_Job_Requisition_Data is required.")
        org_ref = data["Supervisory_Organization_Reference"]
        if bool(org_ref.ids) == bool(data["Position_Restriction_Reference"].ids):
            raise data.bad("Enter either a Supervisory Organization or a Position Restriction.")
        org = org_ref.value
        if org is not None and org not in ORGS:
            raise org_ref.unknown()
        reason_ref = data["Create_Job_Requisition_Reason_Reference"]
        reason = reason_ref.value
        if reason not in REASONS:
            raise _invalid_id(reason or "", "General_Event_Subcategory_ID", reason_ref.xpath)
        try:
            openings = int(float(data.text("Number_of_Openings") or "0"))
        except ValueError:
            openings = 0
        if openings < 1:
            raise data["Number_of_Openings"].bad("Number of Openings must be at least 1.")
        jrd = data["Job_Requisition_Data"]
        title = jrd.text("Job_Posting_Title")
        if not title:
            raise jrd.bad("Enter a Job Posting Title.")
        wanted_id = jrd.text("Job_Requisition_ID")
        if wanted_id is not None and self.one("SELECT 1 FROM requisitions WHERE req_id = ?", (wanted_id,)):
            detail = f"Job Requisition ID '{wanted_id}' already exists. Enter a unique ID."
            raise jrd["Job_Requisition_ID"].bad(
                f"The Job Requisition ID '{wanted_id}' is already in use.", detail
            )
        location_ref = jrd["Primary_Location_Reference"]
        location = location_ref.value
        if location is not None and location not in LOCATIONS:
            raise _invalid_id(location, "Location_ID", location_ref.xpath)
        profile = jrd["Job_Profile_Reference"].known(JOB_PROFILES, "Job_Profile_ID")
        worker_type = jrd["Worker_Type_Reference"].known(WORKER_TYPES, "Worker_Type_ID")
        time_type = jrd["Position_Time_Type_Reference"].known(TIME_TYPES, "Position_Time_Type_ID")
        now = now_ts()
        with self.transaction() as conn:
            pk = _next_pk(conn, "requisitions")
            wid, req_id = make_wid(self.seed_value, "created-requisition", pk), wanted_id or f"R-{pk:05d}"
            status = "Open" if auto_complete else "Awaiting Approval"
            head = (
                pk,
                wid,
                req_id,
                title,
                status,
                openings,
                openings,
                jrd.text("Job_Description"),
                org,
                location,
            )
            dates = (jrd.text("Recruiting_Start_Date"), jrd.text("Target_Hire_Date"), "api", now, now)
            kinds = (profile, worker_type, time_type, jrd.text("Justification"), reason)
            columns = (
                "pk, wid, req_id, title, status, allocated, available, description, org_id, location_id, "
                "start_date, target_hire_date, origin, created_at, updated_at, job_profile, worker_type, "
                "time_type, justification, reason"
            )
            conn.execute(insert_sql("requisitions", columns), (*head, *dates, *kinds))
            conn.execute(_TX, ("requisition", pk, now))
            event = self._event(conn, "Create_Job_Requisition", now, req_id)
        self.counters["requisitions_created"] += 1
        ids = [("WID", wid), ("Job_Requisition_ID", req_id)]
        return _ref("Event_Reference", [("WID", event)]) + _ref("Job_Requisition_Reference", ids)

    def set_requisition_status(self, req_id: str, status: str) -> Row | None:
        """Admin: move a requisition to ``status`` (e.g. finish its approval with ``Open``)."""
        pk = self._pk("requisitions", [("Job_Requisition_ID", req_id), ("WID", req_id)])
        if pk is None:
            return None
        now = now_ts()
        with self.transaction() as conn:
            conn.execute("UPDATE requisitions SET status = ?, updated_at = ? WHERE pk = ?", (status, now, pk))
            conn.execute(_TX, ("requisition", pk, now))
        return self.requisition(req_id)

    def requisition(self, req_id: str) -> Row | None:
        """Admin: one requisition by Job_Requisition_ID or WID, with its postings."""
        pk = self._pk("requisitions", [("Job_Requisition_ID", req_id), ("WID", req_id)])
        if pk is None:
            return None
        out = self.dicts(
            "SELECT wid, req_id, title, status, allocated, description, org_id, location_id, start_date, "
            "target_hire_date, job_profile, worker_type, time_type, justification, reason, origin "
            "FROM requisitions WHERE pk = ?",
            (pk,),
        )[0]
        sql = "SELECT posting_id, site, start_date, end_date, active FROM job_postings WHERE req_pk = ?"
        out["postings"] = [
            {**p, "active": bool(p["active"])} for p in self.dicts(f"{sql} ORDER BY pk", (pk,))
        ]
        return out

    # ---- Post_Job / Get_Job_Postings
    def post_job(self, req: _Node, d: Desc) -> str:
        data = req["Post_Job_Data"]
        if data.missing:
            raise req.bad("Post_Job_Data is required.")
        req_ref = data["Job_Requisition_Reference"]
        found = self._find("requisitions", req_ref.ids, "pk, req_id, status, title")
        if found is None:
            raise req_ref.unknown("Job_Requisition_ID")
        req_pk, req_id, status, title = found
        if status != "Open":
            detail = f"Job Requisition {req_id} is {status}; it can be posted once its approval is complete."
            raise req_ref.bad(f"Job Requisition {req_id} must be open to be posted.", detail)
        sites = data.all("Job_Posting_Site_Data")
        if not sites:
            raise data.bad("Enter at least one job posting site.")
        rows = []
        for site_el in sites:
            site_ref = site_el["Job_Posting_Site_Reference"]
            site = site_ref.known(JOB_POSTING_SITES, "Job_Posting_Site_ID")
            if site is None:
                raise site_el.bad("Enter a job posting site.")
            start_text, end_text = (
                site_el.text("Job_Posting_Start_Date"),
                site_el.text("Job_Posting_End_Date"),
            )
            start = _parse_date(start_text)
            if start is None:
                raise site_el["Job_Posting_Start_Date"].bad("Enter a valid Job Posting Start Date.")
            end = _parse_date(end_text) if end_text else None
            if end_text and (end is None or end < start):
                message = "The Job Posting End Date must be on or after the start date."
                raise site_el["Job_Posting_End_Date"].bad(message)
            if self.one(
                "SELECT 1 FROM job_postings WHERE req_pk = ? AND site = ? AND active = 1", (req_pk, site)
            ):
                raise site_ref.bad(
                    f"Job Requisition {req_id} is already posted on {JOB_POSTING_SITES[site]}."
                )
            rows.append(
                (site, start.isoformat(), end.isoformat() if end else None, site_el.flag("Primary_Posting"))
            )
        now = now_ts()
        out = ""
        with self.transaction() as conn:
            for site, start_s, end_s, primary in rows:
                pk = _next_pk(conn, "job_postings")
                wid, posting_id = make_wid(self.seed_value, "job-posting", pk), f"JOB_POSTING-{pk:05d}"
                columns = "pk, wid, posting_id, req_pk, site, start_date, end_date, primary_posting, active"
                values = (pk, wid, posting_id, req_pk, site, start_s, end_s, int(primary), 1, now)
                conn.execute(insert_sql("job_postings", f"{columns}, created_at"), values)
                posting = _ref("Job_Posting_Reference", [("WID", wid), ("Job_Posting_ID", posting_id)], title)
                posting += _ref("Job_Posting_Site_Reference", [("Job_Posting_Site_ID", site)])
                out += _e("Job_Posting_Data", posting + _t("Primary_Posting", primary))
            conn.execute(_TX, ("requisition", req_pk, now))
            event = self._event(conn, "Post_Job", now, req_id)
        self.counters["jobs_posted"] += len(rows)
        return _ref("Event_Reference", [("WID", event)]) + out

    def get_job_postings(self, req: _Node, d: Desc) -> str:
        page, count, as_of = self._paging(req)
        criteria = req["Request_Criteria"]
        where: list[str] = ["p.created_at <= ?"]
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
        rows = self.dicts(
            "SELECT p.*, r.wid AS r_wid, r.req_id, r.title FROM job_postings p "
            f"JOIN requisitions r ON r.pk = p.req_pk WHERE {clause} ORDER BY p.pk LIMIT ? OFFSET ?",
            [*args, count, (page - 1) * count],
        )
        body = ""
        for p in rows:
            site, posting = p["site"], [("WID", p["wid"]), ("Job_Posting_ID", p["posting_id"])]
            data = _t("Job_Posting_ID", p["posting_id"]) + _t("Job_Posting_Title", p["title"])
            data += _ref(
                "Job_Requisition_Reference", [("WID", p["r_wid"]), ("Job_Requisition_ID", p["req_id"])]
            )
            data += _ref(
                "Job_Posting_Site_Reference", [("Job_Posting_Site_ID", site)], d(JOB_POSTING_SITES.get(site))
            )
            data += _t("Job_Posting_Start_Date", p["start_date"]) + _t("Job_Posting_End_Date", p["end_date"])
            data += _t("Primary_Posting", bool(p["primary_posting"]))
            body += _e("Job_Posting", _ref("Job_Posting_Reference", posting) + _e("Job_Posting_Data", data))
        return self._results(total, page, count, len(rows), body)

    def _event(self, conn: sqlite3.Connection, kind: str, now: str, detail: str) -> str:
        pk = _next_pk(conn, "events")
        wid = make_wid(self.seed_value, "event", pk)
        conn.execute(insert_sql("events", "pk, wid, kind, at, detail"), (pk, wid, kind, now, detail))
        return wid

    def move_candidate(self, req: _Node, d: Desc) -> str:
        mcd = req["Move_Candidate_Data"]
        if mcd.missing:
            raise req.bad("Move_Candidate_Data is required.")
        app_ref = mcd["Job_Application_Reference"]
        if app_ref.ids:
            row = self._find("applications", app_ref.ids, "pk, cand_pk, disposition")
            if row is None:
                raise app_ref.unknown()
        else:
            ccd = mcd["Candidate_Criteria_Data"]
            cand_pk = self._pk("candidates", ccd["Candidate_Reference"].ids)
            req_pk = self._pk("requisitions", ccd["Requisition_Reference"].ids)
            if cand_pk is None or req_pk is None:
                raise mcd.bad(
                    "Enter a Candidate Reference and a Requisition Reference, or a Job Application."
                )
            row = self.one(
                "SELECT pk, cand_pk, disposition FROM applications WHERE cand_pk = ? AND req_pk = ?",
                (cand_pk, req_pk),
            )
            if row is None:
                raise ccd.bad("The candidate has no job application for this requisition.")
        app_pk, cand_pk, disposition = row
        if disposition:
            raise mcd.bad("An in-progress Job Application event is required.")
        dbp = req["Dynamic_Business_Process_Parameters"]
        next_ref, disp_ref = dbp["Next_Step_Reference"], dbp["Disposition_Step_Reference"]
        if (next_ref.value is None) == (disp_ref.value is None):
            raise dbp.bad("Enter either a Next Step or a Disposition Step.")
        for ref, allowed in ((next_ref, STAGES), (disp_ref, DISPOSITIONS)):
            if ref.value is not None and ref.value not in allowed:
                raise _invalid_id(ref.value, "Workflow_Step_ID", ref.xpath)
        column, value = (
            ("stage", next_ref.value) if next_ref.value is not None else ("disposition", disp_ref.value)
        )
        now = now_ts()
        with self.transaction() as conn:
            conn.execute(
                f"UPDATE applications SET {column} = ?, status_at = ? WHERE pk = ?", (value, now, app_pk)
            )
            self._touch(conn, cand_pk, now)
            event = self._event(conn, "Move_Candidate", now, str(app_pk))
        self.counters["moves"] += 1
        return _ref("Event_Reference", [("WID", event)])

    # ---- admin
    def person(self, wid: str) -> Row | None:
        columns = "pk, wid, prospect, prospect_status, candidate_id, first_name, last_name, origin"
        rows = self.dicts(f"SELECT {columns} FROM candidates WHERE wid = ?", (wid,))
        if not rows:
            return None
        out = rows[0]
        pk = out.pop("pk")
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


# --------------------------------------------------------------------------------------------------------
# the app


async def _json_object(request: Request) -> dict[str, Any]:
    changes = json.loads(await request.body() or b"{}")
    if not isinstance(changes, dict):
        raise ValueError("send a JSON object")
    return changes


def _found(record: Row | None) -> Response:
    return JSONResponse({"message": "not found"}, status_code=404) if record is None else JSONResponse(record)


def create_app(
    db_path: str | Path,
    *,
    tenant: str = DEFAULT_TENANT,
    username: str = DEFAULT_USERNAME,
    password: str = DEFAULT_PASSWORD,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    **settings: Any,
) -> FastAPI:
    """The sandbox ASGI app over the SQLite file ``db_path`` (schema created if missing, not seeded).

    ``settings`` are the tenant's runtime settings (:class:`_Config`: ``max_version``,
    ``transaction_log``, ``rate_limit`` (0 = unlimited), ``rate_window``, ``latency_ms``, ``fault_rate``,
    ``fault_seed``, ``token_ttl``, ``rotate_refresh_tokens``)."""
    credentials = {"username": username, "password": password}
    credentials |= {"client_id": client_id, "client_secret": client_secret}
    sb = _Tenant(db_path, _Config(**settings), tenant, **credentials)
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
