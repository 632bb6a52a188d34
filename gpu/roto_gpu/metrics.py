"""Metrics of the dynamic batcher: Prometheus, on a registry the daemon serves, and the batch
size as a CloudWatch metric (``BatchSize``, EMF; roto.emf)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from roto.emf import MetricLog

BATCH_SIZE_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)
# Queue waits are milliseconds when healthy and seconds when the GPU falls behind.
WAIT_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
MODEL_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


class BatcherMetrics:
    """Batch size, queue wait and model time per kind, request outcomes and queue depth."""

    def __init__(
        self, registry: CollectorRegistry | None = None, cloud: MetricLog | None = None
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._cloud = cloud or MetricLog.off()
        self.batch_size = Histogram(
            "roto_batch_size",
            "Requests per model call",
            ["kind"],
            buckets=BATCH_SIZE_BUCKETS,
            registry=self.registry,
        )
        self.queue_wait = Histogram(
            "roto_batch_queue_wait_seconds",
            "Time from submit to the start of the request's batch",
            ["kind", "priority"],
            buckets=WAIT_BUCKETS,
            registry=self.registry,
        )
        self.model_time = Histogram(
            "roto_batch_model_seconds",
            "Time in the model function per call",
            ["kind"],
            buckets=MODEL_BUCKETS,
            registry=self.registry,
        )
        self.requests = Counter(
            "roto_batch_requests",
            "Requests by outcome: ok, error, deadline, rejected, closed",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "roto_batch_queue_depth", "Requests waiting for the model", registry=self.registry
        )

    def observe_batch(self, kind: str, size: int) -> None:
        """One model call of ``size`` requests of ``kind``."""
        self.batch_size.labels(kind).observe(size)
        self._cloud.put("BatchSize", size, "Count")
