"""Conversion on Workday end to end, through the CLI against the WWS sandbox: strong micro-intern →
Create_Job_Requisition (code = Job_Requisition_ID) → Put_Candidate with Job_Application_Data → Move_Candidate
→ the prescreen summary as a job application attachment."""

from __future__ import annotations

import csv
import json
import sqlite3
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from conftest import edit_outcome
from syncbridge.cli import main
from syncbridge.connectors.workday import envelopes, parse, sandbox
from syncbridge.connectors.workday.envelopes import NewJobRequisition, WdRef
from syncbridge.demo_data import write_demo_outcomes

pytestmark = pytest.mark.e2e
CONNECTOR = "acme-wd"
SIZE, SEED = 120, 11


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in sandbox.DEMO_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def wd(tmp_path: Path) -> Iterator[sandbox.SandboxServer]:
    db = tmp_path / "wd.db"
    sandbox.seed(db, size=SIZE, seed=SEED)
    server = sandbox.SandboxServer(db).start()
    yield server
    server.stop()


def _rule(**options: Any) -> dict[str, Any]:
    rule = sandbox.demo_conversion_rule("Acme Corp")
    rule["requisition"]["options"].update(options)
    return rule


def _config(
    write_config: Callable[..., Path],
    server: sandbox.SandboxServer,
    tmp: Path,
    *,
    rule: dict[str, Any] | None = None,
    extra_rules: list[dict[str, Any]] | None = None,
    state: Path | None = None,
    **block: Any,
) -> Path:
    outcomes = tmp / "outcomes.csv"
    if not outcomes.exists():
        write_demo_outcomes(outcomes, sandbox.demo_people(server.db_path, n=12, seed=SEED))
    sections: dict[str, Any] = {"state": {"url": f"sqlite:///{state}"}, "name": "other.yaml"} if state else {}
    return write_config(
        {CONNECTOR: {**sandbox.demo_connector_block(server.url), **block}},
        **sections,
        outcomes={"path": str(outcomes)},
        matching={"create_unmatched": True, "new_candidate_tags": ["micro-intern-sourced"]},
        history={"note": True, "tags": ["micro-intern"]},
        conversion={
            "enabled": True,
            "approval": "auto",
            "rules": [*(extra_rules or []), rule or _rule()],
        },
    )


def _invoke(cfg: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(main, ["-c", str(cfg), "run", "--no-prefect", "--json", *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, dict(json.loads(result.stdout[result.stdout.index("{") :]))


def _run(cfg: Path) -> dict[str, Any]:
    return _invoke(cfg)[1]


def _rows(tmp: Path) -> list[dict[str, str]]:
    with (tmp / "outcomes.csv").open(encoding="utf-8") as fh:
        return [r for r in csv.DictReader(fh) if r["student_email"]]


def _strong(tmp: Path) -> list[dict[str, str]]:
    return [r for r in _rows(tmp) if float(r["rating"]) >= 4.5 and r["would_hire"].lower() in ("yes", "true")]


def _ambiguous(summary: dict[str, Any], tmp: Path) -> set[str]:
    ids = {a["outcome_id"] for a in summary["ambiguous"]}
    return {r["student_email"] for r in _rows(tmp) if r["outcome_id"] in ids}


class Tenant:
    """What really landed in the sandbox, read without the connector."""

    def __init__(self, server: sandbox.SandboxServer) -> None:
        self.server = server

    def sql(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(self.server.db_path)
        try:
            return conn.execute(query, args).fetchall()
        finally:
            conn.close()

    def mi_requisitions(self) -> list[dict[str, Any]]:
        ids = [r[0] for r in self.sql("SELECT req_id FROM requisitions WHERE req_id LIKE 'MI-%' ORDER BY pk")]
        return [self.requisition(i) for i in ids]

    def requisition(self, req_id: str) -> dict[str, Any]:
        return dict(requests.get(f"{self.server.url}/_sandbox/requisitions/{req_id}", timeout=10).json())

    def approve(self, req_id: str) -> None:
        requests.post(
            f"{self.server.url}/_sandbox/requisitions/{req_id}", json={"status": "Open"}, timeout=10
        ).raise_for_status()

    def wids(self, email: str) -> list[str]:
        return [
            r[0]
            for r in self.sql(
                "SELECT DISTINCT c.wid FROM candidate_emails e JOIN candidates c ON c.pk = e.cand_pk "
                "WHERE e.email_lc = ? ORDER BY c.pk",
                email.strip().lower(),
            )
        ]

    def applications(self, email: str, req_ids: set[str]) -> list[dict[str, Any]]:
        [wid] = self.wids(email)
        person = requests.get(f"{self.server.url}/_sandbox/candidates/{wid}", timeout=10).json()
        return [a for a in person["applications"] if a["requisition_id"] in req_ids]

    def stats(self) -> dict[str, Any]:
        return dict(requests.get(f"{self.server.url}/_sandbox/stats", timeout=10).json())

    def soap(self, el: ET.Element) -> ET.Element:
        data = envelopes.envelope(el, username=sandbox.DEFAULT_USERNAME, password=sandbox.DEFAULT_PASSWORD)
        r = requests.post(
            self.server.service_url, data=data, headers={"Content-Type": "text/xml"}, timeout=10
        )
        assert r.status_code == 200, r.text[:400]
        payload = parse.body_payload(parse.parse_document(r.content))
        assert not isinstance(payload, parse.SoapFault)
        return payload


def _open_by_hand(tenant: Tenant, code: str) -> str:
    """A requisition opened in Workday by a person (already approved) that carries ``code``; its WID."""
    made = tenant.soap(
        envelopes.create_job_requisition(
            sandbox.DEFAULT_VERSION,
            NewJobRequisition(
                title="Opened by hand",
                reason=WdRef("General_Event_Subcategory_ID", "NEW_HEADCOUNT"),
                supervisory_organization=WdRef("Organization_Reference_ID", "SUP-ENG"),
                requisition_id=code,
                openings=2,
            ),
            auto_complete=True,
        )
    )
    refs = parse.children_named(made, ["Job_Requisition_Reference"])["Job_Requisition_Reference"]
    return parse.ref_ids(refs[0])["WID"]


def _assert_applied_to(tenant: Tenant, tmp: Path, summary: dict[str, Any], code: str, wid: str) -> None:
    assert [r["wid"] for r in tenant.mi_requisitions() if r["req_id"] == code] == [wid]
    assert tenant.requisition(code)["title"] == "Opened by hand"
    for c in (c for c in summary["conversions"] if c["code"] == code):
        person = next(r for r in _rows(tmp) if r["outcome_id"] == c["outcome_id"])
        [app] = tenant.applications(person["student_email"], {code})
        assert len(app["attachments"]) == 1


def test_reuses_an_open_requisition_with_the_same_code(
    wd: sandbox.SandboxServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    # learn the code with a throw-away state, so the real first sync sees the hand-made requisition
    _code, planned = _invoke(_config(write_config, wd, tmp_path, state=tmp_path / "dry.db"), "--dry-run")
    code = planned["conversions"][0]["code"]
    tenant = Tenant(wd)
    wid = _open_by_hand(tenant, code)
    time.sleep(1.1)  # As_Of_Entry_DateTime has whole seconds: let the first sync's moment pass it
    summary = _run(_config(write_config, wd, tmp_path))
    assert summary["actions"]["failed"] == 0, summary["errors"]
    same_code = [c for c in summary["conversions"] if c["code"] == code]
    assert same_code and all(f"reuses requisition {wid}" in c["state"] for c in same_code)
    _assert_applied_to(tenant, tmp_path, summary, code, wid)


def test_a_requisition_the_mirror_cannot_show_yet_is_found_by_code(
    wd: sandbox.SandboxServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    """Opened by hand after the last sync: the transaction-log lag hides it from the mirror, so the plan
    says "new requisition", but Create_Job_Requisition is not sent: the code finds the existing one."""
    cfg = _config(write_config, wd, tmp_path)
    _code, planned = _invoke(cfg, "--dry-run")
    code = planned["conversions"][0]["code"]
    tenant = Tenant(wd)
    wid = _open_by_hand(tenant, code)
    created_before = tenant.stats()["requisitions_created"]
    summary = _run(cfg)
    assert summary["actions"]["failed"] == 0, summary["errors"]
    codes = {c["code"] for c in summary["conversions"]}
    assert tenant.stats()["requisitions_created"] == created_before + len(codes) - 1
    _assert_applied_to(tenant, tmp_path, summary, code, wid)
    again = _run(cfg)
    assert again["actions"]["planned"] == 0
    assert all(f"reuses requisition {wid}" in c["state"] for c in again["conversions"] if c["code"] == code)


def test_validation_fault_fails_one_action_and_the_rest_apply(
    wd: sandbox.SandboxServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    cfg = _config(write_config, wd, tmp_path)
    code, dry = _invoke(cfg, "--dry-run")
    team = next(r["team"] for r in _rows(tmp_path) if r["outcome_id"] == dry["conversions"][0]["outcome_id"])
    broken = _rule(supervisory_organization="SUP-NOPE")  # an organisation the tenant does not have
    broken["name"] = "broken-organisation"
    broken["when"]["team"] = team
    cfg = _config(write_config, wd, tmp_path, extra_rules=[broken])
    code, summary = _invoke(cfg)
    assert code == 1
    failed = summary["errors"]
    assert [e["action"] for e in failed] == ["create_requisition"]
    message = failed[0]["error"]
    assert "'SUP-NOPE' is not a valid ID value" in message and "Organization_Reference_ID" in message
    assert "Supervisory_Organization_Reference[1]" in message  # the fault's Xpath
    assert summary["actions"]["applied"] > 0 and summary["actions"]["blocked"] >= 2  # its attach + prescreen
    reqs = Tenant(wd).mi_requisitions()
    broken_codes = {c["code"] for c in summary["conversions"] if c["rule"] == "broken-organisation"}
    assert reqs and not broken_codes & {r["req_id"] for r in reqs}


def test_publish_waits_for_the_approval_then_posts_once(
    wd: sandbox.SandboxServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    cfg = _config(write_config, wd, tmp_path, rule=_rule(publish="INTERNAL"))
    tenant = Tenant(wd)
    code, first = _invoke(cfg)
    assert code == 1  # Post_Job refuses a requisition whose approval is not complete
    assert {e["action"] for e in first["errors"]} == {"publish"}
    assert all("must be open to be posted" in e["error"] for e in first["errors"])
    reqs = tenant.mi_requisitions()
    assert reqs and all(r["postings"] == [] for r in reqs)
    assert tenant.stats()["application_attachments"] > 0  # the rest applied meanwhile

    for r in reqs:
        tenant.approve(r["req_id"])  # the approvers finish the business process
    code, second = _invoke(cfg)
    assert code == 0 and second["actions"]["failed"] == 0, second["errors"]
    assert second["actions"]["applied"] == len(reqs)
    for r in tenant.mi_requisitions():
        assert [(p["site"], p["active"]) for p in r["postings"]] == [("INTERNAL", True)]
    code, third = _invoke(cfg)
    assert code == 0 and third["actions"]["planned"] == 0
    assert tenant.stats()["jobs_posted"] == len(reqs)


def test_conversion_on_workday_and_the_micro_internship_source(
    wd: sandbox.SandboxServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    """How a conversion looks in the tenant (that it happens once, and not again, is the conformance
    suite's): the requisition's reference data, the application moved to Screen with the prescreen
    summary attached, and the Micro-internship source on created prospects and applications."""
    tenant = Tenant(wd)
    cfg = _config(write_config, wd, tmp_path)
    summary = _run(cfg)
    assert summary["actions"]["failed"] == 0, summary["errors"]
    assert all(c["state"] == "auto, new requisition" for c in summary["conversions"])
    reqs = tenant.mi_requisitions()
    assert reqs
    for req in reqs:
        # Auto_Complete false: the tenant's approval process runs, the requisition waits for it
        assert req["status"] == "Awaiting Approval" and req["origin"] == "api"
        assert (req["org_id"], req["reason"], req["job_profile"]) == (
            "SUP-DATA",
            "INTERN_CONVERSION",
            "JP-GRADUATE",
        )
        assert (req["location_id"], req["worker_type"], req["time_type"]) == (
            "REMOTE",
            "Employee",
            "Full_time",
        )
        assert req["start_date"] and req["target_hire_date"] and req["postings"] == []
        # the description comes from the rule (role, team, what the micro-internship showed)
        assert req["title"] in req["description"] and "What it showed" in req["description"]
    req_ids = {r["req_id"] for r in reqs}
    strong = [r for r in _strong(tmp_path) if r["student_email"] not in _ambiguous(summary, tmp_path)]
    for r in strong:
        [app] = tenant.applications(r["student_email"], req_ids)
        assert app["stage"] == "Screen"  # applied in Review, then Move_Candidate to the Screen step
        [doc] = app["attachments"]
        assert doc["filename"].startswith("micro-internship-prescreen-") and "syncbridge:" in doc["comment"]
        assert (
            "Prescreen fields" in doc["content"]
            and f"mi_prescreen_score: {float(r['rating'])}" in doc["content"]
        )
        assert doc["content"].rstrip().endswith("]")
    stats = tenant.stats()
    assert stats["moves"] == stats["applications_created"] == len(strong)

    created = tenant.sql("SELECT source FROM candidates WHERE origin = 'api'")
    assert created and {r[0] for r in created} == {"Micro-internship"}  # Prospect_Data/Source_Reference
    sources = tenant.sql(
        "SELECT a.source FROM applications a JOIN requisitions r ON r.pk = a.req_pk "
        "WHERE r.req_id LIKE 'MI-%'"
    )
    assert sources and {r[0] for r in sources} == {"Micro-internship"}  # Job_Applied_To_Data/Source_Reference


def test_an_unknown_source_id_fails_the_write_with_the_tenants_message(
    wd: sandbox.SandboxServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    cfg = _config(write_config, wd, tmp_path, application_source="NOT_A_SOURCE")
    code, summary = _invoke(cfg)
    assert code == 1
    failed = {e["action"] for e in summary["errors"]}
    assert failed <= {"create_candidate", "attach"} and failed
    assert all("NOT_A_SOURCE" in e["error"] for e in summary["errors"])


def test_a_strong_student_far_from_graduation_becomes_a_nurtured_prospect(
    wd: sandbox.SandboxServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    from datetime import date, timedelta

    tenant = Tenant(wd)
    cfg = _config(write_config, wd, tmp_path)
    ambiguous = _ambiguous(_invoke(cfg, "--dry-run")[1], tmp_path)
    early = next(r for r in _strong(tmp_path) if r["student_email"] not in ambiguous)
    far = date.today() + timedelta(days=800)
    edit_outcome(tmp_path / "outcomes.csv", early["outcome_id"], graduation_date=far.isoformat())
    rule = _rule()
    rule["nurture_when"] = {"graduation_after_months": 12}
    rule["nurture"] = {"tags": ["early-talent"], "options": {"prospect_status": "NURTURE"}}
    tag_ids = {**sandbox.demo_connector_block(wd.url)["tag_ids"], "early-talent": "CAMPUS_2026"}
    cfg = _config(write_config, wd, tmp_path, rule=rule, tag_ids=tag_ids)
    summary = _run(cfg)
    assert summary["actions"]["failed"] == 0, summary["errors"]
    [state] = [c["state"] for c in summary["conversions"] if c["outcome_id"] == early["outcome_id"]]
    assert state.startswith("nurture: graduates")
    [wid] = tenant.wids(early["student_email"])
    person = requests.get(f"{wd.url}/_sandbox/candidates/{wid}", timeout=10).json()
    assert person["prospect"] is True and person["prospect_status"] == "NURTURE"
    assert "CAMPUS_2026" in person["tags"]
    req_ids = {r["req_id"] for r in tenant.mi_requisitions()}
    assert tenant.applications(early["student_email"], req_ids) == []  # not converted
    assert _run(cfg)["actions"]["planned"] == 0


def test_a_corrected_evaluation_adds_a_history_that_says_what_it_corrects(
    wd: sandbox.SandboxServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    cfg = _config(write_config, wd, tmp_path)
    tenant = Tenant(wd)
    first = _run(cfg)
    assert first["actions"]["failed"] == 0, first["errors"]
    ambiguous = _ambiguous(first, tmp_path)
    row = next(
        r
        for r in _rows(tmp_path)
        if r["student_email"] not in ambiguous
        and float(r["rating"]) < 4.0
        and len(tenant.wids(r["student_email"])) == 1
    )
    edit_outcome(tmp_path / "outcomes.csv", row["outcome_id"], rating="4.1")
    second = _run(cfg)
    assert second["actions"]["failed"] == 0, second["errors"]
    [wid] = tenant.wids(row["student_email"])
    person = requests.get(f"{wd.url}/_sandbox/candidates/{wid}", timeout=10).json()
    texts = [
        a["content"]
        for a in person["attachments"]
        if f"syncbridge outcome {row['outcome_id']}" in a["content"]
    ]
    assert len(texts) == 2
    [correction] = [t for t in texts if "Correction:" in t]
    assert f"rating {float(row['rating']):g} → 4.1" in correction
