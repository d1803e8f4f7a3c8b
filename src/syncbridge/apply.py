"""The applier: executes a plan through the connectors, exactly once, with the ledger.

For each action:

1. a ``done`` ledger entry → skip (another run or worker did it);
2. an existing ``started``/``failed`` entry → **reconcile** first: ask the vendor whether the write is
   already there (the note's marker, the tags, the field values, the person by e-mail).  Found → record
   ``done`` without sending anything;
3. write ``started`` (committed) → call the vendor → ``done`` with the remote ref, or ``failed`` with the
   error.  When the failure leaves it unknown whether the vendor applied the write (5xx, a connection
   that broke after sending), reconcile at once and resend only if the write is provably absent.

So a crash anywhere leaves at worst a ``started`` entry, which the next run reconciles; nothing is sent
twice.  Every outcome of every action is written to the audit trail.

An action with **no ledger entry at all** (a new state store, a lost disk, a second environment) is
also proved absent before it is sent, at a cost of at most one read per person:

* notes: the person's notes are read once (:meth:`Connector.find_notes`) and every marker of this run's
  notes for that person is looked up in that one answer;
* every other write kind is written by a connector method that looks first and sends nothing when the
  effect is there (tags already applied, field values equal, the person found by e-mail, the requisition
  by its code, the post on its board, the application on the job, the prescreen attachment by its
  marker).  :mod:`syncbridge.writes` counts the write requests such a call sends: none means the ATS
  already had it, and the action is recorded as *reconciled*, not as a new write.

A person this run has just created is new, so its notes need no look-up.  The calls that send and
find each kind of write are in :data:`syncbridge.actions.KINDS`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from syncbridge import liveness, writes
from syncbridge.actions import KINDS, ORDER, Action, Refs, find, send
from syncbridge.connector import Connector
from syncbridge.errors import ApiError, delivery_uncertain
from syncbridge.lanes import run_in_lanes
from syncbridge.records import vendor_answer
from syncbridge.redact import redact
from syncbridge.store import Store

log = logging.getLogger("syncbridge.apply")

MAX_UNCERTAIN_ATTEMPTS = 3


@dataclass
class ApplyResult:
    applied: int = 0
    reconciled: int = 0
    skipped: int = 0
    failed: int = 0
    blocked: int = 0
    busy: int = 0  # claimed by another run at the same moment: that run sends it
    errors: list[dict[str, Any]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "applied": self.applied,
            "reconciled": self.reconciled,
            "skipped": self.skipped,
            "failed": self.failed,
            "blocked": self.blocked,
            "busy": self.busy,
        }

    @property
    def incomplete(self) -> int:
        """Writes this run left undone: failed, blocked behind an undone prerequisite, or busy in
        another run.  A run with any of them exits non-zero (and says so)."""
        return self.failed + self.blocked + self.busy

    def merge(self, other: ApplyResult) -> None:
        for name in ("applied", "reconciled", "skipped", "failed", "blocked", "busy"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors.extend(other.errors)


class Applier:
    def __init__(
        self,
        store: Store,
        connectors: Mapping[str, Connector],
        *,
        run_id: str | None = None,
        actor: str = "syncbridge",
        progress: Callable[[int, int], None] | None = None,
        parallelism: Mapping[str, int] | None = None,
    ) -> None:
        self.store = store
        self.connectors = connectors
        self.run_id = run_id
        self.actor = actor
        self.progress = progress
        #: connector → how many people's history writes may be in flight at once (see lanes.py)
        self.parallelism = dict(parallelism or {})

    def apply(self, actions: Sequence[Action]) -> ApplyResult:
        result = ApplyResult()
        rows = self.store.ledger_rows([a.key for a in actions])
        # notes with no ledger entry, per person (the person's id, or the creation it waits for): their
        # markers are all looked up with the one read of that person's notes
        self._unproved: dict[tuple[str, str], list[str]] = {}
        for a in actions:
            if KINDS[a.kind].person_note and a.key not in rows:
                self._unproved.setdefault(_person(a), []).append(a.marker)
        self._notes_seen: dict[tuple[str, str], dict[str, str]] = {}
        self._created: set[str] = set()  # create_candidate keys this run sent (brand-new people)
        # creations first: notes/tags/fields for a new person depend on them
        ordered = sorted(actions, key=lambda a: ORDER[a.kind])
        if any(n > 1 for n in self.parallelism.values()):
            lock = threading.Lock()

            def one(action: Action) -> None:
                mine = ApplyResult()
                self._one(action, rows.get(action.key), mine)
                with lock:
                    result.merge(mine)

            run_in_lanes(ordered, self.parallelism, one, self.progress)
            return result
        for i, action in enumerate(ordered, 1):
            self._one(action, rows.get(action.key), result)
            if self.progress:
                self.progress(i, len(ordered))
        return result

    def _audit(self, action: Action, target: str | None, outcome: str, detail: str | None = None) -> None:
        self.store.audit(
            run_id=self.run_id,
            actor=self.actor,
            connector=action.connector,
            kind=action.kind,
            key=action.key,
            target=target,
            result=outcome,
            detail=detail,
        )

    def _resolve(self, given: str | None, key: str | None) -> tuple[bool, str | None]:
        if key is None:
            return True, given
        dep = self.store.ledger_get(key)
        if dep is None or dep["status"] != "done":
            return False, None
        return True, dep["remote_ref"]

    def _refs(self, action: Action) -> tuple[bool, Refs]:
        ok_p, person = self._resolve(action.target, action.depends_on)
        ok_r, requisition = self._resolve(action.requisition, action.requisition_from)
        ok_a, application = self._resolve(action.application, action.application_from)
        return ok_p and ok_r and ok_a, Refs(person, requisition, application)

    def _one(self, action: Action, row: dict[str, Any] | None, result: ApplyResult) -> None:
        if row is not None and row["status"] == "done":
            result.skipped += 1
            return
        ready, refs = self._refs(action)
        target = refs.person
        if not ready:
            result.blocked += 1
            self._audit(action, None, "blocked", "waiting for an earlier write it depends on")
            return
        connector = self.connectors[action.connector]
        if row is not None:  # started or failed before: find out what really happened
            row = self.store.ledger_get(action.key)
            if self.store.claimed_elsewhere(row, self.run_id):
                self._busy(action, target, result)
                return
            try:
                found = vendor_answer(lambda: find(connector, action, refs), action.connector)
            except ApiError as exc:
                self._fail(action, target, exc, result)
                return
            if found is not None:
                self._found(action, target, found, result)
                return
        elif KINDS[action.kind].person_note and target is not None and action.depends_on not in self._created:
            try:  # no ledger entry: prove from the ATS that the note is not there (one read per person)
                found = self._note_on_person(connector, action, target)
            except ApiError as exc:
                self._fail(action, target, exc, result)
                return
            if found is not None:
                self._found(action, target, found, result)
                return
        for attempt in range(1, MAX_UNCERTAIN_ATTEMPTS + 1):
            if not self._claim(action, target):
                self._busy(action, target, result)
                return
            sent_before = writes.count()
            try:
                ref, record = vendor_answer(lambda: send(connector, action, refs), action.connector)
            except ApiError as exc:
                if delivery_uncertain(exc) and attempt < MAX_UNCERTAIN_ATTEMPTS:
                    try:
                        found = vendor_answer(lambda: find(connector, action, refs), action.connector)
                    except ApiError:
                        found = None
                    if found is not None:
                        self.store.ledger_finish(action.key, "done", remote_ref=found)
                        self._audit(action, target, "reconciled", f"after {exc.__class__.__name__}")
                        result.reconciled += 1
                        return
                    log.info(
                        "%s %s: %s; not applied, sending again",
                        action.kind,
                        action.key[:12],
                        exc.__class__.__name__,
                    )
                    continue
                self._fail(action, target, exc, result)
                return
            self.store.ledger_finish(action.key, "done", remote_ref=ref)
            if record is not None:
                self.store.upsert_page(action.connector, "other", "created", [record])
            if connector.writes_counted and writes.count() == sent_before:
                # the connector looked first and found the effect there: it sent nothing
                self._audit(action, target, "reconciled", f"already in the ATS: {ref}")
                result.reconciled += 1
                return
            if KINDS[action.kind].makes == "person":
                self._created.add(action.key)
            self._audit(action, target, "applied", ref)
            result.applied += 1
            return

    def _note_on_person(self, connector: Connector, action: Action, target: str) -> str | None:
        """The note carrying this action's marker, from one read of the person's notes per run."""
        person = _person(action)
        seen = self._notes_seen.get(person)
        if seen is None:
            markers = self._unproved.get(person) or [action.marker]
            seen = self._notes_seen[person] = connector.find_notes(target, markers)
        return seen.get(action.marker)

    def _found(self, action: Action, target: str | None, found: str, result: ApplyResult) -> None:
        """The write is already in the ATS: close its ledger entry as done, audited as reconciled."""
        if not self._claim(action, target):
            self._busy(action, target, result)
            return
        self.store.ledger_finish(action.key, "done", remote_ref=found)
        self._audit(action, target, "reconciled", f"found existing {found}")
        result.reconciled += 1

    def _claim(self, action: Action, target: str | None) -> bool:
        """Write ``started`` and claim the action for this run (False: another run is sending it).

        Raises :class:`~syncbridge.liveness.RunLockLost` when this run's liveness lock is gone (its
        database session dropped): others may already treat the run as dead, so it must not send."""
        liveness.ensure_held(self.run_id)
        return (
            self.store.ledger_start(
                action.key,
                connector=action.connector,
                kind=action.kind,
                outcome_id=action.outcome_id,
                target=target,
                payload=action.stored_payload(),
                run_id=self.run_id,
            )
            > 0
        )

    def _busy(self, action: Action, target: str | None, result: ApplyResult) -> None:
        result.busy += 1
        self._audit(action, target, "busy", "another run is sending this write right now")

    def _fail(self, action: Action, target: str | None, exc: ApiError, result: ApplyResult) -> None:
        message = redact(str(exc))
        if self.store.ledger_get(action.key) is None:
            self._claim(action, target)
        self.store.ledger_finish(action.key, "failed", error=message)
        self._audit(action, target, "failed", message)
        result.failed += 1
        result.errors.append(
            {
                "key": action.key[:12],
                "connector": action.connector,
                "action": action.kind,
                "outcome": action.outcome_id,
                "error": message,
            }
        )
        log.warning("%s for outcome %s failed: %s", action.kind, action.outcome_id, message)


def _person(action: Action) -> tuple[str, str]:
    """Who a write lands on: the linked person, or the creation the person will come from."""
    return action.connector, action.target or f"after:{action.depends_on}"
