"""The Lever Data API v1 of the sandbox: what each request means (see the package docstring).

Latency, the rate limit and faults are the kit's gate in front of ``/v1``; this module answers the
requests that pass it: auth and OAuth tokens, lists with offset tokens and filters, writes, admin endpoints.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import secrets
import sqlite3
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from syncbridge.connectors.lever.sandbox.demo import DEFAULT_API_KEY, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from syncbridge.connectors.lever.sandbox.seed import (
    CONTACT_EMAILS,
    Record,
    add_refresh_token,
    application_shape,
    contact_shape,
    email_rows,
    ensure_schema,
    note_shape,
    now_ms,
    opportunity_shape,
    put_sql,
    row,
)
from syncbridge.sandbox.faults import Gate, GatedApp, Reply
from syncbridge.sandbox.limits import TokenBucket
from syncbridge.sandbox.seed import uuid_from
from syncbridge.sandbox.settings import apply_settings
from syncbridge.sandbox.store import Store, dumps
from syncbridge.sandbox.web import basic_credentials, install_admin_routes, read_form

MAX_LIMIT = 100
INVALID_OFFSET = "Invalid offset token: Offset token is invalid for sort"


class LeverError(Exception):
    """An error answered as Lever does: ``{"code": ..., "message": ...}``."""

    def __init__(self, status: int, code: str, message: str, *, body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body if body is not None else {"code": code, "message": message}


def _bad(message: str) -> LeverError:
    return LeverError(400, "BadRequestError", message)


def _not_found(what: str, ident: str) -> LeverError:
    return LeverError(404, "ResourceNotFound", f"{what} {ident} was not found")


def _oauth_error(status: int, error: str, description: str) -> LeverError:
    return LeverError(status, error, description, body={"error": error, "error_description": description})


def _forbidden(message: str) -> LeverError:
    return LeverError(403, "ForbiddenError", message)


def _json_response(body: Any, status: int = 200) -> Response:
    return Response(dumps(body).encode(), status_code=status, media_type="application/json")


# --------------------------------------------------------------------------------------------------------
# storage


class _Store(Store):
    """The sandbox's SQLite file (one connection under one lock) with record access by table and id."""

    def __init__(self, db_path: str | Path) -> None:
        super().__init__(db_path, ensure_schema)

    def get(self, table: str, rec_id: str) -> Record | None:
        found: Record | None = self.get_json(table, rec_id)
        return found

    def put(self, table: str, rec: Record) -> Record:
        with self.lock:
            self.conn.execute(put_sql(table), row(table, rec))
        return rec

    def delete(self, table: str, rec_id: str) -> None:
        with self.lock:
            self.conn.execute(f"DELETE FROM {table} WHERE id = ?", (rec_id,))

    def all(self, table: str) -> list[Record]:
        return [json.loads(r[0]) for r in self.query(f"SELECT data FROM {table} ORDER BY sort, id")]

    def set_contact_emails(self, contact: Record) -> None:
        with self.lock:
            self.conn.execute("DELETE FROM contact_emails WHERE contact = ?", (contact["id"],))
            self.conn.executemany(CONTACT_EMAILS.insert_sql(), email_rows(contact))


# --------------------------------------------------------------------------------------------------------
# runtime state: config, tokens, offsets, stats (the gate counts requests, refusals and faults)


@dataclass
class _Config:
    rate_per_second: float = 10.0
    burst: int = 20
    latency_ms: float = 0.0
    fault_rate: float = 0.0
    fault_seed: int = 0
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
# fmt: on
#: what the stats count: name, table, condition
_STATS = (
    ("contacts", "contacts", ""),
    ("opportunities", "opportunities", ""),
    ("confidential_opportunities", "opportunities", "WHERE confidential = 1"),
    *((t, t, "") for t in ("deleted_opportunities", "notes", "postings", "requisitions", "users")),
)


class _Sandbox:
    """The state behind one app: store, config, the /v1 gate (token bucket, faults, counters), tokens."""

    def __init__(
        self, db_path: str | Path, config: _Config, *, api_key: str, client_id: str, client_secret: str
    ) -> None:
        self.store = _Store(db_path)
        self.config = config
        self.api_key, self.client_id, self.client_secret = api_key, client_id, client_secret
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
        self.stage_text = {s["id"]: s["text"] for s in self.store.all("stages")}
        with self.store.lock:
            add_refresh_token(self.store.conn)

    def close(self) -> None:
        self.store.close()

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

    # -- auth
    def authenticate(self, header: str) -> None:
        scheme, _, value = header.partition(" ")
        basic = basic_credentials(header, unquote=False)
        if basic is not None:
            if basic[0] and hmac.compare_digest(basic[0].encode(), self.api_key.encode()):
                return
        elif scheme.lower() == "bearer":
            expires = self.access_tokens.get(value.strip())
            if expires is not None and expires > time.time():
                return
        raise LeverError(401, "UnauthorizedError", "Invalid or missing credentials")

    def issue_token(self, form: dict[str, str]) -> dict[str, Any]:
        cid, secret = form.get("client_id", ""), form.get("client_secret", "")
        if not (
            hmac.compare_digest(cid.encode(), self.client_id.encode())
            and hmac.compare_digest(secret.encode(), self.client_secret.encode())
        ):
            raise _oauth_error(401, "access_denied", "Unauthorized")
        if form.get("grant_type") != "refresh_token":
            raise _oauth_error(400, "unsupported_grant_type", "only refresh_token is supported here")
        token = form.get("refresh_token", "")
        with self.store.transaction() as conn:
            found = conn.execute("SELECT used FROM refresh_tokens WHERE token = ?", (token,)).fetchone()
            if found is None or found[0]:
                raise _oauth_error(403, "invalid_grant", "Unknown or invalid refresh token.")
            conn.execute("UPDATE refresh_tokens SET used = 1 WHERE token = ?", (token,))
            new_refresh = "sbx-rt-" + secrets.token_urlsafe(24)
            add_refresh_token(conn, new_refresh)
        access = "sbx-at-" + secrets.token_urlsafe(24)
        now = time.time()
        self.access_tokens = {t: e for t, e in self.access_tokens.items() if e > now}
        self.access_tokens[access] = now + self.config.token_ttl
        self.counters["token_refreshes"] += 1
        return {
            "access_token": access,
            "refresh_token": new_refresh,
            "token_type": "Bearer",
            "scope": "opportunities:read:admin offline_access",
            "expires_in": self.config.token_ttl,
        }

    def mint_refresh_token(self) -> str:
        token = "sbx-rt-" + secrets.token_urlsafe(24)
        with self.store.lock:
            add_refresh_token(self.store.conn, token)
        return token

    def user_ok(self, user_id: str | None, *, required: bool) -> str | None:
        if not user_id:
            if required:
                raise _bad("perform_as is required for this request")
            return None
        user = self.store.get("users", user_id)
        if user is None or user.get("deactivatedAt") is not None:
            raise _bad(f"perform_as user {user_id} is not an active user")
        return user_id

    # -- offset tokens: valid only for the query that made them (and this process)
    def _signature(self, path: str, params: list[tuple[str, str]]) -> str:
        canon = "&".join(f"{k}={v}" for k, v in sorted(params) if k != "offset")
        return hmac.new(self.offset_secret, f"{path}?{canon}".encode(), hashlib.sha256).hexdigest()[:12]

    def make_offset(self, path: str, params: list[tuple[str, str]], sort: int, rec_id: str) -> str:
        return f"0.{sort}.{rec_id}.{self._signature(path, params)}"

    def read_offset(self, path: str, params: list[tuple[str, str]], token: str) -> tuple[int, str]:
        parts = token.split(".")
        if len(parts) != 4 or parts[0] != "0" or not parts[1].lstrip("-").isdigit():
            raise _bad(INVALID_OFFSET)
        if not hmac.compare_digest(parts[3], self._signature(path, params)):
            raise _bad(INVALID_OFFSET)
        if self.gate.faults.chance(self.config.offset_fault_rate):
            self.counters["offset_refused"] += 1
            raise _bad(INVALID_OFFSET)
        return int(parts[1]), parts[2]

    # -- listing
    def list_page(
        self,
        request: Request,
        table: str,
        where: _Where,
        render: Callable[[Record], Record],
        *,
        join: bool = False,
    ) -> Response:
        """One page of ``table`` in ``sort, id`` order (``join``: each record gets its ``_contact``)."""
        path, params = request.url.path, list(request.query_params.multi_items())
        limit = _limit(request.query_params.get("limit"))
        offset = request.query_params.get("offset")
        conditions, args = list(where.sql), list(where.args)
        if offset:
            sort, after = self.read_offset(path, params, offset)
            conditions.append("(t.sort > ? OR (t.sort = ? AND t.id > ?))")
            args += [sort, sort, after]
        sql = f"SELECT t.id, t.sort, t.data{', c.data' if join else ''} FROM {table} t"
        if join:
            sql += " JOIN contacts c ON c.id = t.contact"
        if conditions:
            sql += " WHERE " + " AND ".join(conditions)
        rows = self.store.query(sql + " ORDER BY t.sort, t.id LIMIT ?", (*args, limit + 1))
        more = len(rows) > limit
        rows = rows[:limit]
        data = []
        for found in rows:
            rec = json.loads(found[2])
            if join:
                rec["_contact"] = json.loads(found[3])
            data.append(render(rec))
        body: dict[str, Any] = {"data": data, "hasNext": more}
        if more:
            body["next"] = self.make_offset(path, params, rows[-1][1], rows[-1][0])
        return _json_response(body)

    # -- rendering
    def render_opportunity(self, rec: Record, expand: set[str]) -> Record:
        contact = rec.pop("_contact", None) or self.store.get("contacts", rec["contact"]) or {}
        apps = rec.pop("_applications", [])
        out = {
            "id": rec["id"],
            "name": contact.get("name"),
            "headline": contact.get("headline"),
            "contact": rec["contact"],
            "emails": list(contact.get("emails") or []),
            "phones": list(contact.get("phones") or []),
            "location": contact.get("location"),
            "links": list(contact.get("links") or []),
        }
        out.update({k: v for k, v in rec.items() if not k.startswith("_")})
        if "stage" in expand and rec.get("stage"):
            out["stage"] = {"id": rec["stage"], "text": self.stage_text.get(rec["stage"], rec["stage"])}
        out["applications"] = apps if "applications" in expand else [a["id"] for a in apps]
        out["urls"] = {
            "list": "https://hire.sandbox.example/candidates",
            "show": f"https://hire.sandbox.example/candidates/{rec['id']}",
        }
        return out


def _public(rec: Record) -> Record:
    return {k: v for k, v in rec.items() if not k.startswith("_")}


# --------------------------------------------------------------------------------------------------------
# request parameters and bodies


def _limit(value: str | None) -> int:
    if value is None or value == "":
        return MAX_LIMIT
    try:
        limit = int(value)
    except ValueError:
        raise _bad("limit must be an integer between 1 and 100") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise _bad("limit must be an integer between 1 and 100")
    return limit


def _ms_param(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise _bad(f"{name} must be a timestamp in milliseconds") from None


class _Where:
    """The conditions of one list request on the table ``t``, and their arguments."""

    def __init__(self, request: Request, *, confidential: bool = False) -> None:
        self.request, self.query = request, request.query_params
        self.sql: list[str] = []
        self.args: list[Any] = []
        if confidential:  # hidden unless asked for
            value = self.query.get("confidentiality") or "non-confidential"
            if value not in ("all", "confidential", "non-confidential"):
                raise _bad("confidentiality must be one of confidential, non-confidential, all")
            if value != "all":
                self.add(f"t.confidential = {int(value == 'confidential')}")

    def add(self, sql: str, *args: Any) -> None:
        self.sql.append(sql)
        self.args.extend(args)

    def ms(self, name: str, column: str, op: str) -> None:
        """A filter on a millisecond timestamp (a null column never matches)."""
        value = _ms_param(self.request, name)
        if value is not None:
            self.add(f"{column} IS NOT NULL AND {column} {op} ?", value)

    def window(self, start: str, end: str, column: str) -> None:
        """``start`` <= ``column`` <= ``end``."""
        self.ms(start, column, ">=")
        self.ms(end, column, "<=")

    def values(self, name: str) -> list[str]:
        return [v for v in self.query.getlist(name) if v]

    def one_of(self, name: str, column: str) -> None:
        """``column`` is one of the (repeatable) parameter's values."""
        values = self.values(name)
        if values:
            self.add(f"{column} IN ({', '.join('?' * len(values))})", *values)


def _bool_param(request: Request, name: str) -> bool | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _bad(f"{name} must be true or false")


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        data = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise _bad("Request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise _bad("Request body must be a JSON object")
    return data


def _str_list(body: dict[str, Any], key: str) -> list[str]:
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise _bad(f"{key} must be an array of non-empty strings")
    return list(value)


def _created_at(body: dict[str, Any], now: int) -> int:
    created = body.get("createdAt", now)
    if not isinstance(created, int) or isinstance(created, bool) or created > now:
        raise _bad("createdAt must be a timestamp in milliseconds, not in the future")
    return created


# --------------------------------------------------------------------------------------------------------
# posting HTML whitelist

DESCRIPTION_TAGS = {"div", "p", "span", "br", "b", "i", "s", "u", "a"}
LIST_TAGS = {"li", "b", "i", "s", "u", "a"}
ALLOWED_ATTRS = {"class", "href", "style"}


class _HtmlCheck(HTMLParser):
    def __init__(self, allowed: set[str]) -> None:
        super().__init__()
        self.allowed = allowed
        self.problem: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.allowed:
            self.problem = self.problem or f"tag <{tag}> is not allowed"
        for name, _ in attrs:
            if name not in ALLOWED_ATTRS:
                self.problem = self.problem or f"attribute {name} is not allowed"


def _check_html(value: Any, allowed: set[str], where: str) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise _bad(f"{where} must be a string")
    checker = _HtmlCheck(allowed)
    checker.feed(value)
    checker.close()
    if checker.problem:
        raise _bad(f"Invalid HTML in {where}: {checker.problem}")


def _check_posting_html(body: dict[str, Any]) -> None:
    content = body.get("content")
    if content is not None:
        if not isinstance(content, dict):
            raise _bad("content must be an object")
        unknown = set(content) - {"description", "descriptionHtml", "lists", "closing", "closingHtml"}
        if unknown:
            raise _bad(
                f"content has unknown fields: {', '.join(sorted(unknown))} (closing HTML is closingHtml)"
            )
        for key in ("descriptionHtml", "closingHtml"):
            _check_html(content.get(key), DESCRIPTION_TAGS, f"content.{key}")
        for item in content.get("lists") or []:
            if not isinstance(item, dict):
                raise _bad("content.lists items must be objects")
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
    sb = _Sandbox(
        db_path, _Config(**settings), api_key=api_key, client_id=client_id, client_secret=client_secret
    )
    app = GatedApp(title="Lever v1 sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sandbox = sb
    app.gate = sb.gate

    async def lever_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LeverError)
        return _json_response(exc.body, exc.status)

    async def http_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            return _json_response({"code": "ResourceNotFound", "message": "Not found"}, 404)
        return _json_response({"code": "BadRequestError", "message": str(exc.detail)}, exc.status_code)

    async def unexpected(_request: Request, _exc: Exception) -> Response:
        return _json_response({"code": "InternalServerError", "message": "Something went wrong"}, 500)

    app.add_exception_handler(LeverError, lever_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
    _admin_routes(app, sb)
    app.include_router(_v1_routes(sb))
    return app


def _admin_routes(app: FastAPI, sb: _Sandbox) -> None:
    install_admin_routes(app, sb, read_json=_body, respond=_json_response)

    @app.post("/oauth/token")
    async def token(request: Request) -> Response:
        return _json_response(sb.issue_token(await read_form(request)))

    @app.post("/_sandbox/rotate_offsets")
    async def rotate_offsets() -> Response:
        sb.offset_secret = secrets.token_bytes(16)
        return _json_response({"ok": True})

    @app.post("/_sandbox/oauth/refresh_token")
    async def mint() -> Response:
        return _json_response({"refresh_token": sb.mint_refresh_token()})

    @app.post("/_sandbox/opportunities/{opp_id}/delete")
    async def delete_opportunity(opp_id: str) -> Response:
        with sb.store.transaction() as conn:
            opp = sb.store.get("opportunities", opp_id)
            if opp is None:
                raise _not_found("opportunity", opp_id)
            rendered = sb.render_opportunity(opp, set())
            rendered.update({"deletedBy": None, "deletedAt": now_ms()})
            sb.store.put("deleted_opportunities", rendered)
            sb.store.delete("opportunities", opp_id)
            conn.execute("DELETE FROM notes WHERE opp_id = ?", (opp_id,))
        return _json_response({"data": rendered})


_ORIGINS = ("agency", "applied", "internal", "referred", "sourced", "university")
_POSTING_STATES = ("published", "internal", "closed", "draft", "pending", "rejected")
# fmt: off
_POSTING_WRITABLE = ["text", "state", "distributionChannels", "owner", "hiringManager", "categories", "tags",
                     "content", "workplaceType", "requisitionCodes", "salaryDescriptionHtml", "salaryRange"]
#: what a requisition PUT resets to null when it is not sent
_REQUISITION_RESET = ["requisitionCode", "name", "headcountTotal", "owner", "hiringManager",
                      "employmentStatus", "location", "team", "department", "compensationBand",
                      "internalNotes"]
# fmt: on
_REQUISITION_KNOWN = {*_REQUISITION_RESET, "status", "backfill", "createdAt", "postingIds", "customFields"}
_EMPLOYMENT = ("full-time", "part-time", "intern", "contractor", "temp-worker")


def _v1_routes(sb: _Sandbox) -> APIRouter:
    store = sb.store

    async def auth(request: Request) -> None:
        sb.authenticate(request.headers.get("authorization", ""))

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(auth)])

    def actor_of(request: Request, *, required: bool) -> str | None:
        return sb.user_ok(request.query_params.get("perform_as"), required=required)

    def require(table: str, what: str, rec_id: str) -> Record:
        rec = store.get(table, rec_id)
        if rec is None:
            raise _not_found(what, rec_id)
        return rec

    def require_opp(opp_id: str) -> Record:
        return require("opportunities", "opportunity", opp_id)

    def opportunity(opp: Record, status: int = 200) -> Response:
        return _json_response({"data": sb.render_opportunity(dict(opp), set())}, status)

    # ---- opportunities
    @v1.get("/opportunities")
    async def list_opportunities(request: Request) -> Response:
        where = _Where(request, confidential=True)
        where.window("updated_at_start", "updated_at_end", "t.updated_at")
        where.window("created_at_start", "created_at_end", "t.sort")
        if where.query.get("email"):
            email = where.query["email"].strip().lower()
            where.add("t.contact IN (SELECT contact FROM contact_emails WHERE email = ?)", email)
        where.one_of("contact_id", "t.contact")
        archived = _bool_param(request, "archived")
        if archived is not None:
            where.add("t.archived = ?", int(archived))
        tags = where.values("tag")
        if tags:
            tag = "EXISTS (SELECT 1 FROM json_each(t.data, '$.tags') j WHERE j.value = ?)"
            where.add("(" + " OR ".join(tag for _ in tags) + ")", *tags)
        postings = where.values("posting_id")
        if postings:
            on = f"json_extract(j.value, '$.posting') IN ({', '.join('?' * len(postings))})"
            where.add(f"EXISTS (SELECT 1 FROM json_each(t.data, '$._applications') j WHERE {on})", *postings)
        where.one_of("stage_id", "json_extract(t.data, '$.stage')")
        expand = set(where.values("expand"))
        return sb.list_page(
            request, "opportunities", where, lambda r: sb.render_opportunity(r, expand), join=True
        )

    @v1.get("/opportunities/deleted")
    async def list_deleted(request: Request) -> Response:
        where = _Where(request)
        where.window("deleted_at_start", "deleted_at_end", "t.sort")
        return sb.list_page(request, "deleted_opportunities", where, dict)

    @v1.get("/opportunities/{opp_id}")
    async def get_opportunity(opp_id: str, request: Request) -> Response:
        opp = require_opp(opp_id)
        return _json_response(
            {"data": sb.render_opportunity(opp, set(request.query_params.getlist("expand")))}
        )

    @v1.post("/opportunities")
    async def create_opportunity(request: Request) -> Response:
        body = await _body(request)
        actor = actor_of(request, required=True)
        emails = _str_list(body, "emails")
        tags, sources, links = _str_list(body, "tags"), _str_list(body, "sources"), _str_list(body, "links")
        postings = _str_list(body, "postings")
        if len(postings) > 1:
            raise _bad("postings can contain at most one posting")
        phones = body.get("phones") or []
        if not isinstance(phones, list) or not all(
            isinstance(p, dict) and isinstance(p.get("value"), str) for p in phones
        ):
            raise _bad("phones must be an array of {value, type}")
        origin = body.get("origin") or "sourced"
        if origin not in _ORIGINS:
            raise _bad("origin is not valid")
        now = now_ms()
        created = _created_at(body, now)
        posting = None
        if postings:
            posting = store.get("postings", postings[0])
            if posting is None:
                raise _bad(f"posting {postings[0]} does not exist")
        stage = body.get("stage") or ("applicant-new" if posting else "lead-new")
        if stage not in sb.stage_text:
            raise _bad(f"stage {stage} does not exist")
        rng = random.Random(secrets.token_bytes(16))
        with store.transaction() as conn:
            contact = None
            if body.get("contact"):
                contact = store.get("contacts", str(body["contact"]))
                if contact is None:
                    raise _bad(f"contact {body['contact']} does not exist")
                contact["emails"] += [e for e in emails if e not in contact["emails"]]
                contact["phones"] += [p for p in phones if p not in contact["phones"]]
                contact["links"] += [x for x in links if x not in contact["links"]]
            else:
                for email in emails:
                    found = conn.execute(
                        "SELECT contact FROM contact_emails WHERE email = ? ORDER BY position LIMIT 1",
                        (email.strip().lower(),),
                    ).fetchone()
                    if found is not None:
                        contact = store.get("contacts", found[0])  # the stored contact data wins
                        break
            if contact is None:
                contact = contact_shape(
                    uuid_from(rng),
                    name=body.get("name") or "",
                    headline=body.get("headline") or "",
                    location=body.get("location"),
                    emails=emails,
                    phones=[{k: v for k, v in p.items() if k in ("type", "value")} for p in phones],
                    links=links,
                )
                contact["createdAt"] = now
            store.put("contacts", contact)
            store.set_contact_emails(contact)
            oid = uuid_from(rng)
            apps = []
            if posting is not None:
                apps.append(
                    application_shape(uuid_from(rng), oid, created, posting, contact, "user", user=actor)
                )
            opp = opportunity_shape(
                oid,
                contact["id"],
                created,
                now,
                now,
                archived=None,
                stage=stage,
                stage_change={"toStageId": stage, "toStageIndex": 0, "userId": actor, "updatedAt": now},
                owner=body.get("owner") or actor,
                followers=[actor, *_str_list(body, "followers")],
                tags=list(dict.fromkeys(tags)),
                sources=list(dict.fromkeys(sources)),
                origin=origin,
                sourced_by=actor if origin == "sourced" else None,
                confidential=bool(posting and posting["confidentiality"] == "confidential"),
                location=body.get("opportunityLocation"),
                applications=apps,
            )
            store.put("opportunities", opp)
        sb.counters["opportunities_created"] += 1
        return opportunity(opp, 201)

    @v1.get("/opportunities/{opp_id}/notes")
    async def list_notes(opp_id: str, request: Request) -> Response:
        require_opp(opp_id)
        where = _Where(request)
        where.add("t.opp_id = ?", opp_id)
        return sb.list_page(request, "notes", where, _public)

    @v1.post("/opportunities/{opp_id}/notes")
    async def create_note(opp_id: str, request: Request) -> Response:
        body = await _body(request)
        actor = actor_of(request, required=False)
        value = body.get("value")
        if not isinstance(value, str) or not value.strip():
            raise _bad("value is required")
        score = body.get("score")
        if score is not None and (
            not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 4
        ):
            raise _bad("score must be an integer from 1 to 4")
        secret = body.get("secret", False)
        if not isinstance(secret, bool):
            raise _bad("secret must be true or false")
        created = _created_at(body, now_ms())
        with store.transaction():
            require_opp(opp_id)  # notes do not move the opportunity's updatedAt
            note = note_shape(str(uuid.uuid4()), opp_id, value, actor, created, secret=secret, score=score)
            note["_api"] = True  # only notes made through the API may be deleted through it
            store.put("notes", note)
        sb.counters["notes_written"] += 1
        return _json_response({"data": {"noteId": note["id"]}}, 201)

    @v1.delete("/opportunities/{opp_id}/notes/{note_id}")
    async def delete_note(opp_id: str, note_id: str, request: Request) -> Response:
        actor_of(request, required=False)
        with store.transaction():
            require_opp(opp_id)
            note = store.get("notes", note_id)
            if note is None or note.get("_opp") != opp_id:
                raise _not_found("note", note_id)
            if not note.get("_api"):
                raise _forbidden("Only notes created through the API can be deleted")
            store.delete("notes", note_id)
        return Response(status_code=204)

    async def change_tags(opp_id: str, request: Request, add: bool) -> Response:
        body = await _body(request)
        actor_of(request, required=False)
        tags = _str_list(body, "tags")
        if not tags:
            raise _bad("tags is required")
        with store.transaction():
            opp = require_opp(opp_id)
            current = list(opp.get("tags") or [])
            if add:
                new = [t for t in dict.fromkeys(tags) if t not in current]
                changed = current + new
            else:
                new = []
                changed = [t for t in current if t not in tags]
            if changed != current:
                opp["tags"] = changed
                opp["updatedAt"] = now_ms()
                store.put("opportunities", opp)
        sb.counters["tags_added"] += len(new)
        return opportunity(opp)

    @v1.post("/opportunities/{opp_id}/addTags")
    async def add_tags(opp_id: str, request: Request) -> Response:
        return await change_tags(opp_id, request, True)

    @v1.put("/opportunities/{opp_id}/stage")
    async def change_stage(opp_id: str, request: Request) -> Response:
        body = await _body(request)
        actor = actor_of(request, required=False)
        stage = body.get("stage")
        if not isinstance(stage, str) or store.get("stages", stage) is None:
            raise _not_found("stages", str(stage))
        with store.transaction():
            opp = require_opp(opp_id)
            if opp.get("stage") != stage:
                now = now_ms()
                opp["stage"] = stage
                index = [s["id"] for s in store.all("stages")].index(stage)
                opp.setdefault("stageChanges", []).append(
                    {"toStageId": stage, "toStageIndex": index, "userId": actor, "updatedAt": now}
                )
                opp["updatedAt"] = now
                store.put("opportunities", opp)
        return opportunity(opp)

    @v1.post("/opportunities/{opp_id}/removeTags")
    async def remove_tags(opp_id: str, request: Request) -> Response:
        return await change_tags(opp_id, request, False)

    # ---- postings
    @v1.get("/postings")
    async def list_postings(request: Request) -> Response:
        where = _Where(request, confidential=True)
        windowed = any(where.query.get(k) for k in ("updated_at_start", "updated_at_end"))
        others = set(where.query) - {
            "updated_at_start",
            "updated_at_end",
            "confidentiality",
            "limit",
            "offset",
        }
        if windowed and others:
            raise _bad("updated_at_start and updated_at_end can only be combined with confidentiality")
        where.window("updated_at_start", "updated_at_end", "t.updated_at")
        where.one_of("state", "t.state")
        return sb.list_page(request, "postings", where, dict)

    @v1.get("/postings/{posting_id}")
    async def get_posting(posting_id: str) -> Response:
        return _json_response({"data": require("postings", "posting", posting_id)})

    def posting_fields(body: Record, posting: Record) -> None:
        _check_posting_html(body)
        if "state" in body and body["state"] not in _POSTING_STATES:
            raise _bad("state is not valid")
        if body.get("workplaceType") == "unspecified" and posting.get("workplaceType") not in (
            None,
            "unspecified",
        ):
            raise _bad("workplaceType cannot be set back to unspecified")
        posting.update({k: body[k] for k in _POSTING_WRITABLE if k in body})

    def link_requisitions(conn: sqlite3.Connection, posting: Record, before: list[str]) -> None:
        """A posting is linked to the requisitions its ``requisitionCodes`` name: they list it in their
        ``postings`` (their ``updatedAt`` does not move: postings are not among the fields that move it)."""
        now = [str(c) for c in posting.get("requisitionCodes") or []]
        for code in dict.fromkeys([*before, *now]):
            for (data,) in conn.execute("SELECT data FROM requisitions WHERE code = ?", (code,)).fetchall():
                req = json.loads(data)
                linked = [p for p in req.get("postings") or [] if p != posting["id"]]
                if code in now:
                    linked.append(posting["id"])
                if linked != (req.get("postings") or []):
                    req["postings"] = linked
                    store.put("requisitions", req)

    @v1.post("/postings")
    async def create_posting(request: Request) -> Response:
        body = await _body(request)
        actor = actor_of(request, required=True)
        if not isinstance(body.get("text"), str) or not body["text"].strip():
            raise _bad("text is required")
        if body.get("confidentiality") == "confidential":
            raise _bad("confidential postings cannot be created through the API")
        now = now_ms()
        posting: Record = {
            "id": str(uuid.uuid4()),
            "createdAt": now,
            "updatedAt": now,
            "user": actor,
            "owner": actor,
            "hiringManager": None,
            "confidentiality": "non-confidential",
            "categories": {},
            "content": {},
            "tags": [],
            "state": "draft",
            "distributionChannels": ["public", "internal"],
            "requisitionCodes": [],
            "workplaceType": "unspecified",
            "followers": [actor],
        }
        posting_fields(body, posting)
        with store.transaction() as conn:
            store.put("postings", posting)
            link_requisitions(conn, posting, [])
        sb.counters["postings_written"] += 1
        return _json_response({"data": posting}, 201)

    @v1.post("/postings/{posting_id}")
    async def update_posting(posting_id: str, request: Request) -> Response:
        body = await _body(request)
        actor_of(request, required=True)
        with store.transaction() as conn:
            posting = require("postings", "posting", posting_id)
            before = [str(c) for c in posting.get("requisitionCodes") or []]
            posting_fields(body, posting)
            posting["updatedAt"] = now_ms()
            store.put("postings", posting)
            link_requisitions(conn, posting, before)
        sb.counters["postings_written"] += 1
        return _json_response({"data": posting})

    # ---- requisitions
    @v1.get("/requisitions")
    async def list_requisitions(request: Request) -> Response:
        where = _Where(request, confidential=True)
        where.window("created_at_start", "created_at_end", "t.sort")
        for name, column in (("requisition_code", "t.code"), ("status", "t.status")):
            if where.query.get(name):
                where.add(f"{column} = ?", where.query[name])
        return sb.list_page(request, "requisitions", where, dict)

    @v1.get("/requisitions/{req_id}")
    async def get_requisition(req_id: str) -> Response:
        return _json_response({"data": require("requisitions", "requisition", req_id)})

    def requisitions_enabled() -> None:
        if not sb.config.requisition_api:
            raise _forbidden("API management of requisitions is not enabled")

    def requisition_body(body: Record, current: Record | None) -> Record:
        requisitions_enabled()
        for key in ("requisitionCode", "name"):
            if not isinstance(body.get(key), str) or not body[key].strip():
                raise _bad(f"{key} is required")
        head = body.get("headcountTotal")
        if head != "unlimited" and (not isinstance(head, int) or isinstance(head, bool) or head < 0):
            raise _bad('headcountTotal is required (an integer or "unlimited")')
        status = body.get("status", "open")
        if status not in ("open", "onHold", "closed", "draft"):
            raise _bad("status is not valid")
        if current is not None and status == "draft" and current.get("status") != "draft":
            raise _bad("status cannot go back to draft")
        emp = body.get("employmentStatus")
        if emp is not None and emp not in _EMPLOYMENT:
            raise _bad("employmentStatus is not valid")
        custom = body.get("customFields") or {}
        known = {f["id"] for f in store.all("requisition_fields")}
        if not isinstance(custom, dict) or set(custom) - known:
            raise _bad(f"customFields has unknown fields: {', '.join(sorted(set(custom) - known))}")
        unknown = set(body) - _REQUISITION_KNOWN
        if unknown:
            raise _bad(f"unknown fields: {', '.join(sorted(unknown))}")
        now = now_ms()
        old = current or {}
        rec = {
            "id": old["id"] if current else str(uuid.uuid4()),
            "createdAt": old["createdAt"] if current else body.get("createdAt", now),
            "creator": old.get("creator"),
            "headcountHired": old.get("headcountHired", 0),
            "confidentiality": old.get("confidentiality", "non-confidential"),
            "offerIds": old.get("offerIds", []),
            "approval": None,
            "closedAt": now if status == "closed" else None,
            "timeToFillStartAt": None,
            "timeToFillEndAt": None,
            "updatedAt": now,
        }
        # a PUT resets everything it was not sent; postings are left alone when postingIds is omitted
        rec.update({key: body.get(key) for key in _REQUISITION_RESET})
        rec["status"] = status
        rec["backfill"] = bool(body.get("backfill", False))
        rec["customFields"] = custom
        rec["postings"] = body["postingIds"] if "postingIds" in body else old.get("postings", [])
        return rec

    @v1.post("/requisitions")
    async def create_requisition(request: Request) -> Response:
        body = await _body(request)
        with store.transaction() as conn:
            rec = requisition_body(body, None)
            code = rec["requisitionCode"]
            if conn.execute("SELECT 1 FROM requisitions WHERE code = ?", (code,)).fetchone():
                raise _bad(f"requisitionCode {code} is already in use")
            for (data,) in conn.execute("SELECT data FROM postings").fetchall():
                posting = json.loads(data)
                named = code in (posting.get("requisitionCodes") or [])
                if named and posting["id"] not in rec["postings"]:
                    rec["postings"] = [*rec["postings"], posting["id"]]
            store.put("requisitions", rec)
        sb.counters["requisitions_written"] += 1
        return _json_response({"data": rec}, 201)

    @v1.put("/requisitions/{req_id}")
    async def replace_requisition(req_id: str, request: Request) -> Response:
        body = await _body(request)
        with store.transaction():
            rec = requisition_body(body, require("requisitions", "requisition", req_id))
            store.put("requisitions", rec)
        sb.counters["requisitions_written"] += 1
        return _json_response({"data": rec})

    @v1.delete("/requisitions/{req_id}")
    async def delete_requisition(req_id: str) -> Response:
        requisitions_enabled()
        require("requisitions", "requisition", req_id)
        store.delete("requisitions", req_id)
        return Response(status_code=204)

    # ---- dictionaries
    @v1.get("/users")
    async def list_users(request: Request) -> Response:
        where = _Where(request)
        if _bool_param(request, "includeDeactivated") is not True:
            where.add("t.deactivated = 0")
        if where.query.get("email"):
            where.add("t.email_lc = ?", where.query["email"].strip().lower())
        return sb.list_page(request, "users", where, dict)

    def simple_list(table: str) -> Callable[[Request], Awaitable[Response]]:
        async def handler(request: Request) -> Response:
            return sb.list_page(request, table, _Where(request), _public)

        return handler

    for table in ("stages", "archive_reasons", "requisition_fields"):
        v1.add_api_route(f"/{table}", simple_list(table), methods=["GET"])
    return v1
