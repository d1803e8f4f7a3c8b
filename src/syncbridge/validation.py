"""``syncbridge validate``: the file, then (``--online``) the state store and each ATS's credentials.

Output is one line per finding.  The exit code says which kind of problem there is: 2 the file (or
something it names, like the outcomes file) is wrong, 1 the file is valid but the state store or an
ATS refuses us, 0 all good.  With ``--online`` a refused key is reported as exactly that — the file is
valid, the credentials are not — so nobody edits a correct file to fix an expired secret.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from syncbridge.errors import AuthError, ConfigError, PermissionDenied, SyncbridgeError

Echo = Callable[..., None]


def outcomes_problem(settings: object) -> str | None:
    """Why the configured outcomes file cannot be read now (missing, a directory), or None."""
    outcomes = settings.outcomes  # type: ignore[attr-defined]
    path: Path = outcomes.resolve_path()
    if not path.exists():
        where = "" if path.is_absolute() else f" (relative to the working directory {Path.cwd()})"
        return f"outcomes.path: {path} does not exist{where}"
    if not path.is_file():
        return f"outcomes.path: {path} is not a file"
    return None


def validate(config: str, *, online: bool, strict: bool, echo: Echo) -> int:
    from syncbridge.config import load_config

    settings = load_config(config, log_warnings=False)
    for warning in settings.warnings:
        echo(f"warning: {warning}", err=True)
    if strict and settings.warnings:
        raise ConfigError(f"{len(settings.warnings)} warning(s) and --strict: {settings.warnings[0]}")
    problem = outcomes_problem(settings)
    if problem:
        raise ConfigError(problem)
    echo(f"{config}: valid ({len(settings.connectors)} connector(s), {len(settings.routing)} route(s))")
    if not online:
        return 0

    from syncbridge.steps import Runtime

    # a state store that cannot be opened raises StateStoreError (one line) from here
    refused: list[str] = []
    failed: list[str] = []
    wrong: list[str] = []
    with Runtime(settings) as rt:
        echo(f"  state store: OK ({rt.store.dialect})")
        for name in settings.connectors:
            try:
                info = rt.connector(name).check()
            except (AuthError, PermissionDenied) as exc:
                refused.append(name)
                echo(f"  {name}: credentials NOT accepted: {exc}")
            except SyncbridgeError as exc:  # unreachable host, 5xx, unexpected answer: not the key's fault
                failed.append(name)
                echo(f"  {name}: could not check the credentials: {exc}")
            else:
                echo(f"  {name}: credentials OK {info}")
                # what only the account can tell about the file (a job board, a source it names)
                rules = [r for r in settings.conversion.rules if r.connector in (None, name)]
                options = [r.requisition.options for r in rules] if settings.conversion.enabled else []
                for problem in rt.connector(name).account_problems(options):
                    wrong.append(name)
                    echo(f"  {name}: {problem}")
    if wrong:
        echo(
            f"error: {config} names what {', '.join(dict.fromkeys(wrong))} does not have (see above)",
            err=True,
        )
        return 2
    if refused:
        echo(
            f"error: {config} is valid, but the credentials of {', '.join(refused)} are not accepted; "
            "fix them where the ${VAR} references come from (environment or .env), not in the file",
            err=True,
        )
        return 1
    if failed:
        echo(
            f"error: {config} is valid, but {', '.join(failed)} could not be checked (see above); "
            "the credentials were not refused",
            err=True,
        )
        return 1
    return 0
