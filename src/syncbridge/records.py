"""Vendor records are untrusted input: every record a connector reads passes through here.

Design: one rule (:func:`record_id`) decides whether a record has a usable id, and one wrapper
(:func:`map_records`) applies a connector's mapping to each record of a page, turning a record that has no
valid id or is malformed into a :class:`Refused` placeholder instead of an exception.  The placeholder
travels in the page so :func:`syncbridge.steps.sync_stream` can count it (``skipped_invalid`` in the
sync summary); :meth:`syncbridge.store.Store.upsert_page` never stores it, and also refuses any plain
dict record whose ``id`` fails :func:`record_id` (the store's upsert dispatch is the last line for every
stream of every vendor).

Why not "skip quietly": a vendor bug or a proxy that mangles data would otherwise create phantom people
(``"id": null`` became a person with the id ``"None"`` carrying a real name and e-mail) or lose records
without anyone noticing.  Refusals are logged with the stream and the reason only: never a name, an
e-mail or any other field value of the record.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import ValidationError

from syncbridge.errors import InvalidRecord, UnexpectedResponse

log = logging.getLogger("syncbridge.records")

MAX_ID_LENGTH = 255
#: ASCII control characters (C0 and DEL), refused in ids
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

T = TypeVar("T")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, float):
        return "a number with a fraction"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, str):
        return "a string"
    return f"a {type(value).__name__}"


def id_problem(value: Any, key: str = "id") -> str | None:
    """Why ``value`` is not a usable record id (``None`` when it is one).

    Every vendor documents its ids as integers (Greenhouse) or non-empty strings (Lever UUIDs, Workday
    WIDs); anything else (null, booleans, fractions, objects, arrays, blank or over-long strings, control
    characters) is refused.
    """
    if type(value) is not str:  # strings (nearly every id) skip the other kinds' checks
        if isinstance(value, bool):
            return f"{key} is a boolean"
        if isinstance(value, int):
            return None if len(str(value)) <= MAX_ID_LENGTH else f"{key} is too long"
    if isinstance(value, str):
        if not value.strip():
            return f"{key} is blank"
        if len(value) > MAX_ID_LENGTH:
            return f"{key} is too long"
        # ``isprintable`` (C) settles nearly every id; only the rest is searched for ASCII controls
        if not value.isprintable() and _CONTROL.search(value):
            return f"{key} has control characters"
        return None
    return f"{key} is {_kind(value)}"


def record_id(value: Any, what: str = "record", key: str = "id") -> str:
    """``value`` as the id string, or :class:`InvalidRecord` naming ``what`` and the problem."""
    problem = id_problem(value, key)
    if problem is not None:
        raise InvalidRecord(f"{what} refused: {problem}")
    return str(value)


def require_id(record: Any, what: str = "record", key: str = "id") -> str:
    """The id ``record[key]`` of a raw vendor record; missing, null or malformed → InvalidRecord."""
    if type(record) is not dict and not isinstance(record, Mapping):  # dict first: no ABC check
        raise InvalidRecord(f"{what} refused: not an object but {_kind(record)}")
    if key not in record:
        raise InvalidRecord(f"{what} refused: {key} is missing")
    return record_id(record[key], what, key)


@dataclass(frozen=True)
class Refused:
    """A record the mapping refused; counted in the sync summary, never stored."""

    stream: str
    reason: str


def describe(exc: BaseException) -> str:
    """A reason without any field value: our own reasons verbatim, otherwise the error class and, for
    pydantic, where in the record the problem is."""
    if isinstance(exc, InvalidRecord):
        return exc.reason
    if isinstance(exc, ValidationError):
        where = sorted({".".join(str(p) for p in e["loc"]) or "record" for e in exc.errors()})
        return f"malformed record ({', '.join(where[:3])})"
    if isinstance(exc, KeyError):
        return f"malformed record (missing {exc.args[0]!s:.40})" if exc.args else "malformed record"
    return f"malformed record ({exc.__class__.__name__})"


#: what a hostile record can make mapping code raise; anything else is a bug and is not swallowed
RECORD_ERRORS: tuple[type[BaseException], ...] = (
    InvalidRecord,
    ValueError,  # pydantic's ValidationError too
    TypeError,
    KeyError,
    AttributeError,
    IndexError,
    OverflowError,
)


def refuse(connector: str, stream: str, exc: BaseException) -> Refused:
    reason = describe(exc)
    log.warning("%s/%s: refused a vendor record: %s", connector, stream, reason)
    return Refused(stream, reason)


def map_records(
    records: Iterable[Any], convert: Callable[[Any], T], *, connector: str, stream: str
) -> list[T | Refused]:
    """``convert`` applied to each record; a record it cannot convert becomes a :class:`Refused`."""
    out: list[T | Refused] = []
    for raw in records:
        try:
            if type(raw) is not dict and not isinstance(raw, Mapping):
                raise InvalidRecord(f"record refused: not an object but {_kind(raw)}")
            out.append(convert(raw))
        except RECORD_ERRORS as exc:
            out.append(refuse(connector, stream, exc))
    return out


def checked_dict(record: Any) -> dict[str, Any]:
    """A plain-dict record (users, custom fields, postings...) kept as it is once its id is valid."""
    require_id(record)
    return dict(record)


def count_refused(page: Iterable[Any]) -> int:
    return sum(1 for r in page if isinstance(r, Refused))


def vendor_answer(call: Callable[[], T], connector: str) -> T:
    """Run a connector call whose result is built from a vendor's answer (a write's response, a
    reconciliation lookup); an answer that cannot be mapped becomes an
    :class:`~syncbridge.errors.UnexpectedResponse`.  That is a ``ServerError``: for a write the outcome is
    uncertain, so the applier reconciles before sending again instead of crashing the run."""
    try:
        return call()
    except RECORD_ERRORS as exc:
        raise UnexpectedResponse(
            f"the vendor's answer could not be used: {describe(exc)}", connector=connector
        ) from None


def json_dumps(value: Any) -> str:
    """The state store's JSON serializer.  Vendor payloads kept in ``raw`` may carry ``NaN`` or
    ``Infinity`` (Python's JSON reader accepts them); PostgreSQL's JSON type refuses those tokens, which
    failed the whole sync with a DataError.  They are stored as ``null``: not a number is no value."""
    try:
        return json.dumps(value, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(value), allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
