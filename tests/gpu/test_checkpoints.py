"""Weights: the pinned SHA-256 is enforced, random weights need an explicit opt-in and are seeded,
a checkpoint saved from a model loads into an equal model, and S3 checkpoints are downloaded
(from the local moto endpoint), verified and cached under data_dir."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest

from roto.settings import Settings, load_settings
from roto_gpu.model.checkpoints import CheckpointError, resolve_checkpoint
from tests.gpu.conftest import IMAGE_SIZE

SMALL_OBJECT = b"not really weights, but bytes with a known hash"


def model_settings(tmp_path: Path, **values: Any) -> Settings:
    return load_settings({}, data_dir=str(tmp_path), model_image_size=IMAGE_SIZE, **values)


def write_small(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "weights.pt"
    path.write_bytes(SMALL_OBJECT)
    return path, hashlib.sha256(SMALL_OBJECT).hexdigest()


def test_checkpoint_without_pinned_sha256_is_refused(tmp_path: Path) -> None:
    path, _ = write_small(tmp_path)
    with pytest.raises(CheckpointError, match="ROTO_MODEL_CHECKPOINT_SHA256 is not"):
        resolve_checkpoint(model_settings(tmp_path, model_checkpoint=str(path)))


def test_missing_checkpoint_file_is_refused(tmp_path: Path) -> None:
    settings = model_settings(
        tmp_path, model_checkpoint=str(tmp_path / "nope.pt"), model_checkpoint_sha256="0" * 64
    )
    with pytest.raises(CheckpointError, match="does not exist"):
        resolve_checkpoint(settings)


def test_local_checkpoint_with_pinned_sha256_resolves(tmp_path: Path) -> None:
    path, digest = write_small(tmp_path)
    settings = model_settings(
        tmp_path, model_checkpoint=str(path), model_checkpoint_sha256=digest.upper()
    )
    checkpoint = resolve_checkpoint(settings)
    assert checkpoint is not None
    assert (checkpoint.path, checkpoint.sha256) == (path, digest)
    assert resolve_checkpoint(model_settings(tmp_path)) is None


async def test_s3_checkpoint_is_downloaded_verified_and_cached(
    settings: Settings, s3_sync: Any, tmp_path: Path
) -> None:
    digest = hashlib.sha256(SMALL_OBJECT).hexdigest()
    s3_sync.put_object(Bucket=settings.s3_bucket, Key="models/tiny.pt", Body=SMALL_OBJECT)
    url = f"s3://{settings.s3_bucket}/models/tiny.pt"
    local = msgspec.structs.replace(
        settings, data_dir=str(tmp_path), model_checkpoint=url, model_checkpoint_sha256=digest
    )
    checkpoint = resolve_checkpoint(local)
    assert checkpoint is not None
    assert checkpoint.path == tmp_path / "models" / f"{digest}.pt"
    assert checkpoint.path.read_bytes() == SMALL_OBJECT
    # The cached copy is used once verified: the object may even be gone from the bucket.
    s3_sync.delete_object(Bucket=settings.s3_bucket, Key="models/tiny.pt")
    assert resolve_checkpoint(local) == checkpoint


async def test_s3_checkpoint_with_wrong_sha256_is_refused_and_not_kept(
    settings: Settings, s3_sync: Any, tmp_path: Path
) -> None:
    s3_sync.put_object(Bucket=settings.s3_bucket, Key="models/tiny.pt", Body=SMALL_OBJECT)
    local = msgspec.structs.replace(
        settings,
        data_dir=str(tmp_path),
        model_checkpoint=f"s3://{settings.s3_bucket}/models/tiny.pt",
        model_checkpoint_sha256="ab" * 32,
    )
    with pytest.raises(CheckpointError, match="refusing to load"):
        resolve_checkpoint(local)
    assert list((tmp_path / "models").iterdir()) == []


async def test_missing_s3_object_is_a_clear_error(settings: Settings, tmp_path: Path) -> None:
    local = msgspec.structs.replace(
        settings,
        data_dir=str(tmp_path),
        model_checkpoint=f"s3://{settings.s3_bucket}/models/absent.pt",
        model_checkpoint_sha256="ab" * 32,
    )
    with pytest.raises(CheckpointError, match="cannot download checkpoint s3://"):
        resolve_checkpoint(local)


# The rest builds real SAM2 models.


@pytest.fixture(scope="module")
def sam2_installed() -> None:
    pytest.importorskip("torch", reason="the gpu extra is not installed: no torch")
    pytest.importorskip("sam2", reason="the gpu extra is not installed: no sam2")


@pytest.fixture(scope="module")
def seeded_other(sam2_installed: None) -> Any:
    """A random model with seed 1, whose weights the checkpoint tests save."""
    from tests.gpu.conftest import build_model

    return build_model(random_seed=1)


@pytest.fixture(scope="module")
def saved(seeded_other: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    import torch

    path = tmp_path_factory.mktemp("weights") / "sam2.1_hiera_tiny_seed1.pt"
    torch.save({"model": seeded_other.state_dict()}, path)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def first_mask(model: Any, frame: np.ndarray) -> tuple[Any, Any]:
    from roto_gpu.model.prompts import KeyframeRequest

    (embedding,) = model.encode_images([frame])
    request = KeyframeRequest(embedding, points=np.array([[120.0, 90.0]]), labels=np.array([1]))
    (result,) = model.decode_keyframes([request])
    return embedding, result


@pytest.mark.slow
def test_no_weights_and_random_not_allowed_refuses_to_start(
    sam2_installed: None, tmp_path: Path
) -> None:
    from roto_gpu.model.sam2_model import ModelLoadError, load_model

    with pytest.raises(ModelLoadError, match="ROTO_MODEL_ALLOW_RANDOM_WEIGHTS=true"):
        load_model(model_settings(tmp_path))


@pytest.mark.slow
def test_wrong_sha256_refuses_to_load(
    sam2_installed: None, saved: tuple[Path, str], tmp_path: Path
) -> None:
    from roto_gpu.model.sam2_model import load_model

    path, digest = saved
    wrong = digest[::-1]
    settings = model_settings(tmp_path, model_checkpoint=str(path), model_checkpoint_sha256=wrong)
    with pytest.raises(CheckpointError, match=f"has SHA-256 {digest}"):
        load_model(settings)


@pytest.mark.slow
def test_random_weights_are_the_same_for_the_same_seed(model: Any, seeded_other: Any) -> None:
    from tests.gpu.conftest import build_model

    again = build_model(warmup=False)
    ours, theirs, other = model.state_dict(), again.state_dict(), seeded_other.state_dict()
    assert all(ours[name].equal(theirs[name]) for name in ours)
    assert not all(ours[name].equal(other[name]) for name in ours)


@pytest.mark.slow
def test_checkpoint_loads_and_gives_the_saved_models_outputs(
    model: Any,
    seeded_other: Any,
    saved: tuple[Path, str],
    frames: list[np.ndarray],
    tmp_path: Path,
) -> None:
    from roto_gpu.model.sam2_model import load_model

    path, digest = saved
    settings = model_settings(
        tmp_path,
        model_checkpoint=str(path),
        model_checkpoint_sha256=digest,
        model_device="cpu",
        batch_max_size=4,
    )
    loaded = load_model(settings)
    info = loaded.info()
    assert (info["weights"], info["checkpoint_sha256"]) == ("checkpoint", digest)
    assert loaded.model_id == f"sam2.1-tiny-{IMAGE_SIZE}-{digest[:16]}"
    embedding, prediction = first_mask(loaded, frames[0])
    want_embedding, want = first_mask(seeded_other, frames[0])
    assert np.array_equal(embedding.image_embed, want_embedding.image_embed)
    assert np.array_equal(prediction.mask, want.mask)
    assert prediction.state.score == want.state.score
    # And not the outputs of the seed-0 weights it was initialised with before loading.
    seed0_embedding, _ = first_mask(model, frames[0])
    assert not np.allclose(embedding.image_embed, seed0_embedding.image_embed)


@pytest.mark.slow
def test_checkpoint_that_does_not_fit_the_model_is_refused(
    seeded_other: Any, tmp_path: Path
) -> None:
    import torch

    from roto_gpu.model.checkpoints import Checkpoint
    from roto_gpu.model.sam2_model import ModelLoadError
    from tests.gpu.conftest import build_model

    weights = seeded_other.state_dict()
    weights.pop("no_mem_embed")
    path = tmp_path / "partial.pt"
    torch.save({"model": weights}, path)
    checkpoint = Checkpoint(path=path, sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    with pytest.raises(ModelLoadError, match="missing no_mem_embed"):
        build_model(checkpoint=checkpoint, allow_random_weights=False, warmup=False)
