"""The Greenhouse Assessment Partner endpoints (see :mod:`syncbridge.assessment`), mounted on the inbound
server's app.  Kept apart so that loading a config or running a sync does not import the web stack."""

from __future__ import annotations

import hmac
import json
import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from sqlalchemy import and_, insert, select

from syncbridge.assessment import callback_allowed, hand_off, matching_outcome, status_body
from syncbridge.model import normalize_email
from syncbridge.store import assessments

if TYPE_CHECKING:
    from syncbridge.steps import Runtime

log = logging.getLogger("syncbridge.assessment")


def install_partner_api(rt: Runtime, app: FastAPI, *, base_dir: Path | None = None) -> None:
    """Mount the four partner endpoints under ``/assessment/`` on ``app``."""
    settings = rt.settings.assessment
    if settings is None:
        return
    basic = HTTPBasic(auto_error=False)
    key = settings.api_key.get_secret_value().encode()

    def refuse(status: int, message: str) -> JSONResponse:
        headers = {"WWW-Authenticate": "Basic"} if status == 401 else None
        return JSONResponse({"errors": [message]}, status_code=status, headers=headers)

    def authorised(creds: HTTPBasicCredentials | None) -> bool:
        return creds is not None and hmac.compare_digest(creds.username.encode(), key)

    @app.get("/assessment/list_tests")
    def list_tests(creds: HTTPBasicCredentials | None = Depends(basic)) -> Any:
        if not authorised(creds):
            return refuse(401, "unknown partner key")
        return [{"partner_test_id": t.id, "partner_test_name": t.name} for t in settings.tests]

    @app.post("/assessment/send_test")
    async def send_test(request: Request, creds: HTTPBasicCredentials | None = Depends(basic)) -> Any:
        if not authorised(creds):
            return refuse(401, "unknown partner key")
        try:
            body = json.loads(await request.body())
        except (ValueError, RecursionError):
            return refuse(400, "body is not JSON")
        if not isinstance(body, dict):
            return refuse(400, "body is not a JSON object")
        test_id = body.get("partner_test_id")
        test = next((t for t in settings.tests if t.id == str(test_id)), None)
        if test is None:
            return refuse(400, f"unknown partner_test_id {test_id!r}")
        raw_candidate = body.get("candidate")
        candidate: dict[str, Any] = raw_candidate if isinstance(raw_candidate, dict) else {}
        email = normalize_email(str(candidate.get("email") or ""))
        url = body.get("url")
        if email is None:
            return refuse(400, "candidate.email: missing or not an e-mail address")
        if not isinstance(url, str) or not callback_allowed(url):
            return refuse(400, "url: missing or not an https URL")
        clear_email, email = email, rt.store.stored_email(email)  # a keyed hash with privacy.hash_emails
        with rt.store.tx() as conn:
            existing = conn.execute(
                select(assessments.c.partner_interview_id).where(
                    and_(
                        assessments.c.partner_test_id == test.id,
                        assessments.c.email == email,
                        assessments.c.callback_url == url,
                    )
                )
            ).scalar()
        if existing:  # Greenhouse sent the same order again: same answer, nothing handed off twice
            return {"partner_interview_id": existing}
        interview_id = uuid.uuid4().hex
        person = {
            "first_name": str(candidate.get("first_name") or ""),
            "last_name": str(candidate.get("last_name") or ""),
            "greenhouse_profile_url": str(candidate.get("greenhouse_profile_url") or ""),
        }
        order = {
            "partner_interview_id": interview_id,
            "partner_test_id": test.id,
            "test_name": test.name,
            "candidate": {**person, "email": clear_email},
            "sent_by": str(body.get("sent_by") or ""),
            "requested_at": datetime.now(UTC).isoformat(),
        }
        try:
            hand_off(settings, order, base_dir)
        except (OSError, requests.RequestException) as exc:
            log.error("assessment order could not be handed off: %s", exc.__class__.__name__)
            return refuse(502, "the micro-internship platform did not take the order; try again")
        with rt.store.tx() as conn:
            conn.execute(
                insert(assessments).values(
                    partner_interview_id=interview_id,
                    partner_test_id=test.id,
                    email=email,
                    candidate=person,
                    sent_by=str(body.get("sent_by") or "")[:320],
                    callback_url=url,
                    status="requested",
                    requested_at=datetime.now(UTC),
                )
            )
        log.info("assessment ordered: test %s, interview %s", test.id, interview_id)
        return {"partner_interview_id": interview_id}

    @app.get("/assessment/test_status")
    def test_status(
        partner_interview_id: str = "", creds: HTTPBasicCredentials | None = Depends(basic)
    ) -> Any:
        if not authorised(creds):
            return refuse(401, "unknown partner key")
        with rt.store.tx() as conn:
            row = conn.execute(
                select(assessments).where(assessments.c.partner_interview_id == partner_interview_id)
            ).first()
        if row is None:
            return refuse(404, "unknown partner_interview_id")
        found = matching_outcome(rt, settings, row)
        if found is None:
            return {"partner_status": "in_progress"}
        return status_body(settings, found)

    @app.post("/assessment/response_error")
    async def response_error(request: Request, creds: HTTPBasicCredentials | None = Depends(basic)) -> Any:
        if not authorised(creds):
            return refuse(401, "unknown partner key")
        try:
            body = json.loads(await request.body())
        except (ValueError, RecursionError):
            body = {}
        body = body if isinstance(body, dict) else {}
        raw_errors = body.get("errors")
        errors: list[Any] = raw_errors if isinstance(raw_errors, list) else []
        log.warning(
            "Greenhouse could not use our %s answer: %s",
            str(body.get("api_call", "?"))[:64],
            "; ".join(str(e)[:200] for e in errors[:5]) or "no detail",
        )
        return {"ok": True}
