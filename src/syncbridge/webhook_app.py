"""The inbound server's ASGI app (``syncbridge webhooks serve``): the webhook receiver of
:mod:`syncbridge.webhooks` and the assessment-partner endpoints.  Kept apart so that loading a config or
running a sync does not import the web stack."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from syncbridge.assessment_api import install_partner_api
from syncbridge.webhook_reader import Delivery
from syncbridge.webhooks import (
    QueueFull,
    WebhookSettings,
    Worker,
    endpoint_secrets,
    enqueue,
    queue_counts,
    reader_for,
)

if TYPE_CHECKING:
    from syncbridge.steps import Runtime

log = logging.getLogger("syncbridge.webhooks")


def create_app(
    rt: Runtime,
    settings: WebhookSettings | None,
    *,
    worker: Worker | None = None,
    config_dir: Path | None = None,
) -> FastAPI:
    """The ASGI app: ``POST /webhooks/<connector>`` per configured connector, ``GET /healthz``, and
    the assessment-partner endpoints when ``assessment:`` is configured."""
    app = FastAPI(title="syncbridge webhooks", docs_url=None, redoc_url=None, openapi_url=None)

    def answer(status: int, message: str, **extra_fields: Any) -> JSONResponse:
        return JSONResponse({"message": message, **extra_fields}, status_code=status)

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"ok": True, "events": queue_counts(rt)}

    install_partner_api(rt, app, base_dir=config_dir)
    if settings is None:
        return app

    @app.post("/webhooks/{connector}")
    async def receive(connector: str, request: Request) -> JSONResponse:
        assert settings is not None
        block = rt.settings.connectors.get(connector)
        reader = reader_for(block.type) if block is not None else None
        if connector not in settings.connectors or reader is None:
            return answer(404, "no webhook endpoint for this connector")
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > settings.max_body_bytes):
            log.warning("webhook %s: body over %d bytes refused", connector, settings.max_body_bytes)
            return answer(413, f"body larger than {settings.max_body_bytes} bytes")
        raw = bytearray()
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > settings.max_body_bytes:
                log.warning("webhook %s: body over %d bytes refused", connector, settings.max_body_bytes)
                return answer(413, f"body larger than {settings.max_body_bytes} bytes")
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            return answer(415, "content type must be application/json")
        try:
            body = json.loads(bytes(raw))
        except (ValueError, RecursionError):
            return answer(400, "body is not JSON")
        if not isinstance(body, dict):
            return answer(400, "body is not a JSON object")
        # the store is synchronous: keep its calls off the event loop
        secrets = await run_in_threadpool(endpoint_secrets, rt, settings, connector)
        headers = {k.lower(): v for k, v in request.headers.items()}
        delivery = Delivery(bytes(raw), headers, body, time.time(), settings.replay_window_seconds)
        refused = reader.refusal(secrets, delivery)
        if reader.is_ping(body, verified=refused is None):  # answering a ping stores nothing
            return answer(200, "pong")
        if refused is not None:
            log.warning("webhook %s: %s; refused", connector, refused)
            return answer(401, refused)
        event = reader.event(connector, delivery)
        try:
            fresh = await run_in_threadpool(enqueue, rt, event, max_queue=settings.max_queue)
        except QueueFull as exc:
            return answer(503, str(exc))
        if not fresh:
            return answer(200, "duplicate: already received", duplicate=True)
        if event.work != "ignore" and worker is not None:
            worker.poke()
        log.info("webhook %s: %s queued (%s)", connector, event.action, event.work)
        return answer(200, "received", work=event.work)

    return app
