"""The demo across vendors: outcomes routed by employer, a second run writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from syncbridge.cli import main
from syncbridge.redact import redact

pytestmark = pytest.mark.e2e


def _demo(workdir: Path, vendors: str) -> dict:
    args = ["demo", "--no-prefect", "--json", "--size", "80", "--workdir", str(workdir), "--vendor", vendors]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout[result.stdout.index("{") :]))


def test_demo_against_all_vendors_routes_by_employer_and_reruns_clean(tmp_path: Path) -> None:
    vendors = "greenhouse,lever,workday"
    first = _demo(tmp_path, vendors)
    synced = first["synced"]
    assert {k.split("/")[0] for k in synced} == {"acme-greenhouse", "globex-lever", "initech-workday"}
    assert first["actions"]["applied"] > 0 and first["actions"]["failed"] == 0
    assert first["outcomes"]["quarantined"] == 6  # two bad sample rows per vendor
    assert first["outcomes"]["unrouted"] == 0
    # what recruiters see: an early-talent student nurtured, and a weak identity link waiting for review
    nurtured = [c for c in first["conversions"] if c["state"].startswith("nurture: graduates")]
    assert {c["connector"] for c in nurtured} == {"acme-greenhouse", "globex-lever", "initech-workday"}
    assert first["outcomes"]["review"] == 3
    listed = CliRunner().invoke(main, ["-c", str(tmp_path / "demo.yaml"), "review"]).output
    assert "3 link(s) waiting for review" in listed and "-LATER on " in listed
    second = _demo(tmp_path, vendors)
    assert second["actions"]["planned"] == 0 and second["actions"]["applied"] == 0


def test_unknown_vendor_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["demo", "--vendor", "taleo", "--workdir", str(tmp_path)])
    assert result.exit_code == 2 and "--vendor: taleo" in result.output


def test_redaction_masks_plain_and_url_encoded_emails() -> None:
    text = redact("GET /v1/opportunities?email=jane.doe%40example.org then bob@corp.io")
    assert "jane.doe" not in text and "bob@corp.io" not in text
    assert "j***%40example.org" in text and "b***@corp.io" in text
