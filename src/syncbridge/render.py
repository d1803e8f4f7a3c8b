"""What a recruiter reads: the micro-internship history note and field values.

One renderer for every vendor.  Plain text is the canonical form (Greenhouse notes are plain text);
``history_html`` is the small HTML subset (``<p> <b> <ul> <li> <a>``) the vendors that take HTML accept.
"""

from __future__ import annotations

import html
from datetime import date, datetime
from typing import Any

from syncbridge.model import Outcome, Skill


def skills_text(skills: tuple[Skill, ...]) -> str:
    return ", ".join(f"{s.name} ({s.level}/5)" for s in skills)


def rating_text(rating: float) -> str:
    return f"{rating:g}/5"


def history_subject(o: Outcome) -> str:
    return f"Micro-internship: {o.project.title} at {o.project.employer}"


def history_text(o: Outcome) -> str:
    p, e = o.project, o.evaluation
    lines = [
        f"Micro-internship completed — {p.title} ({p.employer})",
        "",
        f"Role: {p.role_title or p.title}" + (f" · Team: {p.team}" if p.team else ""),
        f"Dates: {p.start_date.isoformat()} to {p.end_date.isoformat()}"
        + (f" · {p.hours:g} hours" if p.hours else "")
        + (f" · status: {p.status.value.replace('_', ' ')}" if p.status.value != "completed" else ""),
    ]
    if p.supervisor:
        sup = p.supervisor.name + (f", {p.supervisor.title}" if p.supervisor.title else "")
        lines.append(f"Supervisor: {sup}" + (f" <{p.supervisor.email}>" if p.supervisor.email else ""))
    lines.append(f"Rating: {rating_text(e.rating)} · Would hire: {'yes' if e.would_hire else 'no'}")
    if e.skills:
        lines.append(f"Skills demonstrated: {skills_text(e.skills)}")
    if e.comments:
        lines += ["", "Supervisor's comments:", e.comments.strip()]
    if e.deliverables:
        lines += ["", "Deliverables:", *[f"- {url}" for url in e.deliverables]]
    lines += ["", f"Source: syncbridge outcome {o.outcome_id}"]
    return "\n".join(lines)


def history_html(o: Outcome) -> str:
    p, e = o.project, o.evaluation
    esc = html.escape
    team = f" · Team: {esc(p.team)}" if p.team else ""
    items = [
        f"<li><b>Role:</b> {esc(p.role_title or p.title)}{team}</li>",
        f"<li><b>Dates:</b> {p.start_date.isoformat()} to {p.end_date.isoformat()}</li>",
    ]
    if p.supervisor:
        items.append(f"<li><b>Supervisor:</b> {esc(p.supervisor.name)}</li>")
    items.append(
        f"<li><b>Rating:</b> {rating_text(e.rating)} · <b>Would hire:</b> "
        f"{'yes' if e.would_hire else 'no'}</li>"
    )
    if e.skills:
        items.append(f"<li><b>Skills:</b> {esc(skills_text(e.skills))}</li>")
    parts = [
        f"<p><b>Micro-internship completed — {esc(p.title)} ({esc(p.employer)})</b></p>",
        "<ul>" + "".join(items) + "</ul>",
    ]
    if e.comments:
        parts.append(f"<p>{esc(e.comments.strip())}</p>")
    if e.deliverables:
        parts.append(
            "<ul>" + "".join(f'<li><a href="{esc(u)}">{esc(u)}</a></li>' for u in e.deliverables) + "</ul>"
        )
    return "".join(parts)


def field_value(o: Outcome, path: str) -> Any:
    """Resolve a dotted outcome path (validated in the config) to a value an ATS field accepts."""
    node: Any = o
    for part in path.split("."):
        node = getattr(node, part, None) if node is not None else None
    if isinstance(node, tuple) and node and isinstance(node[0], Skill):
        return skills_text(node)
    if isinstance(node, tuple):
        return ", ".join(str(x) for x in node)
    if isinstance(node, datetime | date):
        return node.isoformat()
    if hasattr(node, "value") and not isinstance(node, int | float | str | bool):
        return node.value
    return node
