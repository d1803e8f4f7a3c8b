"""Bulk writes for the mirror: a page of rows goes to the database as **one** statement per table.

Why: a full sync writes every record of an account (a million people is a normal large tenant).  The
rows of a page are serialized once (orjson) into one JSON array of arrays, and one
``INSERT … SELECT … FROM json_each(?)`` (SQLite) or ``… FROM jsonb_array_elements(%s::jsonb)``
(PostgreSQL) ``ON CONFLICT … DO UPDATE`` takes them apart inside the database.  With the driver's
``executemany`` every row was a bind and a step, and on SQLite every step released and re-took Python's
GIL: while the sync's reading thread was busy mapping the next page, the writing thread waited for the
interpreter row by row.  One statement per page takes the GIL once, and the database does the per-row
work in C.

Values are stored exactly as SQLAlchemy stores them (a test compares the stored text with a Core upsert
on SQLite and PostgreSQL).  On SQLite a value that is not plain goes through its column type's own bind
processor, datetimes get SQLAlchemy's text in SQL, booleans read back as 0/1, and JSON values travel as
JSON, which ``->`` gives back as the very text the engine's serializer writes.  On PostgreSQL JSON
values travel as the serializer's text and the other values are cast to their column's type in SQL.
Where JSON cannot carry a value unchanged, the page goes through ``executemany`` instead: text with a
NUL character (SQLite's JSON functions end a string there), integers wider than 64 bits, types orjson
does not write, SQLite older than 3.38 (no ``->>``), and tables with float columns (orjson writes NaN
as null).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import JSON, Boolean, DateTime, Integer, String, Table
from sqlalchemy.engine import Connection, Dialect

from syncbridge.records import json_dumps

#: column types whose values a JSON text carries unchanged (a float's NaN would become NULL)
_CARRIED = (String, JSON, DateTime, Boolean, Integer)
#: orjson writes NUL as this escape; SQLite's ``->>`` would cut the string there
_NUL = b"\\u0000"
_OPTIONS = orjson.OPT_NON_STR_KEYS


def json_text(value: Any) -> str:
    """How JSON columns are written: orjson (several times faster than ``json.dumps`` on the raw vendor
    records a sync stores), with the standard library for what orjson refuses (ints wider than 64 bits)."""
    try:
        return orjson.dumps(value, option=_OPTIONS).decode()
    except TypeError:
        return json_dumps(value)  # NaN/Infinity written as null, as orjson does (PostgreSQL refuses them)


def json_value(text: str | bytes) -> Any:
    """How JSON columns are read (orjson; the standard library for what it refuses, e.g. ``NaN``)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _only(column: tuple[Any, ...], kind: type) -> bool:
    """Every value of ``column`` is exactly ``kind`` or None (checked in C, not value by value)."""
    return set(map(type, column)) <= {kind, type(None)}


#: SQLite: the text SQLAlchemy's DATETIME processor writes (``YYYY-MM-DD HH:MM:SS.ffffff``, the zone
#: ignored), made in SQL from orjson's ISO form of a datetime (``T`` between date and time, microseconds
#: left out when 0, an offset when the datetime has a zone).  Text already in SQLAlchemy's form comes out
#: unchanged, so a column that is not all datetimes goes through the processor first.
_SQLITE_DATETIME = (
    "substr({v}, 1, 10) || ' ' || substr({v}, 12, 8) || "
    "CASE WHEN substr({v}, 20, 1) = '.' THEN substr({v}, 20, 7) ELSE '.000000' END"
)


def _each(proc: Callable[[Any], Any]) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    return lambda column: tuple(map(proc, column))


def _unless_only(kind: type, proc: Callable[[Any], Any]) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """A column of ``kind`` values (or None) as it is; otherwise through the bind processor."""
    return lambda column: column if _only(column, kind) else tuple(map(proc, column))


class Batch:
    """One table's rows of a page, ready for the driver: a statement and its parameters (``many``: a list
    of parameter sets for ``executemany``)."""

    __slots__ = ("many", "params", "sql", "table")

    def __init__(self, table: str, sql: str, params: Any, many: bool) -> None:
        self.table, self.sql, self.params, self.many = table, sql, params, many

    def execute(self, conn: Connection) -> None:
        conn.exec_driver_sql(self.sql, self.params)


class BulkUpsert:
    """``INSERT`` rows into ``table``; on a clash on ``keys`` update the other columns, or do nothing when
    ``update`` is False.

    ``fixed`` columns have one value per batch (the connector, the time of the sync), passed once as
    parameters; each row is a tuple of the other columns' values, in :attr:`varying` order."""

    def __init__(
        self,
        dialect: Dialect,
        table: Table,
        keys: Sequence[str],
        *,
        update: bool = True,
        fixed: Sequence[str] = (),
    ) -> None:
        from sqlalchemy.dialects import postgresql, sqlite

        self.postgresql = dialect.name == "postgresql"
        self.table = table.name
        columns = list(table.columns)
        names = [c.name for c in columns]
        self.names = names
        self.fixed = [n for n in names if n in fixed]
        self.varying = [n for n in names if n not in fixed]
        self.update = update
        #: positions (in a row) of the key columns that vary: a batch keeps the last row of each key
        self._key_positions = [self.varying.index(k) for k in keys if k in self.varying]

        stmt: Any = (postgresql if self.postgresql else sqlite).insert(table)
        updates = {n: stmt.excluded[n] for n in names if n not in keys}
        stmt = (
            stmt.on_conflict_do_update(index_elements=list(keys), set_=updates)
            if update and updates
            else stmt.on_conflict_do_nothing(index_elements=list(keys))
        )
        compiled = stmt.compile(dialect=dialect, column_keys=names)
        #: the one-row statement (``executemany``, for what JSON cannot carry)
        self.row_sql = str(compiled)
        self._row_order: list[str] | None = list(compiled.positiontup or []) if compiled.positional else None
        self.processors: dict[str, Callable[[Any], Any]] = {}
        for column in columns:
            bind = column.type.dialect_impl(dialect).bind_processor(dialect)
            if bind is not None:
                self.processors[column.name] = bind
        # the set-based statement, and how each varying column becomes what the JSON rows carry
        by_name = {c.name: c for c in columns}
        carried = all(isinstance(c.type, _CARRIED) for c in columns)
        if not self.postgresql:
            carried = carried and sqlite3.sqlite_version_info >= (3, 38)  # the ->> operator
        serializer = getattr(dialect, "_json_serializer", None) or json_text
        #: SQLite: JSON values travel as JSON inside the rows and come out as their own text (``->``),
        #: which is exactly the serializer's text when the serializer is this module's orjson one (on
        #: PostgreSQL they travel as text: ``jsonb`` would not give the text back as it came)
        self._nested = {
            n
            for n in self.varying
            if isinstance(by_name[n].type, JSON) and serializer is json_text and not self.postgresql
        }
        self._converters: dict[int, Callable[[tuple[Any, ...]], tuple[Any, ...]]] = {}
        self._datetimes: set[str] = set()
        for i, n in enumerate(self.varying):
            kind, proc = by_name[n].type, self.processors.get(n)
            if n in self._nested:
                continue
            if isinstance(kind, JSON):  # PostgreSQL's processor wraps the value, SQLite's writes it
                self._converters[i] = _each(serializer if self.postgresql or proc is None else proc)
            elif proc is None:
                continue
            elif isinstance(kind, DateTime) and not self.postgresql:  # see _SQLITE_DATETIME
                self._datetimes.add(n)
                self._converters[i] = _unless_only(datetime, proc)
            elif isinstance(kind, Boolean):  # JSON true reads back as 1 (SQLite) or true (PostgreSQL)
                self._converters[i] = _unless_only(bool, proc)
            else:
                self._converters[i] = _each(proc)
        self.set_sql = self._set_statement(dialect, table, keys, updates) if carried else None

    def _set_statement(self, dialect: Dialect, table: Table, keys: Sequence[str], updates: Any) -> str:
        quote = dialect.identifier_preparer.quote
        position = {n: i for i, n in enumerate(self.varying)}
        exprs = []
        for column in table.columns:
            typed = not isinstance(column.type, String)
            sql_type = column.type.compile(dialect=dialect)
            at = position.get(column.name)
            if at is None:  # a fixed column: a parameter
                param = "%s" if self.postgresql else "?"
                exprs.append(f"CAST({param} AS {sql_type})" if self.postgresql and typed else param)
            elif column.name in self._nested:
                exprs.append(f"value->'$[{at}]'")
            elif self.postgresql:
                exprs.append(f"CAST(r.v->>{at} AS {sql_type})" if typed else f"r.v->>{at}")
            elif column.name in self._datetimes:
                exprs.append(_SQLITE_DATETIME.format(v=f"(value->>{at})"))
            else:
                exprs.append(f"value->>{at}")
        # the rows come as UTF-8 bytes (no str made of them in Python), read as text by the database
        source = (
            "jsonb_array_elements(convert_from(%s, 'UTF8')::jsonb) AS r(v)"
            if self.postgresql
            else "json_each(CAST(? AS TEXT)) WHERE true"
        )
        target = ", ".join(quote(n) for n in self.names)
        conflict = ", ".join(quote(k) for k in keys)
        if self.update and updates:
            sets = ", ".join(f"{quote(n)} = excluded.{quote(n)}" for n in self.names if n not in keys)
            action = f"DO UPDATE SET {sets}"
        else:
            action = "DO NOTHING"
        return (
            f"INSERT INTO {quote(table.name)} ({target}) SELECT {', '.join(exprs)} "
            f"FROM {source} ON CONFLICT ({conflict}) {action}"
        )

    def batch(self, rows: Sequence[Sequence[Any]], fixed: Mapping[str, Any] | None = None) -> Batch | None:
        """The rows (tuples in :attr:`varying` order) and the ``fixed`` values as one :class:`Batch`;
        None when there are no rows."""
        if not rows:
            return None
        fixed = fixed or {}
        if self.postgresql and self.update and len(rows) > 1:
            # PostgreSQL refuses to update one row twice in a statement: keep the last row of each key,
            # which is what row-by-row upserts leave
            key = itemgetter(*self._key_positions)
            last = {key(r): r for r in rows}
            if len(last) < len(rows):
                rows = list(last.values())
        if self.set_sql is not None:
            columns = list(zip(*rows, strict=True))
            for i, convert in self._converters.items():
                columns[i] = convert(columns[i])
            try:
                payload: bytes | None = orjson.dumps(list(zip(*columns, strict=True)), option=_OPTIONS)
            except TypeError:  # a value orjson does not write (an integer wider than 64 bits...)
                payload = None
            if payload is not None and _NUL not in payload:
                procs = self.processors
                params = [procs[n](fixed[n]) if n in procs else fixed[n] for n in self.fixed]
                params.append(payload)
                return Batch(self.table, self.set_sql, tuple(params), many=False)
        return self._row_batch(rows, fixed)

    def _row_batch(self, rows: Sequence[Sequence[Any]], fixed: Mapping[str, Any]) -> Batch:
        procs = self.processors
        sets = []
        for row in rows:
            values = {n: fixed[n] for n in self.fixed} | dict(zip(self.varying, row, strict=True))
            converted = {n: procs[n](v) if n in procs else v for n, v in values.items()}
            sets.append(
                converted if self._row_order is None else tuple(converted[n] for n in self._row_order)
            )
        return Batch(self.table, self.row_sql, sets, many=True)

    def __call__(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Write rows given as dicts with every column (for a :class:`BulkUpsert` without fixed columns)."""
        get = itemgetter(*self.varying)
        batch = self.batch([get(r) if len(self.varying) > 1 else (get(r),) for r in rows])
        if batch is not None:
            batch.execute(conn)


class PreparedPage:
    """A page of mirror rows already converted for the driver (prepared in one thread, written in
    another): the people whose e-mail rows are replaced, then the batches in order."""

    def __init__(self, connector: str, count: int) -> None:
        self.connector = connector
        self.count = count
        self.replace_emails_of: list[str] = []
        self.batches: list[Batch] = []

    def add(self, batch: Batch | None) -> None:
        if batch is not None:
            self.batches.append(batch)

    @property
    def tables(self) -> set[str]:
        return {b.table for b in self.batches} | (
            {"sb_candidate_emails"} if self.replace_emails_of else set()
        )

    def write(self, conn: Connection) -> None:
        for batch in self.batches:
            batch.execute(conn)
