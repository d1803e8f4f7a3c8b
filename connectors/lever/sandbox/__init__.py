"""A local Lever Data API v1 server for demos, end-to-end tests and benchmarks.

It speaks the subset of ``/v1`` the connector uses, with Lever's documented semantics:

* ``{data, hasNext, next}`` list envelopes with opaque offset tokens that are only valid for the exact
  query that produced them (and for this server process): anything else is a 400
  ``Invalid offset token: Offset token is invalid for sort``;
* millisecond timestamps; ``updated_at_*`` filters never return opportunities whose ``updatedAt`` is null;
* confidential opportunities, postings and requisitions hidden unless ``confidentiality=all`` (or
  ``confidential``) is asked for;
* API-key Basic auth (key as username) and an OAuth token endpoint whose refresh tokens are single-use;
* ``perform_as`` required on ``POST /opportunities`` and ``POST /postings[/:id]``, checked when present
  elsewhere; every ``POST /opportunities`` makes a new opportunity (under the existing contact when an
  e-mail matches, or under ``contact`` when given; ``postings`` holds at most one posting); notes do not
  move ``updatedAt``, tags do; requisition ``PUT`` replaces the whole record, a requisition code is used
  once, custom fields are checked against ``/requisition_fields``; postings are linked to requisitions by
  ``requisitionCodes`` (the requisition lists them in ``postings``); posting HTML checked against the
  whitelist; deleted opportunities listed by ``/opportunities/deleted``;
* a token bucket (default 10 rps, bursts of 20) answering 429 without rate-limit headers;
* injected latency and faults (429, 500, 503, dropped connections, refused offset tokens), all before the
  request has any effect; ``/_sandbox/...`` admin endpoints (config, stats, token expiry, deletes).

Data lives in one SQLite file (WAL) and survives restarts; ``seed(size=N)`` makes N opportunities.  The
parts: :mod:`.api` (the HTTP semantics), :mod:`.seed` (the records' tables and shapes, the seed),
:mod:`.demo` (credentials, the demo's people, connector block and conversion rule); storage, the gate,
the token bucket, seed helpers and the command line come from :mod:`syncbridge.sandbox`.

Run it with ``python -m syncbridge.connectors.lever.sandbox serve --db PATH``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from syncbridge.connectors.lever.sandbox.api import _Sandbox, create_app
from syncbridge.connectors.lever.sandbox.demo import (
    DEFAULT_API_KEY,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REFRESH_TOKEN,
    DEMO_ENV,
    DEMO_PERFORM_AS_EMAIL,
    demo_connector_block,
    demo_conversion_rule,
    demo_people,
    people_snapshot,
)
from syncbridge.connectors.lever.sandbox.seed import seed
from syncbridge.sandbox.cli import ServeCommand, add_token_bucket, token_bucket_options
from syncbridge.sandbox.plugin import KitSandbox
from syncbridge.sandbox.server import ThreadedSandbox

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_REFRESH_TOKEN",
    "DEMO_ENV",
    "DEMO_PERFORM_AS_EMAIL",
    "LeverSandbox",
    "SandboxServer",
    "create_app",
    "demo_connector_block",
    "demo_conversion_rule",
    "demo_people",
    "main",
    "people_snapshot",
    "seed",
]


class SandboxServer(ThreadedSandbox):
    """The Lever sandbox served by uvicorn in a background thread (port 0 = a free port).

    Use as a context manager; ``url`` is the server root (the API is under ``/v1``).
    """

    vendor = "Lever"

    def create_app(self) -> FastAPI:
        return create_app(self.db_path, **self.app_kwargs)

    @property
    def api_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def sandbox(self) -> _Sandbox:
        assert self.app is not None, "server not started"
        sb: _Sandbox = self.app.state.sandbox
        return sb


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    add_token_bucket(parser, rate=10.0, burst=20)
    parser.add_argument("--offset-fault-rate", type=float, default=0.0, help="share of offset tokens refused")


SERVE = ServeCommand(
    prog="python -m syncbridge.connectors.lever.sandbox",
    description="Local Lever Data API v1 sandbox",
    seed=seed,
    create_app=create_app,
    size_help="number of opportunities to seed",
    banner=" (API under /v1; API key: see DEMO_ENV)",
    add_arguments=_add_arguments,
    app_options=lambda args: {**token_bucket_options(args), "offset_fault_rate": args.offset_fault_rate},
)


def main(argv: list[str] | None = None) -> int:
    return SERVE.main(argv)


class LeverSandbox(KitSandbox):
    """The Lever sandbox as a plugin (entry point ``syncbridge.sandboxes``)."""

    vendor = "lever"
    employer = "Globex"
    connector_name = "globex-lever"
    outcome_prefix = "LV"
    env = DEMO_ENV
    demo_server_options = {}
    serve = SERVE
    server_class = SandboxServer
    people = demo_people
    conformance_server_options = {"rate_per_second": 0}
    conformance_block_options = {"rate_per_second": 500.0, "burst": 500}

    def connector_block(self, base_url: str) -> dict[str, Any]:
        return demo_connector_block(base_url)

    def conversion_rule(self, employer: str) -> dict[str, Any] | None:
        return demo_conversion_rule(employer)

    def nurture_options(self) -> dict[str, Any] | None:
        return {"stage": "lead-reached-out"}

    def note_texts(self, db_path: Path, email: str) -> list[str] | None:
        wanted = email.strip().lower()
        people = people_snapshot(db_path).items()
        return [text for key, person in people if wanted in key.split("|") for text in person["notes"]]
