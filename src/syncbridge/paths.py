"""Relative paths in the YAML are relative to the config file's folder, never to the working directory.

A Prefect process worker runs each flow in a fresh temporary folder, systemd starts services in ``/``,
and cron in the user's home: a path resolved against the working directory would point somewhere new on
every run (a new, empty SQLite state store each time, which forgets every write).  The config file is the
one fixed point, so paths are anchored there when the file is loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.engine.url import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_STATE_FILE = ".syncbridge/state.db"


def _anchor(path: str, base: Path) -> str:
    p = Path(path)
    if p.is_absolute() or path.startswith("~"):
        return path
    return str((base / p).resolve())


def anchor_sqlite_url(url: str, base: Path) -> str:
    """``sqlite:///relative.db`` → ``sqlite:////<base>/relative.db``; any other URL unchanged."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return url  # the config validator names the problem
    db = parsed.database
    if parsed.get_backend_name() != "sqlite" or not db or db == ":memory:" or db.startswith("file:"):
        return url
    anchored = _anchor(db, base)
    if anchored == db:
        return url
    return parsed.set(database=anchored).render_as_string(hide_password=False)


def anchor_paths(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """The interpolated YAML with its relative file paths made absolute against ``base``: the SQLite
    state store (also the default one, when ``state.url`` is not given) and the outcomes file."""
    out = dict(data)
    state = out.get("state")
    state = dict(state) if isinstance(state, dict) else {} if state is None else state
    if isinstance(state, dict):
        url = state.get("url", f"sqlite:///{DEFAULT_STATE_FILE}")
        if isinstance(url, str):
            state["url"] = anchor_sqlite_url(url, base)
        out["state"] = state
    outcomes = out.get("outcomes")
    if isinstance(outcomes, dict) and isinstance(outcomes.get("path"), str) and outcomes["path"].strip():
        out["outcomes"] = {**outcomes, "path": _anchor(outcomes["path"], base)}
    return out


def local_state_problem(url: str) -> str | None:
    """Why a state store cannot be shared by workers on other machines (None: it can).  A SQLite file
    lives on one machine: a worker elsewhere would open a different, empty file at the same path."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite":
        return None
    return (
        f"state.url is a SQLite file ({parsed.database or 'in memory'}): workers on other machines cannot "
        "reach it; use PostgreSQL (docs/operations.md), or pass --same-host when every worker runs here"
    )
