"""Signed vendor webhooks in: verify, de-duplicate, queue, and turn events into work.

The receiver (``syncbridge webhooks serve``) does as little as possible while the vendor waits: it
checks size, content type and signature, records the event once under the vendor's event id, and
answers 200.  A single worker thread drains the queue afterwards, so a burst of a thousand events for
a handful of people becomes a handful of targeted refreshes and at most one pipeline run per
connector per drain (``debounce_seconds`` apart).

How a vendor signs its webhooks and what its events mean is the vendor plugin's business: its connector
class's ``webhooks`` (a :class:`syncbridge.webhook_reader.WebhookReader`); this module never names a
vendor.

Unsigned, wrongly signed and replayed events never reach the store; they are answered 401 and logged
without their body.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from syncbridge.errors import NotFound, SyncbridgeError
from syncbridge.redact import register_secret
from syncbridge.store import events, ledger, links, outcomes
from syncbridge.webhook_reader import Event, WebhookReader

__all__ = ["Event", "WebhookSettings", "drain", "enqueue", "reader_for"]

if TYPE_CHECKING:
    from syncbridge.steps import Runtime

log = logging.getLogger("syncbridge.webhooks")


def reader_for(connector_type: str) -> WebhookReader | None:
    """The connector type's webhook reader, None when its vendor sends no webhooks syncbridge reads."""
    from syncbridge.connector import connector_class

    return connector_class(connector_type).webhooks


class WebhookEndpoint(BaseModel):
    """The shared secret of one connector's webhooks (``webhooks.connectors.<name>``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    secret: SecretStr | None = Field(
        default=None,
        description="the webhook's shared secret (secret key, signature token: the vendor's name for it); "
        "may be left out where `syncbridge webhooks register` stored the token the vendor gave",
    )
    previous_secret: SecretStr | None = Field(
        default=None, description="the secret before a rotation, accepted until you remove it"
    )


class WebhookSettings(BaseModel):
    """``webhooks:`` in the YAML: the receiver and what events turn into."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    connectors: dict[str, WebhookEndpoint] = Field(
        min_length=1, description="connector name → its webhook secret"
    )
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=50 * 1024 * 1024)
    replay_window_seconds: int = Field(
        default=900,
        ge=30,
        le=86_400,
        description="oldest accepted event time, in seconds, where the signature does not cover the body",
    )
    trigger: Literal["inline", "deployment", "none"] = Field(
        default="inline",
        description="what an event for a person with a waiting outcome starts: `inline` runs the "
        "pipeline for that connector in the receiver process, `deployment` starts the Prefect "
        "deployment `deployment`, `none` leaves it to the next scheduled run",
    )
    deployment: str = Field(
        default="syncbridge-pipeline/pipeline-{connector}",
        description="Prefect deployment started when `trigger: deployment` ({connector} is replaced)",
    )
    debounce_seconds: float = Field(default=5.0, ge=0, le=3600, description="drain the queue this often")
    max_queue: int = Field(default=10_000, ge=10, description="queued events before answering 503")


# -- the queue ------------------------------------------------------------------------------------------


class QueueFull(SyncbridgeError):
    """More events wait than ``max_queue``: the vendor should deliver again later."""


def enqueue(rt: Runtime, event: Event, *, max_queue: int) -> bool:
    """Record ``event`` once; False when this event id was seen before (a re-delivery)."""
    now = datetime.now(UTC)
    with rt.store.tx() as conn:
        waiting = conn.execute(select(func.count()).select_from(events).where(events.c.status == "queued"))
        if (waiting.scalar() or 0) >= max_queue:
            raise QueueFull(f"{max_queue} webhook events are already waiting")
    try:
        with rt.store.tx() as conn:
            conn.execute(
                insert(events).values(
                    connector=event.connector,
                    event_id=event.event_id[:255],
                    action=event.action[:64],
                    person_id=event.person_id,
                    status="queued" if event.work != "ignore" else "ignored",
                    received_at=now,
                    processed_at=None if event.work != "ignore" else now,
                )
            )
    except IntegrityError:
        return False
    return True


def queue_counts(rt: Runtime) -> dict[str, int]:
    with rt.store.tx() as conn:
        rows = conn.execute(select(events.c.status, func.count()).group_by(events.c.status)).all()
    return {str(status): int(n) for status, n in rows}


@dataclass
class DrainResult:
    refreshed: int = 0
    erased: int = 0
    gone: int = 0
    failed: int = 0
    triggered: list[str] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "refreshed": self.refreshed,
            "erased": self.erased,
            "gone": self.gone,
            "failed": self.failed,
            "triggered": list(self.triggered or []),
        }


Trigger = Callable[[str], None]


def _stream_for(rt: Runtime, connector: str) -> str:
    spec = next((s for s in rt.connector(connector).streams if s.entity == "candidate"), None)
    return spec.name if spec else "candidates"


def _outcome_waiting(rt: Runtime, connector: str, person_id: str, emails: set[str]) -> bool:
    """Does an outcome wait for this person: linked to them with nothing written yet, or not linked
    (unmatched/ambiguous) although its student's e-mail is one of theirs?"""
    with rt.store.tx() as conn:
        linked = [
            r.outcome_id
            for r in conn.execute(
                select(links.c.outcome_id).where(
                    and_(links.c.connector == connector, links.c.candidate_id == person_id)
                )
            )
        ]
        for outcome_id in linked:
            done = conn.execute(
                select(func.count())
                .select_from(ledger)
                .where(
                    and_(
                        ledger.c.connector == connector,
                        ledger.c.outcome_id == outcome_id,
                        ledger.c.status == "done",
                    )
                )
            ).scalar()
            if not done:
                return True
        if not emails:
            return False
        loose = conn.execute(
            select(outcomes.c.data)
            .select_from(outcomes.join(links, links.c.outcome_id == outcomes.c.outcome_id))
            .where(and_(links.c.connector == connector, links.c.status.in_(("unmatched", "ambiguous"))))
        )
        for (data,) in loose:
            student = (data or {}).get("student") or {}
            if str(student.get("email", "")).strip().lower() in emails:
                return True
    return False


def drain(
    rt: Runtime,
    *,
    trigger: Trigger | None = None,
    erase: Callable[[Runtime, str, str, str], int] | None = None,
    limit: int = 1000,
) -> DrainResult:
    """Work off queued events: one refresh per person, erasure for deletions, then at most one
    ``trigger(connector)`` per connector whose refreshed people have an outcome waiting."""
    result = DrainResult(triggered=[])
    with rt.store.tx() as conn:
        rows = conn.execute(
            select(events.c.connector, events.c.event_id, events.c.action, events.c.person_id)
            .where(events.c.status == "queued")
            .order_by(events.c.received_at)
            .limit(limit)
        ).all()
    # the last word per person wins: an erasure after updates erases, an update after an erasure is
    # for a person we no longer hold and is refreshed like any other (the ATS says they exist)
    work: dict[tuple[str, str], str] = {}
    for row in rows:
        kind = "erase" if _is_erase(rt, row.connector, row.action) else "refresh"
        work[(row.connector, row.person_id)] = kind
    outcome: dict[tuple[str, str], tuple[str, str | None]] = {}
    wanted: set[str] = set()
    for (connector, person_id), kind in work.items():
        try:
            if connector not in rt.settings.connectors:
                outcome[(connector, person_id)] = ("ignored", "connector no longer configured")
                continue
            if kind == "erase":
                removed = erase(rt, connector, person_id, "vendor deletion event") if erase else 0
                result.erased += 1
                outcome[(connector, person_id)] = ("done", f"erased locally ({removed} rows)")
                continue
            con = rt.connector(connector)
            try:
                cand = con.get_candidate(person_id)
            except NotFound:
                rt.store.mark_deleted(connector, [person_id])
                result.gone += 1
                outcome[(connector, person_id)] = ("done", "not in the ATS any more: marked deleted")
                continue
            rt.store.upsert_page(connector, "candidate", _stream_for(rt, connector), [cand])
            result.refreshed += 1
            outcome[(connector, person_id)] = ("done", "refreshed")
            emails = set(cand.normalized_emails)
            if connector not in wanted and _outcome_waiting(rt, connector, person_id, emails):
                wanted.add(connector)
        except Exception as exc:  # one person's failure must not stop the rest of the queue
            result.failed += 1
            outcome[(connector, person_id)] = ("failed", f"{exc.__class__.__name__}: {exc}"[:500])
            log.warning("webhook work for %s failed: %s", connector, exc.__class__.__name__)
    now = datetime.now(UTC)
    with rt.store.tx() as conn:
        for row in rows:
            status, detail = outcome.get((row.connector, row.person_id), ("failed", "not processed"))
            conn.execute(
                update(events)
                .where(and_(events.c.connector == row.connector, events.c.event_id == row.event_id))
                .values(status=status, processed_at=now, detail=detail)
            )
    for connector in sorted(wanted):
        if trigger is not None:
            trigger(connector)
            assert result.triggered is not None
            result.triggered.append(connector)
    return result


def _is_erase(rt: Runtime, connector: str, action: str) -> bool:
    block = rt.settings.connectors.get(connector)
    reader = reader_for(block.type) if block is not None else None
    return reader is not None and action in reader.erase_actions


def make_trigger(rt: Runtime, settings: WebhookSettings) -> Trigger | None:
    """The configured way an event starts the pipeline for a connector."""
    if settings.trigger == "none":
        return None
    if settings.trigger == "inline":

        def run_inline(connector: str) -> None:
            from syncbridge.steps import run_all

            summary = run_all(rt, connector=connector)
            log.info(
                "event-triggered pipeline for %s: %s written",
                connector,
                summary.apply.get("applied", 0),
            )

        return run_inline

    def run_deployment_for(connector: str) -> None:
        from prefect.deployments import run_deployment

        name = settings.deployment.replace("{connector}", connector)
        run = run_deployment(name=name, timeout=0)
        log.info("event-triggered deployment %s: flow run %s", name, getattr(run, "id", "?"))

    return run_deployment_for


class Worker:
    """The background thread that drains the queue every ``debounce_seconds`` (or when poked)."""

    def __init__(
        self,
        rt: Runtime,
        settings: WebhookSettings,
        *,
        erase: Callable[[Runtime, str, str, str], int] | None = None,
        after: Callable[[Runtime], object] | None = None,
    ) -> None:
        self.rt, self.settings = rt, settings
        self.trigger = make_trigger(rt, settings)
        self.erase = erase
        self.after = after
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="syncbridge-webhooks", daemon=True)
        self.drains = 0
        self.last: DrainResult | None = None

    def start(self) -> None:
        self._thread.start()

    def poke(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=max(self.settings.debounce_seconds, 0.05) * 4)
            if self._stop.is_set():
                break
            # let a burst finish arriving, so it is drained as one batch
            time.sleep(self.settings.debounce_seconds)
            self._wake.clear()
            try:
                self.last = drain(self.rt, trigger=self.trigger, erase=self.erase)
                if self.after is not None:
                    self.after(self.rt)
            except Exception as exc:
                log.error("draining webhook events failed: %s", exc.__class__.__name__)
            self.drains += 1


# -- the receiver ---------------------------------------------------------------------------------------


_TOKENS_KEY = "webhook_signature_tokens"


def remember_signature_token(rt: Runtime, connector: str, token: str) -> None:
    """Keep a webhook's signature token that the vendor showed only when the webhook was created."""
    state = rt.store.state_for(connector)
    tokens = json.loads(state.get(_TOKENS_KEY) or "[]")
    if token not in tokens:
        tokens.append(token)
    state.set(_TOKENS_KEY, json.dumps(tokens))
    register_secret(token)


def endpoint_secrets(rt: Runtime, settings: WebhookSettings, connector: str) -> list[str]:
    endpoint = settings.connectors[connector]
    found = [s.get_secret_value() for s in (endpoint.secret, endpoint.previous_secret) if s is not None]
    found += json.loads(rt.store.state_for(connector).get(_TOKENS_KEY) or "[]")
    return [s for s in found if s]


def erase_person_locally(rt: Runtime, connector: str, person_id: str, reason: str) -> int:
    """A vendor said this person is deleted, merged away or anonymised: erase them locally."""
    from syncbridge.privacy import erase_person

    done = erase_person(rt.store, connector, candidate_id=person_id, reason=reason)
    return sum(done.counts.values())


def make_worker(rt: Runtime) -> Worker | None:
    """The queue worker for ``webhooks serve`` (None without a ``webhooks:`` section).  After each
    drain it also tells Greenhouse about ordered micro-internships that are complete."""
    if rt.settings.webhooks is None:
        return None
    from syncbridge.steps import notify_assessments

    return Worker(rt, rt.settings.webhooks, erase=erase_person_locally, after=notify_assessments)
