"""Benchmark: a full Workday candidate sync against the local WWS sandbox.

Seeds N candidates (default 20,000), then syncs them twice:

1. **connector only** - ``WorkdayConnector.read("candidates", ...)``: SOAP envelopes out, defusedxml
   parsing, single-vs-list normalisation and mapping to the common model;
2. **full sync** - ``syncbridge.steps.sync_stream`` into a fresh SQLite state store (the real
   ``syncbridge sync`` path: the above plus the mirror upserts).

and prints local records/s and pages/s for each.  Everything runs on 127.0.0.1, so the numbers measure
syncbridge and the sandbox, not Workday (a real tenant answers a 100-record page in seconds, not
milliseconds).  A default run takes well under two minutes.

    .venv/bin/python bench/bench_workday_sync.py [--size 20000] [--page-size 100] [--db PATH]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from syncbridge.config import load_settings
from syncbridge.connector import MemoryState, Window
from syncbridge.connectors.workday import sandbox
from syncbridge.connectors.workday.connector import WorkdayConnector, WorkdaySettings
from syncbridge.steps import Runtime, sync_stream

NAME = "bench-workday"


def _block(url: str, page_size: int) -> dict[str, object]:
    block = sandbox.demo_connector_block(url)
    block.update(page_size=page_size, requests_per_second=100.0)
    return block


def _line(label: str, records: int, pages: int, seconds: float) -> str:
    return (
        f"{label:<16} {records:>8,} records  {pages:>5} pages  {seconds:7.2f} s  "
        f"{records / seconds:>9,.0f} records/s  {pages / seconds:>7.1f} pages/s"
    )


def run(size: int, args: argparse.Namespace, tmp: Path) -> tuple[int, int, float, int, int, float, float]:
    """Seed ``size`` candidates; read them with the connector alone, then sync them into a fresh store.
    Returns the read's records, pages and seconds, then the sync's records, pages, seconds and CPU
    seconds (this process: the sandbox runs in it too)."""
    db = args.db or (args.workdir or tmp) / f"workday-{size}.db"
    started = time.perf_counter()
    sandbox.seed(db, size=size, seed=args.seed)
    print(f"seeded {size:,} candidates in {time.perf_counter() - started:.1f} s ({db})")
    with sandbox.SandboxServer(db, latency_ms=args.latency_ms) as server:
        settings = WorkdaySettings.model_validate(
            {
                **_block(server.url, args.page_size),
                "username": sandbox.DEFAULT_USERNAME,
                "password": sandbox.DEFAULT_PASSWORD,
            }
        )
        connector = WorkdayConnector(NAME, settings, state=MemoryState())
        records = pages = 0
        started = time.perf_counter()
        if not args.skip_read:
            for page in connector.read("candidates", Window(None, datetime.now(UTC))):
                records += len(page)
                pages += 1
        read_seconds = time.perf_counter() - started
        connector.close()

        state = tmp / f"state-{size}.db"
        for old in tmp.glob(f"{state.name}*"):
            old.unlink()
        config = load_settings(
            {
                "state": {"url": f"sqlite:///{state}"},
                "outcomes": {"path": str(tmp / "unused.csv")},
                "connectors": {NAME: _block(server.url, args.page_size)},
                "routing": [{"employer": "*", "connector": NAME}],
            }
        )
        cpu = time.process_time()
        with Runtime(config) as rt:
            result = sync_stream(rt, NAME, "candidates", full=True)
        cpu = time.process_time() - cpu
    return records, pages, read_seconds, result.records, result.pages, result.seconds, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=20_000, help="candidates to seed (20..1,000,000)")
    parser.add_argument(
        "--compare-size",
        type=int,
        help="also sync this many (e.g. 200000) and print records/s at that size / at --size",
    )
    parser.add_argument("--skip-read", action="store_true", help="skip the connector-only read")
    parser.add_argument("--page-size", type=int, default=100, help="Response_Filter/Count (1..999)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--db", type=Path, help="sandbox SQLite file to reuse (default: a temporary one)")
    parser.add_argument(
        "--workdir", type=Path, help="keep the seeded sandboxes here (workday-SIZE.db) and reuse them"
    )
    parser.add_argument("--latency-ms", type=float, default=0.0, help="sandbox latency per request")
    args = parser.parse_args(argv)

    os.environ.update(sandbox.DEMO_ENV)
    print(
        f"Workday sandbox, page size {args.page_size}, {os.cpu_count()} CPU(s), "
        f"Python {sys.version.split()[0]}"
    )
    rates: dict[int, list[float]] = {}
    cpus: dict[int, list[float]] = {}
    # with --compare-size the small sync runs before and after the large one (the machine's load moves)
    sizes = [args.size] + ([args.compare_size, args.size] if args.compare_size else [])
    with tempfile.TemporaryDirectory(prefix="sb-wd-bench-") as t:
        for size in sizes:
            records, pages, read_seconds, synced, sync_pages, sync_seconds, cpu = run(size, args, Path(t))
            if not args.skip_read:
                print(_line("connector only", records, pages, read_seconds))
            print(
                _line("full sync", synced, sync_pages, sync_seconds)
                + f"  {cpu * 1e6 / synced:6.0f} us CPU/record"
            )
            rates.setdefault(size, []).append(synced / sync_seconds)
            cpus.setdefault(size, []).append(cpu / synced)
            if synced != size or (not args.skip_read and records != size):
                print(f"warning: expected {size:,} records", file=sys.stderr)
                return 1
    if args.compare_size:
        small, large = (sum(rates[k]) / len(rates[k]) for k in (args.size, args.compare_size))
        small_cpu, large_cpu = (sum(cpus[k]) / len(cpus[k]) for k in (args.size, args.compare_size))
        print(
            f"full sync records/s at {args.compare_size:,} / at {args.size:,}: {large / small:.2f} "
            f"({large:,.0f} vs {small:,.0f}, the small one the mean of the runs before and after); "
            f"CPU per record {small_cpu / large_cpu:.2f} ({large_cpu * 1e6:.0f} vs {small_cpu * 1e6:.0f} us)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
