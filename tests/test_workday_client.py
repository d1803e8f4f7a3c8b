"""The Workday connector and its SOAP client against canned responses (``responses``)."""

from __future__ import annotations

import base64
import logging
import re
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import requests
import responses
from pydantic import ValidationError

from syncbridge.connector import MemoryState, Window
from syncbridge.connectors.workday import envelopes
from syncbridge.connectors.workday.connector import WorkdayConnector, WorkdaySettings
from syncbridge.connectors.workday.envelopes import NewJobRequisition, WdRef
from syncbridge.connectors.workday.parse import UnsafeXml
from syncbridge.errors import AuthError, InvalidRequest, PermissionDenied, RateLimited, ServerError
from syncbridge.model import NewCandidate, Note

HOST = "https://wd2-impl-services1.workday.com"
URL = f"{HOST}/ccx/service/acme/Recruiting/v46.0"
TOKEN_URL = f"{HOST}/ccx/oauth2/acme/token"
PASSWORD = "Pw-for-the-ISU-9a7c&<x>"
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
WD = "urn:com.workday/bsvc"
NS = {"s": SOAP, "b": WD, "w": envelopes.WSSE_NS}


# --- helpers -------------------------------------------------------------------------------------------


def settings(**kw: Any) -> WorkdaySettings:
    data: dict[str, Any] = {
        "type": "workday",
        "host": HOST,
        "tenant": "acme",
        "username": "ISU_SB",
        "password": PASSWORD,
        "tag_ids": {"micro-intern": "MICRO_INTERN"},
    }
    data.update(kw)
    return WorkdaySettings.model_validate({k: v for k, v in data.items() if v is not None})


def connector(state: MemoryState | None = None, **kw: Any) -> WorkdayConnector:
    return WorkdayConnector(
        "acme-wd", settings(**kw), state=state or MemoryState(), clock=lambda: NOW, sleep=lambda _s: None
    )


def envelope(inner: str) -> str:
    return f'<env:Envelope xmlns:env="{SOAP}"><env:Body>{inner}</env:Body></env:Envelope>'


def candidate(wid: str, email: str = "", *, tags: str = "", attachments: str = "") -> str:
    contact = (
        f"<wd:Contact_Data><wd:Email_Address>{email}</wd:Email_Address></wd:Contact_Data>" if email else ""
    )
    return (
        f'<wd:Candidate><wd:Candidate_Reference><wd:ID wd:type="WID">{wid}</wd:ID></wd:Candidate_Reference>'
        f"<wd:Candidate_Data><wd:Candidate_ID>C-{wid}</wd:Candidate_ID><wd:Name_Data><wd:Legal_Name>"
        f"<wd:Name_Detail_Data><wd:First_Name>Ann</wd:First_Name><wd:Last_Name>Lee</wd:Last_Name>"
        f"</wd:Name_Detail_Data></wd:Legal_Name></wd:Name_Data>{contact}{tags}{attachments}"
        f"</wd:Candidate_Data></wd:Candidate>"
    )


def page(
    *cands: str,
    total_pages: int = 1,
    page_no: int = 1,
    total: int | None = None,
    root: str = "Get_Candidates_Response",
) -> str:
    n = len(cands) if total is None else total
    return envelope(
        f'<wd:{root} xmlns:wd="{WD}" wd:version="v46.0"><wd:Response_Results><wd:Total_Results>{n}'
        f"</wd:Total_Results><wd:Total_Pages>{total_pages}</wd:Total_Pages><wd:Page_Results>{len(cands)}"
        f"</wd:Page_Results><wd:Page>{page_no}</wd:Page></wd:Response_Results><wd:Response_Data>{''.join(cands)}"
        f"</wd:Response_Data></wd:{root}>"
    )


def fault(kind: str, message: str, xpath: str | None = None) -> str:
    if kind == "validation":
        x = f"<wd:Xpath>{xpath}</wd:Xpath>" if xpath else ""
        detail = (
            f"<detail><wd:Validation_Fault><wd:Validation_Error><wd:Message>{message}</wd:Message>{x}"
            "</wd:Validation_Error></wd:Validation_Fault></detail>"
        )
        code = "SOAP-ENV:Client.validationError"
    elif kind == "processing":
        detail = (
            f"<detail><wd:Processing_Fault><wd:Detail_Message>{message}</wd:Detail_Message>"
            "</wd:Processing_Fault></detail>"
        )
        code = "SOAP-ENV:Client.processingError"
    else:
        detail, code = "", "SOAP-ENV:Client.authenticationError"
    return envelope(
        f'<SOAP-ENV:Fault xmlns:SOAP-ENV="{SOAP}" xmlns:wd="{WD}"><faultcode>{code}</faultcode>'
        f"<faultstring>{message}</faultstring>{detail}</SOAP-ENV:Fault>"
    )


def raw_body(req: Any) -> bytes:
    return req.body if isinstance(req.body, bytes) else str(req.body or "").encode()


def body_of(req: Any) -> ET.Element:
    root = ET.fromstring(raw_body(req))
    payload = root.find("s:Body", NS)
    assert payload is not None
    return payload[0]


def texts(el: ET.Element, path: str) -> list[str]:
    return [e.text or "" for e in el.iterfind(path, NS)]


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


# --- transport and auth --------------------------------------------------------------------------------


def test_soap_post_shape_with_username_token(rsps: responses.RequestsMock) -> None:
    rsps.post(URL, body=page(candidate("w1", "ann@example.com")))
    found = connector().find_candidates("Ann@Example.com ")
    assert [c.ref.id for c in found] == ["w1"]
    call = rsps.calls[0].request
    assert call.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert call.headers["SOAPAction"] == '""'
    assert "Authorization" not in call.headers
    root = ET.fromstring(raw_body(call))
    assert root.find("s:Header/w:Security/w:UsernameToken/w:Username", NS).text == "ISU_SB@acme"  # type: ignore[union-attr]
    assert root.find("s:Header/w:Security/w:UsernameToken/w:Password", NS).text == PASSWORD  # type: ignore[union-attr]
    req = body_of(call)
    assert req.tag == f"{{{WD}}}Get_Candidates_Request" and req.get(f"{{{WD}}}version") == "v46.0"
    assert texts(req, "b:Request_Criteria/b:Candidate_Email_Address") == ["Ann@Example.com"]
    assert not texts(req, "b:Response_Filter/b:As_Of_Entry_DateTime")  # lookups are not pinned


def test_paging_pins_as_of_reads_until_total_pages_and_dedupes_wids(rsps: responses.RequestsMock) -> None:
    seen: list[tuple[str, str]] = []

    def reply(request: Any) -> tuple[int, dict[str, str], str]:
        req = body_of(request)
        number = int(texts(req, "b:Response_Filter/b:Page")[0])
        seen.append(
            (
                texts(req, "b:Response_Filter/b:As_Of_Entry_DateTime")[0],
                texts(req, "b:Response_Filter/b:Count")[0],
            )
        )
        wids = {1: ["a", "b"], 2: ["c"], 3: ["a", "d"]}[number]  # "a" again on page 3
        return 200, {}, page(*(candidate(w) for w in wids), total_pages=3, page_no=number, total=5)

    rsps.add_callback(responses.POST, URL, callback=reply)
    pages = list(connector(page_size=2).read("candidates", Window(None, NOW)))
    assert [[c.ref.id for c in p] for p in pages] == [["a", "b"], ["c"], ["d"]]
    assert len(seen) == 3 and len({s[0] for s in seen}) == 1 and seen[0][0] == "2025-06-01T12:00:00+00:00"
    assert {s[1] for s in seen} == {"2"}


def test_single_candidate_page_still_reads_as_a_list(rsps: responses.RequestsMock) -> None:
    rsps.post(URL, body=page(candidate("only")))
    pages = connector().read("candidates", Window(None, NOW))
    assert [[c.ref.id for c in p] for p in pages] == [["only"]]


def test_incremental_window_ends_lag_before_now_and_overlaps_by_the_lag(rsps: responses.RequestsMock) -> None:
    rsps.post(URL, body=page())
    c = connector(lag_minutes=60)
    list(c.read("candidates", Window(NOW - timedelta(hours=2), NOW + timedelta(seconds=3))))
    req = body_of(rsps.calls[0].request)
    base = "b:Request_Criteria/b:Transaction_Log_Criteria_Data/b:Transaction_Date_Range_Data"
    assert texts(req, f"{base}/b:Updated_From") == ["2025-06-01T09:00:00+00:00"]  # since - lag
    assert texts(req, f"{base}/b:Updated_Through") == ["2025-06-01T11:00:00+00:00"]  # now - lag
    # an explicit `until` earlier than now - lag wins
    bounds = c.window_bounds(Window(NOW - timedelta(days=1), NOW - timedelta(hours=5)))
    assert bounds is not None and bounds.end == NOW - timedelta(hours=5)
    assert bounds.start == NOW - timedelta(days=1, hours=1)
    assert c.window_bounds(Window(None, NOW)) is None


def test_refused_transaction_log_falls_back_and_is_remembered(rsps: responses.RequestsMock) -> None:
    sent: list[str] = []

    def reply(request: Any) -> tuple[int, dict[str, str], str]:
        req = body_of(request)
        criteria = req.find("b:Request_Criteria", NS)
        names = [child.tag.split("}")[1] for child in (criteria if criteria is not None else [])]
        sent.append(",".join(names))
        if "Transaction_Log_Criteria_Data" in names:
            xpath = "/wd:Get_Candidates_Request[1]/wd:Request_Criteria[1]/wd:Transaction_Log_Criteria_Data[1]"
            return 500, {}, fault("validation", "Invalid element for this tenant", xpath)
        if "Created_From" in names:
            return 200, {}, page(candidate("new1"), candidate("both"))
        return 200, {}, page(candidate("both"), candidate("applied1"))

    rsps.add_callback(responses.POST, URL, callback=reply)
    state = MemoryState()
    window = Window(NOW - timedelta(hours=2), NOW)
    got = [c.ref.id for p in connector(state).read("candidates", window) for c in p]
    assert got == ["new1", "both", "applied1"]
    assert state.get("candidates.incremental_criterion") == "fallback"
    sent.clear()
    list(connector(state).read("candidates", window))  # a later run goes straight to the fallback
    assert sent == ["Created_From,Created_Through", "Applied_From,Applied_Through"]


def test_other_validation_faults_are_not_taken_for_a_refused_criterion(rsps: responses.RequestsMock) -> None:
    rsps.post(
        URL,
        status=500,
        body=fault(
            "validation",
            "Updated_Through must not be later than the current moment",
            "/wd:Get_Candidates_Request[1]/wd:Request_Criteria[1]/wd:Updated_Through",
        ),
    )
    state = MemoryState()
    with pytest.raises(InvalidRequest) as info:
        list(connector(state).read("candidates", Window(NOW - timedelta(hours=1), NOW)))
    assert "Updated_Through" in (info.value.xpath or "") and len(rsps.calls) == 1
    assert state.get("candidates.incremental_criterion") is None


def test_requisitions_fall_back_to_full_reads(rsps: responses.RequestsMock) -> None:
    rsps.post(URL, status=500, body=fault("validation", "Transaction_Log_Criteria_Data is not enabled"))
    rsps.post(URL, body=page(root="Get_Job_Requisitions_Response"))
    state = MemoryState()
    assert list(connector(state).read("requisitions", Window(NOW - timedelta(hours=1), NOW))) == [[]]
    assert body_of(rsps.calls[1].request).find("b:Request_Criteria", NS) is None
    assert state.get("requisitions.incremental_criterion") == "fallback"


# --- faults → typed errors and retries -----------------------------------------------------------------


def _call(c: WorkdayConnector, *, write: bool) -> Any:
    if write:
        return c.client.put_candidate(candidate=WdRef.wid("w1"), add_only=False, tags=[])
    return c.client.call(envelopes.get_candidates("v46.0", envelopes.Paging(1, 1)), idempotent=True)


def test_validation_fault_is_invalid_request_with_xpath_and_never_retried(
    rsps: responses.RequestsMock,
) -> None:
    rsps.post(
        URL, status=500, body=fault("validation", "Invalid ID value", "/wd:Put_Candidate_Request[1]/wd:X[1]")
    )
    with pytest.raises(InvalidRequest) as info:
        _call(connector(), write=False)
    assert info.value.xpath == "/wd:Put_Candidate_Request[1]/wd:X[1]" and info.value.status == 500
    assert "at /wd:Put_Candidate_Request[1]/wd:X[1]" in str(info.value)  # the run summary shows where
    assert len(rsps.calls) == 1


def test_authentication_fault_is_auth_error(rsps: responses.RequestsMock) -> None:
    rsps.post(URL, status=500, body=fault("authentication", "invalid username or password"))
    with pytest.raises(AuthError, match="invalid username or password"):
        _call(connector(), write=False)
    assert len(rsps.calls) == 1


@pytest.mark.parametrize(
    "first",
    [
        {"status": 500, "body": fault("processing", "An unexpected error occurred")},
        {"status": 503, "body": "<html><body>Service Unavailable</body></html>", "content_type": "text/html"},
        {"status": 429, "body": "Too Many Requests", "headers": {"Retry-After": "1"}},
        {"body": requests.ConnectionError("Connection reset by peer")},
    ],
    ids=["processing-fault", "503-html", "429", "connection-reset"],
)
def test_reads_are_retried_on_transient_failures(rsps: responses.RequestsMock, first: dict[str, Any]) -> None:
    rsps.post(URL, **first)
    rsps.post(URL, body=page(candidate("w1")))
    payload = _call(connector(), write=False)
    assert payload.tag.endswith("Get_Candidates_Response") and len(rsps.calls) == 2


def test_writes_are_not_retried_after_a_processing_fault(rsps: responses.RequestsMock) -> None:
    rsps.post(URL, status=500, body=fault("processing", "An unexpected error occurred"))
    with pytest.raises(ServerError):
        _call(connector(), write=True)
    assert len(rsps.calls) == 1


def test_rate_limited_writes_are_retried(rsps: responses.RequestsMock) -> None:
    rsps.post(URL, status=429, body="slow down", headers={"Retry-After": "2"})
    rsps.post(
        URL,
        body=envelope(
            f'<wd:Put_Candidate_Response xmlns:wd="{WD}"><wd:Candidate_Reference>'
            '<wd:ID wd:type="WID">w1</wd:ID></wd:Candidate_Reference></wd:Put_Candidate_Response>'
        ),
    )
    assert _call(connector(), write=True) == {"WID": "w1"}
    rsps.replace(responses.POST, URL, status=429, body="slow down", headers={"Retry-After": "1"})
    with pytest.raises(RateLimited):
        _call(connector(max_attempts=2), write=True)


def test_not_authorized_processing_fault_is_permission_denied(rsps: responses.RequestsMock) -> None:
    rsps.post(URL, status=500, body=fault("processing", "The task submitted is not authorized."))
    with pytest.raises(PermissionDenied, match="security group"):
        _call(connector(), write=False)
    assert len(rsps.calls) == 1


def test_version_fault_names_the_setting(rsps: responses.RequestsMock) -> None:
    rsps.post(
        f"{HOST}/ccx/service/acme/Recruiting/v48.0",
        status=500,
        body=fault("validation", "The web service or version is invalid for the requested operation."),
    )
    with pytest.raises(InvalidRequest) as info:
        _call(connector(version="v48.0"), write=False)
    assert any("set `version`" in d and "v48.0" in d for d in info.value.details)


def test_fault_with_http_200_and_unsafe_xml_are_refused(rsps: responses.RequestsMock) -> None:
    rsps.post(URL, body=fault("validation", "Bad"))
    with pytest.raises(InvalidRequest, match="Bad"):
        _call(connector(), write=False)
    rsps.replace(
        responses.POST,
        URL,
        body='<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        f'<env:Envelope xmlns:env="{SOAP}"><env:Body><x>&e;</x></env:Body></env:Envelope>',
    )
    with pytest.raises(UnsafeXml, match="XXE"):
        _call(connector(), write=False)


# --- OAuth ---------------------------------------------------------------------------------------------


def oauth(state: MemoryState, **kw: Any) -> WorkdayConnector:
    return connector(
        state,
        username=None,
        password=None,
        client_id="cid-1",
        client_secret="csecret-xyz",
        refresh_token="rt-configured-1",
        **kw,
    )


def test_oauth_bearer_on_soap_and_rotated_refresh_token_kept(rsps: responses.RequestsMock) -> None:
    rsps.post(
        TOKEN_URL,
        json={
            "access_token": "at-1",
            "token_type": "Bearer",
            "expires_in": 3600,
            "refresh_token": "rt-rotated-2",
        },
    )
    rsps.post(URL, body=page(candidate("w1")))
    state = MemoryState()
    c = oauth(state)
    c.check()
    form = urllib.parse.parse_qs(str(rsps.calls[0].request.body))
    assert form == {
        "grant_type": ["refresh_token"],
        "refresh_token": ["rt-configured-1"],
        "client_id": ["cid-1"],
        "client_secret": ["csecret-xyz"],
    }
    soap_call = rsps.calls[1].request
    assert soap_call.headers["Authorization"] == "Bearer at-1"
    assert ET.fromstring(raw_body(soap_call)).find("s:Header/w:Security", NS) is None
    assert "rt-rotated-2" in state._data.values()
    # a restart uses the rotated token, not the configured one
    oauth(state).check()
    form2 = urllib.parse.parse_qs(str(rsps.calls[2].request.body))
    assert form2["refresh_token"] == ["rt-rotated-2"]


def test_oauth_expired_bearer_is_refreshed_once(rsps: responses.RequestsMock) -> None:
    rsps.post(TOKEN_URL, json={"access_token": "at-1", "expires_in": 3600})
    rsps.post(TOKEN_URL, json={"access_token": "at-2", "expires_in": 3600})
    rsps.post(URL, status=500, body=fault("authentication", "invalid or expired access token"))
    rsps.post(URL, body=page(candidate("w1")))
    oauth(MemoryState()).check()
    soap_calls = [c.request for c in rsps.calls if c.request.url == URL]
    assert [r.headers["Authorization"] for r in soap_calls] == ["Bearer at-1", "Bearer at-2"]


def test_oauth_invalid_grant_says_what_to_do(rsps: responses.RequestsMock) -> None:
    rsps.post(TOKEN_URL, status=400, json={"error": "invalid_grant"})
    with pytest.raises(AuthError, match="Manage Refresh Tokens for Integrations"):
        oauth(MemoryState()).check()


# --- writes --------------------------------------------------------------------------------------------


def test_add_note_is_a_text_attachment_with_the_marker(rsps: responses.RequestsMock) -> None:
    rsps.post(
        URL,
        body=envelope(
            f'<wd:Put_Candidate_Attachment_Response xmlns:wd="{WD}"><wd:Attachment_Reference>'
            '<wd:ID wd:type="WID">att-9</wd:ID></wd:Attachment_Reference>'
            "</wd:Put_Candidate_Attachment_Response>"
        ),
    )
    note = Note(
        subject="Micro-internship: Churn at Acme", text="Rated 4.8/5 — très bien", marker="syncbridge:k1"
    )
    assert connector(document_category="MI_HISTORY").add_note("w1", note) == "att-9"
    req = body_of(rsps.calls[0].request)
    assert req.get(f"{{{WD}}}Add_Only") == "true"
    assert texts(req, "b:Candidate_Reference/b:ID") == ["w1"]
    content = texts(req, "b:Candidate_Attachment_Data/b:Attachment_Data/b:File_Content")[0]
    assert base64.b64decode(content).decode() == note.body_text()
    assert "[syncbridge:k1]" in texts(req, "b:Candidate_Attachment_Data/b:Attachment_Data/b:Comment")[0]
    assert texts(req, "b:Candidate_Attachment_Data/b:Document_Category_Reference/b:ID") == ["MI_HISTORY"]


def test_find_note_reads_attachments_inline(rsps: responses.RequestsMock) -> None:
    att = (
        '<wd:Candidate_Attachment_Data><wd:Candidate_Attachment_Reference><wd:ID wd:type="WID">att-7</wd:ID>'
        "</wd:Candidate_Attachment_Reference><wd:Attachment_Data><wd:Filename>n.txt</wd:Filename>"
        f"<wd:File_Content>{base64.b64encode(b'text [syncbridge:k1]').decode()}</wd:File_Content>"
        "</wd:Attachment_Data></wd:Candidate_Attachment_Data>"
    )
    rsps.post(URL, body=page(candidate("w1", attachments=att)))
    c = connector()
    assert c.find_note("w1", "syncbridge:k1") == "att-7"
    req = body_of(rsps.calls[0].request)
    assert texts(req, "b:Response_Group/b:Exclude_All_Attachments") == ["false"]
    assert texts(req, "b:Request_References/b:Candidate_Reference/b:ID") == ["w1"]
    assert c.find_note("w1", "syncbridge:other") is None


TAG_XML = (
    '<wd:Candidate_Tag_Reference wd:Descriptor="Boomerang"><wd:ID wd:type="WID">t-wid-1</wd:ID>'
    '<wd:ID wd:type="Candidate_Tag_ID">BOOMERANG</wd:ID></wd:Candidate_Tag_Reference>'
    '<wd:Candidate_Tag_Reference wd:Descriptor="Old"><wd:ID wd:type="WID">t-wid-2</wd:ID>'
    "</wd:Candidate_Tag_Reference>"
)


def test_add_tags_sends_the_union_of_current_and_new(rsps: responses.RequestsMock) -> None:
    rsps.post(URL, body=page(candidate("w1", tags=TAG_XML)))
    rsps.post(
        URL,
        body=envelope(
            f'<wd:Put_Candidate_Response xmlns:wd="{WD}"><wd:Candidate_Reference>'
            '<wd:ID wd:type="WID">w1</wd:ID></wd:Candidate_Reference></wd:Put_Candidate_Response>'
        ),
    )
    connector().add_tags("w1", ["micro-intern", "Boomerang"])
    put = body_of(rsps.calls[1].request)
    assert put.get(f"{{{WD}}}Add_Only") == "false"
    refs = [
        [(i.get(f"{{{WD}}}type"), i.text) for i in ref]
        for ref in put.iterfind("b:Candidate_Data/b:Candidate_Tag_Reference", NS)
    ]
    assert refs == [
        [("Candidate_Tag_ID", "BOOMERANG")],
        [("WID", "t-wid-2")],
        [("Candidate_Tag_ID", "MICRO_INTERN")],
    ]


def test_add_tags_does_nothing_when_present_and_names_a_refused_tag(rsps: responses.RequestsMock) -> None:
    rsps.post(URL, body=page(candidate("w1", tags=TAG_XML)))
    c = connector()
    c.add_tags("w1", ["Boomerang"])
    assert len(rsps.calls) == 1
    assert c.has_tags("w1", ["Boomerang", "Old"])
    rsps.post(URL, body=page(candidate("w1", tags=TAG_XML)))  # the read before the write
    rsps.post(
        URL,
        status=500,
        body=fault(
            "validation",
            "Invalid ID value.  'no_such' is not a valid ID value for type = 'Candidate_Tag_ID'",
            "/wd:Put_Candidate_Request[1]/wd:Candidate_Data[1]/wd:Candidate_Tag_Reference[3]/wd:ID[1]",
        ),
    )
    with pytest.raises(InvalidRequest, match=r"refused candidate tag 'no_such'.*tag_ids") as info:
        c.add_tags("w1", ["no_such"])
    assert info.value.xpath and "Candidate_Tag_Reference[3]" in info.value.xpath


def test_create_candidate_reuses_an_existing_person_or_puts_a_prospect(rsps: responses.RequestsMock) -> None:
    rsps.post(URL, body=page(candidate("w1", "zoe@example.com")))
    new = NewCandidate(first_name="Zoë", last_name="Ünal", email="zoe@example.com", tags=("micro-intern",))
    assert connector().create_candidate(new).ref.id == "w1"
    assert len(rsps.calls) == 1

    rsps.replace(responses.POST, URL, body=page())
    rsps.post(
        URL,
        body=envelope(
            f'<wd:Put_Candidate_Response xmlns:wd="{WD}"><wd:Candidate_Reference>'
            '<wd:ID wd:type="WID">new-w</wd:ID><wd:ID wd:type="Candidate_ID">C9</wd:ID>'
            "</wd:Candidate_Reference></wd:Put_Candidate_Response>"
        ),
    )
    created = connector().create_candidate(new)
    assert created.ref.id == "new-w" and created.normalized_emails == ["zoe@example.com"]
    put = body_of(rsps.calls[-1].request)
    assert put.get(f"{{{WD}}}Add_Only") == "true" and put.find("b:Candidate_Reference", NS) is None
    assert texts(put, "b:Candidate_Data/b:Prospect_Data/b:Prospect") == ["true"]
    assert texts(put, "b:Candidate_Data/b:Candidate_Tag_Reference/b:ID") == ["MICRO_INTERN"]
    assert texts(put, "b:Candidate_Data/b:Contact_Data/b:Email_Address") == ["zoe@example.com"]


def test_requisition_and_move_client_methods(rsps: responses.RequestsMock) -> None:
    rsps.post(
        URL,
        body=envelope(
            f'<wd:Create_Job_Requisition_Response xmlns:wd="{WD}"><wd:Event_Reference>'
            '<wd:ID wd:type="WID">ev1</wd:ID>'
            '</wd:Event_Reference><wd:Job_Requisition_Reference><wd:ID wd:type="WID">rq1</wd:ID>'
            '<wd:ID wd:type="Job_Requisition_ID">R-00013</wd:ID></wd:Job_Requisition_Reference>'
            "</wd:Create_Job_Requisition_Response>"
        ),
    )
    rsps.post(
        URL,
        body=envelope(
            f'<wd:Move_Candidate_Response xmlns:wd="{WD}"><wd:Event_Reference>'
            '<wd:ID wd:type="WID">ev2</wd:ID></wd:Event_Reference></wd:Move_Candidate_Response>'
        ),
    )
    client = connector().client
    req_ids, event = client.create_job_requisition(
        NewJobRequisition(
            title="Intern conversion",
            reason=WdRef("General_Event_Subcategory_ID", "INTERN_CONVERSION"),
            supervisory_organization=WdRef("Organization_Reference_ID", "SUP-DATA"),
            target_hire_date=date(2025, 9, 1),
        )
    )
    assert req_ids == {"WID": "rq1", "Job_Requisition_ID": "R-00013"} and event == {"WID": "ev1"}
    assert body_of(rsps.calls[0].request).tag == f"{{{WD}}}Create_Requisition_Request"
    assert client.move_candidate(
        job_application=WdRef("Job_Application_ID", "JA-1"), next_step=WdRef("Workflow_Step_ID", "Interview")
    ) == {"WID": "ev2"}
    assert len(rsps.calls) == 2  # writes: one attempt each


# --- settings and hygiene ------------------------------------------------------------------------------


def test_settings_validation() -> None:
    s = settings(version="46.0", host=HOST + "/")
    assert (s.version, s.host, s.username, s.page_size, s.lag_minutes) == (
        "v46.0",
        HOST,
        "ISU_SB@acme",
        100,
        60,
    )
    bad: list[dict[str, Any]] = [
        {"client_id": "x", "client_secret": "y", "refresh_token": "z"},  # both auth modes
        {"username": None, "password": None},  # neither
        {"password": None},
        {"host": f"{HOST}/ccx/service/acme/Recruiting/v46.0"},
        {"host": "wd2-impl-services1.workday.com"},
        {"version": "v46"},
        {"page_size": 1000},
    ]
    for kw in bad:
        with pytest.raises(ValidationError):
            settings(**kw)
    assert WorkdayConnector.settings_model is WorkdaySettings
    assert "set_fields" not in {c.value for c in WorkdayConnector.capabilities}


def test_logs_and_errors_hold_no_secrets(
    rsps: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="syncbridge")  # the CLI tests leave it at WARNING
    rsps.post(URL, status=503, body="busy")
    rsps.post(URL, status=500, body=fault("authentication", "invalid username or password"))
    with pytest.raises(AuthError) as info:
        connector().find_candidates("secret.person@example.com")
    text = caplog.text + str(info.value)
    assert PASSWORD not in text and "secret.person@example.com" not in text
    assert re.search(r"retrying POST .*/ccx/service/acme/Recruiting/v46.0", caplog.text)


Clock = Callable[[], datetime]


# --- conversion ----------------------------------------------------------------------------------------


def test_conversion_options_are_checked_before_anything_is_sent(rsps: responses.RequestsMock) -> None:
    from syncbridge.model import NewRequisition

    c = connector()
    with pytest.raises(InvalidRequest, match=r"supervisory_organization or requisition\.options\.position"):
        c.create_requisition(NewRequisition(code="MI-X", title="X", options={"reason": "R"}))
    with pytest.raises(InvalidRequest, match=r"requisition.options.reason"):
        c.create_requisition(
            NewRequisition(code="MI-X", title="X", options={"supervisory_organization": "S"})
        )
    with pytest.raises(InvalidRequest, match=r"one \{ID_type: value\} pair"):
        c.create_requisition(
            NewRequisition(code="MI-X", title="X", options={"supervisory_organization": {"A": 1, "B": 2}})
        )
    with pytest.raises(InvalidRequest, match="job_posting_site"):
        c.publish("r1", {"publish": True})
    with pytest.raises(InvalidRequest, match="not a Workday job application id"):
        c.find_prescreen("JA-1", _prescreen())
    assert len(rsps.calls) == 0


def _prescreen() -> Any:
    from syncbridge.model import Prescreen

    return Prescreen(
        outcome_id="o1", score=4.8, recommendation="r", summary_text="s", summary_html="<p>s</p>", marker="m"
    )


def test_capabilities_cover_conversion() -> None:
    from syncbridge.connector import Capability

    caps = WorkdayConnector.capabilities
    assert {
        Capability.create_requisition,
        Capability.publish,
        Capability.attach,
        Capability.prescreen,
    } <= caps
    assert Capability.set_fields not in caps
