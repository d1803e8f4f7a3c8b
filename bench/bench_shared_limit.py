"""Benchmark: two workers, one vendor limit (issue 12, target 5).

Not a test: it prints JSON lines for docs/benchmarks.md.

One Greenhouse sandbox (its own process) enforces ``--limit`` requests per ``--window`` seconds (fixed
windows, with Greenhouse's ``X-RateLimit-*`` headers and 429s).  Two ``syncbridge sync`` processes, two
connectors with the same credentials and the same ``shared_rate_limit``, sync the candidates at the same
time into one state store.  The bench samples the sandbox's request counter while they run:

* ``rate_limited_429``: 429s the sandbox sent (target: 0);
* ``ratio``: the combined rate of vendor requests (first to last) ÷ the limit's rate ``limit / window``
  (target: ≥ 0.9).

``--without`` runs the same pair once more with the shared limit off (each process follows only the
headers it sees), to show what the shared limit prevents.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests
import yaml

from syncbridge.connectors.greenhouse import sandbox

SYNCBRIDGE = str(Path(sys.executable).parent / "syncbridge")


def start_sandbox(db: Path, limit: int, window: float) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "syncbridge.connectors.greenhouse.sandbox", "serve", "--db", str(db)]
    cmd += ["--port", "0", "--rate-limit", str(limit), "--rate-window", str(window)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        raise SystemExit(f"sandbox did not start: {line!r}")
    return proc, line.split("listening on", 1)[1].strip()


def pair(tmp: Path, url: str, state: str, args: argparse.Namespace, shared: bool) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "greenhouse",
        "client_id": sandbox.DEFAULT_CLIENT_ID,
        "client_secret": sandbox.DEFAULT_CLIENT_SECRET,
        "base_url": url,
        "token_url": f"{url}/token",
        "page_size": args.page_size,
    }
    if shared:
        block["shared_rate_limit"] = {"name": "bench-gh", "requests": args.limit, "per_seconds": args.window}
    cfg = tmp / f"shared-{shared}.yaml"
    config = {
        "version": 1,
        "state": {"url": state},
        "outcomes": {"path": str(tmp / "unused.csv")},
        "connectors": {"worker-a": block, "worker-b": dict(block)},
        "routing": [{"employer": "*", "connector": "worker-a"}],
    }
    cfg.write_text(yaml.safe_dump(config), encoding="utf-8")
    subprocess.run([SYNCBRIDGE, "-c", str(cfg), "migrate"], check=True, capture_output=True)

    def stats() -> dict[str, Any]:
        return dict(requests.get(f"{url}/_sandbox/stats", timeout=30).json())

    base = stats()
    samples: list[tuple[float, int]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append((time.monotonic(), stats()["requests"] - base["requests"]))
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    cmd = ["sync", "--stream", "candidates", "--full"]
    procs = [
        subprocess.Popen(
            [SYNCBRIDGE, "-c", str(cfg), *cmd, "--connector", name],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name in ("worker-a", "worker-b")
    ]
    try:
        outs = [p.communicate(timeout=3600)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    done.set()
    sampler.join()
    end = stats()
    total = end["requests"] - base["requests"]
    moving = [t for t, n in samples if 0 < n < total]
    first = next(t for t, n in samples if n > 0)
    last = next((t for t, n in samples if n >= total), samples[-1][0])
    span = max(last - first, 1e-9)
    # n requests spread over `span` seconds: n - 1 intervals (a fence-post count)
    rate = (total - 1) / span if moving else 0.0
    return {
        "scenario": "shared limit on" if shared else "shared limit off",
        "limit": f"{args.limit} per {args.window:g} s",
        "requests": total,
        "rate_limited_429": end["rate_limited"] - base["rate_limited"],
        "seconds": round(span, 2),
        "combined_rate": round(rate, 3),
        "ratio": round(rate / (args.limit / args.window), 3),
        "exit_codes": [p.returncode for p in procs],
        "output": [o.strip().splitlines()[-1] if o.strip() else "" for o in outs],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=1000, help="candidates in the sandbox")
    ap.add_argument("--page-size", type=int, default=10, help="candidates per request")
    ap.add_argument("--limit", type=int, default=50, help="the sandbox's requests per window")
    ap.add_argument("--window", type=float, default=10.0, help="the sandbox's window, seconds")
    ap.add_argument("--state", default=None, help="state-store URL (default: a SQLite file)")
    ap.add_argument("--without", action="store_true", help="also run the pair with the shared limit off")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="sb-bench-shared-") as d:
        tmp = Path(d)
        db = tmp / "gh.db"
        sandbox.seed(db, size=args.size, seed=5)
        proc, url = start_sandbox(db, args.limit, args.window)
        try:
            runs = [True, False] if args.without else [True]
            for shared in runs:
                state = args.state or f"sqlite:///{tmp / f'state-{shared}.db'}"
                print(json.dumps(pair(tmp, url, state, args, shared)), flush=True)
        finally:
            proc.kill()
            proc.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
