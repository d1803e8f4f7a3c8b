"""A local Greenhouse Harvest v3 server for demos, end-to-end tests and benchmarks.

It speaks the subset of Harvest v3 that the connector uses, as Greenhouse documents it:

* ``POST /token``: OAuth client credentials (HTTP Basic client auth, form body), opaque expiring bearer
  tokens;
* ``/v3/...``: bare-array lists in ``id`` descending order with an opaque ``cursor`` in the ``Link`` header,
  the pipe date filters, the 422 error bodies, array-replacing PATCH, duplicate tag 422s, notes, jobs from
  templates, job posts, attachments;
* a fixed-window rate limit with the ``X-RateLimit-*`` headers and ``Retry-After``;
* injected latency and faults (429, 500, 503, dropped connections) that happen before a request has any
  effect;
* ``/_sandbox/...`` admin endpoints (runtime config, stats, token expiry, attachment downloads).

Data lives in one SQLite file (WAL) and survives restarts.  The parts: :mod:`.api` (the HTTP semantics),
:mod:`.seed` (the records' tables and shapes, the seed), :mod:`.demo` (the demo's people, connector block
and conversion rule); storage, the gate, limits, seed helpers and the command line come from
:mod:`syncbridge.sandbox`.

Run it with ``python -m syncbridge.connectors.greenhouse.sandbox serve --db PATH``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from syncbridge.connectors.greenhouse.sandbox.api import create_app
from syncbridge.connectors.greenhouse.sandbox.demo import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEMO_ENV,
    DEMO_USER_ID,
    demo_connector_block,
    demo_conversion_rule,
    demo_people,
)
from syncbridge.connectors.greenhouse.sandbox.seed import SKILL_OPTIONS, seed
from syncbridge.sandbox.cli import ServeCommand, add_fixed_window, fixed_window_options
from syncbridge.sandbox.plugin import KitSandbox
from syncbridge.sandbox.server import ThreadedSandbox

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEMO_ENV",
    "DEMO_USER_ID",
    "SKILL_OPTIONS",
    "GreenhouseSandbox",
    "SandboxServer",
    "create_app",
    "demo_connector_block",
    "demo_conversion_rule",
    "demo_people",
    "main",
    "seed",
]


class SandboxServer(ThreadedSandbox):
    """The Greenhouse sandbox served by uvicorn in a background thread; use as a context manager."""

    vendor = "Greenhouse"
    factory = create_app


SERVE = ServeCommand(
    prog="python -m syncbridge.connectors.greenhouse.sandbox",
    description="Local Greenhouse Harvest v3 sandbox",
    seed=seed,
    create_app=create_app,
    size_help="number of candidates to seed",
    add_arguments=lambda parser: add_fixed_window(parser, limit=50, window=30.0),
    app_options=fixed_window_options,
)


main = SERVE.main  # the sandbox's command line (``python -m`` and ``syncbridge sandbox``)


class GreenhouseSandbox(KitSandbox):
    """The Greenhouse sandbox as a plugin (entry point ``syncbridge.sandboxes``)."""

    vendor = "greenhouse"
    employer = "Acme Corp"
    connector_name = "acme-greenhouse"
    outcome_prefix = "GH"
    demo_order = 0  # the default demo: it shows every feature (custom fields, webhooks, assessments)
    env = DEMO_ENV
    demo_server_options = {"rate_limit": 0}
    serve = SERVE
    server_class = SandboxServer
    people = demo_people

    def connector_block(self, base_url: str) -> dict[str, Any]:
        return demo_connector_block(base_url)

    def conversion_rule(self, employer: str) -> dict[str, Any] | None:
        return demo_conversion_rule(employer)

    def nurture_options(self) -> dict[str, Any] | None:
        return {"prospect_pool_id": 1, "prospect_stage_id": 1}

    def history_fields(self) -> dict[str, str]:
        # Greenhouse carries the custom fields the sandbox seeds (Lever has no candidate fields API)
        return {
            "mi_rating": "evaluation.rating",
            "mi_last_project": "project.title",
            "mi_skills": "evaluation.skills",
            "mi_would_hire": "evaluation.would_hire",
        }

    def note_texts(self, db_path: Path, email: str) -> list[str] | None:
        conn = sqlite3.connect(str(db_path))
        try:
            rows = conn.execute(
                "SELECT data FROM notes WHERE candidate_id IN "
                "(SELECT candidate_id FROM candidate_emails WHERE email = ?)",
                (email.strip().lower(),),
            )
            return [str(json.loads(data)["body"]) for (data,) in rows]
        finally:
            conn.close()

    def events_demo(self, workdir: Path, *, size: int, say: Callable[[str], None]) -> dict[str, Any] | None:
        from syncbridge.connectors.greenhouse.events_demo import run_events_demo

        return run_events_demo(workdir, size=size, say=say)
