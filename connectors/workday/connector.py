"""The Workday Recruiting connector (SOAP web services, WWS).

Reads candidates and job requisitions with ``Get_Candidates`` / ``Get_Job_Requisitions``; writes the
micro-internship history as a candidate **attachment** (Workday has no note API), tags through
``Put_Candidate`` and creates prospects with ``Put_Candidate``.  Conversion opens a requisition with
``Create_Job_Requisition`` (its Job_Requisition_ID is the rule's code), posts it with ``Post_Job``, applies
the person with ``Put_Candidate`` + ``Job_Application_Data`` (then ``Move_Candidate`` when a step is
configured) and attaches the prescreen summary to the job application with ``Put_Candidate_Attachment``.
See ``docs/workday.md`` for the admin side and the vendor facts this connector relies on.

Incremental reads use the transaction log: ``Updated_From = since - lag`` and
``Updated_Through = min(until, now - lag)`` so that each window overlaps the previous one by the lag
(changes can take about an hour to show up).  Records are deduplicated by WID within a run.  A tenant
that refuses ``Transaction_Log_Criteria_Data`` (a Validation_Fault naming it) makes the connector fall
back, for good, to ``Created_From`` + ``Applied_From`` windows for candidates and to full reads for
requisitions; the choice is remembered in the state store.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from syncbridge.connector import (
    Capability,
    Connector,
    ConnectorSettings,
    Record,
    StateStore,
    StreamSpec,
    Window,
)
from syncbridge.errors import InvalidRequest, NotFound
from syncbridge.http import ConnectTimeout, MaxAttempts, ReadTimeout
from syncbridge.model import (
    Application,
    Candidate,
    NewCandidate,
    NewRequisition,
    Note,
    Prescreen,
    Ref,
    Requisition,
    normalize_email,
)
from syncbridge.records import RECORD_ERRORS, Refused, refuse

from . import envelopes, mapping
from .client import WorkdaySoapClient, WorkdayTokens, token_url
from .envelopes import JobApplication, NewJobRequisition, Paging, Range, WdRef
from .parse import dig, ref_ids, text

log = logging.getLogger("syncbridge.connectors.workday")

_VERSION = re.compile(r"^v\d{1,3}\.\d{1,2}$")
CRITERION_KEY = "{stream}.incremental_criterion"
TRANSACTION_LOG, FALLBACK = "transaction_log", "fallback"

#: default ID types of the references a conversion rule names in ``requisition.options``
OPTION_ID_TYPES: dict[str, str] = {
    "supervisory_organization": "Organization_Reference_ID",
    "position_restriction": "Position_ID",
    "reason": "General_Event_Subcategory_ID",
    "job_profile": "Job_Profile_ID",
    "worker_type": "Worker_Type_ID",
    "location": "Location_ID",
    "time_type": "Position_Time_Type_ID",
    "job_posting_site": "Job_Posting_Site_ID",
}
CLOSED_STATUSES = frozenset({"closed", "filled", "frozen", "cancelled", "canceled", "inactive"})


def is_closed(status: str | None) -> bool:
    return (status or "").strip().lower() in CLOSED_STATUSES


def _days_after(start: date, days: Any) -> date | None:
    if days is None or days == "":
        return None
    try:
        return start + timedelta(days=int(days))
    except (TypeError, ValueError):
        raise InvalidRequest(f"not a number of days: {days!r}") from None


class WorkdaySettings(ConnectorSettings):
    """The ``connectors.<name>`` block for ``type: workday``."""

    type: Literal["workday"] = "workday"
    host: str = Field(
        description="services host as a base URL, e.g. https://wd2-impl-services1.workday.com "
        "(Public Web Service → View WSDL shows it); not the UI host"
    )
    tenant: str = Field(min_length=1, description="tenant name as in the service URL")
    version: str = Field(default="v46.0", description="WWS version in the URL, e.g. v46.0 (tenants cap it)")
    username: str | None = Field(default=None, description="ISU user name as user@tenant (WS-Security)")
    password: SecretStr | None = Field(default=None, description="ISU password; use ${ENV}")
    client_id: str | None = Field(default=None, description="API client id (OAuth refresh-token grant)")
    client_secret: SecretStr | None = Field(default=None, description="API client secret; use ${ENV}")
    refresh_token: SecretStr | None = Field(default=None, description="refresh token of the ISU; use ${ENV}")
    document_category: str = Field(
        default="OTHER_DOCUMENTS", description="document category id of the history attachments"
    )
    document_category_id_type: str = "Document_Category__Workday_Owned__ID"
    tag_ids: dict[str, str] = Field(
        default_factory=dict, description="tag name (as in history.tags) → the tenant's tag id"
    )
    tag_id_type: str = Field(default="Candidate_Tag_ID", description="ID type of candidate tag references")
    application_stage: str = Field(
        default="Review",
        description="Stage_Reference of a job application syncbridge creates, unless the rule's "
        "prescreen.stage names one (the v46 schema requires a stage)",
    )
    stage_id_type: str = Field(default="Recruiting_Stage_ID", description="ID type of stage references")
    application_source: str | None = Field(
        default="Micro-internship",
        description="Source_Reference (an Applicant_Source_ID of the tenant) of every job application and "
        "prospect syncbridge creates, so recruiting reports count micro-intern hires; null for none",
    )
    source_id_type: str = Field(default="Applicant_Source_ID", description="ID type of source references")
    prospect_status_id_type: str = Field(
        default="Prospect_Status_ID", description="ID type of the prospect status a nurture rule sets"
    )
    move_to_step: str | None = Field(
        default=None,
        description="after applying a person to a requisition, Move_Candidate to this recruiting step",
    )
    step_id_type: str = Field(default="Workflow_Step_ID", description="ID type of workflow step references")
    lag_minutes: int = Field(
        default=60, ge=0, le=24 * 60, description="how far behind now incremental windows end (and overlap)"
    )
    page_size: int = Field(default=100, ge=1, le=999, description="Response_Filter/Count")
    requests_per_second: float = Field(default=10.0, gt=0, le=100)
    connect_timeout: ConnectTimeout = 10.0
    read_timeout: ReadTimeout = Field(default=180.0, description="Get_* calls can be slow: keep it long")
    max_attempts: MaxAttempts = 5

    @field_validator("host")
    @classmethod
    def _host(cls, v: str) -> str:
        v = v.strip().rstrip("/")
        if not v.startswith(("https://", "http://")):
            raise ValueError("must be a base URL such as https://wd2-impl-services1.workday.com")
        if "/ccx/" in v:
            raise ValueError("give only the host (https://...workday.com), not the /ccx/service/... path")
        return v

    @field_validator("version")
    @classmethod
    def _version(cls, v: str) -> str:
        v = v.strip()
        if not v.startswith("v"):
            v = "v" + v
        if not _VERSION.match(v):
            raise ValueError("must look like v46.0")
        return v

    @model_validator(mode="after")
    def _auth(self) -> WorkdaySettings:
        basic = self.username is not None or self.password is not None
        oauth = any(x is not None for x in (self.client_id, self.client_secret, self.refresh_token))
        if basic == oauth:
            raise ValueError(
                "give either username + password (WS-Security) or client_id + client_secret + "
                "refresh_token (OAuth), not both and not neither"
            )
        if basic and (not self.username or self.password is None):
            raise ValueError("WS-Security needs both username and password")
        if oauth and (not self.client_id or self.client_secret is None or self.refresh_token is None):
            raise ValueError("OAuth needs client_id, client_secret and refresh_token")
        return self

    @model_validator(mode="before")
    @classmethod
    def _qualify_username(cls, data: Any) -> Any:
        """WWS wants ``user@tenant``; an ISU name given alone gets the tenant appended."""
        if isinstance(data, dict):
            user, tenant = data.get("username"), data.get("tenant")
            if isinstance(user, str) and user.strip() and "@" not in user and isinstance(tenant, str):
                data = {**data, "username": f"{user.strip()}@{tenant.strip()}"}
        return data


class WorkdayConnector(Connector):
    type = "workday"
    writes_counted = True
    erasure_route = (
        "Workday: syncbridge has no erasure call there; use the tenant's own data purge tasks for the "
        "candidate and the job application listed"
    )
    settings_model = WorkdaySettings
    note_kind = "attachment"
    # set_fields is not declared: WWS has no custom fields on a candidate (see docs/workday.md)
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.read_candidates,
            Capability.read_requisitions,
            Capability.find_candidates,
            Capability.create_candidate,
            Capability.add_note,
            Capability.add_tags,
            Capability.create_requisition,
            Capability.publish,
            Capability.attach,
            Capability.prescreen,
            Capability.nurture,
        }
    )
    streams = (
        StreamSpec("candidates", "candidate"),
        StreamSpec("requisitions", "requisition"),
    )

    def __init__(
        self,
        name: str,
        settings: ConnectorSettings,
        *,
        state: StateStore | None = None,
        client: WorkdaySoapClient | None = None,
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        super().__init__(name, settings, state=state)
        assert isinstance(settings, WorkdaySettings)
        self.cfg = settings
        self._clock = clock or (lambda: datetime.now(UTC))
        self.tags = mapping.TagNames(settings.tag_ids, settings.tag_id_type)
        self.client = client or self._build_client(sleep)

    def _build_client(self, sleep: Callable[[float], None] | None) -> WorkdaySoapClient:
        s = self.cfg
        http: dict[str, Any] = {**s.http_options(), **({"sleep": sleep} if sleep is not None else {})}
        where: dict[str, Any] = {"host": s.host, "tenant": s.tenant, "version": s.version}
        where["connector"] = self.name
        if s.username is not None:
            assert s.password is not None
            return WorkdaySoapClient(
                username=s.username,
                password=s.password.get_secret_value(),
                requests_per_second=s.requests_per_second,
                **where,
                **http,
            )
        assert s.client_id and s.client_secret is not None and s.refresh_token is not None
        tokens = WorkdayTokens(
            token_url(s.host, s.tenant),
            s.client_id,
            s.client_secret.get_secret_value(),
            s.refresh_token.get_secret_value(),
            state=self.state,
            connector=self.name,
            **http,
        )
        return WorkdaySoapClient(tokens=tokens, requests_per_second=s.requests_per_second, **where, **http)

    # reads ------------------------------------------------------------------------------------------
    def window_bounds(self, window: Window) -> Range | None:
        """The transaction-log window for ``window``, or ``None`` for a full read.

        ``Updated_Through = min(until, now - lag)`` (Workday refuses a bound later than its "now", and
        changes take up to the lag to appear); ``Updated_From = since - lag`` so consecutive windows
        overlap by the lag plus the pipeline's lookback.
        """
        if window.since is None:
            return None
        lag = timedelta(minutes=self.cfg.lag_minutes)
        through = min(window.until, self._clock() - lag)
        start = window.since - lag
        return Range(min(start, through), through)

    def read(self, stream: str, window: Window) -> Iterator[Sequence[Record]]:
        if stream == "candidates":
            yield from self._read_candidates(window)
        elif stream == "requisitions":
            yield from self._read_requisitions(window)
        else:
            raise KeyError(stream)

    def _criterion(self, stream: str) -> str:
        return self.state.get(CRITERION_KEY.format(stream=stream)) or TRANSACTION_LOG

    def _remember_fallback(self, stream: str, exc: InvalidRequest) -> None:
        self.state.set(CRITERION_KEY.format(stream=stream), FALLBACK)
        log.warning(
            "%s: the tenant refused Transaction_Log_Criteria_Data for %s (%s); falling back to "
            "%s from now on",
            self.name,
            stream,
            exc.message,
            "Created_From/Applied_From windows" if stream == "candidates" else "full reads",
        )

    @staticmethod
    def _refuses_transaction_log(exc: InvalidRequest) -> bool:
        text = " ".join([exc.message, exc.xpath or "", *exc.details]).lower()
        return "transaction_log" in text or "transaction log" in text

    def _pages(
        self,
        walks: list[Callable[[Paging], Any]],
        record: str,
        convert: Callable[[dict[str, Any]], Record],
        *,
        pin: bool = True,
    ) -> Iterator[list[Record]]:
        """Run the walks one after the other; drop records whose WID this run has already yielded.
        ``pin`` fixes As_Of_Entry_DateTime for the whole run (sync walks); lookups leave it to the server."""
        as_of = self._clock() if pin else None
        seen: set[str] = set()
        for build in walks:
            for _info, records in self.client.walk(build, record, page_size=self.cfg.page_size, as_of=as_of):
                page: list[Record] = []
                for rec in records:
                    try:
                        item = convert(rec)
                    except RECORD_ERRORS as exc:
                        # refused and counted by the sync (skipped_invalid), logged without its data
                        page.append(refuse(self.name, record, exc))
                        continue
                    if isinstance(item, Refused):
                        page.append(item)
                        continue
                    key = item.ref.id if not isinstance(item, dict) else str(item.get("id"))
                    if key in seen:
                        continue
                    seen.add(key)
                    page.append(item)
                yield page

    def _read_with_fallback(
        self,
        stream: str,
        window: Window,
        record: str,
        convert: Callable[[dict[str, Any]], Record],
        incremental: Callable[[Range], list[Callable[[Paging], Any]]],
        fallback: Callable[[Range], list[Callable[[Paging], Any]]],
        full: Callable[[Paging], Any],
    ) -> Iterator[list[Record]]:
        bounds = self.window_bounds(window)
        if bounds is None:
            yield from self._pages([full], record, convert)
            return
        if self._criterion(stream) == FALLBACK:
            yield from self._pages(fallback(bounds), record, convert)
            return
        pages = self._pages(incremental(bounds), record, convert)
        try:
            first = next(pages)
        except StopIteration:
            return
        except InvalidRequest as exc:
            if not self._refuses_transaction_log(exc):
                raise
            self._remember_fallback(stream, exc)
            yield from self._pages(fallback(bounds), record, convert)
            return
        yield first
        yield from pages

    def _read_candidates(self, window: Window) -> Iterator[list[Record]]:
        v = self.cfg.version

        def convert(rec: dict[str, Any]) -> Record:
            return mapping.candidate_from_wd(rec, self.name, self.tags)

        return self._read_with_fallback(
            "candidates",
            window,
            "Candidate",
            convert,
            incremental=lambda r: [lambda p: envelopes.get_candidates(v, p, updated=r)],
            fallback=lambda r: [
                lambda p: envelopes.get_candidates(v, p, created=r),
                lambda p: envelopes.get_candidates(v, p, applied=r),
            ],
            full=lambda p: envelopes.get_candidates(v, p),
        )

    def _read_requisitions(self, window: Window) -> Iterator[list[Record]]:
        v = self.cfg.version

        def convert(rec: dict[str, Any]) -> Record:
            return mapping.requisition_from_wd(rec, self.name)

        return self._read_with_fallback(
            "requisitions",
            window,
            "Job_Requisition",
            convert,
            incremental=lambda r: [lambda p: envelopes.get_job_requisitions(v, p, updated=r)],
            fallback=lambda _r: [lambda p: envelopes.get_job_requisitions(v, p)],
            full=lambda p: envelopes.get_job_requisitions(v, p),
        )

    def find_candidates(self, email: str) -> list[Candidate]:
        """People with ``email`` (Candidate_Email_Address criterion, then an exact check here)."""
        wanted = normalize_email(email)
        if wanted is None:
            return []
        found: list[Candidate] = []
        for page in self._pages(
            [lambda p: envelopes.get_candidates(self.cfg.version, p, email=email.strip())],
            "Candidate",
            lambda rec: mapping.candidate_from_wd(rec, self.name, self.tags),
            pin=False,
        ):
            found.extend(c for c in page if isinstance(c, Candidate) and wanted in c.normalized_emails)
        return found

    def _candidate_record(self, candidate_id: str, *, attachments: bool = False) -> dict[str, Any]:
        records = self.client.get_candidates_by_ref(
            [WdRef.wid(candidate_id)], include_attachments=attachments
        )
        for rec in records:
            if mapping.wid_of(rec.get("Candidate_Reference")) == candidate_id:
                return rec
        raise NotFound(f"candidate {candidate_id} not found", status=404, connector=self.name)

    def get_candidate(self, candidate_id: str) -> Candidate:
        return mapping.candidate_from_wd(self._candidate_record(candidate_id), self.name, self.tags)

    def check(self) -> dict[str, Any]:
        info = next(
            iter(
                self.client.walk(
                    lambda p: envelopes.get_candidates(self.cfg.version, p),
                    "Candidate",
                    page_size=1,
                    as_of=None,
                )
            )
        )[0]
        return {"candidates_visible": info.total_results, "version": self.cfg.version}

    # writes -----------------------------------------------------------------------------------------
    def create_candidate(self, new: NewCandidate) -> Candidate:
        """A prospect by ``Put_Candidate`` (Add_Only), unless someone already carries the e-mail."""
        existing = self.find_candidates(new.email)
        if len(existing) == 1:
            log.info("%s: a candidate with that e-mail already exists; not creating another", self.name)
            return existing[0]
        if existing:
            raise InvalidRequest(
                f"{len(existing)} Workday candidates already carry this e-mail; not creating another",
                connector=self.name,
            )
        tags = [self.tags.ref(t) for t in dict.fromkeys(new.tags)]
        try:
            ids = self.client.put_candidate(
                add_only=True,
                first_name=new.first_name[:255],
                last_name=new.last_name[:255],
                email=new.email,
                phone=new.phone,
                prospect=True,
                tags=tags,
                prospect_source=(
                    WdRef(self.cfg.source_id_type, self.cfg.application_source)
                    if self.cfg.application_source
                    else None
                ),
            )
        except InvalidRequest as exc:
            raise self._tag_error(exc, list(dict.fromkeys(new.tags))) from exc
        return mapping.created_candidate(new, ids, self.name)

    def add_note(self, candidate_id: str, note: Note) -> str:
        """The note as a small text attachment with the marker in its comment (no note API in WWS)."""
        filename, content, comment = mapping.note_attachment(note)
        ids = self.client.put_candidate_attachment(
            candidate=WdRef.wid(candidate_id),
            filename=filename,
            content=content,
            comment=comment,
            category=WdRef(self.cfg.document_category_id_type, self.cfg.document_category),
        )
        return ids[0] if ids else ""

    def add_tags(self, candidate_id: str, tags: Sequence[str]) -> None:
        """``Put_Candidate`` with the union of the current and the new tags (which must exist, active)."""
        record = self._candidate_record(candidate_id)
        current = self.tags.current_refs(record)
        names = {name for name, _ref in current}
        missing = [t for t in dict.fromkeys(tags) if t not in names]
        if not missing:
            return
        sent = [*(name for name, _ref in current), *missing]
        refs = [*(ref for _name, ref in current), *(self.tags.ref(t) for t in missing)]
        try:
            self.client.put_candidate(candidate=WdRef.wid(candidate_id), add_only=False, tags=refs)
        except InvalidRequest as exc:
            raise self._tag_error(exc, sent) from exc

    def nurture(self, candidate_id: str, nurture: Mapping[str, Any]) -> str:
        """``Put_Candidate`` (update) with ``Prospect_Data``: a prospect, in the rule's
        ``options.prospect_status`` (a Prospect_Status_ID of the tenant), then the tags (mapped by
        ``tag_ids``).  WWS has no follow-up date on a candidate: the date is in the plan and the note's
        nurture state only.  Both calls set state, so a retry converges."""
        if self.find_nurture(candidate_id, nurture) is not None:
            return candidate_id  # already the nurtured prospect (a new state store): nothing is sent
        status = (nurture.get("options") or {}).get("prospect_status")
        self.client.put_candidate(
            candidate=WdRef.wid(candidate_id),
            add_only=False,
            prospect=True,
            prospect_status=WdRef(self.cfg.prospect_status_id_type, str(status)) if status else None,
        )
        if nurture.get("tags"):
            self.add_tags(candidate_id, nurture["tags"])
        return candidate_id

    def find_nurture(self, candidate_id: str, nurture: Mapping[str, Any]) -> str | None:
        """The person, when ``Prospect_Data`` already says a prospect in the rule's status and the
        nurture's tags are on them (one ``Get_Candidates``)."""
        record = self._candidate_record(candidate_id)
        prospect = dig(record, "Candidate_Data", "Prospect_Data")
        flag = text(prospect.get("Prospect")) if isinstance(prospect, dict) else None
        if not isinstance(prospect, dict) or (flag or "").lower() not in ("1", "true"):
            return None
        status = (nurture.get("options") or {}).get("prospect_status")
        have = ref_ids(prospect.get("Prospect_Status_Reference")).get(self.cfg.prospect_status_id_type)
        if status and have != str(status):
            return None
        tags = mapping.candidate_from_wd(record, self.name, self.tags).tags
        return candidate_id if all(t in tags for t in nurture.get("tags") or ()) else None

    def _tag_error(self, exc: InvalidRequest, sent: list[str]) -> InvalidRequest:
        """Name the tag a validation fault points at (``.../Candidate_Tag_Reference[n]``)."""
        where = exc.xpath or ""
        m = re.search(r"Candidate_Tag_Reference\[(\d+)\]", where)
        if m is None and "tag" not in exc.message.lower():
            return exc
        index = int(m.group(1)) - 1 if m else -1
        named = sent[index] if 0 <= index < len(sent) else ", ".join(sent)
        return InvalidRequest(
            f"Workday refused candidate tag {named!r}: {exc.message}. Tags must already exist and be active "
            f"in the tenant; map the name to its {self.cfg.tag_id_type} with `tag_ids` in the connector "
            "settings",
            xpath=exc.xpath,
            status=exc.status,
            connector=self.name,
        )

    # conversion -------------------------------------------------------------------------------------
    def _option_ref(self, options: Mapping[str, Any], key: str, *, required: bool = False) -> WdRef | None:
        """A reference from the rule's ``requisition.options``: ``key: value`` (sent with the default ID
        type, or the one in ``<key>_id_type``) or ``key: {ID_type: value}``."""
        value = options.get(key)
        if value is None or value == "" or value is False:
            if required:
                raise InvalidRequest(
                    f"the conversion rule needs requisition.options.{key} for Workday (see docs/workday.md)",
                    connector=self.name,
                )
            return None
        if isinstance(value, Mapping):
            if len(value) != 1:
                raise InvalidRequest(
                    f"requisition.options.{key}: give one {{ID_type: value}} pair", connector=self.name
                )
            kind, item = next(iter(value.items()))
            return WdRef(str(kind), str(item))
        kind = options.get(f"{key}_id_type") or OPTION_ID_TYPES[key]
        return WdRef(str(kind), str(value))

    def _requisitions(self, refs: Sequence[WdRef]) -> list[Requisition]:
        out: list[Requisition] = []
        for rec in self.client.get_job_requisitions_by_ref(refs):
            try:
                out.append(mapping.requisition_from_wd(rec, self.name))
            except ValueError as exc:
                log.warning("%s: skipped a requisition record: %s", self.name, exc)
        return out

    def find_requisition(self, code: str) -> Requisition | None:
        """The requisition whose Job_Requisition_ID is ``code`` (Get_Job_Requisitions by reference).
        Job_Requisition_IDs are unique in a tenant, so there is at most one; an open one is preferred
        anyway, should a tenant answer with several."""
        found = [r for r in self._requisitions([WdRef("Job_Requisition_ID", code)]) if r.code == code]
        found.sort(key=lambda r: is_closed(r.status))
        return found[0] if found else None

    def create_requisition(self, new: NewRequisition) -> Requisition:
        """``Create_Job_Requisition`` with ``Job_Requisition_ID = new.code`` (so the code finds it again),
        the rule's options (supervisory organisation, reason, profile, location, worker and time type) and
        ``Business_Process_Parameters`` with ``Auto_Complete`` false unless ``options.auto_complete``: the
        tenant's approval process runs.  A requisition that already carries the code is returned instead
        (Workday refuses a second one with the same ID); a closed one is an error that says what to do."""
        opts = new.options
        org = self._option_ref(opts, "supervisory_organization")
        position = self._option_ref(opts, "position_restriction")
        if (org is None) == (position is None):
            raise InvalidRequest(
                "the conversion rule needs exactly one of requisition.options.supervisory_organization or "
                "requisition.options.position_restriction for Workday",
                connector=self.name,
            )
        reason = self._option_ref(opts, "reason", required=True)
        assert reason is not None
        existing = self.find_requisition(new.code)
        if existing is not None:
            return self._existing_requisition(existing, new.code)
        start = self._clock().date()
        location = self._option_ref(opts, "location")
        if location is None and new.location:
            location = WdRef(OPTION_ID_TYPES["location"], new.location)
        try:
            req = NewJobRequisition(
                title=new.title[:255],
                reason=reason,
                openings=new.openings,
                supervisory_organization=org,
                position_restriction=position,
                requisition_id=new.code,
                description=new.description_html,
                justification=str(opts["justification"]) if opts.get("justification") else None,
                recruiting_start_date=start,
                target_hire_date=_days_after(start, opts.get("target_hire_days")),
                job_profile=self._option_ref(opts, "job_profile"),
                worker_type=self._option_ref(opts, "worker_type"),
                primary_location=location,
                time_type=self._option_ref(opts, "time_type"),
            )
        except ValueError as exc:
            raise InvalidRequest(f"cannot open requisition {new.code}: {exc}", connector=self.name) from exc
        if new.hiring_manager:
            log.info(
                "%s: the hiring manager of %s comes from its supervisory organisation in Workday; "
                "`hiring_manager` is not sent",
                self.name,
                new.code,
            )
        try:
            ids, _event = self.client.create_job_requisition(
                req,
                auto_complete=bool(opts.get("auto_complete", False)),
                run_now=bool(opts.get("run_now", True)),
                comment=f"Opened by syncbridge for a strong micro-intern ({new.code})",
            )
        except InvalidRequest:
            # a requisition with this ID made in the meantime (another worker): use it
            raced = self.find_requisition(new.code)
            if raced is None or is_closed(raced.status):
                raise
            return raced
        if "WID" not in ids:
            raise InvalidRequest(
                "Create_Job_Requisition answered without a requisition WID", connector=self.name
            )
        back = self._requisitions([WdRef.wid(ids["WID"])])
        if back:
            return back[0]
        return mapping.created_requisition(ids, self.name, title=new.title, code=new.code, status=None)

    def _existing_requisition(self, existing: Requisition, code: str) -> Requisition:
        if is_closed(existing.status):
            raise InvalidRequest(
                f"Workday already has requisition {code} and it is {existing.status}; "
                "Job_Requisition_IDs are unique, so reopen it or change the rule's requisition.code",
                connector=self.name,
            )
        log.info("%s: requisition %s already exists; using it", self.name, code)
        return existing

    def _posting_site(self, options: Mapping[str, Any]) -> WdRef:
        """The job posting site of ``options.publish``: a site id, ``{ID_type: id}``, or ``true`` with the
        site in ``options.job_posting_site``."""
        value = options.get("publish")
        if value is True or (isinstance(value, str) and value.strip().lower() in ("true", "yes")):
            site = self._option_ref(options, "job_posting_site", required=True)
        else:
            site = self._option_ref({**options, "job_posting_site": value}, "job_posting_site", required=True)
        assert site is not None
        return site

    def publish(self, requisition_id: str, options: Mapping[str, Any]) -> str:
        """``Post_Job`` on the configured job posting site, unless the requisition already has an active
        posting there.  Returns the job posting id (the event WID when Workday names no posting)."""
        site = self._posting_site(options)
        found = self.find_published(requisition_id, options)
        if found is not None:
            return found
        start = self._clock().date()
        postings, event = self.client.post_job(
            requisition=WdRef.wid(requisition_id),
            site=site,
            start=start,
            end=_days_after(start, options.get("posting_days")),
            primary=options.get("primary_posting"),
            comment="Posted by syncbridge",
        )
        return postings[0] if postings else event.get("WID") or f"{requisition_id}:posted"

    def find_published(self, requisition_id: str, options: Mapping[str, Any]) -> str | None:
        site = self._posting_site(options)
        wanted = {site.type: site.value}
        for posting in self.client.get_job_postings(requisition=WdRef.wid(requisition_id), sites=[site]):
            data = posting.get("Job_Posting_Data")
            site_ids = ref_ids(dig(data, "Job_Posting_Site_Reference")) if data else {}
            if site_ids and not mapping.same_ref(wanted, site_ids):
                continue
            posting_id = mapping.best_id(posting.get("Job_Posting_Reference"))
            if posting_id:
                return posting_id
        return None

    def _application_on(self, record: Mapping[str, Any], requisition_id: str) -> dict[str, Any] | None:
        for app in mapping.job_applications(record):
            if mapping.same_ref({"WID": requisition_id}, app["requisition"]) and app["ids"]:
                return app
        return None

    @staticmethod
    def _needs_move(app: Mapping[str, Any], step: str, initial: str) -> bool:
        """Whether the application still waits for the configured move: not there yet, not
        dispositioned, and still in the stage it was applied in (a recruiter may have moved it on)."""
        where = set(app["stage"]) | set(app["step"])
        return step not in where and not app["disposed"] and (not app["stage"] or initial in app["stage"])

    def _application(self, candidate_id: str, requisition_id: str, app: Mapping[str, Any]) -> Application:
        stages = sorted(set(app["step"]) or set(app["stage"]))
        return Application(
            ref=Ref(
                connector=self.name, kind="application", id=mapping.application_key(candidate_id, app["ids"])
            ),
            candidate_id=candidate_id,
            requisition_id=requisition_id,
            stage=stages[0] if stages else None,
            raw={
                "ids": dict(app["ids"]),
                "requisition": dict(app["requisition"]),
                "stage": sorted(app["stage"]),
                "step": sorted(app["step"]),
            },
        )

    @staticmethod
    def _job_application_ref(ids: Mapping[str, str]) -> WdRef:
        for kind in ("WID", "Job_Application_ID"):
            if kind in ids:
                return WdRef(kind, ids[kind])
        kind, value = next(iter(ids.items()))
        return WdRef(kind, value)

    def find_application(self, candidate_id: str, requisition_id: str) -> Application | None:
        """The person's job application on the requisition (Get_Candidates).  While a configured
        ``move_to_step`` has not happened yet it answers ``None``, so the applier runs :meth:`attach`
        again, which finds the application and only makes the move."""
        app = self._application_on(self._candidate_record(candidate_id), requisition_id)
        if app is None:
            return None
        step = self.cfg.move_to_step
        if step and self._needs_move(app, step, self.cfg.application_stage):
            return None
        return self._application(candidate_id, requisition_id, app)

    def attach(
        self,
        candidate_id: str,
        requisition_id: str,
        *,
        stage: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> Application:
        """``Put_Candidate`` with ``Job_Application_Data`` (the existing candidate, the requisition, the
        stage: ``stage`` or ``application_stage``), unless the person already has a job application on
        it; then ``Move_Candidate`` to ``move_to_step`` (``options`` or the connector setting) when the
        application still sits in the stage it was applied in."""
        initial = stage or self.cfg.application_stage
        step = (options or {}).get("move_to_step") or self.cfg.move_to_step
        app = self._application_on(self._candidate_record(candidate_id), requisition_id)
        if app is None:
            source = self.cfg.application_source
            try:
                created = self.client.apply_candidate(
                    candidate=WdRef.wid(candidate_id),
                    job_application=JobApplication(
                        requisition=WdRef.wid(requisition_id),
                        stage=WdRef(self.cfg.stage_id_type, initial),
                        source=WdRef(self.cfg.source_id_type, source) if source else None,
                    ),
                )
            except InvalidRequest as exc:
                if "already applied" not in exc.message.lower():
                    raise
                created = []
            ids = next(
                (a for a, r in created if a and (not r or mapping.same_ref({"WID": requisition_id}, r))), None
            )
            if ids:
                app = {
                    "ids": ids,
                    "requisition": {"WID": requisition_id},
                    "stage": {initial},
                    "step": set(),
                    "disposed": False,
                }
            else:  # the response named no application: read it back
                app = self._application_on(self._candidate_record(candidate_id), requisition_id)
                if app is None:
                    raise InvalidRequest(
                        "Put_Candidate answered, but the candidate has no job application on the requisition",
                        connector=self.name,
                    )
        if step and self._needs_move(app, str(step), initial):
            self.client.move_candidate(
                job_application=self._job_application_ref(app["ids"]),
                next_step=WdRef(self.cfg.step_id_type, str(step)),
                comment="Prescreened micro-intern (syncbridge)",
            )
            app = {**app, "step": {*app["step"], str(step)}}
        return self._application(candidate_id, requisition_id, app)

    def _application_key(self, application_id: str) -> tuple[str, WdRef]:
        try:
            return mapping.parse_application_key(application_id)
        except ValueError as exc:
            raise InvalidRequest(str(exc), connector=self.name) from exc

    def write_prescreen(self, application_id: str, prescreen: Prescreen) -> str:
        """The prescreen summary as a text attachment on the job application (``Put_Candidate_Attachment``
        with ``Job_Application_Attachment_Data``); the marker is in its comment, its file name and its last
        line.  The rule's prescreen field values are listed in the document: WWS has no job application
        fields to put them in."""
        found = self.find_prescreen(application_id, prescreen)
        if found is not None:
            return found
        candidate, job_application = self._application_key(application_id)
        filename, content, comment = mapping.prescreen_document(
            prescreen.summary_text, prescreen.fields, prescreen.marker
        )
        ids = self.client.put_job_application_attachment(
            candidate=WdRef.wid(candidate),
            job_application=job_application,
            filename=filename,
            content=content,
            comment=comment,
        )
        return ids[0] if ids else f"{application_id}:prescreen"

    def find_prescreen(self, application_id: str, prescreen: Prescreen) -> str | None:
        """The attachment on the job application with the prescreen's file name or marker."""
        candidate, job_application = self._application_key(application_id)
        filename, _content, _comment = mapping.prescreen_document("", {}, prescreen.marker)
        record = self._candidate_record(candidate, attachments=True)
        for app in mapping.job_applications(record):
            if not mapping.same_ref({job_application.type: job_application.value}, app["ids"]):
                continue
            found = mapping.find_attachment(app["attachments"], prescreen.marker, filename)
            if found is not None:
                return text(found.get("ID")) or f"{application_id}:prescreen"
        return None

    # reconciliation ---------------------------------------------------------------------------------
    def find_note(self, candidate_id: str, marker: str) -> str | None:
        """The attachment whose comment or content holds ``marker`` (Get_Candidates with attachments)."""
        return self.find_notes(candidate_id, [marker]).get(marker)

    def find_notes(self, candidate_id: str, markers: Sequence[str]) -> dict[str, str]:
        """One Get_Candidates (with attachments) for the person; every marker checked against it."""
        items = mapping.attachments(self._candidate_record(candidate_id, attachments=True))
        found: dict[str, str] = {}
        for marker in markers:
            item = mapping.find_marker(items, marker)
            if item is not None:
                found[marker] = mapping.attachment_id(item) or f"{candidate_id}:attachment"
        return found

    def has_fields(self, candidate_id: str, fields: Mapping[str, Any]) -> bool:
        return not fields

    def close(self) -> None:
        self.client.close()
