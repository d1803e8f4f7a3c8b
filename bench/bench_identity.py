"""Linking cost with identity evidence: a mirror of N people, M outcomes, a share of them under new
e-mail addresses (so the phone / name / earlier-link evidence is weighed for them).

    .venv/bin/python bench/bench_identity.py --people 20000 --outcomes 5000 --new-share 0.2

Prints the seconds of the first link run (person ids created, the mirror's phones and names indexed) and
of a second run over the same outcomes (person ids known), plus how the outcomes were linked.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from datetime import date
from pathlib import Path

from syncbridge.config import Settings
from syncbridge.matching import link_outcomes, match_one
from syncbridge.model import (
    Candidate,
    Email,
    Evaluation,
    MicroInternship,
    Outcome,
    Person,
    Phone,
    ProjectStatus,
    Ref,
)
from syncbridge.store import Store


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--people", type=int, default=20_000)
    ap.add_argument("--outcomes", type=int, default=5_000)
    ap.add_argument("--new-share", type=float, default=0.2, help="outcomes sent under a new e-mail")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'state.db'}")
        people = [
            Candidate(
                ref=Ref(connector="gh", kind="candidate", id=str(20_000_000 + i)),
                first_name=f"First{i}",
                last_name=f"Last{i % 5000}",
                emails=(Email(value=f"p{i}@school.example"),),
                phones=(Phone(value=f"+1 415 {i // 10000:03d} {i % 10000:04d}"),),
                raw={"phone_numbers": [{"value": f"+1 415 {i // 10000:03d} {i % 10000:04d}"}]},
            )
            for i in range(args.people)
        ]
        for start in range(0, len(people), 500):
            store.upsert_page("gh", "candidate", "candidates", people[start : start + 500])
        outcomes = []
        for n in range(args.outcomes):
            i = rng.randrange(args.people)
            new = rng.random() < args.new_share
            outcomes.append(
                Outcome(
                    outcome_id=f"O-{n}",
                    student=Person(
                        email=f"new{n}@personal.example" if new else f"p{i}@school.example",
                        first_name=f"First{i}",
                        last_name=f"Last{i % 5000}",
                        phone=f"+1 415 {i // 10000:03d} {i % 10000:04d}" if rng.random() < 0.5 else None,
                    ),
                    project=MicroInternship(
                        project_id=f"P-{n}",
                        title="Analytics",
                        employer="Acme Corp",
                        start_date=date(2026, 1, 5),
                        end_date=date(2026, 2, 5),
                        status=ProjectStatus.completed,
                    ),
                    evaluation=Evaluation(rating=4.0, would_hire=True),
                )
            )
        settings = Settings.model_validate(
            {
                "version": 1,
                "state": {"url": "sqlite://"},
                "outcomes": {"path": "x.csv"},
                "connectors": {"gh": {"type": "greenhouse", "client_id": "x", "client_secret": "y"}},
                "routing": [{"employer": "Acme Corp", "connector": "gh"}],
            }
        )
        store.record_outcomes(outcomes)
        tb = time.perf_counter()
        for o in outcomes:  # the e-mail-only matching every run did before (the baseline)
            match_one(store, "gh", o)
        baseline = time.perf_counter() - tb
        t0 = time.perf_counter()
        first = link_outcomes(store, settings, outcomes)
        t1 = time.perf_counter()
        link_outcomes(store, settings, outcomes)
        t2 = time.perf_counter()
        store.close()
    result = {
        "people": args.people,
        "outcomes": args.outcomes,
        "first_run_s": round(t1 - t0, 2),
        "second_run_s": round(t2 - t1, 2),
        "email_only_baseline_s": round(baseline, 2),
        "links": first.counts(),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{args.outcomes} outcomes against {args.people} people: "
            f"first link run {result['first_run_s']} s, "
            f"second {result['second_run_s']} s (e-mail lookups alone: {result['email_only_baseline_s']} s); "
            f"{result['links']}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
