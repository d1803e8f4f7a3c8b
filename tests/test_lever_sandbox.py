"""The Lever sandbox speaks Lever's semantics, and the connector works against it (rate limit, OAuth,
offset-token restarts, deleted opportunities)."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from syncbridge.connector import MemoryState, Window
from syncbridge.connectors.lever import sandbox
from syncbridge.connectors.lever.client import STATE_REFRESH_TOKEN
from syncbridge.connectors.lever.connector import LeverConnector, LeverSettings
from syncbridge.model import Application, Candidate

SIZE = 300
AUTH = (sandbox.DEFAULT_API_KEY, "")
DEFAULTS = {
    "rate_per_second": 0.0,
    "burst": 20,
    "fault_rate": 0.0,
    "latency_ms": 0.0,
    "offset_fault_rate": 0.0,
    "send_retry_after": False,
    "requisition_api": True,
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sandbox.SandboxServer]:
    db = tmp_path_factory.mktemp("lever") / "lever.db"
    sandbox.seed(db, size=SIZE)
    with sandbox.SandboxServer(db, rate_per_second=0) as srv:
        yield srv


@pytest.fixture
def api(server: sandbox.SandboxServer) -> Iterator[Api]:
    client = Api(server)
    yield client
    client.configure(**DEFAULTS)


class Api:
    def __init__(self, server: sandbox.SandboxServer) -> None:
        self.url = server.api_url
        self.root = server.url
        self.session = requests.Session()
        self.session.auth = AUTH
        self.db = server.db_path

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.session.get(f"{self.url}/{path}", params=params, timeout=10)

    def post(self, path: str, body: Any, **params: Any) -> requests.Response:
        return self.session.post(f"{self.url}/{path}", json=body, params=params, timeout=10)

    def put(self, path: str, body: Any) -> requests.Response:
        return self.session.put(f"{self.url}/{path}", json=body, timeout=10)

    def configure(self, **changes: Any) -> dict[str, Any]:
        r = requests.post(f"{self.root}/_sandbox/config", json=changes, timeout=10)
        r.raise_for_status()
        return r.json()

    def stats(self) -> dict[str, Any]:
        return requests.get(f"{self.root}/_sandbox/stats", timeout=10).json()

    def all(self, path: str, **params: Any) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        offset = None
        while True:
            query = dict(params)
            if offset:
                query["offset"] = offset
            body = self.get(path, **query).json()
            out.extend(body["data"])
            if not body["hasNext"]:
                return out
            offset = body["next"]

    def user(self) -> str:
        return str(self.get("users", email=sandbox.DEMO_PERFORM_AS_EMAIL).json()["data"][0]["id"])

    def some_opportunity(self) -> dict[str, Any]:
        data: dict[str, Any] = self.get("opportunities", limit=1).json()["data"][0]
        return data


def connector(server: sandbox.SandboxServer, state: Any = None, **overrides: Any) -> LeverConnector:
    block = sandbox.demo_connector_block(server.url)
    block.update(
        {"api_key": sandbox.DEFAULT_API_KEY, "rate_per_second": 500.0, "burst": 500, "backoff_base": 0.02}
    )
    block.update(overrides)
    return LeverConnector("lever-sbx", LeverSettings.model_validate(block), state=state)


def read_all(conn: LeverConnector, stream: str, since: datetime | None = None) -> list[Any]:
    window = Window(since, datetime.now(UTC))
    return [r for page in conn.read(stream, window) for r in page]


# --- seed -------------------------------------------------------------------------------------------------


def test_seed_is_deterministic_and_realistic(tmp_path: Path) -> None:
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    sandbox.seed(a, size=400, seed=3)
    sandbox.seed(b, size=400, seed=3)
    sandbox.seed(b, size=400, seed=3)  # a no-op when seeded
    assert sandbox.people_snapshot(a) == sandbox.people_snapshot(b)
    assert sandbox.demo_people(a, seed=3) == sandbox.demo_people(b, seed=3)
    conn = sqlite3.connect(str(a))
    try:
        assert conn.execute("SELECT COUNT(*) FROM opportunities").fetchone()[0] == 400
        contacts = [json.loads(d) for (d,) in conn.execute("SELECT data FROM contacts")]
        opps = [json.loads(d) for (d,) in conn.execute("SELECT data FROM opportunities")]
        shared = conn.execute(
            "SELECT COUNT(*) FROM (SELECT email FROM contact_emails GROUP BY email "
            "HAVING COUNT(DISTINCT contact) > 1)"
        ).fetchone()[0]
    finally:
        conn.close()
    assert len(contacts) < 400  # some people have several opportunities
    assert any(len(c["emails"]) >= 2 for c in contacts) and any(not c["emails"] for c in contacts)
    assert any(any(ord(ch) > 127 for ch in c["name"]) for c in contacts)
    assert any(p and "type" not in p[0] for p in (c["phones"] for c in contacts))
    assert any(o["updatedAt"] is None for o in opps)
    assert any(o["confidentiality"] == "confidential" for o in opps)
    assert any(o["archived"] for o in opps) and any(not o["archived"] for o in opps)
    assert shared >= 1
    with pytest.raises(ValueError):
        sandbox.seed(tmp_path / "c.db", size=0)


def test_demo_people_kinds(server: sandbox.SandboxServer) -> None:
    people = sandbox.demo_people(server.db_path, n=12)
    kinds = [p["kind"] for p in people]
    assert kinds.count("primary") == 8 and kinds.count("secondary") == 1
    assert kinds.count("ambiguous") == 1 and kinds.count("unmatched") == 2
    assert all(p["email"] == p["email"].strip() and p["first_name"] and p["last_name"] for p in people)


def test_demo_connector_block_is_a_valid_config(server: sandbox.SandboxServer) -> None:
    block = sandbox.demo_connector_block(server.url)
    assert block["type"] == "lever" and block["api_key"] == "${LEVER_SANDBOX_API_KEY}"
    assert set(sandbox.DEMO_ENV) == {"LEVER_SANDBOX_API_KEY"}
    resolved = {**block, "api_key": sandbox.DEMO_ENV["LEVER_SANDBOX_API_KEY"]}
    settings = LeverSettings.model_validate(resolved)
    assert settings.api_url() == server.api_url
    assert set(block) - {"type"} <= set(LeverSettings.model_fields)


# --- protocol -----------------------------------------------------------------------------------------------


def test_envelope_pagination_and_offset_tokens(api: Api) -> None:
    first = api.get("opportunities", limit=7, confidentiality="all").json()
    assert set(first) == {"data", "hasNext", "next"} and first["hasNext"] and len(first["data"]) == 7
    second = api.get("opportunities", limit=7, confidentiality="all", offset=first["next"]).json()
    assert not {o["id"] for o in first["data"]} & {o["id"] for o in second["data"]}
    # the token only works for the query that produced it
    replayed = api.get("opportunities", limit=7, offset=first["next"])
    assert replayed.status_code == 400
    assert replayed.json()["message"].startswith("Invalid offset token")
    assert (
        api.get("opportunities", limit=7, confidentiality="all", offset="0.123.garbage.sig").status_code
        == 400
    )
    # and only for this server process (tokens never outlive a run)
    requests.post(f"{api.root}/_sandbox/rotate_offsets", timeout=5)
    assert api.get("opportunities", limit=7, confidentiality="all", offset=first["next"]).status_code == 400
    every = api.all("opportunities", confidentiality="all")
    assert len(every) == len({o["id"] for o in every}) == SIZE
    assert api.get("opportunities", limit=101).status_code == 400


def test_records_have_lever_shapes(api: Api) -> None:
    plain = api.some_opportunity()
    assert isinstance(plain["createdAt"], int) and isinstance(plain["stage"], str)
    assert all(isinstance(a, str) for a in plain["applications"])
    expanded = api.get(f"opportunities/{plain['id']}", expand=["applications", "stage"]).json()["data"]
    assert set(expanded["stage"]) == {"id", "text"}
    assert all(isinstance(a, dict) for a in expanded["applications"])
    assert expanded["contact"] and "emails" in expanded and "urls" in expanded
    missing = api.get("opportunities/nope")
    assert missing.status_code == 404 and set(missing.json()) == {"code", "message"}


def test_confidential_hidden_by_default_and_null_updated_at_only_without_update_filter(api: Api) -> None:
    default = api.all("opportunities")
    everything = api.all("opportunities", confidentiality="all")
    assert len(default) < len(everything)
    assert all(o["confidentiality"] == "non-confidential" for o in default)
    now = int(time.time() * 1000)
    by_update = api.all("opportunities", confidentiality="all", updated_at_start=0, updated_at_end=now)
    by_creation = api.all("opportunities", confidentiality="all", created_at_end=now)
    assert all(o["updatedAt"] is not None for o in by_update)
    assert len(by_creation) == SIZE and len(by_update) < SIZE


def test_auth_api_key_and_oauth_rotation(api: Api) -> None:
    assert requests.get(f"{api.url}/users", timeout=5).status_code == 401
    assert requests.get(f"{api.url}/users", auth=("wrong", ""), timeout=5).status_code == 401
    refresh = requests.post(f"{api.root}/_sandbox/oauth/refresh_token", timeout=5).json()["refresh_token"]
    form = {
        "grant_type": "refresh_token",
        "client_id": sandbox.DEFAULT_CLIENT_ID,
        "client_secret": sandbox.DEFAULT_CLIENT_SECRET,
        "refresh_token": refresh,
    }
    first = requests.post(f"{api.root}/oauth/token", data=form, timeout=5)
    assert first.status_code == 200
    tokens = first.json()
    assert tokens["refresh_token"] != refresh and tokens["expires_in"] == 3600
    again = requests.post(f"{api.root}/oauth/token", data=form, timeout=5)  # the old one is spent
    assert again.status_code == 403 and again.json()["error"] == "invalid_grant"
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert requests.get(f"{api.url}/stages", headers=bearer, timeout=5).status_code == 200
    requests.post(f"{api.root}/_sandbox/expire_tokens", timeout=5)
    assert requests.get(f"{api.url}/stages", headers=bearer, timeout=5).status_code == 401
    bad_client = requests.post(f"{api.root}/oauth/token", data={**form, "client_secret": "x"}, timeout=5)
    assert bad_client.status_code == 401


def test_token_bucket_answers_429_without_headers(api: Api) -> None:
    api.configure(rate_per_second=1.0, burst=2)
    codes = [api.get("stages").status_code for _ in range(4)]
    assert codes[:2] == [200, 200] and 429 in codes[2:]
    limited = api.get("stages")
    assert limited.status_code == 429 and "retry-after" not in limited.headers
    assert limited.json() == {"code": "TooManyRequests", "message": "Too many requests"}
    api.configure(send_retry_after=True)
    assert "retry-after" in api.get("stages").headers


def test_writes_need_perform_as_and_post_makes_a_new_opportunity(api: Api) -> None:
    body = {"name": "Quinn Holloway", "emails": ["quinn.h@nowhere.example"], "tags": ["micro-intern"]}
    assert api.post("opportunities", body).status_code == 400
    assert api.post("opportunities", body, perform_as="not-a-user").status_code == 400
    user = api.user()
    one = api.post("opportunities", body, perform_as=user)
    two = api.post("opportunities", {**body, "name": "Someone Else"}, perform_as=user)
    assert one.status_code == two.status_code == 201
    a, b = one.json()["data"], two.json()["data"]
    assert a["id"] != b["id"] and a["contact"] == b["contact"]
    assert b["name"] == "Quinn Holloway"  # the stored contact data wins
    found = api.all("opportunities", email="QUINN.H@nowhere.example ", confidentiality="all")
    assert {o["id"] for o in found} == {a["id"], b["id"]}
    assert api.post("opportunities", {**body, "postings": ["p1", "p2"]}, perform_as=user).status_code == 400


def test_notes_do_not_move_updated_at_but_tags_do(api: Api) -> None:
    opp = api.some_opportunity()
    before = api.get(f"opportunities/{opp['id']}").json()["data"]["updatedAt"]
    note = api.post(f"opportunities/{opp['id']}/notes", {"value": "hello [syncbridge:t1]", "score": 4})
    assert note.status_code == 201 and set(note.json()["data"]) == {"noteId"}
    assert api.post(f"opportunities/{opp['id']}/notes", {"value": "x", "score": 5}).status_code == 400
    assert api.post(f"opportunities/{opp['id']}/notes", {"value": "x"}, perform_as="ghost").status_code == 400
    assert api.get(f"opportunities/{opp['id']}").json()["data"]["updatedAt"] == before
    notes = api.all(f"opportunities/{opp['id']}/notes")
    assert any(f["value"] == "hello [syncbridge:t1]" for n in notes for f in n["fields"])
    tagged = api.post(f"opportunities/{opp['id']}/addTags", {"tags": ["mi", "mi"]}).json()["data"]
    assert tagged["tags"].count("mi") == 1 and (tagged["updatedAt"] or 0) > (before or 0)
    again = api.post(f"opportunities/{opp['id']}/addTags", {"tags": ["mi"]}).json()["data"]
    assert again["tags"].count("mi") == 1


def test_requisition_put_replaces_the_whole_record(api: Api) -> None:
    created = api.post(
        "requisitions",
        {
            "requisitionCode": "MI-77",
            "name": "Intern",
            "headcountTotal": 2,
            "location": "Oakland",
            "team": "Data",
            "postingIds": ["p-x"],
            "customFields": {"cost_center": "CC-9"},
        },
    )
    assert created.status_code == 201
    rec = created.json()["data"]
    assert (
        api.post("requisitions", {"requisitionCode": "MI-77", "name": "Dup", "headcountTotal": 1}).status_code
        == 400
    )
    assert api.post("requisitions", {"requisitionCode": "MI-78", "name": "No count"}).status_code == 400
    assert (
        api.post(
            "requisitions",
            {"requisitionCode": "MI-79", "name": "x", "headcountTotal": 1, "customFields": {"nope": 1}},
        ).status_code
        == 400
    )
    replaced = api.put(
        f"requisitions/{rec['id']}",
        {"requisitionCode": "MI-77", "name": "Intern II", "headcountTotal": "unlimited"},
    ).json()["data"]
    assert replaced["location"] is None and replaced["team"] is None and replaced["customFields"] == {}
    assert replaced["postings"] == ["p-x"]  # omitted postingIds are left alone
    assert replaced["headcountTotal"] == "unlimited"
    assert (
        api.put(
            f"requisitions/{rec['id']}",
            {"requisitionCode": "MI-77", "name": "x", "headcountTotal": 1, "status": "draft"},
        ).status_code
        == 400
    )
    api.configure(requisition_api=False)
    assert (
        api.post("requisitions", {"requisitionCode": "MI-80", "name": "x", "headcountTotal": 1}).status_code
        == 403
    )


def test_postings_perform_as_whitelist_and_update_filters(api: Api) -> None:
    user = api.user()
    assert api.post("postings", {"text": "Intern"}).status_code == 400
    bad = api.post(
        "postings", {"text": "Intern", "content": {"descriptionHtml": "<h1>x</h1>"}}, perform_as=user
    )
    assert bad.status_code == 400 and "Invalid HTML" in bad.json()["message"]
    ok = api.post(
        "postings",
        {
            "text": "Intern",
            "content": {
                "descriptionHtml": "<div><b>Hi</b></div>",
                "lists": [{"text": "R", "content": "<li>a</li>"}],
            },
        },
        perform_as=user,
    )
    assert ok.status_code == 201 and ok.json()["data"]["state"] == "draft"
    pid = ok.json()["data"]["id"]
    updated = api.post(f"postings/{pid}", {"state": "published"}, perform_as=user).json()["data"]
    assert updated["state"] == "published" and updated["text"] == "Intern"  # partial update
    assert api.get("postings", updated_at_start=0, state="published").status_code == 400
    assert api.get("postings", updated_at_start=0, confidentiality="all").status_code == 200


def test_deleted_opportunities_and_faults_before_effect(api: Api) -> None:
    opp = api.all("opportunities", confidentiality="all")[-1]
    r = requests.post(f"{api.root}/_sandbox/opportunities/{opp['id']}/delete", timeout=5)
    assert r.status_code == 200
    deleted = api.all("opportunities/deleted", deleted_at_start=0)
    assert any(d["id"] == opp["id"] and d["deletedAt"] and "contact" in d for d in deleted)
    assert api.get(f"opportunities/{opp['id']}").status_code == 404

    target = api.some_opportunity()["id"]
    notes_before = api.stats()["notes"]
    api.configure(fault_rate=1.0, fault_seed=5)
    outcomes: set[int | str] = set()
    for _ in range(12):
        try:
            outcomes.add(api.post(f"opportunities/{target}/notes", {"value": "x"}).status_code)
        except requests.ConnectionError:
            outcomes.add("drop")
    api.configure(fault_rate=0.0)
    assert outcomes <= {429, 500, 503, "drop"} and len(outcomes) >= 3
    assert api.stats()["notes"] == notes_before
    assert api.configure()["fault_rate"] == 0.0
    assert requests.post(f"{api.root}/_sandbox/config", json={"nope": 1}, timeout=5).status_code == 400


# --- the connector against the sandbox ---------------------------------------------------------------


def test_connector_reads_every_stream(server: sandbox.SandboxServer, api: Api) -> None:
    conn = connector(server)
    both = read_all(conn, "candidates")  # one read yields the people and their applications
    people = [r for r in both if isinstance(r, Candidate)]
    apps = read_all(conn, "applications")
    # every opportunity the sandbox holds, confidential included (other tests of this module create
    # and delete some, in an order pytest-xdist decides, so the count is the sandbox's, not SIZE)
    assert len(apps) == len({a.ref.id for a in apps}) == api.stats()["opportunities"] >= SIZE - 5
    assert {a.ref.id for a in both if isinstance(a, Application)} == {a.ref.id for a in apps}
    assert len(people) + len(apps) == len(both)
    contacts = {p.ref.id for p in people}
    assert contacts == {a.candidate_id for a in apps}
    assert all(p.ref.kind == "contact" for p in people)
    for stream, minimum in (
        ("requisitions", 6),
        ("postings", 6),
        ("users", 7),
        ("stages", 8),
        ("requisition_fields", 3),
    ):
        assert len(read_all(conn, stream)) >= minimum, stream
    # incremental: a recent window only holds what changed in it
    opp = api.some_opportunity()
    api.post(f"opportunities/{opp['id']}/addTags", {"tags": ["recently-touched"]})
    recent = read_all(conn, "candidates", since=datetime.now(UTC).replace(microsecond=0) - _minutes(5))
    assert opp["contact"] in {p.ref.id for p in recent} and len(recent) < len(contacts)
    conn.close()


def _minutes(n: int) -> Any:
    from datetime import timedelta

    return timedelta(minutes=n)


def test_connector_marks_contacts_whose_last_opportunity_was_deleted(
    server: sandbox.SandboxServer, api: Api
) -> None:
    conn = connector(server)
    single = next(p for p in read_all(conn, "candidates") if len(p.application_ids) == 1 and p.emails)
    requests.post(f"{api.root}/_sandbox/opportunities/{single.application_ids[0]}/delete", timeout=5)
    since = datetime.now(UTC) - _minutes(5)
    gone = [c for c in read_all(conn, "deleted_opportunities", since=since) if c.ref.id == single.ref.id]
    assert gone and gone[0].deleted
    assert single.ref.id not in {c.ref.id for c in conn.find_candidates(single.emails[0].value)}
    conn.close()


def test_connector_survives_refused_offset_tokens(server: sandbox.SandboxServer, api: Api) -> None:
    api.configure(offset_fault_rate=0.1, fault_seed=2)
    conn = connector(server, page_size=50, max_offset_restarts=10)
    apps = read_all(conn, "applications")
    assert {a.ref.id for a in apps} == {o["id"] for o in api.all("opportunities", confidentiality="all")}
    assert conn.client.stats["offset_restarts"] >= 1
    conn.close()


def test_connector_paced_below_the_sandbox_limit_is_never_throttled(
    server: sandbox.SandboxServer, api: Api
) -> None:
    api.configure(rate_per_second=10.0, burst=20)
    before = api.stats()["rate_limited"]
    conn = connector(server, rate_per_second=8.0, burst=16, page_size=10)
    started = time.monotonic()
    apps = read_all(conn, "applications")  # ~31 pages
    elapsed = time.monotonic() - started
    assert len(apps) >= SIZE
    assert api.stats()["rate_limited"] == before
    pages = conn.client.stats["pages"]
    assert elapsed >= (pages - 16) / 8.0 * 0.9  # paced: the burst, then 8 per second
    conn.close()


def test_connector_oauth_rotates_and_persists_against_the_sandbox(
    server: sandbox.SandboxServer, api: Api
) -> None:
    refresh = requests.post(f"{api.root}/_sandbox/oauth/refresh_token", timeout=5).json()["refresh_token"]
    oauth = {
        "api_key": None,
        "client_id": sandbox.DEFAULT_CLIENT_ID,
        "client_secret": sandbox.DEFAULT_CLIENT_SECRET,
        "refresh_token": refresh,
        "token_url": f"{server.url}/oauth/token",
    }
    state = MemoryState()
    first = connector(server, state=state, **oauth)
    assert len(read_all(first, "stages")) == 8
    rotated = state.get(STATE_REFRESH_TOKEN)
    assert rotated and rotated != refresh
    first.close()
    # the configured token is spent; a new process starts from the persisted one
    second = connector(server, state=state, **oauth)
    assert len(read_all(second, "users")) >= 7
    assert state.get(STATE_REFRESH_TOKEN) not in (None, refresh, rotated)
    requests.post(f"{api.root}/_sandbox/expire_tokens", timeout=5)
    assert len(read_all(second, "stages")) == 8  # a 401 refreshes once
    second.close()


def test_connector_writes_against_the_sandbox(server: sandbox.SandboxServer, api: Api) -> None:
    from syncbridge.model import NewCandidate, NewRequisition, Note

    conn = connector(server)
    person = conn.create_candidate(
        NewCandidate(
            first_name="Tobias",
            last_name="Brandt",
            email="tobias.b.e2e@nowhere.example",
            tags=("mi-sourced",),
        )
    )
    again = conn.create_candidate(
        NewCandidate(first_name="Tobias", last_name="Brandt", email="tobias.b.e2e@nowhere.example")
    )
    assert again.ref.id == person.ref.id  # no second opportunity
    note = Note(subject="s", text="Micro-internship completed", marker="syncbridge:w1", score=4.8)
    note_id = conn.add_note(person.ref.id, note)
    assert conn.find_note(person.ref.id, "syncbridge:w1") == note_id
    conn.add_tags(person.ref.id, ["micro-intern"])
    assert conn.has_tags(person.ref.id, ["micro-intern", "mi-sourced"])
    stored = conn.get_candidate(person.ref.id)
    assert stored.normalized_emails == ["tobias.b.e2e@nowhere.example"] and len(stored.application_ids) == 1
    notes = api.all(f"opportunities/{stored.application_ids[0]}/notes")
    assert notes[0]["fields"][0]["score"] == 4 and notes[0]["user"] == api.user()
    req = conn.create_requisition(
        NewRequisition(
            code="MI-CONN-1",
            title="Intern",
            location="Oakland",
            department="Data",
            fields={"cost_center": "CC-7"},
        )
    )
    assert req.code == "MI-CONN-1" and req.custom_fields == {"cost_center": "CC-7"}
    assert conn.create_requisition(NewRequisition(code="MI-CONN-1", title="x")).ref.id == req.ref.id
    assert conn.find_requisition("MI-CONN-1") is not None
    updated = conn.update_requisition(req.ref.id, {"headcountTotal": 3})
    assert updated.raw["location"] == "Oakland" and updated.raw["headcountTotal"] == 3
    posting = conn.create_posting(
        {"text": "MI Intern", "content": {"descriptionHtml": "<h2>Hi</h2><p>x</p>"}}
    )
    assert posting["state"] == "draft" and posting["content"]["descriptionHtml"] == "Hi<p>x</p>"
    assert conn.update_posting(posting["id"], {"state": "internal"})["state"] == "internal"
    conn.close()


def test_main_has_a_serve_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        sandbox.main(["serve", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "--db" in out and "--fault-rate" in out and "--rate" in out


def test_postings_link_to_requisitions_by_code_and_opportunities_go_on_them(api: Api) -> None:
    user = api.user()
    req = api.post("requisitions", {"requisitionCode": "MI-LINK-1", "name": "Intern", "headcountTotal": 1})
    assert req.status_code == 201 and req.json()["data"]["postings"] == []
    posting = api.post(
        "postings", {"text": "Intern", "requisitionCodes": ["MI-LINK-1"], "state": "draft"}, perform_as=user
    ).json()["data"]
    linked = api.get(f"requisitions/{req.json()['data']['id']}").json()["data"]
    assert linked["postings"] == [posting["id"]]
    # a requisition created after a posting that names its code is linked too
    early = api.post("postings", {"text": "x", "requisitionCodes": ["MI-LINK-2"]}, perform_as=user).json()
    later = api.post("requisitions", {"requisitionCode": "MI-LINK-2", "name": "x", "headcountTotal": 1})
    assert later.json()["data"]["postings"] == [early["data"]["id"]]
    # changing the codes moves the link
    api.post(f"postings/{posting['id']}", {"requisitionCodes": ["MI-LINK-2"]}, perform_as=user)
    assert api.get(f"requisitions/{linked['id']}").json()["data"]["postings"] == []
    moved = api.get(f"requisitions/{later.json()['data']['id']}").json()["data"]["postings"]
    assert sorted(moved) == sorted([early["data"]["id"], posting["id"]])
    # an existing contact on the posting: a NEW opportunity on every POST, findable by posting_id
    contact = api.some_opportunity()["contact"]
    body = {"contact": contact, "postings": [posting["id"]]}
    one = api.post("opportunities", body, perform_as=user).json()["data"]
    two = api.post("opportunities", body, perform_as=user).json()["data"]
    assert one["id"] != two["id"] and one["contact"] == two["contact"] == contact
    on = api.all("opportunities", posting_id=posting["id"], confidentiality="all")
    assert {o["id"] for o in on} == {one["id"], two["id"]}
    assert (
        api.post(
            "opportunities", {"contact": "nobody", "postings": [posting["id"]]}, perform_as=user
        ).status_code
        == 400
    )
    # the prescreen note's score is Lever's 1-4
    note = api.post(f"opportunities/{one['id']}/notes", {"value": "x [syncbridge:p]", "score": 4})
    assert note.status_code == 201


def test_demo_conversion_rule_uses_a_seeded_requisition_field(api: Api) -> None:
    rule = sandbox.demo_conversion_rule("Globex")
    assert rule["when"] == {"employer": "Globex", "min_rating": 4.5, "would_hire": True}
    assert rule["requisition"]["code"] == "MI-{project.team}-{project.role_title}"
    fields = {f["id"] for f in api.all("requisition_fields")}
    assert set(rule["requisition"]["fields"]) <= fields
