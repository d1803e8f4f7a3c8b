"""The JSON Schema of the configuration file (``syncbridge schema``), for editors and CI checks.

It describes the file as written, before ``${VAR}`` references are replaced, so:

* every scalar setting that is not plain text (numbers, booleans, enumerations, ``null``-able values)
  also accepts a string holding a ``${VAR}`` / ``${VAR:-default}`` reference; the value is checked
  when syncbridge loads the file (``syncbridge validate``).  The connector ``type`` and ``version``
  are the exception: they select the schema and must be written literally.
* a connector block's schema is chosen by its ``type`` (one ``if``/``then`` per connector type), so a
  typo in a Lever block gives one error about the Lever block, not one per vendor as ``anyOf`` would.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

from syncbridge.errors import ConfigError

DIALECT = "https://json-schema.org/draft/2020-12/schema"
ENV_REFERENCE = {
    "type": "string",
    "pattern": r"\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}",
    "description": "a ${VAR} or ${VAR:-default} reference, replaced from the environment or .env",
}
_LITERAL_KEYS = frozenset({"type", "version"})
_SCALAR_TYPES = {"integer", "number", "boolean", "null"}


def _accepts_reference(node: dict[str, Any]) -> bool:
    """True when a plain ``${VAR}`` string would already pass this (sub)schema."""
    kind = node.get("type")
    if kind == "string":
        return not any(k in node for k in ("enum", "const", "pattern", "maxLength"))
    return False


def _allow_references(node: Any, key: str = "") -> Any:
    """Wrap every scalar subschema that a ``${VAR}`` string would fail in ``anyOf [it, reference]``."""
    if isinstance(node, list):
        return [_allow_references(v, key) for v in node]
    if not isinstance(node, dict):
        return node
    if "properties" in node:
        node = {
            **node,
            "properties": {
                name: (sub if name in _LITERAL_KEYS else _allow_references(sub, name))
                for name, sub in node["properties"].items()
            },
        }
    for container in ("items", "additionalProperties", "anyOf", "oneOf", "allOf", "prefixItems"):
        if container in node and container != "properties":
            node = {**node, container: _allow_references(node[container], key)}
    if "$defs" in node:
        node = {**node, "$defs": {k: _allow_references(v) for k, v in node["$defs"].items()}}
    kind = node.get("type")
    scalar = kind in _SCALAR_TYPES or "enum" in node or "const" in node
    if (scalar or kind == "string") and not _accepts_reference(node):
        meta = {k: node[k] for k in ("title", "description", "default") if k in node}
        inner = {k: v for k, v in node.items() if k not in meta}
        return {**meta, "anyOf": [inner, {"$ref": "#/$defs/EnvReference"}]}
    return node


def build_schema(settings_model: type[BaseModel]) -> dict[str, Any]:
    from syncbridge.connector import connector_class, connector_types

    schema = copy.deepcopy(settings_model.model_json_schema())
    defs: dict[str, Any] = schema.setdefault("$defs", {})
    names: list[str] = []
    branches: list[dict[str, Any]] = []
    for name in sorted(connector_types()):
        try:
            model = connector_class(name).settings_model
        except ConfigError:
            continue
        block = model.model_json_schema(ref_template="#/$defs/{model}")
        for def_name, sub in block.pop("$defs", {}).items():
            defs.setdefault(def_name, sub)
        defs[model.__name__] = block
        names.append(name)
        branches.append(
            {
                "if": {"properties": {"type": {"const": name}}, "required": ["type"]},
                "then": {"$ref": f"#/$defs/{model.__name__}"},
            }
        )
    defs.pop("ConnectorSettings", None)
    schema["properties"]["connectors"] = {
        "type": "object",
        "title": "Connectors",
        "description": "named connector blocks; `type` selects the vendor and the schema of the block",
        "minProperties": 1,
        "additionalProperties": {
            "type": "object",
            "required": ["type"],
            "properties": {"type": {"enum": names, "description": "the connector type (vendor)"}},
            "allOf": branches,
        },
    }
    schema = _allow_references(schema)
    schema["$defs"]["EnvReference"] = ENV_REFERENCE
    if "version" not in schema.get("required", []):
        schema.setdefault("required", []).insert(0, "version")
    return {"$schema": DIALECT, **schema}
