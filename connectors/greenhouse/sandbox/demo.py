"""What the demo needs from the Greenhouse sandbox: its people, its connector block, its conversion rule."""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path
from typing import Any

from syncbridge.sandbox.seed import classify_emails, made_up_people, pick_people

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
    return {
        "name": "strong-intern-greenhouse",
        "when": {"employer": employer, "min_rating": 4.5, "would_hire": True},
        "requisition": {
            "title": "{project.role_title}",
            "code": "MI-{project.team}-{project.role_title}",
            "fields": {"mi_source_project": "project.title"},
            "options": {"template_job_id": 4100002, "publish": "internal", "board": "Sandbox Internal Jobs"},
        },
        "prescreen": {
            "fields": {
                "mi_prescreen_score": "prescreen.score",
                "mi_prescreen_summary": "prescreen.summary",
                "mi_supervisor": "project.supervisor.name",
            },
        },
    }


def demo_people(db_path: str | Path, n: int = 12, seed: int = 7) -> list[dict[str, Any]]:
    """Deterministic people for a demo outcomes file: primary, secondary, ambiguous and unmatched emails."""
    conn = sqlite3.connect(str(db_path))
    try:
        rng = random.Random(f"gh-sandbox-demo:{seed}")
        first = conn.execute("SELECT MIN(id) FROM candidates").fetchone()
        if first is None or first[0] is None:
            return []
        window = int(first[0]) + 5000
        counts = dict(
            conn.execute(
                "SELECT email, COUNT(DISTINCT candidate_id) FROM candidate_emails WHERE email IN "
                "(SELECT email FROM candidate_emails WHERE candidate_id <= ?) GROUP BY email",
                (window,),
            ).fetchall()
        )
        rows = conn.execute(
            "SELECT email, candidate_id, position FROM candidate_emails WHERE candidate_id <= ? "
            "ORDER BY candidate_id, position",
            (window,),
        ).fetchall()
        primary, secondary, ambiguous = classify_emails(rows, counts)

        def owners(email: str) -> list[int]:
            sql = "SELECT DISTINCT candidate_id FROM candidate_emails WHERE email = ? ORDER BY candidate_id"
            return [r[0] for r in conn.execute(sql, (email,))]

        def person(cand_id: int, email_lc: str, kind: str) -> dict[str, Any]:
            data = json.loads(
                conn.execute("SELECT data FROM candidates WHERE id = ?", (cand_id,)).fetchone()[0]
            )
            raw = next(
                (e["value"] for e in data["email_addresses"] if e["value"].strip().lower() == email_lc),
                email_lc,
            )
            return {
                "email": raw.strip(),
                "first_name": data["first_name"],
                "last_name": data["last_name"],
                "kind": kind,
            }

        out = pick_people(
            rng, n=n, primary=primary, secondary=secondary, ambiguous=ambiguous, owners=owners, person=person
        )

        def taken(email: str) -> bool:
            return (
                conn.execute("SELECT 1 FROM candidate_emails WHERE email = ?", (email,)).fetchone()
                is not None
            )

        return out + made_up_people(rng, taken)
    finally:
        conn.close()
