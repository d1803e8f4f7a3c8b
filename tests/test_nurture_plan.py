"""Early-talent nurture in the (pure) planner: which strong students are nurtured, and the dates."""

from __future__ import annotations

from datetime import date

import pytest

from syncbridge.config import load_settings
from syncbridge.connector import Capability
from syncbridge.matching import Link
from syncbridge.model import Evaluation, MicroInternship, Outcome, Person
from syncbridge.nurture import months_between, shift_months
from syncbridge.plan import Plan, PlanState, make_plan

SETTINGS = load_settings(
    {
        "outcomes": {"path": "x.csv"},
        "connectors": {"fake": {"type": "greenhouse", "client_id": "a-1", "client_secret": "zzzz"}},
        "routing": [{"employer": "*", "connector": "fake"}],
        "history": {"note": False, "tags": []},
        "conversion": {
            "enabled": True,
            "approval": "manual",
            "rules": [
                {
                    "name": "strong",
                    "when": {"min_rating": 4.5},
                    "nurture_when": {"graduation_after_months": 12},
                    "nurture": {"tags": ["early-talent"], "options": {"prospect_pool_id": 3}},
                }
            ],
        },
    }
)
TODAY = date(2026, 11, 30)


def _outcome(graduation: date | None, rating: float = 4.8) -> Outcome:
    return Outcome(
        outcome_id="MI-1",
        student=Person(email="s@uni.edu", first_name="Ana", last_name="Lima", graduation_date=graduation),
        project=MicroInternship(
            project_id="P1",
            title="Churn model",
            employer="Acme Corp",
            start_date=date(2026, 3, 1),
            end_date=date(2026, 4, 1),
        ),
        evaluation=Evaluation(rating=rating, would_hire=True),
    )


def _plan(o: Outcome, today: date = TODAY) -> Plan:
    return make_plan(
        SETTINGS,
        [o],
        [Link("MI-1", "fake", "linked", candidate_id="7")],
        capabilities={"fake": frozenset(Capability)},
        state=PlanState(),
        today=today,
    )


def test_a_strong_student_graduating_in_more_than_a_year_is_nurtured_without_approval() -> None:
    plan = _plan(_outcome(date(2028, 8, 31)))
    assert [a.kind for a in plan.actions] == ["nurture"]
    [action] = plan.actions
    assert action.payload.follow_up == date(2028, 2, 29)  # six months before, the day clamped (leap year)
    assert action.payload.options == {"prospect_pool_id": 3} and action.payload.tags == ["early-talent"]
    [strong] = plan.strong
    assert strong.state.startswith("nurture: graduates 2028-08-31 (more than 12 months away)")


@pytest.mark.parametrize("graduation", [None, date(2027, 11, 29), date(2027, 11, 30)])
def test_no_date_or_graduating_within_the_window_is_a_conversion_as_before(graduation: date | None) -> None:
    plan = _plan(_outcome(graduation))
    assert [a.kind for a in plan.actions] == []  # manual: awaits approval
    [strong] = plan.strong
    assert strong.state == "awaiting approval"


def test_the_same_outcome_converts_once_graduation_comes_within_the_window() -> None:
    o = _outcome(date(2028, 6, 15))
    assert _plan(o, date(2026, 11, 30)).strong[0].state.startswith("nurture")
    assert _plan(o, date(2027, 7, 1)).strong[0].state == "awaiting approval"


def test_a_weak_student_is_never_nurtured() -> None:
    plan = _plan(_outcome(date(2029, 1, 1), rating=3.5))
    assert plan.actions == [] and plan.strong == []


def test_month_arithmetic() -> None:
    assert months_between(date(2026, 11, 30), date(2027, 11, 30)) == 12
    assert months_between(date(2026, 11, 30), date(2027, 11, 29)) == 11
    assert shift_months(date(2027, 3, 31), -1) == date(2027, 2, 28)
    assert shift_months(date(2026, 11, 15), 3) == date(2027, 2, 15)
