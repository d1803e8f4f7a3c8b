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
        *_student_line(o),
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


def _student_line(o: Outcome) -> list[str]:
    """School and expected graduation, when the outcome carries them (early-talent context)."""
    s = o.student
    parts = ([f"School: {s.school}"] if s.school else []) + (
        [f"Expected graduation: {s.graduation_date.isoformat()}"] if s.graduation_date else []
    )
    return [" · ".join(parts)] if parts else []


def history_html(o: Outcome) -> str:
    p, e = o.project, o.evaluation
    esc = html.escape
    team = f" · Team: {esc(p.team)}" if p.team else ""
    items = [
        f"<li><b>Role:</b> {esc(p.role_title or p.title)}{team}</li>",
        f"<li><b>Dates:</b> {p.start_date.isoformat()} to {p.end_date.isoformat()}</li>",
        *[f"<li>{esc(line)}</li>" for line in _student_line(o)],
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


# --- conversion: templates, codes and the prescreen summary ---------------------------------------


class _Missing(str):
    """An absent template value renders as empty instead of raising."""

    def __getattr__(self, _name: str) -> _Missing:
        return _Missing("")


class _View:
    def __init__(self, obj: Any) -> None:
        self._obj = obj

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._obj, name, None)
        if value is None:
            return _Missing("")
        if hasattr(value, "model_fields"):
            return _View(value)
        if hasattr(value, "value") and not isinstance(value, int | float | str | bool):
            return value.value
        return value

    def __format__(self, spec: str) -> str:
        return format(str(self._obj), spec)


def render_template(template: str, o: Outcome) -> str:
    """Fill ``{project.role_title}``-style placeholders from the outcome (missing values → empty)."""
    view = {
        "project": _View(o.project),
        "student": _View(o.student),
        "evaluation": _View(o.evaluation),
        "outcome_id": o.outcome_id,
    }
    return " ".join(template.format_map(view).split())


def requisition_code(template: str, o: Outcome, *, max_len: int = 60) -> str:
    """A deterministic, ATS-safe code: upper-case ASCII words joined by dashes, hashed when too long."""
    import hashlib
    import re
    import unicodedata

    text = unicodedata.normalize("NFKD", render_template(template, o)).encode("ascii", "ignore").decode()
    code = re.sub(r"-{2,}", "-", re.sub(r"[^A-Za-z0-9]+", "-", text)).strip("-").upper()
    if len(code) > max_len:
        digest = hashlib.sha256(code.encode()).hexdigest()[:8].upper()
        code = f"{code[: max_len - 9].rstrip('-')}-{digest}"
    return code or "MI-ROLE"


def requisition_description_html(template: str | None, title: str, o: Outcome) -> str:
    """The new requisition's description (Greenhouse job notes, Lever posting text, Workday description):
    the rule's ``description`` template, else the role, the team and what the micro-internship showed.
    Never the template job's text, and no personal data of the student (it is the role's description)."""
    esc = html.escape
    if template:
        paragraphs = [render_template(line, o) for line in template.split("\n\n")]
        return "".join(f"<p>{esc(p)}</p>" for p in paragraphs if p)
    p, e = o.project, o.evaluation
    head = f"<p><b>{esc(title)}</b>" + (f" · Team: {esc(p.team)}" if p.team else "") + "</p>"
    shown = [
        f"<li>Project: {esc(p.title)} at {esc(p.employer)}, "
        f"{p.start_date.isoformat()} to {p.end_date.isoformat()}</li>",
        f"<li>Rating: {rating_text(e.rating)} · Would hire: {'yes' if e.would_hire else 'no'}</li>",
    ]
    if e.skills:
        shown.append(f"<li>Skills shown: {esc(', '.join(f'{s.name} {s.level}/5' for s in e.skills))}</li>")
    return (
        head
        + "<p>Opened by syncbridge after a strong micro-internship. What it showed:</p>"
        + "<ul>"
        + "".join(shown)
        + "</ul>"
    )


def recommendation(o: Outcome) -> str:
    e = o.evaluation
    if e.would_hire and e.rating >= 4.5:
        return "Strongly recommended: the supervisor would hire"
    if e.would_hire:
        return "Recommended: the supervisor would hire"
    return "Not recommended for hire by the supervisor"


def prescreen_text(o: Outcome) -> str:
    p, e = o.project, o.evaluation
    lines = [
        f"Prescreened through a micro-internship: {p.title} ({p.employer})",
        f"Score: {e.rating:g} / 5 · {recommendation(o)}",
    ]
    if p.supervisor:
        lines.append(
            f"Supervisor: {p.supervisor.name}" + (f", {p.supervisor.title}" if p.supervisor.title else "")
        )
    if e.skills:
        lines.append("Skills assessed:")
        lines += [f"- {s.name}: {s.level}/5" for s in e.skills]
    if e.comments:
        lines += ["", "Supervisor's comments:", e.comments.strip()]
    if e.deliverables:
        lines += ["", "Deliverables:", *[f"- {u}" for u in e.deliverables]]
    lines += ["", f"Dates: {p.start_date.isoformat()} to {p.end_date.isoformat()} · outcome {o.outcome_id}"]
    return "\n".join(lines)


def prescreen_html(o: Outcome) -> str:
    esc = html.escape
    e = o.evaluation
    parts = [
        f"<p><b>Prescreened through a micro-internship: {esc(o.project.title)}</b></p>",
        f"<p>Score: {e.rating:g} / 5 · {esc(recommendation(o))}</p>",
    ]
    if e.skills:
        parts.append("<ul>" + "".join(f"<li>{esc(s.name)}: {s.level}/5</li>" for s in e.skills) + "</ul>")
    if e.comments:
        parts.append(f"<p>{esc(e.comments.strip())}</p>")
    if e.deliverables:
        parts.append(
            "<ul>" + "".join(f'<li><a href="{esc(u)}">{esc(u)}</a></li>' for u in e.deliverables) + "</ul>"
        )
    return "".join(parts)


def prescreen_value(o: Outcome, path: str) -> Any:
    """Field values for the prescreen mapping: outcome paths plus ``prescreen.*``."""
    if path == "prescreen.score":
        return o.evaluation.rating
    if path == "prescreen.max_score":
        return 5
    if path == "prescreen.recommendation":
        return recommendation(o)
    if path == "prescreen.summary":
        return prescreen_text(o)
    if path == "prescreen.skills":
        return skills_text(o.evaluation.skills)
    return field_value(o, path)
