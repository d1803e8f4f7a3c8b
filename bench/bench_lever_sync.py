"""Benchmark: a full Lever sync through the connector and the pipeline's ``sync_stream``, against the local
sandbox, with the rate limit on (sandbox 10 rps / burst 20, connector 8 rps / burst 16) and off.

It prints, per run, the requests made, the time, the rate-limit-bound time (``requests / rate``, and the
stricter ``(requests - burst) / rate``), their ratio to the measured time (close to 1.0 = the connector runs
at the speed the limit allows; above 1.0 is impossible without the burst), the 429s seen, and the local
records per second (mirror upserts included).

    .venv/bin/python bench/bench_lever_sync.py                 # 20,000 opportunities, about a minute
    .venv/bin/python bench/bench_lever_sync.py --size 5000 --streams candidates
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from syncbridge.config import load_settings
from syncbridge.connectors.lever import sandbox
from syncbridge.connectors.lever.connector import LeverConnector
from syncbridge.steps import Runtime, sync_stream


@contextmanager
def serve(db: Path, *, rate: float, burst: int) -> Iterator[str]:
    """The sandbox in its own process (as a real API would be: it does not share this process's GIL)."""
    with serve_process(db, rate=rate, burst=burst) as (url, _pid):
        yield url


@contextmanager
def serve_process(db: Path, *, rate: float, burst: int) -> Iterator[tuple[str, int]]:
    """:func:`serve`, yielding the URL and the sandbox's process id (to read its CPU time)."""
    cmd = [
        sys.executable,
        "-m",
        "syncbridge.connectors.lever.sandbox",
        "serve",
        "--db",
        str(db),
        "--rate",
        str(rate),
        "--burst",
        str(burst),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"listening on (http://\S+)", line)
        if match is None:
            raise RuntimeError(f"the sandbox did not start: {line!r}")
        yield match.group(1), proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def run_once(
    workdir: Path, db: Path, streams: list[str], *, limited: bool, args: argparse.Namespace
) -> dict[str, Any]:
    sandbox_rate = args.sandbox_rate if limited else 0.0
    with serve(db, rate=sandbox_rate, burst=args.sandbox_burst) as url:
        block = sandbox.demo_connector_block(url)
        block["api_key"] = sandbox.DEFAULT_API_KEY
        if limited:
            block.update({"rate_per_second": args.rate, "burst": args.burst})
        else:
            block.update({"rate_per_second": 1000.0, "burst": 1000})
        state = workdir / f"state-{'on' if limited else 'off'}.db"
        state.unlink(missing_ok=True)
        settings = load_settings(
            {
                "state": {"url": f"sqlite:///{state}"},
                "outcomes": {"path": str(workdir / "unused.csv")},
                "connectors": {"lever": block},
                "routing": [{"employer": "*", "connector": "lever"}],
            }
        )
        with Runtime(settings) as rt:
            connector = rt.connector("lever")
            assert isinstance(connector, LeverConnector)
            records = 0
            started = time.monotonic()
            # as `syncbridge sync` does: a stream covered by another one asked for is not read again
            for stream in [s for s in rt.streams_for("lever") if s in streams]:
                records += sync_stream(rt, "lever", stream, now=datetime.now(UTC)).records
            elapsed = time.monotonic() - started
            api_stats = dict(connector.client.api.stats)
            pages = connector.client.stats["pages"]
        server_stats = requests.get(f"{url}/_sandbox/stats", timeout=10).json()
    result: dict[str, Any] = {
        "rate_limit": "on" if limited else "off",
        "streams": streams,
        "records": records,
        "pages": pages,
        "requests": api_stats["requests"],
        "retries": api_stats["retries"],
        "http_429": server_stats["rate_limited"],
        "seconds": round(elapsed, 2),
        "records_per_second": round(records / elapsed, 1) if elapsed else None,
    }
    if limited:
        bound = api_stats["requests"] / args.rate
        strict = max(0.0, api_stats["requests"] - args.burst) / args.rate
        result.update(
            {
                "rate_bound_seconds": round(bound, 2),
                "rate_bound_ratio": round(bound / elapsed, 3),
                "rate_bound_minus_burst_seconds": round(strict, 2),
                "rate_bound_minus_burst_ratio": round(strict / elapsed, 3),
            }
        )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=20_000, help="opportunities to seed (default 20,000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--streams",
        default="candidates,applications",
        help="comma-separated streams to sync (default: candidates,applications)",
    )
    parser.add_argument("--rate", type=float, default=8.0, help="connector rate_per_second")
    parser.add_argument("--burst", type=int, default=16, help="connector burst")
    parser.add_argument("--sandbox-rate", type=float, default=10.0)
    parser.add_argument("--sandbox-burst", type=int, default=20)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the seeded sandbox here (reused)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    streams = [s.strip() for s in args.streams.split(",") if s.strip()]

    with tempfile.TemporaryDirectory(prefix="lever-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        db = workdir / f"lever-{args.size}-{args.seed}.db"
        started = time.monotonic()
        sandbox.seed(db, size=args.size, seed=args.seed)
        seeded = round(time.monotonic() - started, 2)
        runs = [
            run_once(workdir, db, streams, limited=True, args=args),
            run_once(workdir, db, streams, limited=False, args=args),
        ]
    summary = {"size": args.size, "seed_seconds": seeded, "runs": runs}
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(
        f"Lever sync benchmark: {args.size} opportunities (seeded in {seeded} s), "
        f"streams {', '.join(streams)}"
    )
    for r in runs:
        print(
            f"\nrate limit {r['rate_limit']}: {r['records']} records, {r['pages']} pages, "
            f"{r['requests']} requests, {r['retries']} retries, {r['http_429']} x 429, {r['seconds']} s, "
            f"{r['records_per_second']} records/s"
        )
        if r["rate_limit"] == "on":
            print(
                f"  rate-limit-bound time requests/rate = {r['rate_bound_seconds']} s; "
                f"ratio bound/measured = {r['rate_bound_ratio']}"
            )
            print(
                f"  without the burst (requests-burst)/rate = {r['rate_bound_minus_burst_seconds']} s; "
                f"ratio = {r['rate_bound_minus_burst_ratio']}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
