"""The concept detector (SAM 3's image model from transformers) as the daemon builds it: random
weights seeded and reduced on a CPU with the local tokenizer; its answers (best first, above the
threshold, at most max_objects, masks at the source size, batches equal to requests alone); and
its checkpoint, a directory or a tar (local or on S3), pinned by SHA-256, loading to the same
detector that saved it."""

from __future__ import annotations

import hashlib
import tarfile
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest

from roto.settings import Settings, load_settings
from roto_gpu.model.checkpoints import (
    CheckpointError,
    directory_sha256,
    resolve_detector_checkpoint,
)

torch = pytest.importorskip("torch", reason="the gpu extra is not installed: no torch")
pytest.importorskip("transformers", reason="the gpu extra is not installed: no transformers")

from roto_gpu.model.detector import (  # noqa: E402
    DetectRequest,
    load_detector,
    random_detector,
)
from roto_gpu.model.detector_config import REDUCED_IMAGE_SIZE, local_tokenizer  # noqa: E402

CPU = torch.device("cpu")
BOXES = ((40.0, 30.0, 200.0, 150.0), (220.0, 20.0, 300.0, 90.0))


def same(a: list[Any], b: list[Any]) -> bool:
    """Two detections are the same instances: scores, boxes and masks bit for bit."""
    return len(a) == len(b) and all(
        x.score == y.score and x.box == y.box and np.array_equal(x.mask, y.mask)
        for x, y in zip(a, b, strict=True)
    )


def test_instances_are_the_best_above_the_threshold_at_the_source_size(
    shared_detector: Any, frames: list[np.ndarray]
) -> None:
    image = frames[0]
    (found,) = shared_detector.detect([DetectRequest(image, "person", (), 0.0, 5)])
    assert len(found) == 5
    scores = [instance.score for instance in found]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 < score < 1.0 for score in scores)
    for instance in found:
        assert instance.mask.shape == image.shape[:2] and instance.mask.dtype == bool
        assert instance.mask.any()
        x0, y0, x1, y1 = instance.box
        assert x0 < x1 and y0 < y1
    # A higher threshold keeps exactly those above it, in the same order.
    cut = (scores[1] + scores[2]) / 2
    (fewer,) = shared_detector.detect([DetectRequest(image, "person", (), cut, 5)])
    assert same(fewer, found[:2])
    # Random weights score about 0.25: nothing passes the default 0.5.
    assert shared_detector.detect([DetectRequest(image, "person", (), 0.5, 20)]) == [[]]


def test_a_batch_answers_each_request_as_it_would_alone(
    shared_detector: Any, frames: list[np.ndarray]
) -> None:
    requests = [
        DetectRequest(frames[0], "person", (), 0.0, 3),
        DetectRequest(frames[1][:100, :200].copy(), "car", (), 0.0, 2),
        DetectRequest(frames[2], None, BOXES, 0.0, 3),
        DetectRequest(frames[3], "dog", BOXES[:1], 0.0, 4),
    ]
    together = shared_detector.detect(requests)
    alone = [shared_detector.detect([request])[0] for request in requests]
    assert [len(found) for found in together] == [3, 2, 3, 4]
    assert all(same(a, b) for a, b in zip(together, alone, strict=True))
    assert together[1][0].mask.shape == (100, 200)


def test_text_and_exemplars_change_the_answer_and_long_text_is_cut(
    shared_detector: Any, frames: list[np.ndarray]
) -> None:
    image = frames[0]
    by_text = shared_detector.detect([DetectRequest(image, "person", (), 0.0, 3)])[0]
    by_boxes = shared_detector.detect([DetectRequest(image, None, BOXES, 0.0, 3)])[0]
    assert not same(by_text, by_boxes)
    long = shared_detector.detect([DetectRequest(image, "person " * 40, (), 0.0, 3)])[0]
    tokens = local_tokenizer()("person " * 40, truncation=True, max_length=32)["input_ids"]
    assert len(long) == 3 and len(tokens) == 32


def test_bad_requests_are_refused(shared_detector: Any, frames: list[np.ndarray]) -> None:
    with pytest.raises(ValueError, match="text or exemplar"):
        shared_detector.detect([DetectRequest(frames[0], None, (), 0.5, 3)])
    with pytest.raises(ValueError, match="uint8"):
        shared_detector.detect([DetectRequest(frames[0].astype(float), "a", (), 0.5, 3)])


def test_random_weights_are_seeded_reduced_on_a_cpu_and_say_so(
    shared_detector: Any, frames: list[np.ndarray]
) -> None:
    again = random_detector(CPU, torch.float32, seed=0)
    other = random_detector(CPU, torch.float32, seed=1)
    request = DetectRequest(frames[0], "person", (), 0.0, 3)
    assert same(again.detect([request])[0], shared_detector.detect([request])[0])
    assert not same(other.detect([request])[0], shared_detector.detect([request])[0])
    info = shared_detector.info()
    assert info == {
        "model_id": "sam3-168-random0",
        "image_size": REDUCED_IMAGE_SIZE,
        "queries": 20,
        "device": "cpu",
        "dtype": "float32",
        "weights": "random",
        "checkpoint_sha256": None,
    }


def detector_settings(tmp_path: Path, **values: Any) -> Settings:
    return load_settings({}, data_dir=str(tmp_path), **values)


def test_without_a_checkpoint_random_weights_need_the_opt_in(tmp_path: Path) -> None:
    assert load_detector(detector_settings(tmp_path), CPU, torch.float32) is None
    allowed = detector_settings(tmp_path, model_allow_random_weights=True, model_random_seed=3)
    detector = load_detector(allowed, CPU, torch.float32)
    assert detector is not None and detector.info()["model_id"] == "sam3-168-random3"


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A checkpoint directory as transformers saves one: the seed-1 detector's."""
    folder = tmp_path_factory.mktemp("detector") / "sam3"
    other = random_detector(CPU, torch.float32, seed=1)
    other._model.save_pretrained(folder)
    other._processor.save_pretrained(folder)
    return folder, directory_sha256(folder)


def test_a_checkpoint_directory_loads_to_the_detector_that_saved_it(
    saved: tuple[Path, str], frames: list[np.ndarray], tmp_path: Path
) -> None:
    folder, digest = saved
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {
        p.name for p in folder.iterdir()
    }
    settings = detector_settings(
        tmp_path, detector_checkpoint=str(folder), detector_checkpoint_sha256=digest
    )
    loaded = load_detector(settings, CPU, torch.float32)
    assert loaded is not None
    assert (loaded.info()["weights"], loaded.info()["checkpoint_sha256"]) == ("checkpoint", digest)
    assert loaded.model_id == f"sam3-168-{digest[:16]}"
    request = DetectRequest(frames[0], "person", BOXES[:1], 0.0, 4)
    want = random_detector(CPU, torch.float32, seed=1).detect([request])[0]
    assert same(loaded.detect([request])[0], want)


def test_a_directory_or_tar_not_the_pinned_one_is_refused(
    saved: tuple[Path, str], tmp_path: Path
) -> None:
    folder, digest = saved
    wrong = detector_settings(
        tmp_path, detector_checkpoint=str(folder), detector_checkpoint_sha256=digest[::-1]
    )
    with pytest.raises(CheckpointError, match=f"has SHA-256 {digest}"):
        resolve_detector_checkpoint(wrong)
    unpinned = detector_settings(tmp_path, detector_checkpoint=str(folder))
    with pytest.raises(CheckpointError, match="ROTO_DETECTOR_CHECKPOINT_SHA256 is not"):
        resolve_detector_checkpoint(unpinned)
    missing = detector_settings(
        tmp_path, detector_checkpoint=str(tmp_path / "nope"), detector_checkpoint_sha256=digest
    )
    with pytest.raises(CheckpointError, match="does not exist"):
        resolve_detector_checkpoint(missing)
    assert resolve_detector_checkpoint(detector_settings(tmp_path)) is None


def tar_of(folder: Path, path: Path) -> str:
    with tarfile.open(path, "w") as tar:
        tar.add(folder, arcname=folder.name)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_tar_is_verified_and_unpacked_once_into_the_cache(
    saved: tuple[Path, str], tmp_path: Path
) -> None:
    folder, digest = saved
    archive = tmp_path / "sam3.tar"
    tar_digest = tar_of(folder, archive)
    settings = detector_settings(
        tmp_path / "data",
        detector_checkpoint=str(archive),
        detector_checkpoint_sha256=tar_digest,
    )
    checkpoint = resolve_detector_checkpoint(settings)
    assert checkpoint is not None
    assert checkpoint.path == tmp_path / "data" / "models" / tar_digest / "sam3"
    assert directory_sha256(checkpoint.path) == digest
    assert resolve_detector_checkpoint(settings) == checkpoint
    tampered = detector_settings(
        tmp_path / "data", detector_checkpoint=str(archive), detector_checkpoint_sha256=digest
    )
    with pytest.raises(CheckpointError, match="refusing to load"):
        resolve_detector_checkpoint(tampered)


async def test_an_s3_tar_is_downloaded_verified_and_unpacked(
    saved: tuple[Path, str], settings: Settings, s3_sync: Any, tmp_path: Path
) -> None:
    folder, digest = saved
    tar_digest = tar_of(folder, tmp_path / "sam3.tar")
    key = "models/sam3.tar"
    s3_sync.put_object(
        Bucket=settings.s3_bucket, Key=key, Body=(tmp_path / "sam3.tar").read_bytes()
    )
    local = msgspec.structs.replace(
        settings,
        data_dir=str(tmp_path / "data"),
        detector_checkpoint=f"s3://{settings.s3_bucket}/{key}",
        detector_checkpoint_sha256=tar_digest,
    )
    checkpoint = resolve_detector_checkpoint(local)
    assert checkpoint is not None and directory_sha256(checkpoint.path) == digest
    assert (tmp_path / "data" / "models" / f"{tar_digest}.tar").is_file()
