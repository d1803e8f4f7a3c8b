from __future__ import annotations

import csv
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from syncbridge.demo_data import write_demo_outcomes
from syncbridge.model import Outcome, ProjectStatus, Skill
from syncbridge.outcomes import (
    CANONICAL_COLUMNS,
    OutcomeFileError,
    OutcomeRowError,
    OutcomeSourceSettings,
    parse_row,
    read_outcomes,
)

FLAT: dict[str, str] = {
    "outcome_id": "MI-1",
    "student_email": "Ada.Lovelace@Uni.example",
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
    "supervisor_email": "maria.lopez@acme.example",
    "supervisor_title": "Analytics Lead",
    "start_date": "2026-02-02",
    "end_date": "2026-03-13",
    "status": "completed",
    "hours": "60",
    "rating": "4.5",
    "would_hire": "yes",
    "skills": "Python:4; SQL:3",
    "comments": "Great work, very thorough.",
    "deliverables": "https://docs.acme.example/report https://git.acme.example/ada/dash",
    "submitted_at": "2026-03-15T10:30:00Z",
}

NESTED: dict[str, Any] = {
    "outcome_id": "MI-1",
    "student": {
        "email": "ada.lovelace@uni.example",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "phone": "+1-555-0100",
        "school": "Northgate University",
    },
    "project": {
        "project_id": "PRJ-1",
        "title": "Marketing Analytics",
        "employer": "Acme Corp",
        "role_title": "Data Analyst Intern",
        "team": "Growth",
        "supervisor": {"name": "Maria Lopez", "email": "maria.lopez@acme.example", "title": "Analytics Lead"},
        "start_date": "2026-02-02",
        "end_date": "2026-03-13",
        "status": "completed",
        "hours": 60,
    },
    "evaluation": {
        "rating": 4.5,
        "would_hire": True,
        "skills": [{"name": "Python", "level": 4}, {"name": "SQL", "level": 3}],
        "comments": "Great work, very thorough.",
        "deliverables": ["https://docs.acme.example/report", "https://git.acme.example/ada/dash"],
        "submitted_at": "2026-03-15T10:30:00Z",
    },
}


def row(**changes: str) -> dict[str, str]:
    r = dict(FLAT)
    r.update(changes)
    return r


def write_csv(path: Path, rows: list[dict[str, str]], fieldnames: list[str] | None = None) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fieldnames or list(CANONICAL_COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
    return path


def read(path: Path, **kw: Any):
    return read_outcomes(OutcomeSourceSettings(path=path, **kw))


def reasons(batch) -> dict[int, str]:
    return {q.line: q.reason for q in batch.quarantined}


# --- parsing ------------------------------------------------------------------------------------


def test_flat_row_parses_to_full_outcome() -> None:
    o = parse_row(FLAT, line=2)
    assert o.outcome_id == "MI-1"
    assert o.student.email == "ada.lovelace@uni.example"
    assert o.project.employer == "Acme Corp"
    assert o.project.supervisor is not None and o.project.supervisor.email == "maria.lopez@acme.example"
    assert o.project.start_date == date(2026, 2, 2)
    assert o.project.status is ProjectStatus.completed
    assert o.project.hours == 60
    assert o.evaluation.rating == 4.5
    assert o.evaluation.would_hire is True
    assert o.evaluation.skills == (Skill(name="Python", level=4), Skill(name="SQL", level=3))
    assert o.evaluation.deliverables == (
        "https://docs.acme.example/report",
        "https://git.acme.example/ada/dash",
    )
    assert o.evaluation.submitted_at == datetime(2026, 3, 15, 10, 30, tzinfo=UTC)


def test_all_formats_parse_to_equal_outcomes(tmp_path: Path) -> None:
    csv_batch = read(write_csv(tmp_path / "o.csv", [FLAT]))
    flat_json = tmp_path / "flat.json"
    flat_json.write_text(json.dumps([FLAT]), encoding="utf-8")
    nested_json = tmp_path / "nested.json"
    nested_json.write_text(json.dumps([NESTED]), encoding="utf-8")
    jsonl = tmp_path / "o.jsonl"
    jsonl.write_text(
        json.dumps(NESTED) + "\n\n" + json.dumps(row(outcome_id="MI-2")) + "\n", encoding="utf-8"
    )

    expected = parse_row(FLAT, line=1)
    assert csv_batch.outcomes == [expected]
    assert read(flat_json).outcomes == [expected]
    assert read(nested_json).outcomes == [expected]
    jl = read(jsonl)
    assert jl.outcomes[0] == expected
    assert jl.outcomes[1] == expected.model_copy(update={"outcome_id": "MI-2"})
    assert jl.quarantined == [] and jl.rows_read == 2


def test_format_can_be_forced(tmp_path: Path) -> None:
    p = tmp_path / "export.txt"
    p.write_text(json.dumps([NESTED]), encoding="utf-8")
    assert len(read(p, format="json").outcomes) == 1
    with pytest.raises(OutcomeFileError, match=r"export\.txt"):
        read(p)


def test_lenient_value_forms() -> None:
    o = parse_row(
        row(
            rating="4,5",
            would_hire=" Y ",
            skills="Python:4 | SQL:3;",
            deliverables="https://a.example/x;https://b.example/y|https://c.example/z",
            status="In Progress",
            student_first_name="  Ada ",
            hours="",
            team="",
        ),
        line=2,
    )
    assert o.evaluation.rating == 4.5
    assert o.evaluation.would_hire is True
    assert [s.name for s in o.evaluation.skills] == ["Python", "SQL"]
    assert len(o.evaluation.deliverables) == 3
    assert o.project.status is ProjectStatus.in_progress
    assert o.student.first_name == "Ada"
    assert o.project.hours is None and o.project.team is None


def test_json_skills_as_mapping_and_default_employer() -> None:
    r: dict[str, Any] = dict(NESTED, evaluation=dict(NESTED["evaluation"], skills={"Python": 4, "SQL": "3"}))
    r["project"] = {k: v for k, v in NESTED["project"].items() if k != "employer"}
    o = parse_row(r, line=1, default_employer="Default Inc")
    assert o.project.employer == "Default Inc"
    assert o.evaluation.skills == (Skill(name="Python", level=4), Skill(name="SQL", level=3))
    with pytest.raises(OutcomeRowError, match=r"^employer: missing"):
        parse_row(r, line=1)


def test_columns_mapping(tmp_path: Path) -> None:
    mapping = {
        "student_email": "Student Email",
        "student_first_name": "First Name",
        "student_last_name": "Last Name",
        "rating": "Score",
        "would_hire": "Hire Again?",
        "outcome_id": "ID",
    }
    headers = [mapping.get(c, c) for c in CANONICAL_COLUMNS if c != "employer"] + ["Internal Note"]
    data = {mapping.get(k, k): v for k, v in FLAT.items() if k != "employer"}
    data["Internal Note"] = "ignore me"
    p = write_csv(tmp_path / "export.csv", [data], headers)
    batch = read(p, columns=mapping, default_employer="Acme Corp")
    assert batch.quarantined == []
    assert batch.outcomes == [parse_row(FLAT, line=1)]
    assert batch.ignored_columns == ["Internal Note"]

    with pytest.raises(OutcomeFileError, match=r"no column for rating \(header 'Grade'\)"):
        read(p, columns={**mapping, "rating": "Grade"}, default_employer="Acme Corp")
    with pytest.raises(OutcomeFileError, match="employer"):
        read(p, columns=mapping)


def test_unknown_columns_key_rejected() -> None:
    with pytest.raises(ValidationError, match="student_mail"):
        OutcomeSourceSettings(path=Path("o.csv"), columns={"student_mail": "Email"})
    with pytest.raises(ValidationError):
        OutcomeSourceSettings(path=Path("o.csv"), colums={})
    with pytest.raises(ValidationError, match="delimiter"):
        OutcomeSourceSettings(path=Path("o.csv"), delimiter=";;")


def test_relative_path_resolved_against_base_dir(tmp_path: Path) -> None:
    write_csv(tmp_path / "o.csv", [FLAT])
    batch = read_outcomes(OutcomeSourceSettings(path=Path("o.csv")), base_dir=tmp_path)
    assert len(batch.outcomes) == 1


# --- quarantine ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"student_email": ""}, "student_email: missing"),
        ({"student_email": "   "}, "student_email: missing"),
        ({"student_email": "ada.lovelace-at-uni.example"}, "student_email: not an e-mail address"),
        ({"student_email": "ada@lovelace@uni"}, "student_email: not an e-mail address"),
        ({"rating": "7"}, "rating: 7 is not between 1 and 5"),
        ({"rating": "0,5"}, "rating: 0,5 is not between 1 and 5"),
        ({"rating": "great"}, "rating: 'great' is not a number"),
        ({"start_date": "2025-13-01"}, "start_date: '2025-13-01' is not a date (YYYY-MM-DD)"),
        ({"end_date": "13/03/2026"}, "end_date: '13/03/2026' is not a date (YYYY-MM-DD)"),
        ({"end_date": "2026-01-31"}, "end_date: 2026-01-31 is before start_date 2026-02-02"),
        ({"skills": "Python:7"}, "skills: level 7 for 'Python' is not between 1 and 5"),
        ({"skills": "Python:high"}, "skills: level 'high' for 'Python' is not a whole number from 1 to 5"),
        ({"skills": "Python"}, "skills: 'Python' has no level (expected Name:1-5)"),
        (
            {"deliverables": "ftp://files.example/x"},
            "deliverables: 'ftp://files.example/x' is not an http(s) URL",
        ),
        ({"deliverables": "report.pdf"}, "deliverables: 'report.pdf' is not an http(s) URL"),
        ({"would_hire": "maybe"}, "would_hire: 'maybe' is not yes/no"),
        ({"status": "done"}, "status: 'done' is not one of completed, in_progress, withdrawn"),
        ({"hours": "-3"}, "hours: -3 must not be negative"),
        ({"project_id": ""}, "project_id: missing"),
        ({"supervisor_email": "maria"}, "supervisor_email: not an e-mail address"),
    ],
)
def test_quarantine_reasons(tmp_path: Path, changes: dict[str, str], reason: str) -> None:
    p = write_csv(tmp_path / "o.csv", [row(outcome_id="MI-1", **changes), row(outcome_id="MI-2")])
    batch = read(p)
    assert [(q.line, q.reason, q.outcome_id) for q in batch.quarantined] == [(2, reason, "MI-1")]
    assert [o.outcome_id for o in batch.outcomes] == ["MI-2"]
    assert batch.quarantined[0].row["outcome_id"] == "MI-1"


def test_bad_email_value_is_never_echoed(tmp_path: Path) -> None:
    bad = "ada.lovelace@uni"  # no dot in the domain
    p = write_csv(tmp_path / "o.csv", [row(student_email=bad, rating=bad, start_date="x@y.example")])
    batch = read(p)
    (q,) = batch.quarantined
    assert "student_email: not an e-mail address" in q.reason
    assert "@" not in q.reason and "lovelace" not in q.reason
    assert "@" not in batch.summary()
    with pytest.raises(OutcomeRowError) as info:
        parse_row(row(student_email="bob@"), line=1)
    assert "bob" not in str(info.value)


def test_several_problems_reported_together() -> None:
    with pytest.raises(OutcomeRowError) as info:
        parse_row(row(rating="9", student_last_name=""), line=5)
    assert info.value.errors == ["student_last_name: missing", "rating: 9 is not between 1 and 5"]
    assert info.value.reason == "student_last_name: missing; rating: 9 is not between 1 and 5"
    assert info.value.line == 5


def test_duplicates(tmp_path: Path) -> None:
    p = write_csv(
        tmp_path / "o.csv",
        [
            row(outcome_id="MI-1"),
            row(outcome_id="MI-2"),
            row(outcome_id="MI-1", rating="4,5"),  # identical once parsed
            row(outcome_id="MI-2", rating="3"),  # same id, different content
        ],
    )
    batch = read(p)
    assert [o.outcome_id for o in batch.outcomes] == ["MI-1", "MI-2"]
    assert batch.duplicates == 1
    assert reasons(batch) == {5: "outcome_id: duplicate of line 3 with different content"}
    assert batch.rows_read == 4
    assert batch.rows_read == len(batch.outcomes) + len(batch.quarantined) + batch.duplicates


def test_physical_line_numbers_with_multiline_field(tmp_path: Path) -> None:
    p = write_csv(
        tmp_path / "o.csv",
        [
            row(outcome_id="MI-1", comments="Line one,\nline two\nline three"),  # lines 2-4
            row(outcome_id="MI-2", rating="7"),  # line 5
            row(outcome_id="MI-3", comments='She said "great"\r\nand more'),  # lines 6-7
            row(outcome_id="MI-4", start_date="2026-02-30"),  # line 8, line 9 after the blank line
            row(outcome_id="MI-5"),
        ],
    )
    # a blank line in the middle is skipped but still counted as a physical line
    text = p.read_text(encoding="utf-8").splitlines(keepends=True)
    text.insert(7, "\r\n")  # before MI-4
    p.write_text("".join(text), encoding="utf-8", newline="")
    batch = read(p)
    assert reasons(batch) == {
        5: "rating: 7 is not between 1 and 5",
        9: "start_date: '2026-02-30' is not a date (YYYY-MM-DD)",
    }
    assert [o.outcome_id for o in batch.outcomes] == ["MI-1", "MI-3", "MI-5"]
    assert batch.outcomes[0].evaluation.comments == "Line one,\nline two\nline three"
    assert batch.rows_read == 5


def test_jsonl_and_json_line_numbers(tmp_path: Path) -> None:
    jl = tmp_path / "o.jsonl"
    jl.write_text(
        "\n".join(
            [
                json.dumps(row(outcome_id="A")),
                "",
                "{not json",
                json.dumps(row(outcome_id="B", rating="7")),
                "[1, 2]",
                json.dumps(NESTED | {"outcome_id": "C"}),
            ]
        ),
        encoding="utf-8",
    )
    batch = read(jl)
    assert [o.outcome_id for o in batch.outcomes] == ["A", "C"]
    r = reasons(batch)
    assert set(r) == {3, 4, 5}
    assert r[3].startswith("not valid JSON")
    assert r[4] == "rating: 7 is not between 1 and 5"
    assert r[5] == "record is a list, not a JSON object"

    js = tmp_path / "o.json"
    bad_nested = json.loads(json.dumps(NESTED))
    bad_nested["outcome_id"] = "Y"
    bad_nested["evaluation"]["skills"] = [{"name": "Python", "level": 6}]
    js.write_text(
        json.dumps({"outcomes": [row(outcome_id="X"), bad_nested, row(outcome_id="Z")]}), encoding="utf-8"
    )
    batch = read(js)
    assert [o.outcome_id for o in batch.outcomes] == ["X", "Z"]
    assert [(q.line, q.outcome_id, q.reason) for q in batch.quarantined] == [
        (2, "Y", "skills: level 6 for 'Python' is not between 1 and 5")
    ]


def test_too_many_fields_is_quarantined(tmp_path: Path) -> None:
    p = write_csv(tmp_path / "o.csv", [row(outcome_id="MI-1"), row(outcome_id="MI-2")])
    lines = p.read_text(encoding="utf-8").splitlines()
    lines[1] += ",Acme, Inc"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    batch = read(p)
    assert list(reasons(batch)) == [2]
    assert "fields but the header has" in batch.quarantined[0].reason
    assert [o.outcome_id for o in batch.outcomes] == ["MI-2"]


def test_semicolon_delimiter_and_bom(tmp_path: Path) -> None:
    p = tmp_path / "o.csv"
    with p.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(CANONICAL_COLUMNS), delimiter=";")
        writer.writeheader()
        writer.writerow(FLAT)
    batch = read(p, delimiter=";")
    assert batch.outcomes == [parse_row(FLAT, line=1)]


# --- unusable files -----------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(OutcomeFileError, match=r"not found: .*nope\.csv"):
        read(tmp_path / "nope.csv")


def test_invalid_json(tmp_path: Path) -> None:
    p = tmp_path / "o.json"
    p.write_text('[{"outcome_id": "MI-1",', encoding="utf-8")
    with pytest.raises(OutcomeFileError, match=r"o\.json is not valid JSON"):
        read(p)
    p.write_text('{"outcome_id": "MI-1"}', encoding="utf-8")
    with pytest.raises(OutcomeFileError, match="expected a JSON array"):
        read(p)
    jl = tmp_path / "o.jsonl"
    jl.write_text("outcome_id,student_email\nMI-1,x\n", encoding="utf-8")
    with pytest.raises(OutcomeFileError, match=r"o\.jsonl is not JSON Lines"):
        read(jl)


def test_empty_and_headerless_csv(tmp_path: Path) -> None:
    p = tmp_path / "o.csv"
    p.write_text("\n\n", encoding="utf-8")
    with pytest.raises(OutcomeFileError, match="no header row"):
        read(p)
    p.write_text("MI-1,ada@uni.example,Ada\n", encoding="utf-8")
    with pytest.raises(OutcomeFileError, match=r"o\.csv.*no column for outcome_id") as info:
        read(p)
    assert "ada@" not in str(info.value)


def test_header_only_is_an_empty_batch(tmp_path: Path) -> None:
    batch = read(write_csv(tmp_path / "o.csv", []))
    assert (batch.outcomes, batch.quarantined, batch.rows_read, batch.duplicates) == ([], [], 0, 0)


def test_wrong_encoding(tmp_path: Path) -> None:
    p = write_csv(tmp_path / "o.csv", [row(student_last_name="Lövelace")])
    p.write_bytes(p.read_text(encoding="utf-8").encode("cp1252"))
    with pytest.raises(OutcomeFileError, match="encoding"):
        read(p)
    assert read(p, encoding="cp1252").outcomes[0].student.last_name == "Lövelace"


# --- demo data ----------------------------------------------------------------------------------


def test_write_demo_outcomes_reads_back(tmp_path: Path) -> None:
    people = [
        {"email": f"student{i}@uni.example", "first_name": f"First{i}", "last_name": "Student", "kind": kind}
        for i, kind in enumerate(["primary", "secondary", "ambiguous", "unmatched"] * 3)
    ]
    p = tmp_path / "demo" / "outcomes.csv"
    written = write_demo_outcomes(p, people, employer="Globex Inc", seed=3)
    assert written == len(people) + 2
    batch = read(p)
    assert batch.rows_read == written
    assert len(batch.outcomes) == len(people)
    assert sorted(q.reason for q in batch.quarantined) == [
        "rating: 7 is not between 1 and 5",
        "student_email: missing",
    ]
    assert [o.student.email for o in batch.outcomes] == [p["email"] for p in people]
    strong = [o for o in batch.outcomes if o.evaluation.rating >= 4.5 and o.evaluation.would_hire]
    assert len(strong) == 4
    for o in batch.outcomes:
        assert o.employer == "Globex Inc"
        assert o.project.start_date.year == 2026 and o.project.end_date.year == 2026
        assert 2 <= len(o.evaluation.skills) <= 4
        assert 1 <= len(o.evaluation.deliverables) <= 2
        assert o.evaluation.comments
        assert o.project.supervisor is not None
        assert o.project.supervisor.email is not None
        assert o.project.supervisor.email.endswith("@globexinc.example")

    again = tmp_path / "again.csv"
    write_demo_outcomes(again, people, employer="Globex Inc", seed=3)
    assert again.read_bytes() == p.read_bytes()
    write_demo_outcomes(again, people, employer="Globex Inc", seed=4)
    assert again.read_bytes() != p.read_bytes()


def test_write_demo_outcomes_with_no_people(tmp_path: Path) -> None:
    p = tmp_path / "o.csv"
    assert write_demo_outcomes(p, []) == 2
    batch = read(p)
    assert batch.outcomes == [] and len(batch.quarantined) == 2


def test_outcome_type() -> None:
    assert isinstance(parse_row(NESTED, line=1), Outcome)
