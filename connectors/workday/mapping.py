"""Workday WWS records (as :func:`.parse.to_dict` returns them) ⇄ the common model.  Pure functions.

Keys: the **WID** of a reference is the key of every record (``Candidate.ref.id`` is the candidate WID);
business ids such as ``Candidate_ID`` and ``Job_Requisition_ID`` stay in ``raw`` (and in
``Requisition.code``) for display.  Every repeatable element is read through :func:`.parse.as_list`, so a
candidate with one tag or one e-mail reads the same as one with several.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from syncbridge.errors import InvalidRecord
from syncbridge.model import Candidate, Email, NewCandidate, Note, Phone, Ref, Requisition
from syncbridge.records import record_id

from .envelopes import WdRef
from .parse import as_list, descriptor, dig, ref_ids, text, texts

NOTE_FILENAME_PREFIX = "micro-internship-"


def parse_ts(value: Any) -> datetime | None:
    raw = text(value)
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def wid_of(ref: Any) -> str | None:
    return ref_ids(ref).get("WID")


def _record_wid(ref: Any, what: str) -> str:
    """The WID keying a read record; without a valid one the record is refused (InvalidRecord, a
    ValueError's sibling the sync counts as ``skipped_invalid``): a record that cannot be keyed is never
    stored."""
    wid = wid_of(ref)
    if not wid:
        raise InvalidRecord(f"{what} refused: WID is missing")
    return record_id(wid, what, "WID")


def best_id(ref: Any, *preferred: str) -> str | None:
    """The first of ``preferred`` ID types present, else the WID, else any ID."""
    ids = ref_ids(ref)
    for kind in (*preferred, "WID"):
        if kind in ids:
            return ids[kind]
    return next(iter(ids.values()), None)


# --- tags ----------------------------------------------------------------------------------------------


class TagNames:
    """Translates between the tag *names* used in the configuration and Workday tag references.

    ``mapping`` is ``{name: tag id}`` from the settings (``tag_ids``); a name without an entry is sent as
    its own id.  Read back, a tag is named by the reverse mapping, else its descriptor, else its id.
    """

    def __init__(self, mapping: Mapping[str, str], id_type: str) -> None:
        self.by_name = dict(mapping)
        self.by_id = {v: k for k, v in mapping.items()}
        self.id_type = id_type

    def ref(self, name: str) -> WdRef:
        return WdRef(self.id_type, self.by_name.get(name, name))

    def name(self, ref: Any) -> str | None:
        ids = ref_ids(ref)
        tag_id = ids.get(self.id_type)
        if tag_id is not None and tag_id in self.by_id:
            return self.by_id[tag_id]
        return descriptor(ref) or tag_id or ids.get("WID") or next(iter(ids.values()), None)

    def current_refs(self, record: Mapping[str, Any]) -> list[tuple[str, WdRef]]:
        """(name, reference to send back) for every tag a candidate record carries."""
        out: list[tuple[str, WdRef]] = []
        data = record.get("Candidate_Data")
        for ref in as_list(data.get("Candidate_Tag_Reference") if isinstance(data, dict) else None):
            ids = ref_ids(ref)
            name = self.name(ref)
            if name is None:
                continue
            if self.id_type in ids:
                out.append((name, WdRef(self.id_type, ids[self.id_type])))
            elif "WID" in ids:
                out.append((name, WdRef.wid(ids["WID"])))
        return out


# --- candidates ----------------------------------------------------------------------------------------


def _emails(contact: Any) -> tuple[Email, ...]:
    """v46 ``Contact_Data/Email_Address`` (flat) and the older ``Email_Address_Data/Email_Address``."""
    if not isinstance(contact, dict):
        return ()
    values = texts(contact.get("Email_Address"))
    for item in as_list(contact.get("Email_Address_Data")):
        if isinstance(item, dict):
            values.extend(texts(item.get("Email_Address")))
    seen: list[str] = []
    for v in values:
        if v not in seen:
            seen.append(v)
    return tuple(Email(value=v, type="primary" if i == 0 else "other") for i, v in enumerate(seen))


def _phones(contact: Any) -> tuple[Phone, ...]:
    if not isinstance(contact, dict):
        return ()
    code = descriptor(contact.get("Country_Phone_Code_Reference"))
    out = []
    for number in texts(contact.get("Phone_Number")):
        value = f"{code} {number}" if code and code.startswith("+") else number
        out.append(Phone(value=value, type=descriptor(contact.get("Phone_Device_Type_Reference"))))
    return tuple(out)


def _name(data: Mapping[str, Any]) -> tuple[str | None, str | None]:
    for kind in ("Legal_Name", "Preferred_Name"):
        detail = dig(data, "Name_Data", kind, "Name_Detail_Data")
        if isinstance(detail, dict):
            first, last = text(detail.get("First_Name")), text(detail.get("Last_Name"))
            if first or last:
                return first, last
    return None, None


def application_ids(data: Mapping[str, Any]) -> tuple[str, ...]:
    ids: list[str] = []
    for app in as_list(data.get("Job_Application_Data")):
        if not isinstance(app, dict):
            continue
        value = best_id(app.get("Job_Application_Reference"), "Job_Application_ID") or text(
            dig(app, "Job_Applied_To_Data", "Job_Application_ID")
        )
        if value and value not in ids:
            ids.append(value)
    return tuple(ids)


def candidate_from_wd(record: Mapping[str, Any], connector: str, tags: TagNames) -> Candidate:
    """One ``Get_Candidates_Response/Response_Data/Candidate``.  Raises ``ValueError`` without a WID."""
    ref = record.get("Candidate_Reference")
    wid = _record_wid(ref, "candidate")
    data = record.get("Candidate_Data")
    data = data if isinstance(data, dict) else {}
    first, last = _name(data)
    contact = data.get("Contact_Data") if isinstance(data.get("Contact_Data"), dict) else {}
    tag_names = [n for n in (tags.name(t) for t in as_list(data.get("Candidate_Tag_Reference"))) if n]
    applied = [
        parse_ts(dig(app, "Job_Applied_To_Data", "Job_Application_Date"))
        for app in as_list(data.get("Job_Application_Data"))
        if isinstance(app, dict)
    ]
    moments = [a for a in applied if a is not None]
    return Candidate(
        ref=Ref(connector=connector, kind="candidate", id=wid),
        first_name=first,
        last_name=last,
        emails=_emails(contact),
        phones=_phones(contact),
        tags=tuple(dict.fromkeys(tag_names)),
        application_ids=application_ids(data),
        created_at=min(moments) if moments else None,
        raw=dict(record),
    )


def candidate_id_of(record: Mapping[str, Any]) -> str | None:
    """The business id (``Candidate_ID``) for display."""
    return text(dig(record, "Candidate_Data", "Candidate_ID")) or ref_ids(
        record.get("Candidate_Reference")
    ).get("Candidate_ID")


def created_candidate(new: NewCandidate, ids: Mapping[str, str], connector: str) -> Candidate:
    """The common-model person for a ``Put_Candidate`` create (Workday answers with references only)."""
    return Candidate(
        ref=Ref(connector=connector, kind="candidate", id=ids["WID"]),
        first_name=new.first_name,
        last_name=new.last_name,
        emails=(Email(value=new.email, type="primary"),),
        phones=(Phone(value=new.phone),) if new.phone else (),
        tags=tuple(new.tags),
        raw={"Candidate_Reference": {"ID": [{"@type": k, "#text": v} for k, v in ids.items()]}},
    )


# --- requisitions --------------------------------------------------------------------------------------


def requisition_from_wd(record: Mapping[str, Any], connector: str) -> Requisition:
    """One ``Get_Job_Requisitions_Response/Response_Data/Job_Requisition`` (v46 read shape: title and
    openings in Job_Requisition_Detail_Data; start date, profile and location in Hiring_Requirement_Data)."""
    ref = record.get("Job_Requisition_Reference")
    wid = _record_wid(ref, "requisition")
    data = record.get("Job_Requisition_Data")
    data = data if isinstance(data, dict) else {}
    code = ref_ids(ref).get("Job_Requisition_ID") or text(data.get("Job_Requisition_ID"))
    title = text(dig(data, "Job_Requisition_Detail_Data", "Job_Posting_Title"))
    status_ref = data.get("Job_Requisition_Status_Reference")
    org_ref = data.get("Supervisory_Organization_Reference")
    start = text(dig(data, "Hiring_Requirement_Data", "Recruiting_Start_Date"))
    created = parse_ts(f"{start}T00:00:00+00:00") if start else None
    return Requisition(
        ref=Ref(connector=connector, kind="requisition", id=wid),
        name=title or descriptor(ref) or code or wid,
        code=code,
        status=best_id(status_ref, "Job_Requisition_Status_ID") if status_ref else None,
        department=(descriptor(org_ref) or best_id(org_ref, "Organization_Reference_ID"))
        if org_ref
        else None,
        created_at=created,
        raw=dict(record),
    )


# --- notes as attachments ------------------------------------------------------------------------------


def note_attachment(note: Note) -> tuple[str, bytes, str]:
    """(filename, content, comment) of the text file that carries a note.

    The marker ends the file (``note.body_text()``) and the comment, so reconciliation can find it in
    either; the file name is stable for a given marker.
    """
    digest = hashlib.sha256(note.marker.encode()).hexdigest()[:12]
    filename = f"{NOTE_FILENAME_PREFIX}{digest}.txt"
    content = note.body_text().encode("utf-8")
    comment = f"{note.subject} [{note.marker}]"
    return filename, content, comment


def _decoded(content: Any) -> str:
    raw = text(content)
    if not raw:
        return ""
    try:
        return base64.b64decode(raw, validate=False).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return ""


def attachments(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A candidate's ``Candidate_Attachment_Data`` items (present when attachments were requested)."""
    data = record.get("Candidate_Data")
    if not isinstance(data, dict):
        return []
    return [a for a in as_list(data.get("Candidate_Attachment_Data")) if isinstance(a, dict)]


def attachment_id(item: Mapping[str, Any]) -> str | None:
    return best_id(item.get("Candidate_Attachment_Reference")) or text(dig(item, "Attachment_Data", "ID"))


def find_marker(items: Iterable[Mapping[str, Any]], marker: str) -> Mapping[str, Any] | None:
    """The first attachment whose comment or file content holds ``marker``."""
    for item in items:
        att = item.get("Attachment_Data")
        att = att[0] if isinstance(att, list) and att else att
        if not isinstance(att, dict):
            continue
        if marker in (text(att.get("Comment")) or "") or marker in _decoded(att.get("File_Content")):
            return item
    return None


# --- conversion: requisitions, job applications and their attachments ---------------------------------

PRESCREEN_FILENAME_PREFIX = "micro-internship-prescreen-"


def created_requisition(
    ids: Mapping[str, str], connector: str, *, title: str, code: str, status: str | None
) -> Requisition:
    """The common-model requisition for a ``Create_Job_Requisition`` whose read-back is not available."""
    return Requisition(
        ref=Ref(connector=connector, kind="requisition", id=ids["WID"]),
        name=title,
        code=ids.get("Job_Requisition_ID") or code,
        status=status,
        raw={"Job_Requisition_Reference": {"ID": [{"@type": k, "#text": v} for k, v in ids.items()]}},
    )


def job_applications(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A candidate's job applications, flattened: ``ids`` (of Job_Application_Reference, plus the
    Job_Application_ID of Job_Applied_To_Data), ``requisition`` (ids), ``stage`` and ``step`` (every id
    value of Stage_Reference / Workflow_Step_Reference), ``disposed`` and ``attachments`` (the
    Resume_Attachment_Data items, present when attachments were requested)."""
    data = record.get("Candidate_Data")
    out: list[dict[str, Any]] = []
    for app in as_list(data.get("Job_Application_Data") if isinstance(data, dict) else None):
        if not isinstance(app, dict):
            continue
        ids = dict(ref_ids(app.get("Job_Application_Reference")))
        for applied in as_list(app.get("Job_Applied_To_Data")):
            if not isinstance(applied, dict):
                continue
            app_id = text(applied.get("Job_Application_ID"))
            if app_id:
                ids.setdefault("Job_Application_ID", app_id)
            out.append(
                {
                    "ids": dict(ids),
                    "requisition": ref_ids(applied.get("Job_Requisition_Reference")),
                    "stage": set(ref_ids(applied.get("Stage_Reference")).values()),
                    "step": set(ref_ids(applied.get("Workflow_Step_Reference")).values()),
                    "disposed": bool(ref_ids(applied.get("Disposition_Reference"))),
                    "attachments": [
                        a for a in as_list(app.get("Resume_Attachment_Data")) if isinstance(a, dict)
                    ],
                }
            )
    return out


def same_ref(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    """Two references name the same instance when they share an ID of the same type."""
    return any(b.get(kind) == value for kind, value in a.items())


def application_key(candidate_wid: str, ids: Mapping[str, str]) -> str:
    """The common-model id of a Workday job application: ``<candidate WID>/<ID type>=<value>``.

    Workday writes to a job application (attachments) through its *candidate*, and the contract hands a
    connector only the application id, so the id carries both.  The WID is preferred, then the
    Job_Application_ID."""
    for kind in ("WID", "Job_Application_ID"):
        if kind in ids:
            return f"{candidate_wid}/{kind}={ids[kind]}"
    kind, value = next(iter(ids.items()))
    return f"{candidate_wid}/{kind}={value}"


def parse_application_key(key: str) -> tuple[str, WdRef]:
    """``<candidate WID>/<ID type>=<value>`` → (candidate WID, job application reference)."""
    candidate, sep, rest = key.partition("/")
    kind, eq, value = rest.partition("=")
    if not (candidate and sep and kind and eq and value):
        raise ValueError(f"not a Workday job application id: {key!r}")
    return candidate, WdRef(kind, value)


def prescreen_document(summary_text: str, fields: Mapping[str, Any], marker: str) -> tuple[str, bytes, str]:
    """(filename, content, comment) of the prescreen summary attached to the job application.

    WWS has no custom fields on a job application, so the rule's prescreen field values are listed in the
    document itself, under a heading.  The marker ends the file and the comment; the file name is stable
    for a given marker (reconciliation looks for any of the three)."""
    digest = hashlib.sha256(marker.encode()).hexdigest()[:16]
    lines = [summary_text.rstrip()]
    if fields:
        lines += ["", "Prescreen fields (Workday has no application fields; reported here):"]
        lines += [f"- {name}: {_field_text(value)}" for name, value in fields.items()]
    lines += ["", f"[{marker}]", ""]
    return (
        f"{PRESCREEN_FILENAME_PREFIX}{digest}.txt",
        "\n".join(lines).encode("utf-8"),
        f"Micro-internship prescreen [{marker}]",
    )


def _field_text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(_field_text(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_field_text(v)}" for k, v in value.items())
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)


def find_attachment(
    items: Iterable[Mapping[str, Any]], marker: str, filename: str
) -> Mapping[str, Any] | None:
    """The first flat Attachment_WWS_Data item (``Resume_Attachment_Data``) whose file name is
    ``filename`` or whose comment or content holds ``marker``."""
    for att in items:
        if (
            text(att.get("Filename")) == filename
            or marker in (text(att.get("Comment")) or "")
            or marker in _decoded(att.get("File_Content"))
        ):
            return att
    return None
