"""The sandbox kit's record store (``RecordStore``) and plugin adapter (``ModuleSandbox``)."""

from __future__ import annotations

import sqlite3
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from syncbridge.sandbox.plugin import ModuleSandbox
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


def test_module_sandbox_delegates_to_its_module(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, Any]] = []
    module = types.ModuleType("fake_vendor_sandbox")
    module.seed = lambda db, **kw: calls.append(("seed", kw))  # type: ignore[attr-defined]
    module.demo_people = lambda db, **kw: [{"n": kw["n"]}]  # type: ignore[attr-defined]
    module.SandboxServer = lambda db, **kw: ("server", db, kw)  # type: ignore[attr-defined]
    module.main = lambda argv: len(argv)  # type: ignore[attr-defined]
    module.demo_connector_block = lambda url: {"base_url": url}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_vendor_sandbox", module)

    class Fake(ModuleSandbox):
        vendor = "fake"
        employer = "Fake Inc"
        connector_name = "fake"
        outcome_prefix = "FK"
        module = "fake_vendor_sandbox"

    sb = Fake()
    sb.seed(Path("x.db"), size=3, seed=4, reset=True)
    assert calls == [("seed", {"size": 3, "seed": 4, "reset": True})]
    assert sb.demo_people(Path("x.db"), n=5) == [{"n": 5}]
    assert sb.server(Path("x.db"), fault_rate=0.5) == ("server", Path("x.db"), {"fault_rate": 0.5})
    assert sb.main(["serve", "--db", "x"]) == 3
    assert sb.connector_block("http://h") == {"base_url": "http://h"}
    assert sb.conversion_rule("Fake Inc") is None  # the module has no demo_conversion_rule
    module.demo_conversion_rule = lambda employer: {"when": {"employer": employer}}  # type: ignore[attr-defined]
    assert sb.conversion_rule("Fake Inc") == {"when": {"employer": "Fake Inc"}}


def test_greenhouse_sandbox_uses_its_package() -> None:
    from syncbridge.connectors.greenhouse import sandbox
    from syncbridge.plugins import vendor

    plugin = vendor("greenhouse").sandbox()
    assert isinstance(plugin, sandbox.GreenhouseSandbox) and isinstance(plugin, ModuleSandbox)
    assert plugin.connector_block("http://h/") == sandbox.demo_connector_block("http://h/")
    assert plugin.conversion_rule("Acme Corp") == sandbox.demo_conversion_rule("Acme Corp")
