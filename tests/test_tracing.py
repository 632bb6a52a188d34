"""Tracing set up from the settings: OTLP JSON lines under ``traces_dir`` that parse back into
the spans made, with their ids and parents; nothing at all when nothing is configured."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace

from roto import tracing
from roto.logging import add_trace_ids
from roto.settings import load_settings
from tests.tracing_support import named, recorded_spans, trace_tree

HEX_TRACE_ID = 32
HEX_SPAN_ID = 16


@pytest.fixture(autouse=True)
def tracing_off(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in (*tracing.ENDPOINT_VARIABLES, "OTEL_SERVICE_NAME"):
        monkeypatch.delenv(name, raising=False)
    yield
    tracing.stop_tracing()


def read_lines(directory: Path) -> tuple[list[Path], list[dict[str, Any]]]:
    files = sorted(directory.glob("*.jsonl"))
    lines = [json.loads(line) for path in files for line in path.read_text().splitlines()]
    return files, lines


def spans_of(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        span
        for line in lines
        for resource_spans in line["resourceSpans"]
        for scope_spans in resource_spans["scopeSpans"]
        for span in scope_spans["spans"]
    ]


def test_spans_are_written_as_otlp_json_lines_with_their_ids_and_parents(tmp_path: Path) -> None:
    settings = load_settings({}, env="qa", traces_dir=str(tmp_path / "traces"))
    assert tracing.start_tracing(settings, "api")
    tracer = tracing.tracer()
    with (
        tracer.start_as_current_span("outer", kind=trace.SpanKind.SERVER) as outer,
        tracer.start_as_current_span("inner", attributes={"roto.n": 3}) as inner,
    ):
        traceparent = tracing.current_traceparent()
    tracing.stop_tracing()

    files, lines = read_lines(tmp_path / "traces")
    assert [path.name for path in files] == [f"roto-qa-api-{os.getpid()}.jsonl"]
    resource = lines[0]["resourceSpans"][0]["resource"]["attributes"]
    assert {"key": "service.name", "value": {"stringValue": "roto-qa-api"}} in resource
    assert {"key": "deployment.environment", "value": {"stringValue": "qa"}} in resource
    by_name = {span["name"]: span for span in spans_of(lines)}
    assert set(by_name) == {"outer", "inner"}
    trace_id = f"{outer.get_span_context().trace_id:032x}"
    assert by_name["outer"]["traceId"] == by_name["inner"]["traceId"] == trace_id
    assert len(trace_id) == HEX_TRACE_ID
    assert by_name["outer"]["spanId"] == f"{outer.get_span_context().span_id:016x}"
    assert by_name["inner"]["spanId"] == f"{inner.get_span_context().span_id:016x}"
    assert len(by_name["inner"]["spanId"]) == HEX_SPAN_ID
    assert by_name["inner"]["parentSpanId"] == by_name["outer"]["spanId"]
    assert "parentSpanId" not in by_name["outer"]
    assert by_name["outer"]["kind"] == trace.SpanKind.SERVER.value + 1  # OTLP counts from 1
    assert {"key": "roto.n", "value": {"intValue": "3"}} in by_name["inner"]["attributes"]
    assert int(by_name["inner"]["endTimeUnixNano"]) >= int(by_name["inner"]["startTimeUnixNano"])
    assert traceparent is not None
    assert traceparent.startswith(f"00-{trace_id}-{by_name['inner']['spanId']}-")


def test_spans_reach_the_file_while_the_process_runs(tmp_path: Path) -> None:
    settings = load_settings({}, traces_dir=str(tmp_path))
    tracing.start_tracing(settings, "gpu")
    with tracing.tracer().start_as_current_span("job segment"):
        pass
    assert tracing._provider is not None
    assert tracing._provider.force_flush()  # what the export thread does every half second

    _, lines = read_lines(tmp_path)
    assert [span["name"] for span in spans_of(lines)] == ["job segment"]


def test_otel_service_name_overrides_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "roto-prod-gpu")
    settings = load_settings({}, env="dev")
    assert tracing.service_name(settings, "gpu") == "roto-prod-gpu"
    monkeypatch.delenv("OTEL_SERVICE_NAME")
    assert tracing.service_name(settings, "media") == "roto-dev-media"


def test_nothing_configured_means_no_tracing_and_no_context_to_carry() -> None:
    assert not tracing.start_tracing(load_settings({}), "api")
    assert not tracing.is_enabled()
    with tracing.tracer().start_as_current_span("ignored") as span:
        assert not span.get_span_context().is_valid
        assert tracing.current_traceparent() is None


def test_a_traceparent_names_its_parent_and_garbage_names_none() -> None:
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    context = trace.get_current_span(tracing.context_from({"traceparent": parent}))
    assert f"{context.get_span_context().trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert context.get_span_context().is_remote
    nothing = trace.get_current_span(tracing.context_from({"traceparent": "not-a-context"}))
    assert not nothing.get_span_context().is_valid


def test_trace_tree_prints_the_latest_matching_trace_as_a_tree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tracing.start_tracing(load_settings({}, traces_dir=str(tmp_path)), "api")
    tracer = tracing.tracer()
    with tracer.start_as_current_span("POST /v1/videos/{video_id}/prompts"):
        pass  # an earlier click, in a trace of its own
    with tracer.start_as_current_span("POST /v1/videos/{video_id}/prompts") as click:
        with tracer.start_as_current_span("send interactive"):
            pass
        with tracer.start_as_current_span("model keyframe"):
            pass
    tracing.stop_tracing()
    assert trace_tree().main([str(tmp_path)]) == 0

    heading, *rows = capsys.readouterr().out.splitlines()
    assert heading == f"trace {click.get_span_context().trace_id:032x}: 3 spans"
    names = [row.split("roto-dev-api", 1)[1].rstrip() for row in rows]
    assert names == [
        "     POST /v1/videos/{video_id}/prompts",
        "       send interactive",
        "       model keyframe",
    ]


def test_log_lines_inside_a_span_carry_its_trace_and_span_ids() -> None:
    with recorded_spans() as exporter:
        with tracing.tracer().start_as_current_span("work"):
            inside = add_trace_ids(None, "info", {"event": "inside"})
        outside = add_trace_ids(None, "info", {"event": "outside"})
    span = named(exporter, "work")
    assert inside["trace_id"] == format(span.context.trace_id, "032x")
    assert inside["span_id"] == format(span.context.span_id, "016x")
    assert "trace_id" not in outside and "span_id" not in outside


def test_starting_to_trace_deletes_the_files_no_process_has_written_for_a_week(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "traces"
    folder.mkdir()
    stale, recent, other = (
        folder / "roto-dev-api-1.jsonl",
        folder / "roto-dev-gpu-2.jsonl",
        folder / "notes.txt",
    )
    for path in (stale, recent, other):
        path.write_text("{}\n")
    eight_days_ago = time.time() - 8 * 24 * 3600
    for path in (stale, other):
        os.utime(path, (eight_days_ago, eight_days_ago))

    settings = load_settings({}, env="qa", traces_dir=str(folder))
    assert tracing.start_tracing(settings, "api")
    tracing.stop_tracing()

    left = sorted(path.name for path in folder.iterdir())
    # The week-old span file went; a recent one, a file not of spans and this process's stay.
    assert left == sorted([recent.name, other.name, f"roto-qa-api-{os.getpid()}.jsonl"])
