"""One vendor limit shared by many workers: a token bucket row in the state store.

Every process (Prefect worker, deployment, cron job) whose connector names the same
``shared_rate_limit.name`` takes its request budget from one row of ``sb_rate_limits``.  The row is
a token bucket (``tokens`` at ``updated``); a process takes tokens with **one** ``UPDATE … WHERE`` that
refills and debits in the same statement, so it is atomic on SQLite (one writer at a time) and on
PostgreSQL (the row lock, and the ``WHERE`` re-checked against the committed row) without a
read-modify-write race or an explicit lock.

Why the state store and not Prefect global concurrency limits (``rate_limit(..., strict=True)``):

* every process already has the store (it holds the ledger); the limit works the same for a plain
  ``syncbridge sync`` with no Prefect server, on SQLite and on PostgreSQL;
* a Prefect acquisition is one API call to the server per request and its slot decay is coarse (about a
  second), so at Greenhouse's pace it adds a server round trip to every vendor request and cannot hold a
  budget stated per a few seconds precisely; here a take is one small ``UPDATE`` and a process leases a
  few tokens at a time when the budget is large.

The guarantee.  With bucket capacity ``k`` (the lease) and refill rate ``r``, the tokens taken in any
interval of ``T`` seconds are at most ``k + r·T``.  A leased token that is not used within
``LEASE_TTL`` seconds of its take is thrown away, so the requests *sent* in any window of ``W`` seconds
used tokens taken within ``W + LEASE_TTL`` seconds: at most ``k + r·(W + LEASE_TTL)``.  The rate is
chosen so that this equals the vendor's ``requests`` per ``per_seconds``, for every alignment of the
vendor's window (fixed or sliding).  The cost is a little headroom: with Greenhouse's 50 per 10 s the
shared pace is 48 per 10.25 s, 0.94 of the limit.

Each process's own limiter (the vendor's ``X-RateLimit-*`` headers, or Lever's client-side bucket)
still runs first; a 429 that gets through anyway empties the shared bucket for its ``Retry-After``, so
every process backs off, not just the one that saw it.  Clocks are the processes' wall clocks (epoch
seconds): workers on several hosts need synchronised clocks (NTP), and a clock that lags never moves the
bucket's time backwards.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Engine, Float, case, literal, select, update
from sqlalchemy.exc import IntegrityError

from syncbridge.connector import Connector, SharedRateLimit
from syncbridge.errors import ConfigError
from syncbridge.http import ApiClient, RateLimiter
from syncbridge.store import Store, rate_limits

#: a leased token not used within this many seconds is dropped (it bounds how late a token is spent)
LEASE_TTL = 0.25


def lease_size(limit: SharedRateLimit) -> int:
    """Tokens taken per round trip: what the vendor's full pace allows within ``LEASE_TTL`` (so a busy
    process can use its lease before it expires), at most 1/20 of the budget.  That is 1 for every
    limit below 8 requests a second (one small ``UPDATE`` per request, nothing next to the request), more
    only for fast limits where a round trip per request would start to matter."""
    pace = int(limit.requests / limit.per_seconds * LEASE_TTL)
    return max(1, min(limit.requests // 20, pace))


def bucket_for(limit: SharedRateLimit) -> tuple[int, float]:
    """(capacity, refill rate per second) that keep every window of the vendor within its limit."""
    k = lease_size(limit)
    return k, (limit.requests - k) / (limit.per_seconds + LEASE_TTL)


class SharedLimiter(RateLimiter):
    """A :class:`~syncbridge.http.RateLimiter` that also takes each request's token from the shared
    bucket.  ``local`` (the connector's own limiter) is asked first, so a token is never held while
    the local limiter sleeps; thread-safe like the limiters it wraps."""

    def __init__(
        self,
        engine: Engine,
        limit: SharedRateLimit,
        *,
        local: RateLimiter | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.engine = engine
        self.name = limit.name
        self.capacity, self.rate = bucket_for(limit)
        self.local = local or RateLimiter()
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._held = 0
        self._held_until = 0.0
        self._created = False
        self.waited = 0.0
        self.round_trips = 0

    # -- the bucket row
    def _ensure_row(self, now: float) -> None:
        if self._created:
            return
        values: dict[str, Any] = {"name": self.name, "tokens": float(self.capacity), "updated": now}
        dialect = self.engine.dialect.name
        with self.engine.begin() as conn:
            from sqlalchemy.dialects import postgresql, sqlite  # the dialect in use only

            if dialect == "postgresql":
                conn.execute(postgresql.insert(rate_limits).values(**values).on_conflict_do_nothing())
            elif dialect == "sqlite":
                conn.execute(sqlite.insert(rate_limits).values(**values).on_conflict_do_nothing())
            else:  # pragma: no cover - the store supports SQLite and PostgreSQL only
                with contextlib.suppress(IntegrityError):
                    conn.execute(rate_limits.insert().values(**values))
        self._created = True

    def _take(self, now: float) -> float:
        """Take ``capacity`` tokens: 0.0 when taken, else the seconds until they will be there."""
        self._ensure_row(now)
        t = rate_limits.c
        at = literal(now, Float)
        refilled = t.tokens + (at - t.updated) * self.rate
        level = case(
            (t.updated >= at, t.tokens), (refilled > self.capacity, float(self.capacity)), else_=refilled
        )
        stmt = (
            update(rate_limits)
            .where(t.name == self.name, level >= self.capacity)
            .values(tokens=level - self.capacity, updated=case((t.updated > at, t.updated), else_=at))
        )
        self.round_trips += 1
        with self.engine.begin() as conn:
            if conn.execute(stmt).rowcount == 1:
                return 0.0
            row = conn.execute(select(t.tokens, t.updated).where(t.name == self.name)).one()
        tokens = float(row.tokens) + max(0.0, now - float(row.updated)) * self.rate
        return max((self.capacity - tokens) / self.rate, 0.005)

    # -- RateLimiter
    def acquire(self) -> None:
        self.local.acquire()
        while True:
            with self._lock:
                now = self._clock()
                if self._held > 0 and now < self._held_until:
                    self._held -= 1
                    return
                self._held = 0
                wait = self._take(now)
                if wait == 0.0:
                    self._held, self._held_until = self.capacity - 1, now + LEASE_TTL
                    return
            self.waited += wait
            self._sleep(wait)

    def observe(self, response: Any) -> None:
        self.local.observe(response)

    def penalize(self, seconds: float) -> None:
        """A 429 got through: every process sharing the limit waits ``seconds`` (the bucket goes that
        far below zero), and this one drops its lease."""
        self.local.penalize(seconds)
        debt = -seconds * self.rate
        t = rate_limits.c
        now = self._clock()
        with self._lock:
            self._held = 0
            with self.engine.begin() as conn:
                conn.execute(
                    update(rate_limits)
                    .where(t.name == self.name)
                    .values(tokens=case((t.tokens > debt, debt), else_=t.tokens), updated=now)
                )


def _api_clients(
    obj: Any, depth: int = 0, seen: set[int] | None = None, packages: tuple[str, ...] = ("syncbridge",)
) -> Iterator[ApiClient]:
    """The :class:`ApiClient` objects a connector holds (its API client and, for OAuth vendors, its
    token client), found through its attributes so that no connector needs code for this.  Only objects
    of ``packages`` (syncbridge's and the connector plugin's own) are looked into."""
    seen = set() if seen is None else seen
    if id(obj) in seen or depth > 3:
        return
    seen.add(id(obj))
    if isinstance(obj, ApiClient):
        yield obj
        return
    for value in list(getattr(obj, "__dict__", {}).values()):
        if isinstance(value, str | int | float | bytes | dict | list | tuple | set | type(None)):
            continue
        if type(value).__module__.partition(".")[0] in packages:
            yield from _api_clients(value, depth + 1, seen, packages)


def attach(connector: Connector, store: Store) -> int:
    """Put the shared limit (if the connector's settings name one) in front of every HTTP client of the
    connector; returns how many clients it paces.  A connector without one is a configuration error."""
    limit = connector.settings.shared_rate_limit
    if limit is None:
        return 0
    plugin = type(connector).__module__.partition(".")[0]  # a vendor plugin's own package
    clients = list(_api_clients(connector, packages=("syncbridge", plugin)))
    for client in clients:
        if not isinstance(client.limiter, SharedLimiter):
            client.limiter = SharedLimiter(store.engine, limit, local=client.limiter)
    if not clients:
        raise ConfigError(
            f"connectors.{connector.name}.shared_rate_limit: connector type {connector.type!r} "
            "sends no requests through syncbridge's HTTP client, so it cannot share a limit"
        )
    return len(clients)


__all__ = ["LEASE_TTL", "SharedLimiter", "attach", "bucket_for", "lease_size"]
