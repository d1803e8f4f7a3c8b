"""Prefect flows: ``sync``, ``link``, ``history`` and ``pipeline`` (all of them).

Orchestration only: each task calls a function of :mod:`syncbridge.pipeline`.  Task grain is
(connector, stream) for reads and a batch of actions for writes, never one task per record.  Reads are
retried by Prefect as whole units (HTTP-level retries already happen inside the connector); writes are
not, because the applier's ledger decides what may be sent again.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from syncbridge import pipeline as steps
from syncbridge.apply import ApplyResult
from syncbridge.outcomes import OutcomeBatch
from syncbridge.pipeline import RunSummary, Runtime
from syncbridge.plan import Action, Plan

APPLY_BATCH = 200


@task(
    name="sync-stream",
    retries=2,
    retry_delay_seconds=[2, 10],
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
def plan_task(rt: Runtime, batch: OutcomeBatch, links: steps.LinkSummary) -> Plan:
    the_plan = steps.plan(rt, batch, links)
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
    rows = [
        {"step": "outcomes", **{k: v for k, v in d["outcomes"].items()}},
        {"step": "actions", **{k: v for k, v in d["actions"].items()}},
    ]
    create_table_artifact(
        table=[
            {"measure": f"{r['step']}.{k}", "value": v} for r in rows for k, v in r.items() if k != "step"
        ],
        key="syncbridge-run-summary",
        description="syncbridge run summary",
    )
    if summary.errors or summary.quarantine:
        lines = ["# syncbridge: needs attention", ""]
        lines += [
            f"- action `{e['action']}` for outcome `{e['outcome']}` failed: {e['error']}"
            for e in summary.errors
        ]
        lines += [f"- outcome row {q['line']} quarantined: {q['reason']}" for q in summary.quarantine]
        create_markdown_artifact("\n".join(lines), key="syncbridge-attention")


def _run_id() -> str:
    fid = flow_run.get_id()
    return str(fid).replace("-", "")[:16] if fid else steps.new_run_id()


@flow(name="syncbridge-sync", log_prints=False)
def sync_flow(config: str, connector: str | None = None, full: bool = False) -> dict[str, int]:
    """Read every stream of one (or every) connector into the mirror."""
    with Runtime.from_file(config) as rt, steps.recorded_run(rt, "sync", connector, _run_id()) as info:
        synced = _sync_all(rt, connector, full)
        info["counts"] = synced
        return synced


@flow(name="syncbridge-history")
def history_flow(config: str, dry_run: bool = False) -> dict[str, Any]:
    """Link outcomes to ATS people and write the micro-internship history (no sync first)."""
    with Runtime.from_file(config) as rt, steps.recorded_run(rt, "history", None, _run_id()) as info:
        batch, links = link_task(rt, info["run_id"])
        the_plan = plan_task(rt, batch, links)
        result = None if dry_run else _apply_all(rt, the_plan, info["run_id"])
        summary = steps.summarize(batch, links, the_plan, result)
        _publish(summary)
        info["counts"] = summary.as_dict()["actions"]
        info["failed"] = bool(result and result.failed)
        return summary.as_dict()


@flow(name="syncbridge-pipeline")
def pipeline_flow(config: str, dry_run: bool = False, full: bool = False) -> dict[str, Any]:
    """sync → link → plan → apply, the job HR ops schedule."""
    with Runtime.from_file(config) as rt, steps.recorded_run(rt, "pipeline", None, _run_id()) as info:
        synced = _sync_all(rt, None, full)
        batch, links = link_task(rt, info["run_id"])
        the_plan = plan_task(rt, batch, links)
        result = None if dry_run else _apply_all(rt, the_plan, info["run_id"])
        summary = steps.summarize(batch, links, the_plan, result, synced)
        _publish(summary)
        d = summary.as_dict()
        info["counts"] = d["actions"] | d["outcomes"]
        info["failed"] = bool(result and result.failed)
        if result and result.failed:
            info["error"] = f"{result.failed} action(s) failed"
        return d


@flow(name="syncbridge-link")
def link_flow(config: str) -> dict[str, int]:
    """Load outcomes and match them to ATS people (reads the mirror only)."""
    with Runtime.from_file(config) as rt, steps.recorded_run(rt, "link", None, _run_id()) as info:
        _batch, links = link_task(rt, info["run_id"])
        info["counts"] = links.counts()
        return links.counts()
