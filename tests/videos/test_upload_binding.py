"""The upload URLs accept exactly what was announced, and nothing written through them after
upload-complete changes the video that is ingested.

moto does not check signatures, so the binding is tested where S3 enforces it: the signed
parameters. ``sigv4_signature`` recomputes a presigned URL's signature from the request a client
would send, as AWS's SigV4 specification says (not with botocore, which made the URL): the
announced size and type reproduce the URL's signature, any other size or type does not.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import uuid
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from litestar.testing import AsyncTestClient

from roto.devstack.services import LOCAL_AWS_ENV
from roto.resources import Resources
from roto.settings import Settings
from roto.videos.storage import ingested_source_key, source_key
from roto.worker.registry import build_role
from tests.media import make_video
from tests.videos.helpers import announce, put_file
from tests.videos.test_uploads import SMALL_MULTIPART
from tests.worker.support import running_worker, wait_for_status

MiB = 1024**2
SECRET = LOCAL_AWS_ENV["AWS_SECRET_ACCESS_KEY"]


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sigv4_signature(method: str, url: str, headers: dict[str, str], secret: str) -> str:
    """The signature S3 expects for ``method url`` sent with ``headers`` (lower-case names)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.pop("X-Amz-Signature")
    signed = query["X-Amz-SignedHeaders"].split(";")
    sent = {"host": parts.netloc, **headers}
    canonical_query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(query.items())
    )
    canonical_headers = "".join(f"{name}:{sent.get(name, '').strip()}\n" for name in signed)
    request = "\n".join(
        [
            method,
            quote(parts.path, safe="/-_.~"),
            canonical_query,
            canonical_headers,
            ";".join(signed),
            "UNSIGNED-PAYLOAD",
        ]
    )
    credential = query["X-Amz-Credential"].split("/")
    scope = "/".join(credential[1:])
    to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            query["X-Amz-Date"],
            scope,
            hashlib.sha256(request.encode()).hexdigest(),
        ]
    )
    key = ("AWS4" + secret).encode()
    for item in credential[1:]:
        key = _hmac(key, item)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def url_signature(url: str) -> str:
    return dict(parse_qsl(urlsplit(url).query))["X-Amz-Signature"]


def accepts(url: str, headers: dict[str, str]) -> bool:
    return sigv4_signature("PUT", url, headers, SECRET) == url_signature(url)


async def test_the_put_url_is_signed_for_the_announced_size_and_type(
    client: AsyncTestClient, headers: dict[str, str]
) -> None:
    upload = (await announce(client, headers, 1234, content_type="video/quicktime"))["upload"]
    url = upload["url"]
    signed = dict(parse_qsl(urlsplit(url).query))["X-Amz-SignedHeaders"].split(";")
    assert {"content-length", "content-type", "host"} <= set(signed)
    assert upload["headers"] == {"Content-Type": "video/quicktime"}
    good = {"content-type": "video/quicktime", "content-length": "1234"}
    assert accepts(url, good)
    assert not accepts(url, {**good, "content-length": str(4 * 1024**3)})
    assert not accepts(url, {**good, "content-length": "1233"})
    assert not accepts(url, {**good, "content-type": "text/html"})


@pytest.mark.parametrize("settings", [SMALL_MULTIPART], indirect=True)
async def test_each_part_url_is_signed_for_its_part_size(
    client: AsyncTestClient, headers: dict[str, str]
) -> None:
    size = 11 * MiB + 7
    upload = (await announce(client, headers, size))["upload"]
    assert upload["method"] == "MULTIPART"
    sizes = [5 * MiB, 5 * MiB, MiB + 7]
    for part, part_size in zip(upload["parts"], sizes, strict=True):
        url = part["url"]
        assert accepts(url, {"content-length": str(part_size)})
        assert not accepts(url, {"content-length": str(part_size + 1)})


async def test_a_put_after_upload_complete_does_not_change_the_ingested_video(
    client: AsyncTestClient,
    headers: dict[str, str],
    settings: Settings,
    resources: Resources,
    s3_sync: Any,
    tmp_path: os.PathLike[str],
) -> None:
    first = make_video(tmp_path / "first.mp4", frames=12, width=160, height=96).read_bytes()
    created = await announce(client, headers, len(first))
    video_id = created["video"]["id"]
    await put_file(created["upload"], first)
    response = await client.post(f"/v1/videos/{video_id}/upload-complete", json={}, headers=headers)
    assert response.status_code == 202, response.text
    job_id = response.json()["job"]["id"]

    # The URL is still valid for its lifetime: write another video through it.
    other = make_video(tmp_path / "other.mp4", frames=30, width=320, height=192).read_bytes()
    await put_file(created["upload"], other)
    bucket = settings.s3_bucket
    assert s3_sync.get_object(Bucket=bucket, Key=source_key(video_id))["Body"].read() == other
    kept = s3_sync.get_object(Bucket=bucket, Key=ingested_source_key(video_id))["Body"].read()
    assert kept == first

    async with running_worker(resources, build_role("media")):
        done = await wait_for_status(resources, uuid.UUID(job_id), {"succeeded", "failed"})
    assert done.status == "succeeded", done.error_message
    video = (await client.get(f"/v1/videos/{video_id}", headers=headers)).json()
    assert (video["width"], video["height"], video["frame_count"]) == (160, 96, 12)


async def test_a_file_stored_with_another_type_is_422_naming_content_type(
    client: AsyncTestClient, headers: dict[str, str]
) -> None:
    created = await announce(client, headers, 5)
    upload = {**created["upload"], "headers": {"Content-Type": "text/html"}}
    await put_file(upload, b"12345")
    video_id = created["video"]["id"]
    response = await client.post(f"/v1/videos/{video_id}/upload-complete", json={}, headers=headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["key"] == "content_type"
