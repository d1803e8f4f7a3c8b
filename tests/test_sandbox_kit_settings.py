"""The sandbox kit's runtime settings (``syncbridge.sandbox.settings``) and demo conversion rule."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from syncbridge.sandbox.seed import conversion_rule
from syncbridge.sandbox.settings import apply_settings, setting_problem


@dataclass
class Config:
    rate_per_second: float = 10.0
    burst: int = 20
    fault_rate: float = 0.0
    send_retry_after: bool = False


def test_setting_problems() -> None:
    config = Config()
    assert setting_problem(config, "burst", 5) is None
    assert setting_problem(config, "nope", 1) == "is not a sandbox setting"
    assert setting_problem(config, "send_retry_after", 1) == "must be true or false"
    assert setting_problem(config, "send_retry_after", True) is None
    assert setting_problem(config, "burst", True) == "must be a number >= 0"
    assert setting_problem(config, "burst", "5") == "must be a number >= 0"
    assert setting_problem(config, "burst", -1) == "must be a number >= 0"
    assert setting_problem(config, "fault_rate", 1.5) == "must be between 0 and 1"
    assert setting_problem(config, "rate_per_second", 50) is None  # only *_rate names are rates


def test_apply_settings_converts_and_stops_at_the_first_problem() -> None:
    config = Config()
    assert apply_settings(config, {"burst": 7.0, "rate_per_second": 3}, ValueError) == {
        "burst",
        "rate_per_second",
    }
    assert (config.burst, config.rate_per_second) == (7, 3.0)
    assert isinstance(config.burst, int) and isinstance(config.rate_per_second, float)

    def error(key: str, problem: str) -> Exception:
        return ValueError(f"{key} {problem}")

    with pytest.raises(ValueError, match="fault_rate must be between 0 and 1"):
        apply_settings(config, {"burst": 9, "fault_rate": 2, "send_retry_after": True}, error)
    assert config.burst == 9 and config.send_retry_after is False  # made before the problem, not after


def test_conversion_rule_shape() -> None:
    rule = conversion_rule(
        "acme", "Acme", {"publish": "internal"}, fields={"f": "project.title"}, prescreen={}
    )
    assert rule == {
        "name": "strong-intern-acme",
        "when": {"employer": "Acme", "min_rating": 4.5, "would_hire": True},
        "requisition": {
            "title": "{project.role_title}",
            "code": "MI-{project.team}-{project.role_title}",
            "fields": {"f": "project.title"},
            "options": {"publish": "internal"},
        },
        "prescreen": {},
    }
    assert list(rule["requisition"]) == ["title", "code", "fields", "options"]
    bare = conversion_rule("x", "X", {})
    assert "prescreen" not in bare and "fields" not in bare["requisition"]
