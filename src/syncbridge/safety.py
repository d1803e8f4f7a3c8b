"""Text that leaves syncbridge for an ATS: control characters and spreadsheet formulas.

Recruiters routinely export ATS data (candidate lists, custom fields, notes) to CSV and open it in
Excel, LibreOffice or Google Sheets.  A cell whose text starts with ``=``, ``+``, ``-`` or ``@`` (or a
tab or carriage return before one of them) is run as a formula there: ``=HYPERLINK(...)`` leaks data,
``=cmd|' /C calc'!A0`` runs a program through DDE.  The outcomes file is written by employers' staff
and students, so its text is untrusted.

:func:`sanitise_payload` is applied by the planner to the payload of **every** planned write (notes,
tags, custom fields, created people, requisitions, prescreen data) — the one place all text leaves for
an ATS — so no write kind can be missed:

* control characters (C0 except tab and newline, DEL, C1) and Unicode bidi overrides are removed from
  every text value, identifiers included: they have no business in an ATS record and a NUL breaks
  some vendors' storage;
* with ``safety.neutralise_formulas: true`` (the default) a text value that starts with a formula
  trigger gets a leading apostrophe, the OWASP-recommended neutralisation: spreadsheets show the text
  as typed and do not run it.  The changed keys are listed on the action and shown by
  ``syncbridge plan``.

What is not touched, on purpose: numbers (a rating of ``-1`` in a numeric field stays a number),
identifiers and references the ATS must match exactly (e-mail, ids, requisition codes, note markers,
stage and user ids, vendor ``options`` from the config), deliverable URLs (validated as http(s) when
read) and phone numbers made only of digits, spaces and ``+ - ( ) . /`` with at most a leading ``+``
(``+1 555 0100`` is a phone number, and such a string cannot call a function even in a spreadsheet).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict

#: the characters that make a spreadsheet cell a formula when they come first
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
#: C0 controls except tab and newline, DEL, C1 controls, and the Unicode bidi embeddings/overrides/isolates
CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_PHONE = re.compile(r"^\+?[0-9 ().\-/]+$")
#: payload keys whose values are identifiers or references, never free text
EXEMPT_KEYS = frozenset(
    {
        "email",
        "marker",
        "code",
        "stage",
        "hiring_manager",
        "outcome_id",
        "application",
        "requisition",
        "deliverables",
        "options",
        "template_job_id",
    }
)


class SafetySettings(BaseModel):
    """The ``safety:`` section of the configuration."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    neutralise_formulas: bool = True


def strip_controls(text: str, *, keep_newlines: bool = True) -> str:
    """Remove control characters and bidi overrides (tab and, if asked, newline are kept)."""
    cleaned = CONTROL_CHARACTERS.sub("", text)
    return cleaned if keep_newlines else cleaned.replace("\n", " ").replace("\t", " ")


def is_formula(text: str) -> bool:
    return text.startswith(FORMULA_TRIGGERS)


def neutralise(text: str) -> str:
    return "'" + text if is_formula(text) else text


def sanitise_payload(payload: Any, *, neutralise_formulas: bool = True) -> tuple[Any, list[str]]:
    """``payload`` with every free-text value cleaned; and the dotted keys whose text was a formula
    (neutralised, or left as is when ``neutralise_formulas`` is false, so the plan can warn).

    A payload is dicts, lists, tuples and pydantic models (walked field by field) of plain values.
    Nothing that needs no cleaning is copied: a clean payload comes back as the same object, and a
    changed model is copied with ``model_copy`` (its types are kept: only strings change)."""
    walk = _Walk(neutralise_formulas)
    return walk.clean(payload, "", (), False), walk.formulas


def _plain(value: Any) -> bool:
    """Certainly left as it is: a number, or text with no control character and no formula start
    (``isprintable`` is a fast way to rule out every control character)."""
    kind = type(value)
    if kind is str:
        return not value.startswith(FORMULA_TRIGGERS) and (
            value.isprintable() or CONTROL_CHARACTERS.search(value) is None
        )
    return kind is int or kind is float or kind is bool or value is None


class _Walk:
    """One sanitising walk (a class, not nested functions: those would make a reference cycle per
    payload, garbage only the cyclic collector frees, and the planner keeps that collector paused)."""

    __slots__ = ("formulas", "neutralise_formulas")

    def __init__(self, neutralise_formulas: bool) -> None:
        self.neutralise_formulas = neutralise_formulas
        self.formulas: list[str] = []

    def clean(self, node: Any, key: str, path: tuple[Any, ...], exempt: bool) -> Any:
        if isinstance(node, str):
            text = CONTROL_CHARACTERS.sub("", node) if CONTROL_CHARACTERS.search(node) is not None else node
            if (
                exempt
                or not text.startswith(FORMULA_TRIGGERS)
                or (key == "phone" and _PHONE.match(text.strip()))
            ):
                return text
            self.formulas.append(".".join(map(str, path)))
            return neutralise(text) if self.neutralise_formulas else text
        if isinstance(node, dict):
            changed = self.entries(node, path, exempt)
            return node if changed is None else {k: changed.get(k, v) for k, v in node.items()}
        if isinstance(node, list | tuple):
            if all(map(_plain, node)):
                return node
            items = [self.clean(v, key, (*path, i), exempt) for i, v in enumerate(node)]
            if all(a is b for a, b in zip(items, node, strict=True)):
                return node
            return tuple(items) if isinstance(node, tuple) else items
        if isinstance(node, BaseModel):
            changed = self.entries(node.__dict__, path, exempt)
            return node if changed is None else node.model_copy(update=changed)
        return node

    def entries(self, items: dict[Any, Any], path: tuple[Any, ...], exempt: bool) -> dict[Any, Any] | None:
        """The entries of a dict (or a model's fields) that cleaning changed; None when none did."""
        changed: dict[Any, Any] | None = None
        for k, v in items.items():
            if _plain(v):
                continue
            new = self.clean(v, str(k), (*path, k), exempt or k in EXEMPT_KEYS)
            if new is not v:
                changed = changed or {}
                changed[k] = new
        return changed


def formula_lines(actions: Any, neutralised: bool) -> list[str]:
    """What ``syncbridge plan`` prints about formula-like text: one line per write that had some."""
    how = (
        "neutralised with a leading apostrophe"
        if neutralised
        else "NOT neutralised (safety.neutralise_formulas: false)"
    )
    return [
        f"formula-like text {how}: {a.key[:12]} {a.kind} for outcome {a.outcome_id}: {', '.join(a.formulas)}"
        for a in actions
        if a.formulas
    ]
