"""Lever v1 payloads ⇄ the common model.  Pure functions, tolerant of nulls, extra keys and both shapes
the docs show for the same thing (nested ``archived: {archivedAt, reason}`` and flat
``archivedAt``/``archiveReason``; ``stage`` as an id or as an expanded object).

People: a Lever **contact** is the person (``Candidate.ref``, kind ``contact``); each **opportunity** is one
candidacy (``Application``).  A contact's data (name, e-mails, phones) is copied onto every one of its
opportunities; tags are per opportunity, so a person's tags are the union over the opportunities seen.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

from syncbridge.errors import InvalidRequest
from syncbridge.model import (
    Application,
    Candidate,
    NewCandidate,
    NewRequisition,
    Ref,
    Requisition,
)
from syncbridge.records import id_problem, require_id

# --- time -------------------------------------------------------------------------------------------------


def to_ms(value: datetime) -> int:
    """A datetime → Lever's integer milliseconds since the epoch (UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


def _ms_or_none(value: Any) -> int | None:
    """Lever's millisecond timestamp (int, float or digit string) as an int; None when absent."""
    if type(value) is int:  # the common case, first
        return value
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None  # JSON may carry Infinity/NaN
    if isinstance(value, str):
        text = value.strip()
        return int(text) if text.lstrip("-").isdigit() else None
    return None


def from_ms(value: Any) -> datetime | None:
    """Lever's millisecond timestamp (int, float or digit string) → an aware datetime; None when absent."""
    ms = _ms_or_none(value)
    if ms is None:
        return None
    try:
        return datetime.fromtimestamp(ms / 1000.0, UTC)
    except (OverflowError, OSError, ValueError):
        return None


# --- opportunity fields -----------------------------------------------------------------------------------


def _id_of(value: Any) -> str | None:
    """An id given as a string or as an expanded object ``{"id": ...}``."""
    if type(value) is not str and isinstance(value, Mapping):
        value = value.get("id")
    if id_problem(value) is not None:  # null, booleans, objects, arrays, blank...: no id
        return None
    return str(value).strip()


def archived_at(opp: Mapping[str, Any]) -> int | None:
    """When the opportunity was archived (ms), from either documented shape; None when active."""
    nested = opp.get("archived")
    if nested is not None and isinstance(nested, Mapping):
        when = _ms_or_none(nested.get("archivedAt"))
        if when is not None:
            return when
        if nested.get("reason"):
            return 0  # archived, time unknown
    return _ms_or_none(opp.get("archivedAt"))


def is_archived(opp: Mapping[str, Any]) -> bool:
    if archived_at(opp) is not None:
        return True
    return bool(opp.get("archiveReason"))


def archive_reason(opp: Mapping[str, Any]) -> str | None:
    nested = opp.get("archived")
    if isinstance(nested, Mapping) and nested.get("reason"):
        return _id_of(nested.get("reason"))
    return _id_of(opp.get("archiveReason"))


def stage_name(opp: Mapping[str, Any]) -> str | None:
    stage = opp.get("stage")
    if isinstance(stage, Mapping):
        text = stage.get("text")
        return str(text) if text else _id_of(stage)
    return _id_of(stage)


def contact_id(opp: Mapping[str, Any]) -> str:
    """The person key.  An opportunity without ``contact`` (never seen, but tolerated) is its own person."""
    return _id_of(opp.get("contact")) or require_id(opp, "opportunity")


def _list(value: Any) -> list[Any]:
    """A list field as sent, or nothing when the vendor sent something else (vendor data is untrusted)."""
    return value if isinstance(value, list) else []


def split_name(name: Any) -> tuple[str | None, str | None]:
    """Lever keeps one ``name``; the first word is the first name, the rest the last name."""
    if not isinstance(name, str) or not name.strip():
        return None, None
    parts = name.split()
    if len(parts) == 1:
        return parts[0], None
    return parts[0], " ".join(parts[1:])


def opportunity_emails(opp: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for e in _list(opp.get("emails")):
        value = e.get("value") if isinstance(e, Mapping) else e
        if isinstance(value, str) and value.strip() and value not in out:
            out.append(value)
    return out


def opportunity_phones(opp: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    """(number, type) of each phone on the opportunity."""
    out: list[tuple[str, str | None]] = []
    for p in _list(opp.get("phones")):
        if isinstance(p, Mapping):
            value, kind = p.get("value"), p.get("type")
        else:
            value, kind = p, None
        if isinstance(value, str) and value.strip():
            out.append((value, str(kind) if kind else None))
    return out


def _tags(opp: Mapping[str, Any]) -> list[str]:
    return [t for t in _list(opp.get("tags")) if isinstance(t, str) and t]


def _recency(opp: Mapping[str, Any]) -> int:
    return _ms_or_none(opp.get("updatedAt")) or _ms_or_none(opp.get("createdAt")) or 0


def relevant_opportunity(opps: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """Where history is written: the open (not archived) opportunity updated last, else the latest one.

    Works on full opportunity records and on the compact summaries kept in ``Candidate.raw``.
    """
    if not opps:
        return None
    pool = [o for o in opps if not _closed(o)] or list(opps)
    return max(pool, key=lambda o: (_recency(o), _ms_or_none(o.get("createdAt")) or 0, str(o.get("id"))))


def _closed(opp: Mapping[str, Any]) -> bool:
    flag = opp.get("archived")
    return flag if isinstance(flag, bool) else is_archived(opp)


class OpportunityView:
    """What a person is built from, read once from one opportunity: a sync maps every opportunity of an
    account, so each field is looked at once rather than once per use.  :class:`InvalidRecord` (naming
    ``what``) when the opportunity has no valid id."""

    __slots__ = (
        "archived",
        "closed",
        "contact",
        "created",
        "emails",
        "id",
        "phones",
        "rec",
        "tags",
        "updated",
    )

    def __init__(self, opp: Mapping[str, Any], what: str = "opportunity") -> None:
        self.rec = opp
        self.id = require_id(opp, what)
        self.contact = _id_of(opp.get("contact")) or self.id  # as contact_id()
        self.created = _ms_or_none(opp.get("createdAt"))
        self.updated = _ms_or_none(opp.get("updatedAt"))
        self.archived = is_archived(opp)
        flag = opp.get("archived")
        self.closed = flag if isinstance(flag, bool) else self.archived  # as _closed()
        self.emails = opportunity_emails(opp)
        self.phones = opportunity_phones(opp)
        self.tags = _tags(opp)

    @property
    def recency(self) -> int:
        return self.updated or self.created or 0

    def summary(self) -> dict[str, Any]:
        """The compact record kept in ``Candidate.raw["opportunities"]``."""
        return {
            "id": self.id,
            "archived": self.archived,
            "createdAt": self.created,
            "updatedAt": self.updated,
            "tags": self.tags,
        }


# --- people -----------------------------------------------------------------------------------------------


def candidate_from_opportunities(opps: Sequence[Mapping[str, Any]], connector: str) -> Candidate:
    """One person from one or more opportunities of the same contact (e-mails, phones, tags: union).

    ``raw`` is compact: the contact's identity fields and one summary per opportunity (id, archived,
    createdAt, updatedAt, tags), which is what :func:`relevant_opportunity` needs.
    """
    return candidate_from_views([OpportunityView(o) for o in opps], connector)


def candidate_from_views(views: Sequence[OpportunityView], connector: str) -> Candidate:
    """:func:`candidate_from_opportunities` on opportunities already read."""
    if not views:
        raise ValueError("at least one opportunity is needed")
    ordered = sorted(views, key=lambda v: v.recency, reverse=True)
    # the opportunity history is written to, as relevant_opportunity() picks it
    pool = [v for v in ordered if not v.closed] or ordered
    best = max(pool, key=lambda v: (v.recency, v.created or 0, v.id))
    emails: list[str] = []
    phones: dict[str, str | None] = {}  # value → type, the first one seen
    tags: list[str] = []
    for v in [best, *ordered]:
        for e in v.emails:
            if e not in emails:
                emails.append(e)
        for value, kind in v.phones:
            phones.setdefault(value, kind)
        for t in v.tags:
            if t not in tags:
                tags.append(t)
    rec = best.rec
    first, last = split_name(rec.get("name"))
    created = [v.created for v in ordered if v.created is not None]
    updated = [v.updated for v in ordered if v.updated is not None]
    summaries = {v.id: v.summary() for v in reversed(ordered)}
    raw = {
        "contact": best.contact,
        "name": rec.get("name"),
        "headline": rec.get("headline"),
        "location": rec.get("location"),
        "isAnonymized": bool(rec.get("isAnonymized")),
        "opportunities": list(summaries.values()),
    }
    # one validation call for the whole person (a sync maps every opportunity: see the Greenhouse mapping)
    return Candidate.model_validate(
        {
            "ref": {"connector": connector, "kind": "contact", "id": best.contact},
            "first_name": first,
            "last_name": last,
            "emails": [{"value": e} for e in emails],
            "phones": [{"value": value, "type": kind} for value, kind in phones.items()],
            "tags": tags,
            "application_ids": list(summaries),
            "created_at": from_ms(min(created)) if created else None,
            "updated_at": from_ms(max(updated)) if updated else None,
            "raw": raw,
        }
    )


def merge_candidates(old: Candidate, new: Candidate) -> Candidate:
    """The union of two views of the same contact (``new`` wins for names and per-opportunity state)."""
    if old.ref != new.ref:
        raise ValueError("can only merge views of the same contact")
    emails = list(new.emails) + [e for e in old.emails if all(e.value != n.value for n in new.emails)]
    phones = list(new.phones) + [p for p in old.phones if all(p.value != n.value for n in new.phones)]
    summaries = {s["id"]: s for s in old.raw.get("opportunities", [])}
    summaries.update({s["id"]: s for s in new.raw.get("opportunities", [])})
    tags: list[str] = []
    for s in summaries.values():
        tags.extend(t for t in s.get("tags", []) if t not in tags)
    created = [d for d in (old.created_at, new.created_at) if d is not None]
    updated = [d for d in (old.updated_at, new.updated_at) if d is not None]
    return new.model_copy(
        update={
            "emails": tuple(emails),
            "phones": tuple(phones),
            "tags": tuple(tags),
            "application_ids": tuple(summaries),
            "created_at": min(created) if created else None,
            "updated_at": max(updated) if updated else None,
            "raw": {**new.raw, "opportunities": list(summaries.values())},
        }
    )


def group_by_contact(opps: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for opp in opps:
        if id_problem(opp.get("id")) is not None:
            continue  # an opportunity without a valid id is nobody (the sync refuses and counts it)
        groups.setdefault(contact_id(opp), []).append(opp)
    return groups


def candidates_from_page(opps: Iterable[Mapping[str, Any]], connector: str) -> list[Candidate]:
    return [candidate_from_opportunities(group, connector) for group in group_by_contact(opps).values()]


def application_from_opportunity(opp: Mapping[str, Any], connector: str) -> Application:
    """One opportunity = one candidacy.  ``requisition_id`` is the posting it is on (Lever's "job");
    ``prospect`` marks an opportunity on no posting (a sourced lead)."""
    return application_from_view(OpportunityView(opp), connector, raw=dict(opp))


def application_from_view(
    view: OpportunityView, connector: str, *, raw: dict[str, Any] | None = None
) -> Application:
    """:func:`application_from_opportunity` on an opportunity already read; ``raw`` is the record kept
    (by default the opportunity itself, not copied: a sync's page is its own)."""
    opp = view.rec
    posting: str | None = None
    for app in opp.get("applications") or []:
        if isinstance(app, Mapping):
            posting = _id_of(app.get("posting"))
            if posting:
                break
    if posting is None and isinstance(opp.get("postings"), list) and opp["postings"]:
        posting = _id_of(opp["postings"][0])
    return Application.model_validate(
        {
            "ref": {"connector": connector, "kind": "application", "id": view.id},
            "candidate_id": view.contact,
            "requisition_id": posting,
            "status": "archived" if view.archived else "active",
            "stage": stage_name(opp),
            "prospect": posting is None,
            "created_at": from_ms(view.created),
            "updated_at": from_ms(view.updated),
            "raw": opp if raw is None else raw,
        }
    )


def requisition_from_lever(rec: Mapping[str, Any], connector: str) -> Requisition:
    custom = rec.get("customFields")
    return Requisition(
        ref=Ref(connector=connector, kind="requisition", id=require_id(rec, "requisition")),
        name=str(rec.get("name") or rec.get("requisitionCode") or f"requisition {rec['id']}"),
        code=str(rec["requisitionCode"]) if rec.get("requisitionCode") else None,
        status=str(rec["status"]) if rec.get("status") else None,
        department=str(rec.get("department") or rec.get("team") or "") or None,
        custom_fields=dict(custom) if isinstance(custom, Mapping) else {},
        created_at=from_ms(rec.get("createdAt")),
        updated_at=from_ms(rec.get("updatedAt")),
        raw=dict(rec),
    )


def in_window(rec: Mapping[str, Any], since: datetime | None, until: datetime) -> bool:
    """Client-side window test for lists Lever cannot filter by update time (requisitions).

    A record without ``updatedAt`` counts by its ``createdAt``; one with neither is always kept.
    """
    when = from_ms(rec.get("updatedAt")) or from_ms(rec.get("createdAt"))
    if when is None:
        return True
    return (since is None or when >= since) and when <= until


# --- writes -----------------------------------------------------------------------------------------------


def note_score(rating: float | None) -> int | None:
    """A 1 to 5 supervisor rating → Lever's note score 1 to 4 (strong no, no, yes, strong yes)."""
    if rating is None:
        return None
    if rating >= 4.5:
        return 4
    if rating >= 3.5:
        return 3
    if rating >= 2.5:
        return 2
    return 1


def new_opportunity_body(new: NewCandidate, *, origin: str = "sourced") -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": f"{new.first_name} {new.last_name}".strip(),
        "emails": [new.email],
        "origin": origin,
    }
    if new.phone:
        body["phones"] = [{"value": new.phone, "type": "mobile"}]
    if new.tags:
        body["tags"] = list(dict.fromkeys(new.tags))
    if new.source:
        body["sources"] = [new.source]
    return body


#: ``NewRequisition.options`` keys passed through to ``POST /requisitions`` as they are
REQUISITION_OPTIONS = (
    "status",
    "owner",
    "employmentStatus",
    "compensationBand",
    "internalNotes",
    "backfill",
    "postingIds",
)


def new_requisition_body(new: NewRequisition) -> dict[str, Any]:
    """A ``POST /requisitions`` body: code, title → name, openings → headcountTotal, the optional
    placement fields (``options.team``/``department``/``location`` win over the rule's values, for a Lever
    team named differently from the project's), ``fields`` → ``customFields`` (keys are requisition field
    ids), and the Lever-specific ``options`` listed in :data:`REQUISITION_OPTIONS`."""
    body: dict[str, Any] = {
        "requisitionCode": new.code,
        "name": new.title,
        "headcountTotal": new.openings,
        "status": "open",
    }
    opts = new.options
    for key, value in (
        ("team", opts.get("team") or new.team),
        ("department", opts.get("department") or new.department),
        ("location", opts.get("location") or new.location),
        ("hiringManager", new.hiring_manager),
    ):
        if value:
            body[key] = value
    if new.fields:
        body["customFields"] = dict(new.fields)
    body.update({k: v for k, v in new.options.items() if k in REQUISITION_OPTIONS})
    return body


def unknown_requisition_fields(fields: Mapping[str, Any], schema: Sequence[Mapping[str, Any]]) -> list[str]:
    """The keys of ``fields`` that are not requisition field ids (``GET /requisition_fields``)."""
    known = {str(f.get("id")) for f in schema if f.get("id")}
    return sorted(k for k in fields if k not in known)


def missing_required_fields(fields: Mapping[str, Any], schema: Sequence[Mapping[str, Any]]) -> list[str]:
    """Required requisition fields (``isRequired``) that ``fields`` leaves empty."""
    return sorted(
        str(f["id"])
        for f in schema
        if f.get("id") and f.get("isRequired") and fields.get(str(f["id"])) in (None, "", [], {})
    )


def is_closed_requisition(rec: Mapping[str, Any]) -> bool:
    return str(rec.get("status") or "").lower() == "closed"


# --- conversion: postings, opportunities on them, the prescreen note -----------------------------------

#: how visible a posting state is: publishing moves a posting up to the wanted level, never down
POSTING_VISIBILITY = {"published": 2, "internal": 1}
#: ``options.publish`` values → the Lever posting state (``internal`` is what Lever's UI calls "unlisted")
PUBLISH_STATES = {
    "published": "published",
    "public": "published",
    "external": "published",
    "true": "published",
    "internal": "internal",
    "unlisted": "internal",
}
CHANNELS = ("public", "internal")
POSTING_STATES = ("draft", "internal", "published")


def publish_target(options: Mapping[str, Any], connector: str | None = None) -> tuple[str, list[str]]:
    """(posting state, distribution channels) that ``options`` ask for.

    ``publish``: ``published`` (aliases ``public``, ``external``, ``true``) or ``internal`` (Lever's
    "unlisted": reachable by its link, listed nowhere).  ``distribution``: the job sites a published posting
    is listed on, ``public`` and/or ``internal`` (a string or a list; default both, as Lever does)."""
    raw = options.get("publish")
    wanted = str(raw).strip().lower() if raw is not None else "published"
    state = PUBLISH_STATES.get(wanted)
    if state is None:
        raise InvalidRequest(
            f"requisition.options.publish: {raw!r} is not one of published, internal (Lever posting states)",
            connector=connector,
        )
    dist = options.get("distribution", list(CHANNELS))
    channels = [dist] if isinstance(dist, str) else list(dist or [])
    channels = [str(c).strip().lower() for c in channels]
    bad = [c for c in channels if c not in CHANNELS]
    if bad or not channels:
        raise InvalidRequest(
            f"requisition.options.distribution: {', '.join(bad) or 'empty'}: use public and/or internal",
            connector=connector,
        )
    return state, sorted(set(channels), key=CHANNELS.index)


def initial_posting_state(options: Mapping[str, Any], connector: str | None = None) -> str:
    """``options.posting_state``: the state of a posting syncbridge creates before any publish (draft)."""
    state = str(options.get("posting_state") or "draft").strip().lower()
    if state not in POSTING_STATES:
        raise InvalidRequest(
            f"requisition.options.posting_state: {state!r} is not one of {', '.join(POSTING_STATES)}",
            connector=connector,
        )
    return state


def posting_channels(posting: Mapping[str, Any]) -> list[str]:
    value = posting.get("distributionChannels")
    return [str(c) for c in value] if isinstance(value, list) else list(CHANNELS)


def posting_is_published(posting: Mapping[str, Any], state: str, channels: Sequence[str]) -> bool:
    """True when the posting is at least as visible as ``state`` and listed on every wanted channel."""
    have = POSTING_VISIBILITY.get(str(posting.get("state") or ""), 0)
    if have < POSTING_VISIBILITY[state]:
        return False
    return state != "published" or set(channels) <= set(posting_channels(posting))


def publish_changes(posting: Mapping[str, Any], state: str, channels: Sequence[str]) -> dict[str, Any]:
    """The partial update that publishes ``posting``.  Its state is only ever raised (draft/closed →
    unlisted → published; an unlisted target leaves a published posting alone).  Channels matter once a
    posting is published: one that is not listed yet gets exactly the wanted channels, one a recruiter
    already listed somewhere only gains channels (never narrowed)."""
    have = POSTING_VISIBILITY.get(str(posting.get("state") or ""), 0)
    changes: dict[str, Any] = {}
    if have < POSTING_VISIBILITY[state]:
        changes["state"] = state
    if state != "published":
        return changes
    current = posting_channels(posting)
    if posting.get("state") != "published":
        if sorted(current) != sorted(channels):
            changes["distributionChannels"] = list(channels)
    elif not set(channels) <= set(current):
        changes["distributionChannels"] = sorted(set(current) | set(channels), key=CHANNELS.index)
    return changes


def choose_posting(postings: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The one posting of a requisition syncbridge works with: not closed first, then the oldest.
    Deterministic, so publish and attach always pick the same one."""
    if not postings:
        return None
    return min(
        postings,
        key=lambda p: (p.get("state") == "closed", _ms_or_none(p.get("createdAt")) or 0, str(p.get("id"))),
    )


def new_posting_body(
    requisition: Mapping[str, Any],
    options: Mapping[str, Any],
    *,
    state: str,
    channels: Sequence[str] | None = None,
    description_html: str | None = None,
) -> dict[str, Any]:
    """A ``POST /postings`` body for a requisition: its name as the title (``options.posting_title``
    wins), linked by ``requisitionCodes``, with the requisition's team, department and location as
    categories (``options`` win) plus ``options.commitment``, its hiring manager, and the description."""
    body: dict[str, Any] = {
        "text": str(
            options.get("posting_title") or requisition.get("name") or requisition["requisitionCode"]
        ),
        "state": state,
        "requisitionCodes": [str(requisition["requisitionCode"])],
    }
    categories = {
        key: str(value)
        for key, value in (
            ("team", options.get("team") or requisition.get("team")),
            ("department", options.get("department") or requisition.get("department")),
            ("location", options.get("location") or requisition.get("location")),
            ("commitment", options.get("commitment")),
        )
        if value
    }
    if categories:
        body["categories"] = categories
    if requisition.get("hiringManager"):
        body["hiringManager"] = _id_of(requisition["hiringManager"])
    if channels:
        body["distributionChannels"] = list(channels)
    description = options.get("description_html") or description_html
    if description:
        body["content"] = {"descriptionHtml": str(description)}
    if options.get("workplace_type"):
        body["workplaceType"] = str(options["workplace_type"])
    tags = options.get("posting_tags")
    if tags:
        body["tags"] = [tags] if isinstance(tags, str) else [str(t) for t in tags]
    return body


def opportunity_postings(opp: Mapping[str, Any]) -> set[str]:
    """The postings an opportunity is on (from expanded applications, or a ``postings`` list)."""
    found: set[str] = set()
    for app in opp.get("applications") or []:
        if isinstance(app, Mapping) and _id_of(app.get("posting")):
            found.add(str(_id_of(app.get("posting"))))
    listed = opp.get("postings")
    for posting in listed if isinstance(listed, list) else []:
        if _id_of(posting):
            found.add(str(_id_of(posting)))
    return found


def opportunity_on(opps: Sequence[Mapping[str, Any]], posting_ids: set[str]) -> Mapping[str, Any] | None:
    """The contact's opportunity on one of ``posting_ids``: an active one first, else an archived one."""
    on = [o for o in opps if opportunity_postings(o) & posting_ids]
    if not on:
        return None
    return min(on, key=lambda o: (is_archived(o), _ms_or_none(o.get("createdAt")) or 0, str(o.get("id"))))


def prescreen_score(score: float, max_score: float) -> int | None:
    """The prescreen score (out of ``max_score``) as Lever's note score 1-4, through the 1-5 scale."""
    if max_score <= 0:
        return None
    return note_score(score * 5.0 / max_score)


def _field_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ", ".join(_field_text(v) for v in value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {_field_text(v)}" for k, v in value.items())
    return "" if value is None else str(value)


def prescreen_note_text(summary_text: str, fields: Mapping[str, Any], marker: str) -> str:
    """The prescreen note: the evaluation summary, the rule's prescreen fields as lines (Lever has no
    custom-field API for opportunities, so they are reported here) and the marker last."""
    parts = [summary_text.rstrip()]
    if fields:
        lines = [f"- {name}: {_field_text(value)}" for name, value in fields.items()]
        parts.append("Prescreen fields:\n" + "\n".join(lines))
    parts.append(f"[{marker}]")
    return "\n\n".join(parts)


def note_texts(note: Mapping[str, Any]) -> list[str]:
    """Every text a Lever note carries: its comments (``fields[].value``) and, tolerantly, top-level text."""
    out: list[str] = []
    for item in note.get("fields") or []:
        if isinstance(item, Mapping) and isinstance(item.get("value"), str):
            out.append(item["value"])
    for key in ("value", "text", "body"):
        if isinstance(note.get(key), str):
            out.append(note[key])
    return out


def note_has_marker(note: Mapping[str, Any], marker: str) -> bool:
    return not note.get("deletedAt") and any(marker in t for t in note_texts(note))


# --- posting HTML -----------------------------------------------------------------------------------------

DESCRIPTION_TAGS = frozenset({"div", "p", "span", "br", "b", "i", "s", "u", "a"})
LIST_TAGS = frozenset({"li", "b", "i", "s", "u", "a"})
_FONT_SIZE = re.compile(r"^\s*font-size\s*:\s*(10|14|18|24|32)px\s*;?\s*$", re.IGNORECASE)
_DROP_CONTENT = frozenset({"script", "style", "iframe", "object", "noscript", "template"})
_VOID = frozenset({"br"})


class _Cleaner(HTMLParser):
    def __init__(self, allowed: frozenset[str]) -> None:
        super().__init__(convert_charrefs=True)
        self.allowed = allowed
        self.out: list[str] = []
        self.open: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROP_CONTENT:
            self.skip += 1
            return
        if self.skip or tag not in self.allowed:
            return
        kept = []
        for name, value in attrs:
            value = value or ""
            if (
                (
                    name == "href"
                    and tag == "a"
                    and value.strip().lower().startswith(("http://", "https://", "mailto:"))
                )
                or (name == "class" and value.strip() == "postings-link")
                or (name == "style" and _FONT_SIZE.match(value))
            ):
                kept.append(f' {name}="{html.escape(value.strip(), quote=True)}"')
        self.out.append(f"<{tag}{''.join(kept)}>")
        if tag not in _VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag in self.open and tag not in _VOID and self.open[-1] == tag:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROP_CONTENT:
            self.skip = max(0, self.skip - 1)
            return
        if self.skip or tag not in self.allowed or tag in _VOID or tag not in self.open:
            return
        while self.open:
            top = self.open.pop()
            self.out.append(f"</{top}>")
            if top == tag:
                break

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.out.append(html.escape(data, quote=False))

    def result(self) -> str:
        self.close()
        return "".join(self.out) + "".join(f"</{t}>" for t in reversed(self.open))


def clean_html(text: str, allowed: frozenset[str] = DESCRIPTION_TAGS) -> str:
    """Reduce HTML to Lever's posting whitelist: unknown tags are dropped (their text kept), scripts and
    styles removed with their content, attributes limited to ``href`` (http/https/mailto), ``class``
    ``postings-link`` and ``style`` ``font-size`` 10/14/18/24/32px; unclosed tags are closed."""
    cleaner = _Cleaner(allowed)
    cleaner.feed(text)
    return cleaner.result()


def clean_posting(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A posting create/update body with every HTML field reduced to the whitelist."""
    body = dict(fields)
    content = body.get("content")
    if isinstance(content, Mapping):
        content = dict(content)
        for key in ("descriptionHtml", "closingHtml", "closingPostingHtml"):
            if isinstance(content.get(key), str):
                content[key] = clean_html(content[key], DESCRIPTION_TAGS)
        if isinstance(content.get("lists"), list):
            content["lists"] = [
                {**item, "content": clean_html(item["content"], LIST_TAGS)}
                if isinstance(item, Mapping) and isinstance(item.get("content"), str)
                else item
                for item in content["lists"]
            ]
        body["content"] = content
    if isinstance(body.get("salaryDescriptionHtml"), str):
        body["salaryDescriptionHtml"] = clean_html(body["salaryDescriptionHtml"], DESCRIPTION_TAGS)
    return body
