"""The ``serve`` command every sandbox's ``main`` runs: seed the file if needed, then serve until
SIGTERM/SIGINT.

Common options: ``--db --host --port --size --seed --reset --latency-ms --fault-rate --fault-seed
--token-ttl``; a vendor adds its own (``add_arguments``) and turns them into ``create_app`` keyword
arguments (``app_options``).  :func:`add_fixed_window` and :func:`add_token_bucket` add the rate-limit
options of the two limiter kinds.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from syncbridge.sandbox.server import serve_forever

__all__ = [
    "ServeCommand",
    "add_fixed_window",
    "add_token_bucket",
    "fixed_window_options",
    "token_bucket_options",
]


def add_fixed_window(parser: argparse.ArgumentParser, *, limit: int, window: float) -> None:
    """``--rate-limit`` (requests per window, 0 = unlimited) and ``--rate-window`` (seconds)."""
    parser.add_argument("--rate-limit", type=int, default=limit, help="requests per window; 0 = unlimited")
    parser.add_argument("--rate-window", type=float, default=window, help="window length in seconds")


def fixed_window_options(args: argparse.Namespace) -> dict[str, Any]:
    return {"rate_limit": args.rate_limit, "rate_window": args.rate_window}


def add_token_bucket(parser: argparse.ArgumentParser, *, rate: float, burst: int) -> None:
    """``--rate`` (requests per second, 0 = unlimited) and ``--burst``."""
    parser.add_argument("--rate", type=float, default=rate, help="requests per second; 0 = unlimited")
    parser.add_argument("--burst", type=int, default=burst)


def token_bucket_options(args: argparse.Namespace) -> dict[str, Any]:
    return {"rate_per_second": args.rate, "burst": args.burst}


@dataclass
class ServeCommand:
    """``python -m <prog> serve --db PATH ...`` for one sandbox.

    ``seed(db, size=, seed=, reset=)`` fills the file; ``create_app(db, **options)`` builds the ASGI app
    from the common options (``latency_ms``, ``fault_rate``, ``fault_seed``, ``token_ttl``) and what
    ``app_options(args)`` adds; ``banner`` follows the ``listening on`` line."""

    prog: str
    description: str
    seed: Callable[..., Any]
    create_app: Callable[..., Any]
    size_help: str = "number of records to seed"
    banner: str = ""
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None
    app_options: Callable[[argparse.Namespace], dict[str, Any]] | None = None

    def parser(self) -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(prog=self.prog, description=self.description)
        sub = parser.add_subparsers(dest="command", required=True)
        serve = sub.add_parser("serve", help="seed the database if needed, then serve until SIGTERM/SIGINT")
        serve.add_argument("--db", required=True, help="SQLite file (created and seeded if missing)")
        serve.add_argument("--host", default="127.0.0.1")
        serve.add_argument("--port", type=int, default=0, help="0 picks a free port")
        serve.add_argument("--size", type=int, default=200, help=self.size_help)
        serve.add_argument("--seed", type=int, default=7)
        serve.add_argument("--reset", action="store_true", help="wipe and re-seed the database")
        serve.add_argument("--latency-ms", type=float, default=0.0, help="added to every API request")
        serve.add_argument("--fault-rate", type=float, default=0.0, help="share of API requests that fail")
        serve.add_argument("--fault-seed", type=int, default=0)
        serve.add_argument("--token-ttl", type=int, default=3600, help="access token lifetime in seconds")
        if self.add_arguments is not None:
            self.add_arguments(serve)
        return parser

    def options(self, args: argparse.Namespace) -> dict[str, Any]:
        """The ``create_app`` keyword arguments for parsed ``args``."""
        options: dict[str, Any] = {
            "latency_ms": args.latency_ms,
            "fault_rate": args.fault_rate,
            "fault_seed": args.fault_seed,
            "token_ttl": args.token_ttl,
        }
        if self.app_options is not None:
            options.update(self.app_options(args))
        return options

    def main(self, argv: list[str] | None = None) -> int:
        args = self.parser().parse_args(argv)
        self.seed(args.db, size=args.size, seed=args.seed, reset=args.reset)
        app = self.create_app(args.db, **self.options(args))
        return serve_forever(app, args.host, args.port, banner=self.banner)
