"""The serialised form of every kind of action is fixed: ``syncbridge plan --json`` prints it and the
ledger stores its payload, so state databases written by earlier versions must keep meaning the same.

``fixtures/plan_golden.json`` was written by the planner before actions were typed models; a changed
idempotency key would make a second write of something already written.  Regenerate it only for an
intended change of the format: ``SYNCBRIDGE_GOLDEN=write pytest tests/test_plan_golden.py``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from syncbridge.config import load_settings
from syncbridge.connector import Capability
from syncbridge.fieldtypes import FieldDef, FieldDefs
from syncbridge.matching import Link
from syncbridge.model import Evaluation, MicroInternship, Outcome, Person, Skill, Supervisor
from syncbridge.plan import Plan, PlanState, action_key, make_plan

GOLDEN = Path(__file__).parent / "fixtures" / "plan_golden.json"
CAPS = {"gh": frozenset(Capability)}


def _outcome(i: int, *, graduation: date | None = None, team: str = "Data") -> Outcome:
    return Outcome(
        outcome_id=f"MI-{i}",
        student=Person(
            email=f"s{i}@uni.edu",
            first_name="=Ana\x00",
            last_name="Lima",
            phone="+1 555 0100",
            graduation_date=graduation,
        ),
        project=MicroInternship(
            project_id=f"P{i}",
            title="Churn model",
            employer="Acme Corp",
            role_title="Data Analyst",
            team=team,
            supervisor=Supervisor(name="Bo Berg", email="bo@acme.example", title="Lead"),
            start_date=date(2026, 3, 1),
            end_date=date(2026, 4, 1),
            hours=40,
        ),
        evaluation=Evaluation(
            rating=4.8,
            would_hire=True,
            skills=(Skill(name="SQL", level=4), Skill(name="Python", level=5)),
            comments="@everyone great\u202e work",
            deliverables=("https://example.org/d1",),
            submitted_at=datetime(2026, 4, 2, 9, 30, tzinfo=UTC),
        ),
    )


RULE: dict[str, Any] = {
    "name": "strong",
    "when": {"min_rating": 4.5},
    "nurture_when": {"graduation_after_months": 12},
    "nurture": {
        "tags": ["early-talent", "=x"],
        "follow_up_field": "follow_up",
        "options": {"prospect_pool_id": 3},
    },
    "requisition": {
        "title": "{project.role_title} ({project.team})",
        "department": "-Analytics",
        "fields": {"req_team": "project.team"},
        "options": {"publish": "external", "board": 7},
    },
    "prescreen": {"fields": {"app_score": "prescreen.score"}, "stage": "s1"},
}


def _settings(**conversion: Any) -> Any:
    return load_settings(
        {
            "outcomes": {"path": "x.csv"},
            "connectors": {"gh": {"type": "greenhouse", "client_id": "a-1", "client_secret": "zzzz"}},
            "routing": [{"employer": "*", "connector": "gh"}],
            "matching": {"create_unmatched": True, "new_candidate_tags": ["micro-intern", "+new"]},
            "history": {
                "note": True,
                "tags": ["micro-intern", "=evil"],
                "fields": {"mi_rating": "evaluation.rating", "mi_team": "project.team"},
            },
            "conversion": {"enabled": True, "rules": [RULE], **conversion},
        }
    )


class _Crashed(PlanState):
    """The creation of MI-4's person crashed; MI-4 had a note before; the supervisor is an ATS user."""

    def __init__(self, earlier: Mapping[str, Any]) -> None:
        self.earlier = earlier

    def unfinished(self, key: str) -> bool:
        return key == action_key("gh", "create_candidate", "MI-4", "s4@uni.edu")

    def user_for(self, connector: str, email: str) -> str | None:
        return "u-42" if email == "bo@acme.example" else None

    def earlier_note(self, connector: str, outcome_id: str) -> Mapping[str, Any] | None:
        return self.earlier if outcome_id == "MI-4" else None


class _Approved(PlanState):
    """Conversions approved, the role already open, and the ATS's custom-field definitions mirrored."""

    def approval(self, key: str) -> str | None:
        return "approved"

    def open_requisition(self, connector: str, code: str) -> str | None:
        return "job-5"

    def field_defs(self, connector: str) -> FieldDefs | None:
        return FieldDefs(
            [
                FieldDef("mi_rating", "candidate", "number"),
                FieldDef("mi_team", "candidate", "short_text"),
                FieldDef("follow_up", "candidate", "short_text"),  # not a date: the follow-up is not written
                FieldDef("req_team", "job", "short_text"),
                FieldDef("app_score", "application", "number"),
            ]
        )


def _plans() -> dict[str, Plan]:
    outcomes = [
        _outcome(1),  # linked, converts (new requisition, publish, attach, prescreen)
        _outcome(2),  # unmatched: created first, then the same
        _outcome(3, graduation=date(2029, 6, 30)),  # early talent: nurtured
        _outcome(4, team="=1+1"),  # a creation that crashed, and a corrected note
    ]
    links = [
        Link("MI-1", "gh", "linked", candidate_id="7"),
        Link("MI-2", "gh", "unmatched"),
        Link("MI-3", "gh", "linked", candidate_id="9"),
        Link("MI-4", "gh", "linked", candidate_id="10"),
    ]
    earlier = {
        "key": "old",
        "at": datetime(2026, 4, 3, tzinfo=UTC),
        "payload": {"evaluation": {"rating": 3.8, "would_hire": False, "skills": {"SQL": 3}}},
    }
    auto = make_plan(
        _settings(),
        outcomes,
        links,
        capabilities=CAPS,
        state=_Crashed(earlier),
        today=date(2026, 11, 30),
    )
    reused = make_plan(
        _settings(approval="manual"),
        outcomes[:1] + outcomes[2:3],
        [links[0], links[2]],
        capabilities=CAPS,
        state=_Approved(),
        today=date(2026, 11, 30),
    )
    return {"auto": auto, "reused": reused}


def _render(plans: dict[str, Plan]) -> str:
    out = {
        name: {
            # exactly what `syncbridge plan --json` prints for each action
            "actions": [a.model_dump() for a in p.actions],
            "already_done": p.already_done,
            "skipped": p.skipped,
            "strong": [s.state for s in p.strong],
            "rows": p.rows(),
        }
        for name, p in plans.items()
    }
    return json.dumps(out, indent=2, default=str) + "\n"


def test_every_kind_serialises_as_before() -> None:
    """Keys, payloads, summaries and the plan's notes are byte for byte what they were."""
    text = _render(_plans())
    if os.environ.get("SYNCBRIDGE_GOLDEN") == "write":
        GOLDEN.write_text(text, encoding="utf-8")
    kinds = {a["kind"] for p in json.loads(text).values() for a in p["actions"]}
    assert kinds == {
        "create_candidate",
        "add_note",
        "add_tags",
        "set_fields",
        "create_requisition",
        "publish",
        "attach",
        "prescreen",
        "nurture",
    }
    assert text == GOLDEN.read_text(encoding="utf-8")


def test_the_serialised_form_reads_back_to_the_same_typed_action() -> None:
    from syncbridge.actions import ACTION, KINDS

    for plan in _plans().values():
        for action in plan.actions:
            again = ACTION.validate_python(action.model_dump())
            assert type(again) is KINDS[action.kind].model and again == action
            # the ledger keeps the payload as JSON: the same as the payload printed by plan --json
            assert (
                action.stored_payload() == json.loads(json.dumps(action.model_dump(), default=str))["payload"]
            )


def test_the_table_has_every_kind_of_the_union_once() -> None:
    from typing import get_args

    from syncbridge.actions import KINDS, Action

    union, _discriminator = get_args(Action)
    assert {k.model for k in KINDS.values()} == set(get_args(union))
    assert all(kind.capability.value == name for name, kind in KINDS.items())


def test_a_clean_action_is_planned_without_a_copy_and_a_dirty_one_is_copied() -> None:
    from syncbridge.actions import AddTags, TagsPayload

    clean = AddTags(
        key="k", connector="gh", outcome_id="MI-1", target="7", payload=TagsPayload(tags=["a"]), summary=""
    )
    assert clean.sanitised(neutralise_formulas=True) is clean
    dirty = clean.model_copy(update={"payload": TagsPayload(tags=["a", "=b\x00"])})
    fixed = dirty.sanitised(neutralise_formulas=True)
    assert fixed.payload.tags == ["a", "'=b"] and fixed.formulas == ("tags.1",)
    assert dirty.payload.tags == ["a", "=b\x00"]  # the original is not changed
    kept = dirty.sanitised(neutralise_formulas=False)
    assert kept.payload.tags == ["a", "=b"] and kept.formulas == ("tags.1",)


def test_planning_leaves_no_cyclic_garbage() -> None:
    """make_plan keeps the cyclic garbage collector paused, so what it drops must be freed by reference
    counting alone (nested closures calling each other, for instance, would leave a cycle per call).
    Only syncbridge's objects are counted: other threads of the test process may make cycles meanwhile."""
    import gc
    import types

    settings, approved = _settings(), _settings(approval="manual")
    outcomes = [_outcome(i, graduation=date(2029, 6, 30) if i % 3 == 0 else None) for i in range(100)]
    links = [Link(f"MI-{i}", "gh", "linked" if i % 4 else "unmatched", str(i)) for i in range(100)]
    earlier = {"key": "old", "at": datetime(2026, 4, 3, tzinfo=UTC), "payload": {"evaluation": {}}}

    def ours(o: object) -> bool:
        where = o.__module__ if isinstance(o, types.FunctionType) else type(o).__module__
        return str(where).startswith("syncbridge")

    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)  # unreachable objects go to gc.garbage instead of being freed
    gc.disable()
    try:
        plans = [
            make_plan(settings, outcomes, links, capabilities=CAPS, state=_Crashed(earlier)),
            make_plan(approved, outcomes, links, capabilities=CAPS, state=_Approved()),
        ]
        gc.collect()
        found = [o for o in gc.garbage if ours(o)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert sum(len(p.actions) for p in plans) > 500
    assert found == []
