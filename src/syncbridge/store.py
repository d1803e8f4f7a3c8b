"""The state store: SQLAlchemy Core on SQLite (default, WAL) or PostgreSQL (by URL).

Holds the cursors, a mirror of each ATS's people and requisitions (normalized e-mails indexed for
matching), the outcomes seen, quarantined rows, links, the write ledger, the audit trail and run
history.  Writes are batched; reads stream; nothing loads the whole mirror into memory.

Schema versions are explicit: ``SCHEMA_VERSION`` and the ``MIGRATIONS`` list; :meth:`Store.migrate`
applies what a database lacks and runs automatically when a store is opened.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    create_engine,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.engine.url import make_url
from sqlalchemy.exc import OperationalError

from syncbridge.bulk import BulkUpsert, PreparedPage, json_text, json_value
from syncbridge.connector import Entity, StateStore
from syncbridge.model import Application, Candidate, Outcome, Requisition
from syncbridge.records import id_problem

SCHEMA_VERSION = 13

metadata = MetaData()


def _now() -> datetime:
    return datetime.now(UTC)


Ts = DateTime(timezone=True)

meta = Table("sb_meta", metadata, Column("key", String(64), primary_key=True), Column("value", Text))

cursors = Table(
    "sb_cursors",
    metadata,
    Column("connector", String(128), primary_key=True),
    Column("stream", String(64), primary_key=True),
    Column("position", Ts, nullable=False),
    Column("updated_at", Ts, nullable=False),
)

kv = Table(
    "sb_kv",
    metadata,
    Column("connector", String(128), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("value", Text),
    Column("updated_at", Ts),
)

# one shared token bucket per vendor account (``shared_rate_limit``): see syncbridge.sharedlimit
rate_limits = Table(
    "sb_rate_limits",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("updated", Float, nullable=False),  # epoch seconds of the last refill
)

candidates = Table(
    "sb_candidates",
    metadata,
    Column("connector", String(128), primary_key=True),
    Column("remote_id", String(64), primary_key=True),
    Column("first_name", String(255)),
    Column("last_name", String(255)),
    # not indexed (v8 drops the index): no query reads by it; matching uses sb_candidate_emails
    Column("primary_email", String(320)),
    Column("tags", JSON),
    Column("updated_at", Ts),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("raw", JSON),
    Column("synced_at", Ts),
)

candidate_emails = Table(
    "sb_candidate_emails",
    metadata,
    Column("connector", String(128), primary_key=True),
    Column("email", String(320), primary_key=True),
    Column("remote_id", String(64), primary_key=True),
    Column("is_primary", Boolean, nullable=False),
)

requisitions = Table(
    "sb_requisitions",
    metadata,
    Column("connector", String(128), primary_key=True),
    Column("remote_id", String(64), primary_key=True),
    Column("name", String(512)),
    Column("code", String(255), index=True),
    Column("status", String(64)),
    Column("is_template", Boolean),
    Column("updated_at", Ts),
    Column("raw", JSON),
    Column("synced_at", Ts),
)

applications = Table(
    "sb_applications",
    metadata,
    Column("connector", String(128), primary_key=True),
    Column("remote_id", String(64), primary_key=True),
    Column("candidate_id", String(64), index=True),
    Column("requisition_id", String(64)),
    Column("status", String(64)),
    Column("prospect", Boolean),
    Column("updated_at", Ts),
    Column("raw", JSON),
    Column("synced_at", Ts),
)

records = Table(
    "sb_records",
    metadata,
    Column("connector", String(128), primary_key=True),
    Column("stream", String(64), primary_key=True),
    Column("remote_id", String(64), primary_key=True),
    Column("updated_at", Ts),
    Column("raw", JSON),
    Column("synced_at", Ts),
)

outcomes = Table(
    "sb_outcomes",
    metadata,
    Column("outcome_id", String(255), primary_key=True),
    Column("content_hash", String(32), nullable=False),
    Column("employer", String(255)),
    Column("data", JSON, nullable=False),
    Column("first_seen", Ts),
    Column("last_seen", Ts),
)

quarantine = Table(
    "sb_quarantine",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64)),
    Column("source", String(1024)),
    Column("line", Integer),
    Column("outcome_id", String(255)),
    Column("reason", Text),
    Column("at", Ts),
)

links = Table(
    "sb_links",
    metadata,
    Column("outcome_id", String(255), primary_key=True),
    Column("connector", String(128), primary_key=True),
    Column("status", String(32), nullable=False),  # linked | ambiguous | unmatched | created
    Column("candidate_id", String(64)),
    Column("method", String(64)),
    Column("confidence", Float),
    Column("candidates", JSON),
    Column("updated_at", Ts),
)

ledger = Table(
    "sb_ledger",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("connector", String(128), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("outcome_id", String(255)),
    Column("target", String(64)),
    Column("status", String(16), nullable=False, index=True),  # started | done | failed
    Column("remote_ref", String(255)),
    Column("error", Text),
    Column("attempts", Integer, nullable=False, default=0),
    Column("payload", JSON),
    Column("created_at", Ts),
    Column("updated_at", Ts),
    Column("claimed_by", String(64)),  # the run sending it now (v3)
    Column("claimed_until", Ts),  # ... until when the claim holds (a crashed run's claim expires)
)

audit = Table(
    "sb_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64)),
    Column("at", Ts, nullable=False),
    Column("actor", String(255)),
    Column("connector", String(128)),
    Column("kind", String(64)),
    Column("key", String(64), index=True),
    Column("target", String(64)),
    Column("result", String(32)),
    Column("detail", Text),
)

runs = Table(
    "sb_runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("flow", String(64), nullable=False),
    Column("connector", String(128)),
    Column("started_at", Ts, nullable=False),
    Column("finished_at", Ts),
    Column("status", String(16), nullable=False),  # running | paused | completed | failed | crashed
    Column("counts", JSON),
    Column("error", Text),
    Column("owner", String(255)),  # host:pid of the process (v4)
    Column("lock", String(16)),  # its liveness lock: flock | pg | None (see syncbridge.liveness)
)

approvals = Table(
    "sb_approvals",
    metadata,
    Column("key", String(64), primary_key=True),  # the conversion action's idempotency key
    Column("outcome_id", String(255), nullable=False),
    Column("connector", String(128), nullable=False),
    Column("status", String(16), nullable=False),  # pending | approved | rejected
    Column("rule", String(255)),
    Column("summary", JSON),
    Column("decided_by", String(255)),
    Column("reason", Text),
    Column("created_at", Ts),
    Column("decided_at", Ts),
)

audit_run_index = Index("ix_sb_audit_run_id", audit.c.run_id)
#: a person's e-mail rows by person (each synced page replaces them): without it that DELETE scanned every
#: e-mail of the connector, so a sync got slower the larger the mirror grew (v8)
emails_by_person_index = Index(
    "ix_sb_candidate_emails_remote_id", candidate_emails.c.connector, candidate_emails.c.remote_id
)

# v7 (privacy): what a forgotten person leaves behind.  A tombstone names no one in clear: ``kind`` is
# ``email`` (a keyed HMAC of the normalized address), ``outcome`` (an outcome id) or ``person``
# (``connector:remote id``); later syncs and outcome loads skip what a tombstone names (see
# ``syncbridge.privacy``).  The privacy log says who asked for which erasure, when, and what it removed.
tombstones = Table(
    "sb_tombstones",
    metadata,
    Column("kind", String(16), primary_key=True),
    Column("value", String(320), primary_key=True),
    Column("erasure_id", String(32), nullable=False, index=True),
    Column("created_at", Ts),
)

privacy_log = Table(
    "sb_privacy_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("erasure_id", String(32), nullable=False, index=True),
    Column("at", Ts, nullable=False),
    Column("action", String(32), nullable=False),  # forget | erase_signal | unforget
    Column("requested_by", String(255)),
    Column("reason", Text),
    Column("counts", JSON),
    Column("ats_records", JSON),  # ids only: what to erase in each ATS
)

# identity (v11): one syncbridge person per student across employers, found by strong keys (e-mail,
# E.164 phone); and the review queue of links too weak to use without a person's decision
person_keys = Table(
    "sb_person_keys",
    metadata,
    Column("key", String(400), primary_key=True),  # "email:<normalized>" | "phone:<E.164>"
    Column("person_id", String(36), nullable=False, index=True),
    Column("created_at", Ts),
)
outcome_people = Table(
    "sb_outcome_people",
    metadata,
    Column("outcome_id", String(255), primary_key=True),
    Column("person_id", String(36), nullable=False, index=True),
)
reviews = Table(
    "sb_reviews",
    metadata,
    Column("outcome_id", String(255), primary_key=True),
    Column("connector", String(128), primary_key=True),
    Column("person_id", String(36)),
    Column("candidate_id", String(64)),  # the proposed ATS person
    Column("confidence", Float),
    Column("evidence", JSON),  # the evidence names (phone, name, previous link ...), no personal data
    Column("status", String(16), nullable=False, index=True),  # pending|accepted|rejected|superseded
    Column("decided_by", String(255)),
    Column("created_at", Ts),
    Column("decided_at", Ts),
)

#: Inbound webhook deliveries (v12): one row per vendor event id, so a re-delivery is recognised; the
#: receiver answers at once and a worker drains ``queued`` rows (see ``syncbridge.webhooks``).
events = Table(
    "sb_events",
    metadata,
    Column("connector", String(128), primary_key=True),
    Column("event_id", String(255), primary_key=True),
    Column("action", String(64), nullable=False),
    Column("person_id", String(64)),  # the vendor's person id (Greenhouse candidate, Lever contact)
    Column("status", String(16), nullable=False, index=True),  # queued | done | ignored | failed
    Column("received_at", Ts, nullable=False),
    Column("processed_at", Ts),
    Column("detail", Text),
)

#: Greenhouse Assessment Partner requests (v12): a recruiter ordered a micro-internship for a candidate.
assessments = Table(
    "sb_assessments",
    metadata,
    Column("partner_interview_id", String(64), primary_key=True),
    Column("partner_test_id", String(255), nullable=False),
    Column("email", String(320), index=True),  # the candidate's normalised e-mail (personal data)
    Column("candidate", JSON),  # name, Greenhouse profile URL (personal data; erased by forget)
    Column("sent_by", String(320)),
    Column("callback_url", Text, nullable=False),
    Column("status", String(16), nullable=False),  # requested | complete
    Column("outcome_id", String(255)),
    Column("requested_at", Ts, nullable=False),
    Column("completed_at", Ts),
    Column("notified_at", Ts),
    Column("handoff_error", Text),
)


def _v2(conn: Connection) -> None:
    """v2: manual-approval records for conversions; audit rows findable by run."""
    approvals.create(conn, checkfirst=True)
    audit_run_index.create(conn, checkfirst=True)


#: version → callable(conn) bringing the schema from version-1 to version.  A new database gets the
#: latest schema from ``create_all`` directly.
def _v3(conn: Connection) -> None:
    """v3: a claim with a lease on each ledger entry, so two runs never send the same write at once."""
    from sqlalchemy import inspect

    have = {c["name"] for c in inspect(conn).get_columns("sb_ledger")}
    ts = "TIMESTAMP WITH TIME ZONE" if conn.dialect.name == "postgresql" else "DATETIME"
    for name, sql_type in (("claimed_by", "VARCHAR(64)"), ("claimed_until", ts)):
        if name not in have:
            conn.execute(text(f"ALTER TABLE sb_ledger ADD COLUMN {name} {sql_type}"))


def _v4(conn: Connection) -> None:
    """v4: each run records its process and its liveness lock, so a killed run's claims are taken over
    at once and the run shows as crashed (see :mod:`syncbridge.liveness`)."""
    from sqlalchemy import inspect

    have = {c["name"] for c in inspect(conn).get_columns("sb_runs")}
    for name, sql_type in (("owner", "VARCHAR(255)"), ("lock", "VARCHAR(16)")):
        if name not in have:
            conn.execute(text(f"ALTER TABLE sb_runs ADD COLUMN {name} {sql_type}"))


def _v12(conn: Connection) -> None:
    """v12: inbound webhook events and Greenhouse assessment-partner requests."""
    events.create(conn, checkfirst=True)
    assessments.create(conn, checkfirst=True)


def _v7(conn: Connection) -> None:
    """v7: privacy tombstones and the privacy log (``syncbridge forget``)."""
    tombstones.create(conn, checkfirst=True)
    privacy_log.create(conn, checkfirst=True)


def _v8(conn: Connection) -> None:
    """v8: e-mail rows indexed by person (a sync's cost per record no longer grows with the mirror); the
    unused index on sb_candidates.primary_email dropped (a random-order index: a sixth of a sync's CPU)."""
    emails_by_person_index.create(conn, checkfirst=True)
    conn.execute(text("DROP INDEX IF EXISTS ix_sb_candidates_primary_email"))


def _v11(conn: Connection) -> None:
    """v11: syncbridge person ids and the identity review queue (new tables only)."""
    for table in (person_keys, outcome_people, reviews):
        table.create(conn, checkfirst=True)


def _v13(conn: Connection) -> None:
    """v13: the shared rate-limit buckets (several workers under one vendor limit)."""
    rate_limits.create(conn, checkfirst=True)


MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    2: _v2,
    3: _v3,
    4: _v4,
    7: _v7,
    8: _v8,
    11: _v11,
    12: _v12,
    13: _v13,
}
CLAIM_LEASE = timedelta(minutes=15)


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything in syncbridge is UTC-aware."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        return Path(parsed.database)
    return None


class Store:
    """All persistent state.  Thread-safe (one engine, short transactions)."""

    def __init__(self, url: str, *, echo: bool = False, migrate: bool = True) -> None:
        self.url = url
        path = sqlite_path(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(
            url,
            echo=echo,
            future=True,
            pool_pre_ping=True,
            json_serializer=json_text,
            json_deserializer=json_value,
        )
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._lock = threading.Lock()
        #: set by ``privacy.bind`` when ``privacy.hash_emails`` is on: e-mails are kept as keyed hashes
        self.email_key: bytes | None = None
        self._bulk_cache: dict[str, BulkUpsert] = {}
        try:
            if migrate:
                self.migrate()
            else:
                self.engine.connect().close()
        except OperationalError as exc:  # closed port, missing database...: one line, no password
            from syncbridge.statedb import StateStoreError, describe

            self.engine.dispose()
            raise StateStoreError(describe(exc, url)) from None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    # -- schema
    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            if not self.engine.dialect.has_table(conn, meta.name):
                return 0
            value = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
            return int(value) if value else 0

    def migrate(self) -> int:
        """Create or upgrade the schema; returns the version now in place.

        On PostgreSQL an advisory lock serialises concurrent starts (two workers migrating at once)."""
        if self.schema_version() == SCHEMA_VERSION:
            return SCHEMA_VERSION
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(724157)"))
            has_meta = self.engine.dialect.has_table(conn, meta.name)
            value = (
                conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
                if has_meta
                else None
            )
            current = int(value) if value else 0
            if current > SCHEMA_VERSION:
                raise RuntimeError(
                    f"state schema version {current} is newer than this syncbridge "
                    f"({SCHEMA_VERSION}); upgrade syncbridge"
                )
            if current == 0:
                metadata.create_all(conn)
                current = SCHEMA_VERSION
            for version in sorted(v for v in MIGRATIONS if v > current):
                MIGRATIONS[version](conn)
                current = version
            self._upsert(conn, meta, [{"key": "schema_version", "value": str(current)}], ["key"])
        return current

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def _upsert(
        self, conn: Connection, table: Table, rows: Sequence[dict[str, Any]], keys: list[str]
    ) -> None:
        if not rows:
            return
        stmt = _dialect_insert(self.dialect, table)
        updates = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys}
        stmt = (
            stmt.on_conflict_do_update(index_elements=keys, set_=updates)
            if updates
            else stmt.on_conflict_do_nothing(index_elements=keys)
        )
        conn.execute(stmt, list(rows))

    # -- cursors
    def get_cursor(self, connector: str, stream: str) -> datetime | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(cursors.c.position).where(
                    and_(cursors.c.connector == connector, cursors.c.stream == stream)
                )
            ).scalar()
        return _aware(value)

    def set_cursor(self, connector: str, stream: str, position: datetime) -> None:
        with self.tx() as conn:
            self._upsert(
                conn,
                cursors,
                [{"connector": connector, "stream": stream, "position": position, "updated_at": _now()}],
                ["connector", "stream"],
            )

    def all_cursors(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(cursors).order_by(cursors.c.connector, cursors.c.stream)).mappings()
            return [dict(r) for r in rows]

    # -- connector key/value state
    def state_for(self, connector: str) -> StateStore:
        return _KvState(self, connector)

    # -- mirror
    def upsert_page(self, connector: str, entity: Entity, stream: str, page: Sequence[Any]) -> int:
        """Store one page of records in the mirror, each by its own type (so one stream may yield both
        people and their applications, as Lever's opportunities do); ``entity`` is the stream's
        declared kind, used for plain-dict records.  Returns the number stored: a
        :class:`~syncbridge.records.Refused` placeholder, or a plain-dict record whose ``id`` is not a
        valid id, is never stored (the last guard against phantom records, see syncbridge.records)."""
        return self.write_page(self.prepare_page(connector, entity, stream, page))

    def prepare_page(self, connector: str, entity: Entity, stream: str, page: Sequence[Any]) -> PreparedPage:
        """The Python half of :meth:`upsert_page`: the page's rows, converted for the driver.  A sync
        prepares the next page in its read-ahead thread while this thread's driver call writes the
        current one (the database work runs without the GIL, so the two overlap)."""
        fixed = {"connector": connector, "synced_at": _now()}
        cands: list[Candidate] = []
        reqs: list[tuple[Any, ...]] = []
        apps: list[tuple[Any, ...]] = []
        other: list[tuple[Any, ...]] = []
        for r in page:
            if isinstance(r, Candidate):
                cands.append(r)
            elif isinstance(r, Requisition):
                reqs.append((r.ref.id, r.name[:512], r.code, r.status, r.is_template, r.updated_at, r.raw))
            elif isinstance(r, Application):
                raw = self._stored_raw(r.raw)
                apps.append(
                    (r.ref.id, r.candidate_id, r.requisition_id, r.status, r.prospect, r.updated_at, raw)
                )
            elif isinstance(r, dict) and id_problem(r.get("id")) is None:
                other.append((str(r.get("id")), None, r))
        prepared = PreparedPage(connector, len(cands) + len(reqs) + len(apps) + len(other))
        self._candidate_rows(prepared, cands, fixed)
        prepared.add(self._bulk(requisitions, ["connector", "remote_id"]).batch(reqs, fixed))
        prepared.add(self._bulk(applications, ["connector", "remote_id"]).batch(apps, fixed))
        records_fixed = {**fixed, "stream": stream}
        prepared.add(self._bulk(records, ["connector", "stream", "remote_id"]).batch(other, records_fixed))
        return prepared

    def write_page(self, prepared: PreparedPage) -> int:
        """The database half of :meth:`upsert_page`: one transaction.  Returns the records stored."""
        with self.tx() as conn:
            self._write(conn, prepared)
        return prepared.count

    def _write(self, conn: Connection, prepared: PreparedPage) -> None:
        if prepared.replace_emails_of:  # a person's e-mail set is replaced, not merged
            ids = prepared.replace_emails_of
            if self.dialect == "postgresql":
                conn.exec_driver_sql(REPLACE_EMAILS_PG, (prepared.connector, ids))
            else:
                conn.exec_driver_sql(REPLACE_EMAILS_SQLITE, (prepared.connector, orjson.dumps(ids).decode()))
        prepared.write(conn)

    @contextmanager
    def page_writer(self) -> Iterator[PageWriter]:
        """A sync's writer: prepared pages go into few, large transactions (see :class:`PageWriter`).
        Everything written is committed when the block ends; an error rolls back the pages written since
        the last commit (the sync's cursor does not move, so the next sync reads them again)."""
        with self.engine.connect() as conn:
            writer = PageWriter(self, conn)
            with writer.tuned():
                try:
                    yield writer
                except BaseException:
                    conn.rollback()
                    raise
                writer.commit()

    def _bulk_upsert(
        self,
        conn: Connection,
        table: Table,
        rows: Sequence[dict[str, Any]],
        keys: list[str],
        update: bool = True,
    ) -> None:
        """The mirror's write path (see :mod:`syncbridge.bulk`); the same rows as :meth:`_upsert` stores."""
        self._bulk(table, keys, update, fixed=())(conn, rows)

    def _bulk(
        self,
        table: Table,
        keys: list[str],
        update: bool = True,
        fixed: Sequence[str] = ("connector", "synced_at", "stream"),
    ) -> BulkUpsert:
        name = f"{table.name}:{int(update)}:{','.join(fixed)}"
        if name not in self._bulk_cache:
            self._bulk_cache[name] = BulkUpsert(self.engine.dialect, table, keys, update=update, fixed=fixed)
        return self._bulk_cache[name]

    def _candidate_rows(self, prepared: PreparedPage, cands: list[Candidate], fixed: dict[str, Any]) -> None:
        if not cands:
            return
        # one row per id: the last one in the page wins (a page never repeats ids, but be safe)
        by_id = {c.ref.id: c for c in cands}
        rows = []
        email_rows: list[tuple[str, str, bool]] = []
        hashed = self.email_key is not None
        for remote_id, c in by_id.items():
            emails = c.normalized_emails
            if hashed:
                emails = [self.stored_email(e) for e in emails]
            first, last = c.first_name, c.last_name
            rows.append(
                (
                    remote_id,
                    first[:255] if first else "",
                    last[:255] if last else "",
                    emails[0] if emails else None,
                    c.tags,
                    c.updated_at,
                    c.deleted,
                    self._stored_raw(c.raw) if hashed else c.raw,
                )
            )
            if emails:
                email_rows.append((emails[0], remote_id, True))
                email_rows.extend((e, remote_id, False) for e in emails[1:])
        prepared.add(self._bulk(candidates, ["connector", "remote_id"]).batch(rows, fixed))
        prepared.replace_emails_of = list(by_id)
        emails_bulk = self._bulk(candidate_emails, ["connector", "email", "remote_id"], update=False)
        prepared.add(emails_bulk.batch(email_rows, fixed))

    # -- e-mails: in clear, or keyed hashes only (``privacy.hash_emails``; see syncbridge.privacy)
    def stored_email(self, email: str) -> str:
        """How a normalized e-mail is kept (and looked up) in the mirror's e-mail index."""
        if self.email_key is None:
            return email
        from syncbridge.privacy import email_digest

        return email_digest(self.email_key, email)

    def _stored_raw(self, raw: Any) -> Any:
        if self.email_key is None:
            return raw
        from syncbridge.privacy import hash_emails_in

        return hash_emails_in(raw, self.email_key)

    def _stored_outcome(self, data: dict[str, Any]) -> dict[str, Any]:
        if self.email_key is None:
            return data
        from syncbridge.privacy import hash_outcome_email

        return hash_outcome_email(data, self.email_key)

    def mark_deleted(self, connector: str, remote_ids: Iterable[str]) -> int:
        ids = list(remote_ids)
        with self.tx() as conn:
            result = conn.execute(
                update(candidates)
                .where(and_(candidates.c.connector == connector, candidates.c.remote_id.in_(ids)))
                .values(deleted=True)
            )
        return result.rowcount or 0

    def candidates_by_email(self, connector: str, email: str) -> list[dict[str, Any]]:
        """Mirror rows (not deleted) that carry ``email``; each with ``is_primary``."""
        email = self.stored_email(email)
        q = (
            select(candidate_emails.c.remote_id, candidate_emails.c.is_primary)
            .join(
                candidates,
                and_(
                    candidates.c.connector == candidate_emails.c.connector,
                    candidates.c.remote_id == candidate_emails.c.remote_id,
                ),
            )
            .where(
                and_(
                    candidate_emails.c.connector == connector,
                    candidate_emails.c.email == email,
                    candidates.c.deleted.is_(False),
                )
            )
        )
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def mirror_counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        with self.engine.connect() as conn:
            for name, table in (
                ("candidates", candidates),
                ("requisitions", requisitions),
                ("applications", applications),
            ):
                for connector, n in conn.execute(
                    select(table.c.connector, func.count()).group_by(table.c.connector)
                ):
                    out.setdefault(connector, {})[name] = n
            q = select(records.c.connector, records.c.stream, func.count()).group_by(
                records.c.connector, records.c.stream
            )
            for connector, stream, n in conn.execute(q):
                out.setdefault(connector, {})[stream] = n
        return out

    # -- outcomes
    def record_outcomes(self, items: Sequence[Outcome]) -> int:
        """Remember outcomes (upsert by id).  Returns how many changed content since last seen."""
        now = _now()
        changed = 0
        with self.tx() as conn:
            ids = [o.outcome_id for o in items]
            known: dict[str, str] = {}
            for start in range(0, len(ids), 500):
                q = select(outcomes.c.outcome_id, outcomes.c.content_hash).where(
                    outcomes.c.outcome_id.in_(ids[start : start + 500])
                )
                known.update({r[0]: r[1] for r in conn.execute(q)})
            rows = []
            for o in items:
                h = o.content_hash()
                if o.outcome_id in known and known[o.outcome_id] != h:
                    changed += 1
                rows.append(
                    {
                        "outcome_id": o.outcome_id,
                        "content_hash": h,
                        "employer": o.employer,
                        "data": self._stored_outcome(o.model_dump(mode="json")),
                        "first_seen": now,
                        "last_seen": now,
                    }
                )
            if rows:
                stmt = _dialect_insert(self.dialect, outcomes)
                stmt = stmt.on_conflict_do_update(
                    index_elements=["outcome_id"],
                    set_={
                        "content_hash": stmt.excluded.content_hash,
                        "employer": stmt.excluded.employer,
                        "data": stmt.excluded.data,
                        "last_seen": stmt.excluded.last_seen,
                    },
                )
                conn.execute(stmt, rows)
        return changed

    def record_quarantine(self, run_id: str, source: str, items: Iterable[Any]) -> None:
        rows = [
            {
                "run_id": run_id,
                "source": source,
                "line": q.line,
                "outcome_id": q.outcome_id,
                "reason": q.reason,
                "at": _now(),
            }
            for q in items
        ]
        if rows:
            with self.tx() as conn:
                conn.execute(insert(quarantine), rows)

    def quarantine_reported(self, source: str, items: Iterable[Any]) -> bool:
        """True when every quarantined row (line, outcome id, reason) of ``source`` was already recorded
        by an earlier run."""
        wanted = {(q.line, q.outcome_id, q.reason) for q in items}
        if not wanted:
            return True
        with self.engine.connect() as conn:
            known = conn.execute(
                select(quarantine.c.line, quarantine.c.outcome_id, quarantine.c.reason)
                .where(quarantine.c.source == source)
                .distinct()
            )
            return wanted <= {tuple(r) for r in known}

    # -- links
    def save_links(self, rows: Sequence[dict[str, Any]]) -> None:
        now = _now()
        with self.tx() as conn:
            self._upsert(conn, links, [{**r, "updated_at": now} for r in rows], ["outcome_id", "connector"])

    def links(self, status: str | None = None) -> list[dict[str, Any]]:
        q = select(links).order_by(links.c.connector, links.c.outcome_id)
        if status:
            q = q.where(links.c.status == status)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def link_counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {
                s: n for s, n in conn.execute(select(links.c.status, func.count()).group_by(links.c.status))
            }

    # -- ledger
    def ledger_rows(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(keys), 500):
                q = select(ledger).where(ledger.c.key.in_(list(keys[start : start + 500])))
                out.update({r["key"]: dict(r) for r in conn.execute(q).mappings()})
        return out

    def ledger_get(self, key: str) -> dict[str, Any] | None:
        return self.ledger_rows([key]).get(key)

    def ledger_start(
        self,
        key: str,
        *,
        connector: str,
        kind: str,
        outcome_id: str | None,
        target: str | None,
        payload: dict[str, Any],
        run_id: str | None = None,
    ) -> int:
        """Record that the write is about to be sent (before the HTTP call) and claim it for ``run_id``.

        Returns the attempt number, or 0 when another run holds a live claim on it (or it is done): the
        caller must then not send it.  The claim is a conditional UPDATE (or an INSERT racing on the
        primary key), so it is atomic on SQLite and PostgreSQL alike; a crashed run's claim expires
        after :data:`CLAIM_LEASE`."""
        now = _now()
        me = run_id or "-"
        until = now + CLAIM_LEASE
        with self.tx() as conn:
            row = conn.execute(select(ledger.c.attempts).where(ledger.c.key == key)).first()
            if row is None:
                inserted = conn.execute(
                    _dialect_insert(self.dialect, ledger)
                    .values(
                        key=key,
                        connector=connector,
                        kind=kind,
                        outcome_id=outcome_id,
                        target=target,
                        status="started",
                        attempts=1,
                        payload=payload,
                        created_at=now,
                        updated_at=now,
                        claimed_by=me,
                        claimed_until=until,
                    )
                    .on_conflict_do_nothing(index_elements=["key"])
                    .returning(ledger.c.key)
                )
                return 1 if inserted.first() is not None else 0
            attempts = int(row[0]) + 1
            finished_runs = select(runs.c.run_id).where(runs.c.status != "running")
            claimable = and_(
                ledger.c.key == key,
                ledger.c.status != "done",
                (ledger.c.claimed_until.is_(None))
                | (ledger.c.claimed_until < now)
                | (ledger.c.claimed_by == me)
                | (ledger.c.status != "started")
                | ledger.c.claimed_by.in_(finished_runs),  # its run ended (e.g. crashed): the claim is dead
            )
            result = conn.execute(
                update(ledger)
                .where(claimable)
                .values(
                    status="started",
                    attempts=attempts,
                    target=target,
                    error=None,
                    updated_at=now,
                    claimed_by=me,
                    claimed_until=until,
                )
            )
            return attempts if result.rowcount == 1 else 0

    def claimed_elsewhere(self, row: dict[str, Any] | None, run_id: str | None) -> bool:
        """Is this ledger entry being sent right now by another run (a live claim)?"""
        if row is None or row["status"] != "started" or row.get("claimed_by") in (None, run_id or "-"):
            return False
        until = _aware(row.get("claimed_until"))
        if until is None or until <= _now():
            return False
        with self.engine.connect() as conn:  # a run that has ended (e.g. crashed) holds no claim
            run = conn.execute(
                select(runs.c.status, runs.c.lock).where(runs.c.run_id == row["claimed_by"])
            ).first()
        if run is None:
            return True
        if run.status == "running" and self.run_is_dead(row["claimed_by"], run.lock):
            return False  # its process died: the claim is taken over at once (marked crashed above)
        return bool(run.status == "running")

    def run_is_dead(self, run_id: str, lock: str | None) -> bool:
        """A running run whose liveness lock nobody holds (its process died) is marked ``crashed``."""
        from syncbridge.liveness import is_dead

        if not is_dead(self, run_id, lock):
            return False
        self.mark_crashed(run_id)
        return True

    def mark_crashed(self, run_id: str) -> None:
        with self.tx() as conn:
            conn.execute(
                update(runs)
                .where(and_(runs.c.run_id == run_id, runs.c.status == "running"))
                .values(
                    status="crashed",
                    finished_at=_now(),
                    error="its process died while running (killed?); the next run reconciles its writes",
                )
            )

    def sweep_dead_runs(self) -> list[str]:
        """Mark every ``running`` run whose process has died as ``crashed``; returns their ids."""
        with self.engine.connect() as conn:
            running = conn.execute(select(runs.c.run_id, runs.c.lock).where(runs.c.status == "running")).all()
        return [r.run_id for r in running if r.lock and self.run_is_dead(r.run_id, r.lock)]

    def ledger_finish(
        self, key: str, status: str, *, remote_ref: str | None = None, error: str | None = None
    ) -> None:
        with self.tx() as conn:
            conn.execute(
                update(ledger)
                .where(ledger.c.key == key)
                .values(
                    status=status, remote_ref=remote_ref, error=error, updated_at=_now(), claimed_until=None
                )
            )
            if status == "done" and self.email_key is not None:
                from syncbridge.privacy import scrub_done_payload

                scrub_done_payload(conn, key, self.email_key)

    def ledger_counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {
                s: n for s, n in conn.execute(select(ledger.c.status, func.count()).group_by(ledger.c.status))
            }

    def ledger_pending(self, limit: int = 50) -> list[dict[str, Any]]:
        q = select(ledger).where(ledger.c.status != "done").order_by(ledger.c.updated_at.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def audit(
        self,
        *,
        run_id: str | None,
        actor: str,
        connector: str,
        kind: str,
        key: str,
        target: str | None,
        result: str,
        detail: str | None = None,
    ) -> None:
        with self.tx() as conn:
            conn.execute(
                insert(audit).values(
                    run_id=run_id,
                    at=_now(),
                    actor=actor,
                    connector=connector,
                    kind=kind,
                    key=key,
                    target=target,
                    result=result,
                    detail=detail,
                )
            )

    def audit_rows(self, key: str | None = None) -> list[dict[str, Any]]:
        q = select(audit).order_by(audit.c.id)
        if key:
            q = q.where(audit.c.key == key)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    # -- runs
    def run_started(
        self,
        run_id: str,
        flow: str,
        connector: str | None = None,
        *,
        owner: str | None = None,
        lock: str | None = None,
    ) -> None:
        """Record a run as running; a suspended run that Prefect starts again keeps its row (and id),
        with the process and liveness lock it runs under now (kept as they were when none is given: a
        run paused in its own process still holds its lock)."""
        now_held = {"owner": owner, "lock": lock} if owner or lock else {}
        with self.tx() as conn:
            again = conn.execute(
                update(runs)
                .where(runs.c.run_id == run_id)
                .values(status="running", finished_at=None, error=None, **now_held)
            ).rowcount
            if not again:
                conn.execute(
                    insert(runs).values(
                        run_id=run_id,
                        flow=flow,
                        connector=connector,
                        started_at=_now(),
                        status="running",
                        owner=owner,
                        lock=lock,
                    )
                )

    def paused_run_ended(self, run_id: str, error: str) -> None:
        """A run recorded as paused (waiting for approval) that ended without coming back: failed."""
        with self.tx() as conn:
            conn.execute(
                update(runs)
                .where(and_(runs.c.run_id == run_id, runs.c.status == "paused"))
                .values(status="failed", finished_at=_now(), error=error)
            )

    def paused_runs(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(runs).where(runs.c.status == "paused")).mappings()]

    def run_finished(
        self, run_id: str, status: str, counts: dict[str, Any] | None = None, error: str | None = None
    ) -> None:
        with self.tx() as conn:
            conn.execute(
                update(runs)
                .where(runs.c.run_id == run_id)
                .values(finished_at=_now(), status=status, counts=counts, error=error)
            )

    def last_runs(self) -> list[dict[str, Any]]:
        """The latest run of each (flow, connector), failures first, then newest first."""
        latest: dict[tuple[str, str | None], dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for r in conn.execute(select(runs).order_by(runs.c.started_at.desc()).limit(5000)).mappings():
                latest.setdefault((r["flow"], r["connector"]), dict(r))
        rows = list(latest.values())
        rows.sort(
            key=lambda r: (
                r["status"] not in ("failed", "crashed"),
                -(_aware(r["started_at"]) or _now()).timestamp(),
            )
        )
        return rows

    # -- conversion support
    CLOSED = frozenset({"closed", "filled", "archived", "cancelled", "canceled", "frozen", "inactive"})

    def open_requisition(self, connector: str, code: str) -> str | None:
        """A mirrored requisition with this code that is not closed (None when there is none)."""
        q = select(requisitions.c.remote_id, requisitions.c.status).where(
            and_(requisitions.c.connector == connector, requisitions.c.code == code)
        )
        with self.engine.connect() as conn:
            for remote_id, status in conn.execute(q):
                if (status or "").lower() not in self.CLOSED:
                    return str(remote_id)
        return None

    def closed_requisition(self, connector: str, code: str) -> bool:
        """The mirror knows requisitions with this code and every one of them is closed."""
        q = select(requisitions.c.status).where(
            and_(requisitions.c.connector == connector, requisitions.c.code == code)
        )
        with self.engine.connect() as conn:
            statuses = [(s or "").lower() for (s,) in conn.execute(q)]
        return bool(statuses) and all(s in self.CLOSED for s in statuses)

    def user_id_by_email(self, connector: str, email: str) -> str | None:
        """An ATS user (from the synced ``users`` stream) with this e-mail, for hiring managers."""
        wanted = email.strip().lower()
        q = select(records.c.remote_id, records.c.raw).where(
            and_(records.c.connector == connector, records.c.stream == "users")
        )
        with self.engine.connect() as conn:
            for remote_id, raw in conn.execute(q):
                if wanted in _emails_in(raw):
                    return str(remote_id)
        return None

    def approval_status(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(approvals.c.status).where(approvals.c.key == key)).scalar()

    def request_approval(self, key: str, *, outcome_id: str, connector: str, rule: str, summary: str) -> bool:
        """Record that a conversion waits for a person; returns True when it is new."""
        with self.tx() as conn:
            if conn.execute(select(approvals.c.key).where(approvals.c.key == key)).first() is not None:
                return False
            conn.execute(
                insert(approvals).values(
                    key=key,
                    outcome_id=outcome_id,
                    connector=connector,
                    status="pending",
                    rule=rule,
                    summary={"text": summary},
                    created_at=_now(),
                )
            )
        return True

    def decide_approval(self, ref: str, status: str, *, by: str, reason: str | None = None) -> list[str]:
        """Approve or reject by key (or unique key prefix) or outcome id; returns the keys decided.
        A decision already taken is never asked again: deciding twice keeps the first decision."""
        with self.tx() as conn:
            rows = conn.execute(
                select(approvals.c.key, approvals.c.status).where(
                    (approvals.c.key.startswith(ref)) | (approvals.c.outcome_id == ref)
                )
            ).all()
            pending = [k for k, st in rows if st == "pending"]
            if pending:
                conn.execute(
                    update(approvals)
                    .where(approvals.c.key.in_(pending))
                    .values(status=status, decided_by=by, reason=reason, decided_at=_now())
                )
        return pending

    def note_paused_run(self, key: str, flow_run_id: str | None, **details: Any) -> None:
        """Remember which paused Prefect flow run waits for this approval (so the CLI can resume it), and
        ``details`` of that wait (its run id in ``sb_runs``, its deadline)."""
        with self.tx() as conn:
            row = conn.execute(select(approvals.c.summary).where(approvals.c.key == key)).first()
            if row is not None:
                summary = dict(row[0] or {}) | {"flow_run_id": flow_run_id} | details
                conn.execute(update(approvals).where(approvals.c.key == key).values(summary=summary))

    def approvals_for(self, ref: str) -> list[dict[str, Any]]:
        q = select(approvals).where((approvals.c.key.startswith(ref)) | (approvals.c.outcome_id == ref))
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def pending_approvals(self) -> list[dict[str, Any]]:
        q = select(approvals).where(approvals.c.status == "pending").order_by(approvals.c.created_at)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def recent_runs(self, limit: int = 20) -> list[dict[str, Any]]:
        q = select(runs).order_by(runs.c.started_at.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]


#: a page replaces its people's e-mail rows; found through the v8 index by person (one statement a page)
REPLACE_EMAILS_SQLITE = (
    "DELETE FROM sb_candidate_emails WHERE connector = ? AND remote_id IN (SELECT value FROM json_each(?))"
)
REPLACE_EMAILS_PG = "DELETE FROM sb_candidate_emails WHERE connector = %s AND remote_id = ANY(%s)"


class PageWriter:
    """Writes a sync's prepared pages in few, large transactions.

    A commit costs far more than a page: every database page the transaction touched is written to the
    log once per commit, and the e-mail index is in e-mail order, so each person's row lands on a random
    page of it.  With a commit every 2,000 records a 1,000,000-person mirror wrote about one index page
    per person.  The writer commits every :attr:`records` records or :attr:`seconds` seconds, and
    whenever :meth:`commit` is called: the sync calls it when the next page is slow to come, so no lock is
    held while it waits for the vendor, and another writer (an erasure the sync's own reading thread
    makes, another process) waits at most that long.

    On SQLite the connection gets a larger page cache (the transaction's pages and the upper levels of
    the indexes stay in memory) and a larger WAL before a checkpoint, for the duration of the sync only.
    On PostgreSQL these transactions do not wait for their WAL flush (``synchronous_commit``): the sync
    moves its cursor in a normal transaction afterwards, whose flush covers every commit before it, and
    a crash before that loses nothing the next sync does not read again.  The writer also refreshes the
    planner's statistics of the tables it filled (``ANALYZE`` after 10,000 records, then each time the
    count doubles): without them PostgreSQL took a growing table for a small one and replaced a page's
    e-mail rows by reading every e-mail row of the connector (a first sync of 100,000 people: 200
    pages, each reading up to 100,000 rows)."""

    records = 20_000
    seconds = 2.0
    #: SQLite page cache (KiB) and WAL checkpoint interval (pages) while the writer is open
    CACHE_KIB = 65_536
    CHECKPOINT_PAGES = 10_000

    #: records written before the first ANALYZE (PostgreSQL); then each time the count doubles
    ANALYZE_AFTER = 10_000

    def __init__(self, store: Store, conn: Connection) -> None:
        self.store, self.conn = store, conn
        self.pending = 0
        self.began = 0.0
        self.written = 0
        self.analyze_at = self.ANALYZE_AFTER
        self.tables: set[str] = set()

    @contextmanager
    def tuned(self) -> Iterator[None]:
        if self.store.dialect != "sqlite":
            yield
            return
        conn = self.conn
        cache = int(conn.exec_driver_sql("PRAGMA cache_size").scalar_one())
        checkpoint = int(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())
        conn.exec_driver_sql(f"PRAGMA cache_size = -{self.CACHE_KIB}")
        conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint = {self.CHECKPOINT_PAGES}")
        try:
            yield
        finally:
            conn.exec_driver_sql(f"PRAGMA cache_size = {cache}")  # frees the cache's memory
            conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint = {checkpoint}")

    def write(self, page: PreparedPage) -> int:
        """Write one page (in the open transaction); returns the records stored."""
        if not self.pending:
            self.began = time.monotonic()
            if self.store.dialect == "postgresql":
                self.conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
        self.store._write(self.conn, page)
        self.tables.update(page.tables)
        self.pending += max(page.count, 1)
        if self.pending >= self.records or time.monotonic() - self.began >= self.seconds:
            self.commit()
        return page.count

    def commit(self) -> None:
        """Commit what was written since the last commit (nothing when nothing was)."""
        if not self.pending:
            return
        self.conn.commit()
        self.written += self.pending
        self.pending = 0
        if self.store.dialect == "postgresql" and self.written >= self.analyze_at and self.tables:
            self.conn.exec_driver_sql(f"ANALYZE {', '.join(sorted(self.tables))}")
            self.conn.commit()
            self.analyze_at = 2 * self.written


class _KvState(StateStore):
    def __init__(self, store: Store, connector: str) -> None:
        self.store, self.connector = store, connector

    def get(self, key: str) -> str | None:
        with self.store.engine.connect() as conn:
            return conn.execute(
                select(kv.c.value).where(and_(kv.c.connector == self.connector, kv.c.key == key))
            ).scalar()

    def set(self, key: str, value: str) -> None:
        with self.store.tx() as conn:
            self.store._upsert(
                conn,
                kv,
                [{"connector": self.connector, "key": key, "value": value, "updated_at": _now()}],
                ["connector", "key"],
            )


def _emails_in(raw: Any) -> set[str]:
    """Lower-cased e-mail-looking strings among a user record's top-level values (and lists of them)."""
    found: set[str] = set()
    if not isinstance(raw, dict):
        return found
    for value in raw.values():
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, dict):
                item = item.get("value") or item.get("email")
            if isinstance(item, str) and "@" in item:
                found.add(item.strip().lower())
    return found


def _dialect_insert(dialect: str, table: Table) -> Any:
    """``INSERT`` with ``ON CONFLICT`` support for the two dialects we run on."""
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def dumps(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)
