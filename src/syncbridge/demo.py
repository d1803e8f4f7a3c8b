"""``syncbridge demo``: the whole product on one machine, against a local Greenhouse sandbox.

Everything lives in one working directory (default ``.syncbridge/``): the sandbox's data, the state
store, the outcomes file, the generated config and, unless a Prefect server is configured, Prefect's
home.  A second run reuses all of it, so it sees the first run's writes and plans nothing.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

DEMO_EMPLOYER = "Acme Corp"
CONNECTOR = "acme-greenhouse"
ENV_ID, ENV_SECRET = "SB_DEMO_GH_CLIENT_ID", "SB_DEMO_GH_CLIENT_SECRET"


def prepare_prefect_env(workdir: Path, *, verbose: bool = False) -> str:
    """Point Prefect at the demo's own home unless a server is configured.  Must run before Prefect is
    imported; returns a one-line description of where runs are recorded."""
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "syncbridge")
    # a fresh ephemeral database is migrated on first start: ~13 s on 2 cores, more under load
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    if os.environ.get("PREFECT_API_URL"):
        return f"Prefect server at {os.environ['PREFECT_API_URL']}"
    profile_url = _profile_api_url()
    if profile_url:
        return f"Prefect server at {profile_url} (from your Prefect profile)"
    if "prefect" in sys.modules:
        return "the Prefect API this process already uses"
    home = (workdir / "prefect").resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["PREFECT_HOME"] = str(home)
    return f"Prefect ephemeral mode, history in {home}"


def _profile_api_url() -> str | None:
    """PREFECT_API_URL of the user's active Prefect profile, read without importing Prefect."""
    import tomllib

    home = Path(os.environ.get("PREFECT_HOME", Path.home() / ".prefect"))
    path = Path(os.environ.get("PREFECT_PROFILES_PATH", home / "profiles.toml"))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return None
    active = os.environ.get("PREFECT_PROFILE") or data.get("active")
    profile = data.get("profiles", {}).get(active, {}) if isinstance(active, str) else {}
    url = profile.get("PREFECT_API_URL") if isinstance(profile, dict) else None
    return url if isinstance(url, str) and url else None


def reset(workdir: Path) -> None:
    for name in (
        "greenhouse-sandbox.db",
        "greenhouse-sandbox.db-wal",
        "greenhouse-sandbox.db-shm",
        "state.db",
        "state.db-wal",
        "state.db-shm",
        "outcomes.csv",
        "demo.yaml",
        ".env",
    ):
        (workdir / name).unlink(missing_ok=True)
    shutil.rmtree(workdir / "prefect", ignore_errors=True)


def write_config(workdir: Path, base_url: str) -> Path:
    config = {
        "version": 1,
        "state": {"url": f"sqlite:///{(workdir / 'state.db').resolve()}"},
        "outcomes": {"path": str((workdir / "outcomes.csv").resolve())},
        "connectors": {
            CONNECTOR: {
                "type": "greenhouse",
                "client_id": f"${{{ENV_ID}}}",
                "client_secret": f"${{{ENV_SECRET}}}",
                "user_id": 1000001,  # the seeded Site Admin (Ada Admin)
                "base_url": base_url,
                "token_url": f"{base_url}/token",
            }
        },
        "routing": [{"employer": DEMO_EMPLOYER, "connector": CONNECTOR}],
        "matching": {"create_unmatched": True, "new_candidate_tags": ["micro-intern-sourced"]},
        "history": {
            "note": True,
            "tags": ["micro-intern"],
            "fields": {
                "mi_rating": "evaluation.rating",
                "mi_last_project": "project.title",
                "mi_skills": "evaluation.skills",
                "mi_would_hire": "evaluation.would_hire",
            },
        },
        "conversion": {
            "enabled": True,
            "approval": "auto",
            "rules": [
                {
                    "name": "strong-intern",
                    "when": {"employer": DEMO_EMPLOYER, "min_rating": 4.5, "would_hire": True},
                    "requisition": {
                        "title": "{project.role_title}",
                        "code": "MI-{project.team}-{project.role_title}",
                        "fields": {"mi_source_project": "project.title"},
                        # the seeded "Template: Data Analyst (Entry Level)" job; posts go live internally
                        "options": {"template_job_id": 4100002, "publish": "internal"},
                    },
                    "prescreen": {
                        "fields": {
                            "mi_prescreen_score": "prescreen.score",
                            "mi_prescreen_summary": "prescreen.summary",
                            "mi_supervisor": "project.supervisor.name",
                        },
                    },
                }
            ],
        },
    }
    path = workdir / "demo.yaml"
    header = "# written by `syncbridge demo`; the sandbox's port changes on every run\n"
    path.write_text(header + yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def run_demo(
    workdir: Path,
    *,
    do_reset: bool = False,
    size: int = 500,
    seed: int = 7,
    fault_rate: float = 0.0,
    use_prefect: bool = True,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> dict[str, Any]:
    from syncbridge.connectors.greenhouse import sandbox
    from syncbridge.outcomes import write_demo_outcomes

    workdir.mkdir(parents=True, exist_ok=True)
    if do_reset:
        reset(workdir)
    db = workdir / "greenhouse-sandbox.db"
    sandbox.seed(db, size=size, seed=seed)
    outcomes_path = workdir / "outcomes.csv"
    if not outcomes_path.exists():
        write_demo_outcomes(
            outcomes_path, sandbox.demo_people(db, n=12, seed=seed), employer=DEMO_EMPLOYER, seed=seed
        )
    # the sandbox's (not secret) credentials go to a .env beside demo.yaml, so `syncbridge -c
    # .syncbridge/demo.yaml status|plan|...` works afterwards exactly like a real installation
    (workdir / ".env").write_text(
        f"{ENV_ID}={sandbox.DEFAULT_CLIENT_ID}\n{ENV_SECRET}={sandbox.DEFAULT_CLIENT_SECRET}\n",
        encoding="utf-8",
    )
    with sandbox.SandboxServer(db, fault_rate=fault_rate, rate_limit=0) as server:
        config = write_config(workdir, server.url)
        if use_prefect:
            from syncbridge.flows.pipeline import PipelineParams, run_and_summarize
            from syncbridge.pipeline import RunFailed

            try:
                summary: dict[str, Any] = run_and_summarize("pipeline", PipelineParams(config=str(config)))
            except RunFailed as failed:  # some writes failed: the summary says which
                summary = failed.summary
        else:
            from syncbridge.pipeline import Runtime, run_all

            with Runtime.from_file(config) as rt:
                summary = run_all(rt, progress=progress or (lambda *_: None)).as_dict()
    summary["where"] = {
        "workdir": str(workdir.resolve()),
        "config": str(config.resolve()),
        "state": str((workdir / "state.db").resolve()),
        "outcomes": str(outcomes_path.resolve()),
    }
    return summary
