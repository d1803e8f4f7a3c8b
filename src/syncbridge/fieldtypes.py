"""Custom-field values fitted to each field's type, at plan time.

The ATS says what a field holds (Greenhouse: ``value_type`` of ``GET /v3/custom_fields``, the options of
select fields in ``GET /v3/custom_field_options``); syncbridge mirrors those definitions like any other
stream.  Before a value is planned for a field it is converted to what the field accepts, and a value that
cannot fit (an unknown option, text in a number field, a text over the length limit, an e-mail of no ATS
user...) is reported in the plan for that outcome and never sent, so a run never fails with a 422 for it.

Why here and not in the connector: the plan is where a person looks before anything is written, and the
same outcome must give the same verdict on every run (the mirror is the input, not the live ATS).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from syncbridge.errors import SyncbridgeError
from syncbridge.model import Outcome, Skill

log = logging.getLogger("syncbridge.fieldtypes")

#: Greenhouse documents no length limits for text fields.  Short text is a one-line input: 255, the limit
#: the API puts on names and keys.  Long/rich text is capped at a length a recruiter can still read, so a
#: runaway value is reported rather than cut somewhere the recruiter cannot see.
TEXT_LIMITS = {"short_text": 255, "url": 2048, "long_text": 10_000, "rich_text": 10_000}
#: streams a connector syncs its field definitions with (checked when mirrored)
DEFINITION_STREAMS = ("custom_fields", "custom_field_options")


@dataclass(frozen=True)
class FieldDef:
    key: str  # name_key
    scope: str  # candidate | application | job (Greenhouse field_type)
    value_type: str
    options: tuple[str, ...] = ()  # active option names, for select fields


class FieldDefs:
    """The mirrored definitions of one connector: ``(scope, name_key) → FieldDef``."""

    def __init__(self, defs: Iterable[FieldDef]) -> None:
        self._defs = {(d.scope, d.key): d for d in defs}

    def __bool__(self) -> bool:
        return bool(self._defs)

    def get(self, scope: str, key: str) -> FieldDef | None:
        return self._defs.get((scope, key))

    @classmethod
    def from_records(
        cls, fields: Iterable[Mapping[str, Any]], options: Iterable[Mapping[str, Any]]
    ) -> FieldDefs:
        names: dict[str, list[tuple[int, str]]] = {}
        for opt in options:
            if opt.get("active") is False or not isinstance(opt.get("name"), str):
                continue
            names.setdefault(str(opt.get("custom_field_id")), []).append(
                (int(opt.get("sort_order") or 0), opt["name"])
            )
        defs = []
        for f in fields:
            if f.get("active") is False or not f.get("name_key"):
                continue
            opts = tuple(n for _o, n in sorted(names.get(str(f.get("id")), [])))
            defs.append(
                FieldDef(str(f["name_key"]), str(f.get("field_type")), str(f.get("value_type")), opts)
            )
        return cls(defs)


def raw_value(o: Outcome, path: str) -> Any:
    """The outcome's value at ``path`` as data (skills stay a list), for fitting to a field's type."""
    from syncbridge.render import prescreen_value

    if path.startswith("prescreen.") and path != "prescreen.skills":
        return prescreen_value(o, path)
    if path == "prescreen.skills":
        path = "evaluation.skills"
    node: Any = o
    for part in path.split("."):
        node = getattr(node, part, None) if node is not None else None
    if hasattr(node, "value") and not isinstance(node, int | float | str | bool):
        return node.value
    return node


class Unfit(ValueError):
    """The value cannot be written to the field; the message says why (no personal data in it)."""


def _text(value: Any) -> str:
    from syncbridge.render import skills_text

    if isinstance(value, tuple | list):
        if value and isinstance(value[0], Skill):
            return skills_text(tuple(value))
        return ", ".join(str(v) for v in value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _items(value: Any) -> list[str]:
    if isinstance(value, tuple | list):
        return [v.name if isinstance(v, Skill) else str(v) for v in value]
    return [part.strip() for part in str(value).split(",") if part.strip()]


def _option(wanted: str, options: tuple[str, ...]) -> str | None:
    folded = wanted.strip().casefold()
    return next((o for o in options if o.casefold() == folded), None)


def _number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise Unfit("a yes/no answer is not a number")
    if isinstance(value, int | float):
        return value
    try:
        d = Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation:
        raise Unfit("not a number") from None
    if not d.is_finite():
        raise Unfit("not a number")
    return int(d) if d == d.to_integral_value() else float(d)


def _yes_no(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().casefold()
    if text in ("yes", "y", "true", "1"):
        return True
    if text in ("no", "n", "false", "0"):
        return False
    raise Unfit("not a yes/no answer")


def _date(value: Any) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value).strip()[:10]).isoformat()
    except ValueError:
        raise Unfit("not a date (YYYY-MM-DD)") from None


def _currency(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping) and "amount" in value and value.get("currency_code"):
        return {"amount": _number(value["amount"]), "currency_code": str(value["currency_code"]).upper()}
    parts = str(value).split()
    codes = [p for p in parts if len(p) == 3 and p.isalpha()]
    amounts = [p for p in parts if p not in codes]
    if len(codes) != 1 or len(amounts) != 1:
        raise Unfit("a currency field needs an amount and a currency code, e.g. '1200 USD'")
    return {"amount": _number(amounts[0]), "currency_code": codes[0].upper()}


def fit(defn: FieldDef, value: Any, *, user_for: Callable[[str], str | None]) -> Any:
    """``value`` converted to what a field of ``defn.value_type`` accepts (the Greenhouse v3 write forms);
    raises :class:`Unfit` with the reason when it cannot be.  ``None`` clears the field and always fits."""
    if value is None:
        return None
    t = defn.value_type
    if t in TEXT_LIMITS:
        text = _text(value)
        if t == "url" and not text.lower().startswith(("http://", "https://")):
            raise Unfit("not an http(s) URL")
        if len(text) > TEXT_LIMITS[t]:
            raise Unfit(
                f"{len(text)} characters, over the {TEXT_LIMITS[t]} a {t.replace('_', ' ')} field takes"
            )
        return text
    if t == "number":
        return _number(value)
    if t == "yes_no":
        return _yes_no(value)
    if t == "date":
        return _date(value)
    if t == "currency":
        return _currency(value)
    if t == "single_select":
        items = _items(value)
        if len(items) != 1:
            raise Unfit(f"{len(items)} values for a single-select field")
        found = _option(items[0], defn.options)
        if found is None:
            raise Unfit(f"{items[0]!r} is not an option (options: {', '.join(defn.options) or 'none'})")
        return found
    if t == "multi_select":
        chosen: list[str] = []
        unknown: list[str] = []
        for item in _items(value):
            found = _option(item, defn.options)
            (chosen if found is not None else unknown).append(found or item)
        if unknown:
            names = ", ".join(repr(u) for u in unknown)
            raise Unfit(f"not options: {names} (options: {', '.join(defn.options) or 'none'})")
        return list(dict.fromkeys(chosen))
    if t == "user":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        text = str(value).strip()
        if text.isdigit():
            return int(text)
        user = user_for(text) if "@" in text else None
        if user is None:
            raise Unfit("no ATS user with that e-mail" if "@" in text else "not a user id or e-mail")
        return int(user) if user.isdigit() else user
    raise Unfit(f"fields of type {t} are not written by syncbridge")


def fit_fields(
    o: Outcome,
    mapping: Mapping[str, str],
    defs: FieldDefs | None,
    scope: str,
    *,
    user_for: Callable[[str], str | None],
) -> tuple[dict[str, Any], list[str]]:
    """The mapped fields' values for one outcome, fitted; and one line per field that cannot take its
    value (those are left out).  Without mirrored definitions the values go as text, as before."""
    from syncbridge.render import field_value, prescreen_value

    values: dict[str, Any] = {}
    problems: list[str] = []
    for key, path in sorted(mapping.items()):
        if not defs:
            values[key] = prescreen_value(o, path) if path.startswith("prescreen.") else field_value(o, path)
            continue
        defn = defs.get(scope, key)
        if defn is None:
            problems.append(f"field {key}: no active {scope} custom field with that name_key")
            continue
        try:
            values[key] = fit(defn, raw_value(o, path), user_for=user_for)
        except Unfit as exc:
            problems.append(f"field {key} ({defn.value_type.replace('_', ' ')}) from {path}: {exc}")
    return values, problems


def mirrored(store: Any, connector: str) -> FieldDefs:
    """The field definitions of ``connector`` in the mirror (the ``custom_fields`` and
    ``custom_field_options`` streams)."""
    from sqlalchemy import and_, select

    from syncbridge.store import records

    rows: dict[str, list[Mapping[str, Any]]] = {s: [] for s in DEFINITION_STREAMS}
    q = select(records.c.stream, records.c.raw).where(
        and_(records.c.connector == connector, records.c.stream.in_(DEFINITION_STREAMS))
    )
    with store.engine.connect() as conn:
        for stream, raw in conn.execute(q):
            if isinstance(raw, Mapping):
                rows[stream].append(raw)
    return FieldDefs.from_records(rows["custom_fields"], rows["custom_field_options"])


def definitions_for(rt: Any) -> Callable[[str], FieldDefs]:
    """``connector → FieldDefs`` for a plan.  A connector that has definition streams but none mirrored
    yet (a plan before the first sync) syncs them first, so values are never sent unchecked."""
    from syncbridge.connector import connector_class
    from syncbridge.steps import sync_stream

    cache: dict[str, FieldDefs] = {}

    def get(connector: str) -> FieldDefs:
        if connector not in cache:
            defs = mirrored(rt.store, connector)
            streams = [s.name for s in connector_class(rt.settings.connectors[connector].type).streams]
            if not defs and "custom_fields" in streams:
                try:
                    for stream in DEFINITION_STREAMS:
                        if stream in streams:
                            sync_stream(rt, connector, stream)
                except SyncbridgeError as exc:
                    # an offline plan still works (values go unchecked, as before); `run` syncs first,
                    # so the definitions are there whenever writes are actually made
                    log.warning(
                        "%s: custom field definitions not mirrored, values not checked: %s", connector, exc
                    )
                defs = mirrored(rt.store, connector)
            cache[connector] = defs
        return cache[connector]

    return get
