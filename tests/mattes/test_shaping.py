"""Each ``Matte`` field changes the matte as the API states, checked against references computed
here from first principles (brute-force distances, explicit regions, a plate of known alpha)."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from bench.matte_quality import plate
from roto.masks import rle
from roto.mattes import render
from roto.mattes.png import PngEncoder, png_of
from roto.mattes.render import MatteFrame, matte_array, matte_png, shape
from roto.mattes.schemas import Matte


def blob(height: int = 48, width: int = 64) -> np.ndarray:
    """A non-convex shape away from the frame's edges."""
    yy, xx = np.mgrid[0:height, 0:width]
    inside = (xx - 24) ** 2 + (yy - 24) ** 2 <= 12**2
    inside |= (abs(yy - 24) <= 2) & (xx >= 24) & (xx <= 50)
    return inside


def render_matte(mask: np.ndarray, matte: Matte, dtype: type = np.uint8) -> np.ndarray:
    frame = MatteFrame(matte, [shape(rle.encode(mask), matte)], 0)
    return matte_array(frame, dtype)


def distances(points: np.ndarray, to: np.ndarray) -> np.ndarray:
    """For each pixel, the Euclidean distance to the nearest pixel of ``to`` (brute force)."""
    height, width = points.shape
    yy, xx = np.mgrid[0:height, 0:width]
    ty, tx = np.nonzero(to)
    d2 = (yy[..., None] - ty) ** 2 + (xx[..., None] - tx) ** 2
    result: np.ndarray = np.sqrt(d2.min(axis=-1))
    return result


def test_grow_3_adds_exactly_the_3_px_ring() -> None:
    mask = blob()
    grown = render_matte(mask, Matte(grow_px=3)) == 255
    ring = ~mask & (distances(mask, mask) <= 3)
    assert np.array_equal(grown & ~mask, ring)
    assert (grown | ~mask).all() or not (mask & ~grown).any()
    assert ring.any() and (grown.sum() - mask.sum()) == ring.sum()


def test_shrink_2_removes_exactly_the_pixels_within_2_px_of_the_background() -> None:
    mask = blob()
    shrunk = render_matte(mask, Matte(grow_px=-2)) == 255
    removed = mask & (distances(mask, ~mask) <= 2)
    assert np.array_equal(mask & ~shrunk, removed)
    assert not (shrunk & ~mask).any()


def test_a_mask_touching_the_frame_does_not_shrink_from_the_frame_edge() -> None:
    mask = np.zeros((20, 30), bool)
    mask[:, :12] = True  # touches the top, bottom and left edges
    shrunk = render_matte(mask, Matte(grow_px=-3)) == 255
    assert shrunk[:, :9].all() and not shrunk[:, 9:].any()


def test_feather_ramps_across_the_edge_and_leaves_pixels_further_away() -> None:
    mask = np.zeros((40, 60), bool)
    mask[:, :30] = True  # a vertical edge between columns 29 and 30
    alpha = render_matte(mask, Matte(feather_px=4)).astype(int)
    row = alpha[20]
    assert (row[:25] == 255).all() and (row[35:] == 0).all()  # further than 4 px: untouched
    ramp = row[25:35]
    assert (np.diff(ramp) <= 0).all()
    assert 0 < row[32] < row[30] < row[29] < row[27] < 255
    assert abs(int(row[29]) + int(row[30]) - 255) <= 1  # symmetric about the edge
    assert (alpha == alpha[:1]).all()  # the same on every row


def test_feathered_mattes_are_fractional_at_16_bits() -> None:
    alpha = render_matte(blob(), Matte(feather_px=3), np.uint16)
    fractional = alpha[(alpha > 0) & (alpha < 65535)]
    assert fractional.size > 50
    assert np.unique(fractional).size > 50  # not 8-bit values scaled up
    assert (fractional % 257 != 0).any()


def with_hole(height: int, width: int, hole: tuple[int, int]) -> np.ndarray:
    mask = np.zeros((height, width), bool)
    mask[5:35, 5:45] = True
    mask[15 : 15 + hole[0], 15 : 15 + hole[1]] = False
    mask[20:35, 44:] = True  # reaches the right edge ...
    mask[25:30, 47:] = False  # ... around a notch open to the edge: never a hole
    return mask


def test_holes_up_to_the_size_are_filled_and_notches_never() -> None:
    mask = with_hole(40, 50, (4, 5))  # a hole of 20 pixels
    kept = render_matte(mask, Matte(fill_holes_px=19)) == 255
    filled = render_matte(mask, Matte(fill_holes_px=20)) == 255
    assert np.array_equal(kept, mask)
    hole = np.zeros_like(mask)
    hole[15:19, 15:20] = True
    assert np.array_equal(filled, mask | hole)


def test_islands_up_to_the_size_are_removed_and_bigger_regions_kept() -> None:
    mask = blob()
    mask[2:7, 55:61] = True  # an island of 30 pixels
    island = np.zeros_like(mask)
    island[2:7, 55:61] = True
    assert np.array_equal(render_matte(mask, Matte(remove_islands_px=29)) == 255, mask)
    assert np.array_equal(render_matte(mask, Matte(remove_islands_px=30)) == 255, mask & ~island)


def test_smooth_frames_takes_the_majority_of_the_frames_around() -> None:
    base = blob()
    flicker = base.copy()
    flicker[20:28, 20:28] = False  # a hole on this frame only
    flicker[2:6, 2:6] = True  # a speck on this frame only
    matte = Matte(smooth_frames=1)
    window = [shape(rle.encode(m), matte) for m in (base, flicker, base)]
    steady = matte_array(MatteFrame(matte, window, 1), np.uint8) == 255
    assert np.array_equal(steady, base)
    alone = matte_array(MatteFrame(matte, window[1:2], 0), np.uint8) == 255
    assert np.array_equal(alone, flicker)
    # At the video's end the window is cut short; a tie keeps the frame's own value.
    tied = matte_array(MatteFrame(matte, window[1:], 0), np.uint8) == 255
    assert np.array_equal(tied, flicker)


@pytest.fixture(scope="module")
def small_plate() -> tuple[np.ndarray, np.ndarray]:
    return plate(270, 480)


@pytest.mark.parametrize("soft", ["guided", "matting"])
def test_soft_edges_follow_the_pictures_alpha_near_the_edge_only(
    small_plate: tuple[np.ndarray, np.ndarray], soft: str
) -> None:
    pixels, truth = small_plate
    mask = truth > 0.5
    binary = render_matte(mask, Matte(), np.float32)
    matte = Matte(soft_edges=soft)  # type: ignore[arg-type]
    frame = MatteFrame(matte, [shape(rle.encode(mask), matte)], 0, pixels)
    alpha = matte_array(frame, np.float32) / 1.0
    assert np.abs(alpha - truth).sum() < 0.6 * np.abs(binary - truth).sum()
    fractional = (alpha > 0) & (alpha < 1)
    assert fractional.sum() > 500
    # Only near the mask's edge: far inside and far outside stay exactly 1 and 0.
    params = render.EdgeParams.for_size(480, 270)
    reach = 2 * params.guided_radius + params.band + 1
    inside = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    outside = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    assert not fractional[np.maximum(inside, outside) > reach].any()


def test_bands_of_rows_give_the_whole_frames_matte(monkeypatch: pytest.MonkeyPatch) -> None:
    pixels, truth = plate(180, 320)
    mask = rle.encode(truth > 0.5)
    for matte in (Matte(grow_px=5, feather_px=6), Matte(soft_edges="guided", grow_px=-2)):
        frame = MatteFrame(matte, [shape(mask, matte)], 0, pixels)
        whole = matte_array(frame, np.uint8)
        monkeypatch.setattr(render, "BAND_PIXELS", 320 * 20)  # 9 bands
        banded = matte_array(frame, np.uint8)
        monkeypatch.undo()
        if matte.needs_pixels:
            # Box filters' running sums round differently from another start row.
            assert np.abs(whole.astype(int) - banded).max() <= 1
        else:
            assert np.array_equal(whole, banded)


def test_matte_png_is_the_matte_in_a_png_any_reader_opens() -> None:
    matte = Matte(feather_px=2, grow_px=1)
    frame = MatteFrame(matte, [shape(rle.encode(blob()), matte)], 0)
    for dtype, mode in ((np.uint8, "L"), (np.uint16, "I;16")):
        with Image.open(io.BytesIO(matte_png(frame, dtype))) as image:
            assert image.mode == mode
            assert np.array_equal(np.asarray(image), matte_array(frame, dtype))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_png_encoder_writes_rgba_and_grey_band_by_band(dtype: type) -> None:
    rng = np.random.default_rng(1)
    full = np.iinfo(dtype).max
    rgba = rng.integers(0, full, (37, 23, 4), endpoint=True).astype(dtype)
    # OpenCV reads 16-bit RGBA (PIL cannot), as BGRA.
    decoded = cv2.imdecode(np.frombuffer(png_of(rgba), np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded.dtype == dtype
    assert np.array_equal(cv2.cvtColor(decoded, cv2.COLOR_BGRA2RGBA), rgba)
    grey = rgba[..., 0]
    encoder = PngEncoder(23, 37, 1, dtype)
    for top in range(0, 37, 10):
        encoder.add(grey[top : top + 10])
    with Image.open(io.BytesIO(encoder.finish())) as image:
        assert np.array_equal(np.asarray(image), grey)
