"""The state store on SQLite and on the PostgreSQL server at 127.0.0.1:5432 (skipped only if none answers)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from syncbridge.model import Application, Candidate, Email, Ref, Requisition
from syncbridge.store import SCHEMA_VERSION, Store


@pytest.fixture(scope="session")
def pg_url(pg_server: str) -> Iterator[str]:
    """A uniquely named database for this test session, dropped at the end."""
    from conftest import create_pg_database, drop_pg_database

    url = create_pg_database(pg_server)
    yield url
    drop_pg_database(pg_server, url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    s = Store(url)
    yield s
    if request.param == "postgresql":
        from syncbridge.store import metadata

        metadata.drop_all(s.engine)
    s.close()


def cand(i: int, *emails: str, deleted: bool = False) -> Candidate:
    return Candidate(
        ref=Ref(connector="gh", kind="candidate", id=str(i)),
        first_name="Zoë",
        last_name="Ørsted",
        emails=tuple(Email(value=e) for e in emails),
        updated_at=datetime(2026, 1, 1, tzinfo=UTC),
        deleted=deleted,
        raw={"id": i, "note": "ünïcode"},
    )


def test_schema_version_and_idempotent_migrate(store: Store) -> None:
    assert store.schema_version() == SCHEMA_VERSION
    assert store.migrate() == SCHEMA_VERSION


def test_cursor_roundtrip_is_timezone_aware(store: Store) -> None:
    assert store.get_cursor("gh", "candidates") is None
    t = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)
    store.set_cursor("gh", "candidates", t)
    store.set_cursor("gh", "candidates", t + timedelta(hours=1))
    got = store.get_cursor("gh", "candidates")
    assert got == t + timedelta(hours=1) and got.tzinfo is not None


def test_candidate_upsert_and_email_index(store: Store) -> None:
    store.upsert_page(
        "gh",
        "candidate",
        "candidates",
        [cand(1, " Ana@X.org ", "ana.work@y.com"), cand(2, "bo@x.org"), cand(3, "ana.work@y.com")],
    )
    assert [r["remote_id"] for r in store.candidates_by_email("gh", "ana@x.org")] == ["1"]
    assert {r["remote_id"] for r in store.candidates_by_email("gh", "ana.work@y.com")} == {"1", "3"}
    # an update replaces the e-mail set of that person only
    store.upsert_page("gh", "candidate", "candidates", [cand(1, "ana@new.org")])
    assert store.candidates_by_email("gh", "ana@x.org") == []
    assert {r["remote_id"] for r in store.candidates_by_email("gh", "ana.work@y.com")} == {"3"}
    store.mark_deleted("gh", ["3"])
    assert store.candidates_by_email("gh", "ana.work@y.com") == []
    assert store.mirror_counts()["gh"]["candidates"] == 3


def test_requisitions_applications_and_other_records(store: Store) -> None:
    req = Requisition(ref=Ref(connector="gh", kind="requisition", id="9"), name="Data Analyst", code="REQ-9")
    app = Application(
        ref=Ref(connector="gh", kind="application", id="5"), candidate_id="1", requisition_id="9"
    )
    store.upsert_page("gh", "requisition", "jobs", [req])
    store.upsert_page("gh", "application", "applications", [app])
    store.upsert_page("gh", "other", "users", [{"id": 1, "name": "Ada"}, {"id": 2, "name": "Rita"}])
    counts = store.mirror_counts()["gh"]
    assert counts == {"requisitions": 1, "applications": 1, "users": 2}


def test_ledger_lifecycle_and_audit(store: Store) -> None:
    assert (
        store.ledger_start(
            "k1", connector="gh", kind="add_note", outcome_id="o1", target="1", payload={"a": 1}
        )
        == 1
    )
    assert store.ledger_get("k1")["status"] == "started"  # type: ignore[index]
    store.ledger_finish("k1", "failed", error="boom")
    assert (
        store.ledger_start(
            "k1", connector="gh", kind="add_note", outcome_id="o1", target="1", payload={"a": 1}
        )
        == 2
    )
    store.ledger_finish("k1", "done", remote_ref="note-7")
    row = store.ledger_get("k1")
    assert (
        row is not None and row["status"] == "done" and row["remote_ref"] == "note-7" and row["error"] is None
    )
    assert store.ledger_counts() == {"done": 1}
    store.audit(
        run_id="r", actor="t", connector="gh", kind="add_note", key="k1", target="1", result="applied"
    )
    assert [a["result"] for a in store.audit_rows("k1")] == ["applied"]


def test_runs_and_kv_state(store: Store) -> None:
    store.run_started("r1", "sync", "gh")
    store.run_finished("r1", "failed", {"candidates": 3}, error="AuthError: nope")
    [run] = store.recent_runs()
    assert run["status"] == "failed" and run["counts"] == {"candidates": 3}
    state = store.state_for("lever-acme")
    assert state.get("refresh_token") is None
    state.set("refresh_token", "r2")
    state.set("refresh_token", "r3")
    assert store.state_for("lever-acme").get("refresh_token") == "r3"


def test_large_page_upsert_streams(store: Store) -> None:
    page = [cand(i, f"p{i}@x.org", f"alt{i}@y.org") for i in range(2000)]
    store.upsert_page("gh", "candidate", "candidates", page)
    store.upsert_page("gh", "candidate", "candidates", page)  # second time: pure update
    assert store.mirror_counts()["gh"]["candidates"] == 2000
    assert [r["remote_id"] for r in store.candidates_by_email("gh", "alt1999@y.org")] == ["1999"]


def test_upgrade_from_schema_v1_keeps_data(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """A database created by schema version 1 (no approvals table, no audit index, no ledger claims) is
    upgraded in place to the current version."""
    from sqlalchemy import create_engine, inspect, text

    from syncbridge.store import (
        approvals,
        audit_run_index,
        emails_by_person_index,
        meta,
        metadata,
        outcome_people,
        person_keys,
        reviews,
    )

    urls = [f"sqlite:///{tmp_path / 'v1.db'}"]
    with contextlib.suppress(pytest.skip.Exception):
        urls.append(request.getfixturevalue("pg_url"))
    for url in urls:
        engine = create_engine(url)
        later = {  # tables added after v1 (v2 approvals, v7 privacy, v11 identity, v12 inbound, v13 limits)
            approvals.name,
            "sb_tombstones",
            "sb_privacy_log",
            person_keys.name,
            outcome_people.name,
            reviews.name,
            "sb_events",
            "sb_assessments",
            "sb_rate_limits",
        }
        v1_tables = [t for t in metadata.sorted_tables if t.name not in later]
        with engine.begin() as conn:
            for t in v1_tables:
                t.create(conn, checkfirst=True)
            for t in metadata.sorted_tables:
                if t.name in later and engine.dialect.has_table(conn, t.name):
                    t.drop(conn)
            conn.execute(text(f"DROP INDEX IF EXISTS {audit_run_index.name}"))
            conn.execute(text(f"DROP INDEX IF EXISTS {emails_by_person_index.name}"))  # v8
            conn.execute(  # v1-v7 had this index; v8 drops it
                text(
                    "CREATE INDEX IF NOT EXISTS ix_sb_candidates_primary_email "
                    "ON sb_candidates (primary_email)"
                )
            )
            for column in ("claimed_by", "claimed_until"):  # v3 columns
                conn.execute(text(f"ALTER TABLE sb_ledger DROP COLUMN {column}"))
            for column in ("owner", "lock"):  # v4 columns
                conn.execute(text(f"ALTER TABLE sb_runs DROP COLUMN {column}"))
            conn.execute(meta.delete())
            conn.execute(meta.insert().values(key="schema_version", value="1"))
        engine.dispose()
        old = Store(url, migrate=False)
        assert old.schema_version() == 1
        with old.engine.begin() as conn:  # a row as syncbridge 0.1 (schema v1) wrote it
            conn.execute(
                text(
                    "INSERT INTO sb_ledger (key, connector, kind, outcome_id, target, status, remote_ref, "
                    "attempts) VALUES ('k-old', 'gh', 'add_note', 'o', '1', 'done', 'n1', 1)"
                )
            )
        old.close()

        upgraded = Store(url)  # migrates on start
        assert upgraded.schema_version() == SCHEMA_VERSION >= 12
        with upgraded.engine.connect() as conn:  # v8: e-mail rows indexed by person; v11: identity tables
            indexes = {ix["name"] for ix in inspect(conn).get_indexes("sb_candidate_emails")}
            names = {ix["name"] for ix in inspect(conn).get_indexes("sb_candidates")}
            assert all(upgraded.engine.dialect.has_table(conn, name) for name in later)
        assert emails_by_person_index.name in indexes
        assert "ix_sb_candidates_primary_email" not in names  # v8 drops it: nothing reads by it
        assert (
            upgraded.ledger_start(
                "k-new", connector="gh", kind="add_note", outcome_id="o", target="1", payload={}, run_id="r1"
            )
            == 1
        )  # the v3 claim columns are usable
        assert upgraded.ledger_get("k-old")["remote_ref"] == "n1"  # type: ignore[index]
        upgraded.run_started("r1", "apply", owner="host:1", lock="flock")  # the v4 run columns
        assert upgraded.recent_runs()[0]["lock"] == "flock"
        with upgraded.engine.begin() as conn:
            conn.execute(
                approvals.insert().values(key="a1", outcome_id="o", connector="gh", status="pending")
            )
            assert conn.execute(approvals.select()).first() is not None
            from syncbridge.store import tombstones  # v7

            conn.execute(tombstones.insert().values(kind="outcome", value="o", erasure_id="e1"))
        metadata.drop_all(upgraded.engine)
        upgraded.close()


def test_ledger_claims_keep_two_runs_from_sending_one_write(store: Store) -> None:
    from syncbridge.store import ledger as ledger_table

    kw = {"connector": "gh", "kind": "add_note", "outcome_id": "o1", "target": "1", "payload": {}}
    assert store.ledger_start("k1", run_id="run-a", **kw) == 1
    assert store.ledger_start("k1", run_id="run-b", **kw) == 0  # run a holds a live claim
    row = store.ledger_get("k1")
    assert store.claimed_elsewhere(row, "run-b") and not store.claimed_elsewhere(row, "run-a")
    assert store.ledger_start("k1", run_id="run-a", **kw) == 2  # the holder may retry
    with store.engine.begin() as conn:  # run a crashed long ago: its claim has expired
        conn.execute(ledger_table.update().values(claimed_until=datetime(2020, 1, 1, tzinfo=UTC)))
    assert not store.claimed_elsewhere(store.ledger_get("k1"), "run-b")
    assert store.ledger_start("k1", run_id="run-b", **kw) == 3
    store.ledger_finish("k1", "done", remote_ref="n1")
    assert store.ledger_start("k1", run_id="run-c", **kw) == 0  # done is never claimed again


def test_bulk_upsert_stores_exactly_what_sqlalchemy_core_stores(store: Store) -> None:
    """The mirror's fast path (one prepared statement, executemany) writes the same values as a plain
    SQLAlchemy Core upsert: datetimes in any zone, JSON null vs SQL NULL, unicode, nested JSON, booleans;
    and a second write of the same key updates the row."""
    from sqlalchemy import select

    from syncbridge.store import applications as apps_table

    plus_two = timezone(timedelta(hours=2))
    base = {
        "remote_id": "7",
        "candidate_id": "1",
        "requisition_id": None,
        "status": "active",
        "prospect": True,
        "updated_at": datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=plus_two),
        "raw": {"id": 7, "name": "Zoë Ørsted", "nested": {"a": [1, 2.5, None, True]}, "big": 2**40},
        "synced_at": datetime(2026, 3, 1, tzinfo=UTC),
    }
    second = {**base, "remote_id": "8", "raw": None, "updated_at": None, "prospect": False}
    with store.tx() as conn:
        store._bulk_upsert(
            conn,
            apps_table,
            [{**base, "connector": "bulk"}, {**second, "connector": "bulk"}],
            ["connector", "remote_id"],
        )
        store._upsert(
            conn,
            apps_table,
            [{**base, "connector": "core"}, {**second, "connector": "core"}],
            ["connector", "remote_id"],
        )
    with store.engine.connect() as conn:
        rows = {
            (r["connector"], r["remote_id"]): {k: v for k, v in r.items() if k != "connector"}
            for r in conn.execute(select(apps_table)).mappings()
        }
    assert rows[("bulk", "7")] == rows[("core", "7")]
    assert rows[("bulk", "8")] == rows[("core", "8")]
    assert rows[("bulk", "7")]["raw"]["nested"] == {"a": [1, 2.5, None, True]}
    with store.tx() as conn:  # ON CONFLICT: the same key again updates in place
        store._bulk_upsert(
            conn, apps_table, [{**base, "connector": "bulk", "status": "hired"}], ["connector", "remote_id"]
        )
    with store.engine.connect() as conn:
        got = conn.execute(
            select(apps_table.c.status).where(apps_table.c.connector == "bulk", apps_table.c.remote_id == "7")
        ).scalar_one()
    assert got == "hired"


def _stored_text(store: Store, table: str, connector: str) -> dict[str, tuple[Any, ...]]:
    """Each row of ``connector`` as the database holds it, every value cast to text."""
    from sqlalchemy import inspect

    names = [c["name"] for c in inspect(store.engine).get_columns(table) if c["name"] != "connector"]
    cast = ", ".join(f"CAST({n} AS TEXT)" for n in names)
    mark = "%s" if store.dialect == "postgresql" else "?"
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql(f"SELECT {cast} FROM {table} WHERE connector = {mark}", (connector,))
        return {r[0]: tuple(r) for r in rows}


def test_bulk_batches_store_the_same_text_as_core_for_awkward_values(store: Store) -> None:
    """A page goes to the database as one JSON document per table (``syncbridge.bulk``); what lands in
    each column is byte for byte what a SQLAlchemy Core upsert stores: datetimes (naive, in other zones,
    without microseconds, year 999), booleans, JSON null and SQL NULL, unicode, control characters,
    non-string keys.  A NUL character (SQLite's JSON functions end a string there) and an integer wider
    than 64 bits (orjson refuses it; on SQLite, where JSON values travel as JSON) send that page through
    ``executemany`` instead, with the same result."""
    from syncbridge.store import applications as apps_table

    plus_two = timezone(timedelta(hours=2))
    rows: list[dict[str, Any]] = [
        {
            "remote_id": "1",
            "candidate_id": "c1",
            "requisition_id": None,
            "status": 'quote " back\\slash \u2028 tab\t é 😀',
            "prospect": True,
            "updated_at": datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=plus_two),
            "raw": {"a": [1, 2.5, 1e16, -0.0, None, True], "b": "x\ny", 3: "int key", "é": {"deep": []}},
            "synced_at": datetime(2026, 3, 1, tzinfo=UTC),
        },
        {
            "remote_id": "2",
            "candidate_id": "c2",
            "requisition_id": "r9",
            "status": None,
            "prospect": False,
            "updated_at": datetime(999, 1, 2, 3, 4, 5),
            "raw": None,
            "synced_at": datetime(2026, 3, 1, 12, 0, 0, 1, tzinfo=UTC),
        },
        {
            "remote_id": "3",
            "candidate_id": "c3",
            "requisition_id": None,
            "status": "",
            "prospect": None,
            "updated_at": None,
            "raw": "just text",
            "synced_at": None,
        },
    ]
    nul = {**rows[0], "remote_id": "4", "status": "nul\x00inside"}
    wide = {**rows[0], "remote_id": "5", "raw": {"big": 2**70}}
    bulk = store._bulk(apps_table, ["connector", "remote_id"], fixed=())
    fixed = store._bulk(apps_table, ["connector", "remote_id"])  # connector and synced_at once a batch
    pages = [rows, [nul] if store.dialect == "sqlite" else [], [wide]]
    with store.tx() as conn:
        store._upsert(
            conn,
            apps_table,
            [{**r, "connector": "core"} for r in rows + pages[1] + [wide]],
            ["connector", "remote_id"],
        )
        wide_many = store.dialect == "sqlite"  # SQLite carries JSON values as JSON; PostgreSQL as text
        for page, many in zip(pages, (False, True, wide_many), strict=True):
            if not page:
                continue
            batch = bulk.batch([tuple({**r, "connector": "bulk"}[n] for n in bulk.varying) for r in page])
            assert batch is not None and batch.many is many
            batch.execute(conn)
        for r in rows:  # one batch per row: the fixed columns differ from row to row here
            values = tuple(r[n] for n in fixed.varying)
            batch = fixed.batch([values], {"connector": "fixed", "synced_at": r["synced_at"]})
            assert batch is not None and not batch.many
            batch.execute(conn)
    core = _stored_text(store, "sb_applications", "core")
    assert _stored_text(store, "sb_applications", "bulk") == core
    assert _stored_text(store, "sb_applications", "fixed") == {k: v for k, v in core.items() if k in "123"}


def test_page_writer_commits_in_groups_and_rolls_back_the_open_one(store: Store) -> None:
    """A sync's writer keeps a transaction open across pages (commit every ``records`` records); an
    error loses only the pages since the last commit.  On PostgreSQL it refreshes the planner's
    statistics of the tables it filled (``reltuples`` is -1 until a table is first analyzed)."""
    from syncbridge.store import PageWriter

    pages = [store.prepare_page("gh", "candidate", "candidates", [cand(i, f"p{i}@x.org")]) for i in range(5)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(PageWriter, "records", 2)
        mp.setattr(PageWriter, "ANALYZE_AFTER", 2)
        with pytest.raises(RuntimeError), store.page_writer() as writer:
            for page in pages:
                writer.write(page)  # commits after pages 2 and 4; page 5 is open when the error comes
            raise RuntimeError("the vendor failed")
    assert store.mirror_counts()["gh"]["candidates"] == 4
    assert [r["remote_id"] for r in store.candidates_by_email("gh", "p3@x.org")] == ["3"]
    assert store.candidates_by_email("gh", "p4@x.org") == []
    if store.dialect == "postgresql":
        with store.engine.connect() as conn:
            tuples = conn.exec_driver_sql(
                "SELECT reltuples FROM pg_class WHERE relname = 'sb_candidate_emails'"
            ).scalar_one()
        assert tuples >= 0


def test_replacing_a_persons_emails_uses_the_index_not_a_scan(tmp_path: Path) -> None:
    """Each synced page replaces its people's e-mail rows; that DELETE must find them by person through
    the v8 index (a scan of the connector's e-mails made a sync slower the larger the mirror grew)."""
    from syncbridge.store import REPLACE_EMAILS_SQLITE

    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    with store.engine.connect() as conn:
        explained = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {REPLACE_EMAILS_SQLITE}", ("gh", '["1", "2"]'))
        plan = " ".join(str(r[-1]) for r in explained)
    store.close()
    assert "ix_sb_candidate_emails_remote_id" in plan, plan
