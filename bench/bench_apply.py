"""Benchmark: applying 2,000 notes (each to a different person) against the Greenhouse sandbox with the
rate limit off, one at a time vs with ``write_parallelism``.

Not a test: it prints numbers for docs/benchmarks.md.  The sandbox runs in its own process.  Each run uses
a fresh state store and fresh actions (new idempotency keys), so both runs really send every note; the
ledger, the audit trail and the claims are all in play, as in ``syncbridge apply``.

    .venv/bin/python bench/bench_apply.py                       # 2,000 notes, parallelism 1 vs 8
    .venv/bin/python bench/bench_apply.py --notes 500 --parallelism 4
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def run(url: str, tmp: Path, people: list[str], parallelism: int, tag: str) -> dict[str, Any]:
    from syncbridge.actions import AddNote, NotePayload
    from syncbridge.apply import Applier
    from syncbridge.connectors.greenhouse import sandbox
    from syncbridge.connectors.greenhouse.connector import GreenhouseConnector, GreenhouseSettings
    from syncbridge.plan import action_key
    from syncbridge.store import Store

    settings = GreenhouseSettings(
        client_id=sandbox.DEFAULT_CLIENT_ID,
        client_secret=sandbox.DEFAULT_CLIENT_SECRET,  # type: ignore[arg-type]
        user_id=sandbox.DEMO_USER_ID,
        base_url=url,
        token_url=f"{url}/token",
        write_parallelism=parallelism,
    )
    connector = GreenhouseConnector("gh", settings)
    store = Store(f"sqlite:///{tmp / f'state-{tag}.db'}")
    actions = [
        AddNote(
            key=action_key("gh", "add_note", f"BENCH-{tag}-{i}", i),
            connector="gh",
            outcome_id=f"BENCH-{tag}-{i}",
            target=person,
            payload=NotePayload(
                subject="Micro-internship", text=f"Bench note {i} ({tag})", score=None, evaluation={}
            ),
            summary="bench note",
        )
        for i, person in enumerate(people)
    ]
    applier = Applier(store, {"gh": connector}, run_id=f"bench-{tag}", parallelism={"gh": parallelism})
    store.run_started(f"bench-{tag}", "bench")
    started = time.perf_counter()
    result = applier.apply(actions)
    seconds = time.perf_counter() - started
    store.run_finished(f"bench-{tag}", "completed")
    counts = store.ledger_counts()
    store.close()
    connector.close()
    return {
        "parallelism": parallelism,
        "notes": len(actions),
        "applied": result.applied,
        "failed": result.failed,
        "ledger_done": counts.get("done", 0),
        "seconds": round(seconds, 2),
        "notes_per_s": round(len(actions) / seconds, 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--notes", type=int, default=2000)
    ap.add_argument("--parallelism", type=int, default=8)
    ap.add_argument(
        "--latency-ms",
        default="0,20",
        help="comma-separated sandbox latencies to run (0 = a local API; a vendor's API is farther away)",
    )
    args = ap.parse_args()
    sys.path.insert(0, str(HERE))
    import requests
    from bench_greenhouse_sync import start_sandbox

    from syncbridge.connectors.greenhouse import sandbox

    latencies = [float(x) for x in args.latency_ms.split(",")]
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="sb-apply-bench-") as t:
        tmp = Path(t)
        db = tmp / "gh.db"
        sandbox.seed(db, size=args.notes * 2 * len(latencies) + 100, seed=3)
        conn = sqlite3.connect(str(db))
        ids = [str(r[0]) for r in conn.execute("SELECT id FROM candidates ORDER BY id")]
        conn.close()
        proc, url = start_sandbox(db, 0, 30.0)
        try:
            for n, latency in enumerate(latencies):
                requests.post(
                    f"{url}/_sandbox/config", json={"latency_ms": latency}, timeout=10
                ).raise_for_status()
                base = 2 * n * args.notes
                people = ids[base : base + 2 * args.notes]
                pair = [
                    run(url, tmp, people[: args.notes], 1, f"seq-{n}"),
                    run(url, tmp, people[args.notes :], args.parallelism, f"par-{n}"),
                ]
                for r in pair:
                    r["latency_ms"] = latency
                    runs.append(r)
                    print(json.dumps(r))
                print(
                    f"latency {latency:g} ms: {args.notes} notes one at a time {pair[0]['seconds']} s, "
                    f"{args.parallelism} lanes {pair[1]['seconds']} s: "
                    f"speed-up {pair[0]['seconds'] / pair[1]['seconds']:.2f}x"
                )
        finally:
            proc.terminate()
            proc.wait(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
