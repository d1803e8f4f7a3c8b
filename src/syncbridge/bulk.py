"""Bulk writes for the mirror: one prepared ``INSERT … ON CONFLICT … DO UPDATE`` per table, sent with the
DBAPI's ``executemany``.

Why: a full sync writes every record of an account (a million people is a normal large tenant), and
going through SQLAlchemy's per-statement machinery cost more than walking the vendor's pages.  Here the
statement is compiled once per table and dialect, each value goes through its column type's own bind
processor (so a value is stored exactly as SQLAlchemy would store it: the same datetime text on SQLite,
the same JSON encoding, psycopg's ``Json`` wrapper on PostgreSQL), and the rows go to the driver in
one ``executemany`` (psycopg pipelines it; sqlite3 loops in C).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, Table
from sqlalchemy.engine import Connection, Dialect


class BulkUpsert:
    """``INSERT`` rows (dicts with every column of ``table``) into ``table``; on a clash on ``keys``
    update the other columns, or do nothing when ``update`` is False."""

    def __init__(self, dialect: Dialect, table: Table, keys: Sequence[str], *, update: bool = True) -> None:
        from sqlalchemy.dialects import postgresql, sqlite

        names = [c.name for c in table.columns]
        stmt: Any = (postgresql if dialect.name == "postgresql" else sqlite).insert(table)
        updates = {n: stmt.excluded[n] for n in names if n not in keys}
        stmt = (
            stmt.on_conflict_do_update(index_elements=list(keys), set_=updates)
            if update and updates
            else stmt.on_conflict_do_nothing(index_elements=list(keys))
        )
        compiled = stmt.compile(dialect=dialect, column_keys=names)
        self.sql = str(compiled)
        #: bind names in the order the driver wants them (positional styles), else None (named styles)
        self.order: list[str] | None = list(compiled.positiontup or []) if compiled.positional else None
        self.processors: dict[str, Callable[[Any], Any]] = {}
        for column in table.columns:
            proc = column.type.dialect_impl(dialect).bind_processor(dialect)
            if proc is not None:
                self.processors[column.name] = proc
        self.names = names
        #: columns of scalar values (datetimes, booleans), whose conversions are memoized by object
        self.hashable = {c.name for c in table.columns if not isinstance(c.type, JSON)}

    def params(self, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        procs = self.processors
        if self.order is None:  # named parameters (psycopg)
            return [{n: (procs[n](v) if n in procs else v) for n, v in r.items()} for r in rows]
        get = itemgetter(*self.order)
        # a page's rows share some values (one ``synced_at`` object): convert each such object once
        memo: dict[Any, Any] = {}
        convert = []
        for i, n in enumerate(self.order):
            if n in procs:
                convert.append((i, procs[n], n in self.hashable))
        out = []
        for r in rows:
            values = list(get(r)) if len(self.order) > 1 else [r[self.order[0]]]
            for i, proc, cacheable in convert:
                v = values[i]
                if cacheable:  # by identity: equal datetimes in other zones must not share a text
                    key = (i, id(v))
                    if key not in memo:
                        memo[key] = (v, proc(v))  # v kept alive so its id is not reused
                    values[i] = memo[key][1]
                else:
                    values[i] = proc(v)
            out.append(tuple(values))
        return out

    def __call__(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            self.execute(conn, self.params(rows))

    def execute(self, conn: Connection, params: list[Any]) -> None:
        if params:
            conn.exec_driver_sql(self.sql, params)


class PreparedPage:
    """A page of mirror rows already converted for the driver (prepared in one thread, written in
    another): the upserts in order, and the people whose e-mail rows are replaced before they run."""

    def __init__(self, connector: str, count: int) -> None:
        self.connector = connector
        self.count = count
        self.replace_emails_of: list[str] = []
        self.steps: list[tuple[BulkUpsert, list[Any]]] = []

    def add(self, upsert: BulkUpsert, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            self.steps.append((upsert, upsert.params(rows)))

    def write(self, conn: Connection) -> None:
        for upsert, params in self.steps:
            upsert.execute(conn, params)
