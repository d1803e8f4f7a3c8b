"""The Workday Recruiting connector (SOAP web services, WWS).

Reads candidates and job requisitions with ``Get_Candidates`` / ``Get_Job_Requisitions``; writes the
micro-internship history as a candidate **attachment** (Workday has no note API), tags through
``Put_Candidate`` and creates prospects with ``Put_Candidate``.  See ``docs/workday.md`` for the admin
side and ``shared/api/workday.md`` for the vendor facts.

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
from datetime import UTC, datetime, timedelta
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
from syncbridge.model import Candidate, NewCandidate, Note, normalize_email

from . import envelopes, mapping
from .client import WorkdaySoapClient, WorkdayTokens, token_url
from .envelopes import Paging, Range, WdRef

log = logging.getLogger("syncbridge.connectors.workday")

_VERSION = re.compile(r"^v\d{1,3}\.\d{1,2}$")
CRITERION_KEY = "{stream}.incremental_criterion"
TRANSACTION_LOG, FALLBACK = "transaction_log", "fallback"


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
    lag_minutes: int = Field(
        default=60, ge=0, le=24 * 60, description="how far behind now incremental windows end (and overlap)"
    )
    page_size: int = Field(default=100, ge=1, le=999, description="Response_Filter/Count")
    requests_per_second: float = Field(default=10.0, gt=0, le=100)
    connect_timeout: float = Field(default=10.0, gt=0)
    read_timeout: float = Field(default=180.0, gt=0, description="Get_* calls can be slow: keep it long")
    max_attempts: int = Field(default=5, ge=1, le=20)

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
        extra: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
        common: dict[str, Any] = {
            "host": s.host,
            "tenant": s.tenant,
            "version": s.version,
            "connector": self.name,
            "timeout": (s.connect_timeout, s.read_timeout),
            "max_attempts": s.max_attempts,
            "requests_per_second": s.requests_per_second,
            **extra,
        }
        if s.username is not None:
            assert s.password is not None
            return WorkdaySoapClient(username=s.username, password=s.password.get_secret_value(), **common)
        assert s.client_id and s.client_secret is not None and s.refresh_token is not None
        tokens = WorkdayTokens(
            token_url(s.host, s.tenant),
            s.client_id,
            s.client_secret.get_secret_value(),
            s.refresh_token.get_secret_value(),
            state=self.state,
            connector=self.name,
            timeout=(s.connect_timeout, 60.0),
            **extra,
        )
        return WorkdaySoapClient(tokens=tokens, **common)

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
                    except ValueError as exc:
                        log.warning("%s: skipped a %s record: %s", self.name, record, exc)
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

    # reconciliation ---------------------------------------------------------------------------------
    def find_note(self, candidate_id: str, marker: str) -> str | None:
        """The attachment whose comment or content holds ``marker`` (Get_Candidates with attachments)."""
        record = self._candidate_record(candidate_id, attachments=True)
        found = mapping.find_marker(mapping.attachments(record), marker)
        if found is None:
            return None
        return mapping.attachment_id(found) or f"{candidate_id}:attachment"

    def has_fields(self, candidate_id: str, fields: Mapping[str, Any]) -> bool:
        return not fields

    def close(self) -> None:
        self.client.close()
