"""A local Workday Recruiting (WWS) server for demos, end-to-end tests and benchmarks.

It answers SOAP 1.1 POSTs at ``/ccx/service/{tenant}/Recruiting/{version}`` with the element names and
shapes the connector expects (``docs/workday.md``):

* **auth**: a WS-Security UsernameToken (``user@tenant``, PasswordText) or an OAuth bearer token from
  ``POST /ccx/oauth2/{tenant}/token`` (refresh-token grant, optional refresh-token rotation);
* **operations**: Get_Candidates (Request_References, or Request_Criteria: the transaction log, e-mail,
  applied and created ranges, tags), Get_Job_Requisitions, Put_Candidate (create, or update with a
  *replacing* tag list; ``Job_Application_Data`` applies the person to a requisition),
  Put_Candidate_Attachment (on the candidate or one of its job applications; listed back inline by
  Get_Candidates unless attachments are excluded), Create_Job_Requisition (root
  ``Create_Requisition_Request``), Post_Job and Get_Job_Postings, Move_Candidate; unknown references and
  missing data are validation faults with an Xpath;
* **paging**: Response_Filter Page/Count (1..999) with ``As_Of_Entry_DateTime`` honoured, and
  Response_Results; **faults**: SOAP 1.1 ``Fault`` with a ``wd:Validation_Fault`` (Message,
  Detail_Message, Xpath) or ``wd:Processing_Fault`` detail, HTTP 500;
* a tenant **version cap**, a switch refusing the transaction-log criterion, and the kit's gate
  (latency, a fixed-window rate limit, injected 429/500/503/dropped connections before any effect);
* ``/_sandbox/...`` admin endpoints: ``config`` (GET/POST), ``stats``, ``health``, ``expire_tokens``,
  ``candidates/{wid}``, ``requisitions/{id}`` (GET, and POST ``{"status": "Open"}`` to finish an approval).

Requisitions created without ``Auto_Complete`` wait in *Awaiting Approval* (candidates can be applied to
them, but they cannot be posted until they are Open).  One liberty, for the matching tests: a v46
``Contact_Data`` carries one ``Email_Address``; the sandbox repeats it for people with several addresses.

Data lives in one SQLite file (WAL) and survives restarts.  :mod:`.api` is the API, :mod:`.tenant` the
tenant's reference data, tables and seed; this module the demo's people, block and rule and the plugin.
Run it with ``python -m syncbridge.connectors.workday.sandbox serve --db PATH``.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import sqlite3
from contextlib import closing
from functools import partial
from pathlib import Path
from typing import Any

from syncbridge.connectors.workday.sandbox.api import create_app
from syncbridge.connectors.workday.sandbox.tenant import DEFAULT_CLIENT_ID as DEFAULT_CLIENT_ID
from syncbridge.connectors.workday.sandbox.tenant import DEFAULT_CLIENT_SECRET as DEFAULT_CLIENT_SECRET
from syncbridge.connectors.workday.sandbox.tenant import (
    DEFAULT_DOCUMENT_CATEGORY,
    DEFAULT_MAX_VERSION,
    DEFAULT_PASSWORD,
    DEFAULT_TENANT,
    DEFAULT_USERNAME,
    DEFAULT_VERSION,
    DOCUMENT_CATEGORY_TYPE,
    MAX_SIZE,
    MIN_SIZE,
    TAG_ID_TYPE,
    seed,
)
from syncbridge.connectors.workday.sandbox.tenant import DEFAULT_REFRESH_TOKEN as DEFAULT_REFRESH_TOKEN
from syncbridge.connectors.workday.sandbox.tenant import JOB_PROFILES as JOB_PROFILES
from syncbridge.connectors.workday.sandbox.tenant import LOCATIONS as LOCATIONS
from syncbridge.connectors.workday.sandbox.tenant import ORGS as ORGS
from syncbridge.connectors.workday.sandbox.tenant import REASONS as REASONS
from syncbridge.connectors.workday.sandbox.tenant import REQUISITIONS as REQUISITIONS
from syncbridge.connectors.workday.sandbox.tenant import STAGES as STAGES
from syncbridge.connectors.workday.sandbox.tenant import TIME_TYPES as TIME_TYPES
from syncbridge.connectors.workday.sandbox.tenant import WORKER_TYPES as WORKER_TYPES
from syncbridge.sandbox.cli import ServeCommand, add_fixed_window, fixed_window_options
from syncbridge.sandbox.plugin import KitSandbox
from syncbridge.sandbox.seed import classify_emails, conversion_rule, made_up_people, pick_people
from syncbridge.sandbox.server import ThreadedSandbox

# fmt: off
#: env names the demo config refers to → the sandbox credentials
DEMO_ENV = {"SB_DEMO_WD_USERNAME": DEFAULT_USERNAME, "SB_DEMO_WD_PASSWORD": DEFAULT_PASSWORD}
#: people nobody has (the demo's unmatched outcomes)
MADE_UP_NAMES = [("Imogen", "Achterberg"), ("Bartholomew", "Nkemelu"), ("Solveig", "Quispe"),
                 ("Rafferty", "Oyelaran")]
#: the demo's connector block (its host aside)
_DEMO_BLOCK: dict[str, Any] = {
    "type": "workday", "host": "", "tenant": DEFAULT_TENANT, "version": DEFAULT_VERSION,
    "username": "${SB_DEMO_WD_USERNAME}", "password": "${SB_DEMO_WD_PASSWORD}",
    "document_category": DEFAULT_DOCUMENT_CATEGORY, "document_category_id_type": DOCUMENT_CATEGORY_TYPE,
    "tag_ids": {"micro-intern": "MICRO_INTERN", "micro-intern-sourced": "MICRO_INTERN_SOURCED"},
    "tag_id_type": TAG_ID_TYPE, "application_stage": "Review", "move_to_step": "Screen", "lag_minutes": 60,
    "lookback_minutes": 10, "page_size": 100, "requests_per_second": 50.0, "connect_timeout": 5.0,
    "read_timeout": 60.0, "max_attempts": 5,
}
#: how the demo's conversion rule opens a requisition: seeded reference data
_DEMO_REQUISITION = {
    "supervisory_organization": "SUP-DATA", "reason": "INTERN_CONVERSION", "job_profile": "JP-GRADUATE",
    "location": "REMOTE", "worker_type": "Employee", "time_type": "Full_time", "target_hire_days": 60,
}
# fmt: on


def demo_people(db_path: str | Path, n: int = 12, seed: int = 7) -> list[dict[str, Any]]:
    """Deterministic people for a demo outcomes file: ``n - 4`` matched by their primary e-mail, one by
    a secondary e-mail, one by an e-mail two people share (ambiguous) and two nobody has (unmatched)."""
    with closing(sqlite3.connect(str(db_path))) as conn:
        rng, window = random.Random(f"wd-sandbox-demo:{seed}"), 5000
        sql = "SELECT email_lc, COUNT(DISTINCT cand_pk) FROM candidate_emails WHERE email_lc IN "
        sql += "(SELECT email_lc FROM candidate_emails WHERE cand_pk <= ?) GROUP BY email_lc"
        counts = dict(conn.execute(sql, (window,)).fetchall())
        rows = conn.execute(
            "SELECT e.email_lc, e.raw, e.cand_pk, e.position, c.first_name, c.last_name "
            "FROM candidate_emails e JOIN candidates c ON c.pk = e.cand_pk "
            "WHERE e.cand_pk <= ? AND c.origin = 'seed' ORDER BY e.cand_pk, e.position",
            (window,),
        ).fetchall()
        names = {r[2]: (r[4], r[5]) for r in rows}
        raw = {(r[0], r[2]): r[1] for r in reversed(rows)}  # the first address of each
        # a person found by an e-mail of their own needs a first name; an ambiguous one need not
        primary, secondary, _ = classify_emails([(r[0], r[2], r[3]) for r in rows if r[4]], counts)
        ambiguous = classify_emails([(r[0], r[2], r[3]) for r in rows], counts)[2]

        def owners(email: str) -> list[int]:
            sql = "SELECT DISTINCT cand_pk FROM candidate_emails WHERE email_lc = ? ORDER BY cand_pk"
            return [r[0] for r in conn.execute(sql, (email,))]

        def person(pk: int, email_lc: str, kind: str) -> dict[str, Any]:
            first, last = names[pk]
            email = str(raw[email_lc, pk]).strip()
            return {"email": email, "first_name": first or "Alex", "last_name": last, "kind": kind}

        def taken(email: str) -> bool:
            sql = "SELECT 1 FROM candidate_emails WHERE email_lc = ?"
            return conn.execute(sql, (email,)).fetchone() is not None

        pick = partial(pick_people, rng, n=n, owners=owners, person=person, rare_first=False)
        out = pick(primary=primary, secondary=secondary, ambiguous=ambiguous)
        return out + made_up_people(rng, taken, names=MADE_UP_NAMES, domain="nobody-here.example")


def history_snapshot(db_path: str | Path) -> dict[str, list[dict[str, Any]]]:
    """What the API changed, per e-mail: for every person written to (tags set, attachments added or
    created through the API), their tag ids and the comments and contents of API-written attachments.
    Ids and timestamps are left out, so two identically seeded sandboxes can be compared."""
    with closing(sqlite3.connect(str(db_path))) as conn:
        touched = conn.execute(
            "SELECT pk FROM candidates WHERE touched = 1 OR origin = 'api' "
            "UNION SELECT cand_pk FROM attachments WHERE origin = 'api'"
        ).fetchall()
        out: dict[str, list[dict[str, Any]]] = {}
        for (pk,) in touched:
            sql = "SELECT email_lc FROM candidate_emails WHERE cand_pk = ? ORDER BY position"
            addresses = [r[0] for r in conn.execute(sql, (pk,))]
            sql = (
                "SELECT t.tag_id FROM candidate_tags ct JOIN tags t ON t.pk = ct.tag_pk WHERE ct.cand_pk = ?"
            )
            tag_ids = sorted(r[0] for r in conn.execute(sql, (pk,)))
            sql = "SELECT comment, content FROM attachments WHERE cand_pk = ? AND origin = 'api'"
            notes = sorted(
                (r[0] or "", bytes(r[1]).decode("utf-8", "replace")) for r in conn.execute(sql, (pk,))
            )
            state = {"tags": tag_ids, "attachments": [list(n) for n in notes]}
            out.setdefault(addresses[0] if addresses else f"(no e-mail #{pk})", []).append(state)
        for states in out.values():
            states.sort(key=lambda s: json.dumps(s, sort_keys=True))
        return out


def demo_connector_block(base_url: str) -> dict[str, Any]:
    """The YAML connector block the demo uses against a sandbox at ``base_url`` (every setting spelled
    out; secrets as ``${ENV}`` references, see :data:`DEMO_ENV`)."""
    return copy.deepcopy({**_DEMO_BLOCK, "host": base_url.rstrip("/")})


def demo_conversion_rule(employer: str) -> dict[str, Any]:
    """The demo's conversion rule for this sandbox: a strong micro-intern gets a job requisition per team
    and role in the seeded Data & Analytics organisation (its approval process left to run), and is
    applied to it, moved on to the Screen step, with the prescreen summary on the job application."""
    fields = {"mi_prescreen_score": "prescreen.score", "mi_supervisor": "project.supervisor.name"}
    prescreen = {"fields": fields, "stage": "Review"}
    return conversion_rule("workday", employer, dict(_DEMO_REQUISITION), prescreen=prescreen)


class SandboxServer(ThreadedSandbox):
    """The Workday sandbox served by uvicorn in a background thread (port 0 picks a free one)."""

    vendor = "Workday"
    factory = create_app

    @property
    def service_url(self) -> str:
        tenant = self.app_kwargs.get("tenant", DEFAULT_TENANT)
        return f"{self.url}/ccx/service/{tenant}/Recruiting/{DEFAULT_VERSION}"


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-version", default=DEFAULT_MAX_VERSION, help="highest WWS version accepted")
    refuse = "refuse Transaction_Log_Criteria_Data like some tenants do"
    parser.add_argument("--no-transaction-log", action="store_true", help=refuse)
    add_fixed_window(parser, limit=0, window=60.0)
    parser.add_argument("--rotate-refresh-tokens", action="store_true")


def _app_options(args: argparse.Namespace) -> dict[str, Any]:
    options = {"max_version": args.max_version, "transaction_log": not args.no_transaction_log}
    return {**fixed_window_options(args), **options, "rotate_refresh_tokens": args.rotate_refresh_tokens}


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


main = SERVE.main  # the sandbox's command line (``python -m`` and ``syncbridge sandbox``)


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
