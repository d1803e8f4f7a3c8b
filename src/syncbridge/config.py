"""YAML configuration → validated settings.

* ``${VAR}`` and ``${VAR:-default}`` are replaced from the environment, then from a ``.env`` file
  (next to the config file, then in the working directory).  ``.env`` values never enter
  ``os.environ`` so they cannot leak into Prefect's own settings.
* ``${prefect-secret:NAME}`` is replaced by the value of the Prefect Secret block NAME (see
  :mod:`syncbridge.prefect_yaml`); Prefect is imported only when such a reference is present.
* Every error is reported as one line naming the YAML path: ``connectors.acme.client_secret: ...``.
* Each connector's block is validated by that connector type's own settings model, found through the
  ``syncbridge.connectors`` entry points.
* Relative paths (outcome files, SQLite URLs) are relative to the config file's folder, not to the working
  directory (see :mod:`syncbridge.paths`).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any, Literal

from dotenv import dotenv_values
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from syncbridge import configcheck
from syncbridge.assessment import AssessmentSettings
from syncbridge.connector import ConnectorSettings, connector_class, connector_types
from syncbridge.errors import ConfigError
from syncbridge.outcomes import OutcomeSourceSettings
from syncbridge.redact import register_secret
from syncbridge.safety import SafetySettings
from syncbridge.webhooks import WebhookSettings
from syncbridge.yamlsafe import load_yaml_file

DEFAULT_STATE_URL = "sqlite:///.syncbridge/state.db"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_PREFECT_SECRET = re.compile(r"\$\{prefect-secret:([^}]*)\}")

#: dotted paths into an Outcome that history fields may use
FIELD_SOURCES = {
    "outcome_id",
    "student.email",
    "student.first_name",
    "student.last_name",
    "student.school",
    "student.graduation_date",
    "project.project_id",
    "project.title",
    "project.role_title",
    "project.team",
    "project.employer",
    "project.start_date",
    "project.end_date",
    "project.status",
    "project.hours",
    "project.supervisor.name",
    "project.supervisor.email",
    "project.supervisor.title",
    "evaluation.rating",
    "evaluation.would_hire",
    "evaluation.skills",
    "evaluation.comments",
    "evaluation.deliverables",
    "evaluation.submitted_at",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class StateSettings(_Strict):
    url: str = DEFAULT_STATE_URL

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if "://" not in v:
            raise ValueError(
                "must be a SQLAlchemy URL such as sqlite:///.syncbridge/state.db "
                "or postgresql+psycopg://user@host/db"
            )
        problem = configcheck.state_url_problem(v)
        if problem:
            raise ValueError(problem)
        return v


class Route(_Strict):
    employer: str = Field(description="employer name as in the outcomes (case-insensitive), or '*'")
    connector: str


class MatchingSettings(_Strict):
    create_unmatched: bool = Field(
        default=False, description="create a candidate/prospect for outcomes that match nobody"
    )
    new_candidate_tags: list[str] = Field(default_factory=list)
    min_confidence: float = Field(
        default=0.8,
        ge=0,
        le=1,
        description="links found by evidence other than the e-mail (phone, name, school, an earlier link) "
        "are used at or above this confidence; below it they wait in `syncbridge review`",
    )
    phone_region: str | None = Field(
        default=None,
        description="region (e.g. US, GB) for phone numbers written without +country code; else only "
        "+numbers are compared",
    )


class HistorySettings(_Strict):
    note: bool = True
    tags: list[str] = Field(default_factory=lambda: ["micro-intern"])
    fields: dict[str, str] = Field(
        default_factory=dict, description="ATS custom field name_key → outcome path (e.g. evaluation.rating)"
    )

    @field_validator("fields")
    @classmethod
    def _fields(cls, v: dict[str, str]) -> dict[str, str]:
        for key, source in v.items():
            if source not in FIELD_SOURCES:
                raise ValueError(
                    f"{key}: unknown outcome path {source!r} (one of: {', '.join(sorted(FIELD_SOURCES))})"
                )
        return v

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: list[str]) -> list[str]:
        for tag in v:
            if not tag.strip() or len(tag) > 255:
                raise ValueError(f"tag {tag!r} must be 1-255 characters")
        return v


class SyncSettings(_Strict):
    streams: dict[str, list[str]] = Field(
        default_factory=dict, description="connector → streams to sync (default: all the connector has)"
    )


class StrongWhen(_Strict):
    """When a micro-intern counts as strong.  Every condition given must hold."""

    employer: str = Field(default="*", description="employer this rule is for ('*' = any)")
    team: str | None = Field(default=None, description="team this rule is for (default: any)")
    min_rating: float = Field(default=4.5, ge=1, le=5)
    would_hire: bool | None = Field(default=True, description="required would-hire answer (null: either)")
    required_skills: dict[str, int] = Field(default_factory=dict, description="skill → minimum level 1-5")
    completed: bool = Field(default=True, description="only completed projects")

    @field_validator("required_skills")
    @classmethod
    def _levels(cls, v: dict[str, int]) -> dict[str, int]:
        for skill, level in v.items():
            if not 1 <= level <= 5:
                raise ValueError(f"{skill}: level {level} is not between 1 and 5")
        return v


class RequisitionTemplate(_Strict):
    """How to open the role.  Text values are templates over the outcome, e.g. "{project.role_title}"."""

    title: str = "{project.role_title}"
    code: str = Field(
        default="MI-{project.employer}-{project.team}-{project.role_title}",
        description="deterministic requisition code (slugged); same team and role → same requisition",
    )
    openings: int = Field(default=1, ge=1, le=200)
    department: str | None = None
    location: str | None = None
    hiring_manager: str | None = Field(
        default=None, description="ATS user id when the supervisor is not an ATS user (fallback)"
    )
    fields: dict[str, str] = Field(
        default_factory=dict, description="requisition custom field → outcome path"
    )
    description: str | None = Field(
        default=None,
        description="the job's description/notes, a template over the outcome (e.g. \"{project.role_title} "
        'in {project.team}"); default: role, team and what the micro-internship showed',
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="vendor specifics, e.g. {template_job_id, board, publish}; see docs/conversion.md",
    )

    @field_validator("fields")
    @classmethod
    def _fields(cls, v: dict[str, str]) -> dict[str, str]:
        return _check_paths(v)


class PrescreenSettings(_Strict):
    fields: dict[str, str] = Field(
        default_factory=dict, description="application custom field → outcome path (or prescreen.score, ...)"
    )
    attachment: bool = Field(default=True, description="attach the evaluation summary to the application")
    stage: str | None = Field(default=None, description="initial stage / step id for the application")

    @field_validator("fields")
    @classmethod
    def _fields(cls, v: dict[str, str]) -> dict[str, str]:
        return _check_paths(v, extra=PRESCREEN_SOURCES)


class NurtureWhen(_Strict):
    """When a strong micro-intern is nurtured as a prospect instead of converted (early talent)."""

    graduation_after_months: int = Field(
        ge=0, description="the expected graduation is more than this many months away (e.g. 12)"
    )


class NurtureSettings(_Strict):
    """Where a nurtured student goes.  ``options`` are vendor specifics (docs/conversion.md)."""

    tags: list[str] = Field(default_factory=lambda: ["early-talent"], description="tags to add")
    follow_up_months_before_graduation: int = Field(
        default=6, ge=0, le=60, description="the follow-up date: this many months before graduation"
    )
    follow_up_field: str | None = Field(
        default=None, description="a candidate date field for the follow-up date (Greenhouse name_key)"
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Greenhouse {prospect_pool_id, prospect_stage_id}; Lever {stage}; "
        "Workday {prospect_status}",
    )


class ConversionRule(_Strict):
    name: str = Field(min_length=1)
    when: StrongWhen = Field(default_factory=StrongWhen)
    nurture_when: NurtureWhen | None = Field(
        default=None, description="a strong student matching this is nurtured as a prospect, not converted"
    )
    nurture: NurtureSettings = Field(default_factory=NurtureSettings)
    connector: str | None = Field(default=None, description="default: where the outcome is routed")
    requisition: RequisitionTemplate = Field(default_factory=RequisitionTemplate)
    prescreen: PrescreenSettings = Field(default_factory=PrescreenSettings)


class ConversionSettings(_Strict):
    enabled: bool = Field(default=False, description="open roles for strong micro-interns")
    approval: Literal["auto", "manual"] = "auto"
    approval_timeout_minutes: int = Field(
        default=60, ge=1, le=7 * 24 * 60, description="how long a flow waits for a decision"
    )
    rules: list[ConversionRule] = Field(default_factory=list)


def _check_paths(v: dict[str, str], extra: frozenset[str] = frozenset()) -> dict[str, str]:
    for key, source in v.items():
        if source not in FIELD_SOURCES and source not in extra:
            raise ValueError(f"{key}: unknown outcome path {source!r}")
    return v


PRESCREEN_SOURCES = frozenset(
    {
        "prescreen.score",
        "prescreen.max_score",
        "prescreen.recommendation",
        "prescreen.summary",
        "prescreen.skills",
    }
)


SCHEDULED_FLOWS = ("sync", "pipeline", "history")
#: parameters a schedule may set for each flow (besides the config path and connector, set by syncbridge)
FLOW_PARAMETERS: dict[str, set[str]] = {
    "sync": {"full"},
    "pipeline": {"full", "dry_run"},
    "history": {"dry_run"},
}


class ScheduleSettings(_Strict):
    """One schedule of one flow.  Several schedules of the same (flow, connector) become one deployment
    with several schedules, each with its own parameters (e.g. a full re-sync on Sunday nights)."""

    flow: Literal["sync", "pipeline", "history"]
    connector: str | None = Field(default=None, description="default: one deployment per connector")
    cron: str | None = None
    interval_minutes: float | None = Field(
        default=None,
        gt=0,
        le=366 * 24 * 60,
        description="minutes between runs (fractions allowed: 0.5 = every 30 s)",
    )
    timezone: str = "UTC"
    parameters: dict[str, Any] = Field(default_factory=dict)
    active: bool = True

    @model_validator(mode="after")
    def _check(self) -> ScheduleSettings:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        if (self.cron is None) == (self.interval_minutes is None):
            raise ValueError("give exactly one of cron or interval_minutes")
        if self.cron is not None:
            from syncbridge.prefect_yaml import cron_problem

            problem = cron_problem(self.cron)
            if problem:
                raise ValueError(f"cron {self.cron!r} is not a valid cron expression ({problem})")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone {self.timezone!r} is not an IANA time zone") from None
        unknown = set(self.parameters) - FLOW_PARAMETERS[self.flow]
        if unknown:
            raise ValueError(
                f"parameters: {', '.join(sorted(unknown))} not accepted by the {self.flow} flow "
                f"(accepted: {', '.join(sorted(FLOW_PARAMETERS[self.flow]))})"
            )
        for key, value in self.parameters.items():
            if not isinstance(value, bool):
                raise ValueError(f"parameters.{key}: must be true or false")
        return self


class PrefectSettings(_Strict):
    """How syncbridge uses Prefect (see docs/operations.md)."""

    environment: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9-]{0,39}$",
        description="prefix of deployment names (e.g. prod → prod-sync-acme), so environments sharing a "
        "Prefect server keep their own deployments; `--env` overrides it",
    )
    local_server_folder: str | None = Field(
        default=None,
        description="one-machine mode: where the local Prefect server keeps its database "
        "(default: the SQLite state's folder, else .syncbridge next to this file)",
    )
    local_server_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="one-machine mode: port of the local Prefect server "
        "(default: 4200 if free, else any free port)",
    )


class PrivacySettings(_Strict):
    """Personal data in the state store (docs/security.md, "Personal data")."""

    hash_emails: bool = Field(
        default=False,
        description="keep only a keyed hash (HMAC-SHA256) of people's e-mails in the mirror and outcomes",
    )
    hash_key: str | None = Field(
        default=None, description="the HMAC key, at least 16 characters; use ${SYNCBRIDGE_EMAIL_HASH_KEY}"
    )

    @model_validator(mode="after")
    def _key(self) -> PrivacySettings:
        if self.hash_emails and not self.hash_key:
            raise ValueError(
                "hash_key: missing (hash_emails needs it; use hash_key: ${SYNCBRIDGE_EMAIL_HASH_KEY})"
            )
        if self.hash_key is not None and len(self.hash_key) < 16:
            raise ValueError("hash_key: must be at least 16 characters (a random string)")
        return self


class Settings(_Strict):
    version: Literal[1] = 1
    state: StateSettings = Field(default_factory=StateSettings)
    outcomes: OutcomeSourceSettings
    connectors: dict[str, ConnectorSettings]
    routing: list[Route] = Field(min_length=1)
    matching: MatchingSettings = Field(default_factory=MatchingSettings)
    history: HistorySettings = Field(default_factory=HistorySettings)
    sync: SyncSettings = Field(default_factory=SyncSettings)
    schedules: list[ScheduleSettings] = Field(default_factory=list)
    conversion: ConversionSettings = Field(default_factory=ConversionSettings)
    prefect: PrefectSettings = Field(default_factory=PrefectSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    webhooks: WebhookSettings | None = Field(default=None, description="signed vendor webhooks in")
    assessment: AssessmentSettings | None = Field(
        default=None, description="act as a Greenhouse assessment partner (micro-internship orders)"
    )
    safety: SafetySettings = Field(default_factory=SafetySettings)
    #: non-fatal findings (secrets written in clear), one line each; see syncbridge.configcheck
    _warnings: list[str] = PrivateAttr(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        return list(self._warnings)

    @field_validator("connectors", mode="before")
    @classmethod
    def _connectors(cls, value: Any) -> Any:
        if not isinstance(value, dict) or not value:
            raise ValueError("at least one connector is required")
        out: dict[str, ConnectorSettings] = {}
        for name, block in value.items():
            if isinstance(block, ConnectorSettings):
                out[name] = block
                continue
            if not isinstance(block, dict) or "type" not in block:
                known = ", ".join(connector_types()) or "no connector is installed"
                raise ValueError(f"{name}.type: missing (one of {known})")
            try:
                model = connector_class(str(block["type"])).settings_model
            except ConfigError as exc:
                raise ValueError(f"{name}.type: {exc}") from exc
            try:
                out[name] = model.model_validate(block)
            except ValidationError as exc:
                raise ValueError(_first_lines(exc, prefix=name)) from None
        return out

    @model_validator(mode="after")
    def _routes(self) -> Settings:
        for i, route in enumerate(self.routing):
            if route.connector not in self.connectors:
                raise ValueError(f"routing.{i}.connector: {route.connector!r} is not a configured connector")
        for name in self.sync.streams:
            if name not in self.connectors:
                raise ValueError(f"sync.streams.{name}: not a configured connector")
        for i, rule in enumerate(self.conversion.rules):
            if rule.connector is not None and rule.connector not in self.connectors:
                raise ValueError(
                    f"conversion.rules.{i}.connector: {rule.connector!r} is not a configured connector"
                )
        _check_inbound(self)
        for i, sched in enumerate(self.schedules):
            if sched.connector is not None and sched.connector not in self.connectors:
                raise ValueError(
                    f"schedules.{i}.connector: {sched.connector!r} is not a configured connector"
                )
        return self

    def connector_for(self, employer: str) -> str | None:
        wanted = employer.strip().casefold()
        for route in self.routing:
            if route.employer == "*" or route.employer.strip().casefold() == wanted:
                return route.connector
        return None


def _check_inbound(settings: Settings) -> None:
    """Webhooks and the assessment partner name configured connectors of a vendor that has them."""
    if settings.webhooks is not None:
        for name, endpoint in settings.webhooks.connectors.items():
            block = settings.connectors.get(name)
            if block is None:
                raise ValueError(f"webhooks.connectors.{name}: not a configured connector")
            reader = connector_class(block.type).webhooks
            if reader is None:
                raise ValueError(
                    f"webhooks.connectors.{name}: {block.type} sends no webhooks syncbridge reads"
                )
            if reader.secret_required and endpoint.secret is None:
                raise ValueError(f"webhooks.connectors.{name}.secret: missing (the webhook's secret key)")
            for s in (endpoint.secret, endpoint.previous_secret):
                if s is not None:
                    register_secret(s.get_secret_value())
    if settings.assessment is not None:
        name = settings.assessment.connector
        block = settings.connectors.get(name)
        if block is None or not connector_class(block.type).assessment_partner:
            raise ValueError(
                f"assessment.connector: {name!r} is not a configured connector of an ATS that calls "
                "assessment partners"
            )
        register_secret(settings.assessment.api_key.get_secret_value())


def _first_lines(exc: ValidationError, prefix: str = "") -> str:
    parts: list[str] = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = {"missing": "missing", "extra_forbidden": "unknown key"}.get(
            err["type"], err["msg"].removeprefix("Value error, ")
        )
        path = ".".join(p for p in (prefix, loc) if p)
        if (
            err["type"] == "value_error"
            and ": " in msg
            and path in ("connectors", "history", "history.fields", "privacy")
        ):
            # a nested validator already named the rest of the path
            parts.extend(f"{path}.{m}" for m in msg.split("; "))
        else:
            parts.append(f"{path}: {msg}" if path else msg)
    return "; ".join(parts)


def _interpolate(node: Any, path: str, lookup: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {k: _interpolate(v, f"{path}.{k}" if path else str(k), lookup) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(v, f"{path}.{i}", lookup) for i, v in enumerate(node)]
    if not isinstance(node, str):
        return node

    def repl(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if name in lookup and lookup[name] != "":
            return lookup[name]
        if default is not None:
            return default
        raise ConfigError(f"{path}: environment variable {name} is not set (and has no default)")

    whole = _VAR.fullmatch(node)
    value = _VAR.sub(repl, node)
    if whole and m_is_secretish(path):
        register_secret(value)
    if "${prefect-secret:" in value and lookup.get(_SECRETS_KEY) != "defer":
        from syncbridge.prefect_yaml import secret_value

        value = _PREFECT_SECRET.sub(lambda m: secret_value(m.group(1), path), value)
    return value


#: a lookup entry that is not an environment variable: "defer" leaves ${prefect-secret:...} as written
_SECRETS_KEY = "\0syncbridge-prefect-secrets"


def m_is_secretish(path: str) -> bool:
    last = path.rsplit(".", 1)[-1].lower()
    return any(w in last for w in ("secret", "password", "token", "api_key", "key"))


def env_lookup(config_path: Path | None) -> dict[str, str]:
    values: dict[str, str] = {}
    for candidate in [Path.cwd() / ".env", *([config_path.parent / ".env"] if config_path else [])]:
        if candidate.is_file():
            values.update({k: v for k, v in dotenv_values(candidate).items() if v is not None})
    values.update(os.environ)
    return values


def load_settings(data: dict[str, Any], *, config_path: Path | None = None, secrets: bool = True) -> Settings:
    if not isinstance(data, dict):
        raise ConfigError("the configuration must be a YAML mapping at the top level")
    lookup = env_lookup(config_path)
    if not secrets:
        lookup[_SECRETS_KEY] = "defer"
    resolved = _interpolate(data, "", lookup)
    if config_path is not None:
        from syncbridge.paths import anchor_paths

        resolved = anchor_paths(resolved, config_path.resolve().parent)
    try:
        settings = Settings.model_validate(resolved)
    except ValidationError as exc:
        raise ConfigError(_first_lines(exc)) from None
    problems = configcheck.routing_problems(settings.routing)
    for name, block in settings.connectors.items():
        problems += configcheck.connector_problems(name, block)
    if problems:
        raise ConfigError("; ".join(problems))
    settings._warnings = configcheck.clear_secret_warnings(data, settings)
    for name, block in settings.connectors.items():
        for field, value in block:
            if hasattr(value, "get_secret_value"):
                register_secret(value.get_secret_value())
            elif m_is_secretish(f"{name}.{field}") and isinstance(value, str):
                register_secret(value)
    return settings


def load_config(path: str | Path, *, log_warnings: bool = True, secrets: bool = True) -> Settings:
    """Read, interpolate and validate a YAML config file.  Raises :class:`ConfigError` (one line).

    Warnings (a secret written in clear) are logged unless ``log_warnings`` is false; they are also
    on ``settings.warnings`` (``syncbridge validate`` prints them, and refuses them with --strict).
    ``secrets=False`` leaves ``${prefect-secret:...}`` references unresolved: for the commands that only
    schedule (serve, deploy, trigger), which may run before the Prefect server holding the blocks is up.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: configuration file not found")
    data = load_yaml_file(p)  # size, encoding, alias bombs, duplicate keys: see syncbridge.yamlsafe
    if isinstance(data, dict) and "version" not in data:
        raise ConfigError(f"{p}: version: missing (the first line of a configuration is `version: 1`)")
    settings = load_settings(data or {}, config_path=p, secrets=secrets)
    if log_warnings:
        for warning in settings.warnings:
            logging.getLogger("syncbridge.config").warning("%s: %s", p, warning)
    return settings


def json_schema() -> dict[str, Any]:
    """JSON Schema of the configuration file, with every installed connector type's block (see
    :mod:`syncbridge.schema` for how connector blocks and ``${VAR}`` references are described)."""
    from syncbridge.schema import build_schema

    return build_schema(Settings)
