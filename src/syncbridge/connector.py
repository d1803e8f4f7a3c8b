"""The connector contract and the registry.

A connector turns one vendor's API into the common model and performs the writes the planner asks for.
It declares its :class:`Capability` set; the planner never plans an action the connector cannot do and
says so in the plan instead.

Connectors are found through the ``syncbridge.connectors`` entry-point group (name → class, see
:mod:`syncbridge.plugins`), so a third party can ship one as its own distribution; the built-in ones are
declared the same way.
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field

from syncbridge.errors import ConfigError
from syncbridge.http import HttpSettings
from syncbridge.model import (
    Application,
    Candidate,
    NewCandidate,
    NewRequisition,
    Note,
    Prescreen,
    Requisition,
)
from syncbridge.records import Refused
from syncbridge.webhook_reader import WebhookReader


class Capability(StrEnum):
    read_candidates = "read_candidates"
    read_requisitions = "read_requisitions"
    find_candidates = "find_candidates"
    create_candidate = "create_candidate"
    add_note = "add_note"
    add_tags = "add_tags"
    set_fields = "set_fields"
    create_requisition = "create_requisition"
    publish = "publish"
    attach = "attach"
    prescreen = "prescreen"
    nurture = "nurture"


Entity = Literal["candidate", "application", "requisition", "other"]
Record: TypeAlias = Candidate | Application | Requisition | dict[str, Any] | Refused


@dataclass(frozen=True)
class StreamSpec:
    """One readable stream: its name, which common-model entity its records are, and whether the
    vendor can filter it by update time (otherwise every sync is a full scan).

    ``covered_by`` names another stream whose pages already carry this stream's records (Lever: reading
    opportunities yields the people and their applications at once).  A sync that reads that stream
    skips this one instead of reading the same pages twice; this one still works on its own."""

    name: str
    entity: Entity
    incremental: bool = True
    covered_by: str | None = None


@dataclass(frozen=True)
class Window:
    """An update-time window ``[since, until]``; ``since=None`` means a full read."""

    since: datetime | None
    until: datetime


class SharedRateLimit(BaseModel):
    """``shared_rate_limit``: every process whose connector names the same limit shares one budget of
    ``requests`` per ``per_seconds`` through the state store (see :mod:`syncbridge.sharedlimit`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    name: str = Field(
        min_length=1,
        max_length=200,
        description="the vendor account's limit, the same in every process that uses these credentials",
    )
    requests: int = Field(ge=2, le=1_000_000, description="the vendor's limit: requests per window")
    per_seconds: float = Field(gt=0, le=86_400, description="the window of that limit, in seconds")


class ConnectorSettings(HttpSettings):
    """Base of every connector's settings block in the YAML (``connectors.<name>``): the vendor's keys, these
    and the transport's (:class:`~syncbridge.http.HttpSettings`), all flat in the block."""

    type: str
    lookback_minutes: int = Field(default=10, ge=0, le=7 * 24 * 60)
    page_size: int | None = Field(default=None, ge=1)
    write_parallelism: int = Field(
        default=1,
        ge=1,
        le=32,
        description="history writes (notes, tags, fields) to different people sent at once; "
        "the connector's rate limit still applies",
    )
    shared_rate_limit: SharedRateLimit | None = Field(
        default=None,
        description="share one vendor limit with other workers through the state store (default off)",
    )


class StateStore:
    """Small key/value persistence a connector may use (e.g. a rotated OAuth refresh token)."""

    def get(self, key: str) -> str | None:  # pragma: no cover - interface
        raise NotImplementedError

    def set(self, key: str, value: str) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class MemoryState(StateStore):
    def __init__(self) -> None:
        self._data: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        return self._data.get(key)

    def set(self, key: str, value: str) -> None:
        self._data[key] = value


class Connector(ABC):
    """What every vendor connector implements.  Candidate ids are the id of the *person* record that
    history is written to (Greenhouse candidate, Lever contact, Workday candidate)."""

    type: ClassVar[str]
    settings_model: ClassVar[builtins.type[ConnectorSettings]]
    capabilities: ClassVar[frozenset[Capability]]
    streams: ClassVar[tuple[StreamSpec, ...]]
    #: the marker-friendly name of the place a note lands, for the plan ("note", "attachment")
    note_kind: ClassVar[str] = "note"
    #: True when every write goes through :class:`syncbridge.http.ApiClient`, which counts them
    #: (:mod:`syncbridge.writes`): then a write call that sent nothing is recorded as reconciled
    writes_counted: ClassVar[bool] = False
    #: how the vendor's webhooks are signed and what they mean; None: it sends none syncbridge reads
    webhooks: ClassVar[WebhookReader | None] = None
    #: the vendor calls syncbridge as an assessment partner (:mod:`syncbridge.assessment`)
    assessment_partner: ClassVar[bool] = False
    #: how to finish erasing a person in this ATS (``syncbridge forget`` prints it); syncbridge never
    #: deletes there on its own
    erasure_route: ClassVar[str | None] = None
    #: action kinds whose ATS records syncbridge can delete itself (``forget --erase-in-ats``)
    deletable_writes: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, name: str, settings: ConnectorSettings, *, state: StateStore | None = None) -> None:
        self.name = name
        self.settings = settings
        self.state = state or MemoryState()

    # reads ------------------------------------------------------------------------------------------
    @abstractmethod
    def read(self, stream: str, window: Window) -> Iterator[Sequence[Record]]:
        """Yield pages of records of ``stream`` updated inside ``window`` (memory bounded by a page)."""

    @abstractmethod
    def find_candidates(self, email: str) -> list[Candidate]:
        """Every person whose any e-mail matches (case-insensitive)."""

    @abstractmethod
    def get_candidate(self, candidate_id: str) -> Candidate:
        """The current state of one person (used to merge lists before a replace-all write)."""

    # writes -----------------------------------------------------------------------------------------
    def create_candidate(self, new: NewCandidate) -> Candidate:
        raise NotImplementedError(f"{self.type} cannot create candidates")

    def add_note(self, candidate_id: str, note: Note) -> str:
        raise NotImplementedError(f"{self.type} cannot add notes")

    def add_tags(self, candidate_id: str, tags: Sequence[str]) -> None:
        raise NotImplementedError(f"{self.type} cannot add tags")

    def set_fields(self, candidate_id: str, fields: Mapping[str, Any]) -> None:
        raise NotImplementedError(f"{self.type} cannot set fields")

    # conversion: open a role, post it, put the person on it with the prescreen ----------------------
    def find_requisition(self, code: str) -> Requisition | None:
        """The requisition carrying ``code`` (open ones first), if any: reuse and reconciliation."""
        raise NotImplementedError(f"{self.type} cannot search requisitions")

    def create_requisition(self, new: NewRequisition) -> Requisition:
        raise NotImplementedError(f"{self.type} cannot create requisitions")

    def complete_requisition(self, requisition_id: str, new: NewRequisition) -> None:
        """Finish a requisition found by reconciliation (idempotent follow-up writes, e.g. custom fields)."""
        return None

    def publish(self, requisition_id: str, options: Mapping[str, Any]) -> str:
        """Make the requisition's posting live where ``options`` say; returns the posting id."""
        raise NotImplementedError(f"{self.type} cannot publish")

    def find_published(self, requisition_id: str, options: Mapping[str, Any]) -> str | None:
        raise NotImplementedError(f"{self.type} cannot search postings")

    def nurture(self, candidate_id: str, nurture: Mapping[str, Any]) -> str:
        """Make the person a nurtured prospect (early talent): the vendor's prospect pool/stage or lead
        stage, the tags and the follow-up date (``nurture`` = the plan's payload); returns a ref."""
        raise NotImplementedError(f"{self.type} cannot nurture prospects")

    def find_nurture(self, candidate_id: str, nurture: Mapping[str, Any]) -> str | None:
        """The ref when the person already is the nurtured prospect ``nurture`` describes."""
        raise NotImplementedError(f"{self.type} cannot search prospects")

    def account_problems(self, rule_options: Sequence[Mapping[str, Any]]) -> list[str]:
        """Problems with this connector's settings and its conversion rules' ``requisition.options`` that
        only the account can tell (e.g. a job board that is unknown, ambiguous or not live, a source that
        does not exist); ``syncbridge validate --online`` shows them, one line each."""
        return []

    def attach(self, candidate_id: str, requisition_id: str, *, stage: str | None = None) -> Application:
        """Put the person on the requisition (a new application/candidacy); idempotent where possible."""
        raise NotImplementedError(f"{self.type} cannot attach candidates")

    def find_application(self, candidate_id: str, requisition_id: str) -> Application | None:
        raise NotImplementedError(f"{self.type} cannot search applications")

    def write_prescreen(self, application_id: str, prescreen: Prescreen) -> str:
        """Fill the prescreen data on the application (fields, summary document/note); returns a ref."""
        raise NotImplementedError(f"{self.type} cannot write prescreen data")

    def find_prescreen(self, application_id: str, prescreen: Prescreen) -> str | None:
        raise NotImplementedError(f"{self.type} cannot search prescreen data")

    def complete_prescreen(self, application_id: str, prescreen: Prescreen) -> None:
        """Finish prescreen data found by reconciliation (idempotent follow-up writes such as fields)."""
        return None

    def find_user(self, email: str) -> str | None:
        """The ATS user id of a colleague by e-mail (hiring manager = the supervisor when possible)."""
        return None

    # reconciliation ---------------------------------------------------------------------------------
    def find_note(self, candidate_id: str, marker: str) -> str | None:
        """The id of the note (or attachment) on the person whose body holds ``marker``, if any."""
        raise NotImplementedError(f"{self.type} cannot search notes")

    def find_notes(self, candidate_id: str, markers: Sequence[str]) -> dict[str, str]:
        """Marker → note id for each of ``markers`` found on the person.  The applier calls it once per
        person before writing notes that have no ledger entry (a new state store), so a connector should
        answer with one read of the person's notes; this default asks :meth:`find_note` per marker."""
        found: dict[str, str] = {}
        for marker in markers:
            ref = self.find_note(candidate_id, marker)
            if ref is not None:
                found[marker] = ref
        return found

    def has_tags(self, candidate_id: str, tags: Sequence[str]) -> bool:
        current = set(self.get_candidate(candidate_id).tags)
        return all(t in current for t in tags)

    def has_fields(self, candidate_id: str, fields: Mapping[str, Any]) -> bool:
        return fields_present(self.get_candidate(candidate_id).custom_fields, fields)

    def check(self) -> dict[str, Any]:
        """A cheap authenticated call proving the credentials work (``syncbridge validate --online``)."""
        return {}

    def close(self) -> None:  # pragma: no cover - default
        return None

    def stream(self, name: str) -> StreamSpec:
        for spec in self.streams:
            if spec.name == name:
                return spec
        raise KeyError(name)


def fields_present(current: Mapping[str, Any], fields: Mapping[str, Any]) -> bool:
    """Whether ``current`` (a person's custom fields) already holds every value of ``fields``."""
    return all(_same_value(current.get(k), v) for k, v in fields.items())


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, float | int) and isinstance(b, float | int) and not isinstance(a, bool):
        return float(a) == float(b)
    return bool(a == b)


def connector_types() -> dict[str, str]:
    """Known connector types → ``module:Class``, from the ``syncbridge.connectors`` entry points."""
    from syncbridge.plugins import vendors

    return {name: v.connector_target for name, v in vendors().items()}


def connector_class(type_name: str) -> type[Connector]:
    from syncbridge.plugins import vendor

    found = vendor(type_name)
    try:
        return found.connector_class()
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"connector type {type_name!r} is not installed: {exc}") from exc
