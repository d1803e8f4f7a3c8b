"""The Lever Data API v1 of the sandbox: what each request means (see the package docstring).

Latency, the rate limit and faults are the kit's gate in front of ``/v1``; this module answers the
requests that pass it: auth and OAuth tokens, lists with offset tokens and filters, writes, admin endpoints.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import random
import secrets
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import Response
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException as StarletteHTTPException

from syncbridge.connectors.lever.sandbox.seed import (
    CONTACT,
    CONTACT_EMAILS,
    DEFAULT_API_KEY,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    REQUISITION,
    Record,
    add_refresh_token,
    application_shape,
    email_rows,
    ensure_schema,
    note_shape,
    now_ms,
    opportunity_shape,
    put,
    shape,
    stage_change,
)
from syncbridge.sandbox.faults import Gate, GatedApp, Reply
from syncbridge.sandbox.faults import Settings as FaultGateSettings
from syncbridge.sandbox.limits import TokenBucket
from syncbridge.sandbox.seed import uuid_from
from syncbridge.sandbox.settings import apply_settings
from syncbridge.sandbox.store import Store, dumps
from syncbridge.sandbox.web import basic_credentials, install_admin_routes, read_form

MAX_LIMIT = 100
_BAD_LIMIT = f"limit must be an integer between 1 and {MAX_LIMIT}"
INVALID_OFFSET = "Invalid offset token: Offset token is invalid for sort"


def _error(status: int, code: str, message: str, *, oauth: bool = False) -> HTTPException:
    """An error answered as Lever does: ``{code, message}`` (OAuth: ``{error, error_description}``)."""
    keys = ("error", "error_description") if oauth else ("code", "message")
    return HTTPException(status, dict(zip(keys, (code, message), strict=True)))


def _bad(message: str) -> HTTPException:
    return _error(400, "BadRequestError", message)


def _check(ok: Any, message: str) -> None:
    """A 400 with ``message`` unless ``ok``."""
    if not ok:
        raise _bad(message)


def _not_found(what: str, ident: str) -> HTTPException:
    return _error(404, "ResourceNotFound", f"{what} {ident} was not found")


def _json(body: Any, status: int = 200) -> Response:
    return Response(dumps(body).encode(), status_code=status, media_type="application/json")


# --------------------------------------------------------------------------------------------------------
# runtime state: config, tokens, offsets, stats (the gate counts requests, refusals and faults)


@dataclass
class _Config(FaultGateSettings):
    rate_per_second: float = 10.0
    burst: int = 20
    offset_fault_rate: float = 0.0
    token_ttl: int = 3600
    send_retry_after: bool = False
    requisition_api: bool = True


_TOO_MANY = Reply.json(429, {"code": "TooManyRequests", "message": "Too many requests"})
_GATE_REPLIES = {
    "rate_limited": _TOO_MANY,
    "429": _TOO_MANY,  # Lever sends no Retry-After
    "500": Reply.json(500, {"code": "InternalServerError", "message": "Something went wrong"}),
    "503": Reply.json(503, {"code": "ServiceUnavailable", "message": "Lever is down for maintenance"}),
}
# fmt: off
_COUNTERS = ["requests", "faults", "rate_limited", "offset_refused", "notes_written", "tags_added",
             "opportunities_created", "token_refreshes", "requisitions_written", "postings_written"]
#: what the stats count: name, table, condition
_STATS = [("contacts", "contacts", ""), ("opportunities", "opportunities", ""),
          ("confidential_opportunities", "opportunities", "WHERE confidential = 1"),
          *((t, t, "") for t in ("deleted_opportunities", "notes", "postings", "requisitions", "users"))]
# fmt: on


class _Sandbox:
    """The state behind one app: store, config, the /v1 gate (token bucket, faults, counters), tokens."""

    def __init__(self, db_path: str | Path, config: _Config, api_key: str, client: tuple[str, str]) -> None:
        self.store = Store(db_path, ensure_schema)
        self.config, self.api_key, self.client = config, api_key, client
        self.bucket = TokenBucket(config.rate_per_second, config.burst)
        self.counters = dict.fromkeys(_COUNTERS, 0)
        self.gate = Gate(
            config,
            _GATE_REPLIES.__getitem__,
            limiter=self.bucket,
            prefix="/v1",
            counters=self.counters,
            retry_after=lambda: self.config.send_retry_after,
        )
        self.offset_secret = secrets.token_bytes(16)
        self.access_tokens: dict[str, float] = {}
        # stages and requisition fields are the seed's: the API does not change them
        sql = "SELECT id, json_extract(data, '$.text') FROM stages ORDER BY sort, id"
        self.stage_text, self.custom_fields = dict(self.store.query(sql)), set[str]()
        self.custom_fields.update(r[0] for r in self.store.query("SELECT id FROM requisition_fields"))
        with self.store.lock:
            add_refresh_token(self.store.conn)

    def close(self) -> None:
        self.store.close()

    def get(self, table: str, rec_id: str) -> Record | None:
        found: Record | None = self.store.get_json(table, rec_id)
        return found

    # -- admin
    def reconfigure(self, changes: dict[str, Any]) -> dict[str, Any]:
        changed = apply_settings(self.config, changes, lambda key, problem: _bad(f"{key} {problem}"))
        if changed & {"rate_per_second", "burst"}:
            self.bucket.configure(self.config.rate_per_second, self.config.burst)
        if "fault_seed" in changed:
            self.gate.faults.reseed()
        return asdict(self.config)

    def config_dict(self) -> dict[str, Any]:
        return asdict(self.config)

    def stats(self) -> dict[str, int]:
        counts = {name: self.store.count(table, where) for name, table, where in _STATS}
        return {**counts, "attachments": 0, **self.counters}

    def expire_tokens(self) -> int:
        count = len(self.access_tokens)
        self.access_tokens.clear()
        return count

    # -- auth: the API key as the Basic user name, or an access token from /oauth/token
    def authenticate(self, header: str) -> None:
        scheme, _, value = header.partition(" ")
        basic = basic_credentials(header, unquote=False)
        if basic is not None:
            if basic[0] and hmac.compare_digest(basic[0].encode(), self.api_key.encode()):
                return
        elif scheme.lower() == "bearer" and self.access_tokens.get(value.strip(), 0) > time.time():
            return
        raise _error(401, "UnauthorizedError", "Invalid or missing credentials")

    def issue_token(self, form: dict[str, str]) -> dict[str, Any]:
        """A refresh-token grant: the refresh token is spent, a new one comes with the access token."""
        if (form.get("client_id", ""), form.get("client_secret", "")) != self.client:
            raise _error(401, "access_denied", "Unauthorized", oauth=True)
        if form.get("grant_type") != "refresh_token":
            raise _error(400, "unsupported_grant_type", "only refresh_token is supported here", oauth=True)
        token = form.get("refresh_token", "")
        with self.store.transaction() as conn:
            found = conn.execute("SELECT used FROM refresh_tokens WHERE token = ?", (token,)).fetchone()
            if found is None or found[0]:
                raise _error(403, "invalid_grant", "Unknown or invalid refresh token.", oauth=True)
            conn.execute("UPDATE refresh_tokens SET used = 1 WHERE token = ?", (token,))
            refresh = self.mint_refresh_token()
        access, now, ttl = "sbx-at-" + secrets.token_urlsafe(24), time.time(), self.config.token_ttl
        self.access_tokens = {t: e for t, e in self.access_tokens.items() if e > now} | {access: now + ttl}
        self.counters["token_refreshes"] += 1
        tokens = {"access_token": access, "refresh_token": refresh, "token_type": "Bearer"}
        return tokens | {"scope": "opportunities:read:admin offline_access", "expires_in": ttl}

    def mint_refresh_token(self) -> str:
        token = "sbx-rt-" + secrets.token_urlsafe(24)
        with self.store.lock:
            add_refresh_token(self.store.conn, token)
        return token

    def actor(self, request: Request, *, required: bool) -> str | None:
        """The ``perform_as`` user of a write: an active user, required by some writes."""
        user_id = request.query_params.get("perform_as")
        if not user_id:
            _check(not required, "perform_as is required for this request")
            return None
        user = self.get("users", user_id)
        _check(user and user.get("deactivatedAt") is None, f"perform_as user {user_id} is not an active user")
        return user_id

    # -- lists; an offset token is valid only for the query that made it (and this process)
    def _signature(self, path: str, params: list[tuple[str, str]]) -> str:
        canon = "&".join(f"{k}={v}" for k, v in sorted(params) if k != "offset")
        return hmac.new(self.offset_secret, f"{path}?{canon}".encode(), hashlib.sha256).hexdigest()[:12]

    def list_page(self, request: Request, table: str, filters: Filters = (), where: Any = None) -> Response:
        """One page of ``table`` in ``sort, id`` order with the request's ``filters`` and the condition
        ``where`` (SQL, argument); opportunities come with their contacts (``expand`` as asked)."""
        query, path, params = request.query_params, request.url.path, list(request.query_params.multi_items())
        conditions, args = _conditions(query, filters)
        if where is not None:
            conditions.append(where[0])
            args.append(where[1])
        limit = _int(query.get("limit") or str(MAX_LIMIT), _BAD_LIMIT)
        _check(1 <= limit <= MAX_LIMIT, _BAD_LIMIT)
        if query.get("offset"):
            parts = query["offset"].split(".")
            valid = len(parts) == 4 and parts[0] == "0" and parts[1].lstrip("-").isdigit()
            _check(valid and hmac.compare_digest(parts[3], self._signature(path, params)), INVALID_OFFSET)
            if self.gate.faults.chance(self.config.offset_fault_rate):
                self.counters["offset_refused"] += 1
                raise _bad(INVALID_OFFSET)
            conditions.append("(t.sort > ? OR (t.sort = ? AND t.id > ?))")
            args += [int(parts[1]), int(parts[1]), parts[2]]
        join = table == "opportunities"
        sql = f"SELECT t.id, t.sort, t.data{', c.data' if join else ''} FROM {table} t"
        sql += " JOIN contacts c ON c.id = t.contact" if join else ""
        sql += " WHERE " + " AND ".join(conditions) if conditions else ""
        rows = self.store.query(sql + " ORDER BY t.sort, t.id LIMIT ?", (*args, limit + 1))
        expand = {v for v in query.getlist("expand") if v}
        data = []
        for found in rows[:limit]:
            rec = json.loads(found[2])
            data.append(self.render_opportunity(rec, expand, json.loads(found[3])) if join else _public(rec))
        body: dict[str, Any] = {"data": data, "hasNext": len(rows) > limit}
        if len(rows) > limit:
            body["next"] = f"0.{rows[limit - 1][1]}.{rows[limit - 1][0]}.{self._signature(path, params)}"
        return _json(body)

    def render_opportunity(self, rec: Record, expand: Any = (), contact: Record | None = None) -> Record:
        """An opportunity as Lever shows it: its ``contact``'s name, e-mails, phones... first."""
        contact = contact or self.get("contacts", rec["contact"]) or {}
        apps = rec.pop("_applications", [])
        out = {"id": rec["id"], "name": contact.get("name"), "headline": contact.get("headline")}
        out["contact"] = rec["contact"]
        for key in ("emails", "phones", "location", "links"):
            out[key] = contact.get(key) if key == "location" else list(contact.get(key) or [])
        out.update(_public(rec))
        if "stage" in expand and rec.get("stage"):
            out["stage"] = {"id": rec["stage"], "text": self.stage_text.get(rec["stage"], rec["stage"])}
        out["applications"] = apps if "applications" in expand else [a["id"] for a in apps]
        show = f"https://hire.sandbox.example/candidates/{rec['id']}"
        out["urls"] = {"list": "https://hire.sandbox.example/candidates", "show": show}
        return out


def _public(rec: Record) -> Record:
    return {k: v for k, v in rec.items() if not k.startswith("_")}


# --------------------------------------------------------------------------------------------------------
# request parameters and bodies

#: a list filter: (query parameter, kind, SQL condition on the table ``t``).  Kinds: ``ms`` (a timestamp
#: in milliseconds; a null column never matches), ``eq`` (the value), ``lc`` (the value trimmed and
#: lower-cased), ``bool`` (1 or 0), ``in`` (the repeatable parameter's values fill ``{}``), ``hide`` (the
#: condition holds unless the parameter is true), ``conf`` (confidential records are hidden unless asked for)
Filter = tuple[str, str, str]
Filters = tuple[Filter, ...]
_CONFIDENTIALITY = ("confidential", "non-confidential", "all")


def _conditions(query: QueryParams, filters: Filters) -> tuple[list[str], list[Any]]:
    """The SQL conditions and their arguments of a list request's ``filters``."""
    sql: list[str] = []
    args: list[Any] = []
    for name, kind, condition in filters:
        value = query.get(name) or ""
        found: list[Any] | None = None
        if kind == "in":
            values = [v for v in query.getlist(name) if v]
            found, condition = values or None, condition.format(", ".join("?" * len(values)))
        elif kind == "conf":
            value = value or "non-confidential"
            _check(value in _CONFIDENTIALITY, f"{name} must be one of {', '.join(_CONFIDENTIALITY)}")
            found = None if value == "all" else [int(value == "confidential")]
        elif kind == "hide":
            found = None if value and _flag(name, value) else []
        elif value:
            found = [_CONVERT[kind](name, value)]
        if found is not None:
            sql.append(condition)
            args += found
    return sql, args


def _int(value: str, message: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise _bad(message) from None


def _flag(name: str, value: str) -> bool:
    _check(value.lower() in ("true", "false"), f"{name} must be true or false")
    return value.lower() == "true"


_CONVERT: dict[str, Callable[[str, str], Any]] = {
    "ms": lambda name, value: _int(value, f"{name} must be a timestamp in milliseconds"),
    "bool": _flag,
    "eq": lambda _name, value: value,
    "lc": lambda _name, value: value.strip().lower(),
}


def _window(name: str, column: str) -> tuple[Filter, Filter]:
    return (f"{name}_start", "ms", f"{column} >= ?"), (f"{name}_end", "ms", f"{column} <= ?")


async def _body(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.body() or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise _bad("Request body is not valid JSON") from None
    _check(isinstance(data, dict), "Request body must be a JSON object")
    return dict(data)


def _strs(body: dict[str, Any], key: str) -> list[str]:
    value = body.get(key)
    if value is None:
        return []
    ok = isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)
    _check(ok, f"{key} must be an array of non-empty strings")
    return list(value)


def _created_at(body: dict[str, Any], now: int) -> int:
    created = body.get("createdAt", now)
    ok = type(created) is int and created <= now
    _check(ok, "createdAt must be a timestamp in milliseconds, not in the future")
    return int(created)


# --------------------------------------------------------------------------------------------------------
# posting HTML whitelist

DESCRIPTION_TAGS = {"div", "p", "span", "br", "b", "i", "s", "u", "a"}
LIST_TAGS = {"li", "b", "i", "s", "u", "a"}
ALLOWED_ATTRS = {"class", "href", "style"}
_CONTENT_KEYS = {"description", "descriptionHtml", "lists", "closing", "closingHtml"}


class _HtmlCheck(HTMLParser):
    """What is outside the whitelist (``problems``, in document order)."""

    def __init__(self, allowed: set[str]) -> None:
        super().__init__()
        self.allowed, self.problems = allowed, list[str]()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.problems += [f"tag <{tag}> is not allowed"] if tag not in self.allowed else []
        self.problems += [f"attribute {a} is not allowed" for a, _ in attrs if a not in ALLOWED_ATTRS]


def _check_html(value: Any, allowed: set[str], where: str) -> None:
    if value is not None:
        _check(isinstance(value, str), f"{where} must be a string")
        checker = _HtmlCheck(allowed)
        checker.feed(value)
        checker.close()
        _check(not checker.problems, f"Invalid HTML in {where}: {next(iter(checker.problems), '')}")


def _check_posting_html(body: dict[str, Any]) -> None:
    content = body.get("content")
    if content is not None:
        _check(isinstance(content, dict), "content must be an object")
        unknown = ", ".join(sorted(set(content) - _CONTENT_KEYS))
        _check(not unknown, f"content has unknown fields: {unknown} (closing HTML is closingHtml)")
        for key in ("descriptionHtml", "closingHtml"):
            _check_html(content.get(key), DESCRIPTION_TAGS, f"content.{key}")
        for item in content.get("lists") or []:
            _check(isinstance(item, dict), "content.lists items must be objects")
            _check_html(item.get("content"), LIST_TAGS, "content.lists")
    _check_html(body.get("salaryDescriptionHtml"), DESCRIPTION_TAGS, "salaryDescriptionHtml")


# --------------------------------------------------------------------------------------------------------
# the application


def create_app(
    db_path: str | Path,
    *,
    api_key: str = DEFAULT_API_KEY,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    **settings: Any,
) -> FastAPI:
    """The sandbox ASGI app over the SQLite file ``db_path`` (schema created if missing, not seeded).

    ``settings`` are the runtime settings (:class:`_Config`: ``rate_per_second`` (0 turns the rate limit
    off), ``burst``, ``latency_ms``, ``fault_rate``, ``fault_seed``, ``offset_fault_rate``, ``token_ttl``,
    ``send_retry_after``, ``requisition_api``)."""
    sb = _Sandbox(db_path, _Config(**settings), api_key=api_key, client=(client_id, client_secret))
    app = GatedApp(title="Lever v1 sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sandbox, app.gate = sb, sb.gate

    async def http_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if isinstance(exc.detail, dict):  # raised here
            return _json(exc.detail, exc.status_code)
        if exc.status_code == 404:
            return _json({"code": "ResourceNotFound", "message": "Not found"}, 404)
        return _json({"code": "BadRequestError", "message": str(exc.detail)}, exc.status_code)

    async def unexpected(_request: Request, _exc: Exception) -> Response:
        return _json({"code": "InternalServerError", "message": "Something went wrong"}, 500)

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
    install_admin_routes(app, sb, read_json=_body, respond=_json)

    @app.post("/oauth/token")
    async def token(request: Request) -> Response:
        return _json(sb.issue_token(await read_form(request)))

    @app.post("/_sandbox/rotate_offsets")
    async def rotate_offsets() -> Response:
        sb.offset_secret = secrets.token_bytes(16)
        return _json({"ok": True})

    @app.post("/_sandbox/oauth/refresh_token")
    async def mint() -> Response:
        return _json({"refresh_token": sb.mint_refresh_token()})

    @app.post("/_sandbox/opportunities/{opp_id}/delete")
    async def delete_opportunity(opp_id: str) -> Response:
        with sb.store.transaction() as conn:
            opp = sb.get("opportunities", opp_id)
            if opp is None:
                raise _not_found("opportunity", opp_id)
            rendered = sb.render_opportunity(opp) | {"deletedBy": None, "deletedAt": now_ms()}
            put(conn, "deleted_opportunities", rendered)
            conn.execute("DELETE FROM opportunities WHERE id = ?", (opp_id,))
            conn.execute("DELETE FROM notes WHERE opp_id = ?", (opp_id,))
        return _json({"data": rendered})

    app.include_router(_v1_routes(sb))
    return app


_UPDATED = _window("updated_at", "t.updated_at")
_CONFIDENTIAL: Filter = ("confidentiality", "conf", "t.confidential = ?")
_HAS = "EXISTS (SELECT 1 FROM json_each(t.data, '$.{}') j WHERE {} IN ({{}}))"
_OPPORTUNITY_FILTERS = (
    _CONFIDENTIAL,
    *_UPDATED,
    *_window("created_at", "t.sort"),
    ("email", "lc", "t.contact IN (SELECT contact FROM contact_emails WHERE email = ?)"),
    ("contact_id", "in", "t.contact IN ({})"),
    ("archived", "bool", "t.archived = ?"),
    ("tag", "in", _HAS.format("tags", "j.value")),
    ("posting_id", "in", _HAS.format("_applications", "json_extract(j.value, '$.posting')")),
    ("stage_id", "in", "json_extract(t.data, '$.stage') IN ({})"),
)
_POSTING_FILTERS = (_CONFIDENTIAL, *_UPDATED, ("state", "in", "t.state IN ({})"))
_REQUISITION_FILTERS = (
    _CONFIDENTIAL,
    *_window("created_at", "t.sort"),
    ("requisition_code", "eq", "t.code = ?"),
    ("status", "eq", "t.status = ?"),
)
_USER_FILTERS = (("includeDeactivated", "hide", "t.deactivated = 0"), ("email", "lc", "t.email_lc = ?"))
#: the lists: their tables and filters
_LISTS: dict[str, tuple[str, Filters]] = {
    "/opportunities": ("opportunities", _OPPORTUNITY_FILTERS),
    "/opportunities/deleted": ("deleted_opportunities", _window("deleted_at", "t.sort")),
    "/requisitions": ("requisitions", _REQUISITION_FILTERS),
    "/users": ("users", _USER_FILTERS),
    **{f"/{t}": (t, ()) for t in ("stages", "archive_reasons", "requisition_fields")},
}
_ORIGINS = ("agency", "applied", "internal", "referred", "sourced", "university")
_POSTING_STATES = ("published", "internal", "closed", "draft", "pending", "rejected")
_EMPLOYMENT = (None, "full-time", "part-time", "intern", "contractor", "temp-worker")
# fmt: off
_NEW_POSTING: Record = {"hiringManager": None, "confidentiality": "non-confidential", "categories": {},
                        "content": {}, "tags": [], "state": "draft",
                        "distributionChannels": ["public", "internal"], "requisitionCodes": [],
                        "workplaceType": "unspecified"}
_POSTING_WRITABLE = ["text", "state", "distributionChannels", "owner", "hiringManager", "categories", "tags",
                     "content", "workplaceType", "requisitionCodes", "salaryDescriptionHtml", "salaryRange"]
#: what a requisition PUT resets to null when it is not sent
_REQUISITION_RESET = ["requisitionCode", "name", "headcountTotal", "owner", "hiringManager",
                      "employmentStatus", "location", "team", "department", "compensationBand",
                      "internalNotes"]
# fmt: on
_REQUISITION_KNOWN = {*_REQUISITION_RESET, "status", "backfill", "createdAt", "postingIds", "customFields"}


def _v1_routes(sb: _Sandbox) -> APIRouter:
    store = sb.store

    async def auth(request: Request) -> None:
        sb.authenticate(request.headers.get("authorization", ""))

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(auth)])

    def require(table: str, what: str, rec_id: str) -> Record:
        rec = sb.get(table, rec_id)
        if rec is None:
            raise _not_found(what, rec_id)
        return rec

    def require_opp(opp_id: str) -> Record:
        return require("opportunities", "opportunity", opp_id)

    def opportunity(opp: Record, status: int = 200) -> Response:
        return _json({"data": sb.render_opportunity(dict(opp))}, status)

    def lister(table: str, filters: Filters) -> Callable[[Request], Any]:
        async def handler(request: Request) -> Response:
            return sb.list_page(request, table, filters)

        return handler

    for path, (table, filters) in _LISTS.items():  # before /opportunities/{opp_id}
        v1.add_api_route(path, lister(table, filters), methods=["GET"])

    # ---- opportunities
    @v1.get("/opportunities/{opp_id}")
    async def get_opportunity(opp_id: str, request: Request) -> Response:
        expand = set(request.query_params.getlist("expand"))
        return _json({"data": sb.render_opportunity(require_opp(opp_id), expand)})

    def find_contact(conn: sqlite3.Connection, body: Record, new: dict[str, list[Any]]) -> Record | None:
        """The contact ``contact`` names (with the ``new`` e-mails, phones and links it lacks), else the
        first contact with one of the e-mails (its stored data wins)."""
        if not body.get("contact"):
            sql = "SELECT contact FROM contact_emails WHERE email = ? ORDER BY position LIMIT 1"
            rows = (conn.execute(sql, (email.strip().lower(),)).fetchone() for email in new["emails"])
            found = next((r[0] for r in rows if r is not None), None)
            return sb.get("contacts", found) if found else None
        contact = sb.get("contacts", str(body["contact"]))
        if contact is None:
            raise _bad(f"contact {body['contact']} does not exist")
        for key, values in new.items():
            contact[key] += [x for x in values if x not in contact[key]]
        return contact

    @v1.post("/opportunities")
    async def create_opportunity(request: Request) -> Response:
        body = await _body(request)
        actor = sb.actor(request, required=True)
        keys = ("emails", "tags", "sources", "links", "postings", "followers")
        emails, tags, sources, links, postings, followers = (_strs(body, k) for k in keys)
        _check(len(postings) <= 1, "postings can contain at most one posting")
        phones = body.get("phones") or []
        ok = isinstance(phones, list) and all(type(p) is dict and type(p.get("value")) is str for p in phones)
        _check(ok, "phones must be an array of {value, type}")
        origin = body.get("origin") or "sourced"
        _check(origin in _ORIGINS, "origin is not valid")
        now = now_ms()
        created = _created_at(body, now)
        posting = sb.get("postings", postings[0]) if postings else None
        if postings and posting is None:
            raise _bad(f"posting {postings[0]} does not exist")
        stage = body.get("stage") or ("applicant-new" if posting else "lead-new")
        _check(stage in sb.stage_text, f"stage {stage} does not exist")
        rng = random.Random(secrets.token_bytes(16))
        with store.transaction() as conn:
            contact = find_contact(conn, body, {"emails": emails, "phones": phones, "links": links})
            if contact is None:
                contact = shape(CONTACT, id=uuid_from(rng), name=body.get("name") or "", createdAt=now)
                kept = [{k: v for k, v in p.items() if k in ("type", "value")} for p in phones]
                contact.update(headline=body.get("headline") or "", location=body.get("location"))
                contact.update(emails=emails, phones=kept, links=links)
            put(conn, "contacts", contact)
            conn.execute("DELETE FROM contact_emails WHERE contact = ?", (contact["id"],))
            conn.executemany(CONTACT_EMAILS.insert_sql(), email_rows(contact))
            oid, app_id = uuid_from(rng), uuid_from(rng)
            app = posting and application_shape(app_id, oid, created, posting, contact, "user", user=actor)
            opp = opportunity_shape(now, posting, id=oid, contact=contact["id"], createdAt=created)
            opp.update(updatedAt=now, stage=stage, stageChanges=[stage_change(stage, 0, actor, now)])
            opp.update(owner=body.get("owner") or actor, followers=[actor, *followers], origin=origin)
            opp.update(tags=list(dict.fromkeys(tags)), sources=list(dict.fromkeys(sources)))
            opp.update(sourcedBy=actor if origin == "sourced" else None, _applications=[app] if app else [])
            opp["opportunityLocation"] = body.get("opportunityLocation")
            put(conn, "opportunities", opp)
        sb.counters["opportunities_created"] += 1
        return opportunity(opp, 201)

    @v1.get("/opportunities/{opp_id}/notes")
    async def list_notes(opp_id: str, request: Request) -> Response:
        require_opp(opp_id)
        return sb.list_page(request, "notes", (), ("t.opp_id = ?", opp_id))

    @v1.post("/opportunities/{opp_id}/notes")
    async def create_note(opp_id: str, request: Request) -> Response:
        body = await _body(request)
        actor = sb.actor(request, required=False)
        value, score, secret = body.get("value"), body.get("score"), body.get("secret", False)
        _check(isinstance(value, str) and value.strip(), "value is required")
        ok = score is None or (type(score) is int and 1 <= score <= 4)
        _check(ok, "score must be an integer from 1 to 4")
        _check(isinstance(secret, bool), "secret must be true or false")
        created = _created_at(body, now_ms())
        with store.transaction() as conn:
            require_opp(opp_id)  # notes do not move the opportunity's updatedAt
            note = note_shape(str(uuid.uuid4()), opp_id, value, actor, created, secret=secret, score=score)
            note["_api"] = True  # only notes made through the API may be deleted through it
            put(conn, "notes", note)
        sb.counters["notes_written"] += 1
        return _json({"data": {"noteId": note["id"]}}, 201)

    @v1.delete("/opportunities/{opp_id}/notes/{note_id}")
    async def delete_note(opp_id: str, note_id: str, request: Request) -> Response:
        sb.actor(request, required=False)
        with store.transaction() as conn:
            require_opp(opp_id)
            note = sb.get("notes", note_id)
            if note is None or note.get("_opp") != opp_id:
                raise _not_found("note", note_id)
            if not note.get("_api"):
                raise _error(403, "ForbiddenError", "Only notes created through the API can be deleted")
            conn.execute("DELETE FROM notes WHERE id = ?", (note_id,))
        return Response(status_code=204)

    @v1.post("/opportunities/{opp_id}/addTags")
    @v1.post("/opportunities/{opp_id}/removeTags")
    async def change_tags(opp_id: str, request: Request) -> Response:
        body, add = await _body(request), request.url.path.endswith("/addTags")
        sb.actor(request, required=False)
        tags = _strs(body, "tags")
        _check(tags, "tags is required")
        with store.transaction() as conn:
            opp = require_opp(opp_id)
            current = list(opp.get("tags") or [])
            new = [t for t in dict.fromkeys(tags) if t not in current] if add else []
            changed = current + new if add else [t for t in current if t not in tags]
            if changed != current:
                opp.update(tags=changed, updatedAt=now_ms())
                put(conn, "opportunities", opp)
        sb.counters["tags_added"] += len(new)
        return opportunity(opp)

    @v1.put("/opportunities/{opp_id}/stage")
    async def change_stage(opp_id: str, request: Request) -> Response:
        body = await _body(request)
        actor = sb.actor(request, required=False)
        stage = body.get("stage")
        if not isinstance(stage, str) or stage not in sb.stage_text:
            raise _not_found("stages", str(stage))
        with store.transaction() as conn:
            opp = require_opp(opp_id)
            if opp.get("stage") != stage:
                now = now_ms()
                change = stage_change(stage, list(sb.stage_text).index(stage), actor, now)
                opp.update(stage=stage, stageChanges=[*opp.get("stageChanges", []), change], updatedAt=now)
                put(conn, "opportunities", opp)
        return opportunity(opp)

    # ---- postings
    @v1.get("/postings")
    async def list_postings(request: Request) -> Response:
        query, window = request.query_params, ("updated_at_start", "updated_at_end")
        if any(query.get(k) for k in window) and set(query) - {*window, "confidentiality", "limit", "offset"}:
            raise _bad("updated_at_start and updated_at_end can only be combined with confidentiality")
        return sb.list_page(request, "postings", _POSTING_FILTERS)

    @v1.get("/postings/{posting_id}")
    async def get_posting(posting_id: str) -> Response:
        return _json({"data": require("postings", "posting", posting_id)})

    def link_requisitions(conn: sqlite3.Connection, posting: Record, before: list[str]) -> None:
        """A posting is linked to the requisitions its ``requisitionCodes`` name: they list it in their
        ``postings`` (their ``updatedAt`` does not move: postings are not among the fields that move it)."""
        now = [str(c) for c in posting.get("requisitionCodes") or []]
        for code in dict.fromkeys([*before, *now]):
            for (data,) in conn.execute("SELECT data FROM requisitions WHERE code = ?", (code,)).fetchall():
                req = json.loads(data)
                linked = [p for p in req.get("postings") or [] if p != posting["id"]]
                linked += [posting["id"]] if code in now else []
                if linked != (req.get("postings") or []):
                    put(conn, "requisitions", req | {"postings": linked})

    @v1.post("/postings")
    @v1.post("/postings/{posting_id}")
    async def write_posting(request: Request) -> Response:
        """``POST /postings`` makes a posting (a draft unless said otherwise), ``POST /postings/:id``
        changes the fields it is sent."""
        body, posting_id, now = await _body(request), request.path_params.get("posting_id"), now_ms()
        actor = sb.actor(request, required=True)
        if posting_id is None:
            _check(isinstance(body.get("text"), str) and body["text"].strip(), "text is required")
            secret = body.get("confidentiality") == "confidential"
            _check(not secret, "confidential postings cannot be created through the API")
        new = {"id": str(uuid.uuid4()), "createdAt": now, "updatedAt": now, "user": actor, "owner": actor}
        new.update(copy.deepcopy(_NEW_POSTING), followers=[actor])
        with store.transaction() as conn:
            posting = require("postings", "posting", posting_id) if posting_id else new
            before = [str(c) for c in posting.get("requisitionCodes") or []]
            _check_posting_html(body)
            _check("state" not in body or body["state"] in _POSTING_STATES, "state is not valid")
            unset = (None, "unspecified")
            back = body.get("workplaceType") == "unspecified" and posting.get("workplaceType") not in unset
            _check(not back, "workplaceType cannot be set back to unspecified")
            posting.update({k: body[k] for k in _POSTING_WRITABLE if k in body}, updatedAt=now)
            put(conn, "postings", posting)
            link_requisitions(conn, posting, before)
        sb.counters["postings_written"] += 1
        return _json({"data": posting}, 200 if posting_id else 201)

    # ---- requisitions
    @v1.get("/requisitions/{req_id}")
    async def get_requisition(req_id: str) -> Response:
        return _json({"data": require("requisitions", "requisition", req_id)})

    def requisitions_enabled() -> None:
        if not sb.config.requisition_api:
            raise _error(403, "ForbiddenError", "API management of requisitions is not enabled")

    def requisition_body(body: Record, current: Record | None) -> Record:
        """The requisition a POST (``current`` None) or a PUT makes: a PUT resets everything it was not
        sent; postings are left alone when ``postingIds`` is omitted."""
        requisitions_enabled()
        for key in ("requisitionCode", "name"):
            _check(isinstance(body.get(key), str) and body[key].strip(), f"{key} is required")
        head = body.get("headcountTotal")
        ok = head == "unlimited" or (type(head) is int and head >= 0)
        _check(ok, 'headcountTotal is required (an integer or "unlimited")')
        status = body.get("status", "open")
        _check(status in ("open", "onHold", "closed", "draft"), "status is not valid")
        back = current is not None and status == "draft" and current.get("status") != "draft"
        _check(not back, "status cannot go back to draft")
        _check(body.get("employmentStatus") in _EMPLOYMENT, "employmentStatus is not valid")
        custom = body.get("customFields") or {}
        unknown = ", ".join(sorted(set(custom) - sb.custom_fields))
        _check(isinstance(custom, dict) and not unknown, f"customFields has unknown fields: {unknown}")
        unknown = ", ".join(sorted(set(body) - _REQUISITION_KNOWN))
        _check(not unknown, f"unknown fields: {unknown}")
        now, old = now_ms(), current or {}
        rec = shape(REQUISITION, **{key: body.get(key) for key in _REQUISITION_RESET})
        rec.update(id=old["id"] if current else str(uuid.uuid4()), creator=old.get("creator"))
        rec["createdAt"] = old["createdAt"] if current else body.get("createdAt", now)
        rec.update(headcountHired=old.get("headcountHired", 0), offerIds=old.get("offerIds", []))
        rec["confidentiality"] = old.get("confidentiality", "non-confidential")
        rec.update(closedAt=now if status == "closed" else None, updatedAt=now, status=status)
        rec["customFields"] = custom
        rec["backfill"] = bool(body.get("backfill", False))
        rec["postings"] = body["postingIds"] if "postingIds" in body else old.get("postings", [])
        return rec

    @v1.post("/requisitions")
    @v1.put("/requisitions/{req_id}")
    async def write_requisition(request: Request) -> Response:
        """POST makes a requisition, PUT replaces one."""
        body, req_id = await _body(request), request.path_params.get("req_id")
        with store.transaction() as conn:
            rec = requisition_body(body, require("requisitions", "requisition", req_id) if req_id else None)
            code = rec["requisitionCode"]
            if req_id is None:  # a code not in use yet; the postings that name it are linked
                used = conn.execute("SELECT 1 FROM requisitions WHERE code = ?", (code,)).fetchone()
                _check(not used, f"requisitionCode {code} is already in use")
                postings = [json.loads(d) for (d,) in conn.execute("SELECT data FROM postings").fetchall()]
                named = [p["id"] for p in postings if code in (p.get("requisitionCodes") or [])]
                if new := [i for i in named if i not in rec["postings"]]:
                    rec["postings"] = [*rec["postings"], *new]
            put(conn, "requisitions", rec)
        sb.counters["requisitions_written"] += 1
        return _json({"data": rec}, 200 if req_id else 201)

    @v1.delete("/requisitions/{req_id}")
    async def delete_requisition(req_id: str) -> Response:
        requisitions_enabled()
        with store.transaction() as conn:
            require("requisitions", "requisition", req_id)
            conn.execute("DELETE FROM requisitions WHERE id = ?", (req_id,))
        return Response(status_code=204)

    return v1
