"""The ``syncbridge`` command.

Exit codes: 0 success; 1 the run finished but some writes failed or were left pending (blocked, or busy
in another run), or the vendor refused a call; 2 bad configuration or input (one line naming the
problem, no traceback).
"""

from __future__ import annotations

import atexit
import gc
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from syncbridge import cli_inbound, privacy_cli
from syncbridge.errors import ApiError, ConfigError, SyncbridgeError
from syncbridge.outcomes import OutcomeFileError
from syncbridge.redact import install as install_redaction

DEFAULT_CONFIG = "config/syncbridge.yaml"
log = logging.getLogger("syncbridge.cli")

# At exit, the objects still alive are left to the operating system instead of one last full garbage
# collection over all of them (about a fifth of the CPU of a short command such as a run with nothing to
# do).  Registered at import, before Prefect is imported: it runs after the exit handlers registered
# later (Prefect flushes its events and logs in those).
atexit.register(gc.freeze)


def _setup_logging(verbose: int) -> None:
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose == 1 else logging.WARNING
    root = logging.getLogger()
    if not any(getattr(h, "_syncbridge", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler._syncbridge = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    logging.getLogger("syncbridge").setLevel(level)
    install_redaction()


def _progress_printer(enabled: bool) -> Callable[[str, int, int | None], None]:
    """Progress on a terminal (one rewritten line on stderr); silent when output is not a TTY."""
    if not enabled:
        return lambda *_: None

    def show(what: str, done: int, total: int | None) -> None:
        text = f"{what}: {done}" + (f"/{total}" if total else "")
        click.echo(f"\r\033[K{text}", nl=False, err=True)

    return show


def _done_progress(enabled: bool) -> None:
    if enabled:
        click.echo("\r\033[K", nl=False, err=True)


class _Ctx:
    def __init__(self, config: str, verbose: int) -> None:
        self.config = config
        self.verbose = verbose

    def runtime(self) -> Any:
        from syncbridge.steps import Runtime

        return Runtime.from_file(self.config)


def _handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ConfigError, OutcomeFileError) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except ApiError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except SyncbridgeError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)

    return wrapper


@contextmanager
def _vendor_names_in_help(command: click.Command) -> Iterator[None]:
    """While help is shown, ``{vendors}`` and ``{sandboxes}`` in the command's and its options' help name
    the installed vendor plugins (read from the entry points then, nothing imported)."""
    from syncbridge.plugins import sandbox_vendors, vendors

    names = {
        "{vendors}": ", ".join(vendors()) or "none installed",
        "{sandboxes}": ", ".join(sandbox_vendors()) or "none installed",
    }
    items: list[Any] = [command, *command.params]
    saved = [getattr(item, "help", None) for item in items]
    for item, text in zip(items, saved, strict=True):
        if text:
            for placeholder, value in names.items():
                text = text.replace(placeholder, value)
            item.help = text
    try:
        yield
    finally:
        for item, text in zip(items, saved, strict=True):
            if text:
                item.help = text


class _VendorGroup(click.Group):
    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with _vendor_names_in_help(self):
            super().format_help(ctx, formatter)


class _VendorCommand(click.Command):
    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with _vendor_names_in_help(self):
            super().format_help(ctx, formatter)


@click.group(cls=_VendorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-c",
    "--config",
    default=DEFAULT_CONFIG,
    envvar="SYNCBRIDGE_CONFIG",
    show_default=True,
    help="YAML configuration file (env SYNCBRIDGE_CONFIG).",
)
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.pass_context
def main(ctx: click.Context, config: str, verbose: int) -> None:
    """syncbridge: micro-internship outcomes into your ATS ({vendors}).

    \b
    Typical use:
      syncbridge validate          check the config (and --online: the credentials)
      syncbridge plan              dry run: every write it would make
      syncbridge run               sync, link, plan and apply, as a Prefect flow
      syncbridge status            cursors, links, ledger, recent runs
      syncbridge review            identity links waiting for a person (accept/reject)
      syncbridge demo              everything against a local ATS sandbox (no account needed)
    """
    _setup_logging(verbose)
    ctx.obj = _Ctx(config, verbose)


@main.command()
@click.option(
    "--online",
    is_flag=True,
    help="Also open the state store and call each ATS once (credentials, and what only the account can "
    "tell: e.g. the Greenhouse job board and source the config names).",
)
@click.option("--strict", is_flag=True, help="Treat warnings (a secret written in clear) as errors.")
@click.pass_obj
@_handle_errors
def validate(obj: _Ctx, online: bool, strict: bool) -> None:
    """Validate the configuration file and that the outcomes file exists (with --online, also the state
    store and the credentials).  Exit 2: the file is wrong; 1: the file is valid, a service refuses."""
    from syncbridge.validation import validate as run_validate

    sys.exit(run_validate(obj.config, online=online, strict=strict, echo=click.echo))


@main.command()
def schema() -> None:
    """Print the JSON Schema of the configuration file (for editors and CI checks)."""
    from syncbridge.config import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


@main.command()
@click.option("--connector", "connector_name", help="Only this connector (default: all).")
@click.option("--stream", "streams", multiple=True, help="Only these streams (repeatable).")
@click.option("--full", is_flag=True, help="Ignore cursors and read everything again.")
@click.pass_obj
@_handle_errors
def sync(obj: _Ctx, connector_name: str | None, streams: tuple[str, ...], full: bool) -> None:
    """Read candidates, applications, requisitions... from the ATS into the local mirror."""
    from syncbridge.steps import recorded_run, sync_stream

    tty = sys.stderr.isatty()
    with obj.runtime() as rt:
        names = [connector_name] if connector_name else list(rt.settings.connectors)
        for name in names:
            if name not in rt.settings.connectors:
                raise ConfigError(f"--connector: {name!r} is not configured")
            with recorded_run(rt, "sync", name) as info:
                for stream in rt.streams_for(name):
                    if streams and stream not in streams:
                        continue
                    r = sync_stream(rt, name, stream, full=full, progress=_progress_printer(tty))
                    _done_progress(tty)
                    info["counts"][stream] = r.records
                    refused = f", {r.skipped_invalid} refused (skipped_invalid)" if r.skipped_invalid else ""
                    click.echo(
                        f"{name}/{stream}: {r.records} records in {r.pages} page(s){refused}, "
                        f"{r.seconds:.1f} s"
                    )


def _plan(obj: _Ctx) -> tuple[Any, Any, Any, Any]:
    from syncbridge.steps import link, load_outcomes, new_run_id, plan

    rt = obj.runtime()
    batch = load_outcomes(rt, new_run_id())
    links = link(rt, batch)
    return rt, batch, links, plan(rt, batch, links)


def _print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    if not rows:
        return
    widths = {c: min(60, max(len(c), *(len(str(r.get(c, ""))) for r in rows))) for c in columns}
    click.echo("  ".join(c.upper().ljust(widths[c]) for c in columns))
    for r in rows:
        click.echo("  ".join(str(r.get(c, ""))[: widths[c]].ljust(widths[c]) for c in columns))


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.pass_obj
@_handle_errors
def plan(obj: _Ctx, as_json: bool) -> None:
    """Dry run: show every write the next apply would make (reads the local mirror; run sync first)."""
    from syncbridge.steps import summarize

    rt, batch, links, the_plan = _plan(obj)
    with rt:
        summary = summarize(batch, links, the_plan, None).as_dict()
        if as_json:
            click.echo(
                json.dumps(
                    {"actions": [a.model_dump() for a in the_plan.actions], "summary": summary},
                    indent=2,
                    default=str,
                )
            )
            return
        _print_table(the_plan.rows(), ["key", "connector", "action", "outcome", "target", "what"])
        click.echo(
            f"\n{len(the_plan.actions)} write(s) planned, {the_plan.already_done} already done; "
            f"outcomes: {summary['outcomes']}"
        )
        for conv in the_plan.strong:
            click.echo(
                f"strong: outcome {conv.outcome_id} → {conv.code} on {conv.connector} (rule {conv.rule}): "
                f"{conv.state} [approval id {conv.approval_key[:12]}]"
            )
        for gap in the_plan.skipped:
            click.echo(f"not planned: {gap}")
        from syncbridge.safety import formula_lines

        for line in formula_lines(the_plan.actions, rt.settings.safety.neutralise_formulas):
            click.echo(line)


@main.command()
@click.pass_obj
@_handle_errors
def apply(obj: _Ctx) -> None:
    """Execute the plan: write history to the ATS, exactly once (the ledger remembers every write)."""
    from syncbridge.steps import apply as apply_actions
    from syncbridge.steps import incomplete_message, recorded_run

    tty = sys.stderr.isatty()
    rt, _batch, _links, the_plan = _plan(obj)
    with rt, recorded_run(rt, "apply") as info:
        result = apply_actions(rt, the_plan.actions, run_id=info["run_id"], progress=_progress_printer(tty))
        _done_progress(tty)
        info["counts"] = result.counts()
        info["failed"] = bool(result.incomplete)
        if result.incomplete:
            info["error"] = incomplete_message(result)
    click.echo(
        f"applied {result.applied}, reconciled {result.reconciled}, failed {result.failed}, "
        f"blocked {result.blocked}" + (f", busy in another run {result.busy}" if result.busy else "")
    )
    for err in result.errors:
        click.echo(f"  failed: {err['action']} for outcome {err['outcome']}: {err['error']}", err=True)
    if result.incomplete:
        click.echo(f"not finished: {incomplete_message(result)}", err=True)
        sys.exit(1)


def _unfinished(actions: dict[str, Any]) -> int:
    """Writes a run left undone: a run with any exits 1."""
    return sum(int(actions.get(k) or 0) for k in ("failed", "blocked", "busy"))


def _print_summary(summary: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=str))
        return
    o, a = summary["outcomes"], summary["actions"]
    click.echo("syncbridge run summary")
    if summary.get("synced"):
        click.echo("  synced:    " + ", ".join(f"{k} {v}" for k, v in summary["synced"].items()))
    if summary.get("skipped_invalid"):
        refused = ", ".join(f"{k} {v}" for k, v in summary["skipped_invalid"].items())
        click.echo(f"  refused:   {refused} vendor record(s) without a valid id (skipped_invalid)")
    click.echo(
        f"  outcomes:  {o['read']} read, {o['quarantined']} quarantined, {o.get('linked', 0)} linked, "
        f"{o.get('ambiguous', 0)} ambiguous, {o.get('unmatched', 0)} unmatched, "
        f"{o.get('unrouted', 0)} unrouted"
        + (f", {o['review']} waiting for review (syncbridge review)" if o.get("review") else "")
    )
    click.echo(
        f"  actions:   {a['planned']} planned ({a['already_done']} already done), "
        f"{a.get('applied', 0)} applied, {a.get('reconciled', 0)} reconciled, "
        f"{a.get('failed', 0)} failed, {a.get('blocked', 0)} blocked"
        + (f", {a['busy']} busy in another run" if a.get("busy") else "")
    )
    if _unfinished(a):
        click.echo(
            f"  not finished: {_unfinished(a)} write(s) failed, blocked or busy in another run; "
            "the next run retries them"
        )
    for q in summary.get("quarantine", []):
        where = f"row {q['line']}" if q["line"] else "outcome"  # line 0: an outcome of a forgotten person
        click.echo(f"  quarantined {where}: {q['reason']}")
    for amb in summary.get("ambiguous", []):
        click.echo(
            f"  ambiguous: outcome {amb['outcome_id']} matches {len(amb['candidates'])} people "
            f"in {amb['connector']} ({', '.join(amb['candidates'])}): no writes"
        )
    for err in summary.get("errors", []):
        click.echo(f"  failed: {err['action']} for outcome {err['outcome']}: {err['error']}")
    for conv in summary.get("conversions", []):
        click.echo(
            f"  strong: outcome {conv['outcome_id']} → {conv['code']} on {conv['connector']} "
            f"(rule {conv['rule']}): {conv['state']} [approval id {conv['approval']}]"
        )
    for gap in summary.get("capability_gaps", []):
        click.echo(f"  not planned: {gap}")


@main.command()
@click.option("--dry-run", is_flag=True, help="Plan but do not write.")
@click.option("--connector", "connector_name", help="Only this connector (default: all).")
@click.option("--full", is_flag=True, help="Ignore cursors and read everything again.")
@click.option("--no-prefect", is_flag=True, help="Run in this process without Prefect.")
@click.option(
    "--wait-for-approval",
    is_flag=True,
    help="With manual approval: pause the flow until someone decides (Prefect UI or approve/reject).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
@_handle_errors
def run(
    obj: _Ctx,
    dry_run: bool,
    connector_name: str | None,
    full: bool,
    no_prefect: bool,
    wait_for_approval: bool,
    as_json: bool,
) -> None:
    """Sync, link, plan and apply: the whole pipeline (as the Prefect flow syncbridge-pipeline)."""
    from syncbridge.config import load_config
    from syncbridge.steps import RunFailed

    settings = load_config(obj.config)  # refuse a bad config before starting Prefect
    from syncbridge.store import Store

    Store(settings.state.url).close()  # ... and an unreachable state store (one line, no Prefect traceback)
    if connector_name and connector_name not in settings.connectors:
        raise ConfigError(f"--connector: {connector_name!r} is not configured")
    try:
        if no_prefect:
            from syncbridge.steps import Runtime, run_all

            tty = sys.stderr.isatty()
            with Runtime(settings) as rt:
                summary = run_all(
                    rt, dry_run=dry_run, connector=connector_name, full=full, progress=_progress_printer(tty)
                ).as_dict()
            _done_progress(tty)
        else:
            # a run with nothing to do finishes here, before Prefect is even imported (steps.settled_run)
            settled = None if full else _settled_run(settings, connector_name, dry_run)
            if settled is not None:
                summary = settled
                if not as_json:
                    click.echo("nothing to write: finished without a Prefect flow run", err=True)
            else:
                from syncbridge.prefect_local import prepare_prefect_env

                prepare_prefect_env(Path(".syncbridge"), verbose=obj.verbose > 0)
                from syncbridge.flows.runs import PipelineParams, run_and_summarize

                params = PipelineParams(
                    config=obj.config,
                    connector=connector_name,
                    dry_run=dry_run,
                    full=full,
                    wait_for_approval=wait_for_approval,
                )
                summary = run_and_summarize("pipeline", params)
    except RunFailed as failed:
        summary = failed.summary
    _print_summary(summary, as_json=as_json)
    if _unfinished(summary["actions"]):
        sys.exit(1)


def _settled_run(settings: Any, connector: str | None, dry_run: bool) -> dict[str, Any] | None:
    """The summary of a run that had nothing to do, finished in this process; None when the pipeline flow
    must run (work to do, or anything went wrong here: the flow then retries, fails and reports it in
    Prefect as usual)."""
    from syncbridge.steps import Runtime, settled_run

    try:
        with Runtime(settings) as rt:
            summary = settled_run(rt, connector=connector, dry_run=dry_run)
    except Exception as exc:  # the flow does the run, and reports in Prefect what failed
        log.info("run: %s before Prefect; the pipeline flow runs", exc.__class__.__name__)
        return None
    return summary.as_dict() if summary is not None else None


def _with_paused_runs(store: Any, last: list[dict[str, Any]], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """Runs suspended while they wait for approval are listed even when a later run of the same flow
    has finished, each with the approval ids it waits for (``syncbridge approve ID``)."""
    known = {r["run_id"] for r in last}
    rows = [
        {k: r[k] for k in keys} for r in last + [p for p in store.paused_runs() if p["run_id"] not in known]
    ]
    waiting: dict[str, list[str]] = {}
    for a in store.pending_approvals():
        run_id = (a.get("summary") or {}).get("run_id")
        if run_id:
            waiting.setdefault(run_id, []).append(a["key"][:12])
    for r in rows:
        if r["status"] == "paused":
            r["waiting_for"] = sorted(waiting.get(r["run_id"], []))
    return rows


def _fmt(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return "" if value is None else str(value)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option(
    "--person",
    "person",
    metavar="KEY",
    help="An e-mail, phone or syncbridge person id: that student's links.",
)
@click.pass_obj
@_handle_errors
def status(obj: _Ctx, as_json: bool, person: str | None) -> None:
    """Show cursors, mirror size, links, ledger counts, pending writes and recent runs."""
    from syncbridge.config import load_config
    from syncbridge.store import Store

    if person is not None:
        _person_status(obj, person, as_json)
        return

    settings = load_config(obj.config)
    store = Store(settings.state.url)
    run_keys = ("run_id", "flow", "connector", "status", "started_at", "finished_at", "counts", "error")
    try:
        store.sweep_dead_runs()  # a killed run shows as crashed, not running
        data: dict[str, Any] = {
            "state": settings.state.url.split("@")[-1],
            "last_runs": _with_paused_runs(store, store.last_runs(), run_keys),
            "cursors": store.all_cursors(),
            "mirror": store.mirror_counts(),
            "links": store.link_counts(),
            "ledger": store.ledger_counts(),
            "pending": [
                {k: r[k] for k in ("key", "connector", "kind", "outcome_id", "status", "attempts", "error")}
                for r in store.ledger_pending()
            ],
            "approvals_waiting": [
                {k: r[k] for k in ("key", "outcome_id", "connector", "rule", "created_at")}
                for r in store.pending_approvals()
            ],
            **_identity_status(store),
        }
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
        return
    click.echo(f"state: {data['state']}")
    click.echo("last run per flow and connector (failures first):")
    for r in data["last_runs"]:
        counts = ", ".join(f"{k} {v}" for k, v in (r["counts"] or {}).items() if v)
        state = r["status"]
        if state == "paused":
            ids = ", ".join(r.get("waiting_for") or [])
            state = (
                f"paused (waiting for approval {ids})" if ids else "paused (decided; waiting to be resumed)"
            )
        click.echo(
            f"  {r['flow']:<9} {r['connector'] or 'all':<18} {state:<9} {_fmt(r['started_at'])}"
            f"  {r['error'] or counts}"
        )
    click.echo("cursors:")
    for c in data["cursors"]:
        click.echo(f"  {c['connector']}/{c['stream']}: {_fmt(c['position'])}")
    click.echo("mirror:  " + "; ".join(f"{k}: {v}" for k, v in data["mirror"].items()))
    click.echo(f"links:   {data['links']}")
    click.echo(f"ledger:  {data['ledger']}")
    if data["pending"]:
        click.echo("writes not done (retried or reconciled on the next run):")
        for p in data["pending"]:
            click.echo(
                f"  {p['key'][:12]} {p['connector']} {p['kind']} outcome {p['outcome_id']}: "
                f"{p['status']} x{p['attempts']} {p['error'] or ''}"
            )
    people = data["people"]
    click.echo(
        f"people:  {people['people']} syncbridge person id(s), {people['linked_in_several_ats']} with links "
        f"in more than one ATS; {len(data['reviews_waiting'])} link(s) waiting for review (syncbridge review)"
    )
    if data["approvals_waiting"]:
        click.echo("approvals waiting:")
        for a in data["approvals_waiting"]:
            click.echo(f"  {a['key'][:12]} outcome {a['outcome_id']} on {a['connector']} ({a['rule']})")


@main.command(cls=_VendorCommand)
@click.option(
    "--workdir",
    default=".syncbridge",
    show_default=True,
    type=click.Path(path_type=Path),
    help="Where the demo keeps the sandbox, state, outcomes and Prefect home.",
)
@click.option("--reset", "do_reset", is_flag=True, help="Start again from fresh seed data.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@click.option("--size", default=500, show_default=True, help="Seeded candidates in the sandbox.")
@click.option(
    "--fault-rate",
    default=0.0,
    show_default=True,
    help="Fraction of sandbox requests answered by 429/5xx/dropped connections.",
)
@click.option("--no-prefect", is_flag=True, help="Run the pipeline in-process without Prefect.")
@click.option(
    "--vendor",
    "vendor",
    default=None,
    help="Sandbox(es) to run against: one of {sandboxes}, a comma list, or all; default: the first "
    "(each vendor is a different employer, outcomes are routed by employer).",
)
@click.option(
    "--events",
    is_flag=True,
    help="Instead: the vendor's event-driven demo, where its sandbox has one (Greenhouse: a signed "
    "webhook and an assessment-partner round trip).",
)
@click.pass_obj
@_handle_errors
def demo(
    obj: _Ctx,
    workdir: Path,
    do_reset: bool,
    as_json: bool,
    size: int,
    fault_rate: float,
    no_prefect: bool,
    vendor: str | None,
    events: bool,
) -> None:
    """Run the full pipeline against local ATS sandboxes with sample outcomes.

    The first run seeds the sandbox(es), writes sample outcomes, writes the history back and opens a
    role for each strong micro-intern (with the person attached and prescreened); a second run sees
    those writes and plans nothing.  Use --reset to start over.
    """
    if events:
        from syncbridge.demo import parse_vendors

        for chosen in parse_vendors(vendor):
            result = chosen.events_demo(workdir, size=min(size, 200), say=click.echo)
            if result is None:
                raise ConfigError(f"--events: the {chosen.vendor} sandbox has no events demo")
            if as_json:
                click.echo(json.dumps(result))
        return
    from syncbridge.demo import parse_vendors, run_demo
    from syncbridge.prefect_local import prepare_prefect_env

    vendors = parse_vendors(vendor)
    where = prepare_prefect_env(workdir, verbose=obj.verbose > 0) if not no_prefect else "no Prefect"
    tty = sys.stderr.isatty() and not as_json
    if tty:
        click.echo(
            f"seeding the {', '.join(v.vendor for v in vendors)} sandbox(es) ({size} people each) "
            "and running the pipeline"
            + ("" if no_prefect else " as a Prefect flow (the local Prefect API takes ~10 s to start)")
            + "…",
            err=True,
        )
    summary = run_demo(
        workdir,
        vendors=vendors,
        do_reset=do_reset,
        size=size,
        fault_rate=fault_rate,
        use_prefect=not no_prefect,
        progress=_progress_printer(tty),
    )
    _done_progress(tty)
    summary["where"]["prefect"] = where
    _print_summary(summary, as_json=as_json)
    if not as_json:
        w = summary["where"]
        click.echo("\nwhere to look:")
        click.echo(f"  config:   {w['config']}")
        click.echo(f"  outcomes: {w['outcomes']}")
        click.echo(f"  state:    {w['state']}  (syncbridge -c {w['config']} status)")
        click.echo(f"  runs:     {where}")
        again = "syncbridge demo" + (f" --vendor {vendor}" if vendor else "")
        click.echo(f"  again:    {again}   (plans zero writes)   ·   fresh: {again} --reset")
    if summary["actions"].get("failed"):
        sys.exit(1)


def _decide(obj: _Ctx, ref: str, status: str, reason: str | None) -> None:
    import getpass

    from syncbridge.config import load_config
    from syncbridge.store import Store

    settings = load_config(obj.config)
    store = Store(settings.state.url)
    try:
        found = store.approvals_for(ref)
        if not found:
            raise ConfigError(f"{ref}: no conversion waits for approval with that id or outcome id")
        decided = store.decide_approval(ref, status, by=getpass.getuser(), reason=reason)
    finally:
        store.close()
    if not decided:
        states = ", ".join(f"{r['key'][:12]} already {r['status']}" for r in found)
        click.echo(f"nothing to decide: {states}")
        return
    for key in decided:
        click.echo(f"{key[:12]}: {status}")
    from syncbridge.prefect_local import attach_to_serve

    attach_to_serve(settings, obj.config)  # one machine: the waiting run lives on serve's local server
    for line in _resume_waiting(found, decided, status):
        click.echo(line)


def _resume_waiting(rows: list[dict[str, Any]], decided: list[str], status: str) -> list[str]:
    """Resume the pipeline run that waits for these decisions (as the Prefect UI would), and say what
    actually happens next.  Without a reachable Prefect API the decision is in the state store and the
    next run uses it."""
    approved = status == "approved"
    then = "opens the role and attaches the person" if approved else "finishes without opening the role"
    later = (
        "the next run (syncbridge run, or the scheduled pipeline) opens the role and attaches the person"
        if approved
        else "no run opens this role"
    )
    if not any((r.get("summary") or {}).get("flow_run_id") for r in rows if r["key"] in decided):
        return [f"no run is waiting for it: {later}"]
    from syncbridge.prefect_local import prepare_prefect_env

    prepare_prefect_env(Path(".syncbridge"))
    from syncbridge.flows.approval import resume_waiting

    lines = []
    for r in resume_waiting(rows, decided, status):
        run = f"flow run {r.flow_run_id}"
        if r.what == "resumed":
            lines.append(f"resumed {run}, which was waiting for it: that run {then} now")
        elif r.what == "running":
            lines.append(f"{run} is already running again ({r.detail}): if it planned before now, {later}")
        elif r.what == "ended":
            lines.append(f"no run is waiting for it ({run} already ended: {r.detail}): {later}")
        else:
            lines.append(f"could not reach Prefect to resume {run} ({r.detail}): {later}")
    return lines


def _person_status(obj: _Ctx, key: str, as_json: bool) -> None:
    """One student: their syncbridge person id, outcomes and links per ATS."""
    from syncbridge.config import load_config
    from syncbridge.identity import find_person, person_links, person_outcomes
    from syncbridge.store import Store

    settings = load_config(obj.config)
    store = Store(settings.state.url)
    try:
        pid = find_person(store, key, region=settings.matching.phone_region)
        if pid is None:
            raise ConfigError("--person: no student with that e-mail, phone or person id")
        outcome_ids, links = person_outcomes(store, pid), person_links(store, pid)
    finally:
        store.close()
    data = {"person_id": pid, "outcomes": outcome_ids, "links": links}
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"syncbridge person {pid}: outcomes {', '.join(outcome_ids)}")
    for connector, ids in links.items():
        click.echo(f"  {connector}: {', '.join(ids)}")
    if not links:
        click.echo("  no links yet")


def _identity_status(store: Any) -> dict[str, Any]:
    from syncbridge.identity import pending_reviews, people_summary

    return {
        "people": people_summary(store),
        "reviews_waiting": [
            {
                k: r[k]
                for k in ("outcome_id", "connector", "person_id", "candidate_id", "confidence", "evidence")
            }
            for r in pending_reviews(store)
        ],
    }


@main.command()
@click.argument("approval_id")
@click.pass_obj
@_handle_errors
def approve(obj: _Ctx, approval_id: str) -> None:
    """Approve the conversion APPROVAL_ID (the id shown by plan/status, or the outcome id)."""
    _decide(obj, approval_id, "approved", None)


@main.command()
@click.argument("approval_id")
@click.option("--reason", help="Why (kept in the state store).")
@click.pass_obj
@_handle_errors
def reject(obj: _Ctx, approval_id: str, reason: str | None) -> None:
    """Reject the conversion APPROVAL_ID; it is recorded and never asked again for that outcome."""
    _decide(obj, approval_id, "rejected", reason)


_ENV_OPTION = click.option(
    "--env",
    "environment",
    metavar="ENV",
    help="Environment prefix of the deployment names (default: prefect.environment in the YAML).",
)


def _known(settings: Any, environment: str | None, name: str, config: str) -> tuple[str, str]:
    """(flow, connector) of deployment NAME as the YAML describes it; else one line listing the names."""
    from syncbridge.prefect_local import deployment_names

    names = deployment_names(settings, environment)
    if name not in names:
        raise ConfigError(
            f"{name}: no such deployment in {config} (known: {', '.join(names) or 'none: no schedules'})"
        )
    return names[name]


@main.command()
@click.argument("action", type=click.Choice(["list", "accept", "reject"]), default="list")
@click.argument("outcome_id", required=False)
@click.option("--connector", "connector_name", help="Only the review on this connector.")
@click.pass_obj
@_handle_errors
def review(obj: _Ctx, action: str, outcome_id: str | None, connector_name: str | None) -> None:
    """The identity review queue: links too weak to use on their own (docs/outcomes.md).

    `review` lists them; `review accept OUTCOME_ID` uses the proposed link from the next run on (and
    remembers it for the student's later outcomes); `review reject OUTCOME_ID` never proposes it again."""
    from syncbridge.config import load_config
    from syncbridge.identity import decide, pending_reviews
    from syncbridge.store import Store

    store = Store(load_config(obj.config).state.url)
    try:
        if action == "list":
            rows = pending_reviews(store)
            for r in rows:
                click.echo(
                    f"  outcome {r['outcome_id']} on {r['connector']} → ATS person {r['candidate_id']} "
                    f"(confidence {r['confidence']:.2f}: {', '.join(r['evidence'] or [])}; "
                    f"syncbridge person {r['person_id']})"
                )
            click.echo(f"{len(rows)} link(s) waiting for review")
            return
        if not outcome_id:
            raise ConfigError(f"review {action}: give the outcome id")
        by = os.environ.get("USER") or "cli"
        decided = decide(store, outcome_id, action == "accept", by=by, connector=connector_name)
    finally:
        store.close()
    if not decided:
        raise ConfigError(f"{outcome_id}: no link of that outcome waits for review")
    verb = "accepted" if action == "accept" else "rejected"
    for r in decided:
        click.echo(f"{verb}: outcome {r['outcome_id']} on {r['connector']} → ATS person {r['candidate_id']}")


@main.command()
@click.option("--once", "once", metavar="NAME", help="Run deployment NAME now, wait for it, and exit.")
@click.option("--list", "list_only", is_flag=True, help="Only list the deployments the schedules describe.")
@click.option(
    "--limit", type=int, default=None, help="At most this many flow runs at once (default: no limit)."
)
@_ENV_OPTION
@click.pass_obj
@_handle_errors
def serve(obj: _Ctx, once: str | None, list_only: bool, limit: int | None, environment: str | None) -> None:
    """Turn the YAML `schedules` into Prefect deployments and serve them from this process.

    One deployment per (flow, connector), named [ENV-]FLOW-CONNECTOR, with a concurrency limit of 1.
    Against the server in PREFECT_API_URL (or your Prefect profile) if one is set; otherwise serve starts
    a local Prefect server (database in the state folder, UI on localhost), and stops it when it stops.
    Deployments of this environment whose schedule left the YAML are deleted.  See docs/operations.md.
    """
    from syncbridge.config import load_config
    from syncbridge.prefect_local import prefect_api, prefect_defaults

    prefect_defaults(verbose=obj.verbose > 0)  # before the config's cron check imports Prefect
    settings = load_config(obj.config, secrets=False)
    if not settings.schedules:
        raise ConfigError("schedules: none configured, nothing to serve")
    env = environment or settings.prefect.environment
    if once:
        flow, _connector = _known(settings, env, once, obj.config)
    if list_only:
        from syncbridge.flows.deployments import build_deployments

        for d in build_deployments(settings, obj.config, environment=env):
            click.echo(f"{d.name}: {'; '.join(_describe_schedule(s) for s in d.schedules or [])}")
        return
    say = lambda text: click.echo(text, err=True)  # noqa: E731
    with prefect_api(settings, obj.config, for_serve=not once, announce=say) as api:
        from syncbridge.flows.deployments import build_deployments, prune, run_once
        from syncbridge.flows.deployments import serve as serve_all
        from syncbridge.flows.deployments import trigger as trigger_run

        deployments = build_deployments(settings, obj.config, environment=env)
        if once:
            # a running `serve` owns the server: it runs it and we wait; else it runs here
            state = trigger_run(once, flow).state if api.kind == "serve" else run_once(deployments, once)
            click.echo(f"{once}: {_state_line(state)}")
            sys.exit(0 if state and state.is_completed() else 1)
        for d in deployments:
            click.echo(f"{d.name}: {'; '.join(_describe_schedule(s) for s in d.schedules or [])}")
        for gone in prune([d.name for d in deployments], env):
            click.echo(f"deleted deployment {gone}: its schedule is no longer in {obj.config}")
        if api.server is not None:
            click.echo(f"Prefect UI: {api.server.ui_url}  (local Prefect server, stops with this process)")
        click.echo(f"serving {len(deployments)} deployment(s) ({api.describe()}); Ctrl-C to stop")
        serve_all(deployments, limit=limit)


def _state_line(state: Any) -> str:
    return f"{state.type.value} {state.message or ''}".rstrip() if state else "unknown"


def _describe_schedule(s: Any) -> str:
    sched = s.schedule
    what = getattr(sched, "cron", None) or f"every {getattr(sched, 'interval', '?')}"
    tz = getattr(sched, "timezone", None)
    params = (s.parameters or {}).get("params", {})
    flags = [k for k in ("full", "dry_run") if params.get(k)]
    return f"{what} {tz or ''}".strip() + (f" ({', '.join(flags)})" if flags else "")


@main.command()
@click.option(
    "--pool", required=True, help="Prefect work pool the workers poll (created as a process pool if missing)."
)
@click.option(
    "--same-host",
    is_flag=True,
    help="Every worker runs on this machine, so a SQLite state store is allowed (else: PostgreSQL).",
)
@_ENV_OPTION
@click.pass_obj
@_handle_errors
def deploy(obj: _Ctx, pool: str, same_host: bool, environment: str | None) -> None:
    """Register the YAML `schedules` as deployments for Prefect workers (beyond one machine).

    Needs a Prefect server (PREFECT_API_URL).  Then on each worker machine, with syncbridge installed and the
    config at the same path: `prefect worker start --pool POOL`.  Deployments of this environment whose
    schedule left the YAML are deleted.  A SQLite state store is refused unless --same-host (an in-memory
    one always).  See docs/operations.md.
    """
    from syncbridge.config import load_config
    from syncbridge.prefect_local import configured_api_url, memory_state_problem, prefect_defaults

    prefect_defaults(verbose=obj.verbose > 0)
    settings = load_config(obj.config, secrets=False)
    if not settings.schedules:
        raise ConfigError("schedules: none configured, nothing to deploy")
    from syncbridge.paths import local_state_problem

    problem = memory_state_problem(settings.state.url) or (
        None if same_host else local_state_problem(settings.state.url)
    )
    if problem:
        raise ConfigError(problem)
    if not configured_api_url():
        raise ConfigError(
            "deploy needs a Prefect server: set PREFECT_API_URL (on one machine, use `syncbridge serve`)"
        )
    env = environment or settings.prefect.environment
    from syncbridge.flows.deployments import build_deployments, deploy_to_pool, prune

    deployments = build_deployments(settings, obj.config, work_pool=pool, environment=env)
    deploy_to_pool(deployments, pool)
    for d in deployments:
        click.echo(f"deployed {d.name} to work pool {pool}")
    for gone in prune([d.name for d in deployments], env):
        click.echo(f"deleted deployment {gone}: its schedule is no longer in {obj.config}")


@main.command()
@click.argument("name")
@click.option("--timeout", type=float, default=None, help="Seconds to wait (default: until it ends).")
@_ENV_OPTION
@click.pass_obj
@_handle_errors
def trigger(obj: _Ctx, name: str, timeout: float | None, environment: str | None) -> None:
    """Start a run of deployment NAME (e.g. sync-acme-greenhouse) now and wait for its result.

    With a Prefect server (PREFECT_API_URL), or while `syncbridge serve` runs its local server, the
    serving process or a worker runs it.  With neither, it runs here, against a local Prefect server
    started for the occasion (same database as `serve`'s).
    """
    from syncbridge.config import load_config
    from syncbridge.prefect_local import prefect_api, prefect_defaults

    prefect_defaults(verbose=obj.verbose > 0)
    settings = load_config(obj.config, secrets=False)
    env = environment or settings.prefect.environment
    flow, _connector = _known(settings, env, name, obj.config)
    say = lambda text: click.echo(text, err=True)  # noqa: E731
    with prefect_api(settings, obj.config, announce=say) as api:
        from syncbridge.flows.deployments import build_deployments, run_once
        from syncbridge.flows.deployments import trigger as trigger_run

        if api.kind == "local":  # nobody serves it: run it in this process, recorded on that server
            say(f"no `syncbridge serve` runs: running {name} in this process")
            state = run_once(build_deployments(settings, obj.config, environment=env), name)
        else:
            state = trigger_run(name, flow, timeout=timeout, warn=say).state
    click.echo(f"{name}: {_state_line(state)}")
    sys.exit(0 if state and state.is_completed() else 1)


@main.command()
@click.option(
    "--hash-emails",
    is_flag=True,
    help="Replace the e-mails kept in clear by keyed hashes (needs privacy.hash_emails and hash_key).",
)
@click.pass_obj
@_handle_errors
def migrate(obj: _Ctx, hash_emails: bool) -> None:
    """Create or upgrade the state store's schema (also done automatically on every start)."""
    from syncbridge.config import load_config
    from syncbridge.store import SCHEMA_VERSION, Store

    settings = load_config(obj.config)
    store = Store(settings.state.url, migrate=False)
    try:
        before = store.schema_version()
        after = store.migrate()
        if hash_emails:
            from syncbridge.privacy import migrate_hash_emails

            changed = migrate_hash_emails(store, settings)
            click.echo(
                "e-mails now kept as keyed hashes: " + ", ".join(f"{t} {n}" for t, n in changed.items())
            )
    finally:
        store.close()
    click.echo(f"state schema: version {before} -> {after} (current {SCHEMA_VERSION})")


privacy_cli.register(main, _handle_errors)  # forget, unforget (syncbridge.privacy_cli)


class _VendorChoice(click.ParamType):
    """A registered vendor that ships a sandbox (looked up when used, so `--help` stays fast)."""

    name = "vendor"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from syncbridge.plugins import sandbox_vendors

        known = sandbox_vendors()
        if value not in known:
            self.fail(f"{value!r} is not one of {', '.join(known) or 'no installed sandbox'}", param, ctx)
        return str(value)


@main.command(
    cls=_VendorCommand, context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False}
)
@click.argument("vendor", type=_VendorChoice())
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def sandbox(vendor: str, args: tuple[str, ...]) -> None:
    """Serve a local vendor sandbox, e.g. `syncbridge sandbox greenhouse serve --db gh.db --port 8010`
    (`syncbridge sandbox lever serve --help` lists the options).  VENDOR is any installed vendor plugin
    that ships a sandbox: {sandboxes}."""
    from syncbridge.plugins import vendor as find_vendor

    sys.exit(find_vendor(vendor).sandbox().main(list(args)))


cli_inbound.register(main, _handle_errors)  # webhooks, assessment (syncbridge.cli_inbound)


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
