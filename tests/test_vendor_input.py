"""Vendor responses are untrusted input: looping paginators, non-JSON/non-XML bodies, records without a valid
id, unreachable hosts, wrong token URLs and writes the vendor does not document as idempotent."""

from __future__ import annotations

import json
import logging
import re
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from pydantic import ValidationError

from syncbridge.config import load_settings
from syncbridge.connector import MemoryState, Window
from syncbridge.connectors.greenhouse.client import GreenhouseTokens
from syncbridge.connectors.greenhouse.connector import GreenhouseConnector, GreenhouseSettings
from syncbridge.connectors.lever.client import LeverClient, build_api
from syncbridge.connectors.lever.connector import LeverConnector, LeverSettings
from syncbridge.connectors.workday.connector import WorkdayConnector, WorkdaySettings
from syncbridge.errors import (
    InvalidRequest,
    NotFound,
    PaginationError,
    ServerError,
    TransportError,
    UnexpectedResponse,
    delivery_uncertain,
)
from syncbridge.http import ApiClient, PageGuard, TokenBucket, safe_url
from syncbridge.records import Refused, id_problem
from syncbridge.steps import Runtime, sync_stream
from syncbridge.store import Store

GH = "https://harvest.greenhouse.io"
LV = "https://api.lever.test/v1"
WD_HOST = "https://wd2-impl-services1.workday.com"
WD_URL = f"{WD_HOST}/ccx/service/acme/Recruiting/v46.0"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
WDNS = "urn:com.workday/bsvc"
WINDOW = Window(None, datetime(2025, 6, 1, tzinfo=UTC))
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def no_sleep(_seconds: float) -> None:
    return None


def gh_connector(**settings: Any) -> GreenhouseConnector:
    # no source look-up (GET /v3/sources) unless a test asks for one
    cfg = GreenhouseSettings(client_id="cid", client_secret="csecret", **{"source_name": None, **settings})
    client = ApiClient(GH, connector="gh", max_attempts=3, sleep=no_sleep, max_pages=cfg.max_pages)
    return GreenhouseConnector("gh", cfg, client=client)


def lever_connector(**settings: Any) -> LeverConnector:
    cfg = LeverSettings.model_validate({"type": "lever", "api_key": "k-123456", "base_url": LV, **settings})
    api = build_api(
        LV,
        connector="lever",
        limiter=TokenBucket(1000, 1000),
        api_key="k-123456",
        sleep=no_sleep,
        max_pages=cfg.max_pages,
    )
    return LeverConnector("lever", cfg, client=LeverClient(api))


def wd_connector(**kw: Any) -> WorkdayConnector:
    cfg = WorkdaySettings.model_validate(
        {"type": "workday", "host": WD_HOST, "tenant": "acme", "username": "ISU", "password": "pw-1", **kw}
    )
    return WorkdayConnector("wd", cfg, state=MemoryState(), clock=lambda: NOW, sleep=no_sleep)


def wd_page(cands: list[str], *, total_pages: int = 1, page_no: int = 1) -> str:
    return (
        f'<env:Envelope xmlns:env="{SOAP}"><env:Body><wd:Get_Candidates_Response xmlns:wd="{WDNS}">'
        f"<wd:Response_Results><wd:Total_Results>{len(cands) * total_pages}</wd:Total_Results>"
        f"<wd:Total_Pages>{total_pages}</wd:Total_Pages><wd:Page_Results>{len(cands)}</wd:Page_Results>"
        f"<wd:Page>{page_no}</wd:Page></wd:Response_Results><wd:Response_Data>{''.join(cands)}"
        "</wd:Response_Data></wd:Get_Candidates_Response></env:Body></env:Envelope>"
    )


def wd_candidate(wid: str | None, name: str = "Ann") -> str:
    ref = (
        f'<wd:Candidate_Reference><wd:ID wd:type="WID">{wid}</wd:ID></wd:Candidate_Reference>' if wid else ""
    )
    return (
        f"<wd:Candidate>{ref}<wd:Candidate_Data><wd:Name_Data><wd:Legal_Name><wd:Name_Detail_Data>"
        f"<wd:First_Name>{name}</wd:First_Name><wd:Last_Name>Lee</wd:Last_Name></wd:Name_Detail_Data>"
        "</wd:Legal_Name></wd:Name_Data></wd:Candidate_Data></wd:Candidate>"
    )


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and "Traceback" not in text
    return text


# --- paginators: a repeated position stops the listing ---------------------------------------------------


def test_greenhouse_link_next_back_to_the_same_cursor_stops_at_once(rsps):
    loop = f"{GH}/v3/candidates?cursor=abc"
    rsps.get(f"{GH}/v3/candidates", json=[{"id": 1}], headers={"Link": f'<{loop}>; rel="next"'})
    conn = gh_connector()
    with pytest.raises(PaginationError) as info:
        list(conn.read("candidates", WINDOW))
    text = one_line(info.value)
    assert text.startswith("[gh] /v3/candidates:") and "points back to page 2" in text
    assert len(rsps.calls) == 2  # not 2,054


def test_greenhouse_link_cycle_over_two_cursors_stops(rsps):
    a, b = f"{GH}/v3/jobs?cursor=a", f"{GH}/v3/jobs?cursor=b"
    rsps.get(f"{GH}/v3/jobs", json=[{"id": 1}], headers={"Link": f'<{a}>; rel="next"'})

    def by_cursor(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        nxt = b if "cursor=a" in (request.url or "") else a
        return 200, {"Link": f'<{nxt}>; rel="next"'}, json.dumps([{"id": 2}])

    rsps.add_callback(responses.GET, f"{GH}/v3/jobs", callback=by_cursor)
    with pytest.raises(PaginationError, match=r"/v3/jobs: the vendor's page 4 points back to page 2"):
        list(gh_connector().read("jobs", WINDOW))


def test_greenhouse_link_to_another_origin_is_refused_and_gets_no_token(rsps):
    rsps.get(
        f"{GH}/v3/candidates",
        json=[{"id": 1}],
        headers={"Link": '<https://evil.example/v3/candidates?cursor=1>; rel="next"'},
    )
    rsps.get("https://evil.example/v3/candidates", json=[])
    with pytest.raises(UnexpectedResponse) as info:
        list(gh_connector().read("candidates", WINDOW))
    assert "next-page link points to another origin (https://evil.example:443)" in one_line(info.value)
    assert [c.request.url.split("?")[0] for c in rsps.calls] == [f"{GH}/v3/candidates"]


def test_greenhouse_link_to_another_endpoint_is_refused(rsps):
    rsps.get(
        f"{GH}/v3/candidates",
        json=[{"id": 1}],
        headers={"Link": f'<{GH}/v3/users?cursor=1>; rel="next"'},
    )
    with pytest.raises(UnexpectedResponse, match=r"points to another endpoint \(/v3/users\)"):
        list(gh_connector().read("candidates", WINDOW))
    assert len(rsps.calls) == 1


def test_greenhouse_page_cap_is_the_second_guard(rsps):
    counter = iter(range(1, 1000))

    def fresh_cursor(_request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        n = next(counter)
        return 200, {"Link": f'<{GH}/v3/users?cursor={n}>; rel="next"'}, json.dumps([{"id": n}])

    rsps.add_callback(responses.GET, f"{GH}/v3/users", callback=fresh_cursor)
    with pytest.raises(PaginationError, match=r"stopped after 5 pages \(max_pages\)"):
        list(gh_connector(max_pages=5).read("users", WINDOW))
    assert len(rsps.calls) == 5


def test_lever_offset_token_cycle_stops(rsps):
    tokens = iter(["A", "B", "A"])

    def answer(_request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        return 200, {}, json.dumps({"data": [], "hasNext": True, "next": next(tokens)})

    rsps.add_callback(responses.GET, f"{LV}/postings", callback=answer)
    with pytest.raises(PaginationError) as info:
        list(lever_connector().read("postings", WINDOW))
    assert one_line(info.value).startswith("[lever] /postings: the vendor's page 4 points back to page 2")
    assert len(rsps.calls) == 3


def test_lever_offset_token_repeated_at_once_stops(rsps):
    rsps.get(f"{LV}/users", json={"data": [{"id": "u1"}], "hasNext": True, "next": "same"})
    with pytest.raises(PaginationError, match="/users"):
        list(lever_connector().read("users", WINDOW))
    assert len(rsps.calls) == 2


def test_lever_page_cap(rsps):
    counter = iter(range(1000))

    def answer(_request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        return 200, {}, json.dumps({"data": [], "hasNext": True, "next": f"t{next(counter)}"})

    rsps.add_callback(responses.GET, f"{LV}/stages", callback=answer)
    with pytest.raises(PaginationError, match=r"stopped after 4 pages \(max_pages\)"):
        list(lever_connector(max_pages=4).read("stages", WINDOW))
    assert len(rsps.calls) == 4


def test_workday_server_ignoring_the_page_number_stops(rsps):
    # Total_Pages says 3, but every answer is page 1 again: walking on would read the same records forever
    rsps.post(WD_URL, body=wd_page([wd_candidate("a" * 32)], total_pages=3, page_no=1))
    with pytest.raises(PaginationError) as info:
        list(wd_connector().read("candidates", WINDOW))
    assert "[wd] Get Candidate pages: the vendor's page 2 points back to page 1" in one_line(info.value)
    assert len(rsps.calls) == 2


def test_workday_page_cap(rsps):
    counter = iter(range(1000))

    def answer(_request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        n = next(counter)
        return 200, {}, wd_page([wd_candidate(f"{n:032x}")], total_pages=10**9, page_no=n + 1)

    rsps.add_callback(responses.POST, WD_URL, callback=answer)
    with pytest.raises(PaginationError, match=r"stopped after 3 pages \(max_pages\)"):
        list(wd_connector(max_pages=3).read("candidates", WINDOW))


def test_page_guard_keeps_no_cursor_text():
    guard = PageGuard("x", "/v3/candidates", max_pages=10)
    guard.visit("https://h/v3/candidates?email=ann@example.com&cursor=1")
    assert all(isinstance(k, bytes) for k in guard._seen)


def test_max_pages_and_retry_deadline_are_validated_settings():
    with pytest.raises(ValidationError):
        GreenhouseSettings(client_id="c", client_secret="s", max_pages=0)
    with pytest.raises(ValidationError):
        GreenhouseSettings(client_id="c", client_secret="s", retry_deadline_seconds=0)
    assert GreenhouseSettings(client_id="c", client_secret="s").max_pages == 10_000


# --- bodies that are not what the API documents -----------------------------------------------------------


def test_greenhouse_html_200_is_one_line_naming_connector_path_and_content_type(rsps):
    rsps.get(
        f"{GH}/v3/candidates",
        body="<html><body>Sign in to the corporate proxy</body></html>",
        content_type="text/html; charset=utf-8",
    )
    with pytest.raises(UnexpectedResponse) as info:
        list(gh_connector().read("candidates", WINDOW))
    text = one_line(info.value)
    assert text.startswith("[gh] HTTP 200: GET /v3/candidates answered text/html")
    assert "not JSON" in text and "proxy" not in text  # the body is never echoed
    assert delivery_uncertain(info.value)  # on a write, the applier reconciles first


def test_greenhouse_truncated_and_absurdly_nested_json_are_clean(rsps):
    rsps.get(f"{GH}/v3/jobs", body='[{"id": 1, "na', content_type="application/json")
    with pytest.raises(UnexpectedResponse, match="not JSON"):
        list(gh_connector().read("jobs", WINDOW))
    rsps.replace(responses.GET, f"{GH}/v3/jobs", body="[" * 200_000, content_type="application/json")
    with pytest.raises(UnexpectedResponse, match=r"nested too deeply|not JSON"):
        list(gh_connector().read("jobs", WINDOW))


def test_an_error_status_with_an_absurdly_nested_body_is_clean(rsps):
    rsps.get(f"{GH}/v3/jobs", status=400, body="[" * 200_000, content_type="application/json")
    with pytest.raises(InvalidRequest) as info:
        list(gh_connector().read("jobs", WINDOW))
    assert one_line(info.value).startswith("[gh] HTTP 400:")


def test_greenhouse_write_answered_with_html_is_uncertain(rsps):
    rsps.post(f"{GH}/v3/notes", body="<html>oops</html>", content_type="text/html")
    with pytest.raises(UnexpectedResponse) as info:
        gh_connector().client.send_json("POST", "/v3/notes", {"body": "x"})
    assert "POST /v3/notes answered text/html" in str(info.value)


def test_lever_html_200_is_one_line(rsps):
    rsps.get(f"{LV}/postings", body="<!doctype html><title>502</title>", content_type="text/html")
    with pytest.raises(UnexpectedResponse) as info:
        list(lever_connector().read("postings", WINDOW))
    assert one_line(info.value).startswith("[lever] HTTP 200: GET /v1/postings answered text/html")


def test_lever_envelope_without_data_list_is_clean(rsps):
    rsps.get(f"{LV}/postings", json={"data": {"id": "p1"}})
    with pytest.raises(
        UnexpectedResponse, match=r"expected a \{data: \[...\]\} list envelope from /postings"
    ):
        list(lever_connector().read("postings", WINDOW))


def test_workday_html_200_names_operation_path_and_content_type(rsps):
    rsps.post(WD_URL, body="<html><body>Maintenance</body>", content_type="text/html")
    with pytest.raises(ServerError) as info:
        list(wd_connector().read("candidates", WINDOW))
    text = one_line(info.value)
    assert text.startswith(
        "[wd] Get_Candidates_Request: POST /ccx/service/acme/Recruiting/v46.0 answered text/html"
    )
    assert "not a SOAP response" in text


def test_workday_absurdly_nested_xml_is_refused_before_mapping(rsps):
    deep = "<wd:X>" * 50_000 + "</wd:X>" * 50_000
    rsps.post(
        WD_URL,
        body=wd_page([wd_candidate("a" * 32).replace("</wd:Candidate_Data>", deep + "</wd:Candidate_Data>")]),
    )
    with pytest.raises(ServerError) as info:
        list(wd_connector().read("candidates", WINDOW))
    assert one_line(info.value).endswith("the response is nested deeper than 200 levels")


@pytest.mark.parametrize("total", ["inf", "1e400", "-inf", "nan", "abc"])
def test_workday_nonsense_page_counts_are_clean(rsps, total):
    page = wd_page([wd_candidate("c" * 32)]).replace("<wd:Total_Pages>1<", f"<wd:Total_Pages>{total}<")
    rsps.post(WD_URL, body=page)
    pages = list(wd_connector().read("candidates", WINDOW))
    assert [c.ref.id for p in pages for c in p] == ["c" * 32]


def test_workday_plain_text_200_is_clean(rsps):
    rsps.post(WD_URL, body="upstream connect error", content_type="text/plain")
    with pytest.raises(ServerError, match="text/plain"):
        list(wd_connector().read("candidates", WINDOW))


# --- records without a valid id: refused, counted, never stored -----------------------------------------

BAD_IDS: list[Any] = [None, True, 1.5, {}, [], "", "   ", "a\x00b", "x" * 300]


def runtime(tmp_path: Path, connector: Any, name: str) -> Runtime:
    outcomes = tmp_path / "outcomes.csv"
    outcomes.write_text(
        "outcome_id,student_email,student_first_name,student_last_name,employer,project_id,project_title,"
        "start_date,end_date,rating,would_hire\n",
        encoding="utf-8",
    )
    blocks = {
        "gh": {"type": "greenhouse", "client_id": "c", "client_secret": "s"},
        "lever": {"type": "lever", "api_key": "k-123456", "base_url": LV},
        "wd": {"type": "workday", "host": WD_HOST, "tenant": "acme", "username": "u", "password": "p"},
    }
    settings = load_settings(
        {
            "version": 1,
            "state": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
            "outcomes": {"path": str(outcomes)},
            "connectors": {name: blocks[name]},
            "routing": [{"employer": "*", "connector": name}],
        }
    )
    rt = Runtime(settings, store=Store(settings.state.url))
    rt._connectors[name] = connector
    return rt


def test_greenhouse_candidates_without_valid_id_are_refused_counted_and_never_stored(rsps, tmp_path, caplog):
    page = [
        {"id": bad, "first_name": "Phantom", "email_addresses": [{"value": "phantom@example.com"}]}
        for bad in BAD_IDS
    ]
    page.append({"first_name": "Phantom", "email_addresses": [{"value": "phantom@example.com"}]})  # no id
    page += ["not an object", 42]
    page.append({"id": 7, "first_name": "Real", "email_addresses": [{"value": "real@example.com"}]})
    rsps.get(f"{GH}/v3/candidates", json=page)
    rt = runtime(tmp_path, gh_connector(), "gh")
    with caplog.at_level(logging.WARNING):
        result = sync_stream(rt, "gh", "candidates", full=True)
    assert (result.records, result.skipped_invalid) == (1, len(BAD_IDS) + 3)
    assert rt.skipped_invalid == {"gh/candidates": len(BAD_IDS) + 3}
    assert rt.store.candidates_by_email("gh", "phantom@example.com") == []
    assert [r["remote_id"] for r in rt.store.candidates_by_email("gh", "real@example.com")] == ["7"]
    assert "phantom" not in caplog.text.lower()  # refusals are logged without personal data
    assert "candidate refused: id is null" in caplog.text
    rt.close()


def test_greenhouse_applications_jobs_and_plain_streams_refuse_bad_ids(rsps, tmp_path):
    rsps.get(
        f"{GH}/v3/applications",
        json=[
            {"id": 1, "candidate_id": None},
            {"id": None, "candidate_id": 5},
            {"id": 2, "candidate_id": 5, "job_id": {"x": 1}},
            {"id": 3, "candidate_id": 5, "job_id": None},
        ],
    )
    rsps.get(f"{GH}/v3/jobs", json=[{"id": None, "name": "Phantom job"}, {"id": 9, "name": "Real"}])
    rsps.get(f"{GH}/v3/users", json=[{"id": None, "name": "Nobody"}, {"id": 11}, {"name": "no id"}])
    rt = runtime(tmp_path, gh_connector(), "gh")
    apps = sync_stream(rt, "gh", "applications", full=True)
    jobs = sync_stream(rt, "gh", "jobs", full=True)
    users = sync_stream(rt, "gh", "users", full=True)
    assert [(r.records, r.skipped_invalid) for r in (apps, jobs, users)] == [(1, 3), (1, 1), (1, 2)]
    counts = rt.store.mirror_counts()
    assert counts["gh"]["applications"] == 1 and counts["gh"]["requisitions"] == 1
    rt.close()


def test_store_never_stores_a_plain_record_without_a_valid_id(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    stored = store.upsert_page(
        "x", "other", "users", [{"id": None}, {"id": ""}, {"id": 3}, Refused("u", "r")]
    )
    assert stored == 1
    store.close()


def test_lever_opportunities_without_valid_id_are_refused_in_every_stream(rsps, tmp_path):
    opps = [
        {"id": bad, "contact": "c1", "name": "Phantom Person", "emails": ["phantom@example.com"]}
        for bad in BAD_IDS
    ]
    opps.append({"id": "o-1", "contact": "c-1", "name": "Real Person", "emails": ["real@example.com"]})
    rsps.get(f"{LV}/opportunities", json={"data": opps, "hasNext": False})
    rsps.get(
        f"{LV}/requisitions", json={"data": [{"id": None, "name": "r"}, {"id": "r-1"}], "hasNext": False}
    )
    rt = runtime(tmp_path, lever_connector(), "lever")
    cands = sync_stream(rt, "lever", "candidates", full=True)
    apps = sync_stream(rt, "lever", "applications", full=True)
    reqs = sync_stream(rt, "lever", "requisitions", full=True)
    # one read serves people and their applications: 1 person + 1 application stored
    assert (cands.records, cands.skipped_invalid) == (2, len(BAD_IDS))
    assert (apps.records, apps.skipped_invalid) == (1, len(BAD_IDS))
    assert (reqs.records, reqs.skipped_invalid) == (1, 1)
    assert rt.store.candidates_by_email("lever", "phantom@example.com") == []
    rt.close()


def test_workday_candidates_without_wid_are_refused_and_counted(rsps, tmp_path):
    rsps.post(
        WD_URL,
        body=wd_page([wd_candidate(None, "Phantom"), wd_candidate("   "), wd_candidate("b" * 32, "Real")]),
    )
    rt = runtime(tmp_path, wd_connector(), "wd")
    result = sync_stream(rt, "wd", "candidates", full=True)
    assert (result.records, result.skipped_invalid) == (1, 2)
    rt.close()


@pytest.mark.parametrize("value", BAD_IDS)
def test_id_rule_refuses_every_undocumented_shape(value):
    assert id_problem(value) is not None


@pytest.mark.parametrize("value", [1, 53883394, "7b3c2e0a-1d2f-4c4b-9a55-3c1d1e0f2a11", "a" * 32])
def test_id_rule_accepts_documented_ids(value):
    assert id_problem(value) is None


# --- connection failures and token endpoints --------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connection_refused_names_host_port_attempts_and_budget():
    port = closed_port()
    client = ApiClient(f"http://127.0.0.1:{port}", connector="gh", max_attempts=3, sleep=no_sleep)
    with pytest.raises(TransportError) as info:
        client.get_json("/v3/candidates")
    text = one_line(info.value)
    assert f"cannot connect to 127.0.0.1:{port}: connection refused" in text
    assert "gave up after 3 attempt(s)" in text and "retry budget: max_attempts 3, 60 s" in text
    assert "ConnectionError" not in text


def test_a_spent_retry_budget_is_not_multiplied_by_flow_task_retries():
    from syncbridge.flows.runs import _transient

    port = closed_port()
    client = ApiClient(f"http://127.0.0.1:{port}", connector="gh", max_attempts=2, sleep=no_sleep)
    with pytest.raises(TransportError) as info:
        client.get_json("/x")

    class Failed:
        def result(self) -> None:
            raise info.value

    assert info.value.retryable is False and _transient(None, None, Failed()) is False
    # one attempt only (max_attempts 1): the flow may still retry the whole stream
    single = ApiClient(f"http://127.0.0.1:{port}", connector="gh", max_attempts=1, sleep=no_sleep)
    with pytest.raises(TransportError) as once:
        single.get_json("/x")
    assert once.value.retryable is True


def test_token_endpoint_failure_is_not_retried_again_by_the_api_client():
    # 4 token attempts x 6 API attempts against a closed port took 28 s; now the configured budget
    # is the whole budget
    port = closed_port()
    base = f"http://127.0.0.1:{port}"
    conn = GreenhouseConnector(
        "gh",
        GreenhouseSettings(client_id="c", client_secret="s", base_url=base, token_url=f"{base}/token"),
    )
    conn.client._sleep = no_sleep
    conn.client.tokens._http._sleep = no_sleep  # type: ignore[union-attr]
    with pytest.raises(TransportError) as info:
        list(conn.read("candidates", WINDOW))
    text = one_line(info.value)
    assert text.count("gave up after") == 1 and "gave up after 6 attempt(s)" in text  # not 24


def test_retry_deadline_bounds_the_attempts():
    port = closed_port()
    client = ApiClient(
        f"http://127.0.0.1:{port}",
        connector="gh",
        max_attempts=20,
        backoff_base=4.0,
        retry_deadline=5.0,
        sleep=no_sleep,
    )
    with pytest.raises(TransportError) as info:
        client.get_json("/x")
    attempts = int(str(info.value).split("gave up after ")[1].split(" ")[0])
    assert attempts < 20 and "max_attempts 20, 5 s" in str(info.value)


def test_settings_reach_the_client():
    conn = GreenhouseConnector(
        "gh", GreenhouseSettings(client_id="c", client_secret="s", max_pages=7, retry_deadline_seconds=9)
    )
    assert (conn.client.max_pages, conn.client.retry_deadline) == (7, 9)


def test_wrong_token_url_names_the_url_without_query_secrets(rsps):
    url = "https://user:pw@auth.example.test/wrong/token?api_key=s3cr3t"
    rsps.post(
        re.compile(r"https://.*auth\.example\.test/wrong/token.*"),
        status=404,
        json={"message": "Resource not found"},
    )
    tokens = GreenhouseTokens(url, "cid", "csecret", connector="gh", sleep=no_sleep)
    with pytest.raises(NotFound) as info:
        tokens.token()
    text = one_line(info.value)
    assert "token endpoint https://auth.example.test/wrong/token answered: Resource not found" in text
    assert "check token_url" in text and "s3cr3t" not in text and "pw@" not in text


def test_safe_url_drops_userinfo_query_and_fragment():
    assert safe_url("https://u:p@h.test:8443/a/b?k=v#f") == "https://h.test:8443/a/b"


# --- writes the vendor does not document as idempotent are reconciled, not resent -------------------------


def test_lever_add_tags_is_not_resent_after_a_5xx(rsps):
    rsps.post(f"{LV}/opportunities/o1/addTags", status=503, json={"code": "x", "message": "down"})
    conn = lever_connector()
    with pytest.raises(ServerError) as info:
        conn.client.add_tags("o1", ["micro-intern"])
    assert len(rsps.calls) == 1 and delivery_uncertain(info.value)


def test_lever_posting_update_is_not_resent_after_a_5xx(rsps):
    rsps.post(f"{LV}/postings/p1", status=500, json={"code": "x", "message": "boom"})
    with pytest.raises(ServerError):
        lever_connector().client.update_posting("p1", {"state": "published"}, perform_as="u1")
    assert len(rsps.calls) == 1


def test_lever_requisition_put_is_not_resent_after_a_dropped_connection(rsps):
    rsps.get(f"{LV}/requisitions/r1", json={"data": {"id": "r1", "name": "R", "requisitionCode": "C"}})
    rsps.put(f"{LV}/requisitions/r1", body=requests.exceptions.ConnectionError("Connection aborted."))
    with pytest.raises(TransportError) as info:
        lever_connector().client.update_requisition("r1", {"headcountTotal": 2})
    assert delivery_uncertain(info.value)
    assert [c.request.method for c in rsps.calls] == ["GET", "PUT"]


def test_greenhouse_custom_field_patch_is_not_resent_after_a_5xx(rsps):
    rsps.get(f"{GH}/v3/candidates", json=[{"id": 5, "custom_fields": {}}])
    rsps.patch(f"{GH}/v3/candidates/5", status=502, json={"message": "bad gateway"})
    with pytest.raises(ServerError):
        gh_connector().set_fields("5", {"mi_rating": 5})
    assert [c.request.method for c in rsps.calls] == ["GET", "PATCH"]


# --- answers to writes and lookups -----------------------------------------------------------------------


def test_a_write_answered_with_an_unusable_record_is_uncertain_not_a_crash(rsps):
    from syncbridge.model import NewCandidate
    from syncbridge.records import vendor_answer

    rsps.get(f"{GH}/v3/candidates", json=[])  # the e-mail search before a creation finds nobody
    rsps.post(f"{GH}/v3/candidates", json={"id": None, "first_name": "Ann"})
    conn = gh_connector()
    new = NewCandidate(first_name="Ann", last_name="Lee", email="ann@example.com")
    with pytest.raises(UnexpectedResponse) as info:
        vendor_answer(lambda: conn.create_candidate(new), "gh")
    assert one_line(info.value) == "[gh] the vendor's answer could not be used: candidate refused: id is null"
    assert delivery_uncertain(info.value)  # the applier reconciles (searches by e-mail) before resending


def test_lookup_by_email_skips_records_without_id(rsps):
    rsps.get(
        f"{GH}/v3/candidates",
        json=[
            {"id": None, "email_addresses": [{"value": "ann@example.com"}]},
            "junk",
            {"id": 3, "email_addresses": [{"value": "ann@example.com"}]},
        ],
    )
    assert [c.ref.id for c in gh_connector().find_candidates("ann@example.com")] == ["3"]


def test_run_summary_counts_refused_vendor_records(rsps, tmp_path, capsys):
    from syncbridge.cli import _print_summary
    from syncbridge.steps import run_all

    rsps.get(f"{GH}/v3/candidates", json=[{"id": None, "first_name": "Phantom"}, {"id": 1}])
    rsps.get(re.compile(f"{GH}/v3/(applications|jobs|users|custom_fields|custom_field_options).*"), json=[])
    rt = runtime(tmp_path, gh_connector(), "gh")
    summary = run_all(rt, dry_run=True).as_dict()
    rt.close()
    assert summary["skipped_invalid"] == {"gh/candidates": 1}
    assert summary["synced"]["gh/candidates"] == 1
    _print_summary(summary, as_json=False)
    out = capsys.readouterr().out
    assert "  refused:   gh/candidates 1 vendor record(s) without a valid id (skipped_invalid)" in out
    assert "Phantom" not in out


@pytest.mark.parametrize("reset", ["inf", "nan", "1e12", "99999999999"])
def test_an_implausible_rate_limit_reset_does_not_hang(reset):
    from syncbridge.http import HeaderRateLimiter

    now = [1_786_425_000.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = HeaderRateLimiter(clock=lambda: now[0], sleep=sleep)
    answer = requests.Response()
    answer.headers["X-RateLimit-Remaining"] = "0"
    answer.headers["X-RateLimit-Reset"] = reset
    limiter.observe(answer)
    limiter.acquire()
    assert sum(slept) <= 1.5  # one second (plus margin), not "until" year 5138 or forever


def test_lever_infinite_timestamps_do_not_refuse_the_person(rsps):
    body = '{"data": [{"id": "o1", "contact": "c1", "name": "A B", "createdAt": Infinity, "updatedAt": NaN}]}'
    rsps.get(f"{LV}/opportunities", body=body, content_type="application/json")
    pages = list(lever_connector().read("candidates", WINDOW))
    people = [c for p in pages for c in p]
    assert [type(c).__name__ for c in people] == ["Candidate", "Application"]
    assert people[0].created_at is None


@pytest.mark.parametrize("state_backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_nan_and_infinity_in_a_vendor_payload_are_stored(rsps, state_url_for):
    # PostgreSQL's JSON type refuses NaN/Infinity: the whole sync failed with a DataError traceback
    body = '[{"id": 5, "first_name": "Ann", "score": NaN, "custom_fields": {"x": {"value": Infinity}}}]'
    rsps.get(f"{GH}/v3/candidates", body=body, content_type="application/json")
    store = Store(state_url_for("nan"))
    try:
        page = next(gh_connector().read("candidates", WINDOW))
        assert store.upsert_page("gh", "candidate", "candidates", page) == 1
        with store.tx() as conn:
            from sqlalchemy import text

            raw = conn.execute(text("SELECT raw FROM sb_candidates")).scalar_one()
        stored = raw if isinstance(raw, dict) else json.loads(raw)
        assert stored["score"] is None and stored["first_name"] == "Ann"
    finally:
        store.close()
