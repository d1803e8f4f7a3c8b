"""Running a vendor sandbox (an ASGI app) in a background thread: shared by every connector's sandbox.

Each vendor sandbox (``connectors/<vendor>/sandbox``) defines ``create_app(db_path, **options)`` and a
``SandboxServer`` subclass of :class:`ThreadedSandbox` naming it.  The server binds its own TCP socket
(port 0 = a free one) with ``IPPROTO_TCP`` set explicitly, because asyncio only enables TCP_NODELAY on
sockets whose protocol says TCP; without it small responses wait ~40 ms for Nagle's algorithm.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import uvicorn


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


async def send_bytes(
    send: Any,
    status: int,
    body: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
    content_type: bytes = b"application/json",
) -> None:
    """Answer a raw ASGI request (for middleware that replies before the app runs: faults, limits)."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def drop_connection(send: Any) -> None:
    """Abort the client's connection without an answer (a fault).  uvicorn's ``send`` is bound to its
    protocol cycle, whose transport we abort; elsewhere (a test client) the exception does the job."""
    import asyncio

    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        raise ConnectionAbortedError("sandbox fault: dropped connection")
    transport.abort()
    for _ in range(3):
        await asyncio.sleep(0)


def _config(app: Any) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        proxy_headers=False,
        timeout_graceful_shutdown=3,
    )


def close_app(app: Any) -> None:
    """Release what a sandbox app holds (its SQLite connection)."""
    sandbox = getattr(getattr(app, "state", None), "sandbox", None)
    if sandbox is not None and hasattr(sandbox, "close"):
        sandbox.close()


def serve_forever(app: Any, host: str, port: int, *, banner: str = "") -> int:
    """Serve ``app`` in this thread until SIGTERM/SIGINT (the sandboxes' ``serve`` command).

    Prints one line ``listening on http://HOST:PORT`` first, flushed, so a parent process can read the
    port it got (port 0 = a free one)."""
    import sys

    sock = bind(host, port)
    shown = f"[{host}]" if ":" in host else host
    print(f"listening on http://{shown}:{sock.getsockname()[1]}{banner}", flush=True)
    try:
        uvicorn.Server(_config(app)).run(sockets=[sock])
    finally:
        sock.close()
        close_app(app)
        sys.stdout.flush()
    return 0


class ThreadedSandbox:
    """A sandbox served by uvicorn in a daemon thread; use as a context manager.  ``url`` is the root."""

    #: shown in errors and thread names
    vendor = "sandbox"

    def __init__(
        self, db_path: str | Path, *, host: str = "127.0.0.1", port: int = 0, **app_kwargs: Any
    ) -> None:
        self.db_path = Path(db_path)
        self.host = host
        self.port = port
        self.app_kwargs = app_kwargs
        self.url = ""
        self.app: Any = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    #: ``factory(db_path, **app_kwargs)`` builds the app (a vendor names its ``create_app`` here, or
    #: overrides :meth:`create_app`)
    factory: ClassVar[Callable[..., Any] | None] = None

    # the two hooks a vendor fills in
    def create_app(self) -> Any:
        factory = type(self).factory
        if factory is None:  # pragma: no cover - interface
            raise NotImplementedError
        return factory(self.db_path, **self.app_kwargs)

    def close_app(self, app: Any) -> None:
        """Release what the app holds (its SQLite connection) after the server stopped."""
        close_app(app)

    def start(self) -> ThreadedSandbox:
        if self._thread is not None:
            return self
        app = self.create_app()
        sock = bind(self.host, self.port)
        self.port = sock.getsockname()[1]
        self.url = f"http://{self.host}:{self.port}"
        server = uvicorn.Server(_config(app))
        thread = threading.Thread(
            target=server.run,
            kwargs={"sockets": [sock]},
            daemon=True,
            name=f"{self.vendor}-sandbox-{self.port}",
        )
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                sock.close()
                self.close_app(app)
                raise RuntimeError(f"the {self.vendor} sandbox did not start")
            time.sleep(0.01)
        self.app, self._server, self._thread, self._sock = app, server, thread, sock
        return self

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=15)
        if self._sock is not None:
            self._sock.close()
        if self.app is not None:
            self.close_app(self.app)
        self._server = self._thread = self._sock = None

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ThreadedApp(ThreadedSandbox):
    """Any ASGI app served in a daemon thread (the webhook receiver in tests and the events demo)."""

    vendor = "app"

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(Path("."), host=host, port=port)
        self._app = app

    def create_app(self) -> Any:
        return self._app

    def close_app(self, app: Any) -> None:
        return None
