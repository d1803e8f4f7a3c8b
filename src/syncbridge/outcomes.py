"""Read micro-internship outcomes from files (CSV, JSON, JSONL) into :class:`~syncbridge.model.Outcome`.

The input schema is documented for admins in ``docs/outcomes.md``.  In short:

* CSV files carry one outcome per row under the *canonical flat columns* (:data:`CANONICAL_COLUMNS`),
  or under other headers mapped to them with ``outcomes.columns`` in the YAML configuration.
* JSON files hold an array of objects (JSONL: one object per line); each object uses either the flat
  keys or the nested model shape ``{"outcome_id", "student": {...}, "project": {...}, "evaluation": {...}}``.

A bad row never stops the file: it is *quarantined* with its line number and a one-line reason that
names the column (``rating: 7 is not between 1 and 5``), and the good rows go on.  Only a file that
cannot be used at all (missing, unreadable, not JSON, no header, required columns absent) raises
:class:`OutcomeFileError`.  Reasons never echo an e-mail address.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import json
import math
import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from syncbridge.errors import SyncbridgeError
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
from syncbridge.safety import CONTROL_CHARACTERS as _CONTROL
from syncbridge.safety import strip_controls

__all__ = [
    "CANONICAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "OutcomeBatch",
    "OutcomeFileError",
    "OutcomeRowError",
    "OutcomeSourceSettings",
    "Quarantined",
    "parse_row",
    "read_outcomes",
    "write_demo_outcomes",
]

CANONICAL_COLUMNS: tuple[str, ...] = (
    "outcome_id",
    "student_email",
    "student_first_name",
    "student_last_name",
    "student_phone",
    "student_school",
    "graduation_date",
    "employer",
    "project_id",
    "project_title",
    "role_title",
    "team",
    "supervisor_name",
    "supervisor_email",
    "supervisor_title",
    "start_date",
    "end_date",
    "status",
    "hours",
    "rating",
    "would_hire",
    "skills",
    "comments",
    "deliverables",
    "submitted_at",
)

REQUIRED_COLUMNS: tuple[str, ...] = (
    "outcome_id",
    "student_email",
    "student_first_name",
    "student_last_name",
    "employer",
    "project_id",
    "project_title",
    "start_date",
    "end_date",
    "rating",
    "would_hire",
)

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

_SUFFIX_FORMATS: dict[str, Literal["csv", "json", "jsonl"]] = {
    ".csv": "csv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}

_NO_COLUMNS: Mapping[str, str] = MappingProxyType({})


# --- errors -----------------------------------------------------------------------------------------


class OutcomeRowError(ValueError):
    """One row cannot become an :class:`Outcome`.  ``reason`` is one line naming the column(s)."""

    def __init__(self, reason: str, *, errors: list[str] | None = None, line: int | None = None) -> None:
        self.reason = reason
        self.errors = list(errors) if errors else [reason]
        self.line = line
        super().__init__(reason)


class OutcomeFileError(SyncbridgeError):
    """The whole outcomes file is unusable.  ``str()`` is one line that names the file."""


# --- settings ---------------------------------------------------------------------------------------


class OutcomeSourceSettings(BaseModel):
    """The ``outcomes:`` section of the YAML configuration."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    source: Literal["file"] = "file"
    path: Path
    format: Literal["auto", "csv", "json", "jsonl"] = "auto"
    columns: dict[str, str] = {}
    delimiter: str = ","
    encoding: str = "utf-8-sig"
    default_employer: str | None = None
    #: a text value longer than this quarantines its row (a 50 MB cell is an attack or a broken export)
    max_field_chars: int = Field(default=100_000, ge=1_000, le=10_000_000)

    @field_validator("columns")
    @classmethod
    def _check_columns(cls, value: dict[str, str]) -> dict[str, str]:
        cleaned: dict[str, str] = {}
        used: dict[str, str] = {}
        for key, header in value.items():
            name = key.strip()
            if name not in CANONICAL_COLUMNS:
                close = difflib.get_close_matches(name, CANONICAL_COLUMNS, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(
                    f"unknown column {key!r} in outcomes.columns{hint}; "
                    f"keys must be canonical column names: {', '.join(CANONICAL_COLUMNS)}"
                )
            text = header.strip()
            if not text:
                raise ValueError(f"outcomes.columns.{name}: the header name must not be empty")
            other = used.get(text.lower())
            if other is not None:
                raise ValueError(f"outcomes.columns: {other!r} and {name!r} both map to the header {text!r}")
            used[text.lower()] = name
            cleaned[name] = text
        return cleaned

    @field_validator("delimiter")
    @classmethod
    def _check_delimiter(cls, value: str) -> str:
        if len(value) != 1 or value in '\r\n"':
            raise ValueError(
                f"delimiter must be exactly one character (not a quote or newline), got {value!r}"
            )
        return value

    @field_validator("encoding")
    @classmethod
    def _check_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}") from None
        return value

    @field_validator("default_employer")
    @classmethod
    def _check_default_employer(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return value.strip() or None

    @model_validator(mode="after")
    def _check_path(self) -> OutcomeSourceSettings:
        if not str(self.path).strip() or str(self.path) == ".":
            raise ValueError("path: the outcomes file path must not be empty")
        return self

    def resolve_path(self, base_dir: Path | None = None) -> Path:
        """The file to read: ``~`` expanded, a relative path taken relative to ``base_dir``."""
        path = self.path.expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
        return path

    def resolve_format(self, path: Path | None = None) -> Literal["csv", "json", "jsonl"]:
        if self.format != "auto":
            return self.format
        target = path or self.path
        fmt = _SUFFIX_FORMATS.get(target.suffix.lower())
        if fmt is None:
            raise OutcomeFileError(
                f"{target}: cannot tell the format from the suffix {target.suffix or '(none)'!r}; "
                "use .csv, .json or .jsonl, or set outcomes.format"
            )
        return fmt


# --- results ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Quarantined:
    """A row that was not accepted.  ``row`` is the row as read (file headers/keys as given)."""

    line: int
    reason: str
    outcome_id: str | None
    row: dict[str, Any]


@dataclass
class OutcomeBatch:
    outcomes: list[Outcome]
    quarantined: list[Quarantined]
    rows_read: int
    duplicates: int
    #: headers (CSV) or keys (JSON) that are not canonical columns and are not mapped; they are ignored.
    ignored_columns: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """A short human summary: the counts, then one line per quarantined row.  No personal data."""
        lines = [
            f"{self.rows_read} rows read: {len(self.outcomes)} outcomes accepted, "
            f"{self.duplicates} identical duplicates skipped, {len(self.quarantined)} quarantined"
        ]
        for q in self.quarantined:
            ident = f" ({q.outcome_id})" if q.outcome_id else ""
            lines.append(f"  line {q.line}{ident}: {q.reason}")
        if self.ignored_columns:
            lines.append("  ignored columns: " + ", ".join(self.ignored_columns))
        return "\n".join(lines)


# --- value helpers ----------------------------------------------------------------------------------

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


# --- file reading -----------------------------------------------------------------------------------


@dataclass
class _Record:
    line: int
    row: dict[str, Any]
    error: str | None = None


def _read_text(path: Path, encoding: str) -> str:
    if path.exists() and not path.is_dir() and not path.is_file():
        # /dev/zero or a named pipe would be read forever
        raise OutcomeFileError(f"outcomes file {path} is not a regular file (a device or a pipe?)")
    try:
        with path.open("r", encoding=encoding, newline="") as fh:
            return fh.read()
    except FileNotFoundError:
        raise OutcomeFileError(f"outcomes file not found: {path}") from None
    except IsADirectoryError:
        raise OutcomeFileError(f"outcomes file {path} is a directory, not a file") from None
    except PermissionError:
        raise OutcomeFileError(f"outcomes file {path} cannot be read: permission denied") from None
    except UnicodeDecodeError as exc:
        raise OutcomeFileError(
            f"outcomes file {path} is not valid {encoding} text (byte offset {exc.start}); "
            "set outcomes.encoding to the file's encoding, for example cp1252"
        ) from None
    except LookupError:
        raise OutcomeFileError(f"outcomes file {path}: unknown encoding {encoding!r}") from None
    except OSError as exc:
        raise OutcomeFileError(f"outcomes file {path} cannot be read: {exc.strerror or exc}") from None


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def _csv_records(text: str, path: Path, settings: OutcomeSourceSettings) -> tuple[list[_Record], list[str]]:
    # the csv module refuses a field over 128 KiB by raising for the whole file; the text is in memory
    # already, so lift that limit while reading and let _collect quarantine the one over-long row
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, len(text) + 1))
    try:
        return _csv_rows(text, path, settings)
    finally:
        csv.field_size_limit(limit)


def _csv_rows(text: str, path: Path, settings: OutcomeSourceSettings) -> tuple[list[_Record], list[str]]:
    # lines as io.StringIO(text, newline="").readline() would give them (split after \r\n, \r or \n,
    # endings kept), but one at a time: StringIO keeps a 4-byte-per-character copy of the whole text
    lines = (m.group() for m in _LINE.finditer(text))
    reader = csv.reader(lines, delimiter=settings.delimiter)
    header: list[str] | None = None
    records: list[_Record] = []
    ignored: list[str] = []
    try:
        while True:
            start = reader.line_num + 1
            try:
                values = next(reader)
            except StopIteration:
                break
            if not any(v.strip() for v in values):
                continue  # blank line, or a row of empty cells
            if header is None:
                header = [v.replace("\ufeff", "").strip() for v in values]
                ignored = _check_header(header, start, path, settings)
                continue
            row: dict[str, Any] = {}
            for name, value in zip(header, values, strict=False):
                if name and name not in row:
                    row[name] = value
            for name in header[len(values) :]:
                if name and name not in row:
                    row[name] = ""
            error = None
            extra = values[len(header) :]
            if any(v.strip() for v in extra):
                row["_extra_fields"] = extra
                error = (
                    f"row has {len(values)} fields but the header has {len(header)} "
                    f"(a value containing {settings.delimiter!r} without quotes?)"
                )
            records.append(_Record(start, row, error))
    except csv.Error as exc:
        raise OutcomeFileError(
            f"outcomes file {path} is not readable as CSV near line {reader.line_num}: {exc} "
            "(an unclosed quote?)"
        ) from None
    if header is None:
        raise OutcomeFileError(f"outcomes file {path} is empty: no header row")
    return records, ignored


def _check_header(header: list[str], line: int, path: Path, settings: OutcomeSourceSettings) -> list[str]:
    present = [_lookup_key(h) for h in header]
    wanted = {c: _lookup_key(settings.columns.get(c, c)) for c in CANONICAL_COLUMNS}
    missing = []
    for column in REQUIRED_COLUMNS:
        if column == "employer" and settings.default_employer:
            continue
        if wanted[column] not in present:
            mapped = settings.columns.get(column)
            missing.append(f"{column} (header {mapped!r})" if mapped else column)
    if missing:
        raise OutcomeFileError(
            f"outcomes file {path}: the header row (line {line}) has no column for "
            f"{', '.join(missing)}; rename the headers or map them with outcomes.columns"
        )
    for column, key in wanted.items():
        if present.count(key) > 1:
            raise OutcomeFileError(
                f"outcomes file {path}: the header row (line {line}) has the column for {column} "
                f"({settings.columns.get(column, column)!r}) more than once"
            )
    used = set(wanted.values())
    return [h for h, key in zip(header, present, strict=True) if key and key not in used]


def _json_records(text: str, path: Path) -> list[_Record]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise OutcomeFileError(
            f"outcomes file {path} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        raise OutcomeFileError(
            f"outcomes file {path}: JSON nested too deeply to read (an outcome is at most "
            f"{MAX_DEPTH} levels deep)"
        ) from None
    except ValueError as exc:  # a number of more than 4300 digits (Python's int() limit)
        raise OutcomeFileError(f"outcomes file {path} cannot be read: {str(exc).split(';')[0]}") from None
    if isinstance(data, dict) and isinstance(data.get("outcomes"), list):
        data = data["outcomes"]
    if not isinstance(data, list):
        raise OutcomeFileError(
            f"outcomes file {path}: expected a JSON array of outcome objects "
            "(or an object with an 'outcomes' array)"
        )
    records = []
    for index, item in enumerate(data, start=1):
        if isinstance(item, dict):
            records.append(_Record(index, item))
        else:
            records.append(_Record(index, {"value": item}, f"record is {_kind(item)}, not a JSON object"))
    return records


def _jsonl_records(text: str, path: Path) -> list[_Record]:
    records = []
    parsed = 0
    # split on "\n" only: str.splitlines() would also break on U+2028 etc., which JSON allows in strings.
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip().lstrip("\ufeff")
        if not line:
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            records.append(
                _Record(number, {"text": line[:200]}, f"not valid JSON: {exc.msg} (column {exc.colno})")
            )
            continue
        except RecursionError:
            records.append(_Record(number, {"text": line[:200]}, f"nested more than {MAX_DEPTH} levels deep"))
            continue
        except ValueError as exc:  # a number of more than 4300 digits
            records.append(_Record(number, {"text": line[:200]}, f"cannot be read: {str(exc).split(';')[0]}"))
            continue
        parsed += 1
        if isinstance(item, dict):
            records.append(_Record(number, item))
        else:
            records.append(_Record(number, {"value": item}, f"record is {_kind(item)}, not a JSON object"))
    if records and parsed == 0:
        raise OutcomeFileError(f"outcomes file {path} is not JSON Lines: no line is valid JSON")
    return records


MAX_DEPTH = 16


def _oversized(row: dict[str, Any], max_chars: int) -> tuple[str, dict[str, Any]] | None:
    """(reason, row safe to keep) when a value of ``row`` is too long or the row is nested too deeply.

    Iterative on purpose: a hostile record must not exhaust the stack here either.  The kept row has
    the offending value replaced, so the quarantine table never stores 50 MB or a 10,000-level tree.
    """
    stack: list[tuple[Any, str, int]] = [(v, str(k), 1) for k, v in row.items()]
    while stack:
        node, where, depth = stack.pop()
        column = where.split(".", 1)[0]
        if depth > MAX_DEPTH:
            return (
                f"{_scrub(column)}: nested more than {MAX_DEPTH} levels deep",
                {k: v for k, v in row.items() if k != column} | {column: "<nested too deeply, not kept>"},
            )
        if isinstance(node, str) and len(node) > max_chars:
            return (
                f"{_scrub(where)[:80]}: {len(node):,} characters, more than the {max_chars:,} allowed "
                "(outcomes.max_field_chars)",
                {k: v for k, v in row.items() if k != column}
                | {column: f"<{len(node):,} characters, not kept>"},
            )
        if isinstance(node, Mapping):
            stack.extend((v, f"{where}.{k}", depth + 1) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, f"{where}.{i}", depth + 1) for i, v in enumerate(node))
    return None


def _peek_outcome_id(row: Mapping[str, Any], columns: Mapping[str, str]) -> str | None:
    try:
        flat, _, _ = _canonicalize(row, columns)
    except Exception:
        return None
    value = flat.get("outcome_id")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    return str(value).strip() or None


def _collect(records: Iterable[_Record], settings: OutcomeSourceSettings) -> OutcomeBatch:
    outcomes: list[Outcome] = []
    quarantined: list[Quarantined] = []
    seen: dict[str, tuple[int, str]] = {}
    rows_read = duplicates = 0
    for record in records:
        rows_read += 1
        too_big = _oversized(record.row, settings.max_field_chars)
        if too_big is not None and record.error is None:
            record.error, record.row = too_big
        oid = _peek_outcome_id(record.row, settings.columns)
        if record.error is not None:
            quarantined.append(Quarantined(record.line, _scrub(record.error), oid, record.row))
            continue
        try:
            outcome = parse_row(
                record.row,
                line=record.line,
                columns=settings.columns,
                default_employer=settings.default_employer,
            )
        except OutcomeRowError as exc:
            quarantined.append(Quarantined(record.line, exc.reason, oid, record.row))
            continue
        digest = outcome.content_hash()
        previous = seen.get(outcome.outcome_id)
        if previous is None:
            seen[outcome.outcome_id] = (record.line, digest)
            outcomes.append(outcome)
        elif previous[1] == digest:
            duplicates += 1
        else:
            reason = f"outcome_id: duplicate of line {previous[0]} with different content"
            quarantined.append(Quarantined(record.line, reason, outcome.outcome_id, record.row))
    return OutcomeBatch(
        outcomes=outcomes, quarantined=quarantined, rows_read=rows_read, duplicates=duplicates
    )


def read_outcomes(settings: OutcomeSourceSettings, *, base_dir: Path | None = None) -> OutcomeBatch:
    """Read the configured outcomes file.  Bad rows are quarantined; a bad file raises OutcomeFileError."""
    path = settings.resolve_path(base_dir)
    fmt = settings.resolve_format(path)
    text = _read_text(path, settings.encoding)
    ignored: list[str] = []
    if fmt == "csv":
        records, ignored = _csv_records(text, path, settings)
    elif fmt == "json":
        records = _json_records(text, path)
    else:
        records = _jsonl_records(text, path)
    batch = _collect(records, settings)
    if fmt != "csv":
        for record in records:
            if record.error is None:
                _, unknown, _ = _canonicalize(record.row, settings.columns)
                ignored.extend(k for k in unknown if k not in ignored)
    batch.ignored_columns = [_scrub(k) for k in ignored]
    return batch


# --- demo data --------------------------------------------------------------------------------------

# (project title, role title, team, supervisor title, skill pool)
_DEMO_PROJECTS: tuple[tuple[str, str, str, str, tuple[str, ...]], ...] = (
    (
        "Marketing Analytics",
        "Marketing Analyst Intern",
        "Growth Marketing",
        "Marketing Analytics Lead",
        ("Excel", "SQL", "Google Analytics", "Data Visualization", "Copywriting"),
    ),
    (
        "Backend Engineering",
        "Software Engineering Intern",
        "Platform Engineering",
        "Engineering Manager",
        ("Python", "REST APIs", "PostgreSQL", "Automated Testing", "Docker"),
    ),
    (
        "Customer Churn Dashboard",
        "Data Analyst Intern",
        "Business Intelligence",
        "Senior Data Analyst",
        ("SQL", "Python", "Tableau", "Statistics", "Data Cleaning"),
    ),
    (
        "Onboarding Flow Redesign",
        "UX Design Intern",
        "Product Design",
        "Design Lead",
        ("Figma", "User Research", "Prototyping", "Accessibility"),
    ),
    (
        "Supplier Cost Analysis",
        "Finance Analyst Intern",
        "Procurement",
        "Finance Manager",
        ("Excel", "Financial Modeling", "SQL", "Presentation Skills"),
    ),
    (
        "Support Ticket Classification",
        "Machine Learning Intern",
        "Customer Experience",
        "Staff Data Scientist",
        ("Python", "scikit-learn", "NLP", "Data Cleaning"),
    ),
    (
        "Competitor Pricing Research",
        "Business Analyst Intern",
        "Strategy",
        "Strategy Director",
        ("Market Research", "Excel", "Presentation Skills", "Business Writing"),
    ),
    (
        "Release Automation",
        "DevOps Intern",
        "Developer Productivity",
        "Site Reliability Engineer",
        ("Bash", "CI/CD", "Docker", "Python"),
    ),
    (
        "Social Media Content Calendar",
        "Content Marketing Intern",
        "Brand",
        "Content Manager",
        ("Copywriting", "Canva", "Social Media", "Analytics"),
    ),
    (
        "Recruiting Funnel Report",
        "People Analytics Intern",
        "People Operations",
        "People Analytics Manager",
        ("Excel", "SQL", "Data Visualization", "Stakeholder Communication"),
    ),
)
_DEMO_SUPERVISORS: tuple[tuple[str, str], ...] = (
    ("Maria", "Lopez"),
    ("James", "Okafor"),
    ("Priya", "Raman"),
    ("Daniel", "Becker"),
    ("Sofia", "Andersson"),
    ("Kenji", "Watanabe"),
    ("Amara", "Nwosu"),
    ("Luca", "Bianchi"),
)
_DEMO_SCHOOLS: tuple[str, ...] = (
    "Riverside Community College",
    "Northgate University",
    "Lakeview Institute of Technology",
    "State University",
    "Harbor City College",
)
_DEMO_STRONG_COMMENTS: tuple[str, ...] = (
    "{first} delivered the {title} work ahead of schedule, documented every step, and presented the "
    "results to the team with confidence. We would hire {first} without hesitation.",
    "Outstanding: {first} asked sharp questions early, handled feedback well, and the {skill} work "
    "was production quality.",
    "{first} took full ownership of the project, communicated progress daily, and exceeded what we "
    "expected from a short engagement.",
)
_DEMO_WEAK_COMMENTS: tuple[str, ...] = (
    "{first} completed the core tasks of the {title} project; the final report needed two rounds of "
    "revisions.",
    "Good attitude and reliable attendance. {first} should build more depth in {skill} before taking "
    "on a similar project independently.",
    "{first} made steady progress, but deadlines slipped twice and status updates were irregular.",
    "Solid effort overall; {first} would benefit from more practice with {skill} and from asking for "
    "help sooner.",
)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def write_demo_outcomes(
    path: Path, people: list[dict[str, Any]], *, employer: str = "Acme Corp", seed: int = 7
) -> int:
    """Write a demo outcomes CSV (canonical headers): one outcome per person, then exactly two bad rows.

    ``people`` are dicts with ``email``, ``first_name``, ``last_name`` and ``kind``.  About a third of
    the outcomes are *strong* (rating >= 4.5 and would_hire yes).  The two bad rows (rating 7; empty
    student_email) are quarantined when the file is read.  Returns the number of data rows written.
    Deterministic for a given ``people``, ``employer`` and ``seed``.
    """
    rng = random.Random(seed)
    domain = (re.sub(r"[^a-z0-9]+", "", employer.lower()) or "employer") + ".example"
    count = len(people)
    strong = set(rng.sample(range(count), round(count / 3))) if count else set()

    def outcome_row(index: int, person: Mapping[str, Any], is_strong: bool) -> dict[str, str]:
        title, role, team, sup_title, pool = rng.choice(_DEMO_PROJECTS)
        sup_first, sup_last = rng.choice(_DEMO_SUPERVISORS)
        start = date(2026, 1, 5) + timedelta(days=rng.randrange(0, 240))
        weeks = rng.randint(2, 8)
        end = start + timedelta(weeks=weeks, days=-1)
        skills = rng.sample(pool, rng.randint(2, min(4, len(pool))))
        if is_strong:
            rating = rng.choice((4.5, 4.6, 4.7, 4.8, 5.0))
            levels = [rng.randint(4, 5) for _ in skills]
            would_hire = "yes"
            comment = rng.choice(_DEMO_STRONG_COMMENTS)
        else:
            rating = rng.choice((2.5, 3.0, 3.2, 3.5, 3.8, 4.0, 4.2))
            levels = [rng.randint(2, 4) for _ in skills]
            would_hire = "yes" if rating >= 4.0 and rng.random() < 0.5 else "no"
            comment = rng.choice(_DEMO_WEAK_COMMENTS)
        project_id = f"PRJ-26-{index:04d}"
        first = str(person.get("first_name", "")).strip()
        base_url = f"https://docs.{domain}/internships/{project_id.lower()}"
        deliverables = [f"{base_url}/final-report"]
        if rng.random() < 0.5:
            deliverables.append(f"https://git.{domain}/interns/{_slug(title)}-{index:04d}")
        submitted = datetime.combine(
            end + timedelta(days=rng.randint(1, 6)), time(rng.randint(9, 17), rng.choice((0, 15, 30, 45)))
        ).replace(tzinfo=UTC)
        return {
            "outcome_id": f"MI-2026-{index:04d}",
            "student_email": str(person.get("email", "")),
            "student_first_name": first,
            "student_last_name": str(person.get("last_name", "")).strip(),
            "student_phone": f"+1-555-01{rng.randint(0, 99):02d}" if rng.random() < 0.6 else "",
            "student_school": rng.choice(_DEMO_SCHOOLS),
            "employer": employer,
            "project_id": project_id,
            "project_title": title,
            "role_title": role,
            "team": team,
            "supervisor_name": f"{sup_first} {sup_last}",
            "supervisor_email": f"{sup_first.lower()}.{sup_last.lower()}@{domain}",
            "supervisor_title": sup_title,
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            "status": "completed",
            "hours": str(weeks * rng.choice((8, 10, 12, 15))),
            "rating": f"{rating:.1f}",
            "would_hire": would_hire,
            "skills": "; ".join(f"{s}:{lv}" for s, lv in zip(skills, levels, strict=True)),
            "comments": comment.format(first=first or "The student", title=title, skill=skills[0]),
            "deliverables": " ".join(deliverables),
            "submitted_at": submitted.isoformat().replace("+00:00", "Z"),
        }

    rows = [outcome_row(i + 1, person, i in strong) for i, person in enumerate(people)]
    bad_rating = outcome_row(
        count + 1, {"email": "rowan.demo@students.example", "first_name": "Rowan", "last_name": "Demo"}, False
    )
    bad_rating["rating"] = "7"
    bad_rating["comments"] = "Demo row: the rating is out of range, so this row is quarantined."
    bad_email = outcome_row(count + 2, {"email": "", "first_name": "Sasha", "last_name": "Demo"}, False)
    bad_email["comments"] = "Demo row: the student e-mail is missing, so this row is quarantined."
    rows.extend([bad_rating, bad_email])

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(CANONICAL_COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)
