"""The pipeline end to end (``syncbridge run --no-prefect``) with the demo's configuration: the first run
writes history (and converts strong micro-interns where the vendor can), a re-run plans nothing, and a
brand-new state store writes nothing again.  What landed is checked through the connector."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml

from syncbridge.connector import Capability, Connector, connector_class
from syncbridge.model import Prescreen
from syncbridge.store import Store

from .conftest import (
    LogCapture,
    Run,
    World,
    cli,
    ledger,
    markers_in,
    needs,
    requisitions_by_code,
    settle,
)

pytestmark = pytest.mark.e2e


@dataclass
class Runs:
    world: World
    first: Run
    second: Run
    logs: str  # the first run's logs at -vv, its output, then `status` and `plan`
    ledger: list[dict[str, Any]]

    def done(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.ledger if r["kind"] == kind and r["status"] == "done"]


@pytest.fixture(scope="module")
def runs(world: World) -> Iterator[Runs]:
    with LogCapture().installed() as capture:
        first = world.run(global_args=("-vv",))
        outputs = [first.output, cli(world.config, "status", "--json")[2], cli(world.config, "plan")[2]]
    second = world.run()
    settle()
    store = Store(world.state_url())
    try:
        rows = ledger(store)
    finally:
        store.close()
    yield Runs(world, first, second, "\n".join([capture.text, *outputs]), rows)


def test_first_run_writes_history_a_rerun_nothing_and_logs_no_personal_data(runs: Runs) -> None:
    world, first, second = runs.world, runs.first, runs.second
    assert first.code == 0, first.output[-2000:]
    assert first.actions["failed"] == 0 and first.actions["applied"] == first.actions["planned"] > 0
    assert first.outcomes["quarantined"] == 2  # the demo's two bad rows
    assert first.outcomes["ambiguous"] == world.count("ambiguous")
    assert first.outcomes["unmatched"] == world.count("unmatched")

    history = [r for k in ("add_note", "add_tags", "set_fields") for r in runs.done(k)]
    targets = {r["target"] for r in history}
    with world.connector() as connector:
        _assert_history_in_ats(connector, runs)
        for email, kind in world.kinds().items():
            people = connector.find_candidates(email)
            if kind == "ambiguous":  # two people with that address: nothing is written to either
                assert len(people) == 2 and not targets & {p.ref.id for p in people}
                continue
            assert len(people) == 1, (kind, len(people))  # the unmatched one was created, once
            person = people[0].ref.id
            assert person in targets, f"{kind}: no history on the person"
            texts = world.sandbox.note_texts(world.db, email)
            if texts is not None:  # one note per write, on this person's record
                mine = [f"syncbridge:{r['key']}" for r in runs.done("add_note") if r["target"] == person]
                counts = markers_in(texts)
                assert all(counts.get(m) == 1 for m in mine), (mine, counts)

    assert second.code == 0, second.output[-2000:]
    assert second.actions["planned"] == 0 and second.actions["applied"] == 0
    assert second.actions["already_done"] > 0
    assert second.outcomes["unmatched"] == 0  # the people run 1 created are linked now
    _assert_no_secrets_or_emails(world, runs.logs)


def _assert_no_secrets_or_emails(world: World, text: str) -> None:
    """The first run's logs at -vv, its output, `status` and `plan` hold no credential and no e-mail."""
    assert "synced" in text and "DEBUG" in text
    secrets = [v for k, v in world.sandbox.env.items() if any(s in k for s in ("SECRET", "PASSWORD", "KEY"))]
    for value in secrets:
        assert value not in text
    lowered = text.lower()
    for row in world.rows():
        for email in (row["student_email"], row["supervisor_email"]):
            email = email.strip().lower()
            if email:
                assert email not in lowered and quote(email).lower() not in lowered


def _assert_history_in_ats(connector: Connector, runs: Runs) -> None:
    """Every history write the ledger says is done is found by the connector's own look-ups."""
    for row in runs.done("add_note"):
        assert connector.find_note(row["target"], f"syncbridge:{row['key']}") is not None, row
    for row in runs.done("add_tags"):
        assert connector.has_tags(row["target"], row["payload"]["tags"]), row
    for row in runs.done("set_fields"):
        assert connector.has_fields(row["target"], row["payload"]["fields"]), row
    for row in runs.done("create_candidate"):
        [person] = connector.find_candidates(row["payload"]["email"])
        assert person.ref.id == row["remote_ref"]


def test_conversion_opens_one_requisition_per_code_attaches_and_prescreens(runs: Runs) -> None:
    world, first, second = runs.world, runs.first, runs.second
    needs(world.vendor, Capability.create_requisition, Capability.attach, Capability.prescreen)
    if world.sandbox.conversion_rule(world.sandbox.employer) is None:
        pytest.skip(f"{world.vendor}: the sandbox has no conversion rule")
    assert first.summary is not None and second.summary is not None
    converted = [c for c in first.summary["conversions"] if not c["state"].startswith("nurture")]
    assert converted, "the demo's outcomes always have strong micro-interns"
    code_of = {c["outcome_id"]: c["code"] for c in first.summary["conversions"]}
    attach = {r["outcome_id"]: r for r in runs.done("attach")}
    prescreen = {r["outcome_id"]: r for r in runs.done("prescreen")}
    with world.connector() as connector:
        counts = requisitions_by_code(connector)
        requisitions = {}
        for code in {c["code"] for c in converted}:
            assert counts.get(code) == 1, f"{code}: {counts.get(code, 0)} requisitions"
            found = connector.find_requisition(code)
            assert found is not None
            requisitions[code] = found.ref.id
        for c in converted:
            person = attach[c["outcome_id"]]["target"]
            app = connector.find_application(person, requisitions[c["code"]])
            assert app is not None and app.ref.id == attach[c["outcome_id"]]["remote_ref"]
            wanted = Prescreen.model_validate(prescreen[c["outcome_id"]]["payload"]["prescreen"])
            assert connector.find_prescreen(app.ref.id, wanted) is not None
        for row in runs.done("publish"):
            options = row["payload"].get("options") or {}
            assert connector.find_published(requisitions[code_of[row["outcome_id"]]], options) is not None
        for row in runs.done("nurture"):  # a strong student far from graduation: nurtured instead
            assert connector.find_nurture(row["target"], row["payload"]) is not None
    if Capability.nurture in connector_class(world.vendor).capabilities and world.sandbox.nurture_options():
        assert runs.done("nurture"), "the demo's early-talent outcome is nurtured"
    again = [c for c in second.summary["conversions"] if not c["state"].startswith("nurture")]
    assert again and all("reuses requisition" in c["state"] for c in again), again
    assert second.actions["planned"] == 0


def test_a_brand_new_state_store_writes_nothing_again(runs: Runs, new_state: Callable[[str], str]) -> None:
    """The ATS already holds the first run's writes; a second, empty store (PostgreSQL when the suite has
    one) proves each of them present and sends none."""
    world = runs.world
    url = new_state("second")
    again = world.run(world.write_config(world.folder / "second.yaml", state=url))
    assert again.code == 0, again.output[-2000:]
    assert again.actions["applied"] == 0, "a new state store must not write again"
    assert again.actions["reconciled"] == again.actions["planned"] > 0
    store = Store(url)
    try:
        assert store.ledger_counts() == {"done": again.actions["planned"]}
        assert {r["result"] for r in store.audit_rows()} == {"reconciled"}
        proved = {r["kind"] for r in store.audit_rows()}
    finally:
        store.close()
    made = {r["kind"] for r in runs.ledger if r["status"] == "done"}
    # people and requisitions the first run created come back through the new store's full sync (linked,
    # reused), so they are not even planned; everything else is planned and proved present
    assert made - {"create_candidate", "create_requisition"} <= proved


def test_a_run_with_nothing_to_do_finishes_without_prefect(
    runs: Runs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``syncbridge run`` starts the pipeline flow only when the run has something to write or to report
    (``steps.settled_run``); a run with nothing to do is finished and recorded without Prefect."""
    import syncbridge.flows.runs as flow_runs

    flows: list[Any] = []

    def flow(name: str, params: Any) -> dict[str, Any]:
        flows.append(params)
        return {"outcomes": {}, "actions": {}, "synced": {}}

    monkeypatch.setattr(flow_runs, "run_and_summarize", flow)
    world = runs.world
    outcomes = world.folder / "settled-outcomes.csv"
    outcomes.write_bytes(world.outcomes.read_bytes())  # the same rows, from a file no run has read yet
    config = world.write_config(world.folder / "settled.yaml", outcomes={"path": str(outcomes)})

    def prefect_run(*args: str) -> dict[str, Any]:
        code, stdout, output = cli(config, "run", "--json", *args)
        assert code == 0, output[-2000:]
        return dict(json.loads(stdout))

    prefect_run()  # its quarantined rows were never reported: the flow runs (and would report them)
    assert len(flows) == 1 and flows[0].config == str(config)
    reported = world.run(config)
    assert reported.finished and reported.outcomes["quarantined"] > 0
    settled = prefect_run()
    assert len(flows) == 1, "a run with nothing to do started the flow"
    assert settled["actions"]["planned"] == 0 and settled["actions"]["applied"] == 0
    assert settled["actions"]["already_done"] == reported.actions["already_done"] > 0
    assert settled["outcomes"] == reported.outcomes and set(settled["synced"]) == set(
        reported.summary["synced"]
    )
    last = json.loads(cli(config, "status", "--json")[1])["last_runs"][0]
    assert last["flow"] == "pipeline" and last["status"] == "completed"

    with outcomes.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    new = {**next(r for r in rows if r["student_email"]), "outcome_id": "MI-NEW-1", "project_id": "MI-NEW"}
    with outcomes.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows([*rows, new])
    prefect_run()  # a new outcome: writes to plan
    assert len(flows) == 2
    prefect_run("--full")  # a full re-read always runs the flow
    assert len(flows) == 3 and flows[2].full


def test_manual_approval_opens_only_what_was_approved(vendor: str, tmp_path: Path) -> None:
    """With ``approval: manual`` nothing is opened until someone decides (``syncbridge approve`` /
    ``reject``); the next run opens the approved role only, and a rejection is never reopened."""
    needs(vendor, Capability.create_requisition, Capability.attach, Capability.prescreen)
    world = World(vendor, tmp_path)
    if world.sandbox.conversion_rule(world.sandbox.employer) is None:
        pytest.skip(f"{vendor}: the sandbox has no conversion rule")
    world.start()
    try:
        config = world.config
        data = yaml.safe_load(config.read_text(encoding="utf-8"))
        data["conversion"]["approval"] = "manual"
        config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        first = world.run()
        assert first.code == 0 and first.summary is not None, first.output[-2000:]
        waiting = [c for c in first.summary["conversions"] if c["state"] == "awaiting approval"]
        codes = {c["code"] for c in waiting}
        assert len(codes) >= 2, first.summary["conversions"]
        settle()
        with world.connector() as connector:
            assert not codes & set(requisitions_by_code(connector)), "opened without a decision"
        code, _, status = cli(config, "status")
        assert "approvals waiting:" in status and waiting[0]["approval"] in status

        yes = waiting[0]
        no = next(c for c in waiting if c["code"] != yes["code"])
        code, _, out = cli(config, "approve", yes["approval"])
        assert code == 0 and "approved" in out
        code, _, out = cli(config, "reject", no["outcome_id"], "--reason", "no headcount")
        assert code == 0 and "rejected" in out
        assert "already rejected" in cli(config, "approve", no["outcome_id"])[2]  # never reopened

        second = world.run()
        assert second.code == 0 and second.summary is not None, second.output[-2000:]
        states = {c["outcome_id"]: c["state"] for c in second.summary["conversions"]}
        assert states[yes["outcome_id"]].startswith("approved") and states[no["outcome_id"]] == "rejected"
        settle()
        with world.connector() as connector:
            assert codes & set(requisitions_by_code(connector)) == {yes["code"]}
        store = Store(world.state_url())
        try:
            [row] = store.approvals_for(no["approval"])
            assert row["status"] == "rejected" and row["reason"] == "no headcount"
        finally:
            store.close()
    finally:
        world.stop()
