"""Print one trace from the OTLP JSON lines that `make run` writes under ``.roto/traces/``: its
spans as a tree, by process, with when each started and how long it took. By default the latest
trace with a span whose name contains ``--name`` (default: the latest click). Standard library
only.

    python scripts/trace_tree.py [.roto/traces] [--name /prompts | --trace TRACE_ID]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

SHOWN_ATTRIBUTES = (
    "http.response.status_code",
    "roto.job.id",
    "roto.job.disposition",
    "roto.batcher.batch_size",
)


def read_spans(directory: Path) -> list[dict[str, Any]]:
    """Every span in the directory's ``*.jsonl`` files, with its process's service name."""
    spans = []
    for path in sorted(directory.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.endswith("}"):
                continue  # a line still being written
            for resource_spans in json.loads(line).get("resourceSpans", []):
                resource = attributes(resource_spans.get("resource", {}))
                for scope_spans in resource_spans.get("scopeSpans", []):
                    for span in scope_spans.get("spans", []):
                        spans.append({**span, "service": resource.get("service.name", "?")})
    return spans


def attributes(item: dict[str, Any]) -> dict[str, Any]:
    """An OTLP attribute list as a dict of plain values."""
    return {a["key"]: next(iter(a["value"].values()), None) for a in item.get("attributes", [])}


def pick_trace(spans: list[dict[str, Any]], trace_id: str | None, name: str) -> str | None:
    if trace_id is not None:
        return trace_id
    matching = [s for s in spans if name in s["name"]]
    if not matching:
        return None
    latest: str = max(matching, key=lambda s: int(s["startTimeUnixNano"]))["traceId"]
    return latest


def render(spans: list[dict[str, Any]]) -> list[str]:
    """The spans of one trace as indented lines: offset from the trace's start, duration."""
    ids = {s["spanId"] for s in spans}
    children: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for span in spans:
        parent = span.get("parentSpanId")
        children[parent if parent in ids else None].append(span)
    start = min(int(s["startTimeUnixNano"]) for s in spans)
    lines: list[str] = []

    def walk(parent: str | None, depth: int) -> None:
        for span in sorted(children[parent], key=lambda s: int(s["startTimeUnixNano"])):
            began = (int(span["startTimeUnixNano"]) - start) / 1e6
            took = (int(span["endTimeUnixNano"]) - int(span["startTimeUnixNano"])) / 1e6
            shown = {k: v for k, v in attributes(span).items() if k in SHOWN_ATTRIBUTES}
            extra = " ".join(f"{k}={v}" for k, v in shown.items())
            error = " ERROR" if span.get("status", {}).get("code") == 2 else ""
            lines.append(
                f"{began:9.1f} ms {took:9.1f} ms  {span['service']:<16} "
                f"{'  ' * depth}{span['name']}{error}  {extra}".rstrip()
            )
            walk(span["spanId"], depth + 1)

    walk(None, 0)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", nargs="?", default=".roto/traces", type=Path)
    parser.add_argument("--trace", help="the trace id (32 hex digits)")
    parser.add_argument("--name", default="/prompts", help="pick the latest trace with this span")
    args = parser.parse_args(argv)
    spans = read_spans(args.directory)
    trace_id = pick_trace(spans, args.trace, args.name)
    chosen = [s for s in spans if s["traceId"] == trace_id]
    if not chosen:
        print(f"no such trace under {args.directory}", file=sys.stderr)
        return 1
    print(f"trace {trace_id}: {len(chosen)} spans")
    print("\n".join(render(chosen)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
