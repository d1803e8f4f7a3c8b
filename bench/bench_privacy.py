"""Benchmark: what privacy costs.  Not a test: it prints numbers for docs/benchmarks.md.

1. ``forget`` of one person in a store with N mirrored people and M outcomes (SQLite file);
2. the sync's per-page screening (``privacy.screen_page``) with no tombstones and with T tombstones,
   against the page upsert it precedes;
3. the same upsert with ``privacy.hash_emails`` on (HMAC of every address).

Usage: ``python bench/bench_privacy.py [--people 20000] [--outcomes 5000] [--tombstones 500]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from syncbridge import privacy
from syncbridge.model import Candidate, Email, Evaluation, MicroInternship, Outcome, Person, Ref
from syncbridge.store import Store


def person(i: int) -> Candidate:
    return Candidate(
        ref=Ref(connector="gh", kind="candidate", id=str(i)),
        first_name=f"First{i}",
        last_name=f"Last{i}",
        emails=(Email(value=f"p{i}@example.org"), Email(value=f"p{i}@work.example")),
        updated_at=datetime(2026, 1, 1, tzinfo=UTC),
        raw={"id": i, "email_addresses": [{"value": f"p{i}@example.org"}]},
    )


def outcome(i: int) -> Outcome:
    return Outcome(
        outcome_id=f"O-{i}",
        student=Person(email=f"p{i}@example.org", first_name=f"First{i}", last_name=f"Last{i}"),
        project=MicroInternship(
            project_id="p", title="Data", employer="Acme Corp", start_date="2026-01-05", end_date="2026-02-05"
        ),
        evaluation=Evaluation(rating=4.0, would_hire=True),
    )


def timed(fn, repeat: int = 1) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--people", type=int, default=20_000)
    ap.add_argument("--outcomes", type=int, default=5_000)
    ap.add_argument("--tombstones", type=int, default=500)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        for start in range(0, args.people, 500):
            store.upsert_page("gh", "candidate", "candidates", [person(i) for i in range(start, start + 500)])
        store.record_outcomes([outcome(i) for i in range(args.outcomes)])
        store.save_links(
            [
                {"outcome_id": f"O-{i}", "connector": "gh", "status": "linked", "candidate_id": str(i)}
                for i in range(args.outcomes)
            ]
        )
        page = [person(args.people + i) for i in range(100)]
        upsert = timed(lambda: store.upsert_page("gh", "candidate", "candidates", page), 20)
        screen_empty = timed(lambda: privacy.screen_page(store, "gh", page), 20)
        t = timed(lambda: privacy.forget(store, email="p1@example.org", requested_by="bench"))
        for i in range(2, args.tombstones + 1):
            privacy.forget(store, outcome_id=f"O-{i}", requested_by="bench") if i < args.outcomes else None
        n_stones = len(privacy.load_tombstones(store).emails)
        screen_full = timed(lambda: privacy.screen_page(store, "gh", page), 20)
        store.email_key = b"bench-key-0123456789"
        upsert_hashed = timed(lambda: store.upsert_page("gh", "candidate", "candidates", page), 20)
        store.close()
    print(f"store: {args.people} people, {args.outcomes} outcomes (SQLite)")
    print(f"forget one person: {t * 1000:.0f} ms")
    print(f"upsert of a 100-person page: {upsert * 1000:.1f} ms")
    print(f"screen_page, no tombstones: {screen_empty * 1000:.1f} ms")
    print(f"screen_page, {n_stones} forgotten people: {screen_full * 1000:.1f} ms")
    print(f"upsert of the page with hash_emails on: {upsert_hashed * 1000:.1f} ms")


if __name__ == "__main__":
    main()
