"""The ``syncbridge forget`` and ``unforget`` commands (kept out of ``syncbridge.cli``, which every branch
edits; :func:`register` adds them to the command group).  The logic is in :mod:`syncbridge.privacy`."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click


def _privacy_store(obj: Any) -> tuple[Any, Any]:
    from syncbridge import privacy
    from syncbridge.config import load_config
    from syncbridge.store import Store

    settings = load_config(obj.config)
    store = Store(settings.state.url)
    try:
        privacy.bind(store, settings)
    except BaseException:
        store.close()
        raise
    return settings, store


def _email_arg(email: str | None) -> str | None:
    """``-`` reads the address from standard input, which keeps it out of the shell's history."""
    if email == "-":
        return sys.stdin.readline().strip()
    return email


def _erase_in_ats(settings: Any, store: Any, erasure_id: str, *, yes: bool, requested_by: str | None) -> None:
    from syncbridge import privacy
    from syncbridge.steps import Runtime

    rt = Runtime(settings, store=store)  # closing it closes the store too
    try:
        types = {name: block.type for name, block in settings.connectors.items()}
        records = privacy.erasure_records(store, erasure_id)
        notes = privacy.deletable(records, types)
        for r in records:
            if r not in notes:
                click.echo(
                    f"  by hand: {r['connector']} {r['kind']} person {r.get('person') or '-'} ref {r['ref']}"
                )
        for connector in sorted({r["connector"] for r in records if r not in notes}):
            click.echo(f"  how: {privacy.erasure_route(types.get(connector, ''))}")
        if not notes:
            click.echo("nothing syncbridge can delete in the ATS itself for this erasure")
            return
        click.echo(
            f"{len(notes)} note(s) to delete: "
            + ", ".join(f"{r['connector']} [{r['marker']}]" for r in notes)
        )
        if not yes:
            click.confirm("Delete them in the ATS? This cannot be undone", abort=True, err=True)
        counts = privacy.erase_in_ats(store, erasure_id, rt.connector, types, requested_by=requested_by)
    finally:
        rt.close()
    click.echo("in the ATS: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items()))
    if counts["failed"]:
        sys.exit(1)


def _print_privacy_log(rows: list[dict[str, Any]], *, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(rows, default=str))
        return
    if not rows:
        click.echo("the privacy log is empty")
    for r in rows:
        counts = ", ".join(f"{t} {n}" for t, n in (r["counts"] or {}).items() if n)
        why = f" ({r['reason']})" if r["reason"] else ""
        who = f"{r['erasure_id']} by {r['requested_by']}{why}"
        click.echo(f"{r['at']:%Y-%m-%d %H:%M} {r['action']:<12} {who}: {counts}")


def _print_erasure(erasure: Any, *, as_json: bool, title: str) -> None:
    from syncbridge import privacy

    if as_json:
        click.echo(json.dumps(erasure.as_dict(), default=str))
        return
    click.echo(title if erasure.dry_run else f"{title}: erasure {erasure.erasure_id}")
    for line in privacy.report_lines(erasure):
        click.echo(f"  {line}")


def register(main: click.Group, handle_errors: Callable[..., Any]) -> None:
    """Add ``forget`` and ``unforget`` to ``main``, with the CLI's one-line error handling."""

    @main.command()
    @click.argument("email", required=False)
    @click.option("--outcome", "outcome_id", metavar="ID", help="Forget the person of this outcome id.")
    @click.option(
        "--person",
        "person_id",
        metavar="ID",
        help="Forget the syncbridge person id `status --person` shows (every employer, every e-mail).",
    )
    @click.option("--requested-by", help="Who asked for the erasure (default: your OS user name).")
    @click.option("--reason", help="Why, e.g. a ticket number (kept in the privacy log; no personal data).")
    @click.option("--dry-run", is_flag=True, help="Show what would be removed; change nothing.")
    @click.option(
        "--online", is_flag=True, help="Also ask each ATS whether the records listed are still there."
    )
    @click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
    @click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
    @click.option(
        "--log", "show_log", is_flag=True, help="Print the privacy log (who asked, when, what) and exit."
    )
    @click.option(
        "--erase-in-ats",
        "erase_id",
        metavar="ERASURE_ID",
        help="A separate step: delete in the ATS the notes that erasure listed, where the vendor allows it.",
    )
    @click.pass_obj
    @handle_errors
    def forget(
        obj: Any,
        email: str | None,
        outcome_id: str | None,
        person_id: str | None,
        requested_by: str | None,
        reason: str | None,
        dry_run: bool,
        online: bool,
        yes: bool,
        as_json: bool,
        show_log: bool,
        erase_id: str | None,
    ) -> None:
        """Remove one person's personal data from the state store (EMAIL, `-` to read it from stdin, or
        --outcome ID), keep non-personal tombstones so nothing is written twice and later runs skip them,
        and list what syncbridge wrote about them in each ATS.  See docs/security.md."""
        from syncbridge import privacy

        email = _email_arg(email)
        settings, store = _privacy_store(obj)
        if show_log:
            try:
                _print_privacy_log(privacy.privacy_log_rows(store), as_json=as_json)
            finally:
                store.close()
            return
        if erase_id:
            _erase_in_ats(settings, store, erase_id, yes=yes, requested_by=requested_by)
            return
        try:
            types = {name: block.type for name, block in settings.connectors.items()}
            kw: dict[str, Any] = {
                "email": email,
                "outcome_id": outcome_id,
                "person_id": person_id,
                "connector_types": types,
            }
            preview = privacy.forget(store, dry_run=True, **kw)
            if online:
                from syncbridge.steps import Runtime

                rt = Runtime(settings, store=store)
                try:
                    privacy.confirm_online(preview, rt.connector)
                finally:
                    for c in rt._connectors.values():
                        c.close()
            if dry_run or (not yes and not as_json):
                _print_erasure(preview, as_json=as_json, title="forget (dry run)")
            if dry_run:
                return
            if not yes:
                click.confirm("Forget this person in the state store?", abort=True, err=True)
            done = privacy.forget(store, requested_by=requested_by, reason=reason, **kw)
            busy = privacy.runs_in_progress(store)
            for before, after in zip(preview.ats_records, done.ats_records, strict=False):
                if "online" in before:
                    after["online"] = before["online"]
        finally:
            store.close()
        if as_json or yes:
            _print_erasure(done, as_json=as_json, title="forgotten")
        else:
            click.echo(f"forgotten: erasure {done.erasure_id} (see the list above for the ATS)")
        if busy:
            click.echo(
                f"warning: run(s) {', '.join(busy)} in progress may still write about this person; "
                "run the same forget again when they end",
                err=True,
            )

    @main.command()
    @click.argument("email", required=False)
    @click.option("--erasure", "erasure_id", metavar="ID", help="Lift this erasure's tombstones.")
    @click.option("--requested-by", help="Who asked (default: your OS user name).")
    @click.pass_obj
    @handle_errors
    def unforget(obj: Any, email: str | None, erasure_id: str | None, requested_by: str | None) -> None:
        """Let later runs process a forgotten person again (EMAIL, `-` for stdin, or --erasure ID).
        Writes already made are still never made twice."""
        from syncbridge import privacy

        _settings, store = _privacy_store(obj)
        try:
            n = privacy.unforget(
                store, email=_email_arg(email), erasure_id=erasure_id, requested_by=requested_by
            )
        finally:
            store.close()
        click.echo(f"unforgotten: {n} tombstone(s) lifted" if n else "no erasure matches; nothing changed")
