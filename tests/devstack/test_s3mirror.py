"""The on-disk copy of the local bucket, against the real moto server of the test session."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from roto.devstack.s3mirror import MANIFEST, PeriodicSync, S3Mirror
from roto.masks.storage import keyframe_mask_key
from roto.settings import Settings
from roto_gpu.jobs.track_store import context_key, state_key

PART = 5 * 1024 * 1024  # S3's smallest part but the last


def fresh_bucket(s3: Any) -> str:
    name = "mirror-" + uuid.uuid4().hex[:12]
    s3.create_bucket(Bucket=name)
    return name


def test_sync_saves_new_and_changed_objects_and_forgets_deleted_ones(
    settings: Settings, s3_sync: Any, tmp_path: Path
) -> None:
    bucket = settings.s3_bucket
    s3_sync.put_object(Bucket=bucket, Key="a.txt", Body=b"one")
    s3_sync.put_object(Bucket=bucket, Key="dir/b.bin", Body=b"two")
    mirror = S3Mirror(s3_sync, bucket, tmp_path)

    first = mirror.sync()
    unchanged = mirror.sync()
    s3_sync.put_object(Bucket=bucket, Key="a.txt", Body=b"one, edited")
    s3_sync.delete_object(Bucket=bucket, Key="dir/b.bin")
    second = mirror.sync()

    assert (first.saved, first.removed, first.total) == (2, 0, 2)
    assert (unchanged.saved, unchanged.removed) == (0, 0)
    assert (second.saved, second.removed, second.total) == (1, 1, 1)
    saved_files = list((tmp_path / "objects").iterdir())
    assert [p.read_bytes() for p in saved_files] == [b"one, edited"]


def test_keyframe_states_are_left_out_and_the_rest_of_a_keyframe_is_kept(
    settings: Settings, s3_sync: Any, tmp_path: Path
) -> None:
    # A state is decoded again from its prompts when it is missing
    # (tests/gpu/test_segment_outcomes.py); the mask and the keyframe's context are not derived.
    bucket, video = settings.s3_bucket, uuid.uuid4()
    state = state_key(video, 1, 4, uuid.uuid4())
    kept = [keyframe_mask_key(video, 1, 4), context_key(video, 1, 4)]
    for key in [state, *kept]:
        s3_sync.put_object(Bucket=bucket, Key=key, Body=b"bytes of " + key.encode())
    mirror = S3Mirror(s3_sync, bucket, tmp_path)

    stats = mirror.sync()

    assert (stats.saved, stats.total) == (2, 2)
    assert sorted(mirror.manifest.objects) == sorted(kept)
    target = fresh_bucket(s3_sync)
    assert S3Mirror(s3_sync, target, tmp_path).restore() == 2
    listed = s3_sync.list_objects_v2(Bucket=target)["Contents"]
    assert sorted(item["Key"] for item in listed) == sorted(kept)


def test_restore_puts_objects_back_with_content_type_and_metadata(
    settings: Settings, s3_sync: Any, tmp_path: Path
) -> None:
    s3_sync.put_object(
        Bucket=settings.s3_bucket,
        Key="videos/clip.mp4",
        Body=b"\x00video",
        ContentType="video/mp4",
        Metadata={"owner": "someone"},
    )
    S3Mirror(s3_sync, settings.s3_bucket, tmp_path).sync()
    target = fresh_bucket(s3_sync)

    restored = S3Mirror(s3_sync, target, tmp_path).restore()

    assert restored == 1
    stored = s3_sync.get_object(Bucket=target, Key="videos/clip.mp4")
    assert stored["Body"].read() == b"\x00video"
    assert stored["ContentType"] == "video/mp4"
    assert stored["Metadata"] == {"owner": "someone"}


def test_multipart_object_is_not_downloaded_again_after_a_restore(
    settings: Settings, s3_sync: Any, tmp_path: Path
) -> None:
    bucket = settings.s3_bucket
    upload = s3_sync.create_multipart_upload(Bucket=bucket, Key="big.bin")
    parts = []
    for number, body in ((1, b"x" * PART), (2, b"y")):
        answer = s3_sync.upload_part(
            Bucket=bucket, Key="big.bin", UploadId=upload["UploadId"], PartNumber=number, Body=body
        )
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})
    s3_sync.complete_multipart_upload(
        Bucket=bucket, Key="big.bin", UploadId=upload["UploadId"], MultipartUpload={"Parts": parts}
    )
    S3Mirror(s3_sync, bucket, tmp_path).sync()
    target = fresh_bucket(s3_sync)
    S3Mirror(s3_sync, target, tmp_path).restore()

    after_restore = S3Mirror(s3_sync, target, tmp_path).sync()

    assert after_restore.saved == 0
    assert s3_sync.head_object(Bucket=target, Key="big.bin")["ContentLength"] == PART + 1


def test_restore_drops_files_that_no_manifest_names(
    settings: Settings, s3_sync: Any, tmp_path: Path
) -> None:
    s3_sync.put_object(Bucket=settings.s3_bucket, Key="kept", Body=b"kept")
    S3Mirror(s3_sync, settings.s3_bucket, tmp_path).sync()
    stray = tmp_path / "objects" / "half-written.tmp"
    stray.write_bytes(b"crash leftovers")

    S3Mirror(s3_sync, fresh_bucket(s3_sync), tmp_path).restore()

    assert not stray.exists()
    assert (tmp_path / MANIFEST).exists()
    assert len(list((tmp_path / "objects").iterdir())) == 1


def test_periodic_sync_saves_objects_while_running(
    settings: Settings, s3_sync: Any, tmp_path: Path
) -> None:
    errors: list[Exception] = []
    periodic = PeriodicSync(S3Mirror(s3_sync, settings.s3_bucket, tmp_path), 0.1, errors.append)
    periodic.start()
    try:
        s3_sync.put_object(Bucket=settings.s3_bucket, Key="later.txt", Body=b"later")
        deadline = time.monotonic() + 10
        while "later.txt" not in periodic.mirror.manifest.objects:
            assert time.monotonic() < deadline, "not saved within 10 s"
            time.sleep(0.05)
    finally:
        periodic.stop()
    assert errors == []
