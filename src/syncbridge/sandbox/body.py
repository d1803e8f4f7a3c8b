"""Request bodies checked against tables of fields: declarative validation for a sandbox's writes.

A vendor describes the body of each write as ``{key: Field(...)}`` in the order its API checks them and
keeps its own words for what is wrong (:class:`Wording`); :class:`Checker` checks a body against such a
table (types, required keys, lengths, choices, then that the ids a field names exist) and raises the
vendor's error for the first problem.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TYPES", "Checker", "Field", "Wording"]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


#: the plain field types: whether a (non-null) value is one
TYPES: Mapping[str, Callable[[Any], bool]] = {
    "int": _is_int,
    "str": lambda v: isinstance(v, str),
    "bool": lambda v: isinstance(v, bool),
    "ints": lambda v: isinstance(v, list) and all(_is_int(i) for i in v),
}


@dataclass(frozen=True)
class Field:
    """One field of a request body.

    ``type`` is one of :data:`TYPES` (null stands for ``none``; missing or null is an error when
    ``required``; a ``str`` is at most ``max_len`` long and, when required, not blank), ``enum`` (one
    of ``choices``: null is checked too, so a missing required enum is told ``message``), the name of
    a kind the checker was given, or a function ``(key, value) -> value`` called with every value given
    (null included).  The ids of an ``int`` or ``ints`` field with a ``ref`` (a table name) must exist.
    ``to`` is the key its value goes to, when not the field's own."""

    type: str | Callable[[str, Any], Any] = "str"
    required: bool = False
    max_len: int = 255
    choices: Collection[Any] = ()
    message: str = ""
    ref: str = ""
    none: Any = None
    to: str = ""


@dataclass(frozen=True)
class Wording:
    """What a checker says is wrong (by default the wording of Rails-style APIs such as Greenhouse).

    ``one_of`` gets ``{choices}`` (comma separated), ``too_long`` ``{max_len}``, ``unknown`` ``{noun}``
    (a table's name in the singular, in words: ``job_posts`` is ``job post``) and ``{id}``."""

    required: str = "is required"
    blank: str = "can't be blank"
    too_long: str = "is too long (maximum is {max_len} characters)"
    one_of: str = "must be one of: {choices}"
    unknown: str = "unknown {noun} {id}"
    types: Mapping[str, str] = field(
        default_factory=lambda: {
            "int": "must be an integer",
            "str": "must be a string",
            "bool": "must be true or false",
            "ints": "must be an array of integers",
        }
    )


class Checker:
    """Checks bodies against tables of :class:`Field`.

    ``error(key, problem)`` makes the exception raised; ``exists(table, id)`` says whether an id names a
    record; ``kinds`` adds named field types, ``(key, value, field) -> value`` (null included)."""

    def __init__(
        self,
        error: Callable[[str, str], Exception],
        exists: Callable[[str, Any], bool],
        *,
        wording: Wording | None = None,
        kinds: Mapping[str, Callable[[str, Any, Field], Any]] | None = None,
    ) -> None:
        self.error, self.exists = error, exists
        self.wording = wording or Wording()
        self.kinds = dict(kinds or {})

    def check(
        self, body: Mapping[str, Any], spec: Mapping[str, Field], *, partial: bool = False
    ) -> dict[str, Any]:
        """The checked values of the fields of ``spec`` that ``body`` has, and of the required ones
        unless ``partial`` (an update), by the key they go to; then the ids they name must exist."""
        out = {}
        for key, f in spec.items():
            if key in body or (f.required and not partial):
                out[f.to or key] = self.value(key, body.get(key), f)
        for key, f in spec.items():
            ids = out.get(f.to or key) if f.ref and f.type in ("int", "ints") else None
            for rec_id in ids if isinstance(ids, list) else [] if ids is None else [ids]:
                if not self.exists(f.ref, rec_id):
                    noun = f.ref.removesuffix("s").replace("_", " ")
                    raise self.error(key, self.wording.unknown.format(noun=noun, id=rec_id))
        return out

    def value(self, key: str, value: Any, f: Field) -> Any:
        """One field's checked value."""
        words = self.wording
        if callable(f.type):
            return f.type(key, value)
        if f.type in self.kinds:
            return self.kinds[f.type](key, value, f)
        if f.type == "enum":
            if value not in f.choices:
                choices = ", ".join(str(c) for c in f.choices if c is not None)
                raise self.error(key, f.message or words.one_of.format(choices=choices))
            return value
        if value is None:
            if f.required:
                raise self.error(key, words.required)
            return copy.copy(f.none)
        if not TYPES[f.type](value):
            raise self.error(key, words.types[f.type])
        if f.type == "str" and f.required and not value.strip():
            raise self.error(key, words.blank)
        if f.type == "str" and len(value) > f.max_len:
            raise self.error(key, words.too_long.format(max_len=f.max_len))
        return value
