"""The GPU daemon as a worker role (``python -m roto.worker --role gpu``): one SAM2 model and one
dynamic batcher per process, shared by every job it runs at once. It publishes what model it runs
(the API's /readyz shows it) and serves the batcher's metrics over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any
from wsgiref.simple_server import WSGIServer

import msgspec
import structlog
from prometheus_client import start_http_server
from redis.exceptions import RedisError

from roto.jobs.contracts import PROPAGATE, SEGMENT
from roto.resources import Resources
from roto.settings import Settings
from roto.worker.contract import JobHandler, Role
from roto_gpu.batcher import Batcher, ModelFunction
from roto_gpu.engine import Engine
from roto_gpu.frame_embeddings import EmbeddingCache, FrameEmbeddings
from roto_gpu.jobs.propagate import PropagateJobs
from roto_gpu.jobs.segment import SegmentJobs
from roto_gpu.metrics import BatcherMetrics
from roto_gpu.model.sam2_model import Sam2Model, load_model
from roto_gpu.tracking.tracker import VideoTracker

log = structlog.get_logger(__name__)

#: Where the API reads the model's description; it expires if no daemon refreshes it.
MODEL_INFO_KEY = "roto:model:info"
MODEL_INFO_TTL_S = 60
MODEL_INFO_REFRESH_S = 20.0

ModelFactory = Callable[[Settings], Sam2Model]


class ModelSlot:
    """The batcher's model functions, bound once the model is built on the batcher's thread."""

    KINDS = ("encode", "keyframe", "render", "track_seed", "track_step", "track_context")

    def __init__(self) -> None:
        self._bound: dict[str, ModelFunction] = {}

    def functions(self) -> dict[str, ModelFunction]:
        return {kind: functools.partial(self._run, kind) for kind in self.KINDS}

    def bind(self, model: Sam2Model) -> Sam2Model:
        bound = {
            "encode": model.encode_images,
            "keyframe": model.decode_keyframes,
            "render": model.render_masks,
            **VideoTracker(model).functions(),
        }
        assert set(bound) == set(self.KINDS), sorted(bound)
        self._bound = bound
        return model

    def _run(self, kind: str, items: list[Any]) -> Sequence[Any]:
        return self._bound[kind](items)


class GpuDaemon:
    """Builds the engine when the worker starts and closes it after the drain."""

    def __init__(self, model_factory: ModelFactory = load_model) -> None:
        self._model_factory = model_factory
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("the GPU daemon is not serving")
        return self._engine

    @contextlib.asynccontextmanager
    async def serving(self, resources: Resources) -> AsyncIterator[Mapping[str, JobHandler]]:
        """The role's ``serve``: load the model (off the event loop), start the batcher, publish
        the model's description and serve metrics, and yield the job handlers built on that
        engine; undo it all on exit."""
        settings = resources.settings
        log.info("model_loading", size=settings.model_size, device=settings.model_device)
        metrics = BatcherMetrics()
        slot = ModelSlot()
        batcher = Batcher(
            slot.functions(),
            max_batch_size=settings.batch_max_size,
            max_wait_ms=settings.batch_max_wait_ms,
            queue_limit=settings.batch_queue_limit,
            metrics=metrics,
            name="sam2",
        )
        try:
            # Built on the model thread, where it will run (see Batcher.call).
            model = await batcher.call(lambda: slot.bind(self._model_factory(settings)))
        except BaseException:
            await batcher.close()
            raise
        cache = EmbeddingCache(
            resources.redis,
            ttl_s=settings.embedding_cache_ttl_s,
            max_entries=settings.embedding_cache_max_entries,
        )
        embeddings = FrameEmbeddings(cache, local_entries=settings.embedding_local_entries)
        engine = self._engine = Engine(resources, model, batcher, embeddings)
        server = start_metrics_server(settings, metrics)
        await publish_model_info(resources.redis, model.info())
        stop_publishing = asyncio.Event()
        publisher = asyncio.create_task(
            keep_model_info(resources.redis, model.info(), stop_publishing), name="model-info"
        )
        try:
            yield {
                SEGMENT.name: SegmentJobs(engine).handler(),
                PROPAGATE.name: PropagateJobs(engine).handler(),
            }
        finally:
            # An event, not a cancel: redis-py can swallow a CancelledError that lands inside a
            # command (redis/redis-py#2028), and the loop would then never end.
            stop_publishing.set()
            await publisher
            if server is not None:
                await asyncio.to_thread(server.shutdown)
                server.server_close()
            await embeddings.close()
            await batcher.close()
            self._engine = None


def gpu_role(daemon: GpuDaemon | None = None) -> Role:
    """The gpu worker role; tests pass a daemon whose model they built once."""
    daemon = daemon or GpuDaemon()
    return Role(
        name="gpu",
        queues=(SEGMENT.queue, PROPAGATE.queue),
        job_types=(SEGMENT.name, PROPAGATE.name),
        serve=daemon.serving,
    )


async def publish_model_info(redis: Any, info: dict[str, Any]) -> None:
    """Write ``info`` where /readyz reads it, for MODEL_INFO_TTL_S."""
    try:
        await redis.set(MODEL_INFO_KEY, msgspec.json.encode(info), ex=MODEL_INFO_TTL_S)
    except RedisError as exc:  # /readyz shows no model until the next refresh
        log.warning("model_info_not_published", error=repr(exc))


async def keep_model_info(redis: Any, info: dict[str, Any], stop: asyncio.Event) -> None:
    """Publish ``info`` again every MODEL_INFO_REFRESH_S, before it expires, until ``stop``."""
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), MODEL_INFO_REFRESH_S)
        if stop.is_set():
            return
        await publish_model_info(redis, info)


def start_metrics_server(settings: Settings, metrics: BatcherMetrics) -> WSGIServer | None:
    """Serve ``metrics`` in Prometheus text format on the daemon's metrics port (0: none)."""
    if settings.daemon_metrics_port <= 0:
        return None
    server, _ = start_http_server(
        settings.daemon_metrics_port, addr=settings.host, registry=metrics.registry
    )
    log.info("metrics_serving", host=settings.host, port=settings.daemon_metrics_port)
    return server
