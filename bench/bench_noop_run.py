"""Benchmark: a no-op ``syncbridge run`` of the 500-person demo against an already-running local Prefect
server, this tree against a baseline commit, in one run (issue 12, target 4).

Not a test: it prints JSON lines for docs/benchmarks.md.

Set-up, once: the Greenhouse demo sandbox (500 people, served from this process), its outcomes file and
config (as ``syncbridge demo`` writes them), a ``prefect server start`` on a free port (its database in a
temporary folder), and a first ``syncbridge run`` that does the demo's writes.  Then, round after round,
the same command, ``syncbridge -c demo.yaml run --json``, runs once with the baseline's code and once
with this tree's, each a fresh process with ``PREFECT_API_URL`` pointing at the running server.  Nothing
has changed, so both plan zero writes (checked); the bench prints each run's wall time and CPU time
(``wait4``) and the ratio of the totals, this tree ÷ baseline.

The baseline is a ``git worktree`` of ``--baseline`` (default: main before the no-op work), run with this
virtualenv's packages: its ``syncbridge`` package is imported from the worktree (the editable install's
path mapping is pointed there before anything is imported).

    .venv/bin/python bench/bench_noop_run.py                 # 3 rounds
    .venv/bin/python bench/bench_noop_run.py --rounds 5 --baseline main
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
#: main before the no-op run stopped starting Prefect (issue 12)
BASELINE = "0215b26"

#: runs the ``syncbridge`` CLI from another checkout: the editable install's finder maps the package
#: roots to this one's folders (argv: root, then the CLI's arguments)
LAUNCH = """\
import sys

root = sys.argv.pop(1)
finder = next(m for n, m in sys.modules.items() if n.startswith("__editable__") and n.endswith("_finder"))
finder.MAPPING.update(
    {"syncbridge": root + "/src/syncbridge", "syncbridge.connectors": root + "/connectors",
     "syncbridge.flows": root + "/flows"}
)
from syncbridge.cli import main

sys.argv[0] = "syncbridge"
main()
"""


def run_cli(cmd: list[str], *, env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """Run the CLI; wall time, CPU time of the process (and its children), its JSON summary."""
    before = os.times()
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, check=False)
    wall = time.perf_counter() - started
    after = os.times()
    if done.returncode != 0:
        raise SystemExit(f"{cmd[-4:]} failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return {"seconds": wall, "cpu_seconds": cpu, "summary": json.loads(done.stdout)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--baseline", default=BASELINE, help=f"git ref of the baseline (default {BASELINE})")
    ap.add_argument("--size", type=int, default=500, help="people in the demo sandbox (default 500)")
    args = ap.parse_args()

    from syncbridge.demo import demo_config, demo_sandboxes, write_outcomes
    from syncbridge.prefect_local import LocalServer

    vendor = demo_sandboxes()["greenhouse"]
    cli = str(Path(sys.executable).parent / "syncbridge")
    with tempfile.TemporaryDirectory(prefix="noop-run-") as t:
        tmp = Path(t)
        base = tmp / "baseline"
        add = ["git", "worktree", "add", "-q", "--detach", str(base), args.baseline]
        subprocess.run(add, cwd=ROOT, check=True)
        launcher = tmp / "launch_baseline.py"
        launcher.write_text(LAUNCH, encoding="utf-8")
        work = tmp / "demo"
        work.mkdir()
        db = work / "greenhouse-sandbox.db"
        vendor.seed(db, size=args.size, seed=7)
        outcomes = work / "outcomes.csv"
        write_outcomes(outcomes, [vendor], {"greenhouse": db}, 7)
        (work / ".env").write_text("".join(f"{k}={v}\n" for k, v in vendor.env.items()), encoding="utf-8")
        server = LocalServer(tmp / "prefect-server", port=None, startup_timeout=300.0)
        try:
            options = {**vendor.demo_server_options, "fault_rate": 0.0}
            with vendor.server(db, **options) as sandbox, server:
                config = work / "demo.yaml"
                data = demo_config(work, [vendor], {"greenhouse": sandbox.url}, outcomes)
                config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
                env = {**os.environ, "PREFECT_API_URL": server.api_url, "PREFECT_HOME": str(tmp / "home")}
                env.pop("PREFECT_TEST_MODE", None)
                tools = {
                    "baseline": [sys.executable, str(launcher), str(base)],
                    "this tree": [cli],
                }
                command = ["-c", str(config), "run", "--json"]
                first = run_cli(tools["this tree"] + command, env=env, cwd=work)
                print(
                    json.dumps(
                        {
                            "run": "first (writes)",
                            "seconds": round(first["seconds"], 2),
                            "applied": first["summary"]["actions"].get("applied"),
                        }
                    )
                )
                runs: list[dict[str, Any]] = []
                for i in range(args.rounds):
                    for name, tool in tools.items():
                        r = run_cli(tool + command, env=env, cwd=work)
                        planned = r["summary"]["actions"]["planned"]
                        if planned:
                            raise SystemExit(f"{name}: a no-op run planned {planned} write(s)")
                        row = {
                            "tool": name,
                            "round": i + 1,
                            "seconds": round(r["seconds"], 3),
                            "cpu_seconds": round(r["cpu_seconds"], 3),
                            "planned": planned,
                        }
                        runs.append(row)
                        print(json.dumps(row), flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, check=False)

    def total(name: str, key: str) -> float:
        return sum(r[key] for r in runs if r["tool"] == name)

    wall = total("this tree", "seconds") / total("baseline", "seconds")
    cpu = total("this tree", "cpu_seconds") / total("baseline", "cpu_seconds")
    n = args.rounds
    each = {
        name: f"{total(name, 'seconds') / n:.2f} s ({total(name, 'cpu_seconds') / n:.2f} s CPU)"
        for name in ("baseline", "this tree")
    }
    print(
        f"\nno-op `syncbridge run`, {n} round(s), per run: baseline {each['baseline']}, this tree "
        f"{each['this tree']}; wall ratio (this tree / baseline) {wall:.2f}, CPU ratio {cpu:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
