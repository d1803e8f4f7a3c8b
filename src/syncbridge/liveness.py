"""Is the run that holds a write still alive?  A lock that dies with its process.

A run claims each write in the ledger before it sends it (see :mod:`syncbridge.store`).  When the
process is killed (``kill -9``, an OOM kill, a lost machine), its claims must not block the next run for
the claim's lease: the next run takes them over **at once**, reconciles, and finishes the work.  So every
run holds a lock for its whole life that the operating system or the database releases the moment the
process dies, and anyone can test it without waiting:

* **SQLite** (one machine by nature): an exclusive ``flock`` on ``.<db file name>.runs/<run id>.lock``
  next to the database.  The kernel drops it when the process dies, however it dies.  Another process
  tests it with a non-blocking ``flock``: it gets the lock only if the owner is gone.
* **PostgreSQL** (runs may be on other machines): a session-level advisory lock, keyed by the run id, on
  a connection the run keeps open.  The server drops it when that session ends: a killed process's
  socket is closed by its kernel, and a lost machine's session ends when TCP keepalive gives up.
  Another process tests it with ``pg_try_advisory_lock``.

Why locks rather than a heartbeat: a heartbeat only tells "dead" after its lease has passed with no
beat, so a run started right after a crash would still have to wait; a lock answers at once, needs no
background thread, and costs nothing while the run is healthy.  The claim's 15-minute lease stays as a
backstop for runs that hold no lock (a store written by an older syncbridge).

A run whose PostgreSQL session is lost while its process lives could be taken for dead, so before each
write the run checks that its lock session still answers (:func:`ensure_held`) and stops if it does not.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from syncbridge.errors import SyncbridgeError
from syncbridge.store import Store, sqlite_path

log = logging.getLogger("syncbridge.liveness")

try:  # POSIX only; elsewhere SQLite runs fall back to the claim lease
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class RunLockLost(SyncbridgeError):
    """This run's liveness lock is gone: it must stop sending writes (another run may take them over)."""


def owner() -> str:
    """``host:pid`` of this process (shown in ``syncbridge status``)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _pg_key(run_id: str) -> int:
    """A signed 64-bit advisory lock key for a run id."""
    return int.from_bytes(
        hashlib.sha256(f"syncbridge-run:{run_id}".encode()).digest()[:8], "big", signed=True
    )


def _lock_dir(store: Store) -> Path | None:
    path = sqlite_path(store.url)
    if path is None:
        return None
    return path.with_name(f".{path.name}.runs")  # hidden: a reset that globs state.db* leaves it be


class RunLock:
    """Held by a running run; released by :meth:`release`, or by the OS/database when the process dies."""

    def __init__(self, store: Store, run_id: str) -> None:
        self.store = store
        self.run_id = run_id
        self.descriptor: str | None = None
        self._fh: Any = None
        self._conn: Connection | None = None
        self._lost = False

    def acquire(self) -> str | None:
        """Take the lock; returns what ``sb_runs.lock`` records (None: no liveness on this platform)."""
        if self.store.dialect == "postgresql":
            conn = self.store.engine.connect()
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _pg_key(self.run_id)})
            conn.commit()  # a session lock outlives the transaction; no idle-in-transaction session
            self._conn = conn
            self.descriptor = "pg"
        else:
            folder = _lock_dir(self.store)
            if folder is None or fcntl is None:
                return None
            folder.mkdir(parents=True, exist_ok=True)
            fh = (folder / f"{self.run_id}.lock").open("a+")
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._fh = fh
            self.descriptor = "flock"
        _held[self.run_id] = self
        return self.descriptor

    def check(self) -> None:
        """Raise :class:`RunLockLost` when the lock can no longer be vouched for."""
        if self._conn is None or self._lost:
            if self._lost:
                raise RunLockLost(
                    f"run {self.run_id}: lost its liveness lock; stopping before the next write"
                )
            return
        try:
            self._conn.execute(text("SELECT 1")).scalar()
            self._conn.commit()
        except Exception as exc:  # the session is gone, and the advisory lock with it
            self._lost = True
            raise RunLockLost(
                f"run {self.run_id}: its state-store session dropped ({exc.__class__.__name__}); "
                "stopping before the next write, the next run finishes the work"
            ) from None

    def release(self) -> None:
        _held.pop(self.run_id, None)
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _pg_key(self.run_id)})
                self._conn.commit()
            except Exception as exc:  # the session is gone: so is the lock
                log.debug("advisory unlock of run %s: %s", self.run_id, exc)
            finally:
                self._conn.close()
                self._conn = None
        if self._fh is not None:
            folder = _lock_dir(self.store)
            try:
                if folder is not None:
                    (folder / f"{self.run_id}.lock").unlink(missing_ok=True)
            finally:
                self._fh.close()  # closing the file drops the flock
                self._fh = None


_held: dict[str, RunLock] = {}
_check_lock = threading.Lock()


def ensure_held(run_id: str | None) -> None:
    """Before a write: this run still holds its liveness lock (no-op for runs without one)."""
    lock = _held.get(run_id or "")
    if lock is not None:
        lock.check()


def is_dead(store: Store, run_id: str, lock: str | None) -> bool:
    """True only when the run held a liveness lock and nobody holds it any more (its process died).
    A run with no lock recorded is never declared dead here (the claim lease covers it)."""
    if lock == "pg" and store.dialect == "postgresql":
        key = _pg_key(run_id)
        with store.engine.connect() as conn:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
            if got:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()
        return got
    if lock == "flock" and fcntl is not None:
        folder = _lock_dir(store)
        if folder is None:
            return False
        if run_id in _held:  # this very process: alive
            return False
        path = folder / f"{run_id}.lock"
        if not path.exists():
            return True  # released and removed without the run being marked ended: its process died
        with _check_lock, path.open("a+") as fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        path.unlink(missing_ok=True)
        return True
    return False
