"""Bad input to the videos and jobs endpoints: always a 4xx problem+json naming the field."""

from __future__ import annotations

import base64
import uuid
from typing import Any

from litestar.testing import AsyncTestClient

from roto.settings import GiB
from tests.videos.helpers import announce

OK = {"filename": "a.mp4", "content_type": "video/mp4", "size_bytes": 10}


def _mismatch(response: Any, status: int, field: str) -> str | None:
    """What is wrong with ``response`` as a problem+json of ``status`` naming ``field``, if any."""
    is_problem = response.headers["content-type"].startswith("application/problem+json")
    if response.status_code != status or not is_problem or field not in response.json()["detail"]:
        return f"{response.status_code} {response.text}"
    return None


VIDEO_CREATE_CASES: list[tuple[Any, int, str]] = [
    ({**OK, "colour": "red"}, 400, "colour"),
    ({**OK, "size_bytes": "10"}, 400, "size_bytes"),
    ({**OK, "size_bytes": 1.5}, 400, "size_bytes"),
    ({**OK, "size_bytes": True}, 400, "size_bytes"),
    ({**OK, "size_bytes": -5}, 400, "size_bytes"),
    ({**OK, "size_bytes": 0}, 400, "size_bytes"),
    ({**OK, "size_bytes": 21 * GiB}, 422, "size_bytes"),
    ({**OK, "size_bytes": 10**30}, 422, "size_bytes"),
    ({**OK, "content_type": "image/png"}, 422, "content_type"),
    ({**OK, "content_type": "video"}, 422, "content_type"),
    ({**OK, "content_type": 5}, 400, "content_type"),
    ({**OK, "filename": ""}, 400, "filename"),
    ({**OK, "filename": "a" * 256}, 400, "filename"),
    ({**OK, "filename": "../etc/passwd"}, 422, "filename"),
    ({**OK, "filename": "dir\\clip.mp4"}, 422, "filename"),
    ({**OK, "filename": "clip\n.mp4"}, 422, "filename"),
    ({**OK, "filename": ".."}, 422, "filename"),
    ({**OK, "filename": "   "}, 422, "filename"),
    ({"filename": "a.mp4", "size_bytes": 10}, 400, "content_type"),
    ([OK], 400, "object"),
]


async def test_bad_video_create_is_4xx_naming_the_field(
    client: AsyncTestClient, headers: dict[str, str]
) -> None:
    failures = {}
    for body, status, field in VIDEO_CREATE_CASES:
        response = await client.post("/v1/videos", json=body, headers=headers)
        if problem := _mismatch(response, status, field):
            failures[repr(body)[:80]] = problem
    assert not failures, failures
    assert (await client.get("/v1/videos", headers=headers)).json()["items"] == []


async def test_malformed_json_is_400(client: AsyncTestClient, headers: dict[str, str]) -> None:
    response = await client.post(
        "/v1/videos",
        content=b'{"filename": "a.mp4",',
        headers={**headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_octet_stream_content_type_is_accepted(
    client: AsyncTestClient, headers: dict[str, str]
) -> None:
    created = await announce(client, headers, 10, content_type="application/octet-stream")
    assert created["upload"]["headers"] == {"Content-Type": "application/octet-stream"}


COMPLETE_CASES: list[tuple[Any, str]] = [
    ({"parts": "all"}, "parts"),
    ({"parts": [{"part_number": 0, "etag": "x"}]}, "part_number"),
    ({"parts": [{"part_number": "1", "etag": "x"}]}, "part_number"),
    ({"parts": [{"part_number": 1}]}, "etag"),
    ({"done": True}, "done"),
]


async def test_bad_upload_complete_body_is_400_naming_the_field(
    client: AsyncTestClient, headers: dict[str, str]
) -> None:
    video = (await announce(client, headers, 10))["video"]
    failures = {}
    for body, field in COMPLETE_CASES:
        response = await client.post(
            f"/v1/videos/{video['id']}/upload-complete", json=body, headers=headers
        )
        if problem := _mismatch(response, 400, field):
            failures[repr(body)] = problem
    assert not failures, failures


async def test_bad_idempotency_key_is_400_naming_the_header(
    client: AsyncTestClient, headers: dict[str, str]
) -> None:
    video = (await announce(client, headers, 10))["video"]
    failures = {}
    for key in ["", "k" * 256, "tab\tinside", "two words"]:
        response = await client.post(
            f"/v1/videos/{video['id']}/upload-complete",
            json={},
            headers={**headers, "Idempotency-Key": key},
        )
        if problem := _mismatch(response, 400, "Idempotency-Key"):
            failures[key[:20]] = problem
    assert not failures, failures


def _cursor(stamp: str) -> str:
    """A cursor as the API encodes one, around a timestamp of the test's choosing."""
    return base64.urlsafe_b64encode(f"{stamp}|{uuid.uuid4()}".encode()).decode().rstrip("=")


# Tampered cursors whose timestamps parse but lie outside datetime's range once in UTC.
EARLY = _cursor("0001-01-01T00:00:00+05:00")
LATE = _cursor("9999-12-31T23:59:59-05:00")

LIST_CASES = [
    ("/v1/videos?limit=0", "limit"),
    ("/v1/videos?limit=101", "limit"),
    ("/v1/videos?limit=ten", "limit"),
    ("/v1/videos?cursor=garbage", "cursor"),
    ("/v1/jobs?limit=0", "limit"),
    ("/v1/jobs?cursor=Zm9vfGJhcg", "cursor"),
    ("/v1/jobs?status=finished", "status"),
    (f"/v1/videos?cursor={EARLY}", "cursor"),
    (f"/v1/jobs?cursor={LATE}", "cursor"),
    (f"/v1/api-keys?cursor={EARLY}", "cursor"),
]


async def test_bad_list_parameters_are_400_naming_them(
    client: AsyncTestClient, headers: dict[str, str]
) -> None:
    failures = {}
    for path, field in LIST_CASES:
        if problem := _mismatch(await client.get(path, headers=headers), 400, field):
            failures[path] = problem
    assert not failures, failures
