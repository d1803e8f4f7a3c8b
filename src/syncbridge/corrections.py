"""Corrected evaluations: an outcome whose evaluation changed after its history note was written.

The supervisor fixes a rating (3.8 → 4.1) and the outcome file carries the same outcome id with new
content.  The note key follows the content, so a new note is planned; this module makes that note say
what it is: that it corrects the earlier one, the earlier one's date and what changed.  The earlier note
is found in the ledger (the done ``add_note`` of the same outcome on the same connector), whose payload
holds a snapshot of the evaluation it was written from.  Notes cannot be edited or deleted through the
vendors' APIs (Greenhouse v3 has no note update), so the correction is a new note, never a silent edit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from syncbridge.model import Outcome


def snapshot(o: Outcome) -> dict[str, Any]:
    """What a note was written from (kept in the note action's payload, so the ledger remembers it)."""
    e = o.evaluation
    return {
        "rating": e.rating,
        "would_hire": e.would_hire,
        "skills": {s.name: s.level for s in e.skills},
        "status": o.project.status.value,
        "submitted_at": e.submitted_at.isoformat() if e.submitted_at else None,
        "comments_digest": hash_text(e.comments or ""),
    }


def hash_text(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.strip().encode()).hexdigest()[:12]


def _from_text(text: str) -> dict[str, Any]:
    """A snapshot read back from a note written before snapshots were kept (its "Rating:" line)."""
    found = re.search(r"Rating: ([0-9.]+)/5 · Would hire: (yes|no)", text)
    if not found:
        return {}
    return {"rating": float(found.group(1)), "would_hire": found.group(2) == "yes"}


def changes(before: Mapping[str, Any], o: Outcome) -> list[str]:
    """What changed between the earlier snapshot and the outcome now, one short phrase each."""
    now = snapshot(o)
    out: list[str] = []
    if "rating" in before and before["rating"] != now["rating"]:
        out.append(f"rating {before['rating']:g} → {now['rating']:g}")
    if "would_hire" in before and before["would_hire"] != now["would_hire"]:
        yes = {True: "yes", False: "no"}
        out.append(f"would hire {yes[bool(before['would_hire'])]} → {yes[now['would_hire']]}")
    if "skills" in before and before["skills"] != now["skills"]:
        old, new = before["skills"], now["skills"]
        for name in sorted(set(old) | set(new)):
            if name not in new:
                out.append(f"{name} removed")
            elif name not in old:
                out.append(f"{name} {new[name]}/5 added")
            elif old[name] != new[name]:
                out.append(f"{name} {old[name]}/5 → {new[name]}/5")
    if "status" in before and before["status"] != now["status"]:
        out.append(f"project {before['status'].replace('_', ' ')} → {now['status'].replace('_', ' ')}")
    if "comments_digest" in before and before["comments_digest"] != now["comments_digest"]:
        out.append("supervisor's comments revised")
    return out


def correction_text(earlier: Mapping[str, Any], o: Outcome) -> str:
    """The paragraph that opens a correcting note: which note it corrects (its date) and what changed."""
    try:
        payload = earlier["payload"] or {}  # read from the ledger only now (see earlier_notes)
    except KeyError:
        payload = {}
    before = payload.get("evaluation") or _from_text(str(payload.get("text") or ""))
    when = earlier.get("at")
    day = when.date().isoformat() if isinstance(when, datetime) else "an earlier date"
    what = changes(before, o)
    return (
        f"Correction: this note replaces the micro-internship note of {day} for the same project; the "
        "evaluation was corrected"
        + (f" ({'; '.join(what)})" if what else "")
        + ". The earlier note no longer applies."
    )


def earlier_notes(store: Any) -> Callable[[str, str], dict[str, Any] | None]:
    """``(connector, outcome_id) →`` the latest history note written for that outcome (from the ledger):
    ``{"key", "at", "payload"}``, or None.  One query per connector loads which note is the latest for
    every outcome (no payloads); a payload is read only when a plan asks for it, and the plan does so
    only for a corrected outcome, so a large ledger costs one query, not one per outcome."""
    from sqlalchemy import and_, select

    from syncbridge.store import ledger

    latest: dict[str, dict[str, tuple[str, Any]]] = {}

    def load(connector: str) -> dict[str, tuple[str, Any]]:
        if connector not in latest:
            rows: dict[str, tuple[str, Any]] = {}
            q = select(ledger.c.outcome_id, ledger.c.key, ledger.c.updated_at).where(
                and_(ledger.c.connector == connector, ledger.c.kind == "add_note", ledger.c.status == "done")
            )
            with store.engine.connect() as conn:
                for oid, key, at in conn.execute(q):
                    if oid is not None and (oid not in rows or (at and rows[oid][1] and at > rows[oid][1])):
                        rows[oid] = (key, at)
            latest[connector] = rows
        return latest[connector]

    def find(connector: str, outcome_id: str) -> dict[str, Any] | None:
        found = load(connector).get(outcome_id)
        if found is None:
            return None
        return _EarlierNote(store, found[0], found[1])

    return find


class _EarlierNote(dict[str, Any]):
    """``{"key", "at", "payload"}`` of an earlier note; the payload is read from the ledger on first use."""

    def __init__(self, store: Any, key: str, at: Any) -> None:
        super().__init__(key=key, at=at)
        self._store = store

    def __missing__(self, name: str) -> Any:
        if name != "payload":
            raise KeyError(name)
        from sqlalchemy import select

        from syncbridge.store import ledger

        with self._store.engine.connect() as conn:
            raw = conn.execute(select(ledger.c.payload).where(ledger.c.key == self["key"])).scalar()
        self["payload"] = raw if isinstance(raw, dict) else {}
        return self["payload"]
