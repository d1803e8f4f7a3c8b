"""End to end through the CLI against a hostile "Greenhouse": a real HTTP server on 127.0.0.1 whose answers
loop, are HTML, or carry records without ids.  The CLI must end with one line and the right exit code."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from syncbridge.cli import main
from syncbridge.store import Store


class Hostile(BaseHTTPRequestHandler):
    mode = "loop"
    requests = 0

    def log_message(self, *_args: Any) -> None:
        return None

    def _send(self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith("/token"):
            self._send(200, b'{"access_token": "tok-e2e", "expires_in": 3600}', "application/json")
        else:
            self._send(404, b'{"message": "Resource not found"}', "application/json")

    def do_GET(self) -> None:
        type(self).requests += 1
        host = f"http://127.0.0.1:{self.server.server_address[1]}"
        if not self.path.startswith("/v3/candidates"):
            self._send(200, b"[]", "application/json")
        elif self.mode == "loop":
            link = f'<{host}/v3/candidates?cursor=same>; rel="next"'
            self._send(200, b'[{"id": 1}]', "application/json", {"Link": link})
        elif self.mode == "html":
            self._send(200, b"<html><body>Proxy login</body></html>", "text/html; charset=utf-8")
        else:
            page = [
                {"id": None, "first_name": "Phantom", "email_addresses": [{"value": "ghost@example.com"}]},
                {"id": 42, "first_name": "Real", "email_addresses": [{"value": "real@example.com"}]},
            ]
            self._send(200, json.dumps(page).encode(), "application/json")


@pytest.fixture
def hostile() -> Iterator[Callable[[str], str]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def base(mode: str) -> str:
        Hostile.mode, Hostile.requests = mode, 0
        return f"http://127.0.0.1:{server.server_address[1]}"

    try:
        yield base
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def gh_block(base: str) -> dict[str, Any]:
    return {
        "type": "greenhouse",
        "client_id": "cid",
        "client_secret": "${GH_SECRET:-csecret-e2e}",
        "base_url": base,
        "token_url": f"{base}/token",
        "max_attempts": 2,
    }


def run_sync(config: Path) -> Any:
    return CliRunner().invoke(
        main, ["-c", str(config), "sync", "--connector", "gh", "--stream", "candidates"]
    )


def test_cli_sync_stops_a_link_loop_with_one_line(hostile, write_config):
    config = write_config({"gh": gh_block(hostile("loop"))})
    result = run_sync(config)
    assert result.exit_code == 1
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert lines == [
        "error: [gh] /v3/candidates: the vendor's page 3 points back to page 2 already read (a pagination "
        "loop); stopped instead of reading it again"
    ]
    assert Hostile.requests == 2


def test_cli_sync_names_html_answer_in_one_line(hostile, write_config):
    config = write_config({"gh": gh_block(hostile("html"))})
    result = run_sync(config)
    assert result.exit_code == 1
    assert "Traceback" not in result.output and "JSONDecodeError" not in result.output
    assert "error: [gh] HTTP 200: GET /v3/candidates answered text/html" in result.output


def test_cli_sync_refuses_and_counts_a_record_without_id(hostile, write_config, tmp_path):
    config = write_config({"gh": gh_block(hostile("nullid"))})
    result = run_sync(config)
    assert result.exit_code == 0, result.output
    assert "gh/candidates: 1 records in 1 page(s), 1 refused (skipped_invalid)" in result.output
    assert "ghost@example.com" not in result.output and "Phantom" not in result.output
    store = Store(yaml.safe_load(config.read_text())["state"]["url"])
    try:
        assert store.candidates_by_email("gh", "ghost@example.com") == []
        assert len(store.candidates_by_email("gh", "real@example.com")) == 1
    finally:
        store.close()


def test_cli_sync_to_a_closed_port_names_host_port_and_budget(write_config):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = write_config({"gh": {**gh_block(f"http://127.0.0.1:{port}"), "retry_deadline_seconds": 5}})
    result = run_sync(config)
    assert result.exit_code == 1
    line = result.output.strip().splitlines()[-1]
    assert line.startswith(
        f"error: [gh] cannot connect to 127.0.0.1:{port}: connection refused; gave up after"
    )
    assert "(retry budget: max_attempts 2, 5 s)" in line
