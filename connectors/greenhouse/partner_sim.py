"""Greenhouse's side of the Assessment Partner API, on localhost (for the demo and the tests).

In production Greenhouse calls the partner: it lists the tests, sends one when a recruiter picks it in a
candidate's interview plan, and, when the partner ``PATCH``-es the URL it was given, asks for the status
and shows the score on the scorecard.  :class:`GreenhouseSide` plays that part against a running
``syncbridge webhooks serve``: :meth:`order` does what a recruiter's click does, and its small server
receives the ``PATCH`` and fetches ``test_status`` exactly as Greenhouse would, keeping what a recruiter
would then see in :attr:`results`.
"""

from __future__ import annotations

import itertools
import threading
from pathlib import Path
from typing import Any

import requests

from syncbridge.sandbox.server import ThreadedSandbox


class GreenhouseSide(ThreadedSandbox):
    vendor = "greenhouse-partner-sim"

    def __init__(self, partner_url: str, api_key: str, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(Path("."), host=host, port=port)
        self.partner_url = partner_url.rstrip("/")
        self.auth = (api_key, "")
        self.results: dict[str, dict[str, Any]] = {}  # take-home test id → what the scorecard shows
        self.patches: list[str] = []
        self._ids = itertools.count(1001)
        self._by_interview: dict[str, str] = {}
        self._lock = threading.Lock()

    def create_app(self) -> Any:
        from fastapi import FastAPI
        from fastapi.responses import JSONResponse

        app = FastAPI(title="Greenhouse assessment side (sandbox)", docs_url=None, redoc_url=None)

        @app.patch("/integrations/testing_partners/take_home_tests/{test_id}")
        def results_ready(test_id: str) -> JSONResponse:
            with self._lock:
                self.patches.append(test_id)
                interview = next((i for i, t in self._by_interview.items() if t == test_id), None)
            if interview is None:
                return JSONResponse({"errors": ["unknown take-home test"]}, status_code=404)
            # what Greenhouse does on the PATCH: ask the partner for the status, right away
            status = self.status(interview)
            with self._lock:
                self.results[test_id] = status
            return JSONResponse({}, status_code=200)

        return app

    def close_app(self, app: Any) -> None:
        return None

    # what Greenhouse sends the partner -----------------------------------------------------------------
    def list_tests(self) -> list[dict[str, Any]]:
        reply = requests.get(f"{self.partner_url}/assessment/list_tests", auth=self.auth, timeout=10)
        reply.raise_for_status()
        return list(reply.json())

    def order(
        self, test_id: str, candidate: dict[str, Any], *, sent_by: str = "recruiter@example.com"
    ) -> str:
        """A recruiter sends the test: returns the partner's ``partner_interview_id``."""
        take_home = str(next(self._ids))
        body = {
            "partner_test_id": test_id,
            "candidate": {
                "first_name": candidate.get("first_name", ""),
                "last_name": candidate.get("last_name", ""),
                "preferred_name": None,
                "email": candidate["email"],
                "phone_number": candidate.get("phone"),
                "resume_url": None,
                "greenhouse_profile_url": f"{self.url}/people/{candidate.get('id', 0)}",
            },
            "sent_by": sent_by,
            "url": f"{self.url}/integrations/testing_partners/take_home_tests/{take_home}",
        }
        reply = requests.post(
            f"{self.partner_url}/assessment/send_test", json=body, auth=self.auth, timeout=10
        )
        reply.raise_for_status()
        interview = str(reply.json()["partner_interview_id"])
        with self._lock:
            self._by_interview[interview] = take_home
        return interview

    def status(self, interview: str) -> dict[str, Any]:
        reply = requests.get(
            f"{self.partner_url}/assessment/test_status",
            params={"partner_interview_id": interview},
            auth=self.auth,
            timeout=10,
        )
        reply.raise_for_status()
        return dict(reply.json())

    def take_home_id(self, interview: str) -> str:
        return self._by_interview[interview]
