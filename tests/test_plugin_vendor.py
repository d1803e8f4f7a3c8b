"""A fourth ATS as a plugin, proving the plugin design (issue 11).

``tests/plugin_vendor`` holds ``tinyats``: a connector and a sandbox registered only through the entry
points of ``tinyats-0.1.dist-info``, with nothing in syncbridge naming it.  Every test here runs syncbridge
in a subprocess with that folder on ``PYTHONPATH``, so no other test ever sees the vendor.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.e2e

HERE = Path(__file__).resolve().parent
PLUGIN = HERE / "plugin_vendor"
CONFORMANCE = HERE / "conformance"
KNOWN = "greenhouse, lever, tinyats, workday"


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PLUGIN), env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


def _run(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "syncbridge.cli", *args],
        env=_env(**env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _demo(workdir: Path, vendor: str, *more: str) -> dict[str, Any]:
    done = _run(
        "demo", "--no-prefect", "--json", "--size", "60", "--workdir", str(workdir), "--vendor", vendor, *more
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return dict(json.loads(done.stdout[done.stdout.index("{") :]))


def test_the_vendor_is_invisible_without_its_folder_on_the_path() -> None:
    from syncbridge.plugins import vendors

    assert "tinyats" not in vendors()


def test_demo_writes_and_a_second_run_plans_nothing(tmp_path: Path) -> None:
    first = _demo(tmp_path, "tinyats")
    assert set(first["synced"]) == {"tinywidgets-tinyats/people"}
    assert first["actions"]["applied"] > 0 and first["actions"]["failed"] == 0
    assert first["outcomes"]["unrouted"] == 0 and first["outcomes"]["linked"] > 0
    second = _demo(tmp_path, "tinyats")
    assert second["actions"]["planned"] == 0 and second["actions"]["applied"] == 0


def test_demo_all_includes_the_plugin(tmp_path: Path) -> None:
    summary = _demo(tmp_path, "all")
    connectors = {key.split("/")[0] for key in summary["synced"]}
    assert {"acme-greenhouse", "globex-lever", "initech-workday", "tinywidgets-tinyats"} <= connectors
    assert summary["actions"]["applied"] > 0 and summary["actions"]["failed"] == 0
    assert summary["outcomes"]["unrouted"] == 0


def test_help_texts_list_the_installed_vendors() -> None:
    for args in (["--help"], ["demo", "--help"], ["sandbox", "--help"]):
        shown = _run(*args)
        assert shown.returncode == 0 and "tinyats" in " ".join(shown.stdout.split()), (args, shown.stdout)
    serve = _run("sandbox", "tinyats", "serve", "--help")
    assert serve.returncode == 0 and "--fault-rate" in serve.stdout and "--db" in serve.stdout
    unknown = _run("sandbox", "taleo", "serve")
    assert unknown.returncode == 2 and f"'taleo' is not one of {KNOWN}" in unknown.stderr
    demo = _run("demo", "--vendor", "taleo", "--no-prefect")
    assert demo.returncode == 2 and "--vendor: taleo not one of greenhouse, " in demo.stderr
    assert "tinyats" in demo.stderr  # listed in demo order (the default vendor first)


def _config(tmp_path: Path, block: dict[str, Any]) -> Path:
    outcomes = tmp_path / "outcomes.csv"
    outcomes.write_text("outcome_id,student_email\n", encoding="utf-8")
    config = {
        "version": 1,
        "state": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
        "outcomes": {"path": str(outcomes)},
        "connectors": {"tiny": block},
        "routing": [{"employer": "*", "connector": "tiny"}],
    }
    path = tmp_path / "syncbridge.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def test_validate_and_schema_know_the_type(tmp_path: Path) -> None:
    block = {"type": "tinyats", "base_url": "https://acme.tinyats.example/api/v1", "api_key": "${TINY_KEY}"}
    valid = _run("-c", str(_config(tmp_path, block)), "validate", TINY_KEY="k")
    assert valid.returncode == 0, valid.stderr
    wrong = _run("-c", str(_config(tmp_path, {**block, "page_size": 1000})), "validate", TINY_KEY="k")
    assert wrong.returncode == 2 and "page_size" in wrong.stderr
    unknown = _run("-c", str(_config(tmp_path, {**block, "type": "taleo"})), "validate", TINY_KEY="k")
    assert unknown.returncode == 2
    assert f"tiny.type: unknown connector type 'taleo' (known: {KNOWN})" in unknown.stderr
    untyped = _run(
        "-c",
        str(_config(tmp_path, {k: v for k, v in block.items() if k != "type"})),
        "validate",
        TINY_KEY="k",
    )
    assert untyped.returncode == 2 and f"tiny.type: missing (one of {KNOWN})" in untyped.stderr
    schema = _run("schema")
    assert schema.returncode == 0, schema.stderr
    document = json.loads(schema.stdout)
    connectors = document["properties"]["connectors"]["additionalProperties"]
    assert connectors["properties"]["type"]["enum"] == KNOWN.split(", ")
    assert "api_key" in document["$defs"]["TinyAtsSettings"]["properties"]


@contextmanager
def _served(tmp_path: Path) -> Iterator[str]:
    """``syncbridge sandbox tinyats serve`` on a free port; yields its root URL."""
    serve = ["sandbox", "tinyats", "serve", "--db", str(tmp_path / "t.db"), "--size", "30"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncbridge.cli", *serve],
        env=_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening on http://"), line
        yield line.split()[2]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_served_sandbox_credentials_and_a_shared_rate_limit(tmp_path: Path) -> None:
    """The served sandbox: ``validate --online`` calls the connector's check(); a sync whose connector
    shares a rate limit finds the plugin's HTTP client inside the plugin's own API wrapper."""
    with _served(tmp_path) as url:
        block = {
            "type": "tinyats",
            "base_url": f"{url}/api/v1",
            "api_key": "${TINY_KEY}",
            "page_size": 7,
            "shared_rate_limit": {"name": "tiny-account", "requests": 1000, "per_seconds": 1},
        }
        config = str(_config(tmp_path, block))
        key = "sbx-tinyats-key-51d0"
        online = _run("-c", config, "validate", "--online", TINY_KEY=key)
        assert online.returncode == 0 and "credentials OK" in online.stdout, online.stdout + online.stderr
        refused = _run("-c", config, "validate", "--online", TINY_KEY="not-the-key")
        assert refused.returncode == 1 and "credentials NOT accepted" in refused.stdout
        synced = _run("-c", config, "sync", TINY_KEY=key)
        assert synced.returncode == 0, synced.stderr
        assert "tiny/people: 30 records in 5 page(s)" in synced.stdout


def test_conformance_suite_passes_for_the_plugin() -> None:
    if not CONFORMANCE.is_dir():
        pytest.skip("tests/conformance/ (the connector conformance suite) does not exist yet")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(CONFORMANCE), "-v", "-p", "no:cacheprovider"],
        # an outer pytest's own variables (an xdist worker's) are not the inner run's
        env={
            k: v
            for k, v in _env(SYNCBRIDGE_CONFORMANCE_VENDORS="tinyats").items()
            if not k.startswith("PYTEST_")
        },
        cwd=HERE.parent,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "tinyats" in done.stdout, done.stdout[-4000:]
