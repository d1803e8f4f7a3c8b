"""Greenhouse v3: the OAuth token, cursor reads through the connector, and the writes."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from syncbridge.connector import Window
from syncbridge.connectors.greenhouse.client import GreenhouseTokens, build_client
from syncbridge.connectors.greenhouse.connector import GreenhouseConnector, GreenhouseSettings
from syncbridge.errors import (
    AuthError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    ServerError,
    TransportError,
    delivery_uncertain,
)
from syncbridge.http import ApiClient, HeaderRateLimiter, parse_expiry
from syncbridge.model import Application, Candidate, NewCandidate, Note, Requisition

BASE = "https://harvest.greenhouse.io"
TOKEN_URL = "https://auth.greenhouse.io/token"
CLIENT_ID = "f00dcafe1234-7"
SECRET = "s3cr3t-value-XYZ-987"
USER_ID = 4080
NOW = 1_786_425_000.0
FIXTURES = Path(__file__).parent / "fixtures" / "greenhouse"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


class FakeClock:
    def __init__(self, start: float = NOW) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def make_tokens(clock: FakeClock, *, sub: int | None = USER_ID) -> GreenhouseTokens:
    return GreenhouseTokens(
        TOKEN_URL, CLIENT_ID, SECRET, sub=sub, connector="gh", clock=clock.time, sleep=clock.sleep
    )


def make_client(clock: FakeClock, tokens: GreenhouseTokens | None = None) -> ApiClient:
    return ApiClient(
        BASE,
        connector="gh",
        tokens=tokens or make_tokens(clock),
        limiter=HeaderRateLimiter(clock=clock.time, sleep=clock.sleep),
        max_attempts=4,
        sleep=clock.sleep,
    )


def make_connector(clock: FakeClock, **settings: Any) -> GreenhouseConnector:
    settings.setdefault("user_id", USER_ID)
    settings.setdefault("source_name", None)  # request-shape tests; the source has its own tests
    cfg = GreenhouseSettings(client_id=CLIENT_ID, client_secret=SECRET, **settings)
    return GreenhouseConnector("gh", cfg, client=make_client(clock))


def add_token(rsps, token: str = "tok-1", **body: Any) -> None:
    body = body or {"expires_in": 3600}
    rsps.post(TOKEN_URL, json={"access_token": token, "token_type": "Bearer", **body})


def token_calls(rsps) -> list[Any]:
    return [c for c in rsps.calls if c.request.url.startswith(TOKEN_URL)]


def api_calls(rsps) -> list[Any]:
    return [c for c in rsps.calls if c.request.url.startswith(BASE)]


def query(call: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def body(call: Any) -> Any:
    return json.loads(call.request.body)


# --- token --------------------------------------------------------------------------------------------


def test_token_request_shape(rsps, clock):
    add_token(rsps)
    tokens = make_tokens(clock)
    assert tokens.token() == "tok-1"
    (call,) = rsps.calls
    req = call.request
    assert req.method == "POST" and req.url == TOKEN_URL
    expected = base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
    assert req.headers["Authorization"] == f"Basic {expected}"
    assert req.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(req.body) == {"grant_type": ["client_credentials"], "sub": [str(USER_ID)]}
    assert "scope" not in parse_qs(req.body)


def test_token_request_without_sub(rsps, clock):
    add_token(rsps)
    make_tokens(clock, sub=None).token()
    assert parse_qs(rsps.calls[0].request.body) == {"grant_type": ["client_credentials"]}


@pytest.mark.parametrize(
    "value",
    [
        "2030-01-01T00:00:00+0000",
        "2030-01-01T00:00:00Z",
        "2030-01-01T00:00:00.000Z",
        "2030-01-01T00:00:00+00:00",
        "2029-12-31T19:00:00-0500",
        "2030-01-01T00:00:00",  # no offset: UTC, not the host's local time
    ],
)
def test_parse_expiry_expires_at_forms(value):
    assert parse_expiry({"expires_at": value}, now=NOW) == datetime(2030, 1, 1, tzinfo=UTC).timestamp()


def test_parse_expiry_fallbacks():
    assert parse_expiry({"expires_in": 3600}, now=NOW) == NOW + 3600
    assert parse_expiry({"expires_in": "1800"}, now=NOW) == NOW + 1800
    assert parse_expiry({"expires_at": 1_900_000_000}, now=NOW) == 1_900_000_000.0
    assert parse_expiry({}, now=NOW) == NOW + 3600
    assert parse_expiry({"expires_at": "garbage", "expires_in": 60}, now=NOW) == NOW + 60
    assert parse_expiry({"expires_in": "soon"}, now=NOW) == NOW + 3600
    # expires_at wins over expires_in
    at = datetime(2030, 1, 1, tzinfo=UTC).timestamp()
    assert parse_expiry({"expires_at": "2030-01-01T00:00:00Z", "expires_in": 10}, now=NOW) == at


def test_parse_expiry_naive_is_utc_on_a_non_utc_host(monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        expected = datetime(2030, 1, 1, tzinfo=UTC).timestamp()
        assert parse_expiry({"expires_at": "2030-01-01T00:00:00"}, now=NOW) == expected
    finally:
        monkeypatch.undo()
        time.tzset()


def test_token_cached_across_calls(rsps, clock):
    add_token(rsps, "tok-1", expires_at="2030-01-01T00:00:00+0000")
    rsps.get(f"{BASE}/v3/users", json=[])
    client = make_client(clock)
    for _ in range(3):
        client.get_json("/v3/users")
    assert len(token_calls(rsps)) == 1
    assert [c.request.headers["Authorization"] for c in api_calls(rsps)] == ["Bearer tok-1"] * 3


def test_token_refreshed_60s_before_expires_in(rsps, clock):
    add_token(rsps, "tok-1", expires_in=3600)
    add_token(rsps, "tok-2", expires_in=3600)
    tokens = make_tokens(clock)
    assert tokens.token() == "tok-1"
    clock.now = NOW + 3600 - 61
    assert tokens.token() == "tok-1"
    clock.now = NOW + 3600 - 60
    assert tokens.token() == "tok-2"
    assert tokens.issued == 2
    assert len(rsps.calls) == 2


def test_token_refreshed_60s_before_expires_at(rsps, clock):
    expiry = datetime(2030, 1, 1, tzinfo=UTC).timestamp()
    add_token(rsps, "tok-1", expires_at="2030-01-01T00:00:00Z")
    add_token(rsps, "tok-2", expires_at="2030-01-01T01:00:00Z")
    tokens = make_tokens(clock)
    assert tokens.token() == "tok-1"
    clock.now = expiry - 61
    assert tokens.token() == "tok-1"
    clock.now = expiry - 59
    assert tokens.token() == "tok-2"
    assert len(rsps.calls) == 2


def test_401_on_v3_refreshes_token_once_then_succeeds(rsps, clock):
    add_token(rsps, "tok-1")
    add_token(rsps, "tok-2")
    rsps.get(f"{BASE}/v3/users", status=401, json={"message": "Unauthorized", "errors": ["Token expired"]})
    rsps.get(f"{BASE}/v3/users", json=[{"id": 1}])
    tokens = make_tokens(clock)
    client = make_client(clock, tokens)
    assert client.get_json("/v3/users") == [{"id": 1}]
    assert len(token_calls(rsps)) == 2
    assert tokens.issued == 2
    assert [c.request.headers["Authorization"] for c in api_calls(rsps)] == ["Bearer tok-1", "Bearer tok-2"]


def test_second_401_raises_auth_error(rsps, clock):
    add_token(rsps, "tok-1")
    add_token(rsps, "tok-2")
    rsps.get(f"{BASE}/v3/users", status=401, json={"message": "Unauthorized"})
    client = make_client(clock)
    with pytest.raises(AuthError) as info:
        client.get_json("/v3/users")
    assert info.value.status == 401
    assert len(token_calls(rsps)) == 2
    assert len(api_calls(rsps)) == 2


@pytest.mark.parametrize(
    ("status", "payload"),
    [
        (401, {"error": "invalid_client"}),
        (401, {"message": "Unauthorized", "errorId": "err-1"}),
        (
            400,
            {"message": f"client_id={CLIENT_ID} does not contain a valid client ID suffix", "errorId": "e"},
        ),
        (400, {"error": "invalid_client", "error_description": f"client {CLIENT_ID} / {SECRET} unknown"}),
        (403, {"error": "unauthorized_client"}),
    ],
)
def test_bad_credentials_raise_scrubbed_auth_error(rsps, clock, status, payload):
    rsps.post(TOKEN_URL, status=status, json=payload)
    conn = make_connector(clock)
    with pytest.raises(AuthError) as info:
        conn.get_candidate("1")
    text = str(info.value)
    assert "token request refused" in text
    assert CLIENT_ID not in text and SECRET not in text
    assert CLIENT_ID not in repr(info.value.args) and SECRET not in repr(info.value.args)
    assert len(token_calls(rsps)) == 1  # not retried
    assert api_calls(rsps) == []  # nothing sent without a token


def test_token_endpoint_429_is_retried_with_injected_sleep(rsps, clock):
    rsps.post(TOKEN_URL, status=429, json={"message": "Too Many Requests"}, headers={"Retry-After": "7"})
    add_token(rsps, "tok-1")
    tokens = make_tokens(clock)
    assert tokens.token() == "tok-1"
    assert len(rsps.calls) == 2
    assert len(clock.sleeps) == 1 and 7.0 <= clock.sleeps[0] <= 7.3


def test_token_endpoint_5xx_with_rfc6749_body_is_retried(rsps, clock):
    rsps.post(TOKEN_URL, status=503, json={"error": "temporarily_unavailable"})
    add_token(rsps, "tok-1")
    assert make_tokens(clock).token() == "tok-1"
    assert len(rsps.calls) == 2


def test_token_response_without_access_token(rsps, clock):
    rsps.post(TOKEN_URL, json={"token_type": "Bearer"})
    with pytest.raises(AuthError, match="no access_token"):
        make_tokens(clock).token()


def test_token_response_not_json(rsps, clock):
    rsps.post(TOKEN_URL, body="<html>login</html>", content_type="text/html")
    with pytest.raises(AuthError):
        make_tokens(clock).token()


def test_issued_token_is_redacted_from_errors(rsps, clock):
    add_token(rsps, "tok-secret-abcdef")
    rsps.get(f"{BASE}/v3/users", status=403, json={"message": "Forbidden for tok-secret-abcdef"})
    with pytest.raises(PermissionDenied) as info:
        make_client(clock).get_json("/v3/users")
    assert "tok-secret-abcdef" not in str(info.value)


def test_build_client_wiring(clock):
    client = build_client(
        base_url=BASE,
        token_url=TOKEN_URL,
        client_id=CLIENT_ID,
        client_secret=SECRET,
        sub=USER_ID,
        connector="gh",
        timeout=(3.0, 30.0),
        max_attempts=2,
        sleep=clock.sleep,
    )
    assert isinstance(client.tokens, GreenhouseTokens)
    assert isinstance(client.limiter, HeaderRateLimiter)
    assert client.timeout == (3.0, 30.0)
    assert client.max_attempts == 2
    assert client.base_url == BASE + "/"


def test_build_client_injected_sleep_reaches_the_token_request(rsps, clock):
    rsps.post(TOKEN_URL, status=500)
    add_token(rsps, "tok-1")
    rsps.get(f"{BASE}/v3/users", json=[])
    client = build_client(
        base_url=BASE,
        token_url=TOKEN_URL,
        client_id=CLIENT_ID,
        client_secret=SECRET,
        sub=None,
        connector="gh",
        sleep=clock.sleep,
    )
    assert client.get_json("/v3/users") == []
    assert len(clock.sleeps) == 1  # the token retry used the injected sleep, not time.sleep


# --- reads: cursor pagination -------------------------------------------------------------------------

WINDOW = Window(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, 12, 30, 0, 250000, tzinfo=UTC))
CURSOR_URL = f"{BASE}/v3/candidates?cursor=eyJpZCI6NTM4ODMzOTR9"


def test_read_candidates_first_request_has_filters_next_only_cursor(rsps, clock):
    add_token(rsps)
    first, second = load("candidate.json"), load("candidate_tag_objects.json")
    rsps.get(f"{BASE}/v3/candidates", json=[first], headers={"Link": f'<{CURSOR_URL}>; rel="next"'})
    rsps.get(f"{BASE}/v3/candidates", json=[second, {"no_id": True}])
    conn = make_connector(clock)
    pages = list(conn.read("candidates", WINDOW))
    # the record without an id is refused (counted by the sync), not stored
    assert [type(c).__name__ for c in pages[1]] == ["Candidate", "Refused"]
    assert [[c.ref.id for c in page if hasattr(c, "ref")] for page in pages] == [["53883394"], ["53883395"]]
    assert all(isinstance(c, Candidate) for page in pages for c in page if hasattr(c, "ref"))
    calls = api_calls(rsps)
    assert len(calls) == 2
    assert query(calls[0]) == {
        "per_page": ["500"],
        "updated_at": ["gte|2024-01-01T00:00:00.000Z|lte|2024-01-02T12:30:00.250Z"],
    }
    assert "updated_at=gte%7C2024-01-01T00%3A00%3A00.000Z%7Clte%7C" in calls[0].request.url
    assert calls[1].request.url == CURSOR_URL
    assert query(calls[1]) == {"cursor": ["eyJpZCI6NTM4ODMzOTR9"]}
    assert all(c.request.headers["Authorization"] == "Bearer tok-1" for c in calls)


def test_read_full_window_and_page_size(rsps, clock):
    add_token(rsps)
    rsps.get(f"{BASE}/v3/jobs", json=[load("job.json")])
    conn = make_connector(clock, page_size=50)
    (page,) = list(conn.read("jobs", Window(None, datetime(2024, 1, 2, tzinfo=UTC))))
    assert isinstance(page[0], Requisition) and page[0].code == "REQ-2025-017"
    assert query(api_calls(rsps)[0]) == {"per_page": ["50"], "updated_at": ["lte|2024-01-02T00:00:00.000Z"]}


def test_read_applications(rsps, clock):
    add_token(rsps)
    rsps.get(f"{BASE}/v3/applications", json=load("applications.json"))
    (page,) = list(make_connector(clock).read("applications", WINDOW))
    assert [type(a) for a in page] == [Application, Application]
    assert page[0].prospect is True and page[0].status == "in_process"


def test_read_cursor_422_surfaces_as_invalid_request(rsps, clock):
    add_token(rsps)
    rsps.get(
        f"{BASE}/v3/candidates",
        json=[load("candidate.json")],
        headers={"Link": f'<{CURSOR_URL}>; rel="next"'},
    )
    rsps.get(
        f"{BASE}/v3/candidates",
        status=422,
        json={
            "message": "Unprocessable Content",
            "errors": ["When passing a cursor, do not include other query params."],
        },
    )
    pages = make_connector(clock).read("candidates", WINDOW)
    assert len(next(pages)) == 1
    with pytest.raises(InvalidRequest) as info:
        next(pages)
    assert info.value.status == 422
    assert info.value.message == "Unprocessable Content"
    assert info.value.details == ["When passing a cursor, do not include other query params."]
    assert "When passing a cursor, do not include other query params." in str(info.value)
    assert len(api_calls(rsps)) == 2  # a 422 is never retried


def test_read_timeout_retried_on_reads(rsps, clock):
    add_token(rsps)
    rsps.get(f"{BASE}/v3/candidates", body=requests.exceptions.ReadTimeout("read timed out"))
    rsps.get(f"{BASE}/v3/candidates", json=[load("candidate.json")])
    cand = make_connector(clock).get_candidate("53883394")
    assert cand.first_name == "Zoë"
    assert len(api_calls(rsps)) == 2
    assert query(api_calls(rsps)[1]) == {"ids": ["53883394"]}


def test_read_timeout_not_retried_on_writes(rsps, clock):
    add_token(rsps)
    rsps.post(f"{BASE}/v3/notes", body=requests.exceptions.ReadTimeout("read timed out"))
    rsps.post(f"{BASE}/v3/notes", status=201, json={"id": 1})
    conn = make_connector(clock)
    with pytest.raises(TransportError) as info:
        conn.add_note("53883394", Note(subject="s", text="t", marker="mi:1"))
    assert delivery_uncertain(info.value)
    assert len(api_calls(rsps)) == 1


def test_read_unknown_stream(clock):
    with pytest.raises(KeyError):
        list(make_connector(clock).read("offers", WINDOW))


# --- lookups ------------------------------------------------------------------------------------------


def test_get_candidate_not_found_on_empty_page(rsps, clock):
    add_token(rsps)
    rsps.get(f"{BASE}/v3/candidates", json=[])
    with pytest.raises(NotFound) as info:
        make_connector(clock).get_candidate("999")
    assert info.value.status == 404
    assert query(api_calls(rsps)[0]) == {"ids": ["999"]}


def test_get_candidate_ignores_other_ids(rsps, clock):
    add_token(rsps)
    rsps.get(f"{BASE}/v3/candidates", json=[{"id": 1000, "first_name": "Other"}])
    with pytest.raises(NotFound):
        make_connector(clock).get_candidate("999")


def test_get_candidate_404(rsps, clock):
    add_token(rsps)
    rsps.get(f"{BASE}/v3/candidates", status=404, json={"message": "Resource not found"})
    with pytest.raises(NotFound):
        make_connector(clock).get_candidate("999")
    assert len(api_calls(rsps)) == 1


def test_find_candidates_by_email(rsps, clock):
    add_token(rsps)
    rsps.get(f"{BASE}/v3/candidates", json=[load("candidate.json")])
    found = make_connector(clock).find_candidates("zoe@muller.example")
    assert [c.ref.id for c in found] == ["53883394"]
    assert query(api_calls(rsps)[0]) == {"email": ["zoe@muller.example"], "per_page": ["100"]}


def test_find_note_by_marker(rsps, clock):
    add_token(rsps)
    nxt = f"{BASE}/v3/notes?cursor=n2"
    rsps.get(
        f"{BASE}/v3/notes",
        json=[{"id": 1, "body": "other"}, {"id": 2, "body": None}],
        headers={"Link": f'<{nxt}>; rel="next"'},
    )
    rsps.get(f"{BASE}/v3/notes", json=[{"id": 3, "body": "Great work\n\n[mi:OUT-1]"}])
    conn = make_connector(clock)
    assert conn.find_note("53883394", "mi:OUT-1") == "3"
    calls = api_calls(rsps)
    assert query(calls[0]) == {"candidate_ids": ["53883394"], "per_page": ["500"]}
    assert calls[1].request.url == nxt


def test_find_note_missing(rsps, clock):
    add_token(rsps)
    rsps.get(f"{BASE}/v3/notes", json=[{"id": 1, "body": "[mi:OTHER]"}])
    assert make_connector(clock).find_note("53883394", "mi:OUT-1") is None


def test_check_counts_users(rsps, clock):
    add_token(rsps)
    rsps.get(f"{BASE}/v3/users", json=[{"id": 1}])
    assert make_connector(clock).check() == {"users_visible": 1}
    assert query(api_calls(rsps)[0]) == {"per_page": ["1"]}


# --- writes: notes ------------------------------------------------------------------------------------

NOTE = Note(subject="Micro-internship completed", text="Great work, very thorough.", marker="mi:OUT-1")


def test_add_note_body(rsps, clock):
    add_token(rsps)
    rsps.post(f"{BASE}/v3/notes", status=201, json={"id": 9001, "candidate_id": 53883394})
    note_id = make_connector(clock).add_note("53883394", NOTE)
    assert note_id == "9001"
    (call,) = api_calls(rsps)
    assert call.request.method == "POST"
    assert call.request.headers["Content-Type"] == "application/json"
    sent = body(call)
    assert sent["candidate_id"] == 53883394 and isinstance(sent["candidate_id"], int)
    assert "[mi:OUT-1]" in sent["body"] and sent["body"].startswith("Great work")
    assert sent["visibility"] == "private"  # the write value, not privately_visible
    assert sent["note_type"] == "NOTE"
    assert sent["user_id"] == USER_ID
    for forbidden in ("email_from", "email_to", "email_cc"):
        assert forbidden not in sent


def test_add_note_without_user_and_other_visibility(rsps, clock):
    add_token(rsps)
    rsps.post(f"{BASE}/v3/notes", status=201, json={"id": 1})
    make_connector(clock, user_id=None, note_visibility="admin_only").add_note("7", NOTE)
    sent = body(api_calls(rsps)[0])
    assert "user_id" not in sent
    assert sent["visibility"] == "admin_only"


def test_add_note_422_surfaces_message(rsps, clock):
    add_token(rsps)
    rsps.post(
        f"{BASE}/v3/notes",
        status=422,
        json={
            "message": "Unprocessable Content",
            "errors": [{"application_id": "must belong to the candidate"}],
        },
    )
    with pytest.raises(InvalidRequest) as info:
        make_connector(clock).add_note("53883394", NOTE)
    assert info.value.message == "Unprocessable Content"
    assert info.value.details == ["application_id: must belong to the candidate"]
    assert "must belong to the candidate" in str(info.value)
    assert not delivery_uncertain(info.value)
    assert len(api_calls(rsps)) == 1


def test_add_note_500_not_retried(rsps, clock):
    add_token(rsps)
    rsps.post(f"{BASE}/v3/notes", status=500)
    with pytest.raises(ServerError):
        make_connector(clock).add_note("53883394", NOTE)
    assert len(api_calls(rsps)) == 1


# --- writes: tags -------------------------------------------------------------------------------------


def cand(tags: list[Any], custom_fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"id": 53883394, "first_name": "Zoë", "tags": tags, "custom_fields": custom_fields or {}}


def posts_to(rsps, path: str) -> list[Any]:
    return [
        body(c)
        for c in api_calls(rsps)
        if c.request.method == "POST" and urlsplit(c.request.url).path == path
    ]


def gets_of(rsps, path: str) -> list[Any]:
    return [c for c in api_calls(rsps) if c.request.method == "GET" and urlsplit(c.request.url).path == path]


def test_add_tags_get_or_create(rsps, clock):
    add_token(rsps)
    rsps.get(f"{BASE}/v3/candidates", json=[cand(["Existing"])])
    rsps.get(f"{BASE}/v3/candidate_tags", json=[{"id": 1, "name": "Existing"}, {"id": 2, "name": "Alumni"}])
    rsps.post(f"{BASE}/v3/candidate_tags", status=201, json={"id": 3, "name": "New"})
    rsps.post(f"{BASE}/v3/applied_candidate_tags", status=201, json={"id": 99})
    make_connector(clock).add_tags("53883394", ["Existing", "Alumni", "New"])
    assert posts_to(rsps, "/v3/candidate_tags") == [{"name": "New"}]
    assert posts_to(rsps, "/v3/applied_candidate_tags") == [
        {"candidate_id": 53883394, "candidate_tag_id": 2},
        {"candidate_id": 53883394, "candidate_tag_id": 3},
    ]
    (dict_get,) = gets_of(rsps, "/v3/candidate_tags")
    assert query(dict_get) == {"per_page": ["500"]}


def test_add_tags_dictionary_is_paged_and_cached(rsps, clock):
    add_token(rsps)
    nxt = f"{BASE}/v3/candidate_tags?cursor=t2"
    rsps.get(f"{BASE}/v3/candidates", json=[cand([])])
    rsps.get(
        f"{BASE}/v3/candidate_tags", json=[{"id": 1, "name": "A"}], headers={"Link": f'<{nxt}>; rel="next"'}
    )
    rsps.get(f"{BASE}/v3/candidate_tags", json=[{"id": 2, "name": "B"}])
    rsps.post(f"{BASE}/v3/applied_candidate_tags", status=201, json={"id": 99})
    conn = make_connector(clock)
    conn.add_tags("53883394", ["B"])
    conn.add_tags("53883394", ["A"])
    assert len(gets_of(rsps, "/v3/candidate_tags")) == 2  # two pages once, then the cache
    assert [b["candidate_tag_id"] for b in posts_to(rsps, "/v3/applied_candidate_tags")] == [2, 1]
    assert posts_to(rsps, "/v3/candidate_tags") == []


def test_add_tags_create_422_reloads_dictionary(rsps, clock):
    add_token(rsps)
    rsps.get(f"{BASE}/v3/candidates", json=[cand([])])
    rsps.get(f"{BASE}/v3/candidate_tags", json=[{"id": 1, "name": "Other"}])
    rsps.get(f"{BASE}/v3/candidate_tags", json=[{"id": 1, "name": "Other"}, {"id": 7, "name": "New"}])
    rsps.post(
        f"{BASE}/v3/candidate_tags",
        status=422,
        json={"message": "Unprocessable Content", "errors": [{"name": "has already been taken"}]},
    )
    rsps.post(f"{BASE}/v3/applied_candidate_tags", status=201, json={"id": 99})
    make_connector(clock).add_tags("53883394", ["New"])
    assert posts_to(rsps, "/v3/candidate_tags") == [{"name": "New"}]
    assert len(gets_of(rsps, "/v3/candidate_tags")) == 2
    assert posts_to(rsps, "/v3/applied_candidate_tags") == [{"candidate_id": 53883394, "candidate_tag_id": 7}]


def test_add_tags_create_422_still_missing_is_raised(rsps, clock):
    add_token(rsps)
    rsps.get(f"{BASE}/v3/candidates", json=[cand([])])
    rsps.get(f"{BASE}/v3/candidate_tags", json=[])
    rsps.post(
        f"{BASE}/v3/candidate_tags",
        status=422,
        json={"message": "Unprocessable Content", "errors": [{"name": "is too long"}]},
    )
    with pytest.raises(InvalidRequest) as info:
        make_connector(clock).add_tags("53883394", ["x" * 300])
    assert "name: is too long" in str(info.value)
    assert posts_to(rsps, "/v3/applied_candidate_tags") == []


def test_add_tags_422_on_applied_pair_is_success_when_confirmed(rsps, clock):
    add_token(rsps)
    rsps.get(f"{BASE}/v3/candidates", json=[cand([])])  # stale read: the tag is not listed yet
    rsps.get(f"{BASE}/v3/candidate_tags", json=[{"id": 5, "name": "Alumni"}])
    rsps.post(f"{BASE}/v3/applied_candidate_tags", status=422, json={"message": "Unprocessable Content"})
    rsps.get(
        f"{BASE}/v3/applied_candidate_tags", json=[{"id": 1, "candidate_id": 53883394, "candidate_tag_id": 5}]
    )
    make_connector(clock).add_tags("53883394", ["Alumni"])
    (confirm,) = gets_of(rsps, "/v3/applied_candidate_tags")
    assert query(confirm) == {"candidate_ids": ["53883394"]}
    assert len(posts_to(rsps, "/v3/applied_candidate_tags")) == 1


def test_add_tags_other_422_on_applied_is_raised(rsps, clock):
    add_token(rsps)
    rsps.get(f"{BASE}/v3/candidates", json=[cand([])])
    rsps.get(f"{BASE}/v3/candidate_tags", json=[{"id": 5, "name": "Alumni"}])
    rsps.post(
        f"{BASE}/v3/applied_candidate_tags",
        status=422,
        json={"message": "Unprocessable Content", "errors": ["Candidate is anonymized"]},
    )
    rsps.get(
        f"{BASE}/v3/applied_candidate_tags", json=[{"id": 1, "candidate_id": 53883394, "candidate_tag_id": 6}]
    )
    with pytest.raises(InvalidRequest) as info:
        make_connector(clock).add_tags("53883394", ["Alumni"])
    assert info.value.details == ["Candidate is anonymized"]
    assert len(gets_of(rsps, "/v3/applied_candidate_tags")) == 1


def test_add_tags_all_present_sends_nothing(rsps, clock):
    add_token(rsps)
    rsps.get(f"{BASE}/v3/candidates", json=[cand([{"id": 5, "name": "Alumni"}])])
    make_connector(clock).add_tags("53883394", ["Alumni"])
    assert [urlsplit(c.request.url).path for c in api_calls(rsps)] == ["/v3/candidates"]


# --- writes: custom fields ----------------------------------------------------------------------------


def test_set_fields_sends_merged_full_list(rsps, clock):
    add_token(rsps)
    rsps.get(f"{BASE}/v3/candidates", json=[load("candidate.json")])
    rsps.patch(f"{BASE}/v3/candidates/53883394", json={"id": 53883394})
    make_connector(clock).set_fields("53883394", {"mi_score": 4.5, "cost_center": "CC-9", "new_field": "x"})
    (patch,) = [c for c in api_calls(rsps) if c.request.method == "PATCH"]
    assert urlsplit(patch.request.url).path == "/v3/candidates/53883394"
    sent = body(patch)
    assert list(sent) == ["custom_fields"]  # nothing else is touched
    assert sorted(sent["custom_fields"], key=lambda f: f["name_key"]) == [
        {"name_key": "cost_center", "value": "CC-9"},
        {"name_key": "desired_salary", "value": {"amount": 50000, "currency_code": "EUR"}},
        {"name_key": "graduation_year", "value": 2025},
        {"name_key": "languages", "value": ["English", "Deutsch"]},
        {"name_key": "mi_score", "value": 4.5},
        {"name_key": "new_field", "value": "x"},
        {"name_key": "relocate", "value": True},
    ]


def test_set_fields_patch_is_not_resent_but_left_to_reconciliation(rsps, clock):
    # Greenhouse documents no idempotency for PATCH: after a 5xx the applier checks the fields first
    add_token(rsps)
    rsps.get(f"{BASE}/v3/candidates", json=[cand([], {"a": {"value": None}})])
    rsps.patch(f"{BASE}/v3/candidates/53883394", status=502)
    rsps.patch(f"{BASE}/v3/candidates/53883394", json={"id": 53883394})
    with pytest.raises(ServerError) as info:
        make_connector(clock).set_fields("53883394", {"b": 1})
    assert delivery_uncertain(info.value)
    patches = [c for c in api_calls(rsps) if c.request.method == "PATCH"]
    assert len(patches) == 1
    assert body(patches[0]) == {"custom_fields": [{"name_key": "b", "value": 1}]}


def test_set_fields_unknown_candidate(rsps, clock):
    add_token(rsps)
    rsps.get(f"{BASE}/v3/candidates", json=[])
    with pytest.raises(NotFound):
        make_connector(clock).set_fields("1", {"b": 1})
    assert [c.request.method for c in api_calls(rsps)] == ["GET"]


# --- writes: create candidate -------------------------------------------------------------------------

NEW = NewCandidate(
    first_name="Ada",
    last_name="Lovelace",
    email="ada@uni.example",
    phone="+1 555 0100",
    tags=("Micro-internship",),
)


def nobody_has_the_email(rsps) -> None:
    rsps.get(f"{BASE}/v3/candidates", json=[])


def posts(rsps) -> list[Any]:
    return [c for c in api_calls(rsps) if c.request.method == "POST"]


def test_create_candidate_reuses_the_person_with_that_email(rsps, clock):
    """A creation is proved absent first (a lost state store must not create the person twice)."""
    add_token(rsps)
    rsps.get(f"{BASE}/v3/candidates", json=[dict(load("candidate.json"), id=60000009)])
    assert make_connector(clock).create_candidate(NEW).ref.id == "60000009"
    assert posts(rsps) == []
    assert query(api_calls(rsps)[0])["email"] == ["ada@uni.example"]


def test_create_candidate_prospect_and_wrapper(rsps, clock):
    add_token(rsps)
    nobody_has_the_email(rsps)
    created = dict(load("candidate.json"), id=60000001)
    rsps.post(
        f"{BASE}/v3/candidates",
        status=201,
        json={"candidate": created, "application": {"id": 80000001, "prospect": True}},
    )
    result = make_connector(clock).create_candidate(NEW)
    assert result.ref.id == "60000001"
    (call,) = posts(rsps)
    sent = body(call)
    assert sent["application"] == {"prospect": True}
    assert sent["first_name"] == "Ada" and sent["last_name"] == "Lovelace"
    assert sent["email_addresses"] == [{"value": "ada@uni.example", "type": "personal"}]
    assert sent["phone_numbers"] == [{"value": "+1 555 0100", "type": "mobile"}]
    assert sent["tags"] == ["Micro-internship"]


def test_create_candidate_attributes_its_application_to_the_named_source(rsps, clock):
    add_token(rsps)
    nobody_has_the_email(rsps)
    rsps.get(
        f"{BASE}/v3/sources", json=[{"id": 7, "name": "LinkedIn"}, {"id": 9, "name": "Micro-internship"}]
    )
    created = dict(load("candidate.json"), id=60000001)
    rsps.post(
        f"{BASE}/v3/candidates",
        status=201,
        json={"candidate": created, "application": {"id": 80000001, "prospect": True, "source_id": None}},
    )
    rsps.patch(f"{BASE}/v3/applications/80000001", json={"id": 80000001, "source_id": 9})
    make_connector(clock, source_name="micro-INTERNSHIP").create_candidate(NEW)
    calls = [c for c in api_calls(rsps) if "/v3/candidates?" not in c.request.url]  # after the e-mail check
    assert [c.request.method for c in calls] == ["GET", "POST", "PATCH"]
    assert body(calls[2]) == {"source_id": 9}


def test_a_missing_source_fails_before_anything_is_written(rsps, clock):
    add_token(rsps)
    nobody_has_the_email(rsps)
    rsps.get(f"{BASE}/v3/sources", json=[{"id": 7, "name": "LinkedIn"}])
    with pytest.raises(InvalidRequest, match="no source named 'Micro-internship'"):
        make_connector(clock, source_name="Micro-internship").create_candidate(NEW)
    assert posts(rsps) == []


def test_create_candidate_bare_record(rsps, clock):
    add_token(rsps)
    nobody_has_the_email(rsps)
    rsps.post(f"{BASE}/v3/candidates", status=201, json={"id": 5, "first_name": "Ada"})
    assert make_connector(clock).create_candidate(NEW).ref.id == "5"


def test_create_candidate_unexpected_response(rsps, clock):
    add_token(rsps)
    nobody_has_the_email(rsps)
    rsps.post(f"{BASE}/v3/candidates", status=201, json={"candidate": None})
    with pytest.raises(InvalidRequest):
        make_connector(clock).create_candidate(NEW)


def test_create_candidate_500_not_retried(rsps, clock):
    add_token(rsps)
    nobody_has_the_email(rsps)
    rsps.post(f"{BASE}/v3/candidates", status=500)
    with pytest.raises(ServerError):
        make_connector(clock).create_candidate(NEW)
    assert len(posts(rsps)) == 1


def test_create_requisition_reuses_an_open_job_with_that_code_and_refuses_a_closed_one(rsps, clock):
    """The job is looked up by its requisition id first: a lost state store never opens it twice."""
    from syncbridge.model import NewRequisition

    add_token(rsps)
    new = NewRequisition(code="REQ-2025-017", title="Data Analyst", options={"template_job_id": 4100002})
    rsps.get(f"{BASE}/v3/jobs", json=[load("job.json")])
    assert make_connector(clock).create_requisition(new).ref.id == "4001"
    assert posts(rsps) == [] and query(api_calls(rsps)[0])["requisition_id"] == ["REQ-2025-017"]

    rsps.replace(responses.GET, f"{BASE}/v3/jobs", json=[dict(load("job.json"), status="closed")])
    with pytest.raises(InvalidRequest, match="REQ-2025-017 and it is closed"):
        make_connector(clock).create_requisition(new)
    assert posts(rsps) == []


def test_find_notes_checks_every_marker_in_one_read(rsps, clock):
    add_token(rsps)
    rsps.get(
        f"{BASE}/v3/notes",
        json=[{"id": 1, "body": "x [syncbridge:aaa]"}, {"id": 2, "body": "y [syncbridge:bbb]"}],
    )
    found = make_connector(clock).find_notes("7", ["syncbridge:aaa", "syncbridge:bbb", "syncbridge:ccc"])
    assert found == {"syncbridge:aaa": "1", "syncbridge:bbb": "2"}
    assert len(api_calls(rsps)) == 1
