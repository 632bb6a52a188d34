"""Write src/rle/fixtures.json: masks and their COCO RLE from pycocotools, the encoder the API
uses, so the web app's decoder is checked against the real thing.

    .venv/bin/python web/scripts/make_rle_fixtures.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

TARGET = Path(__file__).resolve().parents[1] / "src" / "rle" / "fixtures.json"


def disc(height: int, width: int, cx: int, cy: int, radius: int) -> np.ndarray:
    yy, xx = np.ogrid[:height, :width]
    return ((xx - cx) ** 2 + (yy - cy) ** 2 <= radius**2).astype(np.uint8)


def cases() -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(8)
    ring = disc(108, 192, 96, 54, 40) - disc(108, 192, 96, 54, 20)
    long_runs = np.zeros((600, 800), dtype=np.uint8)
    long_runs[:, 60:760] = 1  # whole columns: runs far over 2**15 in column-major order
    return [
        ("empty", np.zeros((7, 5), dtype=np.uint8)),
        ("full", np.ones((4, 9), dtype=np.uint8)),
        ("single pixel", np.pad(np.ones((1, 1), dtype=np.uint8), ((3, 1), (2, 4)))),
        ("first pixel", np.pad(np.ones((1, 1), dtype=np.uint8), ((0, 5), (0, 5)))),
        ("last pixel", np.pad(np.ones((1, 1), dtype=np.uint8), ((5, 0), (5, 0)))),
        ("disc", disc(108, 192, 60, 50, 18)),
        ("ring", ring),
        ("random noise", (rng.random((31, 47)) > 0.5).astype(np.uint8)),
        ("sparse noise", (rng.random((64, 33)) > 0.97).astype(np.uint8)),
        ("large rectangle", long_runs),
    ]


def pack_rows(mask: np.ndarray) -> list[str]:
    """Row-major runs of the mask as [start, length] pairs per row, compact for big masks."""
    rows = []
    for row in mask:
        padded = np.concatenate([[0], row, [0]])
        edges = np.flatnonzero(np.diff(padded))
        rows.append(" ".join(f"{a}:{b - a}" for a, b in zip(edges[::2], edges[1::2], strict=True)))
    return rows


def main() -> None:
    fixtures = []
    for name, mask in cases():
        rle = mask_utils.encode(np.asfortranarray(mask))
        fixtures.append(
            {
                "name": name,
                "rle": {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode()},
                "area": int(mask_utils.area(rle)),
                "rows": pack_rows(mask),
            }
        )
    TARGET.write_text(json.dumps(fixtures, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(fixtures)} masks to {TARGET}")


if __name__ == "__main__":
    main()
