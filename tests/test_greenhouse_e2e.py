"""``syncbridge demo`` end to end against the Greenhouse sandbox, and a small reader of that sandbox.

The pipeline scenarios every vendor shares (writes, re-runs, crashes, faults, logs) are in the
connector conformance suite, tests/conformance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from syncbridge.cli import main
from syncbridge.connectors.greenhouse import sandbox

pytestmark = pytest.mark.e2e


class GH:
    """A tiny reader of the sandbox, to check what really landed in 'Greenhouse'."""

    def __init__(self, url: str) -> None:
        self.url = url
        body = requests.post(
            f"{url}/token",
            data={"grant_type": "client_credentials"},
            auth=(sandbox.DEFAULT_CLIENT_ID, sandbox.DEFAULT_CLIENT_SECRET),
            timeout=10,
        ).json()
        self.headers = {"Authorization": f"Bearer {body['access_token']}"}

    def get(self, path: str, **params: Any) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        r = requests.get(f"{self.url}{path}", params=params, headers=self.headers, timeout=10)
        while True:
            r.raise_for_status()
            out.extend(r.json())
            nxt = r.links.get("next", {}).get("url")
            if not nxt:
                return out
            r = requests.get(nxt, headers=self.headers, timeout=10)

    def candidates(self, email: str) -> list[dict[str, Any]]:
        return self.get("/v3/candidates", email=email)

    def notes(self, candidate_id: int) -> list[dict[str, Any]]:
        return self.get("/v3/notes", candidate_ids=str(candidate_id))


def test_demo_cli_twice_and_reset(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    args = ["demo", "--no-prefect", "--json", "--size", "120", "--workdir", str(workdir)]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    s1 = json.loads(first.stdout[first.stdout.index("{") :])
    assert s1["actions"]["applied"] > 0 and s1["outcomes"]["quarantined"] == 2
    second = CliRunner().invoke(main, args)
    s2 = json.loads(second.stdout[second.stdout.index("{") :])
    assert s2["actions"]["planned"] == 0 and s2["actions"]["applied"] == 0
    third = CliRunner().invoke(main, [*args, "--reset"])
    s3 = json.loads(third.stdout[third.stdout.index("{") :])
    assert s3["actions"]["applied"] == s1["actions"]["applied"]


@pytest.mark.prefect
def test_demo_as_prefect_flow_publishes_artifacts(tmp_path: Path, prefect_backend: None) -> None:
    from prefect.artifacts import Artifact

    workdir = tmp_path / "demo"
    args = ["demo", "--json", "--size", "100", "--workdir", str(workdir)]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    s1 = json.loads(first.stdout[first.stdout.index("{") :])
    assert s1["actions"]["applied"] > 0
    plan = Artifact.get("syncbridge-plan")
    assert plan is not None and "add_note" in str(plan.data)
    second = CliRunner().invoke(main, args)
    s2 = json.loads(second.stdout[second.stdout.index("{") :])
    assert s2["actions"]["planned"] == 0
    summary = Artifact.get("syncbridge-run-summary")
    assert summary is not None and "actions.planned" in str(summary.data)
