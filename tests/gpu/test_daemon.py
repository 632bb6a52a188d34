"""The gpu role: registered with the worker, its lifespan (model info in Redis, shown by /readyz;
batcher metrics over HTTP; a refused model stops the start), and the real worker process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import msgspec
import numpy as np
import pytest
from litestar.testing import AsyncTestClient

from roto.devstack.services import LOCAL_AWS_ENV, free_port
from roto.resources import Resources
from roto.settings import ENV_PREFIX, Settings
from roto.worker.registry import build_role, role_names
from roto_gpu.batcher import Priority
from roto_gpu.daemon import (
    MODEL_INFO_KEY,
    MODEL_INFO_TTL_S,
    GpuDaemon,
    ModelSlot,
    gpu_role,
    is_sticky_cuda_error,
)
from roto_gpu.model.options import ModelLoadError
from tests.gpu.conftest import IMAGE_SIZE
from tests.gpu.support import add_object, add_prompt, daemon_with, ready_clip, result_mask
from tests.worker.support import REPO_ROOT, enqueue_job, settings_env, wait_for_status

METRICS_PORT = free_port()
PROCESS_SETTINGS = {
    "model_image_size": IMAGE_SIZE,
    "model_device": "cpu",
    "model_allow_random_weights": True,
    "batch_max_size": 4,
}


def test_the_gpu_role_polls_interactive_before_batch_and_runs_segment_jobs() -> None:
    role = build_role("gpu")
    assert "gpu" in role_names()
    assert role.name == "gpu"
    assert role.queues == ("interactive", "batch")
    assert set(role.job_types) == {"segment", "propagate", "detect"}


async def test_serving_publishes_the_model_info_that_readyz_shows(
    resources: Resources, client: AsyncTestClient, shared_model: Any, shared_detector: Any
) -> None:
    await resources.redis.delete(MODEL_INFO_KEY)
    daemon = daemon_with(shared_model)
    async with daemon.serving(resources):
        raw = await resources.redis.get(MODEL_INFO_KEY)
        ttl = await resources.redis.ttl(MODEL_INFO_KEY)
        ready = await client.get("/readyz")
    expected = {**shared_model.info(), "detector": shared_detector.info()}
    assert raw is not None and msgspec.json.decode(raw) == expected
    assert 0 < ttl <= MODEL_INFO_TTL_S
    assert ready.status_code == 200
    model = ready.json()["model"]
    assert model["weights"] == "random"
    assert model["model_id"] == shared_model.model_id
    assert model["detector"]["weights"] == "random"
    assert model["detector"]["model_id"] == "sam3-168-random0"
    with pytest.raises(RuntimeError):
        daemon.engine  # noqa: B018  (not serving any more)


@pytest.mark.parametrize("settings", [{"daemon_metrics_port": METRICS_PORT}], indirect=True)
async def test_the_batcher_metrics_are_served_over_http_while_serving(
    resources: Resources, shared_model: Any, frames: list[np.ndarray]
) -> None:
    daemon = daemon_with(shared_model)
    url = f"http://127.0.0.1:{METRICS_PORT}/metrics"
    async with daemon.serving(resources), httpx.AsyncClient() as http:
        await daemon.engine.batcher.submit("encode", frames[0], priority=Priority.INTERACTIVE)
        text = (await http.get(url)).text
    assert 'roto_batch_requests_total{kind="encode",outcome="ok"} 1.0' in text
    assert "roto_batch_model_seconds_count" in text
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=2)


async def test_the_models_are_built_on_the_batcher_thread_that_runs_them(
    resources: Resources, shared_model: Any, shared_detector: Any
) -> None:
    built_on: list[threading.Thread] = []

    def factory(settings: Settings) -> Any:
        built_on.append(threading.current_thread())
        return shared_model

    def detector_factory(settings: Settings, model: Any) -> Any:
        assert model is shared_model
        built_on.append(threading.current_thread())
        return shared_detector

    daemon = GpuDaemon(model_factory=factory, detector_factory=detector_factory)
    async with daemon.serving(resources):
        runs_on = await daemon.engine.batcher.call(threading.current_thread)
        assert daemon.engine.model is shared_model
        assert daemon.engine.detector is shared_detector
    assert built_on == [runs_on, runs_on]
    assert runs_on is not threading.current_thread()


@pytest.mark.parametrize("settings", [{"worker_stall_after_s": 0.2}], indirect=True)
async def test_a_hung_model_call_stalls_the_daemon_so_its_worker_stops_beating(
    resources: Resources, shared_model: Any
) -> None:
    daemon = daemon_with(shared_model)
    assert gpu_role(daemon).stalled == daemon.stalled
    release = threading.Event()
    async with daemon.serving(resources):
        assert daemon.stalled() is None
        hung = asyncio.create_task(daemon.engine.batcher.call(lambda: release.wait(30)))
        deadline = time.monotonic() + 30
        while daemon.stalled() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        reason = daemon.stalled()
        release.set()
        assert await hung is True
    assert reason is not None and "limit 0.2 s" in reason


async def test_a_model_that_refuses_to_load_stops_the_start(resources: Resources) -> None:
    # No checkpoint and random weights not allowed: the real loader refuses before building.
    with pytest.raises(ModelLoadError, match="ROTO_MODEL_ALLOW_RANDOM_WEIGHTS"):
        async with GpuDaemon().serving(resources):
            pass


@pytest.mark.slow
@pytest.mark.parametrize("settings", [PROCESS_SETTINGS], indirect=True)
async def test_the_worker_process_with_the_gpu_role_segments_and_stops_on_sigterm(
    resources: Resources, settings: Settings, frames: list[np.ndarray], tmp_path: Path
) -> None:
    clip = await ready_clip(resources, frames)
    await add_object(resources, clip)
    await add_prompt(resources, clip, points=[[80, 96]], labels=[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    env.update(LOCAL_AWS_ENV)
    env.update(settings_env(settings))
    log_path = tmp_path / "gpu.log"
    with log_path.open("ab") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "roto.worker", "--role", "gpu"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        payload = {"video_id": str(clip.video_id), "object_id": 1, "frame_index": 0}
        job = await enqueue_job(
            resources, clip.user_id, video_id=clip.video_id, job_type="segment", payload=payload
        )
        done = await wait_for_status(resources, job.id, {"succeeded", "failed"}, timeout_s=180)
        info = await resources.redis.get(MODEL_INFO_KEY)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = log_path.read_text(errors="replace")
    assert result_mask(done).rle.size == [clip.height, clip.width], output[-3000:]
    assert info is not None and msgspec.json.decode(info)["image_size"] == IMAGE_SIZE
    assert msgspec.json.decode(info)["detector"]["weights"] == "random"
    assert code == 0, output[-3000:]
    assert "SAM2 RUNS WITH RANDOM WEIGHTS" in output
    assert "THE CONCEPT DETECTOR RUNS WITH RANDOM WEIGHTS" in output


def test_a_sticky_cuda_error_stops_the_daemon_once_and_others_do_not() -> None:
    lost: list[BaseException] = []
    slot = ModelSlot(on_sticky_error=lost.append)
    errors = iter(
        [
            ValueError("bad prompt"),
            RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"),
            RuntimeError("CUDA error: an illegal memory access was encountered"),
            RuntimeError("CUDA error: an illegal memory access was encountered"),
        ]
    )

    def failing(items: list[Any]) -> list[Any]:
        raise next(errors)

    slot._bound = dict.fromkeys(ModelSlot.KINDS, failing)
    run = slot.functions()["encode"]
    for _ in range(4):
        with pytest.raises((ValueError, RuntimeError)):  # every error still reaches its job
            run([1])

    assert [str(e) for e in lost] == ["CUDA error: an illegal memory access was encountered"]
    assert is_sticky_cuda_error(RuntimeError("CUDA error: device-side assert triggered"))
    assert not is_sticky_cuda_error(RuntimeError("CUDA out of memory. Tried to allocate 8 MiB"))
