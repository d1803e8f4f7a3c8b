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
    """Runs inside the child process: one full sync (or the baseline walk) and its figures."""
    from datetime import UTC, datetime

    from syncbridge.connector import Window
    from syncbridge.connectors.greenhouse import sandbox
    from syncbridge.connectors.greenhouse.connector import GreenhouseConnector, GreenhouseSettings
    from syncbridge.store import Store

    settings = GreenhouseSettings(
        client_id=sandbox.DEFAULT_CLIENT_ID,
        client_secret=sandbox.DEFAULT_CLIENT_SECRET,  # type: ignore[arg-type]
        base_url=url,
        token_url=f"{url}/token",
        page_size=page_size,
    )
    conn = GreenhouseConnector("bench", settings)
    started = time.perf_counter()
    records = pages = 0
    if baseline:
        import requests

        token = conn.client.tokens.token()  # type: ignore[union-attr]
        headers = {"Authorization": f"Bearer {token}"}
        r = requests.get(f"{url}/v3/candidates", params={"per_page": page_size}, headers=headers, timeout=60)
        while True:
            records += len(r.json())
            pages += 1
            nxt = r.links.get("next", {}).get("url")
            if not nxt:
                break
            r = requests.get(nxt, headers=headers, timeout=60)
    else:
        store = Store(state)
        for page in conn.read("candidates", Window(None, datetime.now(UTC))):
            records += store.upsert_page("bench", "candidate", "candidates", page)
            pages += 1
        store.close()
    seconds = time.perf_counter() - started
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    limiter_wait = getattr(conn.client.limiter, "waited", 0.0)
    return {
        "records": records,
        "pages": pages,
        "requests": conn.client.stats["requests"] or pages,
        "seconds": seconds,
        "peak_rss_mb": rss_kb / 1024,
        "rate_limited_429": conn.client.stats["rate_limited"],
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


def scenario(
    tmp: Path, size: int, limit: int, window: float, page_size: int, *, baseline: bool = False, label: str
) -> dict[str, Any]:
    from syncbridge.connectors.greenhouse import sandbox

    db = tmp / f"gh-{size}.db"
    t0 = time.perf_counter()
    sandbox.seed(db, size=size, seed=1)
    seeded = time.perf_counter() - t0
    proc, url = start_sandbox(db, limit, window)
    try:
        state = f"sqlite:///{tmp / f'state-{label}.db'}"
        result = run_child(url, state, page_size)
        if baseline:
            base = run_child(url, state, page_size, baseline=True)
            result["baseline_seconds"] = base["seconds"]
            result["vs_baseline"] = base["seconds"] / result["seconds"]
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
    result["records_per_s"] = result["records"] / result["seconds"]
    return result


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _, _, url, state, page_size, baseline = sys.argv
        print(json.dumps(child_sync(url, state, int(page_size), baseline == "1")))
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=100_000, help="candidates in the large run")
    ap.add_argument("--bound-size", type=int, default=20_000, help="candidates in the limit-binding run")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    results = []
    with tempfile.TemporaryDirectory(prefix="sb-bench-") as t:
        tmp = Path(t)
        plan = [
            dict(size=args.size, limit=500, window=10.0, page_size=500, label="issue-limit-500-per-10s"),
            dict(size=args.bound_size, limit=50, window=5.0, page_size=100, label="limit-binds-50-per-5s"),
            dict(size=args.size, limit=0, window=30.0, page_size=500, baseline=True, label="no-limit-large"),
            dict(size=args.size // 10, limit=0, window=30.0, page_size=500, label="no-limit-small"),
        ]
        for spec in plan:
            r = scenario(tmp, **spec)  # type: ignore[arg-type]
            results.append(r)
            print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}))
    large = next(r for r in results if r["label"] == "no-limit-large")
    small = next(r for r in results if r["label"] == "no-limit-small")
    ratio = large["peak_rss_mb"] / small["peak_rss_mb"]
    print(
        f"\npeak RSS: {large['peak_rss_mb']:.0f} MB for {large['size']} candidates vs "
        f"{small['peak_rss_mb']:.0f} MB for {small['size']} (ratio {ratio:.2f})"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
