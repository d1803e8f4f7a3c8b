"""The sandbox kit's record store (``RecordStore``); the Greenhouse plugin on the kit."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from syncbridge.sandbox.plugin import KitSandbox
from syncbridge.sandbox.store import RecordStore, Table, ensure_tables

NOTES = Table.records(
    "notes",
    ("id INTEGER PRIMARY KEY", "created_at TEXT NOT NULL", "updated_at TEXT NOT NULL"),
    ("author",),
)


def schema(conn: sqlite3.Connection) -> None:
    ensure_tables(conn, [NOTES])


class Missing(Exception):
    pass


def test_record_store(tmp_path: Path) -> None:
    db = RecordStore(tmp_path / "r.db", {"notes": NOTES}, schema, first_ids={"notes": 500}, missing=Missing)
    try:
        with db.transaction():
            first = db.insert("notes", {"id": None, "created_at": "t1", "updated_at": "t1", "author": "ann"})
            db.insert("notes", {"id": None, "created_at": "t2", "updated_at": "t2", "author": "bob"})
        assert first["id"] == 501 and db.next_id("notes") == 503
        assert db.get("notes", 502) == {"id": 502, "created_at": "t2", "updated_at": "t2", "author": "bob"}
        assert db.get("notes", 7) is None
        with pytest.raises(Missing):
            db.require("notes", 7)
        assert db.exists("notes", 501) and not db.exists("notes", 7)
        assert not db.exists("notes", True) and not db.exists("notes", "501")
        # an update rewrites the record and its columns, but never created_at
        db.update("notes", {**first, "created_at": "changed", "updated_at": "t3", "author": "cy"})
        assert db.query("SELECT created_at, updated_at, author FROM notes WHERE id = 501") == [
            ("t1", "t3", "cy")
        ]
        assert [r["author"] for r in db.records("SELECT data FROM notes ORDER BY id")] == ["cy", "bob"]
    finally:
        db.close()


def test_greenhouse_sandbox_uses_its_package() -> None:
    from syncbridge.connectors.greenhouse import sandbox
    from syncbridge.plugins import vendor

    plugin = vendor("greenhouse").sandbox()
    assert isinstance(plugin, sandbox.GreenhouseSandbox) and isinstance(plugin, KitSandbox)
    assert plugin.connector_block("http://h/") == sandbox.demo_connector_block("http://h/")
    assert plugin.conversion_rule("Acme Corp") == sandbox.demo_conversion_rule("Acme Corp")
