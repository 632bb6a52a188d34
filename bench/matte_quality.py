"""Matte quality against a known alpha: binary, ``guided`` and ``matting`` soft edges.

A synthetic 1080p plate is composited from a textured background and a textured foreground
object through a known soft alpha: a body with a feathered (motion-blurred) side and a crown of
hair-like strands, each a pixel or two wide and partly transparent. The mask the matte starts
from is what a segmenter gives at best: the true alpha thresholded at 0.5. Each method's alpha
is compared with the truth: SAD (sum of absolute differences, in thousands, as matting
benchmarks report it) and MSE (x1000), over the whole frame and over the edge band where the
truth is fractional; and the seconds one 1080p frame takes (the median of ``--repeats`` runs of
the code the export job and the matte endpoint run).

    .venv/bin/python bench/matte_quality.py --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import cv2
import numpy as np

from roto.masks import rle
from roto.mattes.render import MatteFrame, matte_array, shape
from roto.mattes.schemas import Matte

Palette = tuple[tuple[int, int, int], ...]


def texture(height: int, width: int, seed: int, palette: Palette) -> np.ndarray:
    """Smooth coloured noise with fine grain: a stand-in for a real background or costume."""
    rng = np.random.default_rng(seed)
    out = np.zeros((height, width, 3), dtype=np.float32)
    for scale, weight in ((64, 0.55), (16, 0.3), (3, 0.15)):
        small = rng.random((height // scale + 2, width // scale + 2, 1)).astype(np.float32)
        out += weight * cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)[..., None]
    colours = np.array(palette, dtype=np.float32) / 255
    t = np.clip(out[..., 0], 0, 1) * (len(colours) - 1)
    low = np.floor(t).astype(int)
    high = np.minimum(low + 1, len(colours) - 1)
    frac = (t - low)[..., None]
    result: np.ndarray = colours[low] * (1 - frac) + colours[high] * frac
    return result


def true_alpha(height: int, width: int, seed: int) -> np.ndarray:
    """A body (ellipse) whose right side is feathered over ~12 px, with hair strands on top."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    cx, cy, rx, ry = width * 0.48, height * 0.62, width * 0.17, height * 0.33
    distance = (np.hypot((xx - cx) / rx, (yy - cy) / ry) - 1) * min(rx, ry)
    softness = np.where(xx > cx + 0.3 * rx, 6.0, 0.8)  # a motion-blurred right side
    alpha = np.clip(0.5 - distance / (2 * softness), 0, 1)
    rng = np.random.default_rng(seed)
    hair = np.zeros((height, width), dtype=np.float32)
    for _ in range(260):
        angle = rng.uniform(-2.4, -0.7)  # upwards, fanned out
        bx = cx + rx * 0.9 * np.cos(angle) * rng.uniform(0.85, 1.0)
        by = cy + ry * 0.95 * np.sin(angle) * rng.uniform(0.9, 1.0)
        length = rng.uniform(25, 70) * height / 1080
        curl = rng.uniform(-0.4, 0.4)
        points = []
        for t in np.linspace(0, 1, 24):
            a = angle + curl * t
            points.append((bx + np.cos(a) * length * t, by + np.sin(a) * length * t))
        path = np.round(np.array(points) * 16).astype(np.int32)
        strand = np.zeros((height, width), dtype=np.uint8)
        cv2.polylines(strand, [path], False, 255, thickness=1, lineType=cv2.LINE_AA, shift=4)
        hair = np.maximum(hair, strand.astype(np.float32) / 255 * rng.uniform(0.5, 0.9))
    return np.maximum(alpha, hair)


def plate(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(the composited plate as uint8 RGB, the true alpha)."""
    background = texture(height, width, 1, ((40, 70, 30), (90, 120, 60), (150, 140, 90)))
    foreground = texture(height, width, 2, ((150, 60, 40), (210, 150, 110), (90, 40, 30)))
    alpha = true_alpha(height, width, 3)
    image = alpha[..., None] * foreground + (1 - alpha[..., None]) * background
    return np.clip(np.rint(image * 255), 0, 255).astype(np.uint8), alpha


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    pixels, truth = plate(args.height, args.width)
    mask = rle.encode(truth > 0.5)
    edge = (truth > 0.01) & (truth < 0.99)
    print(f"plate {args.width}x{args.height}; edge band (fractional truth): {edge.sum()} px")
    columns = ("SAD/1e3", "MSE x1e3", "band SAD", "band MSE", "s/frame")
    print(f"{'method':<10}" + "".join(f"{c:>10}" for c in columns))
    for soft in ("none", "guided", "matting"):
        matte = Matte(soft_edges=soft)  # type: ignore[arg-type]
        times = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            frame = MatteFrame(matte, [shape(mask, matte)], 0, pixels if soft != "none" else None)
            alpha = matte_array(frame, np.float32)
            times.append(time.perf_counter() - started)
        error = alpha - truth
        sad, mse = np.abs(error).sum() / 1e3, float((error**2).mean()) * 1e3
        band_sad = np.abs(error[edge]).sum() / 1e3
        band_mse = float((error[edge] ** 2).mean()) * 1e3
        name = "binary" if soft == "none" else soft
        print(
            f"{name:<10}{sad:>10.2f}{mse:>10.3f}{band_sad:>10.2f}{band_mse:>10.2f}"
            f"{statistics.median(times):>10.3f}"
        )


if __name__ == "__main__":
    main()
