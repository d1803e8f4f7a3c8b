"""Many workers under one vendor limit: the shared token bucket in the state store (issue 12, target 5)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from pydantic import ValidationError
from sqlalchemy import select

from syncbridge.connector import SharedRateLimit
from syncbridge.connectors.greenhouse import sandbox
from syncbridge.sharedlimit import LEASE_TTL, SharedLimiter, bucket_for
from syncbridge.store import Store, rate_limits, runs

SYNCBRIDGE = str(Path(sys.executable).parent / "syncbridge")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def state_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class FakeTime:
    """One clock for several limiters (several 'processes'); sleeping moves it forward."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_two_limiters_on_one_store_never_exceed_the_limit_in_any_window(
    state_url_for: Callable[[str], str],
) -> None:
    """Two limiters (two workers) take turns from one bucket row: in every window of `per_seconds`,
    at any alignment, the requests they start together stay within `requests`, and together they still
    use most of the budget."""
    store = Store(state_url_for("state"))
    store.migrate()
    limit = SharedRateLimit(name="acme-gh", requests=50, per_seconds=10)
    t = FakeTime()
    a = SharedLimiter(store.engine, limit, clock=t.clock, sleep=t.sleep)
    b = SharedLimiter(store.engine, limit, clock=t.clock, sleep=t.sleep)
    sent: list[float] = []
    for i in range(400):
        (a if i % 3 else b).acquire()  # uneven turns: a sends twice as often as b
        sent.append(t.now)
        t.now += 0.001  # the request itself
    span = sent[-1] - sent[0]
    for start in sent:  # every window that starts at a request holds the most requests
        assert sum(1 for s in sent if start <= s < start + 10) <= 50
    assert len(sent) / span >= 0.9 * 50 / 10  # and the shared pace is not wasteful
    with store.engine.connect() as conn:
        assert conn.execute(select(rate_limits.c.name)).scalars().all() == ["acme-gh"]
    store.engine.dispose()


def test_a_429_seen_by_one_worker_holds_back_the_other(state_url_for: Callable[[str], str]) -> None:
    store = Store(state_url_for("state"))
    store.migrate()
    limit = SharedRateLimit(name="acme-gh", requests=50, per_seconds=10)
    t = FakeTime()
    a = SharedLimiter(store.engine, limit, clock=t.clock, sleep=t.sleep)
    b = SharedLimiter(store.engine, limit, clock=t.clock, sleep=t.sleep)
    a.acquire()
    b.acquire()
    before = t.now
    a.penalize(7.0)  # a got a 429 with Retry-After: 7
    b.acquire()
    assert t.now - before >= 7.0
    store.engine.dispose()


def test_bucket_bounds_every_window() -> None:
    for requests_, per in ((50, 10.0), (50, 30.0), (10, 1.0), (2, 1.0), (1000, 60.0), (1000, 1.0)):
        k, rate = bucket_for(SharedRateLimit(name="x", requests=requests_, per_seconds=per))
        assert k + rate * (per + LEASE_TTL) <= requests_ + 1e-9
    with pytest.raises(ValidationError):
        SharedRateLimit(name="x", requests=1, per_seconds=1)


def _worker_config(write_config: Callable[..., Path], server: sandbox.SandboxServer, shared: bool) -> Path:
    block: dict[str, Any] = {
        "type": "greenhouse",
        "client_id": sandbox.DEFAULT_CLIENT_ID,
        "client_secret": sandbox.DEFAULT_CLIENT_SECRET,
        "user_id": 1000001,
        "base_url": server.url,
        "token_url": f"{server.url}/token",
        "page_size": 5,
    }
    if shared:
        block["shared_rate_limit"] = {"name": "acme-greenhouse", "requests": 10, "per_seconds": 2}
    # two workers = two connectors with the same credentials, synced by two processes
    return write_config({"worker-a": block, "worker-b": dict(block)})


def test_two_processes_share_one_vendor_limit(tmp_path: Path, write_config: Callable[..., Path]) -> None:
    """Two `syncbridge sync` processes at once against one sandbox whose limit (10 requests per 2 s)
    binds: with the shared limit they never go over it together (zero 429s), and both finish.  Without
    it (each process following only the headers it sees) the same run gets 429s."""
    db = tmp_path / "gh.db"
    sandbox.seed(db, size=60, seed=3)
    server = sandbox.SandboxServer(db, rate_limit=10, rate_window=2.0).start()
    try:
        cfg = _worker_config(write_config, server, shared=True)
        state_url = yaml.safe_load(cfg.read_text(encoding="utf-8"))["state"]["url"]
        Store(state_url).migrate()  # migrate once, before both start
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        procs = [
            subprocess.Popen(
                [SYNCBRIDGE, "-c", str(cfg), "sync", "--connector", name, "--stream", "candidates"],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env=env,
            )
            for name in ("worker-a", "worker-b")
        ]
        try:
            outs = [p.communicate(timeout=300)[0] for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
        for p, out in zip(procs, outs, strict=True):
            assert p.returncode == 0, out
            assert "candidates: 60 records" in out, out
        stats = requests.get(f"{server.url}/_sandbox/stats", timeout=10).json()
        assert stats["rate_limited"] == 0, stats
        assert stats["requests"] >= 2 * 12  # 12 pages each, all within the limit
        store = Store(state_url)
        with store.engine.connect() as conn:
            spans = conn.execute(select(runs.c.started_at, runs.c.finished_at)).all()
        store.engine.dispose()
        (s1, f1), (s2, f2) = spans
        assert s1 < f2 and s2 < f1, "the two syncs did not overlap, so nothing was shared"
    finally:
        server.stop()


@pytest.mark.parametrize(
    "block",
    [
        {"type": "greenhouse", "client_id": "id", "client_secret": "s"},
        {"type": "lever", "api_key": "k"},
        {
            "type": "workday",
            "host": "https://wd2-impl-services1.workday.com",
            "tenant": "acme",
            "username": "ISU_SB",
            "password": "p",
            "tag_ids": {"micro-intern": "MICRO_INTERN"},
        },
    ],
    ids=lambda b: b["type"],
)
def test_runtime_puts_the_shared_limit_in_front_of_every_connector_type(
    block: dict[str, Any], tmp_path: Path
) -> None:
    """The setting works for every built-in connector (each sends through syncbridge's HTTP client), keeps
    the connector's own limiter behind it, and is off by default."""
    from syncbridge.config import load_settings
    from syncbridge.sharedlimit import _api_clients
    from syncbridge.steps import Runtime

    def runtime(extra: dict[str, Any]) -> Runtime:
        return Runtime(
            load_settings(
                {
                    "state": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
                    "outcomes": {"path": str(tmp_path / "o.csv")},
                    "connectors": {"acme": {**block, **extra}},
                    "routing": [{"employer": "*", "connector": "acme"}],
                }
            )
        )

    limit = {"name": "acme-ats", "requests": 10, "per_seconds": 1}
    with runtime({"shared_rate_limit": limit}) as rt:
        clients = list(_api_clients(rt.connector("acme")))
        assert clients and all(isinstance(c.limiter, SharedLimiter) for c in clients)
        assert not any(isinstance(c.limiter.local, SharedLimiter) for c in clients)  # type: ignore[attr-defined]
    with runtime({}) as rt:
        assert not any(isinstance(c.limiter, SharedLimiter) for c in _api_clients(rt.connector("acme")))
