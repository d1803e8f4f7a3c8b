"""The SQLite file behind a sandbox: connection, schema from table specs, row builders, transactions.

A sandbox keeps its data in one SQLite file in WAL mode that survives restarts.  The app shares one
connection between uvicorn's threads, guarded by a re-entrant lock (:class:`Store`); writes run in
``BEGIN IMMEDIATE`` transactions under that lock (:meth:`Store.transaction`).

Tables are declared with :class:`Table` (column declarations, indexes); a table that stores each record
as compact JSON next to the columns its filters need gets its rows from :meth:`Table.row`, and
:class:`RecordStore` reads and writes such records by integer id.
:func:`seed_file` creates and fills a file once (a no-op when already seeded, unless ``reset``).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Index",
    "RecordStore",
    "Store",
    "Table",
    "add_missing_columns",
    "connect",
    "drop_all",
    "dumps",
    "ensure_tables",
    "seed_file",
    "transaction",
]

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def dumps(obj: Any) -> str:
    """Compact JSON as stored in the files (no spaces, non-ASCII kept)."""
    return _ENCODER.encode(obj)


def connect(db_path: str | Path) -> sqlite3.Connection:
    """Open ``db_path`` for a sandbox: autocommit (explicit transactions), shareable between threads,
    WAL journal, ``synchronous=NORMAL``, 30 s busy timeout."""
    conn = sqlite3.connect(str(db_path), isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection, lock: Any = None) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on any exception), holding ``lock`` throughout
    when one is given (the lock the app's threads share the connection under)."""
    if lock is None:
        lock = threading.RLock()
    with lock:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def drop_all(conn: sqlite3.Connection) -> None:
    """Drop every table (a reset)."""
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
        if not name.startswith("sqlite_"):
            conn.execute(f'DROP TABLE IF EXISTS "{name}"')


def add_missing_columns(conn: sqlite3.Connection, columns: Iterable[tuple[str, str, str]]) -> None:
    """Add ``(table, column, declaration)`` columns an older file lacks (columns added after a release)."""
    for table, column, decl in columns:
        have = {row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')}
        if column not in have:
            conn.execute(f'ALTER TABLE "{table}" ADD COLUMN {column} {decl}')


@dataclass(frozen=True)
class Index:
    """``CREATE [UNIQUE] INDEX IF NOT EXISTS name ON table(columns)``; ``columns`` as written in SQL."""

    name: str
    columns: str
    unique: bool = False


def _bool_int(value: Any) -> Any:
    return int(value) if isinstance(value, bool) else value


@dataclass(frozen=True)
class Table:
    """One table: column declarations (``"id INTEGER PRIMARY KEY"``, ``"status"``), indexes, and how a
    record (a dict) becomes a row.

    :meth:`row` takes each column's value from ``getters[column](record)`` when given, the compact JSON of
    the whole record for the ``data_column``, else ``record.get(column)``; booleans become 0/1.
    """

    name: str
    columns: tuple[str, ...]
    indexes: tuple[Index, ...] = ()
    getters: Mapping[str, Callable[[dict[str, Any]], Any]] = field(default_factory=dict)
    data_column: str | None = "data"

    @classmethod
    def records(
        cls,
        name: str,
        lead: Sequence[str],
        columns: Sequence[str] = (),
        *,
        indexes: Sequence[Index] = (),
        getters: Mapping[str, Callable[[dict[str, Any]], Any]] | None = None,
    ) -> Table:
        """A JSON-record table: the ``lead`` declarations, ``data TEXT NOT NULL``, then the (untyped)
        filter ``columns``."""
        return cls(
            name,
            (*lead, "data TEXT NOT NULL", *columns),
            tuple(indexes),
            dict(getters or {}),
        )

    @property
    def names(self) -> tuple[str, ...]:
        """The column names, in declaration order."""
        return tuple(decl.split()[0] for decl in self.columns)

    def ddl(self) -> list[str]:
        """The statements creating the table and its indexes (all ``IF NOT EXISTS``)."""
        out = [f"CREATE TABLE IF NOT EXISTS {self.name} ({', '.join(self.columns)})"]
        for ix in self.indexes:
            unique = "UNIQUE " if ix.unique else ""
            out.append(f"CREATE {unique}INDEX IF NOT EXISTS {ix.name} ON {self.name}({ix.columns})")
        return out

    def insert_sql(self, verb: str = "INSERT") -> str:
        """``INSERT INTO t (all columns) VALUES (?, ...)``; ``verb`` may be ``INSERT OR REPLACE``."""
        cols = self.names
        return f"{verb} INTO {self.name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"

    def update_sql(self, columns: Sequence[str], key: str = "id") -> str:
        """``UPDATE t SET c = ?, ... WHERE key = ?`` (values in ``columns`` order, then the key)."""
        sets = ", ".join(f"{c} = ?" for c in columns)
        return f"UPDATE {self.name} SET {sets} WHERE {key} = ?"

    def value(self, column: str, record: dict[str, Any]) -> Any:
        """The stored value of ``column`` for ``record``."""
        getter = self.getters.get(column)
        if getter is not None:
            return _bool_int(getter(record))
        if column == self.data_column:
            return dumps(record)
        return _bool_int(record.get(column))

    def row(self, record: dict[str, Any]) -> tuple[Any, ...]:
        """The row for :meth:`insert_sql`."""
        return tuple(self.value(c, record) for c in self.names)

    def values(self, columns: Sequence[str], record: dict[str, Any]) -> tuple[Any, ...]:
        """The values of some columns (for :meth:`update_sql`)."""
        return tuple(self.value(c, record) for c in columns)


def ensure_tables(conn: sqlite3.Connection, tables: Iterable[Table], extra: Iterable[str] = ()) -> None:
    """Create every table and index that is missing, then run the ``extra`` statements."""
    for table in tables:
        for stmt in table.ddl():
            conn.execute(stmt)
    for stmt in extra:
        conn.execute(stmt)


class Store:
    """A sandbox's SQLite file: one connection shared by the app's threads under one re-entrant lock.

    ``schema(conn)`` creates what is missing when the store opens."""

    def __init__(
        self, db_path: str | Path, schema: Callable[[sqlite3.Connection], None] | None = None
    ) -> None:
        self.path = Path(db_path)
        self.conn = connect(self.path)
        self.lock = threading.RLock()
        if schema is not None:
            with self.lock:
                schema(self.conn)

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    def transaction(self) -> Any:
        """A write transaction under the store's lock (``with store.transaction() as conn:``)."""
        return transaction(self.conn, self.lock)

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """All rows of one statement."""
        with self.lock:
            return self.conn.execute(sql, tuple(args)).fetchall()

    def one(self, sql: str, args: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        """The first row of one statement, or ``None``."""
        with self.lock:
            row: tuple[Any, ...] | None = self.conn.execute(sql, tuple(args)).fetchone()
        return row

    def dicts(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """All rows of one statement as dicts keyed by column name (``AS`` names the keys)."""
        with self.lock:
            cursor = self.conn.execute(sql, tuple(args))
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def get_json(self, table: str, key: Any, *, column: str = "data", key_column: str = "id") -> Any:
        """The JSON record stored under ``key`` (``None`` when there is none)."""
        row = self.one(f"SELECT {column} FROM {table} WHERE {key_column} = ?", (key,))
        return json.loads(row[0]) if row else None

    def count(self, table: str, where: str = "", args: Sequence[Any] = ()) -> int:
        """``SELECT COUNT(*) FROM table [where]``."""
        row = self.one(f"SELECT COUNT(*) FROM {table} {where}", args)
        return int(row[0]) if row else 0


class RecordStore(Store):
    """A :class:`Store` of JSON-record tables (``tables``, built with :meth:`Table.records`) whose key is
    an integer ``id``: records by id, inserts that number new records after the largest id (or after
    ``first_ids[table]`` in an empty table) and updates.  :meth:`require` raises ``missing()`` (the
    vendor's 404) when there is no such record."""

    def __init__(
        self,
        db_path: str | Path,
        tables: Mapping[str, Table],
        schema: Callable[[sqlite3.Connection], None] | None = None,
        *,
        first_ids: Mapping[str, int] | None = None,
        missing: Callable[[], Exception] = lambda: LookupError("no such record"),
    ) -> None:
        super().__init__(db_path, schema)
        self.tables = tables
        self.first_ids = dict(first_ids or {})
        self.missing = missing

    def get(self, table: str, rec_id: int) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.get_json(table, rec_id)
        return found

    def require(self, table: str, rec_id: int) -> dict[str, Any]:
        found = self.get(table, rec_id)
        if found is None:
            raise self.missing()
        return found

    def records(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """The records a ``SELECT data ...`` statement finds."""
        return [json.loads(row[0]) for row in self.query(sql, args)]

    def exists(self, table: str, rec_id: Any) -> bool:
        """Whether ``rec_id`` is an integer (not a boolean) naming a record of ``table``."""
        if not isinstance(rec_id, int) or isinstance(rec_id, bool):
            return False
        return self.one(f"SELECT 1 FROM {table} WHERE id = ?", (rec_id,)) is not None

    def next_id(self, table: str) -> int:
        found = self.one(f"SELECT MAX(id) FROM {table}")
        return int((found and found[0]) or self.first_ids.get(table, 0)) + 1

    def insert(self, table: str, record: dict[str, Any]) -> dict[str, Any]:
        """Store a new record (numbered by :meth:`next_id` when its ``id`` is None); returns it."""
        with self.lock:
            if record.get("id") is None:
                record["id"] = self.next_id(table)
            self.conn.execute(self.tables[table].insert_sql(), self.tables[table].row(record))
        return record

    def update(self, table: str, record: dict[str, Any]) -> dict[str, Any]:
        """Store a changed record: every column but ``id`` and ``created_at`` (set once); returns it."""
        spec = self.tables[table]
        columns = [c for c in spec.names if c not in ("id", "created_at")]
        with self.lock:
            self.conn.execute(spec.update_sql(columns), (*spec.values(columns, record), record["id"]))
        return record


def seed_file(
    db_path: str | Path,
    schema: Callable[[sqlite3.Connection], None],
    fill: Callable[[sqlite3.Connection], None],
    *,
    seeded: str | Callable[[], str],
    reset: bool = False,
    mark_progress: bool = False,
    started: str = "",
    pragmas: Sequence[str] = ("synchronous=OFF",),
    restore: Sequence[str] = ("synchronous=NORMAL",),
    checkpoint: bool = True,
) -> bool:
    """Create the schema and fill the file once; ``False`` (nothing done) when it is already seeded.

    ``reset`` wipes the file first.  ``fill(conn)`` runs inside ``BEGIN IMMEDIATE`` (it may commit in
    batches with ``COMMIT; BEGIN IMMEDIATE``); the ``meta`` row ``seeded`` gets the value ``seeded``
    at the end (a callable is asked then).  With ``mark_progress`` a ``seeding`` row (value
    ``started``) is kept while filling, so that a run interrupted between batches starts over.
    ``pragmas`` apply while filling, ``restore`` afterwards, then a WAL checkpoint unless
    ``checkpoint`` is false.
    """
    path = Path(db_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = connect(path)
    try:
        schema(conn)
        state = dict(
            conn.execute("SELECT key, value FROM meta WHERE key IN ('seeded', 'seeding')").fetchall()
        )
        if reset or "seeding" in state:  # a wipe was asked for, or an earlier seed was interrupted
            drop_all(conn)
            schema(conn)
        elif "seeded" in state:
            return False
        for pragma in pragmas:
            conn.execute(f"PRAGMA {pragma}")
        conn.execute("BEGIN IMMEDIATE")
        try:
            if mark_progress:
                conn.execute("INSERT INTO meta(key, value) VALUES ('seeding', ?)", (started,))
            fill(conn)
            if mark_progress:
                conn.execute("DELETE FROM meta WHERE key = 'seeding'")
            value = seeded() if callable(seeded) else seeded
            conn.execute("INSERT INTO meta(key, value) VALUES ('seeded', ?)", (value,))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        for pragma in restore:
            conn.execute(f"PRAGMA {pragma}")
        if checkpoint:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return True
    finally:
        conn.close()
