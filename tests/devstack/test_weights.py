"""`make weights` (scripts/fetch_weights.py) against a local HTTP server that honours Range
requests and can cut a connection part-way, and the dev stack handing what it fetched to its
GPU daemon."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from roto.devstack.children import gpu_banner, gpu_env, local_checkpoint
from roto.settings import load_settings

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "fetch_weights.py"
PAYLOAD = bytes(range(256)) * 4096  # 1 MiB
SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


def load_script() -> Any:
    spec = importlib.util.spec_from_file_location("fetch_weights", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fetch_weights = load_script()


class Server:
    """Serves PAYLOAD at /sam2.pt; the first ``cuts`` replies stop after ``cut_at`` bytes."""

    def __init__(self) -> None:
        self.cuts = 0
        self.cut_at = 300_000
        self.ranges: list[str | None] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                if self.path != "/sam2.pt":
                    self.send_error(404)
                    return
                header = self.headers.get("Range")
                server.ranges.append(header)
                start = int(header.removeprefix("bytes=").rstrip("-")) if header else 0
                body = PAYLOAD[start:]
                self.send_response(206 if header else 200)
                if header:
                    self.send_header(
                        "Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}"
                    )
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.cuts > 0:
                    server.cuts -= 1
                    self.wfile.write(body[: server.cut_at])
                    self.wfile.flush()
                    self.connection.shutdown(2)  # the connection drops mid-file
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/sam2.pt"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server()
    yield running
    running.close()


def test_a_download_cut_twice_resumes_where_it_stopped_and_records_the_sha256(
    server: Server, tmp_path: Path
) -> None:
    server.cuts = 2
    models = tmp_path / "models"
    record = fetch_weights.fetch(server.url, models, "tiny", backoff_s=0, log=lambda _: None)
    assert (models / "sam2.1_hiera_tiny.pt").read_bytes() == PAYLOAD
    assert record == {
        "file": "sam2.1_hiera_tiny.pt",
        "url": server.url,
        "bytes": len(PAYLOAD),
        "sha256": SHA256,
    }
    assert json.loads((models / "sam2.1_hiera_tiny.json").read_text()) == record
    # The first request from zero, then each resume from where the data stopped.
    assert server.ranges == [None, f"bytes={server.cut_at}-", f"bytes={2 * server.cut_at}-"]
    assert not list(models.glob("*.partial"))


def test_a_partial_file_from_an_earlier_run_is_resumed_not_restarted(
    server: Server, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / "sam2.1_hiera_small.pt.partial").write_bytes(PAYLOAD[:1000])
    fetch_weights.fetch(server.url, models, "small", log=lambda _: None)
    assert server.ranges == ["bytes=1000-"]
    assert (models / "sam2.1_hiera_small.pt").read_bytes() == PAYLOAD
    # Asked again: nothing is downloaded.
    fetch_weights.fetch(server.url, models, "small", log=lambda _: None)
    assert len(server.ranges) == 1


def test_without_a_server_it_says_so_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    unused = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = unused.server_address[1]
    unused.server_close()  # nothing listens there now
    monkeypatch.setattr(fetch_weights, "ATTEMPTS", 2)
    monkeypatch.setattr(fetch_weights, "BACKOFF_S", 0.0)
    code = fetch_weights.main(
        ["--size", "tiny", "--data-dir", str(tmp_path), "--url", f"http://127.0.0.1:{port}/x"]
    )
    assert code == 2
    assert "RANDOM weights" in capsys.readouterr().err
    assert not (tmp_path / "models" / "sam2.1_hiera_tiny.pt").exists()


def test_the_dev_stack_gives_the_fetched_checkpoint_to_its_gpu_daemon(
    server: Server, tmp_path: Path
) -> None:
    settings = load_settings({}, data_dir=str(tmp_path), model_device="cpu")
    assert local_checkpoint(settings) is None
    assert gpu_env(settings)["ROTO_MODEL_ALLOW_RANDOM_WEIGHTS"] == "true"
    assert "make weights" in gpu_banner(settings)
    fetch_weights.fetch(server.url, tmp_path / "models", "tiny", log=lambda _: None)
    env = gpu_env(settings)
    assert env["ROTO_MODEL_CHECKPOINT"] == str(tmp_path / "models" / "sam2.1_hiera_tiny.pt")
    assert env["ROTO_MODEL_CHECKPOINT_SHA256"] == SHA256
    # Random weights stay allowed only for the concept detector (its weights are gated).
    sam2_line, detector_line = gpu_banner(settings).split("; concept detector")
    assert "RANDOM" not in sam2_line and "sam2.1_hiera_tiny.pt" in sam2_line
    assert "RANDOM" in detector_line
    # Another size has no file: random weights again; a truncated file is not used.
    assert "ROTO_MODEL_CHECKPOINT" not in gpu_env(
        load_settings({}, data_dir=str(tmp_path), model_size="large")
    )
    (tmp_path / "models" / "sam2.1_hiera_tiny.pt").write_bytes(PAYLOAD[:10])
    assert local_checkpoint(settings) is None
