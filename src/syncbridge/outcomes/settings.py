"""The ``outcomes:`` section of the YAML configuration and the column schema of an outcomes file."""

from __future__ import annotations

import codecs
import difflib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from syncbridge.errors import SyncbridgeError

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


_SUFFIX_FORMATS: dict[str, Literal["csv", "json", "jsonl"]] = {
    ".csv": "csv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


class OutcomeFileError(SyncbridgeError):
    """The whole outcomes file is unusable.  ``str()`` is one line that names the file."""


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
