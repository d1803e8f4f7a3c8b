"""The Greenhouse Harvest v3 API of the sandbox: what each request means (see the package docstring).

Latency, the rate limit and faults are the kit's gate in front of ``/v3``; this module answers the
requests that pass it: tokens, lists with cursors and filters, writes with their 422s, admin endpoints.
"""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from syncbridge.connectors.greenhouse.sandbox.demo import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from syncbridge.connectors.greenhouse.sandbox.seed import (
    ID_BASES,
    STAGES,
    TABLES,
    TIME_ZONES,
    application_shape,
    applied_tag_shape,
    candidate_shape,
    ensure_schema,
    iso_ts,
    job_shape,
    note_shape,
    now_ts,
    opening_shape,
    parse_ts,
    tag_shape,
)
from syncbridge.sandbox.faults import Gate, GatedApp, Reply
from syncbridge.sandbox.limits import GREENHOUSE_HEADERS, FixedWindow
from syncbridge.sandbox.store import Store, dumps
from syncbridge.sandbox.web import basic_credentials, install_admin_routes, read_form

UNAUTHORIZED_DETAIL = "Token could not be decoded. Please ensure your token is from a trusted source."
CURSOR_WITH_PARAMS = "When passing a cursor, do not include other query params."
MAX_PER_PAGE = 500
DEFAULT_PER_PAGE = 100
MAX_ID_LIST = 50

# --------------------------------------------------------------------------------------------------------
# errors


class ApiError(Exception):
    """An error answered with a JSON body ``{"message": ..., "errors": [...]}``."""

    def __init__(
        self,
        status: int,
        message: str,
        errors: list[Any] | None = None,
        *,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = body if body is not None else {"message": message}
        if body is None and errors is not None:
            self.body["errors"] = errors
        self.headers = headers or {}


def _unprocessable(*errors: Any) -> ApiError:
    return ApiError(422, "Unprocessable Content", list(errors))


def _not_found() -> ApiError:
    return ApiError(404, "Resource not found")


def _error_id() -> str:
    return "err-" + secrets.token_hex(8)


# --------------------------------------------------------------------------------------------------------
# storage


class _Store(Store):
    """The sandbox's SQLite file (one connection under one lock) with record access by table and id."""

    def __init__(self, db_path: str | Path) -> None:
        super().__init__(db_path, ensure_schema)

    def get(self, table: str, rec_id: int) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.get_json(table, rec_id)
        return found

    def require(self, table: str, rec_id: int) -> dict[str, Any]:
        record = self.get(table, rec_id)
        if record is None:
            raise _not_found()
        return record

    def exists(self, table: str, rec_id: Any) -> bool:
        if not isinstance(rec_id, int) or isinstance(rec_id, bool):
            return False
        return self.one(f"SELECT 1 FROM {table} WHERE id = ?", (rec_id,)) is not None

    def next_id(self, table: str) -> int:
        found = self.one(f"SELECT MAX(id) FROM {table}")
        return int((found and found[0]) or ID_BASES[table]) + 1

    def insert(self, table: str, record: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            if record.get("id") is None:
                record["id"] = self.next_id(table)
            self.conn.execute(TABLES[table].insert_sql(), TABLES[table].row(record))
        return record

    def update(self, table: str, record: dict[str, Any]) -> dict[str, Any]:
        spec = TABLES[table]
        cols = ("updated_at", "data", *spec.names[4:])
        with self.lock:
            self.conn.execute(spec.update_sql(cols), (*spec.values(cols, record), record["id"]))
        return record


# --------------------------------------------------------------------------------------------------------
# runtime state: config, tokens, custom fields, stats (the gate counts requests, refusals and faults)


@dataclass
class _Config:
    rate_limit: int
    rate_window: float
    latency_ms: float
    fault_rate: float
    fault_seed: int
    token_ttl: int


_SETTING_TYPES: dict[str, type] = {
    "rate_limit": int,
    "rate_window": float,
    "latency_ms": float,
    "fault_rate": float,
    "fault_seed": int,
    "token_ttl": int,
}
_STATS_TABLES = (
    "candidates",
    "notes",
    "applied_candidate_tags",
    "candidate_tags",
    "applications",
    "jobs",
    "job_posts",
    "attachments",
)
_GATE_REPLIES = {
    "rate_limited": Reply.json(429, {"message": "Too Many Requests"}, compact=False),
    "429": Reply.json(429, {"message": "Too Many Requests"}, [(b"retry-after", b"1")], compact=False),
    "500": Reply.json(500, {"message": "Internal Server Error"}, compact=False),
    "503": Reply.json(503, {"message": "Service Unavailable"}, compact=False),
}


class _Sandbox:
    """The state behind one app: store, config, tokens, the /v3 gate (limiter, faults, counters)."""

    def __init__(self, db_path: str | Path, client_id: str, client_secret: str, config: _Config) -> None:
        self.store = _Store(db_path)
        self._client_id = client_id
        self._client_secret = client_secret
        self.config = config
        self.limiter = FixedWindow(config.rate_limit, config.rate_window, headers=GREENHOUSE_HEADERS)
        self.gate = Gate(config, _GATE_REPLIES.__getitem__, limiter=self.limiter, prefix="/v3")
        self.counters = self.gate.counters
        self.tokens: dict[str, tuple[float, int | None]] = {}
        self._custom_fields: dict[str, dict[str, Any]] = {}
        self._custom_field_ids: dict[int, dict[str, Any]] = {}
        self._options: dict[int, list[dict[str, Any]]] = {}
        self.reload_custom_fields()

    def close(self) -> None:
        self.store.close()

    # ---- config
    def reconfigure(self, changes: dict[str, Any]) -> dict[str, Any]:
        for key, value in changes.items():
            if key not in _SETTING_TYPES:
                raise _unprocessable({key: "is not a sandbox setting"})
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise _unprocessable({key: "must be a number"})
            if value < 0 or (key == "fault_rate" and value > 1):
                raise _unprocessable({key: "is out of range"})
            setattr(self.config, key, _SETTING_TYPES[key](value))
        if "rate_limit" in changes or "rate_window" in changes:
            self.limiter.configure(self.config.rate_limit, self.config.rate_window)
        if "fault_seed" in changes:
            self.gate.faults.reseed()
        return self.config_dict()

    def config_dict(self) -> dict[str, Any]:
        return asdict(self.config)

    def stats(self) -> dict[str, int]:
        out = {t: self.store.count(t) for t in _STATS_TABLES}
        out.update(self.counters)
        return out

    # ---- tokens
    def issue_token(self, authorization: str, form: dict[str, str]) -> dict[str, Any]:
        client_id, secret = basic_credentials(authorization) or ("", "")
        ok_id = secrets.compare_digest(client_id.encode(), self._client_id.encode())
        ok_secret = secrets.compare_digest(secret.encode(), self._client_secret.encode())
        if not (client_id and ok_id and ok_secret):
            raise ApiError(401, "invalid_client", body={"error": "invalid_client"})
        grant = form.get("grant_type", "")
        if grant != "client_credentials":
            raise ApiError(
                400,
                "bad grant",
                body={
                    "message": "Must include `grant_type` parameter with one of: authorization_code, "
                    "refresh_token, client_credentials, urn:ietf:params:oauth:grant-type:token-exchange",
                    "errorId": _error_id(),
                },
            )
        sub: int | None = None
        if form.get("sub"):
            try:
                sub = int(form["sub"])
            except ValueError:
                raise ApiError(
                    400, "bad sub", body={"message": "sub must be a numeric user id", "errorId": _error_id()}
                ) from None
            user = self.store.get("users", sub)
            if user is None or user.get("deactivated"):
                raise ApiError(
                    400, "bad sub", body={"message": "sub is not an active user", "errorId": _error_id()}
                )
        now = time.time()
        self.tokens = {t: v for t, v in self.tokens.items() if v[0] > now}
        token = "gh3." + secrets.token_urlsafe(32)
        expires = now + self.config.token_ttl
        self.tokens[token] = (expires, sub)
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_at": iso_ts(datetime.fromtimestamp(expires, UTC)),
        }

    def check_token(self, authorization: str) -> int | None:
        scheme, _, token = authorization.partition(" ")
        entry = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if entry is None or entry[0] <= time.time():
            raise ApiError(401, "Unauthorized", [UNAUTHORIZED_DETAIL])
        return entry[1]

    def expire_tokens(self) -> int:
        count = len(self.tokens)
        self.tokens.clear()
        return count

    # ---- custom fields
    def reload_custom_fields(self) -> None:
        with self.store.lock:
            fields = [json.loads(r[0]) for r in self.store.conn.execute("SELECT data FROM custom_fields")]
            options = [
                json.loads(r[0]) for r in self.store.conn.execute("SELECT data FROM custom_field_options")
            ]
        self._custom_fields = {f["name_key"]: f for f in fields}
        self._custom_field_ids = {f["id"]: f for f in fields}
        self._options = {}
        for opt in options:
            self._options.setdefault(opt["custom_field_id"], []).append(opt)

    def custom_fields_from_write(
        self, items: Any, field_type: str, start: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """WRITE shape (list of {name_key|custom_field_id, value}) → READ shape, starting from ``start``."""
        if not isinstance(items, list):
            raise _unprocessable({"custom_fields": "must be an array"})
        result = dict(start or {})
        for item in items:
            if not isinstance(item, dict) or "value" not in item:
                raise _unprocessable({"custom_fields": "each entry needs a value"})
            has_key, has_id = "name_key" in item, "custom_field_id" in item
            if has_key == has_id:
                raise _unprocessable({"custom_fields": "give exactly one of name_key or custom_field_id"})
            field = self._custom_field(item, has_key)
            if field is None:  # the file may have been seeded after this app started
                self.reload_custom_fields()
                field = self._custom_field(item, has_key)
            ident = item.get("name_key", item.get("custom_field_id"))
            if field is None or field["field_type"] != field_type or not field["active"]:
                raise _unprocessable({"custom_fields": f"unknown {field_type} custom field: {ident}"})
            value = self._custom_field_value(field, item["value"])
            if value is None:
                result.pop(field["name_key"], None)
            else:
                result[field["name_key"]] = {
                    "name": field["name"],
                    "type": field["value_type"],
                    "value": value,
                }
        return result

    def _custom_field(self, item: dict[str, Any], by_key: bool) -> dict[str, Any] | None:
        if by_key:
            key = item["name_key"]
            return self._custom_fields.get(key) if isinstance(key, str) else None
        fid = item["custom_field_id"]
        return self._custom_field_ids.get(fid) if _is_int(fid) else None

    def _custom_field_value(self, field: dict[str, Any], value: Any) -> Any:
        if value is None:
            return None
        vtype, key = field["value_type"], field["name_key"]

        def bad(expected: str) -> ApiError:
            return _unprocessable({"custom_fields": f"{key}: value must be {expected}"})

        if vtype in ("short_text", "long_text", "rich_text", "url"):
            if not isinstance(value, str):
                raise bad("a string")
            return value
        if vtype == "date":
            try:
                datetime.strptime(value, "%Y-%m-%d")
            except (TypeError, ValueError):
                raise bad("a date YYYY-MM-DD") from None
            return value
        if vtype == "number":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise bad("a number")
            return value
        if vtype == "yes_no":
            if not isinstance(value, bool):
                raise bad("true or false")
            return value
        if vtype in ("single_select", "multi_select"):
            options = self._options.get(field["id"], [])
            by_name = {o["name"]: o["name"] for o in options}
            by_id = {o["id"]: o["name"] for o in options}

            def pick(v: Any) -> str:
                name = by_id.get(v) if isinstance(v, int) else by_name.get(v) if isinstance(v, str) else None
                if name is None:
                    raise bad("one of " + ", ".join(by_name))
                return name

            if vtype == "single_select":
                return pick(value)
            if not isinstance(value, list):
                raise bad("an array")
            return [pick(v) for v in value]
        if vtype == "currency":
            if (
                not isinstance(value, dict)
                or isinstance(value.get("amount"), bool)
                or not isinstance(value.get("amount"), int | float)
                or not isinstance(value.get("currency_code"), str)
                or len(value["currency_code"]) != 3
            ):
                raise bad('{"amount": number, "currency_code": "USD"}')
            return value
        if vtype == "user":
            if isinstance(value, bool) or not isinstance(value, int) or not self.store.exists("users", value):
                raise bad("a user id")
            return value
        return value


# --------------------------------------------------------------------------------------------------------
# list endpoints


@dataclass(frozen=True)
class _Filter:
    kind: str  # ids | date | str | lstr | int | bool | enum | email | tag
    column: str = ""
    allowed: tuple[str, ...] = ()


COMMON_FILTERS = {
    "ids": _Filter("ids", "id"),
    "created_at": _Filter("date", "created_at"),
    "updated_at": _Filter("date", "updated_at"),
    "fields": _Filter("fields"),
}

LISTS: dict[str, dict[str, _Filter]] = {
    "candidates": {
        "email": _Filter("email"),
        "tag": _Filter("tag"),
        "last_activity_at": _Filter("date", "last_activity_at"),
        "private": _Filter("bool", "private"),
    },
    "applications": {
        "candidate_ids": _Filter("ids", "candidate_id"),
        "job_ids": _Filter("ids", "job_id"),
        "status": _Filter("enum", "status", ("active", "in_process", "rejected", "hired", "converted")),
        "prospect": _Filter("bool", "prospect"),
        "stage_name": _Filter("str", "stage_name"),
        "last_activity_at": _Filter("date", "last_activity_at"),
    },
    "jobs": {
        "status": _Filter("enum", "status", ("open", "draft", "closed")),
        "requisition_id": _Filter("str", "requisition_id"),
        "department_id": _Filter("int", "department_id"),
        "confidential": _Filter("bool", "confidential"),
        "opened_at": _Filter("date", "opened_at"),
        "closed_at": _Filter("date", "closed_at"),
    },
    "job_posts": {
        "job_ids": _Filter("ids", "job_id"),
        "job_board_ids": _Filter("ids", "job_board_id"),
        "live": _Filter("bool", "live"),
        "active": _Filter("bool", "active"),
        "internal": _Filter("bool", "internal"),
    },
    "job_boards": {},
    "sources": {},
    "users": {
        "primary_email": _Filter("lstr", "primary_email_lc"),
        "deactivated": _Filter("bool", "deactivated"),
        "show_service_accounts": _Filter("service"),
    },
    "custom_fields": {
        "field_type": _Filter("str", "field_type"),
        "active": _Filter("bool", "active"),
        "name_key": _Filter("str", "name_key"),
    },
    "custom_field_options": {
        "custom_field_ids": _Filter("ids", "custom_field_id"),
        "active": _Filter("bool", "active"),
    },
    "candidate_tags": {},
    "applied_candidate_tags": {
        "candidate_ids": _Filter("ids", "candidate_id"),
        "candidate_tag_ids": _Filter("ids", "candidate_tag_id"),
    },
    "notes": {
        "candidate_ids": _Filter("ids", "candidate_id"),
        "application_ids": _Filter("ids", "application_id"),
        "user_ids": _Filter("ids", "user_id"),
        "type": _Filter("str", "note_type"),
        "visibility": _Filter("str", "visibility"),
    },
    "attachments": {
        "application_ids": _Filter("ids", "application_id"),
        "candidate_ids": _Filter("ids", "candidate_id"),
        "type": _Filter("str", "type"),
    },
    "openings": {
        "job_ids": _Filter("ids", "job_id"),
        "open": _Filter("bool", "open"),
    },
    "departments": {"external_id": _Filter("str", "external_id")},
    "offices": {"external_id": _Filter("str", "external_id")},
}


def _encode_cursor(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(dumps(state).encode()).decode().rstrip("=")


def _decode_cursor(text: str) -> dict[str, Any]:
    try:
        padded = text + "=" * (-len(text) % 4)
        state = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")).decode())
        if not (
            isinstance(state, dict)
            and isinstance(state.get("r"), str)
            and isinstance(state.get("q"), dict)
            and isinstance(state.get("n"), int)
            and isinstance(state.get("a"), int)
        ):
            raise ValueError("cursor shape")
    except (ValueError, UnicodeError, binascii.Error):
        raise _unprocessable({"cursor": "is invalid"}) from None
    return state


def _parse_bool(name: str, value: str) -> int:
    lowered = value.strip().lower()
    if lowered in ("true", "1"):
        return 1
    if lowered in ("false", "0"):
        return 0
    raise _unprocessable({name: f"`{value}` is not a valid boolean"})


def _parse_ids(name: str, value: str) -> list[int]:
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if len(parts) > MAX_ID_LIST:
        raise _unprocessable({name: f"must contain at most {MAX_ID_LIST} items"})
    out = []
    for part in parts:
        try:
            out.append(int(part))
        except ValueError:
            raise _unprocessable({name: f"`{part}` is not a valid integer"}) from None
    return out


DATE_OPS = {"gte": ">=", "gt": ">", "lte": "<=", "lt": "<"}


def _parse_date_filter(name: str, value: str) -> list[tuple[str, str]]:
    parts = value.split("|")
    if len(parts) not in (2, 4):
        raise _unprocessable(
            {name: f"`{value}` is not a valid date filter, use e.g. gte|2024-01-01T00:00:00Z"}
        )
    out = []
    for op, stamp in zip(parts[0::2], parts[1::2], strict=True):
        dt = parse_ts(stamp)
        if op not in DATE_OPS or dt is None:
            raise _unprocessable(
                {name: f"`{value}` is not a valid date filter, use e.g. gte|2024-01-01T00:00:00Z"}
            )
        out.append((DATE_OPS[op], iso_ts(dt)))
    return out


def _build_where(resource: str, filters: dict[str, str]) -> tuple[list[str], list[Any], list[str] | None]:
    specs = {**COMMON_FILTERS, **LISTS[resource]}
    where: list[str] = []
    args: list[Any] = []
    fields: list[str] | None = None
    service_accounts = False
    for name, value in filters.items():
        spec = specs[name]
        if spec.kind == "ids":
            ids = _parse_ids(name, value)
            where.append(f"{spec.column} IN ({', '.join('?' * len(ids))})" if ids else "0")
            args.extend(ids)
        elif spec.kind == "date":
            for op, stamp in _parse_date_filter(name, value):
                where.append(f"{spec.column} {op} ?")
                args.append(stamp)
        elif spec.kind == "str":
            where.append(f"{spec.column} = ?")
            args.append(value)
        elif spec.kind == "lstr":
            where.append(f"{spec.column} = ?")
            args.append(value.strip().lower())
        elif spec.kind == "int":
            try:
                args.append(int(value))
            except ValueError:
                raise _unprocessable({name: f"`{value}` is not a valid integer"}) from None
            where.append(f"{spec.column} = ?")
        elif spec.kind == "bool":
            where.append(f"{spec.column} = ?")
            args.append(_parse_bool(name, value))
        elif spec.kind == "enum":
            if value not in spec.allowed:
                raise _unprocessable({name: f"`{value}` is not one of: {', '.join(spec.allowed)}"})
            where.append(f"{spec.column} = ?")
            args.append("in_process" if value == "active" else value)
        elif spec.kind == "email":
            where.append("id IN (SELECT candidate_id FROM candidate_emails WHERE email = ?)")
            args.append(value.strip().lower())
        elif spec.kind == "tag":
            where.append(
                "id IN (SELECT a.candidate_id FROM applied_candidate_tags a JOIN candidate_tags t "
                "ON t.id = a.candidate_tag_id WHERE t.name = ?)"
            )
            args.append(value)
        elif spec.kind == "service":
            service_accounts = bool(_parse_bool(name, value))
        elif spec.kind == "fields":
            fields = [f.strip() for f in value.split(",") if f.strip()] or None
            if fields is not None and len(fields) > MAX_ID_LIST:
                raise _unprocessable({name: f"must contain at most {MAX_ID_LIST} items"})
    if resource == "users" and not service_accounts:
        where.append("service_account = 0")
    return where, args, fields


# --------------------------------------------------------------------------------------------------------
# request helpers

CONTACT_TYPES: dict[str, set[str] | None] = {
    "phone_numbers": {"home", "work", "mobile", "skype", "other"},
    "addresses": {"home", "work", "other"},
    "email_addresses": {"personal", "work", "other"},
    "website_addresses": {"personal", "company", "portfolio", "blog", "other"},
    "social_media_addresses": None,
}
TIME_ZONE_LOOKUP = {tz.lower(): tz for tz in TIME_ZONES}
VISIBILITY = {
    "admin_only": "admin_only_visible",
    "private": "privately_visible",
    "public": "publicly_visible",
}
ATTACHMENT_TYPES = {
    "resume",
    "cover_letter",
    "take_home_test",
    "offer_packet",
    "offer_letter",
    "signed_offer_letter",
    "other",
    "form_attachment",
    "midfunnel_agreement",
    "automated_agreement",
}
BLOCKED_EXTENSIONS = {".exe", ".bat", ".cmd", ".com", ".js", ".msi", ".scr", ".sh", ".vbs", ".dll"}


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        raise _unprocessable("Request body must be a JSON object")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise _unprocessable("Malformed JSON in request body") from None
    if not isinstance(data, dict):
        raise _unprocessable("Request body must be a JSON object")
    return data


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _req_int(body: dict[str, Any], key: str) -> int:
    value = body.get(key)
    if value is None:
        raise _unprocessable({key: "is required"})
    if not _is_int(value):
        raise _unprocessable({key: "must be an integer"})
    return int(value)


def _opt_int(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if not _is_int(value):
        raise _unprocessable({key: "must be an integer"})
    return int(value)


def _opt_str(body: dict[str, Any], key: str, *, max_len: int = 255, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise _unprocessable({key: "is required"})
        return None
    if not isinstance(value, str):
        raise _unprocessable({key: "must be a string"})
    if required and not value.strip():
        raise _unprocessable({key: "can't be blank"})
    if len(value) > max_len:
        raise _unprocessable({key: f"is too long (maximum is {max_len} characters)"})
    return value


def _opt_bool(body: dict[str, Any], key: str) -> bool | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise _unprocessable({key: "must be true or false"})
    return value


def _int_list(body: dict[str, Any], key: str) -> list[int] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(_is_int(v) for v in value):
        raise _unprocessable({key: "must be an array of integers"})
    return list(value)


def _contacts(key: str, value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list):
        raise _unprocessable({key: "must be an array"})
    allowed = CONTACT_TYPES[key]
    out = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("value"), str) or not item["value"].strip():
            raise _unprocessable({key: "each entry needs a non-empty value"})
        entry = {"value": item["value"]}
        if allowed is not None:
            kind = item.get("type")
            if kind not in allowed:
                raise _unprocessable({key: f"type must be one of: {', '.join(sorted(allowed))}"})
            entry["type"] = kind
        if key == "email_addresses" and "@" not in item["value"]:
            raise _unprocessable({key: f"`{item['value']}` is not a valid email address"})
        out.append(entry)
    return out


# --------------------------------------------------------------------------------------------------------
# the application


def create_app(
    db_path: str | Path,
    *,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    rate_limit: int = 50,
    rate_window: float = 30.0,
    latency_ms: float = 0.0,
    fault_rate: float = 0.0,
    fault_seed: int = 0,
    token_ttl: int = 3600,
) -> FastAPI:
    """Build the sandbox ASGI app over the SQLite file ``db_path`` (schema created if missing, not seeded)."""
    config = _Config(rate_limit, rate_window, latency_ms, fault_rate, fault_seed, token_ttl)
    sb = _Sandbox(db_path, client_id, client_secret, config)
    app = GatedApp(title="Greenhouse Harvest v3 sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sandbox = sb
    app.gate = sb.gate
    _install_error_handlers(app)
    _install_admin_routes(app, sb)
    _install_v3_routes(app, sb)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    async def api_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)

    async def http_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            return JSONResponse({"message": "Resource not found"}, status_code=404)
        if exc.status_code == 405:  # a known path with an undocumented method: no such route in v3
            return JSONResponse({"message": "Resource not found"}, status_code=404)
        return JSONResponse({"message": str(exc.detail)}, status_code=exc.status_code)

    async def validation_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [{".".join(str(p) for p in e.get("loc", ())): e.get("msg", "")} for e in exc.errors()]
        return JSONResponse({"message": "Unprocessable Content", "errors": errors}, status_code=422)

    async def unexpected(_request: Request, _exc: Exception) -> Response:
        return JSONResponse({"message": "Internal Server Error"}, status_code=500)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected)


def _install_admin_routes(app: FastAPI, sb: _Sandbox) -> None:
    install_admin_routes(app, sb, read_json=_json_body)

    @app.post("/token")
    async def token(request: Request) -> Response:
        form = await read_form(request, query=True)
        body = sb.issue_token(request.headers.get("authorization", ""), form)
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    @app.get("/_sandbox/attachments/{att_id}/content")
    async def attachment_content(att_id: str) -> Response:
        rec_id = _path_id(att_id)
        record = sb.store.require("attachments", rec_id)
        with sb.store.lock:
            row = sb.store.conn.execute(
                "SELECT content FROM attachment_blobs WHERE id = ?", (rec_id,)
            ).fetchone()
        if row is None:
            raise _not_found()
        mime = mimetypes.guess_type(record["filename"])[0] or "application/octet-stream"
        return Response(bytes(row[0]), media_type=mime)


def _path_id(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _not_found() from None


def _install_v3_routes(app: FastAPI, sb: _Sandbox) -> None:
    api = _V3(sb)

    def list_route(resource: str) -> Callable[[Request], Awaitable[Response]]:
        async def handler(request: Request) -> Response:
            sb.check_token(request.headers.get("authorization", ""))
            return api.list_records(resource, request)

        return handler

    for resource in LISTS:
        app.add_api_route(f"/v3/{resource}", list_route(resource), methods=["GET"])

    def write_route(
        method: Callable[[dict[str, Any], int | None, Request], dict[str, Any]],
        status: int,
        with_body: bool = True,
    ) -> Callable[[Request], Awaitable[Response]]:
        async def handler(request: Request) -> Response:
            sub = sb.check_token(request.headers.get("authorization", ""))
            rec_id = request.path_params.get("rec_id")
            body = await _json_body(request) if with_body else {}
            result = method(body, _path_id(rec_id) if rec_id is not None else sub, request)
            return JSONResponse(result, status_code=status)

        return handler

    routes: list[tuple[str, str, Callable[..., dict[str, Any]], int, bool]] = [
        ("POST", "/v3/candidates", api.create_candidate, 201, True),
        ("PATCH", "/v3/candidates/{rec_id}", api.update_candidate, 200, True),
        ("POST", "/v3/applications", api.create_application, 201, True),
        ("PATCH", "/v3/applications/{rec_id}", api.update_application, 200, True),
        ("POST", "/v3/applications/{rec_id}/convert_to_candidate", api.convert_to_candidate, 200, True),
        ("POST", "/v3/jobs", api.create_job, 201, True),
        ("PATCH", "/v3/jobs/{rec_id}", api.update_job, 200, True),
        ("POST", "/v3/job_posts", api.create_job_post, 201, True),
        ("PATCH", "/v3/job_posts/{rec_id}", api.update_job_post, 200, True),
        ("POST", "/v3/notes", api.create_note, 201, True),
        ("POST", "/v3/candidate_tags", api.create_candidate_tag, 201, True),
        ("POST", "/v3/applied_candidate_tags", api.create_applied_tag, 201, True),
        ("DELETE", "/v3/applied_candidate_tags/{rec_id}", api.delete_applied_tag, 200, False),
        ("POST", "/v3/attachments", api.create_attachment, 201, True),
    ]
    for verb, path, method, status, with_body in routes:
        app.add_api_route(path, write_route(method, status, with_body), methods=[verb])

    async def board_jobs(request: Request) -> Response:
        # the candidate-facing view (Job Board API style, no token): what a person browsing sees
        return JSONResponse(api.board_view(str(request.path_params["token"])))

    app.add_api_route("/boards/{token}/jobs", board_jobs, methods=["GET"])


class _V3:
    """The /v3 resource handlers. ``sub`` is the token's user (POST) or the path id (PATCH/DELETE)."""

    def __init__(self, sb: _Sandbox) -> None:
        self.sb = sb
        self.store = sb.store

    # ---- lists
    def list_records(self, resource: str, request: Request) -> Response:
        params = list(request.query_params.multi_items())
        specs = {**COMMON_FILTERS, **LISTS[resource]}
        if any(k == "cursor" for k, _ in params):
            if len(params) != 1:
                raise _unprocessable(CURSOR_WITH_PARAMS)
            state = _decode_cursor(params[0][1])
            if state["r"] != resource or not all(k in specs for k in state["q"]):
                raise _unprocessable({"cursor": "is invalid"})
            filters: dict[str, str] = state["q"]
            per_page, after = state["n"], state["a"]
        else:
            filters, per_page, after = {}, DEFAULT_PER_PAGE, None
            for key, value in params:
                if key == "per_page":
                    per_page = self._per_page(value)
                elif key in specs:
                    filters[key] = value
        where, args, fields = _build_where(resource, filters)
        if after is not None:
            where.append("id < ?")
            args.append(after)
        sql = f"SELECT id, data FROM {resource}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        with self.store.lock:
            rows = self.store.conn.execute(sql, (*args, per_page + 1)).fetchall()
        more = len(rows) > per_page
        rows = rows[:per_page]
        base = str(request.base_url).rstrip("/")
        records = [self.render(resource, json.loads(data), base) for _id, data in rows]
        if fields is not None:
            records = [{k: r[k] for k in fields if k in r} for r in records]
        headers = {}
        if more:
            cursor = _encode_cursor({"r": resource, "q": filters, "n": per_page, "a": rows[-1][0]})
            headers["Link"] = f'<{base}/v3/{resource}?cursor={cursor}>; rel="next"'
        return JSONResponse(records, headers=headers)

    @staticmethod
    def _per_page(value: str) -> int:
        try:
            per_page = int(value)
        except ValueError:
            raise _unprocessable({"per_page": f"`{value}` is not a valid integer"}) from None
        if per_page > MAX_PER_PAGE:
            raise _unprocessable({"per_page": f"`{per_page}` number is greater than: {MAX_PER_PAGE}"})
        if per_page < 1:
            raise _unprocessable({"per_page": f"`{per_page}` number is less than: 1"})
        return per_page

    @staticmethod
    def render(resource: str, record: dict[str, Any], base: str) -> dict[str, Any]:
        if resource == "attachments":
            out = {k: v for k, v in record.items() if not k.startswith("_")}
            if record.get("_stored"):
                out["url"] = f"{base}/_sandbox/attachments/{record['id']}/content"
            return out
        return record

    # ---- candidates
    def _candidate_changes(
        self, body: dict[str, Any], record: dict[str, Any], creating: bool
    ) -> dict[str, Any]:
        """Validate a candidate body and apply scalar and array fields to ``record``; returns the extras."""
        for key in ("first_name", "last_name"):
            if creating or key in body:
                record[key] = _opt_str(body, key, required=True)
        for key in ("preferred_name", "company", "title"):
            if key in body:
                record[key] = _opt_str(body, key)
        if "can_email" in body:
            record["can_email"] = bool(_opt_bool(body, "can_email"))
        for key in ("is_private", "private"):
            if key in body:
                record["private"] = bool(_opt_bool(body, key))
        if "time_zone" in body:
            tz = body["time_zone"]
            if tz is None:
                record["time_zone"] = None
            elif isinstance(tz, str) and tz.strip().lower() in TIME_ZONE_LOOKUP:
                record["time_zone"] = TIME_ZONE_LOOKUP[tz.strip().lower()]
            else:
                raise _unprocessable({"time_zone": "is not included in the list"})
        for key in CONTACT_TYPES:
            if key in body:
                record[key] = _contacts(key, body[key] if body[key] is not None else [])
        if "linked_user_ids" in body:
            users = _int_list(body, "linked_user_ids") or []
            for uid in users:
                if not self.store.exists("users", uid):
                    raise _unprocessable({"linked_user_ids": f"unknown user {uid}"})
            record["linked_user_ids"] = users
        if "custom_fields" in body:
            record["custom_fields"] = self.sb.custom_fields_from_write(
                body["custom_fields"] or [], "candidate"
            )
        extras: dict[str, Any] = {}
        if "tags" in body:
            tags = body["tags"] if body["tags"] is not None else []
            if not isinstance(tags, list) or not all(isinstance(t, str) and 0 < len(t) <= 255 for t in tags):
                raise _unprocessable({"tags": "must be an array of tag names"})
            extras["tags"] = list(dict.fromkeys(tags))
        return extras

    def _set_emails(self, cand: dict[str, Any]) -> None:
        conn = self.store.conn
        conn.execute("DELETE FROM candidate_emails WHERE candidate_id = ?", (cand["id"],))
        conn.executemany(
            "INSERT INTO candidate_emails(email, candidate_id, position) VALUES (?, ?, ?)",
            [(e["value"].strip().lower(), cand["id"], pos) for pos, e in enumerate(cand["email_addresses"])],
        )

    def _tag_id(self, name: str, now: str, create: bool) -> int | None:
        row = self.store.conn.execute("SELECT id FROM candidate_tags WHERE name = ?", (name,)).fetchone()
        if row:
            return int(row[0])
        if not create:
            return None
        return int(self.store.insert("candidate_tags", tag_shape(name, now))["id"])

    def _set_tags(self, cand: dict[str, Any], names: list[str], now: str) -> None:
        conn = self.store.conn
        wanted = {self._tag_id(n, now, create=True): n for n in names}
        current = {
            r[1]: r[0]
            for r in conn.execute(
                "SELECT id, candidate_tag_id FROM applied_candidate_tags WHERE candidate_id = ?",
                (cand["id"],),
            )
        }
        for tag_id, row_id in current.items():
            if tag_id not in wanted:
                conn.execute("DELETE FROM applied_candidate_tags WHERE id = ?", (row_id,))
        for tag_id in wanted:
            if tag_id not in current:
                self.store.insert("applied_candidate_tags", applied_tag_shape(cand["id"], tag_id, now))
        cand["tags"] = names

    def create_candidate(self, body: dict[str, Any], sub: int | None, request: Request) -> dict[str, Any]:
        now = now_ts()
        cand = candidate_shape(None, now, now)
        extras = self._candidate_changes(body, cand, creating=True)
        app_body = body.get("application")
        if app_body is not None and not isinstance(app_body, dict):
            raise _unprocessable({"application": "must be an object"})
        with self.store.transaction():
            self.store.insert("candidates", cand)
            self._set_emails(cand)
            if "tags" in extras:
                self._set_tags(cand, extras["tags"], now)
                self.store.update("candidates", cand)
            application = None
            if app_body is not None:
                application = self._new_application(cand["id"], app_body, now)
        return {"candidate": cand, "application": application}

    def update_candidate(self, body: dict[str, Any], rec_id: int | None, request: Request) -> dict[str, Any]:
        assert rec_id is not None
        with self.store.transaction():
            cand = self.store.require("candidates", rec_id)
            extras = self._candidate_changes(body, cand, creating=False)
            now = now_ts()
            cand["updated_at"] = now
            if "email_addresses" in body:
                self._set_emails(cand)
            if "tags" in extras:
                self._set_tags(cand, extras["tags"], now)
            self.store.update("candidates", cand)
        return cand

    # ---- applications
    def _new_application(self, cand_id: int, body: dict[str, Any], now: str) -> dict[str, Any]:
        prospect = body.get("prospect") is True
        job_id = _opt_int(body, "job_id")
        job: dict[str, Any] | None = None
        if not prospect and job_id is None:
            raise _unprocessable({"job_id": "is required unless prospect is true"})
        if job_id is not None:
            job = self.store.get("jobs", job_id)
            if job is None or job["is_template"]:
                raise _unprocessable({"job_id": f"unknown job {job_id}"})
            dup = self.store.conn.execute(
                "SELECT 1 FROM applications WHERE candidate_id = ? AND job_id = ?", (cand_id, job_id)
            ).fetchone()
            if dup:
                raise _unprocessable({"job_id": "The candidate already has an application on this job"})
        prospective = _int_list(body, "job_ids") or []
        for pj in prospective:
            if not self.store.exists("jobs", pj):
                raise _unprocessable({"job_ids": f"unknown job {pj}"})
        for key in ("source_id", "referrer_id", "recruiter_id", "coordinator_id"):
            _opt_int(body, key)
        self._check_source(body)
        for key in ("recruiter_id", "coordinator_id"):
            uid = body.get(key)
            if uid is not None and not self.store.exists("users", uid):
                raise _unprocessable({key: f"unknown user {uid}"})
        created = now
        if body.get("created_at") is not None:
            dt = parse_ts(str(body["created_at"]))
            if dt is None:
                raise _unprocessable({"created_at": "is not a valid date"})
            created = iso_ts(dt)
        cf = self.sb.custom_fields_from_write(body.get("custom_fields") or [], "application")
        post = None
        if job is not None:
            row = self.store.conn.execute(
                "SELECT id FROM job_posts WHERE job_id = ? AND internal = 0 ORDER BY id LIMIT 1", (job["id"],)
            ).fetchone()
            post = row[0] if row else None
        stage = job["id"] * 10 + 1 if job is not None else None
        pool = {
            "prospect_pool_id": _opt_int(body, "prospect_pool_id") if prospect else None,
            "prospect_stage_id": _opt_int(body, "prospect_pool_stage_id") if prospect else None,
        }
        record = application_shape(
            None,
            cand_id,
            created,
            now,
            pool=pool,
            job_id=job_id,
            job_post_id=post,
            prospect=prospect,
            prospective_job_ids=prospective if prospect else [],
            stage_id=stage,
            job_interview_stage_id=stage,
            stage_name=STAGES[0] if job else None,
            recruiter_id=body.get("recruiter_id"),
            coordinator_id=body.get("coordinator_id"),
            source_id=body.get("source_id"),
            referrer_id=body.get("referrer_id"),
            custom_fields=cf,
        )
        return self.store.insert("applications", record)

    def create_application(self, body: dict[str, Any], sub: int | None, request: Request) -> dict[str, Any]:
        cand_id = _req_int(body, "candidate_id")
        with self.store.transaction():
            if not self.store.exists("candidates", cand_id):
                raise _unprocessable({"candidate_id": f"unknown candidate {cand_id}"})
            return self._new_application(cand_id, body, now_ts())

    def convert_to_candidate(
        self, body: dict[str, Any], rec_id: int | None, request: Request
    ) -> dict[str, Any]:
        """A prospect application becomes a candidate application on ``job_id`` (200 with it)."""
        assert rec_id is not None
        job_id = _req_int(body, "job_id")
        with self.store.transaction():
            app = self.store.require("applications", rec_id)
            if not app.get("prospect"):
                raise _unprocessable({"application": "is not a prospect application"})
            job = self.store.get("jobs", job_id)
            if job is None or job["is_template"]:
                raise _unprocessable({"job_id": f"unknown job {job_id}"})
            dup = self.store.conn.execute(
                "SELECT 1 FROM applications WHERE candidate_id = ? AND job_id = ?",
                (app["candidate_id"], job_id),
            ).fetchone()
            if dup:
                raise _unprocessable({"job_id": "The candidate already has an application on this job"})
            stage = job_id * 10 + 1
            app.update(
                prospect=False,
                job_id=job_id,
                prospective_job_ids=[],
                stage_id=stage,
                job_interview_stage_id=stage,
                stage_name=STAGES[0],
                updated_at=now_ts(),
            )
            self.store.update("applications", app)
        return app

    def update_application(
        self, body: dict[str, Any], rec_id: int | None, request: Request
    ) -> dict[str, Any]:
        assert rec_id is not None
        with self.store.transaction():
            app = self.store.require("applications", rec_id)
            self._check_source(body)
            for key in (
                "source_id",
                "referrer_id",
                "recruiter_id",
                "coordinator_id",
                "prospect_pool_id",
                "prospect_stage_id",
            ):
                if key in body:
                    app[key] = _opt_int(body, key)
            for key in ("rejected_at", "created_at"):
                if key in body:
                    if body[key] is None:
                        if key == "created_at":
                            raise _unprocessable({key: "can't be blank"})
                        app[key] = None
                        continue
                    dt = parse_ts(str(body[key]))
                    if dt is None:
                        raise _unprocessable({key: "is not a valid date"})
                    app[key] = iso_ts(dt)
            if "custom_fields" in body:
                app["custom_fields"] = self.sb.custom_fields_from_write(
                    body["custom_fields"] or [], "application"
                )
            app["updated_at"] = now_ts()
            self.store.update("applications", app)
        return app

    def _check_source(self, body: dict[str, Any]) -> None:
        source = _opt_int(body, "source_id")
        if source is not None and not self.store.exists("sources", source):
            raise _unprocessable({"source_id": f"unknown source {source}"})

    def board_view(self, token: str) -> dict[str, Any]:
        """What a person browsing the board sees (the public Job Board API's job list, reduced): the
        active, live posts on a live board, with their job's id.  A paused board shows nothing."""
        row = None
        for data in self.store.conn.execute("SELECT data FROM job_boards"):
            board = json.loads(data[0])
            if board.get("url_token") == token:
                row = board
        if row is None:
            raise _not_found()
        jobs: list[dict[str, Any]] = []
        if row.get("live"):
            for (data,) in self.store.conn.execute(
                "SELECT data FROM job_posts WHERE job_board_id = ? AND live = 1 AND active = 1 ORDER BY id",
                (row["id"],),
            ):
                post = json.loads(data)
                jobs.append(
                    {
                        "id": post["id"],
                        "internal_job_id": post["job_id"],
                        "title": post["title"],
                        "content": post.get("content"),
                        "updated_at": post["updated_at"],
                    }
                )
        return {"jobs": jobs, "meta": {"total": len(jobs)}}

    # ---- jobs and posts
    def _office_ids(self, body: dict[str, Any]) -> list[int] | None:
        offices = _int_list(body, "office_ids")
        for oid in offices or []:
            if not self.store.exists("offices", oid):
                raise _unprocessable({"office_ids": f"unknown office {oid}"})
        return offices

    def _department_id(self, body: dict[str, Any]) -> int | None:
        dept = _opt_int(body, "department_id")
        if dept is not None and not self.store.exists("departments", dept):
            raise _unprocessable({"department_id": f"unknown department {dept}"})
        return dept

    def create_job(self, body: dict[str, Any], sub: int | None, request: Request) -> dict[str, Any]:
        template_id = _req_int(body, "template_job_id")
        openings = _req_int(body, "number_of_openings")
        if not 1 <= openings <= 200:
            raise _unprocessable({"number_of_openings": "must be between 1 and 200"})
        name = _opt_str(body, "job_name")
        post_name = _opt_str(body, "job_post_name")
        notes = _opt_str(body, "notes", max_len=100_000)
        requisition = _opt_str(body, "requisition_id")
        opening_ids = body.get("opening_ids") or []
        if not isinstance(opening_ids, list) or not all(isinstance(o, str) for o in opening_ids):
            raise _unprocessable({"opening_ids": "must be an array of strings"})
        if len(opening_ids) > openings:
            raise _unprocessable({"opening_ids": "has more entries than number_of_openings"})
        with self.store.transaction():
            template = self.store.get("jobs", template_id)
            if template is None or not template["is_template"]:
                raise _unprocessable({"template_job_id": f"{template_id} is not a template job"})
            dept = self._department_id(body)
            offices = self._office_ids(body)
            cf = self.sb.custom_fields_from_write(
                body.get("custom_fields") or [], "job", start=template.get("custom_fields")
            )
            now = now_ts()
            job = job_shape(
                None,
                now,
                now,
                name=name or template["name"],
                requisition_id=requisition,
                notes=notes if notes is not None else template["notes"],
                opened_at=now,
                copied_from_id=template_id,
                department_id=dept if dept is not None else template["department_id"],
                office_ids=offices if offices is not None else list(template["office_ids"]),
                custom_fields=cf,
            )
            self.store.insert("jobs", job)
            for n in range(openings):
                opening_id = opening_ids[n] if n < len(opening_ids) else None
                self.store.insert("openings", opening_shape(job["id"], opening_id, True, now, n + 1, now))
            posts = [
                json.loads(r[0])
                for r in self.store.conn.execute(
                    "SELECT data FROM job_posts WHERE job_id = ? AND active = 1 ORDER BY id", (template_id,)
                )
            ]
            for post in posts:
                self.store.insert(
                    "job_posts",
                    {
                        **post,
                        "id": None,
                        "job_id": job["id"],
                        "title": post_name or job["name"],
                        "live": False,
                        "first_published_at": None,
                        "public_url": None,
                        "created_at": now,
                        "updated_at": now,
                    },
                )
        return job

    def update_job(self, body: dict[str, Any], rec_id: int | None, request: Request) -> dict[str, Any]:
        assert rec_id is not None
        with self.store.transaction():
            job = self.store.require("jobs", rec_id)
            if "name" in body:
                job["name"] = _opt_str(body, "name", required=True)
            if "notes" in body:
                job["notes"] = _opt_str(body, "notes", max_len=100_000)
            if "requisition_id" in body:
                job["requisition_id"] = _opt_str(body, "requisition_id")
            if "department_id" in body:
                job["department_id"] = self._department_id(body)
            if "office_ids" in body:
                job["office_ids"] = self._office_ids(body) or []
            if "custom_fields" in body:
                job["custom_fields"] = self.sb.custom_fields_from_write(body["custom_fields"] or [], "job")
            job["updated_at"] = now_ts()
            self.store.update("jobs", job)
        return job

    def create_job_post(self, body: dict[str, Any], sub: int | None, request: Request) -> dict[str, Any]:
        template_id = _req_int(body, "template_job_post_id")
        board_id = _req_int(body, "job_board_id")
        title = _opt_str(body, "title")
        content = _opt_str(body, "content", max_len=1_000_000)
        status = body.get("status", "draft")
        if status not in ("draft", "live"):
            raise _unprocessable({"status": "must be draft or live"})
        with self.store.transaction():
            template = self.store.get("job_posts", template_id)
            if template is None:
                raise _unprocessable({"template_job_post_id": f"unknown job post {template_id}"})
            board = self.store.get("job_boards", board_id)
            if board is None:
                raise _unprocessable({"job_board_id": f"unknown job board {board_id}"})
            now = now_ts()
            live = status == "live" and bool(board["live"])
            post = {
                **template,
                "id": None,
                "job_board_id": board_id,
                "internal": bool(board["internal"]),
                "title": title if title is not None else template["title"],
                "content": content if content is not None else template["content"],
                "live": live,
                "active": True,
                "first_published_at": now if live else None,
                "created_at": now,
                "updated_at": now,
            }
            return self.store.insert("job_posts", post)

    def update_job_post(self, body: dict[str, Any], rec_id: int | None, request: Request) -> dict[str, Any]:
        assert rec_id is not None
        with self.store.transaction():
            post = self.store.require("job_posts", rec_id)
            if "title" in body:
                post["title"] = _opt_str(body, "title", required=True)
            if "content" in body:
                post["content"] = _opt_str(body, "content", max_len=1_000_000)
            now = now_ts()
            if "job_application_status" in body:
                status = body["job_application_status"]
                if status not in ("draft", "live"):
                    raise _unprocessable({"job_application_status": "must be draft or live"})
                board = self.store.get("job_boards", post["job_board_id"]) or {"live": True}
                post["live"] = status == "live" and bool(board["live"])
                if post["live"] and not post.get("first_published_at"):
                    post["first_published_at"] = now
            post["updated_at"] = now
            self.store.update("job_posts", post)
        return post

    # ---- notes
    def create_note(self, body: dict[str, Any], sub: int | None, request: Request) -> dict[str, Any]:
        cand_id = _req_int(body, "candidate_id")
        text = _opt_str(body, "body", max_len=100_000, required=True)
        visibility = body.get("visibility")
        if visibility not in VISIBILITY:
            raise _unprocessable({"visibility": "must be one of: admin_only, private, public"})
        note_type = body.get("note_type")
        if note_type not in ("NOTE", "ACTIVITY", "EMAIL"):
            raise _unprocessable({"note_type": "must be one of: NOTE, ACTIVITY, EMAIL"})
        subject = _opt_str(body, "subject")
        email_keys = [k for k in ("email_from", "email_to", "email_cc") if k in body]
        email: dict[str, Any] = {}
        if note_type == "EMAIL":
            if subject is None:
                raise _unprocessable({"subject": "is required for EMAIL notes"})
            for key in ("email_from", "email_to", "email_cc"):
                if not isinstance(body.get(key), list):
                    raise _unprocessable({key: "is required for EMAIL notes (an array)"})
                email[key] = body[key]
        elif email_keys:
            raise _unprocessable({email_keys[0]: f"is not allowed on {note_type} notes"})
        app_id = _opt_int(body, "application_id")
        user_id = _opt_int(body, "user_id")
        with self.store.transaction():
            cand = self.store.get("candidates", cand_id)
            if cand is None:
                raise _unprocessable({"candidate_id": f"unknown candidate {cand_id}"})
            if app_id is not None:
                app = self.store.get("applications", app_id)
                if app is None or app["candidate_id"] != cand_id:
                    raise _unprocessable({"application_id": "does not belong to this candidate"})
            if user_id is not None and not self.store.exists("users", user_id):
                raise _unprocessable({"user_id": f"unknown user {user_id}"})
            if user_id is None:
                user_id = sub if sub is not None else self._service_user()
            now = now_ts()
            note = note_shape(
                self.store.next_id("notes"),
                cand_id,
                app_id,
                user_id,
                text or "",
                subject,
                VISIBILITY[visibility],
                note_type,
                now,
                email,
            )
            self.store.insert("notes", note)
            cand["last_activity_at"] = now  # notes bump activity, not updated_at
            with self.store.lock:
                self.store.conn.execute(
                    "UPDATE candidates SET data = ?, last_activity_at = ? WHERE id = ?",
                    (dumps(cand), now, cand_id),
                )
        return note

    def _service_user(self) -> int | None:
        row = self.store.conn.execute(
            "SELECT id FROM users WHERE service_account = 1 ORDER BY id LIMIT 1"
        ).fetchone()
        return int(row[0]) if row else None

    # ---- tags
    def create_candidate_tag(self, body: dict[str, Any], sub: int | None, request: Request) -> dict[str, Any]:
        name = _opt_str(body, "name", required=True)
        assert name is not None
        with self.store.transaction():
            if self._tag_id(name, "", create=False) is not None:
                raise _unprocessable({"name": "has already been taken"})
            now = now_ts()
            return self.store.insert("candidate_tags", tag_shape(name, now))

    def create_applied_tag(self, body: dict[str, Any], sub: int | None, request: Request) -> dict[str, Any]:
        cand_id = _req_int(body, "candidate_id")
        tag_id = _req_int(body, "candidate_tag_id")
        with self.store.transaction():
            cand = self.store.get("candidates", cand_id)
            if cand is None:
                raise _unprocessable({"candidate_id": f"unknown candidate {cand_id}"})
            tag = self.store.get("candidate_tags", tag_id)
            if tag is None:
                raise _unprocessable({"candidate_tag_id": f"unknown candidate tag {tag_id}"})
            dup = self.store.conn.execute(
                "SELECT 1 FROM applied_candidate_tags WHERE candidate_id = ? AND candidate_tag_id = ?",
                (cand_id, tag_id),
            ).fetchone()
            if dup:
                raise _unprocessable({"candidate_tag_id": "has already been taken"})
            now = now_ts()
            row = self.store.insert("applied_candidate_tags", applied_tag_shape(cand_id, tag_id, now))
            cand["tags"] = [*cand["tags"], tag["name"]]
            cand["updated_at"] = now
            self.store.update("candidates", cand)
        return row

    def delete_applied_tag(
        self, body: dict[str, Any], rec_id: int | None, request: Request
    ) -> dict[str, Any]:
        assert rec_id is not None
        with self.store.transaction():
            row = self.store.require("applied_candidate_tags", rec_id)
            self.store.conn.execute("DELETE FROM applied_candidate_tags WHERE id = ?", (rec_id,))
            tag = self.store.get("candidate_tags", row["candidate_tag_id"])
            cand = self.store.get("candidates", row["candidate_id"])
            if cand is not None and tag is not None:
                cand["tags"] = [t for t in cand["tags"] if t != tag["name"]]
                cand["updated_at"] = now_ts()
                self.store.update("candidates", cand)
        return {"message": f"Applied candidate tag {rec_id} deleted successfully"}

    # ---- attachments
    def create_attachment(self, body: dict[str, Any], sub: int | None, request: Request) -> dict[str, Any]:
        app_id = _req_int(body, "application_id")
        filename = _opt_str(body, "filename", required=True)
        assert filename is not None
        kind = body.get("type")
        if kind not in ATTACHMENT_TYPES:
            raise _unprocessable({"type": "must be one of: " + ", ".join(sorted(ATTACHMENT_TYPES))})
        if Path(filename).suffix.lower() in BLOCKED_EXTENSIONS:
            raise _unprocessable({"filename": "has a blocked file extension"})
        content, url = body.get("content"), body.get("url")
        if (content is None) == (url is None):
            raise _unprocessable({"content": "give exactly one of content or url"})
        blob: bytes | None = None
        if content is not None:
            if not isinstance(content, str):
                raise _unprocessable({"content": "must be base64 text"})
            try:
                blob = base64.b64decode(content, validate=True)
            except (binascii.Error, ValueError):
                raise _unprocessable({"content": "is not valid base64"}) from None
        elif not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise _unprocessable({"url": "must be a public http(s) URL"})
        visibility = body.get("visibility")
        if visibility is not None and visibility not in VISIBILITY:
            raise _unprocessable({"visibility": "must be one of: admin_only, private, public"})
        with self.store.transaction():
            app = self.store.get("applications", app_id)
            if app is None:
                raise _unprocessable({"application_id": f"unknown application {app_id}"})
            now = now_ts()
            if kind in ("resume", "cover_letter"):
                for row in self.store.conn.execute(
                    "SELECT data FROM attachments WHERE application_id = ? AND type = ?", (app_id, kind)
                ).fetchall():
                    old = json.loads(row[0])
                    old["type"], old["updated_at"] = "other", now
                    self.store.update("attachments", old)
            record = {
                "id": None,
                "application_id": app_id,
                "candidate_id": app["candidate_id"],
                "type": kind,
                "filename": filename,
                "url": url if blob is None else None,
                "visibility": VISIBILITY.get(visibility or "admin_only"),
                "created_at": now,
                "updated_at": now,
                "_stored": blob is not None,
            }
            self.store.insert("attachments", record)
            if blob is not None:
                self.store.conn.execute(
                    "INSERT INTO attachment_blobs(id, content) VALUES (?, ?)", (record["id"], blob)
                )
        return self.render("attachments", record, str(request.base_url).rstrip("/"))
