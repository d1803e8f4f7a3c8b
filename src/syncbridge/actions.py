"""The writes syncbridge makes: one typed model per kind, and one table of how each kind is sent.

An action is one write to one ATS.  Each kind is a pydantic model with a typed ``payload``
(:class:`AddNote` carries a :class:`NotePayload`, :class:`CreateRequisition` a
:class:`~syncbridge.model.NewRequisition`, ...); :data:`Action` is their union, discriminated by
``kind``.  :data:`KINDS` says per kind what the rest of syncbridge needs to know: the capability a
connector must have for it, the connector call that makes the write, the call that finds it already
made (reconciliation), and the few facts the applier, the parallel lanes and the privacy tools go by.
A new kind of write is one model, its two calls and one entry in :data:`KINDS`.

The serialised form is fixed: ``model_dump()`` is what ``syncbridge plan --json`` prints and
:meth:`BaseAction.stored_payload` what the ledger keeps, both exactly as they were when payloads were
plain dicts, so state stores written by earlier versions keep working (``tests/test_plan_golden.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Generic, Literal, Self, TypeAlias, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from syncbridge.connector import Capability, Connector
from syncbridge.model import Candidate, NewCandidate, NewRequisition, Note, Prescreen, Requisition
from syncbridge.safety import sanitise_payload


@dataclass(frozen=True)
class Refs:
    """The ids an action writes to, resolved from the plan or from the ledger of the actions before it."""

    person: str | None = None
    requisition: str | None = None
    application: str | None = None

    @property
    def person_id(self) -> str:
        assert self.person is not None, "no person to write to"
        return self.person

    @property
    def requisition_id(self) -> str:
        assert self.requisition is not None, "no requisition to write to"
        return self.requisition

    @property
    def application_id(self) -> str:
        assert self.application is not None, "no application to write to"
        return self.application


class Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BaseAction(BaseModel):
    """What every action has.  The fields and their order are the serialised form: do not reorder."""

    model_config = ConfigDict(frozen=True)

    key: str
    connector: str
    kind: str
    outcome_id: str
    target: str | None  # the person's id; None until the create_candidate it depends on is done
    depends_on: str | None = None
    requisition: str | None = None  # conversion: the requisition id, when it already exists
    requisition_from: str | None = None  # ... else the key of the create_requisition that makes it
    application_from: str | None = None  # prescreen: the key of the attach that makes the application
    payload: BaseModel
    summary: str  # one line for the plan table, with no personal data
    #: payload keys whose text started like a spreadsheet formula (neutralised unless the config says not)
    formulas: tuple[str, ...] = ()

    @property
    def marker(self) -> str:
        return f"syncbridge:{self.key}"

    @property
    def application(self) -> str | None:
        """The application written to, when the plan already knows it (see :class:`WritePrescreen`)."""
        return None

    def stored_payload(self) -> dict[str, Any]:
        """The payload as the ledger keeps it."""
        return self.payload.model_dump(mode="json")

    def sanitised(self, *, neutralise_formulas: bool) -> Self:
        """This action with every free-text value of its payload cleaned (:mod:`syncbridge.safety`),
        and the keys whose text looked like a formula in ``formulas``; itself when there was none."""
        payload, formulas = sanitise_payload(self.payload, neutralise_formulas=neutralise_formulas)
        if payload is self.payload and not formulas:
            return self
        return self.model_copy(update={"payload": payload, "formulas": tuple(formulas)})

    @classmethod
    def listed(cls, stored: Mapping[str, Any]) -> dict[str, Any]:
        """What an erasure report lists of a stored payload of this kind (names, never values)."""
        return {}


# --- the kinds, in the order the applier runs them (later kinds may depend on earlier ones) ---------


class PersonPayload(Payload):
    first_name: str
    last_name: str
    email: str
    phone: str | None
    tags: list[str]


class CreateCandidate(BaseAction):
    kind: Literal["create_candidate"] = "create_candidate"
    payload: PersonPayload


def _create_candidate(c: Connector, a: CreateCandidate, _r: Refs) -> Candidate:
    p = a.payload
    return c.create_candidate(
        NewCandidate(
            first_name=p.first_name, last_name=p.last_name, email=p.email, phone=p.phone, tags=tuple(p.tags)
        )
    )


def _find_candidate(c: Connector, a: CreateCandidate, _r: Refs) -> str | None:
    found = c.find_candidates(a.payload.email)
    return found[0].ref.id if len(found) == 1 else None


class NotePayload(Payload):
    subject: str
    text: str
    score: float | None
    evaluation: dict[str, Any]  # what the note was written from (syncbridge.corrections.snapshot)


class AddNote(BaseAction):
    kind: Literal["add_note"] = "add_note"
    payload: NotePayload

    def note(self) -> Note:
        p = self.payload
        return Note(subject=p.subject, text=p.text, marker=self.marker, score=p.score)


def _add_note(c: Connector, a: AddNote, r: Refs) -> str:
    return c.add_note(r.person_id, a.note()) or r.person_id


def _find_note(c: Connector, a: AddNote, r: Refs) -> str | None:
    return c.find_note(r.person, a.marker) if r.person is not None else None


class TagsPayload(Payload):
    tags: list[str]


class AddTags(BaseAction):
    kind: Literal["add_tags"] = "add_tags"
    payload: TagsPayload

    @classmethod
    def listed(cls, stored: Mapping[str, Any]) -> dict[str, Any]:
        return {"tags": list(stored.get("tags") or [])}


def _add_tags(c: Connector, a: AddTags, r: Refs) -> str:
    c.add_tags(r.person_id, a.payload.tags)
    return r.person_id


def _find_tags(c: Connector, a: AddTags, r: Refs) -> str | None:
    return r.person if r.person is not None and c.has_tags(r.person, a.payload.tags) else None


class FieldsPayload(Payload):
    fields: dict[str, Any]


class SetFields(BaseAction):
    kind: Literal["set_fields"] = "set_fields"
    payload: FieldsPayload

    @classmethod
    def listed(cls, stored: Mapping[str, Any]) -> dict[str, Any]:
        return {"fields": sorted((stored.get("fields") or {}).keys())}


def _set_fields(c: Connector, a: SetFields, r: Refs) -> str:
    c.set_fields(r.person_id, a.payload.fields)
    return r.person_id


def _find_fields(c: Connector, a: SetFields, r: Refs) -> str | None:
    return r.person if r.person is not None and c.has_fields(r.person, a.payload.fields) else None


class CreateRequisition(BaseAction):
    kind: Literal["create_requisition"] = "create_requisition"
    payload: NewRequisition


def _create_requisition(c: Connector, a: CreateRequisition, _r: Refs) -> Requisition:
    return c.create_requisition(a.payload)


def _find_requisition(c: Connector, a: CreateRequisition, _r: Refs) -> str | None:
    req = c.find_requisition(a.payload.code)
    if req is None:
        return None
    c.complete_requisition(req.ref.id, a.payload)
    return req.ref.id


class PublishPayload(Payload):
    options: dict[str, Any]


class Publish(BaseAction):
    kind: Literal["publish"] = "publish"
    payload: PublishPayload


def _publish(c: Connector, a: Publish, r: Refs) -> str:
    return c.publish(r.requisition_id, a.payload.options)


def _find_published(c: Connector, a: Publish, r: Refs) -> str | None:
    return c.find_published(r.requisition, a.payload.options) if r.requisition is not None else None


class AttachPayload(Payload):
    stage: str | None


class Attach(BaseAction):
    kind: Literal["attach"] = "attach"
    payload: AttachPayload


def _attach(c: Connector, a: Attach, r: Refs) -> str:
    return c.attach(r.person_id, r.requisition_id, stage=a.payload.stage).ref.id


def _find_application(c: Connector, _a: Attach, r: Refs) -> str | None:
    if r.person is None or r.requisition is None:
        return None
    app = c.find_application(r.person, r.requisition)
    return app.ref.id if app else None


class PrescreenPayload(Payload):
    prescreen: Prescreen
    attachment: bool
    application: str | None  # the application's id when its attach was done before this plan


class WritePrescreen(BaseAction):
    kind: Literal["prescreen"] = "prescreen"
    payload: PrescreenPayload

    @property
    def application(self) -> str | None:
        return self.payload.application


def _write_prescreen(c: Connector, a: WritePrescreen, r: Refs) -> str:
    return c.write_prescreen(r.application_id, a.payload.prescreen)


def _find_prescreen(c: Connector, a: WritePrescreen, r: Refs) -> str | None:
    if r.application is None:
        return None
    existing = c.find_prescreen(r.application, a.payload.prescreen)
    if existing is not None:
        c.complete_prescreen(r.application, a.payload.prescreen)
    return existing


class NurturePayload(Payload):
    graduation_date: date
    follow_up: date
    tags: list[str]
    follow_up_field: str | None  # a candidate date field for the follow-up date
    options: dict[str, Any]


class Nurture(BaseAction):
    kind: Literal["nurture"] = "nurture"
    payload: NurturePayload


def _nurture(c: Connector, a: Nurture, r: Refs) -> str:
    return c.nurture(r.person_id, a.stored_payload())


def _find_nurture(c: Connector, a: Nurture, r: Refs) -> str | None:
    return c.find_nurture(r.person, a.stored_payload()) if r.person is not None else None


Action: TypeAlias = Annotated[
    CreateCandidate
    | AddNote
    | AddTags
    | SetFields
    | CreateRequisition
    | Publish
    | Attach
    | WritePrescreen
    | Nurture,
    Field(discriminator="kind"),
]
#: reads an action back from its serialised form (``model_dump()``, ``syncbridge plan --json``)
ACTION: TypeAdapter[Action] = TypeAdapter(Action)

A = TypeVar("A", bound=BaseAction)


@dataclass(frozen=True)
class Kind(Generic[A]):
    """One kind of write: its model, the capability it needs, how it is sent and how it is found."""

    model: type[A]
    capability: Capability
    #: makes the write; returns the remote ref, or the record a creation made (kept in the mirror)
    send: Callable[[Connector, A, Refs], str | Candidate | Requisition]
    #: the write's effect when it is already in the ATS (its remote ref), else None; sends nothing new
    find: Callable[[Connector, A, Refs], str | None]
    #: writes of this kind to different people are independent: they may run at once (syncbridge.lanes)
    lanes: bool = False
    #: a note on the person: with no ledger entry, it is looked for among the person's notes
    person_note: bool = False
    #: the ATS record written carries the action's marker (``syncbridge:<key>``)
    marked: bool = False
    #: what the remote ref of a done write is, when it is a record of its own
    makes: Literal["person", "application"] | None = None
    #: keyed by the requisition code: shared by every intern of one team and role, not about one person
    shared: bool = False

    @property
    def name(self) -> str:
        return str(self.model.model_fields["kind"].default)


_TABLE: tuple[Kind[Any], ...] = (
    Kind(CreateCandidate, Capability.create_candidate, _create_candidate, _find_candidate, makes="person"),
    Kind(AddNote, Capability.add_note, _add_note, _find_note, lanes=True, person_note=True, marked=True),
    Kind(AddTags, Capability.add_tags, _add_tags, _find_tags, lanes=True),
    Kind(SetFields, Capability.set_fields, _set_fields, _find_fields, lanes=True),
    Kind(
        CreateRequisition, Capability.create_requisition, _create_requisition, _find_requisition, shared=True
    ),
    Kind(Publish, Capability.publish, _publish, _find_published, shared=True),
    Kind(Attach, Capability.attach, _attach, _find_application, makes="application"),
    Kind(WritePrescreen, Capability.prescreen, _write_prescreen, _find_prescreen, marked=True),
    Kind(Nurture, Capability.nurture, _nurture, _find_nurture),
)
#: kind → what there is to know about it, in the order the applier runs them
KINDS: dict[str, Kind[Any]] = {k.name: k for k in _TABLE}
#: kind → its place in that order
ORDER = {name: i for i, name in enumerate(KINDS)}


def send(connector: Connector, action: BaseAction, refs: Refs) -> tuple[str, Candidate | Requisition | None]:
    """Make the write; returns its remote ref and, for a creation, the record made (else None)."""
    made = KINDS[action.kind].send(connector, action, refs)
    return (made, None) if isinstance(made, str) else (made.ref.id, made)


def find(connector: Connector, action: BaseAction, refs: Refs) -> str | None:
    """Is the action's effect already in the ATS?  Returns the remote ref when it is."""
    return KINDS[action.kind].find(connector, action, refs)
