"""Waiting for a person's decision on conversions (``conversion.approval: manual``) inside a pipeline run.

Why the run *suspends* instead of pausing (prefect 3.9, real server, worker or ``serve``)
------------------------------------------------------------------------------------------
Every deployment has a concurrency limit of 1.  The server lends a run that slot as a lease, which the
engine renews every 225 s.  A run that pauses in its process (``pause_flow_run``) leaves *Running*, so
the server takes the slot back at once; the engine's next renewal then fails and Prefect kills the run
("Concurrency lease renewal failed - slots are no longer reserved"), about 4 minutes in, whatever the
approval timeout.  The freed slot also let the next scheduled run start and pause as well.

A run started by a worker or a ``serve`` process therefore **suspends** (``suspend_flow_run``): it
writes everything that needs no decision first (history notes, tags, fields, and the conversions
already approved), records in ``sb_approvals`` which run waits for which approval and until when, and
exits.  It then holds no process and no slot, and waits as long as the timeout says, surviving worker
restarts.  A decision (the input form in the Prefect UI, or ``syncbridge approve/reject``) resumes it;
Prefect starts it again **from the beginning** with the decision as input.  Re-running the part before
the suspension is safe: sync moves cursors forward, linking and planning are pure, and the applier's
ledger makes every write exactly once, so the second pass writes only the conversions just approved.

Nobody answering must not fail the run (Prefect fails a suspended run whose own timeout expires).  So
syncbridge ends the wait itself: on suspending, the run schedules one extra run of its deployment at
its approval deadline (``wait_for_approval`` off, tagged ``approval-deadline``), and every pipeline run
starts by resuming the waits whose deadline has passed with a "timed out" answer.  The resumed run then
completes with the conversions still pending.  Prefect's own timeout is only a backstop a day later,
for a server on which no run at all happened in between.

At most one run waits for a given approval.  A later run (the next scheduled one) that meets an approval
a live run already waits for does its other work and ends; the approval stays pending.

A run executed in this process (``syncbridge run --wait-for-approval``, ``serve --once``, tests) holds
no slot lease (it never goes through Pending), so it keeps the simpler in-process pause with a
watchdog.  A run that holds a lease but was not started by Prefect could do neither, and does not wait.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from prefect.input import RunInput
from pydantic import Field

from syncbridge.plan import Strong
from syncbridge.steps import Runtime

log = logging.getLogger("syncbridge.flows.approval")
#: Prefect's own pause timeout, after syncbridge's deadline: only for when no run ended the wait.
BACKSTOP = timedelta(days=1)
DEADLINE_TAG = "approval-deadline"
DEADLINE_PATIENCE = timedelta(minutes=2)


class ApprovalDecision(RunInput):
    """What the approver answers in the Prefect UI (ids as shown in the description, or "all")."""

    approve: list[str] = Field(default_factory=list)
    reject: list[str] = Field(default_factory=list)
    reason: str = ""
    approver: str = ""
    timed_out: bool = Field(
        default=False, description="set by syncbridge itself when nobody answered in time"
    )


def _description(pending: list[Strong], deadline: datetime) -> str:
    lines = [
        "## Strong micro-interns waiting for approval",
        "",
        "Answer with approval ids in **approve** / **reject** (or `all`).  "
        f"Without an answer by {deadline:%Y-%m-%d %H:%M} UTC the run ends and they stay pending.",
        "",
    ]
    for s in pending:
        lines.append(
            f"- `{s.approval_key[:12]}` outcome {s.outcome_id} → **{s.code}** on {s.connector} "
            f"(rule {s.rule}): {s.summary}"
        )
    return "\n".join(lines)


def _context() -> tuple[Any, str | None]:
    """(this flow run, how it can wait: "suspend" | "pause" | None)."""
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    run = ctx.flow_run if ctx else None
    if run is None:
        return None, None
    started_by_prefect = os.environ.get("PREFECT__FLOW_RUN_ID") == str(run.id)
    lease = run.state.state_details.deployment_concurrency_lease_id if run.state else None
    if run.deployment_id and started_by_prefect:
        how: str | None = "suspend"  # a worker or serve process starts it again when it resumes
    elif lease is None:
        how = "pause"  # no slot to lose: block in this process
    else:
        how = None  # holds a slot lease, but nobody would start it again after a suspension
    return run, how


def _state(client: Any, flow_run_id: str) -> Any:
    try:
        return client.read_flow_run(UUID(flow_run_id)).state
    except Exception:  # deleted, or not a flow run of this server
        return None


def waiting_elsewhere(rt: Runtime, pending: list[Strong], me: str) -> str | None:
    """The id of another live flow run that already waits for one of these approvals (None: none)."""
    from prefect import get_client

    others = set()
    for s in pending:
        row = rt.store.approvals_for(s.approval_key)
        noted = (row[0].get("summary") or {}).get("flow_run_id") if row else None
        if noted and noted != me:
            others.add(noted)
    if not others:
        return None
    with get_client(sync_client=True) as client:
        for other in sorted(others):
            state = _state(client, other)
            if state is not None and not state.is_final():
                return other
    return None


def end_expired_waits(rt: Runtime) -> list[str]:
    """Resume, with a "timed out" answer, every suspended run whose approval deadline has passed.

    Called at the start of each pipeline run.  The deadline run (tagged ``approval-deadline``) may
    start a little early, because workers fetch scheduled runs ahead of time: it waits for a deadline
    due within ``DEADLINE_PATIENCE``.  A waiting run that Prefect ended meanwhile (cancelled, or failed
    by the backstop) is recorded as failed in ``sb_runs`` instead of staying "paused" there.  Never
    fails the calling run."""
    from prefect.runtime import flow_run

    deadlines: dict[str, tuple[datetime, str | None]] = {}
    for row in rt.store.pending_approvals():
        summary = row.get("summary") or {}
        deadline, fid = summary.get("deadline"), summary.get("flow_run_id")
        if fid and deadline:
            deadlines[fid] = (datetime.fromisoformat(deadline), summary.get("run_id"))
    if DEADLINE_TAG in (flow_run.get_tags() or []):
        due = [d for d, _ in deadlines.values() if d <= datetime.now(UTC) + DEADLINE_PATIENCE]
        if due:
            time.sleep(max(0.0, (max(due) - datetime.now(UTC)).total_seconds()))
    now = datetime.now(UTC)
    expired = {fid: run_id for fid, (deadline, run_id) in deadlines.items() if deadline <= now}
    if not expired:
        return []
    from prefect import get_client
    from prefect.flow_runs import resume_flow_run

    ended = []
    with get_client(sync_client=True) as client:
        for fid, run_id in expired.items():
            state = _state(client, fid)
            try:
                if state is not None and state.is_paused():
                    resume_flow_run(UUID(fid), run_input={"timed_out": True, "approver": "syncbridge"})
                    log.info("approval wait of flow run %s timed out: resumed it to finish", fid)
                    ended.append(fid)
                elif state is None or state.is_final():
                    if run_id:
                        rt.store.paused_run_ended(
                            run_id, f"its approval wait ended in Prefect as {state.name if state else 'gone'}"
                        )
                    _forget_deadline(rt, fid)
            except Exception as exc:  # resumed by someone else at the same moment
                log.info("could not end the approval wait of flow run %s: %s", fid, exc)
    return ended


def _forget_deadline(rt: Runtime, fid: str) -> None:
    """This run's wait is over: later runs need not look at it again."""
    for row in rt.store.pending_approvals():
        if (row.get("summary") or {}).get("flow_run_id") == fid:
            rt.store.note_paused_run(row["key"], fid, deadline=None)


def _schedule_deadline_run(run: Any, params: dict[str, Any], deadline: datetime) -> str | None:
    """One run of the same deployment at the deadline: it ends this wait (see the module notes)."""
    from prefect import get_client
    from prefect.states import Scheduled

    try:
        with get_client(sync_client=True) as client:
            created = client.create_flow_run_from_deployment(
                run.deployment_id,
                parameters={"params": {**params, "wait_for_approval": False}},
                state=Scheduled(scheduled_time=deadline),
                tags=[DEADLINE_TAG],
            )
        return str(created.id)
    except Exception as exc:  # the next scheduled run ends the wait instead
        log.warning("could not schedule the approval deadline run: %s", exc)
        return None


def _drop_deadline_run(flow_run_id: str | None) -> None:
    """The decision came before the deadline: its run is not needed any more."""
    if not flow_run_id:
        return
    from prefect import get_client

    try:
        with get_client(sync_client=True) as client:
            state = _state(client, flow_run_id)
            if state is not None and state.is_scheduled():
                client.delete_flow_run(UUID(flow_run_id))
    except Exception as exc:
        log.info("could not remove the approval deadline run %s: %s", flow_run_id, exc)


def wait_for_approval(
    rt: Runtime, pending: list[Strong], timeout: int, info: dict[str, Any], params: dict[str, Any]
) -> bool:
    """Wait for a person's decision on ``pending``; True when any decision was taken.

    Suspends the run (raising Prefect's ``Pause``, after marking ``info["status"] = "paused"``), pauses
    it in this process, or returns False at once, as the module notes explain."""
    from prefect import get_run_logger

    logger = get_run_logger()
    run, how = _context()
    key = f"approval-{info['run_id']}"
    me = str(run.id) if run else ""
    resumed = bool(run and key in (run.empirical_policy.pause_keys or set()))
    if not resumed:
        other = waiting_elsewhere(rt, pending, me) if run else None
        if other:
            logger.info("flow run %s already waits for approval; this run leaves it pending", other)
            return False
        if how is None:
            logger.warning(
                "this run holds a concurrency slot in this process and cannot wait for approval: "
                "decide with `syncbridge approve/reject`, the next run converts"
            )
            return False
    deadline = datetime.now(UTC) + timedelta(seconds=timeout)
    model = ApprovalDecision.with_initial_data(description=_description(pending, deadline))
    if how == "suspend":
        decision = _suspend(rt, run, pending, key, info, params, deadline, timeout, resumed, model)
    else:
        decision = _pause(rt, run, pending, key, timeout, model, info)
    if me and how == "suspend":
        _forget_deadline(rt, me)
    if decision is None or decision.timed_out:
        logger.warning("no approval decision within %d s; the conversions stay pending", timeout)
        return False
    _record(rt, pending, decision, me)
    # `syncbridge approve/reject` record the decision themselves before resuming the run: count those too
    return any(rt.store.approval_status(s.approval_key) != "pending" for s in pending)


def _suspend(
    rt: Runtime,
    run: Any,
    pending: list[Strong],
    key: str,
    info: dict[str, Any],
    params: dict[str, Any],
    deadline: datetime,
    timeout: int,
    resumed: bool,
    model: Any,
) -> Any:
    from prefect.flow_runs import suspend_flow_run

    fid = str(run.id)
    if resumed:  # started again after a decision: the input is waiting for us
        for s in pending:
            rows = rt.store.approvals_for(s.approval_key)
            _drop_deadline_run(((rows[0].get("summary") or {}) if rows else {}).get("deadline_run"))
        try:
            return suspend_flow_run(wait_for_input=model, key=key)
        except Exception as exc:  # resumed without an answer (e.g. by hand in the UI)
            log.warning("resumed without a readable approval answer: %s", exc)
            return None
    deadline_run = _schedule_deadline_run(run, params, deadline)
    for s in pending:
        rt.store.note_paused_run(
            s.approval_key,
            fid,
            run_id=info["run_id"],
            deadline=deadline.isoformat(),
            deadline_run=deadline_run,
        )
    info["status"] = "paused"  # recorded_run keeps the run as paused, not failed, when Pause leaves
    # returns only when this suspension already fired (then with the decision); otherwise raises Pause
    decision = suspend_flow_run(
        wait_for_input=model, timeout=timeout + int(BACKSTOP.total_seconds()), key=key
    )
    info.pop("status", None)
    return decision


def _pause(
    rt: Runtime, run: Any, pending: list[Strong], key: str, timeout: int, model: Any, info: dict[str, Any]
) -> Any:
    from prefect.exceptions import FlowPauseTimeout
    from prefect.flow_runs import pause_flow_run

    fid = str(run.id) if run else None
    for s in pending:
        rt.store.note_paused_run(s.approval_key, fid, run_id=info["run_id"])
    rt.store.run_finished(info["run_id"], "paused", info.get("counts"))  # `status` shows the wait
    # Prefect fails a run whose pause expired, so a watchdog resumes the run with a timed-out answer
    # first: the run then completes and the conversions stay pending.
    watchdog = threading.Timer(timeout, _resume_timed_out, args=(fid,)) if fid else None
    if watchdog:
        watchdog.daemon = True
        watchdog.start()
    try:
        return pause_flow_run(
            wait_for_input=model,
            timeout=timeout + 120,
            poll_interval=min(10, max(1, timeout // 10)),
            key=key,
        )
    except FlowPauseTimeout:
        return None
    finally:
        if watchdog:
            watchdog.cancel()
        rt.store.run_started(info["run_id"], "pipeline")  # running again (the row exists: only its status)


def _resume_timed_out(flow_run_id: str) -> None:
    from prefect.flow_runs import resume_flow_run

    try:
        resume_flow_run(UUID(flow_run_id), run_input={"timed_out": True})
    except Exception:  # already resumed by a person, or gone
        return


def _record(rt: Runtime, pending: list[Strong], decision: Any, me: str) -> None:
    """Record an answer given in the Prefect UI ("all" means the approvals this run asked for)."""
    by = decision.approver or "prefect-ui"
    for s in pending:
        short = s.approval_key[:12]
        rows = rt.store.approvals_for(s.approval_key)
        asked_here = bool(rows) and (rows[0].get("summary") or {}).get("flow_run_id") in (me, None)
        if (
            short in decision.reject
            or s.approval_key in decision.reject
            or ("all" in decision.reject and asked_here)
        ):
            rt.store.decide_approval(s.approval_key, "rejected", by=by, reason=decision.reason)
        elif (
            short in decision.approve
            or s.approval_key in decision.approve
            or ("all" in decision.approve and asked_here)
        ):
            rt.store.decide_approval(s.approval_key, "approved", by=by, reason=decision.reason)


# -- the CLI side: `syncbridge approve/reject` resume the run that waits ---------------------------


@dataclass
class Resumed:
    flow_run_id: str
    what: str  # resumed | running | ended | unreachable
    detail: str = ""


def resume_waiting(rows: list[dict[str, Any]], decided: list[str], status: str) -> list[Resumed]:
    """Resume the flow runs that wait for these decisions, and say what became of each one."""
    from prefect import get_client
    from prefect.flow_runs import resume_flow_run

    runs: dict[str, str | None] = {}
    for r in rows:
        summary = r.get("summary") or {}
        if r["key"] in decided and summary.get("flow_run_id"):
            runs[summary["flow_run_id"]] = summary.get("deadline_run")
    field = "approve" if status == "approved" else "reject"
    out = []
    for fid in sorted(runs):
        try:
            with get_client(sync_client=True) as client:
                state = _state(client, fid)
            if state is not None and state.is_paused():
                resume_flow_run(UUID(fid), run_input={field: [k[:12] for k in decided], "approver": "cli"})
                _drop_deadline_run(runs[fid])
                out.append(Resumed(fid, "resumed"))
            elif state is not None and not state.is_final():
                out.append(Resumed(fid, "running", state.name))
            else:
                out.append(Resumed(fid, "ended", state.name if state else "gone"))
        except Exception as exc:  # no Prefect API here: the store has the decision
            out.append(Resumed(fid, "unreachable", str(exc).splitlines()[0][:200] if str(exc) else ""))
    return out
