"""One machine, for real: `syncbridge serve` without PREFECT_API_URL starts its own Prefect server, whose
scheduler fires the YAML's schedules, and stops it when it stops."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from prefect_server import alive, clean_env, free_port, process, stop, syncbridge_cmd, wait_for
from syncbridge.connectors.greenhouse import sandbox
from syncbridge.demo_data import write_demo_outcomes

pytestmark = [pytest.mark.e2e]
SECRET_ENV = "SB_SERVE_GH_SECRET"


@pytest.fixture
def gh(tmp_path: Path) -> Iterator[sandbox.SandboxServer]:
    db = tmp_path / "gh.db"
    sandbox.seed(db, size=60, seed=3)
    server = sandbox.SandboxServer(db, rate_limit=0).start()
    yield server
    server.stop()


def gh_connector(server: sandbox.SandboxServer) -> dict[str, Any]:
    return {
        "type": "greenhouse",
        "client_id": sandbox.DEFAULT_CLIENT_ID,
        "client_secret": "${" + SECRET_ENV + "}",
        "user_id": 1000001,
        "base_url": server.url,
        "token_url": f"{server.url}/token",
        "max_attempts": 2,
    }


def _pipeline_runs(state_url: str) -> list[dict[str, Any]]:
    engine = create_engine(state_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT status, counts FROM sb_runs WHERE flow = 'pipeline' ORDER BY started_at")
            ).all()
    except Exception:  # the table does not exist before the first run
        return []
    finally:
        engine.dispose()
    return [{"status": r[0], "counts": json.loads(r[1]) if isinstance(r[1], str) else r[1]} for r in rows]


def test_serve_starts_a_local_server_whose_scheduler_runs_the_schedules(
    gh: sandbox.SandboxServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    write_demo_outcomes(tmp_path / "outcomes.csv", sandbox.demo_people(gh.db_path, n=6, seed=3))
    state_url = f"sqlite:///{tmp_path / 'state' / 'state.db'}"
    (tmp_path / "state").mkdir()
    cfg = write_config(
        {"acme-gh": gh_connector(gh)},
        state={"url": state_url},
        schedules=[{"flow": "pipeline", "interval_minutes": 0.25}],  # every 15 s
        prefect={"local_server_port": free_port()},
    )
    env = clean_env(**{SECRET_ENV: sandbox.DEFAULT_CLIENT_SECRET, "PREFECT_HOME": str(tmp_path / "home")})
    with process(syncbridge_cmd("-c", str(cfg), "serve"), env=env, log=tmp_path / "serve.log") as serve:
        record = tmp_path / "state" / "prefect-server.json"  # the local server lives in the state folder
        info = wait_for(
            lambda: record.is_file() and json.loads(record.read_text()),
            timeout=120,
            what="serve to start its Prefect server",
            proc=serve,
            log=tmp_path / "serve.log",
        )
        runs = wait_for(
            lambda: (
                [r for r in _pipeline_runs(state_url) if r["status"] == "completed"][:2]
                if len([r for r in _pipeline_runs(state_url) if r["status"] == "completed"]) >= 2
                else None
            ),
            timeout=600,
            what="two scheduled pipeline runs",
            every=2,
            proc=serve,
            log=tmp_path / "serve.log",
        )
        log = (tmp_path / "serve.log").read_text()
        assert "Prefect UI: http://127.0.0.1:" in log
        assert (tmp_path / "state" / "prefect-server.db").is_file()
        assert runs[0]["counts"]["planned"] > 0 and runs[0]["counts"]["failed"] == 0
        assert runs[1]["counts"]["planned"] == 0  # the second run sees the first one's writes
        # `trigger` next to a running serve uses serve's server: serve runs it, trigger waits for it
        done = subprocess.run(
            syncbridge_cmd("-c", str(cfg), "trigger", "pipeline-acme-gh", "--timeout", "300"),
            env=env,
            capture_output=True,
            text=True,
            timeout=400,
        )
        assert done.returncode == 0, done.stdout + done.stderr[-2000:]
        assert "pipeline-acme-gh: COMPLETED" in done.stdout
        assert alive(info["pid"])
        stop(serve, signal.SIGTERM)
        assert serve.returncode == 0, log[-2000:]
    pid = info["pid"]
    wait_for(lambda: not alive(pid), timeout=60, what=f"the Prefect server (pid {pid}) to stop")
    assert not record.exists()
    assert not (tmp_path / "home" / "prefect.db").exists()  # nothing went to an ephemeral database


def test_trigger_without_a_server_runs_here_and_unknown_names_fail_in_one_line(
    gh: sandbox.SandboxServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    write_demo_outcomes(tmp_path / "outcomes.csv", sandbox.demo_people(gh.db_path, n=6, seed=3))
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    cfg = write_config(
        {"acme-gh": gh_connector(gh)},
        state={"url": state_url},
        schedules=[{"flow": "pipeline", "interval_minutes": 60}],
        prefect={"local_server_port": free_port()},
    )
    env = clean_env(**{SECRET_ENV: sandbox.DEFAULT_CLIENT_SECRET, "PREFECT_HOME": str(tmp_path / "home")})
    typo = subprocess.run(
        syncbridge_cmd("-c", str(cfg), "trigger", "pipline-acme-gh"),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert typo.returncode == 2
    assert typo.stderr.splitlines() == [
        f"error: pipline-acme-gh: no such deployment in {cfg} (known: pipeline-acme-gh)"
    ]
    assert not (tmp_path / "prefect-server.db").exists()  # refused before any Prefect server started

    done = subprocess.run(
        syncbridge_cmd("-c", str(cfg), "trigger", "pipeline-acme-gh"),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "pipeline-acme-gh: COMPLETED" in done.stdout
    assert "running pipeline-acme-gh in this process" in done.stderr
    [run] = _pipeline_runs(state_url)
    assert run["status"] == "completed" and run["counts"]["planned"] > 0
    assert (tmp_path / "prefect-server.db").is_file()  # recorded where `serve` keeps its history
    assert not (tmp_path / "prefect-server.json").exists()  # the temporary server was stopped

    # a `serve` killed with SIGKILL takes its Prefect server with it (Linux parent-death signal), and
    # the next `serve` would clear the stale record by PID
    if not sys.platform.startswith("linux"):
        return
    env["PYTHONUNBUFFERED"] = "1"
    log = tmp_path / "serve.log"
    with process(syncbridge_cmd("-c", str(cfg), "serve"), env=env, log=log) as serve:
        record = tmp_path / "prefect-server.json"
        wait_for(
            lambda: "serving 1 deployment" in log.read_text(),
            timeout=300,
            what="serve to serve",
            proc=serve,
            log=log,
        )
        pid = json.loads(record.read_text())["pid"]
        assert alive(pid)
        stop(serve, signal.SIGKILL)
    wait_for(lambda: not alive(pid), timeout=60, what=f"the Prefect server (pid {pid}) to die with serve")
