"""The Lever Data API v1 connector.

Identity: ``Candidate.ref.id`` is the Lever **contact** (the person).  Reads go through opportunities
(``expand=applications&expand=stage&confidentiality=all``); writes go to the contact's most relevant
opportunity: the open (not archived) one updated last, else the latest one.

Custom fields: Lever has no custom-field API for candidates or opportunities (only requisitions have
``customFields``), so this connector does **not** declare ``set_fields``; the planner reports the gap
(``cannot set fields``) and the values stay readable in the history note.
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
from syncbridge.model import Candidate, NewCandidate, NewRequisition, Note, Requisition

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
    new_candidate_source: str | None = Field(default=None, description="a source added to created people")
    # reads
    page_size: int = Field(default=100, ge=1, le=100)
    window_days: int = Field(default=30, ge=1, description="incremental reads are split in windows this long")
    max_offset_restarts: int = Field(default=3, ge=0, le=10)
    # transport
    connect_timeout: float = Field(default=5.0, gt=0)
    read_timeout: float = Field(default=60.0, gt=0)
    max_attempts: int = Field(default=6, ge=1, le=20)
    backoff_base: float = Field(default=0.5, gt=0, le=60)

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
    settings_model = LeverSettings
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.read_candidates,
            Capability.read_requisitions,
            Capability.find_candidates,
            Capability.create_candidate,
            Capability.add_note,
            Capability.add_tags,
        }
    )
    streams = (
        StreamSpec("candidates", "candidate"),
        StreamSpec("applications", "application"),
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
            if settings.oauth:
                self.tokens = LeverOAuthTokens(
                    settings.oauth_token_url(),
                    _secret(settings.client_id),
                    _secret(settings.client_secret),
                    _secret(settings.refresh_token),
                    state=self.state,
                    connector=name,
                    timeout=(settings.connect_timeout, settings.read_timeout),
                    sleep=sleep,
                )
            api = build_api(
                settings.api_url(),
                connector=name,
                limiter=self.limiter,
                api_key=None if settings.oauth else _secret(settings.api_key),
                tokens=self.tokens,
                timeout=(settings.connect_timeout, settings.read_timeout),
                max_attempts=settings.max_attempts,
                backoff_base=settings.backoff_base,
                sleep=sleep,
                session=session,
            )
            client = LeverClient(api, page_size=settings.page_size, max_restarts=settings.max_offset_restarts)
        self.client = client
        self._perform_as: str | None = settings.perform_as
        self._perform_as_lock = threading.Lock()

    # reads ------------------------------------------------------------------------------------------
    def read(self, stream: str, window: Window) -> Iterator[Sequence[Record]]:
        if stream == "candidates":
            yield from self._read_candidates(window)
        elif stream == "applications":
            for page in self._opportunity_pages(window):
                yield [mapping.application_from_opportunity(o, self.name) for o in page if o.get("id")]
        elif stream == "deleted_opportunities":
            yield from self._read_deleted(window)
        elif stream == "requisitions":
            for page in self.client.paginate("requisitions", {"confidentiality": "all"}):
                yield [
                    mapping.requisition_from_lever(r, self.name)
                    for r in page
                    if r.get("id") and mapping.in_window(r, window.since, window.until)
                ]
        elif stream == "postings":
            params: dict[str, Any] = {"confidentiality": "all"}
            if window.since is not None:  # only confidentiality may be combined with updated_at_*
                params["updated_at_start"] = mapping.to_ms(window.since)
                params["updated_at_end"] = mapping.to_ms(window.until)
            yield from self.client.paginate("postings", params)
        elif stream == "users":
            yield from self.client.paginate("users", {"includeDeactivated": "true"})
        elif stream in ("stages", "requisition_fields"):
            yield from self.client.paginate(stream)
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

    def _opportunity_pages(self, window: Window) -> Iterator[list[dict[str, Any]]]:
        """Opportunity pages of a window.

        Incremental (``since`` set): ``updated_at_start/_end`` in windows of ``window_days``, so a refused
        offset token only re-reads one window.  Full read (``since`` None): by ``created_at_end`` with no
        update filter, which is also the backfill of old opportunities whose ``updatedAt`` is null (an
        ``updated_at`` filter never returns those).  Run a full sync now and then
        (``syncbridge sync --full``).
        """
        if window.since is None:
            yield from self.client.opportunities({"created_at_end": mapping.to_ms(window.until)})
            return
        for start, end in self._windows(window):
            yield from self.client.opportunities({"updated_at_start": start, "updated_at_end": end})

    def _read_candidates(self, window: Window) -> Iterator[list[Candidate]]:
        seen: OrderedDict[str, Candidate] = OrderedDict()
        for page in self._opportunity_pages(window):
            out = []
            for cand in mapping.candidates_from_page(page, self.name):
                key = cand.ref.id
                if key in seen:
                    cand = mapping.merge_candidates(seen.pop(key), cand)
                seen[key] = cand
                if len(seen) > CONTACT_CACHE_SIZE:
                    seen.popitem(last=False)
                out.append(cand)
            yield out

    def _read_deleted(self, window: Window) -> Iterator[list[Candidate]]:
        """Deleted opportunities → the contacts they belonged to: refreshed from the opportunities they
        still have, or marked ``deleted`` when none is left (then matching ignores them)."""
        params: dict[str, Any] = {"deleted_at_end": mapping.to_ms(window.until)}
        if window.since is not None:
            params["deleted_at_start"] = mapping.to_ms(window.since)
        for page in self.client.paginate("opportunities/deleted", params):
            groups = mapping.group_by_contact(page)
            remaining = self._opportunities_of_contacts(list(groups))
            out = []
            for contact, deleted in groups.items():
                left = remaining.get(contact)
                if left:
                    out.append(mapping.candidate_from_opportunities(left, self.name))
                else:
                    gone = mapping.candidate_from_opportunities(deleted, self.name)
                    out.append(gone.model_copy(update={"deleted": True}))
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

    def add_tags(self, candidate_id: str, tags: Sequence[str]) -> None:
        opp = self.target_opportunity(candidate_id)
        present = set(opp.get("tags") or [])
        missing = [t for t in dict.fromkeys(tags) if t not in present]
        if missing:
            self.client.add_tags(str(opp["id"]), missing, perform_as=self.perform_as())

    # reconciliation ---------------------------------------------------------------------------------
    def find_note(self, candidate_id: str, marker: str) -> str | None:
        """Search every opportunity of the person (the relevant one first): the target may have changed
        between the lost answer and now."""
        opps = self._opportunities_of(candidate_id)
        best = mapping.relevant_opportunity(opps)
        ordered = sorted(opps, key=lambda o: o is not best)
        for opp in ordered:
            for page in self.client.notes(str(opp["id"])):
                for note in page:
                    if mapping.note_has_marker(note, marker):
                        return str(note.get("id") or opp["id"])
        return None

    def has_tags(self, candidate_id: str, tags: Sequence[str]) -> bool:
        """True when the opportunity :meth:`add_tags` writes to holds them all (adding again is harmless,
        so a "no" is never costly)."""
        opp = self.target_opportunity(candidate_id)
        present = set(opp.get("tags") or [])
        return all(t in present for t in tags)

    # requisitions and postings (for the conversion work; the planner does not call these yet) -------
    def find_requisition(self, code: str) -> Requisition | None:
        """The requisition with this ``requisitionCode`` (open ones first), if any."""
        found = [r for r in self.client.requisitions_by_code(code) if r.get("requisitionCode") == code]
        found.sort(key=lambda r: r.get("status") != "open")
        return mapping.requisition_from_lever(found[0], self.name) if found else None

    def create_requisition(self, new: NewRequisition) -> Requisition:
        """``POST /requisitions`` from the common model; an existing requisition with the same code is
        returned instead (Lever does not document what a duplicate ``requisitionCode`` does)."""
        existing = self.find_requisition(new.code)
        if existing is not None:
            return existing
        body = mapping.new_requisition_body(new)
        try:
            created = self.client.create_requisition(body)
        except InvalidRequest as exc:
            # ``department`` is on read records but not among the documented write fields
            if "department" not in body or "department" not in str(exc).lower():
                raise
            body.pop("department")
            created = self.client.create_requisition(body)
        return mapping.requisition_from_lever(created, self.name)

    def update_requisition(self, requisition_id: str, changes: Mapping[str, Any]) -> Requisition:
        return mapping.requisition_from_lever(
            self.client.update_requisition(requisition_id, changes), self.name
        )

    def create_posting(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """A posting (``state`` draft unless given); HTML reduced to Lever's whitelist first."""
        return self.client.create_posting(
            mapping.clean_posting(fields), perform_as=self.perform_as(required=True)
        )

    def update_posting(self, posting_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        return self.client.update_posting(
            posting_id, mapping.clean_posting(changes), perform_as=self.perform_as(required=True)
        )

    def close(self) -> None:
        self.client.close()
        if self.tokens is not None:
            self.tokens.close()
