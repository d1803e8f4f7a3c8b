"""End to end through the CLI against the Workday sandbox: what only Workday has (a tenant without the
transaction log, OAuth with rotating refresh tokens).  The scenarios every vendor shares (writes, re-runs,
crashes, faults, logs) are in the connector conformance suite, tests/conformance."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from syncbridge.cli import main
from syncbridge.connectors.workday import sandbox
from syncbridge.demo_data import write_demo_outcomes
from syncbridge.store import Store

pytestmark = pytest.mark.e2e
CONNECTOR = "acme-wd"
SIZE, SEED = 120, 11


class Tenant:
    """Reads the sandbox's own counters, without going through the connector."""

    def __init__(self, server: sandbox.SandboxServer) -> None:
        self.server = server

    def stats(self) -> dict[str, Any]:
        return dict(requests.get(f"{self.server.url}/_sandbox/stats", timeout=10).json())


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in sandbox.DEMO_ENV.items():
        monkeypatch.setenv(name, value)


def _start(db: Path, **kw: Any) -> sandbox.SandboxServer:
    sandbox.seed(db, size=SIZE, seed=SEED)
    return sandbox.SandboxServer(db, **kw).start()


def _config(write_config: Callable[..., Path], server: sandbox.SandboxServer, tmp: Path) -> Path:
    outcomes = tmp / "outcomes.csv"
    write_demo_outcomes(outcomes, sandbox.demo_people(server.db_path, n=10, seed=SEED))
    return write_config(
        {CONNECTOR: sandbox.demo_connector_block(server.url)},
        outcomes={"path": str(outcomes)},
        matching={"create_unmatched": True, "new_candidate_tags": ["micro-intern-sourced"]},
        history={"note": True, "tags": ["micro-intern"]},
    )


def _run(cfg: Path) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(main, ["-c", str(cfg), "run", "--no-prefect", "--json"])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, json.loads(result.stdout[result.stdout.index("{") :])


def test_tenant_without_transaction_log_falls_back_and_remembers(
    tmp_path: Path, write_config: Callable[..., Path]
) -> None:
    server = _start(tmp_path / "wd.db", transaction_log=False)
    try:
        cfg = _config(write_config, server, tmp_path)
        assert _run(cfg)[0] == 0  # the first sync is a full read: no criterion
        code, second = _run(cfg)  # incremental: refused criterion, fallback windows
        assert code == 0, second
        store = Store(f"sqlite:///{tmp_path / 'state.db'}")
        state = store.state_for(CONNECTOR)
        assert state.get("candidates.incremental_criterion") == "fallback"
        assert state.get("requisitions.incremental_criterion") == "fallback"
        store.close()
    finally:
        server.stop()


def test_oauth_with_rotating_refresh_tokens_survives_restarts(
    tmp_path: Path, write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = _start(tmp_path / "wd.db", rotate_refresh_tokens=True)
    monkeypatch.setenv("SB_TEST_WD_CLIENT_SECRET", sandbox.DEFAULT_CLIENT_SECRET)
    monkeypatch.setenv("SB_TEST_WD_REFRESH_TOKEN", sandbox.DEFAULT_REFRESH_TOKEN)
    try:
        block = sandbox.demo_connector_block(server.url)
        block.pop("username")
        block.pop("password")
        block.update(
            client_id=sandbox.DEFAULT_CLIENT_ID,
            client_secret="${SB_TEST_WD_CLIENT_SECRET}",
            refresh_token="${SB_TEST_WD_REFRESH_TOKEN}",
        )
        outcomes = tmp_path / "outcomes.csv"
        write_demo_outcomes(outcomes, sandbox.demo_people(server.db_path, n=6, seed=SEED))
        cfg = write_config(
            {CONNECTOR: block}, outcomes={"path": str(outcomes)}, history={"note": True, "tags": []}
        )
        code, first = _run(cfg)
        assert code == 0 and first["actions"]["applied"] > 0, first
        code, second = _run(cfg)  # a new process: the configured refresh token is spent by now
        assert code == 0 and second["actions"]["planned"] == 0, second
        assert Tenant(server).stats()["tokens_issued"] == 2
    finally:
        server.stop()
