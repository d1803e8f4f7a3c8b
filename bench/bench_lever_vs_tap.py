"""Benchmark: syncbridge's Lever sync side by side with the Singer tap ``tap-lever`` 1.1.0 (PyPI), on the
same local Lever API (the sandbox in its own process, rate limit off), same data.

Not a test: it prints numbers for docs/benchmarks.md.

* **tap-lever** is installed by this script into its own virtualenv (``bench/.venv-tap-lever``, git-ignored)
  and run as a child process with its ``opportunities`` stream selected.  It hard-codes
  ``https://api.lever.co/v1``, so a two-line wrapper patches ``BaseStream.get_url`` to the sandbox; nothing
  else in it is changed.  Its records (Singer ``RECORD`` lines on stdout) are counted and thrown away.
  Its ``start_date`` is the oldest ``updatedAt`` in the data, so it walks exactly the data's time span.
* **syncbridge** runs as its users run it: ``syncbridge -c lever.yaml sync --full`` in a child process,
  a full read of the opportunities into a fresh SQLite state store, so it also stores every record
  (people and applications mirrored).  Both tools ask for pages of 100 (Lever's maximum; tap-lever's
  fixed ``limit``).

A record is one opportunity on both sides.  For each run it prints wall time, the child's CPU time
(user + system, from ``wait4``), records, records/s and CPU per record, and the CPU the sandbox spent
answering (its ``/proc`` times: what each tool's queries cost the server); then the two ratios the issue
asks for: syncbridge records/s ÷ tap-lever records/s, and tap-lever CPU per record ÷ syncbridge CPU per
record (both above 1.0 = syncbridge ahead).  Rounds alternate the two tools so both see the same load.

    .venv/bin/python bench/bench_lever_vs_tap.py                     # 20,000 opportunities, 2 rounds
    .venv/bin/python bench/bench_lever_vs_tap.py --size 5000 --rounds 1
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TAP_VENV = HERE / ".venv-tap-lever"
TAP_VERSION = "1.1.0"

WRAPPER = """\
import sys

from tap_lever.streams import base

API = sys.argv.pop(1)  # the local Lever API root, e.g. http://127.0.0.1:1234/v1
base.BaseStream.get_url = lambda self: API + self.path  # the only change: where the API is

import tap_lever

tap_lever.main()
"""


def tap_python() -> Path:
    """tap-lever's own virtualenv, created and filled on first use."""
    python = TAP_VENV / "bin" / "python"
    if not (TAP_VENV / "bin" / "tap-lever").exists():
        print(f"installing tap-lever {TAP_VERSION} into {TAP_VENV} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(TAP_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", f"tap-lever=={TAP_VERSION}"],
            check=True,
        )
    return python


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a running process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_measured(
    cmd: list[str], *, server: int, count_records: bool = False, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run ``cmd``; wall time, its CPU time (wait4 rusage), the CPU the sandbox (``server``, a pid) spent
    meanwhile, and its stdout lines (or the RECORD lines counted)."""
    server_before = process_cpu(server)
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert proc.stdout is not None
    records = 0
    ids: set[str] = set()
    lines: list[str] = []
    for line in proc.stdout:
        if count_records:
            if b'"type": "RECORD"' in line[:40]:
                records += 1
                ids.add(str(json.loads(line)["record"].get("id")))
        else:
            lines.append(line.decode())
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed with exit code {proc.returncode}")
    out: dict[str, Any] = {
        "seconds": wall,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "server_cpu_seconds": process_cpu(server) - server_before,
    }
    if count_records:  # duplicates (its 7-day windows overlap at the edges) are counted: its favour
        out["records"] = records
        out["distinct"] = len(ids)
    else:
        out["output"] = lines
    return out


def sync_config(work: Path, api: str, state: Path) -> Path:
    """A user's config for the local Lever API: the key from the environment, limits off."""
    block = {
        "type": "lever",
        "base_url": api,
        "api_key": "${BENCH_LEVER_API_KEY}",
        "rate_per_second": 1000.0,
        "burst": 1000,
    }
    config = {
        "version": 1,
        "state": {"url": f"sqlite:///{state}"},
        "outcomes": {"path": str(work / "unused.csv")},
        "connectors": {"lever": block},
        "routing": [{"employer": "*", "connector": "lever"}],
        "sync": {"streams": {"lever": ["candidates", "applications"]}},
    }
    path = work / "lever.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
    return path


def stored(state: Path) -> dict[str, int]:
    from syncbridge.store import Store

    store = Store(f"sqlite:///{state}")
    try:
        return store.mirror_counts()["lever"]
    finally:
        store.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=20_000, help="opportunities to seed (default 20,000)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--workdir", type=Path, help="keep the seeded sandbox here (reused)")
    args = ap.parse_args()

    sys.path.insert(0, str(HERE))
    from bench_lever_sync import serve_process  # the sandbox in its own process

    from syncbridge.connectors.lever import sandbox

    python = tap_python()
    with tempfile.TemporaryDirectory(prefix="lever-vs-tap-") as t:
        work = args.workdir or Path(t)
        work.mkdir(parents=True, exist_ok=True)
        db = work / f"lever-{args.size}-{args.seed}.db"
        if not db.exists():
            sandbox.seed(db, size=args.size, seed=args.seed)
        conn = sqlite3.connect(str(db))
        oldest_ms, total, no_update = conn.execute(
            "SELECT MIN(updated_at), COUNT(*), SUM(updated_at IS NULL) FROM opportunities"
        ).fetchone()
        conn.close()
        wrapper = work / "run_tap_lever.py"
        wrapper.write_text(WRAPPER, encoding="utf-8")
        config = work / "tap-config.json"
        start = datetime.fromtimestamp(oldest_ms / 1000, UTC).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        config.write_text(json.dumps({"token": sandbox.DEFAULT_API_KEY, "start_date": start.isoformat()}))
        runs: list[dict[str, Any]] = []
        syncbridge = str(Path(sys.executable).parent / "syncbridge")
        env = {**os.environ, "BENCH_LEVER_API_KEY": sandbox.DEFAULT_API_KEY}
        with serve_process(db, rate=0.0, burst=20) as (url, server):
            api = f"{url.rstrip('/')}/v1"
            discovered = subprocess.run(
                [str(python), str(wrapper), api, "--config", str(config), "--discover"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            catalog = json.loads(discovered)
            catalog["streams"] = [s for s in catalog["streams"] if s["stream"] == "opportunities"]
            for entry in catalog["streams"]:
                for md in entry["metadata"]:
                    if md["breadcrumb"] == []:
                        md["metadata"]["selected"] = True
            catalog_path = work / "tap-catalog.json"
            catalog_path.write_text(json.dumps(catalog))
            for i in range(args.rounds):
                state = work / f"state-{i}.db"
                for old in work.glob(f"{state.name}*"):
                    old.unlink()
                tap = run_measured(
                    [str(python), str(wrapper), api, "--config", str(config), "--catalog", str(catalog_path)],
                    server=server,
                    count_records=True,
                )
                cfg = sync_config(work, api, state)
                sb = run_measured([syncbridge, "-c", str(cfg), "sync", "--full"], server=server, env=env)
                counts = stored(state)
                sb.update(
                    records=counts.get("applications", 0),  # one application row per opportunity read
                    people=counts.get("candidates", 0),
                    printed=[line.strip() for line in sb.pop("output")],  # streams, records, pages
                )
                for name, r in (("tap-lever", tap), ("syncbridge", sb)):
                    r.update(tool=name, round=i + 1)
                    r["records_per_s"] = r["records"] / r["seconds"]
                    r["cpu_ms_per_1000_records"] = 1e6 * r["cpu_seconds"] / max(1, r["records"])
                    r["server_cpu_ms_per_1000_records"] = 1e6 * r["server_cpu_seconds"] / max(1, r["records"])
                    runs.append(r)
                    print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}))
    tap_runs = [r for r in runs if r["tool"] == "tap-lever"]
    sb_runs = [r for r in runs if r["tool"] == "syncbridge"]

    def rate(rs: list[dict[str, Any]]) -> float:
        return sum(r["records"] for r in rs) / sum(r["seconds"] for r in rs)

    def cpu_per_record(rs: list[dict[str, Any]]) -> float:
        return sum(r["cpu_seconds"] for r in rs) / sum(r["records"] for r in rs)

    speed = rate(sb_runs) / rate(tap_runs)
    cpu = cpu_per_record(tap_runs) / cpu_per_record(sb_runs)
    print(
        f"\n{total} opportunities ({no_update} with a null updatedAt); tap-lever emitted "
        f"{tap_runs[-1]['records']} records ({tap_runs[-1]['distinct']} distinct), "
        f"syncbridge stored {sb_runs[-1]['records']} "
        f"(and {sb_runs[-1]['people']} people)"
    )
    print(f"records/s: syncbridge {rate(sb_runs):.0f}, tap-lever {rate(tap_runs):.0f}: ratio {speed:.2f}")
    print(
        f"CPU per 1,000 records: syncbridge {1000 * cpu_per_record(sb_runs):.3f} s, tap-lever "
        f"{1000 * cpu_per_record(tap_runs):.3f} s: ratio (tap / syncbridge) {cpu:.2f}"
    )
    served = {
        name: 1000 * sum(r["server_cpu_seconds"] for r in rs) / sum(r["records"] for r in rs)
        for name, rs in (("syncbridge", sb_runs), ("tap-lever", tap_runs))
    }
    print(
        f"sandbox CPU per 1,000 records served: syncbridge {served['syncbridge']:.3f} s, "
        f"tap-lever {served['tap-lever']:.3f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
