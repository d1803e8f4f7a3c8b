"""The Lever Data API v1 connector.

Identity: ``Candidate.ref.id`` is the Lever **contact** (the person).  Reads go through opportunities
(``expand=applications&expand=stage&confidentiality=all``); writes go to the contact's most relevant
opportunity: the open (not archived) one updated last, else the latest one.

Custom fields: Lever has no custom-field API for candidates or opportunities (only requisitions have
``customFields``), so this connector does **not** declare ``set_fields``; the planner reports the gap
(``cannot set fields``) and the values stay readable in the history note.

Conversion: a requisition (``POST /requisitions``) with its one posting linked by ``requisitionCodes``;
publishing sets that posting's state and channels; attaching makes a NEW opportunity for the contact on
the posting (after looking for one already there); the prescreen is a note with the marker on that
opportunity (its fields are written into the note text).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any, ClassVar, Literal

import requests
from pydantic import Field, SecretStr, model_validator

from syncbridge.connector import (
    Capability,
    Connector,
    ConnectorSettings,
    Record,
    StateStore,
    StreamSpec,
    Window,
)
from syncbridge.errors import InvalidRequest, NotFound
from syncbridge.http import TokenBucket
from syncbridge.model import (
    Application,
    Candidate,
    NewCandidate,
    NewRequisition,
    Note,
    Prescreen,
    Requisition,
)
from syncbridge.records import RECORD_ERRORS, Refused, checked_dict, map_records, refuse

from . import mapping
from .client import (
    EU_URL,
    PRODUCTION_TOKEN_URL,
    PRODUCTION_URL,
    SANDBOX_TOKEN_URL,
    SANDBOX_URL,
    LeverClient,
    LeverOAuthTokens,
    build_api,
)
from .webhooks import LeverWebhooks

log = logging.getLogger("syncbridge.connectors.lever")

#: contacts remembered while one stream is read, so a person whose opportunities are on different pages
#: still gets the union of their tags and opportunity ids (bounded: memory stays small on huge accounts)
CONTACT_CACHE_SIZE = 20_000
CONTACT_ID_BATCH = 50


class LeverSettings(ConnectorSettings):
    type: Literal["lever"] = "lever"
    # auth: an API key, or OAuth (a partner app's client id/secret and a refresh token with offline_access)
    api_key: SecretStr | None = Field(default=None, description="API key (Basic auth username); use ${ENV}")
    client_id: SecretStr | None = Field(default=None, description="OAuth client id; use ${ENV}")
    client_secret: SecretStr | None = Field(default=None, description="OAuth client secret; use ${ENV}")
    refresh_token: SecretStr | None = Field(
        default=None, description="OAuth refresh token (single-use: the rotated one is kept in the state DB)"
    )
    token_url: str | None = Field(default=None, description="OAuth token endpoint (default by environment)")
    # where
    environment: Literal["production", "sandbox"] = "production"
    region: Literal["us", "eu"] = "us"
    base_url: str | None = Field(default=None, description="overrides environment/region, e.g. a proxy")
    # who writes
    perform_as: str | None = Field(default=None, description="Lever user id writes are attributed to")
    perform_as_email: str | None = Field(
        default=None, description="or that user's e-mail, resolved once with GET /users?email="
    )
    # pacing (Lever: 10 rps steady, bursts of 20, per key; one bucket shared by this connector's threads)
    rate_per_second: float = Field(default=8.0, gt=0, le=1000)
    burst: int = Field(default=16, ge=1, le=1000)
    # writes
    note_secret: bool = Field(default=False, description="post notes as secret (sensitive-info users only)")
    score_from_rating: bool = Field(default=True, description="set the note score (1-4) from the rating")
    new_candidate_origin: Literal["agency", "applied", "internal", "referred", "sourced", "university"] = (
        "sourced"
    )
    new_candidate_source: str | None = Field(
        default="Micro-internship",
        description="the source on every opportunity syncbridge creates (created people and conversions), "
        "so recruiting reports count micro-intern hires; null for none",
    )
    # reads
    page_size: int = Field(default=100, ge=1, le=100)
    window_days: int = Field(default=30, ge=1, description="incremental reads are split in windows this long")
    max_offset_restarts: int = Field(default=3, ge=0, le=10)
    # transport: connect_timeout, read_timeout, max_attempts, backoff_base... (HttpSettings)

    @model_validator(mode="after")
    def _check(self) -> LeverSettings:
        oauth = [self.client_id, self.client_secret, self.refresh_token]
        if self.api_key is not None and any(v is not None for v in oauth):
            raise ValueError("give either api_key or client_id/client_secret/refresh_token, not both")
        if self.api_key is None and not all(v is not None for v in oauth):
            missing = [
                n
                for n, v in zip(("client_id", "client_secret", "refresh_token"), oauth, strict=True)
                if v is None
            ]
            raise ValueError("api_key: missing (or OAuth: " + ", ".join(missing) + " missing)")
        if self.perform_as and self.perform_as_email:
            raise ValueError("give perform_as or perform_as_email, not both")
        if self.environment == "sandbox" and self.region == "eu" and not self.base_url:
            raise ValueError("Lever has no documented EU sandbox: set base_url")
        return self

    @property
    def oauth(self) -> bool:
        return self.api_key is None

    def api_url(self) -> str:
        if self.base_url:
            return self.base_url
        if self.environment == "sandbox":
            return SANDBOX_URL
        return EU_URL if self.region == "eu" else PRODUCTION_URL

    def oauth_token_url(self) -> str:
        if self.token_url:
            return self.token_url
        return SANDBOX_TOKEN_URL if self.environment == "sandbox" else PRODUCTION_TOKEN_URL


def _secret(value: SecretStr | None) -> str:
    assert value is not None
    return value.get_secret_value()


class LeverConnector(Connector):
    type = "lever"
    writes_counted = True
    webhooks = LeverWebhooks()
    erasure_route = (
        "Lever: notes syncbridge made can be deleted (syncbridge forget --erase-in-ats ERASURE_ID, or "
        "DELETE /opportunities/{opportunity}/notes/{note}) "
        "and tags removed with POST /opportunities/{opportunity}/removeTags; anonymize or delete the "
        "contact in Lever (its data-privacy tools)"
    )
    deletable_writes = frozenset({"add_note", "prescreen"})  # notes made through the API
    settings_model = LeverSettings
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.read_candidates,
            Capability.read_requisitions,
            Capability.find_candidates,
            Capability.create_candidate,
            Capability.add_note,
            Capability.add_tags,
            Capability.create_requisition,
            Capability.publish,
            Capability.attach,
            Capability.prescreen,
            Capability.nurture,
        }
    )
    streams = (
        # one read of the opportunities yields both the contacts and their opportunities (applications)
        StreamSpec("candidates", "candidate"),
        StreamSpec("applications", "application", covered_by="candidates"),
        # contacts whose last opportunity was deleted come back with deleted=True
        StreamSpec("deleted_opportunities", "candidate"),
        # Lever cannot filter requisitions by update time: full scan, filtered here against the window
        StreamSpec("requisitions", "requisition"),
        StreamSpec("postings", "other"),
        StreamSpec("users", "other", incremental=False),
        StreamSpec("stages", "other", incremental=False),
        StreamSpec("requisition_fields", "other", incremental=False),
    )

    def __init__(
        self,
        name: str,
        settings: ConnectorSettings,
        *,
        state: StateStore | None = None,
        client: LeverClient | None = None,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
    ) -> None:
        super().__init__(name, settings, state=state)
        assert isinstance(settings, LeverSettings)
        self.cfg = settings
        self.tokens: LeverOAuthTokens | None = None
        if client is None:
            self.limiter = TokenBucket(settings.rate_per_second, settings.burst)
            http = {**settings.http_options(), "sleep": sleep}
            if settings.oauth:
                self.tokens = LeverOAuthTokens(
                    settings.oauth_token_url(),
                    _secret(settings.client_id),
                    _secret(settings.client_secret),
                    _secret(settings.refresh_token),
                    state=self.state,
                    connector=name,
                    **http,
                )
            api = build_api(
                settings.api_url(),
                connector=name,
                limiter=self.limiter,
                api_key=None if settings.oauth else _secret(settings.api_key),
                tokens=self.tokens,
                session=session,
                **http,
            )
            client = LeverClient(api, page_size=settings.page_size, max_restarts=settings.max_offset_restarts)
        self.client = client
        self._perform_as: str | None = settings.perform_as
        self._perform_as_lock = threading.Lock()
        self._req_fields: list[dict[str, Any]] | None = None
        self._schema_lock = threading.Lock()
        #: requisition code → the posting this connector made for it (Lever may not list it on the
        #: requisition at once; saves a scan of every posting)
        self._posting_ids: dict[str, str] = {}

    # reads ------------------------------------------------------------------------------------------
    def read(self, stream: str, window: Window) -> Iterator[Sequence[Record]]:
        # every record is untrusted: one without a valid id (or malformed) becomes a Refused placeholder,
        # counted in the sync summary and never stored (syncbridge.records)
        def mapped(page: list[Any], convert: Callable[[Any], Any]) -> list[Record]:
            out = map_records(page, convert, connector=self.name, stream=stream)
            return [r for r in out if r is not None]

        if stream == "candidates":
            yield from self._read_candidates(window)
        elif stream == "applications":
            for page in self._opportunity_pages(window, raw=True):
                yield mapped(page, lambda o: mapping.application_from_opportunity(o, self.name))
        elif stream == "deleted_opportunities":
            yield from self._read_deleted(window)
        elif stream == "requisitions":
            for page in self.client.paginate("requisitions", {"confidentiality": "all"}, raw=True):
                yield mapped(
                    page,
                    lambda r: (
                        mapping.requisition_from_lever(r, self.name)
                        if mapping.in_window(r, window.since, window.until)
                        else None
                    ),
                )
        elif stream == "postings":
            params: dict[str, Any] = {"confidentiality": "all"}
            if window.since is not None:  # only confidentiality may be combined with updated_at_*
                params["updated_at_start"] = mapping.to_ms(window.since)
                params["updated_at_end"] = mapping.to_ms(window.until)
            for page in self.client.paginate("postings", params, raw=True):
                yield mapped(page, checked_dict)
        elif stream == "users":
            for page in self.client.paginate("users", {"includeDeactivated": "true"}, raw=True):
                yield mapped(page, checked_dict)
        elif stream in ("stages", "requisition_fields"):
            for page in self.client.paginate(stream, raw=True):
                yield mapped(page, checked_dict)
        else:
            raise KeyError(stream)

    def _windows(self, window: Window) -> list[tuple[int, int]]:
        assert window.since is not None
        start, end = mapping.to_ms(window.since), mapping.to_ms(window.until)
        step = int(timedelta(days=self.cfg.window_days).total_seconds() * 1000)
        out = []
        while start <= end:
            out.append((start, min(end, start + step - 1)))
            start += step
        return out

    def _opportunity_pages(self, window: Window, *, raw: bool = False) -> Iterator[list[Any]]:
        """Opportunity pages of a window.

        Incremental (``since`` set): ``updated_at_start/_end`` in windows of ``window_days``, so a refused
        offset token only re-reads one window.  Full read (``since`` None): every opportunity, with no time
        filter, which is also the backfill of old opportunities whose ``updatedAt`` is null (an
        ``updated_at`` filter never returns those).  It needs no upper bound: one created while the read
        runs is stored now and read again by the next incremental sync (the mirror upserts).  Run a full
        sync now and then (``syncbridge sync --full``).
        """
        if window.since is None:
            yield from self.client.opportunities({}, raw=raw)
            return
        for start, end in self._windows(window):
            yield from self.client.opportunities({"updated_at_start": start, "updated_at_end": end}, raw=raw)

    def _read_candidates(self, window: Window) -> Iterator[list[Candidate | Application | Refused]]:
        """The contacts of each opportunity page, then the page's opportunities as applications: one
        read serves both (the store files each record by its type), so the ``applications`` stream is
        not read again in the same sync.  Opportunities without a valid id are refused and counted."""
        seen: OrderedDict[str, Candidate] = OrderedDict()
        for page in self._opportunity_pages(window, raw=True):
            # each opportunity is read once (OpportunityView) for both its person and its application
            checked = map_records(
                page, lambda o: mapping.OpportunityView(o, "record"), connector=self.name, stream="candidates"
            )
            out: list[Candidate | Application | Refused] = []
            valid: list[mapping.OpportunityView] = []
            groups: dict[str, list[mapping.OpportunityView]] = {}
            for r in checked:
                if isinstance(r, Refused):
                    out.append(r)
                else:
                    valid.append(r)
                    groups.setdefault(r.contact, []).append(r)
            people: list[Candidate] = []
            for group in groups.values():
                try:
                    people.append(mapping.candidate_from_views(group, self.name))
                except RECORD_ERRORS as exc:
                    out.append(refuse(self.name, "candidates", exc))
            for cand in people:
                key = cand.ref.id
                if key in seen:
                    cand = mapping.merge_candidates(seen.pop(key), cand)
                seen[key] = cand
                if len(seen) > CONTACT_CACHE_SIZE:
                    seen.popitem(last=False)
                out.append(cand)
            for view in valid:
                try:
                    out.append(mapping.application_from_view(view, self.name))
                except RECORD_ERRORS as exc:
                    out.append(refuse(self.name, "candidates", exc))
            yield out

    def _read_deleted(self, window: Window) -> Iterator[list[Candidate | Refused]]:
        """Deleted opportunities → the contacts they belonged to: refreshed from the opportunities they
        still have, or marked ``deleted`` when none is left (then matching ignores them)."""
        params: dict[str, Any] = {"deleted_at_end": mapping.to_ms(window.until)}
        if window.since is not None:
            params["deleted_at_start"] = mapping.to_ms(window.since)
        stream = "deleted_opportunities"
        for page in self.client.paginate("opportunities/deleted", params, raw=True):
            checked = map_records(page, checked_dict, connector=self.name, stream=stream)
            out: list[Candidate | Refused] = [r for r in checked if isinstance(r, Refused)]
            groups = mapping.group_by_contact(r for r in checked if not isinstance(r, Refused))
            remaining = self._opportunities_of_contacts(list(groups))
            for contact, deleted in groups.items():
                left = remaining.get(contact)
                try:
                    if left:
                        out.append(mapping.candidate_from_opportunities(left, self.name))
                    else:
                        gone = mapping.candidate_from_opportunities(deleted, self.name)
                        out.append(gone.model_copy(update={"deleted": True}))
                except RECORD_ERRORS as exc:
                    out.append(refuse(self.name, stream, exc))
            yield out

    def _opportunities_of_contacts(self, contacts: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        for start in range(0, len(contacts), CONTACT_ID_BATCH):
            batch = list(contacts[start : start + CONTACT_ID_BATCH])
            for page in self.client.opportunities({"contact_id": batch}):
                for opp in page:
                    if opp.get("id") is not None:
                        found.setdefault(mapping.contact_id(opp), []).append(opp)
        return found

    def _opportunities_of(self, contact_id: str) -> list[dict[str, Any]]:
        opps = self._opportunities_of_contacts([contact_id]).get(contact_id, [])
        if opps:
            return opps
        try:  # a person created without a contact id is keyed by its opportunity id
            opp = self.client.opportunity(contact_id)
        except NotFound:
            return []
        return [opp] if mapping.contact_id(opp) == contact_id else []

    def find_candidates(self, email: str) -> list[Candidate]:
        opps = [o for page in self.client.opportunities({"email": email}) for o in page]
        return mapping.candidates_from_page(opps, self.name)

    def get_candidate(self, candidate_id: str) -> Candidate:
        opps = self._opportunities_of(candidate_id)
        if not opps:
            raise NotFound(f"contact {candidate_id} has no opportunity", status=404, connector=self.name)
        return mapping.candidate_from_opportunities(opps, self.name)

    def target_opportunity(self, candidate_id: str) -> dict[str, Any]:
        """The opportunity history is written to (open and updated last, else the latest)."""
        opps = self._opportunities_of(candidate_id)
        best = mapping.relevant_opportunity(opps)
        if best is None:
            raise NotFound(f"contact {candidate_id} has no opportunity", status=404, connector=self.name)
        return dict(best)

    def perform_as(self, *, required: bool = False) -> str | None:
        """The user id writes are attributed to; ``perform_as_email`` is resolved on first use."""
        with self._perform_as_lock:
            if self._perform_as is None and self.cfg.perform_as_email:
                users = [
                    u
                    for u in self.client.users_by_email(self.cfg.perform_as_email)
                    if u.get("id") and not u.get("deactivatedAt")
                ]
                if not users:
                    raise InvalidRequest(
                        "perform_as_email: no active Lever user has that e-mail", connector=self.name
                    )
                self._perform_as = str(users[0]["id"])
                log.info("%s: writes are performed as Lever user %s", self.name, self._perform_as)
            if required and not self._perform_as:
                raise InvalidRequest(
                    "this write needs perform_as (or perform_as_email) in the connector settings",
                    connector=self.name,
                )
            return self._perform_as

    def check(self) -> dict[str, Any]:
        body = self.client.api.get_json("users", {"limit": 1})
        data = body.get("data") if isinstance(body, dict) else None
        info: dict[str, Any] = {"users_visible": len(data) if isinstance(data, list) else 0}
        if self.cfg.perform_as or self.cfg.perform_as_email:
            info["perform_as"] = self.perform_as()
        return info

    # writes -----------------------------------------------------------------------------------------
    def create_candidate(self, new: NewCandidate) -> Candidate:
        """Lever makes a NEW opportunity on every POST: look the e-mail up first and reuse that person."""
        existing = self.find_candidates(new.email)
        if existing:
            log.info("%s: create_candidate found an existing contact; no new opportunity", self.name)
            return existing[0]
        body = mapping.new_opportunity_body(new, origin=self.cfg.new_candidate_origin)
        if self.cfg.new_candidate_source and "sources" not in body:
            body["sources"] = [self.cfg.new_candidate_source]
        opp = self.client.create_opportunity(body, perform_as=self.perform_as(required=True))
        return mapping.candidate_from_opportunities([opp], self.name)

    def add_note(self, candidate_id: str, note: Note) -> str:
        opp = self.target_opportunity(candidate_id)
        score = mapping.note_score(note.score) if self.cfg.score_from_rating else None
        return self.client.add_note(
            str(opp["id"]),
            note.body_text(),
            perform_as=self.perform_as(),
            secret=self.cfg.note_secret,
            score=score,
        )

    def _tags_of(self, candidate_id: str) -> tuple[dict[str, Any], set[str]]:
        """The opportunity tags are written to, and the tags on any of the person's opportunities: a tag
        already on the person (e.g. on the opportunity before a conversion added a newer one) is not
        added again."""
        opps = self._opportunities_of(candidate_id)
        best = mapping.relevant_opportunity(opps)
        if best is None:
            raise NotFound(f"contact {candidate_id} has no opportunity", status=404, connector=self.name)
        return dict(best), {t for o in opps for t in o.get("tags") or []}

    def add_tags(self, candidate_id: str, tags: Sequence[str]) -> None:
        opp, present = self._tags_of(candidate_id)
        missing = [t for t in dict.fromkeys(tags) if t not in present]
        if missing:
            self.client.add_tags(str(opp["id"]), missing, perform_as=self.perform_as())

    # early talent -----------------------------------------------------------------------------------
    @staticmethod
    def _nurture_tags(nurture: Mapping[str, Any]) -> list[str]:
        # Lever has no date field on an opportunity that the API writes: the follow-up date is a tag
        return [*(nurture.get("tags") or ()), f"follow-up {nurture['follow_up']}"]

    def nurture(self, candidate_id: str, nurture: Mapping[str, Any]) -> str:
        """The person's opportunity moves to the configured lead stage (``options.stage``, a stage id of
        ``GET /stages``, e.g. "Reached out") and gets the tags and a ``follow-up YYYY-MM-DD`` tag."""
        opp = self.target_opportunity(candidate_id)
        stage = (nurture.get("options") or {}).get("stage")
        current = opp.get("stage")
        current_id = current.get("id") if isinstance(current, Mapping) else current
        if stage and current_id != stage:
            self.client.set_stage(str(opp["id"]), str(stage), perform_as=self.perform_as())
        self.add_tags(candidate_id, self._nurture_tags(nurture))
        return str(opp["id"])

    def find_nurture(self, candidate_id: str, nurture: Mapping[str, Any]) -> str | None:
        opp = self.target_opportunity(candidate_id)
        stage = (nurture.get("options") or {}).get("stage")
        current = opp.get("stage")
        current_id = current.get("id") if isinstance(current, Mapping) else current
        if stage and current_id != stage:
            return None
        return str(opp["id"]) if set(self._nurture_tags(nurture)) <= set(opp.get("tags") or ()) else None

    # reconciliation ---------------------------------------------------------------------------------
    def find_note(self, candidate_id: str, marker: str) -> str | None:
        """Search every opportunity of the person (the relevant one first): the target may have changed
        between the lost answer and now."""
        return self.find_notes(candidate_id, [marker]).get(marker)

    def find_notes(self, candidate_id: str, markers: Sequence[str]) -> dict[str, str]:
        """Every marker checked in one pass over the notes of each of the person's opportunities (Lever
        keeps notes per opportunity: one read of the opportunities, then one per opportunity)."""
        opps = self._opportunities_of(candidate_id)
        best = mapping.relevant_opportunity(opps)
        found: dict[str, str] = {}
        for opp in sorted(opps, key=lambda o: o is not best):
            for page in self.client.notes(str(opp["id"])):
                for note in page:
                    for marker in markers:
                        if marker not in found and mapping.note_has_marker(note, marker):
                            found[marker] = str(note.get("id") or opp["id"])
            if len(found) == len(set(markers)):
                break
        return found

    def delete_note(self, candidate_id: str, marker: str) -> str | None:
        """Delete the note with this marker from whichever opportunity of the person holds it (an erasure
        in the ATS, ``syncbridge forget --erase-in-ats``); returns its id, or None when there is none."""
        for opp in self._opportunities_of(candidate_id):
            for page in self.client.notes(str(opp["id"])):
                for note in page:
                    if mapping.note_has_marker(note, marker) and note.get("id"):
                        self.client.delete_note(str(opp["id"]), str(note["id"]), perform_as=self.perform_as())
                        return str(note["id"])
        return None

    def has_tags(self, candidate_id: str, tags: Sequence[str]) -> bool:
        """True when the person's opportunities hold them all (as :meth:`add_tags` decides)."""
        return all(t in self._tags_of(candidate_id)[1] for t in tags)

    # conversion: requisition → posting → a new opportunity on it → the prescreen note ------------------
    def find_user(self, email: str) -> str | None:
        """The active Lever user with this e-mail (``GET /users?email=``), e.g. the supervisor as hiring
        manager; None when the person is not a Lever user."""
        for user in self.client.users_by_email(email):
            if user.get("id") and not user.get("deactivatedAt"):
                return str(user["id"])
        return None

    def find_requisition(self, code: str) -> Requisition | None:
        """The requisition with this ``requisitionCode`` (open ones first, closed ones last), if any."""
        found = [r for r in self.client.requisitions_by_code(code) if r.get("requisitionCode") == code]
        order = {"open": 0, "onhold": 1, "draft": 2}
        found.sort(key=lambda r: order.get(str(r.get("status") or "").lower(), 3))
        return mapping.requisition_from_lever(found[0], self.name) if found else None

    def _requisition_fields(self) -> list[dict[str, Any]]:
        with self._schema_lock:
            if self._req_fields is None:
                self._req_fields = self.client.requisition_fields()
            return self._req_fields

    def _check_fields(self, fields: Mapping[str, Any], *, creating: bool) -> None:
        """Refuse, before sending anything, custom fields the account does not have (and, on create,
        required ones left empty), naming them."""
        if not fields and not creating:
            return
        schema = self._requisition_fields()
        unknown = mapping.unknown_requisition_fields(fields, schema)
        if unknown:
            known = ", ".join(sorted(str(f["id"]) for f in schema if f.get("id"))) or "none"
            raise InvalidRequest(
                f"requisition.fields: {', '.join(unknown)} not a Lever requisition field "
                f"(GET /requisition_fields has: {known})",
                connector=self.name,
            )
        missing = mapping.missing_required_fields(fields, schema) if creating else []
        if missing:
            raise InvalidRequest(
                f"requisition.fields: Lever requires {', '.join(missing)} on every requisition",
                connector=self.name,
            )

    def _closed(self, rec: Mapping[str, Any]) -> InvalidRequest:
        return InvalidRequest(
            f"requisition {rec.get('requisitionCode')} ({rec.get('id')}) is closed in Lever: reopen it, or "
            "change the rule's requisition code",
            connector=self.name,
        )

    def create_requisition(self, new: NewRequisition) -> Requisition:
        """``POST /requisitions``, then its posting (``POST /postings`` linked by ``requisitionCodes``, in
        ``options.posting_state``, draft by default).

        The code is looked up first (Lever does not document what a duplicate ``requisitionCode`` does): an
        open one is reused as it is, a closed one is an error that says so.  Custom fields are checked
        against ``GET /requisition_fields`` before anything is sent.  ``hiring_manager`` is a Lever user id,
        or an e-mail resolved with ``GET /users?email=`` (left out when nobody active has it: Lever wants
        no ``hiringManager`` for people who are not Lever users)."""
        mapping.initial_posting_state(new.options, self.name)
        if new.options.get("publish"):
            mapping.publish_target(new.options, self.name)  # a bad option fails before any write
        code = new.code
        found = [r for r in self.client.requisitions_by_code(code) if r.get("requisitionCode") == code]
        live = [r for r in found if not mapping.is_closed_requisition(r)]
        if live:
            log.info("%s: requisition %s exists (%s); reused", self.name, new.code, live[0].get("id"))
            return mapping.requisition_from_lever(live[0], self.name)
        if found:
            raise self._closed(found[0])
        self._check_fields(new.fields, creating=True)
        if new.hiring_manager and "@" in new.hiring_manager:  # a rule may name the manager by e-mail
            manager = self.find_user(new.hiring_manager)
            if manager is None:
                log.warning("%s: the hiring manager is not an active Lever user; left empty", self.name)
            new = new.model_copy(update={"hiring_manager": manager})
        body = mapping.new_requisition_body(new)
        try:
            created = self.client.create_requisition(body)
        except InvalidRequest as exc:
            # ``department`` is on read records but not among the documented write fields
            if "department" not in body or "department" not in str(exc).lower():
                raise
            body.pop("department")
            created = self.client.create_requisition(body)
        self._ensure_posting(created, new.options, description_html=new.description_html)
        return mapping.requisition_from_lever(created, self.name)

    def complete_requisition(self, requisition_id: str, new: NewRequisition) -> None:
        """After a crash: the requisition was found by its code; make sure its custom fields and its
        posting are there too (nothing is sent when they are)."""
        rec = self.client.requisition(requisition_id)
        if mapping.is_closed_requisition(rec):
            raise self._closed(rec)
        custom = rec.get("customFields")
        current: dict[str, Any] = custom if isinstance(custom, dict) else {}
        if any(current.get(k) != v for k, v in new.fields.items()):
            self._check_fields(new.fields, creating=False)
            rec = self.client.update_requisition(requisition_id, {"customFields": dict(new.fields)})
        self._ensure_posting(rec, new.options, description_html=new.description_html)

    def update_requisition(self, requisition_id: str, changes: Mapping[str, Any]) -> Requisition:
        return mapping.requisition_from_lever(
            self.client.update_requisition(requisition_id, changes), self.name
        )

    def _postings_of(self, rec: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The postings linked to a requisition: its ``postings`` ids; when it lists none, every posting
        whose ``requisitionCodes`` holds the code (one scan of ``GET /postings``, remembered per code)."""
        code = str(rec.get("requisitionCode") or "")
        ids = [str(p) for p in rec.get("postings") or [] if p]
        remembered = self._posting_ids.get(code)
        if remembered and remembered not in ids:
            ids.append(remembered)
        out: list[dict[str, Any]] = []
        for pid in ids:
            try:
                out.append(self.client.posting(pid))
            except NotFound:
                continue
        if out or not code:
            return out
        for page in self.client.postings():
            out.extend(p for p in page if code in (p.get("requisitionCodes") or []))
        return out

    def _posting_of(self, rec: Mapping[str, Any]) -> dict[str, Any] | None:
        chosen = mapping.choose_posting(self._postings_of(rec))
        return dict(chosen) if chosen is not None else None

    def _ensure_posting(
        self,
        rec: Mapping[str, Any],
        options: Mapping[str, Any],
        *,
        description_html: str | None = None,
    ) -> dict[str, Any]:
        """The requisition's posting; created when it has none.  Never a second posting for one
        requisition: the one that exists is returned whatever its state."""
        posting = self._posting_of(rec)
        if posting is not None:
            return posting
        return self._new_posting(rec, options, description_html=description_html)

    def _new_posting(
        self,
        rec: Mapping[str, Any],
        options: Mapping[str, Any],
        *,
        state: str | None = None,
        channels: Sequence[str] | None = None,
        description_html: str | None = None,
    ) -> dict[str, Any]:
        if channels is None and options.get("publish"):
            channels = mapping.publish_target(options, self.name)[1]  # listed there once published
        body = mapping.new_posting_body(
            rec,
            options,
            state=state or mapping.initial_posting_state(options, self.name),
            channels=channels,
            description_html=description_html,
        )
        posting = self.create_posting(body)
        self._posting_ids[str(rec["requisitionCode"])] = str(posting["id"])
        log.info("%s: posting %s made for requisition %s", self.name, posting["id"], rec["requisitionCode"])
        return posting

    def publish(self, requisition_id: str, options: Mapping[str, Any]) -> str:
        """The requisition's posting in the state ``options.publish`` names (``published`` or
        ``internal``) on the ``options.distribution`` channels; made there when the requisition has no
        posting yet.  A posting already more visible is left as it is."""
        state, channels = mapping.publish_target(options, self.name)
        rec = self.client.requisition(requisition_id)
        posting = self._posting_of(rec)
        if posting is None:
            return str(self._new_posting(rec, options, state=state, channels=channels)["id"])
        changes = mapping.publish_changes(posting, state, channels)
        if changes:
            self.update_posting(str(posting["id"]), changes)
        return str(posting["id"])

    def find_published(self, requisition_id: str, options: Mapping[str, Any]) -> str | None:
        state, channels = mapping.publish_target(options, self.name)
        posting = self._posting_of(self.client.requisition(requisition_id))
        if posting is not None and mapping.posting_is_published(posting, state, channels):
            return str(posting["id"])
        return None

    def create_posting(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """A posting (``state`` draft unless given); HTML reduced to Lever's whitelist first."""
        return self.client.create_posting(
            mapping.clean_posting(fields), perform_as=self.perform_as(required=True)
        )

    def update_posting(self, posting_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        return self.client.update_posting(
            posting_id, mapping.clean_posting(changes), perform_as=self.perform_as(required=True)
        )

    def _application(self, opp: Mapping[str, Any], posting_id: str) -> Application:
        app = mapping.application_from_opportunity(opp, self.name)
        return app.model_copy(update={"requisition_id": posting_id, "prospect": False})

    def find_application(self, candidate_id: str, requisition_id: str) -> Application | None:
        """The person's opportunity on any posting of the requisition (an active one first)."""
        postings = {str(p["id"]): p for p in self._postings_of(self.client.requisition(requisition_id))}
        if not postings:
            return None
        opp = mapping.opportunity_on(self._opportunities_of(candidate_id), set(postings))
        if opp is None:
            return None
        posting = next(iter(mapping.opportunity_postings(opp) & set(postings)))
        return self._application(opp, posting)

    def attach(self, candidate_id: str, requisition_id: str, *, stage: str | None = None) -> Application:
        """A NEW opportunity for the contact on the requisition's posting (``POST /opportunities`` with
        ``contact`` and ``postings``), unless the contact already has one on a posting of that requisition,
        which is returned instead (every POST makes a new opportunity in Lever).  A requisition without a
        posting (one opened by hand) gets a draft posting first."""
        rec = self.client.requisition(requisition_id)
        if mapping.is_closed_requisition(rec):
            raise self._closed(rec)
        postings = self._postings_of(rec)
        opps = self._opportunities_of(candidate_id)
        ids = {str(p["id"]) for p in postings}
        existing = mapping.opportunity_on(opps, ids) if ids else None
        if existing is not None:
            return self._application(existing, next(iter(mapping.opportunity_postings(existing) & ids)))
        chosen = mapping.choose_posting(postings)
        posting = dict(chosen) if chosen is not None else self._new_posting(rec, {}, state="draft")
        body: dict[str, Any] = {"postings": [str(posting["id"])], "origin": self.cfg.new_candidate_origin}
        if opps and opps[0].get("contact"):
            body["contact"] = mapping.contact_id(opps[0])
        elif opps:  # a person known only by an opportunity without a contact id: Lever dedupes by e-mail
            body["emails"] = mapping.opportunity_emails(opps[0])
            body["name"] = opps[0].get("name") or ""
        else:
            body["contact"] = candidate_id
        if stage:
            body["stage"] = stage
        if self.cfg.new_candidate_source:
            body["sources"] = [self.cfg.new_candidate_source]
        opp = self.client.create_opportunity(body, perform_as=self.perform_as(required=True))
        return self._application(opp, str(posting["id"]))

    def write_prescreen(self, application_id: str, prescreen: Prescreen) -> str:
        """A note on the opportunity: the evaluation summary, the rule's prescreen fields as text (Lever has
        no custom-field API for opportunities) and the marker; ``score`` from the prescreen score (1-4).
        Returns the note id; a note already carrying the marker is returned instead."""
        existing = self.find_prescreen(application_id, prescreen)
        if existing is not None:
            return existing
        text = mapping.prescreen_note_text(prescreen.summary_text, prescreen.fields, prescreen.marker)
        score = None
        if self.cfg.score_from_rating:
            score = mapping.prescreen_score(prescreen.score, prescreen.max_score)
        note_id = self.client.add_note(
            application_id, text, perform_as=self.perform_as(), secret=self.cfg.note_secret, score=score
        )
        return note_id or application_id

    def find_prescreen(self, application_id: str, prescreen: Prescreen) -> str | None:
        for page in self.client.notes(application_id):
            for note in page:
                if mapping.note_has_marker(note, prescreen.marker):
                    return str(note.get("id") or application_id)
        return None

    def close(self) -> None:
        self.client.close()
        if self.tokens is not None:
            self.tokens.close()
