"""Benchmark: how fast and in how much memory hostile configs and outcome files are refused or read.

Each case runs in a fresh child process (so peak RSS is the case's own) and prints one JSON line: the
case, the outcome (refused with one line, or outcomes read and quarantined), the time of the load alone
(imports excluded) and the child's peak RSS, with its RSS after the imports for comparison.  The
issue's baselines: the alias bomb ran over 60 s and 3 GiB before the fix, the 50 MB CSV field refused
the whole file, the 100,000-deep JSON crashed with a RecursionError.

    .venv/bin/python bench/bench_hostile_inputs.py
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

CHILD = textwrap.dedent(
    """
    import json, resource, sys, time
    from pathlib import Path
    kind, path = sys.argv[1], Path(sys.argv[2])
    from syncbridge.config import load_config
    from syncbridge.errors import ConfigError
    from syncbridge.outcomes import OutcomeFileError, OutcomeSourceSettings, read_outcomes
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    if kind == "config":
        try:
            load_config(path, log_warnings=False)
            result = "accepted"
        except ConfigError as exc:
            result = "refused: " + str(exc).split(": ", 1)[1][:90]
    else:
        try:
            batch = read_outcomes(OutcomeSourceSettings(path=path))
            result = f"{len(batch.outcomes)} read, {len(batch.quarantined)} quarantined"
        except OutcomeFileError as exc:
            result = "refused: " + str(exc).split(": ", 1)[-1][:90]
    seconds = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"result": result, "seconds": round(seconds, 3), "peak_rss_mb": round(rss, 1),
                      "rss_before_mb": round(baseline, 1)}))
    """
)

ROW = (
    "MI-{i},s{i}@uni.example,Ada,Lovelace,,,Acme Corp,P-{i},Analytics,,,,,,2026-01-05,2026-02-01,"
    "completed,40,4.5,yes,,{comments},,\n"
)
HEADER = (
    "outcome_id,student_email,student_first_name,student_last_name,student_phone,student_school,employer,"
    "project_id,project_title,role_title,team,supervisor_name,supervisor_email,supervisor_title,start_date,"
    "end_date,status,hours,rating,would_hire,skills,comments,deliverables,submitted_at\n"
)


def cases(tmp: Path) -> list[tuple[str, str, Path]]:
    out: list[tuple[str, str, Path]] = []

    def add(name: str, kind: str, suffix: str, data: str) -> None:
        path = tmp / f"{len(out)}{suffix}"
        path.write_text(data, encoding="utf-8")
        out.append((name, kind, path))

    bomb = "version: 1\na: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    for prev, cur in zip("abcdefgh", "bcdefghi", strict=True):
        bomb += f"{cur}: &{cur} [{', '.join(['*' + prev] * 9)}]\n"
    add("config: billion laughs (9^9 nodes)", "config", ".yaml", bomb)
    add("config: 1 MiB of '['", "config", ".yaml", "version: 1\nx: " + "[" * (1024 * 1024 - 20))
    add("config: 400,000 nested block sequences", "config", ".yaml", "version: 1\nx:\n  " + "- " * 400_000)
    add("config: 5000-digit integer", "config", ".yaml", "version: 1\nx: " + "9" * 5000)
    huge = "A" * (50 * 1024 * 1024)
    add(
        "outcomes: 50 MB field in one CSV row of 3",
        "outcomes",
        ".csv",
        HEADER + "".join(ROW.format(i=i, comments=huge if i == 2 else "ok") for i in (1, 2, 3)),
    )
    add("outcomes: JSON nested 100,000 deep", "outcomes", ".json", "[" * 100_000 + "]" * 100_000)
    add(
        "outcomes: JSONL, one line nested 100,000 deep",
        "outcomes",
        ".jsonl",
        '{"outcome_id": "x"}\n' + "[" * 100_000 + "]" * 100_000 + "\n",
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name, kind, path in cases(Path(tmp)):
            done = subprocess.run(
                [sys.executable, "-c", CHILD, kind, str(path)], capture_output=True, text=True, timeout=300
            )
            line = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "{}"
            print(json.dumps({"case": name, **json.loads(line), "exit": done.returncode}))


if __name__ == "__main__":
    main()
