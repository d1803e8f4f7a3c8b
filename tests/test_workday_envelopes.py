"""Workday WWS request builders against golden XML shaped like the documented examples."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from syncbridge.connectors.workday import envelopes
from syncbridge.connectors.workday.envelopes import NewJobRequisition, Paging, Range, WdRef

V = "v46.0"
AS_OF = datetime(2025, 3, 4, 9, 0, tzinfo=UTC)
NS = 'xmlns:bsvc="urn:com.workday/bsvc"'


def same_xml(actual: ET.Element | str, golden: str) -> None:
    text = envelopes.to_xml(actual) if isinstance(actual, ET.Element) else actual
    assert ET.canonicalize(text, strip_text=True) == ET.canonicalize(golden, strip_text=True)


def test_get_candidates_incremental_golden() -> None:
    window = Range(datetime(2025, 3, 1, 8, tzinfo=UTC), datetime(2025, 3, 4, 8, tzinfo=UTC))
    el = envelopes.get_candidates(V, Paging(2, 100, AS_OF), updated=window)
    same_xml(
        el,
        f"""
    <bsvc:Get_Candidates_Request {NS} bsvc:version="v46.0">
      <bsvc:Request_Criteria>
        <bsvc:Transaction_Log_Criteria_Data>
          <bsvc:Transaction_Date_Range_Data>
            <bsvc:Updated_From>2025-03-01T08:00:00+00:00</bsvc:Updated_From>
            <bsvc:Updated_Through>2025-03-04T08:00:00+00:00</bsvc:Updated_Through>
          </bsvc:Transaction_Date_Range_Data>
        </bsvc:Transaction_Log_Criteria_Data>
      </bsvc:Request_Criteria>
      <bsvc:Response_Filter>
        <bsvc:As_Of_Entry_DateTime>2025-03-04T09:00:00+00:00</bsvc:As_Of_Entry_DateTime>
        <bsvc:Page>2</bsvc:Page>
        <bsvc:Count>100</bsvc:Count>
      </bsvc:Response_Filter>
      <bsvc:Response_Group>
        <bsvc:Include_Reference>true</bsvc:Include_Reference>
        <bsvc:Exclude_All_Attachments>true</bsvc:Exclude_All_Attachments>
      </bsvc:Response_Group>
    </bsvc:Get_Candidates_Request>""",
    )


def test_get_candidates_fallback_criteria_keep_schema_order() -> None:
    window = Range(datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 2, tzinfo=UTC))
    el = envelopes.get_candidates(
        V, Paging(1, 50, AS_OF), email="ada@example.com", applied=window, created=window
    )
    names = [c.tag.split("}")[1] for c in el.find(envelopes.q("Request_Criteria")) or []]
    assert names == [
        "Candidate_Email_Address",
        "Applied_From",
        "Applied_Through",
        "Created_From",
        "Created_Through",
    ]


def test_get_candidates_by_reference_with_attachments_and_no_pinned_moment() -> None:
    el = envelopes.get_candidates(V, Paging(1, 1), references=[WdRef.wid("3f1ce9")], include_attachments=True)
    same_xml(
        el,
        f"""
    <bsvc:Get_Candidates_Request {NS} bsvc:version="v46.0">
      <bsvc:Request_References bsvc:Skip_Non_Existing_Instances="true">
        <bsvc:Candidate_Reference><bsvc:ID bsvc:type="WID">3f1ce9</bsvc:ID></bsvc:Candidate_Reference>
      </bsvc:Request_References>
      <bsvc:Response_Filter><bsvc:Page>1</bsvc:Page><bsvc:Count>1</bsvc:Count></bsvc:Response_Filter>
      <bsvc:Response_Group>
        <bsvc:Include_Reference>true</bsvc:Include_Reference>
        <bsvc:Exclude_All_Attachments>false</bsvc:Exclude_All_Attachments>
      </bsvc:Response_Group>
    </bsvc:Get_Candidates_Request>""",
    )
    with pytest.raises(ValueError, match="choice"):
        envelopes.get_candidates(V, Paging(1, 1), references=[WdRef.wid("x")], email="a@b.c")


def test_get_job_requisitions_golden() -> None:
    window = Range(datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 2, tzinfo=UTC))
    el = envelopes.get_job_requisitions(V, Paging(1, 100, AS_OF), updated=window)
    same_xml(
        el,
        f"""
    <bsvc:Get_Job_Requisitions_Request {NS} bsvc:version="v46.0">
      <bsvc:Request_Criteria><bsvc:Transaction_Log_Criteria_Data><bsvc:Transaction_Date_Range_Data>
        <bsvc:Updated_From>2025-03-01T00:00:00+00:00</bsvc:Updated_From>
        <bsvc:Updated_Through>2025-03-02T00:00:00+00:00</bsvc:Updated_Through>
      </bsvc:Transaction_Date_Range_Data></bsvc:Transaction_Log_Criteria_Data></bsvc:Request_Criteria>
      <bsvc:Response_Filter>
        <bsvc:As_Of_Entry_DateTime>2025-03-04T09:00:00+00:00</bsvc:As_Of_Entry_DateTime>
        <bsvc:Page>1</bsvc:Page><bsvc:Count>100</bsvc:Count>
      </bsvc:Response_Filter>
      <bsvc:Response_Group>
        <bsvc:Include_Reference>true</bsvc:Include_Reference>
        <bsvc:Include_Job_Requisition_Definition_Data>true</bsvc:Include_Job_Requisition_Definition_Data>
        <bsvc:Include_Job_Requisition_Restrictions_Data>true</bsvc:Include_Job_Requisition_Restrictions_Data>
      </bsvc:Response_Group>
    </bsvc:Get_Job_Requisitions_Request>""",
    )


def test_put_candidate_new_prospect_golden() -> None:
    el = envelopes.put_candidate(
        V,
        add_only=True,
        first_name="Ada",
        last_name="Example",
        email="ada@example.com",
        phone="5550100",
        prospect=True,
        tags=[WdRef("Candidate_Tag_ID", "MICRO_INTERN")],
    )
    same_xml(
        el,
        f"""
    <bsvc:Put_Candidate_Request {NS} bsvc:Add_Only="true" bsvc:version="v46.0">
      <bsvc:Candidate_Data>
        <bsvc:Name_Data><bsvc:Legal_Name><bsvc:Name_Detail_Data>
          <bsvc:First_Name>Ada</bsvc:First_Name><bsvc:Last_Name>Example</bsvc:Last_Name>
        </bsvc:Name_Detail_Data></bsvc:Legal_Name></bsvc:Name_Data>
        <bsvc:Contact_Data>
          <bsvc:Phone_Number>5550100</bsvc:Phone_Number>
          <bsvc:Email_Address>ada@example.com</bsvc:Email_Address>
        </bsvc:Contact_Data>
        <bsvc:Prospect_Data><bsvc:Prospect>true</bsvc:Prospect></bsvc:Prospect_Data>
        <bsvc:Candidate_Tag_Reference><bsvc:ID bsvc:type="Candidate_Tag_ID">MICRO_INTERN</bsvc:ID>
        </bsvc:Candidate_Tag_Reference>
      </bsvc:Candidate_Data>
    </bsvc:Put_Candidate_Request>""",
    )


def test_put_candidate_tags_update_golden() -> None:
    el = envelopes.put_candidate(
        V,
        candidate=WdRef.wid("3f1ce9"),
        add_only=False,
        tags=[WdRef.wid("aa11"), WdRef("Candidate_Tag_ID", "MICRO_INTERN")],
    )
    same_xml(
        el,
        f"""
    <bsvc:Put_Candidate_Request {NS} bsvc:Add_Only="false" bsvc:version="v46.0">
      <bsvc:Candidate_Reference><bsvc:ID bsvc:type="WID">3f1ce9</bsvc:ID></bsvc:Candidate_Reference>
      <bsvc:Candidate_Data>
        <bsvc:Candidate_Tag_Reference><bsvc:ID bsvc:type="WID">aa11</bsvc:ID></bsvc:Candidate_Tag_Reference>
        <bsvc:Candidate_Tag_Reference><bsvc:ID bsvc:type="Candidate_Tag_ID">MICRO_INTERN</bsvc:ID>
        </bsvc:Candidate_Tag_Reference>
      </bsvc:Candidate_Data>
    </bsvc:Put_Candidate_Request>""",
    )


def test_put_candidate_attachment_golden() -> None:
    content = "Micro-internship completed — ünïcode\n\n[syncbridge:k1]".encode()
    el = envelopes.put_candidate_attachment(
        V,
        candidate=WdRef.wid("3f1ce9"),
        filename="micro-internship-1.txt",
        content=content,
        comment="History [syncbridge:k1]",
        category=WdRef("Document_Category__Workday_Owned__ID", "OTHER_DOCUMENTS"),
    )
    b64 = base64.b64encode(content).decode()
    same_xml(
        el,
        f"""
    <bsvc:Put_Candidate_Attachment_Request {NS} bsvc:Add_Only="true" bsvc:version="v46.0">
      <bsvc:Candidate_Reference><bsvc:ID bsvc:type="WID">3f1ce9</bsvc:ID></bsvc:Candidate_Reference>
      <bsvc:Candidate_Attachment_Data>
        <bsvc:Attachment_Data>
          <bsvc:Filename>micro-internship-1.txt</bsvc:Filename>
          <bsvc:File_Content>{b64}</bsvc:File_Content>
          <bsvc:Comment>History [syncbridge:k1]</bsvc:Comment>
        </bsvc:Attachment_Data>
        <bsvc:Document_Category_Reference>
          <bsvc:ID bsvc:type="Document_Category__Workday_Owned__ID">OTHER_DOCUMENTS</bsvc:ID>
        </bsvc:Document_Category_Reference>
      </bsvc:Candidate_Attachment_Data>
    </bsvc:Put_Candidate_Attachment_Request>""",
    )
    with pytest.raises(ValueError, match="Filename and File Content"):
        envelopes.put_candidate_attachment(
            V, candidate=WdRef.wid("x"), filename="a.txt", content=b"", category=WdRef("X", "Y")
        )


def test_create_job_requisition_uses_create_requisition_request_root() -> None:
    req = NewJobRequisition(
        title="Data Engineer",
        reason=WdRef("General_Event_Subcategory_ID", "NEW_HEADCOUNT"),
        supervisory_organization=WdRef("Organization_Reference_ID", "SUP-123"),
        description="<p>Join us</p>",
        recruiting_start_date=date(2025, 3, 1),
        target_hire_date=date(2025, 5, 1),
        primary_location=WdRef("Location_ID", "LDS"),
    )
    el = envelopes.create_job_requisition(V, req, comment="Created by connector")
    same_xml(
        el,
        f"""
    <bsvc:Create_Requisition_Request {NS} bsvc:version="v46.0">
      <bsvc:Business_Process_Parameters>
        <bsvc:Auto_Complete>false</bsvc:Auto_Complete><bsvc:Run_Now>true</bsvc:Run_Now>
        <bsvc:Comment_Data><bsvc:Comment>Created by connector</bsvc:Comment></bsvc:Comment_Data>
      </bsvc:Business_Process_Parameters>
      <bsvc:Create_Job_Requisition_Data>
        <bsvc:Supervisory_Organization_Reference>
          <bsvc:ID bsvc:type="Organization_Reference_ID">SUP-123</bsvc:ID>
        </bsvc:Supervisory_Organization_Reference>
        <bsvc:Create_Job_Requisition_Reason_Reference>
          <bsvc:ID bsvc:type="General_Event_Subcategory_ID">NEW_HEADCOUNT</bsvc:ID>
        </bsvc:Create_Job_Requisition_Reason_Reference>
        <bsvc:Number_of_Openings>1</bsvc:Number_of_Openings>
        <bsvc:Job_Requisition_Data>
          <bsvc:Job_Posting_Title>Data Engineer</bsvc:Job_Posting_Title>
          <bsvc:Job_Description>&lt;p&gt;Join us&lt;/p&gt;</bsvc:Job_Description>
          <bsvc:Recruiting_Start_Date>2025-03-01</bsvc:Recruiting_Start_Date>
          <bsvc:Target_Hire_Date>2025-05-01</bsvc:Target_Hire_Date>
          <bsvc:Primary_Location_Reference><bsvc:ID bsvc:type="Location_ID">LDS</bsvc:ID>
          </bsvc:Primary_Location_Reference>
        </bsvc:Job_Requisition_Data>
      </bsvc:Create_Job_Requisition_Data>
    </bsvc:Create_Requisition_Request>""",
    )
    with pytest.raises(ValueError, match="exactly one"):
        NewJobRequisition(title="x", reason=WdRef("A", "B"))


def test_move_candidate_golden_and_choices() -> None:
    el = envelopes.move_candidate(
        V,
        job_application=WdRef("Job_Application_ID", "JA-7781"),
        next_step=WdRef("Workflow_Step_ID", "Interview"),
        comment="Strong intern",
    )
    same_xml(
        el,
        f"""
    <bsvc:Move_Candidate_Request {NS} bsvc:version="v46.0">
      <bsvc:Dynamic_Business_Process_Parameters>
        <bsvc:Next_Step_Reference>
          <bsvc:ID bsvc:type="Workflow_Step_ID">Interview</bsvc:ID>
        </bsvc:Next_Step_Reference>
        <bsvc:Comment_Data><bsvc:Comment>Strong intern</bsvc:Comment></bsvc:Comment_Data>
      </bsvc:Dynamic_Business_Process_Parameters>
      <bsvc:Move_Candidate_Data>
        <bsvc:Job_Application_Reference><bsvc:ID bsvc:type="Job_Application_ID">JA-7781</bsvc:ID>
        </bsvc:Job_Application_Reference>
      </bsvc:Move_Candidate_Data>
    </bsvc:Move_Candidate_Request>""",
    )
    by_criteria = envelopes.move_candidate(
        V,
        candidate=WdRef.wid("c1"),
        requisition=WdRef.wid("r1"),
        disposition_step=WdRef("Workflow_Step_ID", "DISP_WITHDREW"),
    )
    assert (
        by_criteria.find(f"{envelopes.q('Move_Candidate_Data')}/{envelopes.q('Candidate_Criteria_Data')}")
        is not None
    )
    with pytest.raises(ValueError):
        envelopes.move_candidate(V, candidate=WdRef.wid("c1"), next_step=WdRef("W", "x"))
    with pytest.raises(ValueError):
        envelopes.move_candidate(
            V, job_application=WdRef.wid("a"), next_step=WdRef("W", "x"), disposition_step=WdRef("W", "y")
        )


def test_envelope_with_username_token_escapes_the_password() -> None:
    body = envelopes.get_candidates(V, Paging(1, 1))
    raw = envelopes.envelope(body, username="isu@acme", password="p<&>w").decode()
    root = ET.fromstring(raw)
    ns = {"s": envelopes.SOAP_NS, "w": envelopes.WSSE_NS, "b": envelopes.NS}
    assert root.find("s:Header/w:Security/w:UsernameToken/w:Password", ns).text == "p<&>w"  # type: ignore[union-attr]
    password = root.find("s:Header/w:Security/w:UsernameToken/w:Password", ns)
    assert password is not None and password.get("Type") == envelopes.PASSWORD_TEXT
    assert (
        root.find("s:Header/b:Workday_Common_Header/b:Include_Reference_Descriptors_In_Response", ns)
        is not None
    )
    assert root.find("s:Body/b:Get_Candidates_Request", ns) is not None
    bearer = ET.fromstring(envelopes.envelope(body))
    assert bearer.find("s:Header/w:Security", ns) is None


def test_datetimes_must_carry_an_offset_and_are_sent_in_utc() -> None:
    with pytest.raises(ValueError):
        envelopes.wd_datetime(datetime(2025, 1, 1))
    assert (
        envelopes.wd_datetime(datetime(2025, 1, 1, 1, tzinfo=timezone(timedelta(hours=-8))))
        == "2025-01-01T09:00:00+00:00"
    )
    with pytest.raises(ValueError):
        Paging(0, 10)
    with pytest.raises(ValueError):
        Paging(1, 1000)
    with pytest.raises(ValueError):
        Range(datetime(2025, 1, 2, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC))


# --- conversion ----------------------------------------------------------------------------------------


def test_create_job_requisition_with_code_profile_worker_and_time_type_in_schema_order() -> None:
    req = NewJobRequisition(
        title="Data Analyst Intern",
        reason=WdRef("General_Event_Subcategory_ID", "INTERN_CONVERSION"),
        supervisory_organization=WdRef("Organization_Reference_ID", "SUP-DATA"),
        requisition_id="MI-BI-DATA-ANALYST-INTERN",
        description="<p>Opened</p>",
        justification="Strong micro-intern",
        recruiting_start_date=date(2026, 5, 1),
        target_hire_date=date(2026, 6, 30),
        job_profile=WdRef("Job_Profile_ID", "JP-GRADUATE"),
        worker_type=WdRef("Worker_Type_ID", "Employee"),
        primary_location=WdRef("Location_ID", "REMOTE"),
        time_type=WdRef("Position_Time_Type_ID", "Full_time"),
        openings=2,
    )
    same_xml(
        envelopes.create_job_requisition(V, req, auto_complete=True, run_now=False),
        f"""
    <bsvc:Create_Requisition_Request {NS} bsvc:version="v46.0">
      <bsvc:Business_Process_Parameters>
        <bsvc:Auto_Complete>true</bsvc:Auto_Complete><bsvc:Run_Now>false</bsvc:Run_Now>
      </bsvc:Business_Process_Parameters>
      <bsvc:Create_Job_Requisition_Data>
        <bsvc:Supervisory_Organization_Reference>
          <bsvc:ID bsvc:type="Organization_Reference_ID">SUP-DATA</bsvc:ID>
        </bsvc:Supervisory_Organization_Reference>
        <bsvc:Create_Job_Requisition_Reason_Reference>
          <bsvc:ID bsvc:type="General_Event_Subcategory_ID">INTERN_CONVERSION</bsvc:ID>
        </bsvc:Create_Job_Requisition_Reason_Reference>
        <bsvc:Number_of_Openings>2</bsvc:Number_of_Openings>
        <bsvc:Job_Requisition_Data>
          <bsvc:Job_Requisition_ID>MI-BI-DATA-ANALYST-INTERN</bsvc:Job_Requisition_ID>
          <bsvc:Job_Posting_Title>Data Analyst Intern</bsvc:Job_Posting_Title>
          <bsvc:Job_Description>&lt;p&gt;Opened&lt;/p&gt;</bsvc:Job_Description>
          <bsvc:Justification>Strong micro-intern</bsvc:Justification>
          <bsvc:Recruiting_Start_Date>2026-05-01</bsvc:Recruiting_Start_Date>
          <bsvc:Target_Hire_Date>2026-06-30</bsvc:Target_Hire_Date>
          <bsvc:Job_Profile_Reference><bsvc:ID bsvc:type="Job_Profile_ID">JP-GRADUATE</bsvc:ID>
          </bsvc:Job_Profile_Reference>
          <bsvc:Worker_Type_Reference><bsvc:ID bsvc:type="Worker_Type_ID">Employee</bsvc:ID>
          </bsvc:Worker_Type_Reference>
          <bsvc:Primary_Location_Reference><bsvc:ID bsvc:type="Location_ID">REMOTE</bsvc:ID>
          </bsvc:Primary_Location_Reference>
          <bsvc:Position_Time_Type_Reference><bsvc:ID bsvc:type="Position_Time_Type_ID">Full_time</bsvc:ID>
          </bsvc:Position_Time_Type_Reference>
        </bsvc:Job_Requisition_Data>
      </bsvc:Create_Job_Requisition_Data>
    </bsvc:Create_Requisition_Request>""",
    )


def test_put_candidate_applies_an_existing_person_to_a_requisition() -> None:
    el = envelopes.put_candidate(
        V,
        candidate=WdRef.wid("c1"),
        add_only=False,
        job_application=envelopes.JobApplication(
            requisition=WdRef.wid("r1"),
            stage=WdRef("Recruiting_Stage_ID", "Review"),
            source=WdRef("Applicant_Source_ID", "Micro_Internship"),
        ),
    )
    same_xml(
        el,
        f"""
    <bsvc:Put_Candidate_Request {NS} bsvc:version="v46.0" bsvc:Add_Only="false">
      <bsvc:Candidate_Reference><bsvc:ID bsvc:type="WID">c1</bsvc:ID></bsvc:Candidate_Reference>
      <bsvc:Candidate_Data>
        <bsvc:Job_Application_Data>
          <bsvc:Job_Applied_To_Data>
            <bsvc:Job_Requisition_Reference><bsvc:ID bsvc:type="WID">r1</bsvc:ID>
            </bsvc:Job_Requisition_Reference>
            <bsvc:Stage_Reference><bsvc:ID bsvc:type="Recruiting_Stage_ID">Review</bsvc:ID>
            </bsvc:Stage_Reference>
            <bsvc:Source_Reference>
              <bsvc:ID bsvc:type="Applicant_Source_ID">Micro_Internship</bsvc:ID>
            </bsvc:Source_Reference>
          </bsvc:Job_Applied_To_Data>
        </bsvc:Job_Application_Data>
      </bsvc:Candidate_Data>
    </bsvc:Put_Candidate_Request>""",
    )
    # with tags too: Job_Application_Data comes before Prospect_Data and the tags (v46 order)
    mixed = envelopes.put_candidate(
        V,
        add_only=True,
        last_name="B",
        email="b@x.example",
        prospect=True,
        tags=[WdRef("Candidate_Tag_ID", "T")],
        job_application=envelopes.JobApplication(WdRef.wid("r1"), WdRef("Recruiting_Stage_ID", "Review")),
    )
    names = [c.tag.split("}")[1] for c in mixed.find(envelopes.q("Candidate_Data")) or []]
    assert names == [
        "Name_Data",
        "Contact_Data",
        "Job_Application_Data",
        "Prospect_Data",
        "Candidate_Tag_Reference",
    ]


PRESCREEN_B64 = base64.b64encode(b"Prescreen\n").decode()


def test_put_job_application_attachment_golden() -> None:
    el = envelopes.put_job_application_attachment(
        V,
        candidate=WdRef.wid("c1"),
        job_application=WdRef("Job_Application_ID", "JA-1"),
        filename="micro-internship-prescreen-ab.txt",
        content=b"Prescreen\n",
        comment="Micro-internship prescreen [syncbridge:k]",
        mime_type=WdRef("Content_Type_ID", "text/plain"),
    )
    same_xml(
        el,
        f"""
    <bsvc:Put_Candidate_Attachment_Request {NS} bsvc:version="v46.0" bsvc:Add_Only="true">
      <bsvc:Candidate_Reference><bsvc:ID bsvc:type="WID">c1</bsvc:ID></bsvc:Candidate_Reference>
      <bsvc:Job_Application_Attachment_Data>
        <bsvc:Job_Application_Reference>
          <bsvc:ID bsvc:type="Job_Application_ID">JA-1</bsvc:ID>
        </bsvc:Job_Application_Reference>
        <bsvc:Attachment_Data>
          <bsvc:Filename>micro-internship-prescreen-ab.txt</bsvc:Filename>
          <bsvc:File_Content>{PRESCREEN_B64}</bsvc:File_Content>
          <bsvc:Mime_Type_Reference><bsvc:ID bsvc:type="Content_Type_ID">text/plain</bsvc:ID>
          </bsvc:Mime_Type_Reference>
          <bsvc:Comment>Micro-internship prescreen [syncbridge:k]</bsvc:Comment>
        </bsvc:Attachment_Data>
      </bsvc:Job_Application_Attachment_Data>
    </bsvc:Put_Candidate_Attachment_Request>""",
    )
    with pytest.raises(ValueError, match="Filename and File Content"):
        envelopes.put_job_application_attachment(
            V, candidate=WdRef.wid("c"), job_application=WdRef.wid("a"), filename="x", content=b""
        )


def test_post_job_and_get_job_postings_golden() -> None:
    el = envelopes.post_job(
        V,
        requisition=WdRef.wid("r1"),
        site=WdRef("Job_Posting_Site_ID", "INTERNAL"),
        start=date(2026, 5, 1),
        end=date(2026, 5, 31),
        primary=True,
        comment="Posted by syncbridge",
    )
    same_xml(
        el,
        f"""
    <bsvc:Post_Job_Request {NS} bsvc:version="v46.0">
      <bsvc:Business_Process_Parameters>
        <bsvc:Auto_Complete>true</bsvc:Auto_Complete><bsvc:Run_Now>true</bsvc:Run_Now>
        <bsvc:Comment_Data><bsvc:Comment>Posted by syncbridge</bsvc:Comment></bsvc:Comment_Data>
      </bsvc:Business_Process_Parameters>
      <bsvc:Post_Job_Data>
        <bsvc:Job_Requisition_Reference><bsvc:ID bsvc:type="WID">r1</bsvc:ID></bsvc:Job_Requisition_Reference>
        <bsvc:Job_Posting_Site_Data>
          <bsvc:Job_Posting_Site_Reference>
            <bsvc:ID bsvc:type="Job_Posting_Site_ID">INTERNAL</bsvc:ID>
          </bsvc:Job_Posting_Site_Reference>
          <bsvc:Job_Posting_Start_Date>2026-05-01</bsvc:Job_Posting_Start_Date>
          <bsvc:Job_Posting_End_Date>2026-05-31</bsvc:Job_Posting_End_Date>
          <bsvc:Primary_Posting>true</bsvc:Primary_Posting>
        </bsvc:Job_Posting_Site_Data>
      </bsvc:Post_Job_Data>
    </bsvc:Post_Job_Request>""",
    )
    with pytest.raises(ValueError, match="before it starts"):
        envelopes.post_job(
            V, requisition=WdRef.wid("r"), site=WdRef("S", "s"), start=date(2026, 5, 2), end=date(2026, 5, 1)
        )
    same_xml(
        envelopes.get_job_postings(
            V, Paging(1, 100), requisition=WdRef.wid("r1"), sites=[WdRef("Job_Posting_Site_ID", "INTERNAL")]
        ),
        f"""
    <bsvc:Get_Job_Postings_Request {NS} bsvc:version="v46.0">
      <bsvc:Request_Criteria>
        <bsvc:Job_Posting_Site_Reference>
          <bsvc:ID bsvc:type="Job_Posting_Site_ID">INTERNAL</bsvc:ID>
        </bsvc:Job_Posting_Site_Reference>
        <bsvc:Job_Requisition_Reference><bsvc:ID bsvc:type="WID">r1</bsvc:ID></bsvc:Job_Requisition_Reference>
        <bsvc:Show_Only_Active_Job_Postings>true</bsvc:Show_Only_Active_Job_Postings>
      </bsvc:Request_Criteria>
      <bsvc:Response_Filter><bsvc:Page>1</bsvc:Page><bsvc:Count>100</bsvc:Count></bsvc:Response_Filter>
      <bsvc:Response_Group><bsvc:Include_Reference>true</bsvc:Include_Reference></bsvc:Response_Group>
    </bsvc:Get_Job_Postings_Request>""",
    )


def test_get_job_requisitions_by_job_requisition_id_reference() -> None:
    el = envelopes.get_job_requisitions(V, Paging(1, 1), references=[WdRef("Job_Requisition_ID", "MI-X")])
    rr = el.find(envelopes.q("Request_References"))
    assert rr is not None and rr.get(envelopes.q("Skip_Non_Existing_Instances")) == "true"
    ref = rr.find(f"{envelopes.q('Job_Requisition_Reference')}/{envelopes.q('ID')}")
    assert ref is not None and ref.text == "MI-X" and ref.get(envelopes.q("type")) == "Job_Requisition_ID"
