"""What the demo needs from the Greenhouse sandbox: its people, its connector block, its conversion rule."""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path
from typing import Any

from syncbridge.sandbox.seed import classify_emails, conversion_rule, made_up_people, pick_people

DEFAULT_CLIENT_ID = "sandbox-client-1"
DEFAULT_CLIENT_SECRET = "sbx-gh-secret-5f1c0e2d9a"

#: the seeded Site Admin (Ada Admin) that the demo's writes are attributed to
DEMO_USER_ID = 1000001
DEMO_ENV: dict[str, str] = {
    "GREENHOUSE_SANDBOX_CLIENT_ID": DEFAULT_CLIENT_ID,
    "GREENHOUSE_SANDBOX_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
}


def demo_connector_block(base_url: str) -> dict[str, Any]:
    """The YAML connector block the demo uses against a sandbox at ``base_url``; secrets are ``${ENV}``
    references whose values are in :data:`DEMO_ENV`."""
    root = base_url.rstrip("/")
    return {
        "type": "greenhouse",
        "client_id": "${GREENHOUSE_SANDBOX_CLIENT_ID}",
        "client_secret": "${GREENHOUSE_SANDBOX_CLIENT_SECRET}",
        "user_id": DEMO_USER_ID,
        "base_url": root,
        "token_url": f"{root}/token",
    }


def demo_conversion_rule(employer: str) -> dict[str, Any]:
    """The demo's conversion rule for this sandbox: strong micro-interns get a job copied from the seeded
    "Template: Data Analyst (Entry Level)" job, posted live on the internal board, with prescreen fields."""
    options = {"template_job_id": 4100002, "publish": "internal", "board": "Sandbox Internal Jobs"}
    prescreen = {
        "mi_prescreen_score": "prescreen.score",
        "mi_prescreen_summary": "prescreen.summary",
        "mi_supervisor": "project.supervisor.name",
    }
    return conversion_rule(
        "greenhouse",
        employer,
        options,
        fields={"mi_source_project": "project.title"},
        prescreen={"fields": prescreen},
    )


def demo_people(db_path: str | Path, n: int = 12, seed: int = 7) -> list[dict[str, Any]]:
    """Deterministic people for a demo outcomes file: primary, secondary, ambiguous and unmatched emails."""
    conn = sqlite3.connect(str(db_path))

    def query(sql: str, *args: Any) -> list[Any]:
        return conn.execute(sql, args).fetchall()

    def owners(email: str) -> list[int]:
        sql = "SELECT DISTINCT candidate_id FROM candidate_emails WHERE email = ? ORDER BY candidate_id"
        return [row[0] for row in query(sql, email)]

    def person(cand_id: int, email_lc: str, kind: str) -> dict[str, Any]:
        data = json.loads(query("SELECT data FROM candidates WHERE id = ?", cand_id)[0][0])
        given = [e["value"] for e in data["email_addresses"] if e["value"].strip().lower() == email_lc]
        email = (given or [email_lc])[0].strip()
        return {
            "email": email,
            "first_name": data["first_name"],
            "last_name": data["last_name"],
            "kind": kind,
        }

    try:
        rng = random.Random(f"gh-sandbox-demo:{seed}")
        first = query("SELECT MIN(id) FROM candidates")[0][0]
        if first is None:
            return []
        window = int(first) + 5000  # the first 5000 candidates are enough (a bounded scan)
        sql = "SELECT email, COUNT(DISTINCT candidate_id) FROM candidate_emails WHERE email IN "
        sql += "(SELECT email FROM candidate_emails WHERE candidate_id <= ?) GROUP BY email"
        counts = dict(query(sql, window))
        sql = "SELECT email, candidate_id, position FROM candidate_emails WHERE candidate_id <= ? "
        primary, secondary, ambiguous = classify_emails(
            query(sql + "ORDER BY candidate_id, position", window), counts
        )
        out = pick_people(
            rng, n=n, primary=primary, secondary=secondary, ambiguous=ambiguous, owners=owners, person=person
        )
        return out + made_up_people(rng, lambda email: bool(owners(email)))
    finally:
        conn.close()
