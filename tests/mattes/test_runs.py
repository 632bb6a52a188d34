"""Masks as column segments straight from COCO RLE, checked against pycocotools (decoding) and
OpenCV's connected components (holes, islands) on random masks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from roto.masks import rle
from roto.masks.rle import counts_of
from roto.mattes.runs import (
    background_of,
    fill_holes,
    merge,
    rasterise,
    remove_islands,
    rle_runs,
    segments_of,
)


def random_masks(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    masks = []
    for trial in range(count):
        height, width = (int(v) for v in rng.integers(1, 40, 2))
        mask = rng.random((height, width)) < rng.random()
        if trial % 2:  # blobs with holes as well as salt and pepper
            kernel = np.ones((2, 2), np.uint8)
            mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, kernel).astype(bool)
        masks.append(mask)
    return masks


MASKS = random_masks(120)


@pytest.mark.parametrize("mask", MASKS[:40])
def test_runs_and_rows_are_the_rle_as_pycocotools_reads_it(mask: np.ndarray) -> None:
    encoded = rle.encode(mask)
    assert rle_runs(encoded).tolist() == counts_of(encoded.counts)
    segments = segments_of(encoded)
    height = mask.shape[0]
    assert np.array_equal(rasterise(segments, 0, height), rle.decode(encoded))
    for top in range(0, height, 7):
        assert np.array_equal(rasterise(segments, top, min(height, top + 5)), mask[top : top + 5])
    assert np.array_equal(rasterise(background_of(segments), 0, height), ~mask)


def reference_islands(mask: np.ndarray, limit: int) -> np.ndarray:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        mask.astype(np.uint8), connectivity=8
    )
    kept = mask.copy()
    for label in range(1, count):
        if stats[label, cv2.CC_STAT_AREA] <= limit:
            kept[labels == label] = False
    return kept


def reference_holes(mask: np.ndarray, limit: int) -> np.ndarray:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        (~mask).astype(np.uint8), connectivity=4
    )
    filled = mask.copy()
    height, width = mask.shape
    for label in range(1, count):
        ys, xs = np.nonzero(labels == label)
        if ys.min() == 0 or xs.min() == 0 or ys.max() == height - 1 or xs.max() == width - 1:
            continue
        if stats[label, cv2.CC_STAT_AREA] <= limit:
            filled[labels == label] = True
    return filled


@pytest.mark.parametrize("mask", MASKS)
def test_islands_and_holes_are_opencvs_connected_components(mask: np.ndarray) -> None:
    segments = segments_of(rle.encode(mask))
    height = mask.shape[0]
    for limit in (1, 4, 15):
        islands = rasterise(remove_islands(segments, limit), 0, height)
        assert np.array_equal(islands, reference_islands(mask, limit))
        holes = rasterise(fill_holes(segments, limit), 0, height)
        assert np.array_equal(holes, reference_holes(mask, limit))


def test_a_union_merges_overlapping_and_touching_segments() -> None:
    first, second = MASKS[3], MASKS[5]
    height, width = min(first.shape[0], second.shape[0]), min(first.shape[1], second.shape[1])
    a, b = first[:height, :width], second[:height, :width]
    union = merge([segments_of(rle.encode(a)), segments_of(rle.encode(b))])
    assert np.array_equal(rasterise(union, 0, height), a | b)
    # Non-touching: a second merge changes nothing.
    again = merge([union])
    assert np.array_equal(again.y0, union.y0) and np.array_equal(again.y1, union.y1)


def test_a_big_frame_costs_its_outline_not_its_area() -> None:
    yy, xx = np.mgrid[0:8192, 0:8192]
    disc = (xx - 4000) ** 2 + (yy - 4000) ** 2 < 3000**2
    segments = segments_of(rle.encode(disc))
    assert segments.col.size == 5999  # one segment per column it covers
    assert segments.area == int(disc.sum())
