"""The SAM2 wrapper with real SAM2.1 tiny (random weights, 256 px, CPU float32) on frames
decoded from a generated video. Tolerances: batched against one-at-a-time and the float16
cache round trip must keep mask IoU >= 0.99 and the score within 1e-3."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch", reason="the gpu extra is not installed: no torch")
pytest.importorskip("sam2", reason="the gpu extra is not installed: no sam2")

from roto_gpu.batcher import Batcher, Priority
from roto_gpu.model.embedding import Embedding
from roto_gpu.model.options import ModelLoadError, hydra_overrides
from roto_gpu.model.prompts import MaskRequest
from tests.gpu.conftest import IMAGE_SIZE, SOURCE_HEIGHT, SOURCE_WIDTH, iou

pytestmark = pytest.mark.slow

MIN_IOU = 0.99
MAX_SCORE_DIFF = 1e-3
REFERENCE_PIXEL_TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def embeddings(model: Any, frames: list[np.ndarray]) -> list[Embedding]:
    return model.encode_images(frames[:2])


def click(embedding: Embedding, x: float, y: float) -> MaskRequest:
    return MaskRequest(embedding, np.array([[x, y]]), np.array([1]))


def mixed_requests(embeddings: list[Embedding]) -> list[MaskRequest]:
    """One click, two clicks, a box, and a click on the second frame: three decoder groups."""
    first, second = embeddings
    return [
        click(first, 100, 96),
        MaskRequest(first, np.array([[100, 96], [20, 20]]), np.array([1, 0])),
        MaskRequest(second, None, None, box=np.array([40, 40, 220, 160])),
        click(second, 250, 60),
    ]


def test_mask_has_source_resolution_and_survives_coco_rle(
    model: Any, embeddings: list[Embedding]
) -> None:
    mask_utils = pytest.importorskip("pycocotools.mask", reason="pycocotools is not installed")
    (prediction,) = model.predict_masks([click(embeddings[0], 100, 96)])
    assert prediction.mask.shape == (SOURCE_HEIGHT, SOURCE_WIDTH)
    assert prediction.mask.dtype == np.bool_
    # Neither empty nor full, or the comparisons in the other tests would prove nothing.
    assert 0.0 < prediction.mask.mean() < 1.0
    assert 0.0 <= prediction.score <= 1.0
    rle = mask_utils.encode(np.asfortranarray(prediction.mask.astype(np.uint8)))
    assert rle["size"] == [SOURCE_HEIGHT, SOURCE_WIDTH]
    decoded = mask_utils.decode(rle).astype(bool)
    assert np.array_equal(decoded, prediction.mask)


def test_same_prompt_twice_gives_identical_mask(model: Any, frames: list[np.ndarray]) -> None:
    first, again = model.encode_images([frames[0]]), model.encode_images([frames[0]])
    assert np.array_equal(first[0].image_embed, again[0].image_embed)
    a = model.predict_masks([click(first[0], 150, 90)])[0]
    b = model.predict_masks([click(again[0], 150, 90)])[0]
    assert np.array_equal(a.mask, b.mask)
    assert a.score == b.score


def test_batched_encoding_equals_one_at_a_time(
    model: Any, frames: list[np.ndarray], embeddings: list[Embedding]
) -> None:
    alone = model.encode_images([frames[1]])[0]
    for batched, single in zip(embeddings[1].arrays, alone.arrays, strict=True):
        np.testing.assert_allclose(batched, single, rtol=0, atol=1e-4)


def test_batched_masks_equal_one_at_a_time(model: Any, embeddings: list[Embedding]) -> None:
    requests = mixed_requests(embeddings)
    batched = model.predict_masks(requests)
    assert len(batched) == len(requests)
    for request, together in zip(requests, batched, strict=True):
        (alone,) = model.predict_masks([request])
        assert together.mask.shape == alone.mask.shape == (SOURCE_HEIGHT, SOURCE_WIDTH)
        assert iou(together.mask, alone.mask) >= MIN_IOU
        assert abs(together.score - alone.score) < MAX_SCORE_DIFF


def test_masks_match_sam2_image_predictor(
    model: Any, frames: list[np.ndarray], embeddings: list[Embedding]
) -> None:
    """Stricter than the batching tolerance: the same arithmetic as the reference, so at most
    0.01 % of pixels may differ (small feature changes flip about 0.2 %)."""
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    predictor = SAM2ImagePredictor(model.video_predictor)
    # The reference hard-codes the 1024 px feature sizes; these are the 256 px ones.
    side = IMAGE_SIZE // 16
    predictor._bb_feat_sizes = [(side * 4, side * 4), (side * 2, side * 2), (side, side)]
    predictor.set_image(frames[0])
    for x, y in [(100, 96), (250, 40), (30, 170)]:
        masks, scores, _ = predictor.predict(np.array([[x, y]]), np.array([1]))
        best = int(np.argmax(scores))
        (ours,) = model.predict_masks([click(embeddings[0], x, y)])
        assert np.mean(ours.mask != masks[best].astype(bool)) <= REFERENCE_PIXEL_TOLERANCE
        assert abs(ours.score - float(scores[best])) < 1e-5
    points, labels = np.array([[100, 96], [20, 20]]), np.array([1, 0])
    masks, scores, _ = predictor.predict(points, labels, multimask_output=False)
    (ours,) = model.predict_masks([MaskRequest(embeddings[0], points, labels)])
    assert np.mean(ours.mask != masks[0].astype(bool)) <= REFERENCE_PIXEL_TOLERANCE
    assert abs(ours.score - float(scores[0])) < 1e-5


def test_cached_embedding_gives_same_mask(model: Any, embeddings: list[Embedding]) -> None:
    data = embeddings[0].to_bytes()
    assert len(data) < embeddings[0].nbytes // 2 + 1024
    restored = Embedding.from_bytes(data)
    for request in mixed_requests([embeddings[0], embeddings[0]]):
        (fresh,) = model.predict_masks([request])
        (cached,) = model.predict_masks([request._replace(embedding=restored)])
        assert iou(fresh.mask, cached.mask) >= MIN_IOU
        assert abs(fresh.score - cached.score) < MAX_SCORE_DIFF


def test_low_res_mask_input_is_accepted(model: Any, embeddings: list[Embedding]) -> None:
    side = model.low_res_size
    logits = np.full((side, side), -5.0, dtype=np.float32)
    logits[side // 4 : side // 2, side // 4 : side // 2] = 5.0
    request = click(embeddings[0], 100, 96)._replace(mask_input=logits)
    (prediction,) = model.predict_masks([request])
    assert prediction.mask.shape == (SOURCE_HEIGHT, SOURCE_WIDTH)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"labels": np.array([1, 1])}, "labels"),
        ({"points": np.array([[np.nan, 3.0]])}, "points must be finite"),
        ({"box": np.array([50, 50, 10, 10])}, "box"),
        ({"points": None, "labels": None}, "needs points, a box or a mask_input"),
        ({"mask_input": np.zeros((8, 8))}, "mask_input must have shape"),
    ],
)
def test_bad_request_raises_value_error_naming_the_field(
    model: Any, embeddings: list[Embedding], change: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        model.predict_masks([click(embeddings[0], 10, 10)._replace(**change)])


def test_embedding_of_another_size_is_refused(model: Any, embeddings: list[Embedding]) -> None:
    small = Embedding(
        image_embed=embeddings[0].image_embed[:, :8, :8],
        high_res_feats=embeddings[0].high_res_feats,
        orig_hw=embeddings[0].orig_hw,
    )
    with pytest.raises(ValueError, match="do not match"):
        model.predict_masks([click(small, 10, 10)])


def test_image_that_is_not_rgb_uint8_is_refused(model: Any) -> None:
    with pytest.raises(ValueError, match="uint8"):
        model.encode_images([np.zeros((64, 64, 3), dtype=np.float32)])
    with pytest.raises(ValueError, match="H x W x 3"):
        model.encode_images([np.zeros((64, 64), dtype=np.uint8)])


def test_image_size_sets_the_memory_attention_feature_sizes(model: Any) -> None:
    assert "++model.memory_attention.layer.self_attention.feat_sizes=[16,16]" in hydra_overrides(
        256
    )
    attention = model.video_predictor.memory_attention.layers[0]
    for rope in (attention.self_attn, attention.cross_attn_image):
        assert rope.freqs_cis.shape[0] == (IMAGE_SIZE // 16) ** 2
    with pytest.raises(ModelLoadError, match="multiple of 32"):
        hydra_overrides(250)


def test_info_says_random_weights(model: Any) -> None:
    info = model.info()
    assert info["weights"] == "random"
    assert info["checkpoint_sha256"] is None
    assert info["size"] == "tiny"
    assert info["image_size"] == IMAGE_SIZE
    assert (info["device"], info["dtype"], info["compiled"]) == ("cpu", "float32", False)
    assert info["model_id"] == "sam2.1-tiny-256-random0"


async def test_batcher_runs_encode_and_decode_on_the_model(
    model: Any, frames: list[np.ndarray], embeddings: list[Embedding]
) -> None:
    import asyncio

    batcher = Batcher(
        {"encode": model.encode_images, "decode": model.predict_masks},
        max_batch_size=4,
        max_wait_ms=50,
    )
    try:
        encoded = await asyncio.gather(
            *(batcher.submit("encode", f, priority=Priority.INTERACTIVE) for f in frames[:2])
        )
        for got, want in zip(encoded, embeddings, strict=True):
            np.testing.assert_allclose(got.image_embed, want.image_embed, rtol=0, atol=1e-4)
        broken = click(encoded[0], 10, 10)._replace(labels=np.array([7]))
        requests = [*mixed_requests(encoded), broken]
        answers = await asyncio.gather(
            *(batcher.submit("decode", r, timeout=60) for r in requests), return_exceptions=True
        )
        assert isinstance(answers[-1], ValueError)
        for request, answer in zip(requests[:-1], answers[:-1], strict=True):
            assert not isinstance(answer, BaseException)
            (direct,) = model.predict_masks([request])
            assert iou(answer.mask, direct.mask) >= MIN_IOU
    finally:
        await batcher.close()
    assert batcher.metrics.registry.get_sample_value("roto_batch_size_sum", {"kind": "encode"}) == 2
