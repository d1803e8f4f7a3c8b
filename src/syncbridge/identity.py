"""Identity with confidence: evidence beyond the e-mail, a score per link, and a review queue.

Students change addresses (school → personal), so an outcome whose e-mail nobody in the ATS carries may
still belong to someone there.  For such an outcome this module weighs further evidence against the local
mirror (no API call):

=====================  ======  =============================================================================
evidence               weight  meaning
=====================  ======  =============================================================================
``same_student``       0.8     an earlier outcome of the same syncbridge person (same e-mail or phone) is
                               linked to that ATS person on this connector
``phone``              0.7     that ATS person carries the student's phone (both normalised to E.164)
``name_school``        0.5     an earlier outcome with the same name and school is linked to that ATS person
``name``               0.4     that ATS person (and nobody else) has the student's first and last name
=====================  ======  =============================================================================

The confidence is ``1 - Π(1 - weight)`` over the evidence found (independent hints add up, never past 1).
At or above ``matching.min_confidence`` (0.8 by default: e.g. phone + name, or the same student) the link is
used, with its method (``phone+name``) and confidence recorded.  Below it the outcome goes to the **review
queue**: nothing is written for it until a person accepts (``syncbridge review accept``) or rejects the
proposed link; accepted links are remembered (and reused for the student's later outcomes), rejected ones
are never proposed again.  A wrong link writes someone's evaluation onto another person's record, which is
worse than a late one.

**One person per student.**  Every outcome gets a syncbridge person id, shared by all outcomes with the
same e-mail or phone, across employers and connectors; its links per ATS are the links of its outcomes.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, insert, select, update

from syncbridge.model import Outcome

WEIGHTS = {"same_student": 0.8, "phone": 0.7, "name_school": 0.5, "name": 0.4}


def e164(raw: str | None, region: str | None = None) -> str | None:
    """A phone number in E.164 (``+14155550100``), or None when it cannot be read as a possible number.
    Without a ``region`` only numbers written with their country code (``+…``) can be read."""
    import phonenumbers

    if not raw or not raw.strip():
        return None
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def norm_name(*parts: str | None) -> str:
    """Case-, accent- and spacing-insensitive form of a name (``José  García`` → ``jose garcia``)."""
    text = " ".join(p for p in parts if p)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(text.casefold().replace("-", " ").split())


def _now() -> datetime:
    return datetime.now(UTC)


def _phones_in(raw: Any, depth: int = 0) -> list[str]:
    """Phone strings in a mirrored person record: the values under any key naming a phone, at any depth
    (Greenhouse ``phone_numbers[{value}]``, Lever ``phones[{value}]``, Workday
    ``Candidate_Data/Contact_Data/Phone_Number``...)."""
    out: list[str] = []
    if depth > 8:
        return out
    if isinstance(raw, list):
        for item in raw:
            out.extend(_phones_in(item, depth + 1))
        return out
    if not isinstance(raw, Mapping):
        return out
    for key, value in raw.items():
        if "phone" in str(key).lower():
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, Mapping):
                    item = item.get("value") or item.get("number") or item.get("#text")
                if isinstance(item, str) and item.strip():
                    out.append(item)
        elif isinstance(value, Mapping | list):
            out.extend(_phones_in(value, depth + 1))
    return out


@dataclass
class _Mirror:
    """Phones and names of one connector's mirrored people (built once per link run, when needed)."""

    # the last 7 digits → (person, phone as written): parsing every mirrored phone with phonenumbers would
    # cost O(mirror) parses per run; only the few that share the digits are parsed, when looked up
    phones: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    names: dict[str, set[str]] = field(default_factory=dict)


class Identity:
    """Person ids, evidence and the review queue, over the state store."""

    def __init__(self, store: Any, *, min_confidence: float = 0.8, region: str | None = None) -> None:
        self.store = store
        self.min_confidence = min_confidence
        self.region = region
        self._mirrors: dict[str, _Mirror] = {}
        self._name_school: dict[str, set[str]] | None = None

    # -- person ids
    def keys(self, o: Outcome) -> list[str]:
        found = [f"email:{o.student.email}"]
        phone = e164(o.student.phone, self.region)
        if phone:
            found.append(f"phone:{phone}")
        return found

    def assign(self, items: Sequence[Outcome]) -> dict[str, str]:
        """``outcome id → syncbridge person id`` for a batch: the person of any of an outcome's keys, else
        a new one.  The keys are recorded, so a later outcome with a new e-mail but the same phone finds
        the same person.  When two keys point at different people the oldest wins (people are never
        merged silently)."""
        from syncbridge.store import outcome_people, person_keys

        wanted = {o.outcome_id: self.keys(o) for o in items}
        all_keys = sorted({k for ks in wanted.values() for k in ks})
        known: dict[str, tuple[datetime, str]] = {}
        with self.store.engine.connect() as conn:
            for start in range(0, len(all_keys), 500):
                q = select(person_keys.c.key, person_keys.c.person_id, person_keys.c.created_at).where(
                    person_keys.c.key.in_(all_keys[start : start + 500])
                )
                for key, person, created in conn.execute(q):
                    known[key] = (created or _now(), person)
            current = {
                r[0]: r[1]
                for start in range(0, len(wanted), 500)
                for r in conn.execute(
                    select(outcome_people.c.outcome_id, outcome_people.c.person_id).where(
                        outcome_people.c.outcome_id.in_(list(wanted)[start : start + 500])
                    )
                )
            }
        now = _now()
        out: dict[str, str] = {}
        new_keys: list[dict[str, Any]] = []
        for oid, keys in wanted.items():
            found = sorted(known[k] for k in keys if k in known)
            person = found[0][1] if found else str(uuid.uuid4())
            for k in keys:
                if k not in known:
                    known[k] = (now, person)
                    new_keys.append({"key": k, "person_id": person, "created_at": now})
            out[oid] = person
        from syncbridge.store import _dialect_insert

        with self.store.tx() as conn:
            # ON CONFLICT DO NOTHING: a concurrent run recording the same key first is no error (its
            # person id stands; this run's outcome is re-pointed on its next run)
            if new_keys:
                conn.execute(
                    _dialect_insert(self.store.dialect, person_keys).on_conflict_do_nothing(), new_keys
                )
            fresh = [{"outcome_id": o, "person_id": p} for o, p in out.items() if o not in current]
            if fresh:
                conn.execute(
                    _dialect_insert(self.store.dialect, outcome_people).on_conflict_do_nothing(), fresh
                )
            for oid, person in out.items():
                if oid in current and current[oid] != person:
                    conn.execute(
                        update(outcome_people)
                        .where(outcome_people.c.outcome_id == oid)
                        .values(person_id=person)
                    )
        return out

    def resolve(
        self, o: Outcome, connector: str, person: str
    ) -> tuple[str, str | None, str | None, float | None, tuple[str, ...]]:
        """For an outcome its e-mail did not link: (status, candidate, method, confidence, candidates).
        status is ``linked`` (accepted in review, or evidence at or above the threshold), ``review``
        (evidence below it, or two people nearly as likely: queued for a person) or ``unmatched``."""
        decision = self.decision(o.outcome_id, connector)
        if decision and decision["status"] == "accepted":
            return "linked", decision["candidate_id"], "review", 1.0, ()
        if decision and decision["status"] == "rejected":
            return "unmatched", None, None, None, ()
        found = self.evidence(o, connector, person)
        if not found:
            return "unmatched", None, None, None, ()
        scored = sorted(((self.confidence(v), c, v) for c, v in found.items()), key=lambda t: (-t[0], t[1]))
        score, cand, what = scored[0]
        method = "+".join(what)
        close = [c for s, c, _v in scored[1:] if s >= score - 0.1]
        if score >= self.min_confidence and not close:
            return "linked", cand, method, score, ()
        self.propose(o.outcome_id, connector, person, cand, score, what)
        return "review", cand, method, score, (cand, *close)

    # -- evidence
    def _mirror(self, connector: str) -> _Mirror:
        from syncbridge.store import candidates

        if connector not in self._mirrors:
            m = _Mirror()
            q = select(
                candidates.c.remote_id, candidates.c.first_name, candidates.c.last_name, candidates.c.raw
            ).where(and_(candidates.c.connector == connector, candidates.c.deleted.is_(False)))
            with self.store.engine.connect() as conn:
                for remote_id, first, last, raw in conn.execute(q):
                    for phone in _phones_in(raw):
                        digits = "".join(ch for ch in phone if ch.isdigit())
                        if len(digits) >= 7:
                            m.phones.setdefault(digits[-7:], set()).add((str(remote_id), phone))
                    name = norm_name(first, last)
                    if name:
                        m.names.setdefault(name, set()).add(str(remote_id))
            self._mirrors[connector] = m
        return self._mirrors[connector]

    def _linked_for_outcomes(self, connector: str, outcome_ids: Sequence[str]) -> dict[str, set[str]]:
        """``candidate id → outcome ids`` of the given outcomes' links on ``connector`` (linked, or
        accepted in review)."""
        from syncbridge.store import links, reviews

        out: dict[str, set[str]] = {}
        if not outcome_ids:
            return out
        with self.store.engine.connect() as conn:
            for start in range(0, len(outcome_ids), 500):
                chunk = list(outcome_ids[start : start + 500])
                for oid, cand in conn.execute(
                    select(links.c.outcome_id, links.c.candidate_id).where(
                        and_(
                            links.c.connector == connector,
                            links.c.outcome_id.in_(chunk),
                            links.c.status.in_(("linked", "created")),
                        )
                    )
                ):
                    if cand:
                        out.setdefault(str(cand), set()).add(oid)
                for oid, cand in conn.execute(
                    select(reviews.c.outcome_id, reviews.c.candidate_id).where(
                        and_(
                            reviews.c.connector == connector,
                            reviews.c.outcome_id.in_(chunk),
                            reviews.c.status == "accepted",
                        )
                    )
                ):
                    if cand:
                        out.setdefault(str(cand), set()).add(oid)
        return out

    def _same_person_outcomes(self, person: str, exclude: str) -> list[str]:
        from syncbridge.store import outcome_people

        with self.store.engine.connect() as conn:
            return [
                r[0]
                for r in conn.execute(
                    select(outcome_people.c.outcome_id).where(outcome_people.c.person_id == person)
                )
                if r[0] != exclude
            ]

    def _name_school_outcomes(self, o: Outcome) -> list[str]:
        """Earlier outcomes with the same student name and school (school given)."""
        from syncbridge.store import outcomes

        if not o.student.school:
            return []
        if self._name_school is None:
            index: dict[str, set[str]] = {}
            with self.store.engine.connect() as conn:
                for oid, data in conn.execute(select(outcomes.c.outcome_id, outcomes.c.data)):
                    s = (data or {}).get("student") or {}
                    if s.get("school"):
                        key = f"{norm_name(s.get('first_name'), s.get('last_name'))}|{norm_name(s['school'])}"
                        index.setdefault(key, set()).add(oid)
            self._name_school = index
        key = f"{norm_name(o.student.first_name, o.student.last_name)}|{norm_name(o.student.school)}"
        return sorted(self._name_school.get(key, set()) - {o.outcome_id})

    def evidence(self, o: Outcome, connector: str, person: str) -> dict[str, list[str]]:
        """``candidate id → evidence names`` for an outcome its e-mail did not link."""
        found: dict[str, list[str]] = {}

        def add(cands: Iterable[str], what: str) -> None:
            for cand in cands:
                if what not in found.setdefault(cand, []):
                    found[cand].append(what)

        add(
            self._linked_for_outcomes(connector, self._same_person_outcomes(person, o.outcome_id)),
            "same_student",
        )
        mirror = self._mirror(connector)
        phone = e164(o.student.phone, self.region)
        if phone:
            same = {
                p
                for p, written in mirror.phones.get(phone[-7:], set())
                if e164(written, self.region) == phone
            }
            add(same, "phone")
        add(self._linked_for_outcomes(connector, self._name_school_outcomes(o)), "name_school")
        named = mirror.names.get(norm_name(o.student.first_name, o.student.last_name), set())
        if len(named) == 1:  # a name shared by several people is no evidence for any of them
            add(named, "name")
        elif found:
            add(set(found) & named, "name")
        return found

    @staticmethod
    def confidence(evidence: Iterable[str]) -> float:
        miss = 1.0
        for what in evidence:
            miss *= 1.0 - WEIGHTS[what]
        return round(1.0 - miss, 3)

    # -- the review queue
    def decision(self, outcome_id: str, connector: str) -> dict[str, Any] | None:
        from syncbridge.store import reviews

        with self.store.engine.connect() as conn:
            row = (
                conn.execute(
                    select(reviews).where(
                        and_(reviews.c.outcome_id == outcome_id, reviews.c.connector == connector)
                    )
                )
                .mappings()
                .first()
            )
        return dict(row) if row else None

    def propose(
        self, outcome_id: str, connector: str, person: str, candidate: str, score: float, evidence: list[str]
    ) -> None:
        from syncbridge.store import reviews

        with self.store.tx() as conn:
            exists = conn.execute(
                select(reviews.c.status).where(
                    and_(reviews.c.outcome_id == outcome_id, reviews.c.connector == connector)
                )
            ).scalar()
            values = {
                "person_id": person,
                "candidate_id": candidate,
                "confidence": score,
                "evidence": evidence,
            }
            if exists is None:
                conn.execute(
                    insert(reviews).values(
                        outcome_id=outcome_id,
                        connector=connector,
                        status="pending",
                        created_at=_now(),
                        **values,
                    )
                )
            elif exists == "pending":
                conn.execute(
                    update(reviews)
                    .where(and_(reviews.c.outcome_id == outcome_id, reviews.c.connector == connector))
                    .values(**values)
                )


def supersede(store: Any, linked: Iterable[tuple[str, str]]) -> int:
    """Close the pending reviews of outcomes that are now linked by their e-mail (the ATS person got the
    new address): nobody needs to decide them any more.  Returns how many were closed."""
    from syncbridge.store import reviews

    pairs = list(linked)
    closed = 0
    with store.tx() as conn:
        for start in range(0, len(pairs), 500):
            chunk = pairs[start : start + 500]
            for connector in {c for _o, c in chunk}:
                ids = [o for o, c in chunk if c == connector]
                result = conn.execute(
                    update(reviews)
                    .where(
                        and_(
                            reviews.c.connector == connector,
                            reviews.c.outcome_id.in_(ids),
                            reviews.c.status == "pending",
                        )
                    )
                    .values(status="superseded", decided_by="e-mail link", decided_at=_now())
                )
                closed += result.rowcount or 0
    return closed


def decide(
    store: Any, ref: str, accept: bool, *, by: str, connector: str | None = None
) -> list[dict[str, Any]]:
    """Accept or reject the pending review(s) of outcome ``ref`` (on ``connector`` when given)."""
    from syncbridge.store import reviews

    cond = [reviews.c.outcome_id == ref, reviews.c.status == "pending"]
    if connector:
        cond.append(reviews.c.connector == connector)
    with store.tx() as conn:
        rows = [dict(r) for r in conn.execute(select(reviews).where(and_(*cond))).mappings()]
        if rows:
            conn.execute(
                update(reviews)
                .where(and_(*cond))
                .values(status="accepted" if accept else "rejected", decided_by=by, decided_at=_now())
            )
    return rows


def pending_reviews(store: Any) -> list[dict[str, Any]]:
    from syncbridge.store import reviews

    with store.engine.connect() as conn:
        q = select(reviews).where(reviews.c.status == "pending").order_by(reviews.c.created_at)
        return [dict(r) for r in conn.execute(q).mappings()]


def people_summary(store: Any) -> dict[str, int]:
    """How many syncbridge people there are, and how many have links in more than one ATS."""
    from syncbridge.store import links, outcome_people

    with store.engine.connect() as conn:
        people = conn.execute(select(func.count(func.distinct(outcome_people.c.person_id)))).scalar() or 0
        q = (
            select(outcome_people.c.person_id, func.count(func.distinct(links.c.connector)))
            .join(links, links.c.outcome_id == outcome_people.c.outcome_id)
            .where(links.c.status.in_(("linked", "created")))
            .group_by(outcome_people.c.person_id)
        )
        multi = sum(1 for _p, n in conn.execute(q) if n > 1)
    return {"people": int(people), "linked_in_several_ats": multi}


def person_links(store: Any, person: str) -> dict[str, list[str]]:
    """``connector → ATS person ids`` of one syncbridge person (its outcomes' links)."""
    from syncbridge.store import links, outcome_people

    out: dict[str, list[str]] = {}
    with store.engine.connect() as conn:
        q = (
            select(links.c.connector, links.c.candidate_id)
            .join(outcome_people, links.c.outcome_id == outcome_people.c.outcome_id)
            .where(and_(outcome_people.c.person_id == person, links.c.status.in_(("linked", "created"))))
        )
        for connector, cand in conn.execute(q):
            if cand and cand not in out.setdefault(connector, []):
                out[connector].append(cand)
    return out


def find_person(store: Any, key: str, *, region: str | None = None) -> str | None:
    """The person id for an e-mail, a phone or a person id (as typed by an operator)."""
    from syncbridge.model import normalize_email
    from syncbridge.store import outcome_people, person_keys

    text = key.strip()
    candidates = [f"email:{normalize_email(text) or text.lower()}"]
    phone = e164(text, region)
    if phone:
        candidates.append(f"phone:{phone}")
    with store.engine.connect() as conn:
        found = conn.execute(
            select(person_keys.c.person_id).where(person_keys.c.key.in_(candidates)).limit(1)
        ).scalar()
        if found is None:
            found = conn.execute(
                select(outcome_people.c.person_id).where(outcome_people.c.person_id == text).limit(1)
            ).scalar()
    return str(found) if found else None


def person_outcomes(store: Any, person: str) -> list[str]:
    from syncbridge.store import outcome_people

    with store.engine.connect() as conn:
        q = select(outcome_people.c.outcome_id).where(outcome_people.c.person_id == person)
        return sorted(r[0] for r in conn.execute(q))
