"""``syncbridge demo``: the whole product on one machine, against local vendor sandboxes.

Everything lives in one working directory (default ``.syncbridge/``): each sandbox's data, the state
store, the outcomes file, the generated config with its ``.env``, and, unless a Prefect server is
configured, Prefect's home.  A second run reuses all of it, so it sees the first run's writes and plans
nothing.  With several vendors, each one is a different employer and outcomes are routed by employer.
"""

from __future__ import annotations

import csv
import shutil
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from syncbridge.plugins import Sandbox


def demo_sandboxes() -> dict[str, Sandbox]:
    """Every registered vendor that ships a sandbox, by name, the default demo vendor first."""
    from syncbridge.plugins import sandbox_vendors

    found = {name: v.sandbox() for name, v in sandbox_vendors().items()}
    return dict(sorted(found.items(), key=lambda item: (item[1].demo_order, item[0])))


def default_vendor() -> str:
    """What ``syncbridge demo`` runs without ``--vendor``: the sandbox with the lowest ``demo_order``."""
    names = list(demo_sandboxes())
    if not names:
        from syncbridge.errors import ConfigError

        raise ConfigError("no vendor sandbox is installed (entry-point group syncbridge.sandboxes)")
    return names[0]


def reset(workdir: Path) -> None:
    for pattern in ("*-sandbox.db*", "state.db*", "outcomes*.csv", "demo.yaml", ".env"):
        for path in workdir.glob(pattern):
            path.unlink(missing_ok=True)
    shutil.rmtree(workdir / "prefect", ignore_errors=True)


def parse_vendors(text: str | None) -> list[Sandbox]:
    """``--vendor``: one name, a comma list or ``all``; empty = the default vendor."""
    available = demo_sandboxes()
    names = [v.strip().lower() for v in (text or default_vendor()).split(",") if v.strip()]
    if names == ["all"]:
        names = list(available)
    unknown = [n for n in names if n not in available]
    if unknown or not names:
        from syncbridge.errors import ConfigError

        raise ConfigError(f"--vendor: {', '.join(unknown) or 'none'} not one of {', '.join(available)}, all")
    return [available[n] for n in dict.fromkeys(names)]


def _early_talent_and_review_cases(rows: list[dict[str, str]], people: list[dict[str, Any]]) -> None:
    """Two cases recruiters should see in the demo, added to one vendor's sample rows:

    * **nurture**: the first strong student gets an expected graduation more than two years away, so the
      rule nurtures them as a prospect instead of opening a role;
    * **review**: a later outcome of an e-mail-matched student, sent with a new personal address and
      no phone; the same name and school are evidence, but not enough to write without a person
      (``syncbridge review``)."""
    from datetime import date, timedelta

    real = rows[: len(people)]  # one row per person, in order; the two bad rows follow
    strong = next(
        (r for r in real if float(r["rating"]) >= 4.5 and r["would_hire"].lower() in ("yes", "true")), None
    )
    if strong is not None:
        strong["graduation_date"] = (date.today() + timedelta(days=800)).isoformat()
    known = next(
        (r for r, p in zip(real, people, strict=False) if p.get("kind") == "primary" and r is not strong),
        None,
    )
    if known is not None:
        local = known["student_email"].split("@")[0]
        rows.append(
            {
                **known,
                "outcome_id": f"{known['outcome_id']}-LATER",
                "project_id": f"{known['project_id']}-LATER",
                "student_email": f"{local}.personal@mail.example",
                "student_phone": "",
            }
        )


def write_outcomes(path: Path, vendors: list[Sandbox], dbs: dict[str, Path], seed: int) -> None:
    """Sample outcomes for every vendor's employer, in one CSV (ids prefixed per vendor)."""
    from syncbridge.demo_data import write_demo_outcomes

    rows: list[dict[str, str]] = []
    header: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for v in vendors:
            part = Path(tmp) / f"{v.vendor}.csv"
            people = v.demo_people(dbs[v.vendor], n=12, seed=seed)
            write_demo_outcomes(part, people, employer=v.employer, seed=seed)
            with part.open(encoding="utf-8", newline="") as fh:
                reader = csv.DictReader(fh)
                header = list(reader.fieldnames or [])
                mine = list(reader)
            _early_talent_and_review_cases(mine, people)
            for row in mine:
                row["outcome_id"] = f"{v.outcome_prefix}-{row['outcome_id']}"
                rows.append(row)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


def demo_config(
    workdir: Path, vendors: list[Sandbox], urls: dict[str, str], outcomes: Path
) -> dict[str, Any]:
    connectors = {v.connector_name: v.connector_block(urls[v.vendor]) for v in vendors}
    fields: dict[str, str] = {}
    for v in vendors:  # e.g. the custom fields a sandbox seeds (a vendor without them adds none)
        fields.update(v.history_fields())
    config: dict[str, Any] = {
        "version": 1,
        "state": {"url": f"sqlite:///{(workdir / 'state.db').resolve()}"},
        "outcomes": {"path": str(outcomes.resolve())},
        "connectors": connectors,
        "routing": [{"employer": v.employer, "connector": v.connector_name} for v in vendors],
        "matching": {"create_unmatched": True, "new_candidate_tags": ["micro-intern-sourced"]},
        "history": {"note": True, "tags": ["micro-intern"], "fields": fields},
    }
    # a sandbox that supports conversion says how its demo opens roles (template ids, boards, ...)
    rules = []
    for v in vendors:
        rule = v.conversion_rule(v.employer)
        if rule is None:
            continue
        nurture = v.nurture_options()
        if nurture is not None:
            # early talent: a strong student graduating more than a year from now is nurtured instead
            rule["nurture_when"] = {"graduation_after_months": 12}
            rule["nurture"] = {"tags": ["early-talent"], "options": nurture}
        rules.append(rule)
    if rules:
        config["conversion"] = {"enabled": True, "approval": "auto", "rules": rules}
    return config


def run_demo(
    workdir: Path,
    *,
    vendors: list[Sandbox] | None = None,
    do_reset: bool = False,
    size: int = 500,
    seed: int = 7,
    fault_rate: float = 0.0,
    use_prefect: bool = True,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> dict[str, Any]:
    vendors = vendors or parse_vendors(None)
    workdir.mkdir(parents=True, exist_ok=True)
    if do_reset:
        reset(workdir)
    dbs = {v.vendor: workdir / f"{v.vendor}-sandbox.db" for v in vendors}
    for v in vendors:
        v.seed(dbs[v.vendor], size=size, seed=seed)
    suffix = "+".join(v.vendor for v in vendors)
    outcomes = workdir / ("outcomes.csv" if suffix == default_vendor() else f"outcomes-{suffix}.csv")
    if not outcomes.exists():
        write_outcomes(outcomes, vendors, dbs, seed)
    # the sandboxes' (not secret) credentials go to a .env beside demo.yaml, so `syncbridge -c
    # .syncbridge/demo.yaml status|plan|...` works afterwards exactly like a real installation
    env: dict[str, str] = {}
    for v in vendors:
        env.update(v.env)
    (workdir / ".env").write_text("".join(f"{k}={val}\n" for k, val in env.items()), encoding="utf-8")
    with ExitStack() as stack:
        urls = {}
        for v in vendors:
            options = {**v.demo_server_options, "fault_rate": fault_rate}
            urls[v.vendor] = stack.enter_context(v.server(dbs[v.vendor], **options)).url
        config = workdir / "demo.yaml"
        header = "# written by `syncbridge demo`; the sandboxes' ports change on every run\n"
        config.write_text(
            header + yaml.safe_dump(demo_config(workdir, vendors, urls, outcomes), sort_keys=False),
            encoding="utf-8",
        )
        if use_prefect:
            from syncbridge.flows.runs import PipelineParams, run_and_summarize
            from syncbridge.steps import RunFailed

            try:
                summary: dict[str, Any] = run_and_summarize("pipeline", PipelineParams(config=str(config)))
            except RunFailed as failed:  # some writes failed: the summary says which
                summary = failed.summary
        else:
            from syncbridge.steps import Runtime, run_all

            with Runtime.from_file(config) as rt:
                summary = run_all(rt, progress=progress or (lambda *_: None)).as_dict()
    summary["where"] = {
        "workdir": str(workdir.resolve()),
        "config": str(config.resolve()),
        "state": str((workdir / "state.db").resolve()),
        "outcomes": str(outcomes.resolve()),
    }
    return summary
