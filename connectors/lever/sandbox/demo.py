"""What the demo and the tests need from the Lever sandbox: its credentials, its people, its connector
block, its conversion rule, and a snapshot of the history people carry."""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path
from typing import Any

from syncbridge.sandbox.seed import classify_emails, conversion_rule, made_up_people, pick_people

DEFAULT_API_KEY = "sbx-lever-key-3c9d2f71b8e4"
DEFAULT_CLIENT_ID = "sbx-lever-client-1"
DEFAULT_CLIENT_SECRET = "sbx-lever-secret-8a41c7e09d"
DEFAULT_REFRESH_TOKEN = "sbx-lever-refresh-initial-5e2b"
DEMO_PERFORM_AS_EMAIL = "ada.admin@sandbox-hr.example"
DEMO_ENV: dict[str, str] = {"LEVER_SANDBOX_API_KEY": DEFAULT_API_KEY}


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
        primary, secondary, ambiguous = classify_emails(rows, {e: len(cs) for e, cs in owners.items()})

        def person(contact: str, email_lc: str, kind: str) -> dict[str, Any]:
            data = json.loads(
                conn.execute("SELECT data FROM contacts WHERE id = ?", (contact,)).fetchone()[0]
            )
            raw = next((e for e in data["emails"] if e.strip().lower() == email_lc), email_lc)
            parts = (data.get("name") or "").split()
            first = parts[0] if parts else "Student"
            last = " ".join(parts[1:]) or "Unknown"
            return {"email": raw.strip(), "first_name": first, "last_name": last, "kind": kind}

        out = pick_people(
            rng,
            n=n,
            primary=primary,
            secondary=secondary,
            ambiguous=ambiguous,
            owners=lambda email: sorted(owners[email]),
            person=person,
        )

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
    options = {
        "publish": "published",
        "distribution": "internal",
        "commitment": "Internship",
        "employmentStatus": "intern",
        "location": "Remote",
    }
    return conversion_rule(
        "lever", employer, options, fields={"mi_source_project": "project.title"}, prescreen={}
    )


def demo_connector_block(base_url: str) -> dict[str, Any]:
    """The YAML connector block the demo uses against a sandbox at ``base_url`` (the server root, e.g.
    ``SandboxServer.url``).  Secrets are ``${ENV}`` references; :data:`DEMO_ENV` has their values."""
    root = base_url.rstrip("/")
    if root.endswith("/v1"):
        root = root[:-3]
    return {
        "type": "lever",
        "base_url": f"{root}/v1",
        "api_key": "${LEVER_SANDBOX_API_KEY}",
        "perform_as_email": DEMO_PERFORM_AS_EMAIL,
        "rate_per_second": 8.0,
        "burst": 16,
        "note_secret": False,
        "score_from_rating": True,
        "new_candidate_origin": "sourced",
        "new_candidate_source": "Micro-internship",
        "page_size": 100,
        "window_days": 30,
        "max_offset_restarts": 3,
        "lookback_minutes": 10,
        "connect_timeout": 5.0,
        "read_timeout": 60.0,
        "max_attempts": 6,
        "backoff_base": 0.5,
    }


def people_snapshot(db_path: str | Path) -> dict[str, dict[str, Any]]:
    """What history a person carries, keyed by the person's sorted normalized e-mails (ids differ between
    sandboxes for people created through the API): note texts and tags over all their opportunities."""
    conn = sqlite3.connect(str(db_path))
    try:
        contacts = {cid: json.loads(data) for cid, data in conn.execute("SELECT id, data FROM contacts")}
        out: dict[str, dict[str, Any]] = {}
        opp_contact: dict[str, str] = {}
        tags: dict[str, set[str]] = {}
        for oid, contact, data in conn.execute("SELECT id, contact, data FROM opportunities"):
            opp_contact[oid] = contact
            tags.setdefault(contact, set()).update(json.loads(data).get("tags") or [])
        notes: dict[str, list[str]] = {}
        for opp_id, data in conn.execute("SELECT opp_id, data FROM notes"):
            note = json.loads(data)
            contact = opp_contact.get(opp_id)
            if contact is not None:
                notes.setdefault(contact, []).extend(f["value"] for f in note["fields"])
        for cid, contact in contacts.items():
            if cid not in opp_contact.values() and cid not in tags:
                continue
            key = "|".join(sorted({e.strip().lower() for e in contact.get("emails") or []})) or f"#{cid}"
            entry = out.setdefault(key, {"notes": [], "tags": set(), "people": 0})
            entry["notes"].extend(notes.get(cid, []))
            entry["tags"].update(tags.get(cid, set()))
            entry["people"] += 1
        return {
            k: {"notes": sorted(v["notes"]), "tags": sorted(v["tags"]), "people": v["people"]}
            for k, v in out.items()
        }
    finally:
        conn.close()
