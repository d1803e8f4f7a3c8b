"""Lever transport and connector behaviour against recorded-style responses (the ``responses`` library)."""

from __future__ import annotations

import itertools
import json
import urllib.parse
from typing import Any

import pytest
import responses
from responses import matchers

from syncbridge.connector import MemoryState
from syncbridge.connectors.lever.client import (
    STATE_REFRESH_ORIGIN,
    STATE_REFRESH_TOKEN,
    InvalidOffsetToken,
    LeverClient,
    LeverOAuthTokens,
    build_api,
    merge_requisition,
)
from syncbridge.connectors.lever.connector import LeverConnector, LeverSettings
from syncbridge.errors import AuthError, InvalidRequest, NotFound, PermissionDenied, RateLimited, ServerError
from syncbridge.http import TokenBucket
from syncbridge.model import NewCandidate, NewRequisition, Note
from syncbridge.redact import redact

BASE = "https://api.lever.test/v1"
TOKEN_URL = "https://auth.lever.test/oauth/token"
KEY = "test-key-0f3a9c"


class FakeClock:
    """A clock that only moves when something sleeps: retries and pacing cost no real time."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make_client(
    clock: FakeClock | None = None,
    *,
    max_restarts: int = 3,
    page_size: int = 100,
    tokens: Any = None,
    rate: float = 1000.0,
) -> LeverClient:
    clock = clock or FakeClock()
    limiter = TokenBucket(rate, 1000, clock=clock, sleep=clock.sleep)
    api = build_api(
        BASE,
        connector="lever-test",
        limiter=limiter,
        api_key=None if tokens else KEY,
        tokens=tokens,
        sleep=clock.sleep,
        backoff_base=0.5,
    )
    return LeverClient(api, page_size=page_size, max_restarts=max_restarts)


def make_connector(clock: FakeClock | None = None, **settings: Any) -> LeverConnector:
    cfg = LeverSettings.model_validate({"type": "lever", "api_key": KEY, "base_url": BASE, **settings})
    return LeverConnector("lever-test", cfg, client=make_client(clock))


def _body_text(body: Any) -> str:
    return body.decode() if isinstance(body, bytes) else str(body)


def _body(call: Any) -> str:
    return _body_text(call.request.body)


def query(call: Any) -> dict[str, list[str]]:
    return urllib.parse.parse_qs(urllib.parse.urlsplit(call.request.url).query)


def opp(oid: str, contact: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": oid,
        "contact": contact,
        "name": "Shane Smith",
        "emails": ["shane@example.test"],
        "phones": [{"type": "mobile", "value": "(123) 456-7891"}],
        "tags": [],
        "createdAt": 1407460071043,
        "updatedAt": 1407460080914,
        "archived": None,
        **extra,
    }


# --- pagination -------------------------------------------------------------------------------------------


@responses.activate
def test_offset_pagination_keeps_parameters_and_follows_next() -> None:
    pages = [
        {"data": [{"id": "a"}, {"id": "b"}], "hasNext": True, "next": "0.1414895548650.tok-1"},
        {"data": [{"id": "c"}], "hasNext": True, "next": "0.1414895548651.tok-2"},
        {"data": [{"id": "d"}], "hasNext": False},
    ]
    for page in pages:
        responses.get(f"{BASE}/opportunities", json=page)
    client = make_client(page_size=2)
    got = list(client.opportunities({"updated_at_start": 1, "updated_at_end": 2}))
    assert [[r["id"] for r in p] for p in got] == [["a", "b"], ["c"], ["d"]]
    queries = [query(c) for c in responses.calls]
    assert [q.get("offset") for q in queries] == [None, ["0.1414895548650.tok-1"], ["0.1414895548651.tok-2"]]
    for q in queries:
        assert q["expand"] == ["applications", "stage"]
        assert q["confidentiality"] == ["all"]
        assert q["updated_at_start"] == ["1"] and q["updated_at_end"] == ["2"] and q["limit"] == ["2"]
    assert all(c.request.headers["Authorization"].startswith("Basic ") for c in responses.calls)


@responses.activate
def test_invalid_offset_token_restarts_the_window_from_the_first_page() -> None:
    first = {"data": [{"id": "a"}], "hasNext": True, "next": "0.1.stale"}
    refused = {"code": "BadRequestError", "message": "Invalid offset token: Offset token is invalid for sort"}
    responses.get(f"{BASE}/opportunities", json=first)
    responses.get(f"{BASE}/opportunities", json=refused, status=400)
    responses.get(f"{BASE}/opportunities", json={**first, "next": "0.1.fresh"})
    responses.get(f"{BASE}/opportunities", json={"data": [{"id": "b"}], "hasNext": False})
    client = make_client()
    ids = [r["id"] for page in client.opportunities({}) for r in page]
    assert ids == ["a", "a", "b"]  # the window is read again; the consumer upserts
    assert client.stats["offset_restarts"] == 1
    offsets = [query(c).get("offset") for c in responses.calls]
    assert offsets == [None, ["0.1.stale"], None, ["0.1.fresh"]]


@responses.activate
def test_offset_restarts_are_bounded() -> None:
    first = {"data": [{"id": "a"}], "hasNext": True, "next": "0.1.x"}
    refused = {"code": "BadRequestError", "message": "Invalid offset token"}
    for _ in range(3):
        responses.get(f"{BASE}/users", json=first)
        responses.get(f"{BASE}/users", json=refused, status=400)
    client = make_client(max_restarts=2)
    with pytest.raises(InvalidOffsetToken):
        list(client.paginate("users"))
    assert client.stats["offset_restarts"] == 2
    assert len(responses.calls) == 6


# --- OAuth --------------------------------------------------------------------------------------------------


def _token_callback(issued: list[str]) -> Any:
    def callback(request: Any) -> tuple[int, dict[str, str], str]:
        form = urllib.parse.parse_qs(_body_text(request.body))
        current = issued[-1]
        if form.get("refresh_token") != [current] or form.get("grant_type") != ["refresh_token"]:
            return 403, {}, json.dumps({"error": "invalid_grant", "error_description": "Unknown or invalid"})
        issued.append(f"rt-{len(issued)}")
        body = {
            "access_token": f"at-{len(issued)}",
            "refresh_token": issued[-1],
            "token_type": "Bearer",
            "expires_in": 3600,
        }
        return 200, {}, json.dumps(body)

    return callback


@responses.activate
def test_oauth_refresh_rotation_is_persisted_and_preferred_on_start() -> None:
    issued = ["rt-configured"]
    responses.add_callback(responses.POST, TOKEN_URL, callback=_token_callback(issued))
    responses.get(f"{BASE}/users", json={"data": [], "hasNext": False})
    state = MemoryState()
    clock = FakeClock()

    tokens = LeverOAuthTokens(
        TOKEN_URL, "cid", "csecret", "rt-configured", state=state, clock=clock, sleep=clock.sleep
    )
    client = make_client(clock, tokens=tokens)
    client.list_all("users")
    assert state.get(STATE_REFRESH_TOKEN) == "rt-1"
    assert responses.calls[-1].request.headers["Authorization"] == "Bearer at-2"

    # a new process with the same (old) configuration starts from the rotated token
    again = LeverOAuthTokens(
        TOKEN_URL, "cid", "csecret", "rt-configured", state=state, clock=clock, sleep=clock.sleep
    )
    assert again.current_refresh_token() == "rt-1"
    again.token()
    assert state.get(STATE_REFRESH_TOKEN) == "rt-2"
    token_calls = [c for c in responses.calls if c.request.url == TOKEN_URL]
    assert [urllib.parse.parse_qs(_body(c))["refresh_token"] for c in token_calls] == [
        ["rt-configured"],
        ["rt-1"],
    ]
    # the access token is reused until it nears expiry, then refreshed with the newest refresh token
    assert again.token() == again.token()
    clock.now += 3600
    again.token()
    assert state.get(STATE_REFRESH_TOKEN) == "rt-3"
    # nothing secret reaches a log line
    assert "rt-3" not in redact("refresh rt-3 and at-4")


@responses.activate
def test_oauth_prefers_a_newly_configured_refresh_token() -> None:
    issued = ["rt-new-grant"]
    responses.add_callback(responses.POST, TOKEN_URL, callback=_token_callback(issued))
    state = MemoryState()
    state.set(STATE_REFRESH_TOKEN, "rt-from-an-old-grant")
    state.set(STATE_REFRESH_ORIGIN, "fingerprint-of-the-old-config")
    tokens = LeverOAuthTokens(TOKEN_URL, "cid", "csecret", "rt-new-grant", state=state)
    assert tokens.current_refresh_token() == "rt-new-grant"
    tokens.token()
    assert state.get(STATE_REFRESH_TOKEN) == "rt-1"


@responses.activate
def test_oauth_refused_refresh_rereads_state_then_fails_clearly() -> None:
    issued = ["rt-other-process"]
    responses.add_callback(responses.POST, TOKEN_URL, callback=_token_callback(issued))
    state = MemoryState()
    tokens = LeverOAuthTokens(TOKEN_URL, "cid", "csecret", "rt-configured", state=state)
    origin = tokens._origin

    class Racing(MemoryState):
        """Another process rotates the token between our read and our refresh."""

        def get(self, key: str) -> str | None:
            if key == STATE_REFRESH_TOKEN and getattr(self, "raced", False):
                return "rt-other-process"
            if key == STATE_REFRESH_ORIGIN and getattr(self, "raced", False):
                return origin
            self.raced = True
            return None

    tokens.state = Racing()
    assert tokens.token() == "at-2"

    dead = LeverOAuthTokens(TOKEN_URL, "cid", "csecret", "rt-used-up", state=MemoryState())
    with pytest.raises(AuthError, match="single-use"):
        dead.token()


@responses.activate
def test_401_with_oauth_refreshes_once() -> None:
    issued = ["rt-0"]
    responses.add_callback(responses.POST, TOKEN_URL, callback=_token_callback(issued))
    responses.get(f"{BASE}/stages", status=401, json={"code": "UnauthorizedError", "message": "expired"})
    responses.get(f"{BASE}/stages", json={"data": [{"id": "s"}], "hasNext": False})
    tokens = LeverOAuthTokens(TOKEN_URL, "cid", "csecret", "rt-0", state=MemoryState())
    client = make_client(tokens=tokens)
    assert client.list_all("stages") == [{"id": "s"}]
    assert tokens.issued == 2


# --- retries and errors ------------------------------------------------------------------------------------


@responses.activate
def test_429_backs_off_exponentially_then_succeeds() -> None:
    clock = FakeClock()
    busy = {"code": "TooManyRequests", "message": "Too many requests"}
    responses.get(f"{BASE}/stages", json=busy, status=429)
    responses.get(f"{BASE}/stages", json=busy, status=429)
    responses.get(f"{BASE}/stages", json=busy, status=429, headers={"Retry-After": "7"})
    responses.get(f"{BASE}/stages", json={"data": [{"id": "s1", "text": "New lead"}], "hasNext": False})
    client = make_client(clock)
    assert client.list_all("stages") == [{"id": "s1", "text": "New lead"}]
    assert client.api.stats["rate_limited"] == 3 and client.api.stats["retries"] == 3
    backoffs = clock.sleeps
    assert len(responses.calls) == 4
    # jittered exponential waits (0.25-0.5, 0.5-1.0), then Retry-After honoured (7 s + jitter)
    assert any(0.25 <= s <= 0.5 for s in backoffs) and any(0.5 <= s <= 1.0 for s in backoffs)
    assert any(7.0 <= s <= 7.25 for s in backoffs)


@responses.activate
def test_503_is_retried_for_reads_but_not_for_note_writes() -> None:
    down = {"code": "ServiceUnavailable", "message": "maintenance"}
    responses.get(f"{BASE}/users", json=down, status=503)
    responses.get(f"{BASE}/users", json={"data": [], "hasNext": False})
    responses.post(f"{BASE}/opportunities/o1/notes", json=down, status=503)
    client = make_client()
    assert client.list_all("users") == []
    with pytest.raises(ServerError):  # the applier reconciles: a 503 may have been applied
        client.add_note("o1", "hello")
    assert len([c for c in responses.calls if c.request.method == "POST"]) == 1


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, InvalidRequest),
        (401, AuthError),
        (403, PermissionDenied),
        (404, NotFound),
        (429, RateLimited),
        (500, ServerError),
    ],
)
@responses.activate
def test_error_bodies_map_to_typed_errors(status: int, cls: type[Exception]) -> None:
    body = {
        "code": "ResourceNotFound" if status == 404 else "SomeCode",
        "message": "stages a80bbbe0 was not found for jane.doe@example.test",
    }
    responses.get(f"{BASE}/stages/a80bbbe0", json=body, status=status)
    client = make_client()
    client.api.max_attempts = 1
    with pytest.raises(cls) as info:
        client.get_data("stages/a80bbbe0")
    text = str(info.value)
    assert f"HTTP {status}" in text and "a80bbbe0 was not found" in text
    assert f"code: {body['code']}" in text
    assert "jane.doe@example.test" not in text  # e-mails are masked in errors
    assert not isinstance(info.value, InvalidOffsetToken)


# --- perform_as and writes ---------------------------------------------------------------------------------


@responses.activate
def test_perform_as_goes_in_the_query_string_and_is_resolved_once_from_email() -> None:
    responses.get(
        f"{BASE}/users",
        json={"data": [{"id": "u-1", "email": "ada@hr.test"}], "hasNext": False},
        match=[matchers.query_param_matcher({"email": "ada@hr.test", "limit": "100"})],
    )
    responses.get(f"{BASE}/opportunities", json={"data": [], "hasNext": False})
    responses.post(
        f"{BASE}/opportunities",
        status=201,
        json={"data": opp("o-new", "c-new", name="Ada Lovelace", emails=["ada@uni.test"])},
    )
    conn = make_connector(perform_as_email="ada@hr.test")
    created = conn.create_candidate(
        NewCandidate(
            first_name="Ada",
            last_name="Lovelace",
            email="ada@uni.test",
            phone="+1 555 0100",
            tags=("micro-intern",),
        )
    )
    assert created.ref.id == "c-new" and created.ref.kind == "contact"
    post = next(c for c in responses.calls if c.request.method == "POST")
    assert query(post)["perform_as"] == ["u-1"]
    body = json.loads(_body(post))
    assert "perform_as" not in body
    assert body["emails"] == ["ada@uni.test"] and body["name"] == "Ada Lovelace"
    assert body["tags"] == ["micro-intern"] and body["phones"] == [{"value": "+1 555 0100", "type": "mobile"}]
    # the search came first (every POST makes a new opportunity)
    assert [c.request.method for c in responses.calls] == ["GET", "GET", "POST"]
    assert conn.perform_as() == "u-1"
    assert len([c for c in responses.calls if "/users" in str(c.request.url)]) == 1


@responses.activate
def test_create_candidate_reuses_an_existing_contact_without_posting() -> None:
    responses.get(f"{BASE}/opportunities", json={"data": [opp("o1", "c1")], "hasNext": False})
    conn = make_connector(perform_as="u-1")
    found = conn.create_candidate(
        NewCandidate(first_name="Shane", last_name="Smith", email="shane@example.test")
    )
    assert found.ref.id == "c1"
    assert all(c.request.method == "GET" for c in responses.calls)


def test_create_opportunity_without_perform_as_is_refused_before_sending() -> None:
    client = make_client()
    with pytest.raises(InvalidRequest, match="perform_as"):
        client.create_opportunity({"name": "X"}, perform_as=None)


@responses.activate
def test_note_goes_to_the_open_opportunity_updated_last_with_score_and_perform_as() -> None:
    opps = [
        opp("o-old-open", "c1", updatedAt=1000),
        opp("o-new-open", "c1", updatedAt=3000),
        opp("o-archived", "c1", updatedAt=9000, archived={"archivedAt": 9000, "reason": "r"}),
    ]
    responses.get(
        f"{BASE}/opportunities",
        json={"data": opps, "hasNext": False},
        match=[
            matchers.query_param_matcher(
                {
                    "contact_id": "c1",
                    "confidentiality": "all",
                    "expand": ["applications", "stage"],
                    "limit": "100",
                }
            )
        ],
    )
    responses.post(f"{BASE}/opportunities/o-new-open/notes", status=201, json={"data": {"noteId": "n-1"}})
    conn = make_connector(perform_as="u-9", note_secret=True)
    note = Note(subject="s", text="Micro-internship completed", marker="syncbridge:abc", score=4.7)
    assert conn.add_note("c1", note) == "n-1"
    post = responses.calls[-1]
    assert query(post)["perform_as"] == ["u-9"]
    assert json.loads(_body(post)) == {"value": note.body_text(), "secret": True, "score": 4}


@responses.activate
def test_add_tags_sends_only_missing_tags_and_has_tags_reads_the_opportunity() -> None:
    current = opp("o1", "c1", tags=["micro-intern"])
    responses.get(f"{BASE}/opportunities", json={"data": [current], "hasNext": False})
    responses.post(f"{BASE}/opportunities/o1/addTags", json={"data": current})
    conn = make_connector()
    assert conn.has_tags("c1", ["micro-intern"])
    assert not conn.has_tags("c1", ["micro-intern", "strong"])
    conn.add_tags("c1", ["micro-intern", "strong", "strong"])
    post = next(c for c in responses.calls if c.request.method == "POST")
    assert json.loads(_body(post)) == {"tags": ["strong"]}
    assert "perform_as" not in query(post)  # optional on tags: not sent when not configured


@responses.activate
def test_find_note_searches_every_opportunity_for_the_marker() -> None:
    responses.get(
        f"{BASE}/opportunities",
        json={"data": [opp("o1", "c1", updatedAt=5), opp("o2", "c1", updatedAt=1)], "hasNext": False},
    )
    responses.get(
        f"{BASE}/opportunities/o1/notes",
        json={
            "data": [{"id": "n1", "text": "Note", "fields": [{"type": "note", "value": "unrelated"}]}],
            "hasNext": False,
        },
    )
    responses.get(
        f"{BASE}/opportunities/o2/notes",
        json={
            "data": [
                {"id": "n2", "text": "Note", "fields": [{"type": "note", "value": "x\n\n[syncbridge:k1]"}]}
            ],
            "hasNext": False,
        },
    )
    conn = make_connector()
    assert conn.find_note("c1", "syncbridge:k1") == "n2"
    assert conn.find_note("c1", "syncbridge:nope") is None


@responses.activate
def test_get_candidate_unknown_contact_is_not_found() -> None:
    responses.get(f"{BASE}/opportunities", json={"data": [], "hasNext": False})
    responses.get(
        f"{BASE}/opportunities/ghost",
        status=404,
        json={"code": "ResourceNotFound", "message": "opportunity ghost was not found"},
    )
    with pytest.raises(NotFound):
        make_connector().get_candidate("ghost")


# --- requisitions and postings -----------------------------------------------------------------------------


@responses.activate
def test_requisition_update_is_read_merge_write() -> None:
    current = {
        "id": "r1",
        "requisitionCode": "ENG-145",
        "name": "Engineer",
        "headcountTotal": 2,
        "status": "open",
        "owner": "u1",
        "location": "Oakland",
        "department": "Engineering",
        "customFields": {"cost_center": "CC-1", "target_hire_date": 1453320000000},
        "createdAt": 1,
        "headcountHired": 1,
        "postings": ["p1"],
        "updatedAt": 5,
    }
    responses.get(f"{BASE}/requisitions/r1", json={"data": current})
    responses.put(
        f"{BASE}/requisitions/r1",
        status=400,
        json={"code": "BadRequestError", "message": "department is not a valid field"},
    )
    responses.put(f"{BASE}/requisitions/r1", json={"data": {**current, "headcountTotal": 3}})
    conn = make_connector()
    updated = conn.update_requisition("r1", {"headcountTotal": 3, "customFields": {"cost_center": "CC-2"}})
    assert updated.code == "ENG-145"
    first, second = (json.loads(_body(c)) for c in responses.calls if c.request.method == "PUT")
    assert first["name"] == "Engineer" and first["location"] == "Oakland" and first["owner"] == "u1"
    assert first["headcountTotal"] == 3 and first["department"] == "Engineering"
    assert first["customFields"] == {"cost_center": "CC-2", "target_hire_date": 1453320000000}
    assert "createdAt" not in first and "headcountHired" not in first and "postings" not in first
    assert "department" not in second and second["headcountTotal"] == 3


def test_merge_requisition_keeps_unlimited_headcount() -> None:
    body = merge_requisition(
        {"requisitionCode": "A", "name": "n", "headcountTotal": "unlimited"}, {"name": "m"}
    )
    assert body == {"requisitionCode": "A", "name": "m", "headcountTotal": "unlimited"}


@responses.activate
def test_create_requisition_checks_the_code_first_and_drops_a_refused_department() -> None:
    responses.get(f"{BASE}/requisitions", json={"data": [], "hasNext": False})
    responses.get(f"{BASE}/requisition_fields", json={"data": [{"id": "cost_center"}], "hasNext": False})
    responses.get(f"{BASE}/postings", json={"data": [], "hasNext": False})
    responses.post(f"{BASE}/postings", status=201, json={"data": {"id": "p9", "text": "Intern"}})
    responses.post(
        f"{BASE}/requisitions",
        status=400,
        json={"code": "BadRequestError", "message": "department is not allowed"},
    )
    responses.post(
        f"{BASE}/requisitions",
        status=201,
        json={"data": {"id": "r9", "requisitionCode": "MI-1", "name": "Intern", "headcountTotal": 1}},
    )
    conn = make_connector(perform_as="u-1")
    with pytest.raises(InvalidRequest, match="headcountTotal"):
        conn.client.create_requisition({"requisitionCode": "MI-1", "name": "Intern"})
    new = NewRequisition(
        code="MI-1",
        title="Intern",
        department="Data",
        location="Oakland",
        fields={"cost_center": "CC-1"},
        options={"employmentStatus": "intern", "nope": 1},
    )
    req = conn.create_requisition(new)
    assert req.ref.id == "r9"
    assert query(responses.calls[0])["requisition_code"] == ["MI-1"]
    first, second = (
        json.loads(_body(c))
        for c in responses.calls
        if c.request.method == "POST" and str(c.request.url).endswith("/requisitions")
    )
    assert first == {
        "requisitionCode": "MI-1",
        "name": "Intern",
        "headcountTotal": 1,
        "status": "open",
        "department": "Data",
        "location": "Oakland",
        "customFields": {"cost_center": "CC-1"},
        "employmentStatus": "intern",
    }
    assert "department" not in second


@responses.activate
def test_find_requisition_prefers_an_open_one() -> None:
    responses.get(
        f"{BASE}/requisitions",
        json={
            "data": [
                {"id": "r-closed", "requisitionCode": "MI-1", "name": "a", "status": "closed"},
                {"id": "r-open", "requisitionCode": "MI-1", "name": "b", "status": "open"},
                {"id": "r-other", "requisitionCode": "MI-10", "name": "c", "status": "open"},
            ],
            "hasNext": False,
        },
    )
    found = make_connector().find_requisition("MI-1")
    assert found is not None and found.ref.id == "r-open"


@responses.activate
def test_posting_create_is_draft_with_whitelisted_html_and_perform_as() -> None:
    responses.post(
        f"{BASE}/postings",
        status=400,
        json={"code": "BadRequestError", "message": "closingHtml is not allowed"},
    )
    responses.post(f"{BASE}/postings", status=201, json={"data": {"id": "p1", "text": "Intern"}})
    conn = make_connector(perform_as="u-1")
    posting = conn.create_posting(
        {
            "text": "Intern",
            "content": {
                "descriptionHtml": "<div onclick='x()'>Hi <script>alert(1)</script><h1>Big</h1></div>",
                "closingHtml": "<p>Bye</p>",
            },
        }
    )
    assert posting["id"] == "p1"
    first, second = (json.loads(_body(c)) for c in responses.calls)
    assert first["state"] == "draft"
    assert first["content"]["descriptionHtml"] == "<div>Hi Big</div>"
    assert "closingPostingHtml" in second["content"] and "closingHtml" not in second["content"]
    assert all(query(c)["perform_as"] == ["u-1"] for c in responses.calls)


def test_settings_require_exactly_one_auth() -> None:
    with pytest.raises(ValueError, match="api_key"):
        LeverSettings.model_validate({"type": "lever"})
    with pytest.raises(ValueError, match="not both"):
        LeverSettings.model_validate(
            {"type": "lever", "api_key": "k", "client_id": "c", "client_secret": "s", "refresh_token": "r"}
        )
    oauth = LeverSettings.model_validate(
        {
            "type": "lever",
            "client_id": "c",
            "client_secret": "s",
            "refresh_token": "r",
            "environment": "sandbox",
        }
    )
    assert oauth.api_url() == "https://api.sandbox.lever.co/v1"
    assert oauth.oauth_token_url() == "https://sandbox-lever.auth0.com/oauth/token"
    eu = LeverSettings.model_validate({"type": "lever", "api_key": "k", "region": "eu"})
    assert eu.api_url() == "https://api.eu.lever.co/v1" and eu.rate_per_second == 8 and eu.burst == 16


@responses.activate
def test_incremental_reads_use_update_windows_and_full_reads_no_time_filter() -> None:
    from datetime import UTC, datetime, timedelta

    from syncbridge.connector import Window

    responses.get(f"{BASE}/opportunities", json={"data": [opp("o1", "c1")], "hasNext": False})
    conn = make_connector(window_days=30)
    until = datetime(2026, 3, 1, tzinfo=UTC)
    pages = list(conn.read("applications", Window(until - timedelta(days=70), until)))
    assert len(pages) == 3
    spans = [
        (int(query(c)["updated_at_start"][0]), int(query(c)["updated_at_end"][0])) for c in responses.calls
    ]
    assert spans[0][0] == int((until - timedelta(days=70)).timestamp() * 1000)
    assert spans[-1][1] == int(until.timestamp() * 1000)
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(spans))
    assert all("created_at_end" not in query(c) for c in responses.calls)

    responses.calls.reset()
    list(conn.read("candidates", Window(None, until)))
    (full,) = [query(c) for c in responses.calls]
    assert not {k for k in full if k.startswith(("created_at", "updated_at"))}  # no time filter at all


# --- conversion: requisition + posting, publish, attach, prescreen ----------------------------------------

REQ: dict[str, Any] = {
    "id": "r1",
    "requisitionCode": "MI-DATA-INTERN",
    "name": "Data Intern",
    "status": "open",
    "team": "Data",
    "location": "Oakland",
    "hiringManager": "u-hm",
    "postings": ["p1"],
    "customFields": {"mi_source_project": "Churn"},
}
POSTING: dict[str, Any] = {
    "id": "p1",
    "text": "Data Intern",
    "state": "draft",
    "distributionChannels": ["public", "internal"],
    "requisitionCodes": ["MI-DATA-INTERN"],
    "createdAt": 5,
}


def _posts(path: str) -> list[dict[str, Any]]:
    return [
        json.loads(_body(c))
        for c in responses.calls
        if c.request.method == "POST" and urllib.parse.urlsplit(c.request.url).path == f"/v1/{path}"
    ]


@responses.activate
def test_create_requisition_then_its_draft_posting_linked_by_code() -> None:
    responses.get(f"{BASE}/requisitions", json={"data": [], "hasNext": False})
    responses.get(
        f"{BASE}/requisition_fields",
        json={"data": [{"id": "mi_source_project", "isRequired": False}], "hasNext": False},
    )
    created = {**REQ, "postings": []}
    responses.post(f"{BASE}/requisitions", status=201, json={"data": created})
    responses.get(f"{BASE}/postings", json={"data": [{"id": "p-other", "requisitionCodes": ["X"]}]})
    responses.post(f"{BASE}/postings", status=201, json={"data": {**POSTING}})
    conn = make_connector(perform_as="u-1")
    new = NewRequisition(
        code="MI-DATA-INTERN",
        title="Data Intern",
        team="Data Science",
        location="Oakland",
        hiring_manager="u-hm",
        description_html="<p>Opened <script>x</script>by syncbridge</p>",
        fields={"mi_source_project": "Churn"},
        options={
            "publish": "published",
            "distribution": "internal",
            "team": "Data",
            "commitment": "Internship",
            "employmentStatus": "intern",
        },
    )
    req = conn.create_requisition(new)
    assert req.ref.id == "r1" and req.code == "MI-DATA-INTERN"
    [body] = _posts("requisitions")
    assert body["team"] == "Data" and body["hiringManager"] == "u-hm" and body["headcountTotal"] == 1
    assert body["customFields"] == {"mi_source_project": "Churn"} and body["employmentStatus"] == "intern"
    assert "publish" not in body and "distribution" not in body
    [posting] = _posts("postings")
    assert posting == {
        "text": "Data Intern",
        "state": "draft",
        "requisitionCodes": ["MI-DATA-INTERN"],
        "categories": {"team": "Data", "location": "Oakland", "commitment": "Internship"},
        "hiringManager": "u-hm",
        "distributionChannels": ["internal"],
        "content": {"descriptionHtml": "<p>Opened by syncbridge</p>"},
    }
    assert query(responses.calls[-1])["perform_as"] == ["u-1"]


@responses.activate
def test_create_requisition_refuses_an_unknown_custom_field_by_name_before_sending() -> None:
    responses.get(f"{BASE}/requisitions", json={"data": [], "hasNext": False})
    responses.get(f"{BASE}/requisition_fields", json={"data": [{"id": "cost_center"}], "hasNext": False})
    conn = make_connector(perform_as="u-1")
    new = NewRequisition(code="MI-1", title="Intern", fields={"mi_source_projekt": "x"})
    with pytest.raises(InvalidRequest, match="mi_source_projekt not a Lever requisition field") as info:
        conn.create_requisition(new)
    assert "cost_center" in str(info.value)
    assert all(c.request.method == "GET" for c in responses.calls)


@responses.activate
def test_create_requisition_reuses_an_open_one_and_refuses_a_closed_one() -> None:
    responses.get(f"{BASE}/requisitions", json={"data": [REQ], "hasNext": False})
    conn = make_connector(perform_as="u-1")
    new = NewRequisition(code="MI-DATA-INTERN", title="Data Intern")
    assert conn.create_requisition(new).ref.id == "r1"
    responses.replace(
        responses.GET, f"{BASE}/requisitions", json={"data": [{**REQ, "status": "closed"}], "hasNext": False}
    )
    with pytest.raises(InvalidRequest, match="is closed in Lever"):
        conn.create_requisition(new)
    assert all(c.request.method == "GET" for c in responses.calls)


@responses.activate
def test_bad_publish_option_fails_before_any_write() -> None:
    conn = make_connector(perform_as="u-1")
    with pytest.raises(InvalidRequest, match=r"options\.publish"):
        conn.create_requisition(NewRequisition(code="A", title="a", options={"publish": "everywhere"}))
    with pytest.raises(InvalidRequest, match=r"options\.distribution"):
        conn.create_requisition(
            NewRequisition(code="A", title="a", options={"publish": "published", "distribution": "intranet"})
        )
    assert len(responses.calls) == 0


@responses.activate
def test_complete_requisition_adds_missing_fields_and_posting() -> None:
    responses.get(f"{BASE}/requisitions/r1", json={"data": {**REQ, "postings": [], "customFields": {}}})
    responses.get(f"{BASE}/requisition_fields", json={"data": [{"id": "mi_source_project"}]})
    responses.put(f"{BASE}/requisitions/r1", json={"data": {**REQ, "postings": []}})
    responses.get(f"{BASE}/postings", json={"data": [], "hasNext": False})
    responses.post(f"{BASE}/postings", status=201, json={"data": POSTING})
    conn = make_connector(perform_as="u-1")
    conn.complete_requisition(
        "r1", NewRequisition(code="MI-DATA-INTERN", title="x", fields=REQ["customFields"])
    )
    [put] = [json.loads(_body(c)) for c in responses.calls if c.request.method == "PUT"]
    assert put["customFields"] == {"mi_source_project": "Churn"} and put["name"] == "Data Intern"
    assert len(_posts("postings")) == 1
    # nothing is sent when both are there
    responses.calls.reset()
    responses.replace(responses.GET, f"{BASE}/requisitions/r1", json={"data": REQ})
    responses.get(f"{BASE}/postings/p1", json={"data": POSTING})
    conn.complete_requisition(
        "r1", NewRequisition(code="MI-DATA-INTERN", title="x", fields=REQ["customFields"])
    )
    assert all(c.request.method == "GET" for c in responses.calls)


@responses.activate
def test_publish_moves_the_one_posting_to_the_wanted_state_and_channels() -> None:
    responses.get(f"{BASE}/requisitions/r1", json={"data": REQ})
    responses.get(f"{BASE}/postings/p1", json={"data": POSTING})
    responses.post(
        f"{BASE}/postings/p1",
        json={"data": {**POSTING, "state": "published", "distributionChannels": ["internal"]}},
    )
    conn = make_connector(perform_as="u-1")
    options = {"publish": "published", "distribution": "internal"}
    assert conn.find_published("r1", options) is None
    assert conn.publish("r1", options) == "p1"
    [update] = _posts("postings/p1")
    assert update == {"state": "published", "distributionChannels": ["internal"]}
    assert query(responses.calls[-1])["perform_as"] == ["u-1"]
    assert _posts("postings") == []  # never a second posting
    # already published (and wider): nothing is narrowed, nothing sent
    responses.calls.reset()
    responses.replace(responses.GET, f"{BASE}/postings/p1", json={"data": {**POSTING, "state": "published"}})
    assert conn.find_published("r1", options) == "p1"
    assert conn.publish("r1", {"publish": "internal"}) == "p1"
    assert all(c.request.method == "GET" for c in responses.calls)


@responses.activate
def test_publish_makes_the_posting_when_the_requisition_has_none() -> None:
    responses.get(f"{BASE}/requisitions/r1", json={"data": {**REQ, "postings": []}})
    responses.get(f"{BASE}/postings", json={"data": [], "hasNext": False})
    responses.post(
        f"{BASE}/postings", status=201, json={"data": {**POSTING, "id": "p7", "state": "internal"}}
    )
    conn = make_connector(perform_as="u-1")
    assert conn.publish("r1", {"publish": "unlisted"}) == "p7"
    [body] = _posts("postings")
    assert body["state"] == "internal" and body["requisitionCodes"] == ["MI-DATA-INTERN"]
    assert body["distributionChannels"] == ["public", "internal"]


@responses.activate
def test_attach_returns_the_existing_opportunity_on_the_posting() -> None:
    responses.get(f"{BASE}/requisitions/r1", json={"data": REQ})
    responses.get(f"{BASE}/postings/p1", json={"data": POSTING})
    on_posting = opp("o2", "c1", applications=[{"id": "a1", "posting": "p1"}], createdAt=9)
    responses.get(
        f"{BASE}/opportunities",
        json={"data": [opp("o1", "c1", applications=[]), on_posting], "hasNext": False},
    )
    conn = make_connector(perform_as="u-1")
    app = conn.attach("c1", "r1")
    assert app.ref.id == "o2" and app.candidate_id == "c1" and app.requisition_id == "p1"
    found = conn.find_application("c1", "r1")
    assert found is not None and found.ref.id == "o2"
    assert all(c.request.method == "GET" for c in responses.calls)
    assert query(responses.calls[2])["contact_id"] == ["c1"]


@responses.activate
def test_attach_posts_a_new_opportunity_for_the_contact_on_the_posting() -> None:
    responses.get(f"{BASE}/requisitions/r1", json={"data": REQ})
    responses.get(f"{BASE}/postings/p1", json={"data": POSTING})
    responses.get(f"{BASE}/opportunities", json={"data": [opp("o1", "c1")], "hasNext": False})
    responses.post(f"{BASE}/opportunities", status=201, json={"data": opp("o9", "c1", applications=["a9"])})
    conn = make_connector(perform_as="u-1", new_candidate_source="syncbridge")
    assert conn.find_application("c1", "r1") is None
    app = conn.attach("c1", "r1", stage="applicant-new")
    assert app.ref.id == "o9" and app.requisition_id == "p1" and not app.prospect
    [body] = _posts("opportunities")
    assert body == {
        "postings": ["p1"],
        "origin": "sourced",
        "contact": "c1",
        "stage": "applicant-new",
        "sources": ["syncbridge"],
    }
    assert query(responses.calls[-1])["perform_as"] == ["u-1"]


@responses.activate
def test_attach_to_a_requisition_without_posting_makes_a_draft_one() -> None:
    responses.get(f"{BASE}/requisitions/r1", json={"data": {**REQ, "postings": []}})
    responses.get(f"{BASE}/postings", json={"data": [], "hasNext": False})
    responses.get(f"{BASE}/opportunities", json={"data": [opp("o1", "c1")], "hasNext": False})
    responses.post(f"{BASE}/postings", status=201, json={"data": {**POSTING, "id": "p5"}})
    responses.post(f"{BASE}/opportunities", status=201, json={"data": opp("o9", "c1")})
    conn = make_connector(perform_as="u-1")
    assert conn.attach("c1", "r1").ref.id == "o9"
    [posting] = _posts("postings")
    assert posting["state"] == "draft" and "distributionChannels" not in posting
    assert _posts("opportunities")[0]["postings"] == ["p5"]


@responses.activate
def test_prescreen_note_carries_summary_fields_score_and_marker_once() -> None:
    from syncbridge.model import Prescreen

    pre = Prescreen(
        outcome_id="MI-1",
        score=4.8,
        recommendation="Strongly recommended",
        summary_text="Prescreened through a micro-internship: Churn (Acme)",
        summary_html="<p>x</p>",
        fields={"mi_prescreen_score": 4.8, "mi_supervisor": "Amara Nwosu", "mi_would_hire": True},
        marker="syncbridge:abc123",
    )
    responses.get(f"{BASE}/opportunities/o9/notes", json={"data": [], "hasNext": False})
    responses.post(f"{BASE}/opportunities/o9/notes", status=201, json={"data": {"noteId": "n1"}})
    conn = make_connector(perform_as="u-1")
    assert conn.find_prescreen("o9", pre) is None
    assert conn.write_prescreen("o9", pre) == "n1"
    [body] = _posts("opportunities/o9/notes")
    assert body["score"] == 4 and body["secret"] is False
    assert body["value"] == (
        "Prescreened through a micro-internship: Churn (Acme)\n\n"
        "Prescreen fields:\n- mi_prescreen_score: 4.8\n- mi_supervisor: Amara Nwosu\n- mi_would_hire: yes\n\n"
        "[syncbridge:abc123]"
    )
    written = {"id": "n1", "fields": [{"value": body["value"]}], "deletedAt": None}
    responses.replace(
        responses.GET, f"{BASE}/opportunities/o9/notes", json={"data": [written], "hasNext": False}
    )
    assert conn.find_prescreen("o9", pre) == "n1"
    assert conn.write_prescreen("o9", pre) == "n1"
    assert len(_posts("opportunities/o9/notes")) == 1


@responses.activate
def test_find_user_by_email_skips_deactivated_users() -> None:
    responses.get(
        f"{BASE}/users",
        json={"data": [{"id": "u-old", "deactivatedAt": 5}, {"id": "u-2", "deactivatedAt": None}]},
    )
    conn = make_connector()
    assert conn.find_user("Hiro.Tanaka@example.test") == "u-2"
    assert query(responses.calls[0])["email"] == ["Hiro.Tanaka@example.test"]
    responses.replace(responses.GET, f"{BASE}/users", json={"data": [], "hasNext": False})
    assert conn.find_user("nobody@example.test") is None


def test_conversion_capabilities_are_declared() -> None:
    from syncbridge.connector import Capability

    assert {
        Capability.create_requisition,
        Capability.publish,
        Capability.attach,
        Capability.prescreen,
    } <= LeverConnector.capabilities
    assert Capability.set_fields not in LeverConnector.capabilities


@responses.activate
def test_hiring_manager_given_by_email_is_resolved_or_left_out() -> None:
    responses.get(f"{BASE}/requisitions", json={"data": [], "hasNext": False})
    responses.get(f"{BASE}/requisition_fields", json={"data": [], "hasNext": False})
    responses.get(f"{BASE}/users", json={"data": [{"id": "u-hm"}], "hasNext": False})
    responses.post(f"{BASE}/requisitions", status=201, json={"data": {**REQ, "postings": []}})
    responses.get(f"{BASE}/postings", json={"data": [], "hasNext": False})
    responses.post(f"{BASE}/postings", status=201, json={"data": POSTING})
    responses.get(f"{BASE}/postings/p1", json={"data": POSTING})
    conn = make_connector(perform_as="u-1")
    conn.create_requisition(NewRequisition(code="MI-1", title="x", hiring_manager="hm@acme.test"))
    assert _posts("requisitions")[0]["hiringManager"] == "u-hm"
    responses.calls.reset()
    responses.replace(responses.GET, f"{BASE}/users", json={"data": [], "hasNext": False})
    conn.create_requisition(NewRequisition(code="MI-2", title="x", hiring_manager="nobody@acme.test"))
    assert "hiringManager" not in _posts("requisitions")[0]


def test_applications_stream_is_skipped_only_when_candidates_is_synced_too() -> None:
    from syncbridge.config import load_settings
    from syncbridge.steps import Runtime

    def streams(chosen: list[str] | None) -> list[str]:
        raw: dict[str, Any] = {
            "state": {"url": "sqlite://"},
            "outcomes": {"path": "x.csv"},
            "connectors": {"lv": {"type": "lever", "api_key": "k"}},
            "routing": [{"employer": "*", "connector": "lv"}],
        }
        if chosen is not None:
            raw["sync"] = {"streams": {"lv": chosen}}
        with Runtime(load_settings(raw)) as rt:
            return rt.streams_for("lv")

    assert "applications" not in streams(None) and "candidates" in streams(None)
    assert streams(["candidates", "applications"]) == ["candidates"]
    assert streams(["applications"]) == ["applications"]  # on its own it is still read
