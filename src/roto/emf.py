"""Application metrics for CloudWatch as EMF (Embedded Metric Format) lines on stdout.

In AWS the awslogs driver carries stdout to CloudWatch Logs, which extracts the metrics from each
line: no agent and no API call on the hot path. The names, units and dimensions are the contract
of infra/README.md ("App metrics"); the dashboard and the alarms read exactly these. Logs go to
stderr (``roto.logging``), so stdout holds nothing but these lines. Off unless
``ROTO_METRICS_EMF`` is true: tests and ``make run`` print none.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Literal, TextIO

from roto.settings import Settings

NAMESPACE = "Roto"
Unit = Literal["Seconds", "Milliseconds", "Count", "Bytes", "Percent"]


class MetricLog:
    """Writes one EMF line per value, with the ``Env`` dimension on every metric."""

    def __init__(self, env: str, *, enabled: bool, stream: TextIO | None = None) -> None:
        self.env = env
        self.enabled = enabled
        self._stream = stream
        # The GPU batcher's thread and the event loop both write; a line must never interleave.
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> MetricLog:
        return cls(settings.env, enabled=settings.metrics_emf)

    @classmethod
    def off(cls) -> MetricLog:
        return cls("", enabled=False)

    def put(self, name: str, value: float, unit: Unit, **dimensions: str) -> None:
        """Record ``value`` of metric ``name``; ``dimensions`` come beside ``Env``."""
        if not self.enabled:
            return
        line = emf_line(name, value, unit, {"Env": self.env, **dimensions}, time.time())
        stream = self._stream or sys.stdout
        with self._lock:
            stream.write(line + "\n")
            stream.flush()


def emf_line(name: str, value: float, unit: Unit, dimensions: dict[str, str], now_s: float) -> str:
    """One metric value as an EMF JSON object: the ``_aws`` metadata names the metric and its
    dimension set; the value and each dimension are top-level members of the same object."""
    metadata = {
        "Timestamp": int(now_s * 1000),
        "CloudWatchMetrics": [
            {
                "Namespace": NAMESPACE,
                "Dimensions": [list(dimensions)],
                "Metrics": [{"Name": name, "Unit": unit}],
            }
        ],
    }
    return json.dumps({"_aws": metadata, **dimensions, name: value}, separators=(",", ":"))


class CountTally:
    """Sums a ``Count`` metric and puts the sum at most once per ``interval_s`` (and on
    ``flush``): one line per propagated frame would flood the log; CloudWatch adds the sums."""

    def __init__(self, metrics: MetricLog, name: str, interval_s: float = 10.0) -> None:
        self._metrics = metrics
        self._name = name
        self._interval_s = interval_s
        self._count = 0
        self._since = time.monotonic()

    def add(self, count: int = 1) -> None:
        self._count += count
        if time.monotonic() - self._since >= self._interval_s:
            self.flush()

    def flush(self) -> None:
        if self._count:
            self._metrics.put(self._name, self._count, "Count")
        self._count = 0
        self._since = time.monotonic()
