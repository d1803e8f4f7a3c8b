"""A real ``prefect server`` and real ``prefect worker`` processes (process pool) for tests.

The session-wide test harness (``prefect_backend``) runs the API in a subprocess but no worker, no
scheduler loop that matters and no flow-run processes, so it cannot show what production does with
deployment concurrency leases, suspended runs that are resubmitted, or runs executed in a temporary
folder.  These helpers start the real thing on a free port with its own PREFECT_HOME and SQLite
database under the test's tmp folder, and stop every process they started by PID (its whole process
group), also when the test fails.

Usage::

    with real_prefect(tmp_path) as prefect:
        worker = prefect.start_worker("my-pool")
        with prefect.settings():          # this process's Prefect client talks to that server
            ...
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import requests

from prefect_server import free_port

PREFECT = str(Path(sys.executable).parent / "prefect")
#: Prefect variables of the test session (its harness, test mode) that must not leak into the children.
_DROP = ("PREFECT_API_URL", "PREFECT_TEST_MODE", "PREFECT_TESTING_TEST_MODE", "PREFECT_PROFILE")


def _stop(proc: subprocess.Popen[Any], timeout: float = 20) -> None:
    """SIGTERM the process group, then SIGKILL what is left (by PID, never by name)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    # children of the group that outlived their parent (a flow-run process of a worker)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


class RealPrefect:
    """One running ``prefect server`` (and the workers started through it)."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        self.base_env = env
        self.procs: list[subprocess.Popen[Any]] = []
        self._logs: list[IO[str]] = []

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for a process that talks to this server."""
        return {**self.base_env, "PREFECT_API_URL": self.url, **extra}

    def _spawn(self, args: list[str], env: dict[str, str], log_name: str) -> subprocess.Popen[Any]:
        log = (self.root / log_name).open("w", encoding="utf-8")
        self._logs.append(log)
        proc = subprocess.Popen(
            args,
            env=env,
            cwd=self.root,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: stopped with every child it forks
        )
        self.procs.append(proc)
        return proc

    def log(self, name: str) -> str:
        path = self.root / name
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def start_server(self, timeout: float = 180) -> None:
        env = self.env(
            PREFECT_SERVER_API_HOST="127.0.0.1",
            PREFECT_SERVER_API_PORT=str(self.port),
            PREFECT_SERVER_UI_ENABLED="false",
            PREFECT_API_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{self.root / 'prefect.db'}",
        )
        proc = self._spawn([PREFECT, "server", "start", "--no-ui"], env, "server.log")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"prefect server exited {proc.returncode}: {self.log('server.log')[-2000:]}"
                )
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            time.sleep(0.5)
        raise RuntimeError(
            f"prefect server did not answer within {timeout} s: {self.log('server.log')[-2000:]}"
        )

    def start_worker(self, pool: str, **extra_env: str) -> subprocess.Popen[Any]:
        """``prefect worker start --pool POOL --type process``, polling every second."""
        env = self.env(PREFECT_WORKER_QUERY_SECONDS="1", **extra_env)
        return self._spawn(
            [PREFECT, "worker", "start", "--pool", pool, "--type", "process"],
            env,
            f"worker-{pool}-{len(self.procs)}.log",
        )

    @contextlib.contextmanager
    def settings(self) -> Iterator[None]:
        """Point this process's Prefect client at the server (nested inside any test harness)."""
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings(updates={PREFECT_API_URL: self.url}):
            yield

    def stop(self) -> None:
        for proc in reversed(self.procs):
            _stop(proc)
        for log in self._logs:
            log.close()


@contextlib.contextmanager
def real_prefect(tmp: Path, startup_timeout: float = 180, **server_env: str) -> Iterator[RealPrefect]:
    """A ``prefect server`` on a free port, its home and database under ``tmp/prefect-real``."""
    root = tmp / "prefect-real"
    (root / "home").mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in _DROP}
    env.update(
        PREFECT_HOME=str(root / "home"),
        PREFECT_PROFILES_PATH=str(root / "home" / "profiles.toml"),
        DO_NOT_TRACK="1",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL="INFO",
        **server_env,
    )
    prefect = RealPrefect(root, env)
    try:
        prefect.start_server(startup_timeout)
        yield prefect
    finally:
        prefect.stop()
