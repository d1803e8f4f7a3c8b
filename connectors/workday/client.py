"""Workday WWS transport: authentication, the SOAP call, fault → typed error mapping, paging.

* Endpoint: ``POST {host}/ccx/service/{tenant}/Recruiting/{version}`` with ``Content-Type: text/xml`` and
  an empty ``SOAPAction``.
* Auth: a WS-Security UsernameToken (``user@tenant`` + PasswordText) in the envelope, **or** an OAuth
  bearer token from the refresh-token grant at ``{host}/ccx/oauth2/{tenant}/token`` (no Security header
  then).  A refresh token the server rotates is kept in the connector's :class:`StateStore`.
* Errors: the shared :class:`~syncbridge.http.ApiClient` does the HTTP (timeouts, limiter, retries);
  :func:`fault_error` turns SOAP faults into the shared typed errors.  Validation_Fault →
  :class:`InvalidRequest` (keeps the Xpath, never retried); Authentication_Fault → :class:`AuthError`;
  Processing_Fault → :class:`ServerError` (retried for reads) or :class:`PermissionDenied` when it says
  the task is not authorized; a 5xx without a fault → :class:`ServerError`.
* Reads (``Get_*``) are POSTs but idempotent, so they are retried on transport errors, 5xx and processing
  faults; writes are not (the applier reconciles them instead).
"""

from __future__ import annotations

import logging
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from syncbridge.errors import (
    ApiError,
    AuthError,
    InvalidRequest,
    PermissionDenied,
    ServerError,
)
from syncbridge.http import (
    ApiClient,
    PageNumberPaginator,
    RotatingRefreshToken,
    TokenBucket,
    TokenProvider,
    content_type,
    error_from_response,
)
from syncbridge.redact import register_secret

from . import envelopes
from .envelopes import JobApplication, NewJobRequisition, Paging, WdRef
from .parse import (
    MalformedXml,
    PageInfo,
    SoapFault,
    body_payload,
    children_named,
    find_fault,
    local,
    page_info,
    parse_document,
    ref_ids,
    response_records,
    to_dict,
)

log = logging.getLogger("syncbridge.connectors.workday")

SOAP_HEADERS = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}


def service_url(host: str, tenant: str, version: str) -> str:
    return f"{host.rstrip('/')}/ccx/service/{tenant}/Recruiting/{version}"


def token_url(host: str, tenant: str) -> str:
    return f"{host.rstrip('/')}/ccx/oauth2/{tenant}/token"


def _descendant_ids(payload: ET.Element, names: Sequence[str]) -> list[str]:
    """The id (WID first, else the first ID) of every element named in ``names`` anywhere in a write
    response, in document order."""
    out: list[str] = []
    wanted = set(names)
    for el in payload.iter():
        if local(el.tag) in wanted:
            ids = ref_ids(to_dict(el))
            value = ids.get("WID") or next(iter(ids.values()), None)
            if value and value not in out:
                out.append(value)
    return out


# --- faults → typed errors -----------------------------------------------------------------------------


def fault_error(
    fault: SoapFault, *, status: int | None, connector: str | None, version: str | None = None
) -> ApiError:
    """The shared typed error for one SOAP fault."""
    message = fault.message
    details = fault.details()
    kw: dict[str, Any] = {"status": status, "connector": connector, "details": details}
    if fault.kind == "validation":
        if fault.xpath and not any(fault.xpath in d for d in details):
            details.append(f"at {fault.xpath}")  # which element Workday refused, in the message too
        lowered = f"{message} {fault.faultstring}".lower()
        if "version" in lowered and "invalid" in lowered and version:
            details.append(
                f"the tenant may not accept WWS {version}: set `version` to the highest version "
                "the tenant supports (see its Public Web Services report)"
            )
        return InvalidRequest(message, xpath=fault.xpath, **kw)
    if fault.kind == "authentication":
        return AuthError(f"Workday refused the credentials: {message}", **kw)
    if fault.kind == "processing":
        if "not authorized" in message.lower() or "not authorised" in message.lower():
            return PermissionDenied(f"{message} (check the ISU's security group and domain policies)", **kw)
        return ServerError(message, **kw)
    if status is not None and status >= 500:
        return ServerError(message, **kw)
    return InvalidRequest(message, xpath=fault.xpath, **kw)


def soap_error_mapper(version: str | None = None) -> Callable[[requests.Response, str | None], ApiError]:
    """An ``error_mapper`` for :class:`ApiClient`: SOAP faults first, the default table otherwise."""

    def mapper(response: requests.Response, connector: str | None) -> ApiError:
        fault = find_fault(response.content or b"", connector=connector)
        if fault is None:
            return error_from_response(response, connector)
        return fault_error(fault, status=response.status_code, connector=connector, version=version)

    return mapper


# --- OAuth refresh-token grant -------------------------------------------------------------------------


class WorkdayTokens(RotatingRefreshToken):
    """Bearer tokens from ``grant_type=refresh_token``; a refresh token the endpoint rotates is kept in the
    state store under a key derived from the *configured* token (:class:`RotatingRefreshToken`)."""

    endpoint_setting = "host and tenant"

    def refused(self, error: ApiError, body: Mapping[str, Any]) -> AuthError:
        code = str(body.get("error") or f"HTTP {error.status}")
        hint = (
            "the refresh token is expired or revoked: generate a new one with 'Manage Refresh Tokens "
            "for Integrations'"
            if code == "invalid_grant"
            else "check client_id/client_secret ('View API Clients')"
        )
        return AuthError(
            f"Workday refused the refresh-token grant ({code}): {hint}",
            status=error.status,
            connector=error.connector,
        )


def _limiter(rate: float, sleep: Callable[[float], None]) -> TokenBucket:
    """Client-side pacing (Workday publishes no limits).  With an injected ``sleep`` the bucket's clock
    advances by what that sleep was asked to wait, so tests never spin on the real clock."""
    burst = max(1, round(rate))
    if sleep is time.sleep:
        return TokenBucket(rate, burst)
    skipped = [0.0]

    def clock() -> float:
        return time.monotonic() + skipped[0]

    def wait(seconds: float) -> None:
        skipped[0] += seconds
        sleep(seconds)

    return TokenBucket(rate, burst, clock=clock, sleep=wait)


# --- the SOAP client -----------------------------------------------------------------------------------


class WorkdaySoapClient:
    """One tenant's Recruiting service: builds envelopes, posts them, returns the response payload."""

    def __init__(
        self,
        *,
        host: str,
        tenant: str,
        version: str,
        connector: str,
        username: str | None = None,
        password: str | None = None,
        tokens: TokenProvider | None = None,
        requests_per_second: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        **http: Any,
    ) -> None:
        """``http``: :class:`ApiClient` options (timeouts, retry budget, ``max_pages``, a session)."""
        if (username is None) == (tokens is None):
            raise ValueError("use exactly one of a UsernameToken (username/password) or OAuth tokens")
        if password is not None:
            register_secret(password)
        self.version = version
        self.connector = connector
        self.endpoint = service_url(host, tenant, version)
        self._username = username
        self._password = password
        self.tokens = tokens
        self.http = ApiClient(
            host,
            connector=connector,
            tokens=tokens,
            limiter=_limiter(requests_per_second, sleep),
            sleep=sleep,
            error_mapper=soap_error_mapper(version),
            **http,
        )
        self.calls: dict[str, int] = {}

    @property
    def stats(self) -> dict[str, int]:
        return {**self.http.stats, **{f"op:{k}": v for k, v in self.calls.items()}}

    def call(self, request: ET.Element, *, idempotent: bool) -> ET.Element:
        """Send one request element; return the response payload or raise the mapped typed error."""
        op = local(request.tag)
        data = envelopes.envelope(request, username=self._username, password=self._password)
        self.calls[op] = self.calls.get(op, 0) + 1
        response: requests.Response | None = None
        for attempt in (1, 2):
            try:
                response = self.http.request(
                    "POST",
                    self.endpoint,
                    data=data,
                    headers=SOAP_HEADERS,
                    idempotent=idempotent,
                    write=not op.startswith("Get_"),  # every WWS read operation is a Get_
                )
                break
            except AuthError:
                # an expired bearer token comes back as an authentication fault, not always as a 401
                if self.tokens is None or attempt == 2:
                    raise
                self.tokens.invalidate()
        assert response is not None
        try:
            payload = body_payload(parse_document(response.content, connector=self.connector))
        except MalformedXml as exc:
            # one line naming the operation, the URL path and what came back (never the body)
            exc.message = (
                f"{op}: POST {urlsplit(self.endpoint).path} answered {content_type(response)} "
                f"({len(response.content)} bytes) that is not a SOAP response: {exc.message}"
            )
            exc.connector = self.connector
            raise
        if isinstance(payload, SoapFault):  # a fault with a 2xx status: trust the body
            raise fault_error(
                payload, status=response.status_code, connector=self.connector, version=self.version
            )
        return payload

    def walk(
        self,
        build: Callable[[Paging], ET.Element],
        record: str,
        *,
        page_size: int,
        as_of: datetime | None,
    ) -> Iterator[tuple[PageInfo, list[dict[str, Any]]]]:
        """Pages of one Get_* request: Page=1.. with ``As_Of_Entry_DateTime`` pinned (when given), while
        ``Page < Total_Pages`` (both read from ``Response_Results``); guarded by
        :class:`PageNumberPaginator` (a server answering the same records again, or more than
        ``max_pages`` pages, stops the walk with :class:`~syncbridge.errors.PaginationError`)."""

        def fetch(page: int) -> tuple[PageInfo, list[dict[str, Any]]]:
            payload = self.call(build(Paging(page, page_size, as_of)), idempotent=True)
            return page_info(payload), response_records(payload, record)

        paginator: PageNumberPaginator[PageInfo, list[dict[str, Any]]] = PageNumberPaginator(
            self.connector, f"Get {record} pages", max_pages=self.http.max_pages
        )
        return paginator.pages(fetch)

    # -- operations -------------------------------------------------------------------------------------
    def put_candidate(self, **kw: Any) -> dict[str, str]:
        """``Put_Candidate`` → the candidate's ids (``{"WID": ..., "Candidate_ID": ...}``)."""
        payload = self.call(envelopes.put_candidate(self.version, **kw), idempotent=False)
        refs = children_named(payload, ["Candidate_Reference"])["Candidate_Reference"]
        ids = ref_ids(refs[0]) if refs else {}
        if "WID" not in ids:
            raise InvalidRequest("Put_Candidate answered without a candidate WID", connector=self.connector)
        return ids

    def apply_candidate(
        self, *, candidate: WdRef, job_application: JobApplication
    ) -> list[tuple[dict[str, str], dict[str, str]]]:
        """``Put_Candidate`` (update) with one ``Job_Application_Data``: apply an existing person to a
        requisition.  Returns each ``Candidate_Job_Application_Data`` of the response as (job application
        ids, requisition ids)."""
        request = envelopes.put_candidate(
            self.version, candidate=candidate, add_only=False, job_application=job_application
        )
        payload = self.call(request, idempotent=False)
        out: list[tuple[dict[str, str], dict[str, str]]] = []
        for item in children_named(payload, ["Candidate_Job_Application_Data"])[
            "Candidate_Job_Application_Data"
        ]:
            for entry in item if isinstance(item, list) else [item]:
                if isinstance(entry, dict):
                    out.append(
                        (
                            ref_ids(entry.get("Job_Application_Reference")),
                            ref_ids(entry.get("Job_Requisition_Reference")),
                        )
                    )
        return out

    def put_job_application_attachment(self, **kw: Any) -> list[str]:
        """``Put_Candidate_Attachment`` on a job application → the new attachment ids (WID first)."""
        payload = self.call(envelopes.put_job_application_attachment(self.version, **kw), idempotent=False)
        return _descendant_ids(payload, ("Job_Application_Attachment_Reference", "Attachment_Reference"))

    def post_job(self, **kw: Any) -> tuple[list[str], dict[str, str]]:
        """``Post_Job`` → (the job posting ids in the response, the business-process event ids)."""
        payload = self.call(envelopes.post_job(self.version, **kw), idempotent=False)
        events = _descendant_ids(payload, ("Event_Reference",))
        return _descendant_ids(payload, ("Job_Posting_Reference",)), ({"WID": events[0]} if events else {})

    def get_job_requisitions_by_ref(self, refs: Sequence[WdRef]) -> list[dict[str, Any]]:
        """The requisitions behind ``refs`` (Request_References; unknown ones are skipped)."""
        out: list[dict[str, Any]] = []
        for _info, records in self.walk(
            lambda p: envelopes.get_job_requisitions(self.version, p, references=refs),
            "Job_Requisition",
            page_size=max(1, min(len(refs), envelopes.MAX_COUNT)),
            as_of=None,
        ):
            out.extend(records)
        return out

    def get_job_postings(
        self, *, requisition: WdRef, sites: Sequence[WdRef] = (), active_only: bool = True
    ) -> list[dict[str, Any]]:
        """The job postings of one requisition (optionally on given sites)."""
        out: list[dict[str, Any]] = []
        for _info, records in self.walk(
            lambda p: envelopes.get_job_postings(
                self.version, p, requisition=requisition, sites=sites, active_only=active_only
            ),
            "Job_Posting",
            page_size=100,
            as_of=None,
        ):
            out.extend(records)
        return out

    def put_candidate_attachment(self, **kw: Any) -> list[str]:
        """``Put_Candidate_Attachment`` → the new attachment ids (WID first when present)."""
        payload = self.call(envelopes.put_candidate_attachment(self.version, **kw), idempotent=False)
        found = children_named(payload, ["Attachment_Reference", "Candidate_Attachment_Reference"])
        out: list[str] = []
        for ref in [*found["Attachment_Reference"], *found["Candidate_Attachment_Reference"]]:
            ids = ref_ids(ref)
            value = ids.get("WID") or next(iter(ids.values()), None)
            if value:
                out.append(value)
        return out

    def create_job_requisition(
        self,
        req: NewJobRequisition,
        *,
        auto_complete: bool = False,
        run_now: bool = True,
        comment: str | None = None,
    ) -> tuple[dict[str, str], dict[str, str]]:
        """``Create_Job_Requisition`` → (requisition ids, business-process event ids)."""
        request = envelopes.create_job_requisition(
            self.version, req, auto_complete=auto_complete, run_now=run_now, comment=comment
        )
        payload = self.call(request, idempotent=False)
        found = children_named(payload, ["Job_Requisition_Reference", "Event_Reference"])
        req_ids = ref_ids(found["Job_Requisition_Reference"][0]) if found["Job_Requisition_Reference"] else {}
        event_ids = ref_ids(found["Event_Reference"][0]) if found["Event_Reference"] else {}
        if not req_ids:
            raise InvalidRequest(
                "Create_Job_Requisition answered without a Job_Requisition_Reference",
                connector=self.connector,
            )
        return req_ids, event_ids

    def move_candidate(
        self,
        *,
        job_application: WdRef | None = None,
        candidate: WdRef | None = None,
        requisition: WdRef | None = None,
        next_step: WdRef | None = None,
        disposition_step: WdRef | None = None,
        comment: str | None = None,
    ) -> dict[str, str]:
        """``Move_Candidate`` → the business-process event ids."""
        request = envelopes.move_candidate(
            self.version,
            job_application=job_application,
            candidate=candidate,
            requisition=requisition,
            next_step=next_step,
            disposition_step=disposition_step,
            comment=comment,
        )
        payload = self.call(request, idempotent=False)
        events = children_named(payload, ["Event_Reference"])["Event_Reference"]
        return ref_ids(events[0]) if events else {}

    def get_candidates_by_ref(
        self, refs: Sequence[WdRef], *, as_of: datetime | None = None, include_attachments: bool = False
    ) -> list[dict[str, Any]]:
        """The candidates behind ``refs`` (Request_References; unknown ones are skipped)."""
        out: list[dict[str, Any]] = []
        for _info, records in self.walk(
            lambda p: envelopes.get_candidates(
                self.version, p, references=refs, include_attachments=include_attachments
            ),
            "Candidate",
            page_size=max(1, min(len(refs), envelopes.MAX_COUNT)),
            as_of=as_of,
        ):
            out.extend(records)
        return out

    def close(self) -> None:
        self.http.close()
