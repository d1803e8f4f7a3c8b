"""What the demo needs from the Workday sandbox: its people, its connector block, its conversion rule, and
a snapshot of what the API changed (to compare two runs)."""

from __future__ import annotations

import json
import random
import sqlite3
from functools import partial
from pathlib import Path
from typing import Any

from syncbridge.connectors.workday.sandbox.seed import (
    DEFAULT_DOCUMENT_CATEGORY,
    DEFAULT_PASSWORD,
    DEFAULT_TENANT,
    DEFAULT_USERNAME,
    DEFAULT_VERSION,
    DOCUMENT_CATEGORY_TYPE,
    TAG_ID_TYPE,
)
from syncbridge.sandbox.seed import classify_emails, conversion_rule, made_up_people, pick_people

#: env names the demo config refers to → the sandbox credentials
DEMO_ENV: dict[str, str] = {
    "SB_DEMO_WD_USERNAME": DEFAULT_USERNAME,
    "SB_DEMO_WD_PASSWORD": DEFAULT_PASSWORD,
}
#: people nobody has (the demo's unmatched outcomes)
MADE_UP_NAMES = [
    ("Imogen", "Achterberg"),
    ("Bartholomew", "Nkemelu"),
    ("Solveig", "Quispe"),
    ("Rafferty", "Oyelaran"),
]


def demo_people(db_path: str | Path, n: int = 12, seed: int = 7) -> list[dict[str, Any]]:
    """Deterministic people for a demo outcomes file: ``n - 4`` matched by their primary e-mail, one by
    a secondary e-mail, one by an e-mail two people share (ambiguous) and two nobody has (unmatched)."""
    conn = sqlite3.connect(str(db_path))
    try:
        rng = random.Random(f"wd-sandbox-demo:{seed}")
        window = 5000
        counts = dict(
            conn.execute(
                "SELECT email_lc, COUNT(DISTINCT cand_pk) FROM candidate_emails WHERE email_lc IN "
                "(SELECT email_lc FROM candidate_emails WHERE cand_pk <= ?) GROUP BY email_lc",
                (window,),
            ).fetchall()
        )
        rows = conn.execute(
            "SELECT e.email_lc, e.raw, e.cand_pk, e.position, c.first_name, c.last_name "
            "FROM candidate_emails e "
            "JOIN candidates c ON c.pk = e.cand_pk WHERE e.cand_pk <= ? AND c.origin = 'seed' "
            "ORDER BY e.cand_pk, e.position",
            (window,),
        ).fetchall()
        names = {r[2]: (r[4], r[5]) for r in rows}
        raw: dict[tuple[str, int], str] = {}
        for r in rows:
            raw.setdefault((r[0], r[2]), r[1])
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

        pick = partial(pick_people, rng, n=n, owners=owners, person=person, rare_first=False)
        out = pick(primary=primary, secondary=secondary, ambiguous=ambiguous)

        def taken(email: str) -> bool:
            sql = "SELECT 1 FROM candidate_emails WHERE email_lc = ?"
            return conn.execute(sql, (email,)).fetchone() is not None

        return out + made_up_people(rng, taken, names=MADE_UP_NAMES, domain="nobody-here.example")
    finally:
        conn.close()


def history_snapshot(db_path: str | Path) -> dict[str, list[dict[str, Any]]]:
    """What the API changed, per e-mail: for every person written to (tags set, attachments added or
    created through the API), their tag ids and the comments and contents of API-written attachments.
    Ids and timestamps are left out, so two identically seeded sandboxes can be compared."""
    conn = sqlite3.connect(str(db_path))
    try:
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
            key = addresses[0] if addresses else f"(no e-mail #{pk})"
            out.setdefault(key, []).append(state)
        for states in out.values():
            states.sort(key=lambda s: json.dumps(s, sort_keys=True))
        return out
    finally:
        conn.close()


def demo_connector_block(base_url: str) -> dict[str, Any]:
    """The YAML connector block the demo uses against a sandbox at ``base_url`` (every setting spelled
    out; secrets as ``${ENV}`` references, see :data:`DEMO_ENV`)."""
    return {
        "type": "workday",
        "host": base_url.rstrip("/"),
        "tenant": DEFAULT_TENANT,
        "version": DEFAULT_VERSION,
        "username": "${SB_DEMO_WD_USERNAME}",
        "password": "${SB_DEMO_WD_PASSWORD}",
        "document_category": DEFAULT_DOCUMENT_CATEGORY,
        "document_category_id_type": DOCUMENT_CATEGORY_TYPE,
        "tag_ids": {"micro-intern": "MICRO_INTERN", "micro-intern-sourced": "MICRO_INTERN_SOURCED"},
        "tag_id_type": TAG_ID_TYPE,
        "application_stage": "Review",
        "move_to_step": "Screen",
        "lag_minutes": 60,
        "lookback_minutes": 10,
        "page_size": 100,
        "requests_per_second": 50.0,
        "connect_timeout": 5.0,
        "read_timeout": 60.0,
        "max_attempts": 5,
    }


def demo_conversion_rule(employer: str) -> dict[str, Any]:
    """The demo's conversion rule for this sandbox: a strong micro-intern gets a job requisition per team
    and role in the seeded Data & Analytics organisation (its approval process left to run), and is
    applied to it, moved on to the Screen step, with the prescreen summary on the job application."""
    options = {
        "supervisory_organization": "SUP-DATA",
        "reason": "INTERN_CONVERSION",
        "job_profile": "JP-GRADUATE",
        "location": "REMOTE",
        "worker_type": "Employee",
        "time_type": "Full_time",
        "target_hire_days": 60,
    }
    fields = {"mi_prescreen_score": "prescreen.score", "mi_supervisor": "project.supervisor.name"}
    return conversion_rule("workday", employer, options, prescreen={"fields": fields, "stage": "Review"})
