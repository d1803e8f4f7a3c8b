"""`syncbridge schema` describes the files people actually write: every shipped example validates."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from syncbridge.cli import main
from syncbridge.config import Settings, json_schema
from syncbridge.connector import connector_types

ROOT = Path(__file__).parent.parent
_FENCE = re.compile(r"^([ \t]*)```ya?ml[^\n]*\n(.*?)^\1```", re.M | re.S)


def _yaml_blocks() -> list[tuple[str, Any]]:
    """(where, parsed) for every ```yaml block in README.md and docs/*.md, and every config/*.yaml."""
    found: list[tuple[str, Any]] = []
    for path in sorted(ROOT.glob("config/*.yaml")):
        found.append((str(path.relative_to(ROOT)), yaml.safe_load(path.read_text(encoding="utf-8"))))
    for doc in [ROOT / "README.md", *sorted(ROOT.glob("docs/*.md"))]:
        text = doc.read_text(encoding="utf-8")
        for m in _FENCE.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            try:
                data = yaml.safe_load(textwrap.dedent(m.group(2)))
            except yaml.YAMLError:
                continue  # an excerpt with "..." placeholders, not a config
            found.append((f"{doc.relative_to(ROOT)}:{line}", data))
    return found


def _kind(data: Any) -> str | None:
    """'config' (a whole file), 'sections' (some top-level sections), 'connector' (one block), or None."""
    if not isinstance(data, dict) or not data:
        return None
    top = set(Settings.model_fields)
    if {"connectors", "routing"} <= set(data) and "version" in data:
        return "config"
    if set(data) <= top:
        return "sections"
    if data.get("type") in connector_types():
        return "connector"
    return None


EXAMPLES = [(where, data, kind) for where, data in _yaml_blocks() if (kind := _kind(data))]


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _errors(validator: Draft202012Validator, data: Any) -> list[str]:
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(data)]


def test_examples_were_found() -> None:
    kinds = [k for _, _, k in EXAMPLES]
    assert "config" in kinds  # config/syncbridge.yaml at least
    assert kinds.count("sections") + kinds.count("connector") >= 5


@pytest.mark.parametrize(("where", "data", "kind"), EXAMPLES, ids=[w for w, _, _ in EXAMPLES])
def test_every_shipped_example_validates_against_the_schema(where: str, data: Any, kind: str) -> None:
    schema = json_schema()
    if kind == "config":
        errors = _errors(_validator(schema), data)
    elif kind == "sections":
        partial = {**schema, "required": []}
        errors = _errors(_validator(partial), data)
    else:
        connector = {"$defs": schema["$defs"], **schema["properties"]["connectors"]["additionalProperties"]}
        errors = _errors(_validator(connector), data)
    assert errors == [], f"{where}: {errors}"


def test_schema_has_dialect_and_accepts_var_references_in_every_scalar() -> None:
    schema = json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    v = _validator(schema)
    doc = {
        "version": 1,
        "outcomes": {"path": "x.csv", "max_field_chars": "${MAX_CHARS}"},
        "connectors": {
            "gh": {
                "type": "greenhouse",
                "client_id": "${ID}",
                "client_secret": "${SECRET}",
                "user_id": "${GREENHOUSE_USER_ID}",
                "page_size": "${PAGE:-100}",
                "note_visibility": "${VIS}",
            }
        },
        "routing": [{"employer": "Acme", "connector": "gh"}],
        "matching": {"create_unmatched": "${CREATE:-false}"},
        "safety": {"neutralise_formulas": "${NEUTRALISE:-true}"},
    }
    assert _errors(v, doc) == []


def test_one_typo_in_a_connector_block_gives_one_error() -> None:
    v = _validator(json_schema())
    doc = {
        "version": 1,
        "outcomes": {"path": "x.csv"},
        "connectors": {"lv": {"type": "lever", "api_key": "${KEY}", "environmnet": "sandbox"}},
        "routing": [{"employer": "Acme", "connector": "lv"}],
    }
    errors = _errors(v, doc)
    assert errors == ["connectors.lv: Additional properties are not allowed ('environmnet' was unexpected)"]


def test_unknown_connector_type_gives_one_error() -> None:
    v = _validator(json_schema())
    doc = {
        "version": 1,
        "outcomes": {"path": "x.csv"},
        "connectors": {"x": {"type": "greenhous", "client_id": "a", "client_secret": "${S}"}},
        "routing": [{"employer": "Acme", "connector": "x"}],
    }
    errors = _errors(v, doc)
    assert len(errors) == 1 and errors[0].startswith("connectors.x.type: 'greenhous' is not one of"), errors


def test_missing_version_is_a_schema_error() -> None:
    v = _validator(json_schema())
    doc = {
        "outcomes": {"path": "x.csv"},
        "connectors": {"x": {"type": "lever", "api_key": "${K}"}},
        "routing": [{"employer": "Acme", "connector": "x"}],
    }
    assert any("version" in e for e in _errors(v, doc))


def test_cli_schema_prints_the_same_schema() -> None:
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.output) == json.loads(json.dumps(json_schema()))
