"""Request builders for the Workday Recruiting web service (WWS, SOAP 1.1).

Every builder returns the request's root element in the ``urn:com.workday/bsvc`` namespace (prefix
``bsvc``) with the ``bsvc:version`` attribute set; :func:`envelope` wraps one in a SOAP envelope with the
WS-Security header (or none, for a bearer token) and the ``Workday_Common_Header`` asking for reference
descriptors.  Element names and their order follow the v46 Recruiting schema as documented by
Workday; where the order is not documented, the docstring says so (``docs/workday.md`` lists them).

Building uses the standard library's ElementTree (it escapes text and attributes); *parsing* anything that
came over the network is done by :mod:`.parse` with defusedxml.
"""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

NS = "urn:com.workday/bsvc"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
PASSWORD_TEXT = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText"
)

ET.register_namespace("bsvc", NS)
ET.register_namespace("soapenv", SOAP_NS)
ET.register_namespace("wsse", WSSE_NS)

MAX_COUNT = 999  # Response_Filter/Count: 1..999 per the XSD


def q(name: str) -> str:
    """The qualified (Clark) name of a ``bsvc`` element or attribute."""
    return f"{{{NS}}}{name}"


@dataclass(frozen=True)
class WdRef:
    """One Workday reference: ``<X_Reference><bsvc:ID bsvc:type="{type}">{value}</bsvc:ID></X_Reference>``."""

    type: str
    value: str

    @classmethod
    def wid(cls, value: str) -> WdRef:
        return cls("WID", value)


@dataclass(frozen=True)
class Paging:
    """``Response_Filter``: the page, its size and the entry moment pinned for the whole walk
    (``as_of=None`` leaves it to the server's clock: right for one-page lookups just after a write)."""

    page: int
    count: int
    as_of: datetime | None = None

    def __post_init__(self) -> None:
        if self.page < 1:
            raise ValueError("Page starts at 1")
        if not 1 <= self.count <= MAX_COUNT:
            raise ValueError(f"Count must be 1..{MAX_COUNT}")


@dataclass(frozen=True)
class Range:
    """A closed datetime range (both bounds are sent; Workday refuses one without the other)."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise ValueError("a range's start must not be later than its end")


def wd_datetime(value: datetime) -> str:
    """An offset-aware ISO-8601 dateTime in UTC (naive datetimes are refused: the server's clock rules)."""
    if value.tzinfo is None:
        raise ValueError("Workday dateTimes must carry a UTC offset")
    return value.astimezone(UTC).isoformat(timespec="seconds")


def _sub(parent: ET.Element, name: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, q(name), {q(k): v for k, v in attrs.items()})
    if text is not None:
        el.text = text
    return el


def _ref(parent: ET.Element, name: str, ref: WdRef) -> ET.Element:
    el = _sub(parent, name)
    _sub(el, "ID", ref.value, type=ref.type)
    return el


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _root(name: str, version: str, **attrs: str) -> ET.Element:
    return ET.Element(q(name), {q("version"): version, **{q(k): v for k, v in attrs.items()}})


def _response_filter(root: ET.Element, paging: Paging) -> None:
    rf = _sub(root, "Response_Filter")
    if paging.as_of is not None:
        _sub(rf, "As_Of_Entry_DateTime", wd_datetime(paging.as_of))
    _sub(rf, "Page", str(paging.page))
    _sub(rf, "Count", str(paging.count))


def _transaction_log(criteria: ET.Element, updated: Range) -> None:
    tl = _sub(criteria, "Transaction_Log_Criteria_Data")
    dr = _sub(tl, "Transaction_Date_Range_Data")
    _sub(dr, "Updated_From", wd_datetime(updated.start))
    _sub(dr, "Updated_Through", wd_datetime(updated.end))


# --- reads ---------------------------------------------------------------------------------------------


def get_candidates(
    version: str,
    paging: Paging,
    *,
    updated: Range | None = None,
    email: str | None = None,
    applied: Range | None = None,
    created: Range | None = None,
    references: Sequence[WdRef] = (),
    include_attachments: bool = False,
) -> ET.Element:
    """``Get_Candidates_Request``.

    ``references`` (Request_References, missing ones skipped) and the criteria are a choice: give one or
    the other.  Criteria order follows the v46 XSD: Transaction_Log_Criteria_Data, ...,
    Candidate_Email_Address, ..., Applied_From/Through, ..., Created_From/Through.  Attachments are
    excluded unless asked for (they come back inline as base64).
    """
    has_criteria = any(x is not None for x in (updated, email, applied, created))
    if references and has_criteria:
        raise ValueError("Request_References and Request_Criteria are a choice: give one")
    root = _root("Get_Candidates_Request", version)
    if references:
        rr = _sub(root, "Request_References", Skip_Non_Existing_Instances="true")
        for ref in references:
            _ref(rr, "Candidate_Reference", ref)
    elif has_criteria:
        rc = _sub(root, "Request_Criteria")
        if updated is not None:
            _transaction_log(rc, updated)
        if email is not None:
            _sub(rc, "Candidate_Email_Address", email)
        if applied is not None:
            _sub(rc, "Applied_From", wd_datetime(applied.start))
            _sub(rc, "Applied_Through", wd_datetime(applied.end))
        if created is not None:
            _sub(rc, "Created_From", wd_datetime(created.start))
            _sub(rc, "Created_Through", wd_datetime(created.end))
    _response_filter(root, paging)
    rg = _sub(root, "Response_Group")
    _sub(rg, "Include_Reference", "true")
    _sub(rg, "Exclude_All_Attachments", _bool(not include_attachments))
    return root


def get_job_requisitions(
    version: str,
    paging: Paging,
    *,
    updated: Range | None = None,
    references: Sequence[WdRef] = (),
) -> ET.Element:
    """``Get_Job_Requisitions_Request`` with the definition (title, openings) and restrictions data."""
    if references and updated is not None:
        raise ValueError("Request_References and Request_Criteria are a choice: give one")
    root = _root("Get_Job_Requisitions_Request", version)
    if references:
        rr = _sub(root, "Request_References", Skip_Non_Existing_Instances="true")
        for ref in references:
            _ref(rr, "Job_Requisition_Reference", ref)
    elif updated is not None:
        _transaction_log(_sub(root, "Request_Criteria"), updated)
    _response_filter(root, paging)
    rg = _sub(root, "Response_Group")
    _sub(rg, "Include_Reference", "true")
    _sub(rg, "Include_Job_Requisition_Definition_Data", "true")
    _sub(rg, "Include_Job_Requisition_Restrictions_Data", "true")
    return root


# --- writes --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobApplication:
    """One ``Job_Application_Data/Job_Applied_To_Data`` for ``Put_Candidate``: the requisition, the
    recruiting stage the application starts in (``Stage_Reference`` is required by the v46 schema) and,
    optionally, its source."""

    requisition: WdRef
    stage: WdRef
    source: WdRef | None = None


def put_candidate(
    version: str,
    *,
    candidate: WdRef | None = None,
    add_only: bool,
    first_name: str | None = None,
    last_name: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    prospect: bool | None = None,
    tags: Sequence[WdRef] | None = None,
    job_application: JobApplication | None = None,
    prospect_source: WdRef | None = None,
    prospect_status: WdRef | None = None,
) -> ET.Element:
    """``Put_Candidate_Request`` (attribute ``Add_Only``).

    Without ``candidate`` it creates a person (Workday wants a name, an e-mail or phone, and Prospect_Data
    or Job_Application_Data).  With ``candidate`` it updates that person; ``tags`` is then the complete
    tag list (send current + new: whether Put_Candidate merges or replaces tags is not documented).
    ``job_application`` applies the person to a requisition (``Job_Applied_To_Data``: the requisition,
    then the stage, then the source, in the v46 order).
    Candidate_Data order: Name_Data, Contact_Data (Phone_Number before Email_Address),
    Job_Application_Data, Prospect_Data, Candidate_Tag_Reference*.
    """
    root = _root("Put_Candidate_Request", version, Add_Only=_bool(add_only))
    if candidate is not None:
        _ref(root, "Candidate_Reference", candidate)
    data = _sub(root, "Candidate_Data")
    if first_name is not None or last_name is not None:
        detail = _sub(_sub(_sub(data, "Name_Data"), "Legal_Name"), "Name_Detail_Data")
        if first_name is not None:
            _sub(detail, "First_Name", first_name)
        if last_name is not None:
            _sub(detail, "Last_Name", last_name)
    if phone is not None or email is not None:
        contact = _sub(data, "Contact_Data")
        if phone is not None:
            _sub(contact, "Phone_Number", phone)
        if email is not None:
            _sub(contact, "Email_Address", email)
    if job_application is not None:
        applied = _sub(_sub(data, "Job_Application_Data"), "Job_Applied_To_Data")
        _ref(applied, "Job_Requisition_Reference", job_application.requisition)
        _ref(applied, "Stage_Reference", job_application.stage)
        if job_application.source is not None:
            _ref(applied, "Source_Reference", job_application.source)
    if prospect is not None:
        prospect_data = _sub(data, "Prospect_Data")
        _sub(prospect_data, "Prospect", _bool(prospect))
        if (
            prospect_status is not None
        ):  # Prospect_Data: Prospect, Prospect_Status_Reference, Source_Reference
            _ref(prospect_data, "Prospect_Status_Reference", prospect_status)
        if prospect_source is not None:
            _ref(prospect_data, "Source_Reference", prospect_source)
    for tag in tags or ():
        _ref(data, "Candidate_Tag_Reference", tag)
    return root


def put_candidate_attachment(
    version: str,
    *,
    candidate: WdRef,
    filename: str,
    content: bytes,
    category: WdRef,
    comment: str | None = None,
    mime_type: WdRef | None = None,
    add_only: bool = True,
) -> ET.Element:
    """``Put_Candidate_Attachment_Request``: one candidate-level file (base64) with a comment and a
    document category.  Attachment_Data order: Filename, File_Content, Mime_Type_Reference, Comment."""
    if not filename or not content:
        raise ValueError("Workday requires both a Filename and File Content")
    root = _root("Put_Candidate_Attachment_Request", version, Add_Only=_bool(add_only))
    _ref(root, "Candidate_Reference", candidate)
    cad = _sub(root, "Candidate_Attachment_Data")
    att = _sub(cad, "Attachment_Data")
    _sub(att, "Filename", filename)
    _sub(att, "File_Content", base64.b64encode(content).decode("ascii"))
    if mime_type is not None:
        _ref(att, "Mime_Type_Reference", mime_type)
    if comment:
        _sub(att, "Comment", comment)
    _ref(cad, "Document_Category_Reference", category)
    return root


def put_job_application_attachment(
    version: str,
    *,
    candidate: WdRef,
    job_application: WdRef,
    filename: str,
    content: bytes,
    comment: str | None = None,
    mime_type: WdRef | None = None,
    add_only: bool = True,
) -> ET.Element:
    """``Put_Candidate_Attachment_Request`` with one ``Job_Application_Attachment_Data``: a file on the
    candidate's job application (named by its reference), after the ``Candidate_Reference``.  The
    attachment has the Attachment_WWS_Data shape (Filename, File_Content, Mime_Type_Reference, Comment);
    the name of its wrapper inside Job_Application_Attachment_Data (``Attachment_Data``) follows
    Workday's operation documentation and is not confirmed against the XSD."""
    if not filename or not content:
        raise ValueError("Workday requires both a Filename and File Content")
    root = _root("Put_Candidate_Attachment_Request", version, Add_Only=_bool(add_only))
    _ref(root, "Candidate_Reference", candidate)
    jad = _sub(root, "Job_Application_Attachment_Data")
    _ref(jad, "Job_Application_Reference", job_application)
    att = _sub(jad, "Attachment_Data")
    _sub(att, "Filename", filename)
    _sub(att, "File_Content", base64.b64encode(content).decode("ascii"))
    if mime_type is not None:
        _ref(att, "Mime_Type_Reference", mime_type)
    if comment:
        _sub(att, "Comment", comment)
    return root


@dataclass(frozen=True)
class NewJobRequisition:
    """What ``Create_Job_Requisition`` needs.  Exactly one of ``supervisory_organization`` (job management
    organisation) or ``position_restriction`` (position management)."""

    title: str
    reason: WdRef
    openings: int = 1
    supervisory_organization: WdRef | None = None
    position_restriction: WdRef | None = None
    requisition_id: str | None = None  # Job_Requisition_ID; Workday numbers it when absent
    description: str | None = None
    justification: str | None = None
    recruiting_start_date: date | None = None
    target_hire_date: date | None = None
    job_profile: WdRef | None = None
    worker_type: WdRef | None = None
    primary_location: WdRef | None = None
    time_type: WdRef | None = None

    def __post_init__(self) -> None:
        if (self.supervisory_organization is None) == (self.position_restriction is None):
            raise ValueError("give exactly one of supervisory_organization or position_restriction")
        if self.openings < 1:
            raise ValueError("a requisition needs at least one opening")
        if not self.title.strip():
            raise ValueError("a requisition needs a Job_Posting_Title")


def create_job_requisition(
    version: str,
    req: NewJobRequisition,
    *,
    auto_complete: bool = False,
    run_now: bool = True,
    comment: str | None = None,
) -> ET.Element:
    """``Create_Job_Requisition``, whose request root is **``Create_Requisition_Request``** (not named after
    the operation).  Auto_Complete defaults to false so the tenant's approval business process runs.

    ``Job_Requisition_Data`` (Job_Requisition_Data_for_Create_and_EditType) in schema order:
    Job_Requisition_ID, Job_Posting_Title, Job_Description, Justification, Recruiting_Start_Date,
    Target_Hire_Date, Job_Profile_Reference, Worker_Type_Reference, Primary_Location_Reference,
    Position_Time_Type_Reference."""
    root = _root("Create_Requisition_Request", version)
    bpp = _sub(root, "Business_Process_Parameters")
    _sub(bpp, "Auto_Complete", _bool(auto_complete))
    _sub(bpp, "Run_Now", _bool(run_now))
    if comment:
        _sub(_sub(bpp, "Comment_Data"), "Comment", comment)
    data = _sub(root, "Create_Job_Requisition_Data")
    if req.position_restriction is not None:
        _ref(data, "Position_Restriction_Reference", req.position_restriction)
    if req.supervisory_organization is not None:
        _ref(data, "Supervisory_Organization_Reference", req.supervisory_organization)
    _ref(data, "Create_Job_Requisition_Reason_Reference", req.reason)
    _sub(data, "Number_of_Openings", str(req.openings))
    jrd = _sub(data, "Job_Requisition_Data")
    if req.requisition_id is not None:
        _sub(jrd, "Job_Requisition_ID", req.requisition_id)
    _sub(jrd, "Job_Posting_Title", req.title)
    if req.description is not None:
        _sub(jrd, "Job_Description", req.description)
    if req.justification is not None:
        _sub(jrd, "Justification", req.justification)
    if req.recruiting_start_date is not None:
        _sub(jrd, "Recruiting_Start_Date", req.recruiting_start_date.isoformat())
    if req.target_hire_date is not None:
        _sub(jrd, "Target_Hire_Date", req.target_hire_date.isoformat())
    if req.job_profile is not None:
        _ref(jrd, "Job_Profile_Reference", req.job_profile)
    if req.worker_type is not None:
        _ref(jrd, "Worker_Type_Reference", req.worker_type)
    if req.primary_location is not None:
        _ref(jrd, "Primary_Location_Reference", req.primary_location)
    if req.time_type is not None:
        _ref(jrd, "Position_Time_Type_Reference", req.time_type)
    return root


def move_candidate(
    version: str,
    *,
    job_application: WdRef | None = None,
    candidate: WdRef | None = None,
    requisition: WdRef | None = None,
    next_step: WdRef | None = None,
    disposition_step: WdRef | None = None,
    comment: str | None = None,
) -> ET.Element:
    """``Move_Candidate_Request``: advance (``next_step``) or disposition (``disposition_step``) one job
    application, named by its reference or by candidate + requisition.  Both steps are Workflow_Step
    references and go in ``Dynamic_Business_Process_Parameters``, which precedes ``Move_Candidate_Data``
    (order as in the generated .NET binding; the v46 XSD has no stage element inside Move_Candidate_Data).
    """
    if (next_step is None) == (disposition_step is None):
        raise ValueError("give exactly one of next_step or disposition_step")
    if job_application is not None:
        if candidate is not None or requisition is not None:
            raise ValueError("name the application by job_application, or by candidate and requisition")
    elif candidate is None or requisition is None:
        raise ValueError("name the application by job_application, or by candidate and requisition")
    root = _root("Move_Candidate_Request", version)
    dbp = _sub(root, "Dynamic_Business_Process_Parameters")
    if next_step is not None:
        _ref(dbp, "Next_Step_Reference", next_step)
    if disposition_step is not None:
        _ref(dbp, "Disposition_Step_Reference", disposition_step)
    if comment:
        _sub(_sub(dbp, "Comment_Data"), "Comment", comment)
    mcd = _sub(root, "Move_Candidate_Data")
    if job_application is not None:
        _ref(mcd, "Job_Application_Reference", job_application)
    else:
        assert candidate is not None and requisition is not None
        ccd = _sub(mcd, "Candidate_Criteria_Data")
        _ref(ccd, "Candidate_Reference", candidate)
        _ref(ccd, "Requisition_Reference", requisition)
    return root


def post_job(
    version: str,
    *,
    requisition: WdRef,
    site: WdRef,
    start: date,
    end: date | None = None,
    primary: bool | None = None,
    auto_complete: bool = True,
    run_now: bool = True,
    comment: str | None = None,
) -> ET.Element:
    """``Post_Job_Request``: post one job requisition on one job posting site.

    ``Post_Job_Data`` is a Post_Job_Business_Process_DataType (Job_Requisition_Reference, then
    Job_Posting_Site_Data*); each Job_Posting_Site_Data holds the site reference, the required
    Job_Posting_Start_Date, then the optional end date and Primary_Posting.  The name ``Post_Job_Data``
    of the request's data element is not confirmed against the XSD (see ``docs/workday.md``)."""
    if end is not None and end < start:
        raise ValueError("a posting cannot end before it starts")
    root = _root("Post_Job_Request", version)
    bpp = _sub(root, "Business_Process_Parameters")
    _sub(bpp, "Auto_Complete", _bool(auto_complete))
    _sub(bpp, "Run_Now", _bool(run_now))
    if comment:
        _sub(_sub(bpp, "Comment_Data"), "Comment", comment)
    data = _sub(root, "Post_Job_Data")
    _ref(data, "Job_Requisition_Reference", requisition)
    site_data = _sub(data, "Job_Posting_Site_Data")
    _ref(site_data, "Job_Posting_Site_Reference", site)
    _sub(site_data, "Job_Posting_Start_Date", start.isoformat())
    if end is not None:
        _sub(site_data, "Job_Posting_End_Date", end.isoformat())
    if primary is not None:
        _sub(site_data, "Primary_Posting", _bool(primary))
    return root


def get_job_postings(
    version: str,
    paging: Paging,
    *,
    requisition: WdRef,
    sites: Sequence[WdRef] = (),
    active_only: bool = True,
) -> ET.Element:
    """``Get_Job_Postings_Request`` for one requisition (criteria in v46 order: Job_Posting_Site_Reference*,
    Job_Requisition_Reference*, Show_Only_Active_Job_Postings)."""
    root = _root("Get_Job_Postings_Request", version)
    rc = _sub(root, "Request_Criteria")
    for site in sites:
        _ref(rc, "Job_Posting_Site_Reference", site)
    _ref(rc, "Job_Requisition_Reference", requisition)
    _sub(rc, "Show_Only_Active_Job_Postings", _bool(active_only))
    _response_filter(root, paging)
    _sub(_sub(root, "Response_Group"), "Include_Reference", "true")
    return root


# --- the envelope --------------------------------------------------------------------------------------


def envelope(
    body: ET.Element,
    *,
    username: str | None = None,
    password: str | None = None,
    include_descriptors: bool = True,
) -> bytes:
    """The SOAP 1.1 envelope around ``body``.  With ``username``/``password``: a WS-Security
    UsernameToken (PasswordText).  Without: no Security header (the bearer token travels in HTTP)."""
    env = ET.Element(f"{{{SOAP_NS}}}Envelope")
    header = ET.SubElement(env, f"{{{SOAP_NS}}}Header")
    if username is not None:
        if password is None:
            raise ValueError("a UsernameToken needs a password")
        sec = ET.SubElement(header, f"{{{WSSE_NS}}}Security", {f"{{{SOAP_NS}}}mustUnderstand": "1"})
        token = ET.SubElement(sec, f"{{{WSSE_NS}}}UsernameToken")
        ET.SubElement(token, f"{{{WSSE_NS}}}Username").text = username
        ET.SubElement(token, f"{{{WSSE_NS}}}Password", {"Type": PASSWORD_TEXT}).text = password
    if include_descriptors:
        common = ET.SubElement(header, q("Workday_Common_Header"))
        ET.SubElement(common, q("Include_Reference_Descriptors_In_Response")).text = "true"
    ET.SubElement(env, f"{{{SOAP_NS}}}Body").append(body)
    return ET.tostring(env, encoding="utf-8", xml_declaration=True)


def to_xml(element: ET.Element) -> str:
    """A request element as text (tests, debugging).  Never log an *envelope*: it holds the password."""
    return ET.tostring(element, encoding="unicode")
