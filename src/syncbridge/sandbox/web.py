"""HTTP pieces every sandbox app has: Basic credentials, token-endpoint forms and the ``/_sandbox``
admin routes (health, runtime config, stats, token expiry)."""

from __future__ import annotations

import base64
import binascii
import json
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

__all__ = ["Admin", "basic_credentials", "install_admin_routes", "read_form"]


def basic_credentials(authorization: str, *, unquote: bool = True) -> tuple[str, str] | None:
    """``(user, password)`` of an ``Authorization: Basic`` header (``("", "")`` when it does not decode;
    percent-decoded as OAuth client credentials are, unless ``unquote`` is false); ``None`` when the
    header is not Basic."""
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        decoded = ""
    user, _, password = decoded.partition(":")
    if unquote:
        return urllib.parse.unquote(user), urllib.parse.unquote(password)
    return user, password


async def read_form(request: Request, *, query: bool = False) -> dict[str, str]:
    """A token endpoint's parameters: a JSON object (``null`` values left out) when the content type says
    JSON, else a form body (the last value of a repeated key); with ``query``, the query string's first
    and the body's on top.  A body that does not parse gives no parameters."""
    raw = await request.body()
    form: dict[str, str] = dict(request.query_params.items()) if query else {}
    if "json" in request.headers.get("content-type", ""):
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            data = {}
        if isinstance(data, dict):
            form.update({k: str(v) for k, v in data.items() if v is not None})
    else:
        form.update({k: v[-1] for k, v in urllib.parse.parse_qs(raw.decode("utf-8", "replace")).items()})
    return form


class Admin(Protocol):
    """What the admin routes ask of a sandbox's state."""

    def config_dict(self) -> dict[str, Any]: ...

    def reconfigure(self, changes: dict[str, Any]) -> dict[str, Any]: ...

    def stats(self) -> dict[str, Any]: ...

    def expire_tokens(self) -> int: ...


def install_admin_routes(
    app: FastAPI,
    admin: Admin,
    *,
    read_json: Callable[[Request], Awaitable[dict[str, Any]]],
    respond: Callable[[Any], Response] = JSONResponse,
) -> None:
    """``GET /_sandbox/health``, ``GET|POST /_sandbox/config`` (the body, read by ``read_json``, holds the
    changes), ``GET /_sandbox/stats`` and ``POST /_sandbox/expire_tokens`` (``{"expired": n}``).  Errors
    raised by ``read_json`` or ``admin.reconfigure`` are answered by the app's exception handlers."""

    @app.get("/_sandbox/health")
    async def health() -> Response:
        return respond({"ok": True})

    @app.get("/_sandbox/config")
    async def get_config() -> Response:
        return respond(admin.config_dict())

    @app.post("/_sandbox/config")
    async def set_config(request: Request) -> Response:
        return respond(admin.reconfigure(await read_json(request)))

    @app.get("/_sandbox/stats")
    async def stats() -> Response:
        return respond(admin.stats())

    @app.post("/_sandbox/expire_tokens")
    async def expire_tokens() -> Response:
        return respond({"expired": admin.expire_tokens()})
