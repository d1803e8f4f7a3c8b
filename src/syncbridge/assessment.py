"""syncbridge as a Greenhouse **Assessment Partner**: recruiters order a micro-internship from a
candidate's interview plan, and the supervisor's evaluation comes back onto the scorecard.

Greenhouse calls four URLs that the partner hosts (Basic auth, the org key as user name, no password):

* ``GET  list_tests``: the micro-internship offers configured under ``assessment.tests``;
* ``POST send_test``: a recruiter ordered one; we record it (candidate, job link, who sent it) and hand it
  to the micro-internship platform (a JSON-lines file or an HTTP POST), answering ``partner_interview_id``;
* ``GET  test_status?partner_interview_id=…``: ``complete`` with ``partner_score`` (the supervisor's
  rating), ``partner_profile_url`` and flat ``metadata`` once the matching outcome has arrived;
* ``POST response_error``: Greenhouse reports a response it could not use; we log it in one line.

The endpoints are in :mod:`syncbridge.assessment_api` (the web stack is imported only by the server).

When an outcome for an ordered candidate arrives (the pipeline loads outcomes), :func:`notify_completed`
sends the documented ``PATCH`` with no body to the URL Greenhouse gave in ``send_test``; Greenhouse then
calls ``test_status``, so the result shows without polling.
"""

from __future__ import annotations

import json
import logging
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from sqlalchemy import Text, cast, select, update

from syncbridge.model import normalize_email
from syncbridge.store import assessments, outcomes

if TYPE_CHECKING:
    from syncbridge.steps import Runtime

log = logging.getLogger("syncbridge.assessment")

_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


class AssessmentTest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(min_length=1, max_length=255, description="partner_test_id shown to Greenhouse")
    name: str = Field(min_length=1, max_length=255, description="what recruiters see in the test list")
    employer: str | None = Field(
        default=None, description="only outcomes of this employer complete it (default: any)"
    )


class Handoff(BaseModel):
    """Where an order goes: exactly one of ``file`` (JSON lines, appended) or ``url`` (HTTP POST)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    file: str | None = None
    url: str | None = None
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    @model_validator(mode="after")
    def _one(self) -> Handoff:
        if (self.file is None) == (self.url is None):
            raise ValueError("handoff: give exactly one of file or url")
        if self.url is not None and urlsplit(self.url).scheme not in ("http", "https"):
            raise ValueError("handoff.url: must be an http(s) URL")
        return self


class AssessmentSettings(BaseModel):
    """``assessment:`` in the YAML."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    connector: str = Field(description="the Greenhouse connector whose recruiters order micro-internships")
    api_key: SecretStr = Field(description="the org key Greenhouse sends as the Basic-auth user name")
    tests: list[AssessmentTest] = Field(min_length=1)
    handoff: Handoff
    profile_url: str = Field(
        default="https://microinternships.example/outcomes/{outcome_id}",
        description="link shown on the scorecard; {outcome_id} is replaced",
    )

    @model_validator(mode="after")
    def _key(self) -> AssessmentSettings:
        # Greenhouse's documented limit for the partner key
        if not 0 < len(self.api_key.get_secret_value()) < 171:
            raise ValueError("api_key: must be 1 to 170 characters")
        ids = [t.id for t in self.tests]
        if len(ids) != len(set(ids)):
            raise ValueError("tests: two tests share one id")
        return self


def callback_allowed(url: str) -> bool:
    """Greenhouse's callback URL must be https; plain http only to this machine (the sandbox)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    return parts.scheme == "http" and (parts.hostname or "") in _LOCAL_HOSTS


def _now() -> datetime:
    return datetime.now(UTC)


# -- matching an order to an outcome ---------------------------------------------------------------------


def matching_outcome(rt: Runtime, settings: AssessmentSettings, row: Any) -> dict[str, Any] | None:
    """The newest outcome of the ordered candidate (for the test's employer, when it names one)."""
    test = next((t for t in settings.tests if t.id == row.partner_test_id), None)
    email = row.email
    if not email:
        return None
    found: list[dict[str, Any]] = []
    with rt.store.tx() as conn:
        # a cheap pre-filter on the JSON text, confirmed on the parsed value below
        for outcome_id, data in conn.execute(
            select(outcomes.c.outcome_id, outcomes.c.data).where(
                cast(outcomes.c.data, Text).like(f"%{email}%")
            )
        ):
            data = data if isinstance(data, dict) else json.loads(data)
            got = str((data.get("student") or {}).get("email", ""))
            if got != email and normalize_email(got) != email:  # the keyed hash, or the address
                continue
            employer = str((data.get("project") or {}).get("employer", ""))
            if test is not None and test.employer and employer.casefold() != test.employer.casefold():
                continue
            found.append({"outcome_id": outcome_id, **data})
    if not found:
        return None
    return max(found, key=lambda d: str((d.get("project") or {}).get("end_date", "")))


def status_body(settings: AssessmentSettings, outcome: dict[str, Any]) -> dict[str, Any]:
    """The ``test_status`` answer for a completed order (flat metadata, as Greenhouse requires)."""
    project = outcome.get("project") or {}
    evaluation = outcome.get("evaluation") or {}
    supervisor = project.get("supervisor") or {}
    skills = ", ".join(
        f"{s.get('name')} {s.get('level')}/5" for s in evaluation.get("skills") or [] if isinstance(s, dict)
    )
    metadata = {
        "Project": str(project.get("title", "")),
        "Employer": str(project.get("employer", "")),
        "Supervisor": str(supervisor.get("name") or supervisor.get("email") or ""),
        "Would hire": "yes" if evaluation.get("would_hire") else "no",
        "Skills": skills,
    }
    return {
        "partner_status": "complete",
        "partner_profile_url": settings.profile_url.replace("{outcome_id}", str(outcome["outcome_id"])),
        "partner_score": float(evaluation.get("rating", 0)),
        "metadata": {k: v for k, v in metadata.items() if v},
    }


# -- the results going back ------------------------------------------------------------------------------


def notify_completed(rt: Runtime, session: requests.Session | None = None) -> dict[str, int]:
    """For every order whose outcome has arrived and that Greenhouse was not told about yet, mark it
    complete and send the ``PATCH`` (no body) to its callback URL.  Safe to call on every run: a
    request that failed is tried again next time, a notified one never again."""
    settings = rt.settings.assessment
    counts = {"completed": 0, "notified": 0, "failed": 0}
    if settings is None:
        return counts
    http = session or requests.Session()
    with rt.store.tx() as conn:
        rows = conn.execute(select(assessments).where(assessments.c.notified_at.is_(None))).all()
    for row in rows:
        outcome_id = row.outcome_id
        if row.status != "complete":
            found = matching_outcome(rt, settings, row)
            if found is None:
                continue
            outcome_id = found["outcome_id"]
            with rt.store.tx() as conn:
                conn.execute(
                    update(assessments)
                    .where(assessments.c.partner_interview_id == row.partner_interview_id)
                    .values(status="complete", outcome_id=outcome_id, completed_at=_now())
                )
            counts["completed"] += 1
        if not callback_allowed(row.callback_url):
            counts["failed"] += 1
            log.warning("assessment %s: callback URL is not https; not notified", row.partner_interview_id)
            continue
        try:
            reply = http.patch(row.callback_url, timeout=15)
            ok = 200 <= reply.status_code < 300
            reason = f"HTTP {reply.status_code}"
        except requests.RequestException as exc:
            ok, reason = False, exc.__class__.__name__
        host = urlsplit(row.callback_url).netloc
        if not ok:
            counts["failed"] += 1
            log.warning("assessment %s: PATCH to %s failed (%s)", row.partner_interview_id, host, reason)
            continue
        with rt.store.tx() as conn:
            conn.execute(
                update(assessments)
                .where(assessments.c.partner_interview_id == row.partner_interview_id)
                .values(notified_at=_now())
            )
        counts["notified"] += 1
    return counts


# -- the partner API ---------------------------------------------------------------------------------------


def hand_off(settings: AssessmentSettings, order: dict[str, Any], base: Path | None) -> None:
    handoff = settings.handoff
    if handoff.file is not None:
        path = Path(handoff.file)
        if not path.is_absolute() and base is not None:
            path = base / path
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(order, ensure_ascii=False) + "\n")
        return
    assert handoff.url is not None
    reply = requests.post(handoff.url, json=order, timeout=handoff.timeout_seconds)
    reply.raise_for_status()


def new_api_key() -> str:
    """A fresh org key for ``assessment.api_key`` (64 url-safe characters, under Greenhouse's 171)."""
    return secrets.token_urlsafe(48)
