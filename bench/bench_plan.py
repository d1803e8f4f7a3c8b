"""Benchmark: planning time against the number of actions (must be linear, not quadratic).

Not a test: it prints numbers for docs/benchmarks.md.  It builds linked outcomes (three writes each on a
Greenhouse connector: note, tags, custom fields), times ``make_plan`` alone for a small and a large plan
in the same process, and prints both times and the ratio large/small (10.0 = linear for the default
sizes; the old list scan made it about 100).  ``cpu_seconds`` is the process's CPU time for the same
call: on a machine shared with other jobs, wall time also counts the time spent waiting for a core.

    .venv/bin/python bench/bench_plan.py                      # 10,000 and 100,000 actions
    .venv/bin/python bench/bench_plan.py --small 3000 --large 30000
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date

from syncbridge.config import load_settings
from syncbridge.connectors.greenhouse.connector import GreenhouseConnector
from syncbridge.matching import Link
from syncbridge.model import Evaluation, MicroInternship, Outcome, Person, Skill
from syncbridge.plan import PlanState, make_plan

SETTINGS = load_settings(
    {
        "outcomes": {"path": "x.csv"},
        "connectors": {"gh": {"type": "greenhouse", "client_id": "a-1", "client_secret": "zzzz"}},
        "routing": [{"employer": "*", "connector": "gh"}],
        "history": {"note": True, "tags": ["micro-intern"], "fields": {"mi_rating": "evaluation.rating"}},
    }
)


def outcomes_and_links(n: int) -> tuple[list[Outcome], list[Link]]:
    outcomes = [
        Outcome(
            outcome_id=f"MI-{i}",
            student=Person(email=f"s{i}@uni.edu", first_name="Ana", last_name="Lima"),
            project=MicroInternship(
                project_id=f"P{i}",
                title="Churn model",
                employer="Acme Corp",
                start_date=date(2026, 3, 1),
                end_date=date(2026, 4, 1),
            ),
            evaluation=Evaluation(rating=4.0, would_hire=False, skills=(Skill(name="SQL", level=4),)),
        )
        for i in range(n)
    ]
    links = [Link(f"MI-{i}", "gh", "linked", candidate_id=str(1000 + i)) for i in range(n)]
    return outcomes, links


def time_plan(actions: int) -> dict[str, float]:
    outcomes, links = outcomes_and_links(-(-actions // 3))  # three writes per outcome
    started, cpu = time.perf_counter(), time.process_time()
    plan = make_plan(
        SETTINGS, outcomes, links, capabilities={"gh": GreenhouseConnector.capabilities}, state=PlanState()
    )
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"actions": len(plan.actions), "seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", type=int, default=10_000, help="actions in the small plan")
    ap.add_argument("--large", type=int, default=100_000, help="actions in the large plan")
    args = ap.parse_args()
    small, large = time_plan(args.small), time_plan(args.large)
    result = {
        "small": small,
        "large": large,
        "size_ratio": round(large["actions"] / small["actions"], 2),
        "time_ratio": round(large["seconds"] / small["seconds"], 2),
        "cpu_ratio": round(large["cpu_seconds"] / small["cpu_seconds"], 2),
    }
    print(json.dumps(result))
    print(
        f"planning {large['actions']} actions: {large['seconds']:.2f} s ({large['cpu_seconds']:.2f} s CPU); "
        f"{small['actions']}: {small['seconds']:.2f} s; time ratio {result['time_ratio']} (CPU "
        f"{result['cpu_ratio']}) for size ratio {result['size_ratio']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
