"""The format writers, by the ``format`` name of the API."""

from __future__ import annotations

from roto.exports.formats.base import FormatWriter
from roto.exports.formats.datasets import CocoJson, YoloSegmentation
from roto.exports.formats.movies import OverlayMovie, ProresMovies
from roto.exports.formats.sequences import ExrMattes, PngMattes, RgbaPngs

WRITERS: dict[str, type[FormatWriter]] = {
    "png_sequence": PngMattes,
    "rgba_png_sequence": RgbaPngs,
    "exr_sequence": ExrMattes,
    "prores_4444": ProresMovies,
    "overlay_mp4": OverlayMovie,
    "coco_json": CocoJson,
    "yolo_seg": YoloSegmentation,
}
