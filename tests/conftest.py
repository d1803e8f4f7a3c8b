"""Test set-up shared by the whole suite.

Prefect is isolated before anything imports it: a throw-away PREFECT_HOME, no user profile, no server URL
from the developer's environment.  Flow tests opt in to one Prefect test harness per session
(``prefect_backend``), with heartbeats off (~1 s per sync flow otherwise).
"""

from __future__ import annotations

import csv
import os
import tempfile
import uuid

os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="sb-prefect-")
os.environ.pop("PREFECT_API_URL", None)
os.environ.setdefault("PREFECT_TEST_MODE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml


@pytest.fixture(scope="session")
def prefect_backend() -> Iterator[None]:
    from prefect.settings import temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with (
        prefect_test_harness(server_startup_timeout=90),
        temporary_settings(updates={"flows.heartbeat_frequency": None}),
    ):
        yield


PG_ADMIN = os.environ.get("SYNCBRIDGE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The admin URL of the PostgreSQL server the suite uses; skips (saying why) when none answers."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    engine = create_engine(PG_ADMIN)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        pytest.skip(f"no PostgreSQL server answers at {PG_ADMIN.split('@')[-1]}: {exc.orig}")
    finally:
        engine.dispose()
    return PG_ADMIN


def create_pg_database(admin_url: str) -> str:
    from sqlalchemy import create_engine, text

    name = f"sb_test_{uuid.uuid4().hex[:12]}"
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def drop_pg_database(admin_url: str, url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture
def state_backend() -> str:
    """sqlite by default; end-to-end modules override it with a parametrized one (sqlite, postgresql)."""
    return "sqlite"


@pytest.fixture
def state_url_for(
    state_backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[[str], str]]:
    """Make state-store URLs for this test: a SQLite file, or a fresh PostgreSQL database (dropped after)."""
    created: list[str] = []

    def make(name: str = "state") -> str:
        if state_backend == "sqlite":
            return f"sqlite:///{tmp_path / name}.db"
        url = create_pg_database(request.getfixturevalue("pg_server"))
        created.append(url)
        return url

    yield make
    for url in created:
        drop_pg_database(PG_ADMIN, url)


@pytest.fixture
def write_config(tmp_path: Path, state_url_for: Callable[[str], str]) -> Callable[..., Path]:
    """Write a YAML config into tmp_path; keyword arguments replace top-level sections."""

    def make(connectors: dict[str, Any], *, name: str = "syncbridge.yaml", **sections: Any) -> Path:
        data: dict[str, Any] = {
            "version": 1,
            "state": {"url": state_url_for("state")} if "state" not in sections else sections["state"],
            "outcomes": {"path": str(tmp_path / "outcomes.csv")},
            "connectors": connectors,
            "routing": [{"employer": "Acme Corp", "connector": next(iter(connectors))}],
        }
        data.update(sections)
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return path

    return make


@contextmanager
def crash_after_write(monkeypatch: pytest.MonkeyPatch, kind: str) -> Iterator[dict[str, str]]:
    """Simulate a crash between a vendor call and its ledger update: the first ``done`` of a ``kind``
    action raises instead of being recorded.  Yields ``{"key": <that action's key>}`` once it fired."""
    from syncbridge.store import Store

    original = Store.ledger_finish
    crashed: dict[str, str] = {}

    def crash_once(self: Store, key: str, status: str, **kw: Any) -> None:
        row = self.ledger_get(key)
        if not crashed and status == "done" and row is not None and row["kind"] == kind:
            crashed["key"] = key
            raise RuntimeError(f"simulated crash after the {kind} write was sent")
        original(self, key, status, **kw)

    monkeypatch.setattr(Store, "ledger_finish", crash_once)
    try:
        yield crashed
    finally:
        monkeypatch.setattr(Store, "ledger_finish", original)


GH_SECRET_ENV = "SB_TEST_GH_SECRET"


@contextmanager
def greenhouse_sandbox(db: Path, monkeypatch: pytest.MonkeyPatch, *, size: int, seed: int) -> Iterator[Any]:
    """A seeded Greenhouse sandbox without a rate limit, its client secret in ``GH_SECRET_ENV``."""
    from syncbridge.connectors.greenhouse import sandbox

    monkeypatch.setenv(GH_SECRET_ENV, sandbox.DEFAULT_CLIENT_SECRET)
    sandbox.seed(db, size=size, seed=seed)
    server = sandbox.SandboxServer(db, rate_limit=0).start()
    try:
        yield server
    finally:
        server.stop()


def greenhouse_block(server: Any, *, secret_env: str = GH_SECRET_ENV) -> dict[str, Any]:
    """The YAML connector block for a Greenhouse sandbox (its client secret read from ``secret_env``)."""
    from syncbridge.connectors.greenhouse import sandbox

    return {
        "type": "greenhouse",
        "client_id": sandbox.DEFAULT_CLIENT_ID,
        "client_secret": "${" + secret_env + "}",
        "user_id": 1000001,
        "base_url": server.url,
        "token_url": f"{server.url}/token",
    }


def edit_outcome(path: Path, outcome_id: str, **changes: str) -> None:
    """Rewrite the outcomes CSV at ``path`` with ``changes`` applied to the row of ``outcome_id`` (a
    supervisor corrects an evaluation after the first run)."""
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        names, rows = list(reader.fieldnames or []), list(reader)
    for r in rows:
        if r["outcome_id"] == outcome_id:
            r.update(changes)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=names)
        writer.writeheader()
        writer.writerows(rows)
