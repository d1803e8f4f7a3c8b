"""Vendor plugins: how syncbridge finds every ATS it can talk to.

A vendor is a plugin that declares, through two entry-point groups of its distribution's metadata:

* ``syncbridge.connectors``: ``<type> = "package.module:ConnectorClass"`` (a :class:`~syncbridge.connector.
  Connector` subclass; ``<type>`` is what a YAML connector block's ``type:`` names);
* ``syncbridge.sandboxes``: ``<type> = "package.module:SandboxClass"`` (a :class:`Sandbox` subclass: the
  vendor's local stand-in API, used by ``syncbridge demo``, ``syncbridge sandbox`` and the connector
  conformance suite).  A vendor without a sandbox still works in production; it just has no demo.

The core (CLI, demo, planner, applier) loops over :func:`vendors` and never names a vendor.  The three
built-in vendors are declared the same way in ``pyproject.toml``; nothing else lists them.  See
docs/architecture.md, "Adding an ATS".
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from syncbridge.errors import ConfigError

if TYPE_CHECKING:
    from syncbridge.connector import Connector

CONNECTOR_GROUP = "syncbridge.connectors"
SANDBOX_GROUP = "syncbridge.sandboxes"


class RunningSandbox(Protocol):
    """What :meth:`Sandbox.server` yields: a started server whose ``url`` is its root."""

    url: str


class Sandbox(ABC):
    """A vendor's local sandbox, as the demo, ``syncbridge sandbox`` and the conformance suite use it.

    Everything about the vendor that those need lives here, so none of them has a vendor branch.  The
    demo data it seeds is deterministic in ``(size, seed)``.
    """

    #: the connector type this sandbox stands in for (the entry-point name)
    vendor: ClassVar[str]
    #: the demo's employer for this vendor: outcomes with this employer are routed to it
    employer: ClassVar[str]
    #: the demo's name for the connector block (``connectors.<name>`` in the generated YAML)
    connector_name: ClassVar[str]
    #: outcome ids of this vendor's demo outcomes start with it (several vendors share one CSV)
    outcome_prefix: ClassVar[str]
    #: the sandbox's credentials (not secret) the demo writes to ``.env`` for ``${ENV}`` references
    env: ClassVar[Mapping[str, str]] = {}
    #: ``syncbridge demo`` without ``--vendor`` runs the sandbox with the lowest value (ties: by name)
    demo_order: ClassVar[int] = 100

    # data -------------------------------------------------------------------------------------------
    @abstractmethod
    def seed(self, db_path: Path, *, size: int = 200, seed: int = 7, reset: bool = False) -> None:
        """Create the sandbox's data in ``db_path``: a no-op when it is already seeded (``reset`` wipes)."""

    @abstractmethod
    def demo_people(self, db_path: Path, *, n: int = 12, seed: int = 7) -> list[dict[str, Any]]:
        """People for a demo outcomes file: dicts with ``email``, ``first_name``, ``last_name`` and
        ``kind`` (``primary``, ``secondary``, ``ambiguous`` or ``unmatched``)."""

    # serving ----------------------------------------------------------------------------------------
    @abstractmethod
    def server(self, db_path: Path, **options: Any) -> AbstractContextManager[RunningSandbox]:
        """A context manager serving the sandbox on a free local port.  Options every sandbox takes:
        ``fault_rate`` (0..1, injected 5xx/drops) and ``fault_seed``; the rest are the vendor's own."""

    #: options the demo passes to :meth:`server` (e.g. no rate limit, so the demo is quick)
    demo_server_options: ClassVar[Mapping[str, Any]] = {}

    @abstractmethod
    def main(self, argv: list[str]) -> int:
        """``syncbridge sandbox <vendor> ...``: the sandbox's own command line (``serve --db F ...``)."""

    # the demo's configuration -----------------------------------------------------------------------
    @abstractmethod
    def connector_block(self, base_url: str) -> dict[str, Any]:
        """The YAML connector block for a sandbox served at ``base_url`` (secrets as ``${ENV}``)."""

    def conversion_rule(self, employer: str) -> dict[str, Any] | None:
        """The demo's conversion rule (open a role for a strong intern), or None: no conversion."""
        return None

    def nurture_options(self) -> dict[str, Any] | None:
        """``nurture.options`` for the demo's early-talent rule (where a nurtured prospect goes)."""
        return None

    def history_fields(self) -> dict[str, str]:
        """``history.fields`` the demo writes on this vendor (custom field key → outcome path)."""
        return {}

    def events_demo(self, workdir: Path, *, size: int, say: Callable[[str], None]) -> dict[str, Any] | None:
        """``syncbridge demo --events``: the vendor's event-driven story on one machine (webhooks in,
        ...); returns its summary, or None when the vendor has none."""
        return None

    # the connector conformance suite (tests/conformance) ----------------------------------------------
    #: options the suite passes to :meth:`server` over ``demo_server_options``, and settings it puts in
    #: :meth:`connector_block`: waits a test cannot afford (a rate limit, a transaction-log lag) turned off
    conformance_server_options: ClassVar[Mapping[str, Any]] = {}
    conformance_block_options: ClassVar[Mapping[str, Any]] = {}

    def note_texts(self, db_path: Path, email: str) -> list[str] | None:
        """The text of every note (or attachment) on every person with ``email``, read from the sandbox's
        data, not through the connector (the suite counts syncbridge's markers in them), or None: the
        sandbox cannot tell, and the suite's checks that need it are skipped."""
        return None


@dataclass(frozen=True)
class Vendor:
    """One registered vendor: its connector and, when it ships one, its sandbox (loaded on use)."""

    name: str
    connector_target: str
    sandbox_target: str | None

    def connector_class(self) -> type[Connector]:
        cls: type[Connector] = _load(self.connector_target)
        return cls

    def sandbox(self) -> Sandbox:
        if self.sandbox_target is None:
            raise ConfigError(f"vendor {self.name!r} ships no sandbox")
        cls = _load(self.sandbox_target)
        return _sandbox_instance(cls)


@cache
def _sandbox_instance(cls: type[Sandbox]) -> Sandbox:
    return cls()


def _load(target: str) -> Any:
    module, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def vendors() -> dict[str, Vendor]:
    """Every vendor whose connector is registered, by type name (sorted).  The entry points are read
    once per process (a scan of every installed distribution's metadata takes milliseconds, and the
    receiver and the privacy code look a type up per event and per record); :func:`refresh` reads
    them again, e.g. after installing a plugin into a running interpreter."""
    return dict(_registry())


@cache
def _registry() -> tuple[tuple[str, Vendor], ...]:
    connectors = {ep.name: ep.value for ep in entry_points(group=CONNECTOR_GROUP)}
    sandboxes = {ep.name: ep.value for ep in entry_points(group=SANDBOX_GROUP)}
    return tuple((name, Vendor(name, connectors[name], sandboxes.get(name))) for name in sorted(connectors))


def refresh() -> None:
    """Forget the entry points read so far (the next lookup reads them again)."""
    _registry.cache_clear()


def vendor(name: str) -> Vendor:
    found = vendors()
    if name not in found:
        known = ", ".join(found) or "none"
        raise ConfigError(f"unknown connector type {name!r} (known: {known})")
    return found[name]


def sandbox_vendors() -> dict[str, Vendor]:
    """The vendors that ship a sandbox (what ``syncbridge demo --vendor all`` runs)."""
    return {name: v for name, v in vendors().items() if v.sandbox_target is not None}
