"""The Greenhouse Harvest v3 API of the sandbox: what each request means (see the package docstring).

Latency, the rate limit and faults are the kit's gate in front of ``/v3``; this module answers the
requests that pass it: tokens, lists with cursors and filters, writes with their 422s, admin endpoints.
Lists are described by one table of filters (:data:`LISTS`), request bodies by tables of fields
(the kit's :class:`~syncbridge.sandbox.body.Field`; ``custom_fields`` is a kind of field of its own).
"""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from syncbridge.connectors.greenhouse.sandbox.demo import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from syncbridge.connectors.greenhouse.sandbox.seed import (
    EMAIL_INSERT,
    ID_BASES,
    STAGES,
    TABLES,
    TIME_ZONES,
    ensure_schema,
    iso_ts,
    make,
    note_shape,
    now_ts,
    parse_ts,
)
from syncbridge.sandbox.body import Checker
from syncbridge.sandbox.body import Field as F
from syncbridge.sandbox.faults import Gate, GatedApp, Reply
from syncbridge.sandbox.faults import Settings as FaultGateSettings
from syncbridge.sandbox.limits import GREENHOUSE_HEADERS, FixedWindow
from syncbridge.sandbox.store import RecordStore, dumps
from syncbridge.sandbox.web import basic_credentials, install_admin_routes, read_form

Body = dict[str, Any]
UNAUTHORIZED_DETAIL = "Token could not be decoded. Please ensure your token is from a trusted source."
CURSOR_WITH_PARAMS = "When passing a cursor, do not include other query params."
GRANTS = (
    "authorization_code, refresh_token, client_credentials, urn:ietf:params:oauth:grant-type:token-exchange"
)
MAX_PER_PAGE, DEFAULT_PER_PAGE, MAX_ID_LIST = 500, 100, 50
TEXT, HTML = 100_000, 1_000_000  # the longest notes and job notes, and job post content


class ApiError(Exception):
    """An error answered with ``body`` (most are ``{"message": ..., "errors": [...]}``)."""

    def __init__(self, status: int, body: Body) -> None:
        super().__init__(body)
        self.status, self.body = status, body


def _bad(key: str, problem: str) -> ApiError:
    """A 422 whose one error is ``{key: problem}``."""
    return _unprocessable({key: problem})


def _unprocessable(*errors: Any) -> ApiError:
    return ApiError(422, {"message": "Unprocessable Content", "errors": list(errors)})


def _not_found() -> ApiError:
    return ApiError(404, {"message": "Resource not found"})


def _token_error(message: str) -> ApiError:
    return ApiError(400, {"message": message, "errorId": "err-" + secrets.token_hex(8)})


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_date(value: Any) -> bool:
    try:
        datetime.strptime(value, "%Y-%m-%d")
    except (TypeError, ValueError):
        return False
    return True


def _is_money(value: Any) -> bool:
    code = value.get("currency_code") if isinstance(value, dict) else None
    return isinstance(code, str) and len(code) == 3 and _is_number(value.get("amount"))


# --------------------------------------------------------------------------------------------------------
# lists: filters and cursors

# fmt: off
#: each list's filters beside ``ids``, ``created_at``, ``updated_at`` and ``fields``, as ``name:kind`` or
#: ``name:kind:column``; the column is the name, or for ``ids`` the name without its plural ``s``
LISTS = {
    "candidates": "email:email tag:tag last_activity_at:date private:bool",
    "applications": "candidate_ids:ids job_ids:ids status:enum prospect:bool stage_name:str "
                    "last_activity_at:date",
    "jobs": "status:enum requisition_id:str department_id:int confidential:bool opened_at:date "
            "closed_at:date",
    "job_posts": "job_ids:ids job_board_ids:ids live:bool active:bool internal:bool",
    "job_boards": "",
    "sources": "",
    "users": "primary_email:lstr:primary_email_lc deactivated:bool show_service_accounts:service",
    "custom_fields": "field_type:str active:bool name_key:str",
    "custom_field_options": "custom_field_ids:ids active:bool",
    "candidate_tags": "",
    "applied_candidate_tags": "candidate_ids:ids candidate_tag_ids:ids",
    "notes": "candidate_ids:ids application_ids:ids user_ids:ids type:str:note_type visibility:str",
    "attachments": "application_ids:ids candidate_ids:ids type:str",
    "openings": "job_ids:ids open:bool",
    "departments": "external_id:str",
    "offices": "external_id:str",
}
# fmt: on
COMMON_FILTERS = "ids:ids created_at:date updated_at:date fields:fields"
#: the values of ``enum`` filters (``active`` means ``in_process``)
ENUMS = {
    "applications": ("active", "in_process", "rejected", "hired", "converted"),
    "jobs": ("open", "draft", "closed"),
}
FILTER_SQL = {
    "email": "id IN (SELECT candidate_id FROM candidate_emails WHERE email = ?)",
    "tag": "id IN (SELECT a.candidate_id FROM applied_candidate_tags a JOIN candidate_tags t "
    "ON t.id = a.candidate_tag_id WHERE t.name = ?)",
}
DATE_OPS = {"gte": ">=", "gt": ">", "lte": "<=", "lt": "<"}


def _filters(resource: str) -> dict[str, tuple[str, str]]:
    """``{name: (kind, column)}`` of a list's filters."""
    out = {}
    for item in f"{COMMON_FILTERS} {LISTS[resource]}".split():
        name, kind, *column = item.split(":")
        out[name] = (kind, column[0] if column else name[:-1] if kind == "ids" else name)
    return out


def _encode_cursor(state: Body) -> str:
    return base64.urlsafe_b64encode(dumps(state).encode()).decode().rstrip("=")


def _decode_cursor(text: str) -> Body:
    try:
        state = json.loads(base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode("ascii")).decode())
        types = {"r": str, "q": dict, "n": int, "a": int}
        if not (isinstance(state, dict) and all(isinstance(state.get(k), t) for k, t in types.items())):
            raise ValueError("cursor shape")
    except (ValueError, UnicodeError, binascii.Error):
        raise _bad("cursor", "is invalid") from None
    return state


def _int_param(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise _bad(name, f"`{value}` is not a valid integer") from None


def _bool_param(name: str, value: str) -> int:
    lowered = value.strip().lower()
    if lowered not in ("true", "1", "false", "0"):
        raise _bad(name, f"`{value}` is not a valid boolean")
    return int(lowered in ("true", "1"))


def _list_param(name: str, value: str) -> list[str]:
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if len(parts) > MAX_ID_LIST:
        raise _bad(name, f"must contain at most {MAX_ID_LIST} items")
    return parts


def _date_filter(name: str, value: str) -> list[tuple[str, str]]:
    """``op|time`` or ``op|time|op|time`` (``gte|2024-01-01T00:00:00Z``) → ``[(sql op, stamp)]``."""
    parts = value.split("|")
    times = [parse_ts(stamp) for stamp in parts[1::2]]
    if len(parts) not in (2, 4) or any(op not in DATE_OPS for op in parts[0::2]) or None in times:
        raise _bad(name, f"`{value}` is not a valid date filter, use e.g. gte|2024-01-01T00:00:00Z")
    return [(DATE_OPS[op], iso_ts(dt)) for op, dt in zip(parts[0::2], times, strict=True) if dt is not None]


def _filter_value(kind: str, name: str, value: str) -> Any:
    if kind == "int":
        return _int_param(name, value)
    if kind == "bool":
        return _bool_param(name, value)
    if kind in ("lstr", "email"):
        return value.strip().lower()
    return "in_process" if kind == "enum" and value == "active" else value


def _where(resource: str, filters: dict[str, str]) -> tuple[list[str], list[Any], list[str] | None]:
    """The SQL conditions and arguments of a list's filters, and the fields asked for (None: all)."""
    specs = _filters(resource)
    where: list[str] = []
    args: list[Any] = []
    fields: list[str] | None = None
    service_accounts = False
    for name, value in filters.items():
        kind, column = specs[name]
        if kind == "ids":
            ids = [_int_param(name, part) for part in _list_param(name, value)]
            where.append(f"{column} IN ({', '.join('?' * len(ids))})" if ids else "0")
            args.extend(ids)
        elif kind == "date":
            for op, stamp in _date_filter(name, value):
                where.append(f"{column} {op} ?")
                args.append(stamp)
        elif kind == "fields":
            fields = _list_param(name, value) or None
        elif kind == "service":
            service_accounts = bool(_bool_param(name, value))
        elif kind == "enum" and value not in ENUMS[resource]:
            raise _bad(name, f"`{value}` is not one of: {', '.join(ENUMS[resource])}")
        else:
            where.append(FILTER_SQL.get(kind, f"{column} = ?"))
            args.append(_filter_value(kind, name, value))
    if resource == "users" and not service_accounts:
        where.append("service_account = 0")
    return where, args, fields


def _per_page(value: str) -> int:
    per_page = _int_param("per_page", value)
    if per_page > MAX_PER_PAGE:
        raise _bad("per_page", f"`{per_page}` number is greater than: {MAX_PER_PAGE}")
    if per_page < 1:
        raise _bad("per_page", f"`{per_page}` number is less than: 1")
    return per_page


# --------------------------------------------------------------------------------------------------------
# request bodies: tables of fields

CONTACT_TYPES: dict[str, tuple[str, ...] | None] = {
    "phone_numbers": ("home", "mobile", "other", "skype", "work"),
    "addresses": ("home", "other", "work"),
    "email_addresses": ("other", "personal", "work"),
    "website_addresses": ("blog", "company", "other", "personal", "portfolio"),
    "social_media_addresses": None,
}
TIME_ZONE_LOOKUP = {tz.lower(): tz for tz in TIME_ZONES}
VISIBILITY = {
    "admin_only": "admin_only_visible",
    "private": "privately_visible",
    "public": "publicly_visible",
}
# fmt: off
ATTACHMENT_TYPES = ("automated_agreement", "cover_letter", "form_attachment", "midfunnel_agreement",
                    "offer_letter", "offer_packet", "other", "resume", "signed_offer_letter",
                    "take_home_test")
# fmt: on
BLOCKED_EXTENSIONS = {".exe", ".bat", ".cmd", ".com", ".js", ".msi", ".scr", ".sh", ".vbs", ".dll"}


def _time_zone(key: str, value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or value.strip().lower() not in TIME_ZONE_LOOKUP):
        raise _bad(key, "is not included in the list")
    return None if value is None else TIME_ZONE_LOOKUP[value.strip().lower()]


def _contacts(key: str, value: Any) -> list[dict[str, str]]:
    items = value if value is not None else []
    if not isinstance(items, list):
        raise _bad(key, "must be an array")
    allowed = CONTACT_TYPES[key]
    out = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("value"), str) or not item["value"].strip():
            raise _bad(key, "each entry needs a non-empty value")
        if allowed is not None and item.get("type") not in allowed:
            raise _bad(key, f"type must be one of: {', '.join(allowed)}")
        if key == "email_addresses" and "@" not in item["value"]:
            raise _bad(key, f"`{item['value']}` is not a valid email address")
        out.append(
            {"value": item["value"]} if allowed is None else {"value": item["value"], "type": item["type"]}
        )
    return out


def _tags(key: str, value: Any) -> list[str]:
    tags = value if value is not None else []
    if not isinstance(tags, list) or not all(isinstance(t, str) and 0 < len(t) <= 255 for t in tags):
        raise _bad(key, "must be an array of tag names")
    return list(dict.fromkeys(tags))


def _strings(key: str, value: Any) -> list[str]:
    if not isinstance(value or [], list) or not all(isinstance(o, str) for o in value or []):
        raise _bad(key, "must be an array of strings")
    return list(value or [])


def _date(key: str, value: Any) -> str | None:
    dt = parse_ts(str(value)) if value is not None else None
    if value is not None and dt is None:
        raise _bad(key, "is not a valid date")
    return iso_ts(dt) if dt is not None else None


def _stamp(key: str, value: Any) -> str | None:
    if value is None:
        raise _bad(key, "can't be blank")
    return _date(key, value)


INT, STR, REQUIRED_INT = F("int"), F(), F("int", required=True)
DRAFT_OR_LIVE = F("enum", required=True, choices=("draft", "live"), message="must be draft or live")
CANDIDATE = {
    "first_name": F(required=True),
    "last_name": F(required=True),
    **dict.fromkeys(("preferred_name", "company", "title"), STR),
    "can_email": F("bool", none=False),
    "is_private": F("bool", none=False, to="private"),
    "private": F("bool", none=False),
    "time_zone": F(_time_zone),
    **dict.fromkeys(CONTACT_TYPES, F(_contacts)),
    "linked_user_ids": F("ints", ref="users", none=[]),
    "custom_fields": F("custom_fields", ref="candidate"),
    "tags": F(_tags),
}
APPLICATION = {
    "job_ids": F("ints", ref="jobs", none=[]),
    "source_id": F("int", ref="sources"),
    "referrer_id": INT,
    "recruiter_id": F("int", ref="users"),
    "coordinator_id": F("int", ref="users"),
    "created_at": F(_date),
    "custom_fields": F("custom_fields", ref="application"),
}
PROSPECT_POOL = {"prospect_pool_id": INT, "prospect_pool_stage_id": F("int", to="prospect_stage_id")}
APPLICATION_UPDATE = {
    "source_id": F("int", ref="sources"),
    **dict.fromkeys(
        ("referrer_id", "recruiter_id", "coordinator_id", "prospect_pool_id", "prospect_stage_id"), INT
    ),
    "rejected_at": F(_date),
    "created_at": F(_stamp),
    "custom_fields": F("custom_fields", ref="application"),
}
JOB = {
    "template_job_id": REQUIRED_INT,
    "number_of_openings": REQUIRED_INT,
    "job_name": STR,
    "job_post_name": STR,
    "notes": F(max_len=TEXT),
    "requisition_id": STR,
    "opening_ids": F(_strings),
    "department_id": F("int", ref="departments"),
    "office_ids": F("ints", ref="offices"),
}
JOB_UPDATE = {
    "name": F(required=True),
    "notes": F(max_len=TEXT),
    "requisition_id": STR,
    "department_id": F("int", ref="departments"),
    "office_ids": F("ints", ref="offices", none=[]),
    "custom_fields": F("custom_fields", ref="job"),
}
JOB_POST = {
    "template_job_post_id": F("int", required=True, ref="job_posts"),
    "job_board_id": F("int", required=True, ref="job_boards"),
    "title": STR,
    "content": F(max_len=HTML),
    "status": DRAFT_OR_LIVE,  # draft when not given
}
JOB_POST_UPDATE = {
    "title": F(required=True),
    "content": F(max_len=HTML),
    "job_application_status": DRAFT_OR_LIVE,
}
NOTE = {
    "candidate_id": F("int", required=True, ref="candidates"),
    "body": F(required=True, max_len=TEXT),
    "visibility": F("enum", required=True, choices=tuple(VISIBILITY)),
    "note_type": F("enum", required=True, choices=("NOTE", "ACTIVITY", "EMAIL")),
    "subject": STR,
    "application_id": INT,
    "user_id": F("int", ref="users"),
}
EMAIL_FIELDS = ("email_from", "email_to", "email_cc")
APPLIED_TAG = {
    "candidate_id": F("int", required=True, ref="candidates"),
    "candidate_tag_id": F("int", required=True, ref="candidate_tags"),
}
ATTACHMENT = {
    "application_id": F("int", required=True, ref="applications"),
    "filename": F(required=True),
    "type": F("enum", required=True, choices=ATTACHMENT_TYPES),
    "visibility": F("enum", choices=(*VISIBILITY, None)),
}


async def _json_body(request: Request) -> Body:
    raw = await request.body()
    try:
        data = json.loads(raw) if raw.strip() else None
    except (ValueError, UnicodeDecodeError):
        raise _unprocessable("Malformed JSON in request body") from None
    if not isinstance(data, dict):
        raise _unprocessable("Request body must be a JSON object")
    return data


def _blob(content: Any) -> bytes:
    if not isinstance(content, str):
        raise _bad("content", "must be base64 text")
    try:
        return base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        raise _bad("content", "is not valid base64") from None


# --------------------------------------------------------------------------------------------------------
# the application


@dataclass
class _Config(FaultGateSettings):
    """The runtime settings (``POST /_sandbox/config`` changes them): injected latency and faults (the
    kit's), a fixed-window rate limit (``rate_limit`` requests per ``rate_window`` seconds, 0 =
    unlimited), the access tokens' lifetime."""

    rate_limit: int = 50
    rate_window: float = 30.0
    token_ttl: int = 3600


_STATS_TABLES = (
    "candidates notes applied_candidate_tags candidate_tags applications jobs job_posts attachments"
)
_GATE_REPLIES = {
    "rate_limited": Reply.json(429, {"message": "Too Many Requests"}, compact=False),
    "429": Reply.json(429, {"message": "Too Many Requests"}, [(b"retry-after", b"1")], compact=False),
    "500": Reply.json(500, {"message": "Internal Server Error"}, compact=False),
    "503": Reply.json(503, {"message": "Service Unavailable"}, compact=False),
}
#: custom field value types: what a value must be (select fields and users are checked against the data)
VALUE_TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    **dict.fromkeys(
        ("short_text", "long_text", "rich_text", "url"), (lambda v: isinstance(v, str), "a string")
    ),
    "date": (_is_date, "a date YYYY-MM-DD"),
    "number": (_is_number, "a number"),
    "yes_no": (lambda v: isinstance(v, bool), "true or false"),
    "currency": (_is_money, '{"amount": number, "currency_code": "USD"}'),
    "user": (_is_int, "a user id"),
}


def create_app(
    db_path: str | Path,
    *,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    **settings: Any,
) -> FastAPI:
    """Build the sandbox ASGI app over the SQLite file ``db_path`` (schema created if missing, not seeded);
    ``settings`` are the runtime settings (:class:`_Config`)."""
    config = _Config(**settings)
    sb = _Sandbox(db_path, client_id, client_secret, config)
    app = GatedApp(title="Greenhouse Harvest v3 sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sandbox = sb
    app.gate = sb.gate

    async def api_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return JSONResponse(exc.body, status_code=exc.status)

    async def http_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code in (404, 405):  # a known path with an undocumented method: no such route in v3
            return JSONResponse({"message": "Resource not found"}, status_code=404)
        return JSONResponse({"message": str(exc.detail)}, status_code=exc.status_code)

    async def unexpected(_request: Request, _exc: Exception) -> Response:
        return JSONResponse({"message": "Internal Server Error"}, status_code=500)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
    install_admin_routes(app, sb, read_json=_json_body)
    _install_routes(app, sb)
    return app


def _path_id(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _not_found() from None


Handler = Callable[[Body, Any, str], Any]


def _install_routes(app: FastAPI, sb: _Sandbox) -> None:
    @app.post("/token")
    async def token(request: Request) -> Response:
        body = sb.issue_token(request.headers.get("authorization", ""), await read_form(request, query=True))
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    @app.get("/_sandbox/attachments/{att_id}/content")
    async def attachment_content(att_id: str) -> Response:
        rec_id = _path_id(att_id)
        found = sb.store.require("attachments", rec_id)
        row = sb.store.one("SELECT content FROM attachment_blobs WHERE id = ?", (rec_id,))
        if row is None:
            raise _not_found()
        mime = mimetypes.guess_type(found["filename"])[0] or "application/octet-stream"
        return Response(bytes(row[0]), media_type=mime)

    @app.get("/boards/{token}/jobs")
    async def board_jobs(token: str) -> Response:
        # the candidate-facing view (Job Board API style, no token): what a person browsing sees
        return JSONResponse(sb.board_view(token))

    def list_route(resource: str) -> Callable[[Request], Any]:
        async def handler(request: Request) -> Response:
            sb.check_token(request.headers.get("authorization", ""))
            return sb.list_records(resource, request)

        return handler

    for resource in LISTS:
        app.add_api_route(f"/v3/{resource}", list_route(resource), methods=["GET"])

    def write_route(method: Handler, verb: str, status: int) -> Callable[[Request], Any]:
        async def handler(request: Request) -> Response:
            sub = sb.check_token(request.headers.get("authorization", ""))
            rec_id = request.path_params.get("rec_id")
            body = await _json_body(request) if verb != "DELETE" else {}
            ident = _path_id(rec_id) if rec_id is not None else sub
            return JSONResponse(method(body, ident, str(request.base_url).rstrip("/")), status_code=status)

        return handler

    # A handler gets the body, the path id (or the token's user on a create) and the base URL; a POST
    # without a path id creates (201), the others answer 200.
    routes: list[tuple[str, str, Handler]] = [
        ("POST", "/v3/candidates", sb.create_candidate),
        ("PATCH", "/v3/candidates/{rec_id}", sb.update_candidate),
        ("POST", "/v3/applications", sb.create_application),
        ("PATCH", "/v3/applications/{rec_id}", sb.update_application),
        ("POST", "/v3/applications/{rec_id}/convert_to_candidate", sb.convert_to_candidate),
        ("POST", "/v3/jobs", sb.create_job),
        ("PATCH", "/v3/jobs/{rec_id}", sb.update_job),
        ("POST", "/v3/job_posts", sb.create_job_post),
        ("PATCH", "/v3/job_posts/{rec_id}", sb.update_job_post),
        ("POST", "/v3/notes", sb.create_note),
        ("POST", "/v3/candidate_tags", sb.create_candidate_tag),
        ("POST", "/v3/applied_candidate_tags", sb.create_applied_tag),
        ("DELETE", "/v3/applied_candidate_tags/{rec_id}", sb.delete_applied_tag),
        ("POST", "/v3/attachments", sb.create_attachment),
    ]
    for verb, path, method in routes:
        status = 201 if verb == "POST" and "{" not in path else 200
        app.add_api_route(path, write_route(method, verb, status), methods=[verb])


class _Sandbox:
    """The state behind one app (store, config, tokens, custom fields, the /v3 gate with its limiter,
    faults and counters) and the /v3 handlers: ``(body, path id or the token's user, base URL)``."""

    def __init__(self, db_path: str | Path, client_id: str, client_secret: str, config: _Config) -> None:
        self.store = RecordStore(db_path, TABLES, ensure_schema, first_ids=ID_BASES, missing=_not_found)
        self._client_id, self._client_secret = client_id, client_secret
        self.config = config
        self.limiter = FixedWindow(config.rate_limit, config.rate_window, headers=GREENHOUSE_HEADERS)
        self.gate = Gate(config, _GATE_REPLIES.__getitem__, limiter=self.limiter, prefix="/v3")
        self.counters = self.gate.counters
        self.tokens: dict[str, tuple[float, int | None]] = {}
        custom_fields = {
            "custom_fields": lambda _key, items, f: self.custom_fields_from_write(items or [], f.ref)
        }
        self.fields = Checker(_bad, self.store.exists, kinds=custom_fields).check
        self._cf_by_key: dict[str, Body] = {}
        self._cf_by_id: dict[int, Body] = {}
        self._options: dict[int, list[Body]] = {}
        self.reload_custom_fields()

    def close(self) -> None:
        self.store.close()

    # ---- admin: config, stats, tokens
    def reconfigure(self, changes: Body) -> Body:
        types = {f.name: {"int": int, "float": float}[str(f.type)] for f in fields(_Config)}
        for key, value in changes.items():
            if key not in types:
                raise _bad(key, "is not a sandbox setting")
            if not _is_number(value):
                raise _bad(key, "must be a number")
            if value < 0 or (key == "fault_rate" and value > 1):
                raise _bad(key, "is out of range")
            setattr(self.config, key, types[key](value))
        if "rate_limit" in changes or "rate_window" in changes:
            self.limiter.configure(self.config.rate_limit, self.config.rate_window)
        if "fault_seed" in changes:
            self.gate.faults.reseed()
        return self.config_dict()

    def config_dict(self) -> Body:
        return asdict(self.config)

    def stats(self) -> dict[str, int]:
        return {**{t: self.store.count(t) for t in _STATS_TABLES.split()}, **self.counters}

    def issue_token(self, authorization: str, form: dict[str, str]) -> Body:
        client_id, secret = basic_credentials(authorization) or ("", "")
        ok_id = secrets.compare_digest(client_id.encode(), self._client_id.encode())
        ok_secret = secrets.compare_digest(secret.encode(), self._client_secret.encode())
        if not (client_id and ok_id and ok_secret):
            raise ApiError(401, {"error": "invalid_client"})
        if form.get("grant_type", "") != "client_credentials":
            raise _token_error(f"Must include `grant_type` parameter with one of: {GRANTS}")
        sub: int | None = None
        if form.get("sub"):
            try:
                sub = int(form["sub"])
            except ValueError:
                raise _token_error("sub must be a numeric user id") from None
            if (self.store.get("users", sub) or {"deactivated": True}).get("deactivated"):
                raise _token_error("sub is not an active user")
        now = time.time()
        self.tokens = {t: v for t, v in self.tokens.items() if v[0] > now}
        token = "gh3." + secrets.token_urlsafe(32)
        self.tokens[token] = (now + self.config.token_ttl, sub)
        expires = iso_ts(datetime.fromtimestamp(now + self.config.token_ttl, UTC))
        return {"access_token": token, "token_type": "Bearer", "expires_at": expires}

    def check_token(self, authorization: str) -> int | None:
        scheme, _, token = authorization.partition(" ")
        entry = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if entry is None or entry[0] <= time.time():
            raise ApiError(401, {"message": "Unauthorized", "errors": [UNAUTHORIZED_DETAIL]})
        return entry[1]

    def expire_tokens(self) -> int:
        count = len(self.tokens)
        self.tokens.clear()
        return count

    # ---- custom fields
    def reload_custom_fields(self) -> None:
        found = self.store.records("SELECT data FROM custom_fields")
        self._cf_by_key = {f["name_key"]: f for f in found}
        self._cf_by_id = {f["id"]: f for f in found}
        self._options = {}
        for opt in self.store.records("SELECT data FROM custom_field_options"):
            self._options.setdefault(opt["custom_field_id"], []).append(opt)

    def custom_fields_from_write(self, items: Any, field_type: str, start: Body | None = None) -> Body:
        """WRITE shape (list of {name_key|custom_field_id, value}) → READ shape, starting from ``start``."""
        if not isinstance(items, list):
            raise _bad("custom_fields", "must be an array")
        result = dict(start or {})
        for item in items:
            if not isinstance(item, dict) or "value" not in item:
                raise _bad("custom_fields", "each entry needs a value")
            if ("name_key" in item) == ("custom_field_id" in item):
                raise _bad("custom_fields", "give exactly one of name_key or custom_field_id")
            field = self._custom_field(item)
            if field is None:  # the file may have been seeded after this app started
                self.reload_custom_fields()
                field = self._custom_field(item)
            if field is None or field["field_type"] != field_type or not field["active"]:
                ident = item.get("name_key", item.get("custom_field_id"))
                raise _bad("custom_fields", f"unknown {field_type} custom field: {ident}")
            value = self._custom_field_value(field, item["value"])
            if value is None:
                result.pop(field["name_key"], None)
            else:
                result[field["name_key"]] = dict(name=field["name"], type=field["value_type"], value=value)
        return result

    def _custom_field(self, item: Body) -> Body | None:
        if "name_key" in item:
            key = item["name_key"]
            return self._cf_by_key.get(key) if isinstance(key, str) else None
        fid = item["custom_field_id"]
        return self._cf_by_id.get(fid) if _is_int(fid) else None

    def _custom_field_value(self, field: Body, value: Any) -> Any:
        """``value`` checked against the field's value type (a select's option ids become names)."""
        vtype = field["value_type"]
        accepts, what = VALUE_TYPES.get(vtype, (lambda v: True, ""))
        if vtype == "user":
            accepts = lambda v: self.store.exists("users", v)  # noqa: E731
        if value is None or vtype not in ("single_select", "multi_select"):
            if value is not None and not accepts(value):
                raise _bad("custom_fields", f"{field['name_key']}: value must be {what}")
            return value
        options = self._options.get(field["id"], [])
        names = {o["name"]: o["name"] for o in options} | {o["id"]: o["name"] for o in options}
        many = vtype == "multi_select"
        if many and not isinstance(value, list):
            raise _bad("custom_fields", f"{field['name_key']}: value must be an array")
        picked = [
            names.get(v) if _is_int(v) or isinstance(v, str) else None for v in (value if many else [value])
        ]
        if None in picked:
            one_of = ", ".join(o["name"] for o in options)
            raise _bad("custom_fields", f"{field['name_key']}: value must be one of {one_of}")
        return picked if many else picked[0]

    def _update(self, table: str, rec_id: int, body: Body, spec: dict[str, F], then: Any = None) -> Body:
        """A PATCH: the fields given replace the record's (arrays whole); ``then(record, values, now)``
        runs first."""
        with self.store.transaction():
            rec = self.store.require(table, rec_id)
            values = self.fields(body, spec, partial=True)
            now = now_ts()
            if then is not None:
                then(rec, values, now)
            rec.update(values, updated_at=now)
            return self.store.update(table, rec)

    # ---- lists
    def list_records(self, resource: str, request: Request) -> Response:
        params = list(request.query_params.multi_items())
        specs = _filters(resource)
        if any(k == "cursor" for k, _ in params):
            if len(params) != 1:
                raise _unprocessable(CURSOR_WITH_PARAMS)
            state = _decode_cursor(params[0][1])
            if state["r"] != resource or not all(k in specs for k in state["q"]):
                raise _bad("cursor", "is invalid")
            filters: dict[str, str] = state["q"]
            per_page, after = state["n"], state["a"]
        else:
            filters, per_page, after = {}, DEFAULT_PER_PAGE, None
            for key, value in params:
                if key == "per_page":
                    per_page = _per_page(value)
                elif key in specs:
                    filters[key] = value
        where, args, fields = _where(resource, filters)
        if after is not None:
            where.append("id < ?")
            args.append(after)
        sql = f"SELECT id, data FROM {resource}" + (" WHERE " + " AND ".join(where) if where else "")
        rows = self.store.query(sql + " ORDER BY id DESC LIMIT ?", (*args, per_page + 1))
        base = str(request.base_url).rstrip("/")
        records = [self.render(resource, json.loads(data), base) for _id, data in rows[:per_page]]
        if fields is not None:
            records = [{k: r[k] for k in fields if k in r} for r in records]
        headers = {}
        if len(rows) > per_page:
            cursor = _encode_cursor({"r": resource, "q": filters, "n": per_page, "a": rows[per_page - 1][0]})
            headers["Link"] = f'<{base}/v3/{resource}?cursor={cursor}>; rel="next"'
        return JSONResponse(records, headers=headers)

    @staticmethod
    def render(resource: str, rec: Body, base: str) -> Body:
        if resource != "attachments":
            return rec
        out = {k: v for k, v in rec.items() if not k.startswith("_")}
        if rec.get("_stored"):
            out["url"] = f"{base}/_sandbox/attachments/{rec['id']}/content"
        return out

    # ---- candidates
    def _set_emails(self, cand_id: int, emails: list[dict[str, str]]) -> None:
        self.store.conn.execute("DELETE FROM candidate_emails WHERE candidate_id = ?", (cand_id,))
        rows = [(e["value"].strip().lower(), cand_id, pos) for pos, e in enumerate(emails)]
        self.store.conn.executemany(EMAIL_INSERT, rows)

    def _tag_id(self, name: str, now: str, create: bool) -> int | None:
        row = self.store.one("SELECT id FROM candidate_tags WHERE name = ?", (name,))
        if row or not create:
            return int(row[0]) if row else None
        return int(self.store.insert("candidate_tags", make("candidate_tags", None, now, name=name))["id"])

    def _set_tags(self, cand: Body, names: list[str], now: str) -> None:
        wanted = {self._tag_id(n, now, create=True): n for n in names}
        sql = "SELECT candidate_tag_id, id FROM applied_candidate_tags WHERE candidate_id = ?"
        current = dict(self.store.query(sql, (cand["id"],)))
        for tag_id, row_id in current.items():
            if tag_id not in wanted:
                self.store.conn.execute("DELETE FROM applied_candidate_tags WHERE id = ?", (row_id,))
        for tag_id in wanted:
            if tag_id not in current:
                applied = dict(candidate_id=cand["id"], candidate_tag_id=tag_id)
                self.store.insert(
                    "applied_candidate_tags", make("applied_candidate_tags", None, now, **applied)
                )
        cand["tags"] = names

    def create_candidate(self, body: Body, _sub: Any, _base: str) -> Body:
        with self.store.transaction():
            values = self.fields(body, CANDIDATE)
            app_body = body.get("application")
            if app_body is not None and not isinstance(app_body, dict):
                raise _bad("application", "must be an object")
            now = now_ts()
            cand = self.store.insert("candidates", make("candidates", None, now, now, **values))
            self._set_emails(cand["id"], cand["email_addresses"])
            if "tags" in values:
                self._set_tags(cand, values["tags"], now)
                self.store.update("candidates", cand)
            application = self._new_application(cand["id"], app_body, now) if app_body is not None else None
        return {"candidate": cand, "application": application}

    def update_candidate(self, body: Body, rec_id: int, _base: str) -> Body:
        def then(cand: Body, values: Body, now: str) -> None:
            if "email_addresses" in values:
                self._set_emails(rec_id, values["email_addresses"])
            if "tags" in values:
                self._set_tags(cand, values["tags"], now)

        return self._update("candidates", rec_id, body, CANDIDATE, then)

    # ---- applications
    def _job_for(self, cand_id: int, job_id: int) -> Body:
        """The job a candidate's application goes on: an existing non-template job they are not on yet."""
        job = self.store.get("jobs", job_id)
        if job is None or job["is_template"]:
            raise _bad("job_id", f"unknown job {job_id}")
        sql = "SELECT 1 FROM applications WHERE candidate_id = ? AND job_id = ?"
        if self.store.one(sql, (cand_id, job_id)):
            raise _bad("job_id", "The candidate already has an application on this job")
        return job

    def _new_application(self, cand_id: int, body: Body, now: str) -> Body:
        prospect = body.get("prospect") is True
        job_id = self.fields(body, {"job_id": INT}).get("job_id")
        if not prospect and job_id is None:
            raise _bad("job_id", "is required unless prospect is true")
        job = self._job_for(cand_id, job_id) if job_id is not None else None
        values = self.fields(body, APPLICATION)
        pool = {"prospect_pool_id": None, "prospect_stage_id": None}
        pool.update(self.fields(body, PROSPECT_POOL) if prospect else {})
        post_sql = "SELECT id FROM job_posts WHERE job_id = ? AND internal = 0 ORDER BY id LIMIT 1"
        post = self.store.one(post_sql, (job_id,)) if job is not None else None
        stage = job_id * 10 + 1 if job_id is not None else None
        values.update(prospective_job_ids=values.pop("job_ids", []) if prospect else [])
        app = make(
            "applications",
            None,
            values.pop("created_at", None) or now,
            now,
            candidate_id=cand_id,
            **pool,
            job_id=job_id,
            job_post_id=post[0] if post else None,
            prospect=prospect,
            stage_id=stage,
            job_interview_stage_id=stage,
            stage_name=STAGES[0] if job else None,
            **values,
        )
        return self.store.insert("applications", app)

    def create_application(self, body: Body, _sub: Any, _base: str) -> Body:
        cand_id = self.fields(body, {"candidate_id": REQUIRED_INT})["candidate_id"]
        with self.store.transaction():
            if not self.store.exists("candidates", cand_id):
                raise _bad("candidate_id", f"unknown candidate {cand_id}")
            return self._new_application(cand_id, body, now_ts())

    def convert_to_candidate(self, body: Body, rec_id: int, _base: str) -> Body:
        """A prospect application becomes a candidate application on ``job_id`` (200 with it)."""
        job_id = self.fields(body, {"job_id": REQUIRED_INT})["job_id"]
        with self.store.transaction():
            app = self.store.require("applications", rec_id)
            if not app.get("prospect"):
                raise _bad("application", "is not a prospect application")
            self._job_for(app["candidate_id"], job_id)
            stage = job_id * 10 + 1
            app.update(prospect=False, job_id=job_id, prospective_job_ids=[], stage_id=stage)
            app.update(job_interview_stage_id=stage, stage_name=STAGES[0], updated_at=now_ts())
            return self.store.update("applications", app)

    def update_application(self, body: Body, rec_id: int, _base: str) -> Body:
        return self._update("applications", rec_id, body, APPLICATION_UPDATE)

    # ---- jobs and posts
    def board_view(self, token: str) -> Body:
        """What a person browsing the board sees (the public Job Board API's job list, reduced): the
        active, live posts on a live board, with their job's id.  A paused board shows nothing."""
        boards = [b for b in self.store.records("SELECT data FROM job_boards") if b.get("url_token") == token]
        if not boards:
            raise _not_found()
        sql = "SELECT data FROM job_posts WHERE job_board_id = ? AND live = 1 AND active = 1 ORDER BY id"
        posts = self.store.records(sql, (boards[-1]["id"],)) if boards[-1].get("live") else []
        keys = {"id": "id", "internal_job_id": "job_id", "title": "title", "content": "content"}
        jobs = [{k: p.get(v) for k, v in keys.items()} | {"updated_at": p["updated_at"]} for p in posts]
        return {"jobs": jobs, "meta": {"total": len(jobs)}}

    def create_job(self, body: Body, _sub: Any, _base: str) -> Body:
        with self.store.transaction():
            values = self.fields(body, JOB)
            openings, opening_ids = values["number_of_openings"], values.get("opening_ids", [])
            if not 1 <= openings <= 200:
                raise _bad("number_of_openings", "must be between 1 and 200")
            if len(opening_ids) > openings:
                raise _bad("opening_ids", "has more entries than number_of_openings")
            template_id = values["template_job_id"]
            template = self.store.get("jobs", template_id)
            if template is None or not template["is_template"]:
                raise _bad("template_job_id", f"{template_id} is not a template job")
            items = body.get("custom_fields") or []
            custom_fields = self.custom_fields_from_write(items, "job", template["custom_fields"])
            kept = {k: template[k] for k in ("notes", "department_id", "office_ids") if values.get(k) is None}
            name, now = values.get("job_name") or template["name"], now_ts()
            job = make(
                "jobs", None, now, name=name, requisition_id=values.get("requisition_id"), opened_at=now
            )
            job.update({k: values.get(k) for k in ("notes", "department_id", "office_ids")} | kept)
            job = self.store.insert(
                "jobs", job | {"copied_from_id": template_id, "custom_fields": custom_fields}
            )
            for n in range(1, openings + 1):
                opening_id = opening_ids[n - 1] if n <= len(opening_ids) else None
                opening = dict(job_id=job["id"], opening_id=opening_id, opened_at=now, sort_order=n)
                self.store.insert("openings", make("openings", None, now, **opening))
            sql = "SELECT data FROM job_posts WHERE job_id = ? AND active = 1 ORDER BY id"
            title = values.get("job_post_name") or name
            for post in self.store.records(sql, (template_id,)):
                post.update(id=None, job_id=job["id"], title=title, live=False, first_published_at=None)
                post.update(public_url=None, created_at=now, updated_at=now)
                self.store.insert("job_posts", post)
        return job

    def update_job(self, body: Body, rec_id: int, _base: str) -> Body:
        return self._update("jobs", rec_id, body, JOB_UPDATE)

    def create_job_post(self, body: Body, _sub: Any, _base: str) -> Body:
        with self.store.transaction():
            values = self.fields({"status": "draft", **body}, JOB_POST)
            post = self.store.require("job_posts", values["template_job_post_id"])
            board = self.store.require("job_boards", values["job_board_id"])
            now = now_ts()
            live = values["status"] == "live" and bool(board["live"])
            post.update(id=None, job_board_id=board["id"], internal=bool(board["internal"]))
            post.update({k: values[k] for k in ("title", "content") if values.get(k) is not None})
            post.update(live=live, active=True, first_published_at=now if live else None)
            return self.store.insert("job_posts", post | {"created_at": now, "updated_at": now})

    def update_job_post(self, body: Body, rec_id: int, _base: str) -> Body:
        def then(post: Body, values: Body, now: str) -> None:
            if "job_application_status" in values:
                board = self.store.get("job_boards", post["job_board_id"]) or {"live": True}
                post["live"] = values.pop("job_application_status") == "live" and bool(board["live"])
                if post["live"] and not post.get("first_published_at"):
                    post["first_published_at"] = now

        return self._update("job_posts", rec_id, body, JOB_POST_UPDATE, then)

    # ---- notes
    def create_note(self, body: Body, sub: int | None, _base: str) -> Body:
        with self.store.transaction():
            values = self.fields(body, NOTE)
            note_type, cand_id = values["note_type"], values["candidate_id"]
            app_id = values.get("application_id")
            email: Body = {}
            if note_type == "EMAIL":
                if values.get("subject") is None:
                    raise _bad("subject", "is required for EMAIL notes")
                for key in EMAIL_FIELDS:
                    if not isinstance(body.get(key), list):
                        raise _bad(key, "is required for EMAIL notes (an array)")
                    email[key] = body[key]
            elif given := [k for k in EMAIL_FIELDS if k in body]:
                raise _bad(given[0], f"is not allowed on {note_type} notes")
            owner = (
                cand_id
                if app_id is None
                else (self.store.get("applications", app_id) or {}).get("candidate_id")
            )
            if owner != cand_id:
                raise _bad("application_id", "does not belong to this candidate")
            user_id = values.get("user_id")
            if user_id is None:
                user_id = sub if sub is not None else self._service_user()
            now = now_ts()
            visibility = VISIBILITY[values["visibility"]]
            note = note_shape(
                self.store.next_id("notes"), now, values["body"], note_type, candidate_id=cand_id
            )
            note.update(
                application_id=app_id, user_id=user_id, subject=values.get("subject"), visibility=visibility
            )
            self.store.insert("notes", note | email)
            cand = self.store.require("candidates", cand_id)
            cand["last_activity_at"] = now  # notes bump activity, not updated_at
            sql = "UPDATE candidates SET data = ?, last_activity_at = ? WHERE id = ?"
            self.store.conn.execute(sql, (dumps(cand), now, cand_id))
        return note | email

    def _service_user(self) -> int | None:
        row = self.store.one("SELECT id FROM users WHERE service_account = 1 ORDER BY id LIMIT 1")
        return int(row[0]) if row else None

    # ---- tags
    def create_candidate_tag(self, body: Body, _sub: Any, _base: str) -> Body:
        with self.store.transaction():
            name = self.fields(body, {"name": F(required=True)})["name"]
            if self._tag_id(name, "", create=False) is not None:
                raise _bad("name", "has already been taken")
            return self.store.insert("candidate_tags", make("candidate_tags", None, now_ts(), name=name))

    def create_applied_tag(self, body: Body, _sub: Any, _base: str) -> Body:
        with self.store.transaction():
            values = self.fields(body, APPLIED_TAG)
            cand_id, tag_id = values["candidate_id"], values["candidate_tag_id"]
            sql = "SELECT 1 FROM applied_candidate_tags WHERE candidate_id = ? AND candidate_tag_id = ?"
            if self.store.one(sql, (cand_id, tag_id)):
                raise _bad("candidate_tag_id", "has already been taken")
            now = now_ts()
            row = self.store.insert(
                "applied_candidate_tags", make("applied_candidate_tags", None, now, **values)
            )
            cand = self.store.require("candidates", cand_id)
            tag = self.store.require("candidate_tags", tag_id)
            self.store.update("candidates", cand | {"tags": [*cand["tags"], tag["name"]], "updated_at": now})
        return row

    def delete_applied_tag(self, _body: Body, rec_id: int, _base: str) -> Body:
        with self.store.transaction():
            row = self.store.require("applied_candidate_tags", rec_id)
            self.store.conn.execute("DELETE FROM applied_candidate_tags WHERE id = ?", (rec_id,))
            tag = self.store.get("candidate_tags", row["candidate_tag_id"])
            cand = self.store.get("candidates", row["candidate_id"])
            if cand is not None and tag is not None:
                cand.update(tags=[t for t in cand["tags"] if t != tag["name"]], updated_at=now_ts())
                self.store.update("candidates", cand)
        return {"message": f"Applied candidate tag {rec_id} deleted successfully"}

    # ---- attachments
    def create_attachment(self, body: Body, _sub: Any, base: str) -> Body:
        with self.store.transaction():
            values = self.fields(body, ATTACHMENT)
            app_id, kind = values["application_id"], values["type"]
            if Path(values["filename"]).suffix.lower() in BLOCKED_EXTENSIONS:
                raise _bad("filename", "has a blocked file extension")
            content, url = body.get("content"), body.get("url")
            if (content is None) == (url is None):
                raise _bad("content", "give exactly one of content or url")
            blob = _blob(content) if content is not None else None
            if blob is None and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
                raise _bad("url", "must be a public http(s) URL")
            now = now_ts()
            if kind in ("resume", "cover_letter"):  # a new one demotes the one before
                sql = "SELECT data FROM attachments WHERE application_id = ? AND type = ?"
                for old in self.store.records(sql, (app_id, kind)):
                    self.store.update("attachments", old | {"type": "other", "updated_at": now})
            cand_id = self.store.require("applications", app_id)["candidate_id"]
            att = {"id": None, "application_id": app_id, "candidate_id": cand_id, "type": kind}
            att.update(filename=values["filename"], url=url if blob is None else None)
            att.update(visibility=VISIBILITY[values.get("visibility") or "admin_only"], created_at=now)
            att = self.store.insert("attachments", att | {"updated_at": now, "_stored": blob is not None})
            if blob is not None:
                self.store.conn.execute(
                    "INSERT INTO attachment_blobs(id, content) VALUES (?, ?)", (att["id"], blob)
                )
        return self.render("attachments", att, base)
