# syntax=docker/dockerfile:1.7
# Megaton Roto images. Targets:
#   api    the Litestar API (uvicorn)               docker build --target api .
#   media  the media worker (CPU: ingest, export)   docker build --target media .
#   gpu    the GPU daemon (CUDA 13, TensorRT, SAM2) docker build --target gpu \
#            --build-arg SAM2_CHECKPOINT_SHA256=<sha256 of the checkpoint> .
# Every final image runs as the unprivileged user 10001 and carries a HEALTHCHECK.

# The SAM2.1 size baked into the gpu image; the checkpoint URL and ROTO_MODEL_SIZE follow it.
ARG SAM2_MODEL_SIZE=base_plus

# ---- build: the app and its dependencies in a venv (no compilers reach the final images) -------
FROM python:3.11.11-slim-bookworm AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY pyproject.toml constraints.txt ./
COPY src ./src
# The API and media images get the service only; the GPU daemon (gpu/) is its own distribution.
RUN pip install --no-cache-dir -c constraints.txt .

# ---- runtime: what api and media share -----------------------------------------------------------
FROM python:3.11.11-slim-bookworm AS runtime
# The user has no home and the root filesystem is read-only in ECS: caches go to /tmp.
ENV PATH=/opt/venv/bin:$PATH \
    HOME=/tmp \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 roto \
    && useradd --system --uid 10001 --gid roto --no-create-home --shell /usr/sbin/nologin roto
COPY --from=build /opt/venv /opt/venv
COPY --chmod=0755 infra/docker/healthcheck.py /usr/local/bin/roto-healthcheck
COPY --chmod=0755 infra/docker/worker_guard.py /usr/local/bin/roto-worker-guard
WORKDIR /tmp

# ---- api ---------------------------------------------------------------------------------------
FROM runtime AS api
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["roto-healthcheck", "api"]
# Only the load balancer reaches the container, so its X-Forwarded-For is trusted.
# No uvicorn access log: the ALB writes one per request to S3, and skipping it measured about
# 15 % more requests per second (docs/performance.md, section 2). Keep-alive (130 s) outlasts the
# ALB's idle timeout (120 s), so the ALB always closes an idle connection first: no 502s from a
# request sent on a connection uvicorn is closing.
CMD ["uvicorn", "roto.app:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000", "--proxy-headers", "--forwarded-allow-ips=*", "--no-access-log", "--timeout-keep-alive", "130"]

# ---- media -------------------------------------------------------------------------------------
FROM runtime AS media
USER 10001
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["roto-healthcheck", "worker"]
CMD ["python", "-m", "roto.worker", "--role", "media"]

# ---- weights: the SAM2 checkpoint, fetched at build time and refused unless its sha256 matches ---
FROM python:3.11.11-slim-bookworm AS weights
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ARG SAM2_MODEL_SIZE
ARG SAM2_CHECKPOINT_URL=https://dl.fbaipublicfiles.com/segment_anything_2/092824/sam2.1_hiera_${SAM2_MODEL_SIZE}.pt
ARG SAM2_CHECKPOINT_SHA256=""
WORKDIR /models
RUN if [ -z "${SAM2_CHECKPOINT_SHA256}" ]; then \
        echo "build arg SAM2_CHECKPOINT_SHA256 is required for the gpu target" >&2; exit 1; \
    fi \
    && python -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' \
        "${SAM2_CHECKPOINT_URL}" sam2.pt \
    && echo "${SAM2_CHECKPOINT_SHA256}  sam2.pt" | sha256sum --check --strict -

# ---- uv: only to install a relocatable CPython 3.11 into the CUDA image (Ubuntu has no 3.11) ---
FROM python:3.11.11-slim-bookworm AS uv
ARG UV_VERSION=0.13.8
RUN pip install --no-cache-dir "uv==${UV_VERSION}"

# ---- gpu-deps: CPython and every dependency (torch, SAM2, TensorRT), without the app ---------
# A layer of several GB that changes only when a dependency does, so a release pulls little more
# than the app layer below (and a baked AMI already holds this one: infra/README.md).
# CUDA 13 throughout: torch's wheel (constraints.txt) is built for CUDA 13.0, so the base image
# and TensorRT (tensorrt-cu13) are too. CUDA 13 needs an R580+ driver on the host: the daemon
# checks it before loading the model (roto_gpu.model.driver) and says so if it is older.
# Engines are not built here: a TensorRT engine is specific to the GPU model it is built on, and
# a docker build has no GPU. The daemon builds them at its first start (from ONNX graphs, with
# onnx/onnxscript) and keeps them on disk and in S3 (ROTO_MODEL_ENGINE_S3_PREFIX), so only the
# first instance of each GPU type and release pays the build. There is no C compiler in this
# image, so torch.compile and AOT builds are skipped (logged) and AOT packages are only loaded
# from that cache (python -m roto_gpu.model.backends build fills it).
FROM nvidia/cuda:13.0.1-base-ubuntu24.04 AS gpu-deps
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ARG TENSORRT_VERSION=11.4.0.106
ARG ONNX_VERSION=1.23.2
ARG ONNXSCRIPT_VERSION=0.7.2
ENV UV_PYTHON_INSTALL_DIR=/opt/python \
    UV_PYTHON_PREFERENCE=only-managed
COPY --from=uv /usr/local/bin/uv /usr/local/bin/uv
RUN uv python install 3.11 && uv venv --seed --python 3.11 /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml constraints.txt ./
COPY gpu/pyproject.toml ./gpu/
# The dependencies of the service and of the GPU daemon, not the service itself.
RUN python -c 'import tomllib; deps = [d for f in ("pyproject.toml", "gpu/pyproject.toml") for d in tomllib.load(open(f, "rb"))["project"]["dependencies"] if not d.startswith("megaton-roto")]; print("\n".join(deps))' > requirements-gpu.txt \
    && pip install --no-cache-dir -c constraints.txt -r requirements-gpu.txt \
        "tensorrt-cu13==${TENSORRT_VERSION}" "onnx==${ONNX_VERSION}" "onnxscript==${ONNXSCRIPT_VERSION}" \
    && python -c "import torch, tensorrt, onnx, onnxscript; assert torch.version.cuda.split('.')[0] == '13', torch.version.cuda"

# ---- gpu-build: the app alone, into /opt/app (small; changes with every release) ---------------
FROM gpu-deps AS gpu-build
COPY src ./src
COPY gpu ./gpu
RUN pip install --no-cache-dir --no-deps -c constraints.txt --target /opt/app . ./gpu

# ---- gpu ---------------------------------------------------------------------------------------
FROM nvidia/cuda:13.0.1-base-ubuntu24.04 AS gpu
ARG SAM2_MODEL_SIZE
ARG SAM2_CHECKPOINT_SHA256=""
# The daemon verifies the checkpoint again at start (roto_gpu.model.checkpoints), same sha256.
ENV ROTO_MODEL_SIZE=${SAM2_MODEL_SIZE} \
    ROTO_MODEL_CHECKPOINT=/opt/models/sam2.pt \
    ROTO_MODEL_CHECKPOINT_SHA256=${SAM2_CHECKPOINT_SHA256}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/opt/app \
    HOME=/tmp \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
RUN groupadd --system --gid 10001 roto \
    && useradd --system --uid 10001 --gid roto --no-create-home --shell /usr/sbin/nologin roto
# Largest and steadiest first: CPython and the dependencies, the checkpoint, then the app.
COPY --from=gpu-deps /opt/python /opt/python
COPY --from=gpu-deps /opt/venv /opt/venv
COPY --from=weights /models/sam2.pt /opt/models/sam2.pt
COPY --from=gpu-build /opt/app /opt/app
COPY --chmod=0755 infra/docker/healthcheck.py /usr/local/bin/roto-healthcheck
COPY --chmod=0755 infra/docker/worker_guard.py /usr/local/bin/roto-worker-guard
WORKDIR /tmp
USER 10001
HEALTHCHECK --interval=30s --timeout=5s --start-period=300s --retries=3 CMD ["roto-healthcheck", "worker"]
CMD ["python", "-m", "roto.worker", "--role", "gpu"]
