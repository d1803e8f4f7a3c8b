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
    payload = earlier.get("payload") or {}
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
    ``{"key", "at", "payload"}``, or None."""
    from sqlalchemy import and_, select

    from syncbridge.store import ledger

    def find(connector: str, outcome_id: str) -> dict[str, Any] | None:
        q = (
            select(ledger.c.key, ledger.c.updated_at, ledger.c.payload)
            .where(
                and_(
                    ledger.c.connector == connector,
                    ledger.c.outcome_id == outcome_id,
                    ledger.c.kind == "add_note",
                    ledger.c.status == "done",
                )
            )
            .order_by(ledger.c.updated_at.desc())
            .limit(1)
        )
        with store.engine.connect() as conn:
            row = conn.execute(q).first()
        if row is None:
            return None
        return {"key": row[0], "at": row[1], "payload": row[2] if isinstance(row[2], dict) else {}}

    return find
