"""Checks on the configuration that go beyond types: URLs, the state-store driver, numeric bounds,
routing that can never match, and secrets written in clear.

Kept out of :mod:`syncbridge.config` so the checks are in one place and apply to every connector type
(present and future) by field *kind*, not by a list of today's field names:

* every connector setting named ``host``, ``base_url``, ``token_url`` or ``*_url`` must be an ``https``
  URL with a host.  Plain ``http`` is accepted only for a loopback host (``localhost``, ``*.localhost``,
  ``127.0.0.0/8``, ``::1``): that is where the sandboxes and a local TLS-terminating proxy live, and
  nothing that leaves the machine should carry an ATS token unencrypted.
* every number in a connector block must be finite and not negative (a negative look-back, page size,
  rate or timeout has no meaning in any vendor's settings); timeouts are at most an hour.
* the state store URL must name a SQLAlchemy dialect *and* driver that are installed, so a typo such as
  ``sqlit:///`` is refused by ``validate`` instead of failing at the first run.
* a connector setting declared as a secret (``SecretStr``) written in clear in the file instead of as a
  ``${VAR}`` reference, and a password inside ``state.url``, give a warning that names the key and never
  the value.  ``syncbridge validate --strict`` turns these warnings into errors (for CI).
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, SecretStr

#: ${VAR}, ${VAR:-default} or ${prefect-secret:NAME} (a Prefect Secret block): not written in clear
_VAR_REF = re.compile(r"\$\{(?:[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?|prefect-secret:[^}]*)\}")
MAX_TIMEOUT_SECONDS = 3600.0


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_problem(value: str) -> str | None:
    """Why ``value`` is not an acceptable vendor URL, or None."""
    try:
        parts = urlsplit(value.strip())
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        return f"{value!r} is not a URL ({exc})"
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host:
        return f"{value!r} is not an http(s) URL such as https://api.example.com"
    if scheme == "http" and not is_loopback(host):
        return f"{value!r} uses plain http: use https (http is accepted only for localhost sandboxes)"
    return None


def _is_url_field(name: str) -> bool:
    return name in ("host", "base_url", "token_url") or name.endswith("_url")


def connector_problems(name: str, block: BaseModel) -> list[str]:
    """URL and numeric-bound problems of one validated connector block, each naming its key."""
    problems: list[str] = []
    for field, value in block:
        path = f"connectors.{name}.{field}"
        if _is_url_field(field) and isinstance(value, str):
            why = url_problem(value)
            if why:
                problems.append(f"{path}: {why}")
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int | float):
            if isinstance(value, float) and not math.isfinite(value):
                problems.append(f"{path}: {value} is not a finite number")
            elif value < 0:
                problems.append(f"{path}: {value:g} must not be negative")
            elif field.endswith("timeout") and value > MAX_TIMEOUT_SECONDS:
                problems.append(f"{path}: {value:g} s is more than an hour ({MAX_TIMEOUT_SECONDS:g} s)")
    return problems


def state_url_problem(url: str) -> str | None:
    """Why SQLAlchemy could not open ``url`` (unparsable, unknown dialect, driver not installed)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return "not a SQLAlchemy URL; use sqlite:///.syncbridge/state.db or postgresql+psycopg://user@host/db"
    try:
        dialect = parsed.get_dialect()
    except NoSuchModuleError:
        return f"unknown database dialect {parsed.drivername!r}; use sqlite:/// or postgresql+psycopg://"
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        return f"{parsed.get_backend_name()!r} is not supported: use SQLite or PostgreSQL"
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        return f"the database driver for {parsed.drivername!r} is not installed ({exc.name or exc})"
    return None


def routing_problems(routing: list[Any]) -> list[str]:
    """Routes that can never match: the same employer twice, or anything after a ``*`` route."""
    problems: list[str] = []
    first: dict[str, int] = {}
    catch_all: int | None = None
    for i, route in enumerate(routing):
        key = route.employer.strip().casefold()
        if catch_all is not None:
            problems.append(
                f"routing.{i}.employer: {route.employer!r} can never match: routing.{catch_all} "
                "('*') already takes every employer (put '*' last)"
            )
        elif key in first:
            problems.append(
                f"routing.{i}.employer: {route.employer!r} is already routed by routing.{first[key]}; "
                "the first matching route wins, so this one can never match"
            )
        else:
            first[key] = i
        if key == "*" and catch_all is None:
            catch_all = i
    return problems


def _secret_fields(block: BaseModel) -> list[str]:
    return [name for name, value in block if isinstance(value, SecretStr)]


def clear_secret_warnings(raw: Mapping[str, Any], settings: Any) -> list[str]:
    """Keys whose secret is written in the file instead of read from the environment.  Never the value."""
    warnings: list[str] = []
    blocks = raw.get("connectors") if isinstance(raw, Mapping) else None
    if isinstance(blocks, Mapping):
        for name, block in settings.connectors.items():
            raw_block = blocks.get(name)
            if not isinstance(raw_block, Mapping):
                continue
            for field in _secret_fields(block):
                value = raw_block.get(field)
                if isinstance(value, str) and not _VAR_REF.search(value):
                    warnings.append(
                        f"connectors.{name}.{field}: a secret is written in clear in the file; "
                        f"use ${{VAR}} and set it in the environment or a .env file"
                    )
    state = raw.get("state") if isinstance(raw, Mapping) else None
    url = state.get("url") if isinstance(state, Mapping) else None
    if isinstance(url, str) and not _VAR_REF.search(url):
        try:
            from sqlalchemy.engine import make_url

            has_password = make_url(url).password is not None
        except Exception:  # an unparsable URL is reported by the validator
            has_password = False
        if has_password:
            warnings.append(
                "state.url: a database password is written in clear in the file; use "
                "${SYNCBRIDGE_STATE_URL} or a password file (PGPASSFILE)"
            )
    return warnings
