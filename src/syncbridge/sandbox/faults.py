"""Injected faults and the gate in front of a sandbox's API.

:class:`FaultPlan` decides, from ``fault_rate`` and a RNG seeded with ``fault_seed``, whether a request
fails and how: a 429, a 500, a 503 or a dropped connection.  :class:`Gate` runs before the API sees a
request, so a refused or failed request has no effect: it counts the request, waits ``latency_ms``,
applies the rate limiter, then the fault plan; the vendor supplies the answers' shapes
(:class:`Reply`).  :class:`GatedApp` is a FastAPI app whose API paths pass through its gate;
:class:`GateMiddleware` puts a gate in front of any ASGI app.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from fastapi import FastAPI

from syncbridge.sandbox.limits import Header, Limiter, Verdict
from syncbridge.sandbox.server import drop_connection, send_bytes

__all__ = [
    "FAULT_KINDS",
    "FaultPlan",
    "FaultSettings",
    "Gate",
    "GateMiddleware",
    "GatedApp",
    "Replies",
    "Reply",
    "Settings",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: what an injected fault does, drawn with equal odds
FAULT_KINDS = ("429", "500", "503", "drop")


class FaultSettings(Protocol):
    """The settings a fault plan and a gate read (a vendor's runtime config has them)."""

    latency_ms: float
    fault_rate: float
    fault_seed: int


@dataclass
class Settings:
    """Stand-alone :class:`FaultSettings` (tests, simple sandboxes)."""

    latency_ms: float = 0.0
    fault_rate: float = 0.0
    fault_seed: int = 0


class FaultPlan:
    """Which requests fail: ``settings.fault_rate`` is read on every roll (changes apply at once); the
    RNG is seeded from ``settings.fault_seed`` now and on :meth:`reseed` (call it when the seed is set).

    ``rng`` is public: a vendor may draw its own faults from the same sequence (Lever's refused offset
    tokens)."""

    def __init__(self, settings: FaultSettings) -> None:
        self.settings = settings
        self.rng = random.Random(settings.fault_seed)

    def reseed(self) -> None:
        self.rng = random.Random(self.settings.fault_seed)

    def chance(self, rate: float) -> bool:
        """One draw: true with probability ``rate`` (no draw when ``rate <= 0``)."""
        return rate > 0 and self.rng.random() < rate

    def roll(self) -> str | None:
        """``None`` (no fault) or one of :data:`FAULT_KINDS`."""
        if self.chance(self.settings.fault_rate):
            return self.rng.choice(FAULT_KINDS)
        return None


@dataclass
class Reply:
    """An answer the gate sends instead of the API's."""

    status: int
    body: bytes
    content_type: bytes = b"application/json"
    headers: list[Header] = field(default_factory=list)

    @classmethod
    def json(
        cls, status: int, body: Any, headers: list[Header] | None = None, *, compact: bool = True
    ) -> Reply:
        """A JSON answer (``compact``: no spaces, non-ASCII kept; else ``json.dumps`` defaults)."""
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":")) if compact else json.dumps(body)
        return cls(status, text.encode(), b"application/json", list(headers or []))


#: the vendor's answers by kind: ``"rate_limited"`` (the limiter refused), ``"429"``, ``"500"``, ``"503"``
#: (injected faults).  Headers of a fault 429 (``Retry-After: 1``) are the vendor's to add.
Replies = Callable[[str], Reply]


class Gate:
    """Latency, rate limit and faults in front of an API, before the request has any effect.

    ``counters`` gets ``requests``, ``rate_limited`` and ``faults`` counted.  The limiter's headers go on
    every answer (refusals, faults and the API's own); a refused request also gets ``Retry-After`` when
    ``retry_after()`` says so.  ``prefix`` names the paths gated (``"/v3"``: ``/v3`` and ``/v3/...``).
    """

    def __init__(
        self,
        settings: FaultSettings,
        replies: Replies,
        *,
        limiter: Limiter | None = None,
        prefix: str = "/",
        counters: MutableMapping[str, int] | None = None,
        retry_after: Callable[[], bool] | bool = True,
    ) -> None:
        self.settings = settings
        self.faults = FaultPlan(settings)
        self.replies = replies
        self.limiter = limiter
        self.prefix = prefix.rstrip("/")
        self.counters: MutableMapping[str, int] = counters if counters is not None else {}
        for key in ("requests", "faults", "rate_limited"):
            self.counters.setdefault(key, 0)
        self._retry_after = retry_after

    def covers(self, scope: Scope) -> bool:
        """Whether ``scope`` is an HTTP request on a gated path."""
        if scope.get("type") != "http":
            return False
        path = scope.get("path", "")
        return not self.prefix or path == self.prefix or path.startswith(self.prefix + "/")

    def wants_retry_after(self) -> bool:
        return self._retry_after() if callable(self._retry_after) else self._retry_after

    async def answer(self, send: Send, reply: Reply, headers: list[Header]) -> None:
        await send_bytes(send, reply.status, reply.body, [*headers, *reply.headers], reply.content_type)

    async def __call__(self, scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
        self.counters["requests"] += 1
        if self.settings.latency_ms > 0:
            await asyncio.sleep(self.settings.latency_ms / 1000.0)
        verdict = self.limiter.hit() if self.limiter is not None else Verdict(True)
        headers = list(verdict.headers)
        if not verdict.allowed:
            self.counters["rate_limited"] += 1
            extra = [(b"retry-after", str(verdict.retry_after).encode())] if self.wants_retry_after() else []
            await self.answer(send, self.replies("rate_limited"), [*headers, *extra])
            return
        kind = self.faults.roll()
        if kind is not None:
            self.counters["faults"] += 1
            if kind == "drop":
                await drop_connection(send)
            else:
                await self.answer(send, self.replies(kind), headers)
            return
        if not headers:
            await app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = [*message.get("headers", []), *headers]
            await send(message)

        await app(scope, receive, send_with_headers)


class GatedApp(FastAPI):
    """A FastAPI app whose gated paths pass through ``self.gate`` (set it after building the app)."""

    gate: Gate | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gate = self.gate
        if gate is not None and gate.covers(scope):
            await gate(scope, receive, send, super().__call__)
            return
        await super().__call__(scope, receive, send)


class GateMiddleware:
    """``gate`` in front of any ASGI ``app`` (requests outside the gate's prefix go straight through)."""

    def __init__(self, app: ASGIApp, gate: Gate) -> None:
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.gate.covers(scope):
            await self.gate(scope, receive, send, self.app)
            return
        await self.app(scope, receive, send)
