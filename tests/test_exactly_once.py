"""Exactly-once that survives a lost state store and ``kill -9`` (issue 9, items 2 and 3).

* A brand-new state store (a SQLite → PostgreSQL move, a lost disk) against an ATS that already holds
  syncbridge's writes sends **zero** writes: that is a scenario of the connector conformance suite
  (tests/conformance/test_pipeline.py), for every vendor.
* Relative paths in the YAML are relative to the config file, whatever the working directory.
* The kill sweep: ``syncbridge run`` as a real process, ``kill -9``-ed right after the N-th write took
  effect in the sandbox (before the answer reached it), for every N; one more run then leaves the ATS
  exactly as an uninterrupted run does, with nothing pending and the dead run shown as crashed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from syncbridge.cli import main
from syncbridge.connectors.greenhouse import sandbox as gh_sandbox
from syncbridge.connectors.lever import sandbox as lever_sandbox
from syncbridge.connectors.workday import sandbox as wd_sandbox
from syncbridge.demo_data import write_demo_outcomes
from syncbridge.store import Store
from writewatch import table_counts, watched

pytestmark = pytest.mark.e2e
GH_SECRET_ENV = "SB_EO_GH_SECRET"
HERE = Path(__file__).resolve().parent


# -- one sandbox per vendor, behind a write counter --------------------------------------------------------


def _gh_block(url: str) -> dict[str, Any]:
    return {
        "type": "greenhouse",
        "client_id": gh_sandbox.DEFAULT_CLIENT_ID,
        "client_secret": "${" + GH_SECRET_ENV + "}",
        "user_id": 1000001,
        "base_url": url,
        "token_url": f"{url}/token",
        "max_attempts": 3,
    }


def _lever_block(url: str) -> dict[str, Any]:
    block = lever_sandbox.demo_connector_block(url)
    block.update({"rate_per_second": 500.0, "burst": 500, "backoff_base": 0.02, "max_attempts": 3})
    return block


def _rule(options: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "strong-intern",
        "when": {"employer": "Acme Corp", "min_rating": 4.5, "would_hire": True},
        "requisition": {
            "title": "{project.role_title}",
            "code": "MI-{project.team}-{project.role_title}",
            "fields": {"mi_source_project": "project.title"},
            "options": options,
        },
        "prescreen": {
            "fields": {"mi_prescreen_score": "prescreen.score", "mi_supervisor": "project.supervisor.name"}
        },
    }


VENDORS: dict[str, dict[str, Any]] = {
    "greenhouse": {
        "module": gh_sandbox,
        "seed": 21,
        "server": {"rate_limit": 0},
        "block": _gh_block,
        "rule": lambda: _rule(
            {"template_job_id": 4100002, "publish": "internal", "board": "Sandbox Internal Jobs"}
        ),
    },
    "lever": {
        "module": lever_sandbox,
        "seed": 7,
        "server": {"rate_per_second": 0},
        "block": _lever_block,
        "rule": lambda: _rule(
            {
                "publish": "published",
                "distribution": "internal",
                "commitment": "Internship",
                "employmentStatus": "intern",
            }
        ),
    },
    "workday": {
        "module": wd_sandbox,
        "seed": 11,
        "server": {},
        "block": lambda url: wd_sandbox.demo_connector_block(url),
        "rule": lambda: wd_sandbox.demo_conversion_rule("Acme Corp"),
    },
}


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(GH_SECRET_ENV, gh_sandbox.DEFAULT_CLIENT_SECRET)
    for env in (lever_sandbox.DEMO_ENV, wd_sandbox.DEMO_ENV):
        for name, value in env.items():
            monkeypatch.setenv(name, value)


def _seeded(vendor: str, folder: Path, *, size: int, people: int) -> tuple[Path, Path]:
    """A seeded sandbox database and its outcomes file (deterministic)."""
    v = VENDORS[vendor]
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / f"{vendor}.db"
    v["module"].seed(db, size=size, seed=v["seed"])
    outcomes = folder / "outcomes.csv"
    write_demo_outcomes(outcomes, v["module"].demo_people(db, n=people, seed=v["seed"]))
    return db, outcomes


def _serve(vendor: str, db: Path) -> Any:
    v = VENDORS[vendor]
    return watched(v["module"].SandboxServer)(db, **v["server"]).start()


def _config(
    vendor: str, path: Path, *, url: str, state: str, outcomes: Path, extra: dict[str, Any] | None = None
) -> Path:
    v = VENDORS[vendor]
    data: dict[str, Any] = {
        "version": 1,
        "state": {"url": state},
        "outcomes": {"path": str(outcomes)},
        "connectors": {f"acme-{vendor}": v["block"](url)},
        "routing": [{"employer": "Acme Corp", "connector": f"acme-{vendor}"}],
        "matching": {"create_unmatched": True, "new_candidate_tags": ["micro-intern-sourced"]},
        "history": {"note": True, "tags": ["micro-intern"]},
        "conversion": {"enabled": True, "approval": "auto", "rules": [v["rule"]()]},
        **(extra or {}),
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _run_inline(cfg: Path) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(main, ["-c", str(cfg), "run", "--no-prefect", "--json"])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, dict(json.loads(result.stdout[result.stdout.index("{") :]))


# -- relative paths ---------------------------------------------------------------------------------


def test_relative_paths_resolve_against_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative SQLite state path and outcomes path work from any working directory (a Prefect process
    worker runs flows in a temporary folder): the state lands next to the config, once."""
    db, outcomes = _seeded("greenhouse", tmp_path / "ats", size=40, people=4)
    server = _serve("greenhouse", db)
    try:
        home = tmp_path / "deploy"
        home.mkdir()
        shutil.copy(outcomes, home / "outcomes.csv")
        cfg = _config(
            "greenhouse",
            home / "syncbridge.yaml",
            url=server.url,
            state="sqlite:///.syncbridge/state.db",
            outcomes=Path("outcomes.csv"),
        )
        elsewhere = tmp_path / "worker-tmp"
        elsewhere.mkdir()
        monkeypatch.chdir(elsewhere)
        code, summary = _run_inline(cfg)
        assert code == 0 and summary["actions"]["applied"] > 0, summary
        assert (home / ".syncbridge" / "state.db").is_file()
        assert not (elsewhere / ".syncbridge").exists()
        written = server.watch.writes
        other = tmp_path / "another-tmp"
        other.mkdir()
        monkeypatch.chdir(other)
        code, again = _run_inline(cfg)
        assert code == 0 and again["actions"]["planned"] == 0
        assert server.watch.writes == written
    finally:
        server.stop()


# -- item 3: kill -9 at every write --------------------------------------------------------------------

_VOLATILE = ("id", "url", "token")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _scrub(value: Any) -> Any:
    """A record without its ids, URLs and timestamps: what two equal ATS states have in common."""
    if isinstance(value, dict):
        return {
            k: _scrub(v)
            for k, v in sorted(value.items())
            if not (
                k in _VOLATILE
                or k.startswith("_")
                or k.endswith(("_id", "_ids", "_at", "At", "Id", "Ids", "_url"))
                or k in ("createdAt", "updatedAt")
            )
        }
    if isinstance(value, list):
        return sorted((_scrub(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True, default=str))
    if isinstance(value, str):  # Lever's ids are UUIDs, also inside values (opportunity, user)
        return _UUID.sub("<id>", value)
    return value


def _fingerprint(db: Path) -> dict[str, Any]:
    """What the sandbox's ATS holds: rows per table, and for the tables syncbridge writes, every record's
    content (ids, URLs and timestamps left out) as a sorted list."""
    import sqlite3

    counts = table_counts(db)
    conn = sqlite3.connect(db)
    try:
        content: dict[str, list[str]] = {}
        for table in ("notes", "applications", "jobs", "job_posts", "attachments", "applied_candidate_tags"):
            cols = [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]
            if "data" not in cols:
                continue
            rows = [json.loads(r[0]) for r in conn.execute(f'SELECT data FROM "{table}"')]
            content[table] = sorted(json.dumps(_scrub(r), sort_keys=True, default=str) for r in rows)
    finally:
        conn.close()
    return {"counts": counts, "content": content}


def _cli(cfg: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "syncbridge.cli", "-c", str(cfg), *args]


def _killed_then_recovered(
    vendor: str, template: Path, outcomes: Path, folder: Path, n: int, *, before: bool = False
) -> Any:
    """One kill point: a fresh copy of the ATS and a fresh state store; ``syncbridge run`` is killed
    right after its n-th write took effect; one more run must finish everything.  Returns the ATS db."""
    folder.mkdir(parents=True)
    db = folder / template.name
    shutil.copy(template, db)
    server = _serve(vendor, db)
    try:
        state = f"sqlite:///{folder / 'state.db'}"
        cfg = _config(vendor, folder / "syncbridge.yaml", url=server.url, state=state, outcomes=outcomes)
        proc = subprocess.Popen(
            _cli(cfg, "run", "--no-prefect", "--json"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        server.watch.victim, server.watch.kill_at, server.watch.before = proc.pid, n, before
        try:
            code = proc.wait(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert server.watch.killed and code == -9, f"kill point {n}: exit {code}"

        status = CliRunner().invoke(main, ["-c", str(cfg), "status", "--json"])
        runs = json.loads(status.stdout)["last_runs"]
        assert [r["status"] for r in runs] == ["crashed"], f"kill point {n}: {runs}"

        again = subprocess.run(
            _cli(cfg, "run", "--no-prefect", "--json"), capture_output=True, text=True, timeout=300
        )
        assert again.returncode == 0, f"kill point {n}: {again.stdout[-800:]} {again.stderr[-800:]}"
        summary = json.loads(again.stdout[again.stdout.index("{") :])
        assert not any(summary["actions"].get(k) for k in ("failed", "blocked", "busy")), summary
        store = Store(state)
        try:
            assert store.ledger_pending() == [], f"kill point {n}: writes left pending"
        finally:
            store.close()
        return db
    finally:
        server.stop()


def _sweep(vendor: str, tmp: Path, points: list[int] | None, *, before: bool = False) -> tuple[int, int]:
    """Kill at each of ``points`` (None: every write of the run; empty: five spread over the run);
    returns (kill points recovered, writes an uninterrupted run makes)."""
    template, outcomes = _seeded(vendor, tmp / "template", size=40, people=6)
    reference = tmp / "reference"
    reference.mkdir()
    ref_db = reference / template.name
    shutil.copy(template, ref_db)
    server = _serve(vendor, ref_db)
    try:
        state = f"sqlite:///{reference / 'state.db'}"
        cfg = _config(vendor, reference / "syncbridge.yaml", url=server.url, state=state, outcomes=outcomes)
        done = subprocess.run(_cli(cfg, "run", "--no-prefect", "--json"), capture_output=True, timeout=300)
        assert done.returncode == 0, done.stdout[-800:]
        total = server.watch.writes
        summary = json.loads(done.stdout[done.stdout.index(b"{") :])
        assert summary["conversions"] and total > 0
    finally:
        server.stop()
    expected = _fingerprint(ref_db)
    recovered = 0
    if points is None:
        points = list(range(1, total + 1))
    elif not points:  # spread: the first write, the last, and three in between
        points = sorted({1, total // 4 or 1, total // 2 or 1, (3 * total) // 4 or 1, total})
    for n in points:
        db = _killed_then_recovered(vendor, template, outcomes, tmp / f"kill-{n}", n, before=before)
        assert _fingerprint(db) == expected, f"kill point {n}: the ATS differs from an uninterrupted run"
        recovered += 1
    return recovered, total


def test_kill_sweep_greenhouse_every_write(tmp_path: Path) -> None:
    """kill -9 right after each write of a run with a conversion (create person, note, tags, job, post,
    application, prescreen), for every write: one more run always ends in the uninterrupted state."""
    recovered, total = _sweep("greenhouse", tmp_path, None)
    print(f"greenhouse: {recovered}/{total} kill points recovered")
    assert recovered == total > 10


def test_kill_before_a_write_lands_greenhouse(tmp_path: Path) -> None:
    """The other side of the race: killed as its write reaches the vendor, which never makes it.  The
    claimed write is taken over and sent by the next run (five points spread over the run)."""
    recovered, total = _sweep("greenhouse", tmp_path, [], before=True)
    print(f"greenhouse (killed before the write): {recovered} kill points recovered (of {total} writes)")
    assert recovered == 5


@pytest.mark.parametrize("vendor", ["lever", "workday"])
def test_kill_sweep_lever_and_workday(vendor: str, tmp_path: Path) -> None:
    """Five kill points on Lever and Workday: the first write, the last and three in between."""
    recovered, total = _sweep(vendor, tmp_path, [])
    print(f"{vendor}: {recovered} kill points recovered (of {total} writes)")
    assert recovered == 5 and total > 10


def test_a_run_that_leaves_writes_busy_says_so_and_exits_non_zero(tmp_path: Path) -> None:
    """A write held by another live run is left to it: the run says so and exits 1.  When that run dies,
    the next apply takes its write over at once and exits 0."""
    from syncbridge.liveness import RunLock, owner

    db, outcomes = _seeded("greenhouse", tmp_path / "ats", size=40, people=4)
    server = _serve("greenhouse", db)
    try:
        state = f"sqlite:///{tmp_path / 'state.db'}"
        cfg = _config(
            "greenhouse", tmp_path / "syncbridge.yaml", url=server.url, state=state, outcomes=outcomes
        )
        runner = CliRunner()
        assert runner.invoke(main, ["-c", str(cfg), "sync"]).exit_code == 0
        planned = json.loads(runner.invoke(main, ["-c", str(cfg), "plan", "--json"]).stdout)["actions"]
        note = next(a for a in planned if a["kind"] == "add_note")
        store = Store(state)
        other = RunLock(store, "other-run")
        store.run_started("other-run", "pipeline", owner=owner(), lock=other.acquire())
        store.ledger_start(
            note["key"],
            connector=note["connector"],
            kind="add_note",
            outcome_id=note["outcome_id"],
            target=note["target"],
            payload=note["payload"],
            run_id="other-run",
        )
        busy = runner.invoke(main, ["-c", str(cfg), "apply"])
        assert busy.exit_code == 1, busy.output
        assert "busy in another run 1" in busy.stdout and "not finished" in busy.stderr
        [run] = [r for r in store.recent_runs() if r["flow"] == "apply"]
        assert run["status"] == "failed" and "busy in another run" in run["error"]

        other.release()  # the other run's process is gone (its lock with it), its run still "running"
        done = runner.invoke(main, ["-c", str(cfg), "apply"])
        assert done.exit_code == 0, done.output
        assert store.ledger_pending() == []
        assert {r["run_id"]: r["status"] for r in store.recent_runs()}["other-run"] == "crashed"
        store.close()
    finally:
        server.stop()
