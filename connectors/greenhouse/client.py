"""Greenhouse Harvest v3 transport: the OAuth client-credentials token and the API client.

Facts (Greenhouse's Harvest v3 documentation): ``POST {token_url}`` with HTTP Basic client credentials and a
form body ``grant_type=client_credentials&sub=<user id>``; tokens last an hour; the success body has
``expires_at`` (ISO-8601) according to most live clients and ``expires_in`` according to one reading of
the reference, so both are accepted.  Every resource call carries ``Authorization: Bearer``; list pages
follow the ``Link`` header; rate-limit headers drive the limiter.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import requests

from syncbridge.errors import AuthError, InvalidRequest, RateLimited, ServerError
from syncbridge.http import (
    DEFAULT_MAX_PAGES,
    DEFAULT_RETRY_DEADLINE,
    ApiClient,
    HeaderRateLimiter,
    TokenProvider,
    content_type,
    error_from_response,
    safe_url,
    token_endpoint_error,
)
from syncbridge.redact import register_secret

REFRESH_EARLY_SECONDS = 60
DEFAULT_TTL_SECONDS = 3600


def parse_expiry(body: dict[str, Any], *, now: float) -> float:
    """Epoch seconds at which the token expires, from ``expires_at`` or ``expires_in`` (else 1 h)."""
    raw = body.get("expires_at")
    if isinstance(raw, str) and raw:
        text = raw.strip().replace("Z", "+00:00")
        # "+0000" (no colon) is what some live tokens carry
        if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
            text = text[:-2] + ":" + text[-2:]
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            pass
        else:  # a timestamp without an offset is UTC, like every Greenhouse timestamp
            return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    if isinstance(raw, int | float) and raw > 1_000_000_000:
        return float(raw)
    expires_in = body.get("expires_in")
    try:
        if expires_in is not None:
            return now + float(expires_in)
    except (TypeError, ValueError):
        pass
    return now + DEFAULT_TTL_SECONDS


class GreenhouseTokens(TokenProvider):
    """Caches one token per (client id, sub); refreshes 60 s before expiry and on demand."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        sub: int | None = None,
        connector: str = "greenhouse",
        timeout: tuple[float, float] = (5.0, 30.0),
        retry_deadline: float | None = DEFAULT_RETRY_DEADLINE,
        max_attempts: int = 4,
        clock: Any = time.time,
        sleep: Any = time.sleep,
    ) -> None:
        register_secret(client_secret)
        self._url = token_url
        self._client_id = client_id
        self._secret = client_secret
        self._sub = sub
        self._connector = connector
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires = 0.0
        self.issued = 0
        self._http = ApiClient(
            token_url,
            connector=connector,
            timeout=timeout,
            max_attempts=max_attempts,
            retry_deadline=retry_deadline,
            sleep=sleep,
            error_mapper=self._token_error,
        )

    def _token_error(self, response: requests.Response, connector: str | None) -> Any:
        error = error_from_response(response, connector)
        if isinstance(error, RateLimited | ServerError):
            return error  # the token endpoint's own 429/5xx stay retryable, whatever the body says
        # the token endpoint answers bad credentials with 400/401 and either {"message"} or RFC 6749
        if response.status_code in (400, 401) or (error.body or {}).get("error"):
            msg = error.message.replace(self._client_id, "<client_id>")
            return AuthError(
                f"token request refused: {msg}", status=response.status_code, connector=connector
            )
        return token_endpoint_error(error, self._url)

    def token(self) -> str:
        with self._lock:
            if self._token is None or self._clock() >= self._expires - REFRESH_EARLY_SECONDS:
                self._fetch()
            assert self._token is not None
            return self._token

    def invalidate(self) -> None:
        with self._lock:
            self._token = None

    def _fetch(self) -> None:
        form = {"grant_type": "client_credentials"}
        if self._sub is not None:
            form["sub"] = str(self._sub)
        self._http.auth = requests.auth.HTTPBasicAuth(self._client_id, self._secret)
        response = self._http.request("POST", self._url, data=form, idempotent=True, write=False)
        try:
            body = response.json()
        except (ValueError, RecursionError):
            raise AuthError(
                f"token endpoint {safe_url(self._url)} did not answer JSON ({content_type(response)}): "
                "check token_url",
                connector=self._connector,
            ) from None
        token = body.get("access_token") if isinstance(body, dict) else None
        if not token:
            raise InvalidRequest("token response has no access_token", connector=self._connector)
        register_secret(token)
        self._token = token
        self._expires = parse_expiry(body, now=self._clock())
        self.issued += 1


def build_client(
    *,
    base_url: str,
    token_url: str,
    client_id: str,
    client_secret: str,
    sub: int | None,
    connector: str,
    timeout: tuple[float, float] = (5.0, 60.0),
    max_attempts: int = 6,
    retry_deadline: float | None = DEFAULT_RETRY_DEADLINE,
    max_pages: int = DEFAULT_MAX_PAGES,
    sleep: Any = time.sleep,
) -> ApiClient:
    tokens = GreenhouseTokens(
        token_url,
        client_id,
        client_secret,
        sub=sub,
        connector=connector,
        retry_deadline=retry_deadline,
        max_attempts=max_attempts,  # the same budget as the API's, so error messages state the setting
        sleep=sleep,
    )
    return ApiClient(
        base_url,
        connector=connector,
        tokens=tokens,
        limiter=HeaderRateLimiter(),
        timeout=timeout,
        max_attempts=max_attempts,
        retry_deadline=retry_deadline,
        max_pages=max_pages,
        sleep=sleep,
    )
