"""Recovery: a crash between a vendor write and its ledger update, and a run against a sandbox that
fails requests (``fault_rate``), both end in the state a clean run leaves, with nothing written twice."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import crash_after_write
from syncbridge.connector import Capability, Connector
from syncbridge.store import Store

from .conftest import LogCapture, Run, World, ledger, markers_in, needs, requisitions_by_code

pytestmark = pytest.mark.e2e
FAULT_RATE, FAULT_SEED = 0.2, 3
MAX_RUNS = 6  # runs against the faulty sandbox before it must have converged


# -- a crash after the vendor made the write, before the ledger knew -------------------------------------


@pytest.mark.parametrize("kind", ["add_note", "create_requisition"])
def test_a_write_the_ledger_missed_is_reconciled_not_resent(
    vendor: str, kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    needs(vendor, Capability(kind))
    world = World(vendor, tmp_path)
    if kind == "create_requisition" and world.sandbox.conversion_rule(world.sandbox.employer) is None:
        pytest.skip(f"{vendor}: the sandbox has no conversion rule")
    world.start()
    try:
        with (
            crash_after_write(monkeypatch, kind) as crashed,
            pytest.raises(RuntimeError, match="simulated crash"),
        ):
            world.run()
        store = Store(world.state_url())
        try:
            row = store.ledger_get(crashed["key"])
            assert row is not None and row["status"] == "started"
            again = world.run()
            assert again.code == 0, again.output[-2000:]
            assert again.actions["reconciled"] >= 1 and again.actions["failed"] == 0
            done = store.ledger_get(crashed["key"])
            assert done is not None and done["status"] == "done"
            assert any(a["result"] == "reconciled" for a in store.audit_rows(crashed["key"]))
        finally:
            store.close()
        with world.connector() as connector:
            if kind == "add_note":
                marker = f"syncbridge:{crashed['key']}"
                assert connector.find_note(row["target"], marker) is not None
                email = connector.get_candidate(row["target"]).normalized_emails[0]
                texts = world.sandbox.note_texts(world.db, email)
                assert texts is None or markers_in(texts).get(marker) == 1
            else:
                code = row["payload"]["code"]
                assert requisitions_by_code(connector).get(code) == 1, "no second requisition for the code"
        assert world.run().actions["planned"] == 0
    finally:
        world.stop()


# -- faults: re-runs converge to the clean state ----------------------------------------------------------


@dataclass
class Chaos:
    clean: World
    faulty: World
    runs: list[Run]
    retries: int  # requests the product retried after an injected fault
    ledger: list[dict[str, Any]]  # the clean run's


@pytest.fixture(scope="module")
def chaos(vendor: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chaos]:
    clean = World(vendor, tmp_path_factory.mktemp(f"{vendor}-clean-")).start()
    faulty = World(vendor, tmp_path_factory.mktemp(f"{vendor}-faulty-"))
    try:
        first = clean.run()
        assert first.code == 0 and first.actions["failed"] == 0, first.output[-2000:]
        store = Store(clean.state_url())
        try:
            rows = ledger(store)
        finally:
            store.close()
        faulty.start(fault_rate=FAULT_RATE, fault_seed=FAULT_SEED)
        runs: list[Run] = []
        with LogCapture().installed() as capture:  # -v: the product logs each retry
            for _ in range(MAX_RUNS):  # a read that fails for good stops a run: the next one resumes
                runs.append(faulty.run(global_args=("-v",), tolerate=True))
                if runs[-1].finished:
                    break
        retries = sum("retrying" in line for line in capture.lines)
        faulty.start()  # the same data served without faults, to look at it
        yield Chaos(clean, faulty, runs, retries, rows)
    finally:
        clean.stop()
        faulty.stop()


def _state(world: World, connector: Connector, markers: list[str]) -> dict[str, Any]:
    """Per demo e-mail, ids left out: each person's tags, custom fields and which markers they carry."""
    out: dict[str, Any] = {}
    for email in world.kinds():
        people = []
        for p in connector.find_candidates(email):
            person = connector.get_candidate(p.ref.id)
            found = sorted(connector.find_notes(p.ref.id, markers)) if markers else []
            fields = sorted((k, repr(v)) for k, v in person.custom_fields.items())
            people.append((sorted(person.tags), fields, found))
        out[email] = sorted(people)
    return out


def test_faults_converge_to_the_state_of_a_clean_run(chaos: Chaos) -> None:
    summaries = [r.summary["actions"] if r.summary else r.output[-300:] for r in chaos.runs]
    assert chaos.runs[-1].finished, f"not converged after {len(chaos.runs)} runs: {summaries}"
    assert chaos.retries > 0 or any(not r.finished for r in chaos.runs[:-1]), "no fault was injected"
    store = Store(chaos.faulty.state_url())
    try:
        assert store.ledger_pending() == [], "writes left pending"
    finally:
        store.close()
    markers = [f"syncbridge:{r['key']}" for r in chaos.ledger if r["kind"] == "add_note"]
    with chaos.clean.connector() as clean, chaos.faulty.connector() as faulty:
        assert _state(chaos.faulty, faulty, markers) == _state(chaos.clean, clean, markers), summaries
        assert requisitions_by_code(faulty) == requisitions_by_code(clean)


def test_faults_leave_no_note_written_twice(chaos: Chaos) -> None:
    sandbox = chaos.faulty.sandbox
    if sandbox.note_texts(chaos.faulty.db, chaos.faulty.people[0]["email"]) is None:
        pytest.skip(f"{chaos.faulty.vendor}: the sandbox does not show its notes (Sandbox.note_texts)")
    for email in chaos.faulty.kinds():
        faulty = sandbox.note_texts(chaos.faulty.db, email) or []
        clean = sandbox.note_texts(chaos.clean.db, email) or []
        assert sorted(faulty) == sorted(clean), email
        twice = {m: n for m, n in markers_in(faulty).items() if n > 1}
        assert not twice, f"{email}: notes written twice: {twice}"
