"""A local Workday Recruiting (WWS) server for demos, end-to-end tests and benchmarks.

It answers SOAP 1.1 POSTs at ``/ccx/service/{tenant}/Recruiting/{version}`` with the element names and
shapes the connector expects (``docs/workday.md``):

* **auth**: a WS-Security UsernameToken (``user@tenant``, PasswordText) or an OAuth bearer token from
  ``POST /ccx/oauth2/{tenant}/token`` (refresh-token grant, optional refresh-token rotation);
* **operations**: Get_Candidates (Request_References or Request_Criteria with
  Transaction_Log_Criteria_Data, Candidate_Email_Address, Applied_From/Through, Created_From/Through,
  Candidate_Tag_Reference), Get_Job_Requisitions, Put_Candidate (create, or update with a *replacing*
  tag list; missing or inactive tags are validation faults; ``Job_Application_Data`` applies the person
  to a requisition), Put_Candidate_Attachment (on the candidate or, with Job_Application_Attachment_Data,
  on one of its job applications; stored and listed back inline by Get_Candidates when attachments are
  not excluded), Create_Job_Requisition (root ``Create_Requisition_Request``; a given Job_Requisition_ID
  must be unique; unknown organisations, reasons, profiles, locations, worker and time types are
  validation faults with an Xpath), Post_Job and Get_Job_Postings (only an *Open* requisition can be
  posted, once per site), and Move_Candidate;
* **paging**: Response_Filter Page/Count (1..999) with ``As_Of_Entry_DateTime`` honoured (later records
  and transaction-log entries are invisible), Response_Results with Total_Results/Total_Pages;
* **faults**: SOAP 1.1 ``Fault`` with ``faultcode``/``faultstring`` and a ``detail`` holding
  ``wd:Validation_Fault`` (Message, Detail_Message, Xpath) or ``wd:Processing_Fault``, HTTP 500;
* a tenant **version cap** (a request above ``max_version`` is refused the way tenants refuse it), a
  switch that makes the tenant refuse the transaction-log criterion, injected latency, a fixed-window
  rate limit (429 + Retry-After) and injected faults (429, Processing_Fault 500, 503, dropped connection)
  that happen **before** a request has any effect;
* ``/_sandbox/...`` admin endpoints: ``config`` (GET/POST), ``stats``, ``health``, ``expire_tokens``,
  ``candidates/{wid}``, ``requisitions/{id}`` (GET, and POST ``{"status": "Open"}`` to finish an approval).

Requisitions created without ``Auto_Complete`` wait in status *Awaiting Approval* (the tenant's approval
process); candidates can be applied to them, but they cannot be posted until they are Open.

One liberty, for the matching tests: a v46 ``Contact_Data`` carries one ``Email_Address``; the sandbox
repeats the element for people with several addresses (the connector reads both shapes).

Data lives in one SQLite file (WAL) and survives restarts.  The parts: :mod:`.api` (the SOAP semantics,
OAuth, admin endpoints), :mod:`.seed` (the tenant's reference data, tables and seed), :mod:`.demo` (the
demo's people, connector block and conversion rule); storage, the gate, the rate limit, seed helpers and
the command line come from :mod:`syncbridge.sandbox`.

Run it with ``python -m syncbridge.connectors.workday.sandbox serve --db PATH``.
"""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path
from typing import Any

from syncbridge.connectors.workday.sandbox.api import create_app
from syncbridge.connectors.workday.sandbox.demo import (
    DEMO_ENV,
    demo_connector_block,
    demo_conversion_rule,
    demo_people,
    history_snapshot,
)
from syncbridge.connectors.workday.sandbox.seed import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_DOCUMENT_CATEGORY,
    DEFAULT_MAX_VERSION,
    DEFAULT_PASSWORD,
    DEFAULT_REFRESH_TOKEN,
    DEFAULT_TENANT,
    DEFAULT_USERNAME,
    DEFAULT_VERSION,
    DOCUMENT_CATEGORY_TYPE,
    JOB_PROFILES,
    LOCATIONS,
    MAX_SIZE,
    MIN_SIZE,
    ORGS,
    REASONS,
    REQUISITIONS,
    STAGES,
    TIME_TYPES,
    WORKER_TYPES,
    seed,
)
from syncbridge.sandbox.cli import ServeCommand, add_fixed_window, fixed_window_options
from syncbridge.sandbox.plugin import KitSandbox
from syncbridge.sandbox.server import ThreadedSandbox

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_DOCUMENT_CATEGORY",
    "DEFAULT_MAX_VERSION",
    "DEFAULT_PASSWORD",
    "DEFAULT_REFRESH_TOKEN",
    "DEFAULT_TENANT",
    "DEFAULT_USERNAME",
    "DEFAULT_VERSION",
    "DEMO_ENV",
    "DOCUMENT_CATEGORY_TYPE",
    "JOB_PROFILES",
    "LOCATIONS",
    "ORGS",
    "REASONS",
    "REQUISITIONS",
    "STAGES",
    "TIME_TYPES",
    "WORKER_TYPES",
    "SandboxServer",
    "WorkdaySandbox",
    "create_app",
    "demo_connector_block",
    "demo_conversion_rule",
    "demo_people",
    "history_snapshot",
    "main",
    "seed",
]


class SandboxServer(ThreadedSandbox):
    """The Workday sandbox served by uvicorn in a background thread (port 0 picks a free one)."""

    vendor = "Workday"
    factory = create_app

    @property
    def tenant(self) -> str:
        return str(self.app_kwargs.get("tenant", DEFAULT_TENANT))

    @property
    def service_url(self) -> str:
        return f"{self.url}/ccx/service/{self.tenant}/Recruiting/{DEFAULT_VERSION}"


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-version", default=DEFAULT_MAX_VERSION, help="highest WWS version accepted")
    parser.add_argument(
        "--no-transaction-log",
        action="store_true",
        help="refuse Transaction_Log_Criteria_Data like some tenants do",
    )
    add_fixed_window(parser, limit=0, window=60.0)
    parser.add_argument("--rotate-refresh-tokens", action="store_true")


def _app_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        **fixed_window_options(args),
        "max_version": args.max_version,
        "transaction_log": not args.no_transaction_log,
        "rotate_refresh_tokens": args.rotate_refresh_tokens,
    }


SERVE = ServeCommand(
    prog="python -m syncbridge.connectors.workday.sandbox",
    description="Local Workday Recruiting (WWS) sandbox",
    seed=seed,
    create_app=create_app,
    size_help=f"candidates to seed ({MIN_SIZE}..{MAX_SIZE})",
    banner=f"  (tenant {DEFAULT_TENANT}, SOAP at /ccx/service/{DEFAULT_TENANT}/Recruiting/{DEFAULT_VERSION})",
    add_arguments=_add_arguments,
    app_options=_app_options,
)


def main(argv: list[str] | None = None) -> int:
    return SERVE.main(argv)


class WorkdaySandbox(KitSandbox):
    """The Workday sandbox as a plugin (entry point ``syncbridge.sandboxes``)."""

    vendor = "workday"
    employer = "Initech"
    connector_name = "initech-workday"
    outcome_prefix = "WD"
    env = DEMO_ENV
    demo_server_options = {}
    serve = SERVE
    server_class = SandboxServer
    people = demo_people
    conformance_block_options = {"lag_minutes": 0}  # changes show at once (the sandbox has no lag)

    def connector_block(self, base_url: str) -> dict[str, Any]:
        block = demo_connector_block(base_url)
        # Workday tags are tenant ids: the sandbox has a campus tag for the early-talent rule
        block["tag_ids"] = {**block["tag_ids"], "early-talent": "CAMPUS_2026"}
        return block

    def conversion_rule(self, employer: str) -> dict[str, Any] | None:
        return demo_conversion_rule(employer)

    def nurture_options(self) -> dict[str, Any] | None:
        return {"prospect_status": "NURTURE"}

    def note_texts(self, db_path: Path, email: str) -> list[str] | None:
        conn = sqlite3.connect(str(db_path))
        try:
            rows = conn.execute(
                "SELECT comment, content FROM attachments WHERE cand_pk IN "
                "(SELECT cand_pk FROM candidate_emails WHERE email_lc = ?)",
                (email.strip().lower(),),
            )
            return [f"{c or ''}\n{bytes(body).decode('utf-8', 'replace')}" for c, body in rows]
        finally:
            conn.close()
