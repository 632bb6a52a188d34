"""What the dev stack runs besides the servers, and the environment it runs it in."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

from roto.devstack.processes import ChildSpec
from roto.devstack.services import LOCAL_AWS_ENV
from roto.settings import ENV_PREFIX, Settings
from roto.tracing import ENDPOINT_VARIABLES

# Profile variables would point boto3 at real AWS credentials instead of the local ones.
AWS_PROFILE_VARIABLES = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN")
# Settings the stack decides for its children; every other ROTO_* passes through unchanged.
STACK_SETTINGS = ("data_dir", "host", "port", "database_url", "redis_url", "aws_endpoint_url")
# Without a GPU the dev stack runs SAM2 at this input size unless told otherwise: on a 2-core
# machine one encoder pass of the tiny model took 3-6 s at the config's 1024 px, 0.5 s at 512.
CPU_IMAGE_SIZE = 512
# On a CPU, torch's OpenMP threads spin this many rounds after each parallel region before they
# sleep (libgomp's default is 300000, hundreds of microseconds on every core after every model
# call). The daemon shares a few cores with PostgreSQL, Redis, the S3 endpoint and the API: on
# the 2-core reference machine the spinning held up the work after each mask decode, and a click
# on a cached frame took 3 ms less with this (docs/performance.md, section 4), the decoder as fast.
CPU_OMP_SPINCOUNT = 20000
OMP_VARIABLES = ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")
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
        ChildSpec(
            "worker-media", media, env=liveness_env(settings, "media"), stop_timeout_s=drain_s
        ),
    ]
    if has_gpu_extra():
        gpu = [python, "-m", "roto.worker", "--role", "gpu"]
        env = {**gpu_env(settings), **liveness_env(settings, "gpu")}
        children.append(ChildSpec("worker-gpu", gpu, env=env, stop_timeout_s=drain_s))
    return children


def liveness_env(settings: Settings, role: str) -> dict[str, str]:
    """Each worker of the stack beats in its own file, ``<data dir>/heartbeat-<role>`` (in the
    cloud each has its own data dir, so the name there is just ``heartbeat``)."""
    return {ENV_PREFIX + "WORKER_LIVENESS_PATH": str(settings.data_path / f"heartbeat-{role}")}


def has_gpu_extra() -> bool:
    """Whether torch and sam2 (the ``gpu`` extra) are installed, so the GPU daemon can run."""
    return all(importlib.util.find_spec(name) is not None for name in ("torch", "sam2"))


def runs_on_cpu(settings: Settings) -> bool:
    if settings.model_device == "auto":
        return not NVIDIA_DRIVER.exists()
    return settings.model_device == "cpu"


def local_checkpoint(settings: Settings) -> tuple[Path, str] | None:
    """The checkpoint `make weights` left for this model size (``<data dir>/models/``) and its
    recorded SHA-256, if it is there whole."""
    directory = settings.data_path / "models"
    record = directory / f"sam2.1_hiera_{settings.model_size}.json"
    try:
        known = json.loads(record.read_text(encoding="utf-8"))
        path = directory / str(known["file"])
        if path.stat().st_size != int(known["bytes"]):
            return None
        return path.resolve(), str(known["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def gpu_env(settings: Settings) -> dict[str, str]:
    """What the dev stack adds for its GPU daemon: the checkpoint `make weights` fetched, else
    random weights, when no checkpoint is set (and beside a fetched one, random weights for the
    concept detector, whose gated weights `make weights` cannot fetch); on a CPU, a smaller input
    so a click stays interactive, and OpenMP threads that spin less (unless the environment
    says how they wait)."""
    env: dict[str, str] = {}
    fetched = None if settings.model_checkpoint else local_checkpoint(settings)
    if fetched is not None:
        env[ENV_PREFIX + "MODEL_CHECKPOINT"] = str(fetched[0])
        env[ENV_PREFIX + "MODEL_CHECKPOINT_SHA256"] = fetched[1]
    if not settings.model_checkpoint and (fetched is None or not settings.detector_checkpoint):
        # Beside a fetched SAM2 checkpoint this only lets the detector run without one. A
        # checkpoint set by hand is left alone, as in production.
        env[ENV_PREFIX + "MODEL_ALLOW_RANDOM_WEIGHTS"] = "true"
    if settings.model_image_size == 0 and runs_on_cpu(settings):
        env[ENV_PREFIX + "MODEL_IMAGE_SIZE"] = str(CPU_IMAGE_SIZE)
    if runs_on_cpu(settings) and not any(name in os.environ for name in OMP_VARIABLES):
        env["GOMP_SPINCOUNT"] = str(CPU_OMP_SPINCOUNT)
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
    checkpoint = settings.model_checkpoint or gpu_env(settings).get(ENV_PREFIX + "MODEL_CHECKPOINT")
    if checkpoint:
        line = f"{line}, weights {checkpoint}"
    else:
        line = (
            f"{line}, RANDOM WEIGHTS: its masks mean nothing (`make weights` fetches SAM2.1 "
            f"{settings.model_size}, or set ROTO_MODEL_CHECKPOINT)"
        )
    return f"{line}; {detector_banner(settings)}"


def detector_banner(settings: Settings) -> str:
    """The banner's words about the concept detector behind text and exemplar prompts."""
    if settings.detector_checkpoint:
        return f"concept detector SAM 3, weights {settings.detector_checkpoint}"
    allowed = ENV_PREFIX + "MODEL_ALLOW_RANDOM_WEIGHTS" in gpu_env(settings)
    if settings.model_allow_random_weights or allowed:
        reduced = " reduced for the CPU," if runs_on_cpu(settings) else ""
        return (
            f"concept detector SAM 3{reduced} RANDOM WEIGHTS: text finds noise "
            "(set ROTO_DETECTOR_CHECKPOINT)"
        )
    return "no concept detector: text and exemplar prompts fail (set ROTO_DETECTOR_CHECKPOINT)"


def use_local_aws_credentials() -> None:
    """Point this process (and so every child) at the local endpoint's dummy credentials."""
    for name in AWS_PROFILE_VARIABLES:
        os.environ.pop(name, None)
    os.environ.update(LOCAL_AWS_ENV)


def traces_dir(settings: Settings) -> Path:
    """Where the stack's processes write their spans by default: ``<data dir>/traces``."""
    return settings.data_path / "traces"


def traces_banner(settings: Settings) -> str:
    """The banner's words about where the processes' spans go."""
    endpoint = next((os.environ[v] for v in ENDPOINT_VARIABLES if os.environ.get(v)), None)
    if endpoint is not None:
        return f"OTLP to {endpoint}"
    return f"{settings.traces_dir or traces_dir(settings)}/ (OTLP JSON lines, one file a process)"


def child_env(settings: Settings) -> dict[str, str]:
    """This process's environment plus the ROTO_* values of the running stack, without the JWT
    secret (the API's own ``ChildSpec`` adds it)."""
    env = {k: v for k, v in os.environ.items() if k != JWT_SECRET}
    for name in STACK_SETTINGS:
        env[ENV_PREFIX + name.upper()] = str(getattr(settings, name))
    # Each process writes its spans there (unless OTEL_EXPORTER_OTLP_ENDPOINT sends them away).
    env[ENV_PREFIX + "TRACES_DIR"] = settings.traces_dir or str(traces_dir(settings))
    env["PYTHONUNBUFFERED"] = "1"
    return env
