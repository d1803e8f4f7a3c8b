"""Greenhouse v3 payloads → the common model (fixtures follow the record tables of greenhouse-v3.md)."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from syncbridge.connectors.greenhouse import mapping
from syncbridge.errors import InvalidRecord
from syncbridge.model import Application, Candidate, Email, NewCandidate, Phone, Ref, Requisition

FIXTURES = Path(__file__).parent / "fixtures" / "greenhouse"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture
def local_tz_not_utc():
    """Run a test with the host's local time far from UTC, so "naive = local time" bugs show up."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Kolkata"  # +05:30, no DST
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()


# --- timestamps ---------------------------------------------------------------------------------------


def test_parse_ts_greenhouse_forms():
    assert mapping.parse_ts("2024-12-15T03:55:00.000Z") == datetime(2024, 12, 15, 3, 55, tzinfo=UTC)
    assert mapping.parse_ts("2024-12-15T03:55:00Z") == datetime(2024, 12, 15, 3, 55, tzinfo=UTC)
    parsed = mapping.parse_ts("2024-12-15T05:55:00.123+02:00")
    assert parsed is not None
    assert parsed.astimezone(UTC) == datetime(2024, 12, 15, 3, 55, 0, 123000, tzinfo=UTC)
    # no offset: Greenhouse timestamps are UTC
    assert mapping.parse_ts("2024-12-15T03:55:00") == datetime(2024, 12, 15, 3, 55, tzinfo=UTC)
    # an `_on` date-only field
    assert mapping.parse_ts("2025-03-01") == datetime(2025, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize("value", [None, "", "not a date", 1734234900, "2024-13-45T00:00:00Z", {}])
def test_parse_ts_rejects_garbage(value):
    assert mapping.parse_ts(value) is None


def test_format_ts_is_utc_milliseconds_z():
    assert mapping.format_ts(datetime(2024, 1, 2, 3, 4, 5, 678999, tzinfo=UTC)) == "2024-01-02T03:04:05.678Z"
    assert mapping.format_ts(datetime(2024, 1, 1, tzinfo=UTC)) == "2024-01-01T00:00:00.000Z"
    # other offsets are converted, not just relabelled
    plus_two = timezone(timedelta(hours=2))
    assert mapping.format_ts(datetime(2024, 1, 1, 1, 30, tzinfo=plus_two)) == "2023-12-31T23:30:00.000Z"


def test_format_ts_naive_is_utc_not_local_time(local_tz_not_utc):
    assert mapping.format_ts(datetime(2024, 1, 1, 12, 0)) == "2024-01-01T12:00:00.000Z"


def test_format_parse_round_trip():
    value = datetime(2025, 6, 30, 23, 59, 59, 999000, tzinfo=UTC)
    assert mapping.parse_ts(mapping.format_ts(value)) == value


def test_window_filter_pipe_form_both_ends():
    since = datetime(2024, 1, 1, tzinfo=UTC)
    until = datetime(2024, 1, 2, 0, 0, 0, 500000, tzinfo=UTC)
    assert mapping.window_filter(since, until) == "gte|2024-01-01T00:00:00.000Z|lte|2024-01-02T00:00:00.500Z"


def test_window_filter_full_read_has_upper_bound_only():
    until = datetime(2024, 1, 2, tzinfo=UTC)
    assert mapping.window_filter(None, until) == "lte|2024-01-02T00:00:00.000Z"


# --- custom fields ------------------------------------------------------------------------------------


def test_read_custom_fields_keeps_every_value_type_and_nulls():
    fields = mapping.read_custom_fields(load("candidate.json")["custom_fields"])
    assert fields == {
        "cost_center": "CC-1",
        "graduation_year": 2025,
        "relocate": True,
        "languages": ["English", "Deutsch"],
        "desired_salary": {"amount": 50000, "currency_code": "EUR"},
        "mi_score": None,
    }


@pytest.mark.parametrize("value", [None, [], "x", 3])
def test_read_custom_fields_tolerates_non_mapping(value):
    assert mapping.read_custom_fields(value) == {}


def test_read_custom_fields_bare_values_pass_through():
    assert mapping.read_custom_fields({"a": 1, "b": {"value": None}}) == {"a": 1, "b": None}


def test_write_custom_fields_is_the_name_key_array():
    written = mapping.write_custom_fields({"cost_center": "CC-2", "mi_score": 4.5, "cleared": None})
    assert written == [
        {"name_key": "cost_center", "value": "CC-2"},
        {"name_key": "mi_score", "value": 4.5},
        {"name_key": "cleared", "value": None},
    ]
    assert mapping.write_custom_fields({}) == []


# --- candidates ---------------------------------------------------------------------------------------


def test_candidate_from_v3_full_record():
    record = load("candidate.json")
    cand = mapping.candidate_from_v3(record, "gh")
    assert isinstance(cand, Candidate)
    assert cand.ref == Ref(connector="gh", kind="candidate", id="53883394")
    assert cand.first_name == "Zoë"
    assert cand.last_name == "Ångström-Nuñez"
    assert cand.display_name == "Zoë Ångström-Nuñez"
    # entries without a value are dropped, types kept, order kept
    assert cand.emails == (
        Email(value="Zoe.Angstrom@Example.org", type="personal"),
        Email(value="zoe@muller.example", type="work"),
    )
    assert cand.normalized_emails == ["zoe.angstrom@example.org", "zoe@muller.example"]
    assert cand.phones == (
        Phone(value="+1 555 0100", type="mobile"),
        Phone(value="+44 20 7946 0000", type="work"),
    )
    assert cand.tags == ("Micro-internship", "Alumni 2024", "数据")
    assert cand.custom_fields["cost_center"] == "CC-1"
    assert cand.custom_fields["mi_score"] is None
    assert cand.created_at == datetime(2024, 12, 15, 3, 55, tzinfo=UTC)
    assert cand.updated_at == datetime(2025, 1, 20, 17, 45, 12, 345000, tzinfo=UTC)
    assert cand.application_ids == ()  # v3 candidates carry no applications
    # nothing the vendor sent is lost, unknown keys included
    assert cand.raw == record
    assert cand.raw["some_future_field"] == {"nested": [1, 2, 3]}


def test_candidate_from_v3_tag_objects_and_nulls():
    record = load("candidate_tag_objects.json")
    cand = mapping.candidate_from_v3(record, "gh")
    assert cand.ref.id == "53883395"
    assert cand.first_name == "Łukasz"
    assert cand.last_name is None
    assert cand.display_name == "Łukasz"
    assert cand.tags == ("Alumni 2024", "Référé")  # {id, name} objects; one without a name skipped
    assert cand.phones == ()
    assert cand.emails == (Email(value="lukasz@example.pl", type=None),)
    assert cand.custom_fields == {"cost_center": None, "graduation_year": None}
    assert cand.updated_at == datetime(2025, 2, 2, 9, 30, 0, 500000, tzinfo=UTC)
    assert cand.raw["unknown_extra"] == "ignored by the mapping, kept in raw"


def test_candidate_from_v3_minimal_record():
    cand = mapping.candidate_from_v3({"id": 7}, "gh")
    assert cand.ref.id == "7"
    assert (cand.first_name, cand.last_name, cand.emails, cand.tags) == (None, None, (), ())
    assert cand.custom_fields == {}
    assert cand.created_at is None
    assert cand.display_name == "#7"


def test_candidate_from_v3_empty_names_become_none():
    cand = mapping.candidate_from_v3({"id": 8, "first_name": "", "last_name": "", "tags": None}, "gh")
    assert cand.first_name is None and cand.last_name is None and cand.tags == ()


def test_candidate_from_v3_requires_an_id():
    with pytest.raises(InvalidRecord, match="candidate refused: id is missing"):
        mapping.candidate_from_v3({"first_name": "No", "last_name": "Id"}, "gh")


# --- applications -------------------------------------------------------------------------------------


def test_application_from_v3_prospect_in_process():
    prospect, _ = load("applications.json")
    app = mapping.application_from_v3(prospect, "gh")
    assert isinstance(app, Application)
    assert app.ref == Ref(connector="gh", kind="application", id="70001")
    assert app.candidate_id == "53883394"
    assert app.requisition_id is None  # a prospect without a job
    assert app.status == "in_process"  # the record says in_process (the filter says active)
    assert app.prospect is True
    assert app.stage is None
    assert app.custom_fields == {"referral_program": "Campus"}
    assert app.created_at == datetime(2025, 1, 10, 12, tzinfo=UTC)
    assert app.raw["prospective_job_ids"] == [4001, 4002]
    assert app.raw["future_key"] == 1


def test_application_from_v3_applicant_on_a_job():
    _, applicant = load("applications.json")
    app = mapping.application_from_v3(applicant, "gh")
    assert app.requisition_id == "4001"
    assert app.status == "rejected"
    assert app.stage == "Phone Screen"
    assert app.prospect is False
    assert app.custom_fields == {}
    assert app.updated_at == datetime(2025, 1, 13, 8, 15, 30, 250000, tzinfo=UTC)


# --- jobs ---------------------------------------------------------------------------------------------


def test_requisition_from_job():
    record = load("job.json")
    req = mapping.requisition_from_job(record, "gh")
    assert isinstance(req, Requisition)
    assert req.ref == Ref(connector="gh", kind="requisition", id="4001")
    assert req.name == "Data Analyst Intern \u2013 Growth"  # en dash from the fixture
    assert req.code == "REQ-2025-017"
    assert req.status == "open"
    assert req.is_template is False
    assert req.department == "55"
    assert req.custom_fields == {"budget_code": "B-77", "headcount_type": None}
    assert req.created_at == datetime(2024, 11, 1, tzinfo=UTC)
    assert req.raw == record


def test_requisition_from_template_job_with_nulls():
    req = mapping.requisition_from_job(load("job_template.json"), "gh")
    assert req.is_template is True
    assert req.name == "job 3999"
    assert req.code is None
    assert req.department is None
    assert req.custom_fields == {}
    assert req.status == "draft"


# --- create body --------------------------------------------------------------------------------------


def test_new_candidate_body_prospect():
    new = NewCandidate(
        first_name="Ada", last_name="Lovelace", email="ada@uni.example", phone="+1 555", tags=("MI", "Alumni")
    )
    assert mapping.new_candidate_body(new) == {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email_addresses": [{"value": "ada@uni.example", "type": "personal"}],
        "phone_numbers": [{"value": "+1 555", "type": "mobile"}],
        "tags": ["MI", "Alumni"],
        "application": {"prospect": True},
    }


def test_new_candidate_body_minimal_and_truncated():
    new = NewCandidate(first_name="A" * 300, last_name="B", email="a@b.example")
    body = mapping.new_candidate_body(new, prospect=False)
    assert len(body["first_name"]) == 255
    assert "phone_numbers" not in body and "tags" not in body and "application" not in body
