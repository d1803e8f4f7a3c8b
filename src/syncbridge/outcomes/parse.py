"""One outcome row (flat canonical keys, mapped headers, or the nested model shape) to an :class:`Outcome`.

Every problem of a row is collected into one reason naming its column(s); reasons never echo an
e-mail address.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import date, datetime, time
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from syncbridge.model import (
    Evaluation,
    MicroInternship,
    Outcome,
    Person,
    ProjectStatus,
    Skill,
    Supervisor,
    normalize_email,
)
from syncbridge.outcomes.settings import CANONICAL_COLUMNS
from syncbridge.safety import CONTROL_CHARACTERS as _CONTROL
from syncbridge.safety import strip_controls

# Nested model shape -> canonical flat column.
_NESTED_SECTIONS: dict[str, dict[str, str]] = {
    "student": {
        "email": "student_email",
        "first_name": "student_first_name",
        "last_name": "student_last_name",
        "phone": "student_phone",
        "school": "student_school",
        "graduation_date": "graduation_date",
    },
    "project": {
        "project_id": "project_id",
        "title": "project_title",
        "employer": "employer",
        "role_title": "role_title",
        "team": "team",
        "start_date": "start_date",
        "end_date": "end_date",
        "status": "status",
        "hours": "hours",
    },
    "evaluation": {
        "rating": "rating",
        "would_hire": "would_hire",
        "skills": "skills",
        "comments": "comments",
        "deliverables": "deliverables",
        "submitted_at": "submitted_at",
    },
}
_NESTED_SUPERVISOR: dict[str, str] = {
    "name": "supervisor_name",
    "email": "supervisor_email",
    "title": "supervisor_title",
}

_NO_COLUMNS: Mapping[str, str] = MappingProxyType({})


class OutcomeRowError(ValueError):
    """One row cannot become an :class:`Outcome`.  ``reason`` is one line naming the column(s)."""

    def __init__(self, reason: str, *, errors: list[str] | None = None, line: int | None = None) -> None:
        self.reason = reason
        self.errors = list(errors) if errors else [reason]
        self.line = line
        super().__init__(reason)


#: what separates words when looking for e-mail-like text (a token holding "@" with text after it)
_EMAIL_SEPARATORS = re.compile(r"([\s'\"<>(),;:|]+)")
_EMAIL_OK = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")
_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_INTEGER = re.compile(r"^[+-]?\d+$")
_SKILL_SPLIT = re.compile(r"[;|]")
_URL_SPLIT = re.compile(r"[\s;|]+")
_TRUE = {"yes", "y", "true", "t", "1"}
_FALSE = {"no", "n", "false", "f", "0"}


def _scrub(text: str) -> str:
    """Remove anything that looks like an e-mail address or a control character; keep it on one line."""
    # split into words rather than search with a regex: `[^sep]*@[^sep]+` retried at every position
    # is quadratic, and a 100,000-character value made one quarantine reason take a minute
    words = _EMAIL_SEPARATORS.split(strip_controls(text))
    text = "".join("<e-mail>" if "@" in w.rstrip("@") else w for w in words)
    return " ".join(text.split())


def _show(value: Any, limit: int = 60) -> str:
    """A value as quoted in a reason: e-mail addresses removed, shortened, on one line."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            text = str(value)
    text = _scrub(text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return repr(text) if isinstance(value, str) else text


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, (int, float)):
        return "a number"
    return type(value).__name__


def _is_blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple, dict)):
        return len(value) == 0
    return False


def _fmt_number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def _lookup_key(name: str) -> str:
    return name.replace("\ufeff", "").strip().lower()


def _canonicalize(
    row: Mapping[Any, Any], columns: Mapping[str, str]
) -> tuple[dict[str, Any], list[str], list[str]]:
    """Bring a row (flat, nested or mixed) to ``canonical column -> raw value``.

    Returns ``(flat, unknown_keys, errors)``.  Keys are matched case-insensitively and trimmed.
    """
    lowered: dict[str, tuple[str, Any]] = {}
    for key, value in row.items():
        if key is None:
            continue
        lowered.setdefault(_lookup_key(str(key)), (str(key), value))

    flat: dict[str, Any] = {}
    errors: list[str] = []
    used: set[str] = set()
    for column in CANONICAL_COLUMNS:
        key = _lookup_key(columns.get(column, column))
        if key in lowered:
            flat[column] = lowered[key][1]
            used.add(key)

    unknown: list[str] = []

    def merge(target: str, value: Any) -> None:
        current = flat.get(target)
        if _is_blank(current):
            flat[target] = value
        elif not _is_blank(value) and current != value:
            errors.append(
                f"{target}: given both as a flat key and in the nested object, with different values"
            )

    for section, fields in _NESTED_SECTIONS.items():
        if section in used or section not in lowered:
            continue
        original, content = lowered[section]
        if not isinstance(content, Mapping):
            continue  # an unrelated column that happens to be called "student"/"project"/...
        used.add(section)
        for sub_key, sub_value in content.items():
            name = _lookup_key(str(sub_key))
            if section == "project" and name == "supervisor":
                if isinstance(sub_value, Mapping):
                    for sup_key, sup_value in sub_value.items():
                        target = _NESTED_SUPERVISOR.get(_lookup_key(str(sup_key)))
                        if target is None:
                            unknown.append(f"{original}.{sub_key}.{sup_key}")
                        else:
                            merge(target, sup_value)
                elif isinstance(sub_value, str) or sub_value is None:
                    merge("supervisor_name", sub_value)
                else:
                    errors.append(
                        f"supervisor: expected an object with name, email, title, got {_kind(sub_value)}"
                    )
                continue
            mapped = fields.get(name)
            if mapped is None:
                unknown.append(f"{original}.{sub_key}")
            else:
                merge(mapped, sub_value)

    unknown = [orig for key, (orig, _) in lowered.items() if key not in used and key] + unknown
    return flat, unknown, errors


class _RowParser:
    """Validates one canonicalized row; collects every problem instead of stopping at the first."""

    def __init__(self, flat: Mapping[str, Any]) -> None:
        self.flat = flat
        self.errors: list[str] = []

    def error(self, message: str) -> None:
        self.errors.append(message)

    # -- primitives

    def text(self, column: str, *, required: bool = False, multiline: bool = False) -> str | None:
        value = self.flat.get(column)
        result: str | None
        if value is None:
            result = None
        elif isinstance(value, bool) or not isinstance(value, (str, int, float)):
            self.error(f"{column}: expected text, got {_kind(value)}")
            return None
        elif isinstance(value, str):
            result = value.replace("\r\n", "\n").replace("\r", "\n").strip() if multiline else value.strip()
            if not multiline:
                result = " ".join(result.split())
            result = result or None
        else:
            result = _fmt_number(float(value)) if isinstance(value, float) else str(value)
        if result is None and required:
            self.error(f"{column}: missing")
        return result

    def email(self, column: str, *, required: bool) -> str | None:
        value = self.flat.get(column)
        if _is_blank(value):
            if required:
                self.error(f"{column}: missing")
            return None
        if not isinstance(value, str):
            self.error(f"{column}: not an e-mail address")
            return None
        cleaned = value.strip()
        normalized = normalize_email(cleaned)
        if normalized is None or not _EMAIL_OK.match(normalized):
            self.error(f"{column}: not an e-mail address")  # never echo the value
            return None
        return normalized

    def number(self, column: str, *, required: bool = False) -> tuple[float, str] | None:
        value = self.flat.get(column)
        if _is_blank(value):
            if required:
                self.error(f"{column}: missing")
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            self.error(f"{column}: expected a number, got {_kind(value)}")
            return None
        if isinstance(value, str):
            shown = value.strip()
            if not _NUMBER.match(shown):
                self.error(f"{column}: {_show(shown)} is not a number")
                return None
            number = float(shown.replace(",", "."))
        else:
            number = float(value)
            shown = _fmt_number(number) if math.isfinite(number) else str(number)
        if not math.isfinite(number):
            self.error(f"{column}: {shown} is not a number")
            return None
        return number, shown

    def boolean(self, column: str, *, required: bool = False) -> bool | None:
        value = self.flat.get(column)
        if _is_blank(value):
            if required:
                self.error(f"{column}: missing")
            return None
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str):
            word = value.strip().lower()
            if word in _TRUE:
                return True
            if word in _FALSE:
                return False
        self.error(f"{column}: {_show(value)} is not yes/no")
        return None

    def day(self, column: str, *, required: bool = False) -> date | None:
        value = self.flat.get(column)
        if _is_blank(value):
            if required:
                self.error(f"{column}: missing")
            return None
        if isinstance(value, str) and _ISO_DATE.match(value.strip()):
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                pass
        shown = value.strip() if isinstance(value, str) else value
        self.error(f"{column}: {_show(shown)} is not a date (YYYY-MM-DD)")
        return None

    def moment(self, column: str) -> datetime | None:
        value = self.flat.get(column)
        if _is_blank(value):
            return None
        if isinstance(value, str):
            text = value.strip()
            try:
                if _ISO_DATE.match(text):
                    return datetime.combine(date.fromisoformat(text), time())
                if len(text) >= 16 and _ISO_DATE.match(text[:10]):
                    return datetime.fromisoformat(text)
            except ValueError:
                pass
        shown = value.strip() if isinstance(value, str) else value
        self.error(f"{column}: {_show(shown)} is not a date-time (ISO 8601, e.g. 2026-03-14T10:30:00Z)")
        return None

    # -- composite fields

    def status(self) -> ProjectStatus | None:
        value = self.flat.get("status")
        if _is_blank(value):
            return ProjectStatus.completed
        if isinstance(value, str):
            word = re.sub(r"[\s\-]+", "_", value.strip().lower())
            try:
                return ProjectStatus(word)
            except ValueError:
                pass
        allowed = ", ".join(s.value for s in ProjectStatus)
        self.error(f"status: {_show(value)} is not one of {allowed}")
        return None

    def _skill_level(self, name: str, level: Any) -> int | None:
        if _is_blank(level):
            self.error(f"skills: {_show(name)} has no level (expected Name:1-5)")
            return None
        number: float | None = None
        if isinstance(level, bool):
            number = None
        elif isinstance(level, int):
            number = float(level)
        elif isinstance(level, float) and math.isfinite(level) and level.is_integer():
            number = level
        elif isinstance(level, str) and _INTEGER.match(level.strip()):
            number = float(int(level.strip()))
        if number is None:
            self.error(f"skills: level {_show(level)} for {_show(name)} is not a whole number from 1 to 5")
            return None
        if not 1 <= number <= 5:
            self.error(f"skills: level {_fmt_number(number)} for {_show(name)} is not between 1 and 5")
            return None
        return int(number)

    def skills(self) -> tuple[Skill, ...]:
        value = self.flat.get("skills")
        if _is_blank(value):
            return ()
        pairs: list[tuple[Any, Any]] = []
        if isinstance(value, str):
            for item in _SKILL_SPLIT.split(value):
                item = item.strip()
                if not item:
                    continue
                name, sep, level = item.rpartition(":")
                pairs.append((name, level) if sep else (item, None))
        elif isinstance(value, Mapping):
            pairs.extend(value.items())
        elif isinstance(value, (list, tuple)):
            for item in value:
                if isinstance(item, Mapping):
                    lowered = {_lookup_key(str(k)): v for k, v in item.items()}
                    pairs.append((lowered.get("name"), lowered.get("level")))
                elif isinstance(item, str):
                    name, sep, level = item.strip().rpartition(":")
                    pairs.append((name, level) if sep else (item.strip(), None))
                else:
                    self.error(f"skills: expected {{name, level}} objects, got {_kind(item)}")
        else:
            self.error(f"skills: expected 'Name:level; Name:level', got {_kind(value)}")
            return ()

        result: dict[str, Skill] = {}
        for raw_name, raw_level in pairs:
            name = " ".join(raw_name.split()) if isinstance(raw_name, str) else ""
            if not name:
                self.error(f"skills: an entry has no skill name (level {_show(raw_level)})")
                continue
            level = self._skill_level(name, raw_level)
            if level is None:
                continue
            key = name.lower()
            known = result.get(key)
            if known is not None and known.level != level:
                self.error(f"skills: {_show(name)} is listed twice with different levels")
            elif known is None:
                result[key] = Skill(name=name, level=level)
        return tuple(result.values())

    def deliverables(self) -> tuple[str, ...]:
        value = self.flat.get("deliverables")
        if _is_blank(value):
            return ()
        items: list[Any]
        if isinstance(value, str):
            items = [u for u in _URL_SPLIT.split(value) if u]
        elif isinstance(value, (list, tuple)):
            items = list(value)
        else:
            self.error(f"deliverables: expected URLs, got {_kind(value)}")
            return ()
        urls: list[str] = []
        for item in items:
            if not isinstance(item, str):
                self.error(f"deliverables: {_show(item)} is not an http(s) URL")
                continue
            url = item.strip()
            if not url:
                continue
            try:
                parts = urlsplit(url)
                ok = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
            except ValueError:
                ok = False
            if not ok or any(ch.isspace() for ch in url):
                self.error(f"deliverables: {_show(url)} is not an http(s) URL")
                continue
            if url not in urls:
                urls.append(url)
        return tuple(urls)


#: columns whose value identifies something: a control character there quarantines the row, because
#: removing it silently could turn one address or id into another one
_IDENTITY_COLUMNS = frozenset(
    {"outcome_id", "student_email", "supervisor_email", "project_id", "deliverables"}
)


def _clean_controls(flat: dict[str, Any]) -> list[str]:
    """Control characters (NUL, C0/C1, bidi overrides) never reach a planned write.

    Identity columns containing one are refused (the row is quarantined); in free text (names, titles,
    comments, skills...) they are removed, line breaks and tabs kept as whitespace.  Changes ``flat``.
    """
    errors: list[str] = []

    def has_control(node: Any) -> bool:
        if isinstance(node, str):
            return bool(_CONTROL.search(node))
        if isinstance(node, Mapping):
            return any(has_control(v) for v in node.values())
        if isinstance(node, list | tuple):
            return any(has_control(v) for v in node)
        return False

    def clean(node: Any) -> Any:
        if isinstance(node, str):
            text = node.replace("\r\n", "\n").replace("\r", "\n").replace("\x0b", "\n").replace("\x0c", "\n")
            return strip_controls(text)
        if isinstance(node, Mapping):
            return {k: clean(v) for k, v in node.items()}
        if isinstance(node, list | tuple):
            return [clean(v) for v in node]
        return node

    for column, value in list(flat.items()):
        if not has_control(value):
            continue
        if column in _IDENTITY_COLUMNS:
            errors.append(f"{column}: contains control characters (such as NUL)")
        else:
            flat[column] = clean(value)
    return errors


def _validation_reasons(exc: ValidationError) -> list[str]:
    reasons = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = ".".join(str(p) for p in err.get("loc", ())) or "row"
        reasons.append(_scrub(f"{loc}: {err.get('msg', 'invalid')}"))
    return reasons


def parse_row(
    row: Mapping[str, Any],
    *,
    line: int,
    columns: Mapping[str, str] | None = _NO_COLUMNS,
    default_employer: str | None = None,
) -> Outcome:
    """Turn one row (flat canonical keys, mapped headers, or the nested model shape) into an Outcome.

    Raises :class:`OutcomeRowError` whose ``reason`` lists every problem found, ``; ``-separated, each
    naming its column.  Reasons never contain an e-mail address.
    """
    flat, _unknown, shape_errors = _canonicalize(row, columns or _NO_COLUMNS)
    control_errors = _clean_controls(flat)
    p = _RowParser(flat)
    p.errors.extend(shape_errors)
    p.errors.extend(control_errors)

    outcome_id = p.text("outcome_id", required=True)
    email = p.email("student_email", required=True)
    first_name = p.text("student_first_name", required=True)
    last_name = p.text("student_last_name", required=True)
    phone = p.text("student_phone")
    school = p.text("student_school")
    graduation = p.day("graduation_date")

    employer = p.text("employer")
    if employer is None:
        employer = (default_employer or "").strip() or None
        if employer is None and not any(e.startswith("employer:") for e in p.errors):
            p.error("employer: missing (and no default_employer is configured)")
    project_id = p.text("project_id", required=True)
    project_title = p.text("project_title", required=True)
    role_title = p.text("role_title")
    team = p.text("team")

    sup_name = p.text("supervisor_name")
    sup_email = p.email("supervisor_email", required=False)
    sup_title = p.text("supervisor_title")
    if sup_name is None and (sup_email or sup_title):
        p.error("supervisor_name: missing (required when supervisor_email or supervisor_title is given)")

    start = p.day("start_date", required=True)
    end = p.day("end_date", required=True)
    if start is not None and end is not None and end < start:
        p.error(f"end_date: {end.isoformat()} is before start_date {start.isoformat()}")
    status = p.status()
    hours = p.number("hours")
    if hours is not None and hours[0] < 0:
        p.error(f"hours: {hours[1]} must not be negative")

    rating = p.number("rating", required=True)
    if rating is not None and not 1 <= rating[0] <= 5:
        p.error(f"rating: {rating[1]} is not between 1 and 5")
    would_hire = p.boolean("would_hire", required=True)
    skills = p.skills()
    comments = p.text("comments", multiline=True)
    deliverables = p.deliverables()
    submitted_at = p.moment("submitted_at")

    if p.errors:
        raise OutcomeRowError("; ".join(p.errors), errors=p.errors, line=line)

    assert outcome_id and email and first_name and last_name and employer and project_id and project_title
    assert start and end and status and rating and would_hire is not None
    try:
        return Outcome(
            outcome_id=outcome_id,
            student=Person(
                email=email,
                first_name=first_name,
                last_name=last_name,
                phone=phone,
                school=school,
                graduation_date=graduation,
            ),
            project=MicroInternship(
                project_id=project_id,
                title=project_title,
                employer=employer,
                role_title=role_title,
                team=team,
                supervisor=Supervisor(name=sup_name, email=sup_email, title=sup_title) if sup_name else None,
                start_date=start,
                end_date=end,
                status=status,
                hours=hours[0] if hours else None,
            ),
            evaluation=Evaluation(
                rating=rating[0],
                would_hire=would_hire,
                skills=skills,
                comments=comments,
                deliverables=deliverables,
                submitted_at=submitted_at,
            ),
        )
    except ValidationError as exc:  # defensive: the checks above should have caught everything
        reasons = _validation_reasons(exc)
        raise OutcomeRowError("; ".join(reasons), errors=reasons, line=line) from None
