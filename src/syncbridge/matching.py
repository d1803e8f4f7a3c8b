"""Identity resolution: which ATS person an outcome belongs to.

Rules (in order), per routed connector, against the local mirror (so matching costs no API call):

1. the normalized student e-mail is carried by exactly one (not deleted) person → **linked**;
   method ``email_primary`` (confidence 1.0) when it is that person's first e-mail, else
   ``email_secondary`` (0.9);
2. it is carried by several people → **ambiguous**: no writes, listed for review with the candidates;
3. nobody carries it → **unmatched** (a candidate/prospect is created only when the config allows it).

4. an outcome its e-mail did not link is weighed on further evidence (phone in E.164, name, name +
   school, an earlier link of the same student) by :mod:`syncbridge.identity`: at or above
   ``matching.min_confidence`` → **linked** (method e.g. ``phone+name``, with its confidence); below it
   → **review**: queued for a person (``syncbridge review``), nothing is written until they accept.

A wrong link writes someone's evaluation onto another person's record, which is worse than a late one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from syncbridge.config import Settings
from syncbridge.model import Outcome
from syncbridge.store import Store

Status = Literal["linked", "ambiguous", "unmatched", "unrouted", "review"]


@dataclass(frozen=True)
class Link:
    outcome_id: str
    connector: str | None
    status: Status
    candidate_id: str | None = None
    method: str | None = None
    confidence: float | None = None
    candidates: tuple[str, ...] = ()


@dataclass
class LinkSummary:
    links: list[Link] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for link in self.links if link.status == status)

    def counts(self) -> dict[str, int]:
        return {s: self.count(s) for s in ("linked", "ambiguous", "unmatched", "unrouted", "review")}


def match_one(store: Store, connector: str, outcome: Outcome) -> Link:
    rows = store.candidates_by_email(connector, outcome.student.email)
    ids = sorted({r["remote_id"] for r in rows}, key=_id_key)
    if not ids:
        return Link(outcome.outcome_id, connector, "unmatched")
    if len(ids) > 1:
        return Link(outcome.outcome_id, connector, "ambiguous", candidates=tuple(ids))
    primary = any(r["is_primary"] for r in rows)
    return Link(
        outcome.outcome_id,
        connector,
        "linked",
        candidate_id=ids[0],
        method="email_primary" if primary else "email_secondary",
        confidence=1.0 if primary else 0.9,
    )


def link_outcomes(store: Store, settings: Settings, items: Sequence[Outcome]) -> LinkSummary:
    """Link every outcome: by e-mail first (and saved), then the rest by further evidence, so that an
    outcome can lean on the e-mail link of an earlier outcome of the same student in the same file."""
    from syncbridge.identity import Identity, supersede

    summary = LinkSummary()
    identity = Identity(
        store, min_confidence=settings.matching.min_confidence, region=settings.matching.phone_region
    )
    people = identity.assign(items)
    routed: list[tuple[Outcome, str, Link]] = []
    for outcome in items:
        connector = settings.connector_for(outcome.employer)
        if connector is None:
            summary.links.append(Link(outcome.outcome_id, None, "unrouted"))
            continue
        routed.append((outcome, connector, match_one(store, connector, outcome)))
    store.save_links([_row(link, c) for _o, c, link in routed])
    supersede(store, [(o.outcome_id, c) for o, c, link in routed if link.status == "linked"])
    resolved = []
    for outcome, connector, link in routed:
        if link.status == "unmatched":
            status, cand, method, score, cands = identity.resolve(
                outcome, connector, people[outcome.outcome_id]
            )
            link = Link(outcome.outcome_id, connector, status, cand, method, score, cands)  # type: ignore[arg-type]
            resolved.append(_row(link, connector))
        summary.links.append(link)
    store.save_links(resolved)
    order = {o.outcome_id: i for i, o in enumerate(items)}
    summary.links.sort(key=lambda lk: order.get(lk.outcome_id, 0))  # the file's order, as before
    return summary


def _row(link: Link, connector: str) -> dict[str, Any]:
    return {
        "outcome_id": link.outcome_id,
        "connector": connector,
        "status": link.status,
        "candidate_id": link.candidate_id,
        "method": link.method,
        "confidence": link.confidence,
        "candidates": list(link.candidates),
    }


def _id_key(value: str) -> tuple[int, str]:
    return (0, f"{int(value):020d}") if value.isdigit() else (1, value)
