"""The plugin side of a sandbox built on the kit: the :class:`~syncbridge.plugins.Sandbox` methods every
such sandbox writes the same way.

Seeding and the command line come from its :class:`~syncbridge.sandbox.cli.ServeCommand`, serving from
its :class:`~syncbridge.sandbox.server.ThreadedSandbox` subclass, the demo's people from its function; the
vendor's plugin class names those three and adds what is its own (connector block, conversion rule...).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from syncbridge.plugins import Sandbox
from syncbridge.sandbox.cli import ServeCommand
from syncbridge.sandbox.server import ThreadedSandbox

__all__ = ["KitSandbox"]


class KitSandbox(Sandbox):
    """A :class:`~syncbridge.plugins.Sandbox` whose ``seed``, ``demo_people``, ``server`` and ``main`` are
    the kit's parts named by the class attributes below."""

    #: the ``serve`` command: its ``seed`` fills a file, its ``main`` is the sandbox's command line
    serve: ClassVar[ServeCommand]
    #: what :meth:`server` starts (``server_class(db_path, **options)``)
    server_class: ClassVar[type[ThreadedSandbox]]
    #: ``people(db_path, n=..., seed=...)``: the people of a demo outcomes file
    people: ClassVar[Callable[..., list[dict[str, Any]]]]

    def seed(self, db_path: Path, *, size: int = 200, seed: int = 7, reset: bool = False) -> None:
        self.serve.seed(db_path, size=size, seed=seed, reset=reset)

    def demo_people(self, db_path: Path, *, n: int = 12, seed: int = 7) -> list[dict[str, Any]]:
        return type(self).people(db_path, n=n, seed=seed)

    def server(self, db_path: Path, **options: Any) -> ThreadedSandbox:
        return self.server_class(db_path, **options)

    def main(self, argv: list[str]) -> int:
        return self.serve.main(argv)
