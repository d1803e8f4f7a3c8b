"""Prefect flows: ``sync``, ``link``, ``history`` and ``pipeline`` (all of them).

Orchestration only: each task calls a function of :mod:`syncbridge.steps`.  Task grain is
(connector, stream) for reads and a batch of actions for writes, never one task per record.  Reads are
retried by Prefect as whole units (HTTP-level retries already happen inside the connector); writes are
not, because the applier's ledger decides what may be sent again.

Every flow takes one pydantic parameter model, so a run started from the Prefect UI with bad parameters
is refused before it starts.  A run whose writes partly failed ends **Failed** (after publishing its
artifacts) with :class:`~syncbridge.steps.RunFailed`, which carries the summary.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from pydantic import BaseModel, ConfigDict, Field

from syncbridge import steps
from syncbridge.actions import Action
from syncbridge.apply import ApplyResult
from syncbridge.flows import approval
from syncbridge.outcomes import OutcomeBatch
from syncbridge.plan import Plan
from syncbridge.redact import redact
from syncbridge.steps import RunFailed, RunSummary, Runtime

APPLY_BATCH = 200


class FlowParams(BaseModel):
    """Parameters every syncbridge flow takes."""

    model_config = ConfigDict(extra="forbid")
    config: str = Field(description="path of the syncbridge YAML configuration")
    connector: str | None = Field(default=None, description="only this connector (default: all)")


class SyncParams(FlowParams):
    full: bool = Field(default=False, description="ignore cursors and read everything again")


class HistoryParams(FlowParams):
    dry_run: bool = Field(default=False, description="plan only, write nothing")


class PipelineParams(FlowParams):
    full: bool = False
    dry_run: bool = False
    wait_for_approval: bool = Field(
        default=True,
        description="with manual approval: wait (suspended) for a decision in the Prefect UI or the CLI",
    )
    approval_timeout_seconds: int | None = Field(
        default=None, ge=1, description="default: conversion.approval_timeout_minutes from the config"
    )


def _run_name(kind: str) -> Any:
    def name() -> str:
        params = flow_run.parameters.get("params") or {}
        connector = (
            params.get("connector") if isinstance(params, dict) else getattr(params, "connector", None)
        )
        return f"{connector or 'all'}-{kind}-{datetime.now(UTC):%Y%m%d-%H%M%S}"

    return name


def _transient(_task: Any, _run: Any, state: Any) -> bool:
    """Retry a read task only for failures that may pass (network, 5xx, 429), never for bad credentials,
    missing permissions or refused requests: retrying those only delays the failure."""
    from syncbridge.errors import ApiError

    try:
        state.result()
    except ApiError as exc:
        return exc.retryable
    except Exception:
        return False
    return False


@task(
    name="sync-stream",
    retries=2,
    retry_delay_seconds=[2, 10],
    retry_condition_fn=_transient,
    cache_policy=NO_CACHE,
    task_run_name="sync {connector}/{stream}",
)
def sync_stream_task(rt: Runtime, connector: str, stream: str, full: bool = False) -> dict[str, Any]:
    result = steps.sync_stream(rt, connector, stream, full=full)
    get_run_logger().info("%s/%s: %d records, %d pages", connector, stream, result.records, result.pages)
    return {
        "connector": connector,
        "stream": stream,
        "records": result.records,
        "pages": result.pages,
        "skipped_invalid": result.skipped_invalid,
        "seconds": round(result.seconds, 2),
    }


@task(name="load-and-link", cache_policy=NO_CACHE)
def link_task(rt: Runtime, run_id: str) -> tuple[OutcomeBatch, steps.LinkSummary]:
    batch = steps.load_outcomes(rt, run_id)
    links = steps.link(rt, batch)
    get_run_logger().info(
        "outcomes: %d read, %d quarantined; links: %s",
        batch.rows_read,
        len(batch.quarantined),
        links.counts(),
    )
    return batch, links


@task(name="plan", cache_policy=NO_CACHE)
def plan_task(rt: Runtime, batch: OutcomeBatch, links: steps.LinkSummary, connector: str | None) -> Plan:
    the_plan = steps.plan(rt, batch, links, connector=connector)
    rows = the_plan.rows()
    create_table_artifact(
        table=rows
        or [
            {
                "key": "-",
                "connector": "-",
                "action": "nothing to do",
                "outcome": "-",
                "target": "-",
                "what": f"{the_plan.already_done} already done",
            }
        ],
        key="syncbridge-plan",
        description=f"{len(rows)} write(s) planned; {the_plan.already_done} already done",
    )
    return the_plan


@task(name="apply-batch", cache_policy=NO_CACHE, task_run_name="apply {first}-{last}")
def apply_task(rt: Runtime, actions: list[Action], run_id: str, first: int, last: int) -> ApplyResult:
    result = steps.apply(rt, actions, run_id=run_id)
    get_run_logger().info("actions %d-%d: %s", first, last, result.counts())
    return result


def _sync_all(rt: Runtime, connector: str | None, full: bool) -> dict[str, int]:
    names = [connector] if connector else list(rt.settings.connectors)
    synced: dict[str, int] = {}
    for name in names:
        for stream in rt.streams_for(name):
            out = sync_stream_task(rt, name, stream, full)
            synced[f"{name}/{stream}"] = out["records"]
    return synced


def _apply_all(rt: Runtime, the_plan: Plan, run_id: str) -> ApplyResult:
    total = ApplyResult()
    actions = the_plan.actions
    for start in range(0, len(actions), APPLY_BATCH):
        chunk = actions[start : start + APPLY_BATCH]
        total.merge(apply_task(rt, chunk, run_id, start + 1, start + len(chunk)))
    return total


def _publish(summary: RunSummary) -> None:
    d = summary.as_dict()
    table = [{"measure": f"outcomes.{k}", "value": v} for k, v in d["outcomes"].items()]
    table += [{"measure": f"actions.{k}", "value": v} for k, v in d["actions"].items()]
    table += [{"measure": f"synced.{k}", "value": v} for k, v in d["synced"].items()]
    create_table_artifact(table=table, key="syncbridge-run-summary", description="syncbridge run summary")
    if summary.errors or summary.quarantine:
        lines = ["# syncbridge: needs attention", ""]
        lines += [
            f"- action `{e['action']}` for outcome `{e['outcome']}` failed: {e['error']}"
            for e in summary.errors
        ]
        lines += [
            f"- outcome {'row ' + str(q['line']) + ' ' if q['line'] else ''}quarantined: {q['reason']}"
            for q in summary.quarantine
        ]
        create_markdown_artifact("\n".join(lines), key="syncbridge-attention")


@contextmanager
def _runtime(params: FlowParams, flow_name: str) -> Iterator[tuple[Runtime, dict[str, Any]]]:
    """Open the runtime, record the run, and on failure publish the reason (no personal data)."""
    fid = flow_run.get_id()
    run_id = str(fid).replace("-", "")[:16] if fid else steps.new_run_id()
    try:
        with (
            Runtime.from_file(params.config) as rt,
            steps.recorded_run(rt, flow_name, params.connector, run_id) as info,
        ):
            yield rt, info
    except RunFailed:
        raise
    except Exception as exc:
        create_markdown_artifact(
            f"# syncbridge {flow_name} failed\n\n{redact(f'{exc.__class__.__name__}: {exc}')}",
            key="syncbridge-failure",
        )
        raise


def _finish(summary: RunSummary, result: ApplyResult | None, info: dict[str, Any]) -> dict[str, Any]:
    _publish(summary)
    d = summary.as_dict()
    info["counts"] = d["actions"] | d["outcomes"]
    if result and result.incomplete:  # failed, blocked or busy in another run: not finished
        info["failed"] = True
        info["error"] = steps.incomplete_message(result)
    return d


@flow(name="syncbridge-sync", flow_run_name=_run_name("sync"))
def sync_flow(params: SyncParams) -> dict[str, int]:
    """Read every stream of one (or every) connector into the mirror."""
    with _runtime(params, "sync") as (rt, info):
        synced = _sync_all(rt, params.connector, params.full)
        info["counts"] = synced
        create_table_artifact(
            table=[{"stream": k, "records": v} for k, v in synced.items()],
            key="syncbridge-sync-summary",
            description="records read per stream",
        )
        return synced


@flow(name="syncbridge-link", flow_run_name=_run_name("link"))
def link_flow(params: FlowParams) -> dict[str, int]:
    """Load outcomes and match them to ATS people (reads the mirror only)."""
    with _runtime(params, "link") as (rt, info):
        _batch, links = link_task(rt, info["run_id"])
        info["counts"] = links.counts()
        return links.counts()


@flow(name="syncbridge-history", flow_run_name=_run_name("history"))
def history_flow(params: HistoryParams) -> dict[str, Any]:
    """Link outcomes to ATS people and write the micro-internship history (no sync first)."""
    with _runtime(params, "history") as (rt, info):
        batch, links = link_task(rt, info["run_id"])
        the_plan = plan_task(rt, batch, links, params.connector)
        result = None if params.dry_run else _apply_all(rt, the_plan, info["run_id"])
        d = _finish(steps.summarize(batch, links, the_plan, result), result, info)
    if result and result.incomplete:
        raise RunFailed(steps.incomplete_message(result), d)
    return d


@flow(name="syncbridge-pipeline", flow_run_name=_run_name("pipeline"))
def pipeline_flow(params: PipelineParams) -> dict[str, Any]:
    """sync → link → plan → apply: the job HR ops schedule."""
    with _runtime(params, "pipeline") as (rt, info):
        approval.end_expired_waits(rt)
        synced = _sync_all(rt, params.connector, params.full)
        batch, links = link_task(rt, info["run_id"])
        the_plan = plan_task(rt, batch, links, params.connector)
        # everything that needs no decision is written before waiting for one (see flows/approval.py)
        result = None if params.dry_run else _apply_all(rt, the_plan, info["run_id"])
        if not params.dry_run:
            steps.notify_assessments(rt)
        pending = [s for s in the_plan.strong if s.state == "awaiting approval"]
        if result is not None and pending and params.wait_for_approval:
            timeout = params.approval_timeout_seconds or rt.settings.conversion.approval_timeout_minutes * 60
            if approval.wait_for_approval(rt, pending, timeout, info, params.model_dump()):
                decided = plan_task(rt, batch, links, params.connector)
                result.merge(_apply_all(rt, decided, info["run_id"]))
                the_plan = _after_decision(the_plan, decided)
        d = _finish(steps.summarize(batch, links, the_plan, result, synced, rt.skipped_invalid), result, info)
    if result and result.incomplete:
        raise RunFailed(steps.incomplete_message(result), d)
    return d


def _after_decision(first: Plan, decided: Plan) -> Plan:
    """The run's plan once approvals were decided: the first plan's writes plus the conversions."""
    keys = {a.key for a in first.actions}
    return Plan(
        actions=first.actions + [a for a in decided.actions if a.key not in keys],
        already_done=first.already_done,
        skipped=decided.skipped,
        strong=decided.strong,
    )


FLOWS: dict[str, tuple[Any, type[FlowParams]]] = {
    "sync": (sync_flow, SyncParams),
    "pipeline": (pipeline_flow, PipelineParams),
    "history": (history_flow, HistoryParams),
}


def run_and_summarize(flow_name: str, params: FlowParams) -> dict[str, Any]:
    """Run a flow in this process; a failed run raises (RunFailed keeps its summary)."""
    fn, _ = FLOWS[flow_name]
    state = fn(params=params, return_state=True)
    result = state.result(raise_on_failure=False)
    if isinstance(result, BaseException):
        raise result
    return dict(result)
