"""Reading an untrusted YAML configuration file safely.

``yaml.safe_load`` refuses Python tags but still accepts three things that hurt a tool run by an admin
from a file someone else may have edited:

* **alias bombs** ("billion laughs"): nine anchors of ten aliases each are 1 KB of YAML and 10⁹ nodes
  once expanded.  PyYAML shares aliased objects, so loading is quick, but everything that walks the
  result afterwards (``${VAR}`` interpolation, pydantic) expands it: minutes and gigabytes.  Aliases may
  also be recursive (``&a [*a]``), which no walk survives.
* **duplicate keys**: YAML says a mapping's keys are unique, PyYAML keeps the last one silently, so a
  second ``acme:`` connector block replaces the first without a word.
* **non-UTF-8 bytes**, which surface as a ``UnicodeDecodeError`` traceback.

:func:`load_yaml_file` composes the node graph first (no Python objects yet), then walks it once with a
memo per node: it counts the nodes the document *expands* to (an alias costs the size of what it points
to), refuses cycles, depth and duplicate keys with the YAML path, and only then builds the objects.  The
limits are far above any real configuration (the shipped one has ~150 nodes) and keep the cost of a
hostile file to milliseconds.  Every refusal is a :class:`~syncbridge.errors.ConfigError` of one line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from syncbridge.errors import ConfigError

#: a configuration file larger than this is refused before it is parsed (the shipped one is ~3 KB)
MAX_FILE_BYTES = 1024 * 1024
#: nodes the document may expand to, counting each alias as a full copy of its anchor
MAX_NODES = 100_000
#: nesting depth of mappings and sequences
MAX_DEPTH = 64


class _Loader(yaml.SafeLoader):
    """SafeLoader whose constructor also refuses duplicate keys (a second line of defence: the node walk
    below names the path; this catches keys that only collide once constructed, e.g. ``1`` and ``0x1``)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        self.flatten_mapping(node)
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key: let the base class report it
                break
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_NON_PRINTABLE = yaml.reader.Reader.NON_PRINTABLE
_BRACKETS = re.compile(r"[\[\]{}]")


def _key_text(node: yaml.Node) -> str:
    if isinstance(node, yaml.ScalarNode):
        return str(node.value)
    return "<complex key>"


def _check(root: yaml.Node, where: str) -> None:
    """Size (with aliases expanded), depth, cycles and duplicate keys of a composed document."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def walk(node: yaml.Node, path: str, depth: int) -> int:
        ident = id(node)
        if ident in sizes:
            return sizes[ident]
        if ident in active:
            raise ConfigError(f"{where}: {path or 'the document'}: a YAML alias refers to itself (recursive)")
        if depth > MAX_DEPTH:
            raise ConfigError(f"{where}: {path}: nested more than {MAX_DEPTH} levels deep")
        active.add(ident)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            for i, child in enumerate(node.value):
                total += walk(child, f"{path}.{i}" if path else str(i), depth + 1)
                if total > MAX_NODES:
                    break
        elif isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                key = _key_text(key_node)
                child_path = f"{path}.{key}" if path else key
                if key != "<<" and isinstance(key_node, yaml.ScalarNode):
                    if key in seen:
                        line = key_node.start_mark.line + 1
                        raise ConfigError(
                            f"{where}: {child_path}: duplicate key (line {line}); each key may appear "
                            "only once in a mapping"
                        )
                    seen.add(key)
                total += walk(key_node, child_path, depth + 1)
                total += walk(value_node, child_path, depth + 1)
                if total > MAX_NODES:
                    break
        active.discard(ident)
        if total > MAX_NODES:
            raise ConfigError(
                f"{where}: {path or 'the document'}: expands to more than {MAX_NODES:,} YAML nodes "
                "(an alias bomb?); a syncbridge configuration is a few hundred"
            )
        sizes[ident] = total
        return total

    walk(root, "", 0)


def parse_yaml(text: str, where: str) -> Any:
    """Parse YAML text with the limits above.  ``where`` names the source in errors (the file path)."""
    bad = _NON_PRINTABLE.search(text)
    if bad:  # PyYAML's reader raises from the constructor; say where, as one line
        number = text.count("\n", 0, bad.start()) + 1
        raise ConfigError(
            f"{where}: line {number}: control character U+{ord(bad.group()):04X} is not allowed in YAML"
        )
    depth = 0
    for m in _BRACKETS.finditer(text):
        # a cheap upper bound of flow nesting (brackets inside quotes count too, which only matters for
        # files that are pathological anyway): PyYAML's composer recurses per level and takes seconds
        # to fail on thousands of `[`, so refuse those before it starts
        depth += 1 if m.group() in "[{" else -1
        if depth > MAX_DEPTH:
            number = text.count("\n", 0, m.start()) + 1
            raise ConfigError(f"{where}: line {number}: nested more than {MAX_DEPTH} levels deep")
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check(node, where)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = f" line {mark.line + 1}:" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}:{line} not valid YAML: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{where}: nested too deeply to be a configuration file") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits (Python's int() limit)
        raise ConfigError(f"{where}: a value cannot be read: {str(exc).split(';')[0]}") from None
    finally:
        loader.dispose()


def read_config_text(path: Path) -> str:
    """The file's text: size-capped, UTF-8 (a BOM is allowed), one line naming the bad byte otherwise."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(
            f"{path}: larger than {MAX_FILE_BYTES // 1024} KiB; a syncbridge configuration is a few KiB"
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text: byte 0x{raw[exc.start]:02x} at byte offset {exc.start}; "
            "save the file as UTF-8"
        ) from None


def load_yaml_file(path: Path) -> Any:
    return parse_yaml(read_config_text(path), str(path))
