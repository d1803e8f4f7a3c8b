"""Personal data: forgetting a person, erasure signals from an ATS, and keyed e-mail hashes.

**Forgetting** (``syncbridge forget``, :func:`forget`) removes one person's personal data from the state
store: their mirror rows (people, e-mail index, applications, raw records), their outcomes, quarantine
rows and links, and the personal parts of the ledger, approvals and audit rows.  It keeps
**non-personal tombstones** so that exactly-once still holds:

* ledger rows keep their idempotency key, kind, status and remote id (never the payload, the target or
  the error), so a write that was made is never planned again;
* ``sb_tombstones`` holds a keyed HMAC of the e-mail, the outcome ids and ``connector:person id``.

Why later runs *skip* a forgotten person instead of re-importing them when the outcome file (or the ATS)
still holds them: the person asked to be forgotten, and syncbridge does not control the upstream file.
Re-importing would quietly bring their data back on the next schedule, and a new outcome for them would
write new history.  So an outcome of a forgotten person is quarantined with the reason ``forgotten``
(nothing about them is stored) and a synced record of them is dropped, until an admin runs
``syncbridge unforget``.  The tombstone is pseudonymous, not anonymous: whoever holds the state store
(and so the store's secret) can test a guessed address against it.  That is the minimum needed to honour
the erasure on input syncbridge does not control, and it reveals nothing else about the person.

**Erasure signals** (Greenhouse ``candidate_anonymized`` / ``delete_candidate``, Lever ``candidateDeleted``,
a Lever contact whose opportunities were all deleted or that comes back ``isAnonymized``) lead to the same
local erasure through :func:`erase_person`.  A webhook receiver calls :func:`handle_webhook`; the sync
calls :func:`screen_page` on every page, which sees what polling can see (Lever).

**In the ATS** syncbridge deletes nothing as part of forgetting: the erasure lists (and keeps in the
privacy log, as ids and markers) what syncbridge wrote there, with each vendor's erasure route;
:func:`erase_in_ats` is the separate, confirmed step that deletes what a vendor allows (Lever notes).

**Keyed e-mail hashes** (``privacy.hash_emails``): the mirror's e-mail index, the people's raw records
and the stored outcomes keep ``hmac:<HMAC-SHA256(key, normalized e-mail)>`` instead of the address.
Matching normalizes the outcome's address and hashes it the same way, so it still works.
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import logging
import re
import secrets
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Text, and_, cast, delete, func, insert, or_, select, update

from syncbridge.actions import KINDS
from syncbridge.errors import ConfigError
from syncbridge.model import Application, Candidate, normalize_email
from syncbridge.store import (
    applications,
    approvals,
    assessments,
    audit,
    candidate_emails,
    candidates,
    ledger,
    links,
    meta,
    outcome_people,
    outcomes,
    person_keys,
    privacy_log,
    quarantine,
    records,
    reviews,
    tombstones,
)

if TYPE_CHECKING:
    from syncbridge.config import Settings
    from syncbridge.connector import Connector
    from syncbridge.outcomes import OutcomeBatch
    from syncbridge.store import Store

log = logging.getLogger("syncbridge.privacy")

HASH_PREFIX = "hmac:"
META_MODE = "email_storage"  # sb_meta: "clear", or "hmac:<key fingerprint>"
META_SECRET = "privacy_secret"  # sb_meta: this store's own key for the tombstones of e-mails
_EMAIL = re.compile(r"[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+")
#: ledger kinds keyed by requisition code, shared by every intern of one team and role
_SHARED_KINDS = frozenset(name for name, kind in KINDS.items() if kind.shared)


def _makes(kind: str) -> str | None:
    """What the remote ref of a done write of this kind is, when it is a record of its own (a person
    syncbridge created, an application)."""
    found = KINDS.get(kind)
    return found.makes if found else None


def _now() -> datetime:
    return datetime.now(UTC)


# --- keyed hashes ---------------------------------------------------------------------------------


def email_digest(key: bytes, email: str) -> str:
    """``hmac:`` + HMAC-SHA256 of the normalized address (trimmed, lower-cased), as lowercase hex."""
    normalized = normalize_email(email) or email.strip().lower()
    return HASH_PREFIX + hmac.new(key, normalized.encode("utf-8"), hashlib.sha256).hexdigest()


def is_digest(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(HASH_PREFIX)


def hash_emails_in(raw: Any, key: bytes) -> Any:
    """A copy of a vendor record with every string that is an e-mail address replaced by its digest."""
    if isinstance(raw, dict):
        return {k: hash_emails_in(v, key) for k, v in raw.items()}
    if isinstance(raw, list):
        return [hash_emails_in(v, key) for v in raw]
    if isinstance(raw, str) and not is_digest(raw) and _EMAIL.fullmatch(raw.strip()):
        return email_digest(key, raw)
    return raw


def hash_outcome_email(data: dict[str, Any], key: bytes) -> dict[str, Any]:
    """A stored outcome with the student's e-mail replaced by its digest (matching needs nothing else)."""
    student = data.get("student")
    if not isinstance(student, dict) or not isinstance(student.get("email"), str):
        return data
    if is_digest(student["email"]):
        return data
    return {**data, "student": {**student, "email": email_digest(key, student["email"])}}


def key_fingerprint(key: bytes) -> str:
    """Names a key without revealing it, so a store can tell that the configured key changed."""
    return hmac.new(key, b"syncbridge e-mail hash key check", hashlib.sha256).hexdigest()[:16]


def configured_key(settings: Settings) -> bytes | None:
    p = settings.privacy
    return p.hash_key.encode("utf-8") if p.hash_emails and p.hash_key else None


def _meta_get(store: Store, key: str) -> str | None:
    with store.engine.connect() as conn:
        return conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()


def _meta_set(store: Store, key: str, value: str) -> None:
    with store.tx() as conn:
        store._upsert(conn, meta, [{"key": key, "value": value}], ["key"])


def _has_personal_rows(store: Store) -> bool:
    with store.engine.connect() as conn:
        for table in (candidate_emails, candidates, outcomes):
            if conn.execute(select(func.count()).select_from(table)).scalar():
                return True
    return False


def ensure_tables(store: Store) -> None:
    """The v7 tables, also on a store that reached a later schema version without them (versions from
    parallel branches: a store made at v8 before v7 was merged skips the v7 step).  Idempotent."""
    with store.tx() as conn:
        tombstones.create(conn, checkfirst=True)
        privacy_log.create(conn, checkfirst=True)


def bind(store: Store, settings: Settings) -> None:
    """Make the store keep e-mails the way the config says, refusing a mismatch with one clear line.

    A store remembers how it keeps e-mails (``sb_meta.email_storage``).  Turning ``hash_emails`` on for a
    store that already holds addresses in clear needs ``syncbridge migrate --hash-emails``; turning it
    off, or changing the key, is refused: the clear addresses are gone and matching would silently fail.
    """
    ensure_tables(store)
    key = configured_key(settings)
    want = "clear" if key is None else f"hmac:{key_fingerprint(key)}"
    have = _meta_get(store, META_MODE)
    if have is None:
        have = "clear" if _has_personal_rows(store) else want
        _meta_set(store, META_MODE, have)
    if have != want:
        if have == "clear":
            raise ConfigError(
                "privacy.hash_emails: the state store holds e-mails in clear; run "
                "`syncbridge migrate --hash-emails` once to replace them with keyed hashes"
            )
        if want == "clear":
            raise ConfigError(
                "privacy.hash_emails: the state store keeps only keyed e-mail hashes; turn hash_emails "
                "back on with the same hash_key (the clear addresses cannot be restored)"
            )
        raise ConfigError(
            "privacy.hash_key: not the key this state store's e-mail hashes were made with; "
            "restore the previous key (matching would find no one)"
        )
    store.email_key = key


def migrate_hash_emails(store: Store, settings: Settings) -> dict[str, int]:
    """Replace the clear e-mails of an existing store by keyed hashes (``syncbridge migrate
    --hash-emails``).  Idempotent: values already hashed are left alone.  Returns rows changed per table."""
    key = configured_key(settings)
    if key is None:
        raise ConfigError("privacy.hash_emails: set it to true (with hash_key) before migrate --hash-emails")
    have = _meta_get(store, META_MODE)
    if have not in (None, "clear", f"hmac:{key_fingerprint(key)}"):
        raise ConfigError("privacy.hash_key: not the key this state store's e-mail hashes were made with")
    counts = {"sb_candidate_emails": 0, "sb_candidates": 0, "sb_applications": 0, "sb_outcomes": 0}
    with store.tx() as conn:
        for row in conn.execute(select(candidate_emails)).mappings().all():
            if is_digest(row["email"]):
                continue
            conn.execute(
                update(candidate_emails)
                .where(
                    and_(
                        candidate_emails.c.connector == row["connector"],
                        candidate_emails.c.email == row["email"],
                        candidate_emails.c.remote_id == row["remote_id"],
                    )
                )
                .values(email=email_digest(key, row["email"]))
            )
            counts["sb_candidate_emails"] += 1
        for row in conn.execute(select(candidates)).mappings().all():
            email, raw = row["primary_email"], row["raw"]
            new_email = email_digest(key, email) if email and not is_digest(email) else email
            new_raw = hash_emails_in(raw, key)
            if new_email != email or new_raw != raw:
                conn.execute(
                    update(candidates)
                    .where(
                        and_(
                            candidates.c.connector == row["connector"],
                            candidates.c.remote_id == row["remote_id"],
                        )
                    )
                    .values(primary_email=new_email, raw=new_raw)
                )
                counts["sb_candidates"] += 1
        apps = applications.c
        for a_conn, a_id, a_raw in conn.execute(select(apps.connector, apps.remote_id, apps.raw)):
            new_raw = hash_emails_in(a_raw, key)
            if new_raw != a_raw:
                where = and_(apps.connector == a_conn, apps.remote_id == a_id)
                conn.execute(update(applications).where(where).values(raw=new_raw))
                counts["sb_applications"] += 1
        for oid, data in conn.execute(select(outcomes.c.outcome_id, outcomes.c.data)):
            new_data = hash_outcome_email(data or {}, key)
            if new_data != data:
                conn.execute(update(outcomes).where(outcomes.c.outcome_id == oid).values(data=new_data))
                counts["sb_outcomes"] += 1
        done = select(ledger.c.key).where(
            and_(ledger.c.kind == "create_candidate", ledger.c.status == "done")
        )
        for (ledger_key,) in conn.execute(done).all():
            scrub_done_payload(conn, ledger_key, key)
            counts["sb_ledger"] = counts.get("sb_ledger", 0) + 1
        store._upsert(conn, meta, [{"key": META_MODE, "value": f"hmac:{key_fingerprint(key)}"}], ["key"])
    store.email_key = key
    return counts


def scrub_done_payload(conn: Any, key: str, email_key: bytes) -> None:
    """Hash mode: a ``create_candidate`` that is done keeps no clear address in its ledger payload (it
    needed it to create the person and, after a crash, to reconcile; once done, neither happens)."""
    row = conn.execute(
        select(ledger.c.payload).where(and_(ledger.c.key == key, ledger.c.kind == "create_candidate"))
    ).first()
    if row is None or not isinstance(row[0], dict):
        return
    email = row[0].get("email")
    if isinstance(email, str) and not is_digest(email):
        payload = {**row[0], "email": email_digest(email_key, email)}
        conn.execute(update(ledger).where(ledger.c.key == key).values(payload=payload))


# --- tombstones -----------------------------------------------------------------------------------


def _store_secret(store: Store) -> bytes:
    """This store's own random key for e-mail tombstones (made once, kept in ``sb_meta``).

    Tombstones use it rather than ``privacy.hash_key`` so they stay valid whether or not e-mail hashing
    is on; a digest under ``hash_key`` is added too when hashing is on (see :func:`_email_tombstones`)."""
    value = _meta_get(store, META_SECRET)
    if value is None:
        with store.tx() as conn:
            stmt = store_insert(store, meta).values(key=META_SECRET, value=secrets.token_hex(32))
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["key"]))
        value = _meta_get(store, META_SECRET)
    assert value is not None
    return bytes.fromhex(value)


def store_insert(store: Store, table: Any) -> Any:
    from syncbridge.store import _dialect_insert

    return _dialect_insert(store.dialect, table)


def _email_tombstones(store: Store, email: str) -> set[str]:
    """Every digest a tombstone of this (clear) address may be stored under."""
    out = {email_digest(_store_secret(store), email)}
    if store.email_key is not None:
        out.add(email_digest(store.email_key, email))
    return out


@dataclass
class Tombstones:
    emails: dict[str, str] = field(default_factory=dict)  # digest → erasure id
    outcomes: dict[str, str] = field(default_factory=dict)  # outcome id → erasure id
    persons: dict[str, str] = field(default_factory=dict)  # "connector:id" → erasure id
    keys: list[bytes] = field(default_factory=list)  # what e-mail tombstones may be keyed with

    def __bool__(self) -> bool:
        return bool(self.emails or self.outcomes or self.persons)


def load_tombstones(store: Store) -> Tombstones:
    found = Tombstones()
    with store.engine.connect() as conn:
        for kind, value, erasure in conn.execute(
            select(tombstones.c.kind, tombstones.c.value, tombstones.c.erasure_id)
        ):
            bucket = {"email": found.emails, "outcome": found.outcomes, "person": found.persons}.get(kind)
            if bucket is not None:
                bucket[value] = erasure
    if found.emails:
        found.keys = [_store_secret(store), *([store.email_key] if store.email_key is not None else [])]
    return found


def forgotten_erasure(store: Store, stones: Tombstones, email: str | None) -> str | None:
    """The erasure id that forgot this address, if any."""
    if not email or not stones.emails:
        return None
    for key in stones.keys:
        digest = email_digest(key, email)
        if digest in stones.emails:
            return stones.emails[digest]
    return None


def screen_outcomes(store: Store, batch: OutcomeBatch) -> OutcomeBatch:
    """Outcomes of forgotten people are quarantined with the reason ``forgotten`` and not kept."""
    from syncbridge.outcomes import Quarantined

    stones = load_tombstones(store)
    if not stones:
        return batch
    kept, gone = [], []
    for o in batch.outcomes:
        erasure = stones.outcomes.get(o.outcome_id) or forgotten_erasure(store, stones, o.student.email)
        if erasure is None:
            kept.append(o)
            continue
        reason = (
            f"forgotten: outcome {o.outcome_id} belongs to a person whose data was erased "
            f"(erasure {erasure}); remove it from the outcomes file, "
            "or `syncbridge unforget` to process it again"
        )
        gone.append(Quarantined(0, reason, o.outcome_id, {}))  # line 0: the reader keeps no line per outcome
    if not gone:
        return batch
    return replace(batch, outcomes=kept, quarantined=[*batch.quarantined, *gone])


def screen_page(store: Store, connector: str, page: Sequence[Any]) -> list[Any]:
    """One page of a sync, before it reaches the mirror: records of forgotten people are dropped, and a
    person the ATS reports deleted or anonymized is erased locally (:func:`erase_person`)."""
    out: list[Any] = []
    stones: Tombstones | None = None
    for record in page:
        if isinstance(record, Candidate):
            signal = _deletion_signal(record)
            stones = stones if stones is not None else load_tombstones(store)
            if _is_forgotten(store, stones, connector, record):
                continue
            if signal:
                done = erase_person(
                    store,
                    connector,
                    candidate_id=record.ref.id,
                    emails=record.normalized_emails,
                    reason=f"{connector}: {signal} in the ATS",
                )
                if done.logged:  # ids only: the person id is the vendor's, the erasure id ours
                    log.info(
                        "%s: person %s %s in the ATS, erased locally (erasure %s)",
                        connector,
                        record.ref.id,
                        signal,
                        done.erasure_id,
                    )
                stones = None  # a new tombstone may exist now
                continue
        elif isinstance(record, Application):
            stones = stones if stones is not None else load_tombstones(store)
            if f"{connector}:{record.candidate_id}" in stones.persons:
                continue
        out.append(record)
    return out


def _deletion_signal(c: Candidate) -> str | None:
    if c.deleted:
        return "deleted"
    if isinstance(c.raw, dict) and c.raw.get("isAnonymized") is True:  # Lever's anonymization flag
        return "anonymized"
    return None


def _is_forgotten(store: Store, stones: Tombstones, connector: str, c: Candidate) -> bool:
    if not stones:
        return False
    if f"{connector}:{c.ref.id}" in stones.persons:
        return True
    return any(forgotten_erasure(store, stones, e) for e in c.normalized_emails)


# --- erasure --------------------------------------------------------------------------------------


@dataclass
class Erasure:
    """What one erasure found (and, unless ``dry_run``, removed).  Holds no e-mail or name."""

    erasure_id: str
    dry_run: bool
    persons: list[tuple[str, str]] = field(default_factory=list)  # (connector, person id)
    outcome_ids: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # table → rows removed or scrubbed
    ats_records: list[dict[str, Any]] = field(default_factory=list)
    logged: bool = False

    @property
    def found(self) -> bool:
        return any(self.counts.get(t) for t in _PERSONAL_TABLES)

    def as_dict(self) -> dict[str, Any]:
        return {
            "erasure_id": self.erasure_id,
            "dry_run": self.dry_run,
            "persons": [f"{c}:{i}" for c, i in self.persons],
            "outcomes": self.outcome_ids,
            "counts": self.counts,
            "ats_records": self.ats_records,
            "ats_erasure": {c: erasure_route(c_type) for c, c_type in _types(self.ats_records).items()},
        }


_PERSONAL_TABLES = (
    "sb_candidates",
    "sb_candidate_emails",
    "sb_applications",
    "sb_records",
    "sb_outcomes",
    "sb_quarantine",
    "sb_links",
    "sb_ledger",
    "sb_approvals",
    "sb_audit",
    "sb_assessments",
    "sb_person_keys",
    "sb_outcome_people",
    "sb_reviews",
)


def _types(rows: Iterable[dict[str, Any]]) -> dict[str, str]:
    return {r["connector"]: r.get("connector_type", "") for r in rows}


def erasure_route(connector_type: str) -> str:
    """How to finish an erasure in the ATS of ``connector_type`` (syncbridge never deletes there on its
    own): the vendor plugin says."""
    from syncbridge.connector import connector_class

    fallback = f"{connector_type or 'this ATS'}: erase the records listed there"
    try:
        route = connector_class(connector_type).erasure_route if connector_type else None
    except ConfigError:  # a connector type no longer installed
        route = None
    return route or fallback


def forget(
    store: Store,
    *,
    email: str | None = None,
    outcome_id: str | None = None,
    person_id: str | None = None,
    requested_by: str | None = None,
    reason: str | None = None,
    dry_run: bool = False,
    connector_types: dict[str, str] | None = None,
) -> Erasure:
    """Forget the person with this e-mail (or the person of this outcome, or the syncbridge person id
    that ``status --person`` shows, with all their e-mails and outcomes across employers): see the
    module docstring.

    Raises :class:`ConfigError` when none is given or the outcome or person is unknown."""
    if not email and not outcome_id and not person_id:
        raise ConfigError("forget: give an e-mail address, --outcome ID or --person ID")
    stored: set[str] = set()
    clear: set[str] = set()
    person_outcomes: set[str] = set()
    if person_id:
        with store.engine.connect() as conn:
            keys = [
                k
                for (k,) in conn.execute(
                    select(person_keys.c.key).where(person_keys.c.person_id == person_id)
                )
            ]
            person_outcomes = {
                o
                for (o,) in conn.execute(
                    select(outcome_people.c.outcome_id).where(outcome_people.c.person_id == person_id)
                )
            }
        if not keys and not person_outcomes:
            raise ConfigError(f"forget: person {person_id} is not in the state store")
        for key in keys:
            kind, _, value = key.partition(":")
            if kind == "email" and value:
                stored.add(value)
                if not is_digest(value):
                    clear.add(value)
    if email:
        normalized = normalize_email(email)
        if normalized is None:
            raise ConfigError("forget: not an e-mail address")
        clear.add(normalized)
        stored.add(store.stored_email(normalized))
    wanted_outcomes: set[str] = set()
    if outcome_id:
        with store.engine.connect() as conn:
            known = (
                conn.execute(select(outcomes.c.outcome_id).where(outcomes.c.outcome_id == outcome_id)).first()
                or conn.execute(select(ledger.c.key).where(ledger.c.outcome_id == outcome_id)).first()
            )
        if known is None and not email:
            raise ConfigError(f"forget: outcome {outcome_id} is not in the state store")
        wanted_outcomes.add(outcome_id)
    wanted_outcomes |= person_outcomes
    return _erase(
        store,
        action="forget",
        clear=clear,
        stored=stored,
        outcome_ids=wanted_outcomes,
        persons=set(),
        requested_by=requested_by or _os_user(),
        reason=reason,
        dry_run=dry_run,
        connector_types=connector_types or {},
        always_log=True,
    )


def erase_person(
    store: Store,
    connector: str,
    *,
    candidate_id: str | None = None,
    email: str | None = None,
    emails: Iterable[str] = (),
    reason: str,
    requested_by: str = "syncbridge",
) -> Erasure:
    """The local erasure a deletion or anonymization in the ATS leads to (webhooks and sync call it).

    Same effect as :func:`forget` for the person ``candidate_id`` of ``connector`` (or with ``email``):
    their mirror rows, outcomes and the personal parts of ledger, approvals and audit go, tombstones
    stay.  When syncbridge holds nothing about them, nothing is recorded (a first full sync may see many
    deletions of people syncbridge never had anything to do with).  A merge (Greenhouse
    ``merge_candidate``) is not an erasure and must not come here."""
    clear = {n for n in (normalize_email(e) for e in [*emails, *([email] if email else [])]) if n}
    stored = {store.stored_email(e) for e in clear}
    persons = {(connector, str(candidate_id))} if candidate_id is not None else set()
    if not _known(store, connector, candidate_id, stored):
        return Erasure(uuid.uuid4().hex[:16], dry_run=False)
    return _erase(
        store,
        action="erase_signal",
        clear=clear,
        stored=stored,
        outcome_ids=set(),
        persons=persons,
        requested_by=requested_by,
        reason=reason,
        dry_run=False,
        connector_types={},
        always_log=False,
    )


def _known(store: Store, connector: str, candidate_id: str | None, stored: set[str]) -> bool:
    """Does anything in the store refer to this person?  Cheap (keyed lookups), so a sync that sees many
    deletions of people syncbridge never met does not scan the outcomes once per deletion."""
    with store.engine.connect() as conn:
        if candidate_id is not None:
            cid = str(candidate_id)
            for table, column in ((candidates, candidates.c.remote_id), (links, links.c.candidate_id)):
                q = (
                    select(func.count())
                    .select_from(table)
                    .where(and_(table.c.connector == connector, column == cid))
                )
                if conn.execute(q).scalar():
                    return True
        if stored:
            q = (
                select(func.count())
                .select_from(candidate_emails)
                .where(candidate_emails.c.email.in_(sorted(stored)))
            )
            if conn.execute(q).scalar():
                return True
    return False


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (some containers): still say who, as well as we can
        return "unknown"


def _student_email(data: Any) -> str | None:
    student = data.get("student") if isinstance(data, dict) else None
    email = student.get("email") if isinstance(student, dict) else None
    return email if isinstance(email, str) else None


class _OutcomeEmails:
    """Outcome ids ⇄ stored student e-mails, without reading every outcome: the address is inside a
    JSON document no index covers, so its text is searched for the address and each hit confirmed
    (a non-ASCII address may be escaped in that text: then every outcome is read, once)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.seen_emails: dict[str, set[str]] = {}
        self.seen_ids: dict[str, str | None] = {}

    def outcomes_of(self, email: str) -> set[str]:
        if email not in self.seen_emails:
            if email.isascii():
                q = select(outcomes.c.outcome_id, outcomes.c.data).where(
                    cast(outcomes.c.data, Text).contains(email, autoescape=True)
                )
                rows = self.conn.execute(q)
            else:
                rows = self.conn.execute(select(outcomes.c.outcome_id, outcomes.c.data))
            self.seen_emails[email] = {oid for oid, data in rows if _student_email(data) == email}
        return self.seen_emails[email]

    def emails_of(self, ids: set[str]) -> set[str]:
        todo = sorted(i for i in ids if i not in self.seen_ids)
        for start in range(0, len(todo), 500):
            q = select(outcomes.c.outcome_id, outcomes.c.data).where(
                outcomes.c.outcome_id.in_(todo[start : start + 500])
            )
            self.seen_ids.update({oid: _student_email(data) for oid, data in self.conn.execute(q)})
        return {e for i in ids if (e := self.seen_ids.get(i))}


def _collect(store: Store, stored: set[str], outcome_ids: set[str], persons: set[tuple[str, str]]) -> None:
    """Grow (stored e-mails, outcome ids, persons) to everything that refers to one another."""
    with store.engine.connect() as conn:
        by_email = _OutcomeEmails(conn)
        for _ in range(6):
            size = (len(stored), len(outcome_ids), len(persons))
            if stored:
                q = select(candidate_emails.c.connector, candidate_emails.c.remote_id).where(
                    candidate_emails.c.email.in_(sorted(stored))
                )
                persons.update((c, r) for c, r in conn.execute(q))
                q = select(candidates.c.connector, candidates.c.remote_id).where(
                    candidates.c.primary_email.in_(sorted(stored))
                )
                persons.update((c, r) for c, r in conn.execute(q))
            for c, r in sorted(persons):
                q3 = select(candidate_emails.c.email).where(
                    and_(candidate_emails.c.connector == c, candidate_emails.c.remote_id == r)
                )
                stored.update(e for (e,) in conn.execute(q3))
                q1 = select(links.c.outcome_id).where(and_(links.c.connector == c, links.c.candidate_id == r))
                outcome_ids.update(o for (o,) in conn.execute(q1))
            for e in list(stored):
                outcome_ids.update(by_email.outcomes_of(e))
            stored.update(by_email.emails_of(outcome_ids))
            if outcome_ids:
                ids = sorted(outcome_ids)
                q2 = select(links.c.connector, links.c.candidate_id).where(
                    and_(links.c.outcome_id.in_(ids), links.c.candidate_id.is_not(None))
                )
                persons.update((c, r) for c, r in conn.execute(q2))
                q4 = select(ledger.c.connector, ledger.c.kind, ledger.c.target, ledger.c.remote_ref).where(
                    ledger.c.outcome_id.in_(ids)
                )
                for c, kind, target, ref in conn.execute(q4):
                    if kind in _SHARED_KINDS:
                        continue
                    if target:
                        persons.add((c, str(target)))
                    if _makes(kind) == "person" and ref:
                        persons.add((c, str(ref)))
            if (len(stored), len(outcome_ids), len(persons)) == size:
                return


def _ats_records(
    store: Store, outcome_ids: set[str], persons: set[tuple[str, str]], types: dict[str, str]
) -> list[dict[str, Any]]:
    """Per connector, what syncbridge wrote about the person (from the ledger, before it is scrubbed)
    and the person records it knows: ids, markers, tag and field names only."""
    rows: list[dict[str, Any]] = []
    with store.engine.connect() as conn:
        if outcome_ids:
            q = select(ledger).where(ledger.c.outcome_id.in_(sorted(outcome_ids)))
            q = q.order_by(ledger.c.created_at)
            for r in conn.execute(q).mappings():
                payload = r["payload"] if isinstance(r["payload"], dict) else {}
                item: dict[str, Any] = {
                    "connector": r["connector"],
                    "connector_type": types.get(r["connector"], ""),
                    "kind": r["kind"],
                    "status": r["status"],
                    "person": r["target"],
                    "ref": r["remote_ref"],
                    "outcome": r["outcome_id"],
                }
                kind = KINDS.get(r["kind"])
                if kind is not None and kind.marked:
                    item["marker"] = f"syncbridge:{r['key']}"
                if kind is not None:
                    item.update(kind.model.listed(payload))  # tag and field names
                rows.append(item)
    written = {(r["connector"], r["person"]) for r in rows} | {
        (r["connector"], r["ref"]) for r in rows if _makes(r["kind"]) == "person"
    }
    for c, pid in sorted(persons):
        if (c, pid) not in written:
            rows.append(
                {
                    "connector": c,
                    "connector_type": types.get(c, ""),
                    "kind": "person",
                    "status": "read",
                    "person": pid,
                    "ref": pid,
                    "outcome": None,
                }
            )
    return rows


def _erase(
    store: Store,
    *,
    action: str,
    clear: set[str],
    stored: set[str],
    outcome_ids: set[str],
    persons: set[tuple[str, str]],
    requested_by: str,
    reason: str | None,
    dry_run: bool,
    connector_types: dict[str, str],
    always_log: bool,
) -> Erasure:
    _collect(store, stored, outcome_ids, persons)
    erasure = Erasure(uuid.uuid4().hex[:16], dry_run, sorted(persons), sorted(outcome_ids))
    erasure.ats_records = _ats_records(store, outcome_ids, persons, connector_types)
    text_needles = sorted(clear | stored)
    with store.engine.begin() as conn:
        counts = _apply(conn, erasure, stored, text_needles, outcome_ids, persons, dry_run=True)
    erasure.counts = counts
    if dry_run or (not erasure.found and not always_log):
        return erasure
    # the tombstones: keyed digests of the addresses, the outcome ids and the people
    stones: set[tuple[str, str]] = set()
    for e in clear:
        stones.update(("email", d) for d in _email_tombstones(store, e))
    stones.update(("email", e) for e in stored if is_digest(e))  # hash mode: only the digest is known
    for e in stored - clear:
        if not is_digest(e):
            stones.update(("email", d) for d in _email_tombstones(store, e))
    stones.update(("outcome", o) for o in outcome_ids)
    stones.update(("person", f"{c}:{i}") for c, i in persons)
    now = _now()
    with store.tx() as conn:
        erasure.counts = _apply(conn, erasure, stored, text_needles, outcome_ids, persons, dry_run=False)
        eid = erasure.erasure_id
        new = [{"kind": k, "value": v, "erasure_id": eid, "created_at": now} for k, v in sorted(stones)]
        if new:
            conn.execute(
                store_insert(store, tombstones).on_conflict_do_nothing(index_elements=["kind", "value"]), new
            )
        erasure.counts["sb_tombstones"] = len(new)
        conn.execute(
            insert(privacy_log).values(
                erasure_id=erasure.erasure_id,
                at=now,
                action=action,
                requested_by=requested_by,
                reason=reason,
                counts=erasure.counts,
                ats_records=[
                    {k: v for k, v in r.items() if k != "connector_type"} for r in erasure.ats_records
                ],
            )
        )
    erasure.logged = True
    return erasure


def _apply(
    conn: Any,
    erasure: Erasure,
    stored: set[str],
    needles: list[str],
    outcome_ids: set[str],
    persons: set[tuple[str, str]],
    *,
    dry_run: bool,
) -> dict[str, int]:
    """Count (``dry_run``) or remove/scrub every personal row; the same conditions either way."""
    counts: dict[str, int] = {}

    def run(name: str, table: Any, cond: Any, values: dict[str, Any] | None = None) -> None:
        if cond is None:
            counts[name] = counts.get(name, 0)
            return
        if dry_run:
            n = conn.execute(select(func.count()).select_from(table).where(cond)).scalar() or 0
        elif values is None:
            n = conn.execute(delete(table).where(cond)).rowcount or 0
        else:
            n = conn.execute(update(table).where(cond).values(**values)).rowcount or 0
        counts[name] = counts.get(name, 0) + n

    by_connector: dict[str, list[str]] = {}
    for c, i in persons:
        by_connector.setdefault(c, []).append(i)

    def person_cond(table: Any, id_col: Any) -> Any:
        parts = [and_(table.c.connector == c, id_col.in_(ids)) for c, ids in by_connector.items()]
        return or_(*parts) if parts else None

    def any_of(*conds: Any) -> Any:
        real = [c for c in conds if c is not None]
        return or_(*real) if real else None

    ids = sorted(outcome_ids)
    keys: list[str] = []
    app_refs: list[tuple[str, str]] = []
    if ids:
        q = select(ledger.c.key, ledger.c.connector, ledger.c.kind, ledger.c.remote_ref).where(
            ledger.c.outcome_id.in_(ids)
        )
        for key, c, kind, ref in conn.execute(q):
            keys.append(key)
            if _makes(kind) == "application" and ref:
                app_refs.append((c, str(ref)))
    apps_made = (
        or_(*[and_(applications.c.connector == c, applications.c.remote_id == r) for c, r in app_refs])
        if app_refs
        else None
    )

    run("sb_candidates", candidates, person_cond(candidates, candidates.c.remote_id))
    run(
        "sb_candidate_emails",
        candidate_emails,
        any_of(
            person_cond(candidate_emails, candidate_emails.c.remote_id),
            candidate_emails.c.email.in_(sorted(stored)) if stored else None,
        ),
    )
    run(
        "sb_applications",
        applications,
        any_of(person_cond(applications, applications.c.candidate_id), apps_made),
    )
    raw_text = cast(records.c.raw, Text)
    run(
        "sb_records",
        records,
        any_of(
            person_cond(records, records.c.remote_id),
            or_(*[raw_text.contains(n, autoescape=True) for n in needles]) if needles else None,
        ),
    )
    run("sb_outcomes", outcomes, outcomes.c.outcome_id.in_(ids) if ids else None)
    run("sb_quarantine", quarantine, quarantine.c.outcome_id.in_(ids) if ids else None)
    run(
        "sb_links",
        links,
        any_of(links.c.outcome_id.in_(ids) if ids else None, person_cond(links, links.c.candidate_id)),
    )
    if ids:
        marker = {"forgotten": erasure.erasure_id}
        # a shared requisition row (keyed by code) stays, but no longer says whose internship opened it
        shared = ledger.c.kind.in_(sorted(_SHARED_KINDS))
        cond = and_(ledger.c.outcome_id.in_(ids), ~shared)
        run("sb_ledger", ledger, cond, {"payload": marker, "target": None, "error": None})
        cond = and_(ledger.c.outcome_id.in_(ids), shared)
        run("sb_ledger", ledger, cond, {"payload": marker, "outcome_id": None, "error": None})
        run("sb_approvals", approvals, approvals.c.outcome_id.in_(ids), {"summary": None, "reason": None})
    else:
        counts.setdefault("sb_ledger", 0)
        counts.setdefault("sb_approvals", 0)
    run("sb_audit", audit, audit.c.key.in_(keys) if keys else None, {"detail": None, "target": None})
    # micro-internships ordered from Greenhouse for this address (syncbridge.assessment)
    emails = sorted(set(needles) | stored)
    run("sb_assessments", assessments, assessments.c.email.in_(emails) if emails else None)
    # the cross-employer identity (syncbridge.identity): the student's person id is found by their
    # e-mail keys and their outcomes; every key of that person (e-mails, phones) goes with it
    person_ids: set[str] = set()
    if emails:
        q = select(person_keys.c.person_id).where(person_keys.c.key.in_([f"email:{e}" for e in emails]))
        person_ids.update(p for (p,) in conn.execute(q))
    if ids:
        q = select(outcome_people.c.person_id).where(outcome_people.c.outcome_id.in_(ids))
        person_ids.update(p for (p,) in conn.execute(q))
    pids = sorted(person_ids)
    run("sb_person_keys", person_keys, person_keys.c.person_id.in_(pids) if pids else None)
    run(
        "sb_outcome_people",
        outcome_people,
        any_of(
            outcome_people.c.person_id.in_(pids) if pids else None,
            outcome_people.c.outcome_id.in_(ids) if ids else None,
        ),
    )
    run(
        "sb_reviews",
        reviews,
        any_of(
            reviews.c.person_id.in_(pids) if pids else None,
            reviews.c.outcome_id.in_(ids) if ids else None,
            person_cond(reviews, reviews.c.candidate_id),
        ),
    )
    return counts


def unforget(
    store: Store, *, email: str | None = None, erasure_id: str | None = None, requested_by: str | None = None
) -> int:
    """Lift the tombstones of an erasure (by its id, or by the e-mail it forgot), so that later runs
    process the person again.  Ledger tombstones stay: what was written is never written again."""
    if not email and not erasure_id:
        raise ConfigError("unforget: give an e-mail address or --erasure ID")
    erasures: set[str] = {erasure_id} if erasure_id else set()
    if email:
        normalized = normalize_email(email)
        if normalized is None:
            raise ConfigError("unforget: not an e-mail address")
        digests = sorted(_email_tombstones(store, normalized))
        with store.engine.connect() as conn:
            q = select(tombstones.c.erasure_id).where(
                and_(tombstones.c.kind == "email", tombstones.c.value.in_(digests))
            )
            erasures.update(e for (e,) in conn.execute(q))
    if not erasures:
        return 0
    with store.tx() as conn:
        gone = delete(tombstones).where(tombstones.c.erasure_id.in_(sorted(erasures)))
        n = conn.execute(gone).rowcount or 0
        for e in sorted(erasures):
            conn.execute(
                insert(privacy_log).values(
                    erasure_id=e,
                    at=_now(),
                    action="unforget",
                    requested_by=requested_by or _os_user(),
                    counts={"sb_tombstones": n},
                )
            )
    return n


def runs_in_progress(store: Store, within: timedelta = timedelta(hours=6)) -> list[str]:
    """Runs that may still be writing (started recently and not finished): one that loaded the outcomes
    before an erasure can still write about that person, so ``forget`` warns about them."""
    from syncbridge.store import runs

    since = _now() - within
    with store.engine.connect() as conn:
        q = select(runs.c.run_id).where(and_(runs.c.status == "running", runs.c.started_at >= since))
        return [r for (r,) in conn.execute(q)]


def privacy_log_rows(store: Store) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(privacy_log).order_by(privacy_log.c.id)).mappings()]


# --- erasure signals from webhooks (the receiver is future work; it calls handle_webhook) -------------


def handle_webhook(store: Store, connector: str, vendor: str, body: dict[str, Any]) -> Erasure | None:
    """Erase locally what a verified webhook delivery says the ATS erased; None for other events.
    ``vendor`` is the connector type, whose webhook reader says which deliveries are erasures."""
    from syncbridge.connector import connector_class

    reader = connector_class(vendor).webhooks
    signal = reader.erasure(body) if reader is not None else None
    if signal is None:
        return None
    person = signal.person_id
    if person is None and signal.candidacy_id is not None:
        person = _contact_of(store, connector, signal.candidacy_id)
    return _signal(store, connector, person, signal.reason)


def _signal(store: Store, connector: str, candidate_id: Any, reason: str) -> Erasure | None:
    if candidate_id is None or isinstance(candidate_id, bool) or str(candidate_id).strip() == "":
        return None
    return erase_person(store, connector, candidate_id=str(candidate_id), reason=reason)


def _contact_of(store: Store, connector: str, opportunity: Any) -> str | None:
    with store.engine.connect() as conn:
        q = select(applications.c.candidate_id).where(
            and_(applications.c.connector == connector, applications.c.remote_id == str(opportunity))
        )
        return conn.execute(q).scalar()


def confirm_online(erasure: Erasure, connector_for: Callable[[str], Connector]) -> None:
    """Ask each ATS whether the records listed are still there (``forget --online``); sets ``online`` on
    each record to ``present``, ``absent``, ``not checked`` or ``unknown (<error>)``.  Reads only."""
    from syncbridge.errors import ApiError, NotFound

    for r in erasure.ats_records:
        a_person = r["kind"] == "person" or _makes(r["kind"]) == "person"
        person = r.get("person") or (r["ref"] if a_person else None)
        kind = KINDS.get(r["kind"])
        try:
            connector = connector_for(r["connector"])
            if kind is not None and kind.person_note and person and r.get("marker"):
                found: bool | None = connector.find_note(person, r["marker"]) is not None
            elif person and r.get("tags"):  # only tag writes list tags
                found = connector.has_tags(person, r["tags"])
            elif a_person and person:
                try:
                    connector.get_candidate(person)
                    found = True
                except NotFound:
                    found = False
            else:
                found = None
        except (ApiError, NotImplementedError, KeyError) as exc:
            r["online"] = f"unknown ({exc.__class__.__name__})"
            continue
        r["online"] = "not checked" if found is None else "present" if found else "absent"


def _deletable(connector_type: str) -> frozenset[str]:
    """Kinds of ATS records syncbridge can delete itself (the vendor documents a delete for them)."""
    from syncbridge.connector import connector_class

    try:
        return connector_class(connector_type).deletable_writes
    except ConfigError:  # a connector type no longer installed
        return frozenset()


def erasure_records(store: Store, erasure_id: str) -> list[dict[str, Any]]:
    """The ATS records an earlier erasure listed (from the privacy log: ids and markers only)."""
    with store.engine.connect() as conn:
        q = select(privacy_log.c.ats_records).where(
            and_(privacy_log.c.erasure_id == erasure_id, privacy_log.c.action != "unforget")
        )
        rows = [r for (r,) in conn.execute(q) if r]
    if not rows:
        raise ConfigError(
            f"erasure {erasure_id}: not in the privacy log (syncbridge forget --log lists them)"
        )
    return [dict(r) for r in rows[0]]


def deletable(records: Sequence[dict[str, Any]], types: dict[str, str]) -> list[dict[str, Any]]:
    return [
        r
        for r in records
        if r["kind"] in _deletable(types.get(r["connector"], "")) and r.get("person") and r.get("marker")
    ]


def erase_in_ats(
    store: Store,
    erasure_id: str,
    connector_for: Callable[[str], Any],
    types: dict[str, str],
    *,
    requested_by: str | None = None,
) -> dict[str, int]:
    """Delete, in the ATS, the notes an earlier erasure listed where the vendor allows it (Lever: notes
    made through the API).  A separate, explicit step: ``syncbridge forget --erase-in-ats ERASURE_ID``.
    Returns counts (deleted, already gone, failed); logged in the privacy log."""
    from syncbridge.errors import ApiError, NotFound

    counts = {"deleted": 0, "already_gone": 0, "failed": 0}
    for r in deletable(erasure_records(store, erasure_id), types):
        try:
            found = connector_for(r["connector"]).delete_note(r["person"], r["marker"])
        except NotFound:
            found = None
        except ApiError:
            counts["failed"] += 1
            continue
        counts["deleted" if found else "already_gone"] += 1
    with store.tx() as conn:
        conn.execute(
            insert(privacy_log).values(
                erasure_id=erasure_id,
                at=_now(),
                action="erase_in_ats",
                requested_by=requested_by or _os_user(),
                counts=counts,
            )
        )
    return counts


# --- the report (CLI) -----------------------------------------------------------------------------


def report_lines(erasure: Erasure) -> list[str]:
    """A human report of an erasure: ids and counts only, never the e-mail or the name."""
    verb = "would remove or scrub" if erasure.dry_run else "removed or scrubbed"
    removed = ", ".join(f"{t} {n}" for t, n in erasure.counts.items() if t != "sb_tombstones" and n)
    lines = [
        f"people:   {', '.join(f'{c}:{i}' for c, i in erasure.persons) or 'none in the mirror'}",
        f"outcomes: {', '.join(erasure.outcome_ids) or 'none in the state store'}",
        f"{verb}: {removed or 'nothing (the state store holds no data about this person)'}",
    ]
    if erasure.counts.get("sb_tombstones"):
        lines.append(
            f"tombstones kept: {erasure.counts['sb_tombstones']} (keyed hash, outcome and person ids)"
        )
    if erasure.ats_records:
        lines.append(
            "in the ATS (syncbridge does not delete there; erase these by hand or with the route below):"
        )
        by_connector: dict[str, list[dict[str, Any]]] = {}
        for r in erasure.ats_records:
            by_connector.setdefault(r["connector"], []).append(r)
        for connector, rows in by_connector.items():
            kind = rows[0].get("connector_type") or ""
            lines.append(f"  {connector}{f' ({kind})' if kind else ''}:")
            for r in rows:
                extra = ""
                if r.get("marker"):
                    extra += f" marker [{r['marker']}]"
                if r.get("tags"):
                    extra += " tags " + ", ".join(r["tags"])
                if r.get("fields"):
                    extra += " fields " + ", ".join(r["fields"])
                if r["kind"] in _SHARED_KINDS:
                    extra += " (a role opened for this intern; it holds no personal data)"
                if r.get("online"):
                    extra += f" (in the ATS now: {r['online']})"
                lines.append(
                    f"    {r['kind']:<18} {r['status']:<8} person {r.get('person') or '-'}"
                    f"  ref {r.get('ref') or '-'}{extra}"
                )
            lines.append(f"    how: {erasure_route(kind)}")
    return lines
