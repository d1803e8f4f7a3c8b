"""The shared HTTP layer: Retry-After, typed errors, retries, rate limiting, Link pagination."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from requests.structures import CaseInsensitiveDict

from syncbridge.errors import (
    ApiError,
    AuthError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    TransportError,
    UnexpectedResponse,
    delivery_uncertain,
)
from syncbridge.http import (
    ApiClient,
    HeaderRateLimiter,
    TokenBucket,
    TokenProvider,
    error_from_response,
    parse_retry_after,
)

BASE = "https://api.example.test"
NOW = 1_786_425_000.0


class FakeClock:
    """One clock for the client and the limiter: ``sleep`` advances ``time`` and records the wait."""

    def __init__(self, start: float = NOW) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def make_client(clock: FakeClock, **kw: Any) -> ApiClient:
    kw.setdefault("max_attempts", 4)
    return ApiClient(BASE, connector="test", sleep=clock.sleep, **kw)


def fake_response(status: int, body: Any = None, headers: dict[str, str] | None = None) -> requests.Response:
    r = requests.Response()
    r.status_code = status
    r.reason = requests.status_codes._codes[status][0].replace("_", " ").title()  # type: ignore[attr-defined]
    if isinstance(body, (dict, list)):
        r._content = json.dumps(body).encode()
        r.headers = CaseInsensitiveDict({"Content-Type": "application/json", **(headers or {})})
    else:
        r._content = (body or "").encode()
        r.headers = CaseInsensitiveDict(headers or {})
    r.url = BASE + "/v3/x"
    return r


# --- parse_retry_after --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"), [("3", 3.0), (" 7 ", 7.0), ("0", 0.0), ("2.5", 2.5), ("-4", 0.0)]
)
def test_retry_after_seconds(value, expected):
    assert parse_retry_after(value, now=NOW) == expected


def test_retry_after_http_date():
    now = datetime(2015, 10, 21, 7, 27, 50, tzinfo=UTC).timestamp()
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == pytest.approx(10.0)
    # a date in the past means "now"
    assert parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now=now) == 0.0


def test_retry_after_http_date_without_zone_is_gmt():
    old = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    try:
        now = datetime(2015, 10, 21, 7, 27, 50, tzinfo=UTC).timestamp()
        # asctime form (RFC 9110 obsolete-but-valid): no zone, always GMT
        assert parse_retry_after("Wed Oct 21 07:28:00 2015", now=now) == pytest.approx(10.0)
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()


def test_retry_after_huge_value_is_an_epoch():
    assert parse_retry_after("1786425600", now=1_786_425_600 - 30) == pytest.approx(30.0)
    assert parse_retry_after("1786425600", now=1_786_425_600 + 30) == 0.0


@pytest.mark.parametrize("value", [None, "", "   ", "soon", "3 seconds", "Thursday", "inf", "nan", "-inf"])
def test_retry_after_garbage_is_none(value):
    assert parse_retry_after(value, now=NOW) is None


# --- error_from_response ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, InvalidRequest),
        (401, AuthError),
        (403, PermissionDenied),
        (404, NotFound),
        (409, InvalidRequest),
        (422, InvalidRequest),
        (429, RateLimited),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
    ],
)
def test_error_types_by_status(status, cls):
    err = error_from_response(fake_response(status, {"message": "boom"}), "gh")
    assert type(err) is cls
    assert err.status == status
    assert err.message == "boom"
    assert err.connector == "gh"


def test_greenhouse_error_with_string_errors():
    body = {
        "message": "Unauthorized",
        "errors": ["Token could not be decoded. Please ensure your token is from a trusted source."],
    }
    err = error_from_response(fake_response(401, body), "gh")
    assert isinstance(err, AuthError)
    assert err.message == "Unauthorized"
    assert err.details == ["Token could not be decoded. Please ensure your token is from a trusted source."]
    assert err.body == body
    assert "Token could not be decoded" in str(err)
    assert str(err).startswith("[gh] HTTP 401: Unauthorized")


def test_greenhouse_error_with_object_errors():
    body = {"message": "Unprocessable Content", "errors": [{"per_page": "`600` number is greater than: 500"}]}
    err = error_from_response(fake_response(422, body), "gh")
    assert isinstance(err, InvalidRequest)
    assert err.message == "Unprocessable Content"
    assert err.details == ["per_page: `600` number is greater than: 500"]
    assert "per_page: `600` number is greater than: 500" in str(err)


def test_greenhouse_error_with_mixed_errors_and_dict_errors():
    body = {"message": "Unprocessable Content", "errors": ["first", {"name": "is taken"}]}
    assert error_from_response(fake_response(422, body)).details == ["first", "name: is taken"]
    body2 = {"errors": {"first_name": "can't be blank"}}
    err = error_from_response(fake_response(422, body2))
    assert err.details == ["first_name: can't be blank"]
    assert err.message == "Unprocessable Entity"  # falls back to the reason phrase


def test_error_404_and_403_messages():
    err = error_from_response(fake_response(404, {"message": "Resource not found"}))
    assert isinstance(err, NotFound) and err.message == "Resource not found" and err.details == []
    err = error_from_response(fake_response(403, {"message": "Forbidden", "errors": ["missing scope"]}))
    assert isinstance(err, PermissionDenied) and err.details == ["missing scope"]


def test_error_rfc6749_body():
    err = error_from_response(fake_response(400, {"error": "invalid_grant", "error_description": "expired"}))
    assert isinstance(err, InvalidRequest)
    assert err.message == "expired"
    err = error_from_response(fake_response(401, {"error": "invalid_client"}))
    assert isinstance(err, AuthError) and err.message == "invalid_client"


def test_error_non_json_body_and_headers():
    err = error_from_response(
        fake_response(429, "<html>slow down</html>", {"Retry-After": "12", "X-Request-Id": "req-1"})
    )
    assert isinstance(err, RateLimited)
    assert err.retry_after == pytest.approx(12.0)
    assert err.request_id == "req-1"
    assert err.body is None
    assert err.message == "Too Many Requests"


def test_error_5xx_empty_body():
    err = error_from_response(fake_response(500, ""))
    assert isinstance(err, ServerError)
    assert err.message == "Internal Server Error"
    assert delivery_uncertain(err)


# --- ApiClient retries --------------------------------------------------------------------------------


def test_get_429_retry_after_then_200(rsps, clock):
    rsps.get(f"{BASE}/v3/x", status=429, json={"message": "Too Many Requests"}, headers={"Retry-After": "3"})
    rsps.get(f"{BASE}/v3/x", json=[{"id": 1}])
    client = make_client(clock)
    assert client.get_json("/v3/x") == [{"id": 1}]
    assert len(rsps.calls) == 2
    assert len(clock.sleeps) == 1
    assert 3.0 <= clock.sleeps[0] <= 3.3
    assert client.stats == {"requests": 2, "retries": 1, "rate_limited": 1}


def test_post_429_is_retried_too(rsps, clock):
    rsps.post(f"{BASE}/v3/notes", status=429, headers={"Retry-After": "1"})
    rsps.post(f"{BASE}/v3/notes", status=201, json={"id": 5})
    client = make_client(clock)
    assert client.send_json("POST", "/v3/notes", {"a": 1}) == {"id": 5}
    assert len(rsps.calls) == 2
    assert [json.loads(c.request.body) for c in rsps.calls] == [{"a": 1}, {"a": 1}]
    assert 1.0 <= clock.sleeps[0] <= 1.3


def test_429_retry_after_is_capped(rsps, clock):
    rsps.get(f"{BASE}/v3/x", status=429, headers={"Retry-After": "86400"})
    rsps.get(f"{BASE}/v3/x", json=[])
    limiter = HeaderRateLimiter(clock=clock.time, sleep=clock.sleep)
    client = make_client(clock, limiter=limiter)
    assert client.get_json("/v3/x") == []
    # the client and the shared limiter agree on the cap: no day-long block afterwards
    assert sum(clock.sleeps) <= 600.3
    assert len(rsps.calls) == 2


def test_get_500_then_200_is_retried(rsps, clock):
    rsps.get(f"{BASE}/v3/x", status=500, json={"message": "Internal Server Error"})
    rsps.get(f"{BASE}/v3/x", json={"ok": True})
    client = make_client(clock)
    assert client.get_json("/v3/x") == {"ok": True}
    assert len(rsps.calls) == 2
    assert len(clock.sleeps) == 1
    assert 0.25 <= clock.sleeps[0] <= 0.5  # backoff_base 0.5, first attempt: uniform(0.25, 0.5)


def test_post_500_raises_without_retry(rsps, clock):
    rsps.post(f"{BASE}/v3/notes", status=500, json={"message": "Internal Server Error"})
    rsps.post(f"{BASE}/v3/notes", status=201, json={"id": 1})
    client = make_client(clock)
    with pytest.raises(ServerError) as info:
        client.send_json("POST", "/v3/notes", {"body": "x"})
    assert info.value.status == 500
    assert delivery_uncertain(info.value)
    assert len(rsps.calls) == 1
    assert clock.sleeps == []


def test_patch_500_retried_when_declared_idempotent(rsps, clock):
    rsps.patch(f"{BASE}/v3/candidates/1", status=503)
    rsps.patch(f"{BASE}/v3/candidates/1", json={"id": 1})
    client = make_client(clock)
    assert client.send_json("PATCH", "/v3/candidates/1", {"x": 1}, idempotent=True) == {"id": 1}
    assert len(rsps.calls) == 2


def test_patch_500_not_retried_by_default(rsps, clock):
    rsps.patch(f"{BASE}/v3/candidates/1", status=503)
    client = make_client(clock)
    with pytest.raises(ServerError):
        client.send_json("PATCH", "/v3/candidates/1", {"x": 1})
    assert len(rsps.calls) == 1


def test_connection_refused_on_post_is_retried(rsps, clock):
    refused = requests.exceptions.ConnectionError(
        "HTTPSConnectionPool(host='api.example.test', port=443): Max retries exceeded "
        "(Caused by NewConnectionError('Failed to establish a new connection: "
        "[Errno 111] Connection refused'))"
    )
    rsps.post(f"{BASE}/v3/notes", body=refused)
    rsps.post(f"{BASE}/v3/notes", status=201, json={"id": 9})
    client = make_client(clock)
    assert client.send_json("POST", "/v3/notes", {"body": "x"}) == {"id": 9}
    assert len(rsps.calls) == 2
    assert len(clock.sleeps) == 1


def test_connect_timeout_on_post_is_retried(rsps, clock):
    rsps.post(f"{BASE}/v3/notes", body=requests.exceptions.ConnectTimeout("connect timed out"))
    rsps.post(f"{BASE}/v3/notes", status=201, json={"id": 9})
    client = make_client(clock)
    assert client.send_json("POST", "/v3/notes", {"body": "x"}) == {"id": 9}
    assert len(rsps.calls) == 2


def test_connection_reset_on_post_is_not_retried(rsps, clock):
    rsps.post(
        f"{BASE}/v3/notes",
        body=requests.exceptions.ConnectionError("('Connection aborted.', RemoteDisconnected('closed'))"),
    )
    rsps.post(f"{BASE}/v3/notes", status=201, json={"id": 9})
    client = make_client(clock)
    with pytest.raises(TransportError) as info:
        client.send_json("POST", "/v3/notes", {"body": "x"})
    assert info.value.sent is True
    assert delivery_uncertain(info.value)
    assert len(rsps.calls) == 1


def test_read_timeout_on_get_is_retried(rsps, clock):
    rsps.get(f"{BASE}/v3/x", body=requests.exceptions.ReadTimeout("read timed out"))
    rsps.get(f"{BASE}/v3/x", json=[1])
    client = make_client(clock)
    assert client.get_json("/v3/x") == [1]
    assert len(rsps.calls) == 2


def test_read_timeout_on_post_is_not_retried(rsps, clock):
    rsps.post(f"{BASE}/v3/notes", body=requests.exceptions.ReadTimeout("read timed out"))
    rsps.post(f"{BASE}/v3/notes", status=201, json={"id": 9})
    client = make_client(clock)
    with pytest.raises(TransportError) as info:
        client.send_json("POST", "/v3/notes", {"body": "x"})
    assert info.value.sent is True
    assert len(rsps.calls) == 1
    assert clock.sleeps == []


def test_connection_reset_on_get_is_retried(rsps, clock):
    rsps.get(f"{BASE}/v3/x", body=requests.exceptions.ConnectionError("Connection aborted."))
    rsps.get(f"{BASE}/v3/x", json=[])
    client = make_client(clock)
    assert client.get_json("/v3/x") == []
    assert len(rsps.calls) == 2


@pytest.mark.parametrize("attempts", [1, 3, 5])
def test_max_attempts_honoured_on_500(rsps, clock, attempts):
    rsps.get(f"{BASE}/v3/x", status=500)
    client = make_client(clock, max_attempts=attempts)
    with pytest.raises(ServerError):
        client.get_json("/v3/x")
    assert len(rsps.calls) == attempts
    assert len(clock.sleeps) == attempts - 1


def test_max_attempts_honoured_on_429(rsps, clock):
    rsps.get(f"{BASE}/v3/x", status=429, headers={"Retry-After": "2"})
    client = make_client(clock, max_attempts=3)
    with pytest.raises(RateLimited) as info:
        client.get_json("/v3/x")
    assert info.value.retry_after == pytest.approx(2.0)
    assert len(rsps.calls) == 3
    assert client.stats["rate_limited"] == 3


def test_backoff_grows_and_is_bounded(rsps, clock):
    rsps.get(f"{BASE}/v3/x", status=502)
    client = make_client(clock, max_attempts=6, backoff_base=1.0, backoff_max=4.0)
    with pytest.raises(ServerError):
        client.get_json("/v3/x")
    assert len(clock.sleeps) == 5
    for i, s in enumerate(clock.sleeps):
        cap = min(4.0, 1.0 * 2**i)
        assert cap / 2 <= s <= cap


@pytest.mark.parametrize(("status", "cls"), [(400, InvalidRequest), (403, PermissionDenied), (404, NotFound)])
def test_client_errors_are_never_retried(rsps, clock, status, cls):
    rsps.get(f"{BASE}/v3/x", status=status, json={"message": "nope"})
    client = make_client(clock)
    with pytest.raises(cls):
        client.get_json("/v3/x")
    assert len(rsps.calls) == 1


def test_request_sends_timeout_user_agent_and_params(rsps, clock):
    rsps.get(f"{BASE}/v3/x", json=[])
    client = ApiClient(BASE + "/", connector="t", timeout=(2.0, 9.0), sleep=clock.sleep, user_agent="ua/1")
    client.get_json("v3/x", {"ids": "1,2"})
    call = rsps.calls[0]
    assert call.request.req_kwargs["timeout"] == (2.0, 9.0)
    assert call.request.headers["User-Agent"] == "ua/1"
    assert parse_qs(urlsplit(call.request.url).query) == {"ids": ["1,2"]}
    assert client.url("https://other.test/a") == "https://other.test/a"


def test_send_json_sends_json_and_handles_204(rsps, clock):
    rsps.post(f"{BASE}/v3/applications/1/move", status=204)
    client = make_client(clock)
    assert client.send_json("POST", "/v3/applications/1/move", {"from_stage_id": 3}) is None
    req = rsps.calls[0].request
    assert req.headers["Content-Type"] == "application/json"
    assert json.loads(req.body) == {"from_stage_id": 3}


class CountingTokens(TokenProvider):
    def __init__(self) -> None:
        self.n = 1
        self.invalidated = 0

    def token(self) -> str:
        return f"tok{self.n}"

    def invalidate(self) -> None:
        self.invalidated += 1
        self.n += 1


def test_bearer_and_single_refresh_on_401(rsps, clock):
    rsps.get(f"{BASE}/v3/x", status=401, json={"message": "Unauthorized"})
    rsps.get(f"{BASE}/v3/x", json=[1])
    tokens = CountingTokens()
    client = make_client(clock, tokens=tokens)
    assert client.get_json("/v3/x") == [1]
    assert [c.request.headers["Authorization"] for c in rsps.calls] == ["Bearer tok1", "Bearer tok2"]
    assert tokens.invalidated == 1


def test_second_401_raises_auth_error(rsps, clock):
    rsps.get(f"{BASE}/v3/x", status=401, json={"message": "Unauthorized"})
    tokens = CountingTokens()
    client = make_client(clock, tokens=tokens)
    with pytest.raises(AuthError):
        client.get_json("/v3/x")
    assert len(rsps.calls) == 2
    assert tokens.invalidated == 1


def test_401_without_token_provider_is_not_refreshed(rsps, clock):
    rsps.get(f"{BASE}/v3/x", status=401)
    with pytest.raises(AuthError):
        make_client(clock).get_json("/v3/x")
    assert len(rsps.calls) == 1


# --- rate limiting ------------------------------------------------------------------------------------


def limited_response(remaining: Any, reset: Any = None, limit: str = "75") -> requests.Response:
    headers = {"X-RateLimit-Limit": limit, "X-RateLimit-Remaining": str(remaining)}
    if reset is not None:
        headers["X-RateLimit-Reset"] = str(reset)
    return fake_response(200, [], headers)


def test_header_limiter_sleeps_until_reset(clock):
    limiter = HeaderRateLimiter(clock=clock.time, sleep=clock.sleep, margin=0.2)
    limiter.acquire()  # nothing known yet: no wait
    limiter.observe(limited_response(0, int(NOW) + 5))
    limiter.acquire()
    assert clock.sleeps == [pytest.approx(5.2)]
    assert limiter.waited == pytest.approx(5.2)
    # the window is over: no more waiting until a response says so
    limiter.acquire()
    limiter.acquire()
    assert len(clock.sleeps) == 1


def test_header_limiter_counts_down_locally(clock):
    limiter = HeaderRateLimiter(clock=clock.time, sleep=clock.sleep, margin=0.0)
    limiter.observe(limited_response(2, int(NOW) + 10))
    limiter.acquire()
    limiter.acquire()
    assert clock.sleeps == []
    limiter.acquire()  # the third one has no budget left
    assert clock.sleeps == [pytest.approx(10.0)]


def test_header_limiter_without_reset_header_waits_briefly(clock):
    limiter = HeaderRateLimiter(clock=clock.time, sleep=clock.sleep, margin=0.0)
    limiter.observe(limited_response(0))
    limiter.acquire()
    assert clock.sleeps == [pytest.approx(1.0)]


def test_header_limiter_ignores_missing_and_garbage_headers(clock):
    limiter = HeaderRateLimiter(clock=clock.time, sleep=clock.sleep)
    limiter.observe(fake_response(200, []))
    limiter.observe(limited_response("lots", "later"))
    for _ in range(5):
        limiter.acquire()
    assert clock.sleeps == []


def test_header_limiter_penalize(clock):
    limiter = HeaderRateLimiter(clock=clock.time, sleep=clock.sleep)
    limiter.penalize(3.0)
    limiter.penalize(1.0)  # a shorter penalty does not shorten the block
    limiter.acquire()
    assert clock.sleeps == [pytest.approx(3.0)]


def test_client_feeds_header_limiter(rsps, clock):
    rsps.get(
        f"{BASE}/v3/x",
        json=[],
        headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW) + 5)},
    )
    rsps.get(f"{BASE}/v3/x", json=[], headers={"X-RateLimit-Remaining": "74", "X-RateLimit-Reset": "0"})
    limiter = HeaderRateLimiter(clock=clock.time, sleep=clock.sleep, margin=0.2)
    client = make_client(clock, limiter=limiter)
    client.get_json("/v3/x")
    assert clock.sleeps == []
    client.get_json("/v3/x")
    assert clock.sleeps == [pytest.approx(5.2)]
    assert len(rsps.calls) == 2


def test_429_penalizes_the_shared_limiter(rsps, clock):
    rsps.get(f"{BASE}/v3/x", status=429, headers={"Retry-After": "4"})
    rsps.get(f"{BASE}/v3/x", json=[])
    limiter = HeaderRateLimiter(clock=clock.time, sleep=clock.sleep)
    client = make_client(clock, limiter=limiter)
    client.get_json("/v3/x")
    # the client waited ~4 s; once that has passed the limiter adds nothing
    assert len(clock.sleeps) == 1 and 4.0 <= clock.sleeps[0] <= 4.3
    # another thread that did not do the waiting would be held back by the limiter
    limiter.penalize(2.0)
    limiter.acquire()
    assert clock.sleeps[-1] == pytest.approx(2.0)


# TokenBucket reads time.monotonic by default: small numbers, so the fake clock starts at 0 (an epoch-sized
# float cannot represent the sub-microsecond top-ups the bucket computes, and a fake clock would stall).


def test_token_bucket_paces_at_rate():
    clock = FakeClock(start=0.0)
    bucket = TokenBucket(rate=2.0, burst=2, clock=clock.time, sleep=clock.sleep)
    stamps = []
    for _ in range(6):
        bucket.acquire()
        stamps.append(clock.now)
    assert stamps == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.5, 2.0])
    assert bucket.waited == pytest.approx(2.0)


def test_token_bucket_refills_while_idle_up_to_burst():
    clock = FakeClock(start=0.0)
    bucket = TokenBucket(rate=8.0, burst=3, clock=clock.time, sleep=clock.sleep)
    for _ in range(3):
        bucket.acquire()
    clock.now += 60  # idle for a minute: at most `burst` tokens come back
    for _ in range(3):
        bucket.acquire()
    assert clock.sleeps == []
    bucket.acquire()
    assert clock.sleeps == [pytest.approx(0.125)]


def test_token_bucket_penalize():
    clock = FakeClock(start=0.0)
    bucket = TokenBucket(rate=4.0, burst=5, clock=clock.time, sleep=clock.sleep)
    bucket.penalize(2.0)
    bucket.acquire()
    assert sum(clock.sleeps) == pytest.approx(2.0, abs=0.02)


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (1, 0)])
def test_token_bucket_rejects_bad_settings(rate, burst):
    with pytest.raises(ValueError):
        TokenBucket(rate=rate, burst=burst)


# --- Link pagination ----------------------------------------------------------------------------------


def test_paginate_link_follows_next_exactly(rsps, clock):
    next1 = f"{BASE}/v3/jobs?cursor=eyJpZCI6MTAwfQ%3D%3D"
    next2 = f"{BASE}/v3/jobs?cursor=eyJpZCI6NTB9"
    rsps.get(f"{BASE}/v3/jobs", json=[{"id": 3}, {"id": 2}], headers={"Link": f'<{next1}>; rel="next"'})
    rsps.get(f"{BASE}/v3/jobs", json=[{"id": 1}], headers={"Link": f'<{next2}>; rel="next"'})
    rsps.get(f"{BASE}/v3/jobs", json=[{"id": 0}])
    client = make_client(clock)
    pages = list(client.paginate_link("/v3/jobs", {"per_page": 2, "status": "open"}))
    assert pages == [[{"id": 3}, {"id": 2}], [{"id": 1}], [{"id": 0}]]
    urls = [c.request.url for c in rsps.calls]
    assert parse_qs(urlsplit(urls[0]).query) == {"per_page": ["2"], "status": ["open"]}
    assert urls[1] == next1
    assert urls[2] == next2
    for url in urls[1:]:
        query = parse_qs(urlsplit(url).query)
        assert list(query) == ["cursor"]
        assert "per_page" not in query and "status" not in query


def test_paginate_link_stops_without_link(rsps, clock):
    rsps.get(f"{BASE}/v3/jobs", json=[{"id": 1}])
    client = make_client(clock)
    assert list(client.paginate_link("/v3/jobs")) == [[{"id": 1}]]
    assert len(rsps.calls) == 1


def test_paginate_link_stops_on_empty_link_and_prev_only(rsps, clock):
    rsps.get(f"{BASE}/v3/a", json=[1], headers={"Link": ""})
    rsps.get(f"{BASE}/v3/b", json=[2], headers={"Link": f'<{BASE}/v3/b?cursor=zz>; rel="prev"'})
    client = make_client(clock)
    assert list(client.paginate_link("/v3/a")) == [[1]]
    assert list(client.paginate_link("/v3/b")) == [[2]]
    assert len(rsps.calls) == 2


def test_paginate_link_retries_a_failed_page_with_the_same_url(rsps, clock):
    nxt = f"{BASE}/v3/jobs?cursor=abc"
    rsps.get(f"{BASE}/v3/jobs", json=[1], headers={"Link": f'<{nxt}>; rel="next"'})
    rsps.get(f"{BASE}/v3/jobs", status=502)
    rsps.get(f"{BASE}/v3/jobs", json=[2])
    client = make_client(clock)
    assert list(client.paginate_link("/v3/jobs", {"per_page": 500})) == [[1], [2]]
    assert [c.request.url for c in rsps.calls][1:] == [nxt, nxt]


def test_paginate_link_rejects_a_non_array_page(rsps, clock):
    rsps.get(f"{BASE}/v3/jobs", json={"data": []})
    client = make_client(clock)
    with pytest.raises(UnexpectedResponse, match=r"expected a JSON array from /v3/jobs, got an object"):
        list(client.paginate_link("/v3/jobs"))


def test_paginate_link_is_lazy(rsps, clock):
    rsps.get(f"{BASE}/v3/jobs", json=[1], headers={"Link": f'<{BASE}/v3/jobs?cursor=c>; rel="next"'})
    client = make_client(clock)
    pages = client.paginate_link("/v3/jobs")
    assert next(pages) == [1]
    assert len(rsps.calls) == 1


def test_api_error_is_the_base_of_everything_raised(rsps, clock):
    rsps.get(f"{BASE}/v3/x", status=418)
    with pytest.raises(ApiError):
        make_client(clock).get_json("/v3/x")


def test_write_requests_are_counted_per_thread(rsps, clock):
    """The applier tells "sent a write" from "found it there" by this count (syncbridge.writes)."""
    from syncbridge import writes

    rsps.get(f"{BASE}/v3/x", json=[])
    rsps.post(f"{BASE}/v3/x", json={"id": 1})
    rsps.post(f"{BASE}/token", json={"access_token": "t"})
    rsps.patch(f"{BASE}/v3/y", status=429, headers={"Retry-After": "0"})
    client = make_client(clock, max_attempts=1)
    before = writes.count()
    client.get_json("/v3/x")
    client.request("POST", "/token", data={"grant_type": "x"}, write=False)  # a token request
    assert writes.count() == before
    with pytest.raises(RateLimited):  # refused unprocessed: not a write
        client.send_json("PATCH", "/v3/y", {})
    assert writes.count() == before
    client.send_json("POST", "/v3/x", {"a": 1})
    assert writes.count() == before + 1
