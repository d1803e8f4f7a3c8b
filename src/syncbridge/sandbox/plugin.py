"""The plugin side of a vendor sandbox: :class:`ModuleSandbox`, a :class:`~syncbridge.plugins.Sandbox`
whose methods call the functions its sandbox package already has, so that the adapter only says what is
the vendor's own (its names, the demo's employer, nurture options, ...)."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

from syncbridge.plugins import RunningSandbox, Sandbox

__all__ = ["ModuleSandbox"]


class ModuleSandbox(Sandbox):
    """A :class:`~syncbridge.plugins.Sandbox` delegating to the functions of a module: ``module`` (a
    dotted name), by default the module the subclass is defined in (the vendor's sandbox package).

    The module has ``seed(db, size=, seed=, reset=)``, ``demo_people(db, n=, seed=)``,
    ``SandboxServer(db, **options)``, ``main(argv)``, ``demo_connector_block(url)`` and may have
    ``demo_conversion_rule(employer)`` (without it the demo converts nobody)."""

    module: ClassVar[str] = ""

    def _functions(self) -> ModuleType:
        return importlib.import_module(self.module or type(self).__module__)

    def seed(self, db_path: Path, *, size: int = 200, seed: int = 7, reset: bool = False) -> None:
        self._functions().seed(db_path, size=size, seed=seed, reset=reset)

    def demo_people(self, db_path: Path, *, n: int = 12, seed: int = 7) -> list[dict[str, Any]]:
        people: list[dict[str, Any]] = self._functions().demo_people(db_path, n=n, seed=seed)
        return people

    def server(self, db_path: Path, **options: Any) -> Any:
        running: RunningSandbox = self._functions().SandboxServer(db_path, **options)
        return running

    def main(self, argv: list[str]) -> int:
        return int(self._functions().main(argv))

    def connector_block(self, base_url: str) -> dict[str, Any]:
        block: dict[str, Any] = self._functions().demo_connector_block(base_url)
        return block

    def conversion_rule(self, employer: str) -> dict[str, Any] | None:
        rule = getattr(self._functions(), "demo_conversion_rule", None)
        return None if rule is None else dict(rule(employer))
