"""Manual approval on a real Prefect server with a real process worker (issue: approvals must survive).

What broke before, on prefect 3.9 with a server and a worker: a pipeline run that paused in-process for
approval lost its deployment concurrency slot at the pause (the server releases it when a run leaves
Running), so the engine's next lease renewal failed and Prefect killed the run ("Concurrency lease
renewal failed - slots are no longer reserved").  The engine renews every 300 s x 0.75 = 225 s, hard-coded
in prefect 3.9.1 (``flow_engine`` passes 300, ``prefect.concurrency._leases._RENEWAL_FRACTION`` is 0.75,
and no setting changes either), hence "about 4 minutes".  This test shortens that period in the worker's
processes to 15 s with a ``sitecustomize`` on their PYTHONPATH, so the old design dies within seconds of
pausing and the test can show that a waiting run now outlives several renewal periods.  (The server's
``PREFECT_SERVER_CONCURRENCY_INITIAL_DEPLOYMENT_LEASE_DURATION`` only sets the first lease's length, not
the renewal period, so it cannot shorten the reproduction.)

One deployment (concurrency limit 1) in a process pool, runs created as its schedule would create them:

1. a run with two conversions waiting writes the history, suspends, and frees its slot; ``status``
   shows ``paused (waiting for approval ...)``;
2. a second run meanwhile completes without waiting (no stacked paused copies);
3. nobody answers: the first run waits out its whole timeout (past three lease renewals) and completes,
   never crashed, with the conversions pending;
4. the next run asks again; ``syncbridge approve`` resumes it, and that run opens the role;
5. approving the other one afterwards says that no run waits and the next run opens it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from click.testing import CliRunner

from prefect_real import real_prefect
from syncbridge.cli import main
from syncbridge.connectors.greenhouse import sandbox
from syncbridge.demo_data import write_demo_outcomes
from syncbridge.store import Store
from test_greenhouse_conversion import TEMPLATE_JOB, _mi_jobs
from test_greenhouse_e2e import GH

pytestmark = pytest.mark.e2e
SECRET_ENV = "SB_APPROVAL_GH_SECRET"
POOL = "sb-approval-pool"
RENEWAL_SECONDS = 15  # the lease renewal period forced on the worker's processes (prefect: 225 s)
TIMEOUT = 60  # the approval timeout of the run nobody answers: longer than three renewal periods
LEASE_HOOK = (
    "# test only: renew deployment concurrency leases every 15 s instead of every 225 s\n"
    "import prefect.concurrency._leases as _leases\n"
    f"_leases._RENEWAL_FRACTION = {RENEWAL_SECONDS} / 300\n"
)


@pytest.fixture
def gh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[sandbox.SandboxServer]:
    monkeypatch.setenv(SECRET_ENV, sandbox.DEFAULT_CLIENT_SECRET)
    db = tmp_path / "gh.db"
    sandbox.seed(db, size=60, seed=21)
    server = sandbox.SandboxServer(db, rate_limit=0).start()
    yield server
    server.stop()


def _config(write_config: Callable[..., Path], server: sandbox.SandboxServer, tmp: Path) -> Path:
    outcomes = tmp / "outcomes.csv"
    write_demo_outcomes(outcomes, sandbox.demo_people(server.db_path, n=8, seed=21))
    return write_config(
        {
            "acme-gh": {
                "type": "greenhouse",
                "client_id": sandbox.DEFAULT_CLIENT_ID,
                "client_secret": "${" + SECRET_ENV + "}",
                "user_id": 1000001,
                "base_url": server.url,
                "token_url": f"{server.url}/token",
                "max_attempts": 3,
            }
        },
        outcomes={"path": str(outcomes)},
        history={"note": True},
        conversion={
            "enabled": True,
            "approval": "manual",
            "approval_timeout_minutes": 30,
            "rules": [
                {
                    "name": "strong-intern",
                    "when": {"employer": "Acme Corp", "min_rating": 4.5, "would_hire": True},
                    "requisition": {
                        "title": "{project.role_title}",
                        "code": "MI-{outcome_id}",  # one role per intern: each approval is its own role
                        "options": {"template_job_id": TEMPLATE_JOB},
                    },
                }
            ],
        },
        # the runs below are started by hand; this schedule only makes the deployment (never fires here)
        schedules=[{"flow": "pipeline", "cron": "0 0 1 1 *", "timezone": "UTC"}],
    )


def _state(client: Any, run_id: UUID) -> Any:
    return client.read_flow_run(run_id).state


def _wait(client: Any, run_id: UUID, until: Callable[[Any], bool], what: str, timeout: float = 150) -> Any:
    deadline, state = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        state = _state(client, run_id)
        if state is not None and until(state):
            return state
        time.sleep(0.5)
    raise AssertionError(f"flow run {run_id} never got {what}; last state {state}")


def _start(client: Any, deployment: Any, **params: Any) -> UUID:
    """A run of the deployment with the deployment's parameters (what its schedule would create)."""
    merged = {"params": {**deployment.parameters["params"], **params}}
    return UUID(str(client.create_flow_run_from_deployment(deployment.id, parameters=merged).id))


def _cli(cfg: Path, *args: str) -> str:
    result = CliRunner().invoke(main, ["-c", str(cfg), *args])
    assert result.exit_code == 0, result.output
    return result.output


def _paused_runs(client: Any, deployment_id: UUID) -> list[Any]:
    return _runs_in(client, deployment_id, "PAUSED")


def _runs_in(client: Any, deployment_id: UUID, state_type: str) -> list[Any]:
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    return list(
        client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType(state_type)]))
            ),
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
        )
    )


def _final(state: Any) -> bool:
    return bool(state.is_final())


def test_approval_waits_survive_on_a_real_server_and_worker(
    gh: sandbox.SandboxServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    from prefect import get_client

    cfg = _config(write_config, gh, tmp_path)
    hook = tmp_path / "lease-hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(LEASE_HOOK, encoding="utf-8")
    pythonpath = os.pathsep.join(p for p in (str(hook), os.environ.get("PYTHONPATH", "")) if p)
    store = Store(_state_url(cfg))
    api = GH(gh.url)

    with (
        real_prefect(tmp_path, PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS="1") as prefect,
        prefect.settings(),
        get_client(sync_client=True) as client,
    ):
        assert "deployed pipeline-acme-gh" in _cli(
            cfg, "deploy", "--pool", POOL, "--same-host"
        )  # the worker runs here
        prefect.start_worker(POOL, PYTHONPATH=pythonpath)
        deployment = client.read_deployment_by_name("syncbridge-pipeline/pipeline-acme-gh")

        # 1. a run meets two conversions that need a person: it writes the history, then waits
        first = _start(client, deployment, approval_timeout_seconds=TIMEOUT)
        _wait(client, first, lambda s: s.is_paused() or s.is_final(), "paused", timeout=240)
        waiting = store.pending_approvals()
        assert len(waiting) == 2, waiting
        ids = sorted(a["key"][:12] for a in waiting)
        assert store.ledger_counts().get("done", 0) > 0  # the notes did not wait for the decision
        status = _cli(cfg, "status")
        assert f"paused (waiting for approval {', '.join(ids)})" in status, status
        # the waiting run holds neither a process nor the deployment's concurrency slot
        assert _deployment_slots(client, deployment) == 0

        # 2. the next scheduled run while the first one waits: it does its work and ends, no second wait
        second = _start(client, deployment, approval_timeout_seconds=TIMEOUT)
        state = _wait(client, second, lambda s: s.is_paused() or s.is_final(), "to an end")
        assert state.is_completed(), state
        assert [r.id for r in _paused_runs(client, deployment.id)] == [first]
        assert len(store.pending_approvals()) == 2
        assert f"paused (waiting for approval {', '.join(ids)})" in _cli(cfg, "status")  # not hidden by it

        # 3. nobody answers: the first run waits out its whole timeout, well past the lease renewals that
        #    killed the old design, then completes at its deadline with the conversions still pending
        state = _wait(client, first, _final, "to an end", timeout=300)
        assert state.is_completed(), state
        history = client.read_flow_run_states(first)
        assert not [h for h in history if h.type.value in ("CRASHED", "CANCELLED", "CANCELLING", "FAILED")]
        [suspended] = [h for h in history if h.name == "Suspended"]
        resumed = min(h.timestamp for h in history if h.timestamp > suspended.timestamp)
        assert (resumed - suspended.timestamp).total_seconds() >= 3 * RENEWAL_SECONDS
        assert len(store.pending_approvals()) == 2 and _mi_jobs(api) == []
        assert "paused" not in _cli(cfg, "status")

        # 4. the next run asks again; approve one from a terminal: the waiting run is resumed and opens
        #    that role itself (its deadline run is dropped), the other conversion stays pending
        third = _start(client, deployment, approval_timeout_seconds=900)
        _wait(client, third, lambda s: s.is_paused() or s.is_final(), "paused", timeout=240)
        assert _state(client, third).is_paused()
        yes, no = waiting
        said = _cli(cfg, "approve", yes["key"][:12])
        assert f"resumed flow run {third}" in said and "opens the role" in said, said
        state = _wait(client, third, _final, "to an end", timeout=240)
        assert state.is_completed(), state
        assert {j["requisition_id"] for j in _mi_jobs(api)} == {f"MI-{yes['outcome_id']}"}
        assert store.approval_status(no["key"]) == "pending"
        left = [r for r in _runs_in(client, deployment.id, "SCHEDULED") if "approval-deadline" in r.tags]
        assert left == []  # its deadline run was dropped with the decision

        # 5. a decision after the wait ended says what happens next
        said = _cli(cfg, "approve", no["key"][:12])
        assert f"no run is waiting for it (flow run {third} already ended" in said, said
        assert "the next run (syncbridge run, or the scheduled pipeline) opens the role" in said, said
    store.close()


def _state_url(cfg: Path) -> str:
    from syncbridge.config import load_config

    return load_config(cfg).state.url


def _deployment_slots(client: Any, deployment: Any) -> int:
    """Active slots of the deployment's concurrency limit (1 while a run of it holds the slot)."""
    limit = client.read_deployment(deployment.id).global_concurrency_limit
    assert limit is not None, "the deployment has a concurrency limit"
    return int(limit.active_slots)


def test_a_waiting_run_keeps_its_record_until_it_comes_back(tmp_path: Path) -> None:
    """``sb_runs`` for a suspended run: paused, then running again under the same id when Prefect starts
    it again; recorded as failed only if it ended elsewhere while still paused."""
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    store.run_started("r1", "pipeline", "gh")
    store.run_finished("r1", "paused")
    assert [r["run_id"] for r in store.paused_runs()] == ["r1"]
    store.run_started("r1", "pipeline", "gh")  # resumed: the same row, running again
    [row] = store.recent_runs()
    assert (row["status"], row["finished_at"]) == ("running", None)
    store.run_finished("r1", "completed")
    store.paused_run_ended("r1", "its approval wait ended in Prefect as Cancelled")
    assert store.recent_runs()[0]["status"] == "completed"  # only a paused row is ended that way
    store.run_started("r2", "pipeline", "gh")
    store.run_finished("r2", "paused")
    store.paused_run_ended("r2", "its approval wait ended in Prefect as Cancelled")
    assert {r["run_id"]: r["status"] for r in store.recent_runs()} == {"r1": "completed", "r2": "failed"}
    store.close()
