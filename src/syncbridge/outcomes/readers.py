"""Outcomes files (CSV, JSON, JSONL) to an :class:`OutcomeBatch`: good rows parsed, bad rows quarantined."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from syncbridge.model import Outcome
from syncbridge.outcomes.parse import (
    OutcomeRowError,
    _canonicalize,
    _kind,
    _lookup_key,
    _scrub,
    parse_row,
)
from syncbridge.outcomes.settings import (
    CANONICAL_COLUMNS,
    REQUIRED_COLUMNS,
    OutcomeFileError,
    OutcomeSourceSettings,
)


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
