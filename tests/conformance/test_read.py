"""Reading: every stream, the look-up by e-mail, and an incremental window after one change."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from syncbridge.connector import Capability, StreamSpec, Window, connector_class
from syncbridge.model import Application, Candidate, Requisition
from syncbridge.records import Refused

from .conftest import World, needs, read_all

PAGE = 7  # small pages, so every stream of a 50-person sandbox has several
RECORD_TYPES: dict[str, type] = {
    "candidate": Candidate,
    "application": Application,
    "requisition": Requisition,
    "other": dict,
}


def _entities(spec: StreamSpec, streams: tuple[StreamSpec, ...]) -> set[str]:
    """What a stream's pages may carry: its entity, and those of the streams it covers."""
    return {spec.entity} | {s.entity for s in streams if s.covered_by == spec.name}


def test_every_stream_yields_pages_of_its_entity_bounded_by_page_size(world: World) -> None:
    config = world.write_config(world.folder / "paged.yaml", block={"page_size": PAGE})
    people: dict[str, Candidate] = {}
    applications: list[Application] = []
    with world.connector(config) as connector:
        assert connector.streams, "a connector reads at least one stream"
        for spec in connector.streams:
            allowed = _entities(spec, connector.streams)
            pages = list(connector.read(spec.name, Window(None, datetime.now(UTC))))
            for page in pages:
                for entity in allowed:
                    kind = RECORD_TYPES[entity]
                    # a page of n vendor records maps to at most n records of each entity
                    assert sum(isinstance(r, kind) for r in page) <= PAGE, (spec.name, entity, len(page))
                for record in page:
                    assert isinstance(record, Refused) or any(
                        isinstance(record, RECORD_TYPES[e]) for e in allowed
                    ), (spec.name, type(record).__name__)
            records = [r for page in pages for r in page if not isinstance(r, Refused)]
            people.update({r.ref.id: r for r in records if isinstance(r, Candidate) and not r.deleted})
            applications += [r for r in records if isinstance(r, Application)]
            if spec.entity == "requisition":
                assert records, f"{spec.name}: the sandbox seeds requisitions"
    assert len(people) >= world.size * 0.8, "the people the sandbox seeded are read"
    for person in people.values():
        assert person.ref.id and person.ref.connector == world.name
        assert person.normalized_emails, f"person {person.ref.id} has no e-mail"
    for app in applications:
        assert app.ref.id and app.candidate_id in people, app.ref
    emails = {e for p in people.values() for e in p.normalized_emails}
    seeded = [p["email"].strip().lower() for p in world.people if p["kind"] != "unmatched"]
    assert set(seeded) <= emails


def test_find_candidates_by_any_email_case_insensitive(world: World) -> None:
    needs(world.vendor, Capability.find_candidates)
    expected = {"primary": 1, "secondary": 1, "ambiguous": 2, "unmatched": 0}
    with world.connector() as connector:
        for i, person in enumerate(world.people):
            email = person["email"].strip()
            found = connector.find_candidates(email.upper() if i % 2 else email)
            assert len(found) == expected[person["kind"]], (person["kind"], len(found))
            for candidate in found:
                assert email.lower() in candidate.normalized_emails
                assert connector.get_candidate(candidate.ref.id).ref.id == candidate.ref.id


def test_an_incremental_window_sees_a_change_and_not_everybody(world: World) -> None:
    needs(world.vendor, Capability.add_tags)
    specs = connector_class(world.vendor).streams
    people = [s.name for s in specs if s.entity == "candidate" and s.incremental and not s.covered_by]
    if not people:
        pytest.skip(f"{world.vendor}: no people stream is read incrementally")
    stream = people[0]
    with world.connector() as connector:
        everybody = {r.ref.id for r in read_all(connector, stream) if isinstance(r, Candidate)}
        synced = datetime.now(UTC)  # the first sync ends here
        time.sleep(1.1)  # vendors keep whole seconds: the change must fall after the window's start
        person = next(
            c for p in world.people if p["kind"] == "primary" for c in connector.find_candidates(p["email"])
        )
        connector.add_tags(person.ref.id, world.history_tags())
        time.sleep(1.1)  # ... and inside its end
        window = Window(synced, datetime.now(UTC) + timedelta(seconds=1))
        seen = {r.ref.id for page in connector.read(stream, window) for r in page if isinstance(r, Candidate)}
    assert person.ref.id in seen
    assert len(seen) < len(everybody) / 2, "an incremental window reads the changes, not everybody"
