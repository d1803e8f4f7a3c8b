"""Test helpers for the real thing: a `prefect server start` (and `prefect worker`) process on a free port,
cleaned up by PID even when the test fails.  Polls with a deadline; nothing here sleeps for timing.

Use ``with real_prefect_server(tmp_path) as api_url:``; the server's database lives in ``tmp_path``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from syncbridge.prefect_local import LocalServer

STARTUP_TIMEOUT = 300.0  # a loaded 2-core machine migrates a fresh database slowly


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a child process that must talk to a real server, not the test harness."""
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_TEST_MODE")}
    env.update(extra)
    return env


@contextlib.contextmanager
def real_prefect_server(folder: Path) -> Iterator[str]:
    """A real Prefect server (scheduler included) on a free localhost port; yields its API URL."""
    server = LocalServer(folder / "prefect-server", port=None, startup_timeout=STARTUP_TIMEOUT)
    server.port = free_port()
    with server:
        yield server.api_url


@contextlib.contextmanager
def process(args: list[str], *, env: dict[str, str], log: Path, cwd: Path | None = None) -> Iterator[Any]:
    """A child process in its own session, logging to ``log``; SIGTERM then SIGKILL by PID at exit."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            args, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[Any], signum: int = signal.SIGTERM, timeout: float = 60.0) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signum)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie whose parent has not reaped it counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return fields[0] != "Z"
    return True


def wait_for(
    check: Callable[[], Any],
    *,
    timeout: float,
    what: str,
    every: float = 1.0,
    proc: subprocess.Popen[Any] | None = None,
    log: Path | None = None,
) -> Any:
    """Poll ``check`` until it returns something truthy or the deadline passes (then fail, saying what).
    With ``proc``, fail at once when that process exits (quoting the end of ``log``)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log and log.is_file() else ""
            raise AssertionError(f"process exited ({proc.returncode}) before {what}:\n{tail}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def syncbridge_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "syncbridge.cli", *args]


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
