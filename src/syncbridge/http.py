"""The HTTP layer every connector shares.

* one ``requests.Session`` per connector, explicit connect/read timeouts;
* a rate limiter fed by the vendor's headers (:class:`HeaderRateLimiter`) or a client-side token
  bucket for vendors that send none (:class:`TokenBucket`); both are thread-safe;
* tenacity retries: 429 always (the vendor did not process the request), 5xx and transport errors
  only for idempotent requests, or for writes that provably never left this machine (connection
  refused).  ``Retry-After`` is honoured in seconds, as an HTTP date, or as an epoch when huge;
* typed errors from :mod:`syncbridge.errors`;
* paginators as generators, each guarded by a :class:`PageGuard` (a repeated page position or more
  than ``max_pages`` pages stops the listing with :class:`PaginationError`);
* response bodies are untrusted: :meth:`ApiClient.decode_json` turns a body that is not JSON (an HTML
  error page from a proxy, a truncated or absurdly nested document) into one
  :class:`UnexpectedResponse` line naming the connector, the URL path and the content type.

Writes are never retried blindly: a 5xx or a broken connection after sending raises, and the applier
reconciles through the ledger (see ``docs/architecture.md``).
"""

from __future__ import annotations

import datetime
import email.utils
import hashlib
import json as jsonlib
import logging
import math
import random
import re
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import orjson
import requests
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_before_delay

from syncbridge import writes
from syncbridge.errors import (
    ApiError,
    AuthError,
    InvalidRequest,
    NotFound,
    PaginationError,
    PermissionDenied,
    RateLimited,
    ServerError,
    TransportError,
    UnexpectedResponse,
)
from syncbridge.redact import redact

log = logging.getLogger("syncbridge.http")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
MAX_RETRY_AFTER = 600.0  # never wait longer than this on one Retry-After (client and limiter alike)
DEFAULT_MAX_PAGES = 10_000  # a listing longer than this is a runaway paginator (settings: max_pages)
DEFAULT_RETRY_DEADLINE = 60.0  # seconds one logical request may spend retrying (retry_deadline_seconds)


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
                reset_at = float(reset) if reset is not None else math.nan
            except (ValueError, OverflowError):
                log.debug("unparseable rate-limit headers ignored")
                return
            now = self._clock()
            if not math.isfinite(reset_at) or reset_at > now + MAX_RETRY_AFTER:
                # a reset at infinity or years ahead made every later request sleep "until" then (a
                # hang); the documented windows are seconds long, so treat it as unknown: one second
                if reset is not None:
                    log.warning(
                        "implausible X-RateLimit-Reset ignored (more than %d s ahead)", MAX_RETRY_AFTER
                    )
                reset_at = now + 1.0
            self._reset_at = reset_at

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
    except (ValueError, RecursionError):  # not JSON, or nested deep enough to exhaust the stack
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


# --- untrusted responses -------------------------------------------------------------------------------


def safe_url(url: str) -> str:
    """``scheme://host[:port]/path`` of a URL: no user info, no query string, no fragment.

    URLs are not secrets and naming them makes errors actionable; query strings (e-mail filters, cursors,
    ``?api_key=``) and ``user:password@`` parts can be, so they are dropped."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return _path_only(url)
    if not parts.scheme or not host:
        return _path_only(url)
    return f"{parts.scheme}://{host}{port}{parts.path}"


def host_port(url: str) -> str:
    """``host:port`` of a URL (the scheme's default port when none is given)."""
    try:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme, 0)
        return f"{parts.hostname or '?'}:{port}"
    except ValueError:
        return "?"


def content_type(response: requests.Response) -> str:
    value = response.headers.get("Content-Type") or "no content type"
    return value.split(";", 1)[0].strip()[:80] or "no content type"


def token_endpoint_error(error: ApiError, url: str, setting: str = "token_url") -> ApiError:
    """An error from an OAuth token endpoint that names the endpoint (without query or user info): a
    wrong ``token_url`` used to say only ``HTTP 404: Resource not found``."""
    hint = f"; check {setting}" if isinstance(error, NotFound) or error.status in (405, 410) else ""
    error.message = f"token endpoint {safe_url(url)} answered: {error.message}{hint}"
    return error


class PageGuard:
    """Stops a paginator that loops or runs away; shared by every connector's paginator.

    ``visit(position)`` is called once per page with the position that page was read from (a ``Link``
    URL, an offset token, a page number, a fingerprint of the page's content...).  A position seen before
    in this listing means the vendor pointed back to a page already read: following it again would loop
    forever (a ``Link: rel=next`` back to the same cursor made 2,054 requests in 120 s), so the listing
    stops with :class:`PaginationError`.  More than ``max_pages`` pages is the second guard, for loops
    that never repeat a position exactly.  Positions are kept as short hashes, never as text, since
    cursors can embed filters.
    """

    def __init__(self, connector: str | None, what: str, *, max_pages: int = DEFAULT_MAX_PAGES) -> None:
        self.connector = connector
        self.what = what
        self.max_pages = max_pages
        self.pages = 0
        self._seen: dict[bytes, int] = {}

    def visit(self, *positions: Hashable) -> None:
        """Record one page, identified by one or more positions (any of them repeating is a loop)."""
        self.pages += 1
        if self.pages > self.max_pages:
            raise PaginationError(
                f"{self.what}: stopped after {self.max_pages} pages (max_pages); the vendor kept offering "
                "a next page. Raise max_pages in the connector's settings if the listing is really "
                "that long",
                connector=self.connector,
            )
        for position in positions:
            key = hashlib.blake2b(repr(position).encode(), digest_size=12).digest()
            first = self._seen.get(key)
            if first is not None:
                raise PaginationError(
                    f"{self.what}: the vendor's page {self.pages} points back to page {first} already "
                    "read (a pagination loop); stopped instead of reading it again",
                    connector=self.connector,
                )
            self._seen[key] = self.pages

    def restart(self) -> None:
        """Forget the positions (a listing deliberately read again from its start) but keep counting."""
        self._seen.clear()


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
        retry_deadline: float | None = DEFAULT_RETRY_DEADLINE,
        max_pages: int = DEFAULT_MAX_PAGES,
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
        self.retry_deadline = retry_deadline
        self.max_pages = max_pages
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
            try:
                headers["Authorization"] = f"Bearer {self.tokens.token()}"
            except ApiError as exc:
                # the token endpoint has its own client with its own retry policy: retrying here as well
                # multiplied the attempts (4 x 6 against a closed port took 28 s) and could resend a
                # single-use refresh token
                exc.final = True
                raise
        started = time.monotonic()
        try:
            response = self.session.request(
                method, url, headers=headers, auth=self.auth, timeout=self.timeout, **kw
            )
        except requests.exceptions.ConnectTimeout as exc:
            raise TransportError(
                f"cannot connect to {host_port(url)}: no answer within {self.timeout[0]:g} s "
                "(connect timeout)",
                sent=False,
                connector=self.connector,
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
                _connection_problem(exc, url, method), sent=sent, connector=self.connector
            ) from exc
        except requests.exceptions.Timeout as exc:
            if write:
                writes.sent()
            raise TransportError(
                f"no answer from {host_port(url)} to {method} {_path_only(urlsplit(url).path or '/')} within "
                f"{self.timeout[1]:g} s (read timeout)",
                sent=True,
                connector=self.connector,
            ) from exc
        except requests.exceptions.RequestException as exc:
            # the answer could not be read (cut off, bad chunking or content encoding, a body where none
            # may be, too many redirects...): the request was sent, so a write may have been applied
            if write:
                writes.sent()
            raise TransportError(
                f"the answer from {host_port(url)} to {method} {urlsplit(url).path or '/'} could not be read "
                f"({exc.__class__.__name__})",
                sent=True,
                connector=self.connector,
            ) from exc
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
            if isinstance(exc, ApiError) and exc.final:  # an inner client already spent its retries on it
                return False
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

        by_attempts = stop_after_attempt(self.max_attempts)
        by_deadline = stop_before_delay(self.retry_deadline) if self.retry_deadline is not None else None

        def stop(state: RetryCallState) -> bool:
            # the deadline bounds retries after failures (no new attempt or wait that would end past it);
            # a 429 is the vendor pacing us, bounded by max_attempts and MAX_RETRY_AFTER instead
            if by_attempts(state):
                return True
            exc = state.outcome.exception() if state.outcome else None
            return by_deadline is not None and not isinstance(exc, RateLimited) and by_deadline(state)

        retrying = Retrying(
            retry=retry_if_exception(self._should_retry(method, idempotent)),
            stop=stop,
            wait=self._wait,
            sleep=self._sleep,
            reraise=True,
            before_sleep=before_sleep,
        )
        kw: dict[str, Any] = {"params": params, "json": json, "data": data, "headers": headers}
        started = time.monotonic()
        attempts = 0
        try:
            for attempt in retrying:
                with attempt:
                    attempts += 1
                    return self._send_once(method.upper(), url, refreshed=[False], write=changes, **kw)
        except (TransportError, ServerError, RateLimited) as exc:
            if exc.final:
                raise  # already reported by the client that spent the retries (a token endpoint's)
            if attempts > 1 or isinstance(exc, TransportError):
                exc.message += (
                    f"; gave up after {attempts} attempt(s) in {time.monotonic() - started:.1f} s "
                    f"(retry budget: {self.retry_budget()})"
                )
            if attempts > 1:
                # the budget is spent: a flow's task retries must not multiply it (a refused connection
                # took 3 m 53 s inside a flow), so the error no longer counts as retryable
                exc.retryable = False
            exc.final = True
            raise
        raise AssertionError("unreachable")  # pragma: no cover

    def retry_budget(self) -> str:
        """The retry budget in words, for error messages (settings max_attempts, retry_deadline_seconds)."""
        deadline = f", {self.retry_deadline:g} s" if self.retry_deadline is not None else ""
        return f"max_attempts {self.max_attempts}{deadline}"

    def decode_json(self, response: requests.Response) -> Any:
        """The JSON body of a success response, or one :class:`UnexpectedResponse` line naming the
        connector, the URL path and the content type (never the body: it may hold personal data)."""
        try:
            return orjson.loads(response.content)  # fast path (see response_json)
        except orjson.JSONDecodeError:
            pass  # NaN/Infinity, nesting over orjson's limit, not JSON: the standard parser decides
        try:
            return jsonlib.loads(response.content)
        except (ValueError, RecursionError) as exc:
            why = "nested too deeply" if isinstance(exc, RecursionError) else "not JSON"
            if not response.content.strip():
                why = "empty, not JSON"
            raise UnexpectedResponse(
                f"{response.request.method if response.request else 'GET'} "
                f"{urlsplit(response.url or '').path or '?'} answered {content_type(response)} "
                f"({len(response.content)} bytes), {why}",
                status=response.status_code,
                connector=self.connector,
            ) from None

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.decode_json(self.request("GET", path, params=params))

    def send_json(self, method: str, path: str, body: Any, *, idempotent: bool | None = None) -> Any:
        response = self.request(method, path, json=body, idempotent=idempotent)
        if response.status_code == 204 or not response.content:
            return None
        return self.decode_json(response)

    def paginate_link(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[list[Any]]:
        """Pages of a list endpoint paginated by ``Link: <url>; rel="next"``.

        Filters go on the first request only; every next page is fetched from the URL exactly as the
        vendor gave it (Greenhouse v3 refuses a cursor with any other query parameter).  A next URL
        already read (a cursor pointing back) or more than ``max_pages`` pages stops the listing
        (:class:`PageGuard`).
        """
        guard = PageGuard(self.connector, _path_only(path), max_pages=self.max_pages)
        response = self.request("GET", path, params=params)
        guard.visit(response.url)
        while True:
            page = self.decode_json(response)
            if not isinstance(page, list):
                raise UnexpectedResponse(
                    f"expected a JSON array from {urlsplit(response.url).path}, got {_json_kind(page)}",
                    connector=self.connector,
                    status=response.status_code,
                )
            yield page
            try:
                next_url = response.links.get("next", {}).get("url")
            except (ValueError, TypeError, AttributeError):  # a malformed Link header is no next page
                next_url = None
            if not next_url:
                return
            next_url = self.url(next_url)
            if _origin(next_url) != _origin(response.url):
                # credentials go with every request: never follow a vendor's link to another origin
                raise UnexpectedResponse(
                    f"{urlsplit(response.url).path}: the next-page link points to another origin "
                    f"({_origin(next_url)}); refused, so the credentials are not sent there",
                    connector=self.connector,
                )
            if urlsplit(next_url).path.rstrip("/") != urlsplit(response.url).path.rstrip("/"):
                # a next page is more of the same list; another endpoint's records would be mapped as
                # this stream's (users read as candidates)
                raise UnexpectedResponse(
                    f"{urlsplit(response.url).path}: the next-page link points to another endpoint "
                    f"({urlsplit(next_url).path}); refused",
                    connector=self.connector,
                )
            guard.visit(next_url)
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


def _origin(url: str) -> str:
    """``scheme://host:port`` (default ports made explicit), for same-origin checks."""
    try:
        return f"{urlsplit(url).scheme.lower()}://{host_port(url).lower()}"
    except ValueError:
        return "?"


def _json_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if value is None:
        return "null"
    return f"a {type(value).__name__}"


_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\"()]{1,80})")


def _connection_problem(exc: requests.exceptions.ConnectionError, url: str, method: str) -> str:
    """One line: which host:port, and what went wrong, without the exception's repr soup."""
    text = str(exc)
    where = host_port(url)
    if isinstance(exc, requests.exceptions.SSLError):
        return f"TLS handshake with {where} failed (certificate or protocol problem)"
    if "Connection refused" in text:
        return f"cannot connect to {where}: connection refused"
    if "Name or service not known" in text or "Failed to resolve" in text or "nodename" in text:
        return f"cannot connect to {where}: host name not resolved"
    if "NewConnectionError" in text:
        found = _ERRNO.search(text)
        return f"cannot connect to {where}: {found.group(1).strip() if found else 'connection failed'}"
    return f"connection to {where} broken during {method} {urlsplit(url).path or '/'} (reset or closed)"


__all__ = [
    "ApiClient",
    "AuthError",
    "HeaderRateLimiter",
    "InvalidRequest",
    "NotFound",
    "PageGuard",
    "PaginationError",
    "PermissionDenied",
    "RateLimited",
    "RateLimiter",
    "ServerError",
    "TokenBucket",
    "TokenProvider",
    "TransportError",
    "UnexpectedResponse",
    "error_from_response",
    "parse_retry_after",
    "response_json",
]
