"""The serialised form of every kind of action is fixed: ``syncbridge plan --json`` prints it and the
ledger stores its payload, so state databases written by earlier versions must keep meaning the same.

``fixtures/plan_golden.json`` was written by the planner before actions were typed models; a changed
idempotency key would make a second write of something already written.  Regenerate it only for an
intended change of the format: ``SYNCBRIDGE_GOLDEN=write pytest tests/test_plan_golden.py``.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from syncbridge.config import load_settings
from syncbridge.connector import Capability
from syncbridge.fieldtypes import FieldDef, FieldDefs
from syncbridge.matching import Link
from syncbridge.model import Evaluation, MicroInternship, Outcome, Person, Skill, Supervisor
from syncbridge.plan import Plan, action_key, make_plan

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


def _plans() -> dict[str, Plan]:
    done = {"unused": "x"}
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
        done=done.get,
        unfinished=lambda key: key == action_key("gh", "create_candidate", "MI-4", "s4@uni.edu"),
        user_for=lambda _c, email: "u-42" if email == "bo@acme.example" else None,
        earlier_note=lambda _c, oid: earlier if oid == "MI-4" else None,
        today=date(2026, 11, 30),
    )
    defs = FieldDefs(
        [
            FieldDef("mi_rating", "candidate", "number"),
            FieldDef("mi_team", "candidate", "short_text"),
            FieldDef("follow_up", "candidate", "short_text"),  # not a date: the follow-up is not written
            FieldDef("req_team", "job", "short_text"),
            FieldDef("app_score", "application", "number"),
        ]
    )
    reused = make_plan(
        _settings(approval="manual"),
        outcomes[:1] + outcomes[2:3],
        [links[0], links[2]],
        capabilities=CAPS,
        done=lambda _k: None,
        approval=lambda _k: "approved",
        open_requisition=lambda _c, _code: "job-5",
        field_defs=lambda _c: defs,
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
