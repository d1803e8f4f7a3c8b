"""Property tests: whatever bytes or structures arrive as a config or an outcomes file, syncbridge
answers with a clean one-line error of a known type, or with outcomes and quarantined rows — never
another exception, never a hang (each example is bounded by hypothesis' deadline)."""

from __future__ import annotations

import json
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncbridge.config import Settings, load_config
from syncbridge.errors import ConfigError
from syncbridge.outcomes import CANONICAL_COLUMNS, OutcomeFileError, OutcomeSourceSettings, read_outcomes
from syncbridge.safety import CONTROL_CHARACTERS, EXEMPT_KEYS, FORMULA_TRIGGERS, sanitise_payload

BOUNDED = settings(
    max_examples=100,
    deadline=timedelta(seconds=3),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
)
CONFIG_KEYS = [*Settings.model_fields, "type", "url", "path", "employer", "connector", "client_secret"]
keys = st.one_of(st.sampled_from(CONFIG_KEYS), st.sampled_from(CANONICAL_COLUMNS), st.text(max_size=12))
trees = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=5), st.dictionaries(keys, children, max_size=6)),
    max_leaves=40,
)


def _config_file(content: bytes) -> Path:
    with tempfile.NamedTemporaryFile("wb", suffix=".yaml", delete=False) as handle:
        handle.write(content)
    return Path(handle.name)


def _load(content: bytes) -> None:
    path = _config_file(content)
    try:
        load_config(path, log_warnings=False)
    except ConfigError as exc:
        assert "\n" not in str(exc) and str(exc)
    finally:
        path.unlink()


@BOUNDED
@given(st.binary(max_size=2000))
def test_config_loader_random_bytes(content: bytes) -> None:
    _load(content)


@BOUNDED
@given(trees)
def test_config_loader_random_yaml(tree: Any) -> None:
    _load(yaml.safe_dump(tree, allow_unicode=True).encode())


@BOUNDED
@given(st.dictionaries(st.sampled_from(list(Settings.model_fields)), trees, min_size=1, max_size=8))
def test_config_loader_random_sections(sections: dict[str, Any]) -> None:
    _load(yaml.safe_dump({"version": 1, **sections}, allow_unicode=True).encode())


@BOUNDED
@given(
    st.lists(
        st.sampled_from(
            ["&a [", "*a", ", ", "]", "{k: ", "}", "- ", "\n", "a: ", "<<: *a", '"', "!!str ", "9" * 4400]
        ),
        max_size=60,
    )
)
def test_config_loader_random_yaml_syntax(tokens: list[str]) -> None:
    _load(("version: 1\n" + "".join(tokens)).encode())


def _read(content: bytes, suffix: str) -> None:
    with tempfile.NamedTemporaryFile("wb", suffix=suffix, delete=False) as handle:
        handle.write(content)
    path = Path(handle.name)
    try:
        batch = read_outcomes(OutcomeSourceSettings(path=path))
    except OutcomeFileError as exc:
        assert "\n" not in str(exc) and str(exc)
        return
    finally:
        path.unlink()
    assert len(batch.outcomes) + len(batch.quarantined) + batch.duplicates == batch.rows_read
    for q in batch.quarantined:
        assert "\n" not in q.reason and q.line >= 1
    for outcome in batch.outcomes:
        for text in _texts(outcome.model_dump(mode="json")):
            assert not CONTROL_CHARACTERS.search(text), text


def _texts(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [t for v in node.values() for t in _texts(v)]
    if isinstance(node, list):
        return [t for v in node for t in _texts(v)]
    return [node] if isinstance(node, str) else []


@BOUNDED
@given(st.binary(max_size=3000), st.sampled_from([".csv", ".json", ".jsonl"]))
def test_outcome_readers_random_bytes(content: bytes, suffix: str) -> None:
    _read(content, suffix)


row_values = st.one_of(
    scalars,
    st.text(alphabet=st.characters(codec="utf-8"), max_size=30),
    st.sampled_from(["2026-01-05", "4.5", "yes", "a@b.example", "Python:4", "https://x.example/r"]),
    trees,
)
rows = st.dictionaries(st.sampled_from(CANONICAL_COLUMNS), row_values, max_size=len(CANONICAL_COLUMNS))


@BOUNDED
@given(st.lists(st.one_of(rows, trees), max_size=8))
def test_outcome_readers_random_json(records: list[Any]) -> None:
    _read(json.dumps(records).encode(), ".json")
    _read("\n".join(json.dumps(r) for r in records).encode(), ".jsonl")


@BOUNDED
@given(st.lists(st.lists(st.text(max_size=20), min_size=1, max_size=30), max_size=8))
def test_outcome_reader_random_csv(cells: list[list[str]]) -> None:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CANONICAL_COLUMNS)
    writer.writerows(cells)
    _read(out.getvalue().encode(), ".csv")


@BOUNDED
@given(trees)
def test_sanitised_payloads_carry_no_formula_and_no_control(payload: Any) -> None:
    clean, _ = sanitise_payload({"fields": payload})
    for text in _texts(clean):
        assert not CONTROL_CHARACTERS.search(text)
    for text in _free_texts(clean):
        assert not text.startswith(FORMULA_TRIGGERS)


def _free_texts(node: Any, exempt: bool = False) -> list[str]:
    """Strings not under an identifier key (e-mail, marker, code, ids, options...)."""
    if isinstance(node, dict):
        return [
            t for k, v in node.items() for t in _free_texts(v, exempt or k in EXEMPT_KEYS or k == "phone")
        ]
    if isinstance(node, list):
        return [t for v in node for t in _free_texts(v, exempt)]
    return [node] if isinstance(node, str) and not exempt else []


@BOUNDED
@given(st.text(alphabet=st.sampled_from(list('ab,"\r\n\x0b\u2028é ')), max_size=200))
def test_csv_lines_are_split_exactly_like_stringio(text: str) -> None:
    """The CSV reader reads lines one at a time (no 4-byte-per-character copy of the whole file); it
    must see the same records and line numbers as with io.StringIO(text, newline="")."""
    import csv
    import io

    from syncbridge.outcomes.readers import _LINE

    def rows(lines: Any) -> list[tuple[list[str], int]] | str:
        reader = csv.reader(lines)
        try:
            return [(row, reader.line_num) for row in reader]
        except csv.Error as exc:
            return f"{exc} at {reader.line_num}"

    assert rows(m.group() for m in _LINE.finditer(text)) == rows(io.StringIO(text, newline=""))


@settings(max_examples=5, deadline=timedelta(seconds=3))
@given(st.integers(min_value=50_000, max_value=99_000), st.sampled_from(["a", "x.y-", "%4"]))
def test_long_values_are_reported_and_redacted_in_linear_time(length: int, unit: str) -> None:
    """A value just under outcomes.max_field_chars used to make the e-mail scrubbing of its quarantine
    reason (and log redaction) quadratic: a minute per row.  The deadline holds it."""
    from syncbridge.redact import redact

    text = (unit * length)[:length]
    row = {c: "x" for c in CANONICAL_COLUMNS} | {"rating": text}
    _read(json.dumps([row]).encode(), ".json")
    assert redact(text) == text
