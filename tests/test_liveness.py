"""Run liveness: a run's lock dies with its process (kill -9), on SQLite and on PostgreSQL, and its
ledger claims are taken over at once, long before their lease would expire."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import create_pg_database, drop_pg_database
from syncbridge.store import Store

HOLDER = textwrap.dedent(
    """
    import sys, time
    from syncbridge.liveness import RunLock, owner
    from syncbridge.store import Store

    store = Store(sys.argv[1])
    lock = RunLock(store, "victim")
    store.run_started("victim", "apply", owner=owner(), lock=lock.acquire())
    store.ledger_start("k1", connector="gh", kind="add_note", outcome_id="o1", target="1", payload={},
                       run_id="victim")
    print("ready", flush=True)
    time.sleep(600)
    """
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
        return
    admin = request.getfixturevalue("pg_server")
    made = create_pg_database(admin)
    yield made
    drop_pg_database(admin, made)


def test_a_killed_runs_claims_are_taken_over_at_once(url: str) -> None:
    store = Store(url)
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, url], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        kw = {"connector": "gh", "kind": "add_note", "outcome_id": "o1", "target": "1", "payload": {}}
        # alive: its claim holds, and the run is running
        assert store.claimed_elsewhere(store.ledger_get("k1"), "next")
        assert store.ledger_start("k1", run_id="next", **kw) == 0
        assert store.sweep_dead_runs() == []
        assert store.recent_runs()[0]["status"] == "running"

        proc.kill()  # SIGKILL: nothing is recorded by the victim
        proc.wait(timeout=30)
        deadline = time.monotonic() + 30  # PostgreSQL notices the closed socket almost at once
        while store.claimed_elsewhere(store.ledger_get("k1"), "next"):
            assert time.monotonic() < deadline, "the dead run's claim was not released"
            time.sleep(0.1)
        [run] = store.recent_runs()
        assert run["status"] == "crashed" and "died" in run["error"]
        assert store.ledger_start("k1", run_id="next", **kw) == 2  # taken over, 15-minute lease or not
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        with contextlib.suppress(Exception):
            store.close()


def test_a_live_run_in_this_process_is_not_declared_dead(tmp_path: Path) -> None:
    from syncbridge.liveness import RunLock, is_dead

    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    lock = RunLock(store, "me")
    assert lock.acquire() == "flock"
    assert not is_dead(store, "me", "flock")
    lock.release()
    assert is_dead(store, "me", "flock")  # released but never recorded as ended: gone
    assert not is_dead(store, "old", None)  # a run without a lock: only its lease can end its claim
