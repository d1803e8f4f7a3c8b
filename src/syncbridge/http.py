"""The HTTP layer every connector shares.

* one ``requests.Session`` per connector, explicit connect/read timeouts;
* a rate limiter fed by the vendor's headers (:class:`HeaderRateLimiter`) or a client-side token
  bucket for vendors that send none (:class:`TokenBucket`); both are thread-safe;
* tenacity retries: 429 always (the vendor did not process the request), 5xx and transport errors
  only for idempotent requests, or for writes that provably never left this machine (connection
  refused).  ``Retry-After`` is honoured in seconds, as an HTTP date, or as an epoch when huge;
* typed errors from :mod:`syncbridge.errors`;
* paginators (:class:`LinkPaginator`, :class:`OffsetTokenPaginator`, :class:`PageNumberPaginator`), each
  guarded by a :class:`PageGuard` (a repeated page position or more than ``max_pages`` pages stops the
  listing with :class:`PaginationError`);
* OAuth2 bearer tokens (:class:`OAuth2Tokens`: client credentials, or a refresh token the endpoint
  rotates, kept in the connector's state store);
* :class:`HttpSettings`, the transport settings every connector block carries;
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
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Generic, Protocol, TypeVar
from urllib.parse import urljoin, urlsplit

import orjson
import requests
from pydantic import BaseModel, ConfigDict, Field
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
from syncbridge.redact import redact, register_secret

if TYPE_CHECKING:
    from syncbridge.connector import StateStore

log = logging.getLogger("syncbridge.http")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
MAX_RETRY_AFTER = 600.0  # never wait longer than this on one Retry-After (client and limiter alike)
DEFAULT_MAX_PAGES = 10_000  # a listing longer than this is a runaway paginator (settings: max_pages)
DEFAULT_RETRY_DEADLINE = 60.0  # seconds one logical request may spend retrying (retry_deadline_seconds)
TOKEN_READ_TIMEOUT = 60.0  # a token endpoint answers at once: an API's long read timeout is not for it


# --- settings ------------------------------------------------------------------------------------------

#: the transport settings whose defaults differ by vendor (a connector's settings redeclare the default only)
ConnectTimeout = Annotated[float, Field(gt=0, description="seconds to wait for a connection")]
ReadTimeout = Annotated[float, Field(gt=0, description="seconds to wait for an answer")]
MaxAttempts = Annotated[int, Field(ge=1, le=20, description="tries per request where a retry is safe")]


class HttpSettings(BaseModel):
    """The transport settings of a connector block: flat keys (``connect_timeout: 5``) next to the vendor's
    own, inherited by every connector's settings through ``ConnectorSettings``."""

    # allow_inf_nan: `.inf`/`.nan` in YAML are floats that pass gt=0 checks but mean nothing here
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    connect_timeout: ConnectTimeout = 5.0
    read_timeout: ReadTimeout = 60.0
    max_attempts: MaxAttempts = 6
    backoff_base: float = Field(
        default=0.5, gt=0, le=60, description="seconds before the first retry (doubled per attempt, jittered)"
    )
    retry_deadline_seconds: float = Field(
        default=DEFAULT_RETRY_DEADLINE,
        gt=0,
        le=3600,
        description="most seconds one request may spend on retries after failures (with max_attempts)",
    )
    # guards against a misbehaving vendor (docs/security.md, "Untrusted vendor responses")
    max_pages: int = Field(
        default=DEFAULT_MAX_PAGES,
        ge=1,
        description="most pages one listing may have; more stops it as a runaway loop",
    )

    def http_options(self) -> dict[str, Any]:
        """These settings as :class:`ApiClient` keyword arguments (token providers take them too)."""
        return {
            "timeout": (self.connect_timeout, self.read_timeout),
            "max_attempts": self.max_attempts,
            "backoff_base": self.backoff_base,
            "retry_deadline": self.retry_deadline_seconds,
            "max_pages": self.max_pages,
        }


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
        self.also(*positions)

    def also(self, *positions: Hashable) -> None:
        """More positions of the page last visited, known once it is read (the URL it came from, a
        fingerprint of its records); one the same page already has is no loop."""
        for position in positions:
            key = hashlib.blake2b(repr(position).encode(), digest_size=12).digest()
            first = self._seen.setdefault(key, self.pages)
            if first != self.pages:
                raise PaginationError(
                    f"{self.what}: the vendor's page {self.pages} points back to page {first} already "
                    "read (a pagination loop); stopped instead of reading it again",
                    connector=self.connector,
                )

    def restart(self) -> None:
        """Forget the positions (a listing deliberately read again from its start) but keep counting."""
        self._seen.clear()


# --- paginators ----------------------------------------------------------------------------------------

Answer = TypeVar("Answer")


class Paginator(ABC, Generic[Answer]):
    """Walks one listing page by page: where the first page is, and where the next one is from each answer.

    The caller supplies ``fetch(position)`` (one request for the page at ``position``); :meth:`pages` calls
    it from :attr:`start` on, following :meth:`next_position` until there is none.  Every page goes
    through the listing's :class:`PageGuard`: its position before it is requested (a position already
    read is never requested again), and what :meth:`answered` tells about the answer right after, before
    the page is yielded (a loop is stopped before its records are used twice).  :attr:`position` is the
    position of the page being read, for a caller that handles a vendor's refusal of it.
    """

    #: the position of the first page
    start: ClassVar[Any] = None

    def __init__(self, connector: str | None, what: str, *, max_pages: int = DEFAULT_MAX_PAGES) -> None:
        self.guard = PageGuard(connector, what, max_pages=max_pages)
        self.position: Any = self.start

    def pages(self, fetch: Callable[[Any], Answer]) -> Iterator[Answer]:
        """The answers, page by page.  Called again, it reads the listing again from the first page (a
        vendor refused a position): the positions read before are forgotten, the page count goes on, so
        ``max_pages`` bounds every pass together."""
        self.guard.restart()
        self.position = self.start
        while True:
            self.guard.visit(self.position)
            answer = fetch(self.position)
            self.guard.also(*self.answered(answer))
            yield answer
            following = self.next_position(answer)
            if following is None:
                return
            self.position = following

    def answered(self, answer: Answer) -> Sequence[Hashable]:
        """Positions of the page read, known from its answer (none by default)."""
        return ()

    @abstractmethod
    def next_position(self, answer: Answer) -> Any:
        """The position of the page after the one ``answer`` holds; ``None`` after the last page."""


class LinkPaginator(Paginator[requests.Response]):
    """``Link: <url>; rel="next"`` (Greenhouse v3 cursors): positions are URLs, the first page's is ``None``
    (the caller's path and filters).  The next page is read from the URL exactly as the vendor gave it,
    never with other parameters (a Greenhouse v3 cursor refuses them), and only on the same origin (the
    credentials go with every request) and the same endpoint (another endpoint's records would be mapped
    as this listing's).  A page is also known by the URL it was actually read from."""

    def __init__(self, client: ApiClient, what: str) -> None:
        super().__init__(client.connector, what, max_pages=client.max_pages)
        self.client = client

    def answered(self, answer: requests.Response) -> Sequence[Hashable]:
        return (answer.url,)

    def next_position(self, answer: requests.Response) -> str | None:
        try:
            next_url = answer.links.get("next", {}).get("url")
        except (ValueError, TypeError, AttributeError):  # a malformed Link header is no next page
            next_url = None
        if not next_url:
            return None
        next_url = self.client.url(next_url)
        here = urlsplit(answer.url).path
        if _origin(next_url) != _origin(answer.url):
            raise UnexpectedResponse(
                f"{here}: the next-page link points to another origin ({_origin(next_url)}); refused, so "
                "the credentials are not sent there",
                connector=self.client.connector,
            )
        if urlsplit(next_url).path.rstrip("/") != here.rstrip("/"):
            raise UnexpectedResponse(
                f"{here}: the next-page link points to another endpoint ({urlsplit(next_url).path}); refused",
                connector=self.client.connector,
            )
        return next_url


class OffsetTokenPaginator(Paginator[tuple[list[Any], str | None]]):
    """An opaque offset token (Lever's ``next`` while ``hasNext``): positions are tokens, the first page's
    is ``None``, and each answer is ``(items, the next token or None)``.  A token is valid only for the
    query that produced it, so the caller keeps every other parameter identical between pages; a vendor
    that refuses a token is the caller's to handle (:attr:`position` says which page was refused)."""

    def next_position(self, answer: tuple[list[Any], str | None]) -> str | None:
        return answer[1]


class PageNumbers(Protocol):
    """The page an answer says it is, and how many there are."""

    @property
    def page(self) -> int: ...

    @property
    def total_pages(self) -> int: ...


Numbers = TypeVar("Numbers", bound=PageNumbers)
Records = TypeVar("Records", bound=Sequence[Any])


class PageNumberPaginator(Paginator[tuple[Numbers, Records]]):
    """Numbered pages (Workday's ``Get_*`` with ``Page``/``Total_Pages``): positions are page numbers from 1,
    each answer is ``(its page numbers, its records)``, and the walk goes on while the page read is before
    the last one.  The client drives the page number, so a server that ignores it and answers the same
    page again is recognised by content: a non-empty page whose records are exactly an earlier page's."""

    start = 1

    def answered(self, answer: tuple[Numbers, Records]) -> Sequence[Hashable]:
        return (repr(answer[1]),) if answer[1] else ()

    def next_position(self, answer: tuple[Numbers, Records]) -> int | None:
        current = max(self.position, answer[0].page)
        return current + 1 if current < answer[0].total_pages else None


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
        except requests.exceptions.RequestException as exc:
            # sent, but the answer is lost (a read timeout; or cut off, bad chunking or content encoding, a
            # body where none may be, too many redirects...): a write may have been applied
            if write:
                writes.sent()
            where, path = host_port(url), urlsplit(url).path or "/"
            problem = (
                f"no answer from {where} to {method} {path} within {self.timeout[1]:g} s (read timeout)"
                if isinstance(exc, requests.exceptions.Timeout)
                else f"the answer from {where} to {method} {path} could not be read ({type(exc).__name__})"
            )
            raise TransportError(problem, sent=True, connector=self.connector) from exc
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
        """Pages (JSON arrays) of a list endpoint paginated by ``Link: <url>; rel="next"``
        (:class:`LinkPaginator`): filters go on the first request only."""

        def fetch(next_url: str | None) -> requests.Response:
            return self.request("GET", next_url or path, params=None if next_url else params)

        for response in LinkPaginator(self, _path_only(path)).pages(fetch):
            page = self.decode_json(response)
            if not isinstance(page, list):
                raise UnexpectedResponse(
                    f"expected a JSON array from {urlsplit(response.url).path}, got {_json_kind(page)}",
                    connector=self.connector,
                    status=response.status_code,
                )
            yield page

    def close(self) -> None:
        self.session.close()


# --- OAuth2 bearer tokens --------------------------------------------------------------------------------

DEFAULT_TOKEN_TTL = 3600.0  # seconds, when a token answer says nothing about its expiry


def parse_expiry(body: Mapping[str, Any], *, now: float) -> float:
    """Epoch seconds at which a token expires: ``expires_at`` (ISO-8601, with or without a UTC offset, or an
    epoch), else ``expires_in`` seconds (a positive number), else an hour."""
    raw = body.get("expires_at")
    if isinstance(raw, str) and raw:
        text = raw.strip().replace("Z", "+00:00")
        # "+0000" (no colon) is what some live tokens carry
        if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
            text = text[:-2] + ":" + text[-2:]
        try:
            parsed = datetime.datetime.fromisoformat(text)
        except ValueError:
            pass
        else:  # a timestamp without an offset is UTC
            return (parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)).timestamp()
    if isinstance(raw, int | float) and raw > 1_000_000_000:
        return float(raw)
    try:
        expires_in = float(body.get("expires_in") or 0)
    except (TypeError, ValueError):
        expires_in = 0.0
    return now + (expires_in if 0 < expires_in < math.inf else DEFAULT_TOKEN_TTL)


class OAuth2Tokens(TokenProvider, ABC):
    """Bearer tokens from an OAuth2 token endpoint: one cached token, asked for again ``refresh_early``
    seconds before it expires (:func:`parse_expiry`) and after :meth:`invalidate` (which
    :class:`ApiClient` calls once on a 401).

    The endpoint has its own :class:`ApiClient` (``http``: the connector's transport options) with the
    connector's retry budget and a read timeout of at most :data:`TOKEN_READ_TIMEOUT`; a failure there is
    final (the API's client does not retry it again).  Its 429 and 5xx stay retryable; a refusal (a status
    in ``refused_statuses``, or an RFC 6749 ``error`` body) becomes the :class:`AuthError` of
    :meth:`refused`; anything else names the endpoint and the setting to check.  Subclasses implement
    :meth:`grant`.
    """

    refresh_early: ClassVar[float] = 60.0
    refused_statuses: ClassVar[tuple[int, ...]] = (400, 401)
    #: whether a grant may be sent again after a 5xx or a broken connection
    idempotent_grant: ClassVar[bool] = True
    #: the setting an operator checks when the endpoint answers something else than tokens
    endpoint_setting: ClassVar[str] = "token_url"

    def __init__(
        self, token_url: str, *, connector: str, clock: Callable[[], float] = time.time, **http: Any
    ) -> None:
        self.token_url = token_url
        self.connector = connector
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires = 0.0
        self.issued = 0
        connect, read = http.pop("timeout", (5.0, TOKEN_READ_TIMEOUT))
        http.setdefault("max_attempts", 4)
        self._http = ApiClient(
            token_url,
            connector=connector,
            timeout=(connect, min(read, TOKEN_READ_TIMEOUT)),
            error_mapper=self._token_error,
            **http,
        )

    def token(self) -> str:
        with self._lock:
            if self._token is None or self._clock() >= self._expires - self.refresh_early:
                body = self.grant()
                self._token = str(body["access_token"])
                register_secret(self._token)
                self._expires = parse_expiry(body, now=self._clock())
                self.issued += 1
            return self._token

    def invalidate(self) -> None:
        with self._lock:
            self._token = None

    @abstractmethod
    def grant(self) -> dict[str, Any]:
        """Ask the endpoint for a token (with :meth:`post`); its answer."""

    @abstractmethod
    def refused(self, error: ApiError, body: Mapping[str, Any]) -> AuthError:
        """The error for credentials the endpoint refused (``body``: its JSON answer, or empty)."""

    def post(self, form: Mapping[str, str]) -> dict[str, Any]:
        """POST a grant; the JSON answer, which holds an ``access_token``."""
        response = self._http.request(
            "POST", self.token_url, data=dict(form), idempotent=self.idempotent_grant, write=False
        )
        try:
            body = response.json()
        except (ValueError, RecursionError):
            raise AuthError(
                f"token endpoint {safe_url(self.token_url)} did not answer JSON ({content_type(response)}): "
                f"check {self.endpoint_setting}",
                connector=self.connector,
            ) from None
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthError("token response has no access_token", connector=self.connector)
        return body

    def _token_error(self, response: requests.Response, connector: str | None) -> ApiError:
        error = error_from_response(response, connector)
        if isinstance(error, RateLimited | ServerError):
            return error  # the endpoint's own 429/5xx stay retryable, whatever the body says
        body = error.body if isinstance(error.body, dict) else {}
        if response.status_code in self.refused_statuses or body.get("error"):
            return self.refused(error, body)
        return token_endpoint_error(error, self.token_url, self.endpoint_setting)

    def close(self) -> None:
        self._http.close()


class ClientCredentials(OAuth2Tokens):
    """``grant_type=client_credentials`` with the client id and secret as HTTP Basic credentials, plus the
    vendor's ``form`` fields."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        connector: str,
        form: Mapping[str, str] | None = None,
        **kw: Any,
    ) -> None:
        register_secret(client_secret)
        super().__init__(token_url, connector=connector, **kw)
        self.client_id = client_id
        self._form = {"grant_type": "client_credentials", **(form or {})}
        self._http.auth = requests.auth.HTTPBasicAuth(client_id, client_secret)

    def grant(self) -> dict[str, Any]:
        return self.post(self._form)


def fingerprint(secret: str) -> str:
    """A short, stable, non-reversible name for a secret (which refresh token a stored one descends from)."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


class RotatingRefreshToken(OAuth2Tokens):
    """``grant_type=refresh_token`` where the endpoint may answer with a new refresh token (and the used
    one may stop working).

    A rotated token is written to the connector's :class:`~syncbridge.connector.StateStore` before the
    access token is used, tied to the *configured* token's :func:`fingerprint`: a restart goes on with the
    live one, and a newly configured token (an admin authorized again) starts afresh.  When a refresh is
    refused, the state is read once more (another process sharing it may have rotated the token
    meanwhile) before giving up.  Where the token is kept is :meth:`stored` / :meth:`keep`.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        *,
        state: StateStore,
        connector: str,
        **kw: Any,
    ) -> None:
        for secret in (client_secret, refresh_token):
            register_secret(secret)
        super().__init__(token_url, connector=connector, **kw)
        self._client_id = client_id
        self._client_secret = client_secret
        self._configured = refresh_token
        self._origin = fingerprint(refresh_token)
        self.state = state

    def stored(self) -> str | None:
        """The rotated refresh token kept for the configured one, if any."""
        return self.state.get(f"oauth.refresh_token.{self._origin}")

    def keep(self, refresh_token: str) -> None:
        self.state.set(f"oauth.refresh_token.{self._origin}", refresh_token)

    def current_refresh_token(self) -> str:
        kept = self.stored()
        if kept:
            register_secret(kept)
            return kept
        return self._configured

    def _post(self, refresh_token: str) -> dict[str, Any]:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": self._client_id,
            "client_secret": self._client_secret,
        }
        return self.post(form)

    def grant(self) -> dict[str, Any]:
        used = self.current_refresh_token()
        try:
            body = self._post(used)
        except AuthError:
            newer = self.current_refresh_token()
            if newer == used:
                raise
            used = newer
            body = self._post(used)
        rotated = body.get("refresh_token")
        if isinstance(rotated, str) and rotated and rotated != used:
            register_secret(rotated)
            self.keep(rotated)
            log.info("%s: refresh token rotated; the new one is kept in the state store", self.connector)
        return body


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
    "ClientCredentials",
    "HeaderRateLimiter",
    "HttpSettings",
    "InvalidRequest",
    "LinkPaginator",
    "NotFound",
    "OAuth2Tokens",
    "OffsetTokenPaginator",
    "PageGuard",
    "PageNumberPaginator",
    "PaginationError",
    "Paginator",
    "PermissionDenied",
    "RateLimited",
    "RateLimiter",
    "RotatingRefreshToken",
    "ServerError",
    "TokenBucket",
    "TokenProvider",
    "TransportError",
    "UnexpectedResponse",
    "error_from_response",
    "parse_retry_after",
    "response_json",
]
