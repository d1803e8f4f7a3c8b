"""Greenhouse webhooks: ``Signature: sha256 <hex>`` = HMAC-SHA256(secret key, raw body).

The signature is computed over the bytes received, never over re-serialised JSON (Greenhouse escapes
unicode before signing).  De-duplication uses the ``Greenhouse-Event-ID`` header.  Saving a webhook in
Greenhouse sends an unsigned ``ping``, which is answered and never stored.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from syncbridge.webhook_reader import (
    Delivery,
    ErasureSignal,
    Event,
    Registration,
    WebhookReader,
    id_at,
    work_for,
)

ERASE = frozenset({"delete_candidate", "candidate_anonymized"})
# a merge is not an erasure: the person lives on in the surviving record.  Refreshing the id the event
# names keeps the mirror right either way (the survivor is re-read; a merged-away id is gone and marked
# deleted in the mirror, so nothing is written to it again).
REFRESH = frozenset(
    {
        "merge_candidate",
        "new_candidate_application",
        "new_prospect_application",
        "application_updated",
        "delete_application",
        "candidate_stage_change",
        "update_candidate",
        "hire_candidate",
        "unhire_candidate",
        "reject_candidate",
        "unreject_candidate",
        "offer_created",
        "offer_approved",
        "offer_updated",
        "offer_deleted",
    }
)
#: what to tick in Configure → Dev Center → Web Hooks (Greenhouse's names, then the action)
EVENTS = (
    "Candidate or prospect updated (update_candidate)",
    "Candidate has submitted application (new_candidate_application)",
    "Prospect created (new_prospect_application)",
    "Candidate has changed stage (candidate_stage_change)",
    "Candidate or prospect deleted (delete_candidate)",
    "Candidate merged (merge_candidate)",
    "Candidate anonymized (candidate_anonymized)",
)


def greenhouse_signature(secret: str, raw: bytes) -> str:
    """The ``Signature`` header value Greenhouse sends for ``raw`` (also used by tests and the demo)."""
    return "sha256 " + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def verify_greenhouse(secrets: Iterable[str], raw: bytes, header: str | None) -> bool:
    if not header:
        return False
    algo, _, digest = header.strip().partition(" ")
    if algo.lower() != "sha256" or not digest:
        return False
    return any(
        hmac.compare_digest(hmac.new(s.encode(), raw, hashlib.sha256).hexdigest(), digest.strip().lower())
        for s in secrets
    )


def greenhouse_event(connector: str, event_id: str, body: dict[str, Any]) -> Event:
    action = str(body.get("action") or "")
    payload = body.get("payload") if isinstance(body.get("payload"), dict) else {}
    person = (
        id_at(payload, "application", "candidate", "id")
        or id_at(payload, "candidate", "id")
        or id_at(payload, "person", "id")
        or id_at(payload, "candidate_id")
        or id_at(payload, "application", "candidate_id")
    )
    return Event(connector, event_id, action or "unknown", person, work_for(action, person, ERASE, REFRESH))


class GreenhouseWebhooks(WebhookReader):
    erase_actions: ClassVar[frozenset[str]] = ERASE

    def is_ping(self, body: Mapping[str, Any], *, verified: bool) -> bool:
        # saving a webhook sends a ping that may come unsigned; it stores nothing, so needs no proof
        return body.get("action") == "ping" and (verified or set(body) <= {"action", "payload"})

    def refusal(self, secrets: Iterable[str], delivery: Delivery) -> str | None:
        if verify_greenhouse(secrets, delivery.raw, delivery.headers.get("signature")):
            return None
        return "signature does not match"

    def event(self, connector: str, delivery: Delivery) -> Event:
        event_id = delivery.headers.get("greenhouse-event-id") or hashlib.sha256(delivery.raw).hexdigest()
        return greenhouse_event(connector, event_id, delivery.body)

    def erasure(self, body: Mapping[str, Any]) -> ErasureSignal | None:
        """``candidate_anonymized`` names ``payload.candidate_id``, ``delete_candidate``
        ``payload.person.id``; ``merge_candidate`` is not an erasure (the person lives on)."""
        action = body.get("action")
        if action == "candidate_anonymized":
            return ErasureSignal(
                "anonymized in Greenhouse (candidate_anonymized)",
                person_id=id_at(body, "payload", "candidate_id"),
            )
        if action == "delete_candidate":
            return ErasureSignal(
                "deleted in Greenhouse (delete_candidate)", person_id=id_at(body, "payload", "person", "id")
            )
        return None

    def register(self, reg: Registration) -> None:
        """Harvest has no API to create webhooks: say what to enter in the Greenhouse UI."""
        reg.say("In Greenhouse (Configure → Dev Center → Web Hooks), for each event below:")
        reg.say(f"  Endpoint URL: {reg.url}")
        reg.say(f"  Secret key:   the value of webhooks.connectors.{reg.name}.secret in your config")
        for ev in EVENTS:
            reg.say(f"  - {ev}")
