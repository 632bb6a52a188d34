"""Finished spans as OTLP JSON lines: each export is one line holding one
``ExportTraceServiceRequest`` in the OTLP JSON encoding (ids in hex, enums as numbers), the form
the OpenTelemetry collector's file exporter writes and its OTLP JSON receivers read."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

ID_FIELDS = ("traceId", "spanId", "parentSpanId")
#: A process's file of spans is deleted by the next process that starts tracing to the same
#: folder once nothing has written to it for this long, so the folder does not grow without end
#: across sessions.
KEEP_UNTOUCHED_S = 7 * 24 * 3600.0


def encode_line(spans: Sequence[ReadableSpan]) -> str:
    """``spans`` as one line of OTLP JSON (without its newline)."""
    data = json_format.MessageToDict(encode_spans(spans), use_integers_for_enums=True)
    for resource_spans in data.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                _hex_ids(span)
                for link in span.get("links", []):
                    _hex_ids(link)
    return json.dumps(data, separators=(",", ":"))


def _hex_ids(item: dict[str, Any]) -> None:
    # Protobuf's JSON mapping writes bytes in base64; OTLP JSON wants trace and span ids in hex.
    for name in ID_FIELDS:
        if name in item:
            item[name] = base64.b64decode(item[name]).hex()


class JsonLinesSpanExporter(SpanExporter):
    """Appends each batch of finished spans to ``path`` as one line, flushed at once."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        line = encode_line(spans)
        with self._lock:
            if self._file.closed:
                return SpanExportResult.FAILURE
            try:
                self._file.write(line + "\n")
                self._file.flush()
            except OSError:
                return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            self._file.close()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def prune(folder: Path, keep_untouched_s: float = KEEP_UNTOUCHED_S) -> None:
    """Delete the span files in ``folder`` (if it exists) that nothing has written to for
    ``keep_untouched_s``; a live process's file is written at least on every export."""
    cutoff = time.time() - keep_untouched_s
    for path in folder.glob("*.jsonl"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except FileNotFoundError:  # another process pruned it first
            continue
