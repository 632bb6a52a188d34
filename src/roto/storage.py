"""The S3 calls that every part of the service shares: presigning, multipart uploads, sizes,
reads, listings, prefix deletes, and the error codes that mean "not there" or "S3 failed"."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterable
from typing import Any, NamedTuple

from botocore.exceptions import ClientError

#: S3 allows at most this many parts in one multipart upload.

MAX_PARTS = 10_000

#: ``delete_objects`` takes at most this many keys per call.

DELETE_BATCH = 1000


class StorageError(Exception):
    """S3 accepted a call but did not do all of it (e.g. some keys of a batch delete failed)."""


def plan_parts(size_bytes: int, preferred_part_size: int) -> tuple[int, int]:
    """(part_size, part_count) for a multipart upload, growing the part size to stay in 10000."""
    part_size = max(preferred_part_size, math.ceil(size_bytes / MAX_PARTS))
    return part_size, math.ceil(size_bytes / part_size)


def error_code(exc: ClientError) -> str:
    """The S3 error code of a failed call (``NoSuchKey``, ``InvalidPart``, ``404``...)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


#: Codes S3 answers with for a key that does not exist (GET, HEAD, and moto's variants).

MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


def is_missing(exc: ClientError) -> bool:
    """Whether S3 refused the call because the object does not exist."""
    return error_code(exc) in MISSING_CODES


def is_server_error(exc: ClientError) -> bool:
    """Whether S3 failed on its side (5xx), as opposed to refusing the request."""
    status: int = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return status >= 500


async def presign_put(
    s3: Any, bucket: str, key: str, content_type: str, content_length: int, ttl_s: int
) -> str:
    """A PUT URL whose signature covers ``Content-Type`` and ``Content-Length`` (SigV4 signs
    them as headers): S3 refuses a request with another type or size."""
    url: str = await s3.generate_presigned_url(
        "put_object",
        Params={
            "Bucket": bucket,
            "Key": key,
            "ContentType": content_type,
            "ContentLength": content_length,
        },
        ExpiresIn=ttl_s,
    )
    return url


async def presign_get(s3: Any, bucket: str, key: str, ttl_s: int) -> str:
    url: str = await s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=ttl_s
    )
    return url


async def start_multipart(s3: Any, bucket: str, key: str, content_type: str) -> str:
    """Open a multipart upload; returns its upload id."""
    answer = await s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType=content_type)
    upload_id: str = answer["UploadId"]
    return upload_id


def part_sizes(size_bytes: int, part_size: int) -> list[int]:
    """The size of each part of a ``size_bytes`` file cut into ``part_size`` parts."""
    count = math.ceil(size_bytes / part_size)
    return [part_size] * (count - 1) + [size_bytes - part_size * (count - 1)]


async def presign_parts(
    s3: Any, bucket: str, key: str, upload_id: str, sizes: list[int], ttl_s: int
) -> list[str]:
    """A presigned ``upload_part`` URL for each part number 1..len(sizes), each signed for
    exactly its part's ``Content-Length``."""
    urls = []
    for number, size in enumerate(sizes, start=1):
        params = {
            "Bucket": bucket,
            "Key": key,
            "UploadId": upload_id,
            "PartNumber": number,
            "ContentLength": size,
        }
        urls.append(await s3.generate_presigned_url("upload_part", Params=params, ExpiresIn=ttl_s))
    return urls


async def complete_multipart(
    s3: Any, bucket: str, key: str, upload_id: str, parts: list[tuple[int, str]]
) -> None:
    """Assemble the uploaded parts, given as (part_number, etag) in ascending order."""
    await s3.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, etag in parts]},
    )


async def abort_multipart(s3: Any, bucket: str, key: str, upload_id: str) -> None:
    """Abort an open multipart upload; one already completed or aborted is fine."""
    try:
        await s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    except ClientError as exc:
        if error_code(exc) not in {"NoSuchUpload", "404"}:
            raise


class StoredObject(NamedTuple):
    size: int
    etag: str
    content_type: str


async def head_object(s3: Any, bucket: str, key: str) -> StoredObject | None:
    """Size, ETag and content type of ``key``; None when there is no such object."""
    try:
        head = await s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if is_missing(exc):
            return None
        raise
    return StoredObject(head["ContentLength"], head["ETag"], head.get("ContentType", ""))


async def copy_if_unchanged(s3: Any, bucket: str, source: str, target: str, etag: str) -> bool:
    """Copy ``source`` to ``target`` inside the bucket if it still has ``etag``; False when it
    changed (S3 answers 412). Single-request copy: objects up to 5 GiB."""
    try:
        await s3.copy_object(
            Bucket=bucket,
            Key=target,
            CopySource={"Bucket": bucket, "Key": source},
            CopySourceIfMatch=etag,
        )
    except ClientError as exc:
        if error_code(exc) in {"PreconditionFailed", "412"}:
            return False
        raise
    return True


async def object_size(s3: Any, bucket: str, key: str) -> int | None:
    """The stored size of ``key``, or None when there is no such object."""
    try:
        head = await s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if is_missing(exc):
            return None
        raise
    size: int = head["ContentLength"]
    return size


async def object_bytes(s3: Any, bucket: str, key: str) -> bytes | None:
    """The stored bytes of ``key``, or None when there is no such object."""
    read = await _read(s3, bucket, key)
    return None if read is None else read[0]


async def object_tail(s3: Any, bucket: str, key: str, size: int) -> tuple[bytes, int] | None:
    """The last ``size`` bytes of ``key`` (all of it when it is smaller) by a ranged GET, with
    the object's whole size; None when there is no such object."""
    read = await _read(s3, bucket, key, Range=f"bytes=-{size}")
    if read is None:
        return None
    data, answer = read
    return data, int(answer.get("ContentRange", f"/{len(data)}").rpartition("/")[2])


async def _read(s3: Any, bucket: str, key: str, **options: Any) -> tuple[bytes, Any] | None:
    try:
        answer = await s3.get_object(Bucket=bucket, Key=key, **options)
    except ClientError as exc:
        if is_missing(exc):
            return None
        raise
    async with answer["Body"] as body:
        data: bytes = await body.read()
    return data, answer


async def listed_objects(s3: Any, bucket: str, prefixes: Iterable[str]) -> AsyncIterator[Any]:
    """Every object listed under each of ``prefixes`` (``Key``, ``LastModified``, ...)."""
    for prefix in prefixes:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        async for page in pages:
            for item in page.get("Contents", []):
                yield item


async def delete_prefix(s3: Any, bucket: str, prefix: str) -> int:
    """Delete every object under ``prefix``, a listed page at a time; returns how many."""
    deleted = 0
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": DELETE_BATCH}
    )
    async for page in pages:
        keys = [item["Key"] for item in page.get("Contents", [])]
        errors = await delete_keys(s3, bucket, keys)
        if errors:
            first = errors[0]
            raise StorageError(f"could not delete {first.get('Key')}: {first.get('Message')}")
        deleted += len(keys)
    return deleted


async def delete_keys(s3: Any, bucket: str, keys: list[str]) -> list[dict[str, Any]]:
    """Delete ``keys``, ``DELETE_BATCH`` per call; returns S3's errors (``Key``, ``Message``)
    for those it could not delete."""
    errors: list[dict[str, Any]] = []
    for start in range(0, len(keys), DELETE_BATCH):
        batch = [{"Key": key} for key in keys[start : start + DELETE_BATCH]]
        answer = await s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
        errors += answer.get("Errors", [])
    return errors


async def multipart_uploads(s3: Any, bucket: str, prefix: str) -> list[tuple[str, str]]:
    """(key, upload id) of every multipart upload in progress under ``prefix``."""
    found = []
    pages = s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix)
    async for page in pages:
        found += [(item["Key"], item["UploadId"]) for item in page.get("Uploads", [])]
    return found


async def abort_uploads(s3: Any, bucket: str, prefix: str, key_contains: str = "") -> int:
    """Abort the multipart uploads in progress under ``prefix`` whose key contains
    ``key_contains`` (their parts are deleted); returns how many."""
    aborted = 0
    for key, upload_id in await multipart_uploads(s3, bucket, prefix):
        if key_contains in key:
            await abort_multipart(s3, bucket, key, upload_id)
            aborted += 1
    return aborted
