"""Conversion on Greenhouse end to end: strong micro-intern → job → live post → application + prescreen."""

from __future__ import annotations

import csv
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from syncbridge.cli import main
from syncbridge.connectors.greenhouse import sandbox
from syncbridge.demo_data import write_demo_outcomes
from test_greenhouse_e2e import GH

pytestmark = pytest.mark.e2e
SECRET_ENV = "SB_CONV_GH_SECRET"
TEMPLATE_JOB = 4100002  # the seeded "Template: Data Analyst (Entry Level)"
INTERNAL = "Sandbox Internal Jobs"  # the seeded live internal board (url token sandbox-internal)
PAUSED = "Sandbox Campus Board (paused)"  # seeded last, so first in list order; not live


@pytest.fixture
def gh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[sandbox.SandboxServer]:
    monkeypatch.setenv(SECRET_ENV, sandbox.DEFAULT_CLIENT_SECRET)
    db = tmp_path / "gh.db"
    sandbox.seed(db, size=120, seed=21)
    server = sandbox.SandboxServer(db, rate_limit=0).start()
    yield server
    server.stop()


def _config(
    write_config: Callable[..., Path],
    server: sandbox.SandboxServer,
    tmp: Path,
    *,
    approval: str = "auto",
    extra_rules: list[dict[str, Any]] | None = None,
    options: dict[str, Any] | None = None,
    connector: dict[str, Any] | None = None,
) -> Path:
    outcomes = tmp / "outcomes.csv"
    if not outcomes.exists():
        write_demo_outcomes(outcomes, sandbox.demo_people(server.db_path, n=12, seed=21))
    rule = {
        "name": "strong-intern",
        "when": {"employer": "Acme Corp", "min_rating": 4.5, "would_hire": True},
        "requisition": {
            "title": "{project.role_title}",
            "code": "MI-{project.team}-{project.role_title}",
            "fields": {"mi_source_project": "project.title"},
            "options": options or {"template_job_id": TEMPLATE_JOB, "publish": "internal", "board": INTERNAL},
        },
        "prescreen": {
            "fields": {"mi_prescreen_score": "prescreen.score", "mi_supervisor": "project.supervisor.name"}
        },
    }
    return write_config(
        {
            "acme-gh": {
                "type": "greenhouse",
                "client_id": sandbox.DEFAULT_CLIENT_ID,
                "client_secret": "${" + SECRET_ENV + "}",
                "user_id": 1000001,
                "base_url": server.url,
                "token_url": f"{server.url}/token",
                "max_attempts": 3,
                **(connector or {}),
            }
        },
        outcomes={"path": str(outcomes)},
        matching={"create_unmatched": True},
        history={"note": True, "tags": ["micro-intern"]},
        conversion={
            "enabled": True,
            "approval": approval,
            "approval_timeout_minutes": 1,
            "rules": [*(extra_rules or []), rule],
        },
    )


def _run(cfg: Path) -> dict[str, Any]:
    result = CliRunner().invoke(main, ["-c", str(cfg), "run", "--no-prefect", "--json"])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return dict(json.loads(result.stdout[result.stdout.index("{") :]))


def _rows(tmp: Path) -> list[dict[str, str]]:
    with (tmp / "outcomes.csv").open(encoding="utf-8") as fh:
        return [r for r in csv.DictReader(fh) if r["student_email"]]


def _strong(tmp: Path) -> list[dict[str, str]]:
    return [r for r in _rows(tmp) if float(r["rating"]) >= 4.5 and r["would_hire"].lower() in ("yes", "true")]


def _mi_jobs(api: GH) -> list[dict[str, Any]]:
    return [j for j in api.get("/v3/jobs") if str(j.get("requisition_id") or "").startswith("MI-")]


def _applications_on(api: GH, email: str, job_ids: set[int]) -> list[dict[str, Any]]:
    [person] = api.candidates(email)
    return [
        a for a in api.get("/v3/applications", candidate_ids=str(person["id"])) if a.get("job_id") in job_ids
    ]


def _ambiguous(summary: dict[str, Any], tmp: Path) -> set[str]:
    ids = {a["outcome_id"] for a in summary["ambiguous"]}
    return {r["student_email"] for r in _rows(tmp) if r["outcome_id"] in ids}


def test_reuses_an_open_requisition_with_the_same_code(
    gh: sandbox.SandboxServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    cfg = _config(write_config, gh, tmp_path)
    dry = CliRunner().invoke(main, ["-c", str(cfg), "run", "--no-prefect", "--dry-run", "--json"])
    planned = json.loads(dry.stdout[dry.stdout.index("{") :])
    code = planned["conversions"][0]["code"]
    api = GH(gh.url)
    existing = requests.post(
        f"{gh.url}/v3/jobs",
        headers=api.headers,
        timeout=10,
        json={
            "template_job_id": TEMPLATE_JOB,
            "number_of_openings": 2,
            "job_name": "Opened by hand",
            "requisition_id": code,
        },
    ).json()
    summary = _run(cfg)
    assert summary["actions"]["failed"] == 0
    same = [j for j in _mi_jobs(api) if j["requisition_id"] == code]
    assert [j["id"] for j in same] == [existing["id"]]
    assert any(
        c["code"] == code and f"reuses requisition {existing['id']}" in c["state"]
        for c in summary["conversions"]
    )


def test_vendor_422_fails_one_action_and_the_rest_apply(
    gh: sandbox.SandboxServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    cfg = _config(write_config, gh, tmp_path)
    dry = CliRunner().invoke(main, ["-c", str(cfg), "run", "--no-prefect", "--dry-run", "--json"])
    conv = json.loads(dry.stdout[dry.stdout.index("{") :])["conversions"]
    first_outcome = next(r for r in _rows(tmp_path) if r["outcome_id"] == conv[0]["outcome_id"])
    bad_rule = {  # the same team, a template job that does not exist: Greenhouse answers 422
        "name": "broken-template",
        "when": {"team": first_outcome["team"], "min_rating": 4.5},
        "requisition": {"options": {"template_job_id": 999, "publish": "internal", "board": INTERNAL}},
    }
    cfg = _config(write_config, gh, tmp_path, extra_rules=[bad_rule])
    result = CliRunner().invoke(main, ["-c", str(cfg), "run", "--no-prefect", "--json"])
    assert result.exit_code == 1
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    failed = summary["errors"]
    assert [e["action"] for e in failed] == ["create_requisition"]
    assert "HTTP 422" in failed[0]["error"] and "template" in failed[0]["error"].lower()
    assert summary["actions"]["applied"] > 0 and summary["actions"]["blocked"] >= 2  # its attach + prescreen


@pytest.mark.prefect
def test_manual_approval_through_the_flow_pause(
    gh: sandbox.SandboxServer, write_config: Callable[..., Path], tmp_path: Path, prefect_backend: None
) -> None:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
    from prefect.client.schemas.objects import StateType
    from prefect.flow_runs import resume_flow_run

    from syncbridge.flows.runs import PipelineParams, pipeline_flow

    cfg = _config(write_config, gh, tmp_path, approval="manual")
    out: dict[str, Any] = {}

    def run_flow(timeout: int) -> None:
        out["state"] = pipeline_flow(
            params=PipelineParams(config=str(cfg), approval_timeout_seconds=timeout), return_state=True
        )

    def _start_paused(target: Callable[[int], None]) -> Any:
        """Start the pipeline in a thread and wait until it pauses for approval."""
        out["worker"] = threading.Thread(target=target, args=(120,))
        out["worker"].start()
        deadline = time.monotonic() + 90
        with get_client(sync_client=True) as client:
            while time.monotonic() < deadline:
                runs = client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(
                        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
                    )
                )
                if runs:
                    return runs[0]
                time.sleep(0.5)
        raise AssertionError("the flow never paused for approval")

    # 1. nobody answers: the run ends, the conversions stay pending and nothing is opened
    run_flow(timeout=2)
    summary = out["state"].result()
    assert {c["state"] for c in summary["conversions"]} == {"awaiting approval"}
    api = GH(gh.url)
    assert _mi_jobs(api) == []

    # 2. the approver answers in the pause (as the Prefect UI would)
    first, second = summary["conversions"][0], summary["conversions"][1]
    paused = _start_paused(run_flow)
    resume_flow_run(paused.id, run_input={"approve": [first["approval"]], "approver": "test"})
    out["worker"].join(120)
    summary = out["state"].result()
    states = {c["outcome_id"]: c["state"] for c in summary["conversions"]}
    assert states[first["outcome_id"]].startswith("approved")
    assert {j["requisition_id"] for j in _mi_jobs(api)} == {first["code"]}

    # 3. the approver answers from a terminal while the run waits: `syncbridge approve` resumes it
    _start_paused(run_flow)
    approved = CliRunner().invoke(main, ["-c", str(cfg), "approve", second["approval"]])
    assert approved.exit_code == 0 and "resumed flow run" in approved.output, approved.output
    out["worker"].join(120)
    summary = out["state"].result()
    states = {c["outcome_id"]: c["state"] for c in summary["conversions"]}
    assert states[second["outcome_id"]].startswith("approved")
    assert second["code"] in {j["requisition_id"] for j in _mi_jobs(api)}


def _board(gh: sandbox.SandboxServer, token: str) -> list[dict[str, Any]]:
    """What a person browsing the board sees (the sandbox's candidate-facing board view)."""
    r = requests.get(f"{gh.url}/boards/{token}/jobs", timeout=10)
    r.raise_for_status()
    return list(r.json()["jobs"])


def _validate_online(cfg: Path) -> Any:
    return CliRunner().invoke(main, ["-c", str(cfg), "validate", "--online"])


def test_the_new_jobs_own_post_goes_live_on_the_named_board_and_browsers_see_it(
    gh: sandbox.SandboxServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    api = GH(gh.url)
    template_posts = api.get("/v3/job_posts", job_ids=str(TEMPLATE_JOB))
    content = "<p>Join the team that hosted your micro-internship.</p>"
    options = {
        "template_job_id": TEMPLATE_JOB,
        "publish": "internal",
        "board": INTERNAL,
        "post_content": content,
    }
    cfg = _config(write_config, gh, tmp_path, options=options)
    assert _validate_online(cfg).exit_code == 0
    summary = _run(cfg)
    assert summary["actions"]["failed"] == 0, summary["errors"]
    jobs = _mi_jobs(api)
    assert jobs
    # the template job is untouched: no post was copied or published on it
    assert api.get("/v3/job_posts", job_ids=str(TEMPLATE_JOB)) == template_posts
    [internal] = [b for b in api.get("/v3/job_boards") if b["name"] == INTERNAL]
    seen = _board(gh, "sandbox-internal")
    for job in jobs:
        posts = api.get("/v3/job_posts", job_ids=str(job["id"]))
        live = [p for p in posts if p["live"]]
        assert [p["job_board_id"] for p in live] == [internal["id"]]
        assert [v["id"] for v in seen if v["internal_job_id"] == job["id"]] == [live[0]["id"]]
        [view] = [v for v in seen if v["internal_job_id"] == job["id"]]
        assert view["content"] == content and view["title"] == job["name"]
        # the job's notes come from the rule, not from the template job
        assert "Template:" not in job["notes"] and "Data Analyst (Entry Level)" not in job["notes"]
        assert job["name"] in job["notes"] and "What it showed" in job["notes"]
    assert _board(gh, "sandbox-campus") == []


def test_a_paused_ambiguous_or_unnamed_board_is_refused(
    gh: sandbox.SandboxServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    api = GH(gh.url)
    before = api.get("/v3/job_posts")
    unnamed = _config(
        write_config, gh, tmp_path, options={"template_job_id": TEMPLATE_JOB, "publish": "external"}
    )
    result = _validate_online(unnamed)
    assert result.exit_code != 0 and "requisition.options.board" in result.output
    assert "Traceback" not in result.output
    paused = _config(
        write_config,
        gh,
        tmp_path,
        options={"template_job_id": TEMPLATE_JOB, "publish": "internal", "board": PAUSED},
    )
    result = _validate_online(paused)
    assert result.exit_code != 0 and "is not live" in result.output
    # run anyway: the job is refused with that line before it is made; nothing is opened or posted
    out = CliRunner().invoke(main, ["-c", str(paused), "run", "--no-prefect", "--json"])
    summary = json.loads(out.stdout[out.stdout.index("{") :])
    errors = summary["errors"]
    assert errors and {e["action"] for e in errors} == {"create_requisition"}
    assert all("is not live" in e["error"] for e in errors)
    assert summary["actions"]["blocked"] >= 2  # its publish, attach and prescreen
    assert _mi_jobs(api) == [] and api.get("/v3/job_posts") == before


def test_created_applications_and_prospects_carry_the_micro_internship_source(
    gh: sandbox.SandboxServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    api = GH(gh.url)
    [source] = [s for s in api.get("/v3/sources") if s["name"] == "Micro-internship"]
    before = {a["id"] for a in api.get("/v3/applications")}
    cfg = _config(write_config, gh, tmp_path)
    summary = _run(cfg)
    assert summary["actions"]["failed"] == 0, summary["errors"]
    created = [a for a in api.get("/v3/applications") if a["id"] not in before]
    assert any(a["prospect"] for a in created) and any(not a["prospect"] for a in created)
    assert {a["source_id"] for a in created} == {source["id"]}
    jobs = {j["id"] for j in _mi_jobs(api)}
    converted = [a for a in api.get("/v3/applications") if a.get("job_id") in jobs]
    assert converted and {a["source_id"] for a in converted} == {source["id"]}
    # the prescreen on Greenhouse: the application's custom field and the summary as an attachment
    for r in [r for r in _strong(tmp_path) if r["student_email"] not in _ambiguous(summary, tmp_path)]:
        [app] = _applications_on(api, r["student_email"], jobs)
        assert app["prospect"] is False
        assert app["custom_fields"]["mi_prescreen_score"]["value"] == float(r["rating"])
        atts = api.get("/v3/attachments", application_ids=str(app["id"]))
        assert any(a["filename"].startswith("micro-internship-prescreen-") for a in atts)


def test_an_unknown_source_name_is_one_clear_line(
    gh: sandbox.SandboxServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    cfg = _config(write_config, gh, tmp_path, connector={"source_name": "Campus Partners"})
    result = _validate_online(cfg)
    assert result.exit_code != 0 and "no source named 'Campus Partners'" in result.output
    assert "Traceback" not in result.output
