"""End to end against the Lever sandbox: what only Lever has (one read of the opportunities fills people
and applications), and ``Env`` (a seeded sandbox with a config; the privacy tests use it).  The scenarios
every vendor shares (writes, re-runs, crashes, faults, logs) are in the connector conformance suite,
tests/conformance."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from click.testing import CliRunner

from syncbridge.cli import main
from syncbridge.connectors.lever import sandbox
from syncbridge.demo_data import write_demo_outcomes

pytestmark = pytest.mark.e2e

SIZE = 120
CONNECTOR = "lever-acme"


class Env:
    def __init__(self, tmp: Path, server: sandbox.SandboxServer, db: Path) -> None:
        self.tmp, self.server, self.db = tmp, server, db
        self.people = sandbox.demo_people(db)
        self.outcomes = tmp / "outcomes.csv"
        write_demo_outcomes(self.outcomes, self.people)
        self.config = tmp / "syncbridge.yaml"
        block = sandbox.demo_connector_block(server.url)
        # fast tests: the connector paces itself well above the sandbox default, retries back off briefly
        block.update({"rate_per_second": 500.0, "burst": 500, "backoff_base": 0.02})
        config = {
            "version": 1,
            "state": {"url": f"sqlite:///{tmp / 'state.db'}"},
            "outcomes": {"path": str(self.outcomes)},
            "connectors": {CONNECTOR: block},
            "routing": [{"employer": "Acme Corp", "connector": CONNECTOR}],
            "matching": {"create_unmatched": True, "new_candidate_tags": ["micro-intern-sourced"]},
            "history": {"note": True, "tags": ["micro-intern"], "fields": {"mi_rating": "evaluation.rating"}},
        }
        self.config.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")

    def run(self, *, verbose: bool = False) -> dict[str, Any]:
        args = ["-vv"] if verbose else []
        result = CliRunner().invoke(main, [*args, "-c", str(self.config), "run", "--no-prefect", "--json"])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        if "{" not in result.stdout:
            raise RuntimeError(f"the run did not finish: {result.output[-500:]}")
        return dict(json.loads(result.stdout[result.stdout.index("{") :]))

    def stats(self) -> dict[str, Any]:
        return requests.get(f"{self.server.url}/_sandbox/stats", timeout=5).json()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    for name, value in sandbox.DEMO_ENV.items():
        monkeypatch.setenv(name, value)
    db = tmp_path / "lever.db"
    sandbox.seed(db, size=SIZE)
    # the sandbox is unthrottled here: rate limiting has its own tests and the benchmark
    with sandbox.SandboxServer(db, rate_per_second=0) as server:
        yield Env(tmp_path, server, db)


def test_a_sync_reads_each_opportunity_page_once_for_people_and_applications(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One read of the opportunities fills both the people and their applications: the ``applications``
    stream is covered by ``candidates`` and not read again in the same sync (it was: twice the requests)."""
    from syncbridge.config import load_config
    from syncbridge.connectors.lever.connector import LeverConnector
    from syncbridge.steps import Runtime, sync_stream

    reads: list[int] = []
    original = LeverConnector._opportunity_pages

    def counting(self: LeverConnector, window: Any, **kw: Any) -> Iterator[list[dict[str, Any]]]:
        reads.append(1)
        yield from original(self, window, **kw)

    monkeypatch.setattr(LeverConnector, "_opportunity_pages", counting)
    with Runtime(load_config(env.config)) as rt:
        streams = rt.streams_for(CONNECTOR)
        assert "candidates" in streams and "applications" not in streams
        for stream in streams:
            sync_stream(rt, CONNECTOR, stream, full=True)
        counts = rt.store.mirror_counts()[CONNECTOR]
    assert len(reads) == 1
    stats = env.stats()
    assert counts["applications"] == stats["opportunities"]
    assert counts["candidates"] == stats["contacts"]
