"""The local Greenhouse Harvest v3 sandbox, exercised over HTTP with ``requests``."""

from __future__ import annotations

import base64
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from syncbridge.connectors.greenhouse.sandbox import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    SandboxServer,
    demo_people,
    seed,
)

SIZE = 300


class Api:
    """A tiny client: one session, one bearer token, JSON in and out."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = requests.Session()
        self.token = self.new_token()

    def new_token(self) -> str:
        r = requests.post(
            f"{self.url}/token",
            data={"grant_type": "client_credentials"},
            auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
            timeout=10,
        )
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        url = path if path.startswith("http") else f"{self.url}{path}"
        return self.http.request(method, url, headers=headers, timeout=10, **kwargs)

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any) -> requests.Response:
        return self.request("POST", path, json=body)

    def patch(self, path: str, body: Any) -> requests.Response:
        return self.request("PATCH", path, json=body)

    def walk(self, path: str, **params: Any) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        r = self.get(path, **params)
        while True:
            assert r.status_code == 200, r.text
            out.extend(r.json())
            if "next" not in r.links:
                return out
            r = self.request("GET", r.links["next"]["url"])

    def stats(self) -> dict[str, int]:
        return dict(requests.get(f"{self.url}/_sandbox/stats", timeout=10).json())

    def configure(self, **changes: Any) -> None:
        r = requests.post(f"{self.url}/_sandbox/config", json=changes, timeout=10)
        assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gh-sandbox") / "greenhouse.db"
    seed(path, size=SIZE, seed=7)
    return path


@pytest.fixture(scope="module")
def server(db: Path) -> Iterator[SandboxServer]:
    with SandboxServer(db, rate_limit=0) as srv:
        yield srv


@pytest.fixture(scope="module")
def api(server: SandboxServer) -> Api:
    return Api(server.url)


def unprocessable(r: requests.Response) -> list[Any]:
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["message"] == "Unprocessable Content"
    return list(body["errors"])


# --------------------------------------------------------------------------------------------------- auth


def test_token_success_shape(server: SandboxServer) -> None:
    r = requests.post(
        f"{server.url}/token",
        data={"grant_type": "client_credentials", "sub": "1000001"},
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        timeout=10,
    )
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "Bearer"
    assert len(body["access_token"]) > 20
    assert body["expires_at"].endswith("Z")


@pytest.mark.parametrize(
    ("auth", "data", "status", "check"),
    [
        (
            (DEFAULT_CLIENT_ID, "wrong"),
            {"grant_type": "client_credentials"},
            401,
            {"error": "invalid_client"},
        ),
        (None, {"grant_type": "client_credentials"}, 401, {"error": "invalid_client"}),
        (("sandbox-client-2", DEFAULT_CLIENT_SECRET), {"grant_type": "client_credentials"}, 401, None),
        ((DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET), {}, 400, None),
    ],
)
def test_token_failures(server: SandboxServer, auth: Any, data: Any, status: int, check: Any) -> None:
    r = requests.post(f"{server.url}/token", data=data, auth=auth, timeout=10)
    assert r.status_code == status
    if check is not None:
        assert r.json() == check
    if status == 400:
        assert r.json()["message"].startswith("Must include `grant_type` parameter")
        assert r.json()["errorId"].startswith("err-")


def test_v3_requires_a_valid_bearer(api: Api) -> None:
    r = requests.get(f"{api.url}/v3/candidates", timeout=10)
    assert r.status_code == 401
    assert r.json()["message"] == "Unauthorized"
    assert r.json()["errors"][0].startswith("Token could not be decoded")
    assert "X-RateLimit-Limit" in r.headers
    r = api.request("GET", "/v3/candidates", headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401


def test_expired_tokens_force_a_refresh(api: Api) -> None:
    assert api.get("/v3/users", per_page=1).status_code == 200
    assert requests.post(f"{api.url}/_sandbox/expire_tokens", timeout=10).status_code == 200
    assert api.get("/v3/users", per_page=1).status_code == 401
    api.token = api.new_token()
    assert api.get("/v3/users", per_page=1).status_code == 200


def test_unknown_route_and_bad_json(api: Api) -> None:
    r = api.get("/v3/job_postings")
    assert (r.status_code, r.json()) == (404, {"message": "Resource not found"})
    assert api.patch("/v3/candidates/1", {"first_name": "X"}).status_code == 404
    assert api.get("/v3/candidates/1").status_code == 404
    r = api.request("POST", "/v3/notes", data=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422


# -------------------------------------------------------------------------------------------------- lists


def test_pagination_walks_everything_in_id_desc_order(api: Api) -> None:
    r = api.get("/v3/candidates", per_page=50)
    assert r.status_code == 200
    assert isinstance(r.json(), list) and len(r.json()) == 50
    link = r.headers["Link"]
    assert link.startswith(f"<{api.url}/v3/candidates?cursor=") and link.endswith('>; rel="next"')
    rows = api.walk("/v3/candidates", per_page=50)
    ids = [c["id"] for c in rows]
    assert ids == sorted(ids, reverse=True)
    assert len(set(ids)) == len(ids) == api.stats()["candidates"]
    # the last page carries no Link header
    last = api.get("/v3/candidates", per_page=500)
    assert "Link" not in last.headers


def test_cursor_must_be_alone(api: Api) -> None:
    r = api.get("/v3/candidates", per_page=50)
    cursor_url = r.links["next"]["url"]
    errors = unprocessable(api.request("GET", cursor_url + "&per_page=50"))
    assert errors == ["When passing a cursor, do not include other query params."]
    unprocessable(api.get("/v3/candidates", cursor="!!not-a-cursor!!"))


@pytest.mark.parametrize(
    ("value", "message"),
    [("600", "`600` number is greater than: 500"), ("0", "`0` number is less than: 1")],
)
def test_per_page_bounds(api: Api, value: str, message: str) -> None:
    assert unprocessable(api.get("/v3/candidates", per_page=value)) == [{"per_page": message}]


def test_updated_at_window(api: Api) -> None:
    everyone = api.walk("/v3/candidates", per_page=500)
    stamps = sorted(c["updated_at"] for c in everyone)
    lo, hi = stamps[len(stamps) // 4], stamps[len(stamps) // 2]
    expected = {c["id"] for c in everyone if lo <= c["updated_at"] <= hi}
    got = api.walk("/v3/candidates", per_page=40, updated_at=f"gte|{lo}|lte|{hi}")
    assert {c["id"] for c in got} == expected
    strict = api.walk("/v3/candidates", per_page=500, updated_at=f"gt|{lo}|lt|{hi}")
    assert {c["id"] for c in strict} == {c["id"] for c in everyone if lo < c["updated_at"] < hi}
    one_bound = api.walk("/v3/candidates", per_page=500, created_at="gte|2000-01-01T00:00:00Z")
    assert len(one_bound) == len(everyone)
    unprocessable(api.get("/v3/candidates", updated_at="2024-01-01"))
    unprocessable(api.get("/v3/candidates", updated_at="after|2024-01-01T00:00:00Z"))


def test_ids_filter_limit(api: Api) -> None:
    first = api.get("/v3/candidates", per_page=3).json()
    got = api.get("/v3/candidates", ids=",".join(str(c["id"]) for c in first)).json()
    assert [c["id"] for c in got] == [c["id"] for c in first]
    unprocessable(api.get("/v3/candidates", ids=",".join(str(n) for n in range(51))))


def test_email_filter_is_case_insensitive_and_matches_any_address(api: Api) -> None:
    everyone = api.walk("/v3/candidates", per_page=500)
    multi = next(c for c in everyone if len(c["email_addresses"]) >= 2)
    secondary = multi["email_addresses"][1]["value"]
    got = api.get("/v3/candidates", email=f"  {secondary.strip().upper()} ").json()
    assert multi["id"] in [c["id"] for c in got]
    assert api.get("/v3/candidates", email="nobody@nowhere.example").json() == []
    assert api.get("/v3/candidates", email="").json() == []  # an empty filter matches nobody, not everybody
    projected = api.get("/v3/candidates", ids=multi["id"], fields="id,email_addresses").json()
    assert projected == [{"id": multi["id"], "email_addresses": multi["email_addresses"]}]


def test_other_list_filters(api: Api) -> None:
    jobs = api.get("/v3/jobs").json()
    assert len(jobs) == 8 and sum(j["is_template"] for j in jobs) == 2
    open_jobs = api.get("/v3/jobs", status="open").json()
    assert open_jobs and all(j["status"] == "open" for j in open_jobs)
    req = next(j for j in jobs if j["requisition_id"])
    assert [j["id"] for j in api.get("/v3/jobs", requisition_id=req["requisition_id"]).json()] == [req["id"]]
    apps = api.get("/v3/applications", status="active", per_page=20).json()
    assert apps and all(a["status"] == "in_process" for a in apps)
    admin = api.get("/v3/users", primary_email="ada.admin@sandbox-hr.example").json()
    assert len(admin) == 1 and admin[0]["site_admin"] is True
    boards = api.get("/v3/job_boards").json()
    assert sorted((b["live"], b["internal"]) for b in boards) == [(False, True), (True, False), (True, True)]
    assert max(boards, key=lambda b: b["id"])["live"] is False  # the paused board is first in list order
    keys = {f["name_key"] for f in api.get("/v3/custom_fields", per_page=500).json()}
    assert {"mi_rating", "mi_prescreen_score", "mi_source_project", "mi_would_hire"} <= keys


# -------------------------------------------------------------------------------------- limits and faults


def test_rate_limit_headers_and_429(api: Api) -> None:
    api.configure(rate_limit=3, rate_window=3600)
    try:
        seen = [api.get("/v3/users", per_page=1) for _ in range(5)]
    finally:
        api.configure(rate_limit=0, rate_window=30)
    assert [r.status_code for r in seen] == [200, 200, 200, 429, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in seen[:3]] == ["2", "1", "0"]
    for r in seen:
        assert r.headers["X-RateLimit-Limit"] == "3"
        assert int(r.headers["X-RateLimit-Reset"]) > time.time()
    limited = seen[3]
    assert limited.json() == {"message": "Too Many Requests"}
    assert 1 <= int(limited.headers["Retry-After"]) <= 3600
    assert api.get("/v3/users", per_page=1).status_code == 200


def test_faults_have_no_effect_on_data(api: Api) -> None:
    cand = api.get("/v3/candidates", per_page=1).json()[0]
    before = api.stats()
    outcomes: Counter[str] = Counter()
    api.configure(fault_rate=0.5, fault_seed=11)
    try:
        for n in range(40):
            try:
                r = api.post(
                    "/v3/notes",
                    {
                        "candidate_id": cand["id"],
                        "body": f"fault probe {n}",
                        "visibility": "private",
                        "note_type": "NOTE",
                    },
                )
                outcomes[str(r.status_code)] += 1
            except requests.ConnectionError:
                outcomes["dropped"] += 1
    finally:
        api.configure(fault_rate=0.0)
    after = api.stats()
    assert after["notes"] - before["notes"] == outcomes["201"]
    assert outcomes["201"] > 0
    assert {"429", "500", "503", "dropped"} <= set(outcomes), outcomes
    assert after["faults"] - before["faults"] == 40 - outcomes["201"]


# ------------------------------------------------------------------------------------------------- writes


def test_patch_replaces_arrays_and_custom_fields(api: Api) -> None:
    cand = api.get("/v3/candidates", per_page=1).json()[0]
    path = f"/v3/candidates/{cand['id']}"
    r = api.patch(
        path,
        {
            "custom_fields": [
                {"name_key": "mi_rating", "value": 4},
                {"name_key": "mi_last_project", "value": "Churn model"},
            ]
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["custom_fields"]["mi_rating"] == {"name": "MI Rating", "type": "number", "value": 4}
    assert r.json()["updated_at"] > cand["updated_at"]
    r = api.patch(
        path,
        {
            "custom_fields": [{"name_key": "mi_skills", "value": "SQL, Python"}],
            "email_addresses": [{"value": "Fresh.Address@Example.org", "type": "personal"}],
        },
    )
    body = r.json()
    assert set(body["custom_fields"]) == {"mi_skills"}
    assert body["email_addresses"] == [{"value": "Fresh.Address@Example.org", "type": "personal"}]
    assert body["first_name"] == cand["first_name"]  # omitted keys untouched
    assert [c["id"] for c in api.get("/v3/candidates", email="fresh.address@example.org").json()] == [
        cand["id"]
    ]
    unprocessable(api.patch(path, {"custom_fields": [{"name_key": "no_such_field", "value": 1}]}))
    unprocessable(api.patch(path, {"custom_fields": [{"name_key": "mi_prescreen_score", "value": 1}]}))
    unprocessable(api.patch(path, {"custom_fields": [{"name_key": "mi_would_hire", "value": "yes"}]}))
    assert api.patch("/v3/candidates/99", {"first_name": "X"}).json() == {"message": "Resource not found"}


def test_duplicate_tags_are_rejected(api: Api) -> None:
    r = api.post("/v3/candidate_tags", {"name": "MI: strong"})
    assert r.status_code == 201
    tag = r.json()
    assert unprocessable(api.post("/v3/candidate_tags", {"name": "MI: strong"})) == [
        {"name": "has already been taken"}
    ]
    assert api.post("/v3/candidate_tags", {"name": "mi: strong"}).status_code == 201  # case-sensitive
    cand = api.get("/v3/candidates", per_page=2).json()[1]
    r = api.post("/v3/applied_candidate_tags", {"candidate_id": cand["id"], "candidate_tag_id": tag["id"]})
    assert r.status_code == 201
    applied = r.json()
    unprocessable(
        api.post("/v3/applied_candidate_tags", {"candidate_id": cand["id"], "candidate_tag_id": tag["id"]})
    )
    unprocessable(api.post("/v3/applied_candidate_tags", {"candidate_id": cand["id"], "candidate_tag_id": 1}))
    now = api.get("/v3/candidates", ids=cand["id"]).json()[0]
    assert "MI: strong" in now["tags"] and now["updated_at"] > cand["updated_at"]
    assert [c["id"] for c in api.get("/v3/candidates", tag="MI: strong").json()] == [cand["id"]]
    rows = api.get("/v3/applied_candidate_tags", candidate_ids=cand["id"]).json()
    assert applied["id"] in [row["id"] for row in rows]
    r = api.request("DELETE", f"/v3/applied_candidate_tags/{applied['id']}")
    assert r.status_code == 200
    assert "MI: strong" not in api.get("/v3/candidates", ids=cand["id"]).json()[0]["tags"]


def test_create_candidate_with_prospect(api: Api) -> None:
    body = {
        "first_name": "Zoë",
        "last_name": "Ó Súilleabháin",
        "email_addresses": [{"value": "zoe.prospect@example.org", "type": "personal"}],
        "tags": ["Brand New Tag"],
        "custom_fields": [{"name_key": "mi_would_hire", "value": True}],
        "application": {"prospect": True},
    }
    r = api.post("/v3/candidates", body)
    assert r.status_code == 201, r.text
    cand, app = r.json()["candidate"], r.json()["application"]
    assert cand["tags"] == ["Brand New Tag"]
    assert cand["custom_fields"]["mi_would_hire"]["value"] is True
    assert app["prospect"] is True and app["job_id"] is None and app["status"] == "in_process"
    assert app["candidate_id"] == cand["id"]
    assert [a["id"] for a in api.get("/v3/applications", candidate_ids=cand["id"]).json()] == [app["id"]]
    assert "Brand New Tag" in {t["name"] for t in api.walk("/v3/candidate_tags", per_page=500)}
    errors = unprocessable(api.post("/v3/candidates", {"first_name": "Only"}))
    assert errors == [{"last_name": "is required"}]
    # one application per candidate and job
    job = next(j for j in api.get("/v3/jobs", status="open").json() if not j["is_template"])
    r = api.post("/v3/applications", {"candidate_id": cand["id"], "job_id": job["id"]})
    assert r.status_code == 201 and r.json()["job_id"] == job["id"]
    unprocessable(api.post("/v3/applications", {"candidate_id": cand["id"], "job_id": job["id"]}))
    r = api.patch(
        f"/v3/applications/{r.json()['id']}",
        {"custom_fields": [{"name_key": "mi_prescreen_score", "value": 87}]},
    )
    assert r.json()["custom_fields"]["mi_prescreen_score"]["value"] == 87


def test_create_job_from_template_copies_posts(api: Api) -> None:
    template = next(j for j in api.get("/v3/jobs").json() if j["is_template"])
    template_posts = api.get("/v3/job_posts", job_ids=template["id"]).json()
    assert len(template_posts) == 2
    r = api.post(
        "/v3/jobs",
        {
            "template_job_id": template["id"],
            "number_of_openings": 2,
            "job_name": "Analytics Intern (MI conversion)",
            "job_post_name": "Analytics Intern",
            "requisition_id": "MI-42",
            "custom_fields": [{"name_key": "mi_source_project", "value": "Churn model"}],
        },
    )
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["copied_from_id"] == template["id"] and job["is_template"] is False
    assert job["custom_fields"]["mi_source_project"]["value"] == "Churn model"
    posts = api.get("/v3/job_posts", job_ids=job["id"]).json()
    assert sorted(p["job_board_id"] for p in posts) == sorted(p["job_board_id"] for p in template_posts)
    assert all(p["title"] == "Analytics Intern" and p["live"] is False for p in posts)
    r = api.patch(f"/v3/job_posts/{posts[0]['id']}", {"job_application_status": "live"})
    assert r.json()["live"] is True
    non_template = next(j for j in api.get("/v3/jobs").json() if not j["is_template"])
    unprocessable(api.post("/v3/jobs", {"template_job_id": non_template["id"], "number_of_openings": 1}))
    unprocessable(api.post("/v3/jobs", {"template_job_id": template["id"]}))


def test_notes_bump_activity_but_not_updated_at(api: Api) -> None:
    cand = api.get("/v3/candidates", per_page=3).json()[2]
    r = api.post(
        "/v3/notes",
        {
            "candidate_id": cand["id"],
            "body": "MI outcome: strong",
            "visibility": "public",
            "note_type": "NOTE",
        },
    )
    assert r.status_code == 201, r.text
    note = r.json()
    assert note["visibility"] == "publicly_visible" and note["candidate_id"] == cand["id"]
    after = api.get("/v3/candidates", ids=cand["id"]).json()[0]
    assert after["updated_at"] == cand["updated_at"]
    assert after["last_activity_at"] > cand["last_activity_at"]
    assert note["id"] in [n["id"] for n in api.get("/v3/notes", candidate_ids=cand["id"]).json()]
    unprocessable(
        api.post(
            "/v3/notes",
            {
                "candidate_id": cand["id"],
                "body": "x",
                "visibility": "public",
                "note_type": "NOTE",
                "email_to": ["a@b.c"],
            },
        )
    )
    unprocessable(
        api.post(
            "/v3/notes",
            {"candidate_id": cand["id"], "body": "x", "visibility": "everyone", "note_type": "NOTE"},
        )
    )
    unprocessable(
        api.post("/v3/notes", {"candidate_id": 1, "body": "x", "visibility": "public", "note_type": "NOTE"})
    )


def test_attachment_content_round_trip(api: Api) -> None:
    app = api.get("/v3/applications", per_page=1).json()[0]
    content = "Prescreen: strong — 87/100\n".encode()
    r = api.post(
        "/v3/attachments",
        {
            "application_id": app["id"],
            "filename": "prescreen.txt",
            "type": "other",
            "content": base64.b64encode(content).decode(),
        },
    )
    assert r.status_code == 201, r.text
    att = r.json()
    assert att["candidate_id"] == app["candidate_id"]
    listed = api.get("/v3/attachments", application_ids=app["id"]).json()
    assert att["id"] in [a["id"] for a in listed]
    assert requests.get(att["url"], timeout=10).content == content


# -------------------------------------------------------------------------------------- persistence, seed


def test_data_survives_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "restart.db"
    seed(db, size=30, seed=3)
    with SandboxServer(db) as first:
        api = Api(first.url)
        r = api.post("/v3/candidates", {"first_name": "Persist", "last_name": "Ence"})
        cand_id = r.json()["candidate"]["id"]
    with SandboxServer(db) as second:
        api = Api(second.url)
        got = api.get("/v3/candidates", ids=cand_id).json()
        assert [c["last_name"] for c in got] == ["Ence"]
        assert api.stats()["candidates"] == 31
    seed(db, size=30, seed=3)  # already seeded: a no-op
    with SandboxServer(db) as third:
        assert Api(third.url).stats()["candidates"] == 31
    seed(db, size=30, seed=3, reset=True)
    with SandboxServer(db) as fourth:
        assert Api(fourth.url).stats()["candidates"] == 30


def test_seed_is_deterministic(tmp_path: Path) -> None:
    def first_five(path: Path) -> list[str]:
        conn = sqlite3.connect(path)
        try:
            return [r[0] for r in conn.execute("SELECT data FROM candidates ORDER BY id LIMIT 5")]
        finally:
            conn.close()

    seed(tmp_path / "a.db", size=60, seed=7)
    seed(tmp_path / "b.db", size=60, seed=7)
    seed(tmp_path / "c.db", size=60, seed=8)
    assert first_five(tmp_path / "a.db") == first_five(tmp_path / "b.db")
    assert first_five(tmp_path / "a.db") != first_five(tmp_path / "c.db")


def test_demo_people_kinds(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    seed(db, size=SIZE, seed=7)
    people = demo_people(db, n=12, seed=7)
    assert people == demo_people(db, n=12, seed=7)
    kinds = Counter(p["kind"] for p in people)
    assert kinds == {"primary": 8, "secondary": 1, "ambiguous": 1, "unmatched": 2}
    assert len({p["email"].lower() for p in people}) == len(people)
    expected = {"primary": 1, "secondary": 1, "ambiguous": 2, "unmatched": 0}
    assert all(set(p) == {"email", "first_name", "last_name", "kind"} for p in people)
    with SandboxServer(db, rate_limit=0) as server:
        api = Api(server.url)
        for person in people:
            found = api.get("/v3/candidates", email=person["email"]).json()
            assert len(found) == expected[person["kind"]], person
            if person["kind"] == "primary":
                assert found[0]["email_addresses"][0]["value"].strip().lower() == person["email"].lower()
