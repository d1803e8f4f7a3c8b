"""End to end: the CLI (in-process) against the Lever sandbox: writes, idempotence, crash reconciliation,
faults.  Each test gets its own freshly seeded sandbox and state database."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
import yaml
from click.testing import CliRunner

from conftest import crash_after_write
from syncbridge.cli import main
from syncbridge.connectors.lever import sandbox
from syncbridge.demo_data import write_demo_outcomes
from syncbridge.store import Store

pytestmark = pytest.mark.e2e

SIZE = 120
CONNECTOR = "lever-acme"


class Env:
    def __init__(self, tmp: Path, server: sandbox.SandboxServer, db: Path) -> None:
        self.tmp, self.server, self.db = tmp, server, db
        self.people = sandbox.demo_people(db)
        self.outcomes = tmp / "outcomes.csv"
        write_demo_outcomes(self.outcomes, self.people)
        self.config = tmp / "syncbridge.yaml"
        block = sandbox.demo_connector_block(server.url)
        # fast tests: the connector paces itself well above the sandbox default, retries back off briefly
        block.update({"rate_per_second": 500.0, "burst": 500, "backoff_base": 0.02})
        config = {
            "version": 1,
            "state": {"url": f"sqlite:///{tmp / 'state.db'}"},
            "outcomes": {"path": str(self.outcomes)},
            "connectors": {CONNECTOR: block},
            "routing": [{"employer": "Acme Corp", "connector": CONNECTOR}],
            "matching": {"create_unmatched": True, "new_candidate_tags": ["micro-intern-sourced"]},
            "history": {"note": True, "tags": ["micro-intern"], "fields": {"mi_rating": "evaluation.rating"}},
        }
        self.config.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")

    def run(self, *, verbose: bool = False) -> dict[str, Any]:
        args = ["-vv"] if verbose else []
        result = CliRunner().invoke(main, [*args, "-c", str(self.config), "run", "--no-prefect", "--json"])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        if "{" not in result.stdout:
            raise RuntimeError(f"the run did not finish: {result.output[-500:]}")
        return json.loads(result.stdout[result.stdout.index("{") :])

    def stats(self) -> dict[str, Any]:
        return requests.get(f"{self.server.url}/_sandbox/stats", timeout=5).json()

    def configure(self, **changes: Any) -> None:
        requests.post(f"{self.server.url}/_sandbox/config", json=changes, timeout=5).raise_for_status()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    for name, value in sandbox.DEMO_ENV.items():
        monkeypatch.setenv(name, value)
    db = tmp_path / "lever.db"
    sandbox.seed(db, size=SIZE)
    # the sandbox is unthrottled here: rate limiting has its own tests and the benchmark
    with sandbox.SandboxServer(db, rate_per_second=0) as server:
        yield Env(tmp_path, server, db)


def _kinds(people: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for p in people:
        out[p["kind"]] = out.get(p["kind"], 0) + 1
    return out


def _notes_with(db: Path, marker: str) -> int:
    conn = sqlite3.connect(str(db))
    try:
        return sum(1 for (data,) in conn.execute("SELECT data FROM notes") if marker in data)
    finally:
        conn.close()


def _history(snapshot: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Only people that carry syncbridge history (seeded notes and tags are identical in both sandboxes)."""
    return {
        k: v
        for k, v in snapshot.items()
        if "micro-intern" in v["tags"] or any("[syncbridge:" in n for n in v["notes"])
    }


def test_first_run_writes_second_run_plans_nothing(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="syncbridge")
    kinds = _kinds(env.people)
    assert kinds["ambiguous"] == 1 and kinds["unmatched"] == 2
    writable = len(env.people) - kinds["ambiguous"]

    first = env.run(verbose=True)
    assert first["outcomes"]["linked"] == writable - kinds["unmatched"]
    assert first["outcomes"]["ambiguous"] == 1
    actions = first["actions"]
    assert actions["failed"] == 0, first["errors"]
    # a note and a tag write per writable person, plus one creation per unmatched person
    assert actions["applied"] == 2 * writable + kinds["unmatched"]
    assert any("cannot set fields" in gap for gap in first["capability_gaps"])

    stats = env.stats()
    assert stats["notes_written"] == writable
    assert stats["opportunities_created"] == kinds["unmatched"]
    assert stats["tags_added"] >= writable

    history = _history(sandbox.people_snapshot(env.db))
    assert len(history) == writable
    ambiguous = next(p for p in env.people if p["kind"] == "ambiguous")
    key = next(
        k for k in sandbox.people_snapshot(env.db) if ambiguous["email"].strip().lower() in k.split("|")
    )
    assert key not in history  # the ambiguous outcome got no writes
    for entry in history.values():
        assert "micro-intern" in entry["tags"]
        assert sum("[syncbridge:" in n for n in entry["notes"]) == 1

    # nothing secret or personal reached the logs
    assert caplog.records
    assert sandbox.DEFAULT_API_KEY not in caplog.text
    for person in env.people:
        email = person["email"].strip().lower()
        assert email not in caplog.text.lower() and quote(email) not in caplog.text.lower()

    second = env.run()
    assert second["actions"]["planned"] == 0
    assert second["actions"]["already_done"] > 0
    assert env.stats()["notes_written"] == writable
    assert env.stats()["opportunities_created"] == kinds["unmatched"]


def test_crash_after_note_is_reconciled_not_resent(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    with (
        crash_after_write(monkeypatch, "add_note") as crashed,
        pytest.raises(RuntimeError, match="simulated crash"),
    ):
        env.run()
    assert crashed, "no add_note reached ledger_finish"
    marker = f"syncbridge:{crashed['key']}"
    assert _notes_with(env.db, marker) == 1

    again = env.run()
    assert again["actions"]["reconciled"] >= 1
    assert again["actions"]["failed"] == 0, again["errors"]
    assert _notes_with(env.db, marker) == 1
    store = Store(f"sqlite:///{env.tmp / 'state.db'}")
    try:
        row = store.ledger_get(crashed["key"])
        assert row is not None and row["status"] == "done"
    finally:
        store.close()
    assert env.run()["actions"]["planned"] == 0


def test_faults_converge_to_the_clean_state(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env.configure(fault_rate=0.1, fault_seed=11)
    for _ in range(4):  # the first run and up to 3 re-runs, faults still on
        try:
            summary = env.run()
        except (RuntimeError, ValueError):  # a read that failed for good stops a run; the next one resumes
            continue
        if summary["actions"]["failed"] == 0 and summary["actions"]["blocked"] == 0:
            break
    env.configure(fault_rate=0.0)
    final = env.run()
    assert final["actions"]["planned"] == 0, final
    assert env.stats()["faults"] > 0

    clean_dir = tmp_path / "clean"
    clean_dir.mkdir()
    clean_db = clean_dir / "lever.db"
    sandbox.seed(clean_db, size=SIZE)
    with sandbox.SandboxServer(clean_db, rate_per_second=0) as server:
        clean = Env(clean_dir, server, clean_db)
        assert clean.people == env.people
        assert clean.run()["actions"]["failed"] == 0
    faulty_state = _history(sandbox.people_snapshot(env.db))
    clean_state = _history(sandbox.people_snapshot(clean_db))
    assert faulty_state == clean_state
    assert all(v["people"] == 1 for v in faulty_state.values())


def test_a_sync_reads_each_opportunity_page_once_for_people_and_applications(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One read of the opportunities fills both the people and their applications: the ``applications``
    stream is covered by ``candidates`` and not read again in the same sync (it was: twice the requests)."""
    from syncbridge.config import load_config
    from syncbridge.connectors.lever.connector import LeverConnector
    from syncbridge.steps import Runtime, sync_stream

    reads: list[int] = []
    original = LeverConnector._opportunity_pages

    def counting(self: LeverConnector, window: Any, **kw: Any) -> Iterator[list[dict[str, Any]]]:
        reads.append(1)
        yield from original(self, window, **kw)

    monkeypatch.setattr(LeverConnector, "_opportunity_pages", counting)
    with Runtime(load_config(env.config)) as rt:
        streams = rt.streams_for(CONNECTOR)
        assert "candidates" in streams and "applications" not in streams
        for stream in streams:
            sync_stream(rt, CONNECTOR, stream, full=True)
        counts = rt.store.mirror_counts()[CONNECTOR]
    assert len(reads) == 1
    stats = env.stats()
    assert counts["applications"] == stats["opportunities"]
    assert counts["candidates"] == stats["contacts"]
