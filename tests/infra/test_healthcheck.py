"""The container health check script (infra/docker/healthcheck.py), run against real processes
and a real local HTTP server."""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import ModuleType

import pytest

from tests.infra import cfn

SCRIPT = cfn.REPO / "infra" / "docker" / "healthcheck.py"


@pytest.fixture(scope="module")
def healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("roto_healthcheck", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def serve(status: int) -> tuple[HTTPServer, threading.Thread]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@pytest.fixture
def api_port(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    server, thread = serve(request.param)
    monkeypatch.setenv("ROTO_PORT", str(server.server_address[1]))
    yield request.param
    server.shutdown()
    thread.join()


@pytest.mark.parametrize("api_port", [200], indirect=True)
def test_api_is_healthy_when_healthz_answers_200(healthcheck: ModuleType, api_port: int) -> None:
    assert healthcheck.api_is_healthy()


@pytest.mark.parametrize("api_port", [503], indirect=True)
def test_api_is_unhealthy_when_healthz_fails(healthcheck: ModuleType, api_port: int) -> None:
    assert not healthcheck.api_is_healthy()


def test_api_is_unhealthy_when_nothing_listens(
    healthcheck: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    monkeypatch.setenv("ROTO_PORT", str(free_port))
    assert not healthcheck.api_is_healthy()


def test_worker_is_healthy_while_a_roto_worker_process_runs(healthcheck: ModuleType) -> None:
    # argv carries "roto.worker" as the real daemon's does (python -m roto.worker --role ...).
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "roto.worker"])
    try:
        # Until the scan of /proc sees the child (once, under the full suite's load, the first
        # scan right after the start did not); the child lives 30 s.
        deadline = time.monotonic() + 20.0
        while not healthcheck.worker_is_healthy() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert healthcheck.worker_is_healthy()
    finally:
        worker.kill()
        worker.wait()


def test_unknown_check_is_a_usage_error(healthcheck: ModuleType) -> None:
    assert healthcheck.main(["roto-healthcheck", "disk"]) == 2
