"""Lever payloads shaped like the documented examples → the common model (and back)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from syncbridge.connectors.lever import mapping
from syncbridge.model import NewCandidate

# the documented opportunity example (trimmed ids kept as they are in the docs), with extra keys
DOC_OPPORTUNITY: dict[str, Any] = {
    "id": "250d8f03-738a-4bba-a671-8a3d73477145",
    "name": "Shane Smith",
    "headline": "Brickly LLC, Vandelay Industries, Inc, Central Perk",
    "contact": "7f23e772-d2ec-4d6f-a7e2-3c2dd5a5e6f7",
    "emails": ["shane@exampleq3.com"],
    "phones": [{"type": "mobile", "value": "(123) 456-7891"}],
    "confidentiality": "non-confidential",
    "location": "Oakland",
    "links": ["indeed.com/r/Shane-Smith/0b0b0b0b"],
    "createdAt": 1407460071043,
    "updatedAt": 1407460080914,
    "lastInteractionAt": 1417588008760,
    "lastAdvancedAt": 1417587916150,
    "snoozedUntil": 1505971500000,
    "archivedAt": None,
    "archiveReason": None,
    "stage": "00922a60-7c15-422b-b086-f62000824fd7",
    "stageChanges": [
        {
            "toStageId": "00922a60-7c15-422b-b086-f62000824fd7",
            "toStageIndex": 1,
            "userId": "df0f5d5e-9e5b-4c95-8dd2-f4bbc9e3d1c1",
            "updatedAt": 1407460071043,
        }
    ],
    "owner": "df0f5d5e-9e5b-4c95-8dd2-f4bbc9e3d1c1",
    "followers": ["df0f5d5e-9e5b-4c95-8dd2-f4bbc9e3d1c1"],
    "tags": ["San Francisco", "Full-time", "Support", "Customer Success", "Customer Success Manager"],
    "sources": ["linkedin"],
    "origin": "sourced",
    "sourcedBy": "df0f5d5e-9e5b-4c95-8dd2-f4bbc9e3d1c1",
    "applications": ["cdb4ff13-7e4a-4b39-98d5-9e2bea1f7c39"],
    "urls": {
        "list": "https://hire.lever.co/candidates",
        "show": "https://hire.lever.co/candidates/250d8f03-738a-4bba-a671-8a3d73477145",
    },
    "dataProtection": {
        "store": {"allowed": True, "expiresAt": 1522540800000},
        "contact": {"allowed": False, "expiresAt": None},
    },
    "isAnonymized": False,
    "opportunityLocation": "San Francisco",
    "someFutureField": {"nested": [1, 2, 3]},
}

DOC_APPLICATION: dict[str, Any] = {
    "id": "cdb4ff13-7e4a-4b39-98d5-9e2bea1f7c39",
    "opportunityId": DOC_OPPORTUNITY["id"],
    "candidateId": DOC_OPPORTUNITY["id"],
    "createdAt": 1418353241665,
    "type": "posting",
    "posting": "f2f01e16-27f8-4711-a728-7d49499795a0",
    "postingOwner": "df0f5d5e-9e5b-4c95-8dd2-f4bbc9e3d1c1",
    "postingHiringManager": "df0f5d5e-9e5b-4c95-8dd2-f4bbc9e3d1c1",
    "user": None,
    "name": "Shane Smith",
    "email": "shane@exampleq3.com",
    "phone": {"type": None, "value": "(123) 456-7891"},
    "company": None,
    "links": None,
    "comments": None,
    "customQuestions": [],
    "archived": None,
    "requisitionForHire": {"id": "r-1", "requisitionCode": "OP-9", "hiringManagerOnHire": "u-1"},
}

DOC_REQUISITION: dict[str, Any] = {
    "id": "52881d44-4f95-4fb4-b6a8-7c7b6b8d55a0",
    "requisitionCode": "ENG-145",
    "name": "Senior Software Engineer, Platform",
    "backfill": False,
    "confidentiality": "non-confidential",
    "createdAt": 1450296000000,
    "creator": "u1",
    "headcountHired": 1,
    "headcountTotal": "unlimited",
    "status": "open",
    "hiringManager": "u2",
    "owner": "u3",
    "compensationBand": {"currency": "USD", "interval": "per-year-salary", "min": 50000, "max": 80000},
    "employmentStatus": "full-time",
    "location": "San Francisco",
    "internalNotes": "",
    "postings": ["p1"],
    "department": "Engineering",
    "team": "Product Engineering",
    "offerIds": [],
    "approval": {"status": "approved", "steps": []},
    "customFields": {
        "cost_center": {"city": "San Francisco", "campus_code": "2"},
        "target_hire_date": 1453320000000,
    },
    "closedAt": None,
    "timeToFillStartAt": None,
    "timeToFillEndAt": None,
    "updatedAt": 1590866770059,
}


def test_documented_opportunity_becomes_a_contact_candidate() -> None:
    cand = mapping.candidate_from_opportunities([DOC_OPPORTUNITY], "lv")
    assert cand.ref.kind == "contact" and cand.ref.id == DOC_OPPORTUNITY["contact"]
    assert (cand.first_name, cand.last_name) == ("Shane", "Smith")
    assert cand.normalized_emails == ["shane@exampleq3.com"]
    assert cand.phones[0].value == "(123) 456-7891" and cand.phones[0].type == "mobile"
    assert "Full-time" in cand.tags
    assert cand.application_ids == (DOC_OPPORTUNITY["id"],)
    assert cand.created_at == datetime(2014, 8, 8, 1, 7, 51, 43000, tzinfo=UTC)
    assert cand.updated_at is not None and cand.updated_at > cand.created_at
    assert cand.raw["opportunities"][0]["archived"] is False


def test_flat_and_nested_archived_shapes_both_count() -> None:
    flat = {**DOC_OPPORTUNITY, "archivedAt": 1417588008760, "archiveReason": "63dd55b2-a99f-4e7b"}
    nested = {**DOC_OPPORTUNITY, "archived": {"archivedAt": 1417588008760, "reason": "63dd55b2-a99f-4e7b"}}
    nested_no_time = {**DOC_OPPORTUNITY, "archived": {"archivedAt": None, "reason": "63dd55b2"}}
    active_nested = {**DOC_OPPORTUNITY, "archived": None}
    for rec in (flat, nested, nested_no_time):
        assert mapping.is_archived(rec)
        assert mapping.application_from_opportunity(rec, "lv").status == "archived"
    assert mapping.archive_reason(flat) == mapping.archive_reason(nested) == "63dd55b2-a99f-4e7b"
    assert not mapping.is_archived(DOC_OPPORTUNITY) and not mapping.is_archived(active_nested)


def test_relevant_opportunity_prefers_open_then_latest() -> None:
    old_open = {**DOC_OPPORTUNITY, "id": "a", "updatedAt": 1000}
    new_open = {**DOC_OPPORTUNITY, "id": "b", "updatedAt": 2000}
    newest_archived = {**DOC_OPPORTUNITY, "id": "c", "updatedAt": 9000, "archivedAt": 9000}
    never_updated = {**DOC_OPPORTUNITY, "id": "d", "updatedAt": None, "createdAt": 5000}
    assert mapping.relevant_opportunity([old_open, newest_archived, new_open])["id"] == "b"
    assert mapping.relevant_opportunity([old_open, never_updated])["id"] == "d"
    assert mapping.relevant_opportunity([newest_archived])["id"] == "c"
    assert mapping.relevant_opportunity([]) is None
    # the compact summaries kept in Candidate.raw give the same answer
    cand = mapping.candidate_from_opportunities([old_open, new_open, newest_archived], "lv")
    assert mapping.relevant_opportunity(cand.raw["opportunities"])["id"] == "b"


def test_null_updated_at_and_missing_fields_are_tolerated() -> None:
    bare = {
        "id": "o1",
        "contact": "c1",
        "updatedAt": None,
        "createdAt": None,
        "emails": None,
        "phones": None,
        "tags": None,
        "name": None,
        "stage": None,
        "archived": None,
        "applications": None,
    }
    cand = mapping.candidate_from_opportunities([bare], "lv")
    assert cand.updated_at is None and cand.created_at is None
    assert cand.emails == () and cand.phones == () and cand.tags == ()
    assert cand.first_name is None and cand.last_name is None
    app = mapping.application_from_opportunity(bare, "lv")
    assert app.prospect and app.requisition_id is None and app.stage is None and app.status == "active"
    # no contact at all: the opportunity stands for the person
    assert mapping.contact_id({"id": "o9"}) == "o9"


def test_missing_phone_type_and_unicode_names() -> None:
    rec = {
        **DOC_OPPORTUNITY,
        "name": "Siobhán Ó Súilleabháin",
        "emails": [" Siobhan@Uni.EXAMPLE "],
        "phones": [{"value": "+353 1 234 5678"}, {"type": None, "value": "  "}, "+1 555 0100"],
    }
    cand = mapping.candidate_from_opportunities([rec], "lv")
    assert (cand.first_name, cand.last_name) == ("Siobhán", "Ó Súilleabháin")
    assert cand.normalized_emails == ["siobhan@uni.example"]
    assert [(p.value, p.type) for p in cand.phones] == [("+353 1 234 5678", None), ("+1 555 0100", None)]
    cjk = mapping.candidate_from_opportunities([{**DOC_OPPORTUNITY, "name": "美咲"}], "lv")
    assert (cjk.first_name, cjk.last_name) == ("美咲", None)


def test_several_opportunities_of_one_contact_are_one_person_with_the_union() -> None:
    second = {
        **DOC_OPPORTUNITY,
        "id": "opp-2",
        "tags": ["micro-intern"],
        "emails": ["shane@exampleq3.com", "shane.s@work.example"],
        "updatedAt": 1500000000000,
    }
    other = {**DOC_OPPORTUNITY, "id": "opp-3", "contact": "someone-else"}
    people = mapping.candidates_from_page([DOC_OPPORTUNITY, second, other], "lv")
    assert len(people) == 2
    shane = next(p for p in people if p.ref.id == DOC_OPPORTUNITY["contact"])
    assert set(shane.application_ids) == {DOC_OPPORTUNITY["id"], "opp-2"}
    assert "micro-intern" in shane.tags and "Full-time" in shane.tags
    assert shane.normalized_emails == ["shane@exampleq3.com", "shane.s@work.example"]

    # the same person seen on two pages is merged
    first_view = mapping.candidate_from_opportunities([DOC_OPPORTUNITY], "lv")
    later_view = mapping.candidate_from_opportunities([second], "lv")
    merged = mapping.merge_candidates(first_view, later_view)
    assert set(merged.tags) == set(shane.tags) and set(merged.application_ids) == set(shane.application_ids)
    assert merged.created_at == first_view.created_at and merged.updated_at == later_view.updated_at


def test_expanded_application_and_stage() -> None:
    rec = {
        **DOC_OPPORTUNITY,
        "applications": [DOC_APPLICATION],
        "stage": {"id": "00922a60-7c15-422b-b086-f62000824fd7", "text": "On-site interview"},
    }
    app = mapping.application_from_opportunity(rec, "lv")
    assert app.ref.kind == "application" and app.ref.id == DOC_OPPORTUNITY["id"]
    assert app.candidate_id == DOC_OPPORTUNITY["contact"]
    assert app.requisition_id == DOC_APPLICATION["posting"] and not app.prospect
    assert app.stage == "On-site interview"
    # not expanded: ids only, and the stage id
    plain = mapping.application_from_opportunity(DOC_OPPORTUNITY, "lv")
    assert plain.stage == DOC_OPPORTUNITY["stage"] and plain.prospect


def test_documented_requisition() -> None:
    req = mapping.requisition_from_lever(DOC_REQUISITION, "lv")
    assert req.code == "ENG-145" and req.status == "open" and req.department == "Engineering"
    assert req.custom_fields["cost_center"] == {"city": "San Francisco", "campus_code": "2"}
    assert req.updated_at == datetime(2020, 5, 30, 19, 26, 10, 59000, tzinfo=UTC)
    assert req.raw["headcountTotal"] == "unlimited"


def test_requisition_window_filter_client_side() -> None:
    since = datetime(2020, 5, 1, tzinfo=UTC)
    until = datetime(2020, 6, 1, tzinfo=UTC)
    assert mapping.in_window(DOC_REQUISITION, since, until)
    assert not mapping.in_window(
        DOC_REQUISITION, datetime(2020, 6, 2, tzinfo=UTC), datetime(2021, 1, 1, tzinfo=UTC)
    )
    never_updated = {**DOC_REQUISITION, "updatedAt": None}  # falls back to createdAt (2015)
    assert not mapping.in_window(never_updated, since, until)
    assert mapping.in_window(never_updated, None, until)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1407460071043, datetime(2014, 8, 8, 1, 7, 51, 43000, tzinfo=UTC)),
        ("1407460071043", datetime(2014, 8, 8, 1, 7, 51, 43000, tzinfo=UTC)),
        (None, None),
        ("", None),
        ("soon", None),
        (True, None),
    ],
)
def test_millisecond_timestamps(value: Any, expected: datetime | None) -> None:
    assert mapping.from_ms(value) == expected


def test_to_ms_round_trips() -> None:
    dt = datetime(2026, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)
    assert mapping.from_ms(mapping.to_ms(dt)) == dt
    assert mapping.to_ms(datetime(1970, 1, 1, 0, 0, 1)) == 1000  # naive = UTC


@pytest.mark.parametrize(
    ("rating", "score"), [(5.0, 4), (4.5, 4), (4.2, 3), (3.5, 3), (3.0, 2), (2.5, 2), (1.0, 1), (None, None)]
)
def test_note_score_from_rating(rating: float | None, score: int | None) -> None:
    assert mapping.note_score(rating) == score


def test_new_opportunity_body() -> None:
    body = mapping.new_opportunity_body(
        NewCandidate(
            first_name="Zoë",
            last_name="Müller",
            email="zoe@uni.example",
            tags=("a", "a", "b"),
            source="syncbridge",
        )
    )
    assert body == {
        "name": "Zoë Müller",
        "emails": ["zoe@uni.example"],
        "origin": "sourced",
        "tags": ["a", "b"],
        "sources": ["syncbridge"],
    }


def test_note_marker_search_reads_comment_fields() -> None:
    note = {
        "id": "n1",
        "text": "Note",
        "fields": [
            {
                "type": "note",
                "text": "Comment",
                "value": "hi [syncbridge:k]",
                "createdAt": 1,
                "user": "u",
                "score": 3,
                "stage": None,
            }
        ],
        "user": "u",
        "secret": False,
        "createdAt": 1,
        "completedAt": 1,
        "deletedAt": None,
    }
    assert mapping.note_has_marker(note, "syncbridge:k")
    assert not mapping.note_has_marker({**note, "deletedAt": 5}, "syncbridge:k")
    assert not mapping.note_has_marker(note, "syncbridge:other")


def test_posting_html_is_reduced_to_the_whitelist() -> None:
    dirty = (
        '<div class="postings-link" style="font-size: 18px" id="x">Hello <b>you</b><br/>'
        '<a href="javascript:alert(1)">bad</a> <a href="https://ok.example" target="_blank">ok</a>'
        '<img src="x.png"><script>steal()</script><table><tr><td>cell</td></tr></table>'
        '<span style="color:red">r</span> &amp; <p>open'
    )
    clean = mapping.clean_html(dirty)
    assert clean == (
        '<div class="postings-link" style="font-size: 18px">Hello <b>you</b><br>'
        '<a>bad</a> <a href="https://ok.example">ok</a>cell<span>r</span> &amp; <p>open</p></div>'
    )
    assert mapping.clean_html("<li>one</li><div>x</div>", mapping.LIST_TAGS) == "<li>one</li>x"
    body = mapping.clean_posting(
        {
            "text": "T",
            "content": {
                "descriptionHtml": "<h1>T</h1>",
                "lists": [{"text": "Req", "content": "<ul><li>a</li></ul>"}],
            },
            "salaryDescriptionHtml": "<p>$<i>1</i></p>",
        }
    )
    assert body["content"]["descriptionHtml"] == "T"
    assert body["content"]["lists"][0]["content"] == "<li>a</li>"
    assert body["salaryDescriptionHtml"] == "<p>$<i>1</i></p>"


# --- conversion ---------------------------------------------------------------------------------------------


def test_publish_target_states_aliases_and_channels() -> None:
    from syncbridge.errors import InvalidRequest

    assert mapping.publish_target({"publish": "published"}) == ("published", ["public", "internal"])
    assert mapping.publish_target({"publish": True, "distribution": "internal"}) == (
        "published",
        ["internal"],
    )
    assert mapping.publish_target({"publish": "external", "distribution": ["internal", "public"]}) == (
        "published",
        ["public", "internal"],
    )
    assert mapping.publish_target({"publish": "unlisted"})[0] == "internal"
    assert mapping.publish_target({"publish": "internal"})[0] == "internal"
    with pytest.raises(InvalidRequest, match="draft"):
        mapping.publish_target({"publish": "draft"})
    with pytest.raises(InvalidRequest, match="distribution"):
        mapping.publish_target({"publish": "published", "distribution": []})
    assert mapping.initial_posting_state({}) == "draft"
    with pytest.raises(InvalidRequest, match="posting_state"):
        mapping.initial_posting_state({"posting_state": "live"})


def test_publish_changes_never_narrow_a_visible_posting() -> None:
    draft = {"state": "draft", "distributionChannels": ["public", "internal"]}
    assert mapping.publish_changes(draft, "published", ["internal"]) == {
        "state": "published",
        "distributionChannels": ["internal"],
    }
    assert mapping.publish_changes({"state": "closed"}, "internal", ["public"]) == {"state": "internal"}
    public = {"state": "published", "distributionChannels": ["public"]}
    assert mapping.publish_changes(public, "internal", ["internal"]) == {}
    assert mapping.publish_changes(public, "published", ["internal"]) == {
        "distributionChannels": ["public", "internal"]
    }
    unlisted = {"state": "internal", "distributionChannels": ["internal"]}
    assert mapping.publish_changes(unlisted, "published", ["internal"]) == {"state": "published"}
    assert mapping.publish_changes({"state": "internal"}, "published", ["internal"]) == {
        "state": "published",
        "distributionChannels": ["internal"],
    }
    assert mapping.posting_is_published(public, "internal", ["internal"])
    assert not mapping.posting_is_published(public, "published", ["internal"])
    assert not mapping.posting_is_published(draft, "internal", ["public"])


def test_one_posting_per_requisition_is_chosen_deterministically() -> None:
    postings = [
        {"id": "b", "state": "closed", "createdAt": 1},
        {"id": "c", "state": "draft", "createdAt": 9},
        {"id": "a", "state": "published", "createdAt": 3},
    ]
    chosen = mapping.choose_posting(postings)
    assert chosen is not None and chosen["id"] == "a"
    assert mapping.choose_posting([]) is None


def test_new_posting_body_from_the_requisition() -> None:
    rec = {"requisitionCode": "MI-1", "name": "Intern", "team": "Data", "hiringManager": {"id": "u1"}}
    body = mapping.new_posting_body(
        rec, {"location": "Remote", "posting_tags": "mi", "workplace_type": "remote"}, state="draft"
    )
    assert body == {
        "text": "Intern",
        "state": "draft",
        "requisitionCodes": ["MI-1"],
        "categories": {"team": "Data", "location": "Remote"},
        "hiringManager": "u1",
        "workplaceType": "remote",
        "tags": ["mi"],
    }


def test_the_opportunity_on_a_posting_prefers_an_active_one() -> None:
    archived = {"id": "o1", "archived": {"archivedAt": 5, "reason": "r"}, "applications": [{"posting": "p1"}]}
    active = {"id": "o2", "archived": None, "applications": [{"posting": "p1"}], "createdAt": 9}
    other = {"id": "o3", "applications": [{"posting": "p2"}], "postings": ["p3"]}
    found = mapping.opportunity_on([archived, other, active], {"p1"})
    assert found is not None and found["id"] == "o2"
    assert mapping.opportunity_on([archived], {"p1"}) == archived
    assert mapping.opportunity_on([other], {"p1"}) is None
    assert mapping.opportunity_postings(other) == {"p2", "p3"}


@pytest.mark.parametrize(("score", "maximum", "expected"), [(4.8, 5, 4), (3, 5, 2), (8, 10, 3), (1, 0, None)])
def test_prescreen_score_on_lever_scale(score: float, maximum: float, expected: int | None) -> None:
    assert mapping.prescreen_score(score, maximum) == expected
