"""The HTTP layer every connector shares.

* one ``requests.Session`` per connector, explicit connect/read timeouts;
* a rate limiter fed by the vendor's headers (:class:`HeaderRateLimiter`) or a client-side token
  bucket for vendors that send none (:class:`TokenBucket`); both are thread-safe;
* tenacity retries: 429 always (the vendor did not process the request), 5xx and transport errors
  only for idempotent requests, or for writes that provably never left this machine (connection
  refused).  ``Retry-After`` is honoured in seconds, as an HTTP date, or as an epoch when huge;
* typed errors from :mod:`syncbridge.errors`;
* paginators as generators.

Writes are never retried blindly: a 5xx or a broken connection after sending raises, and the applier
reconciles through the ledger (see ``docs/architecture.md``).
"""

from __future__ import annotations

import datetime
import email.utils
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urljoin

import orjson
import requests
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from syncbridge import writes
from syncbridge.errors import (
    ApiError,
    AuthError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    TransportError,
)
from syncbridge.redact import redact

log = logging.getLogger("syncbridge.http")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
MAX_RETRY_AFTER = 600.0  # never wait longer than this on one Retry-After (client and limiter alike)


# --- rate limiting ---------------------------------------------------------------------------------


class RateLimiter:
    """Interface: ``acquire()`` before a request, ``observe(response)`` after it."""

    def acquire(self) -> None:  # pragma: no cover - interface
        pass

    def observe(self, response: requests.Response) -> None:  # pragma: no cover - interface
        pass

    def penalize(self, seconds: float) -> None:  # pragma: no cover - interface
        pass


class HeaderRateLimiter(RateLimiter):
    """Follows ``X-RateLimit-Limit/Remaining/Reset`` (Reset = UTC epoch seconds).

    Between responses the remaining budget is counted down locally, so several threads sharing one
    limiter do not all spend the last unit.  When the budget is gone it sleeps until the window
    resets (plus ``margin`` for clock skew).
    """

    def __init__(
        self,
        *,
        margin: float = 0.2,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._lock = threading.Lock()
        self._remaining: int | None = None
        self._reset_at: float | None = None
        self._blocked_until = 0.0
        self.margin = margin
        self._clock = clock
        self._sleep = sleep
        self.waited = 0.0

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                wait = 0.0
                if self._blocked_until > now:
                    wait = self._blocked_until - now
                elif self._remaining is not None and self._remaining <= 0 and self._reset_at is not None:
                    if self._reset_at + self.margin > now:
                        wait = self._reset_at + self.margin - now
                    else:
                        self._remaining = None  # window is over: trust the next response
                if wait <= 0:
                    if self._remaining is not None:
                        self._remaining -= 1
                    return
            self.waited += wait
            self._sleep(wait)

    def observe(self, response: requests.Response) -> None:
        h = response.headers
        remaining, reset = h.get("X-RateLimit-Remaining"), h.get("X-RateLimit-Reset")
        if remaining is None:
            return
        with self._lock:
            try:
                self._remaining = int(float(remaining))
                self._reset_at = float(reset) if reset is not None else self._clock() + 1.0
            except ValueError:
                log.debug("unparseable rate-limit headers ignored")

    def penalize(self, seconds: float) -> None:
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + seconds)


class TokenBucket(RateLimiter):
    """Client-side pacing for vendors without rate-limit headers (Lever: 10 rps documented)."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate, self.burst = rate, burst
        self._tokens = float(burst)
        self._clock, self._sleep = clock, sleep
        self._last = clock()
        self._lock = threading.Lock()
        self._blocked_until = 0.0
        self.waited = 0.0

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._blocked_until > now:
                    wait = self._blocked_until - now
                elif self._tokens >= 1:
                    self._tokens -= 1
                    return
                else:
                    wait = (1 - self._tokens) / self.rate
            self.waited += wait
            self._sleep(wait)

    def observe(self, response: requests.Response) -> None:
        return None

    def penalize(self, seconds: float) -> None:
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + seconds)
            self._tokens = 0


# --- errors ------------------------------------------------------------------------------------------


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: seconds, an HTTP date, or an epoch timestamp."""
    if not value:
        return None
    now = time.time() if now is None else now
    value = value.strip()
    try:
        number = float(value)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if parsed.tzinfo is None:  # asctime / "-0000" forms: HTTP dates are always GMT
            parsed = parsed.replace(tzinfo=datetime.UTC)
        return max(0.0, parsed.timestamp() - now)
    if not math.isfinite(number):
        return None  # "inf"/"nan" parse as floats but are no wait at all
    if number > 1_000_000_000:  # an epoch, not a duration
        return max(0.0, number - now)
    return max(0.0, number)


def _body_messages(body: Any) -> tuple[str | None, list[str]]:
    """Pull a message and details out of the common JSON error shapes."""
    if not isinstance(body, dict):
        return None, []
    message = body.get("message") or body.get("error_description") or body.get("error")
    details: list[str] = []
    errors = body.get("errors")
    if isinstance(errors, list):
        for item in errors:
            if isinstance(item, dict):
                details.extend(f"{k}: {v}" for k, v in item.items())
            else:
                details.append(str(item))
    elif isinstance(errors, dict):
        details.extend(f"{k}: {v}" for k, v in errors.items())
    return (str(message) if message else None), details


def error_from_response(response: requests.Response, connector: str | None = None) -> ApiError:
    """Map an HTTP error response to the typed hierarchy (the default table; connectors may wrap it)."""
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text[:500]
    message, details = _body_messages(body)
    status = response.status_code
    message = message or response.reason or f"HTTP {status}"
    kw: dict[str, Any] = {
        "status": status,
        "connector": connector,
        "details": details,
        "body": body if isinstance(body, dict) else None,
        "request_id": response.headers.get("X-Request-Id") or response.headers.get("Request-Id"),
        "retry_after": parse_retry_after(response.headers.get("Retry-After")),
    }
    if status == 401:
        return AuthError(message, **kw)
    if status == 403:
        return PermissionDenied(message, **kw)
    if status == 404:
        return NotFound(message, **kw)
    if status == 429:
        return RateLimited(message, **kw)
    if status >= 500:
        return ServerError(message, **kw)
    return InvalidRequest(message, **kw)


# --- the client ---------------------------------------------------------------------------------------


class TokenProvider:
    """Supplies bearer tokens; ``invalidate()`` forces a new one (called once on a 401)."""

    def token(self) -> str:  # pragma: no cover - interface
        raise NotImplementedError

    def invalidate(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class ApiClient:
    """A small, strict HTTP client: one session, timeouts, limiter, retries and typed errors."""

    def __init__(
        self,
        base_url: str,
        *,
        connector: str,
        tokens: TokenProvider | None = None,
        auth: requests.auth.AuthBase | None = None,
        limiter: RateLimiter | None = None,
        timeout: tuple[float, float] = (5.0, 60.0),
        max_attempts: int = 6,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        user_agent: str = "syncbridge/0.1",
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        error_mapper: Callable[[requests.Response, str | None], ApiError] = error_from_response,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.connector = connector
        self.tokens = tokens
        self.auth = auth
        self.limiter = limiter or RateLimiter()
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.session = session or requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=8, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = user_agent
        self._sleep = sleep
        self._map_error = error_mapper
        self.stats = {"requests": 0, "retries": 0, "rate_limited": 0}

    def url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return urljoin(self.base_url, path_or_url.lstrip("/"))

    # -- one attempt
    def _send_once(
        self, method: str, url: str, *, refreshed: list[bool], write: bool = False, **kw: Any
    ) -> requests.Response:
        self.limiter.acquire()
        original_headers = kw.pop("headers", None)
        headers = dict(original_headers or {})
        if self.tokens is not None:
            headers["Authorization"] = f"Bearer {self.tokens.token()}"
        started = time.monotonic()
        try:
            response = self.session.request(
                method, url, headers=headers, auth=self.auth, timeout=self.timeout, **kw
            )
        except requests.exceptions.ConnectTimeout as exc:
            raise TransportError(
                f"connect timeout: {exc.__class__.__name__}", sent=False, connector=self.connector
            ) from exc
        except requests.exceptions.ConnectionError as exc:
            # a refused connection never carried the request; a reset/aborted one may have
            text = str(exc)
            sent = not any(
                s in text
                for s in (
                    "Connection refused",
                    "NewConnectionError",
                    "Name or service not known",
                    "Failed to resolve",
                )
            )
            if sent and write:
                writes.sent()
            raise TransportError(
                f"connection error: {exc.__class__.__name__}", sent=sent, connector=self.connector
            ) from exc
        except requests.exceptions.Timeout as exc:
            if write:
                writes.sent()
            raise TransportError("read timeout", sent=True, connector=self.connector) from exc
        if write and response.status_code != 429:  # a 429 was not processed
            writes.sent()
        self.stats["requests"] += 1
        self.limiter.observe(response)
        log.debug(
            "%s %s -> %s in %.0f ms",
            method,
            _path_only(url),
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        if response.status_code == 401 and self.tokens is not None and not refreshed[0]:
            refreshed[0] = True
            self.tokens.invalidate()
            return self._send_once(
                method, url, refreshed=refreshed, write=write, headers=original_headers, **kw
            )
        if response.status_code >= 400:
            error = self._map_error(response, self.connector)
            if isinstance(error, RateLimited):
                self.stats["rate_limited"] += 1
                wait = error.retry_after if error.retry_after is not None else 1.0
                self.limiter.penalize(min(wait, MAX_RETRY_AFTER))
            raise error
        return response

    def _should_retry(self, method: str, idempotent: bool | None) -> Callable[[BaseException], bool]:
        safe = method.upper() in IDEMPOTENT_METHODS if idempotent is None else idempotent

        def decide(exc: BaseException) -> bool:
            if isinstance(exc, RateLimited):
                return True
            if isinstance(exc, TransportError):
                return safe or not exc.sent
            if isinstance(exc, ServerError):
                return safe
            return False

        return decide

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, ApiError) and exc.retry_after is not None:
            return min(exc.retry_after, MAX_RETRY_AFTER) + random.uniform(0, 0.25)
        exp = min(self.backoff_max, self.backoff_base * 2 ** (state.attempt_number - 1))
        return random.uniform(exp / 2, exp)

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        write: bool | None = None,
    ) -> requests.Response:
        """Send one logical request (with retries where safe) and return the successful response.

        ``write`` says whether the request may change the vendor's data (default: any method but GET and
        HEAD); each one sent is counted in :mod:`syncbridge.writes`.  Token requests pass False."""
        url = self.url(path_or_url)
        changes = method.upper() not in ("GET", "HEAD", "OPTIONS") if write is None else write

        def before_sleep(state: RetryCallState) -> None:
            self.stats["retries"] += 1
            exc = state.outcome.exception() if state.outcome else None
            log.info(
                "retrying %s %s after %s (attempt %d)",
                method,
                _path_only(url),
                redact(exc),
                state.attempt_number,
            )

        retrying = Retrying(
            retry=retry_if_exception(self._should_retry(method, idempotent)),
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            sleep=self._sleep,
            reraise=True,
            before_sleep=before_sleep,
        )
        kw: dict[str, Any] = {"params": params, "json": json, "data": data, "headers": headers}
        for attempt in retrying:
            with attempt:
                return self._send_once(method.upper(), url, refreshed=[False], write=changes, **kw)
        raise AssertionError("unreachable")  # pragma: no cover

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return response_json(self.request("GET", path, params=params))

    def send_json(self, method: str, path: str, body: Any, *, idempotent: bool | None = None) -> Any:
        response = self.request(method, path, json=body, idempotent=idempotent)
        if response.status_code == 204 or not response.content:
            return None
        return response_json(response)

    def paginate_link(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[list[Any]]:
        """Pages of a list endpoint paginated by ``Link: <url>; rel="next"``.

        Filters go on the first request only; every next page is fetched from the URL exactly as the
        vendor gave it (Greenhouse v3 refuses a cursor with any other query parameter).
        """
        response = self.request("GET", path, params=params)
        while True:
            page = response_json(response)
            if not isinstance(page, list):
                raise InvalidRequest(
                    f"expected a JSON array from {_path_only(response.url)}",
                    connector=self.connector,
                    status=response.status_code,
                )
            yield page
            next_url = response.links.get("next", {}).get("url")
            if not next_url:
                return
            response = self.request("GET", next_url)

    def close(self) -> None:
        self.session.close()


def response_json(response: requests.Response) -> Any:
    """The response body parsed as JSON: orjson (a large page parses 3-4 times faster than with the
    standard library, and that was the largest single part of a sync's client CPU), falling back to
    ``response.json()`` for what orjson refuses (``NaN``, an empty body: the same error as before).  One
    difference is accepted: an integer wider than 64 bits parses as a float (no vendor id is that wide)."""
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.json()


def _path_only(url: str) -> str:
    """A URL without its query string (queries can hold e-mail filters and cursors)."""
    return url.split("?", 1)[0]


__all__ = [
    "ApiClient",
    "AuthError",
    "HeaderRateLimiter",
    "InvalidRequest",
    "NotFound",
    "PermissionDenied",
    "RateLimited",
    "RateLimiter",
    "ServerError",
    "TokenBucket",
    "TokenProvider",
    "TransportError",
    "error_from_response",
    "parse_retry_after",
    "response_json",
]
