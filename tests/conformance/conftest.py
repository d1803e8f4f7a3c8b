"""The connector conformance suite: the same scenarios for every vendor that ships a sandbox.

Vendors come from :func:`syncbridge.plugins.sandbox_vendors` (the ``syncbridge.sandboxes`` entry points),
filtered by ``SYNCBRIDGE_CONFORMANCE_VENDORS`` (a comma list; unset = all of them), so a vendor shipped as
a plugin runs the suite unchanged.  Tests see a vendor only through its :class:`~syncbridge.plugins.Sandbox`
(seed, demo people, server, the demo's configuration), its :class:`~syncbridge.connector.Connector`
(whose capabilities decide which scenarios apply) and the product itself (the CLI, the runtime, the
state store); nothing here imports a vendor module.

Every test takes the ``vendor`` parameter, scoped per module: a module's tests for one vendor share one
seeded sandbox and one server (``world``; under xdist, one per worker that runs any of them).  The
scenarios that cost the most (the pipeline against a faulty sandbox) are one test each.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from syncbridge.cli import main
from syncbridge.connector import Capability, Connector, Window, connector_class
from syncbridge.demo import demo_config, write_outcomes
from syncbridge.plugins import Sandbox, sandbox_vendors
from syncbridge.steps import Runtime
from syncbridge.store import Store

VENDORS_ENV = "SYNCBRIDGE_CONFORMANCE_VENDORS"
SIZE, SEED = 50, 7  # people the sandbox is seeded with; the demo's seed
MARKER = re.compile(r"syncbridge:[0-9a-f]{32}")


def selected_vendors() -> list[str]:
    """The vendors the suite runs for: every one with a sandbox, or those ``SYNCBRIDGE_CONFORMANCE_VENDORS``
    names (an unknown name is an error, not an empty run)."""
    available = list(sandbox_vendors())
    wanted = [n.strip().lower() for n in os.environ.get(VENDORS_ENV, "").split(",") if n.strip()]
    unknown = [n for n in wanted if n not in available]
    if unknown:
        raise pytest.UsageError(
            f"{VENDORS_ENV}: {', '.join(unknown)} has no sandbox (known: {', '.join(available) or 'none'})"
        )
    return wanted or available


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "vendor" in metafunc.fixturenames:
        metafunc.parametrize("vendor", selected_vendors(), scope="module")


def needs(vendor: str, *capabilities: Capability) -> None:
    """Skip (saying why) unless the vendor's connector has every one of ``capabilities``."""
    missing = [c.value for c in capabilities if c not in connector_class(vendor).capabilities]
    if missing:
        pytest.skip(f"{vendor}: the connector lacks {', '.join(missing)}")


@dataclass
class Run:
    """One ``syncbridge run --no-prefect --json``: its exit code and summary (None when it stopped with
    an error before the summary, e.g. a read that failed for good)."""

    code: int
    summary: dict[str, Any] | None
    output: str
    error: BaseException | None = None

    @property
    def actions(self) -> dict[str, int]:
        assert self.summary is not None, self.output[-800:]
        return dict(self.summary["actions"])

    @property
    def outcomes(self) -> dict[str, int]:
        assert self.summary is not None, self.output[-800:]
        return dict(self.summary["outcomes"])

    @property
    def finished(self) -> bool:
        """Ended with nothing left to do: exit 0 and no write planned."""
        return self.code == 0 and self.summary is not None and self.actions["planned"] == 0


def cli(config: Path, *args: str) -> tuple[int, str, str]:
    """``syncbridge -c config args...`` in this process: exit code, stdout, and all output (with logs)."""
    result = CliRunner().invoke(main, ["-c", str(config), *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.output


def json_out(stdout: str) -> Any:
    """The JSON document a ``--json`` command printed (after any progress lines)."""
    return json.loads(stdout[stdout.index("{") :])


@dataclass
class World:
    """One vendor's sandbox, seeded in ``folder``, with the demo's outcomes and configuration."""

    vendor: str
    folder: Path
    size: int = SIZE
    seed: int = SEED
    state: str | None = None  # the state store's URL (default: SQLite in folder)
    block: dict[str, Any] = field(default_factory=dict)  # connector settings over the demo's
    sandbox: Sandbox = field(init=False)
    url: str = field(init=False, default="")
    _stack: ExitStack = field(init=False, default_factory=ExitStack)

    def __post_init__(self) -> None:
        self.sandbox = sandbox_vendors()[self.vendor].sandbox()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.db = self.folder / f"{self.vendor}-sandbox.db"
        self.sandbox.seed(self.db, size=self.size, seed=self.seed)
        self.outcomes = self.folder / "outcomes.csv"
        write_outcomes(self.outcomes, [self.sandbox], {self.vendor: self.db}, self.seed)
        self.people = self.sandbox.demo_people(self.db, n=12, seed=self.seed)
        # the sandbox's credentials, beside the config (load_config reads them from there)
        env = "".join(f"{k}={v}\n" for k, v in self.sandbox.env.items())
        (self.folder / ".env").write_text(env, encoding="utf-8")
        self.name = self.sandbox.connector_name
        self.config = self.folder / "syncbridge.yaml"

    # the server -------------------------------------------------------------------------------------
    def start(self, **options: Any) -> World:
        """Serve the sandbox (``options`` over the demo's and the suite's, e.g. ``fault_rate``) and write
        the configuration for it."""
        self.stop()
        sb = self.sandbox
        merged = {**sb.demo_server_options, **sb.conformance_server_options, **options}
        self.url = self._stack.enter_context(sb.server(self.db, **merged)).url
        self.write_config(self.config)
        return self

    def stop(self) -> None:
        self._stack.close()

    # configuration and runs -------------------------------------------------------------------------
    def write_config(
        self, path: Path, *, state: str | None = None, block: dict[str, Any] | None = None, **sections: Any
    ) -> Path:
        """The demo's configuration for this sandbox (``state``: another state store; ``block``: connector
        settings; ``sections``: top-level sections replaced)."""
        data = demo_config(self.folder, [self.sandbox], {self.vendor: self.url}, self.outcomes)
        options = {**self.sandbox.conformance_block_options, **self.block, **(block or {})}
        data["connectors"][self.name].update(options)
        if state or self.state:
            data["state"] = {"url": state or self.state}
        data.update(sections)
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return path

    def run(
        self,
        config: Path | None = None,
        *args: str,
        global_args: Sequence[str] = (),
        tolerate: bool = False,
    ) -> Run:
        """``syncbridge [global_args] run --no-prefect --json [args]``; with ``tolerate``, an error that
        ends the run early is returned (a run against a faulty sandbox) instead of raised."""
        try:
            code, stdout, output = cli(
                config or self.config, *global_args, "run", "--no-prefect", "--json", *args
            )
        except Exception as exc:
            if not tolerate:
                raise
            return Run(1, None, repr(exc), exc)
        summary = json_out(stdout) if "{" in stdout else None
        if summary is None and not tolerate:
            raise AssertionError(f"the run did not finish: {output[-800:]}")
        return Run(code, summary, output)

    @contextmanager
    def runtime(self, config: Path | None = None) -> Iterator[Runtime]:
        with Runtime.from_file(config or self.config) as rt:
            yield rt

    @contextmanager
    def connector(self, config: Path | None = None) -> Iterator[Connector]:
        with self.runtime(config) as rt:
            yield rt.connector(self.name)

    def state_url(self, config: Path | None = None) -> str:
        return str(yaml.safe_load((config or self.config).read_text(encoding="utf-8"))["state"]["url"])

    # what the outcomes say --------------------------------------------------------------------------
    def rows(self) -> list[dict[str, str]]:
        with self.outcomes.open(encoding="utf-8", newline="") as fh:
            return [r for r in csv.DictReader(fh) if r["student_email"]]

    def kinds(self) -> dict[str, str]:
        """Demo person e-mail → kind (primary, secondary, ambiguous, unmatched)."""
        return {p["email"]: p["kind"] for p in self.people}

    def history_tags(self) -> list[str]:
        """The tags the demo's configuration writes with every history (valid on the vendor)."""
        data = demo_config(self.folder, [self.sandbox], {self.vendor: self.url}, self.outcomes)
        return list(data["history"]["tags"])

    def count(self, kind: str) -> int:
        return sum(1 for p in self.people if p["kind"] == kind)


@pytest.fixture
def new_state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """Make the URL of a new, empty state store: a PostgreSQL database when the suite has a server
    (dropped afterwards), else a SQLite file."""
    from conftest import create_pg_database, drop_pg_database  # the suite's PostgreSQL helpers

    try:
        admin: str | None = request.getfixturevalue("pg_server")
    except pytest.skip.Exception:
        admin = None
    made: list[str] = []

    def make(name: str) -> str:
        if admin is None:
            return f"sqlite:///{tmp_path / name}.db"
        made.append(create_pg_database(admin))
        return made[-1]

    yield make
    for url in made:
        drop_pg_database(str(admin), url)


@pytest.fixture(scope="module")
def world(vendor: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The module's sandbox for ``vendor``: seeded, served, configured like the demo."""
    w = World(vendor, tmp_path_factory.mktemp(f"{vendor}-"))
    try:
        yield w.start()
    finally:
        w.stop()


# reading what the ATS holds, through the connector ------------------------------------------------------


def settle() -> None:
    """Let the current second pass: vendors keep whole seconds, so a read pinned to "now" (Workday's
    As_Of_Entry_DateTime) does not see what was written earlier in the same second."""
    time.sleep(1.1)


def read_all(connector: Connector, stream: str) -> list[Any]:
    """Every record of one stream (a full read)."""
    return [r for page in connector.read(stream, Window(None, datetime.now(UTC))) for r in page]


def requisitions_by_code(connector: Connector) -> dict[str, int]:
    """How many requisitions carry each code, over every requisition stream."""
    from syncbridge.model import Requisition

    counts: dict[str, int] = {}
    for spec in connector.streams:
        if spec.entity == "requisition":
            for r in read_all(connector, spec.name):
                if isinstance(r, Requisition) and r.code:
                    counts[r.code] = counts.get(r.code, 0) + 1
    return counts


def ledger(store: Store) -> list[dict[str, Any]]:
    """Every ledger entry the store's audit trail mentions."""
    keys = list(dict.fromkeys(r["key"] for r in store.audit_rows()))
    return list(store.ledger_rows(keys).values())


def markers_in(texts: Sequence[str]) -> dict[str, int]:
    """syncbridge marker → how many of ``texts`` carry it."""
    counts: dict[str, int] = {}
    for text in texts:
        for marker in set(MARKER.findall(text)):
            counts[marker] = counts.get(marker, 0) + 1
    return counts


class LogCapture(logging.Handler):
    """Every log record's message, while installed on the root logger (module fixtures have no caplog)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    @contextmanager
    def installed(self) -> Iterator[LogCapture]:
        root = logging.getLogger()
        root.addHandler(self)
        try:
            yield self
        finally:
            root.removeHandler(self)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)
