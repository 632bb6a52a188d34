"""Static checks of the Dockerfile (no Docker engine here): the targets the stacks run exist,
run as a non-root user with a health check, start the commands the stacks expect, and the GPU
image refuses a SAM2 checkpoint whose sha256 does not match."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import pytest

from tests.infra import cfn

DOCKERFILE = cfn.REPO / "Dockerfile"
TARGETS = ("api", "media", "gpu")


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def stages() -> dict[str, Stage]:
    """Stages by name, each with its (KEYWORD, arguments) instructions in order."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found: dict[str, Stage] = {}
    current: Stage | None = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            match = re.fullmatch(r"(\S+)\s+AS\s+(\S+)", args.strip(), re.IGNORECASE)
            assert match, f"every stage is named: FROM {args}"
            current = found[match[2]] = Stage(match[2], match[1])
        elif current is not None:
            current.instructions.append((keyword, args.strip()))
    return found


def lineage(name: str) -> list[Stage]:
    """The stage and the stages it is built FROM, nearest first."""
    chain, all_stages = [], stages()
    while name in all_stages:
        chain.append(all_stages[name])
        name = all_stages[name].base
    return chain


def effective(name: str, keyword: str) -> str | None:
    """The last ``keyword`` instruction in force in stage ``name`` (inherited from parents)."""
    for stage in lineage(name):
        values = stage.all(keyword)
        if values:
            return values[-1]
    return None


def cmd(name: str) -> list[str]:
    value = effective(name, "CMD")
    assert value is not None
    parsed: list[str] = json.loads(value)
    return parsed


@pytest.mark.parametrize("target", TARGETS)
def test_target_runs_as_a_non_root_user(target: str) -> None:
    user = effective(target, "USER")
    assert user is not None, f"{target} runs as root"
    assert user.split(":")[0] not in {"root", "0"}


@pytest.mark.parametrize("target", TARGETS)
def test_target_has_a_health_check_with_the_shipped_script(target: str) -> None:
    check = effective(target, "HEALTHCHECK")
    assert check is not None and "CMD" in check
    kind = "api" if target == "api" else "worker"
    assert check.endswith(f'CMD ["roto-healthcheck", "{kind}"]')
    copies = [c for stage in lineage(target) for c in stage.all("COPY")]
    assert any(
        c.endswith("infra/docker/healthcheck.py /usr/local/bin/roto-healthcheck") for c in copies
    )


def test_target_commands_are_the_ones_the_stacks_run() -> None:
    assert cmd("api") == cfn.container("api", "ApiTaskDefinition", "api")["Command"]
    assert cmd("media") == cfn.container("api", "MediaTaskDefinition", "media")["Command"]
    daemon = re.search(
        r'"\$image" (python -m roto\.worker .*)$', cfn.user_data("gpu", "LaunchTemplate"), re.M
    )
    assert daemon and cmd("gpu") == daemon[1].split()


def test_gpu_image_is_cuda_13_with_the_tensorrt_of_torchs_cuda() -> None:
    # torch's wheel is built for CUDA 13: the base image and TensorRT must be CUDA 13 too.
    assert stages()["gpu"].base.startswith("nvidia/cuda:13.")
    deps = stages()["gpu-deps"]
    assert deps.base == stages()["gpu"].base
    (install,) = [run for run in deps.all("RUN") if "pip install" in run]
    assert '"gpu/pyproject.toml"' in install and "-r requirements-gpu.txt" in install
    assert "tensorrt-cu13==" in install and "tensorrt-cu12" not in install
    # The ONNX exporter's packages, which the TensorRT backend builds its engines from.
    assert '"onnx==' in install and '"onnxscript==' in install
    assert "import torch, tensorrt, onnx, onnxscript" in install
    assert "torch.version.cuda.split('.')[0] == '13'" in install


def test_gpu_image_puts_the_app_in_a_layer_of_its_own_after_the_dependencies() -> None:
    # A release changes only the small app layer; the multi-GB dependency layer stays cached
    # (in a baked AMI, or on an instance that pulled the last release).
    build = stages()["gpu-build"]
    assert build.base == "gpu-deps"
    (install,) = [run for run in build.all("RUN") if "pip install" in run]
    assert "--no-deps" in install and "--target /opt/app" in install and " . ./gpu" in install
    copies = stages()["gpu"].all("COPY")
    order = [c.split()[-1] for c in copies if c.startswith("--from=")]
    assert order == ["/opt/python", "/opt/venv", "/opt/models/sam2.pt", "/opt/app"]
    assert "--from=gpu-build /opt/app /opt/app" in copies
    assert "PYTHONPATH=/opt/app" in " ".join(stages()["gpu"].all("ENV"))


def test_only_the_gpu_image_installs_the_gpu_daemon() -> None:
    (install,) = [run for run in stages()["build"].all("RUN") if "pip install" in run]
    assert "./gpu" not in install
    assert not any("gpu" in copy for copy in stages()["build"].all("COPY"))


def test_uvicorn_keep_alive_outlasts_the_load_balancer_idle_timeout() -> None:
    command = cmd("api")
    keep_alive = int(command[command.index("--timeout-keep-alive") + 1])
    attributes = cfn.properties("api", "LoadBalancer")["LoadBalancerAttributes"]
    (idle,) = [int(a["Value"]) for a in attributes if a["Key"] == "idle_timeout.timeout_seconds"]
    assert keep_alive > idle


@pytest.mark.parametrize("target", TARGETS)
def test_worker_guard_ships_in_every_worker_image(target: str) -> None:
    copies = [c for stage in lineage(target) for c in stage.all("COPY")]
    assert any(
        c.endswith("infra/docker/worker_guard.py /usr/local/bin/roto-worker-guard") for c in copies
    )


def test_sam2_checkpoint_is_checked_against_the_sha256_build_arg() -> None:
    weights = stages()["weights"]
    assert "SAM2_CHECKPOINT_SHA256" in " ".join(weights.all("ARG"))
    (fetch,) = weights.all("RUN")
    assert re.search(r'-z "\$\{SAM2_CHECKPOINT_SHA256\}"\s*\]; then .*exit 1', fetch)
    assert '"${SAM2_CHECKPOINT_SHA256}  sam2.pt" | sha256sum --check --strict -' in fetch
    assert "pipefail" in " ".join(weights.all("SHELL"))
    copies = stages()["gpu"].all("COPY")
    assert "--from=weights /models/sam2.pt /opt/models/sam2.pt" in copies
    # The daemon checks the same file against the same digest when it starts.
    env = " ".join(stages()["gpu"].all("ENV"))
    assert "ROTO_MODEL_CHECKPOINT=/opt/models/sam2.pt" in env
    assert "ROTO_MODEL_CHECKPOINT_SHA256=${SAM2_CHECKPOINT_SHA256}" in env
    assert "ROTO_MODEL_SIZE=${SAM2_MODEL_SIZE}" in env
    assert "sam2.1_hiera_${SAM2_MODEL_SIZE}.pt" in " ".join(weights.all("ARG"))


def test_app_installs_with_the_project_constraints() -> None:
    installs = [run for s in stages().values() for run in s.all("RUN") if "pip install" in run]
    app_installs = [run for run in installs if " ." in run or '".[' in run]
    assert len(app_installs) == 2
    assert all("-c constraints.txt" in run and "--no-cache-dir" in run for run in app_installs)


def test_final_images_only_copy_built_environments() -> None:
    # Small final images: the targets copy built venvs and never run pip themselves.
    for target in TARGETS:
        for stage in lineage(target):
            if stage.name in TARGETS or stage.name == "runtime":
                assert not any("pip install" in run for run in stage.all("RUN")), stage.name


def test_dockerignore_lets_in_everything_the_dockerfile_copies() -> None:
    allowed = {
        line.removeprefix("!").rstrip("/")
        for line in (cfn.REPO / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    for stage in stages().values():
        for copy in stage.all("COPY"):
            if "--from=" in copy:
                continue
            sources = [s for s in copy.split()[:-1] if not s.startswith("--")]
            for source in sources:
                assert any(source == a or source.startswith(a + "/") for a in allowed), source
