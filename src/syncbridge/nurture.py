"""Early talent: a strong micro-intern who is not graduating soon is nurtured, not converted.

First- and second-year students meet employers through micro-internships long before they can be hired.
Opening a requisition for them would be wrong; forgetting them would waste the relationship.  A
conversion rule's ``nurture_when`` (e.g. graduation more than 12 months away) turns such a strong outcome
into a *nurture*: the person becomes (or stays) a prospect in the configured prospect pool / stage (a lead
stage in Lever, prospect status in Workday), tagged, with a follow-up date some months before graduation.
Once graduation comes within the window, the same outcome meets the rule without the nurture condition and
converts like any other (the plan is made against today's date).
"""

from __future__ import annotations

import calendar
from datetime import date
from typing import Any

from syncbridge.model import Outcome


def months_between(start: date, end: date) -> int:
    """Whole months from ``start`` to ``end`` (negative when ``end`` is earlier)."""
    months = (end.year - start.year) * 12 + end.month - start.month
    return months - 1 if end.day < start.day else months


def shift_months(day: date, months: int) -> date:
    """``day`` moved by ``months`` (the day clamped to the month's length)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def plan_nurture(rule: Any, o: Outcome, today: date) -> dict[str, Any] | None:
    """``{"state", "payload"}`` when the rule nurtures this (already strong) outcome, else None.

    An outcome without an expected graduation date is never nurtured (nothing says it is early)."""
    when = rule.nurture_when
    grad = o.student.graduation_date
    if when is None or grad is None or months_between(today, grad) <= when.graduation_after_months:
        return None
    n = rule.nurture
    follow_up = shift_months(grad, -n.follow_up_months_before_graduation)
    payload = {
        "graduation_date": grad.isoformat(),
        "follow_up": follow_up.isoformat(),
        "tags": sorted(set(n.tags)),
        "follow_up_field": n.follow_up_field,
        "options": dict(n.options),
    }
    where = ", ".join(f"{k} {v}" for k, v in sorted(n.options.items())) or "the default prospect pool"
    state = (
        f"nurture: graduates {grad.isoformat()} (more than {when.graduation_after_months} months away); "
        f"prospect in {where}, follow up {follow_up.isoformat()}"
    )
    return {"state": state, "payload": payload}
