"""Where built engines and AOT packages are kept: a folder on the instance's disk (under the data
dir) and, when a prefix is set, the media bucket, so that a new instance of the same GPU downloads
what the first one built instead of building it again. Entries are named by their key (the graph
hash, the builder's version, the GPU, the precision and the shape profile), so a stale entry is
never picked: it is simply not asked for."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger(__name__)


@dataclass
class ArtifactCache:
    directory: Path
    bucket: str = ""
    prefix: str = ""
    s3_client: Callable[[], Any] | None = None

    @classmethod
    def temporary(cls) -> ArtifactCache:
        """A cache in the system's temporary folder (tests, benchmarks); the keys keep what
        different models built there apart."""
        return cls(Path(tempfile.gettempdir()) / "roto-engines")

    @property
    def shared(self) -> bool:
        return bool(self.bucket and self.prefix and self.s3_client)

    def path(self, name: str) -> Path:
        return self.directory / name

    def fetch(self, name: str) -> Path | None:
        """The local file ``name``, downloaded from S3 first if only S3 has it."""
        local = self.path(name)
        if local.is_file():
            log.info("engine_cache_hit", name=name, where="disk")
            return local
        if not self.shared:
            return None
        assert self.s3_client is not None
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = local.with_name(f"{local.name}.{os.getpid()}.partial")
        try:
            self.s3_client().download_file(self.bucket, self.prefix + name, str(partial))
        except Exception as exc:  # absent (404) or unreachable: build it instead
            partial.unlink(missing_ok=True)
            log.info("engine_cache_miss", name=name, reason=_short(exc))
            return None
        os.replace(partial, local)
        log.info("engine_cache_hit", name=name, where="s3", key=self.prefix + name)
        return local

    def store(self, name: str, built: Path) -> Path:
        """Keep ``built`` as ``name`` on disk and, best effort, in S3."""
        self.directory.mkdir(parents=True, exist_ok=True)
        local = self.path(name)
        if built.resolve() != local.resolve():
            partial = local.with_name(f"{local.name}.{os.getpid()}.partial")
            shutil.copyfile(built, partial)
            os.replace(partial, local)
        if self.shared:
            assert self.s3_client is not None
            try:
                self.s3_client().upload_file(str(local), self.bucket, self.prefix + name)
                log.info("engine_cache_stored", name=name, key=self.prefix + name)
            except Exception as exc:  # the next instance builds it again; not fatal
                log.warning("engine_cache_upload_failed", name=name, error=_short(exc))
        return local


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:200]


def engine_cache(
    directory: str,
    *,
    bucket: str = "",
    prefix: str = "",
    region: str = "",
    endpoint_url: str = "",
) -> ArtifactCache:
    """The cache the model options describe; S3 only with both a bucket and a prefix."""
    cache = ArtifactCache(Path(directory)) if directory else ArtifactCache.temporary()
    if bucket and prefix:

        def client() -> Any:
            import boto3

            kwargs: dict[str, str] = {"region_name": region} if region else {}
            if endpoint_url:
                kwargs["endpoint_url"] = endpoint_url
            return boto3.client("s3", **kwargs)

        cache.bucket, cache.prefix, cache.s3_client = bucket, prefix, client
    return cache
