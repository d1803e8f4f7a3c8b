"""Scheduled operations: deployments from YAML, serve --once, failures visible in status."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from syncbridge.cli import main
from syncbridge.config import load_config
from syncbridge.connectors.greenhouse import sandbox
from syncbridge.demo_data import write_demo_outcomes

pytestmark = [pytest.mark.prefect, pytest.mark.e2e]
SECRET_ENV = "SB_OPS_GH_SECRET"


@pytest.fixture
def gh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[sandbox.SandboxServer]:
    monkeypatch.setenv(SECRET_ENV, sandbox.DEFAULT_CLIENT_SECRET)
    db = tmp_path / "gh.db"
    sandbox.seed(db, size=80, seed=5)
    server = sandbox.SandboxServer(db, rate_limit=0).start()
    yield server
    server.stop()


def _config(
    write_config: Callable[..., Path],
    server: sandbox.SandboxServer,
    tmp: Path,
    *,
    secret: str = "${" + SECRET_ENV + "}",
) -> Path:
    write_demo_outcomes(tmp / "outcomes.csv", sandbox.demo_people(server.db_path, n=8, seed=5))
    return write_config(
        {
            "acme-gh": {
                "type": "greenhouse",
                "client_id": sandbox.DEFAULT_CLIENT_ID,
                "client_secret": secret,
                "user_id": 1000001,
                "base_url": server.url,
                "token_url": f"{server.url}/token",
                "max_attempts": 2,
            }
        },
        schedules=[
            {"flow": "sync", "cron": "*/30 * * * *", "timezone": "UTC"},
            {
                "flow": "sync",
                "connector": "acme-gh",
                "cron": "0 2 * * 0",
                "timezone": "Europe/Berlin",
                "parameters": {"full": True},
            },
            {"flow": "pipeline", "interval_minutes": 60},
        ],
    )


def test_deployments_from_yaml(
    gh: sandbox.SandboxServer, write_config: Callable[..., Path], tmp_path: Path, prefect_backend: None
) -> None:
    from syncbridge.flows.deployments import build_deployments

    cfg = _config(write_config, gh, tmp_path)
    deployments = {d.name: d for d in build_deployments(load_config(cfg), cfg)}
    assert set(deployments) == {"sync-acme-gh", "pipeline-acme-gh"}
    sync = deployments["sync-acme-gh"]
    assert sync.concurrency_limit == 1
    assert sync.enforce_parameter_schema is True
    assert sync.parameters == {
        "params": {"config": str(cfg.resolve()), "connector": "acme-gh", "full": False}
    }
    crons = sorted(
        (s.schedule.cron, s.schedule.timezone, s.parameters["params"]["full"])  # type: ignore[union-attr]
        for s in sync.schedules or []
    )
    assert crons == [("*/30 * * * *", "UTC", False), ("0 2 * * 0", "Europe/Berlin", True)]
    pipeline = deployments["pipeline-acme-gh"]
    [sched] = pipeline.schedules or []
    assert sched.schedule.interval.total_seconds() == 3600  # type: ignore[union-attr]
    assert pipeline.entrypoint == "syncbridge.flows.runs.pipeline_flow"

    from prefect import get_client

    # upgrading from a release whose flows lived in syncbridge.flows.pipeline: registering the
    # deployments again (what serve, serve --once and deploy do at start) replaces them in place
    stale = pipeline.model_copy(update={"entrypoint": "syncbridge.flows.pipeline.pipeline_flow"})
    stale_id = stale.apply()
    dep_id = pipeline.apply()
    assert dep_id == stale_id
    with get_client(sync_client=True) as client:
        assert client.read_deployment(dep_id).entrypoint == "syncbridge.flows.runs.pipeline_flow"

    # a run with bad parameters is refused before it starts
    with (
        get_client(sync_client=True) as client,
        pytest.raises(Exception, match=r"(?i)validation|parameter|422"),
    ):
        client.create_flow_run_from_deployment(dep_id, parameters={"params": {"config": 5, "bogus": 1}})  # type: ignore[arg-type]


def test_serve_once_runs_the_deployment_and_publishes_artifacts(
    gh: sandbox.SandboxServer, write_config: Callable[..., Path], tmp_path: Path, prefect_backend: None
) -> None:
    from prefect.artifacts import Artifact

    cfg = _config(write_config, gh, tmp_path)
    listed = CliRunner().invoke(main, ["-c", str(cfg), "serve", "--list"])
    assert listed.exit_code == 0, listed.output
    assert "sync-acme-gh: */30 * * * * UTC; 0 2 * * 0 Europe/Berlin (full)" in listed.output
    result = CliRunner().invoke(main, ["-c", str(cfg), "serve", "--once", "pipeline-acme-gh"])
    assert result.exit_code == 0, result.output
    assert "pipeline-acme-gh: COMPLETED" in result.output
    summary = Artifact.get("syncbridge-run-summary")
    assert summary is not None and "actions.applied" in str(summary.data)
    sync = CliRunner().invoke(main, ["-c", str(cfg), "serve", "--once", "sync-acme-gh"])
    assert sync.exit_code == 0, sync.output
    synced = Artifact.get("syncbridge-sync-summary")
    assert synced is not None and "acme-gh/candidates" in str(synced.data)
    status = CliRunner().invoke(main, ["-c", str(cfg), "status", "--json"])
    data: dict[str, Any] = json.loads(status.output)
    last = {r["flow"]: r for r in data["last_runs"]}
    assert last["pipeline"]["status"] == "completed" and last["pipeline"]["connector"] == "acme-gh"
    assert last["sync"]["status"] == "completed"
    assert data["ledger"]["done"] > 0


def test_permanent_failure_ends_failed_and_shows_in_status(
    gh: sandbox.SandboxServer, write_config: Callable[..., Path], tmp_path: Path, prefect_backend: None
) -> None:
    from prefect.artifacts import Artifact

    cfg = _config(write_config, gh, tmp_path, secret="definitely-wrong-secret")
    result = CliRunner().invoke(main, ["-c", str(cfg), "serve", "--once", "sync-acme-gh"])
    assert result.exit_code == 1
    assert "sync-acme-gh: FAILED" in result.output
    failure = Artifact.get("syncbridge-failure")
    assert failure is not None and "AuthError" in str(failure.data)
    assert "definitely-wrong-secret" not in str(failure.data)
    status = CliRunner().invoke(main, ["-c", str(cfg), "status"])
    first_run = status.output.split("failures first):\n", 1)[1].splitlines()[0]
    assert "sync" in first_run and "failed" in first_run and "AuthError" in first_run
    assert "definitely-wrong-secret" not in status.output


def test_migrate_command(
    tmp_path: Path, write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, "x" * 8)
    cfg = write_config(
        {"gh": {"type": "greenhouse", "client_id": "a-1", "client_secret": "${" + SECRET_ENV + "}"}}
    )
    from syncbridge.store import SCHEMA_VERSION

    first = CliRunner().invoke(main, ["-c", str(cfg), "migrate"])
    assert first.exit_code == 0 and f"version 0 -> {SCHEMA_VERSION}" in first.output
    again = CliRunner().invoke(main, ["-c", str(cfg), "migrate"])
    assert f"version {SCHEMA_VERSION} -> {SCHEMA_VERSION}" in again.output


def test_deploy_to_a_work_pool_and_a_worker_runs_it(
    gh: sandbox.SandboxServer, write_config: Callable[..., Path], tmp_path: Path, prefect_backend: None
) -> None:
    """Beyond one machine: deployments in a work pool, executed by a real `prefect worker` process."""
    import os
    import subprocess
    import sys

    from prefect import get_client
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL

    cfg = _config(write_config, gh, tmp_path)
    refused = CliRunner().invoke(main, ["-c", str(cfg), "deploy", "--pool", "sb-test-pool"])
    assert refused.exit_code == 2 and "workers on other machines cannot reach it" in refused.output
    result = CliRunner().invoke(main, ["-c", str(cfg), "deploy", "--pool", "sb-test-pool", "--same-host"])
    assert result.exit_code == 0, result.output
    assert "deployed pipeline-acme-gh to work pool sb-test-pool" in result.output
    flow_run = run_deployment("syncbridge-pipeline/pipeline-acme-gh", timeout=0, as_subflow=False)
    worker = Path(sys.executable).parent / "prefect"
    env = dict(os.environ, PREFECT_API_URL=str(PREFECT_API_URL.value()))
    done = subprocess.run(
        [str(worker), "worker", "start", "--pool", "sb-test-pool", "--run-once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(flow_run.id).state
    assert state is not None and state.is_completed(), state
    status = CliRunner().invoke(main, ["-c", str(cfg), "status", "--json"])
    assert json.loads(status.output)["ledger"]["done"] > 0
