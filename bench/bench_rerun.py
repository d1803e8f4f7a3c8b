"""Benchmark: a re-run costs what changed (issue 12, target 4, first half).

Not a test: it prints JSON lines for docs/benchmarks.md.

A Greenhouse sandbox (its own process, no rate limit) holds ``--size`` candidates.  In this process:

1. a full ``candidates`` sync into a fresh SQLite state store;
2. an incremental sync with nothing changed;
3. ``--change`` of the candidates (1 % by default) get a new ``updated_at`` at the vendor (written into
   the sandbox's database directly, as another user's edits would), then an incremental sync.

For each it prints the vendor requests (the client's counter), the records written to the mirror (the
rows the store touched: a person row, its e-mail rows) and the wall time.  Proportional means: the
incremental sync after a 1 % change reads and writes about 1 % of the full sync's records.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def start_sandbox(db: Path) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "syncbridge.connectors.greenhouse.sandbox", "serve", "--db", str(db)]
    cmd += ["--port", "0", "--rate-limit", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        raise SystemExit(f"sandbox did not start: {line!r}")
    return proc, line.split("listening on", 1)[1].strip()


def touch(db: Path, every: int) -> int:
    """Give every ``every``-th candidate a new ``updated_at`` (column and record) in the sandbox."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with sqlite3.connect(db) as conn:
        cur = conn.execute(
            "UPDATE candidates SET updated_at = ?, data = json_set(data, '$.updated_at', ?) WHERE id % ? = 0",
            (now, now, every),
        )
        return cur.rowcount


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=100_000)
    ap.add_argument("--change", type=float, default=0.01, help="fraction of the candidates changed")
    ap.add_argument("--page-size", type=int, default=500)
    args = ap.parse_args()

    from syncbridge.config import load_settings
    from syncbridge.connectors.greenhouse import sandbox
    from syncbridge.connectors.greenhouse.connector import GreenhouseConnector
    from syncbridge.steps import Runtime, sync_stream

    with tempfile.TemporaryDirectory(prefix="sb-bench-rerun-") as d:
        tmp = Path(d)
        db = tmp / "gh.db"
        sandbox.seed(db, size=args.size, seed=5)
        proc, url = start_sandbox(db)
        try:
            settings = load_settings(
                {
                    "state": {"url": f"sqlite:///{tmp / 'state.db'}"},
                    "outcomes": {"path": str(tmp / "unused.csv")},
                    "connectors": {
                        "bench": {
                            "type": "greenhouse",
                            "client_id": sandbox.DEFAULT_CLIENT_ID,
                            "client_secret": sandbox.DEFAULT_CLIENT_SECRET,
                            "base_url": url,
                            "token_url": f"{url}/token",
                            "page_size": args.page_size,
                        }
                    },
                    "routing": [{"employer": "*", "connector": "bench"}],
                }
            )
            with Runtime(settings) as rt:
                conn = rt.connector("bench")
                assert isinstance(conn, GreenhouseConnector)

                def one(label: str, full: bool) -> dict[str, Any]:
                    before = conn.client.stats["requests"]
                    started = time.perf_counter()
                    r = sync_stream(rt, "bench", "candidates", full=full)
                    row = {
                        "run": label,
                        "requests": conn.client.stats["requests"] - before,
                        "records_written": r.records,
                        "seconds": round(time.perf_counter() - started, 2),
                    }
                    print(json.dumps(row), flush=True)
                    return row

                full = one("full sync", True)
                one("incremental, nothing changed", False)
                changed = touch(db, max(1, round(1 / args.change)))
                inc = one(f"incremental, {changed} changed", False)
                print(
                    json.dumps(
                        {
                            "changed": changed,
                            "records_ratio": round(inc["records_written"] / full["records_written"], 4),
                            "requests_ratio": round(inc["requests"] / full["requests"], 4),
                            "time_ratio": round(inc["seconds"] / full["seconds"], 4),
                        }
                    ),
                    flush=True,
                )
        finally:
            proc.kill()
            proc.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
