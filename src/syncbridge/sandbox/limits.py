"""Rate limiters for sandboxes: a fixed window (optionally answering with rate-limit headers) and a
token bucket.  Both count one request per :meth:`hit` and say whether it is allowed
(:class:`Verdict`); :class:`~syncbridge.sandbox.faults.Gate` applies them in front of an API.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

__all__ = ["GREENHOUSE_HEADERS", "FixedWindow", "Limiter", "RateHeaders", "TokenBucket", "Verdict"]

Header = tuple[bytes, bytes]


@dataclass(frozen=True)
class Verdict:
    """One request counted: ``allowed``; ``retry_after`` seconds when refused; ``headers`` to send with
    every answer (allowed or not)."""

    allowed: bool
    retry_after: int = 0
    headers: tuple[Header, ...] = ()


class Limiter(Protocol):
    def hit(self) -> Verdict: ...


@dataclass(frozen=True)
class RateHeaders:
    """The names of the headers a fixed window answers with, and the number shown when unlimited."""

    limit: bytes = b"x-ratelimit-limit"
    remaining: bytes = b"x-ratelimit-remaining"
    reset: bytes = b"x-ratelimit-reset"
    unlimited: int = 1_000_000


#: Greenhouse's ``X-RateLimit-Limit``/``-Remaining``/``-Reset`` (reset = the window's end, epoch seconds)
GREENHOUSE_HEADERS = RateHeaders()


class FixedWindow:
    """At most ``limit`` requests per window of ``window`` seconds aligned to the epoch (``limit <= 0``:
    unlimited; ``window <= 0``: ``default_window``).  With ``headers`` every verdict carries the limit,
    the remaining count and the window's end."""

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        headers: RateHeaders | None = None,
        default_window: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.header_names = headers
        self.default_window = default_window
        self.clock = clock
        self.configure(limit, window)

    def configure(self, limit: int, window: float) -> None:
        """New settings; the count starts over."""
        self.limit, self.window = limit, window
        self._start, self._count = -1.0, 0

    def hit(self) -> Verdict:
        now = self.clock()
        window = self.window if self.window > 0 else self.default_window
        start = math.floor(now / window) * window
        end = start + window
        if start != self._start:
            self._start, self._count = start, 0
        self._count += 1
        names = self.header_names
        if self.limit <= 0:
            if names is None:
                return Verdict(True)
            shown = str(names.unlimited).encode()
            reset = str(math.ceil(end)).encode()
            return Verdict(True, 0, ((names.limit, shown), (names.remaining, shown), (names.reset, reset)))
        headers: tuple[Header, ...] = ()
        if names is not None:
            headers = (
                (names.limit, str(self.limit).encode()),
                (names.remaining, str(max(0, self.limit - self._count)).encode()),
                (names.reset, str(math.ceil(end)).encode()),
            )
        if self._count > self.limit:
            return Verdict(False, max(1, math.ceil(end - now)), headers)
        return Verdict(True, 0, headers)


class TokenBucket:
    """``rate`` tokens per second up to ``burst``; one request takes one token (``rate <= 0``:
    unlimited).  A refused request's ``retry_after`` is the wait for the next token, rounded, at least 1."""

    def __init__(self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.configure(rate, burst)

    def configure(self, rate: float, burst: int) -> None:
        """New settings; the bucket starts full."""
        self.rate, self.burst = rate, max(1, burst)
        self.tokens = float(self.burst)
        self.last = self.clock()

    def take(self) -> tuple[bool, float]:
        """(allowed?, seconds until a token is available)."""
        if self.rate <= 0:
            return True, 0.0
        now = self.clock()
        self.tokens = min(float(self.burst), self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True, 0.0
        return False, (1 - self.tokens) / self.rate

    def hit(self) -> Verdict:
        allowed, wait = self.take()
        return Verdict(True) if allowed else Verdict(False, max(1, round(wait)))
