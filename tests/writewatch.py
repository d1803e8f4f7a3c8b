"""A sandbox that counts the writes it has processed, and can ``kill -9`` a client right after one.

:class:`WriteWatch` is ASGI middleware in front of any vendor sandbox app.  A *write* is a request that
may change the ATS (not GET/HEAD, not a token request, not a WWS ``Get_*`` operation) and that the
sandbox answered with a 2xx, i.e. it took effect.  With ``kill_at = N`` and ``victim = pid``, the N-th
write's answer is held back, the victim process is sent SIGKILL, and only then is the answer released:
the vendor has made the write, the client never learns it did.  That is the worst moment to die.
With ``before = True`` the victim dies when the N-th write arrives, and that write is dropped: the
client had claimed it in its ledger, the vendor never made it.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import threading
from pathlib import Path
from typing import Any

from syncbridge.sandbox.server import drop_connection

_SOAP_READ = re.compile(rb"<(?:[\w-]+:)?Get_\w+")


def _is_write(body: bytes) -> bool:
    if b"Envelope" in body[:2000]:
        return _SOAP_READ.search(body) is None
    return True


class WriteWatch:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.state = app.state  # the sandbox's own close-down finds its store here
        self.writes = 0
        self.kill_at: int | None = None
        self.victim: int | None = None
        self.killed = False
        #: kill when the N-th write arrives, before it takes effect (it is then dropped, unanswered)
        self.before = False
        self._lock = threading.Lock()
        self._arrived = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = str(scope.get("path", ""))
        if (
            scope["type"] != "http"
            or scope["method"] in ("GET", "HEAD")
            or path.startswith("/_sandbox")
            or path.endswith("/token")
        ):
            await self.app(scope, receive, send)
            return
        body = bytearray()
        if self.before and self.kill_at and self.victim:
            return await self._kill_on_arrival(scope, receive, send)

        async def recv() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                body.extend(message.get("body", b""))
            return message

        async def snd(message: Any) -> None:
            took_effect = message["type"] == "http.response.start" and 200 <= message["status"] < 300
            if took_effect and _is_write(bytes(body)):
                with self._lock:
                    self.writes += 1
                    n = self.writes
                if self.kill_at == n and self.victim:
                    os.kill(self.victim, signal.SIGKILL)
                    self.killed = True
            await send(message)

        await self.app(scope, recv, snd)

    async def _kill_on_arrival(self, scope: Any, receive: Any, send: Any) -> None:
        """Read the whole request; the N-th write kills the victim and is never processed."""
        chunks = []
        while True:
            message = await receive()
            chunks.append(message)
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        body = b"".join(m.get("body", b"") for m in chunks if m["type"] == "http.request")
        if _is_write(body):
            with self._lock:
                self._arrived += 1
                n = self._arrived
            if n == self.kill_at and self.victim:
                os.kill(self.victim, signal.SIGKILL)
                self.killed = True
                await drop_connection(send)  # dropped unanswered: the write never happens
                return
        replay = iter(chunks)

        async def recv() -> Any:
            return next(replay, {"type": "http.disconnect"})

        async def snd(message: Any) -> None:
            if (
                message["type"] == "http.response.start"
                and 200 <= message["status"] < 300
                and _is_write(body)
            ):
                with self._lock:
                    self.writes += 1
            await send(message)

        await self.app(scope, recv, snd)


def watched(server_cls: Any) -> Any:
    """A subclass of a vendor's ``SandboxServer`` whose app sits behind a :class:`WriteWatch`."""

    class Watched(server_cls):  # type: ignore[misc,valid-type]
        watch: WriteWatch

        def create_app(self) -> Any:
            self.watch = WriteWatch(super().create_app())
            return self.watch

    return Watched


#: tables that record traffic or bookkeeping, not ATS data
_NOT_DATA = {"meta", "refresh_tokens", "tx_log", "events", "attachment_blobs", "sqlite_sequence"}


def table_counts(db: Path) -> dict[str, int]:
    """Rows per data table of a sandbox database: what the ATS holds, by kind."""
    conn = sqlite3.connect(db)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {
            n: int(conn.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0])
            for n in sorted(names)
            if n not in _NOT_DATA
        }
    finally:
        conn.close()
