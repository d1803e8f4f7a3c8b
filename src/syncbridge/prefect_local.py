"""Which Prefect API a command talks to, and the local Prefect server of the one-machine mode.

Prefect's *ephemeral* API (what a client starts by itself when no ``PREFECT_API_URL`` is set) runs no
scheduler service, so deployments served against it never get a scheduled run.  Two API server processes
on one SQLite database do not work either (and ephemeral mode makes one per process, flow-run processes
included): deployment-concurrency leases live in the memory of the server that granted them
(``server.concurrency.lease_storage`` defaults to ``...lease_storage.memory``), so a run whose lease was
granted by one server and that moves to Running through another cannot renew it, finds its slot taken in
the database, and is cancelled ("Deployment concurrency slot lost during provisioning", seen with
``trigger`` next to ``serve`` in ephemeral mode).

So the one-machine mode runs exactly one real server: when no Prefect API is configured, ``syncbridge
serve`` starts ``prefect server start`` as a child process on localhost, with its database in the state
folder, and stops it when it stops (also on SIGTERM/Ctrl-C; on Linux the child also gets SIGTERM when its
parent dies, even by ``kill -9``).  It records the server's URL and both PIDs in
``<folder>/prefect-server.json``; ``trigger`` and ``serve --once`` use that server while it runs, and
start a temporary one on the same database only when none runs.

This module imports Prefect only inside the functions that need it: the caller decides the Prefect
environment (``PREFECT_API_URL``) before Prefect is imported.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syncbridge.errors import ConfigError

if TYPE_CHECKING:
    from syncbridge.config import Settings

STATE_FILE = "prefect-server.json"
DB_FILE = "prefect-server.db"
LOG_FILE = "prefect-server.log"
DEFAULT_PORT = 4200


def prefect_defaults(*, verbose: bool = False) -> None:
    """Quiet, private Prefect defaults; anything the user set in the environment wins.  Call before Prefect
    is imported.  ``PREFECT_HOME`` and ``PREFECT_API_URL`` are never changed here."""
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "syncbridge")
    # a fresh ephemeral database is migrated on first start: ~13 s on 2 cores, more under load
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


def profile_api_url() -> str | None:
    """PREFECT_API_URL of the user's active Prefect profile, read without importing Prefect."""
    home = Path(os.environ.get("PREFECT_HOME", Path.home() / ".prefect"))
    path = Path(os.environ.get("PREFECT_PROFILES_PATH", home / "profiles.toml"))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return None
    active = os.environ.get("PREFECT_PROFILE") or data.get("active")
    profile = data.get("profiles", {}).get(active, {}) if isinstance(active, str) else {}
    url = profile.get("PREFECT_API_URL") if isinstance(profile, dict) else None
    return url if isinstance(url, str) and url else None


def prepare_prefect_env(workdir: Path, *, verbose: bool = False) -> str:
    """Point Prefect at ``<workdir>/prefect`` unless the user chose a home (``PREFECT_HOME``) or a server is
    configured.  Must run before Prefect is imported; returns a one-line description of where runs are
    recorded."""
    prefect_defaults(verbose=verbose)
    if os.environ.get("PREFECT_API_URL"):
        return f"Prefect server at {os.environ['PREFECT_API_URL']}"
    profile_url = profile_api_url()
    if profile_url:
        return f"Prefect server at {profile_url} (from your Prefect profile)"
    if "prefect" in sys.modules:
        return "the Prefect API this process already uses"
    if os.environ.get("PREFECT_HOME"):
        return f"Prefect ephemeral mode, history in {os.environ['PREFECT_HOME']}"
    home = (workdir / "prefect").resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["PREFECT_HOME"] = str(home)
    return f"Prefect ephemeral mode, history in {home}"


def configured_api_url() -> str | None:
    """The Prefect API the user configured (environment, then profile), or None for "none"."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    if "prefect.settings" in sys.modules:  # Prefect already read its settings (profile, .env, toml...)
        from prefect.settings import get_current_settings

        url = get_current_settings().api.url
        return str(url) if url else None
    return profile_api_url()


def server_folder(settings: Settings, config_path: str | Path) -> Path:
    """Where the local server keeps its database: ``prefect.local_server_folder``, else the folder of a
    SQLite state store, else ``.syncbridge`` next to the config file."""
    from sqlalchemy.engine import make_url

    base = Path(config_path).resolve().parent
    configured = settings.prefect.local_server_folder
    if configured:
        return (base / configured).resolve()
    url = make_url(settings.state.url)
    if url.drivername.startswith("sqlite") and url.database and url.database != ":memory:":
        return Path(url.database).resolve().parent
    return base / ".syncbridge"


def _healthy(api_url: str, timeout: float = 3.0) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=timeout) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # as the server binds (uvicorn sets SO_REUSEADDR): a port in TIME_WAIT after the last server
        # stopped is free
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def running(folder: Path) -> dict[str, Any] | None:
    """The local server recorded in ``folder`` if its owner and the server are alive and it answers."""
    try:
        info = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or not _alive(int(info.get("pid", 0) or 0)):
        return None
    if not _alive(int(info.get("owner_pid", 0) or 0)) or not _healthy(str(info.get("api_url"))):
        return None
    return info


def serving(folder: Path) -> dict[str, Any] | None:
    """Like :func:`running`, but only the server of a `syncbridge serve` (which runs what is triggered),
    not the temporary one of a `trigger` that runs its flow itself."""
    info = running(folder)
    return info if info and info.get("role", "serve") == "serve" else None


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the server gets SIGTERM when the process that started it dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _server_args(port: int) -> list[str]:
    return ["--host", "127.0.0.1", "--port", str(port)]


def _stop_pid(pid: int, timeout: float = 30.0) -> None:
    """SIGTERM, wait for a clean exit, then SIGKILL: only this PID."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.2)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


@dataclass
class LocalServer:
    """``prefect server start`` on 127.0.0.1 with its SQLite database in ``folder``, owned by this process."""

    folder: Path
    port: int | None = None
    startup_timeout: float = 240.0
    role: str = "serve"  # or "temporary": a trigger's own server, which nobody else should use
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)
    api_url: str = field(default="", init=False)

    @property
    def ui_url(self) -> str:
        return self.api_url.removesuffix("/api")

    @property
    def database(self) -> Path:
        return self.folder / DB_FILE

    def start(self) -> LocalServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._clear_stale()
        if self.port:
            if not _port_free(self.port):
                raise ConfigError(
                    f"prefect.local_server_port: port {self.port} on 127.0.0.1 is already in use"
                )
            port = self.port
        else:
            port = DEFAULT_PORT if _port_free(DEFAULT_PORT) else _free_port()
        self.api_url = f"http://127.0.0.1:{port}/api"
        env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_TEST_MODE")}
        env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = f"sqlite+aiosqlite:///{self.database}"
        env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        env.setdefault("DO_NOT_TRACK", "1")
        env.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
        log = (self.folder / LOG_FILE).open("ab")
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "prefect", "server", "start", *_server_args(port)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # its own session: Ctrl-C in the terminal reaches only syncbridge, which stops the server
                # after the flows it runs have stopped talking to it
                start_new_session=True,
                preexec_fn=_die_with_parent,  # before any thread: safe in a CLI process
            )
        finally:
            log.close()
        (self.folder / STATE_FILE).write_text(
            json.dumps(
                {"pid": self.proc.pid, "owner_pid": os.getpid(), "api_url": self.api_url, "role": self.role}
            ),
            encoding="utf-8",
        )
        deadline = time.monotonic() + self.startup_timeout
        while not _healthy(self.api_url, timeout=2.0):
            if self.proc.poll() is not None:
                self.stop()
                raise ConfigError(
                    f"the local Prefect server exited at start ({self._last_log_line()}); "
                    f"log: {self.folder / LOG_FILE}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise ConfigError(
                    f"the local Prefect server did not answer at {self.api_url} within "
                    f"{self.startup_timeout:.0f} s; log: {self.folder / LOG_FILE}"
                )
            time.sleep(0.5)
        return self

    def _clear_stale(self) -> None:
        """A server recorded here whose owner died (and that survived it): stop it, by its PID."""
        try:
            info = json.loads((self.folder / STATE_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        pid, owner = int(info.get("pid", 0) or 0), int(info.get("owner_pid", 0) or 0)
        if pid and _alive(pid):
            if owner and _alive(owner) and owner != os.getpid():
                raise ConfigError(
                    f"{self.folder / STATE_FILE}: process {owner} already runs the local Prefect server "
                    f"at {info.get('api_url')} for this state folder"
                )
            if _cmdline(pid).find("prefect") >= 0:
                _stop_pid(pid)
        (self.folder / STATE_FILE).unlink(missing_ok=True)

    def _last_log_line(self) -> str:
        try:
            lines = (self.folder / LOG_FILE).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return "no log"
        return next((ln.strip() for ln in reversed(lines) if ln.strip()), "no output")[:200]

    def stop(self) -> None:
        if self.proc is not None:
            _stop_pid(self.proc.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
            self.proc = None
        with contextlib.suppress(OSError, ValueError):
            info = json.loads((self.folder / STATE_FILE).read_text(encoding="utf-8"))
            if info.get("owner_pid") == os.getpid():
                (self.folder / STATE_FILE).unlink()

    def __enter__(self) -> LocalServer:
        return self if self.proc is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "prefect"  # no /proc: trust the state file


def _use_api(url: str) -> None:
    """Point this process (and the flow-run processes it starts) at ``url``."""
    os.environ["PREFECT_API_URL"] = url
    if "prefect.settings" in sys.modules:
        from prefect.settings import PREFECT_API_URL, temporary_settings

        # Prefect read its settings at import: replace them for the rest of this process
        temporary_settings(updates={PREFECT_API_URL: url}).__enter__()


def attach_to_serve(settings: Settings, config_path: str | Path) -> str | None:
    """Without a configured Prefect API, point this process at the local server of a running
    `syncbridge serve` (for commands that act on its runs, such as `approve`); returns its API URL."""
    if configured_api_url():
        return None
    info = serving(server_folder(settings, config_path))
    if not info:
        return None
    _use_api(str(info["api_url"]))
    return str(info["api_url"])


@dataclass
class PrefectApi:
    """Where this command's Prefect calls go."""

    url: str | None
    kind: str  # "configured", "serve" (a running `syncbridge serve`'s local server), "local" (ours)
    server: LocalServer | None = None

    def describe(self) -> str:
        if self.kind == "configured":
            return f"Prefect server at {self.url}"
        if self.kind == "serve":
            return f"the local Prefect server of the running `syncbridge serve` at {self.url}"
        assert self.server is not None
        return f"local Prefect server, UI at {self.server.ui_url}, database {self.server.database}"


@contextmanager
def prefect_api(
    settings: Settings,
    config_path: str | Path,
    *,
    for_serve: bool = False,
    announce: Any = None,
) -> Iterator[PrefectApi]:
    """A Prefect API with a scheduler for this command: the configured one, else (unless this is
    ``syncbridge serve`` itself, ``for_serve``) the running local server of ``syncbridge serve``, else a
    local server started here and stopped on exit.
    """
    url = configured_api_url()
    if url:
        yield PrefectApi(url, "configured")
        return
    folder = server_folder(settings, config_path)
    info = None if for_serve else serving(folder)
    if info:
        _use_api(str(info["api_url"]))
        yield PrefectApi(str(info["api_url"]), "serve")
        return
    if announce:
        announce(f"starting a local Prefect server (database in {folder}) …")
    port = settings.prefect.local_server_port
    server = LocalServer(folder, port=port, role="serve" if for_serve else "temporary")
    previous = signal.getsignal(signal.SIGTERM)
    # until Prefect's runner installs its own handler, SIGTERM must unwind (and so stop the server)
    signal.signal(signal.SIGTERM, _raise_exit)
    try:
        with server:
            _use_api(server.api_url)
            yield PrefectApi(server.api_url, "local", server)
    finally:
        with contextlib.suppress(ValueError, TypeError):
            signal.signal(signal.SIGTERM, previous)


def _raise_exit(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


ENV_TAG_PREFIX = "syncbridge-env:"


def environment_tag(environment: str | None) -> str:
    """The tag that scopes syncbridge's deployments to one environment (pruning never crosses it)."""
    return ENV_TAG_PREFIX + (environment or "default")


def deployment_name(flow: str, connector: str, environment: str | None = None) -> str:
    return f"{environment}-{flow}-{connector}" if environment else f"{flow}-{connector}"


def deployment_names(settings: Settings, environment: str | None = None) -> dict[str, tuple[str, str]]:
    """Deployment name → (flow, connector) for the YAML's schedules, without importing Prefect."""
    names: dict[str, tuple[str, str]] = {}
    for spec in settings.schedules:
        for connector in [spec.connector] if spec.connector else list(settings.connectors):
            names[deployment_name(spec.flow, connector, environment)] = (spec.flow, connector)
    return dict(sorted(names.items()))


def memory_state_problem(state_url: str) -> str | None:
    """Why no worker can share the state store, even on this machine: an in-memory SQLite store lives and
    dies with one process (other SQLite files: :func:`syncbridge.paths.local_state_problem`; relative
    SQLite paths are anchored at the config file's folder, which workers have at the same path)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(state_url)
    except ArgumentError:
        return None
    database = url.database or ""
    if url.get_backend_name() == "sqlite" and (database in ("", ":memory:") or "mode=memory" in state_url):
        return "state.url: an in-memory SQLite store cannot be shared with workers; use PostgreSQL"
    return None
