"""Property tests: random JSON, random XML and random bytes as vendor response bodies.

Each vendor's read path (HTTP answer → parsing → mapping) must end in one of three ways: mapped records, a
refused-and-counted record (:class:`~syncbridge.records.Refused`), or one clean typed syncbridge error whose
message is one line.  Never another exception, never a hang (each example runs under a wall-clock alarm).
Example counts are modest: CI runs on two cores.
"""

from __future__ import annotations

import json
import os
import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncbridge.connector import MemoryState, Window
from syncbridge.connectors.greenhouse.connector import GreenhouseConnector, GreenhouseSettings
from syncbridge.connectors.lever.client import LeverClient, build_api
from syncbridge.connectors.lever.connector import LeverConnector, LeverSettings
from syncbridge.connectors.workday.connector import WorkdayConnector, WorkdaySettings
from syncbridge.errors import SyncbridgeError
from syncbridge.http import ApiClient, TokenBucket
from syncbridge.model import Application, Candidate, Requisition
from syncbridge.records import Refused

GH = "https://harvest.greenhouse.io"
LV = "https://api.lever.test/v1"
WD_HOST = "https://wd.example.test"
WD_URL = f"{WD_HOST}/ccx/service/acme/Recruiting/v46.0"
WINDOW = Window(None, datetime(2025, 6, 1, tzinfo=UTC))
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
SECONDS_PER_EXAMPLE = 20  # generous on a loaded machine; a loop would never finish

FUZZ = settings(
    max_examples=int(os.environ.get("SYNCBRIDGE_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize="SYNCBRIDGE_FUZZ_EXAMPLES" not in os.environ,  # fixed examples in CI: failures reproduce
)

OUTCOMES = {"records": 0, "refused": 0, "errors": 0}


class Hang(BaseException):
    """Raised by the alarm: not an Exception, so no code under test can swallow it."""


@contextmanager
def bounded(seconds: int = SECONDS_PER_EXAMPLE) -> Iterator[None]:
    def alarm(_signum: int, _frame: Any) -> None:
        raise Hang(f"no result within {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def drain(connector: Any, stream: str) -> None:
    """Read a stream to its end; every item must be a mapped record or a Refused placeholder, and any
    failure a typed syncbridge error with a one-line message."""
    with bounded():
        try:
            for page in connector.read(stream, WINDOW):
                for item in page:
                    assert isinstance(item, Candidate | Application | Requisition | dict | Refused), item
                    OUTCOMES["refused" if isinstance(item, Refused) else "records"] += 1
        except SyncbridgeError as exc:
            OUTCOMES["errors"] += 1
            text = str(exc)
            assert text and "\n" not in text, text
            assert "Traceback" not in text


# --- strategies ---------------------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
)
ids = st.one_of(
    st.integers(min_value=-5, max_value=10**12),
    st.text(max_size=40),
    st.sampled_from(["", " ", "None", "a\x00b", "x" * 300]),
    st.none(),
    st.booleans(),
    st.floats(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def json_values(keys: list[str]) -> st.SearchStrategy[Any]:
    key = st.one_of(st.sampled_from(keys), st.text(max_size=8))
    return st.recursive(
        scalars,
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(key, inner, max_size=6)),
        max_leaves=25,
    )


def records(keys: list[str]) -> st.SearchStrategy[Any]:
    """Mostly record-shaped objects (with an id of any shape), sometimes anything at all."""
    others = {k: json_values(keys) for k in keys if k != "id"}
    shaped = st.fixed_dictionaries({"id": ids}, optional=others)
    no_id = st.fixed_dictionaries({}, optional=others)
    return st.one_of(shaped, shaped, shaped, no_id, json_values(keys))


GH_KEYS = [
    "id", "first_name", "last_name", "email_addresses", "phone_numbers", "tags", "custom_fields",
    "created_at", "updated_at", "candidate_id", "job_id", "status", "stage_name", "prospect", "name",
    "requisition_id", "is_template", "department_id", "value", "type",
]  # fmt: skip
LEVER_KEYS = [
    "id", "contact", "name", "emails", "phones", "tags", "createdAt", "updatedAt", "archived",
    "archivedAt", "archiveReason", "stage", "applications", "posting", "postings", "headline",
    "requisitionCode", "customFields", "status", "text", "value", "type", "isAnonymized",
]  # fmt: skip


def gh_connector() -> GreenhouseConnector:
    cfg = GreenhouseSettings(client_id="cid", client_secret="csecret", max_pages=20)
    client = ApiClient(GH, connector="gh", max_attempts=2, sleep=lambda _s: None, max_pages=20)
    return GreenhouseConnector("gh", cfg, client=client)


def lever_connector() -> LeverConnector:
    cfg = LeverSettings.model_validate({"type": "lever", "api_key": "k-123456", "base_url": LV})
    api = build_api(
        LV,
        connector="lever",
        limiter=TokenBucket(10_000, 10_000),
        api_key="k-123456",
        sleep=lambda _s: None,
        max_attempts=2,
        max_pages=20,
    )
    return LeverConnector("lever", cfg, client=LeverClient(api))


def wd_connector() -> WorkdayConnector:
    cfg = WorkdaySettings.model_validate(
        {
            "type": "workday",
            "host": WD_HOST,
            "tenant": "acme",
            "username": "ISU",
            "password": "pw-1",
            "max_attempts": 2,
            "max_pages": 20,
        }
    )
    return WorkdayConnector("wd", cfg, state=MemoryState(), clock=lambda: NOW, sleep=lambda _s: None)


content_types = st.sampled_from(
    ["application/json", "text/html; charset=utf-8", "text/plain", "application/xml", "", "text/xml"]
)
link_headers = st.one_of(
    st.none(),
    st.just(f'<{GH}/v3/x?cursor=same>; rel="next"'),
    st.text(max_size=40),
    st.just('<>; rel="next"'),
    st.just('<not a url>; rel="next"'),
)


# --- Greenhouse v3 ------------------------------------------------------------------------------------------


@FUZZ
@given(
    stream=st.sampled_from(["candidates", "applications", "jobs", "users"]),
    body=st.one_of(st.lists(records(GH_KEYS), max_size=6), json_values(GH_KEYS)),
    link=link_headers,
)
def test_greenhouse_random_json(stream: str, body: Any, link: str | None) -> None:
    path = GreenhouseConnector._PATHS[stream]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        headers = {"Link": link} if link else {}
        rsps.get(re.compile(re.escape(GH) + ".*"), body=json.dumps(body), headers=headers)
        assert path
        drain(gh_connector(), stream)


@FUZZ
@given(
    stream=st.sampled_from(["candidates", "applications", "jobs"]),
    body=st.binary(max_size=400),
    ctype=content_types,
    status=st.sampled_from([200, 200, 201, 204, 500, 404, 429]),
)
def test_greenhouse_random_bytes(stream: str, body: bytes, ctype: str, status: int) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(re.compile(re.escape(GH) + ".*"), body=body, status=status, content_type=ctype or None)
        drain(gh_connector(), stream)


# --- Lever v1 -----------------------------------------------------------------------------------------------


def lever_envelopes() -> st.SearchStrategy[Any]:
    shaped = st.fixed_dictionaries(
        {"data": st.lists(records(LEVER_KEYS), max_size=6)},
        optional={
            "hasNext": st.one_of(st.booleans(), scalars),
            "next": st.one_of(st.text(max_size=10), scalars, st.lists(st.integers(), max_size=2)),
        },
    )
    return st.one_of(shaped, shaped, json_values(["data", "hasNext", "next", *LEVER_KEYS]))


@FUZZ
@given(
    stream=st.sampled_from(
        ["candidates", "applications", "postings", "requisitions", "users", "deleted_opportunities"]
    ),
    body=lever_envelopes(),
)
def test_lever_random_json(stream: str, body: Any) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(re.compile(re.escape(LV) + ".*"), body=json.dumps(body))
        drain(lever_connector(), stream)


@FUZZ
@given(
    stream=st.sampled_from(["candidates", "applications", "requisitions"]),
    body=st.binary(max_size=400),
    ctype=content_types,
    status=st.sampled_from([200, 200, 400, 500, 503]),
)
def test_lever_random_bytes(stream: str, body: bytes, ctype: str, status: int) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(re.compile(re.escape(LV) + ".*"), body=body, status=status, content_type=ctype or None)
        drain(lever_connector(), stream)


# --- Workday WWS SOAP ---------------------------------------------------------------------------------------

WD_NAMES = [
    "Response_Results", "Total_Results", "Total_Pages", "Page_Results", "Page", "Response_Data",
    "Candidate", "Candidate_Reference", "Candidate_Data", "Candidate_ID", "Name_Data", "Legal_Name",
    "Name_Detail_Data", "First_Name", "Last_Name", "Contact_Data", "Email_Address", "ID",
    "Job_Application_Data", "Job_Applied_To_Data", "Job_Application_Date", "Candidate_Tag_Reference",
    "Job_Requisition", "Job_Requisition_Reference", "Job_Requisition_Data", "Job_Posting_Title",
    "Job_Requisition_Detail_Data", "Job_Requisition_Status_Reference", "Fault", "faultstring",
]  # fmt: skip

xml_text = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), max_size=20),
    st.sampled_from(
        ["0", "1", "3", "-1", "99999999999", "abc", "a" * 32, "2024-13-45", "inf", "1e400", "nan"]
    ),
)


def _element(children: list[str], name: str, text: str, attr: str | None) -> str:
    a = f' wd:type="{escape(attr, {chr(34): "&quot;"})}"' if attr is not None else ""
    return f"<wd:{name}{a}>{escape(text)}{''.join(children)}</wd:{name}>"


xml_elements = st.recursive(
    st.builds(lambda n, t, a: _element([], n, t, a), st.sampled_from(WD_NAMES), xml_text, st.none()),
    lambda inner: st.builds(
        _element,
        st.lists(inner, max_size=4),
        st.sampled_from(WD_NAMES),
        st.just(""),
        st.one_of(st.none(), st.sampled_from(["WID", "Candidate_ID", "Job_Requisition_ID"]), xml_text),
    ),
    max_leaves=20,
)


@st.composite
def wd_records(draw: st.DrawFn, root: str) -> str:
    """Response_Results and Response_Data holding record-shaped elements with random insides."""
    record = "Job_Requisition" if "Requisition" in root else "Candidate"
    numbers = st.one_of(st.integers(-2, 5).map(str), xml_text)
    results = "".join(
        f"<wd:{n}>{escape(draw(numbers))}</wd:{n}>" for n in ("Total_Results", "Total_Pages", "Page")
    )
    items = []
    for _ in range(draw(st.integers(0, 4))):
        wid = draw(st.one_of(st.none(), xml_text, st.just("a" * 32)))
        ref = (
            f'<wd:{record}_Reference><wd:ID wd:type="WID">{escape(wid)}</wd:ID></wd:{record}_Reference>'
            if wid is not None
            else ""
        )
        inside = "".join(draw(st.lists(xml_elements, max_size=3)))
        items.append(f"<wd:{record}>{ref}<wd:{record}_Data>{inside}</wd:{record}_Data></wd:{record}>")
    data = "".join(items)
    return f"<wd:Response_Results>{results}</wd:Response_Results><wd:Response_Data>{data}</wd:Response_Data>"


@st.composite
def soap_documents(draw: st.DrawFn) -> str:
    root = draw(st.sampled_from(["Get_Candidates_Response", "Get_Job_Requisitions_Response", "Other"]))
    inner = draw(
        st.one_of(st.lists(xml_elements, max_size=4).map("".join), wd_records(root), wd_records(root))
    )
    doc = (
        '<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Body>'
        f'<wd:{root} xmlns:wd="urn:com.workday/bsvc">{inner}</wd:{root}></env:Body></env:Envelope>'
    )
    if draw(st.booleans()):
        return doc
    # sometimes damage it: cut it short, or drop the envelope
    return draw(st.sampled_from([doc[: len(doc) // 2], inner, f"<x>{inner}</x>", doc.replace("env:", "")]))


@FUZZ
@given(stream=st.sampled_from(["candidates", "requisitions"]), body=soap_documents())
def test_workday_random_xml(stream: str, body: str) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(WD_URL, body=body.encode(), content_type="text/xml")
        drain(wd_connector(), stream)


@FUZZ
@given(
    stream=st.sampled_from(["candidates", "requisitions"]),
    body=st.one_of(st.binary(max_size=400), st.text(max_size=200).map(str.encode)),
    ctype=content_types,
    status=st.sampled_from([200, 200, 500, 401]),
)
def test_workday_random_bytes(stream: str, body: bytes, ctype: str, status: int) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(WD_URL, body=body, status=status, content_type=ctype or None)
        drain(wd_connector(), stream)
