"""YAML ``schedules`` → Prefect deployments, served by one long-lived process (``syncbridge serve``).

One deployment per (flow, connector), named ``<flow>-<connector>`` (``<env>-<flow>-<connector>`` with an
environment), with a concurrency limit of 1 so two runs against the same ATS account never overlap.
Every schedule of that pair becomes one Prefect
schedule carrying its own parameters (for example a full re-sync on Sunday nights next to the incremental
sync every 30 minutes).  Parameters are pydantic models and ``enforce_parameter_schema`` is on, so a run
started from the UI with bad parameters is refused before it starts.

Every deployment carries the tags ``syncbridge`` and ``syncbridge-env:<env>``; ``prune`` deletes the
deployments with both tags that the YAML no longer describes (a schedule removed from the file), and
nothing else on the server.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from prefect.deployments.runner import RunnerDeployment
from prefect.flows import EntrypointType
from prefect.schedules import Cron, Interval, Schedule

from syncbridge.config import ScheduleSettings, Settings
from syncbridge.flows.runs import FLOWS, FlowParams
from syncbridge.prefect_local import deployment_name, environment_tag


def _schedule(spec: ScheduleSettings, params: dict[str, Any]) -> Schedule:
    if spec.cron is not None:
        return Cron(spec.cron, timezone=spec.timezone, active=spec.active, parameters={"params": params})
    assert spec.interval_minutes is not None
    return Interval(
        timedelta(minutes=spec.interval_minutes),
        timezone=spec.timezone,
        active=spec.active,
        parameters={"params": params},
    )


def build_deployments(
    settings: Settings,
    config_path: str | Path,
    *,
    work_pool: str | None = None,
    environment: str | None = None,
) -> list[RunnerDeployment]:
    """The deployments the YAML describes (nothing is registered with the server here).  With
    ``work_pool``, they are meant for workers of that pool instead of a ``serve`` process; with
    ``environment``, their names start with it."""
    config = str(Path(config_path).resolve())
    grouped: dict[tuple[str, str], list[ScheduleSettings]] = defaultdict(list)
    for spec in settings.schedules:
        for connector in [spec.connector] if spec.connector else list(settings.connectors):
            grouped[(spec.flow, connector)].append(spec)
    deployments = []
    for (flow_name, connector), specs in sorted(grouped.items()):
        fn, params_model = FLOWS[flow_name]
        base: FlowParams = params_model(config=config, connector=connector)
        schedules = [
            _schedule(
                spec, params_model.model_validate({**base.model_dump(), **spec.parameters}).model_dump()
            )
            for spec in specs
        ]
        deployments.append(
            fn.to_deployment(
                name=deployment_name(flow_name, connector, environment),
                schedules=schedules,
                parameters={"params": base.model_dump()},
                concurrency_limit=1,
                tags=["syncbridge", environment_tag(environment), connector, flow_name],
                description=f"syncbridge {flow_name} for {connector} ({settings.connectors[connector].type})",
                enforce_parameter_schema=True,
                entrypoint_type=EntrypointType.MODULE_PATH,
                work_pool_name=work_pool,
            )
        )
    return deployments


def serve(deployments: list[RunnerDeployment], *, limit: int | None = None) -> None:  # pragma: no cover
    """Serve the deployments until interrupted (SIGTERM/Ctrl-C)."""
    from prefect import serve as prefect_serve

    prefect_serve(*deployments, limit=limit, print_starting_message=True)


def run_once(deployments: list[RunnerDeployment], name: str) -> Any:
    """Register the deployments, start a run of ``name`` now and execute it in this process.

    The run belongs to the deployment (the UI shows it there) and this call waits for its final state,
    which it returns.  For checks, tests and "run it now" from a terminal without a serving process.
    """
    from prefect import get_client
    from prefect.flow_engine import run_flow

    chosen = {d.name: d for d in deployments}
    if name not in chosen:
        raise KeyError(f"no deployment {name!r} (have: {', '.join(sorted(chosen)) or 'none'})")
    target = chosen[name]
    deployment_id = target.apply()
    assert not hasattr(deployment_id, "__await__")  # sync context: apply() returns the id
    flow_fn, params_model = next((fn, m) for fn, m in FLOWS.values() if fn.name == target.flow_name)
    with get_client(sync_client=True) as client:
        flow_run = client.create_flow_run_from_deployment(
            deployment_id,
            parameters=target.parameters,
        )
    params = params_model.model_validate(target.parameters["params"])
    return run_flow(flow_fn, flow_run=flow_run, parameters={"params": params}, return_type="state")


def deploy_to_pool(deployments: list[RunnerDeployment], pool: str) -> list[Any]:
    """Register the deployments for workers of ``pool`` (a process pool is created when missing).

    The flows are referenced by module path (``syncbridge.flows.runs.pipeline_flow``), so a worker
    needs syncbridge installed and the config file at the same path; no image or code storage is used.
    """
    from prefect import deploy, get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists

    with get_client(sync_client=True) as client, contextlib.suppress(ObjectAlreadyExists):
        client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
    ids = deploy(*deployments, work_pool_name=pool, build=False, push=False, print_next_steps_message=False)
    assert isinstance(ids, list)  # sync context
    return ids


def prune(keep: list[str], environment: str | None) -> list[str]:
    """Delete syncbridge's deployments of this environment that are not in ``keep`` (their schedules were
    removed from the YAML); returns the names deleted.  Deployments without both syncbridge tags (other
    teams', other environments') are never touched."""
    from prefect import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags

    wanted = set(keep)
    removed = []
    tags = DeploymentFilterTags(all_=["syncbridge", environment_tag(environment)])
    with get_client(sync_client=True) as client:
        for dep in client.read_deployments(deployment_filter=DeploymentFilter(tags=tags)):
            if dep.name not in wanted:
                client.delete_deployment(dep.id)
                removed.append(dep.name)
    return sorted(removed)


def trigger(
    name: str, flow: str, *, timeout: float | None = None, warn: Callable[[str], None] | None = None
) -> Any:
    """Ask the server for a run of an already-served deployment and wait for it (a ``serve`` process or
    a worker must be running to pick it up; ``warn`` hears about it when none polls the deployment now).
    A deployment the server does not know is a one-line ConfigError."""
    from prefect import get_client
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound

    from syncbridge.errors import ConfigError

    full_name = f"{FLOWS[flow][0].name}/{name}"
    try:
        with get_client(sync_client=True) as client:
            found = client.read_deployment_by_name(full_name)
    except ObjectNotFound:
        raise ConfigError(
            f"{name}: not registered on this Prefect server; run `syncbridge serve` or `syncbridge deploy`"
        ) from None
    if warn and str(getattr(found.status, "value", found.status)) == "NOT_READY":
        where = f"a worker of pool {found.work_pool_name}" if found.work_pool_name else "`syncbridge serve`"
        warn(f"{name}: nothing polls it right now; the run starts when {where} does")
    return run_deployment(full_name, timeout=timeout, as_subflow=False)
