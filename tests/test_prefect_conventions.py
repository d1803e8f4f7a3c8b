"""Prefect conventions: the user's PREFECT_HOME / PREFECT_API_URL, deployment environments and pruning,
deploy-time state checks, Secret blocks in the YAML, and cron checked by Prefect's own validator."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from syncbridge.cli import main
from syncbridge.config import load_config, load_settings
from syncbridge.errors import ConfigError
from syncbridge.redact import redact

GH = {"type": "greenhouse", "client_id": "abc-1", "client_secret": "${SB_CONV_SECRET}", "user_id": 7}


def _base(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "version": 1,
        "outcomes": {"path": "/data/outcomes.csv"},
        "connectors": {"acme-gh": dict(GH)},
        "routing": [{"employer": "Acme Corp", "connector": "acme-gh"}],
    }
    data.update(over)
    return data


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SB_CONV_SECRET", "env-secret-value")


def _write(tmp_path: Path, data: dict[str, Any], name: str = "syncbridge.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


# -- PREFECT_HOME and PREFECT_API_URL are the user's


def test_the_users_prefect_home_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from syncbridge.prefect_local import prepare_prefect_env

    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "mine"))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delitem(sys.modules, "prefect", raising=False)  # as in a fresh CLI process
    where = prepare_prefect_env(tmp_path / ".syncbridge")
    assert os.environ["PREFECT_HOME"] == str(tmp_path / "mine")
    assert str(tmp_path / "mine") in where
    assert not (tmp_path / ".syncbridge" / "prefect").exists()


def test_a_configured_api_url_is_used_and_no_local_server_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from syncbridge.prefect_local import prefect_api

    monkeypatch.setenv("PREFECT_API_URL", "http://prefect.internal:4200/api")
    cfg = _write(tmp_path, _base(state={"url": f"sqlite:///{tmp_path / 'state.db'}"}))
    with prefect_api(load_config(cfg), cfg) as api:
        assert api.kind == "configured" and api.url == "http://prefect.internal:4200/api"
        assert api.server is None
    assert not (tmp_path / "prefect-server.json").exists()


# -- cron: Prefect's validator


@pytest.mark.parametrize("expr", ["5L * * * *", "0 0 * * 5L", "H * * * *", "61 * * * *"])
def test_validate_refuses_cron_that_prefect_refuses(tmp_path: Path, expr: str) -> None:
    cfg = _write(tmp_path, _base(schedules=[{"flow": "sync", "cron": expr}]))
    result = CliRunner().invoke(main, ["-c", str(cfg), "validate"])
    assert result.exit_code == 2
    [line] = result.output.strip().splitlines()
    assert line.startswith(f"error: schedules.0: cron '{expr}' is not a valid cron expression (")


def test_cron_that_prefect_accepts_is_valid() -> None:
    crons = [{"flow": "sync", "cron": "0 0 L * *"}, {"flow": "sync", "cron": "@daily"}]
    s = load_settings(_base(schedules=crons))
    assert [x.cron for x in s.schedules] == ["0 0 L * *", "@daily"]


def test_config_without_prefect_references_does_not_import_prefect(tmp_path: Path) -> None:
    cfg = _write(tmp_path, _base(schedules=[{"flow": "sync", "interval_minutes": 30}]))
    code = (
        "import sys; from syncbridge.config import load_config; "
        f"load_config({str(cfg)!r}); print('prefect' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr[-2000:]


# -- deploy: the state store must be reachable by workers


@pytest.mark.parametrize(
    ("state", "same_host", "expected"),
    [
        (None, False, "state.url is a SQLite file"),  # the default, anchored at the config's folder
        ({"url": "sqlite:///state.db"}, False, "state.url is a SQLite file"),
        ({"url": "sqlite://"}, True, "state.url: an in-memory SQLite store cannot be shared"),
        ({"url": "sqlite:///file:x?mode=memory&uri=true"}, True, "state.url: an in-memory SQLite"),
    ],
)
def test_deploy_refuses_a_state_store_workers_cannot_reach(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    state: dict[str, str] | None,
    same_host: bool,
    expected: str,
) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")  # never reached
    data = _base(schedules=[{"flow": "sync", "interval_minutes": 30}])
    if state is not None:
        data["state"] = state
    cfg = _write(tmp_path, data)
    args = ["-c", str(cfg), "deploy", "--pool", "p"] + (["--same-host"] if same_host else [])
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    [line] = result.output.strip().splitlines()
    assert line.startswith(f"error: {expected}")


# -- deployments: environments and pruning, on a real API server (the session's Prefect harness)


@pytest.mark.prefect
def test_deploy_prefixes_environment_and_deletes_only_its_own_removed_schedules(
    tmp_path: Path, prefect_backend: None
) -> None:
    from prefect import flow, get_client

    state = {"url": f"sqlite:///{tmp_path / 'state.db'}"}
    both = [{"flow": "sync", "interval_minutes": 30}, {"flow": "pipeline", "cron": "15 * * * *"}]
    cfg = _write(tmp_path, _base(state=state, schedules=both, prefect={"environment": "staging"}))

    @flow(name="not-syncbridge")
    def other() -> None:  # another team's deployment on the same server
        return None

    other.to_deployment(name="staging-pipeline-acme-gh-lookalike", tags=["syncbridge"]).apply()

    staging = CliRunner().invoke(main, ["-c", str(cfg), "deploy", "--pool", "sb-env-pool", "--same-host"])
    assert staging.exit_code == 0, staging.output
    assert "deployed staging-pipeline-acme-gh to work pool sb-env-pool" in staging.output
    prod_args = ["deploy", "--pool", "sb-env-prod", "--env", "prod", "--same-host"]
    prod = CliRunner().invoke(main, ["-c", str(cfg), *prod_args])
    assert prod.exit_code == 0, prod.output
    assert "deployed prod-sync-acme-gh to work pool sb-env-prod" in prod.output

    # the pipeline schedule leaves the staging YAML
    _write(tmp_path, _base(state=state, schedules=both[:1], prefect={"environment": "staging"}))
    again = CliRunner().invoke(main, ["-c", str(cfg), "deploy", "--pool", "sb-env-pool", "--same-host"])
    assert again.exit_code == 0, again.output
    assert f"deleted deployment staging-pipeline-acme-gh: its schedule is no longer in {cfg}" in again.output
    with get_client(sync_client=True) as client:
        left = {(d.name, d.work_pool_name) for d in client.read_deployments()}
    assert ("staging-sync-acme-gh", "sb-env-pool") in left
    assert ("prod-sync-acme-gh", "sb-env-prod") in left and ("prod-pipeline-acme-gh", "sb-env-prod") in left
    assert ("staging-pipeline-acme-gh-lookalike", None) in left  # not syncbridge's: untouched
    assert not any(name == "staging-pipeline-acme-gh" for name, _ in left)


# -- ${prefect-secret:NAME}


@pytest.mark.prefect
def test_prefect_secret_blocks_fill_the_yaml(prefect_backend: None, tmp_path: Path) -> None:
    from prefect.blocks.system import Secret

    Secret(value="block-secret-4711").save("sb-conv-gh-secret", overwrite=True)
    data = _base(connectors={"acme-gh": {**GH, "client_secret": "${prefect-secret:sb-conv-gh-secret}"}})
    s = load_settings(data)
    assert s.connectors["acme-gh"].client_secret.get_secret_value() == "block-secret-4711"  # type: ignore[attr-defined]
    assert "block-secret-4711" not in redact("the secret is block-secret-4711")
    assert s.warnings == []  # a Secret block reference is not a secret written in clear

    missing = _base(connectors={"acme-gh": {**GH, "client_secret": "${prefect-secret:sb-conv-nope}"}})
    with pytest.raises(ConfigError) as err:
        load_settings(missing)
    assert str(err.value).startswith(
        "connectors.acme-gh.client_secret: Prefect Secret block 'sb-conv-nope' does not exist on http"
    )
    assert "\n" not in str(err.value)


def test_prefect_secret_without_a_server_fails_in_one_line(tmp_path: Path) -> None:
    data = _base(
        connectors={"acme-gh": {**GH, "client_secret": "${prefect-secret:gh}"}},
        schedules=[{"flow": "sync", "interval_minutes": 30}],
    )
    cfg = _write(tmp_path, data)
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(tmp_path / "home")
    out = subprocess.run(
        [sys.executable, "-m", "syncbridge.cli", "-c", str(cfg), "validate"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 2
    assert out.stderr.splitlines() == [
        "error: connectors.acme-gh.client_secret: Prefect Secret block 'gh' needs a Prefect server: "
        "set PREFECT_API_URL (syncbridge serve prints its local one)"
    ]
    # the scheduling commands do not need the secret's value
    listed = subprocess.run(
        [sys.executable, "-m", "syncbridge.cli", "-c", str(cfg), "serve", "--list"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert listed.stdout.startswith("sync-acme-gh: every 0:30:00")


@pytest.mark.prefect
def test_trigger_on_a_server_names_what_is_missing(tmp_path: Path, prefect_backend: None) -> None:
    data = _base(
        state={"url": f"sqlite:///{tmp_path / 'state.db'}"},
        schedules=[{"flow": "sync", "interval_minutes": 30}],
        prefect={"environment": "trig"},
    )
    cfg = _write(tmp_path, data)
    unknown = CliRunner().invoke(main, ["-c", str(cfg), "trigger", "trig-sync-acme-gh"])
    assert unknown.exit_code == 2
    assert unknown.output.strip().splitlines() == [
        "error: trig-sync-acme-gh: not registered on this Prefect server; "
        "run `syncbridge serve` or `syncbridge deploy`"
    ]
    deployed = CliRunner().invoke(main, ["-c", str(cfg), "deploy", "--pool", "sb-trig-pool", "--same-host"])
    assert deployed.exit_code == 0, deployed.output
    waiting = CliRunner().invoke(main, ["-c", str(cfg), "trigger", "trig-sync-acme-gh", "--timeout", "0"])
    assert waiting.exit_code == 1
    assert (
        "trig-sync-acme-gh: nothing polls it right now; the run starts when a worker of pool "
        "sb-trig-pool does" in waiting.output
    )
    assert "trig-sync-acme-gh: SCHEDULED" in waiting.output


def test_trigger_uses_only_the_server_of_a_running_serve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `trigger` attaches to the local server of a live `serve` (which runs what it triggers), never to
    the temporary server of another `trigger`, and never to a server whose owner died."""
    import http.server
    import json
    import threading

    from syncbridge.prefect_local import STATE_FILE, attach_to_serve, serving

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/api/health" else 404)
            self.end_headers()
            self.wfile.write(b"true")

        def log_message(self, *_: Any) -> None:
            return

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/api"
        me = os.getpid()
        dead = 2**22 + 7  # above Linux's largest PID: never alive
        for role, owner, expected in [("serve", me, True), ("temporary", me, False), ("serve", dead, False)]:
            record = {"pid": me, "owner_pid": owner, "api_url": url, "role": role}
            (tmp_path / STATE_FILE).write_text(json.dumps(record))
            assert (serving(tmp_path) is not None) is expected, (role, owner)

        # `approve` (which resumes a waiting run) talks to that server when no Prefect API is configured
        (tmp_path / STATE_FILE).write_text(json.dumps({"pid": me, "owner_pid": me, "api_url": url}))
        cfg = _write(tmp_path, _base(state={"url": f"sqlite:///{tmp_path / 'state.db'}"}))
        monkeypatch.delenv("PREFECT_API_URL", raising=False)
        # this test process already imported Prefect (and may run the harness): keep its settings
        monkeypatch.setattr("syncbridge.prefect_local.configured_api_url", lambda: None)
        use = lambda u: monkeypatch.setenv("PREFECT_API_URL", u)  # noqa: E731
        monkeypatch.setattr("syncbridge.prefect_local._use_api", use)
        assert attach_to_serve(load_config(cfg), cfg) == url
        assert os.environ["PREFECT_API_URL"] == url
    finally:
        httpd.shutdown()
        httpd.server_close()
