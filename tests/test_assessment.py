"""syncbridge as a Greenhouse assessment partner: the round trip order → outcome → result, with the
sandbox playing Greenhouse (it calls the partner endpoints and receives the PATCH) over real HTTP."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from conftest import greenhouse_block, greenhouse_sandbox
from syncbridge.cli import main
from syncbridge.config import load_settings
from syncbridge.connectors.greenhouse import sandbox
from syncbridge.connectors.greenhouse.partner_sim import GreenhouseSide
from syncbridge.demo_data import write_demo_outcomes
from syncbridge.errors import ConfigError
from syncbridge.sandbox.server import ThreadedApp as Receiver
from syncbridge.steps import Runtime
from syncbridge.webhook_app import create_app

pytestmark = pytest.mark.e2e
KEY = "partner-org-key-0123456789"


@pytest.fixture
def gh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[sandbox.SandboxServer]:
    with greenhouse_sandbox(tmp_path / "gh.db", monkeypatch, size=60, seed=3) as server:
        yield server


@pytest.fixture
def config(gh: sandbox.SandboxServer, write_config: Callable[..., Path], tmp_path: Path) -> Path:
    write_demo_outcomes(tmp_path / "all-outcomes.csv", sandbox.demo_people(gh.db_path, n=6, seed=3))
    # the platform has not reported anything yet
    (tmp_path / "outcomes.csv").write_text(
        (tmp_path / "all-outcomes.csv").read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8"
    )
    return write_config(
        {"acme-gh": greenhouse_block(gh)},
        assessment={
            "connector": "acme-gh",
            "api_key": KEY,
            "tests": [{"id": "mi-any", "name": "Micro-internship (any project)", "employer": "Acme Corp"}],
            "handoff": {"file": str(tmp_path / "orders.jsonl")},
            "profile_url": "https://platform.example/outcomes/{outcome_id}",
        },
    )


@pytest.fixture
def partner(config: Path) -> Iterator[tuple[Runtime, Receiver]]:
    rt = Runtime.from_file(config)
    server = Receiver(create_app(rt, rt.settings.webhooks)).start()
    yield rt, server
    server.stop()
    rt.close()


def _first_outcome(tmp_path: Path) -> dict[str, str]:
    with (tmp_path / "all-outcomes.csv").open(encoding="utf-8") as fh:
        return next(r for r in csv.DictReader(fh) if r["student_email"] and r["rating"] not in ("", "7"))


def test_partner_endpoints_need_the_org_key(partner: tuple[Runtime, Receiver]) -> None:
    _rt, server = partner
    url = f"{server.url}/assessment/list_tests"
    assert requests.get(url, timeout=10).status_code == 401
    assert requests.get(url, auth=("wrong", ""), timeout=10).status_code == 401
    listed = requests.get(url, auth=(KEY, ""), timeout=10)
    assert listed.json() == [
        {"partner_test_id": "mi-any", "partner_test_name": "Micro-internship (any project)"}
    ]
    bad = requests.post(
        f"{server.url}/assessment/send_test",
        json={"partner_test_id": "nope", "candidate": {"email": "a@b.example"}, "url": "https://x.example/1"},
        auth=(KEY, ""),
        timeout=10,
    )
    assert bad.status_code == 400 and "unknown partner_test_id" in bad.json()["errors"][0]
    plain_http = requests.post(
        f"{server.url}/assessment/send_test",
        json={
            "partner_test_id": "mi-any",
            "candidate": {"email": "a@b.example"},
            "url": "http://evil.example/x",
        },
        auth=(KEY, ""),
        timeout=10,
    )
    assert plain_http.status_code == 400
    status = requests.get(
        f"{server.url}/assessment/test_status",
        params={"partner_interview_id": "nope"},
        auth=(KEY, ""),
        timeout=10,
    )
    assert status.status_code == 404
    err = requests.post(
        f"{server.url}/assessment/response_error",
        json={"api_call": "test_status", "errors": ["partner_profile_url missing"]},
        auth=(KEY, ""),
        timeout=10,
    )
    assert err.status_code == 200


def test_round_trip_order_outcome_result(
    partner: tuple[Runtime, Receiver], config: Path, tmp_path: Path
) -> None:
    _rt, server = partner
    student = _first_outcome(tmp_path)
    with GreenhouseSide(server.url, KEY) as greenhouse:
        assert [t["partner_test_id"] for t in greenhouse.list_tests()] == ["mi-any"]
        person = {"email": student["student_email"], "first_name": "A", "last_name": "B", "id": 77}
        interview = greenhouse.order("mi-any", person)
        orders = [json.loads(line) for line in (tmp_path / "orders.jsonl").read_text().splitlines()]
        assert [o["partner_interview_id"] for o in orders] == [interview]
        assert orders[0]["candidate"]["email"] == student["student_email"].strip().lower()
        assert greenhouse.status(interview) == {"partner_status": "in_progress"}

        # the micro-internship ends: the outcome arrives with the next pipeline run, which tells Greenhouse
        (tmp_path / "outcomes.csv").write_text((tmp_path / "all-outcomes.csv").read_text(encoding="utf-8"))
        result = CliRunner().invoke(main, ["-c", str(config), "run", "--no-prefect", "--json"])
        assert result.exit_code == 0, result.output
        take_home = greenhouse.take_home_id(interview)
        assert greenhouse.patches == [take_home]
        shown = greenhouse.results[take_home]
        assert shown["partner_status"] == "complete"
        assert shown["partner_score"] == float(student["rating"])
        assert shown["partner_profile_url"] == f"https://platform.example/outcomes/{student['outcome_id']}"
        assert all(isinstance(v, str) for v in shown["metadata"].values())
        assert shown["metadata"]["Would hire"] in ("yes", "no")

        # a second run does not tell Greenhouse again
        again = CliRunner().invoke(main, ["-c", str(config), "assessment", "notify"])
        assert again.exit_code == 0 and json.loads(again.output) == {
            "completed": 0,
            "notified": 0,
            "failed": 0,
        }
        assert greenhouse.patches == [take_home]


def test_send_test_is_idempotent_for_a_resent_order(
    partner: tuple[Runtime, Receiver], tmp_path: Path
) -> None:
    _rt, server = partner
    body = {
        "partner_test_id": "mi-any",
        "candidate": {"first_name": "A", "last_name": "B", "email": "Student@Uni.example"},
        "sent_by": "r@acme.example",
        "url": "https://app.greenhouse.io/integrations/testing_partners/take_home_tests/5",
    }
    first = requests.post(f"{server.url}/assessment/send_test", json=body, auth=(KEY, ""), timeout=10).json()
    second = requests.post(f"{server.url}/assessment/send_test", json=body, auth=(KEY, ""), timeout=10).json()
    assert first == second
    assert len((tmp_path / "orders.jsonl").read_text().splitlines()) == 1


def test_assessment_config_is_checked(gh: sandbox.SandboxServer, tmp_path: Path) -> None:
    base: dict[str, Any] = {
        "version": 1,
        "outcomes": {"path": str(tmp_path / "o.csv")},
        "connectors": {"acme-gh": {**greenhouse_block(gh), "client_secret": "s3cr3t-value"}},
        "routing": [{"employer": "*", "connector": "acme-gh"}],
    }
    good = {
        "connector": "acme-gh",
        "api_key": KEY,
        "tests": [{"id": "t", "name": "T"}],
        "handoff": {"file": "o"},
    }
    assert load_settings({**base, "assessment": good}).assessment is not None
    with pytest.raises(ConfigError, match="api_key"):
        load_settings({**base, "assessment": {**good, "api_key": "k" * 171}})
    with pytest.raises(ConfigError, match=r"assessment\.connector"):
        load_settings({**base, "assessment": {**good, "connector": "other"}})
    with pytest.raises(ConfigError, match="handoff"):
        load_settings({**base, "assessment": {**good, "handoff": {"file": "a", "url": "https://b.example"}}})
    with pytest.raises(ConfigError, match=r"webhooks\.connectors\.nobody"):
        load_settings({**base, "webhooks": {"connectors": {"nobody": {"secret": "x"}}}})
    with pytest.raises(ConfigError, match=r"webhooks\.connectors\.acme-gh\.secret"):
        load_settings({**base, "webhooks": {"connectors": {"acme-gh": {}}}})
