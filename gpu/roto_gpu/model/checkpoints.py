"""Where the weights come from: a local file or an ``s3://`` object cached under data_dir,
accepted only when its SHA-256 equals ROTO_MODEL_CHECKPOINT_SHA256. The concept detector's
(ROTO_DETECTOR_CHECKPOINT) is a directory as transformers saves it, pinned by the hash of its
files' hashes, or a tar of one (local or on S3), pinned by the tar's hash and unpacked once.

The hash is pinned in the settings (the task definition), not in a file beside the weights,
so whoever can replace the weights in the bucket cannot also vouch for them.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:
    from roto.settings import Settings

log = structlog.get_logger(__name__)

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 4 * 1024 * 1024


class CheckpointError(RuntimeError):
    """The checkpoint is missing, unreadable or not the pinned one: the daemon must not start."""


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    sha256: str


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def cache_dir(settings: Settings) -> Path:
    return settings.data_path / "models"


def resolve_checkpoint(settings: Settings) -> Checkpoint | None:
    """The verified local checkpoint of ``settings``, downloading it first if it is on S3;
    None when no checkpoint is configured."""
    source = settings.model_checkpoint.strip()
    if not source:
        return None
    expected = _expected_sha256(settings.model_checkpoint_sha256, "ROTO_MODEL_CHECKPOINT")
    if source.startswith("s3://"):
        path = _cached_s3_object(source, expected, settings)
    else:
        path = Path(source).expanduser()
        if not path.is_file():
            raise CheckpointError(f"checkpoint file {path} does not exist (ROTO_MODEL_CHECKPOINT)")
        _verify(path, expected, source)
    return Checkpoint(path=path, sha256=expected)


def directory_sha256(path: Path) -> str:
    """The hash that pins a checkpoint directory: the SHA-256 of ``sha256sum``'s listing of its
    files, as ``cd DIR && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum |
    sha256sum`` prints it."""
    files = sorted(f"./{p.relative_to(path).as_posix()}" for p in path.rglob("*") if p.is_file())
    listing = "".join(f"{sha256_of(path / name)}  {name}\n" for name in files)
    return hashlib.sha256(listing.encode()).hexdigest()


def resolve_detector_checkpoint(settings: Settings) -> Checkpoint | None:
    """The verified directory of the detector's checkpoint (a tar is downloaded and unpacked
    into data_dir first); None when none is configured."""
    source = settings.detector_checkpoint.strip()
    if not source:
        return None
    setting = "ROTO_DETECTOR_CHECKPOINT"
    expected = _expected_sha256(settings.detector_checkpoint_sha256, setting)
    if source.startswith("s3://"):
        archive = _cached_s3_object(source, expected, settings, ".tar", setting)
        return Checkpoint(path=_unpacked(archive, expected, settings), sha256=expected)
    path = Path(source).expanduser()
    if path.is_dir():
        actual = directory_sha256(path)
        if actual != expected:
            raise CheckpointError(
                f"checkpoint directory {source} has SHA-256 {actual} but {setting}_SHA256 is "
                f"{expected}: refusing to load weights that are not the pinned ones"
            )
        return Checkpoint(path=path, sha256=expected)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist ({setting})")
    _verify(path, expected, source, setting)
    return Checkpoint(path=_unpacked(path, expected, settings), sha256=expected)


def _unpacked(archive: Path, sha256: str, settings: Settings) -> Path:
    """The verified tar ``archive`` unpacked once into the cache (a directory named by its
    hash); the checkpoint is its only top-level directory, or the unpacked root itself."""
    root = cache_dir(settings) / sha256
    if not root.is_dir():
        partial = root.with_name(f"{sha256}.{os.getpid()}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        try:
            with tarfile.open(archive) as tar:
                tar.extractall(partial, filter="data")
            os.replace(partial, root)
        except (tarfile.TarError, OSError) as exc:
            raise CheckpointError(f"cannot unpack checkpoint {archive}: {exc}") from exc
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    entries = list(root.iterdir())
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return root


def _expected_sha256(value: str, setting: str) -> str:
    expected = value.strip().lower()
    if not expected:
        raise CheckpointError(
            f"{setting} is set but {setting}_SHA256 is not: "
            "pin the checkpoint's SHA-256 (sha256sum <file>)"
        )
    if not _SHA256_HEX.match(expected):
        raise CheckpointError(f"{setting}_SHA256 must be 64 hexadecimal digits")
    return expected


def _verify(path: Path, expected: str, source: str, setting: str = "ROTO_MODEL_CHECKPOINT") -> None:
    actual = sha256_of(path)
    if actual != expected:
        raise CheckpointError(
            f"checkpoint {source} has SHA-256 {actual} but {setting}_SHA256 is "
            f"{expected}: refusing to load weights that are not the pinned ones"
        )


def _parse_s3_url(url: str) -> tuple[str, str]:
    bucket, _, key = url.removeprefix("s3://").partition("/")
    if not bucket or not key:
        raise CheckpointError(f"checkpoint URL {url!r} is not of the form s3://bucket/key")
    return bucket, key


def _cached_s3_object(
    url: str,
    expected: str,
    settings: Settings,
    suffix: str = ".pt",
    setting: str = "ROTO_MODEL_CHECKPOINT",
) -> Path:
    """Download once into a cache named by the pinned hash; a cached copy is re-hashed, so a
    corrupted file is fetched again rather than trusted."""
    bucket, key = _parse_s3_url(url)
    directory = cache_dir(settings)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{expected}{suffix}"
    if path.is_file():
        if sha256_of(path) == expected:
            log.info("checkpoint_cached", url=url, path=str(path))
            return path
        log.warning("checkpoint_cache_corrupt", path=str(path))
        path.unlink()
    partial = directory / f"{expected}{suffix}.{os.getpid()}.partial"
    log.info("checkpoint_download", url=url, path=str(path))
    try:
        _s3_client(settings).download_file(bucket, key, str(partial))
        _verify(partial, expected, url, setting)
        os.replace(partial, path)
    except CheckpointError:
        raise
    except Exception as exc:
        raise CheckpointError(f"cannot download checkpoint {url}: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return path


def _s3_client(settings: Settings) -> Any:
    # Synchronous boto3: this runs once, before the daemon serves anything.
    import boto3

    kwargs: dict[str, object] = {"region_name": settings.aws_region}
    if settings.aws_endpoint_url:
        kwargs["endpoint_url"] = settings.aws_endpoint_url
    return boto3.client("s3", **kwargs)
