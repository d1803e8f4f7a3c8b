"""Benchmark: a full Greenhouse candidate sync from the sandbox into the state store.

Not a test: it prints numbers (and ``--json`` writes them) for docs/benchmarks.md.

What it measures, each sync in a fresh child process so peak RSS is that sync's own:

1. **rate-limit bound**: the sandbox enforces ``--limit`` requests per ``--window`` seconds with Greenhouse's
   headers; the connector paces itself from them.  The bound is the least time the vendor's limit allows
   (fixed windows: ``(ceil(requests / limit) - 1) * window``); ratio = bound / measured (1.0 = at the limit).
   Run once with the issue's figures (500 per 10 s, 500 per page) and once with a small page size where the
   limit really binds.
2. **local throughput** with the limit off: records/s, against a **baseline in the same process** that
   only walks the pages with plain ``requests`` (no mapping, no store): ratio = baseline time / sync time.
3. **peak RSS** of the sync for the large size vs a size ten times smaller (memory must not grow with the
   number of candidates).

The state store is a fresh SQLite file per sync, or with ``--state-url postgresql+psycopg://…/db`` a fresh
PostgreSQL database per sync (created next to ``db`` on that server and dropped afterwards).

The sandbox runs as its own process, so it does not compete with the client for the GIL.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def start_sandbox(db: Path, limit: int, window: float) -> tuple[subprocess.Popen[str], str]:
    cmd = [
        sys.executable,
        "-m",
        "syncbridge.connectors.greenhouse.sandbox",
        "serve",
        "--db",
        str(db),
        "--port",
        "0",
        "--rate-limit",
        str(limit),
        "--rate-window",
        str(window),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        raise SystemExit(f"sandbox did not start: {line!r}")
    return proc, line.split("listening on", 1)[1].strip()


def child_sync(url: str, state: str, page_size: int, baseline: bool) -> dict[str, Any]:
    """Runs inside the child process: one full sync (or the baseline walk) and its figures.

    The sync is the product's own path (``steps.sync_stream``: read-ahead, mapping, bulk upserts)."""
    from syncbridge.config import load_settings
    from syncbridge.connectors.greenhouse import sandbox
    from syncbridge.connectors.greenhouse.connector import GreenhouseConnector
    from syncbridge.steps import Runtime, sync_stream

    settings = load_settings(
        {
            "state": {"url": state},
            "outcomes": {"path": "unused.csv"},
            "connectors": {
                "bench": {
                    "type": "greenhouse",
                    "client_id": sandbox.DEFAULT_CLIENT_ID,
                    "client_secret": sandbox.DEFAULT_CLIENT_SECRET,
                    "base_url": url,
                    "token_url": f"{url}/token",
                    "page_size": page_size,
                }
            },
            "routing": [{"employer": "*", "connector": "bench"}],
        }
    )
    cpu0 = time.process_time()
    started = time.perf_counter()
    records = pages = 0
    with Runtime(settings) as rt:
        conn = rt.connector("bench")
        assert isinstance(conn, GreenhouseConnector)
        if baseline:
            import requests

            token = conn.client.tokens.token()  # type: ignore[union-attr]
            headers = {"Authorization": f"Bearer {token}"}
            started = time.perf_counter()
            r = requests.get(
                f"{url}/v3/candidates", params={"per_page": page_size}, headers=headers, timeout=60
            )
            while True:
                records += len(r.json())
                pages += 1
                nxt = r.links.get("next", {}).get("url")
                if not nxt:
                    break
                r = requests.get(nxt, headers=headers, timeout=60)
        else:
            result = sync_stream(rt, "bench", "candidates", full=True)
            records, pages = result.records, result.pages
        seconds = time.perf_counter() - started
        stats = dict(conn.client.stats)
        limiter_wait = getattr(conn.client.limiter, "waited", 0.0)
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "records": records,
        "pages": pages,
        "requests": stats["requests"] or pages,
        "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu0,
        "peak_rss_mb": rss_kb / 1024,
        "rate_limited_429": stats["rate_limited"],
        "limiter_wait_s": limiter_wait,
    }


def run_child(url: str, state: str, page_size: int, baseline: bool = False) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", url, state, str(page_size), "1" if baseline else "0"],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@contextmanager
def fresh_state(tmp: Path, name: str, server: str | None) -> Iterator[str]:
    """A state-store URL nobody has used: a new SQLite file in ``tmp``, or a new database on ``server``."""
    if server is None:
        state_db = tmp / f"{name}.db"
        for old in tmp.glob(f"{state_db.name}*"):
            old.unlink()
        yield f"sqlite:///{state_db}"
        return
    from sqlalchemy import create_engine, text

    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    database = f"sb_bench_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{database}"'))
    try:
        yield server.rsplit("/", 1)[0] + f"/{database}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


def scenario(
    tmp: Path,
    size: int,
    limit: int,
    window: float,
    page_size: int,
    *,
    baseline: bool = False,
    label: str,
    rounds: int = 1,
    state_url: str | None = None,
) -> dict[str, Any]:
    """Seed (or reuse) a sandbox of ``size`` candidates and sync it; with ``baseline``, alternate
    ``rounds`` baseline walks and syncs against the same sandbox, so both see the same machine load."""
    from syncbridge.connectors.greenhouse import sandbox

    db = tmp / f"gh-{size}.db"
    t0 = time.perf_counter()
    if not db.exists():
        sandbox.seed(db, size=size, seed=1)
    seeded = time.perf_counter() - t0
    proc, url = start_sandbox(db, limit, window)
    try:
        base_s: list[float] = []
        sync_s: list[float] = []
        for i in range(rounds if baseline else 1):
            if baseline:
                base_s.append(run_child(url, "sqlite://", page_size, baseline=True)["seconds"])
            with fresh_state(tmp, f"state-{label}-{i}", state_url) as state:
                result = run_child(url, state, page_size)
            sync_s.append(result["seconds"])
        if baseline:
            result["baseline_seconds"] = base_s
            result["sync_seconds"] = sync_s
            result["vs_baseline"] = sum(base_s) / sum(sync_s)
    finally:
        proc.terminate()
        proc.wait(10)
    result.update(label=label, size=size, page_size=page_size, seed_seconds=round(seeded, 1))
    if limit:
        bound = (math.ceil(result["requests"] / limit) - 1) * window
        result.update(
            limit=f"{limit} per {window:g} s",
            bound_seconds=bound,
            bound_ratio=(bound / result["seconds"]) if bound else None,
        )
    result["records_per_s"] = result["records"] / (sum(sync_s) / len(sync_s))
    return result


SCENARIOS = ("issue-limit", "limit-binds", "no-limit-large", "no-limit-small")


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _, _, url, state, page_size, baseline = sys.argv
        print(json.dumps(child_sync(url, state, int(page_size), baseline == "1")))
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=100_000, help="candidates in the large run")
    ap.add_argument("--small-size", type=int, help="candidates in the small run (default: size / 10)")
    ap.add_argument("--bound-size", type=int, default=20_000, help="candidates in the limit-binding run")
    ap.add_argument("--rounds", type=int, default=3, help="baseline/sync pairs in the no-limit-large run")
    ap.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help=f"comma-separated subset of {', '.join(SCENARIOS)}"
    )
    ap.add_argument("--workdir", type=Path, help="keep seeded sandboxes here and reuse them")
    ap.add_argument(
        "--state-url",
        help="sync into a fresh database on this PostgreSQL server (a URL naming any database on it) "
        "instead of a fresh SQLite file",
    )
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    wanted = set(args.scenarios.split(","))
    results = []
    with tempfile.TemporaryDirectory(prefix="sb-bench-") as t:
        tmp = args.workdir or Path(t)
        tmp.mkdir(parents=True, exist_ok=True)
        plan = [
            dict(size=args.size, limit=500, window=10.0, page_size=500, label="issue-limit"),
            dict(size=args.bound_size, limit=50, window=5.0, page_size=100, label="limit-binds"),
            dict(
                size=args.size,
                limit=0,
                window=30.0,
                page_size=500,
                baseline=True,
                rounds=args.rounds,
                label="no-limit-large",
            ),
            dict(
                size=args.small_size or args.size // 10,
                limit=0,
                window=30.0,
                page_size=500,
                label="no-limit-small",
            ),
        ]
        if {"no-limit-large", "no-limit-small"} <= wanted:
            # the small sync runs before and after the large one: the machine's load moves in between
            plan.insert(2, {**plan[3], "label": "no-limit-small-before"})
        for spec in plan:
            if spec["label"] not in wanted | {"no-limit-small-before"}:
                continue
            r = scenario(tmp, **spec, state_url=args.state_url)  # type: ignore[arg-type]
            results.append(r)
            print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}))
    by = {r["label"]: r for r in results}
    if "no-limit-large" in by:
        r = by["no-limit-large"]
        print(
            f"\nsync vs same-process page walk at {r['size']} candidates: {r['vs_baseline']:.2f} "
            f"(baseline {sum(r['baseline_seconds']):.1f} s / sync {sum(r['sync_seconds']):.1f} s "
            f"over {len(r['sync_seconds'])} rounds)"
        )
    if "no-limit-large" in by and "no-limit-small" in by:
        large = by["no-limit-large"]
        smalls = [r for r in results if r["label"].startswith("no-limit-small")]
        small_rate = sum(r["records_per_s"] for r in smalls) / len(smalls)
        small_cpu = sum(r["cpu_seconds"] / r["records"] for r in smalls) / len(smalls)
        large_cpu = large["cpu_seconds"] / large["records"]
        rss = large["peak_rss_mb"] / max(r["peak_rss_mb"] for r in smalls)
        print(
            f"peak RSS: {large['peak_rss_mb']:.0f} MB for {large['size']} candidates vs "
            f"{max(r['peak_rss_mb'] for r in smalls):.0f} MB for {smalls[0]['size']} (ratio {rss:.2f}); "
            f"records/s {large['records_per_s']:.0f} vs {small_rate:.0f} "
            f"({' and '.join(str(round(r['records_per_s'])) for r in smalls)}, before and after): "
            f"ratio {large['records_per_s'] / small_rate:.2f}; client CPU per record "
            f"{large_cpu * 1e6:.0f} vs {small_cpu * 1e6:.0f} us (ratio {small_cpu / large_cpu:.2f})"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
