"""The GPU daemon as a worker role (``python -m roto.worker --role gpu``): one SAM2 model, one
concept detector (SAM 3's image model) beside it, and one dynamic batcher per process, shared by
every job it runs at once. It publishes what models it runs (the API's /readyz shows them) and
serves the batcher's metrics over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import threading
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any
from wsgiref.simple_server import WSGIServer

import msgspec
import structlog
from prometheus_client import start_http_server
from redis.exceptions import RedisError

from roto.emf import MetricLog
from roto.jobs.contracts import DETECT, PROPAGATE, SEGMENT
from roto.resources import Resources
from roto.settings import Settings
from roto.waits import wait_for_event
from roto.worker.contract import JobHandler, Role
from roto_gpu.batcher import Batcher, ModelFunction
from roto_gpu.engine import Engine
from roto_gpu.frame_embeddings import EmbeddingCache, FrameEmbeddings
from roto_gpu.jobs.detect import DetectJobs
from roto_gpu.jobs.propagate import PropagateJobs
from roto_gpu.jobs.segment import SegmentJobs
from roto_gpu.metrics import BatcherMetrics
from roto_gpu.model.detector import ConceptDetector, load_detector
from roto_gpu.model.sam2_model import Sam2Model, load_model
from roto_gpu.tracking.tracker import VideoTracker

log = structlog.get_logger(__name__)

#: Where the API reads the model's description; it expires if no daemon refreshes it.
MODEL_INFO_KEY = "roto:model:info"
MODEL_INFO_TTL_S = 60
MODEL_INFO_REFRESH_S = 20.0
#: How often the daemon reports the GPU's memory and utilisation (CloudWatch, EMF).
GPU_USAGE_INTERVAL_S = 60.0
#: How long a stopping daemon waits for its keyframe states' writes to S3.
STATE_FLUSH_TIMEOUT_S = 10.0

ModelFactory = Callable[[Settings], Sam2Model]
#: Builds the concept detector beside SAM2 (on its device, in its precision); None: no detector.
DetectorFactory = Callable[[Settings, Sam2Model], ConceptDetector | None]


def detector_beside(settings: Settings, model: Sam2Model) -> ConceptDetector | None:
    """The concept detector of ``settings`` at SAM2's precision: one choice of device and dtype
    (``sam2_model``'s) for both models."""
    return load_detector(settings, model.device, model.dtype)


# --- Sticky CUDA errors ---------------------------------------------------------------------
# After some CUDA errors the device context is lost until the process ends: every later call
# fails too, so each job this daemon took would fail in turn (and its messages go to the
# dead-letter queue). The daemon stops instead; its jobs come back to another daemon (or to
# this one, restarted by its container's restart policy) once their leases run out.
STICKY_CUDA_ERRORS = (
    "illegal memory access",
    "device-side assert",
    "unspecified launch failure",
    "misaligned address",
    "illegal instruction",
    "uncorrectable ecc error",
    "cuda error: unknown error",
)


def is_sticky_cuda_error(exc: BaseException) -> bool:
    """Whether ``exc`` (as torch raises it) leaves the CUDA context unusable."""
    text = str(exc).lower()
    return ("cuda" in text or "cublas" in text or "cudnn" in text) and any(
        marker in text for marker in STICKY_CUDA_ERRORS
    )


def stop_this_process(exc: BaseException) -> None:
    """Ask the worker to stop (SIGTERM: it drains, and its jobs' failed attempts are retried
    elsewhere); called from the batcher's thread."""
    log.critical("cuda_context_lost_stopping", error=str(exc)[:500])
    os.kill(os.getpid(), signal.SIGTERM)


class ModelSlot:
    """The batcher's model functions, bound once the models are built on the batcher's thread.
    A sticky CUDA error from any of them calls ``on_sticky_error`` once."""

    KINDS = ("encode", "keyframe", "render", "track_seed", "track_step", "track_context", "detect")

    def __init__(
        self, on_sticky_error: Callable[[BaseException], None] = stop_this_process
    ) -> None:
        self._bound: dict[str, ModelFunction] = {}
        self._on_sticky_error = on_sticky_error
        self._sticky = threading.Event()

    def functions(self) -> dict[str, ModelFunction]:
        return {kind: functools.partial(self._run, kind) for kind in self.KINDS}

    def bind(
        self, model: Sam2Model, detector: ConceptDetector | None
    ) -> tuple[Sam2Model, ConceptDetector | None]:
        bound = {
            "encode": model.encode_images,
            "keyframe": model.decode_keyframes,
            "render": model.render_masks,
            **VideoTracker(model).functions(),
            "detect": detector.detect if detector is not None else _no_detector,
        }
        assert set(bound) == set(self.KINDS), sorted(bound)
        self._bound = bound
        return model, detector

    def _run(self, kind: str, items: list[Any]) -> Sequence[Any]:
        try:
            return self._bound[kind](items)
        except Exception as exc:
            if is_sticky_cuda_error(exc) and not self._sticky.is_set():
                self._sticky.set()
                self._on_sticky_error(exc)
            raise


class GpuDaemon:
    """Builds the engine when the worker starts and closes it after the drain."""

    def __init__(
        self,
        model_factory: ModelFactory = load_model,
        detector_factory: DetectorFactory = detector_beside,
    ) -> None:
        self._model_factory = model_factory
        self._detector_factory = detector_factory
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("the GPU daemon is not serving")
        return self._engine

    def stalled(self) -> str | None:
        """Why the daemon must not report itself alive: a model call running for longer than
        ``worker_stall_after_s`` is a hung GPU, not a busy one (the longest real call, a
        propagation step or a compile at start, is far shorter)."""
        engine = self._engine
        if engine is None:
            return None
        busy_s = engine.batcher.busy_for_s()
        limit_s = engine.resources.settings.worker_stall_after_s
        if busy_s > limit_s:
            return f"one model call has run for {busy_s:.0f} s (limit {limit_s:g} s)"
        return None

    @contextlib.asynccontextmanager
    async def serving(self, resources: Resources) -> AsyncIterator[Mapping[str, JobHandler]]:
        """The role's ``serve``: load the models (off the event loop), start the batcher, publish
        the models' description and serve metrics, and yield the job handlers built on that
        engine; undo it all on exit."""
        settings = resources.settings
        log.info("model_loading", size=settings.model_size, device=settings.model_device)
        metrics = BatcherMetrics(cloud=resources.metrics)
        slot = ModelSlot()
        batcher = Batcher(
            slot.functions(),
            max_batch_size=settings.batch_max_size,
            max_wait_ms=settings.batch_max_wait_ms,
            queue_limit=settings.batch_queue_limit,
            metrics=metrics,
            name="sam2",
        )

        def build() -> tuple[Sam2Model, ConceptDetector | None]:
            model = self._model_factory(settings)
            return slot.bind(model, self._detector_factory(settings, model))

        try:
            # Built on the model thread, where they will run (see Batcher.call).
            model, detector = await batcher.call(build)
        except BaseException:
            await batcher.close()
            raise
        cache = EmbeddingCache(
            resources.redis,
            ttl_s=settings.embedding_cache_ttl_s,
            max_entries=settings.embedding_cache_max_entries,
        )
        embeddings = FrameEmbeddings(cache, local_entries=settings.embedding_local_entries)
        engine = self._engine = Engine(resources, model, batcher, embeddings, detector)
        server = start_metrics_server(settings, metrics)
        info = models_info(model, detector)
        await publish_model_info(resources.redis, info)
        stop_publishing = asyncio.Event()
        publisher = asyncio.create_task(
            keep_model_info(resources.redis, info, stop_publishing), name="model-info"
        )
        gpu_usage = asyncio.create_task(
            report_gpu_usage(resources.metrics, model, stop_publishing), name="gpu-usage"
        )
        try:
            yield {
                SEGMENT.name: SegmentJobs(engine).handler(),
                PROPAGATE.name: PropagateJobs(engine).handler(),
                DETECT.name: DetectJobs(engine).handler(),
            }
        finally:
            # An event, not a cancel: redis-py can swallow a CancelledError that lands inside a
            # command (redis/redis-py#2028), and the loop would then never end.
            stop_publishing.set()
            await publisher
            await gpu_usage
            if server is not None:
                await asyncio.to_thread(server.shutdown)
                server.server_close()
            # The keyframe states still being written go to S3 before the process ends.
            await engine.states.flush(STATE_FLUSH_TIMEOUT_S)
            await embeddings.close()
            await batcher.close()
            self._engine = None


def gpu_role(daemon: GpuDaemon | None = None) -> Role:
    """The gpu worker role; tests pass a daemon whose model they built once."""
    daemon = daemon or GpuDaemon()
    return Role(
        name="gpu",
        queues=(SEGMENT.queue, PROPAGATE.queue),
        job_types=(SEGMENT.name, PROPAGATE.name, DETECT.name),
        serve=daemon.serving,
        stalled=daemon.stalled,
    )


def models_info(model: Sam2Model, detector: ConceptDetector | None) -> dict[str, Any]:
    """SAM2's description with the detector's beside it (None: this daemon has no detector)."""
    return {**model.info(), "detector": detector.info() if detector is not None else None}


def _no_detector(items: list[Any]) -> Sequence[Any]:
    raise RuntimeError("this daemon has no concept detector")


async def publish_model_info(redis: Any, info: dict[str, Any]) -> None:
    """Write ``info`` where /readyz reads it, for MODEL_INFO_TTL_S."""
    try:
        await redis.set(MODEL_INFO_KEY, msgspec.json.encode(info), ex=MODEL_INFO_TTL_S)
    except RedisError as exc:  # /readyz shows no model until the next refresh
        log.warning("model_info_not_published", error=repr(exc))


async def keep_model_info(redis: Any, info: dict[str, Any], stop: asyncio.Event) -> None:
    """Publish ``info`` again every MODEL_INFO_REFRESH_S, before it expires, until ``stop``."""
    while not await wait_for_event(stop, MODEL_INFO_REFRESH_S):
        await publish_model_info(redis, info)


async def report_gpu_usage(metrics: MetricLog, model: Sam2Model, stop: asyncio.Event) -> None:
    """``GpuMemoryUsed`` and ``GpuUtilization`` every GPU_USAGE_INTERVAL_S until ``stop``;
    nothing on a CPU or with the metrics off."""
    if not metrics.enabled:
        return
    while not stop.is_set():
        usage = model.device_usage()
        if usage is None:
            return
        reserved, utilization = usage
        metrics.put("GpuMemoryUsed", reserved, "Bytes")
        if utilization is not None:
            metrics.put("GpuUtilization", utilization, "Percent")
        await wait_for_event(stop, GPU_USAGE_INTERVAL_S)


def start_metrics_server(settings: Settings, metrics: BatcherMetrics) -> WSGIServer | None:
    """Serve ``metrics`` in Prometheus text format on the daemon's metrics port (0: none)."""
    if settings.daemon_metrics_port <= 0:
        return None
    server, _ = start_http_server(
        settings.daemon_metrics_port, addr=settings.host, registry=metrics.registry
    )
    log.info("metrics_serving", host=settings.host, port=settings.daemon_metrics_port)
    return server
