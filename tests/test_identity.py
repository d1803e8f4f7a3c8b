"""Identity with confidence, end to end against the Greenhouse sandbox: evidence beyond the e-mail,
a score per link, the review queue (list / accept / reject) and one syncbridge person per student."""

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
from syncbridge.config import load_config
from syncbridge.connectors.greenhouse import sandbox
from syncbridge.demo_data import write_demo_outcomes
from syncbridge.identity import Identity, e164, norm_name, person_links
from syncbridge.store import Store
from test_greenhouse_e2e import GH

SECRET_ENV = "SB_IDENTITY_GH_SECRET"


@pytest.fixture
def gh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[sandbox.SandboxServer]:
    monkeypatch.setenv(SECRET_ENV, sandbox.DEFAULT_CLIENT_SECRET)
    db = tmp_path / "gh.db"
    sandbox.seed(db, size=120, seed=21)
    server = sandbox.SandboxServer(db, rate_limit=0).start()
    yield server
    server.stop()


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def _write(path: Path, names: list[str], rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=names)
        writer.writeheader()
        writer.writerows(rows)


def _cli(cfg: Path, *args: str) -> Any:
    result = CliRunner().invoke(main, ["-c", str(cfg), *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def _run(cfg: Path) -> dict[str, Any]:
    out = _cli(cfg, "run", "--no-prefect", "--json").stdout
    return dict(json.loads(out[out.index("{") :]))


@pytest.mark.e2e
def test_evidence_links_weak_links_wait_for_review_and_decisions_are_remembered(
    gh: sandbox.SandboxServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    outcomes = tmp_path / "outcomes.csv"
    write_demo_outcomes(outcomes, sandbox.demo_people(gh.db_path, n=12, seed=21))
    api = GH(gh.url)
    names, rows = _rows(outcomes)
    rows = [r for r in rows if r["student_email"]]
    single = [r for r in rows if len(api.candidates(r["student_email"])) == 1]
    a, b, c, d = single[0], single[1], single[2], single[3]
    a["student_phone"] = "+1 415 555 0142"
    for r in (b, c, d):
        r["student_school"] = "Northgate University"
    _write(outcomes, names, rows)
    cfg = write_config(
        {"acme-gh": greenhouse_block(gh, secret_env=SECRET_ENV)},
        outcomes={"path": str(outcomes)},
        matching={"create_unmatched": False},
        history={"note": True, "tags": []},
    )
    first = _run(cfg)
    assert first["actions"]["failed"] == 0, first["errors"]

    # the same students, later, with new personal addresses (the ATS still has the school ones)
    def later(r: dict[str, str], oid: str, email: str, phone: str) -> dict[str, str]:
        return {**r, "outcome_id": oid, "student_email": email, "student_phone": phone, "project_id": oid}

    rows += [
        later(a, "A2", "a.new@personal.example", "+14155550142"),  # same phone: the same student
        later(b, "B2", "b.new@personal.example", ""),  # same name and school only: not enough alone
        later(c, "C2", "c.new@personal.example", ""),
        later(d, "D2", "d.new@personal.example", ""),  # waits, until the ATS learns the new address
    ]
    _write(outcomes, names, rows)
    second = _run(cfg)
    assert second["actions"]["failed"] == 0, second["errors"]
    assert second["outcomes"]["review"] == 3

    def ours(email: str, oid: str) -> list[dict[str, Any]]:
        [person] = api.candidates(email)
        return [n for n in api.notes(person["id"]) if f"syncbridge outcome {oid}" in n["body"]]

    assert len(ours(a["student_email"], "A2")) == 1  # linked through the earlier link of the same student
    assert ours(b["student_email"], "B2") == [] and ours(c["student_email"], "C2") == []  # never written
    listed = _cli(cfg, "review").output
    assert "outcome B2 on acme-gh" in listed and "outcome C2 on acme-gh" in listed and "name_school" in listed
    assert "3 link(s) waiting for review" in _cli(cfg, "status").output
    # the recruiter adds the new address to d's record in the ATS: D2 now links by e-mail
    [d_person] = api.candidates(d["student_email"])
    emails = [*d_person["email_addresses"], {"value": "d.new@personal.example", "type": "personal"}]
    import requests

    requests.patch(
        f"{gh.url}/v3/candidates/{d_person['id']}",
        json={"email_addresses": emails},
        headers=api.headers,
        timeout=10,
    ).raise_for_status()

    assert "accepted: outcome B2" in _cli(cfg, "review", "accept", "B2").output
    assert "rejected: outcome C2" in _cli(cfg, "review", "reject", "C2").output
    assert _cli(cfg, "review", "accept", "C2").exit_code == 2  # a decision is final
    third = _run(cfg)
    assert third["actions"]["failed"] == 0, third["errors"]
    assert len(ours(b["student_email"], "B2")) == 1  # accepted: written
    assert ours(c["student_email"], "C2") == []  # rejected: not written, not proposed again
    assert (
        "0 link(s) waiting for review" in _cli(cfg, "review").output
    )  # D2's review closed by the e-mail link
    assert len(ours(d["student_email"], "D2")) == 1
    assert _run(cfg)["actions"]["planned"] == 0

    store = Store(load_config(cfg).state.url)
    try:
        from sqlalchemy import select

        from syncbridge.store import links, outcome_people

        with store.engine.connect() as conn:
            owner = dict(conn.execute(select(outcome_people.c.outcome_id, outcome_people.c.person_id)).all())
            methods = dict(
                conn.execute(
                    select(links.c.outcome_id, links.c.method).where(links.c.outcome_id == "A2")
                ).all()
            )
        assert owner["A2"] == owner[a["outcome_id"]] and owner["B2"] != owner[b["outcome_id"]]
        assert methods["A2"].startswith("same_student")
        [cand] = api.candidates(a["student_email"])
        assert person_links(store, owner["A2"]) == {"acme-gh": [str(cand["id"])]}
    finally:
        store.close()


def test_phone_and_name_normalisation() -> None:
    assert e164("+1 (415) 555-0142") == e164("+14155550142") == "+14155550142"
    assert e164("415.555.0142") is None  # no country code and no region: not compared
    assert e164("415.555.0142", "US") == "+14155550142"
    assert e164("+44 20 7946 0958") == "+442079460958"
    assert e164("not a phone") is None and e164("+1 555 01") is None
    assert norm_name("José", "García-López") == norm_name("jose", "GARCIA LOPEZ") == "jose garcia lopez"
    assert Identity.confidence(["phone", "name"]) == 0.82
    assert Identity.confidence(["name_school", "name"]) == 0.7
    assert Identity.confidence([]) == 0.0


def test_phones_are_found_in_every_vendors_mirrored_record() -> None:
    from syncbridge.identity import _phones_in

    assert _phones_in({"phone_numbers": [{"value": "+1 415 555 0142", "type": "mobile"}]}) == [
        "+1 415 555 0142"
    ]
    assert _phones_in({"phones": [{"type": "mobile", "value": "+44 20 7946 0958"}]}) == ["+44 20 7946 0958"]
    workday = {"Candidate_Data": {"Contact_Data": {"Phone_Number": "+49 30 1234567", "Email_Address": "x"}}}
    assert _phones_in(workday) == ["+49 30 1234567"]


@pytest.mark.e2e
def test_one_student_at_two_employers_is_one_person_with_a_link_in_each_ats(
    gh: sandbox.SandboxServer,
    write_config: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import requests

    from syncbridge.connectors.lever import sandbox as lever_sandbox

    for name, value in lever_sandbox.DEMO_ENV.items():
        monkeypatch.setenv(name, value)
    db = tmp_path / "lever.db"
    lever_sandbox.seed(db, size=60)
    with lever_sandbox.SandboxServer(db, rate_per_second=0) as lv:
        outcomes = tmp_path / "outcomes.csv"
        write_demo_outcomes(outcomes, sandbox.demo_people(gh.db_path, n=4, seed=21))
        names, rows = _rows(outcomes)
        api = GH(gh.url)
        student = next(r for r in rows if r["student_email"] and len(api.candidates(r["student_email"])) == 1)
        # the same student also worked with Globex, whose Lever knows them by the same address
        auth = (lever_sandbox.DEFAULT_API_KEY, "")
        users = requests.get(
            f"{lv.api_url}/users",
            params={"email": lever_sandbox.DEMO_PERFORM_AS_EMAIL},
            auth=auth,
            timeout=10,
        ).json()["data"]
        created = requests.post(
            f"{lv.api_url}/opportunities",
            params={"perform_as": users[0]["id"]},
            json={"name": "Known Student", "emails": [student["student_email"]], "origin": "sourced"},
            auth=auth,
            timeout=10,
        )
        assert created.status_code in (200, 201), created.text
        rows.append({**student, "outcome_id": "GLOBEX-1", "employer": "Globex", "project_id": "GLOBEX-1"})
        _write(outcomes, names, rows)
        block = lever_sandbox.demo_connector_block(lv.url)
        block.update({"rate_per_second": 500.0, "burst": 500})
        cfg = write_config(
            {
                "acme-gh": greenhouse_block(gh, secret_env=SECRET_ENV),
                "globex-lever": block,
            },
            outcomes={"path": str(outcomes)},
            routing=[
                {"employer": "Acme Corp", "connector": "acme-gh"},
                {"employer": "Globex", "connector": "globex-lever"},
            ],
            history={"note": True, "tags": []},
        )
        summary = _run(cfg)
        assert summary["actions"]["failed"] == 0, summary["errors"]
        status = _cli(cfg, "status", "--json").stdout
        people = json.loads(status[status.index("{") :])["people"]
        assert people["linked_in_several_ats"] == 1
        assert "1 with links in more than one ATS" in _cli(cfg, "status").output
        one = _cli(cfg, "status", "--person", student["student_email"].upper()).output
        assert "acme-gh: " in one and "globex-lever: " in one and "GLOBEX-1" in one
        assert _cli(cfg, "status", "--person", "nobody@nowhere.example").exit_code == 2
        store = Store(load_config(cfg).state.url)
        try:
            from sqlalchemy import select

            from syncbridge.store import outcome_people

            with store.engine.connect() as conn:
                owner = dict(
                    conn.execute(select(outcome_people.c.outcome_id, outcome_people.c.person_id)).all()
                )
            assert owner["GLOBEX-1"] == owner[student["outcome_id"]]
            assert set(person_links(store, owner["GLOBEX-1"])) == {"acme-gh", "globex-lever"}
        finally:
            store.close()
        # the person id is what `forget` takes too: both employers' outcomes and links go at once
        gone = _cli(cfg, "forget", "--person", owner["GLOBEX-1"], "--yes", "--json")
        assert gone.exit_code == 0, gone.output
        report = json.loads(gone.stdout[gone.stdout.index("{") :])
        assert {"GLOBEX-1", student["outcome_id"]} <= set(report["outcomes"])
        assert {p.split(":")[0] for p in report["persons"]} == {"acme-gh", "globex-lever"}
        store = Store(load_config(cfg).state.url)
        try:
            assert person_links(store, owner["GLOBEX-1"]) == {}
        finally:
            store.close()
        assert _cli(cfg, "status", "--person", student["student_email"]).exit_code == 2
        assert _cli(cfg, "forget", "--person", "no-such-person", "--yes").exit_code == 2
