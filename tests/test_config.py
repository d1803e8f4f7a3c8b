from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from syncbridge.cli import main
from syncbridge.config import load_config, load_settings
from syncbridge.errors import ConfigError
from syncbridge.redact import redact

GH = {"type": "greenhouse", "client_id": "abc-1", "client_secret": "${GH_SECRET}", "user_id": 7}


def base(**over: object) -> dict:
    data = {
        "version": 1,
        "outcomes": {"path": "outcomes.csv"},
        "connectors": {"acme": dict(GH)},
        "routing": [{"employer": "Acme Corp", "connector": "acme"}],
    }
    data.update(over)
    return data


def test_env_interpolation_and_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GH_SECRET", "s3cr3t-value")
    monkeypatch.delenv("SB_STATE", raising=False)
    s = load_settings(base(state={"url": "${SB_STATE:-sqlite:///x.db}"}))
    assert s.state.url == "sqlite:///x.db"
    block = s.connectors["acme"]
    assert block.client_secret.get_secret_value() == "s3cr3t-value"  # type: ignore[attr-defined]
    assert "s3cr3t-value" not in redact("token s3cr3t-value leaked")


def test_dotenv_file_next_to_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GH_SECRET", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("GH_SECRET=from-dotenv-123\n")
    import os

    cfg = tmp_path / "c.yaml"
    import yaml

    cfg.write_text(yaml.safe_dump(base()))
    s = load_config(cfg)
    assert s.connectors["acme"].client_secret.get_secret_value() == "from-dotenv-123"  # type: ignore[attr-defined]
    assert "GH_SECRET" not in os.environ  # .env never leaks into the process environment


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            base(connectors={"acme": {k: v for k, v in GH.items() if k != "client_id"}}),
            "connectors.acme.client_id: missing",
        ),
        (base(connectors={"acme": {**GH, "colour": "red"}}), "connectors.acme.colour: unknown key"),
        (base(connectors={"acme": {**GH, "type": "taleo"}}), "connectors.acme.type: unknown connector type"),
        (base(routing=[{"employer": "X", "connector": "nope"}]), "routing.0.connector: 'nope' is not"),
        (
            base(history={"fields": {"mi_rating": "evaluation.score"}}),
            "history.fields.mi_rating: unknown outcome path",
        ),
        (base(state={"url": "state.db"}), "state.url:"),
        (
            base(schedules=[{"flow": "sync", "cron": "61 * * * *"}]),
            "schedules.0: cron '61 * * * *' is not a valid cron",
        ),
        (
            base(schedules=[{"flow": "sync", "cron": "* * * * *", "timezone": "Mars/Base"}]),
            "schedules.0: timezone",
        ),
        (
            base(schedules=[{"flow": "sync", "interval_minutes": 5, "parameters": {"dry_run": True}}]),
            "schedules.0: parameters: dry_run not accepted by the sync flow",
        ),
        (
            base(schedules=[{"flow": "sync", "interval_minutes": 5, "connector": "x"}]),
            "schedules.0.connector: 'x' is not",
        ),
        (base(schedules=[{"flow": "deploy", "interval_minutes": 5}]), "schedules.0.flow:"),
        (base(connectors={"acme": {**GH, "page_size": 900}}), "connectors.acme.page_size:"),
    ],
)
def test_errors_name_the_yaml_path(monkeypatch: pytest.MonkeyPatch, data: dict, expected: str) -> None:
    monkeypatch.setenv("GH_SECRET", "x" * 8)
    with pytest.raises(ConfigError) as err:
        load_settings(data)
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_env_names_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GH_SECRET", raising=False)
    with pytest.raises(ConfigError, match=r"connectors\.acme\.client_secret: environment variable GH_SECRET"):
        load_settings(base())


def test_cli_validate_bad_config_exits_2_without_traceback(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("version: 1\nconnectors: [\n")
    result = CliRunner().invoke(main, ["-c", str(cfg), "validate"])
    assert result.exit_code == 2
    assert "not valid YAML" in result.output
    assert "Traceback" not in result.output


def test_cli_schema_is_json_with_connector_blocks() -> None:
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    branches = schema["properties"]["connectors"]["additionalProperties"]["allOf"]
    blocks = [schema["$defs"][b["then"]["$ref"].rsplit("/", 1)[1]] for b in branches]
    assert any("client_secret" in b.get("properties", {}) for b in blocks)


def test_shipped_example_config_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("GREENHOUSE_CLIENT_ID", "GREENHOUSE_CLIENT_SECRET"):
        monkeypatch.setenv(var, "example-1")
    monkeypatch.setenv("GREENHOUSE_USER_ID", "42")
    s = load_config(Path(__file__).parent.parent / "config" / "syncbridge.yaml")
    assert s.connector_for("acme corp") == "acme-greenhouse"
    assert s.connector_for("Other Inc") is None


@pytest.mark.parametrize("command", ["validate", "sync", "plan", "apply", "run", "status", "demo", "schema"])
def test_every_command_has_help(command: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0
    assert len(result.output.splitlines()) > 3


def test_relative_paths_are_anchored_at_the_config_folder(tmp_path: Path) -> None:
    from syncbridge.paths import anchor_sqlite_url

    base = tmp_path / "cfg"
    assert (
        anchor_sqlite_url("sqlite:///.syncbridge/state.db", base) == f"sqlite:///{base}/.syncbridge/state.db"
    )
    assert anchor_sqlite_url("sqlite:////var/lib/s.db", base) == "sqlite:////var/lib/s.db"
    assert anchor_sqlite_url("sqlite://", base) == "sqlite://"
    pg = "postgresql+psycopg://u:p@db/x"
    assert anchor_sqlite_url(pg, base) == pg
    base.mkdir()
    (base / "c.yaml").write_text(
        "version: 1\noutcomes: {path: data/o.csv}\nconnectors: {gh: {type: greenhouse, client_id: a-1, "
        "client_secret: zzzzzzzz}}\nrouting: [{employer: '*', connector: gh}]\n",
        encoding="utf-8",
    )
    settings = load_config(base / "c.yaml")  # no state section: the default, next to the config
    assert settings.state.url == f"sqlite:///{base.resolve()}/.syncbridge/state.db"
    assert settings.outcomes.path == base.resolve() / "data" / "o.csv"
