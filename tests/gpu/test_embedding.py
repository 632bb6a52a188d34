"""The embedding's cache format (no I/O, no torch): float16 on the wire, within float16's
rounding (relative error <= 2**-11) of the original, and corrupt bytes refused."""

from __future__ import annotations

import numpy as np
import pytest

from roto_gpu.model.embedding import Embedding, embedding_key

FLOAT16_RELATIVE_ERROR = 2.0**-11


def sample(seed: int = 0) -> Embedding:
    rng = np.random.default_rng(seed)
    return Embedding(
        image_embed=rng.normal(0, 2, (256, 16, 16)).astype(np.float32),
        high_res_feats=(
            rng.normal(0, 1, (32, 64, 64)).astype(np.float32),
            rng.normal(0, 1, (64, 32, 32)).astype(np.float32),
        ),
        orig_hw=(192, 320),
    )


def test_round_trip_keeps_shapes_size_and_values_within_float16_rounding() -> None:
    original = sample()
    data = original.to_bytes()
    assert len(data) < original.nbytes // 2 + 64
    restored = Embedding.from_bytes(data)
    assert restored.orig_hw == (192, 320)
    assert restored.shapes == original.shapes
    for before, after in zip(original.arrays, restored.arrays, strict=True):
        assert after.dtype == np.float32
        np.testing.assert_allclose(after, before, rtol=FLOAT16_RELATIVE_ERROR, atol=1e-7)


def test_round_trip_of_float16_values_is_exact() -> None:
    original = sample(1)
    exact = Embedding.from_bytes(original.to_bytes())
    again = Embedding.from_bytes(exact.to_bytes())
    for a, b in zip(exact.arrays, again.arrays, strict=True):
        assert np.array_equal(a, b)


def test_values_beyond_float16_are_refused_not_clipped() -> None:
    original = sample()
    original.image_embed[0, 0, 0] = 1e6
    with pytest.raises(ValueError, match="float16"):
        original.to_bytes()


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda data: data[:10], "truncated"),
        (lambda data: data[:-2], "truncated"),
        (lambda data: data + b"\0", "trailing"),
        (lambda data: b"XXXX" + data[4:], "not an embedding"),
    ],
)
def test_corrupt_bytes_are_refused(mangle, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Embedding.from_bytes(mangle(sample().to_bytes()))


def test_redis_key_names_model_video_and_frame() -> None:
    key = embedding_key("sam2.1-tiny-1024-abc", "0190-video", 12)
    assert key == "roto:emb:v2:sam2.1-tiny-1024-abc:0190-video:12"
