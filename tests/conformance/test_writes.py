"""History writes (note, tags, fields) made through the connector are found by its reconciliation
look-ups, and the applier, which has no ledger entry for them, proves them present and writes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from syncbridge.actions import Action, AddNote, AddTags, SetFields
from syncbridge.connector import Capability, connector_class
from syncbridge.steps import apply as apply_actions
from syncbridge.steps import link, load_outcomes, plan, recorded_run, sync_stream

from .conftest import World, cli, json_out, needs

HISTORY = {kind: Capability(kind) for kind in ("add_note", "add_tags", "set_fields")}


def test_history_written_by_the_connector_is_found_and_not_written_again(world: World) -> None:
    kinds = {k for k, c in HISTORY.items() if c in connector_class(world.vendor).capabilities}
    if not kinds:
        pytest.skip(f"{world.vendor}: the connector writes no history (note, tags, fields)")
    with world.runtime() as rt:
        for stream in rt.streams_for(world.name):
            sync_stream(rt, world.name, stream, full=True)
        with recorded_run(rt, "conformance") as info:
            batch = load_outcomes(rt, info["run_id"])
            planned = plan(rt, batch, link(rt, batch)).actions
            # one person already in the ATS, and what the demo would write to them
            target = next(a.target for a in planned if a.kind in kinds and a.target and not a.depends_on)
            actions = [a for a in planned if a.target == target and a.kind in kinds]
            assert {a.kind for a in actions} == kinds, "the demo writes every history kind it can"
            connector = rt.connector(world.name)
            assert target is not None
            before = _present(connector, target, actions)
            assert not any(before.values()), f"already there before the write: {before}"

            for a in actions:  # written through the connector, as the applier would
                if isinstance(a, AddNote):
                    assert connector.add_note(target, a.note())
                elif isinstance(a, AddTags):
                    connector.add_tags(target, a.payload.tags)
                elif isinstance(a, SetFields):
                    connector.set_fields(target, a.payload.fields)
            after = _present(connector, target, actions)
            assert all(after.values()), f"not found after the write: {after}"
            notes = [a.marker for a in actions if a.kind == "add_note"]
            if notes:
                unknown = "syncbridge:" + "0" * 32
                found = connector.find_notes(target, [*notes, unknown])
                assert set(found) == set(notes)
                assert found[notes[0]] == connector.find_note(target, notes[0])

            # the applier has no ledger entry for them (a new state store): it looks and sends nothing
            result = apply_actions(rt, actions, run_id=info["run_id"])
    assert result.failed == 0 and result.blocked == 0, result.errors
    if connector_class(world.vendor).writes_counted:
        assert result.applied == 0 and result.reconciled == len(actions)
    else:  # a write the connector skipped cannot be told from one it sent; notes are looked up first
        assert result.reconciled >= len(notes)


def _present(connector: Any, target: str, actions: list[Action]) -> dict[str, bool]:
    """Action kind → whether the connector's look-up finds the write on the person."""
    out: dict[str, bool] = {}
    for a in actions:
        if isinstance(a, AddNote):
            out[a.kind] = connector.find_note(target, a.marker) is not None
        elif isinstance(a, AddTags):
            out[a.kind] = connector.has_tags(target, a.payload.tags)
        elif isinstance(a, SetFields):
            out[a.kind] = connector.has_fields(target, a.payload.fields)
    return out


def test_a_field_mapping_the_connector_cannot_write_is_reported_not_planned(world: World) -> None:
    if Capability.set_fields in connector_class(world.vendor).capabilities:
        pytest.skip(f"{world.vendor}: the connector writes fields")
    needs(world.vendor, Capability.add_note)
    history = {"note": True, "tags": [], "fields": {"mi_rating": "evaluation.rating"}}
    config = world.write_config(
        world.folder / "fields.yaml", state=f"sqlite:///{world.folder / 'fields.db'}", history=history
    )
    run = world.run(config, "--dry-run")
    assert run.code == 0 and run.summary is not None, run.output[-800:]
    assert any("cannot set fields" in gap for gap in run.summary["capability_gaps"]), run.summary
    code, stdout, output = cli(config, "plan", "--json")
    assert code == 0, output
    kinds = {a["kind"] for a in json_out(stdout)["actions"]}
    assert "set_fields" not in kinds and "add_note" in kinds
