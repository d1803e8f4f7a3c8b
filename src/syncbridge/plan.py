"""The planner: (outcomes, links, rules, ledger) → the writes to make.  A pure function.

Every action has a deterministic **idempotency key** built from (connector, kind, outcome id, content
digest).  The link target is deliberately *not* part of the key: a person created by a previous run is
only known after that run, and the same outcome must still map to the same key, or a re-run would write
twice.  One outcome is linked to at most one person per connector, so nothing is lost by leaving it out.

Keys already ``done`` in the ledger produce no action, so a second run of the same inputs plans zero
writes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from syncbridge.config import Settings
from syncbridge.connector import Capability
from syncbridge.matching import Link
from syncbridge.model import Outcome
from syncbridge.redact import mask_email
from syncbridge.render import field_value, history_subject, history_text

Kind = Literal["create_candidate", "add_note", "add_tags", "set_fields"]

_CAPABILITY: dict[str, Capability] = {
    "create_candidate": Capability.create_candidate,
    "add_note": Capability.add_note,
    "add_tags": Capability.add_tags,
    "set_fields": Capability.set_fields,
}


class Action(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    connector: str
    kind: Kind
    outcome_id: str
    target: str | None  # the person's id; None until the create_candidate it depends on is done
    depends_on: str | None = None
    payload: dict[str, Any]
    summary: str  # one line for the plan table, with no personal data

    @property
    def marker(self) -> str:
        return f"syncbridge:{self.key}"


@dataclass
class Plan:
    actions: list[Action] = field(default_factory=list)
    already_done: int = 0
    skipped: list[str] = field(default_factory=list)  # capability gaps and similar, one line each

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for a in self.actions:
            out[a.kind] = out.get(a.kind, 0) + 1
        return out

    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                "key": a.key[:12],
                "connector": a.connector,
                "action": a.kind,
                "outcome": a.outcome_id,
                "target": a.target or (f"(new, after {a.depends_on[:12]})" if a.depends_on else ""),
                "what": a.summary,
            }
            for a in self.actions
        ]


def action_key(connector: str, kind: str, outcome_id: str, content: Any) -> str:
    digest = json.dumps(content, sort_keys=True, default=str, ensure_ascii=False)
    raw = f"{connector}\x1f{kind}\x1f{outcome_id}\x1f{digest}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def make_plan(
    settings: Settings,
    outcomes: Sequence[Outcome],
    links: Sequence[Link],
    *,
    capabilities: Mapping[str, frozenset[Capability]],
    done: Callable[[str], str | None],
) -> Plan:
    """Plan the history write-back.  ``done(key)`` returns the remote ref of a done key, else None."""
    plan = Plan()
    by_id = {o.outcome_id: o for o in outcomes}
    history = settings.history
    gaps: set[str] = set()

    def add(action: Action) -> bool:
        if done(action.key) is not None:
            plan.already_done += 1
            return False
        if _CAPABILITY[action.kind] not in capabilities.get(action.connector, frozenset()):
            gaps.add(f"{action.connector}: cannot {action.kind.replace('_', ' ')} (connector lacks it)")
            return False
        plan.actions.append(action)
        return True

    for link in links:
        o = by_id.get(link.outcome_id)
        if o is None or link.connector is None:
            continue
        c = link.connector
        target = link.candidate_id
        depends_on: str | None = None
        if link.status == "unmatched":
            if not settings.matching.create_unmatched:
                continue
            new = {
                "first_name": o.student.first_name,
                "last_name": o.student.last_name,
                "email": o.student.email,
                "phone": o.student.phone,
                "tags": list(settings.matching.new_candidate_tags),
            }
            create_key = action_key(c, "create_candidate", o.outcome_id, o.student.email)
            created_ref = done(create_key)
            if created_ref is None:
                add(
                    Action(
                        key=create_key,
                        connector=c,
                        kind="create_candidate",
                        outcome_id=o.outcome_id,
                        target=None,
                        payload=new,
                        summary=f"create prospect for {mask_email(o.student.email)}",
                    )
                )
                depends_on = create_key
            else:
                plan.already_done += 1
                target = created_ref
        elif link.status != "linked":
            continue

        common: dict[str, Any] = {
            "connector": c,
            "outcome_id": o.outcome_id,
            "target": target,
            "depends_on": depends_on,
        }
        if history.note:
            key = action_key(c, "add_note", o.outcome_id, o.content_hash())
            add(
                Action(
                    key=key,
                    kind="add_note",
                    payload={
                        "subject": history_subject(o),
                        "text": history_text(o),
                        "score": o.evaluation.rating,
                    },
                    summary=f"note: {history_subject(o)}",
                    **common,
                )
            )
        if history.tags:
            tags = sorted(set(history.tags))
            add(
                Action(
                    key=action_key(c, "add_tags", o.outcome_id, tags),
                    kind="add_tags",
                    payload={"tags": tags},
                    summary="tags: " + ", ".join(tags),
                    **common,
                )
            )
        if history.fields:
            values = {name: field_value(o, path) for name, path in sorted(history.fields.items())}
            add(
                Action(
                    key=action_key(c, "set_fields", o.outcome_id, values),
                    kind="set_fields",
                    payload={"fields": values},
                    summary="fields: " + ", ".join(values),
                    **common,
                )
            )
    plan.skipped = sorted(gaps)
    return plan
