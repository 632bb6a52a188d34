"""Keeps the local S3 bucket across restarts: moto holds objects in memory only, so the stack
copies them to ``<data_dir>/s3`` (incrementally, by ETag and size) and puts them back on start.
Derived objects (keyframe states) are left out: the service makes them again when missing.

moto 5.2 has no persistence of its own; its request recorder could be replayed, but it records
every request (uploads included) in one growing file, which is slower and fragile to replay.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from roto.aws import drop_unused_endpoint_params

MANIFEST = "manifest.json"
CHUNK = 1024 * 1024
#: A keyframe's state after one of its prompts (``roto_gpu.jobs.track_store.state_key``): derived
#: data that the GPU daemon decodes again from the prompts when it is missing. Every click makes
#: a new one (about 0.3 MB at 1024 px), so the copy leaves them out.
DERIVED_PART = "/states/"
DERIVED_SUFFIX = ".npz"


def is_derived(key: str) -> bool:
    """Whether the object at ``key`` is one the service makes again when it is missing."""
    return DERIVED_PART in key and key.endswith(DERIVED_SUFFIX)


class StoredObject(msgspec.Struct):
    """What the mirror knows about one object; ``file`` is its name under ``objects/``."""

    etag: str
    size: int
    file: str
    content_type: str | None = None
    metadata: dict[str, str] = {}


class Manifest(msgspec.Struct):
    version: int = 1
    objects: dict[str, StoredObject] = {}


class SyncStats(msgspec.Struct, frozen=True):
    saved: int
    removed: int
    total: int


def open_s3_client(endpoint_url: str, region: str) -> Any:
    """A plain boto3 S3 client for the local endpoint (credentials come from the environment)."""
    import boto3
    from botocore.config import Config

    config = Config(
        s3={"addressing_style": "path"}, retries={"max_attempts": 3, "mode": "standard"}
    )
    client = boto3.client("s3", endpoint_url=endpoint_url, region_name=region, config=config)
    drop_unused_endpoint_params(client)  # a sync reads and writes many keys
    return client


class S3Mirror:
    """A copy of one bucket on disk, without the objects ``leave_out`` names. Not thread-safe:
    one caller at a time."""

    def __init__(
        self, s3: Any, bucket: str, root: Path, leave_out: Callable[[str], bool] = is_derived
    ) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.root = root
        self.leave_out = leave_out
        self.objects_dir = root / "objects"
        self.objects_dir.mkdir(parents=True, exist_ok=True)
        self.manifest = self._load_manifest()

    def restore(self) -> int:
        """Put every saved object back into the bucket; returns how many."""
        for key, stored in self.manifest.objects.items():
            extra: dict[str, Any] = {"Metadata": stored.metadata}
            if stored.content_type:
                extra["ContentType"] = stored.content_type
            with open(self.objects_dir / stored.file, "rb") as body:
                answer = self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, **extra)
            # A multipart object comes back with a single-part ETag; remember the new one so the
            # next sync does not download it again.
            stored.etag = answer["ETag"]
        self._save_manifest()
        self._remove_stray_files()
        return len(self.manifest.objects)

    def sync(self) -> SyncStats:
        """Save new or changed objects and forget deleted ones (derived objects are not kept)."""
        listed: dict[str, tuple[str, int]] = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            for item in page.get("Contents", []):
                if not self.leave_out(item["Key"]):
                    listed[item["Key"]] = (item["ETag"], item["Size"])
        saved = 0
        for key, (etag, size) in listed.items():
            known = self.manifest.objects.get(key)
            if known is not None and (known.etag, known.size) == (etag, size):
                continue
            stored = self._download(key)
            if stored is not None:
                self.manifest.objects[key] = stored
                saved += 1
        gone = [key for key in self.manifest.objects if key not in listed]
        files = [self.manifest.objects.pop(key).file for key in gone]
        if saved or gone:
            self._save_manifest()
        # Files go only after the manifest that names them is replaced.
        for name in files:
            (self.objects_dir / name).unlink(missing_ok=True)
        return SyncStats(saved=saved, removed=len(gone), total=len(self.manifest.objects))

    def _download(self, key: str) -> StoredObject | None:
        try:
            answer = self.s3.get_object(Bucket=self.bucket, Key=key)
        except self.s3.exceptions.NoSuchKey:
            return None  # deleted between the listing and now
        name = hashlib.sha256(key.encode()).hexdigest()
        tmp = self.objects_dir / (name + ".tmp")
        size = 0
        with open(tmp, "wb") as out:
            for chunk in answer["Body"].iter_chunks(CHUNK):
                out.write(chunk)
                size += len(chunk)
        os.replace(tmp, self.objects_dir / name)
        return StoredObject(
            etag=answer["ETag"],
            size=size,
            file=name,
            content_type=answer.get("ContentType"),
            metadata=answer.get("Metadata", {}),
        )

    def _load_manifest(self) -> Manifest:
        path = self.root / MANIFEST
        if not path.exists():
            return Manifest()
        return msgspec.json.decode(path.read_bytes(), type=Manifest)

    def _save_manifest(self) -> None:
        tmp = self.root / (MANIFEST + ".tmp")
        tmp.write_bytes(msgspec.json.encode(self.manifest))
        os.replace(tmp, self.root / MANIFEST)

    def _remove_stray_files(self) -> None:
        """Drop files a crash left behind (written, but never named in a saved manifest)."""
        known = {stored.file for stored in self.manifest.objects.values()}
        for path in self.objects_dir.iterdir():
            if path.name not in known:
                path.unlink()


class PeriodicSync:
    """Runs ``S3Mirror.sync`` every ``interval_s`` on a thread until ``stop``."""

    def __init__(
        self, mirror: S3Mirror, interval_s: float, on_error: Callable[[Exception], None]
    ) -> None:
        self.mirror = mirror
        self.interval_s = interval_s
        self.on_error = on_error
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="s3-sync", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current pass, if any; the mirror is then free for a final sync."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stopping.wait(self.interval_s):
            try:
                self.mirror.sync()
            except Exception as exc:  # moto briefly busy or away: the next pass catches up
                self.on_error(exc)
