"""``syncbridge webhooks …`` and ``syncbridge assessment …``: what comes *in* from the ATS.

Kept apart from :mod:`syncbridge.cli` so the main command module stays about the pipeline.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from syncbridge.errors import ConfigError


def _inbound_runtime(obj: Any) -> Any:
    rt = obj.runtime()
    if rt.settings.webhooks is None and rt.settings.assessment is None:
        rt.close()
        raise ConfigError("webhooks: missing (and no assessment: section either): nothing to receive")
    return rt


def register(main: click.Group, handle_errors: Callable[..., Any]) -> None:
    """Add ``webhooks`` and ``assessment`` to ``main`` (called by :mod:`syncbridge.cli`, which passes its
    error handler: importing it from here would be circular when the CLI runs as ``python -m``)."""

    @click.group("webhooks")
    def webhooks_group() -> None:
        """Receive signed ATS webhooks (and the assessment-partner calls) and act on them."""

    @webhooks_group.command("serve")
    @click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
    @click.option("--port", default=8090, show_default=True, type=int, help="Port (0 = a free one).")
    @click.pass_obj
    @handle_errors
    def webhooks_serve(obj: Any, host: str, port: int) -> None:
        """Serve POST /webhooks/<connector> (and /assessment/* when configured) until stopped.

        Put it behind your HTTPS proxy: Greenhouse and Lever only deliver to https URLs.
        """
        import uvicorn

        from syncbridge.sandbox.server import bind
        from syncbridge.webhook_app import create_app
        from syncbridge.webhooks import make_worker

        rt = _inbound_runtime(obj)
        worker = make_worker(rt)
        app = create_app(
            rt, rt.settings.webhooks, worker=worker, config_dir=Path(obj.config).resolve().parent
        )
        sock = bind(host, port)
        actual = sock.getsockname()[1]
        for name in rt.settings.webhooks.connectors if rt.settings.webhooks else {}:
            click.echo(f"webhooks for {name}: http://{host}:{actual}/webhooks/{name}")
        if rt.settings.assessment is not None:
            click.echo(f"assessment partner API: http://{host}:{actual}/assessment/")
        if worker is not None:
            worker.start()
        try:
            uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off")).run(sockets=[sock])
        finally:
            if worker is not None:
                worker.stop()
            rt.close()

    @webhooks_group.command("drain")
    @click.option("--trigger/--no-trigger", default=True, help="Start the pipeline where an outcome waits.")
    @click.pass_obj
    @handle_errors
    def webhooks_drain(obj: Any, trigger: bool) -> None:
        """Work off queued events now (refresh the people they name; erase deleted people)."""
        from syncbridge.webhooks import drain, erase_person_locally, make_trigger

        rt = _inbound_runtime(obj)
        try:
            settings = rt.settings.webhooks
            run = make_trigger(rt, settings) if (trigger and settings is not None) else None
            result = drain(rt, trigger=run, erase=erase_person_locally)
            click.echo(json.dumps(result.as_dict()))
        finally:
            rt.close()

    @webhooks_group.command("status")
    @click.pass_obj
    @handle_errors
    def webhooks_status(obj: Any) -> None:
        """Events received, by state (queued, done, ignored, failed)."""
        from syncbridge.webhooks import queue_counts

        rt = _inbound_runtime(obj)
        try:
            click.echo(json.dumps(queue_counts(rt), sort_keys=True))
        finally:
            rt.close()

    @webhooks_group.command("register")
    @click.option("--connector", "name", required=True, help="The connector whose ATS should call us.")
    @click.option("--url", required=True, help="The public https URL of /webhooks/<connector>.")
    @click.option(
        "--event",
        "events",
        multiple=True,
        help="Event to register where the ATS has an API for it (repeatable; default: all we use).",
    )
    @click.pass_obj
    @handle_errors
    def webhooks_register(obj: Any, name: str, url: str, events: tuple[str, ...]) -> None:
        """Create the webhooks through the ATS's API and keep their signature tokens in the state store
        (Lever), or print the settings to enter in the ATS (Greenhouse: Configure → Dev Center → Web
        Hooks)."""
        rt = obj.runtime()
        try:
            block = rt.settings.connectors.get(name)
            if block is None:
                raise ConfigError(f"--connector: {name!r} is not a configured connector")
            if not url.startswith("https://"):
                raise ConfigError("--url: ATS webhooks are delivered to https URLs only")
            from syncbridge.webhook_reader import Registration
            from syncbridge.webhooks import reader_for, remember_signature_token

            reader = reader_for(block.type)
            if reader is None:
                raise ConfigError(f"--connector: {block.type} has no webhooks syncbridge reads")
            reader.register(
                Registration(
                    rt.connector(name),
                    name,
                    url,
                    events,
                    say=click.echo,
                    remember_token=lambda token: remember_signature_token(rt, name, token),
                )
            )
        finally:
            rt.close()

    @click.group("assessment")
    def assessment_group() -> None:
        """syncbridge as a Greenhouse assessment partner: micro-internships ordered from the ATS."""

    @assessment_group.command("notify")
    @click.pass_obj
    @handle_errors
    def assessment_notify(obj: Any) -> None:
        """Tell Greenhouse about every ordered micro-internship whose outcome has arrived (also done by
        every pipeline run)."""
        from syncbridge.assessment import notify_completed

        rt = obj.runtime()
        try:
            if rt.settings.assessment is None:
                raise ConfigError(
                    "assessment: missing: syncbridge is not configured as an assessment partner"
                )
            counts = notify_completed(rt)
            click.echo(json.dumps(counts))
            if counts["failed"]:
                sys.exit(1)
        finally:
            rt.close()

    @assessment_group.command("orders")
    @click.pass_obj
    @handle_errors
    def assessment_orders(obj: Any) -> None:
        """The micro-internships recruiters ordered (e-mails masked)."""
        from sqlalchemy import select

        from syncbridge.redact import mask_email
        from syncbridge.store import assessments

        rt = obj.runtime()
        try:
            with rt.store.tx() as conn:
                rows = conn.execute(select(assessments).order_by(assessments.c.requested_at)).all()
            for r in rows:
                click.echo(
                    f"{r.partner_interview_id}  {r.partner_test_id}  {mask_email(r.email or '')}  {r.status}"
                    f"  ordered {r.requested_at:%Y-%m-%d}"
                    + (f"  notified {r.notified_at:%Y-%m-%d %H:%M}" if r.notified_at else "")
                )
            if not rows:
                click.echo("no orders yet")
        finally:
            rt.close()

    @assessment_group.command("new-key")
    def assessment_new_key() -> None:
        """Print a fresh org key for assessment.api_key (give the same key to Greenhouse)."""
        from syncbridge.assessment import new_api_key

        click.echo(new_api_key())

    main.add_command(webhooks_group)
    main.add_command(assessment_group)
