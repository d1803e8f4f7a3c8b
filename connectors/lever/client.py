"""Lever Data API v1 transport: authentication, error mapping, offset-token pagination and the raw calls.

Facts (Lever's Data API v1 documentation):

* API key = HTTP Basic username with an empty password; OAuth = ``Authorization: Bearer`` with 1-hour access
  tokens and **single-use refresh tokens** (every refresh returns a new one, the old one stops working);
* lists answer ``{"data": [...], "hasNext": bool, "next": "<opaque offset token>"}``; the token is only
  valid for the exact query that produced it and never outlives a run here; a replayed or stale token is
  answered with a message starting ``Invalid offset token`` (status undocumented), so the whole window is
  read again from the first page, a bounded number of times;
* errors are ``{"code": ..., "message": ...}``; 429 (token bucket, 10 rps, no headers) and 503 are retried by
  :class:`~syncbridge.http.ApiClient` with exponential backoff and jitter (``Retry-After`` honoured if
  sent);
* ``perform_as=<user id>`` goes in the query string, never in the body; required on ``POST /opportunities``
  and ``POST /postings[/:id]``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import requests

from syncbridge.errors import ApiError, AuthError, InvalidRequest, NotFound, UnexpectedResponse
from syncbridge.http import (
    ApiClient,
    OffsetTokenPaginator,
    RateLimiter,
    RotatingRefreshToken,
    TokenProvider,
    error_from_response,
)
from syncbridge.redact import register_secret

log = logging.getLogger("syncbridge.connectors.lever")

PRODUCTION_URL = "https://api.lever.co/v1"
SANDBOX_URL = "https://api.sandbox.lever.co/v1"
EU_URL = "https://api.eu.lever.co/v1"
PRODUCTION_TOKEN_URL = "https://auth.lever.co/oauth/token"
SANDBOX_TOKEN_URL = "https://sandbox-lever.auth0.com/oauth/token"

MAX_PAGE_SIZE = 100
OPPORTUNITY_EXPAND = ("applications", "stage")
STATE_REFRESH_TOKEN = "oauth.refresh_token"
STATE_REFRESH_ORIGIN = "oauth.refresh_origin"

#: fields a requisition PUT may carry (everything else on a read record is computed by Lever)
REQUISITION_WRITABLE = (
    "requisitionCode",
    "name",
    "headcountTotal",
    "status",
    "owner",
    "hiringManager",
    "employmentStatus",
    "location",
    "team",
    "department",
    "compensationBand",
    "internalNotes",
    "backfill",
    "customFields",
)


class InvalidOffsetToken(InvalidRequest):
    """Lever refused an offset token (replayed under other parameters, or expired)."""


def lever_error(response: requests.Response, connector: str | None = None) -> ApiError:
    """Map a Lever error response (``{code, message}``) to the shared typed errors.

    ``Invalid offset token`` is recognised by its text before the status (the status is undocumented).
    The Lever ``code`` is kept as a detail so operators see ``ResourceNotFound`` & co. in messages.
    """
    error = error_from_response(response, connector)
    body = error.body if isinstance(error.body, dict) else {}
    code = body.get("code")
    message = str(body.get("message") or "")
    if code and f"code: {code}" not in error.details:
        error.details = [f"code: {code}", *error.details]
    if message.lower().startswith("invalid offset token"):
        return InvalidOffsetToken(
            error.message, status=error.status, connector=connector, details=error.details, body=error.body
        )
    return error


class LeverOAuthTokens(RotatingRefreshToken):
    """Access tokens from Lever's single-use refresh tokens: every refresh returns a new refresh token and
    invalidates the one used (:class:`RotatingRefreshToken` keeps it).  It is stored under one key with the
    configured token's fingerprint next to it.

    The refresh POST is never retried after it may have reached Lever: a lost answer would have consumed
    the old token anyway, and resending it could only be refused.
    """

    refresh_early = 120.0
    refused_statuses = (400, 401, 403)
    idempotent_grant = False

    def __init__(self, *args: Any, connector: str = "lever", **kw: Any) -> None:
        super().__init__(*args, connector=connector, **kw)

    def stored(self) -> str | None:
        kept = self.state.get(STATE_REFRESH_TOKEN)
        return kept if kept and self.state.get(STATE_REFRESH_ORIGIN) == self._origin else None

    def keep(self, refresh_token: str) -> None:
        self.state.set(STATE_REFRESH_TOKEN, refresh_token)
        self.state.set(STATE_REFRESH_ORIGIN, self._origin)

    def refused(self, error: ApiError, body: Mapping[str, Any]) -> AuthError:
        reason = body.get("error_description") or body.get("error") or error.message
        return AuthError(
            f"refresh token refused ({reason}); Lever refresh tokens are single-use and expire after 90 days "
            "unused: authorize the app again and configure the new refresh_token",
            status=error.status,
            connector=error.connector,
        )


def _envelope(body: Any, path: str, connector: str) -> tuple[list[Any], str | None]:
    """``data`` of a list answer, and ``next`` while ``hasNext``.  The records are passed on as they are
    (the connector's mapping refuses and counts the ones that are not objects or lack a valid id)."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise UnexpectedResponse(
            f"expected a {{data: [...]}} list envelope from /{path.lstrip('/')}", connector=connector
        )
    nxt = body.get("next")
    if nxt is not None and not isinstance(nxt, str | int):
        raise UnexpectedResponse(
            f"/{path.lstrip('/')}: the offset token `next` is not a string", connector=connector
        )
    return body["data"], str(nxt) if body.get("hasNext") is True and nxt not in (None, "") else None


class LeverClient:
    """The Lever calls the connector makes, over one shared :class:`ApiClient`."""

    def __init__(self, api: ApiClient, *, page_size: int = MAX_PAGE_SIZE, max_restarts: int = 3) -> None:
        self.api = api
        self.connector = api.connector
        self.page_size = max(1, min(MAX_PAGE_SIZE, page_size))
        self.max_restarts = max_restarts
        self.stats = {"pages": 0, "offset_restarts": 0}

    # -- generic -----------------------------------------------------------------------------------------
    def paginate(
        self, path: str, params: Mapping[str, Any] | None = None, *, raw: bool = False
    ) -> Iterator[list[Any]]:
        """Pages of a list endpoint: ``offset`` = the previous page's ``next`` while ``hasNext``.

        Every other parameter stays identical between pages.  When Lever refuses a token, the listing starts
        again from the first page (the consumer upserts, so re-reading is harmless), at most
        ``max_restarts`` times.  Tokens live only inside this generator.  An offset token already used in
        this pass (Lever pointing back to a page already read) or more than ``max_pages`` pages stops the
        listing with :class:`~syncbridge.errors.PaginationError` (:class:`PageGuard`).

        ``raw=True`` yields the ``data`` items as sent (the sync streams map them with
        :func:`~syncbridge.records.map_records`, which refuses and counts the unusable ones); otherwise
        items that are not JSON objects are dropped with a warning.
        """
        base = {k: v for k, v in (params or {}).items() if v is not None}
        base["limit"] = self.page_size

        def fetch(offset: str | None) -> tuple[list[Any], str | None]:
            query = base if offset is None else {**base, "offset": offset}
            return _envelope(self.api.get_json(path, query), path, self.connector)

        paginator = OffsetTokenPaginator(self.connector, f"/{path}", max_pages=self.api.max_pages)
        restarts = 0
        while True:
            try:
                for data, _next in paginator.pages(fetch):
                    self.stats["pages"] += 1
                    yield data if raw else _objects(data, path)
                return
            except InvalidOffsetToken:
                if paginator.position is None or restarts >= self.max_restarts:
                    raise
                restarts += 1
                self.stats["offset_restarts"] += 1
                log.warning(
                    "%s: offset token refused; reading the window again from the start (%d/%d)",
                    path,
                    restarts,
                    self.max_restarts,
                )

    def list_all(self, path: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        return [r for page in self.paginate(path, params) for r in page]

    def get_data(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        body = self.api.get_json(path, params)
        if not isinstance(body, dict) or "data" not in body:
            raise InvalidRequest(f"expected a {{data: ...}} envelope from {path}", connector=self.connector)
        return body["data"]

    def _write(
        self,
        method: str,
        path: str,
        body: Any,
        *,
        params: Mapping[str, Any] | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        response = self.api.request(method, path, params=params, json=body, idempotent=idempotent)
        if response.status_code == 204 or not response.content:
            return None
        payload = self.api.decode_json(response)
        return payload.get("data") if isinstance(payload, dict) and "data" in payload else payload

    def _require_perform_as(self, perform_as: str | None, what: str) -> dict[str, str]:
        if not perform_as:
            raise InvalidRequest(
                f"{what} needs perform_as: set perform_as or perform_as_email in the connector settings",
                connector=self.connector,
            )
        return {"perform_as": perform_as}

    # -- reads -------------------------------------------------------------------------------------------
    def opportunity(
        self, opportunity_id: str, *, expand: Sequence[str] = OPPORTUNITY_EXPAND
    ) -> dict[str, Any]:
        data = self.get_data(f"opportunities/{opportunity_id}", {"expand": list(expand)})
        if not isinstance(data, dict):
            raise NotFound(f"opportunity {opportunity_id} not found", status=404, connector=self.connector)
        return data

    def opportunities(self, params: Mapping[str, Any], *, raw: bool = False) -> Iterator[list[Any]]:
        query = {"confidentiality": "all", "expand": list(OPPORTUNITY_EXPAND), **params}
        return self.paginate("opportunities", query, raw=raw)

    def users_by_email(self, email: str) -> list[dict[str, Any]]:
        return self.list_all("users", {"email": email})

    def notes(self, opportunity_id: str) -> Iterator[list[dict[str, Any]]]:
        return self.paginate(f"opportunities/{opportunity_id}/notes")

    # -- opportunity writes ----------------------------------------------------------------------------
    def create_opportunity(self, body: Mapping[str, Any], *, perform_as: str | None) -> dict[str, Any]:
        """``POST /opportunities``: every call makes a NEW opportunity (search by e-mail first)."""
        params = self._require_perform_as(perform_as, "creating an opportunity")
        data = self._write("POST", "opportunities", dict(body), params=params)
        if not isinstance(data, dict) or "id" not in data:
            raise InvalidRequest("unexpected response to POST /opportunities", connector=self.connector)
        return data

    def add_note(
        self,
        opportunity_id: str,
        value: str,
        *,
        perform_as: str | None = None,
        secret: bool = False,
        score: int | None = None,
    ) -> str:
        body: dict[str, Any] = {"value": value, "secret": secret}
        if score is not None:
            body["score"] = score
        params = {"perform_as": perform_as} if perform_as else None
        data = self._write("POST", f"opportunities/{opportunity_id}/notes", body, params=params)
        note_id = (data.get("noteId") or data.get("id")) if isinstance(data, dict) else None
        return str(note_id) if note_id else ""

    def delete_note(self, opportunity_id: str, note_id: str, *, perform_as: str | None = None) -> None:
        """``DELETE /opportunities/:id/notes/:noteId`` (204): only notes made through the API."""
        params = {"perform_as": perform_as} if perform_as else None
        self._write("DELETE", f"opportunities/{opportunity_id}/notes/{note_id}", None, params=params)

    def add_tags(self, opportunity_id: str, tags: Sequence[str], *, perform_as: str | None = None) -> None:
        params = {"perform_as": perform_as} if perform_as else None
        # Lever does not document addTags as idempotent ("should be a no-op", not a promise), so a 5xx or a
        # dropped connection is not resent here: the applier checks the tags first (reconciliation)
        self._write(
            "POST",
            f"opportunities/{opportunity_id}/addTags",
            {"tags": list(tags)},
            params=params,
            idempotent=False,
        )

    def set_stage(self, opportunity_id: str, stage: str, *, perform_as: str | None = None) -> None:
        """``PUT /opportunities/:id/stage``; setting the stage it has is a no-op, so it is safe to resend."""
        params = {"perform_as": perform_as} if perform_as else None
        self._write(
            "PUT", f"opportunities/{opportunity_id}/stage", {"stage": stage}, params=params, idempotent=True
        )

    # -- requisitions ----------------------------------------------------------------------------------
    def requisitions_by_code(self, code: str) -> list[dict[str, Any]]:
        return self.list_all("requisitions", {"requisition_code": code, "confidentiality": "all"})

    def create_requisition(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /requisitions`` (needs "API management of requisitions" switched on by a Super Admin)."""
        missing = [k for k in ("requisitionCode", "name", "headcountTotal") if fields.get(k) in (None, "")]
        if missing:
            raise InvalidRequest(f"requisition is missing {', '.join(missing)}", connector=self.connector)
        data = self._write("POST", "requisitions", dict(fields))
        if not isinstance(data, dict) or "id" not in data:
            raise InvalidRequest("unexpected response to POST /requisitions", connector=self.connector)
        return data

    def requisition_fields(self) -> list[dict[str, Any]]:
        """``GET /requisition_fields``: the account's requisition custom-field schema (ids are snake_case)."""
        return self.list_all("requisition_fields")

    def requisition(self, requisition_id: str) -> dict[str, Any]:
        data = self.get_data(f"requisitions/{requisition_id}")
        if not isinstance(data, dict):
            raise NotFound(f"requisition {requisition_id} not found", status=404, connector=self.connector)
        return data

    def update_requisition(self, requisition_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Read, merge, write: ``PUT /requisitions/:id`` resets every field it is not sent.

        ``customFields`` are merged key by key.  ``department`` is sent back as read; if Lever refuses it
        (it is not among the documented write fields) the PUT is repeated without it.  Not resent after a
        5xx or a broken connection (``idempotent=False``: Lever documents no idempotency, and a full-replace
        PUT resent later could undo a change made in between); the applier reconciles instead.
        """
        current = self.requisition(requisition_id)
        body = merge_requisition(current, changes)
        try:
            data = self._write("PUT", f"requisitions/{requisition_id}", body, idempotent=False)
        except InvalidRequest as exc:
            if "department" not in body or "department" in changes or "department" not in str(exc).lower():
                raise
            body.pop("department")
            data = self._write("PUT", f"requisitions/{requisition_id}", body, idempotent=False)
        return data if isinstance(data, dict) else {**current, **body}

    # -- postings ----------------------------------------------------------------------------------------
    def create_posting(self, fields: Mapping[str, Any], *, perform_as: str | None) -> dict[str, Any]:
        params = self._require_perform_as(perform_as, "creating a posting")
        if not fields.get("text"):
            raise InvalidRequest("a posting needs its title in `text`", connector=self.connector)
        body = {"state": "draft", **fields}
        try:
            data = self._write("POST", "postings", body, params=params)
        except InvalidRequest as exc:
            retry = _closing_alternative(body, str(exc))
            if retry is None:
                raise
            data = self._write("POST", "postings", retry, params=params)
        if not isinstance(data, dict) or "id" not in data:
            raise InvalidRequest("unexpected response to POST /postings", connector=self.connector)
        return data

    def postings(self, params: Mapping[str, Any] | None = None) -> Iterator[list[Any]]:
        """Pages of ``GET /postings`` (every state unless ``state`` is given; confidential ones too)."""
        return self.paginate("postings", {"confidentiality": "all", **(params or {})})

    def posting(self, posting_id: str) -> dict[str, Any]:
        data = self.get_data(f"postings/{posting_id}")
        if not isinstance(data, dict):
            raise NotFound(f"posting {posting_id} not found", status=404, connector=self.connector)
        return data

    def update_posting(
        self, posting_id: str, changes: Mapping[str, Any], *, perform_as: str | None
    ) -> dict[str, Any]:
        """``POST /postings/:id`` is a partial update (only the sent fields change).  A POST that Lever does
        not document as idempotent: never resent blindly, the applier reconciles first."""
        params = self._require_perform_as(perform_as, "updating a posting")
        body = dict(changes)
        try:
            data = self._write("POST", f"postings/{posting_id}", body, params=params, idempotent=False)
        except InvalidRequest as exc:
            retry = _closing_alternative(body, str(exc))
            if retry is None:
                raise
            data = self._write("POST", f"postings/{posting_id}", retry, params=params, idempotent=False)
        return data if isinstance(data, dict) else {"id": posting_id, **body}

    def create_webhook(self, url: str, event: str) -> dict[str, Any]:
        """``POST /webhooks`` (not idempotent: a resend would register a second webhook).  The answer's
        ``configuration.signatureToken`` is shown only now, so the caller must keep it."""
        data = self._write("POST", "webhooks", {"url": url, "event": event}, idempotent=False)
        return data if isinstance(data, dict) else {}

    def close(self) -> None:
        self.api.close()


def _objects(items: list[Any], path: str) -> list[dict[str, Any]]:
    objects = [r for r in items if isinstance(r, dict)]
    if len(objects) != len(items):
        log.warning("/%s: ignored %d list item(s) that are not JSON objects", path, len(items) - len(objects))
    return objects


def merge_requisition(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """The full body of a requisition PUT: the writable fields as read, overlaid with ``changes``."""
    body = {k: current[k] for k in REQUISITION_WRITABLE if current.get(k) is not None}
    for key, value in changes.items():
        if (
            key == "customFields"
            and isinstance(value, Mapping)
            and isinstance(body.get("customFields"), Mapping)
        ):
            body["customFields"] = {**body["customFields"], **value}
        else:
            body[key] = value
    return body


def _closing_alternative(body: Mapping[str, Any], error: str) -> dict[str, Any] | None:
    """The docs spell the closing HTML ``closingHtml`` and (in one example) ``closingPostingHtml``."""
    content = body.get("content")
    if not isinstance(content, Mapping) or "closing" not in error.lower():
        return None
    for have, other in (("closingHtml", "closingPostingHtml"), ("closingPostingHtml", "closingHtml")):
        if have in content:
            swapped = {other if k == have else k: v for k, v in content.items()}
            return {**body, "content": swapped}
    return None


def build_api(
    base_url: str,
    *,
    connector: str,
    limiter: RateLimiter,
    api_key: str | None = None,
    tokens: TokenProvider | None = None,
    **http: Any,
) -> ApiClient:
    """The shared :class:`ApiClient` (``http``: its options): Basic auth with the key (empty password) or
    bearer tokens."""
    if (api_key is None) == (tokens is None):
        raise ValueError("give exactly one of api_key or tokens")
    auth = None
    if api_key is not None:
        register_secret(api_key)
        auth = requests.auth.HTTPBasicAuth(api_key, "")
    api = ApiClient(
        base_url,
        connector=connector,
        tokens=tokens,
        auth=auth,
        limiter=limiter,
        error_mapper=lever_error,
        **http,
    )
    api.session.headers["Accept"] = "application/json"
    return api
