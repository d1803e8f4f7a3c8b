"""One-line errors for a state store that cannot be reached.

A closed port, a database that was never created or a wrong role surface from psycopg/sqlite through
SQLAlchemy as a 140-line traceback.  :func:`describe` turns them into one line: what failed, where
(``host:port/db`` — never the password, which is dropped from the URL) and the usual fix.
"""

from __future__ import annotations

import re

from syncbridge.errors import SyncbridgeError


class StateStoreError(SyncbridgeError):
    """The state store cannot be opened.  ``str()`` is one line: what, where, and the fix."""


def where(url: str) -> str:
    """``dialect://user@host:port/db`` without the password (or the SQLite file path)."""
    try:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
    except Exception:
        return "the state store (state.url)"
    if parsed.get_backend_name() == "sqlite":
        return f"SQLite file {parsed.database or ':memory:'}"
    host = parsed.host or "localhost"
    port = parsed.port or 5432
    user = f"{parsed.username}@" if parsed.username else ""
    return f"PostgreSQL {user}{host}:{port}/{parsed.database or ''}"


_FIXES: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (
        re.compile(r'database "([^"]+)" does not exist'),
        "the database does not exist",
        "create it (createdb -h HOST -U USER {0}) or fix state.url",
    ),
    (
        re.compile(r"Connection refused|could not connect|connection timeout expired|timed out", re.I),
        "nothing accepts connections there",
        "start PostgreSQL or fix the host/port in state.url",
    ),
    (
        re.compile(r'role "([^"]+)" does not exist'),
        "the database user does not exist",
        "create the role {0} or fix the user in state.url",
    ),
    (
        re.compile(r"password authentication failed|no password supplied", re.I),
        "the database refused the credentials",
        "check the password (environment, .env or PGPASSFILE)",
    ),
    (
        re.compile(r"failed to resolve host|could not translate host name|Name or service not known", re.I),
        "the host name does not resolve",
        "fix the host in state.url",
    ),
    (
        re.compile(r"unable to open database file", re.I),
        "the SQLite file cannot be opened",
        "check that its directory exists and is writable",
    ),
)


def describe(exc: BaseException, url: str) -> str:
    """One line for a connection failure to the state store at ``url``."""
    detail = str(getattr(exc, "orig", None) or exc)
    place = where(url)
    for pattern, what, fix in _FIXES:
        m = pattern.search(detail)
        if m:
            return f"state store: {what} ({place}): {fix.format(*m.groups())}"
    first = " ".join(detail.split())[:200]
    return f"state store: cannot connect ({place}): {first}"
