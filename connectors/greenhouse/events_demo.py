"""``syncbridge demo --events`` for Greenhouse (the sandbox plugin's ``events_demo``): the event-driven
side on one machine.

Against a local Greenhouse sandbox, with the webhook receiver and the assessment-partner API running in
this process, it shows two stories a recruiter would notice:

1. a student whose micro-internship outcome is waiting applies in Greenhouse; Greenhouse sends a
   signed ``new_candidate_application`` webhook; syncbridge refreshes that person and writes their
   history at once, without waiting for the schedule;
2. a recruiter orders a micro-internship from a candidate's interview plan (Greenhouse calls
   ``send_test``); when the outcome arrives, syncbridge tells Greenhouse (``PATCH``), Greenhouse asks for
   the status, and the supervisor's rating shows on the scorecard.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
import yaml

from syncbridge.sandbox.server import ThreadedApp

WEBHOOK_SECRET = "demo-webhook-secret"
PARTNER_KEY = "demo-partner-key"


def run_events_demo(
    workdir: Path, *, size: int = 200, seed: int = 7, say: Callable[[str], None] = print
) -> dict[str, Any]:
    from syncbridge.connectors.greenhouse import sandbox
    from syncbridge.demo_data import write_demo_outcomes
    from syncbridge.steps import Runtime, run_all
    from syncbridge.webhook_app import create_app
    from syncbridge.webhooks import Worker

    home = workdir / "events"
    home.mkdir(parents=True, exist_ok=True)
    for old in home.glob("*"):
        if old.is_file():
            old.unlink()
    db = home / "greenhouse-sandbox.db"
    sandbox.seed(db, size=size, seed=seed, reset=True)
    people = sandbox.demo_people(db, n=12, seed=seed)
    all_outcomes = home / "all-outcomes.csv"
    write_demo_outcomes(all_outcomes, people)
    with all_outcomes.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        header, rows = list(reader.fieldnames or []), [r for r in reader if r["student_email"]]
    waiting = next(p for p in people if p["kind"] == "unmatched")
    ordered = next(p for p in people if p["kind"] == "primary")
    ordered_row = next(r for r in rows if r["student_email"].strip().lower() == ordered["email"].lower())
    outcomes = home / "outcomes.csv"

    def write(keep: list[dict[str, str]]) -> None:
        with outcomes.open("w", encoding="utf-8", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=header)
            w.writeheader()
            w.writerows(keep)

    write([r for r in rows if r is not ordered_row])  # that micro-internship has not ended yet
    (home / ".env").write_text("".join(f"{k}={v}\n" for k, v in sandbox.DEMO_ENV.items()), encoding="utf-8")
    with sandbox.SandboxServer(db, rate_limit=0) as gh:
        block = sandbox.demo_connector_block(gh.url)
        config = {
            "version": 1,
            "state": {"url": f"sqlite:///{(home / 'state.db').resolve()}"},
            "outcomes": {"path": str(outcomes.resolve())},
            "connectors": {"acme-greenhouse": block},
            "routing": [{"employer": "Acme Corp", "connector": "acme-greenhouse"}],
            "matching": {"create_unmatched": False},
            "webhooks": {
                "connectors": {"acme-greenhouse": {"secret": "${DEMO_WEBHOOK_SECRET}"}},
                "trigger": "inline",
                "debounce_seconds": 0.2,
            },
            "assessment": {
                "connector": "acme-greenhouse",
                "api_key": "${DEMO_PARTNER_KEY}",
                "tests": [{"id": "mi-acme", "name": "Acme micro-internship", "employer": "Acme Corp"}],
                "handoff": {"file": str((home / "orders.jsonl").resolve())},
            },
        }
        with (home / ".env").open("a", encoding="utf-8") as fh:
            fh.write(f"DEMO_WEBHOOK_SECRET={WEBHOOK_SECRET}\nDEMO_PARTNER_KEY={PARTNER_KEY}\n")
        cfg = home / "events.yaml"
        cfg.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        with Runtime.from_file(cfg) as rt:
            first = run_all(rt)
            say(
                f"scheduled run: {first.apply.get('applied', 0)} writes; "
                f"{first.links.get('unmatched', 0)} outcome(s) wait for students Greenhouse does not know yet"
            )
            assert rt.settings.webhooks is not None
            worker = Worker(rt, rt.settings.webhooks)
            with ThreadedApp(create_app(rt, rt.settings.webhooks, worker=worker)) as inbound:
                worker.start()
                try:
                    return _stories(
                        gh, inbound.url, rt, worker, waiting, ordered, ordered_row, rows, write, say
                    )
                finally:
                    worker.stop()


def _stories(
    gh: Any,
    inbound: str,
    rt: Any,
    worker: Any,
    waiting: dict[str, Any],
    ordered: dict[str, Any],
    ordered_row: dict[str, str],
    rows: list[dict[str, str]],
    write: Callable[[list[dict[str, str]]], None],
    say: Callable[[str], None],
) -> dict[str, Any]:
    from syncbridge.connectors.greenhouse import sandbox
    from syncbridge.connectors.greenhouse.partner_sim import GreenhouseSide
    from syncbridge.connectors.greenhouse.webhooks import greenhouse_signature
    from syncbridge.redact import mask_email
    from syncbridge.steps import run_all

    token = requests.post(
        f"{gh.url}/token",
        data={"grant_type": "client_credentials"},
        auth=(sandbox.DEFAULT_CLIENT_ID, sandbox.DEFAULT_CLIENT_SECRET),
        timeout=10,
    ).json()["access_token"]
    api = {"Authorization": f"Bearer {token}", "On-Behalf-Of": "1000001"}
    created = requests.post(
        f"{gh.url}/v3/candidates",
        json={
            "first_name": waiting["first_name"],
            "last_name": waiting["last_name"],
            "email_addresses": [{"value": waiting["email"], "type": "personal"}],
        },
        headers=api,
        timeout=10,
    ).json()["candidate"]
    body = json.dumps(
        {
            "action": "new_candidate_application",
            "payload": {"application": {"candidate": {"id": created["id"]}}},
        }
    ).encode()
    reply = requests.post(
        f"{inbound}/webhooks/acme-greenhouse",
        data=body,
        headers={
            "Content-Type": "application/json",
            "Greenhouse-Event-ID": f"demo-{created['id']}",
            "Signature": greenhouse_signature(WEBHOOK_SECRET, body),
        },
        timeout=10,
    )
    say(f"{mask_email(waiting['email'])} applied in Greenhouse; signed webhook answered {reply.status_code}")
    forged = requests.post(
        f"{inbound}/webhooks/acme-greenhouse",
        data=body,
        headers={"Content-Type": "application/json", "Signature": "sha256 " + "0" * 64},
        timeout=10,
    )
    say(f"the same event with a forged signature answered {forged.status_code}")
    deadline = time.monotonic() + 120
    while worker.last is None or not worker.last.triggered:
        if time.monotonic() > deadline:
            raise RuntimeError("the webhook event was not worked off within 120 s")
        time.sleep(0.1)
    notes = requests.get(
        f"{gh.url}/v3/notes", params={"candidate_ids": str(created["id"])}, headers=api, timeout=10
    )
    written = sum("syncbridge:" in n["body"] for n in notes.json())
    say(
        f"event → person refreshed → pipeline for acme-greenhouse → {written} history note "
        "on the new applicant"
    )

    with GreenhouseSide(inbound, PARTNER_KEY) as greenhouse:
        tests = greenhouse.list_tests()
        interview = greenhouse.order(tests[0]["partner_test_id"], ordered)
        say(
            f"a recruiter ordered '{tests[0]['partner_test_name']}' for {mask_email(ordered['email'])}: "
            f"status {greenhouse.status(interview)['partner_status']}"
        )
        write(rows)  # the micro-internship ended: its outcome arrives with the next file
        run_all(rt)
        shown = greenhouse.results.get(greenhouse.take_home_id(interview), {})
        say(
            f"outcome arrived → PATCH sent → Greenhouse shows: {shown.get('partner_status')}, "
            f"score {shown.get('partner_score')} (rating {ordered_row['rating']}), "
            f"{len(shown.get('metadata', {}))} metadata fields"
        )
    return {"event_note_written": written, "forged_status": forged.status_code, "assessment": shown}
