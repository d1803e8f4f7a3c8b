"""A local Lever Data API v1 server for demos, end-to-end tests and benchmarks.

It speaks the subset of ``/v1`` the connector uses, with Lever's documented semantics:

* ``{data, hasNext, next}`` lists whose offset tokens only work for the query that produced them, in this
  server process (else a 400 ``Invalid offset token: Offset token is invalid for sort``); millisecond
  timestamps; ``updated_at_*`` filters never return records whose ``updatedAt`` is null; confidential
  opportunities, postings and requisitions hidden unless ``confidentiality`` asks for them;
* API-key Basic auth (the key as user name) and an OAuth token endpoint whose refresh tokens are single-use;
* ``perform_as`` required on ``POST /opportunities`` and ``POST /postings[/:id]``, checked elsewhere; every
  ``POST /opportunities`` makes a new opportunity (under the contact an e-mail matches, or ``contact``;
  ``postings`` holds at most one posting); notes do not move ``updatedAt``, tags do; a requisition ``PUT``
  replaces the whole record, a requisition code is used once, custom fields are checked against
  ``/requisition_fields``; postings are linked to requisitions by ``requisitionCodes`` (the requisition
  lists them in ``postings``); posting HTML is checked against the whitelist; deleted opportunities are
  listed by ``/opportunities/deleted``;
* a token bucket (default 10 rps, bursts of 20) answering 429 without rate-limit headers; injected latency
  and faults (429, 500, 503, dropped connections, refused offset tokens), all before the request has any
  effect; ``/_sandbox/...`` admin endpoints (config, stats, token expiry, deletes).

Data lives in one SQLite file (WAL) that survives restarts; ``seed(size=N)`` makes N opportunities.
:mod:`.api` has the HTTP semantics, :mod:`.seed` the records (tables, shapes, the seed, the credentials),
this module what the demo and the tests need; the rest comes from the kit, :mod:`syncbridge.sandbox`.
Run it with ``python -m syncbridge.connectors.lever.sandbox serve --db PATH``.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
from pathlib import Path
from typing import Any

from syncbridge.connectors.lever.sandbox.api import create_app
from syncbridge.connectors.lever.sandbox.seed import (
    DEFAULT_API_KEY,
    DEFAULT_CLIENT_ID,  # noqa: F401 (re-exported, as are the two below)
    DEFAULT_CLIENT_SECRET,  # noqa: F401
    DEFAULT_REFRESH_TOKEN,  # noqa: F401
    seed,
)
from syncbridge.sandbox.cli import ServeCommand, add_token_bucket, token_bucket_options
from syncbridge.sandbox.plugin import KitSandbox
from syncbridge.sandbox.seed import classify_emails, conversion_rule, made_up_people, pick_people
from syncbridge.sandbox.server import ThreadedSandbox

DEMO_PERFORM_AS_EMAIL = "ada.admin@sandbox-hr.example"
DEMO_ENV: dict[str, str] = {"LEVER_SANDBOX_API_KEY": DEFAULT_API_KEY}
# fmt: off
#: the demo's connector block after ``type`` and ``base_url``
_BLOCK = {"api_key": "${LEVER_SANDBOX_API_KEY}", "perform_as_email": DEMO_PERFORM_AS_EMAIL,
          "rate_per_second": 8.0, "burst": 16, "note_secret": False, "score_from_rating": True,
          "new_candidate_origin": "sourced", "new_candidate_source": "Micro-internship", "page_size": 100,
          "window_days": 30, "max_offset_restarts": 3, "lookback_minutes": 10, "connect_timeout": 5.0,
          "read_timeout": 60.0, "max_attempts": 6, "backoff_base": 0.5}
# fmt: on


def demo_people(db_path: str | Path, n: int = 12, seed: int = 7) -> list[dict[str, Any]]:
    """Deterministic people for a demo outcomes file (kinds primary, secondary, ambiguous, unmatched).

    ``primary``: an e-mail that is the first of exactly one contact; ``secondary``: a later e-mail of
    exactly one contact; ``ambiguous``: an e-mail two contacts share; ``unmatched``: nobody has it.
    """
    conn = sqlite3.connect(str(db_path))
    try:
        rng = random.Random(f"lever-sandbox-demo:{seed}")
        rows = conn.execute(
            "SELECT ce.email, ce.contact, ce.position FROM contact_emails ce "
            "WHERE ce.contact IN (SELECT id FROM contacts ORDER BY sort, id LIMIT 5000) "
            "AND EXISTS (SELECT 1 FROM opportunities o WHERE o.contact = ce.contact) "
            "ORDER BY ce.contact, ce.position"
        ).fetchall()
        if not rows:
            return []
        owners: dict[str, set[str]] = {}
        for email, contact, _pos in rows:
            owners.setdefault(email, set()).add(contact)
        found = classify_emails(rows, {e: len(c) for e, c in owners.items()})
        groups: dict[str, Any] = dict(zip(("primary", "secondary", "ambiguous"), found, strict=True))

        def person(contact: str, email_lc: str, kind: str) -> dict[str, Any]:
            row = conn.execute("SELECT data FROM contacts WHERE id = ?", (contact,)).fetchone()
            data = json.loads(row[0])
            raw = next((e for e in data["emails"] if e.strip().lower() == email_lc), email_lc)
            first, *rest = (data.get("name") or "Student").split() or ["Student"]
            names = {"first_name": first, "last_name": " ".join(rest) or "Unknown"}
            return {"email": raw.strip(), **names, "kind": kind}

        out = pick_people(rng, n=n, owners=lambda email: sorted(owners[email]), person=person, **groups)
        seen = {p["email"] for p in out}

        def taken(email: str) -> bool:  # nobody's, and not made up twice
            if email in owners or email in seen:
                return True
            seen.add(email)
            return False

        return out + made_up_people(rng, taken, offset_once=False)
    finally:
        conn.close()


def demo_conversion_rule(employer: str) -> dict[str, Any]:
    """The demo's conversion rule for this sandbox: strong micro-interns of ``employer`` get one Lever
    requisition per team and role (with the seeded ``mi_source_project`` requisition field), its posting
    published on the internal job site only, a new opportunity on it and the prescreen note."""
    options = {"publish": "published", "distribution": "internal", "commitment": "Internship"}
    options.update(employmentStatus="intern", location="Remote")
    fields = {"mi_source_project": "project.title"}
    return conversion_rule("lever", employer, options, fields=fields, prescreen={})


def demo_connector_block(base_url: str) -> dict[str, Any]:
    """The YAML connector block the demo uses against a sandbox at ``base_url`` (the server root, e.g.
    ``SandboxServer.url``).  Secrets are ``${ENV}`` references; :data:`DEMO_ENV` has their values."""
    root = base_url.rstrip("/").removesuffix("/v1")
    return {"type": "lever", "base_url": f"{root}/v1", **_BLOCK}


def people_snapshot(db_path: str | Path) -> dict[str, dict[str, Any]]:
    """What history a person carries, keyed by the person's sorted normalized e-mails (ids differ between
    sandboxes for people created through the API): note texts and tags over all their opportunities."""
    conn = sqlite3.connect(str(db_path))
    try:
        opp_contact: dict[str, str] = {}
        tags: dict[str, set[str]] = {}
        for oid, contact, data in conn.execute("SELECT id, contact, data FROM opportunities"):
            opp_contact[oid] = contact
            tags.setdefault(contact, set()).update(json.loads(data).get("tags") or [])
        notes: dict[str, list[str]] = {}
        for opp_id, data in conn.execute("SELECT opp_id, data FROM notes"):
            if opp_id in opp_contact:
                texts = [f["value"] for f in json.loads(data)["fields"]]
                notes.setdefault(opp_contact[opp_id], []).extend(texts)
        out: dict[str, dict[str, Any]] = {}
        for cid, data in conn.execute("SELECT id, data FROM contacts"):
            if cid in tags:  # a contact with an opportunity
                emails = json.loads(data).get("emails") or []
                key = "|".join(sorted({e.strip().lower() for e in emails})) or f"#{cid}"
                entry = out.setdefault(key, {"notes": [], "tags": set(), "people": 0})
                entry["notes"].extend(notes.get(cid, []))
                entry["tags"].update(tags[cid])
                entry["people"] += 1
        return {k: v | {"notes": sorted(v["notes"]), "tags": sorted(v["tags"])} for k, v in out.items()}
    finally:
        conn.close()


class SandboxServer(ThreadedSandbox):
    """The Lever sandbox served by uvicorn in a background thread (port 0 = a free port).

    Use as a context manager; ``url`` is the server root (the API is under ``/v1``).
    """

    vendor = "Lever"
    factory = create_app

    @property
    def api_url(self) -> str:
        return f"{self.url}/v1"


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


main = SERVE.main  # the sandbox's command line (``python -m`` and ``syncbridge sandbox``)


class LeverSandbox(KitSandbox):
    """The Lever sandbox as a plugin (entry point ``syncbridge.sandboxes``)."""

    vendor = "lever"
    employer = "Globex"
    connector_name = "globex-lever"
    outcome_prefix = "LV"
    env = DEMO_ENV
    serve = SERVE
    server_class = SandboxServer
    people = demo_people
    connector_block = staticmethod(demo_connector_block)
    conversion_rule = staticmethod(demo_conversion_rule)
    conformance_server_options = {"rate_per_second": 0}
    conformance_block_options = {"rate_per_second": 500.0, "burst": 500}

    def nurture_options(self) -> dict[str, Any] | None:
        return {"stage": "lead-reached-out"}

    def note_texts(self, db_path: Path, email: str) -> list[str] | None:
        wanted = email.strip().lower()
        people = people_snapshot(db_path).items()
        return [text for key, person in people if wanted in key.split("|") for text in person["notes"]]
