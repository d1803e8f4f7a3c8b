"""End to end through the CLI against the Workday sandbox (a real HTTP server on 127.0.0.1)."""

from __future__ import annotations

import csv
import json
import logging
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from conftest import crash_after_write
from syncbridge.cli import main
from syncbridge.connectors.workday import sandbox
from syncbridge.demo_data import write_demo_outcomes
from syncbridge.store import Store

pytestmark = pytest.mark.e2e
CONNECTOR = "acme-wd"
SIZE, SEED = 120, 11


class Tenant:
    """Reads what really landed in the sandbox, without going through the connector."""

    def __init__(self, server: sandbox.SandboxServer) -> None:
        self.server = server

    def wids(self, email: str) -> list[str]:
        conn = sqlite3.connect(self.server.db_path)
        try:
            return [
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT c.wid FROM candidate_emails e JOIN candidates c ON c.pk = e.cand_pk "
                    "WHERE e.email_lc = ? ORDER BY c.pk",
                    (email.strip().lower(),),
                )
            ]
        finally:
            conn.close()

    def person(self, wid: str) -> dict[str, Any]:
        return dict(requests.get(f"{self.server.url}/_sandbox/candidates/{wid}", timeout=10).json())

    def notes(self, wid: str) -> list[dict[str, Any]]:
        return [a for a in self.person(wid)["attachments"] if a["origin"] == "api"]

    def stats(self) -> dict[str, Any]:
        return dict(requests.get(f"{self.server.url}/_sandbox/stats", timeout=10).json())

    def configure(self, **kw: Any) -> None:
        requests.post(f"{self.server.url}/_sandbox/config", json=kw, timeout=10).raise_for_status()

    def state(self, email: str) -> list[tuple[Any, ...]]:
        """Tags and history attachments of everyone with this e-mail, ids left out."""
        out = []
        for wid in self.wids(email):
            p = self.person(wid)
            notes = sorted((a["comment"], a["content"]) for a in p["attachments"] if a["origin"] == "api")
            out.append((tuple(sorted(p["tags"])), tuple(notes)))
        return sorted(out)


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in sandbox.DEMO_ENV.items():
        monkeypatch.setenv(name, value)


def _start(db: Path, **kw: Any) -> sandbox.SandboxServer:
    sandbox.seed(db, size=SIZE, seed=SEED)
    return sandbox.SandboxServer(db, **kw).start()


@pytest.fixture
def wd(tmp_path: Path) -> Iterator[sandbox.SandboxServer]:
    server = _start(tmp_path / "wd.db")
    yield server
    server.stop()


def _config(
    write_config: Callable[..., Path],
    server: sandbox.SandboxServer,
    tmp: Path,
    name: str = "c.yaml",
    state: Path | None = None,
    **block: Any,
) -> Path:
    outcomes = tmp / "outcomes.csv"
    if not outcomes.exists():
        write_demo_outcomes(outcomes, sandbox.demo_people(server.db_path, n=10, seed=SEED))
    connector = {**sandbox.demo_connector_block(server.url), **block}
    sections: dict[str, Any] = {
        "outcomes": {"path": str(outcomes)},
        "matching": {"create_unmatched": True, "new_candidate_tags": ["micro-intern-sourced"]},
        "history": {"note": True, "tags": ["micro-intern"], "fields": {"mi_rating": "evaluation.rating"}},
    }
    if state is not None:
        sections["state"] = {"url": f"sqlite:///{state}"}
    return write_config({CONNECTOR: connector}, name=name, **sections)


def _run(cfg: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(main, ["-c", str(cfg), *extra, "run", "--no-prefect", "--json"])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    start = result.stdout.index("{")
    return result.exit_code, json.loads(result.stdout[start:])


def _people(tmp: Path) -> list[dict[str, str]]:
    with (tmp / "outcomes.csv").open(encoding="utf-8") as fh:
        return [r for r in csv.DictReader(fh) if r["student_email"]]


def test_first_run_writes_history_then_nothing(
    wd: sandbox.SandboxServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    cfg = _config(write_config, wd, tmp_path)
    kinds = {p["email"]: p["kind"] for p in sandbox.demo_people(wd.db_path, n=10, seed=SEED)}
    tenant = Tenant(wd)
    before = tenant.stats()
    code, first = _run(cfg)
    assert code == 0, first
    assert first["outcomes"]["quarantined"] == 2 and first["outcomes"]["ambiguous"] == 1
    assert first["outcomes"]["unmatched"] == 2
    assert first["actions"]["applied"] == first["actions"]["planned"] > 0 and first["actions"]["failed"] == 0
    assert first["synced"][f"{CONNECTOR}/candidates"] == SIZE
    # Workday has no custom fields on a candidate: the field mapping is reported, not attempted
    assert any("cannot set fields" in gap for gap in first["capability_gaps"])
    after = tenant.stats()
    matched = sum(1 for k in kinds.values() if k in ("primary", "secondary", "unmatched"))
    assert after["notes"] - before["notes"] == matched
    assert after["candidates_created"] == 2 and after["tag_updates"] == matched

    for email, kind in kinds.items():
        wids = tenant.wids(email)
        if kind == "ambiguous":
            assert len(wids) == 2
            assert all(tenant.notes(w) == [] and "MICRO_INTERN" not in tenant.person(w)["tags"] for w in wids)
            continue
        assert len(wids) == 1, (kind, wids)
        notes = tenant.notes(wids[0])
        assert len(notes) == 1 and "syncbridge:" in notes[0]["comment"]
        assert "Micro-internship completed" in notes[0]["content"]
        assert notes[0]["content"].rstrip().endswith("]") and notes[0]["category"] == "OTHER_DOCUMENTS"
        tags = tenant.person(wids[0])["tags"]
        assert "MICRO_INTERN" in tags
        if kind == "unmatched":
            assert "MICRO_INTERN_SOURCED" in tags and tenant.person(wids[0])["origin"] == "api"

    code, second = _run(cfg)
    assert code == 0, second
    assert second["actions"]["planned"] == 0 and second["actions"]["applied"] == 0
    # the two people created in run 1 are in the mirror now, so they are linked, not re-created
    assert second["outcomes"]["unmatched"] == 0
    assert second["actions"]["already_done"] == first["actions"]["planned"] - first["outcomes"]["unmatched"]
    assert tenant.stats()["notes"] == after["notes"]


def test_crash_after_the_attachment_was_sent_leaves_exactly_one(
    wd: sandbox.SandboxServer,
    write_config: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = _config(write_config, wd, tmp_path)
    with (
        crash_after_write(monkeypatch, "add_note") as crashed,
        pytest.raises(RuntimeError, match="simulated crash"),
    ):
        _run(cfg)
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    row = store.ledger_get(crashed["key"])
    assert row is not None and row["status"] == "started"

    code, summary = _run(cfg)
    assert code == 0, summary
    assert summary["actions"]["reconciled"] >= 1 and summary["actions"]["failed"] == 0
    marker = f"syncbridge:{crashed['key']}"
    notes = Tenant(wd).notes(row["target"])
    assert sum(marker in n["comment"] for n in notes) == 1
    assert store.ledger_get(crashed["key"])["status"] == "done"  # type: ignore[index]
    assert any(a["result"] == "reconciled" for a in store.audit_rows(crashed["key"]))
    store.close()


def test_fault_injection_converges_to_the_clean_state(
    tmp_path: Path, write_config: Callable[..., Path]
) -> None:
    (tmp_path / "clean").mkdir()
    (tmp_path / "faulty").mkdir()
    clean = _start(tmp_path / "clean" / "wd.db")
    faulty = _start(tmp_path / "faulty" / "wd.db", fault_seed=3)
    try:
        code, _ = _run(_config(write_config, clean, tmp_path, "clean.yaml"))
        assert code == 0
        cfg = _config(write_config, faulty, tmp_path, "faulty.yaml", state=tmp_path / "faulty" / "state.db")
        tenant_f, tenant_c = Tenant(faulty), Tenant(clean)
        tenant_f.configure(fault_rate=0.1)
        summaries: list[Any] = []
        for _ in range(4):  # the first run and up to three re-runs
            try:
                code, s = _run(cfg)
            except Exception as exc:  # a read that exhausted its retries: the next run resumes
                summaries.append(repr(exc))
                continue
            summaries.append(s["actions"])
            if code == 0 and s["actions"]["planned"] == 0:
                break
        tenant_f.configure(fault_rate=0.0)
        assert tenant_f.stats()["faults"] > 0
        code, last = _run(cfg)
        assert code == 0 and last["actions"]["planned"] == 0, summaries
        assert sandbox.history_snapshot(faulty.db_path) == sandbox.history_snapshot(clean.db_path), summaries
        for p in _people(tmp_path):
            assert tenant_f.state(p["student_email"]) == tenant_c.state(p["student_email"]), summaries
    finally:
        clean.stop()
        faulty.stop()


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


def test_logs_hold_no_secrets_or_emails(
    wd: sandbox.SandboxServer,
    write_config: Callable[..., Path],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cfg = _config(write_config, wd, tmp_path)
    caplog.set_level(logging.DEBUG)
    result = CliRunner().invoke(main, ["-vv", "-c", str(cfg), "run", "--no-prefect"])
    assert result.exit_code == 0, result.output
    status = CliRunner().invoke(main, ["-c", str(cfg), "status", "--json"])
    plan = CliRunner().invoke(main, ["-c", str(cfg), "plan"])
    text = "\n".join([caplog.text, result.output, status.output, plan.output])
    assert "synced" in text
    assert sandbox.DEFAULT_PASSWORD not in text
    for p in _people(tmp_path):
        assert p["student_email"] not in text
        assert p["supervisor_email"] not in text
