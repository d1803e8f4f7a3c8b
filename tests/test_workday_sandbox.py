"""The Workday WWS sandbox: seeding, auth, paging, transaction log, faults, writes, admin endpoints."""

from __future__ import annotations

import base64
import hashlib
import math
import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from syncbridge.config import load_settings
from syncbridge.connectors.workday import envelopes, mapping, parse, sandbox
from syncbridge.connectors.workday.envelopes import NewJobRequisition, Paging, Range, WdRef
from syncbridge.connectors.workday.parse import SoapFault

V = sandbox.DEFAULT_VERSION
SIZE = 120
TAGS = mapping.TagNames({}, "Candidate_Tag_ID")


class Wws:
    """A minimal raw client of the sandbox (the connector has its own tests)."""

    def __init__(self, server: sandbox.SandboxServer) -> None:
        self.server = server
        self.url = server.url

    def post(
        self,
        el: ET.Element,
        *,
        version: str = V,
        tenant: str = sandbox.DEFAULT_TENANT,
        password: str = sandbox.DEFAULT_PASSWORD,
        bearer: str | None = None,
    ) -> requests.Response:
        if bearer is None:
            data = envelopes.envelope(el, username=sandbox.DEFAULT_USERNAME, password=password)
            headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}
        else:
            data = envelopes.envelope(el)
            headers = {"Content-Type": "text/xml; charset=utf-8", "Authorization": f"Bearer {bearer}"}
        return requests.post(
            f"{self.url}/ccx/service/{tenant}/Recruiting/{version}", data=data, headers=headers, timeout=10
        )

    def ok(self, el: ET.Element, **kw: Any) -> ET.Element:
        r = self.post(el, **kw)
        assert r.status_code == 200, r.text[:500]
        result = parse.body_payload(parse.parse_document(r.content))
        assert not isinstance(result, SoapFault)
        return result

    def fault(self, el: ET.Element, **kw: Any) -> tuple[int, SoapFault]:
        r = self.post(el, **kw)
        found = parse.find_fault(r.content)
        assert found is not None, (r.status_code, r.text[:300])
        return r.status_code, found

    def config(self, **kw: Any) -> dict[str, Any]:
        r = requests.post(f"{self.url}/_sandbox/config", json=kw, timeout=10)
        r.raise_for_status()
        return dict(r.json())

    def stats(self) -> dict[str, Any]:
        return dict(requests.get(f"{self.url}/_sandbox/stats", timeout=10).json())

    def candidates(self, **kw: Any) -> tuple[parse.PageInfo, list[dict[str, Any]]]:
        paging = kw.pop("paging", Paging(1, 100))
        p = self.ok(envelopes.get_candidates(V, paging, **kw))
        return parse.page_info(p), parse.response_records(p, "Candidate")

    def person(self, wid: str) -> dict[str, Any]:
        return dict(requests.get(f"{self.url}/_sandbox/candidates/{wid}", timeout=10).json())


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("wd-sandbox") / "wd.db"
    sandbox.seed(path, size=SIZE, seed=5)
    return path


@pytest.fixture(scope="module")
def server(db: Path) -> Iterator[sandbox.SandboxServer]:
    with sandbox.SandboxServer(db) as srv:
        yield srv


@pytest.fixture
def wws(server: sandbox.SandboxServer) -> Iterator[Wws]:
    client = Wws(server)
    yield client
    client.config(
        fault_rate=0.0,
        rate_limit=0,
        transaction_log=True,
        max_version=sandbox.DEFAULT_MAX_VERSION,
        rotate_refresh_tokens=False,
        latency_ms=0.0,
    )


def _dump(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        rows = [
            conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall()
            for t in ("candidates", "candidate_emails", "candidate_tags", "applications", "requisitions")
        ]
        return hashlib.sha256(repr(rows).encode()).hexdigest()
    finally:
        conn.close()


# --- seeding -------------------------------------------------------------------------------------------


def test_seed_is_deterministic_and_realistic(tmp_path: Path, db: Path) -> None:
    a, b, c = tmp_path / "a.db", tmp_path / "b.db", tmp_path / "c.db"
    sandbox.seed(a, size=SIZE, seed=5)
    sandbox.seed(b, size=SIZE, seed=5)
    sandbox.seed(c, size=SIZE, seed=6)
    assert _dump(a) == _dump(b) != _dump(c)
    sandbox.seed(a, size=50, seed=9)  # already seeded: a no-op
    assert _dump(a) == _dump(b)
    sandbox.seed(a, size=50, seed=9, reset=True)
    assert sqlite3.connect(a).execute("SELECT COUNT(*) FROM candidates").fetchone()[0] == 50
    for bad in (19, 1_000_001):
        with pytest.raises(ValueError, match="between 20"):
            sandbox.seed(tmp_path / f"bad{bad}.db", size=bad)

    conn = sqlite3.connect(db)
    per_person = dict(
        conn.execute("SELECT cand_pk, COUNT(*) FROM candidate_emails GROUP BY cand_pk").fetchall()
    )
    assert conn.execute("SELECT COUNT(*) FROM candidates").fetchone()[0] == SIZE
    assert any(n >= 2 for n in per_person.values()) and any(n == 3 for n in per_person.values())
    assert len(per_person) < SIZE  # some people have no e-mail at all
    shared = conn.execute(
        "SELECT email_lc FROM candidate_emails GROUP BY email_lc HAVING COUNT(DISTINCT cand_pk) = 2"
    ).fetchall()
    assert shared, "at least one e-mail is shared by two people"
    names = [
        r[0]
        for r in conn.execute(
            "SELECT first_name || ' ' || last_name FROM candidates WHERE first_name IS NOT NULL"
        )
    ]
    assert any(not n.isascii() for n in names)
    assert conn.execute("SELECT COUNT(*) FROM candidates WHERE phone IS NULL").fetchone()[0] > 0
    conn.close()


def test_demo_people_kinds(db: Path) -> None:
    people = sandbox.demo_people(db, n=10, seed=5)
    kinds = [p["kind"] for p in people]
    assert kinds.count("primary") == 6 and kinds.count("secondary") == 1
    assert kinds.count("ambiguous") == 1 and kinds.count("unmatched") == 2
    assert people == sandbox.demo_people(db, n=10, seed=5)
    conn = sqlite3.connect(db)
    for p in people:
        owners = conn.execute(
            "SELECT COUNT(DISTINCT cand_pk) FROM candidate_emails WHERE email_lc = ?",
            (p["email"].strip().lower(),),
        ).fetchone()[0]
        assert owners == {"primary": 1, "secondary": 1, "ambiguous": 2, "unmatched": 0}[p["kind"]], p
        assert set(p) == {"email", "first_name", "last_name", "kind"}
    conn.close()


def test_demo_connector_block_is_a_valid_workday_block(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in sandbox.DEMO_ENV.items():
        monkeypatch.setenv(name, value)
    block = sandbox.demo_connector_block("http://127.0.0.1:9999/")
    assert block["password"].startswith("${") and block["type"] == "workday"
    settings = load_settings(
        {
            "outcomes": {"path": "x.csv"},
            "connectors": {"wd": block},
            "routing": [{"employer": "Acme Corp", "connector": "wd"}],
        }
    )
    wd = settings.connectors["wd"]
    assert wd.password.get_secret_value() == sandbox.DEFAULT_PASSWORD  # type: ignore[attr-defined]
    assert wd.host == "http://127.0.0.1:9999"  # type: ignore[attr-defined]


# --- auth, version, tenant -----------------------------------------------------------------------------


def test_username_token_is_checked(wws: Wws) -> None:
    status, fault = wws.fault(envelopes.get_candidates(V, Paging(1, 1)), password="wrong")
    assert status == 500 and fault.kind == "authentication" and "authenticationError" in fault.faultcode
    r = requests.post(
        wws.server.service_url, data=envelopes.envelope(envelopes.get_candidates(V, Paging(1, 1))), timeout=10
    )
    found = parse.find_fault(r.content)
    assert r.status_code == 500 and found is not None and found.kind == "authentication"
    assert wws.post(envelopes.get_candidates(V, Paging(1, 1)), tenant="other").status_code == 404


def test_oauth_token_endpoint_and_bearer(wws: Wws) -> None:
    token_url = f"{wws.url}/ccx/oauth2/{sandbox.DEFAULT_TENANT}/token"
    form = {
        "grant_type": "refresh_token",
        "refresh_token": sandbox.DEFAULT_REFRESH_TOKEN,
        "client_id": sandbox.DEFAULT_CLIENT_ID,
        "client_secret": sandbox.DEFAULT_CLIENT_SECRET,
    }
    assert requests.post(token_url, data={**form, "client_secret": "nope"}, timeout=10).status_code == 401
    bad = requests.post(token_url, data={**form, "refresh_token": "nope"}, timeout=10)
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_grant"
    body = requests.post(token_url, data=form, timeout=10).json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and "refresh_token" not in body
    wws.ok(envelopes.get_candidates(V, Paging(1, 1)), bearer=body["access_token"])
    requests.post(f"{wws.url}/_sandbox/expire_tokens", timeout=10)
    assert (
        wws.fault(envelopes.get_candidates(V, Paging(1, 1)), bearer=body["access_token"])[1].kind
        == "authentication"
    )


def test_refresh_token_rotation(tmp_path: Path) -> None:
    path = tmp_path / "rot.db"
    sandbox.seed(path, size=20)
    with sandbox.SandboxServer(path, rotate_refresh_tokens=True) as srv:
        token_url = f"{srv.url}/ccx/oauth2/{sandbox.DEFAULT_TENANT}/token"
        form = {"grant_type": "refresh_token", "refresh_token": sandbox.DEFAULT_REFRESH_TOKEN}
        auth = (sandbox.DEFAULT_CLIENT_ID, sandbox.DEFAULT_CLIENT_SECRET)  # HTTP Basic client auth works too
        first = requests.post(token_url, data=form, auth=auth, timeout=10).json()
        assert first["refresh_token"] != sandbox.DEFAULT_REFRESH_TOKEN
        assert (
            requests.post(token_url, data=form, auth=auth, timeout=10).status_code == 400
        )  # old one is spent
        again = requests.post(
            token_url, data={**form, "refresh_token": first["refresh_token"]}, auth=auth, timeout=10
        )
        assert again.status_code == 200


def test_version_cap(wws: Wws) -> None:
    status, fault = wws.fault(envelopes.get_candidates("v48.0", Paging(1, 1)), version="v48.0")
    assert status == 500 and fault.kind == "validation"
    assert "version is invalid" in fault.message
    wws.ok(envelopes.get_candidates("v47.0", Paging(1, 1)), version="v47.0")
    wws.config(max_version="v45.0")
    assert wws.fault(envelopes.get_candidates(V, Paging(1, 1)))[1].kind == "validation"


# --- reads ---------------------------------------------------------------------------------------------


def test_paging_with_response_results(wws: Wws) -> None:
    as_of = datetime.now(UTC)
    info, first = wws.candidates(paging=Paging(1, 7, as_of))
    assert info.total_results >= SIZE and info.total_pages == math.ceil(info.total_results / 7)
    assert (info.page, info.page_results, len(first)) == (1, 7, 7)
    wids: list[str] = []
    for number in range(1, info.total_pages + 1):
        page_info, records = wws.candidates(paging=Paging(number, 7, as_of))
        assert page_info.page == number
        wids.extend(mapping.wid_of(r["Candidate_Reference"]) or "" for r in records)
    assert len(wids) == len(set(wids)) == info.total_results
    for bad in ("<bsvc:Count>1000</bsvc:Count>", "<bsvc:Page>0</bsvc:Page>"):
        xml = envelopes.to_xml(envelopes.get_candidates(V, Paging(1, 5)))
        xml = xml.replace("<bsvc:Count>5</bsvc:Count>" if "Count" in bad else "<bsvc:Page>1</bsvc:Page>", bad)
        status, fault = wws.fault(ET.fromstring(xml))
        assert status == 500 and "Response_Filter" in (fault.xpath or "")


def test_one_candidate_is_one_element_and_shapes_match_the_docs(wws: Wws) -> None:
    _info, some = wws.candidates(paging=Paging(1, 1))
    wid = mapping.wid_of(some[0]["Candidate_Reference"])
    r = wws.post(
        envelopes.get_candidates(V, Paging(1, 5), references=[WdRef.wid(wid or ""), WdRef.wid("nope")])
    )
    assert r.content.count(b"<wd:Candidate>") == 1
    result = parse.body_payload(parse.parse_document(r.content))
    assert not isinstance(result, SoapFault)
    records = parse.response_records(result, "Candidate")
    cand = mapping.candidate_from_wd(records[0], "wd", TAGS)
    assert cand.ref.id == wid and records[0]["Candidate_Data"]["Candidate_ID"].startswith("C")
    assert records[0]["Candidate_Reference"]["@Descriptor"]  # descriptors were asked for in the header
    assert "Status_Data" in records[0]["Candidate_Data"]


def test_as_of_entry_moment_hides_later_records(wws: Wws) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    wws.ok(
        envelopes.put_candidate(
            V,
            add_only=True,
            first_name="Late",
            last_name="Comer",
            email="late.comer@sandbox.example",
            prospect=True,
        )
    )
    pinned, _ = wws.candidates(paging=Paging(1, 1, before))
    live, _ = wws.candidates(paging=Paging(1, 1))
    assert live.total_results == pinned.total_results + 1


def test_transaction_log_window(wws: Wws) -> None:
    now = datetime.now(UTC)
    wws.ok(
        envelopes.put_candidate(
            V,
            add_only=True,
            first_name="Fresh",
            last_name="Person",
            email="fresh.person@sandbox.example",
            prospect=True,
        )
    )
    # bounds go out with whole seconds: round the end up (the sandbox allows a second of clock skew)
    end = (datetime.now(UTC) + timedelta(seconds=1)).replace(microsecond=0)
    _info, recent = wws.candidates(updated=Range(now - timedelta(seconds=2), end))
    emails = {e for r in recent for e in mapping.candidate_from_wd(r, "wd", TAGS).normalized_emails}
    assert "fresh.person@sandbox.example" in emails
    _info, old = wws.candidates(updated=Range(now - timedelta(days=3650), now - timedelta(days=3000)))
    assert old == []
    future = envelopes.get_candidates(V, Paging(1, 5), updated=Range(now, now + timedelta(hours=1)))
    assert "current moment" in wws.fault(future)[1].message
    wws.config(transaction_log=False)
    status, fault = wws.fault(
        envelopes.get_candidates(V, Paging(1, 5), updated=Range(now - timedelta(hours=1), now))
    )
    assert status == 500 and "Transaction_Log_Criteria_Data" in (fault.xpath or "")


def test_email_created_and_applied_criteria(wws: Wws, db: Path) -> None:
    person = next(p for p in sandbox.demo_people(db, n=10, seed=5) if p["kind"] == "ambiguous")
    _info, found = wws.candidates(email=person["email"].upper())
    assert len(found) == 2
    wide = Range(datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC))
    created, _ = wws.candidates(created=wide)
    applied, _ = wws.candidates(applied=wide)
    assert created.total_results >= SIZE > applied.total_results > 0


def test_requisitions(wws: Wws) -> None:
    p = wws.ok(envelopes.get_job_requisitions(V, Paging(1, 100)))
    reqs = [mapping.requisition_from_wd(r, "wd") for r in parse.response_records(p, "Job_Requisition")]
    assert len(reqs) >= len(sandbox.REQUISITIONS)
    assert all(r.code and r.code.startswith("R-") and r.status for r in reqs)


# --- writes --------------------------------------------------------------------------------------------


def _some_wid(wws: Wws, n: int = 3) -> str:
    _info, recs = wws.candidates(paging=Paging(n, 1))
    return mapping.wid_of(recs[0]["Candidate_Reference"]) or ""


def test_attachments_are_stored_and_listed(wws: Wws) -> None:
    wid = _some_wid(wws, 4)
    before = wws.stats()["notes"]
    req = envelopes.put_candidate_attachment(
        V,
        candidate=WdRef.wid(wid),
        filename="note.txt",
        content="Évaluation [syncbridge:x1]".encode(),
        comment="MI [syncbridge:x1]",
        category=WdRef(sandbox.DOCUMENT_CATEGORY_TYPE, "OTHER_DOCUMENTS"),
    )
    p = wws.ok(req)
    ids = parse.children_named(p, ["Attachment_Reference"])["Attachment_Reference"]
    att_wid = parse.ref_ids(ids[0])["WID"]
    assert wws.stats()["notes"] == before + 1
    r = wws.ok(
        envelopes.get_candidates(V, Paging(1, 1), references=[WdRef.wid(wid)], include_attachments=True)
    )
    items = mapping.attachments(parse.response_records(r, "Candidate")[0])
    found = mapping.find_marker(items, "syncbridge:x1")
    assert found is not None and mapping.attachment_id(found) == att_wid
    excluded = wws.ok(envelopes.get_candidates(V, Paging(1, 1), references=[WdRef.wid(wid)]))
    assert mapping.attachments(parse.response_records(excluded, "Candidate")[0]) == []
    restricted = envelopes.put_candidate_attachment(
        V,
        candidate=WdRef.wid(wid),
        filename="x.txt",
        content=b"x",
        category=WdRef(sandbox.DOCUMENT_CATEGORY_TYPE, "CONFIDENTIAL_REFERENCE_CHECKS"),
    )
    assert "access to the document category" in wws.fault(restricted)[1].message
    unknown = envelopes.put_candidate_attachment(
        V,
        candidate=WdRef.wid(wid),
        filename="x.txt",
        content=b"x",
        category=WdRef(sandbox.DOCUMENT_CATEGORY_TYPE, "NOPE"),
    )
    assert "Invalid ID value" in wws.fault(unknown)[1].message
    assert wws.stats()["notes"] == before + 1


def test_tags_must_exist_and_be_active_and_replace_the_list(wws: Wws) -> None:
    wid = _some_wid(wws, 5)
    inactive = envelopes.put_candidate(
        V,
        candidate=WdRef.wid(wid),
        add_only=False,
        tags=[WdRef("Candidate_Tag_ID", "BOOMERANG"), WdRef("Candidate_Tag_ID", "LEGACY_2019")],
    )
    status, fault = wws.fault(inactive)
    assert status == 500 and fault.items[0].message == "Enter active candidate tags."
    assert "'Legacy 2019' is inactive" in fault.message
    assert fault.xpath is not None and fault.xpath.endswith("Candidate_Tag_Reference[2]")
    missing = envelopes.put_candidate(
        V, candidate=WdRef.wid(wid), add_only=False, tags=[WdRef("Candidate_Tag_ID", "NO_SUCH_TAG")]
    )
    assert "NO_SUCH_TAG" in wws.fault(missing)[1].message
    wws.ok(
        envelopes.put_candidate(
            V,
            candidate=WdRef.wid(wid),
            add_only=False,
            tags=[WdRef("Candidate_Tag_ID", "MICRO_INTERN"), WdRef("Candidate_Tag_ID", "BOOMERANG")],
        )
    )
    assert wws.person(wid)["tags"] == ["MICRO_INTERN", "BOOMERANG"]
    wws.ok(
        envelopes.put_candidate(
            V, candidate=WdRef.wid(wid), add_only=False, tags=[WdRef("Candidate_Tag_ID", "MICRO_INTERN")]
        )
    )
    assert wws.person(wid)["tags"] == ["MICRO_INTERN"]  # Put_Candidate replaces the list here
    assert (
        wws.fault(envelopes.put_candidate(V, candidate=WdRef.wid(wid), add_only=True, tags=[]))[1].kind
        == "validation"
    )


def test_new_candidate_needs_name_contact_and_prospect_data(wws: Wws) -> None:
    no_contact = envelopes.put_candidate(V, add_only=True, first_name="A", last_name="B", prospect=True)
    assert "email address or a phone" in wws.fault(no_contact)[1].message
    no_prospect = envelopes.put_candidate(
        V, add_only=True, first_name="A", last_name="B", email="ab@x.example"
    )
    assert "Prospect Data" in wws.fault(no_prospect)[1].message


def test_create_requisition_and_move_candidate(wws: Wws) -> None:
    req = NewJobRequisition(
        title="Intern conversion: Data",
        reason=WdRef("General_Event_Subcategory_ID", "INTERN_CONVERSION"),
        supervisory_organization=WdRef("Organization_Reference_ID", "SUP-DATA"),
        openings=2,
    )
    p = wws.ok(envelopes.create_job_requisition(V, req))
    found = parse.children_named(p, ["Job_Requisition_Reference", "Event_Reference"])
    assert parse.ref_ids(found["Job_Requisition_Reference"][0])["Job_Requisition_ID"].startswith("R-")
    assert parse.ref_ids(found["Event_Reference"][0])["WID"]
    wrong_root = ET.fromstring(
        envelopes.to_xml(envelopes.create_job_requisition(V, req)).replace(
            "Create_Requisition_Request", "Create_Job_Requisition_Request"
        )
    )
    assert "Invalid request element" in wws.fault(wrong_root)[1].message

    conn = sqlite3.connect(wws.server.db_path)
    app_id = conn.execute(
        "SELECT app_id FROM applications WHERE disposition IS NULL ORDER BY pk LIMIT 1"
    ).fetchone()[0]
    conn.close()
    move = envelopes.move_candidate(
        V,
        job_application=WdRef("Job_Application_ID", app_id),
        next_step=WdRef("Workflow_Step_ID", "Interview"),
        comment="Strong intern",
    )
    assert parse.children_named(wws.ok(move), ["Event_Reference"])["Event_Reference"]
    out = envelopes.move_candidate(
        V,
        job_application=WdRef("Job_Application_ID", app_id),
        disposition_step=WdRef("Workflow_Step_ID", "DISP_WITHDREW"),
    )
    wws.ok(out)
    assert "in-progress" in wws.fault(move)[1].message


# --- faults, limits, admin -----------------------------------------------------------------------------


def test_injected_faults_happen_before_any_effect(wws: Wws) -> None:
    wid = _some_wid(wws, 6)
    before = wws.stats()
    wws.config(fault_rate=1.0, fault_seed=4)
    statuses = []
    for _ in range(12):
        req = envelopes.put_candidate_attachment(
            V,
            candidate=WdRef.wid(wid),
            filename="f.txt",
            content=b"x",
            category=WdRef(sandbox.DOCUMENT_CATEGORY_TYPE, "OTHER_DOCUMENTS"),
        )
        try:
            statuses.append(wws.post(req).status_code)
        except requests.ConnectionError:
            statuses.append(0)
    wws.config(fault_rate=0.0)
    after = wws.stats()
    assert set(statuses) == {0, 429, 500, 503}
    assert after["notes"] == before["notes"] and after["faults"] == before["faults"] + 12


def test_rate_limit_answers_429_with_retry_after(wws: Wws) -> None:
    wws.config(rate_limit=2, rate_window=60.0)
    codes = [wws.post(envelopes.get_candidates(V, Paging(1, 1))) for _ in range(3)]
    assert [r.status_code for r in codes][:2] == [200, 200] or 429 in [r.status_code for r in codes]
    limited = [r for r in codes if r.status_code == 429]
    assert limited and int(limited[0].headers["Retry-After"]) >= 1


def test_admin_config_validation_and_stats(wws: Wws) -> None:
    r = requests.post(f"{wws.url}/_sandbox/config", json={"nope": 1}, timeout=10)
    assert r.status_code == 422
    assert requests.post(f"{wws.url}/_sandbox/config", json={"fault_rate": 2}, timeout=10).status_code == 422
    assert wws.config(latency_ms=1.0)["latency_ms"] == 1.0
    stats = wws.stats()
    assert {"candidates", "attachments", "notes", "requests", "faults", "operations"} <= set(stats)
    assert requests.get(f"{wws.url}/_sandbox/health", timeout=10).json() == {"ok": True}
    assert requests.get(f"{wws.url}/_sandbox/candidates/nope", timeout=10).status_code == 404


def test_unsafe_request_xml_is_refused_by_the_sandbox(wws: Wws) -> None:
    body = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "e">]><x>&e;</x>'
    r = requests.post(wws.server.service_url, data=body, timeout=10)
    found = parse.find_fault(r.content)
    assert r.status_code == 500 and found is not None and "DTD" in found.message


def test_attachment_content_is_base64_on_the_wire(wws: Wws) -> None:
    wid = _some_wid(wws, 7)
    wws.ok(
        envelopes.put_candidate_attachment(
            V,
            candidate=WdRef.wid(wid),
            filename="b.txt",
            content=b"\x00\xffok",
            category=WdRef(sandbox.DOCUMENT_CATEGORY_TYPE, "OTHER_DOCUMENTS"),
        )
    )
    r = wws.post(
        envelopes.get_candidates(V, Paging(1, 1), references=[WdRef.wid(wid)], include_attachments=True)
    )
    assert base64.b64encode(b"\x00\xffok") in r.content


# --- conversion: requisitions with a code, job applications, their attachments, postings ---------------


def _conversion_req(code: str | None, **kw: Any) -> NewJobRequisition:
    base: dict[str, Any] = {
        "title": "Data Analyst Intern",
        "reason": WdRef("General_Event_Subcategory_ID", "INTERN_CONVERSION"),
        "supervisory_organization": WdRef("Organization_Reference_ID", "SUP-DATA"),
        "requisition_id": code,
        "job_profile": WdRef("Job_Profile_ID", "JP-GRADUATE"),
        "worker_type": WdRef("Worker_Type_ID", "Employee"),
        "time_type": WdRef("Position_Time_Type_ID", "Full_time"),
    }
    return NewJobRequisition(**{**base, **kw})


def test_requisition_code_is_unique_and_reference_data_is_checked(wws: Wws) -> None:
    p = wws.ok(envelopes.create_job_requisition(V, _conversion_req("MI-SBX-1")))
    ids = parse.ref_ids(
        parse.children_named(p, ["Job_Requisition_Reference"])["Job_Requisition_Reference"][0]
    )
    assert ids["Job_Requisition_ID"] == "MI-SBX-1"
    _status, dup = wws.fault(envelopes.create_job_requisition(V, _conversion_req("MI-SBX-1")))
    assert dup.kind == "validation" and "already in use" in dup.message
    assert dup.xpath and dup.xpath.endswith("wd:Job_Requisition_ID[1]")
    _status, org = wws.fault(
        envelopes.create_job_requisition(
            V,
            _conversion_req("MI-SBX-2", supervisory_organization=WdRef("Organization_Reference_ID", "SUP-X")),
        )
    )
    assert "'SUP-X' is not a valid ID value" in org.message
    assert org.xpath and org.xpath.endswith("wd:Supervisory_Organization_Reference[1]")
    _status, prof = wws.fault(
        envelopes.create_job_requisition(
            V, _conversion_req("MI-SBX-2", job_profile=WdRef("Job_Profile_ID", "JP-X"))
        )
    )
    assert prof.xpath and prof.xpath.endswith("wd:Job_Profile_Reference[1]")
    found = wws.ok(
        envelopes.get_job_requisitions(V, Paging(1, 5), references=[WdRef("Job_Requisition_ID", "MI-SBX-1")])
    )
    [rec] = parse.response_records(found, "Job_Requisition")
    req = mapping.requisition_from_wd(rec, "wd")
    assert (req.code, req.status) == ("MI-SBX-1", "Awaiting Approval")
    assert parse.ref_ids(
        parse.dig(rec, "Job_Requisition_Data", "Hiring_Requirement_Data", "Job_Profile_Reference")
    )


def test_apply_attach_to_the_application_and_post(wws: Wws) -> None:
    p = wws.ok(envelopes.create_job_requisition(V, _conversion_req("MI-SBX-3")))
    req_wid = parse.ref_ids(
        parse.children_named(p, ["Job_Requisition_Reference"])["Job_Requisition_Reference"][0]
    )["WID"]
    wid = _some_wid(wws, 9)
    application = envelopes.JobApplication(WdRef.wid(req_wid), WdRef("Recruiting_Stage_ID", "Review"))
    out = wws.ok(
        envelopes.put_candidate(V, candidate=WdRef.wid(wid), add_only=False, job_application=application)
    )
    [created] = parse.children_named(out, ["Candidate_Job_Application_Data"])[
        "Candidate_Job_Application_Data"
    ]
    app_ids = parse.ref_ids(created["Job_Application_Reference"])
    assert app_ids["Job_Application_ID"].startswith("JA-")
    again = wws.fault(
        envelopes.put_candidate(V, candidate=WdRef.wid(wid), add_only=False, job_application=application)
    )
    assert "has already applied to MI-SBX-3" in again[1].message
    bad_stage = envelopes.JobApplication(WdRef.wid(req_wid), WdRef("Recruiting_Stage_ID", "Nope"))
    assert (
        "Nope"
        in wws.fault(
            envelopes.put_candidate(V, candidate=WdRef.wid(wid), add_only=False, job_application=bad_stage)
        )[1].message
    )

    att = wws.ok(
        envelopes.put_job_application_attachment(
            V,
            candidate=WdRef.wid(wid),
            job_application=WdRef("Job_Application_ID", app_ids["Job_Application_ID"]),
            filename="micro-internship-prescreen-x.txt",
            content=b"Prescreen [syncbridge:x]\n",
            comment="Micro-internship prescreen [syncbridge:x]",
        )
    )
    assert any(parse.local(e.tag) == "Job_Application_Attachment_Reference" for e in att.iter())
    other = _some_wid(wws, 10)
    wrong = envelopes.put_job_application_attachment(
        V, candidate=WdRef.wid(other), job_application=WdRef.wid(app_ids["WID"]), filename="f", content=b"x"
    )
    assert "does not belong" in wws.fault(wrong)[1].message
    _info, [rec] = wws.candidates(references=[WdRef.wid(wid)], include_attachments=True)
    [app] = [a for a in mapping.job_applications(rec) if a["requisition"].get("WID") == req_wid]
    assert app["stage"] == {"Review"} and [parse.text(a["Filename"]) for a in app["attachments"]] == [
        "micro-internship-prescreen-x.txt"
    ]
    assert all("prescreen" not in str(a) for a in mapping.attachments(rec))  # not a candidate-level file

    site = WdRef("Job_Posting_Site_ID", "INTERNAL")
    post = envelopes.post_job(V, requisition=WdRef.wid(req_wid), site=site, start=datetime.now(UTC).date())
    assert "must be open to be posted" in wws.fault(post)[1].message  # approval still running
    requests.post(
        f"{wws.url}/_sandbox/requisitions/MI-SBX-3", json={"status": "Open"}, timeout=10
    ).raise_for_status()
    posted = wws.ok(post)
    assert any(parse.local(e.tag) == "Job_Posting_Reference" for e in posted.iter())
    assert "already posted" in wws.fault(post)[1].message
    listed = wws.ok(
        envelopes.get_job_postings(V, Paging(1, 10), requisition=WdRef.wid(req_wid), sites=[site])
    )
    [posting] = parse.response_records(listed, "Job_Posting")
    assert parse.ref_ids(parse.dig(posting, "Job_Posting_Data", "Job_Posting_Site_Reference")) == {
        "Job_Posting_Site_ID": "INTERNAL"
    }
    external = envelopes.get_job_postings(
        V, Paging(1, 10), requisition=WdRef.wid(req_wid), sites=[WdRef("Job_Posting_Site_ID", "EXTERNAL")]
    )
    assert parse.response_records(wws.ok(external), "Job_Posting") == []
    stats = wws.stats()
    assert (
        stats["jobs_posted"] >= 1
        and stats["application_attachments"] >= 1
        and stats["applications_created"] >= 1
    )


def test_demo_conversion_rule_names_seeded_reference_data() -> None:
    rule = sandbox.demo_conversion_rule("Initech")
    opts = rule["requisition"]["options"]
    assert rule["when"] == {"employer": "Initech", "min_rating": 4.5, "would_hire": True}
    assert rule["requisition"]["code"] == "MI-{project.team}-{project.role_title}"
    assert opts["supervisory_organization"] in sandbox.ORGS and opts["reason"] in sandbox.REASONS
    assert opts["job_profile"] in sandbox.JOB_PROFILES and opts["location"] in sandbox.LOCATIONS
    assert opts["worker_type"] in sandbox.WORKER_TYPES and opts["time_type"] in sandbox.TIME_TYPES
    assert rule["prescreen"]["stage"] in sandbox.STAGES
    assert sandbox.demo_connector_block("http://x")["move_to_step"] in sandbox.STAGES
