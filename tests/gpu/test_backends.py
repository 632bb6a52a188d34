"""The backends with SAM2.1 tiny (random weights, 256 px) on the CPU: the choice on a CPU and
the loud fall-back chain, the ONNX graphs run by onnxruntime and an AOTInductor package put in
SAM2's place (masks within IoU 0.99 of eager), TensorRT where a GPU and tensorrt exist, and the
engine cache shared through S3."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch", reason="the gpu extra is not installed: no torch")
pytest.importorskip("sam2", reason="the gpu extra is not installed: no sam2")

import torch

from roto_gpu.model.backends import aot, onnx, tensorrt
from roto_gpu.model.backends.cache import ArtifactCache, engine_cache
from roto_gpu.model.backends.graphs import (
    GraphSpec,
    decoder_spec,
    encoder_spec,
    install_decoder,
    install_encoder,
    similar,
    uninstall,
)
from roto_gpu.model.backends.selection import BackendContext, select_backend
from roto_gpu.model.prompts import KeyframeRequest
from tests.gpu.conftest import IMAGE_SIZE, build_model, iou

MIN_IOU = 0.99
CPU = torch.device("cpu")

MISSING_ONNX = [
    name for name in ("onnx", "onnxscript", "onnxruntime") if importlib.util.find_spec(name) is None
]
needs_onnx = pytest.mark.skipif(
    bool(MISSING_ONNX),
    reason=f"not installed: {', '.join(MISSING_ONNX)} (PyPI: onnx, onnxscript, onnxruntime)",
)
needs_compiler = pytest.mark.skipif(
    aot.compiler() is None, reason="building an AOTInductor package needs a C++ compiler"
)


def specs(model: Any) -> tuple[GraphSpec, GraphSpec]:
    common = {"device": CPU, "autocast": None, "identity": {"model_id": model.model_id}}
    return (
        encoder_spec(model.video_predictor, image_size=IMAGE_SIZE, max_batch=4, **common),
        decoder_spec(model.video_predictor, image_size=IMAGE_SIZE, **common),
    )


def clicks(model: Any, frames: list[np.ndarray]) -> list[Any]:
    """Masks for a spread of prompts on two frames: one and two clicks, a box."""
    first, second = model.encode_images(frames[:2])
    requests = [
        KeyframeRequest(first, points=np.array([[100.0, 96.0]]), labels=np.array([1])),
        KeyframeRequest(
            first, points=np.array([[100.0, 96.0], [20.0, 20.0]]), labels=np.array([1, 0])
        ),
        # A box: its corners, labelled 2 and 3.
        KeyframeRequest(
            second, points=np.array([[40.0, 40.0], [220.0, 160.0]]), labels=np.array([2, 3])
        ),
        KeyframeRequest(second, points=np.array([[250.0, 60.0]]), labels=np.array([1])),
    ]
    return [p.mask for p in model.decode_keyframes(requests)]


@pytest.fixture
def restored(model: Any) -> Iterator[Any]:
    """The module's model, with SAM2's own methods back after the test."""
    yield model
    uninstall(model.video_predictor.image_encoder, "forward")
    uninstall(model.video_predictor.sam_mask_decoder, "predict_masks")
    model._resident.clear()


def test_auto_on_the_cpu_is_eager_and_says_why(model: Any) -> None:
    info = model.info()
    assert info["backend"] == "eager" and info["backend_requested"] == "auto"
    assert "CPU" in info["backend_note"] and info["backend_fallbacks"] == []
    assert (info["dtype"], info["attention"]) == ("float32", ["flash", "math"])


def test_each_backend_that_cannot_run_falls_back_to_the_next_with_its_reason(
    model: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # As in the gpu image: no compiler on the PATH, an empty engine cache. And no GPU here.
    monkeypatch.setenv("PATH", str(tmp_path))
    context = BackendContext(
        sam=model.video_predictor,
        device=CPU,
        precision=model.precision,
        image_size=IMAGE_SIZE,
        max_batch_size=4,
        identity={"model_id": model.model_id},
        cache=ArtifactCache(tmp_path / "engines"),
    )
    report = select_backend("tensorrt", context)
    assert report.backend == "eager"
    reasons = {f["backend"]: f["reason"] for f in report.fallbacks}
    assert list(reasons) == ["tensorrt", "aot", "compile"]
    assert reasons["tensorrt"].startswith("no CUDA device")
    assert "no AOTInductor package" in reasons["aot"] and "no C++ compiler" in reasons["aot"]
    assert "needs a C compiler" in reasons["compile"]
    assert report.info()["backend_fallbacks"] == report.fallbacks
    # Nothing of a failed backend is left in SAM2's place.
    assert "forward" not in model.video_predictor.image_encoder.__dict__


def test_an_unknown_backend_is_refused_by_name(model: Any) -> None:
    from roto_gpu.model.options import ModelLoadError

    with pytest.raises(ModelLoadError, match="ROTO_MODEL_BACKEND must be one of"):
        build_model(backend="fast")


@pytest.mark.slow
@needs_onnx
def test_image_encoder_onnx_graph_on_onnxruntime_gives_the_eager_masks(
    restored: Any, frames: list[np.ndarray], tmp_path: Path
) -> None:
    model = restored
    eager = clicks(model, frames)
    spec, _ = specs(model)
    runner = onnx.OrtRunner(onnx.export_onnx(spec, tmp_path / "encoder.onnx"), spec, threads=2)
    with torch.no_grad():
        assert similar(spec.module(*spec.inputs), runner(*spec.inputs)) > 0.999
    install_encoder(model.video_predictor.image_encoder, spec, runner)
    model._resident.clear()
    for want, got in zip(eager, clicks(model, frames), strict=True):
        assert 0 < want.mean() < 1 and iou(want, got) >= MIN_IOU


@pytest.mark.slow
@needs_onnx
def test_mask_decoder_onnx_graph_on_onnxruntime_gives_the_eager_masks(
    restored: Any, frames: list[np.ndarray], tmp_path: Path
) -> None:
    model = restored
    eager = clicks(model, frames)
    _, spec = specs(model)
    runner = onnx.OrtRunner(onnx.export_onnx(spec, tmp_path / "decoder.onnx"), spec, threads=2)
    calls = []
    install_decoder(
        model.video_predictor.sam_mask_decoder, spec, lambda *t: calls.append(1) or runner(*t)
    )
    for want, got in zip(eager, clicks(model, frames), strict=True):
        assert iou(want, got) >= MIN_IOU
    # One pass per prompt-length group (one point; two points or a box's two corners): the
    # graph ran, not eager.
    assert len(calls) == 2


@pytest.mark.slow
@needs_compiler
def test_aot_package_built_and_loaded_on_the_cpu_gives_the_eager_masks(
    restored: Any, frames: list[np.ndarray], tmp_path: Path
) -> None:
    model = restored
    eager = clicks(model, frames)
    _, spec = specs(model)
    package = aot.build_package(spec, tmp_path / "decoder.pt2")
    runner = aot.AotRunner(package, CPU)
    with torch.no_grad():
        assert similar(spec.module(*spec.inputs), runner(*spec.inputs)) > 0.999
    install_decoder(model.video_predictor.sam_mask_decoder, spec, runner)
    for want, got in zip(eager, clicks(model, frames), strict=True):
        assert iou(want, got) >= MIN_IOU


@pytest.mark.slow
@pytest.mark.skipif(
    tensorrt.unavailable_reason(torch.device("cuda")) is not None,
    reason=f"TensorRT cannot run here: {tensorrt.unavailable_reason(torch.device('cuda'))}",
)
def test_tensorrt_engines_build_load_and_give_the_eager_masks(
    frames: list[np.ndarray], tmp_path: Path
) -> None:
    eager = build_model(device="cuda", backend="eager")
    compiled = build_model(device="cuda", backend="tensorrt", engine_dir=str(tmp_path))
    assert compiled.info()["backend"] == "tensorrt", compiled.info()["backend_fallbacks"]
    assert compiled.info()["backend_graphs"] == ["image_encoder", "mask_decoder"]
    for want, got in zip(clicks(eager, frames), clicks(compiled, frames), strict=True):
        assert iou(want, got) >= MIN_IOU
    # A second start loads the engines from the cache instead of building them.
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".engine", ".engine"]
    again = build_model(device="cuda", backend="tensorrt", engine_dir=str(tmp_path))
    assert again.info()["backend"] == "tensorrt"


async def test_engine_cache_shares_what_one_instance_built_through_s3(
    settings: Any, tmp_path: Path
) -> None:
    def cache(folder: str) -> ArtifactCache:
        return engine_cache(
            str(tmp_path / folder),
            bucket=settings.s3_bucket,
            prefix="model-engines/",
            region=settings.aws_region,
            endpoint_url=settings.aws_endpoint_url,
        )

    first, second = cache("first"), cache("second")
    assert first.fetch("encoder-abc.engine") is None
    built = tmp_path / "built.engine"
    built.write_bytes(b"serialized engine")
    first.store("encoder-abc.engine", built)
    fetched = second.fetch("encoder-abc.engine")  # a new instance, its disk empty
    assert fetched == tmp_path / "second" / "encoder-abc.engine"
    assert fetched.read_bytes() == b"serialized engine"
    assert second.fetch("encoder-other.engine") is None
