"""Test set-up shared by the whole suite.

Prefect is isolated before anything imports it: a throw-away PREFECT_HOME, no user profile, no server URL
from the developer's environment.  Flow tests opt in to one Prefect test harness per session
(``prefect_backend``), with heartbeats off (see shared/prefect.md: ~1 s per sync flow otherwise).
"""

from __future__ import annotations

import os
import tempfile

os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="sb-prefect-")
os.environ.pop("PREFECT_API_URL", None)
os.environ.setdefault("PREFECT_TEST_MODE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml


@pytest.fixture(scope="session")
def prefect_backend() -> Iterator[None]:
    from prefect.settings import temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with (
        prefect_test_harness(server_startup_timeout=90),
        temporary_settings(updates={"flows.heartbeat_frequency": None}),
    ):
        yield


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """Write a YAML config into tmp_path; keyword arguments replace top-level sections."""

    def make(connectors: dict[str, Any], *, name: str = "syncbridge.yaml", **sections: Any) -> Path:
        data: dict[str, Any] = {
            "version": 1,
            "state": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
            "outcomes": {"path": str(tmp_path / "outcomes.csv")},
            "connectors": connectors,
            "routing": [{"employer": "Acme Corp", "connector": next(iter(connectors))}],
        }
        data.update(sections)
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return path

    return make
