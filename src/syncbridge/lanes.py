"""Parallel apply: history writes to different people at the same time, one lane per person.

A plan's history writes (notes, tags, custom fields) to *different* people are independent: no write
reads what another wrote, and the ledger's claims keep any write from being sent twice whatever the
interleaving.  So the applier may run them concurrently, up to the connector's ``write_parallelism``;
the connector's rate limiter (shared by its threads) still keeps the vendor's limit.

What stays in order:

* the writes to **one person** run one after the other in one lane (tags and fields are read-merge-write
  on some vendors, so two at once could lose one of them);
* the **kinds** run in the applier's order, each kind finishing before the next starts: creations
  (people, requisitions, postings, applications) and the conversion steps that depend on them run
  exactly as before, one at a time; only the kinds marked ``lanes`` in :data:`syncbridge.actions.KINDS`
  (``add_note``, ``add_tags`` and ``set_fields``) fan out.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from syncbridge.actions import KINDS, Action


def run_in_lanes(
    ordered: Sequence[Action],
    parallelism: Mapping[str, int],
    one: Callable[[Action], Any],
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Run ``one(action)`` for every action of ``ordered`` (sorted by kind order): kinds one after the
    other; inside a parallel kind, one lane per (connector, person), at most ``parallelism[connector]``
    lanes of a connector at once."""
    width = max([1, *parallelism.values()])
    gates = {name: threading.BoundedSemaphore(max(1, n)) for name, n in parallelism.items()}
    lock = threading.Lock()
    finished = 0

    def run(action: Action) -> None:
        nonlocal finished
        gate = gates.get(action.connector)
        if gate is None:
            one(action)
        else:
            with gate:
                one(action)
        if progress is not None:
            with lock:
                finished += 1
                progress(finished, len(ordered))

    def lane(actions: list[Action]) -> None:
        for action in actions:
            run(action)

    with ThreadPoolExecutor(max_workers=width, thread_name_prefix="syncbridge-apply") as pool:
        for kind, group in itertools.groupby(ordered, key=lambda a: a.kind):
            if not KINDS[kind].lanes or width == 1:
                for action in group:
                    run(action)
                continue
            lanes: dict[tuple[str, str | None], list[Action]] = {}
            for action in group:
                # a write to a person created in this run has no target yet: its lane is that creation
                person = action.target or action.depends_on or action.outcome_id
                lanes.setdefault((action.connector, person), []).append(action)
            for future in [pool.submit(lane, actions) for actions in lanes.values()]:
                future.result()  # the kind is finished before the next one starts; errors surface here
