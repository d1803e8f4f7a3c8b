"""The common model: what every connector reads into and writes from.

All models are frozen pydantic v2 models.  Vendor records keep their original payload in ``raw`` so
nothing the vendor sent is lost by the mapping, but the rest of syncbridge only looks at the typed fields.

Identity vocabulary (it matters for Lever, where a *contact* is the person and an *opportunity* one
candidacy): ``Candidate.ref`` is always the **person** the connector writes history to.  ``Application``
is one candidacy on one requisition (a Greenhouse application, a Lever opportunity, a Workday job
application).
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SkipValidation, field_validator

#: a vendor's original record, kept as the connector's mapping gave it (a dict it built for the purpose):
#: not re-validated, because checking and copying every key of every record was a quarter of the
#: model-building cost of a sync
Raw = SkipValidation[dict[str, Any]]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def normalize_email(value: str | None) -> str | None:
    """Trim and lowercase an e-mail address; ``None`` when it is empty or not an address.

    Vendor-specific rules (gmail dots, plus-addressing) are deliberately *not* applied: no ATS we
    support documents them, and folding two real people into one would write history to the wrong one.
    """
    if value is None:
        return None
    cleaned = value.strip().lower()
    if not cleaned or "@" not in cleaned or cleaned.startswith("@") or cleaned.endswith("@"):
        return None
    return cleaned


class Ref(Frozen):
    """A pointer to one vendor record: which connector, which kind, which id."""

    connector: str
    kind: Literal["candidate", "contact", "application", "requisition", "posting", "note", "user", "other"]
    id: str

    def __str__(self) -> str:
        return f"{self.connector}:{self.kind}:{self.id}"


class Email(Frozen):
    value: str
    type: str | None = None

    @property
    def normalized(self) -> str | None:
        return normalize_email(self.value)


class Phone(Frozen):
    value: str
    type: str | None = None


class Application(Frozen):
    ref: Ref
    candidate_id: str
    requisition_id: str | None = None
    status: str | None = None
    stage: str | None = None
    prospect: bool = False
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    raw: Raw = Field(default_factory=dict, repr=False)


class Candidate(Frozen):
    ref: Ref
    first_name: str | None = None
    last_name: str | None = None
    emails: tuple[Email, ...] = ()
    phones: tuple[Phone, ...] = ()
    tags: tuple[str, ...] = ()
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    application_ids: tuple[str, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None
    deleted: bool = False
    raw: Raw = Field(default_factory=dict, repr=False)

    @property
    def normalized_emails(self) -> list[str]:
        """Normalized, de-duplicated e-mails, primary (first) one first."""
        seen: list[str] = []
        for e in self.emails:
            n = e.normalized
            if n and n not in seen:
                seen.append(n)
        return seen

    @property
    def display_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p) or f"#{self.ref.id}"


class Requisition(Frozen):
    ref: Ref
    name: str
    code: str | None = None
    status: str | None = None
    is_template: bool = False
    department: str | None = None
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    raw: Raw = Field(default_factory=dict, repr=False)


# --- micro-internship outcomes ------------------------------------------------------------------


class Person(Frozen):
    email: str
    first_name: str
    last_name: str
    phone: str | None = None
    school: str | None = None
    graduation_date: date | None = None  # expected; early-talent nurture rules look at it

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        n = normalize_email(v)
        if n is None:
            raise ValueError(f"not an e-mail address: {v!r}")
        return n

    @field_validator("first_name", "last_name")
    @classmethod
    def _name(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("must not be empty")
        return v


class Supervisor(Frozen):
    name: str
    email: str | None = None
    title: str | None = None


class ProjectStatus(StrEnum):
    completed = "completed"
    in_progress = "in_progress"
    withdrawn = "withdrawn"


class MicroInternship(Frozen):
    project_id: str
    title: str
    employer: str
    role_title: str | None = None
    team: str | None = None
    supervisor: Supervisor | None = None
    start_date: date
    end_date: date
    status: ProjectStatus = ProjectStatus.completed
    hours: float | None = Field(default=None, ge=0)


class Skill(Frozen):
    name: str
    level: int = Field(ge=1, le=5)


class Evaluation(Frozen):
    rating: float = Field(ge=1, le=5)
    would_hire: bool
    skills: tuple[Skill, ...] = ()
    comments: str | None = None
    deliverables: tuple[str, ...] = ()
    submitted_at: datetime | None = None


class Outcome(Frozen):
    """One finished micro-internship with the supervisor's evaluation."""

    outcome_id: str
    student: Person
    project: MicroInternship
    evaluation: Evaluation

    @property
    def employer(self) -> str:
        return self.project.employer

    def content_hash(self) -> str:
        """A stable digest of the outcome's content (used to spot a re-used id with new content)."""
        data = self.model_dump(mode="json")
        if data["student"].get("graduation_date") is None:
            # added later: leaving it out when absent keeps the digest (and so the idempotency keys of
            # every write made before) unchanged for outcomes that do not carry it
            data["student"].pop("graduation_date", None)
        payload = json.dumps(data, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


# --- writes ---------------------------------------------------------------------------------------


class Note(Frozen):
    """A note to write on a candidate.  ``marker`` is embedded in the body so that a crashed write can
    be found again (reconciliation) even though no ATS offers an idempotency key for notes."""

    subject: str
    text: str
    html: str | None = None
    marker: str
    score: float | None = None

    def body_text(self) -> str:
        return f"{self.text}\n\n[{self.marker}]"


class NewCandidate(Frozen):
    first_name: str
    last_name: str
    email: str
    phone: str | None = None
    tags: tuple[str, ...] = ()
    source: str | None = None


class NewRequisition(Frozen):
    """A requisition (Greenhouse job, Lever requisition + posting, Workday job requisition) to open.

    ``code`` is deterministic from the outcome's team and role, so it is both the idempotency marker
    (reconciliation finds the requisition by it) and the key for reusing an open requisition.
    """

    code: str
    title: str
    openings: int = 1
    team: str | None = None
    department: str | None = None
    location: str | None = None
    hiring_manager: str | None = None  # the ATS user id
    description_html: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)  # vendor specifics from the rule


class SkillResult(Frozen):
    skill: str
    level: int
    max_level: int = 5


class Prescreen(Frozen):
    """What a recruiter needs to treat the micro-intern as already screened: an assessment-style result
    (score out of a maximum, per-skill sub-results, the supervisor's recommendation, the deliverables)
    plus the field values the rule maps onto the application."""

    outcome_id: str
    score: float
    max_score: float = 5.0
    recommendation: str
    skills: tuple[SkillResult, ...] = ()
    deliverables: tuple[str, ...] = ()
    summary_text: str
    summary_html: str
    fields: dict[str, Any] = Field(default_factory=dict)
    marker: str
    stage: str | None = None
