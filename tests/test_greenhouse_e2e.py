"""End to end through the CLI against the Greenhouse sandbox (a real HTTP server on 127.0.0.1)."""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from conftest import crash_after_write
from syncbridge.cli import main
from syncbridge.config import load_config
from syncbridge.connectors.greenhouse import sandbox
from syncbridge.demo_data import write_demo_outcomes
from syncbridge.store import Store

pytestmark = pytest.mark.e2e
SECRET_ENV = "SB_TEST_GH_SECRET"
ADMIN_USER = 1000001


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

    def stats(self) -> dict[str, int]:
        return requests.get(f"{self.url}/_sandbox/stats", timeout=10).json()

    def configure(self, **kw: Any) -> None:
        requests.post(f"{self.url}/_sandbox/config", json=kw, timeout=10).raise_for_status()

    def person_state(self, email: str) -> list[tuple[Any, ...]]:
        """Everything syncbridge writes to the people with this e-mail, ids left out."""
        state = []
        for c in self.candidates(email):
            notes = sorted(n["body"] for n in self.notes(c["id"]))
            fields = {k: v.get("value") for k, v in (c.get("custom_fields") or {}).items()}
            state.append((tuple(sorted(c.get("tags") or [])), tuple(notes), tuple(sorted(fields.items()))))
        return sorted(state)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def state_backend(request: pytest.FixtureRequest) -> str:
    """Every end-to-end test here runs on both state stores."""
    return str(request.param)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, sandbox.DEFAULT_CLIENT_SECRET)


def _start(db: Path, **kw: Any) -> sandbox.SandboxServer:
    sandbox.seed(db, size=150, seed=11)
    return sandbox.SandboxServer(db, rate_limit=0, **kw).start()


@pytest.fixture
def gh(tmp_path: Path, env: None) -> Iterator[sandbox.SandboxServer]:
    server = _start(tmp_path / "gh.db")
    yield server
    server.stop()


def _config(
    write_config: Callable[..., Path],
    server: sandbox.SandboxServer,
    tmp: Path,
    name: str = "c.yaml",
    **sections: Any,
) -> Path:
    outcomes = tmp / "outcomes.csv"
    if not outcomes.exists():
        write_demo_outcomes(outcomes, sandbox.demo_people(server.db_path, n=10, seed=11))
    return write_config(
        {
            "acme-gh": {
                "type": "greenhouse",
                "client_id": sandbox.DEFAULT_CLIENT_ID,
                "client_secret": "${" + SECRET_ENV + "}",
                "user_id": ADMIN_USER,
                "base_url": server.url,
                "token_url": f"{server.url}/token",
                "max_attempts": 4,
            }
        },
        name=name,
        outcomes={"path": str(outcomes)},
        matching={"create_unmatched": True},
        history={
            "note": True,
            "tags": ["micro-intern"],
            "fields": {"mi_rating": "evaluation.rating", "mi_last_project": "project.title"},
        },
        **sections,
    )


def _run(cfg: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(main, ["-c", str(cfg), "run", "--no-prefect", "--json", *extra])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    start = result.stdout.index("{")
    return result.exit_code, json.loads(result.stdout[start:])


def _people(tmp: Path) -> list[dict[str, str]]:
    with (tmp / "outcomes.csv").open(encoding="utf-8") as fh:
        return [r for r in csv.DictReader(fh) if r["student_email"]]


def test_run_writes_history_then_nothing(
    gh: sandbox.SandboxServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    cfg = _config(write_config, gh, tmp_path)
    kinds = {p["email"]: p["kind"] for p in sandbox.demo_people(gh.db_path, n=10, seed=11)}
    code, first = _run(cfg)
    assert code == 0, first
    assert first["outcomes"]["quarantined"] == 2
    assert first["outcomes"]["ambiguous"] == 1
    assert first["outcomes"]["unmatched"] == sum(1 for k in kinds.values() if k == "unmatched")
    assert first["actions"]["applied"] == first["actions"]["planned"] > 0
    assert first["actions"]["failed"] == 0

    api = GH(gh.url)
    for email, kind in kinds.items():
        people = api.candidates(email)
        if kind == "ambiguous":
            assert len(people) == 2
            assert all(
                api.notes(p["id"]) == [] or not any("syncbridge:" in n["body"] for n in api.notes(p["id"]))
                for p in people
            )
            assert all("micro-intern" not in (p.get("tags") or []) for p in people)
            continue
        assert len(people) == 1, (kind, len(people))
        person = people[0]
        notes = [n for n in api.notes(person["id"]) if "syncbridge:" in n["body"]]
        assert len(notes) == 1
        assert "Micro-internship completed" in notes[0]["body"]
        assert "micro-intern" in person["tags"]
        assert person["custom_fields"]["mi_rating"]["value"] is not None
        assert person["custom_fields"]["mi_last_project"]["value"]

    code, second = _run(cfg)
    assert code == 0
    assert second["actions"]["planned"] == 0
    assert second["actions"]["applied"] == 0
    assert second["actions"]["already_done"] > 0
    assert second["outcomes"]["unmatched"] == 0  # the prospects created by run 1 are now linked


def test_crash_between_http_call_and_ledger_update_leaves_one_note(
    gh: sandbox.SandboxServer,
    write_config: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = _config(write_config, gh, tmp_path)
    with (
        crash_after_write(monkeypatch, "add_note") as crashed,
        pytest.raises(RuntimeError, match="simulated crash"),
    ):
        _run(cfg)
    store = Store(load_config(cfg).state.url)
    row = store.ledger_get(crashed["key"])
    assert row is not None and row["status"] == "started"

    code, summary = _run(cfg)
    assert code == 0, summary
    assert summary["actions"]["reconciled"] >= 1, str(summary["actions"])
    marker = f"syncbridge:{crashed['key']}"
    api = GH(gh.url)
    target = int(row["target"])
    assert sum(marker in n["body"] for n in api.notes(target)) == 1
    assert store.ledger_get(crashed["key"])["status"] == "done"  # type: ignore[index]
    assert any(a["result"] == "reconciled" for a in store.audit_rows(crashed["key"]))
    store.close()


def test_fault_injection_converges_to_clean_state(
    tmp_path: Path, env: None, write_config: Callable[..., Path], state_url_for: Callable[[str], str]
) -> None:
    (tmp_path / "clean").mkdir()
    (tmp_path / "faulty").mkdir()
    clean = _start(tmp_path / "clean" / "gh.db")
    faulty = _start(tmp_path / "faulty" / "gh.db", fault_seed=3)
    try:
        cfg_clean = _config(write_config, clean, tmp_path, "clean.yaml")
        code, _ = _run(cfg_clean)
        assert code == 0
        # separate state for the faulty run, same outcomes file
        cfg_faulty = _config(
            write_config, faulty, tmp_path, "faulty.yaml", state={"url": state_url_for("faulty")}
        )
        api_f = GH(faulty.url)
        api_f.configure(fault_rate=0.1)
        summaries = []
        for _ in range(4):
            try:
                code, s = _run(cfg_faulty)
            except Exception as exc:  # a sync that exhausted its retries: the next run resumes
                summaries.append(repr(exc))
                continue
            summaries.append(s)
            if code == 0 and s["actions"]["planned"] == 0:
                break
        assert api_f.stats()["faults"] > 0
        api_f.configure(fault_rate=0.0)
        api_c = GH(clean.url)
        for p in _people(tmp_path):
            assert api_f.person_state(p["student_email"]) == api_c.person_state(p["student_email"]), summaries
    finally:
        clean.stop()
        faulty.stop()


def test_logs_hold_no_secrets_or_emails(
    gh: sandbox.SandboxServer,
    write_config: Callable[..., Path],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cfg = _config(write_config, gh, tmp_path)
    caplog.set_level(logging.DEBUG)
    result = CliRunner().invoke(main, ["-vv", "-c", str(cfg), "run", "--no-prefect"])
    assert result.exit_code == 0, result.output
    status = CliRunner().invoke(main, ["-c", str(cfg), "status", "--json"])
    plan = CliRunner().invoke(main, ["-c", str(cfg), "plan"])
    text = "\n".join([caplog.text, result.output, status.output, plan.output])
    assert "synced" in text and "HTTP" not in sandbox.DEFAULT_CLIENT_SECRET
    assert sandbox.DEFAULT_CLIENT_SECRET not in text
    assert "gh3." not in text  # issued bearer tokens
    for p in _people(tmp_path):
        assert p["student_email"] not in text
        assert p["supervisor_email"] not in text


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
