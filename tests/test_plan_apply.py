"""Planner (pure) and applier (ledger, reconciliation) against an in-memory fake connector."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any, ClassVar

import pytest

from syncbridge.apply import Applier
from syncbridge.config import load_settings
from syncbridge.connector import Capability, Connector, ConnectorSettings, Record, StreamSpec, Window
from syncbridge.errors import InvalidRequest, ServerError, TransportError
from syncbridge.matching import Link
from syncbridge.model import (
    Candidate,
    Email,
    Evaluation,
    MicroInternship,
    NewCandidate,
    Note,
    Outcome,
    Person,
    Ref,
    Skill,
)
from syncbridge.plan import PlanState, make_plan
from syncbridge.store import Store


class FakeSettings(ConnectorSettings):
    type: str = "fake"


class Fake(Connector):
    """Remembers writes; can fail the next N calls of a kind, before or after 'applying' them."""

    type = "fake"
    settings_model = FakeSettings
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.add_note, Capability.add_tags, Capability.create_candidate}
    )
    streams = (StreamSpec("candidates", "candidate"),)

    def __init__(self) -> None:
        super().__init__("fake", FakeSettings())
        self.people: dict[str, dict[str, Any]] = {}
        self.notes: list[tuple[str, str]] = []
        self.fail: dict[str, list[Exception]] = {}
        self.apply_then_fail: dict[str, list[Exception]] = {}
        self.calls: dict[str, int] = {}

    def _hook(self, kind: str, apply: Any) -> Any:
        self.calls[kind] = self.calls.get(kind, 0) + 1
        if self.fail.get(kind):
            raise self.fail[kind].pop(0)
        result = apply()
        if self.apply_then_fail.get(kind):
            raise self.apply_then_fail[kind].pop(0)
        return result

    def read(self, stream: str, window: Window) -> Iterator[Sequence[Record]]:
        yield []

    def find_candidates(self, email: str) -> list[Candidate]:
        return [self.get_candidate(i) for i, p in self.people.items() if p["email"] == email]

    def get_candidate(self, candidate_id: str) -> Candidate:
        p = self.people[candidate_id]
        return Candidate(
            ref=Ref(connector="fake", kind="candidate", id=candidate_id),
            emails=(Email(value=p["email"]),),
            tags=tuple(p["tags"]),
        )

    def create_candidate(self, new: NewCandidate) -> Candidate:
        def do() -> Candidate:
            pid = str(100 + len(self.people))
            self.people[pid] = {"email": new.email, "tags": []}
            return self.get_candidate(pid)

        result: Candidate = self._hook("create_candidate", do)
        return result

    def add_note(self, candidate_id: str, note: Note) -> str:
        def do() -> str:
            self.notes.append((candidate_id, note.body_text()))
            return f"n{len(self.notes)}"

        result: str = self._hook("add_note", do)
        return result

    def add_tags(self, candidate_id: str, tags: Sequence[str]) -> None:
        self._hook(
            "add_tags",
            lambda: self.people[candidate_id]["tags"].extend(
                t for t in tags if t not in self.people[candidate_id]["tags"]
            ),
        )

    def set_fields(self, candidate_id: str, fields: Mapping[str, Any]) -> None:
        raise AssertionError("not a capability: must never be called")

    def find_note(self, candidate_id: str, marker: str) -> str | None:
        for i, (cid, body) in enumerate(self.notes, 1):
            if cid == candidate_id and marker in body:
                return f"n{i}"
        return None


def outcome(i: int, rating: float = 4.8) -> Outcome:
    return Outcome(
        outcome_id=f"MI-{i}",
        student=Person(email=f"s{i}@uni.edu", first_name="Ana", last_name="Lima"),
        project=MicroInternship(
            project_id="P1",
            title="Churn model",
            employer="Acme Corp",
            start_date=date(2026, 3, 1),
            end_date=date(2026, 4, 1),
        ),
        evaluation=Evaluation(rating=rating, would_hire=True, skills=(Skill(name="SQL", level=4),)),
    )


SETTINGS = load_settings(
    {
        "outcomes": {"path": "x.csv"},
        "connectors": {"fake": {"type": "greenhouse", "client_id": "a-1", "client_secret": "zzzz"}},
        "routing": [{"employer": "*", "connector": "fake"}],
        "matching": {"create_unmatched": True},
        "history": {"note": True, "tags": ["micro-intern"], "fields": {"mi_rating": "evaluation.rating"}},
    }
)


class Done(PlanState):
    """A state store whose ledger says ``done(key)``."""

    def __init__(self, done: Any) -> None:
        self._done = done

    def done(self, key: str) -> str | None:
        result: str | None = self._done(key)
        return result


def plan_for(outcomes: list[Outcome], links: list[Link], done: Any = lambda _k: None) -> Any:
    return make_plan(SETTINGS, outcomes, links, capabilities={"fake": Fake.capabilities}, state=Done(done))


def test_plan_is_deterministic_and_reports_capability_gaps() -> None:
    o = [outcome(1), outcome(2)]
    links = [
        Link("MI-1", "fake", "linked", candidate_id="7"),
        Link("MI-2", "fake", "ambiguous", candidates=("8", "9")),
    ]
    p1, p2 = plan_for(o, links), plan_for(o, links)
    assert [a.key for a in p1.actions] == [a.key for a in p2.actions]
    assert [a.kind for a in p1.actions] == ["add_note", "add_tags"]  # nothing for the ambiguous one
    assert p1.skipped == ["fake: cannot set fields (connector lacks it)"]
    # a changed evaluation is new content: a new note key
    changed = plan_for([outcome(1, rating=3.0)], links[:1])
    assert changed.actions[0].key != p1.actions[0].key
    # done keys produce nothing
    done = {a.key for a in p1.actions}
    again = plan_for(o, links, done=lambda k: "x" if k in done else None)
    assert again.actions == [] and again.already_done == 2


def test_unmatched_creates_then_writes_to_the_new_person(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    fake = Fake()
    plan = plan_for([outcome(3)], [Link("MI-3", "fake", "unmatched")])
    assert [a.kind for a in plan.actions] == ["create_candidate", "add_note", "add_tags"]
    result = Applier(store, {"fake": fake}).apply(plan.actions)
    assert result.applied == 3
    [(pid, body)] = fake.notes
    assert fake.people[pid]["tags"] == ["micro-intern"] and "Churn model" in body
    # next plan: the creation is done, so writes target the created person directly and are done too
    rows = store.ledger_rows([a.key for a in plan.actions])
    again = plan_for(
        [outcome(3)],
        [Link("MI-3", "fake", "unmatched")],
        done=lambda k: rows[k]["remote_ref"] if k in rows else None,
    )
    assert again.actions == []


def test_uncertain_failure_is_reconciled_not_resent(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    fake = Fake()
    fake.people["7"] = {"email": "s1@uni.edu", "tags": []}
    fake.apply_then_fail["add_note"] = [ServerError("gateway timeout", status=504)]
    plan = plan_for([outcome(1)], [Link("MI-1", "fake", "linked", candidate_id="7")])
    result = Applier(store, {"fake": fake}).apply(plan.actions)
    assert len(fake.notes) == 1 and fake.calls["add_note"] == 1
    assert result.reconciled == 1 and result.applied == 1  # note reconciled, tags applied


def test_uncertain_failure_without_effect_is_sent_again(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    fake = Fake()
    fake.people["7"] = {"email": "s1@uni.edu", "tags": []}
    fake.fail["add_note"] = [TransportError("reset", sent=True)]
    plan = plan_for([outcome(1)], [Link("MI-1", "fake", "linked", candidate_id="7")])
    result = Applier(store, {"fake": fake}).apply(plan.actions)
    assert len(fake.notes) == 1 and fake.calls["add_note"] == 2 and result.applied == 2


def test_vendor_422_fails_one_action_and_the_rest_apply(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    fake = Fake()
    for pid in ("7", "8"):
        fake.people[pid] = {"email": f"{pid}@x.org", "tags": []}
    fake.fail["add_note"] = [InvalidRequest("body is too long", status=422)]
    links = [
        Link("MI-1", "fake", "linked", candidate_id="7"),
        Link("MI-2", "fake", "linked", candidate_id="8"),
    ]
    plan = plan_for([outcome(1), outcome(2)], links)
    result = Applier(store, {"fake": fake}).apply(plan.actions)
    assert result.failed == 1 and result.applied == 3
    assert "body is too long" in result.errors[0]["error"]
    failed_key = next(a.key for a in plan.actions if a.kind == "add_note" and a.outcome_id == "MI-1")
    assert store.ledger_get(failed_key)["status"] == "failed"  # type: ignore[index]
    # the next run reconciles (nothing there) and sends it again
    again = Applier(store, {"fake": fake}).apply([a for a in plan.actions if a.key == failed_key])
    assert again.applied == 1 and len(fake.notes) == 2


def test_blocked_when_creation_failed(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    fake = Fake()
    fake.fail["create_candidate"] = [InvalidRequest("first_name: missing", status=422)]
    plan = plan_for([outcome(4)], [Link("MI-4", "fake", "unmatched")])
    result = Applier(store, {"fake": fake}).apply(plan.actions)
    assert result.failed == 1 and result.blocked == 2 and fake.notes == []


@pytest.mark.parametrize("kind", ["add_tags"])
def test_started_entry_reconciled_by_value(tmp_path: Path, kind: str) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    fake = Fake()
    fake.people["7"] = {"email": "s1@uni.edu", "tags": ["micro-intern"]}  # already there (a crashed run)
    plan = plan_for([outcome(1)], [Link("MI-1", "fake", "linked", candidate_id="7")])
    action = next(a for a in plan.actions if a.kind == kind)
    store.ledger_start(action.key, connector="fake", kind=kind, outcome_id="MI-1", target="7", payload={})
    result = Applier(store, {"fake": fake}).apply([action])
    assert result.reconciled == 1 and fake.calls.get(kind) is None


def test_a_write_claimed_by_another_live_run_is_not_sent(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    fake = Fake()
    fake.people["7"] = {"email": "s1@uni.edu", "tags": []}
    plan = plan_for([outcome(1)], [Link("MI-1", "fake", "linked", candidate_id="7")])
    note = next(a for a in plan.actions if a.kind == "add_note")
    # run A is sending the note right now (started, live claim)
    assert (
        store.ledger_start(
            note.key,
            connector="fake",
            kind="add_note",
            outcome_id="MI-1",
            target="7",
            payload={},
            run_id="run-a",
        )
        == 1
    )
    result = Applier(store, {"fake": fake}, run_id="run-b").apply(plan.actions)
    assert result.busy == 1 and fake.calls.get("add_note") is None  # not sent, not even reconciled
    assert result.applied == 1  # the tags were free to apply
    assert [a["result"] for a in store.audit_rows(note.key)] == ["busy"]


CONVERTING = load_settings(
    {
        "outcomes": {"path": "x.csv"},
        "connectors": {"fake": {"type": "greenhouse", "client_id": "a-1", "client_secret": "zzzz"}},
        "routing": [{"employer": "*", "connector": "fake"}],
        "history": {"note": False, "tags": []},
        "conversion": {"enabled": True, "rules": [{"name": "strong", "when": {"min_rating": 4.5}}]},
    }
)
CAPS = {"fake": frozenset(Capability)}


def test_strong_outcome_converts_and_weak_one_does_not() -> None:
    links = [
        Link("MI-1", "fake", "linked", candidate_id="7"),
        Link("MI-2", "fake", "linked", candidate_id="8"),
    ]
    plan = make_plan(
        CONVERTING, [outcome(1), outcome(2, rating=3.9)], links, capabilities=CAPS, state=PlanState()
    )
    assert [(a.kind, a.outcome_id) for a in plan.actions] == [
        ("create_requisition", "MI-1"),
        ("attach", "MI-1"),
        ("prescreen", "MI-1"),
    ]
    [strong] = plan.strong
    assert strong.outcome_id == "MI-1" and strong.rule == "strong" and strong.state == "auto, new requisition"


class ClosedBefore(PlanState):
    def done(self, key: str) -> str | None:
        return "old-job"

    def closed_requisition(self, connector: str, code: str) -> bool:
        return True


def test_a_closed_requisition_is_not_reused_nor_reopened() -> None:
    links = [Link("MI-1", "fake", "linked", candidate_id="7")]
    plan = make_plan(
        CONVERTING,
        [outcome(1)],
        links,
        capabilities=CAPS,
        state=ClosedBefore(),
    )
    assert plan.actions == []
    assert "is closed: reopen it or change the rule's code" in plan.strong[0].state
    assert any("is closed" in line for line in plan.skipped)


def test_plan_add_finds_a_duplicate_key_without_scanning_the_actions() -> None:
    """Planning stays linear: adding an action looks its key up in an index, it does not walk every
    action planned so far (that made a 100,000-action plan take minutes)."""
    from syncbridge.actions import Action, AddTags, TagsPayload
    from syncbridge.plan import Plan

    class NoScan(list[Action]):
        def __iter__(self) -> Iterator[Action]:
            raise AssertionError("Plan.add scanned the action list")

    def act(i: int) -> Action:
        return AddTags(
            key=f"k{i}",
            connector="fake",
            outcome_id=f"MI-{i}",
            target="1",
            payload=TagsPayload(tags=[]),
            summary="",
        )

    first = act(0)
    plan = Plan(actions=[first])  # actions given up front are indexed too
    plan.actions = NoScan(plan.actions)
    for i in range(1, 1000):
        plan.add(act(i))
    plan.add(act(0))  # duplicates are still ignored
    plan.add(act(5))
    assert len(plan.actions) == 1000
    assert list.__getitem__(plan.actions, 0) is first


def test_parallel_apply_sends_different_peoples_writes_at_once_and_one_persons_in_order(
    tmp_path: Path,
) -> None:
    """With write_parallelism > 1, notes to different people are in flight together (two of them meet
    at a barrier, which a one-at-a-time applier never reaches), writes to one person never overlap,
    creations still come first, and every write is made exactly once."""
    import threading

    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    fake = Fake()
    for i in range(1, 7):
        fake.people[str(i)] = {"email": f"s{i}@uni.edu", "tags": []}
    meet = threading.Barrier(2, timeout=30)
    in_flight: dict[str, int] = {}
    overlaps: list[str] = []
    lock = threading.Lock()
    original_add_note = fake.add_note

    arrivals = [0]

    def add_note(candidate_id: str, note: Note) -> str:
        with lock:
            in_flight[candidate_id] = in_flight.get(candidate_id, 0) + 1
            if in_flight[candidate_id] > 1:
                overlaps.append(candidate_id)
            arrivals[0] += 1
            first_two = arrivals[0] <= 2
        if first_two:
            meet.wait()  # two people's notes at the same moment, or BrokenBarrierError after 30 s
        try:
            with lock:
                return original_add_note(candidate_id, note)
        finally:
            with lock:
                in_flight[candidate_id] -= 1

    fake.add_note = add_note  # type: ignore[method-assign]
    outcomes = [outcome(i) for i in range(1, 7)]
    links = [Link(f"MI-{i}", "fake", "linked", candidate_id=str(i)) for i in range(1, 7)]
    links.append(Link("MI-9", "fake", "unmatched"))
    outcomes.append(outcome(9))
    plan = plan_for(outcomes, links)
    result = Applier(store, {"fake": fake}, parallelism={"fake": 4}).apply(plan.actions)
    assert result.failed == 0 and result.errors == []
    assert result.applied == len(plan.actions) == 1 + 7 * 2
    assert not meet.broken and overlaps == []
    assert sorted(cid for cid, _ in fake.notes) == sorted([*(str(i) for i in range(1, 7)), "106"])
    assert all("micro-intern" in fake.people[str(i)]["tags"] for i in range(1, 7))
    assert fake.calls["add_note"] == 7 and fake.calls["create_candidate"] == 1
    again = Applier(store, {"fake": fake}, parallelism={"fake": 4}).apply(plan.actions)
    assert again.skipped == len(plan.actions) and fake.calls["add_note"] == 7


class CountingFake(Fake):
    """Counts the look-ups of a person's notes."""

    def __init__(self) -> None:
        super().__init__()
        self.note_reads: list[tuple[str, int]] = []

    def find_notes(self, candidate_id: str, markers: Sequence[str]) -> dict[str, str]:
        self.note_reads.append((candidate_id, len(markers)))
        return super().find_notes(candidate_id, markers)

    def find_note(self, candidate_id: str, marker: str) -> str | None:
        for i, (cid, body) in enumerate(self.notes, 1):
            if cid == candidate_id and marker in body:
                return f"n{i}"
        return None


def test_a_new_ledger_proves_notes_absent_with_one_read_per_person(tmp_path: Path) -> None:
    """No ledger entry (a new state store): before sending, the notes already in the ATS are found by
    their markers, with one read of each person's notes however many notes go to that person."""
    fake = CountingFake()
    fake.people = {"7": {"email": "s1@uni.edu", "tags": []}, "8": {"email": "s3@uni.edu", "tags": []}}
    links = [
        Link("MI-1", "fake", "linked", candidate_id="7"),
        Link("MI-2", "fake", "linked", candidate_id="7"),  # a second outcome for the same person
        Link("MI-3", "fake", "linked", candidate_id="8"),
    ]
    plan = plan_for([outcome(1), outcome(2, rating=4.0), outcome(3)], links)
    first = Applier(Store(f"sqlite:///{tmp_path / 'old.db'}"), {"fake": fake}).apply(plan.actions)
    assert first.applied == 6 and len(fake.notes) == 3
    fake.note_reads.clear()

    new_store = Store(f"sqlite:///{tmp_path / 'new.db'}")  # the old store is lost
    again = Applier(new_store, {"fake": fake}).apply(plan.actions)
    assert len(fake.notes) == 3, "no note written twice"
    assert sorted(fake.note_reads) == [("7", 2), ("8", 1)]  # one read per person, all its markers
    assert again.reconciled == 3 and again.applied == 3  # the fake's tag writes are not counted
    assert {r["result"] for r in new_store.audit_rows() if r["kind"] == "add_note"} == {"reconciled"}
    assert new_store.ledger_counts() == {"done": 6}


def test_a_person_created_in_this_run_needs_no_note_look_up(tmp_path: Path) -> None:
    fake = CountingFake()
    plan = plan_for([outcome(4)], [Link("MI-4", "fake", "unmatched")])
    result = Applier(Store(f"sqlite:///{tmp_path / 's.db'}"), {"fake": fake}).apply(plan.actions)
    assert result.applied == 3 and fake.note_reads == []
