"""The steps of a run, Prefect-free: sync → load outcomes → link → plan → apply.

The CLI calls these directly; the Prefect flows in ``syncbridge.flows`` call the same functions as tasks.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from syncbridge import privacy, sharedlimit
from syncbridge.actions import Action
from syncbridge.apply import Applier, ApplyResult
from syncbridge.bulk import PreparedPage
from syncbridge.config import Settings, load_config
from syncbridge.connector import Connector, Window, connector_class
from syncbridge.corrections import earlier_notes
from syncbridge.errors import SyncbridgeError
from syncbridge.fieldtypes import FieldDefs, definitions_for
from syncbridge.matching import LinkSummary, link_outcomes
from syncbridge.outcomes import OutcomeBatch, read_outcomes
from syncbridge.plan import Plan, PlanState, make_plan
from syncbridge.readahead import fewer_collections, read_ahead
from syncbridge.records import count_refused
from syncbridge.redact import redact
from syncbridge.store import Store

log = logging.getLogger("syncbridge.steps")

Progress = Callable[[str, int, int | None], None]
#: pages fetched, mapped and prepared ahead of the one being written
READ_AHEAD = 3


def _noop(_what: str, _done: int, _total: int | None) -> None:
    return None


@dataclass
class SyncResult:
    connector: str
    stream: str
    records: int = 0
    pages: int = 0
    skipped_invalid: int = 0  # vendor records refused (no valid id, malformed): counted, never stored
    seconds: float = 0.0
    window_since: datetime | None = None
    window_until: datetime | None = None


@dataclass
class RunSummary:
    outcomes_read: int = 0
    quarantined: int = 0
    duplicates: int = 0
    links: dict[str, int] = field(default_factory=dict)
    planned: int = 0
    already_done: int = 0
    apply: dict[str, int] = field(default_factory=dict)
    synced: dict[str, int] = field(default_factory=dict)
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    ambiguous: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    conversions: list[dict[str, Any]] = field(default_factory=list)
    skipped_invalid: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcomes": {
                "read": self.outcomes_read,
                "quarantined": self.quarantined,
                "duplicates": self.duplicates,
                **self.links,
            },
            "actions": {"planned": self.planned, "already_done": self.already_done, **self.apply},
            "synced": self.synced,
            "skipped_invalid": self.skipped_invalid,
            "quarantine": self.quarantine,
            "ambiguous": self.ambiguous,
            "errors": self.errors,
            "capability_gaps": self.skipped,
            "conversions": self.conversions,
        }


class Runtime:
    """Settings + store + connectors for one process.  Close it (or use it as a context manager)."""

    def __init__(self, settings: Settings, *, store: Store | None = None) -> None:
        self.settings = settings
        self.store = store or Store(settings.state.url)
        privacy.bind(self.store, settings)  # e-mails in clear or as keyed hashes (privacy.hash_emails)
        self._connectors: dict[str, Connector] = {}
        #: ``connector/stream`` → vendor records refused by sync_stream in this process (run summary)
        self.skipped_invalid: dict[str, int] = {}

    @classmethod
    def from_file(cls, path: str | Path) -> Runtime:
        return cls(load_config(path))

    def connector(self, name: str) -> Connector:
        if name not in self._connectors:
            block = self.settings.connectors[name]
            cls = connector_class(block.type)
            self._connectors[name] = cls(name, block, state=self.store.state_for(name))
            sharedlimit.attach(self._connectors[name], self.store)  # no-op unless shared_rate_limit is set
        return self._connectors[name]

    def connectors(self) -> dict[str, Connector]:
        return {name: self.connector(name) for name in self.settings.connectors}

    def streams_for(self, name: str) -> list[str]:
        wanted = self.settings.sync.streams.get(name)
        specs = [s for s in connector_class(self.settings.connectors[name].type).streams]
        chosen = {s.name for s in specs if wanted is None or s.name in wanted}
        # a stream whose records a chosen stream already yields is not read a second time
        return [s.name for s in specs if s.name in chosen and s.covered_by not in chosen]

    def close(self) -> None:
        for c in self._connectors.values():
            c.close()
        self.store.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def sync_stream(
    rt: Runtime,
    name: str,
    stream: str,
    *,
    full: bool = False,
    progress: Progress = _noop,
    now: datetime | None = None,
) -> SyncResult:
    """Read one stream incrementally into the mirror; the cursor moves only when the stream completes."""
    connector = rt.connector(name)
    spec = connector.stream(stream)
    until = now or datetime.now(UTC)
    cursor = None if full or not spec.incremental else rt.store.get_cursor(name, stream)
    lookback = timedelta(minutes=rt.settings.connectors[name].lookback_minutes)
    since = cursor - lookback if cursor else None
    result = SyncResult(name, stream, window_since=since, window_until=until)
    started = time.monotonic()
    # three threads (readahead.py): one fetches and maps the vendor's pages (the connector's read), one
    # screens them and turns them into rows, this one writes; each waits on the one before only when it
    # runs ahead.  The fetching thread asks for the next page as soon as it has mapped one, so the
    # vendor builds it while the rows of the last one are prepared and written
    fetched = read_ahead(connector.read(stream, Window(since, until)), READ_AHEAD, name="syncbridge-fetch")

    def prepared() -> Iterator[PreparedPage]:
        with closing(fetched):  # closed (and its thread stopped) when the writer stops this one
            for page in fetched:
                result.skipped_invalid += count_refused(page)  # Refused records: counted, never stored
                # forgotten people are dropped, deletions in the ATS erased locally, before the rows
                yield rt.store.prepare_page(
                    name, spec.entity, stream, privacy.screen_page(rt.store, name, page)
                )

    with (
        fewer_collections(),
        rt.store.page_writer() as writer,
        closing(read_ahead(prepared(), READ_AHEAD, idle=writer.commit)) as ready,
    ):
        for page in ready:
            result.records += writer.write(page)
            result.pages += 1
            progress(f"{name}/{stream}", result.records, None)
    rt.store.set_cursor(name, stream, until)
    result.seconds = time.monotonic() - started
    if result.skipped_invalid:
        key = f"{name}/{stream}"
        rt.skipped_invalid[key] = rt.skipped_invalid.get(key, 0) + result.skipped_invalid
        log.warning(
            "%s/%s: %d vendor record(s) refused (no valid id or malformed; not stored)",
            name,
            stream,
            result.skipped_invalid,
        )
    log.info(
        "synced %s/%s: %d records in %d pages (%.1f s)",
        name,
        stream,
        result.records,
        result.pages,
        result.seconds,
    )
    return result


def load_outcomes(rt: Runtime, run_id: str) -> OutcomeBatch:
    batch = read_outcome_batch(rt)
    record_quarantine(rt, run_id, batch)
    return batch


def read_outcome_batch(rt: Runtime) -> OutcomeBatch:
    """The outcomes file, read and screened (forgotten people), its outcomes recorded in the store."""
    batch = privacy.screen_outcomes(rt.store, read_outcomes(rt.settings.outcomes))  # forgotten people
    rt.store.record_outcomes(batch.outcomes)
    return batch


def record_quarantine(rt: Runtime, run_id: str, batch: OutcomeBatch) -> None:
    rt.store.record_quarantine(run_id, str(rt.settings.outcomes.path), batch.quarantined)
    for q in batch.quarantined:
        log.info("outcome row %d quarantined: %s", q.line, q.reason)


def link(rt: Runtime, batch: OutcomeBatch) -> LinkSummary:
    return link_outcomes(rt.store, rt.settings, batch.outcomes)


class StoreView(PlanState):
    """The planner's read-only view of the state store (ledger look-ups cached for one plan)."""

    def __init__(self, rt: Runtime) -> None:
        self.store = rt.store
        self._done: dict[str, str | None] = {}
        self._field_defs = definitions_for(rt)
        self._earlier = earlier_notes(rt.store)

    def done(self, key: str) -> str | None:
        if key not in self._done:
            row = self.store.ledger_get(key)
            self._done[key] = row["remote_ref"] if row and row["status"] == "done" else None
        return self._done[key]

    def unfinished(self, key: str) -> bool:
        row = self.store.ledger_get(key)
        return row is not None and row["status"] != "done"

    def open_requisition(self, connector: str, code: str) -> str | None:
        return self.store.open_requisition(connector, code)

    def closed_requisition(self, connector: str, code: str) -> bool:
        return self.store.closed_requisition(connector, code)

    def approval(self, key: str) -> str | None:
        return self.store.approval_status(key)

    def user_for(self, connector: str, email: str) -> str | None:
        return self.store.user_id_by_email(connector, email)

    def field_defs(self, connector: str) -> FieldDefs | None:
        return self._field_defs(connector)

    def earlier_note(self, connector: str, outcome_id: str) -> Mapping[str, Any] | None:
        return self._earlier(connector, outcome_id)


def plan(
    rt: Runtime,
    batch: OutcomeBatch,
    links: LinkSummary,
    *,
    connector: str | None = None,
    request_approvals: bool = True,
) -> Plan:
    """Plan the writes; with ``connector``, only those for outcomes routed to that connector.  Conversions
    that wait for approval are recorded as pending approvals unless ``request_approvals`` is False."""
    capabilities = {
        name: connector_class(block.type).capabilities for name, block in rt.settings.connectors.items()
    }
    chosen = [lk for lk in links.links if connector is None or lk.connector == connector]
    the_plan = make_plan(rt.settings, batch.outcomes, chosen, capabilities=capabilities, state=StoreView(rt))
    for s in the_plan.strong:
        if (
            request_approvals
            and s.state == "awaiting approval"
            and rt.store.request_approval(
                s.approval_key, outcome_id=s.outcome_id, connector=s.connector, rule=s.rule, summary=s.summary
            )
        ):
            log.info("conversion of outcome %s waits for approval (%s)", s.outcome_id, s.approval_key[:12])
    return the_plan


def apply(
    rt: Runtime, actions: list[Action], *, run_id: str | None = None, progress: Progress = _noop
) -> ApplyResult:
    applier = Applier(
        rt.store,
        {n: rt.connector(n) for n in {a.connector for a in actions}},
        run_id=run_id,
        progress=lambda i, n: progress("actions", i, n),
        parallelism={n: rt.settings.connectors[n].write_parallelism for n in {a.connector for a in actions}},
    )
    return applier.apply(actions)


def notify_assessments(rt: Runtime) -> dict[str, int]:
    """Tell Greenhouse about micro-internships it ordered whose outcome has now arrived (a PATCH per
    order, once); nothing when syncbridge is not an assessment partner."""
    if rt.settings.assessment is None:
        return {}
    from syncbridge.assessment import notify_completed

    counts = notify_completed(rt)
    if any(counts.values()):
        log.info("assessment orders: %s", counts)
    return counts


def summarize(
    batch: OutcomeBatch,
    links: LinkSummary,
    the_plan: Plan,
    result: ApplyResult | None,
    synced: dict[str, int] | None = None,
    skipped_invalid: dict[str, int] | None = None,
) -> RunSummary:
    s = RunSummary(
        outcomes_read=batch.rows_read,
        quarantined=len(batch.quarantined),
        duplicates=batch.duplicates,
        links=links.counts(),
        planned=len(the_plan.actions),
        already_done=the_plan.already_done,
        apply=result.counts() if result else {},
        synced=synced or {},
        quarantine=[
            {"line": q.line, "outcome_id": q.outcome_id, "reason": q.reason} for q in batch.quarantined
        ],
        ambiguous=[
            {"outcome_id": lk.outcome_id, "connector": lk.connector, "candidates": list(lk.candidates)}
            for lk in links.links
            if lk.status == "ambiguous"
        ],
        errors=result.errors if result else [],
        skipped=the_plan.skipped,
        conversions=[
            {
                "outcome_id": c.outcome_id,
                "connector": c.connector,
                "rule": c.rule,
                "code": c.code,
                "state": c.state,
                "approval": c.approval_key[:12],
            }
            for c in the_plan.strong
        ],
        skipped_invalid=dict(skipped_invalid or {}),
    )
    return s


class RunFailed(SyncbridgeError):
    """A run that finished but could not do all its work (some writes failed).  Carries the summary so
    that callers (the CLI, Prefect's failed state) can still show what did happen."""

    def __init__(self, message: str, summary: dict[str, Any]) -> None:
        super().__init__(message)
        self.summary = summary


def new_run_id() -> str:
    return uuid.uuid4().hex[:16]


@contextmanager
def recorded_run(
    rt: Runtime, flow: str, connector: str | None = None, run_id: str | None = None
) -> Iterator[dict[str, Any]]:
    """Record a run in ``sb_runs``: running → completed/failed with counts and the reason, or paused when
    the run is suspended while waiting for approval (``info["status"] = "paused"``, then it re-runs).

    The run holds a liveness lock while it runs (:mod:`syncbridge.liveness`): if its process is killed,
    the next run takes over its claims at once and marks it ``crashed``."""
    from syncbridge import liveness

    run_id = run_id or new_run_id()
    lock = liveness.RunLock(rt.store, run_id)
    rt.store.run_started(run_id, flow, connector, owner=liveness.owner(), lock=lock.acquire())
    for dead in rt.store.sweep_dead_runs():
        log.warning("run %s died while running (killed?); marked crashed, this run finishes its work", dead)
    info: dict[str, Any] = {"run_id": run_id, "counts": {}}
    try:
        try:
            yield info
        except BaseException as exc:
            if info.get("status") == "paused":  # suspended by the orchestrator to wait for approval
                rt.store.run_finished(run_id, "paused", info.get("counts"))
                raise
            reason = redact(f"{exc.__class__.__name__}: {exc}")
            rt.store.run_finished(run_id, "failed", info.get("counts"), error=reason)
            raise
        status = "failed" if info.get("failed") else "completed"
        rt.store.run_finished(run_id, status, info.get("counts"), error=info.get("error"))
    finally:
        lock.release()


def run_all(
    rt: Runtime,
    *,
    dry_run: bool = False,
    connector: str | None = None,
    full: bool = False,
    progress: Progress = _noop,
) -> RunSummary:
    """The whole pipeline without Prefect (``syncbridge run --no-prefect`` and the tests)."""
    with recorded_run(rt, "pipeline", connector) as info:
        synced = sync_all(rt, connector=connector, full=full, progress=progress)
        batch = load_outcomes(rt, info["run_id"])
        links = link(rt, batch)
        the_plan = plan(rt, batch, links, connector=connector)
        result = None if dry_run else apply(rt, the_plan.actions, run_id=info["run_id"], progress=progress)
        if not dry_run:
            notify_assessments(rt)
        summary = summarize(batch, links, the_plan, result, synced, rt.skipped_invalid)
        info["counts"] = summary.as_dict()["actions"] | summary.as_dict()["outcomes"]
        info["failed"] = bool(result and result.incomplete)
        if result and result.incomplete:
            info["error"] = incomplete_message(result)
    return summary


def sync_all(
    rt: Runtime, *, connector: str | None = None, full: bool = False, progress: Progress = _noop
) -> dict[str, int]:
    """Every stream of one connector (or of all): ``connector/stream`` → records stored."""
    synced: dict[str, int] = {}
    for name in [connector] if connector else list(rt.settings.connectors):
        for stream in rt.streams_for(name):
            synced[f"{name}/{stream}"] = sync_stream(rt, name, stream, full=full, progress=progress).records
    return synced


def settled_run(
    rt: Runtime, *, connector: str | None = None, dry_run: bool = False, progress: Progress = _noop
) -> RunSummary | None:
    """A pipeline run that turns out to have nothing to do, finished without an orchestrator.

    ``syncbridge run`` calls this before it starts Prefect, whose start-up and bookkeeping are nearly all
    of the time of a run that writes nothing.  It syncs every stream (incrementally), then reads, links
    and plans the outcomes.  When the plan writes nothing, no conversion waits for approval, no run is
    suspended waiting for a decision, and every quarantined outcome row was already reported by an
    earlier run, the run ends here: recorded in ``sb_runs`` as a completed ``pipeline`` run, with the
    summary the flow would have given, which is returned.  Otherwise it returns None having written only
    the synced records, the outcomes and their links (what the flow writes first, the same way): the
    caller runs the pipeline flow, whose sync then reads only what changed since, within the lookback."""
    synced = sync_all(rt, connector=connector, progress=progress)
    batch = read_outcome_batch(rt)
    source = str(rt.settings.outcomes.path)
    if rt.store.pending_approvals() or not rt.store.quarantine_reported(source, batch.quarantined):
        return None
    links = link(rt, batch)
    the_plan = plan(rt, batch, links, connector=connector, request_approvals=False)
    if the_plan.actions or any(s.state == "awaiting approval" for s in the_plan.strong):
        return None
    with recorded_run(rt, "pipeline", connector) as info:
        record_quarantine(rt, info["run_id"], batch)
        result = None if dry_run else ApplyResult()  # nothing to apply
        if not dry_run:
            notify_assessments(rt)
        summary = summarize(batch, links, the_plan, result, synced, rt.skipped_invalid)
        info["counts"] = summary.as_dict()["actions"] | summary.as_dict()["outcomes"]
    log.info("nothing to write: the run finished without an orchestrator")
    return summary


def incomplete_message(result: ApplyResult) -> str:
    """One line for a run that left writes undone (failed, blocked or busy in another run)."""
    parts = [
        f"{n} {what}"
        for n, what in (
            (result.failed, "failed"),
            (result.blocked, "blocked behind an undone write"),
            (result.busy, "busy in another run"),
        )
        if n
    ]
    return f"{result.incomplete} write(s) not done ({', '.join(parts)}); the next run retries them"
