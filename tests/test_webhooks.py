"""Signed webhooks in: real HTTP requests to a running receiver, against the Greenhouse sandbox.

Greenhouse signs the raw body (``Signature: sha256 <hex>``) and identifies a delivery by
``Greenhouse-Event-ID``; Lever signs ``token + triggeredAt`` with the webhook's signature token and
carries the event id in the body.  Payload shapes follow the vendors' documented examples.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import select

from conftest import greenhouse_block, greenhouse_sandbox
from syncbridge.cli import main
from syncbridge.connectors.greenhouse import sandbox
from syncbridge.connectors.greenhouse.webhooks import (
    greenhouse_event,
    greenhouse_signature,
    verify_greenhouse,
)
from syncbridge.connectors.lever.webhooks import lever_event, lever_signature, verify_lever
from syncbridge.demo_data import write_demo_outcomes
from syncbridge.sandbox.server import ThreadedApp as Receiver
from syncbridge.steps import Runtime
from syncbridge.store import events
from syncbridge.webhook_app import create_app
from syncbridge.webhooks import Worker, drain

pytestmark = pytest.mark.e2e
GH_SECRET = "gh-webhook-secret-123"
LV_TOKEN = "lever-signature-token-456"


# -- signatures and payload shapes (pure) -------------------------------------------------------------


def test_greenhouse_signature_covers_the_raw_bytes() -> None:
    # Greenhouse escapes unicode before signing: the HMAC must be over the bytes as received
    raw = b'{"action":"update_candidate","payload":{"candidate":{"id":1,"first_name":"Ren\\u00e9e"}}}'
    header = greenhouse_signature(GH_SECRET, raw)
    assert header.startswith("sha256 ") and len(header) == 7 + 64
    assert verify_greenhouse([GH_SECRET], raw, header)
    reserialised = json.dumps(json.loads(raw), ensure_ascii=False).encode()
    assert not verify_greenhouse([GH_SECRET], reserialised, header)
    assert not verify_greenhouse(["other"], raw, header)
    assert not verify_greenhouse([GH_SECRET], raw, None)
    assert not verify_greenhouse([GH_SECRET], raw, "sha1 " + header[7:])
    # a rotated secret is still accepted while it is listed
    assert verify_greenhouse(["new-secret", GH_SECRET], raw, header)


def test_lever_signature_is_token_plus_triggered_at() -> None:
    body = {"id": "e1", "token": "t" * 48, "triggeredAt": 1431454330072}
    body["signature"] = lever_signature(LV_TOKEN, body["token"], body["triggeredAt"])
    assert verify_lever([LV_TOKEN], body)
    assert not verify_lever(["wrong"], body)
    assert not verify_lever([LV_TOKEN], {**body, "triggeredAt": 1431454330073})
    assert not verify_lever([LV_TOKEN], {k: v for k, v in body.items() if k != "signature"})
    assert not verify_lever([LV_TOKEN], {**body, "triggeredAt": True})


def test_event_shapes_per_vendor() -> None:
    app_event = {"action": "new_candidate_application", "payload": {"application": {"candidate": {"id": 42}}}}
    assert greenhouse_event("gh", "1", app_event).person_id == "42"
    assert greenhouse_event("gh", "1", app_event).work == "refresh"
    upd = {"action": "update_candidate", "payload": {"candidate": {"id": 7}}}
    assert (greenhouse_event("gh", "2", upd).person_id, greenhouse_event("gh", "2", upd).work) == (
        "7",
        "refresh",
    )
    gone = {"action": "delete_candidate", "payload": {"person": {"id": 9, "deleted_application_ids": [1]}}}
    assert (greenhouse_event("gh", "3", gone).person_id, greenhouse_event("gh", "3", gone).work) == (
        "9",
        "erase",
    )
    anon = {"action": "candidate_anonymized", "payload": {"candidate_id": 11, "anonymized_fields": ["name"]}}
    assert greenhouse_event("gh", "4", anon).work == "erase"
    job = {"action": "job_created", "payload": {"job": {"id": 5}}}
    assert greenhouse_event("gh", "5", job).work == "ignore"
    assert greenhouse_event("gh", "6", {"action": "update_candidate", "payload": "x"}).work == "ignore"
    stage = {"id": "ev1", "event": "candidateStageChange", "data": {"opportunityId": "o", "contactId": "c1"}}
    assert (lever_event("lv", stage).person_id, lever_event("lv", stage).work) == ("c1", "refresh")
    deleted = {"id": "ev2", "event": "candidateDeleted", "data": {"candidateId": "c2", "deletedBy": "u"}}
    assert lever_event("lv", deleted).work == "erase"
    ui_test = {"id": "ev3", "event": "candidateStageChange", "data": {}}
    assert lever_event("lv", ui_test).work == "ignore"


# -- the receiver over HTTP ---------------------------------------------------------------------------


@pytest.fixture
def gh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[sandbox.SandboxServer]:
    with greenhouse_sandbox(tmp_path / "gh.db", monkeypatch, size=80, seed=5) as server:
        yield server


@pytest.fixture
def config(gh: sandbox.SandboxServer, write_config: Callable[..., Path], tmp_path: Path) -> Path:
    people = sandbox.demo_people(gh.db_path, n=8, seed=5)
    write_demo_outcomes(tmp_path / "outcomes.csv", people)
    return write_config(
        {"acme-gh": greenhouse_block(gh), "globex-lever": _lever_block()},
        routing=[{"employer": "Acme Corp", "connector": "acme-gh"}],
        matching={"create_unmatched": False},
        webhooks={
            "connectors": {"acme-gh": {"secret": GH_SECRET}, "globex-lever": {"secret": LV_TOKEN}},
            "trigger": "inline",
            "debounce_seconds": 0,
            "max_body_bytes": 4096,
        },
    )


def _lever_block() -> dict[str, Any]:
    # only its webhooks are exercised here; the API is never called
    return {"type": "lever", "api_key": "lever-key-for-tests", "base_url": "http://127.0.0.1:9/v1"}


@pytest.fixture
def runtime(config: Path) -> Iterator[Runtime]:
    rt = Runtime.from_file(config)
    yield rt
    rt.close()


@pytest.fixture
def receiver(runtime: Runtime) -> Iterator[Receiver]:
    assert runtime.settings.webhooks is not None
    server = Receiver(create_app(runtime, runtime.settings.webhooks)).start()
    yield server
    server.stop()


def _post_gh(
    url: str, body: dict[str, Any], *, event_id: str, secret: str | None = GH_SECRET
) -> requests.Response:
    raw = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "Greenhouse-Event-ID": event_id}
    if secret is not None:
        headers["Signature"] = greenhouse_signature(secret, raw)
    return requests.post(f"{url}/webhooks/acme-gh", data=raw, headers=headers, timeout=10)


def _lever_body(
    event: str, data: dict[str, Any], *, event_id: str, at_ms: int | None = None
) -> dict[str, Any]:
    token = f"tok-{event_id}".ljust(48, "x")
    at = at_ms if at_ms is not None else int(time.time() * 1000)
    return {
        "id": event_id,
        "event": event,
        "triggeredAt": at,
        "token": token,
        "signature": lever_signature(LV_TOKEN, token, at),
        "data": data,
    }


def _stored(rt: Runtime) -> list[Any]:
    with rt.store.tx() as conn:
        return list(conn.execute(select(events)).all())


def test_receiver_accepts_signed_refuses_the_rest(receiver: Receiver, runtime: Runtime) -> None:
    body = {"action": "update_candidate", "payload": {"candidate": {"id": 123}}}
    ok = _post_gh(receiver.url, body, event_id="gh-1")
    assert ok.status_code == 200 and ok.json()["work"] == "refresh"
    assert _post_gh(receiver.url, body, event_id="gh-1").json()["duplicate"] is True
    assert _post_gh(receiver.url, body, event_id="gh-2", secret="not-the-secret").status_code == 401
    assert _post_gh(receiver.url, body, event_id="gh-3", secret=None).status_code == 401
    # the signature covers the raw bytes: a body changed after signing is refused
    raw = json.dumps(body).encode()
    tampered = requests.post(
        f"{receiver.url}/webhooks/acme-gh",
        data=raw.replace(b"123", b"124"),
        headers={"Content-Type": "application/json", "Signature": greenhouse_signature(GH_SECRET, raw)},
        timeout=10,
    )
    assert tampered.status_code == 401
    # the ping Greenhouse sends when the webhook is saved is answered, and stores nothing
    ping = requests.post(
        f"{receiver.url}/webhooks/acme-gh",
        json={"action": "ping", "payload": {"web_hook_id": 1}},
        timeout=10,
    )
    assert ping.status_code == 200
    unknown = _post_gh(
        receiver.url, {"action": "job_created", "payload": {"job": {"id": 1}}}, event_id="gh-4"
    )
    assert unknown.status_code == 200 and unknown.json()["work"] == "ignore"
    big = {"action": "update_candidate", "payload": {"candidate": {"id": 1, "notes": "x" * 5000}}}
    assert _post_gh(receiver.url, big, event_id="gh-5").status_code == 413
    form = requests.post(
        f"{receiver.url}/webhooks/acme-gh",
        data=b"a=1",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Signature": "sha256 00"},
        timeout=10,
    )
    assert form.status_code == 415
    assert requests.post(f"{receiver.url}/webhooks/nobody", json={}, timeout=10).status_code == 404
    rows = {(r.event_id, r.status) for r in _stored(runtime)}
    assert rows == {("gh-1", "queued"), ("gh-4", "ignored")}


def test_lever_replay_and_duplicates(receiver: Receiver, runtime: Runtime) -> None:
    url = f"{receiver.url}/webhooks/globex-lever"
    fresh = _lever_body("candidateStageChange", {"contactId": "c-1", "opportunityId": "o-1"}, event_id="lv-1")
    assert requests.post(url, json=fresh, timeout=10).status_code == 200
    assert requests.post(url, json=fresh, timeout=10).json()["duplicate"] is True
    old = _lever_body(
        "candidateStageChange",
        {"contactId": "c-1"},
        event_id="lv-2",
        at_ms=int(time.time() * 1000) - 3_600_000,
    )
    assert requests.post(url, json=old, timeout=10).status_code == 401
    forged = {**_lever_body("contactUpdated", {"contactId": "c-2"}, event_id="lv-3"), "signature": "0" * 64}
    assert requests.post(url, json=forged, timeout=10).status_code == 401
    unsigned = {
        k: v for k, v in _lever_body("contactUpdated", {}, event_id="lv-4").items() if k != "signature"
    }
    assert requests.post(url, json=unsigned, timeout=10).status_code == 401
    ui_test = _lever_body("candidateStageChange", {}, event_id="lv-5")
    assert requests.post(url, json=ui_test, timeout=10).json()["work"] == "ignore"
    assert {(r.event_id, r.status) for r in _stored(runtime)} == {("lv-1", "queued"), ("lv-5", "ignored")}


def _gh_api(server: sandbox.SandboxServer) -> dict[str, str]:
    token = requests.post(
        f"{server.url}/token",
        data={"grant_type": "client_credentials"},
        auth=(sandbox.DEFAULT_CLIENT_ID, sandbox.DEFAULT_CLIENT_SECRET),
        timeout=10,
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}", "On-Behalf-Of": "1000001"}


def test_burst_of_events_is_a_few_refreshes_and_one_run(
    receiver: Receiver, runtime: Runtime, config: Path, gh: sandbox.SandboxServer
) -> None:
    # first, the scheduled pipeline ran: people linked, history written
    result = CliRunner().invoke(
        main, ["-c", str(config), "run", "--no-prefect", "--connector", "acme-gh", "--json"]
    )
    assert result.exit_code == 0, result.output
    linked = [p for p in sandbox.demo_people(gh.db_path, n=8, seed=5) if p["kind"] != "unmatched"]
    ids = []
    for person in linked[:3]:
        found = runtime.store.candidates_by_email("acme-gh", person["email"])
        ids.append(found[0]["remote_id"])
    # 1,000 deliveries for three people: each is received once and acknowledged
    for i in range(1000):
        body = {
            "action": "candidate_stage_change",
            "payload": {"application": {"candidate": {"id": int(ids[i % 3])}}},
        }
        assert _post_gh(receiver.url, body, event_id=f"burst-{i}").status_code == 200
    triggered: list[str] = []
    out = drain(runtime, trigger=triggered.append)
    assert out.refreshed == 3 and out.failed == 0
    assert triggered == []  # their history is already written: nothing waits, no run
    assert {r.status for r in _stored(runtime)} == {"done"}


def test_event_for_a_new_applicant_updates_the_mirror_and_runs_the_pipeline(
    runtime: Runtime, config: Path, gh: sandbox.SandboxServer, tmp_path: Path
) -> None:
    """An outcome waits for a student the ATS does not know; the student applies; Greenhouse sends
    ``new_candidate_application``; the receiver refreshes that person and the pipeline writes their
    history, with no scheduled run in between."""
    assert (
        CliRunner()
        .invoke(main, ["-c", str(config), "run", "--no-prefect", "--connector", "acme-gh"])
        .exit_code
        == 0
    )
    waiting = next(p for p in sandbox.demo_people(gh.db_path, n=8, seed=5) if p["kind"] == "unmatched")
    assert runtime.store.candidates_by_email("acme-gh", waiting["email"]) == []
    headers = _gh_api(gh)
    created = requests.post(
        f"{gh.url}/v3/candidates",
        json={
            "first_name": waiting["first_name"],
            "last_name": waiting["last_name"],
            "email_addresses": [{"value": waiting["email"], "type": "personal"}],
        },
        headers=headers,
        timeout=10,
    )
    assert created.status_code == 201, created.text
    person_id = created.json()["candidate"]["id"]

    assert runtime.settings.webhooks is not None
    worker = Worker(runtime, runtime.settings.webhooks)
    app_server = Receiver(create_app(runtime, runtime.settings.webhooks, worker=worker)).start()
    worker.start()
    try:
        body = {
            "action": "new_candidate_application",
            "payload": {"application": {"candidate": {"id": person_id}}},
        }
        assert _post_gh(app_server.url, body, event_id="apply-1").status_code == 200
        deadline = time.monotonic() + 60
        while worker.last is None or not worker.last.triggered:
            assert time.monotonic() < deadline, "the event was not worked off"
            time.sleep(0.1)
    finally:
        worker.stop()
        app_server.stop()
    assert worker.last.refreshed == 1 and worker.last.triggered == ["acme-gh"]
    assert runtime.store.candidates_by_email("acme-gh", waiting["email"])[0]["remote_id"] == str(person_id)
    notes = requests.get(
        f"{gh.url}/v3/notes", params={"candidate_ids": str(person_id)}, headers=headers, timeout=10
    )
    assert sum("syncbridge:" in n["body"] for n in notes.json()) == 1


def test_deletion_event_erases_the_person_locally(
    receiver: Receiver, runtime: Runtime, config: Path, gh: sandbox.SandboxServer
) -> None:
    from syncbridge.webhooks import erase_person_locally

    assert (
        CliRunner()
        .invoke(main, ["-c", str(config), "run", "--no-prefect", "--connector", "acme-gh"])
        .exit_code
        == 0
    )
    person = next(p for p in sandbox.demo_people(gh.db_path, n=8, seed=5) if p["kind"] == "primary")
    remote_id = runtime.store.candidates_by_email("acme-gh", person["email"])[0]["remote_id"]
    body = {"action": "delete_candidate", "payload": {"person": {"id": int(remote_id)}}}
    assert _post_gh(receiver.url, body, event_id="del-1").json()["work"] == "erase"
    out = drain(runtime, erase=erase_person_locally)
    assert out.erased == 1
    assert runtime.store.candidates_by_email("acme-gh", person["email"]) == []


def test_lever_register_keeps_the_signature_token(write_config: Callable[..., Path], tmp_path: Path) -> None:
    """Lever returns a webhook's signature token only when it is created: `register` keeps it in the
    state store and the receiver then accepts events signed with it (no secret in the YAML)."""
    import responses

    base = "https://api.lever.co/v1"
    cfg = write_config(
        {"globex-lever": {"type": "lever", "api_key": "lever-key-for-tests", "base_url": base}},
        routing=[{"employer": "*", "connector": "globex-lever"}],
        webhooks={"connectors": {"globex-lever": {}}},
    )
    with responses.RequestsMock() as mock:
        mock.add(
            responses.POST,
            f"{base}/webhooks",
            json={"data": {"id": "wh-1", "configuration": {"signatureToken": "registered-token-789"}}},
            status=201,
        )
        out = CliRunner().invoke(
            main,
            [
                "-c",
                str(cfg),
                "webhooks",
                "register",
                "--connector",
                "globex-lever",
                "--url",
                "https://sb.example/webhooks/globex-lever",
                "--event",
                "candidateStageChange",
            ],
        )
        assert out.exit_code == 0, out.output
        assert "token kept" in out.output and "registered-token-789" not in out.output
        assert json.loads(mock.calls[0].request.body) == {
            "url": "https://sb.example/webhooks/globex-lever",
            "event": "candidateStageChange",
        }
    rt = Runtime.from_file(cfg)
    assert rt.settings.webhooks is not None
    server = Receiver(create_app(rt, rt.settings.webhooks)).start()
    try:
        at = int(time.time() * 1000)
        body = {
            "id": "r1",
            "event": "contactUpdated",
            "triggeredAt": at,
            "token": "t" * 48,
            "data": {"contactId": "c-9"},
        }
        body["signature"] = lever_signature("registered-token-789", body["token"], at)
        assert requests.post(f"{server.url}/webhooks/globex-lever", json=body, timeout=10).status_code == 200
        body["signature"] = lever_signature(LV_TOKEN, body["token"], at)
        body["id"] = "r2"
        assert requests.post(f"{server.url}/webhooks/globex-lever", json=body, timeout=10).status_code == 401
    finally:
        server.stop()
        rt.close()


def test_greenhouse_register_prints_the_settings(config: Path) -> None:
    out = CliRunner().invoke(
        main,
        [
            "-c",
            str(config),
            "webhooks",
            "register",
            "--connector",
            "acme-gh",
            "--url",
            "https://sb.example/webhooks/acme-gh",
        ],
    )
    assert out.exit_code == 0, out.output
    assert "https://sb.example/webhooks/acme-gh" in out.output and "delete_candidate" in out.output
    assert GH_SECRET not in out.output
    plain = CliRunner().invoke(
        main,
        ["-c", str(config), "webhooks", "register", "--connector", "acme-gh", "--url", "http://sb.example/x"],
    )
    assert plain.exit_code == 2 and "https" in plain.output


def test_demo_events_shows_an_event_and_an_assessment_round_trip(tmp_path: Path) -> None:
    out = CliRunner().invoke(
        main, ["demo", "--events", "--workdir", str(tmp_path / "demo"), "--size", "80", "--json"]
    )
    assert out.exit_code == 0, out.output
    result = json.loads(out.output.strip().splitlines()[-1])
    assert result["event_note_written"] == 1
    assert result["forged_status"] == 401
    assert result["assessment"]["partner_status"] == "complete"


@pytest.mark.prefect
def test_deployment_trigger_starts_a_run_of_the_connectors_deployment(
    runtime: Runtime, config: Path, prefect_backend: None
) -> None:
    """`trigger: deployment` asks the Prefect server for a run of `<flow>/pipeline-<connector>`."""
    from prefect import get_client
    from prefect.flows import EntrypointType

    from syncbridge.flows.runs import pipeline_flow
    from syncbridge.webhooks import WebhookSettings, make_trigger

    deployment = pipeline_flow.to_deployment(
        name="pipeline-acme-gh",
        entrypoint_type=EntrypointType.MODULE_PATH,
        parameters={"params": {"config": str(config), "connector": "acme-gh"}},
    )
    dep_id = deployment.apply()
    settings = WebhookSettings.model_validate(
        {"connectors": {"acme-gh": {"secret": GH_SECRET}}, "trigger": "deployment"}
    )
    trigger = make_trigger(runtime, settings)
    assert trigger is not None

    def runs_of_the_deployment() -> int:
        # other tests of this session may run a deployment of the same name: count, don't list
        with get_client(sync_client=True) as client:
            return sum(1 for r in client.read_flow_runs(limit=200) if r.deployment_id == dep_id)

    before = runs_of_the_deployment()
    trigger("acme-gh")
    assert runs_of_the_deployment() == before + 1


def test_the_cli_module_runs_as_a_script_with_the_inbound_commands() -> None:
    """`python -m syncbridge.cli` (how workers and the kill tests start it) must import cleanly."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "syncbridge.cli", "webhooks", "--help"], capture_output=True, timeout=120
    )
    assert out.returncode == 0, out.stderr.decode()[-500:]
    assert b"serve" in out.stdout
