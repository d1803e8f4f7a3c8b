"""Conversion on Lever end to end, through the CLI against the Lever sandbox: strong micro-intern →
requisition (+ its posting) → posting published → a new opportunity for the contact on it → the prescreen
note with its score."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from conftest import crash_after_write, edit_outcome
from syncbridge.cli import main
from syncbridge.config import load_config
from syncbridge.connectors.lever import sandbox
from syncbridge.connectors.lever.client import LeverClient
from syncbridge.demo_data import write_demo_outcomes
from syncbridge.errors import InvalidRequest
from syncbridge.store import Store

pytestmark = pytest.mark.e2e
CONNECTOR = "acme-lever"


class Api:
    """Plain HTTP against the sandbox, to look at what the run left there."""

    def __init__(self, server: sandbox.SandboxServer) -> None:
        self.url, self.root = server.api_url, server.url
        self.session = requests.Session()
        self.session.auth = (sandbox.DEFAULT_API_KEY, "")

    def all(self, path: str, **params: Any) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        query = {"confidentiality": "all", **params}
        while True:
            body = self.session.get(f"{self.url}/{path}", params=query, timeout=10).json()
            out.extend(body["data"])
            if not body["hasNext"]:
                return out
            query["offset"] = body["next"]

    def post(self, path: str, body: Any, **params: Any) -> dict[str, Any]:
        r = self.session.post(f"{self.url}/{path}", json=body, params=params, timeout=10)
        r.raise_for_status()
        return dict(r.json()["data"])

    def user(self) -> str:
        [user] = self.all("users", email=sandbox.DEMO_PERFORM_AS_EMAIL)
        return str(user["id"])

    def mi_requisitions(self) -> list[dict[str, Any]]:
        return [r for r in self.all("requisitions") if str(r["requisitionCode"]).startswith("MI-")]

    def postings_of(self, code: str) -> list[dict[str, Any]]:
        return [p for p in self.all("postings") if code in (p.get("requisitionCodes") or [])]

    def opportunities_of(self, email: str) -> list[dict[str, Any]]:
        return self.all("opportunities", email=email, expand="applications")

    def on_postings(self, email: str, posting_ids: set[str]) -> list[dict[str, Any]]:
        return [
            o
            for o in self.opportunities_of(email)
            if any(a["posting"] in posting_ids for a in o["applications"])
        ]


@pytest.fixture
def lever(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[sandbox.SandboxServer]:
    for name, value in sandbox.DEMO_ENV.items():
        monkeypatch.setenv(name, value)
    db = tmp_path / "lever.db"
    sandbox.seed(db, size=120)
    with sandbox.SandboxServer(db, rate_per_second=0) as server:
        yield server


RULE_OPTIONS = {
    "publish": "published",
    "distribution": "internal",
    "commitment": "Internship",
    "employmentStatus": "intern",
}


def _config(
    write_config: Callable[..., Path],
    server: sandbox.SandboxServer,
    tmp: Path,
    *,
    extra_rules: list[dict[str, Any]] | None = None,
) -> Path:
    outcomes = tmp / "outcomes.csv"
    if not outcomes.exists():
        write_demo_outcomes(outcomes, sandbox.demo_people(server.db_path, n=12, seed=7))
    block = sandbox.demo_connector_block(server.url)
    block.update({"rate_per_second": 500.0, "burst": 500, "backoff_base": 0.02, "max_attempts": 3})
    rule = {
        "name": "strong-intern",
        "when": {"employer": "Acme Corp", "min_rating": 4.5, "would_hire": True},
        "requisition": {
            "title": "{project.role_title}",
            "code": "MI-{project.team}-{project.role_title}",
            "fields": {"mi_source_project": "project.title"},
            "options": RULE_OPTIONS,
        },
        "prescreen": {
            "fields": {"mi_prescreen_score": "prescreen.score", "mi_supervisor": "project.supervisor.name"}
        },
    }
    return write_config(
        {CONNECTOR: block},
        outcomes={"path": str(outcomes)},
        matching={"create_unmatched": True},
        history={"note": True, "tags": ["micro-intern"]},
        conversion={
            "enabled": True,
            "approval": "auto",
            "rules": [*(extra_rules or []), rule],
        },
    )


def _invoke(cfg: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(main, ["-c", str(cfg), "run", "--no-prefect", "--json", *extra])
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


def test_conversion_on_lever_is_a_requisition_a_published_posting_and_a_sourced_opportunity(
    lever: sandbox.SandboxServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    """How a conversion looks in Lever (that it happens once, and not again, is the conformance suite's)."""
    cfg = _config(write_config, lever, tmp_path)
    first = _run(cfg)
    assert first["actions"]["failed"] == 0, first["errors"]
    codes = {c["code"] for c in first["conversions"]}
    assert len(codes) < len(first["conversions"])  # two interns for one team+role share a requisition

    api = Api(lever)
    posting_ids: set[str] = set()
    for req in api.mi_requisitions():
        assert req["status"] == "open" and req["employmentStatus"] == "intern"
        assert req["customFields"]["mi_source_project"]
        [posting] = api.postings_of(req["requisitionCode"])  # exactly one posting per requisition
        assert req["postings"] == [posting["id"]]
        assert posting["state"] == "published" and posting["distributionChannels"] == ["internal"]
        assert posting["categories"]["commitment"] == "Internship"
        assert posting["text"] == req["name"]
        description = posting["content"]["descriptionHtml"]  # from the rule, not a template's text
        assert req["name"] in description and "What it showed" in description
        posting_ids.add(posting["id"])

    for r in [r for r in _strong(tmp_path) if r["student_email"] not in _ambiguous(first, tmp_path)]:
        [opp] = api.on_postings(r["student_email"], posting_ids)  # a new opportunity on that posting
        assert opp["origin"] == "sourced"
        assert opp["sources"] == ["Micro-internship"]  # attributed, so reports count micro-intern hires
        notes = api.all(f"opportunities/{opp['id']}/notes")
        [note] = [n for n in notes if "Prescreened through a micro-internship" in n["fields"][0]["value"]]
        text = note["fields"][0]["value"]
        assert note["fields"][0]["score"] == 4  # a 4.5+ rating is Lever's "strong yes"
        assert f"- mi_prescreen_score: {float(r['rating']):g}" in text
        assert f"- mi_supervisor: {r['supervisor_name']}" in text
        assert "[syncbridge:" in text
        others = [o for o in api.opportunities_of(r["student_email"]) if o["id"] != opp["id"]]
        assert others, "the person's earlier opportunity (or the lead syncbridge made) is left as it was"


def test_reuses_an_open_requisition_and_its_posting_with_the_same_code(
    lever: sandbox.SandboxServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    cfg = _config(write_config, lever, tmp_path)
    _, planned = _invoke(cfg, "--dry-run")
    code = planned["conversions"][0]["code"]
    api = Api(lever)
    # opened by hand in Lever: a requisition with that code and a draft posting linked to it
    existing = api.post(
        "requisitions", {"requisitionCode": code, "name": "Opened by hand", "headcountTotal": 2}
    )
    by_hand = api.post(
        "postings",
        {"text": "Opened by hand", "requisitionCodes": [code], "state": "draft"},
        perform_as=api.user(),
    )
    summary = _run(cfg)
    assert summary["actions"]["failed"] == 0, summary["errors"]
    same = [r for r in api.mi_requisitions() if r["requisitionCode"] == code]
    assert [r["id"] for r in same] == [existing["id"]]
    assert same[0]["customFields"] == {}  # a reused requisition is not changed
    assert any(
        c["code"] == code and f"reuses requisition {existing['id']}" in c["state"]
        for c in summary["conversions"]
    )
    [posting] = api.postings_of(code)  # the hand-made posting, published; no second one
    assert posting["id"] == by_hand["id"]
    assert posting["state"] == "published" and posting["distributionChannels"] == ["internal"]
    for c in summary["conversions"]:
        if c["code"] == code:
            email = next(r["student_email"] for r in _rows(tmp_path) if r["outcome_id"] == c["outcome_id"])
            assert len(api.on_postings(email, {posting["id"]})) == 1


def test_crash_after_creating_the_requisition_is_reconciled_by_code(
    lever: sandbox.SandboxServer,
    write_config: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = _config(write_config, lever, tmp_path)
    with (
        crash_after_write(monkeypatch, "create_requisition") as crashed,
        pytest.raises(RuntimeError, match="simulated crash"),
    ):
        _run(cfg)
    api = Api(lever)
    assert len(api.mi_requisitions()) == 1  # the crash came right after the first one was made
    summary = _run(cfg)
    assert summary["actions"]["failed"] == 0, summary["errors"]
    assert summary["actions"]["reconciled"] >= 1
    codes = [r["requisitionCode"] for r in api.mi_requisitions()]
    assert codes and len(codes) == len(set(codes))  # no second requisition for the crashed code
    assert all(len(api.postings_of(code)) == 1 for code in codes)
    store = Store(load_config(cfg).state.url)
    assert store.ledger_get(crashed["key"])["status"] == "done"  # type: ignore[index]
    store.close()
    assert _run(cfg)["actions"]["planned"] == 0


def test_a_posting_refused_after_the_requisition_is_finished_by_the_next_run(
    lever: sandbox.SandboxServer,
    write_config: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = _config(write_config, lever, tmp_path)
    original = LeverClient.create_posting
    refused: list[str] = []

    def refuse_once(self: LeverClient, fields: Any, *, perform_as: str | None) -> dict[str, Any]:
        if not refused:
            refused.append(str(fields["requisitionCodes"][0]))
            raise InvalidRequest("simulated: posting refused", status=400, connector=CONNECTOR)
        return original(self, fields, perform_as=perform_as)

    monkeypatch.setattr(LeverClient, "create_posting", refuse_once)
    code, first = _invoke(cfg)
    assert code == 1
    assert [e["action"] for e in first["errors"]] == ["create_requisition"]
    assert first["actions"]["blocked"] >= 2  # its attach and prescreen wait
    api = Api(lever)
    assert api.postings_of(refused[0]) == []
    second = _run(cfg)
    assert second["actions"]["failed"] == 0, second["errors"]
    assert second["actions"]["reconciled"] >= 1
    assert len(api.postings_of(refused[0])) == 1
    assert len([r for r in api.mi_requisitions() if r["requisitionCode"] == refused[0]]) == 1


def test_vendor_400_fails_one_action_and_the_rest_apply(
    lever: sandbox.SandboxServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    cfg = _config(write_config, lever, tmp_path)
    _, planned = _invoke(cfg, "--dry-run")
    first_outcome = next(
        r for r in _rows(tmp_path) if r["outcome_id"] == planned["conversions"][0]["outcome_id"]
    )
    bad_rule = {  # the same team, an employment status Lever does not know: Lever answers 400
        "name": "bad-employment-status",
        "when": {"team": first_outcome["team"], "min_rating": 4.5},
        "requisition": {"options": {**RULE_OPTIONS, "employmentStatus": "seasonal"}},
    }
    cfg = _config(write_config, lever, tmp_path, extra_rules=[bad_rule])
    code, summary = _invoke(cfg)
    assert code == 1
    failed = summary["errors"]
    assert {e["action"] for e in failed} == {"create_requisition"} and len(failed) == 1
    assert "HTTP 400" in failed[0]["error"] and "employmentStatus is not valid" in failed[0]["error"]
    assert summary["actions"]["applied"] > 0 and summary["actions"]["blocked"] >= 2  # its attach + prescreen
    api = Api(lever)
    assert len(api.mi_requisitions()) == len({c["code"] for c in summary["conversions"]}) - 1


def test_a_strong_student_far_from_graduation_becomes_a_tagged_lead_not_a_conversion(
    lever: sandbox.SandboxServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    from datetime import date, timedelta

    cfg = _config(write_config, lever, tmp_path)
    api = Api(lever)
    first_pass = _invoke(cfg, "--dry-run")[1]
    ambiguous = _ambiguous(first_pass, tmp_path)
    early = next(r for r in _strong(tmp_path) if r["student_email"] not in ambiguous)
    far = date.today() + timedelta(days=800)
    path = tmp_path / "outcomes.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        names, rows = list(reader.fieldnames or []), list(reader)
    for row in rows:
        row["graduation_date"] = far.isoformat() if row["outcome_id"] == early["outcome_id"] else ""
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=names)
        writer.writeheader()
        writer.writerows(rows)
    rule = {
        "name": "early-talent",
        "when": {"employer": "Acme Corp", "min_rating": 4.5, "would_hire": True},
        "nurture_when": {"graduation_after_months": 12},
        "nurture": {"tags": ["early-talent"], "options": {"stage": "lead-reached-out"}},
        "requisition": {"options": RULE_OPTIONS},
    }
    cfg = _config(write_config, lever, tmp_path, extra_rules=[rule])
    summary = _run(cfg)
    assert summary["actions"]["failed"] == 0, summary["errors"]
    [state] = [c["state"] for c in summary["conversions"] if c["outcome_id"] == early["outcome_id"]]
    assert state.startswith("nurture: graduates")
    opps = api.opportunities_of(early["student_email"])
    postings = {p["id"] for r in api.mi_requisitions() for p in api.postings_of(r["requisitionCode"])}
    assert not [o for o in opps if any(a["posting"] in postings for a in o["applications"])]
    nurtured = [o for o in opps if "early-talent" in o["tags"]]
    assert len(nurtured) == 1 and nurtured[0]["stage"] == "lead-reached-out"
    follow_up = [t for t in nurtured[0]["tags"] if t.startswith("follow-up ")]
    assert follow_up and follow_up[0] < f"follow-up {far.isoformat()}"
    assert _run(cfg)["actions"]["planned"] == 0


def test_a_corrected_evaluation_adds_a_note_that_says_what_it_corrects(
    lever: sandbox.SandboxServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    cfg = _config(write_config, lever, tmp_path)
    first = _run(cfg)
    assert first["actions"]["failed"] == 0, first["errors"]
    ambiguous = _ambiguous(first, tmp_path)
    row = next(r for r in _rows(tmp_path) if r["student_email"] not in ambiguous and float(r["rating"]) < 4.0)
    edit_outcome(tmp_path / "outcomes.csv", row["outcome_id"], rating="4.1")
    second = _run(cfg)
    assert second["actions"]["failed"] == 0, second["errors"]
    api = Api(lever)
    texts = [
        n["fields"][0]["value"]
        for o in api.opportunities_of(row["student_email"])
        for n in api.all(f"opportunities/{o['id']}/notes")
        if f"syncbridge outcome {row['outcome_id']}" in n["fields"][0]["value"]
    ]
    assert len(texts) == 2
    [correction] = [t for t in texts if t.startswith("Correction:")]
    assert f"rating {float(row['rating']):g} → 4.1" in correction and "Rating: 4.1/5" in correction
