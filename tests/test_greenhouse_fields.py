"""Custom fields of every type, fitted at plan time against the Greenhouse sandbox's field definitions:
a value that cannot fit is reported in the plan for its outcome and never sent (never a 422 at apply)."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from conftest import greenhouse_block
from syncbridge.cli import main
from syncbridge.connectors.greenhouse import sandbox
from syncbridge.demo_data import write_demo_outcomes
from syncbridge.fieldtypes import FieldDef, Unfit, fit
from test_greenhouse_e2e import GH

SECRET_ENV = "SB_FIELDS_GH_SECRET"


@pytest.fixture
def gh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[sandbox.SandboxServer]:
    monkeypatch.setenv(SECRET_ENV, sandbox.DEFAULT_CLIENT_SECRET)
    db = tmp_path / "gh.db"
    sandbox.seed(db, size=120, seed=21)
    server = sandbox.SandboxServer(db, rate_limit=0).start()
    yield server
    server.stop()


FIELDS = {
    "mi_skill_set": "evaluation.skills",  # multi select: skill names, matched to the options
    "mi_skills": "evaluation.skills",  # long text: "SQL (4/5), ..."
    "mi_rating": "evaluation.rating",  # number
    "mi_would_hire": "evaluation.would_hire",  # yes/no
    "available_from": "project.end_date",  # date
    "degree": "project.status",  # single select: "completed" is no option
    "mi_mentor": "project.supervisor.email",  # user: the supervisors are no Greenhouse users
}


def _config(write_config: Callable[..., Path], server: sandbox.SandboxServer, tmp: Path) -> Path:
    outcomes = tmp / "outcomes.csv"
    write_demo_outcomes(outcomes, sandbox.demo_people(server.db_path, n=12, seed=21))
    return write_config(
        {"acme-gh": {**greenhouse_block(server, secret_env=SECRET_ENV), "max_attempts": 3}},
        outcomes={"path": str(outcomes)},
        history={"note": False, "tags": [], "fields": FIELDS},
    )


def _json(args: list[str]) -> dict[str, Any]:
    result = CliRunner().invoke(main, args)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return dict(json.loads(result.stdout[result.stdout.index("{") :]))


@pytest.mark.e2e
def test_values_are_fitted_to_each_fields_type_and_unfit_ones_are_reported_not_sent(
    gh: sandbox.SandboxServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    cfg = _config(write_config, gh, tmp_path)
    # a plan before any sync: the definitions are synced first, so nothing goes unchecked
    dry = _json(["-c", str(cfg), "run", "--no-prefect", "--dry-run", "--json"])
    gaps = dry["capability_gaps"]
    assert any("field degree (single select)" in g and "'completed' is not an option" in g for g in gaps)
    assert any("field mi_mentor (user)" in g and "no ATS user" in g for g in gaps)
    assert not any("@" in g for g in gaps)  # no e-mail address in the report

    summary = _json(["-c", str(cfg), "run", "--no-prefect", "--json"])
    assert summary["actions"]["failed"] == 0, summary["errors"]  # no 422 at apply
    api = GH(gh.url)
    options = set(sandbox.SKILL_OPTIONS)
    with (tmp_path / "outcomes.csv").open(encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["student_email"]]
    checked = unfit = 0
    for row in rows:
        people = api.candidates(row["student_email"])
        if len(people) != 1:
            continue
        cf = {k: v["value"] for k, v in people[0]["custom_fields"].items()}
        skills = [s.split(":")[0].strip() for s in row["skills"].split(";")]
        assert cf["mi_rating"] == float(row["rating"])
        assert cf["mi_would_hire"] is (row["would_hire"].lower() in ("yes", "true"))
        assert cf["available_from"] == row["end_date"]
        assert cf["mi_skills"].startswith(f"{skills[0]} (")
        assert "mi_mentor" not in cf or cf["mi_mentor"] is None
        assert cf.get("degree") != "completed"
        if all(s in options for s in skills):
            assert cf["mi_skill_set"] == skills
            checked += 1
        else:
            assert "mi_skill_set" not in cf or cf["mi_skill_set"] is None
            assert any(
                row["outcome_id"] in g and "field mi_skill_set" in g for g in summary["capability_gaps"]
            )
            unfit += 1
    assert checked and unfit  # the demo data has both kinds


def test_fit_covers_every_value_type() -> None:
    def users(email: str) -> str | None:
        return "1000004" if email == "cora@x.example" else None

    def f(vtype: str, value: Any, options: tuple[str, ...] = ()) -> Any:
        return fit(FieldDef("k", "candidate", vtype, options), value, user_for=users)

    assert f("single_select", "intern", ("Full-time", "Intern")) == "Intern"  # case-insensitive
    assert f("multi_select", "sql, PYTHON", ("Python", "SQL")) == ["SQL", "Python"]
    assert f("number", "4.50") == 4.5 and f("number", 3) == 3
    assert f("yes_no", "Yes") is True and f("yes_no", False) is False
    assert f("date", "2026-05-01T10:00:00") == "2026-05-01"
    assert f("currency", "1200 usd") == {"amount": 1200, "currency_code": "USD"}
    assert f("user", "cora@x.example") == 1000004 and f("user", "42") == 42
    assert f("long_text", ["a", "b"]) == "a, b"
    assert f("url", "https://x.example/p") == "https://x.example/p"
    assert f("short_text", None) is None  # clears the field
    cases: list[tuple[str, Any, tuple[str, ...]]] = [
        ("single_select", "Owner", ("Intern",)),
        ("multi_select", "SQL, Tableau", ("SQL",)),
        ("number", "four", ()),
        ("number", True, ()),
        ("yes_no", "maybe", ()),
        ("date", "May 1st", ()),
        ("currency", "1200", ()),
        ("user", "nobody@x.example", ()),
        ("short_text", "x" * 256, ()),
        ("long_text", "x" * 10_001, ()),
        ("url", "javascript:alert(1)", ()),
        ("number_range", 3, ()),
    ]
    for vtype, value, options in cases:
        with pytest.raises(Unfit):
            f(vtype, value, *([options] if options else []))


def _rewrite(path: Path, changes: dict[str, str]) -> None:
    """Set the rating of the given outcome ids (a corrected evaluation: same id, new content)."""
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        fieldnames, rows = reader.fieldnames, list(reader)
    for row in rows:
        if row["outcome_id"] in changes:
            row["rating"] = changes[row["outcome_id"]]
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(fieldnames or []))
        writer.writeheader()
        writer.writerows(rows)


@pytest.mark.e2e
def test_a_corrected_evaluation_says_what_it_corrects_updates_fields_and_a_downgrade_does_not_convert(
    gh: sandbox.SandboxServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    outcomes = tmp_path / "outcomes.csv"
    write_demo_outcomes(outcomes, sandbox.demo_people(gh.db_path, n=12, seed=21))
    rule = {
        "name": "strong-intern",
        "when": {"employer": "Acme Corp", "min_rating": 4.5, "would_hire": True},
        "requisition": {"options": {"template_job_id": 4100002}},
    }
    cfg = write_config(
        {"acme-gh": greenhouse_block(gh, secret_env=SECRET_ENV)},
        outcomes={"path": str(outcomes)},
        history={"note": True, "tags": [], "fields": {"mi_rating": "evaluation.rating"}},
        conversion={"enabled": True, "approval": "manual", "rules": [rule]},
    )
    first = _json(["-c", str(cfg), "run", "--no-prefect", "--json"])
    assert first["actions"]["failed"] == 0, first["errors"]
    api = GH(gh.url)
    with outcomes.open(encoding="utf-8") as fh:
        rows = {r["outcome_id"]: r for r in csv.DictReader(fh) if r["student_email"]}
    single = {i: r for i, r in rows.items() if len(api.candidates(r["student_email"])) == 1}
    waiting = [
        c for c in first["conversions"] if c["state"] == "awaiting approval" and c["outcome_id"] in single
    ]
    strong = waiting[0]
    weak = next(i for i, r in single.items() if float(r["rating"]) < 4.1)
    approved = CliRunner().invoke(main, ["-c", str(cfg), "approve", strong["approval"]])
    assert approved.exit_code == 0

    before = {i: float(single[i]["rating"]) for i in (strong["outcome_id"], weak)}
    _rewrite(outcomes, {strong["outcome_id"]: "4.1", weak: "4.1"})
    second = _json(["-c", str(cfg), "run", "--no-prefect", "--json"])
    assert second["actions"]["failed"] == 0, second["errors"]
    # the approved conversion no longer holds: nothing is opened, and the plan says why
    assert not [j for j in api.get("/v3/jobs") if str(j.get("requisition_id") or "").startswith("MI-")]
    assert any(
        strong["outcome_id"] in g
        and "was corrected and no longer meets the rule" in g
        and "rating 4.1 < 4.5" in g
        for g in second["capability_gaps"]
    )
    for oid in (strong["outcome_id"], weak):
        [person] = api.candidates(single[oid]["student_email"])
        notes = sorted(api.notes(person["id"]), key=lambda n: n["id"])
        ours = [n for n in notes if f"syncbridge outcome {oid}" in n["body"]]
        assert len(ours) == 2
        first_note, correction = ours
        assert not first_note["subject"].startswith("Corrected")
        assert correction["subject"].startswith("Corrected: Micro-internship")
        assert f"rating {before[oid]:g} → 4.1" in correction["body"]
        assert f"note of {first_note['created_at'][:10]}" in correction["body"]
        assert person["custom_fields"]["mi_rating"]["value"] == 4.1  # fields take the new value
    third = _json(["-c", str(cfg), "run", "--no-prefect", "--json"])
    assert third["actions"]["planned"] == 0  # the correction is written once


def _set_columns(path: Path, changes: dict[str, dict[str, str]]) -> None:
    """Set columns of the given outcome ids (adding the columns when the file lacks them)."""
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        fieldnames, rows = list(reader.fieldnames or []), list(reader)
    for cols in changes.values():
        fieldnames += [c for c in cols if c not in fieldnames]
    for row in rows:
        row.update(changes.get(row["outcome_id"], {}))
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fieldnames, restval="")
        writer.writeheader()
        writer.writerows(rows)


@pytest.mark.e2e
def test_a_strong_student_far_from_graduation_is_nurtured_as_a_prospect_not_converted(
    gh: sandbox.SandboxServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    from datetime import date, timedelta

    outcomes = tmp_path / "outcomes.csv"
    write_demo_outcomes(outcomes, sandbox.demo_people(gh.db_path, n=12, seed=21))
    api = GH(gh.url)
    with outcomes.open(encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["student_email"]]
    strong = [
        r
        for r in rows
        if float(r["rating"]) >= 4.5
        and r["would_hire"].lower() in ("yes", "true")
        and len(api.candidates(r["student_email"])) == 1
    ]
    early, senior = strong[0], strong[1]
    far, soon = date.today() + timedelta(days=800), date.today() + timedelta(days=90)
    _set_columns(
        outcomes,
        {
            early["outcome_id"]: {
                "graduation_date": far.isoformat(),
                "student_school": "Northgate University",
            },
            senior["outcome_id"]: {"graduation_date": soon.isoformat()},
        },
    )
    rule = {
        "name": "strong-intern",
        "when": {"employer": "Acme Corp", "min_rating": 4.5, "would_hire": True},
        "nurture_when": {"graduation_after_months": 12},
        "nurture": {
            "tags": ["early-talent"],
            "follow_up_months_before_graduation": 6,
            "follow_up_field": "available_from",
            "options": {"prospect_pool_id": 11, "prospect_stage_id": 22},
        },
        "requisition": {"options": {"template_job_id": 4100002}},
    }
    cfg = write_config(
        {"acme-gh": greenhouse_block(gh, secret_env=SECRET_ENV)},
        outcomes={"path": str(outcomes)},
        history={"note": True, "tags": []},
        conversion={"enabled": True, "approval": "auto", "rules": [rule]},
    )
    dry = CliRunner().invoke(main, ["-c", str(cfg), "run", "--no-prefect", "--dry-run"])
    assert f"strong: outcome {early['outcome_id']}" in dry.output and "nurture: graduates" in dry.output
    summary = _json(["-c", str(cfg), "run", "--no-prefect", "--json"])
    assert summary["actions"]["failed"] == 0, summary["errors"]
    states = {c["outcome_id"]: c["state"] for c in summary["conversions"]}
    follow_up = f"{far.year - (1 if far.month <= 6 else 0)}-{(far.month - 7) % 12 + 1:02d}"
    assert states[early["outcome_id"]].startswith(f"nurture: graduates {far.isoformat()}")
    assert f"follow up {follow_up}" in states[early["outcome_id"]]
    assert "new requisition" in states[senior["outcome_id"]]  # graduating soon: converted as before

    jobs = {j["id"] for j in api.get("/v3/jobs") if str(j.get("requisition_id") or "").startswith("MI-")}
    [person] = api.candidates(early["student_email"])
    apps = api.get("/v3/applications", candidate_ids=str(person["id"]))
    assert not [a for a in apps if a.get("job_id") in jobs]  # not converted
    [prospect] = [a for a in apps if a["prospect"] and a["job_id"] is None]
    assert (prospect["prospect_pool_id"], prospect["prospect_stage_id"]) == (11, 22)
    assert "early-talent" in person["tags"]
    assert person["custom_fields"]["available_from"]["value"].startswith(follow_up)
    [note] = [n for n in api.notes(person["id"]) if early["outcome_id"] in n["body"]]
    assert f"School: Northgate University · Expected graduation: {far.isoformat()}" in note["body"]
    [other] = api.candidates(senior["student_email"])
    assert [a for a in api.get("/v3/applications", candidate_ids=str(other["id"])) if a.get("job_id") in jobs]

    again = _json(["-c", str(cfg), "run", "--no-prefect", "--json"])
    assert again["actions"]["planned"] == 0


@pytest.mark.e2e
def test_field_definitions_are_synced_for_a_plan_when_not_mirrored(
    gh: sandbox.SandboxServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    from syncbridge.fieldtypes import definitions_for, mirrored
    from syncbridge.steps import Runtime

    cfg = _config(write_config, gh, tmp_path)
    with Runtime.from_file(str(cfg)) as rt:
        assert not mirrored(rt.store, "acme-gh")  # nothing synced yet
        defs = definitions_for(rt)("acme-gh")
        skill_set = defs.get("candidate", "mi_skill_set")
        assert skill_set is not None and skill_set.value_type == "multi_select"
        assert "SQL" in skill_set.options
        assert defs.get("application", "mi_stipend") is not None
        assert mirrored(rt.store, "acme-gh").get("candidate", "degree") is not None  # kept in the mirror
