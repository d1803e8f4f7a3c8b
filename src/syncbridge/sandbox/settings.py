"""Runtime settings of a sandbox: the dataclass ``POST /_sandbox/config`` changes while the sandbox runs.

A setting keeps the type of its current value: a flag (``bool``) takes only ``true``/``false``; a number
takes a number (not a boolean) of at least 0, and a rate (a name ending in ``_rate``) at most 1.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["apply_settings", "setting_problem"]


def setting_problem(settings: Any, key: str, value: Any) -> str | None:
    """Why ``value`` cannot become ``key`` of the dataclass instance ``settings``, or ``None``: ``"is not
    a sandbox setting"``, ``"must be true or false"``, ``"must be a number >= 0"``, ``"must be between 0
    and 1"``."""
    if key not in {f.name for f in dataclasses.fields(settings)}:
        return "is not a sandbox setting"
    if isinstance(getattr(settings, key), bool):
        return None if isinstance(value, bool) else "must be true or false"
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return "must be a number >= 0"
    if key.endswith("_rate") and value > 1:
        return "must be between 0 and 1"
    return None


def apply_settings(
    settings: Any, changes: Mapping[str, Any], error: Callable[[str, str], Exception]
) -> set[str]:
    """Set ``changes`` on ``settings`` one by one, each converted to its setting's type; the first change
    that cannot be made raises ``error(key, problem)`` (those before it stay made).  Returns the keys."""
    for key, value in changes.items():
        problem = setting_problem(settings, key, value)
        if problem is not None:
            raise error(key, problem)
        setattr(settings, key, type(getattr(settings, key))(value))
    return set(changes)
