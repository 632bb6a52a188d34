"""What the dev stack runs besides the servers, and the environment it runs it in."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from roto.devstack.processes import ChildSpec
from roto.devstack.services import LOCAL_AWS_ENV
from roto.settings import ENV_PREFIX, Settings

# Profile variables would point boto3 at real AWS credentials instead of the local ones.
AWS_PROFILE_VARIABLES = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN")
# Settings the stack decides for its children; every other ROTO_* passes through unchanged.
STACK_SETTINGS = ("data_dir", "host", "port", "database_url", "redis_url", "aws_endpoint_url")
# Without a GPU the dev stack runs SAM2 at this input size unless told otherwise: on a 2-core
# machine one encoder pass of the tiny model took 3-6 s at the config's 1024 px, 0.5 s at 512.
CPU_IMAGE_SIZE = 512
# Present whenever the NVIDIA driver is loaded; cheaper than importing torch to ask it.
NVIDIA_DRIVER = Path("/proc/driver/nvidia/version")
JWT_SECRET = ENV_PREFIX + "JWT_SECRET"


def app_processes(settings: Settings) -> list[ChildSpec]:
    """The stack's own processes, started in this order once the servers are ready."""
    python = sys.executable
    api = [python, "-m", "uvicorn", "roto.app:create_app", "--factory"]
    api += ["--host", settings.host, "--port", str(settings.port)]
    api += ["--timeout-graceful-shutdown", "5"]  # open event streams must not hold up a stop
    media = [python, "-m", "roto.worker", "--role", "media"]
    drain_s = settings.worker_drain_timeout_s + 5
    children = [
        # Only the API signs and verifies tokens: the workers are never given the key.
        ChildSpec("api", api, env={JWT_SECRET: settings.jwt_secret}),
        ChildSpec("worker-media", media, stop_timeout_s=drain_s),
    ]
    if has_gpu_extra():
        gpu = [python, "-m", "roto.worker", "--role", "gpu"]
        children.append(ChildSpec("worker-gpu", gpu, env=gpu_env(settings), stop_timeout_s=drain_s))
    return children


def has_gpu_extra() -> bool:
    """Whether torch and sam2 (the ``gpu`` extra) are installed, so the GPU daemon can run."""
    return all(importlib.util.find_spec(name) is not None for name in ("torch", "sam2"))


def runs_on_cpu(settings: Settings) -> bool:
    if settings.model_device == "auto":
        return not NVIDIA_DRIVER.exists()
    return settings.model_device == "cpu"


def gpu_env(settings: Settings) -> dict[str, str]:
    """What the dev stack adds for its GPU daemon: random weights when no checkpoint is set,
    and a smaller input on a CPU so a click stays interactive."""
    env: dict[str, str] = {}
    if not settings.model_checkpoint:
        env[ENV_PREFIX + "MODEL_ALLOW_RANDOM_WEIGHTS"] = "true"
    if settings.model_image_size == 0 and runs_on_cpu(settings):
        env[ENV_PREFIX + "MODEL_IMAGE_SIZE"] = str(CPU_IMAGE_SIZE)
    return env


def gpu_banner(settings: Settings) -> str:
    """The banner's line about the GPU daemon's model."""
    if not has_gpu_extra():
        return "not started: torch and sam2 (the gpu extra) are not installed"
    reduced = ENV_PREFIX + "MODEL_IMAGE_SIZE" in gpu_env(settings)
    size = CPU_IMAGE_SIZE if reduced else settings.model_image_size or 1024
    where = "CPU" if runs_on_cpu(settings) else "GPU"
    line = f"SAM2.1 {settings.model_size} at {size} px on the {where}"
    if reduced:
        line += " (reduced for the CPU; ROTO_MODEL_IMAGE_SIZE sets it)"
    if settings.model_checkpoint:
        return f"{line}, weights {settings.model_checkpoint}"
    return f"{line}, RANDOM WEIGHTS: its masks mean nothing (set ROTO_MODEL_CHECKPOINT)"


def use_local_aws_credentials() -> None:
    """Point this process (and so every child) at the local endpoint's dummy credentials."""
    for name in AWS_PROFILE_VARIABLES:
        os.environ.pop(name, None)
    os.environ.update(LOCAL_AWS_ENV)


def child_env(settings: Settings) -> dict[str, str]:
    """This process's environment plus the ROTO_* values of the running stack, without the JWT
    secret (the API's own ``ChildSpec`` adds it)."""
    env = {k: v for k, v in os.environ.items() if k != JWT_SECRET}
    for name in STACK_SETTINGS:
        env[ENV_PREFIX + name.upper()] = str(getattr(settings, name))
    env["PYTHONUNBUFFERED"] = "1"
    return env
