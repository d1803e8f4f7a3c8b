"""The two places where the YAML needs Prefect itself: Secret blocks and cron expressions.

* ``${prefect-secret:NAME}`` in the YAML is the value of the Prefect Secret block NAME
  (``prefect.blocks.system.Secret.load(NAME).get()``), so worker machines need no ``.env``.  Blocks live
  on a Prefect server, so a reference needs one (``PREFECT_API_URL``, or the local server that
  ``syncbridge serve`` prints); without one, Prefect's ephemeral API would start a private empty database
  and report every block missing, so syncbridge says what is wrong instead.  Each block is read once per
  process and its value is masked in every log line.
* Cron expressions are checked with the validator Prefect applies to a ``Cron`` schedule (its vendored
  croniter, without croniter's random/hashed extensions), so ``validate`` refuses exactly what ``serve``
  and ``deploy`` would refuse (``5L``, for example).

Both import Prefect lazily: a config without such references never imports it here.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from syncbridge.errors import ConfigError
from syncbridge.redact import register_secret


def cron_problem(expression: str) -> str | None:
    """None when Prefect accepts ``expression`` as a cron schedule, else Prefect's reason."""
    from prefect.client.schemas.schedules import CronSchedule
    from pydantic import ValidationError

    try:
        CronSchedule(cron=expression)
    except ValidationError as exc:
        return "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
    return None


@cache
def _load(name: str) -> str:
    from prefect.blocks.system import Secret

    block: Any = Secret.load(name)  # a sync call here: the block itself, not a coroutine
    value = block.get()
    return value if isinstance(value, str) else str(value)


def secret_value(name: str, path: str) -> str:
    """The value of Secret block ``name`` for the YAML key ``path``; a one-line ConfigError otherwise."""
    from syncbridge.prefect_local import configured_api_url

    where = f"{path}: Prefect Secret block {name!r}"
    if not name.strip():
        raise ConfigError(f"{path}: ${{prefect-secret:}} needs a block name")
    url = configured_api_url()
    if not url:
        raise ConfigError(
            f"{where} needs a Prefect server: set PREFECT_API_URL (syncbridge serve prints its local one)"
        )
    try:
        value = _load(name)
    except ValueError as exc:
        if "unable to find" in str(exc).lower() or "not found" in str(exc).lower():
            raise ConfigError(f"{where} does not exist on {url}") from None
        raise ConfigError(f"{where} could not be read from {url}: {exc}") from None
    except Exception as exc:
        detail = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise ConfigError(f"{where} could not be read from {url}: {detail[:200]}") from None
    register_secret(value)
    return value
