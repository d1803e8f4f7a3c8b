"""Lever webhooks: ``signature`` in the body = HMAC-SHA256(signature token, ``token`` + ``triggeredAt``).

The signature does not cover the body, so an event whose ``triggeredAt`` is outside the replay window
is refused, and the event ``id`` (or ``token``) de-duplicates it, so a captured delivery cannot be
replayed inside the window either.  Lever shows a webhook's signature token only when the webhook is
created through the API, so ``syncbridge webhooks register`` keeps it in the state store.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from hashlib import sha256
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

ERASE = frozenset({"candidateDeleted"})
REFRESH = frozenset(
    {
        "applicationCreated",
        "candidateHired",
        "candidateStageChange",
        "candidateArchiveChange",
        "contactCreated",
        "contactUpdated",
    }
)
#: events syncbridge acts on (the ones a webhook can be registered for through the API)
EVENTS = (
    "applicationCreated",
    "candidateStageChange",
    "candidateArchiveChange",
    "candidateHired",
    "candidateDeleted",
    "contactCreated",
    "contactUpdated",
)


def lever_signature(token_secret: str, token: str, triggered_at: int | str) -> str:
    return hmac.new(token_secret.encode(), f"{token}{triggered_at}".encode(), sha256).hexdigest()


def verify_lever(secrets: Iterable[str], body: Mapping[str, Any]) -> bool:
    token, at, signature = body.get("token"), body.get("triggeredAt"), body.get("signature")
    if not isinstance(token, str) or not isinstance(signature, str) or isinstance(at, bool):
        return False
    if not isinstance(at, int | str):
        return False
    return any(hmac.compare_digest(lever_signature(s, token, at), signature) for s in secrets)


def lever_event(connector: str, body: dict[str, Any]) -> Event:
    action = str(body.get("event") or "")
    # Lever's contact is the person; older payloads call the same id candidateId.  The UI's test
    # request has data {} and names nobody, so it is ignored.
    person = id_at(body, "data", "contactId") or id_at(body, "data", "candidateId")
    event_id = id_at(body, "id") or f"token:{body.get('token')}"
    return Event(connector, event_id, action or "unknown", person, work_for(action, person, ERASE, REFRESH))


class LeverWebhooks(WebhookReader):
    secret_required: ClassVar[bool] = False  # `syncbridge webhooks register` keeps the tokens it is given
    erase_actions: ClassVar[frozenset[str]] = ERASE

    def refusal(self, secrets: Iterable[str], delivery: Delivery) -> str | None:
        body = delivery.body
        if not verify_lever(secrets, body):
            return "signature does not match"
        try:
            at = int(body["triggeredAt"]) / 1000.0
        except (TypeError, ValueError):
            return "triggeredAt is not a time"
        if abs(delivery.now - at) > delivery.replay_window_seconds:
            return "event too old (or from the future): possible replay"
        return None

    def event(self, connector: str, delivery: Delivery) -> Event:
        return lever_event(connector, delivery.body)

    def erasure(self, body: Mapping[str, Any]) -> ErasureSignal | None:
        """``candidateDeleted`` names ``data.contactId``, else the opportunity (whose contact the mirror
        knows)."""
        if body.get("event") != "candidateDeleted":
            return None
        return ErasureSignal(
            "deleted in Lever (candidateDeleted)",
            person_id=id_at(body, "data", "contactId"),
            candidacy_id=id_at(body, "data", "opportunityId") or id_at(body, "data", "candidateId"),
        )

    def register(self, reg: Registration) -> None:
        """``POST /webhooks`` per event; the signature token in each answer is kept."""
        for event in reg.events or EVENTS:
            created = reg.connector.client.create_webhook(reg.url, event)  # type: ignore[attr-defined]
            token = (created.get("configuration") or {}).get("signatureToken")
            if token:
                reg.remember_token(str(token))
            kept = " (token kept)" if token else ""
            reg.say(f"{reg.name}: webhook {created.get('id', '?')} for {event}{kept}")
        reg.say("A Lever Super Admin must still switch these event groups on under Settings → Integrations.")
