"""Parsing Workday responses: documented shapes, single-vs-list, faults, and refusing unsafe XML."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET

import pytest

from syncbridge.connectors.workday import mapping, parse
from syncbridge.connectors.workday.parse import MalformedXml, SoapFault, UnsafeXml
from syncbridge.model import Note

ENV = '<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Body>{}</env:Body></env:Envelope>'

# Workday's documented Get_Candidates response shape, with the elided parts filled in
CANDIDATE = """
    <wd:Candidate>
      <wd:Candidate_Reference wd:Descriptor="Ada Example">
        <wd:ID wd:type="WID">3f1c0000000000000000000000000e9</wd:ID>
        <wd:ID wd:type="Candidate_ID">C100234</wd:ID>
      </wd:Candidate_Reference>
      <wd:Candidate_Data>
        <wd:Candidate_ID>C100234</wd:Candidate_ID>
        <wd:Name_Data><wd:Legal_Name><wd:Name_Detail_Data>
          <wd:First_Name>Ada</wd:First_Name><wd:Last_Name>Example</wd:Last_Name>
        </wd:Name_Detail_Data></wd:Legal_Name></wd:Name_Data>
        <wd:Contact_Data>
          <wd:Phone_Number>5550100</wd:Phone_Number>
          <wd:Email_Address>ada@example.com</wd:Email_Address>
          <wd:Location_Data><wd:Country_Reference><wd:ID wd:type="ISO_3166-1_Alpha-3_Code">GBR</wd:ID>
          </wd:Country_Reference><wd:City>Leeds</wd:City></wd:Location_Data>
        </wd:Contact_Data>
        <wd:Status_Data><wd:Do_Not_Hire>false</wd:Do_Not_Hire><wd:Withdrawn>false</wd:Withdrawn></wd:Status_Data>
        <wd:Job_Application_Data>
          <wd:Job_Application_Reference><wd:ID wd:type="Job_Application_ID">JA-7781</wd:ID>
          </wd:Job_Application_Reference>
          <wd:Job_Applied_To_Data>
            <wd:Job_Application_ID>JA-7781</wd:Job_Application_ID>
            <wd:Job_Requisition_Reference><wd:ID wd:type="Job_Requisition_ID">R-0042</wd:ID>
            </wd:Job_Requisition_Reference>
            <wd:Job_Application_Date>2025-03-02T10:11:00-08:00</wd:Job_Application_Date>
            <wd:Stage_Reference><wd:ID wd:type="Recruiting_Stage_ID">Screen</wd:ID></wd:Stage_Reference>
            <wd:Status_Timestamp>2025-03-04T09:00:00-08:00</wd:Status_Timestamp>
            <wd:Source_Reference wd:Descriptor="LinkedIn"><wd:ID wd:type="Applicant_Source_ID">LI</wd:ID>
            </wd:Source_Reference>
          </wd:Job_Applied_To_Data>
        </wd:Job_Application_Data>
        <wd:Prospect_Data><wd:Prospect>true</wd:Prospect></wd:Prospect_Data>
        <wd:Candidate_Tag_Reference wd:Descriptor="Silver medalist">
          <wd:ID wd:type="WID">aa000000000000000000000000000001</wd:ID>
          <wd:ID wd:type="Candidate_Tag_ID">SILVER_MEDALIST</wd:ID>
        </wd:Candidate_Tag_Reference>
      </wd:Candidate_Data>
    </wd:Candidate>"""

SECOND = """
    <wd:Candidate>
      <wd:Candidate_Reference><wd:ID wd:type="WID">bbbb0000000000000000000000000002</wd:ID>
      </wd:Candidate_Reference>
      <wd:Candidate_Data>
        <wd:Name_Data><wd:Legal_Name><wd:Name_Detail_Data><wd:Last_Name>Ōkubo</wd:Last_Name>
        </wd:Name_Detail_Data></wd:Legal_Name></wd:Name_Data>
        <wd:Contact_Data>
          <wd:Email_Address>first@example.org</wd:Email_Address>
          <wd:Email_Address>Second@Example.org</wd:Email_Address>
        </wd:Contact_Data>
        <wd:Candidate_Tag_Reference wd:Descriptor="Boomerang">
          <wd:ID wd:type="Candidate_Tag_ID">BOOMERANG</wd:ID>
        </wd:Candidate_Tag_Reference>
        <wd:Candidate_Tag_Reference><wd:ID wd:type="Candidate_Tag_ID">MICRO_INTERN</wd:ID>
        </wd:Candidate_Tag_Reference>
      </wd:Candidate_Data>
    </wd:Candidate>"""


def response(*candidates: str, total: int | None = None, pages: int = 1, page: int = 1) -> bytes:
    count = len(candidates) if total is None else total
    return ENV.format(
        f'<wd:Get_Candidates_Response wd:version="v46.0" xmlns:wd="urn:com.workday/bsvc">'
        f"<wd:Response_Results><wd:Total_Results>{count}</wd:Total_Results><wd:Total_Pages>{pages}</wd:Total_Pages>"
        f"<wd:Page_Results>{len(candidates)}</wd:Page_Results><wd:Page>{page}</wd:Page></wd:Response_Results>"
        f"<wd:Response_Data>{''.join(candidates)}</wd:Response_Data></wd:Get_Candidates_Response>"
    ).encode()


TAGS = mapping.TagNames({"micro-intern": "MICRO_INTERN"}, "Candidate_Tag_ID")


def payload(data: bytes) -> ET.Element:
    result = parse.body_payload(parse.parse_document(data))
    assert not isinstance(result, SoapFault)
    return result


def test_documented_candidate_maps_with_wid_as_key_and_business_id_in_raw() -> None:
    p = payload(response(CANDIDATE))
    info = parse.page_info(p)
    assert (info.total_results, info.total_pages, info.page_results, info.page) == (1, 1, 1, 1)
    records = parse.response_records(p, "Candidate")
    assert len(records) == 1  # one <Candidate> still comes back as a list
    cand = mapping.candidate_from_wd(records[0], "wd", TAGS)
    assert cand.ref.id == "3f1c0000000000000000000000000e9"
    assert mapping.candidate_id_of(cand.raw) == "C100234"
    assert (cand.first_name, cand.last_name) == ("Ada", "Example")
    assert [e.value for e in cand.emails] == ["ada@example.com"]
    assert [p.value for p in cand.phones] == ["5550100"]
    assert cand.tags == ("Silver medalist",)
    assert cand.application_ids == ("JA-7781",)
    assert cand.created_at is not None and cand.created_at.utcoffset() is not None
    assert cand.raw["Candidate_Data"]["Job_Application_Data"][0]["Job_Applied_To_Data"][0]["Stage_Reference"]


def test_single_and_repeated_elements_read_the_same() -> None:
    one = parse.response_records(payload(response(CANDIDATE)), "Candidate")[0]
    data = one["Candidate_Data"]
    # repeatable elements are lists even with a single item ...
    assert isinstance(data["Candidate_Tag_Reference"], list) and len(data["Candidate_Tag_Reference"]) == 1
    assert isinstance(data["Contact_Data"]["Email_Address"], list)
    assert isinstance(one["Candidate_Reference"]["ID"], list) and len(one["Candidate_Reference"]["ID"]) == 2
    # ... and non-repeatable ones are plain values
    assert data["Candidate_ID"] == "C100234"
    assert isinstance(data["Name_Data"], dict)

    both = parse.response_records(payload(response(CANDIDATE, SECOND)), "Candidate")
    assert len(both) == 2
    second = mapping.candidate_from_wd(both[1], "wd", TAGS)
    assert second.tags == ("Boomerang", "micro-intern")  # descriptor, or the configured name for an id
    assert second.normalized_emails == ["first@example.org", "second@example.org"]
    assert second.first_name is None and second.last_name == "Ōkubo"
    assert parse.as_list(None) == [] and parse.as_list("x") == ["x"] and parse.as_list(["x"]) == ["x"]


def test_older_email_address_data_shape_is_read_too() -> None:
    record = {
        "Candidate_Reference": {"ID": [{"@type": "WID", "#text": "w1"}]},
        "Candidate_Data": {"Contact_Data": {"Email_Address_Data": {"Email_Address": "old@example.com"}}},
    }
    assert mapping.candidate_from_wd(record, "wd", TAGS).normalized_emails == ["old@example.com"]
    with pytest.raises(ValueError, match="WID"):
        mapping.candidate_from_wd(
            {"Candidate_Reference": {"ID": [{"@type": "Candidate_ID", "#text": "C1"}]}}, "wd", TAGS
        )


def test_empty_page_and_missing_response_data() -> None:
    p = payload(response(total=0, pages=0))
    assert parse.response_records(p, "Candidate") == []
    assert parse.page_info(p).total_pages == 0


REQUISITION = """
<wd:Get_Job_Requisitions_Response xmlns:wd="urn:com.workday/bsvc" wd:version="v46.0">
 <wd:Response_Results><wd:Total_Results>1</wd:Total_Results><wd:Total_Pages>1</wd:Total_Pages>
  <wd:Page_Results>1</wd:Page_Results><wd:Page>1</wd:Page></wd:Response_Results>
 <wd:Response_Data>
 <wd:Job_Requisition>
  <wd:Job_Requisition_Reference><wd:ID wd:type="WID">rq00000000000000000000000000042</wd:ID>
   <wd:ID wd:type="Job_Requisition_ID">R-0042</wd:ID></wd:Job_Requisition_Reference>
  <wd:Job_Requisition_Data>
    <wd:Job_Requisition_Status_Reference><wd:ID wd:type="Job_Requisition_Status_ID">Open</wd:ID>
    </wd:Job_Requisition_Status_Reference>
    <wd:Job_Requisition_Detail_Data>
      <wd:Job_Posting_Title>Data Engineer</wd:Job_Posting_Title>
      <wd:Positions_Allocated>2</wd:Positions_Allocated><wd:Positions_Available>1</wd:Positions_Available>
      <wd:Job_Description>&lt;p&gt;Pipelines&lt;/p&gt;</wd:Job_Description>
      <wd:Confidential_Job_Requisition>false</wd:Confidential_Job_Requisition>
    </wd:Job_Requisition_Detail_Data>
    <wd:Hiring_Requirement_Data>
      <wd:Recruiting_Start_Date>2025-03-01</wd:Recruiting_Start_Date><wd:Target_Hire_Date>2025-05-01</wd:Target_Hire_Date>
      <wd:Primary_Location_Reference><wd:ID wd:type="Location_ID">LDS</wd:ID></wd:Primary_Location_Reference>
    </wd:Hiring_Requirement_Data>
    <wd:Supervisory_Organization_Reference wd:Descriptor="Data &amp; Analytics">
      <wd:ID wd:type="Organization_Reference_ID">SUP-DATA</wd:ID></wd:Supervisory_Organization_Reference>
  </wd:Job_Requisition_Data>
 </wd:Job_Requisition>
 </wd:Response_Data>
</wd:Get_Job_Requisitions_Response>"""


def test_documented_requisition_read_shape() -> None:
    records = parse.response_records(payload(ENV.format(REQUISITION).encode()), "Job_Requisition")
    req = mapping.requisition_from_wd(records[0], "wd")
    assert req.ref.id == "rq00000000000000000000000000042"
    assert (req.name, req.code, req.status, req.department) == (
        "Data Engineer",
        "R-0042",
        "Open",
        "Data & Analytics",
    )
    assert req.created_at is not None and req.created_at.date().isoformat() == "2025-03-01"
    detail = req.raw["Job_Requisition_Data"]["Job_Requisition_Detail_Data"]
    assert detail["Job_Description"] == "<p>Pipelines</p>" and detail["Positions_Available"] == "1"


VALIDATION_FAULT = """
<SOAP-ENV:Fault xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:wd="urn:com.workday/bsvc">
  <faultcode>SOAP-ENV:Client.validationError</faultcode>
  <faultstring>Validation error occurred. Invalid ID value. '45873' is not a valid ID value for type = \
'Location_ID'</faultstring>
  <detail><wd:Validation_Fault>
    <wd:Validation_Error>
      <wd:Message>Invalid ID value. '45873' is not a valid ID value for type = 'Location_ID'</wd:Message>
      <wd:Detail_Message>Invalid ID value. '45873' is not a valid ID value for type = \
'Location_ID'</wd:Detail_Message>
      <wd:Xpath>/wd:Put_Location_Request[1]/wd:Location_Data[1]</wd:Xpath>
    </wd:Validation_Error>
    <wd:Validation_Error><wd:Message>Second problem</wd:Message><wd:Xpath>/wd:X[1]</wd:Xpath>
    </wd:Validation_Error>
  </wd:Validation_Fault></detail>
</SOAP-ENV:Fault>"""


def test_validation_fault_keeps_message_detail_and_xpath() -> None:
    fault = parse.find_fault(ENV.format(VALIDATION_FAULT).encode())
    assert isinstance(fault, SoapFault)
    assert fault.kind == "validation"
    assert fault.xpath == "/wd:Put_Location_Request[1]/wd:Location_Data[1]"
    assert "45873" in fault.message and len(fault.items) == 2
    assert any("Second problem" in d and "/wd:X[1]" in d for d in fault.details())
    assert isinstance(
        parse.body_payload(parse.parse_document(ENV.format(VALIDATION_FAULT).encode())), SoapFault
    )


def test_processing_and_authentication_faults() -> None:
    processing = ENV.format(
        '<SOAP-ENV:Fault xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:wd="urn:com.workday/bsvc"><faultcode>SOAP-ENV:Client.processingError</faultcode>'
        "<faultstring>Processing error occurred.</faultstring><detail><wd:Processing_Fault>"
        "<wd:Detail_Message>The task submitted is not authorized.</wd:Detail_Message>"
        "<wd:Code>S22</wd:Code></wd:Processing_Fault></detail></SOAP-ENV:Fault>"
    ).encode()
    fault = parse.find_fault(processing)
    assert fault is not None and fault.kind == "processing" and fault.items[0].code == "S22"
    auth = ENV.format(
        '<SOAP-ENV:Fault xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">'
        "<faultcode>SOAP-ENV:Client.authenticationError</faultcode><faultstring>invalid username or password"
        "</faultstring></SOAP-ENV:Fault>"
    ).encode()
    fault = parse.find_fault(auth)
    assert (
        fault is not None
        and fault.kind == "authentication"
        and fault.message == "invalid username or password"
    )
    assert parse.find_fault(b"<html><body>Service Unavailable</body></html>") is None
    assert parse.find_fault(b"Service Unavailable") is None
    assert parse.find_fault(response(CANDIDATE)) is None


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Body>
<wd:Get_Candidates_Response xmlns:wd="urn:com.workday/bsvc"><wd:Response_Data>
<wd:Candidate>&xxe;</wd:Candidate>
</wd:Response_Data></wd:Get_Candidates_Response></env:Body></env:Envelope>"""

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Body><x>&lol4;</x></env:Body></env:Envelope>"""


@pytest.mark.parametrize("body", [XXE, LAUGHS], ids=["xxe", "billion-laughs"])
def test_unsafe_xml_is_refused_with_a_clear_error(body: bytes) -> None:
    with pytest.raises(UnsafeXml, match="refused an XML response that declares a DTD"):
        parse.parse_document(body, connector="wd")
    with pytest.raises(UnsafeXml):  # also when it arrives as an error body
        parse.find_fault(body)


def test_malformed_xml_is_a_server_error() -> None:
    with pytest.raises(MalformedXml, match="not well-formed"):
        parse.parse_document(b"<env:Envelope><unclosed>")
    with pytest.raises(MalformedXml, match="empty Body"):
        parse.body_payload(parse.parse_document(ENV.format("").encode()))


def test_note_attachment_and_marker_search() -> None:
    note = Note(
        subject="Micro-internship: Churn at Acme", text="Rated 4.8/5 — ünïcode", marker="syncbridge:k9"
    )
    filename, content, comment = mapping.note_attachment(note)
    assert filename.startswith("micro-internship-") and filename.endswith(".txt")
    assert content.decode().endswith("[syncbridge:k9]") and "[syncbridge:k9]" in comment
    b64 = base64.b64encode(content).decode()
    items = [
        {
            "Candidate_Attachment_Reference": {"ID": [{"@type": "WID", "#text": "resume1"}]},
            "Attachment_Data": {"Filename": "cv.txt", "File_Content": base64.b64encode(b"CV").decode()},
        },
        {
            "Candidate_Attachment_Reference": {"ID": [{"@type": "WID", "#text": "att2"}]},
            "Attachment_Data": {"Filename": filename, "File_Content": b64},
        },
    ]
    found = mapping.find_marker(items, "syncbridge:k9")
    assert found is not None and mapping.attachment_id(found) == "att2"
    by_comment = [{"Attachment_Data": {"Comment": comment, "File_Content": "!!not base64!!"}}]
    assert mapping.find_marker(by_comment, "syncbridge:k9") is not None
    assert mapping.find_marker(items, "syncbridge:other") is None


# --- conversion mapping ---------------------------------------------------------------------------------


def test_application_key_carries_the_candidate_and_round_trips() -> None:
    key = mapping.application_key("c" * 32, {"Job_Application_ID": "JA-1", "WID": "a" * 32})
    assert key == f"{'c' * 32}/WID={'a' * 32}"
    candidate, ref = mapping.parse_application_key(key)
    assert candidate == "c" * 32 and (ref.type, ref.value) == ("WID", "a" * 32)
    assert mapping.application_key("c1", {"Job_Application_ID": "JA-1"}) == "c1/Job_Application_ID=JA-1"
    for bad in ("JA-1", "c1/", "c1/WID=", "/WID=x"):
        with pytest.raises(ValueError, match="not a Workday job application id"):
            mapping.parse_application_key(bad)


def test_prescreen_document_lists_the_fields_and_ends_with_the_marker() -> None:
    name, content, comment = mapping.prescreen_document(
        "Prescreen: 4.8/5\n", {"mi_score": 4.8, "mi_skills": ["SQL", "Python"], "ok": True}, "syncbridge:k1"
    )
    text = content.decode()
    assert name.startswith("micro-internship-prescreen-") and name.endswith(".txt")
    assert "- mi_score: 4.8" in text and "- mi_skills: SQL, Python" in text and "- ok: yes" in text
    assert text.rstrip().endswith("[syncbridge:k1]") and "[syncbridge:k1]" in comment
    assert (
        mapping.prescreen_document("x", {}, "syncbridge:k1")[0] == name
    )  # the name depends on the marker only
    assert "Prescreen fields" not in mapping.prescreen_document("x", {}, "m")[1].decode()


def test_job_applications_are_flattened_with_stage_step_and_attachments() -> None:
    record = {
        "Candidate_Data": {
            "Job_Application_Data": [
                {
                    "Job_Application_Reference": {"ID": [{"@type": "WID", "#text": "a1"}]},
                    "Job_Applied_To_Data": [
                        {
                            "Job_Application_ID": "JA-1",
                            "Job_Requisition_Reference": {"ID": [{"@type": "WID", "#text": "r1"}]},
                            "Stage_Reference": {"ID": [{"@type": "Recruiting_Stage_ID", "#text": "Screen"}]},
                            "Workflow_Step_Reference": {"ID": [{"@type": "Workflow_Step_ID", "#text": "S2"}]},
                        }
                    ],
                    "Resume_Attachment_Data": [
                        {"ID": "x1", "Filename": "f.txt", "Comment": "c [syncbridge:m]", "File_Content": ""}
                    ],
                }
            ]
        }
    }
    [app] = mapping.job_applications(record)
    assert app["ids"] == {"WID": "a1", "Job_Application_ID": "JA-1"} and app["requisition"] == {"WID": "r1"}
    assert app["stage"] == {"Screen"} and app["step"] == {"S2"} and not app["disposed"]
    assert mapping.find_attachment(app["attachments"], "syncbridge:m", "other.txt") is not None
    assert mapping.find_attachment(app["attachments"], "syncbridge:zz", "f.txt") is not None
    assert mapping.find_attachment(app["attachments"], "syncbridge:zz", "other.txt") is None
    assert mapping.job_applications({}) == []
