"""Privacy: forgetting a person, erasure signals from an ATS, keyed e-mail hashes (SQLite and PostgreSQL).

The end-to-end tests run the real pipeline (``syncbridge run --no-prefect``) against the Greenhouse sandbox,
then ``syncbridge forget``, then scan every text column of every table of the state store for the person's
e-mail, name and phone.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import select

from syncbridge import privacy
from syncbridge.cli import main
from syncbridge.config import load_config
from syncbridge.connectors.greenhouse import sandbox
from syncbridge.demo_data import write_demo_outcomes
from syncbridge.model import Candidate, Email, Phone, Ref
from syncbridge.store import Store, metadata

pytestmark = pytest.mark.e2e
SECRET_ENV = "SB_TEST_GH_SECRET"
HASH_ENV = "SB_TEST_EMAIL_HASH_KEY"
ADMIN_USER = 1000001


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def state_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def gh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[sandbox.SandboxServer]:
    monkeypatch.setenv(SECRET_ENV, sandbox.DEFAULT_CLIENT_SECRET)
    monkeypatch.setenv(HASH_ENV, "a-test-key-that-is-long-enough")
    db = tmp_path / "gh.db"
    sandbox.seed(db, size=150, seed=11)
    server = sandbox.SandboxServer(db, rate_limit=0).start()
    yield server
    server.stop()


def _config(
    write_config: Callable[..., Path], server: sandbox.SandboxServer, tmp: Path, **sections: Any
) -> Path:
    outcomes = tmp / "outcomes.csv"
    if not outcomes.exists():
        write_demo_outcomes(outcomes, sandbox.demo_people(server.db_path, n=10, seed=11))
    return write_config(
        {
            "acme-gh": {
                "type": "greenhouse",
                "client_id": sandbox.DEFAULT_CLIENT_ID,
                "client_secret": "${" + SECRET_ENV + "}",
                "user_id": ADMIN_USER,
                "base_url": server.url,
                "token_url": f"{server.url}/token",
                "max_attempts": 4,
            }
        },
        outcomes={"path": str(outcomes)},
        matching={"create_unmatched": True},
        history={"note": True, "tags": ["micro-intern"], "fields": {"mi_rating": "evaluation.rating"}},
        **sections,
    )


def _cli(cfg: Path, *args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["-c", str(cfg), *args], input=stdin)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def _run(cfg: Path) -> dict[str, Any]:
    code, out = _cli(cfg, "run", "--no-prefect", "--json")
    assert code == 0, out
    return dict(json.loads(out[out.index("{") :]))


class GH:
    def __init__(self, url: str) -> None:
        self.url = url
        body = requests.post(
            f"{url}/token",
            data={"grant_type": "client_credentials"},
            auth=(sandbox.DEFAULT_CLIENT_ID, sandbox.DEFAULT_CLIENT_SECRET),
            timeout=10,
        ).json()
        self.headers = {"Authorization": f"Bearer {body['access_token']}"}

    def get(self, path: str, **params: Any) -> list[dict[str, Any]]:
        r = requests.get(f"{self.url}{path}", params=params, headers=self.headers, timeout=10)
        r.raise_for_status()
        return list(r.json())

    def person(self, email: str) -> dict[str, Any]:
        people = self.get("/v3/candidates", email=email)
        assert len(people) == 1
        return people[0]

    def state(self, email: str) -> tuple[Any, ...]:
        p = self.person(email)
        notes = sorted(n["body"] for n in self.get("/v3/notes", candidate_ids=str(p["id"])))
        fields = sorted((k, (v or {}).get("value")) for k, v in (p.get("custom_fields") or {}).items())
        return (tuple(sorted(p.get("tags") or [])), tuple(notes), tuple(fields))


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _linked_person(server: sandbox.SandboxServer, tmp: Path) -> dict[str, str]:
    """A linked (primary e-mail) person of the demo outcomes, with the phone the ATS holds."""
    kinds = {p["email"]: p["kind"] for p in sandbox.demo_people(server.db_path, n=10, seed=11)}
    rows = [r for r in _rows(tmp / "outcomes.csv") if kinds.get(r["student_email"]) == "primary"]
    row = rows[0]
    person = GH(server.url).person(row["student_email"])
    phones = [p["value"] for p in person.get("phone_numbers") or [] if p.get("value")]
    return {
        "email": row["student_email"],
        "first": person["first_name"],
        "last": person["last_name"],
        "phone": phones[0] if phones else row.get("student_phone") or "",
        "outcome_id": row["outcome_id"],
        "id": str(person["id"]),
    }


def _traces(store: Store, who: dict[str, str]) -> list[str]:
    """Every (table, column) whose text holds the e-mail, the phone, or the first and last name together."""
    needles = [who["email"].lower()] + ([who["phone"]] if who.get("phone") else [])
    found = []
    with store.engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)).mappings():
                for column, value in row.items():
                    if value is None or isinstance(value, (int, float, bool, datetime)):
                        continue
                    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                    low = text.lower()
                    hit = any(n.lower() in low for n in needles) or (
                        who["first"].lower() in low and who["last"].lower() in low
                    )
                    if hit:
                        found.append(f"{table.name}.{column}")
    return sorted(set(found))


def test_forget_removes_every_trace_keeps_tombstones_and_a_later_run_writes_nothing(
    gh: sandbox.SandboxServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    cfg = _config(write_config, gh, tmp_path)
    first = _run(cfg)
    assert first["actions"]["applied"] > 0
    who = _linked_person(gh, tmp_path)
    api = GH(gh.url)
    in_ats = api.state(who["email"])
    assert in_ats[1], "the first run wrote a note"
    store = Store(load_config(cfg).state.url)
    try:
        assert _traces(store, who), "the person is in the store before forget"

        code, out = _cli(cfg, "forget", who["email"], "--yes", "--requested-by", "dpo@acme", "--json")
        assert code == 0, out
        report = json.loads(out)
        assert f"acme-gh:{who['id']}" in report["persons"]
        assert who["outcome_id"] in report["outcomes"]
        assert report["counts"]["sb_candidates"] >= 1 and report["counts"]["sb_outcomes"] == 1
        assert report["counts"]["sb_ledger"] >= 3 and report["counts"]["sb_tombstones"] >= 3
        kinds = {r["kind"] for r in report["ats_records"] if r["person"] == who["id"]}
        assert {"add_note", "add_tags", "set_fields"} <= kinds
        note = next(r for r in report["ats_records"] if r["kind"] == "add_note")
        assert note["marker"].startswith("syncbridge:") and note["ref"]
        assert "Greenhouse" in report["ats_erasure"]["acme-gh"]
        assert who["email"] not in out and who["last"] not in out

        assert _traces(store, who) == []
        # exactly-once tombstones: the ledger rows stay done and keyed, without payload or target
        from syncbridge.store import ledger

        with store.engine.connect() as conn:
            rows = [
                dict(r)
                for r in conn.execute(
                    select(ledger).where(ledger.c.outcome_id == who["outcome_id"])
                ).mappings()
            ]
        assert rows and all(r["status"] == "done" and r["target"] is None for r in rows)
        assert all(r["payload"] == {"forgotten": report["erasure_id"]} for r in rows)
        log = privacy.privacy_log_rows(store)
        assert [(r["action"], r["requested_by"], r["erasure_id"]) for r in log] == [
            ("forget", "dpo@acme", report["erasure_id"])
        ]
        assert who["email"] not in json.dumps(log, default=str)
    finally:
        store.close()

    # the outcome file still holds the person and the ATS still has them: nothing is written again,
    # and nothing about them comes back into the store
    second = _run(cfg)
    assert second["actions"]["planned"] == 0 and second["actions"]["applied"] == 0
    assert any(
        q["outcome_id"] == who["outcome_id"] and q["reason"].startswith("forgotten")
        for q in second["quarantine"]
    )
    assert api.state(who["email"]) == in_ats
    store = Store(load_config(cfg).state.url)
    try:
        assert _traces(store, who) == []
    finally:
        store.close()

    code, out = _cli(cfg, "run", "--no-prefect")
    assert code == 0 and f"quarantined outcome: forgotten: outcome {who['outcome_id']}" in out, out

    # unforget: they are processed again, but what was written is not written twice
    code, out = _cli(cfg, "unforget", "-", stdin=who["email"] + "\n")
    assert code == 0 and "lifted" in out, out
    third = _run(cfg)
    assert third["actions"]["applied"] == 0 and third["actions"]["failed"] == 0
    assert api.state(who["email"]) == in_ats


def test_forget_by_outcome_and_dry_run_changes_nothing(
    gh: sandbox.SandboxServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    cfg = _config(write_config, gh, tmp_path)
    _run(cfg)
    who = _linked_person(gh, tmp_path)
    store = Store(load_config(cfg).state.url)
    try:
        before = _snapshot(store)
        code, out = _cli(cfg, "forget", "--outcome", who["outcome_id"], "--dry-run")
        assert code == 0, out
        assert "forget (dry run)" in out and "would remove" in out and f"acme-gh:{who['id']}" in out
        assert "sb_outcomes 1" in out and who["email"] not in out
        assert _snapshot(store) == before
        # --online asks the ATS (reads only) whether what syncbridge wrote is still there
        code, out = _cli(cfg, "forget", "--outcome", who["outcome_id"], "--dry-run", "--online", "--json")
        assert code == 0, out
        online = {r["kind"]: r["online"] for r in json.loads(out)["ats_records"]}
        assert online["add_note"] == "present" and online["add_tags"] == "present"
        assert _snapshot(store) == before

        # without --yes it asks; answering no changes nothing
        code, out = _cli(cfg, "forget", "--outcome", who["outcome_id"], stdin="n\n")
        assert code == 1 and "Aborted" in out
        assert _snapshot(store) == before

        code, out = _cli(cfg, "forget", "--outcome", who["outcome_id"], stdin="y\n")
        assert code == 0 and "forgotten: erasure" in out, out
        assert _traces(store, who) == []
        log = privacy.privacy_log_rows(store)
        assert len(log) == 1 and log[0]["requested_by"]  # the OS user by default
        code, out = _cli(cfg, "forget", "--log")
        assert code == 0 and f"forget       {log[0]['erasure_id']} by {log[0]['requested_by']}" in out, out
        assert who["email"] not in out
    finally:
        store.close()
    code, out = _cli(cfg, "forget", "--outcome", "NO-SUCH-OUTCOME", "--yes")
    assert code == 2 and "not in the state store" in out


def _snapshot(store: Store) -> dict[str, list[str]]:
    with store.engine.connect() as conn:
        return {
            t.name: sorted(
                json.dumps(dict(r), default=str, sort_keys=True) for r in conn.execute(select(t)).mappings()
            )
            for t in metadata.sorted_tables
            if t.name not in ("sb_meta",)
        }


def _lever_like(cid: str, email: str, **kw: Any) -> Candidate:
    """A person; only c-1 is Zoë Quinteros-Ørsted with phone +1 555 0199."""
    me = cid == "c-1"
    phone = "+1 555 0199" if me else f"+1 555 02{len(cid)}{cid[-1]}"
    return Candidate(
        ref=Ref(connector="lv", kind="contact", id=cid),
        first_name="Zoë" if me else "Ana",
        last_name="Quinteros-Ørsted" if me else f"Other-{cid}",
        emails=(Email(value=email),),
        phones=(Phone(value=phone),),
        raw={"id": cid, "emails": [email], "phones": [{"value": phone}], **kw.pop("raw", {})},
        updated_at=datetime(2026, 1, 1, tzinfo=UTC),
        **kw,
    )


@pytest.fixture
def store(state_url_for: Callable[[str], str]) -> Iterator[Store]:
    s = Store(state_url_for("signals"))
    yield s
    s.close()


def test_deletion_signals_lead_to_the_same_erasure(store: Store) -> None:
    who = {"email": "zoe.q@example.org", "first": "Zoë", "last": "Quinteros-Ørsted", "phone": "+1 555 0199"}
    store.upsert_page(
        "lv",
        "candidate",
        "candidates",
        [_lever_like("c-1", who["email"]), _lever_like("c-2", "other@example.org")],
    )
    store.upsert_page(
        "gh",
        "candidate",
        "candidates",
        [
            _lever_like("77", "gh.person@example.org").model_copy(
                update={"ref": Ref(connector="gh", kind="candidate", id="77")}
            )
        ],
    )
    assert _traces(store, who)

    # a sync page where Lever reports the contact deleted (all opportunities gone): erased, not mirrored
    page = privacy.screen_page(store, "lv", [_lever_like("c-1", who["email"], deleted=True)])
    assert page == []
    assert _traces(store, who) == []
    assert store.candidates_by_email("lv", "other@example.org")  # someone else is untouched
    # ... and it stays out: the next page that still carries them is dropped
    assert privacy.screen_page(store, "lv", [_lever_like("c-1", who["email"])]) == []
    log = privacy.privacy_log_rows(store)
    assert [(r["action"], r["reason"]) for r in log] == [("erase_signal", "lv: deleted in the ATS")]

    # Lever's isAnonymized flag on a polled record
    assert (
        privacy.screen_page(
            store, "lv", [_lever_like("c-2", "other@example.org", raw={"isAnonymized": True})]
        )
        == []
    )
    assert store.candidates_by_email("lv", "other@example.org") == []

    # webhooks: Greenhouse candidate_anonymized / delete_candidate, Lever candidateDeleted
    body = {
        "action": "candidate_anonymized",
        "payload": {"candidate_id": 77, "anonymized_fields": ["full_name"]},
    }
    erasure = privacy.handle_webhook(store, "gh", "greenhouse", body)
    assert erasure is not None and erasure.logged and erasure.counts["sb_candidates"] == 1
    assert store.candidates_by_email("gh", "gh.person@example.org") == []
    # a person syncbridge knows nothing about: nothing to erase, nothing recorded
    gone = privacy.handle_webhook(
        store, "gh", "greenhouse", {"action": "delete_candidate", "payload": {"person": {"id": 5}}}
    )
    assert gone is not None and not gone.logged
    assert (
        privacy.handle_webhook(store, "gh", "greenhouse", {"action": "merge_candidate", "payload": {}})
        is None
    )
    store.upsert_page("lv", "candidate", "candidates", [_lever_like("c-3", "third@example.org")])
    erasure = privacy.handle_webhook(
        store, "lv", "lever", {"event": "candidateDeleted", "data": {"contactId": "c-3"}}
    )
    assert erasure is not None and erasure.logged
    assert store.candidates_by_email("lv", "third@example.org") == []
    assert len(privacy.privacy_log_rows(store)) == 4


def _emails_in_clear(store: Store, emails: list[str]) -> list[str]:
    from syncbridge.store import applications, candidate_emails, candidates, ledger, outcomes

    hits = []
    with store.engine.connect() as conn:
        for table in (candidate_emails, candidates, applications, outcomes, ledger):
            for row in conn.execute(select(table)).mappings():
                text = json.dumps(dict(row), default=str).lower()
                hits.extend(f"{table.name}" for e in emails if e.lower() in text)
    return sorted(set(hits))


def test_hashed_emails_still_match_and_switching_an_existing_store(
    gh: sandbox.SandboxServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    hashed = {"hash_emails": True, "hash_key": "${" + HASH_ENV + "}"}
    cfg = _config(write_config, gh, tmp_path)
    first = _run(cfg)  # a store that keeps e-mails in clear
    assert first["outcomes"]["linked"] > 0
    emails = [r["student_email"] for r in _rows(tmp_path / "outcomes.csv") if r["student_email"]]
    store = Store(load_config(cfg).state.url)
    try:
        assert _emails_in_clear(store, emails)
    finally:
        store.close()

    # turning hashing on for that store is refused, with the fix, until the store is migrated
    on = _config(write_config, gh, tmp_path, privacy=hashed, state={"url": load_config(cfg).state.url})
    code, out = _cli(on, "run", "--no-prefect", "--json")
    assert code == 2 and "syncbridge migrate --hash-emails" in out and "Traceback" not in out
    code, out = _cli(on, "migrate", "--hash-emails")
    assert code == 0 and "keyed hashes" in out, out
    store = Store(load_config(on).state.url)
    try:
        assert _emails_in_clear(store, emails) == []
    finally:
        store.close()
    second = _run(on)
    assert second["outcomes"]["linked"] == first["outcomes"]["linked"] + first["outcomes"]["unmatched"]
    assert second["actions"]["applied"] == 0  # matching by hash finds the same people: nothing twice

    # forgetting works on hashes too
    who = _linked_person(gh, tmp_path)
    code, out = _cli(on, "forget", who["email"], "--yes")
    assert code == 0, out
    store = Store(load_config(on).state.url)
    try:
        assert _traces(store, who) == []
    finally:
        store.close()
    # ... and by outcome id, when the store only knows the hash
    kinds = {p["email"]: p["kind"] for p in sandbox.demo_people(gh.db_path, n=10, seed=11)}
    row = next(r for r in _rows(tmp_path / "outcomes.csv") if kinds.get(r["student_email"]) == "secondary")
    code, out = _cli(on, "forget", "--outcome", row["outcome_id"], "--yes", "--json")
    assert code == 0, out
    assert json.loads(out)["counts"]["sb_candidate_emails"] >= 1
    third = _run(on)
    assert any(q["outcome_id"] == who["outcome_id"] for q in third["quarantine"])
    assert any(q["outcome_id"] == row["outcome_id"] for q in third["quarantine"])

    # turning it off again, or another key, is refused: the clear addresses are gone
    off = _config(write_config, gh, tmp_path, state={"url": load_config(cfg).state.url})
    code, out = _cli(off, "run", "--no-prefect")
    assert code == 2 and "keeps only keyed e-mail hashes" in out


def test_a_new_store_with_hashing_on_matches_from_the_first_run(
    gh: sandbox.SandboxServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    cfg = _config(
        write_config, gh, tmp_path, privacy={"hash_emails": True, "hash_key": "${" + HASH_ENV + "}"}
    )
    first = _run(cfg)
    assert first["outcomes"]["linked"] > 0 and first["actions"]["failed"] == 0
    emails = [r["student_email"] for r in _rows(tmp_path / "outcomes.csv") if r["student_email"]]
    store = Store(load_config(cfg).state.url)
    try:
        assert _emails_in_clear(store, emails) == []
        digest = privacy.email_digest(b"a-test-key-that-is-long-enough", " " + emails[0].upper())
        assert digest.startswith("hmac:") and len(digest) == 69
    finally:
        store.close()
    assert _run(cfg)["actions"]["planned"] == 0
    # another key would match no one: refused, naming the key
    other = _config(
        write_config,
        gh,
        tmp_path,
        privacy={"hash_emails": True, "hash_key": "another-key-of-enough-length"},
        state={"url": load_config(cfg).state.url},
    )
    code, out = _cli(other, "run", "--no-prefect")
    assert code == 2 and "privacy.hash_key: not the key" in out


def test_hash_key_is_required_and_checked(write_config: Callable[..., Path], tmp_path: Path) -> None:
    from syncbridge.errors import ConfigError

    cfg = write_config(
        {"gh": {"type": "greenhouse", "client_id": "x", "client_secret": "y", "user_id": 1}},
        privacy={"hash_emails": True},
    )
    with pytest.raises(ConfigError, match=r"privacy\.hash_key: missing"):
        load_config(cfg)


def _fill_every_table(store: Store) -> dict[str, str]:
    """One person (Zoë, c-1) in every table syncbridge has, next to someone else (c-2)."""
    from syncbridge.model import Application, Evaluation, MicroInternship, Outcome, Person
    from syncbridge.outcomes import Quarantined

    who = {"email": "zoe.q@example.org", "first": "Zoë", "last": "Quinteros-Ørsted", "phone": "+1 555 0199"}
    store.upsert_page(
        "lv",
        "candidate",
        "candidates",
        [_lever_like("c-1", who["email"]), _lever_like("c-2", "bo@example.org")],
    )
    app = Application(
        ref=Ref(connector="lv", kind="application", id="opp-1"),
        candidate_id="c-1",
        raw={"id": "opp-1", "contact": "c-1", "emails": [who["email"]], "name": "Zoë Quinteros-Ørsted"},
    )
    store.upsert_page("lv", "application", "applications", [app])
    store.upsert_page("lv", "other", "users", [{"id": "u-9", "email": who["email"]}])  # e.g. also a user

    def outcome(oid: str, email: str, first: str, last: str) -> Outcome:
        return Outcome(
            outcome_id=oid,
            student=Person(
                email=email, first_name=first, last_name=last, phone=who["phone"] if oid == "O-1" else None
            ),
            project=MicroInternship(
                project_id="p",
                title="Data project",
                employer="Acme Corp",
                start_date="2026-01-05",
                end_date="2026-02-05",
            ),
            evaluation=Evaluation(rating=4.8, would_hire=True, comments=f"{first} {last} was great"),
        )

    store.record_outcomes(
        [
            outcome("O-1", who["email"], who["first"], who["last"]),
            outcome("O-2", "bo@example.org", "Ana", "Other-c-2"),
        ]
    )
    store.record_quarantine(
        "run-1", "outcomes.csv", [Quarantined(7, "rating: 7 is not between 1 and 5", "O-1", {})]
    )
    store.save_links(
        [
            {
                "outcome_id": "O-1",
                "connector": "lv",
                "status": "linked",
                "candidate_id": "c-1",
                "method": "email_primary",
                "confidence": 1.0,
                "candidates": [],
            },
            {
                "outcome_id": "O-2",
                "connector": "lv",
                "status": "linked",
                "candidate_id": "c-2",
                "method": "email_primary",
                "confidence": 1.0,
                "candidates": [],
            },
        ]
    )
    for key, kind, oid, target, payload in (
        (
            "k-note",
            "add_note",
            "O-1",
            "c-1",
            {"subject": "Micro-internship", "text": "Zoë Quinteros-Ørsted: 4.8/5"},
        ),
        ("k-tags", "add_tags", "O-1", "c-1", {"tags": ["micro-intern"]}),
        ("k-req", "create_requisition", "O-1", None, {"code": "MI-DATA", "title": "Data Analyst"}),
        ("k-other", "add_note", "O-2", "c-2", {"subject": "x", "text": "Ana Other-c-2"}),
    ):
        store.ledger_start(
            key, connector="lv", kind=kind, outcome_id=oid, target=target, payload=payload, run_id="r"
        )
        store.ledger_finish(key, "done", remote_ref=f"ref-{key}")
        store.audit(
            run_id="r",
            actor="syncbridge",
            connector="lv",
            kind=kind,
            key=key,
            target=target,
            result="applied",
            detail=f"ref-{key}",
        )
    store.request_approval(
        "k-conv",
        outcome_id="O-1",
        connector="lv",
        rule="strong",
        summary="Zoë Quinteros-Ørsted: Data project 4.8/5",
    )
    store.decide_approval("k-conv", "approved", by="alice", reason="Zoë Quinteros-Ørsted is great")
    return who


def test_forget_scrubs_every_table_and_leaves_everyone_else(store: Store) -> None:
    who = _fill_every_table(store)
    other = {"email": "bo@example.org", "first": "Ana", "last": "Other-c-2", "phone": "+1 555 0242"}
    before = _traces(store, who)
    assert {
        "sb_candidates.raw",
        "sb_applications.raw",
        "sb_records.raw",
        "sb_outcomes.data",
        "sb_ledger.payload",
        "sb_approvals.summary",
    } <= set(before)
    other_before = _traces(store, other)

    preview = privacy.forget(store, email=" ZOE.Q@example.org ", dry_run=True)
    assert _traces(store, who) == before and privacy.privacy_log_rows(store) == []
    store.run_started("still-running", "pipeline")
    assert privacy.runs_in_progress(store) == ["still-running"]  # forget warns about it
    store.run_finished("still-running", "completed")
    assert privacy.runs_in_progress(store) == []
    erasure = privacy.forget(store, email=" ZOE.Q@example.org ", requested_by="dpo")
    assert erasure.counts == {**preview.counts, "sb_tombstones": erasure.counts["sb_tombstones"]}
    assert erasure.counts["sb_candidates"] == 1 and erasure.counts["sb_quarantine"] == 1
    assert erasure.counts["sb_records"] == 1 and erasure.counts["sb_applications"] == 1
    assert (
        erasure.counts["sb_ledger"] == 3
        and erasure.counts["sb_approvals"] == 1
        and erasure.counts["sb_audit"] == 3
    )
    assert _traces(store, who) == []
    assert _traces(store, other) == other_before  # nobody else lost anything
    assert store.ledger_get("k-other")["payload"]["text"] == "Ana Other-c-2"  # type: ignore[index]
    # tombstones: the ledger keeps key/status/remote ref; the approval keeps its decision
    note = store.ledger_get("k-note")
    assert note is not None and (note["status"], note["remote_ref"], note["target"]) == (
        "done",
        "ref-k-note",
        None,
    )
    assert store.ledger_get("k-req")["outcome_id"] is None  # type: ignore[index]
    assert store.approval_status("k-conv") == "approved"
    stones = privacy.load_tombstones(store)
    assert set(stones.outcomes) == {"O-1"} and set(stones.persons) == {"lv:c-1"}
    assert len(stones.emails) == 1 and all(v.startswith("hmac:") for v in stones.emails)
    log = privacy.privacy_log_rows(store)
    assert (
        len(log) == 1
        and log[0]["requested_by"] == "dpo"
        and "zoe" not in json.dumps(log, default=str).lower()
    )
    kinds = sorted(r["kind"] for r in log[0]["ats_records"])
    assert kinds == ["add_note", "add_tags", "create_requisition"]


def test_forget_a_person_syncbridge_created_in_the_ats(
    gh: sandbox.SandboxServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    cfg = _config(write_config, gh, tmp_path)
    kinds = {p["email"]: p["kind"] for p in sandbox.demo_people(gh.db_path, n=10, seed=11)}
    first = _run(cfg)
    assert first["outcomes"]["unmatched"] > 0
    row = next(r for r in _rows(tmp_path / "outcomes.csv") if kinds.get(r["student_email"]) == "unmatched")
    who = {
        "email": row["student_email"],
        "first": row["student_first_name"],
        "last": row["student_last_name"],
        "phone": row["student_phone"],
    }
    created = GH(gh.url).person(who["email"])  # syncbridge made this person in the run
    code, out = _cli(cfg, "forget", who["email"], "--yes", "--json")
    assert code == 0, out
    report = json.loads(out)
    made = [r for r in report["ats_records"] if r["kind"] == "create_candidate"]
    assert [r["ref"] for r in made] == [str(created["id"])]
    store = Store(load_config(cfg).state.url)
    try:
        assert _traces(store, who) == []
    finally:
        store.close()
    again = _run(cfg)
    assert again["actions"]["planned"] == 0
    assert len(GH(gh.url).get("/v3/candidates", email=who["email"])) == 1  # not created a second time


def test_lever_contact_deleted_in_the_ats_is_erased_by_the_next_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Polling sees Lever deletions (/opportunities/deleted): the next run erases the person locally."""
    import sqlite3

    from syncbridge.connectors.lever import sandbox as lever
    from test_lever_e2e import Env

    for name, value in lever.DEMO_ENV.items():
        monkeypatch.setenv(name, value)
    db = tmp_path / "lever.db"
    lever.seed(db, size=120)
    with lever.SandboxServer(db, rate_per_second=0) as server:
        env = Env(tmp_path, server, db)
        first = env.run()
        assert first["actions"]["failed"] == 0
        conn = sqlite3.connect(str(db))
        try:
            for p in (p for p in env.people if p["kind"] == "primary"):
                email = p["email"].strip().lower()
                (contact,) = conn.execute(
                    "SELECT contact FROM contact_emails WHERE email = ?", (email,)
                ).fetchone()
                opps = [
                    i for (i,) in conn.execute("SELECT id FROM opportunities WHERE contact = ?", (contact,))
                ]
                row = next(r for r in _rows(env.outcomes) if r["student_email"].strip().lower() == email)
                break
        finally:
            conn.close()
        for opp in opps:
            requests.post(f"{server.url}/_sandbox/opportunities/{opp}/delete", timeout=5).raise_for_status()
        who = {"email": email, "first": row["student_first_name"], "last": row["student_last_name"]}
        who["phone"] = row["student_phone"]
        state = Store(f"sqlite:///{tmp_path / 'state.db'}")
        try:
            assert _traces(state, who)
            second = env.run()
            assert second["actions"]["applied"] == 0 and second["actions"]["failed"] == 0
            assert any(q["outcome_id"] == row["outcome_id"] for q in second["quarantine"])
            assert _traces(state, who) == []
            log = privacy.privacy_log_rows(state)
            assert [(r["action"], r["requested_by"]) for r in log] == [("erase_signal", "syncbridge")]
            assert log[0]["reason"] == "lever-acme: deleted in the ATS"
            assert any(r["kind"] == "add_note" for r in log[0]["ats_records"])
        finally:
            state.close()


def test_erase_in_ats_deletes_lever_notes_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A separate, confirmed step after forget: the notes syncbridge wrote are deleted in Lever (which
    allows deleting notes made through the API); nothing else is touched there."""
    import sqlite3

    from syncbridge.connectors.lever import sandbox as lever
    from test_lever_e2e import Env

    for name, value in lever.DEMO_ENV.items():
        monkeypatch.setenv(name, value)
    db = tmp_path / "lever.db"
    lever.seed(db, size=120)

    def notes_with(marker: str) -> int:
        conn = sqlite3.connect(str(db))
        try:
            return sum(1 for (data,) in conn.execute("SELECT data FROM notes") if marker in data)
        finally:
            conn.close()

    with lever.SandboxServer(db, rate_per_second=0) as server:
        env = Env(tmp_path, server, db)
        assert env.run()["actions"]["failed"] == 0
        email = next(p["email"] for p in env.people if p["kind"] == "primary")
        code, out = _cli(env.config, "forget", email, "--yes", "--json")
        assert code == 0, out
        report = json.loads(out)
        markers = [r["marker"] for r in report["ats_records"] if r["kind"] == "add_note"]
        assert len(markers) == 1 and notes_with(markers[0]) == 1
        total = env.stats()["notes"]

        code, out = _cli(env.config, "forget", "--erase-in-ats", report["erasure_id"], stdin="n\n")
        assert code == 1 and "1 note(s) to delete" in out and notes_with(markers[0]) == 1  # declined
        code, out = _cli(env.config, "forget", "--erase-in-ats", report["erasure_id"], "--yes")
        assert code == 0 and "deleted 1" in out, out
        assert "by hand: lever-acme add_tags" in out  # tags are left to the admin, with the route
        assert notes_with(markers[0]) == 0 and env.stats()["notes"] == total - 1
        code, out = _cli(env.config, "forget", "--erase-in-ats", report["erasure_id"], "--yes")
        assert code == 0 and "already gone 1" in out, out
        code, out = _cli(env.config, "forget", "--log")
        assert out.count("erase_in_ats") == 2 and email not in out
    code, out = _cli(env.config, "forget", "--erase-in-ats", "nosuchid", "--yes")
    assert code == 2 and "not in the privacy log" in out


def test_lever_sandbox_deletes_only_notes_made_through_the_api(tmp_path: Path) -> None:
    import sqlite3

    from syncbridge.connectors.lever import sandbox as lever

    db = tmp_path / "lever.db"
    lever.seed(db, size=60)
    conn = sqlite3.connect(str(db))
    seeded_id, opp = conn.execute("SELECT id, opp_id FROM notes LIMIT 1").fetchone()
    conn.close()
    auth = (lever.DEFAULT_API_KEY, "")
    with lever.SandboxServer(db, rate_per_second=0) as server:
        root = f"{server.url}/v1/opportunities/{opp}/notes"
        made = requests.post(root, json={"value": "hello"}, auth=auth, timeout=5).json()["data"]["noteId"]
        assert requests.delete(f"{root}/{seeded_id}", auth=auth, timeout=5).status_code == 403
        assert requests.delete(f"{root}/{made}", auth=auth, timeout=5).status_code == 204
        assert requests.delete(f"{root}/{made}", auth=auth, timeout=5).status_code == 404


def test_forget_finds_outcomes_of_a_non_ascii_address(store: Store) -> None:
    """The outcome search reads the JSON text; a non-ASCII address may be escaped there, so it is found
    by reading the outcomes instead (and an ASCII one sharing a prefix is not confused with it)."""
    from syncbridge.model import Evaluation, MicroInternship, Outcome, Person

    def outcome(oid: str, email: str) -> Outcome:
        return Outcome(
            outcome_id=oid,
            student=Person(email=email, first_name="Zoë", last_name="Ünal"),
            project=MicroInternship(
                project_id="p",
                title="T",
                employer="Acme Corp",
                start_date="2026-01-05",
                end_date="2026-02-05",
            ),
            evaluation=Evaluation(rating=4.0, would_hire=True),
        )

    store.record_outcomes([outcome("O-1", "zoë@exämple.org"), outcome("O-2", "zo@exämple.org.uk")])
    erasure = privacy.forget(store, email="ZOË@exämple.org", requested_by="t")
    assert erasure.outcome_ids == ["O-1"] and erasure.counts["sb_outcomes"] == 1
    erasure = privacy.forget(store, email="zo@exämple.org", requested_by="t")  # a prefix of O-2's address
    assert erasure.outcome_ids == []


def test_a_store_at_a_later_version_without_the_privacy_tables_gets_them(
    write_config: Callable[..., Path],
) -> None:
    """Schema versions come from parallel branches: a store made at a later version before the privacy
    step was merged lacks its tables; opening it for a run adds them."""
    from syncbridge.store import privacy_log, tombstones

    cfg = write_config({"gh": {"type": "greenhouse", "client_id": "x", "client_secret": "y", "user_id": 1}})
    settings = load_config(cfg)
    store = Store(settings.state.url)
    try:
        with store.tx() as conn:
            tombstones.drop(conn)
            privacy_log.drop(conn)
        privacy.bind(store, settings)
        assert privacy.forget(store, email="a@example.org", requested_by="t").logged
    finally:
        store.close()
