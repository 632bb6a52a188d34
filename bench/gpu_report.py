"""The Markdown table ``bench/gpu.py`` prints from its JSON report: one row per figure, one column
per model size; a figure that is missing (its section skipped or failed) shows as a dash.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def table(results: dict[str, Any]) -> str:
    def fmt(value: Any, digits: int = 1) -> str:
        if isinstance(value, float):
            return f"{value:.{digits}f}"
        return "—" if value is None else str(value)

    lines = ["| figure | " + " | ".join(results["sizes"]) + " |"]
    lines.append("|---" * (len(results["sizes"]) + 1) + "|")
    rows: list[tuple[str, Callable[[dict[str, Any]], Any], int]] = []

    def get(*path: str) -> Callable[[dict[str, Any]], Any]:
        def pick(data: dict[str, Any]) -> Any:
            for key in path:
                if not isinstance(data, dict) or key not in data:
                    return None
                data = data[key]
            return data

        return pick

    rows += [
        (
            "backend (dtype)",
            lambda d: f"{get('model', 'backend')(d)} ({get('model', 'dtype')(d)})",
            0,
        ),
        ("propagation fps, ours, 1 video", get("propagation", "ours_1"), 1),
        ("propagation fps, ours, 4 videos at once", get("propagation", "ours_4"), 1),
        ("fps, SAM2VideoPredictor eager, 1 video", get("propagation", "eager_1"), 1),
        ("fps, eager, 4 videos one after another", get("propagation", "eager_4_sequential"), 1),
        ("fps, vos_optimized, 1 video", get("propagation", "vos_1"), 1),
        ("fps, vos_optimized, 4 one after another", get("propagation", "vos_4_sequential"), 1),
        ("ratio ours/eager, 1 video (target ≥ 1.5)", get("propagation", "ratio_1_vs_eager"), 2),
        ("ratio ours/vos, 1 video (target ≥ 0.9)", get("propagation", "ratio_1_vs_vos"), 2),
        ("ratio ours x4/vos sequential (target ≥ 1.2)", get("propagation", "ratio_4_vs_vos"), 2),
        ("mask IoU vs eager, mean (target ≥ 0.99)", get("propagation", "iou_vs_eager_mean"), 3),
        ("mask IoU vs eager, min", get("propagation", "iou_vs_eager_min"), 3),
        ("click cached p50 / p99 ms, idle", lambda d: pair(d, "cached_idle"), 0),
        ("click uncached p50 / p99 ms, idle", lambda d: pair(d, "uncached_idle"), 0),
        (
            "click cached p50 / p99 ms, 4 propagations",
            lambda d: pair(d, "cached_4_propagations"),
            0,
        ),
        (
            "click uncached p50 / p99 ms, 4 propagations",
            lambda d: pair(d, "uncached_4_propagations"),
            0,
        ),
        ("GPU peak MiB, 600/60 frames (target ≤ 1.1)", get("memory", "ratio_long_short"), 2),
    ]
    for backend in ("eager", "compile", "aot", "tensorrt"):
        for batch in (1, 8):
            rows.append((f"image encoder ms, {backend}, batch {batch}", enc(backend, batch), 1))
    for label, pick, digits in rows:
        cells = [fmt(pick(results["results"][size]), digits) for size in results["sizes"]]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def pair(data: dict[str, Any], name: str) -> str | None:
    figures = data.get("clicks")
    if not isinstance(figures, dict) or f"{name}_p50_ms" not in figures:
        return None
    return f"{figures[f'{name}_p50_ms']:.1f} / {figures[f'{name}_p99_ms']:.1f}"


def enc(backend: str, batch: int) -> Callable[[dict[str, Any]], Any]:
    def pick(data: dict[str, Any]) -> Any:
        figures = data.get("encoder")
        if not isinstance(figures, dict):
            return None
        value = figures.get(backend)
        if isinstance(value, dict):
            return value.get(f"batch_{batch}_ms")
        return None if value is None else str(value).split(":")[0]

    return pick
