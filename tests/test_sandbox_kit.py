"""The sandbox kit (``syncbridge.sandbox``): store, limiters, faults and the gate, seed helpers, CLI, web
helpers, the server factory and the plugin base."""

from __future__ import annotations

import base64
import random
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from syncbridge.sandbox import cli, faults, limits, seed, store, web
from syncbridge.sandbox.plugin import KitSandbox
from syncbridge.sandbox.server import ThreadedSandbox

# --------------------------------------------------------------------------------------------------------
# store

PEOPLE = store.Table.records(
    "people",
    ("id INTEGER PRIMARY KEY", "created_at TEXT NOT NULL"),
    ("email_lc", "active"),
    indexes=(
        store.Index("ix_people_email", "email_lc"),
        store.Index("ux_people_created", "created_at", True),
    ),
    getters={"email_lc": lambda r: (r.get("email") or "").strip().lower()},
)


def schema(conn: sqlite3.Connection) -> None:
    store.ensure_tables(
        conn, [PEOPLE], ["CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)"]
    )


def test_table_ddl_insert_and_row() -> None:
    assert PEOPLE.names == ("id", "created_at", "data", "email_lc", "active")
    assert PEOPLE.ddl() == [
        "CREATE TABLE IF NOT EXISTS people (id INTEGER PRIMARY KEY, created_at TEXT NOT NULL, "
        "data TEXT NOT NULL, email_lc, active)",
        "CREATE INDEX IF NOT EXISTS ix_people_email ON people(email_lc)",
        "CREATE UNIQUE INDEX IF NOT EXISTS ux_people_created ON people(created_at)",
    ]
    assert PEOPLE.insert_sql("INSERT OR REPLACE") == (
        "INSERT OR REPLACE INTO people (id, created_at, data, email_lc, active) VALUES (?, ?, ?, ?, ?)"
    )
    record = {"id": 1, "created_at": "t", "email": " Zoë@X.example ", "active": True}
    assert PEOPLE.row(record) == (
        1,
        "t",
        '{"id":1,"created_at":"t","email":" Zoë@X.example ","active":true}',
        "zoë@x.example",
        1,
    )
    assert PEOPLE.update_sql(["data", "active"]) == "UPDATE people SET data = ?, active = ? WHERE id = ?"
    assert PEOPLE.values(["active"], {"active": False}) == (0,)


def test_store_transaction_commits_and_rolls_back(tmp_path: Path) -> None:
    db = store.Store(tmp_path / "s.db", schema)
    try:
        assert db.one("PRAGMA journal_mode")[0] == "wal"  # type: ignore[index]
        with db.transaction() as conn:
            conn.execute(PEOPLE.insert_sql(), PEOPLE.row({"id": 1, "created_at": "a", "email": "A@x"}))
        with pytest.raises(RuntimeError), db.transaction() as conn:
            conn.execute(PEOPLE.insert_sql(), PEOPLE.row({"id": 2, "created_at": "b"}))
            raise RuntimeError("undo")
        assert db.count("people") == 1
        assert db.count("people", "WHERE email_lc = ?", ["a@x"]) == 1
        assert db.get_json("people", 1)["email"] == "A@x"
        assert db.get_json("people", 2) is None
        assert db.query("SELECT id FROM people") == [(1,)]
        assert db.dicts("SELECT id, email_lc AS email FROM people") == [{"id": 1, "email": "a@x"}]
    finally:
        db.close()


def test_store_lock_serialises_threads(tmp_path: Path) -> None:
    db = store.Store(tmp_path / "s.db", schema)
    errors: list[BaseException] = []

    def worker(base: int) -> None:
        try:
            for k in range(20):
                with db.transaction() as conn:
                    conn.execute(
                        PEOPLE.insert_sql(), PEOPLE.row({"id": base + k, "created_at": f"{base + k}"})
                    )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n * 100,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert db.count("people") == 80
    db.close()


def test_add_missing_columns_and_drop_all(tmp_path: Path) -> None:
    conn = store.connect(tmp_path / "s.db")
    schema(conn)
    store.add_missing_columns(conn, [("people", "nickname", "TEXT"), ("people", "active", "INTEGER")])
    assert "nickname" in {r[1] for r in conn.execute("PRAGMA table_info(people)")}
    store.drop_all(conn)
    assert conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE type='table'").fetchone()[0] == 0
    conn.close()


def test_seed_file_once_reset_and_interrupted(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "s.db"
    calls: list[int] = []

    def fill(conn: sqlite3.Connection) -> None:
        calls.append(1)
        conn.execute(PEOPLE.insert_sql(), PEOPLE.row({"id": len(calls), "created_at": str(len(calls))}))

    assert store.seed_file(path, schema, fill, seeded=store.dumps({"size": 1}))
    assert not store.seed_file(path, schema, fill, seeded="{}")
    assert store.seed_file(path, schema, fill, seeded=lambda: "again", reset=True)
    conn = store.connect(path)
    assert conn.execute("SELECT id FROM people").fetchall() == [(2,)]
    assert conn.execute("SELECT value FROM meta WHERE key='seeded'").fetchone() == ("again",)
    # an interrupted batched seed leaves its mark: the next run starts over
    conn.execute("DELETE FROM meta")
    conn.execute("INSERT INTO meta VALUES ('seeding', 'x')")
    conn.close()

    def boom(conn: sqlite3.Connection) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.seed_file(path, schema, boom, seeded="{}", mark_progress=True)
    assert store.seed_file(path, schema, fill, seeded="{}", mark_progress=True, started="now")
    conn = store.connect(path)
    assert conn.execute("SELECT key FROM meta").fetchall() == [("seeded",)]
    assert conn.execute("SELECT id FROM people").fetchall() == [(3,)]
    conn.close()


def test_dumps_is_compact_and_keeps_unicode() -> None:
    assert store.dumps({"a": [1, "é"]}) == '{"a":[1,"é"]}'


# --------------------------------------------------------------------------------------------------------
# limits


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_fixed_window_with_headers() -> None:
    clock = Clock(1000.5)
    limiter = limits.FixedWindow(2, 30.0, headers=limits.GREENHOUSE_HEADERS, clock=clock)
    first, second, third = limiter.hit(), limiter.hit(), limiter.hit()
    assert first.allowed and second.allowed and not third.allowed
    assert dict(first.headers) == {
        b"x-ratelimit-limit": b"2",
        b"x-ratelimit-remaining": b"1",
        b"x-ratelimit-reset": b"1020",
    }
    assert dict(third.headers)[b"x-ratelimit-remaining"] == b"0"
    assert third.retry_after == 20  # ceil(1020 - 1000.5)
    clock.now = 1020.0  # a new window
    assert limiter.hit().allowed
    limiter.configure(0, 0)  # unlimited; the default window
    verdict = limiter.hit()
    assert verdict.allowed and dict(verdict.headers)[b"x-ratelimit-limit"] == b"1000000"


def test_fixed_window_without_headers() -> None:
    clock = Clock(59.0)
    limiter = limits.FixedWindow(1, 0, default_window=60.0, clock=clock)
    assert limiter.hit() == limits.Verdict(True)
    assert limiter.hit() == limits.Verdict(False, 1)
    assert limits.FixedWindow(0, 60.0).hit() == limits.Verdict(True)


def test_token_bucket() -> None:
    clock = Clock(0.0)
    bucket = limits.TokenBucket(2.0, 2, clock=clock)
    assert bucket.hit().allowed and bucket.hit().allowed
    refused = bucket.hit()
    assert not refused.allowed and refused.retry_after == 1 and refused.headers == ()
    clock.now = 0.5  # one token back
    assert bucket.hit().allowed
    assert limits.TokenBucket(0, 5).hit().allowed


# --------------------------------------------------------------------------------------------------------
# faults and the gate


def test_fault_plan_is_deterministic_and_reseeds() -> None:
    settings = faults.Settings(fault_rate=0.5, fault_seed=3)
    plan = faults.FaultPlan(settings)
    first = [plan.roll() for _ in range(50)]
    assert {k for k in first if k} == set(faults.FAULT_KINDS)
    plan.reseed()
    assert [plan.roll() for _ in range(50)] == first
    settings.fault_rate = 0.0
    state = plan.rng.getstate()
    assert plan.roll() is None and plan.rng.getstate() == state  # no draw at rate 0


def replies(kind: str) -> faults.Reply:
    if kind in ("rate_limited", "429"):
        headers = [(b"retry-after", b"1")] if kind == "429" else []
        return faults.Reply.json(429, {"message": "Too Many Requests"}, headers)
    return faults.Reply(int(kind), f"failure {kind}".encode(), b"text/plain")


def gated(gate: faults.Gate) -> TestClient:
    app = faults.GatedApp()

    @app.get("/api/ok")
    async def ok() -> JSONResponse:
        return JSONResponse({"ok": True})

    @app.get("/health")
    async def health() -> JSONResponse:
        return JSONResponse({"ok": True})

    app.gate = gate
    return TestClient(app)


def test_gate_rate_limit_headers_and_retry_after() -> None:
    settings = faults.Settings()
    limiter = limits.FixedWindow(1, 3600.0, headers=limits.GREENHOUSE_HEADERS)
    counters: dict[str, int] = {}
    client = gated(faults.Gate(settings, replies, limiter=limiter, prefix="/api", counters=counters))
    first = client.get("/api/ok")
    assert first.status_code == 200 and first.headers["x-ratelimit-remaining"] == "0"
    second = client.get("/api/ok")
    assert second.status_code == 429 and second.json() == {"message": "Too Many Requests"}
    assert int(second.headers["retry-after"]) >= 1 and second.headers["x-ratelimit-limit"] == "1"
    assert client.get("/health").status_code == 200  # outside the prefix: not counted
    assert counters == {"requests": 2, "faults": 0, "rate_limited": 1}


def test_gate_without_retry_after_and_middleware() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await JSONResponse({"ok": True})(scope, receive, send)

    gate = faults.Gate(
        faults.Settings(), replies, limiter=limits.TokenBucket(1.0, 1), prefix="/", retry_after=lambda: False
    )
    client = TestClient(faults.GateMiddleware(app, gate))  # type: ignore[arg-type]
    assert client.get("/x").status_code == 200
    refused = client.get("/x")
    assert refused.status_code == 429 and "retry-after" not in refused.headers


def test_gate_faults_happen_before_the_app() -> None:
    settings = faults.Settings(fault_rate=1.0, fault_seed=1)
    seen: list[str] = []
    gate = faults.Gate(settings, replies, prefix="/api")
    app = faults.GatedApp()

    @app.get("/api/ok")
    async def ok() -> JSONResponse:
        seen.append("ok")
        return JSONResponse({"ok": True})

    app.gate = gate
    client = TestClient(app)
    statuses: list[int | str] = []
    for _ in range(20):
        try:
            r = client.get("/api/ok")
        except ConnectionAbortedError:
            statuses.append("drop")
            continue
        statuses.append(r.status_code)
        if r.status_code == 429:
            assert r.headers["retry-after"] == "1"
        elif r.status_code in (500, 503):
            assert r.text == f"failure {r.status_code}"
    assert set(statuses) == {429, 500, 503, "drop"}
    assert seen == [] and gate.counters["faults"] == 20
    settings.fault_rate = 0.0
    assert client.get("/api/ok").status_code == 200 and seen == ["ok"]


def test_gate_latency() -> None:
    import time

    client = gated(faults.Gate(faults.Settings(latency_ms=50), replies, prefix="/api"))
    started = time.monotonic()
    assert client.get("/api/ok").status_code == 200
    assert time.monotonic() - started >= 0.05


# --------------------------------------------------------------------------------------------------------
# seed helpers


def test_seed_helpers_are_deterministic() -> None:
    a, b = seed.rng_for("x", 7, "people"), seed.rng_for("x", 7, "people")
    assert [seed.phone(a) for _ in range(20)] == [seed.phone(b) for _ in range(20)]
    assert seed.rng_for("x", 7, "people").random() != seed.rng_for("x", 7, "notes").random()
    assert seed.uuid_from(random.Random(1)) == seed.uuid_from(random.Random(1))
    assert len(seed.stable_hex("wd", 7, "candidate", 1)) == 32
    emails = {seed.messy_email(random.Random(k), "ana.li@x.example") for k in range(400)}
    assert "ana.li@x.example" in emails and len(emails) > 3
    assert {e.strip().lower() for e in emails} == {"ana.li@x.example"}


def test_ascii_fold_spread_and_anchor() -> None:
    assert seed.ascii_fold("Ó Súilleabháin") == "osuilleabhain"
    assert seed.ascii_fold("佐藤") == ""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rng = random.Random(1)
    for _ in range(50):
        assert start <= seed.spread(rng, start, start + timedelta(days=1)) <= start + timedelta(days=1)
    assert seed.spread(rng, start, start - timedelta(days=1)) == start
    far = datetime(2999, 1, 1, tzinfo=UTC)
    assert seed.seed_anchor(far) <= datetime.now(UTC)
    assert seed.seed_anchor(far, lag=timedelta(days=1)) < seed.seed_anchor(far)
    assert seed.seed_anchor(start) == start


def test_demo_people_picker() -> None:
    rows = [
        ("a@x", 1, 0),
        ("b@x", 2, 0),
        ("c@x", 3, 0),
        ("c2@x", 3, 1),
        ("d@x", 4, 0),
        ("shared@x", 4, 1),
        ("shared@x", 5, 0),
        ("e@x", 6, 0),
    ]
    counts = {"shared@x": 2}
    for email, _o, _p in rows:
        counts.setdefault(email, 1)
    primary, secondary, ambiguous = seed.classify_emails(rows, counts)
    assert ambiguous == ["shared@x"] and secondary == [("c2@x", 3)]
    owners = {"shared@x": [4, 5]}

    def person(owner: int, email: str, kind: str) -> dict[str, Any]:
        return {"email": email, "owner": owner, "kind": kind}

    for rare_first in (True, False):
        out = seed.pick_people(
            random.Random(3),
            n=6,
            primary=primary,
            secondary=secondary,
            ambiguous=ambiguous,
            owners=owners.__getitem__,
            person=person,
            rare_first=rare_first,
        )
        kinds = [p["kind"] for p in out]
        assert kinds == sorted(kinds, key=["primary", "secondary", "ambiguous"].index)
        assert len({p["owner"] for p in out}) == len(out)
        if rare_first:
            assert kinds == ["primary", "primary", "secondary", "ambiguous"]
            assert {p["owner"] for p in out if p["kind"] == "primary"} <= {1, 2, 6}

    made = seed.made_up_people(random.Random(3), lambda e: False)
    assert [p["kind"] for p in made] == ["unmatched", "unmatched"]
    assert all(p["email"].endswith("@nowhere.example") for p in made)
    assert seed.made_up_people(random.Random(3), lambda e: True) == []
    other = seed.made_up_people(random.Random(3), lambda e: False, offset_once=False, domain="n.example")
    assert all(p["email"].endswith("@n.example") for p in other)


# --------------------------------------------------------------------------------------------------------
# cli


def test_serve_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    def fake_seed(db: str, *, size: int, seed: int, reset: bool) -> None:
        seen["seed"] = (db, size, seed, reset)

    def fake_app(db: str, **options: Any) -> str:
        seen["app"] = (db, options)
        return "APP"

    def fake_serve(app: Any, host: str, port: int, *, banner: str = "") -> int:
        seen["serve"] = (app, host, port, banner)
        return 0

    def extra(parser: Any) -> None:
        cli.add_fixed_window(parser, limit=50, window=30.0)
        parser.add_argument("--flag", action="store_true")

    monkeypatch.setattr(cli, "serve_forever", fake_serve)
    command = cli.ServeCommand(
        prog="python -m x",
        description="X sandbox",
        seed=fake_seed,
        create_app=fake_app,
        banner=" (hi)",
        add_arguments=extra,
        app_options=lambda a: {**cli.fixed_window_options(a), "flag": a.flag},
    )
    db = str(tmp_path / "x.db")
    assert (
        command.main(
            ["serve", "--db", db, "--size", "20", "--fault-rate", "0.1", "--rate-limit", "0", "--flag"]
        )
        == 0
    )
    assert seen["seed"] == (db, 20, 7, False)
    assert seen["app"] == (
        db,
        {
            "latency_ms": 0.0,
            "fault_rate": 0.1,
            "fault_seed": 0,
            "token_ttl": 3600,
            "rate_limit": 0,
            "rate_window": 30.0,
            "flag": True,
        },
    )
    assert seen["serve"] == ("APP", "127.0.0.1", 0, " (hi)")
    bucket = cli.ServeCommand(
        "p", "d", fake_seed, fake_app, add_arguments=lambda p: cli.add_token_bucket(p, rate=10.0, burst=20)
    )
    args = bucket.parser().parse_args(["serve", "--db", db, "--rate", "0"])
    assert cli.token_bucket_options(args) == {"rate_per_second": 0.0, "burst": 20}
    with pytest.raises(SystemExit):
        command.parser().parse_args(["serve"])  # --db is required


# --------------------------------------------------------------------------------------------------------
# web


def test_basic_credentials() -> None:
    def basic(text: str) -> str:
        return "Basic " + base64.b64encode(text.encode()).decode()

    assert web.basic_credentials(basic("id%2B1:s%3Aecret")) == ("id+1", "s:ecret")
    assert web.basic_credentials(basic("id%2B1:x"), unquote=False) == ("id%2B1", "x")
    assert web.basic_credentials("Basic !!!") == ("", "")
    assert web.basic_credentials("Bearer abc") is None
    assert web.basic_credentials("") is None


def test_read_form_and_admin_routes() -> None:
    class State:
        def __init__(self) -> None:
            self.config: dict[str, Any] = {"latency_ms": 0}

        def config_dict(self) -> dict[str, Any]:
            return dict(self.config)

        def reconfigure(self, changes: dict[str, Any]) -> dict[str, Any]:
            self.config.update(changes)
            return self.config_dict()

        def stats(self) -> dict[str, Any]:
            return {"requests": 3}

        def expire_tokens(self) -> int:
            return 2

    async def read_json(request: Request) -> dict[str, Any]:
        data = await request.json()
        assert isinstance(data, dict)
        return data

    app = FastAPI()
    web.install_admin_routes(app, State(), read_json=read_json)

    @app.post("/token")
    async def token(request: Request) -> JSONResponse:
        return JSONResponse(await web.read_form(request, query=True))

    client = TestClient(app)
    assert client.get("/_sandbox/health").json() == {"ok": True}
    assert client.post("/_sandbox/config", json={"latency_ms": 5}).json() == {"latency_ms": 5}
    assert client.get("/_sandbox/config").json() == {"latency_ms": 5}
    assert client.get("/_sandbox/stats").json() == {"requests": 3}
    assert client.post("/_sandbox/expire_tokens").json() == {"expired": 2}
    form = client.post("/token?a=1&b=2", data={"b": "3", "grant_type": "client_credentials"}).json()
    assert form == {"a": "1", "b": "3", "grant_type": "client_credentials"}
    assert client.post("/token", json={"x": 1, "y": None}).json() == {"x": "1"}
    assert client.post("/token", content=b"{", headers={"content-type": "application/json"}).json() == {}


# --------------------------------------------------------------------------------------------------------
# server factory and the plugin base


def test_threaded_sandbox_factory_and_kit_plugin(tmp_path: Path) -> None:
    made: list[tuple[Path, dict[str, Any]]] = []

    def create_app(db_path: Path, **options: Any) -> FastAPI:
        made.append((db_path, options))
        app = FastAPI()

        @app.get("/ping")
        async def ping() -> JSONResponse:
            return JSONResponse({"pong": True})

        return app

    seeded: list[dict[str, Any]] = []

    def seed_db(db_path: Path, **kw: Any) -> None:
        seeded.append(kw)

    class Server(ThreadedSandbox):
        vendor = "Tiny"
        factory = create_app

    class Tiny(KitSandbox):
        vendor = "tiny"
        employer = connector_name = outcome_prefix = "T"
        serve = cli.ServeCommand(prog="tiny", description="d", seed=seed_db, create_app=create_app)
        server_class = Server

        @staticmethod
        def people(db_path: Path, *, n: int, seed: int) -> list[dict[str, Any]]:
            return [{"email": f"{n}@{seed}", "kind": "primary"}]

        def connector_block(self, base_url: str) -> dict[str, Any]:
            return {"type": "tiny", "base_url": base_url}

    plugin = Tiny()
    plugin.seed(tmp_path / "t.db", size=30, reset=True)
    assert seeded == [{"size": 30, "seed": 7, "reset": True}]
    assert plugin.demo_people(tmp_path / "t.db", n=3) == [{"email": "3@7", "kind": "primary"}]
    with plugin.server(tmp_path / "t.db", latency_ms=1) as running:
        assert made == [(tmp_path / "t.db", {"latency_ms": 1})]
        assert requests.get(f"{running.url}/ping", timeout=5).json() == {"pong": True}
