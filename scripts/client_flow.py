"""Walk the api.md client flow against a running deployment: register, upload a video straight
to storage, wait for ingest, check the metadata and fetch frames; with --click, also create an
object and click on it. Standard library only, so it runs from any machine.

    python scripts/client_flow.py --api http://127.0.0.1:8000 --video clip.mp4 [--click]

Prints one JSON line per step and exits non-zero on the first thing that is not as api.md says.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import HTTPRedirectHandler, Request, build_opener, urlopen

JPEG_MAGIC = b"\xff\xd8\xff"


class FlowError(Exception):
    pass


def call(
    method: str,
    url: str,
    *,
    body: Any = None,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request; follows redirects (urllib does) and returns status, headers, body."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = Request(url, data=data, method=method, headers=dict(headers or {}))  # noqa: S310
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urlopen(request, timeout=60) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read()
    except HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


class _NoRedirect(HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def fetch_frame(url: str, auth: dict[str, str]) -> bytes:
    """A frame: either the JPEG itself or a redirect to storage, which gets no API credentials
    (real S3 refuses a request that carries two kinds of authentication)."""
    opener = build_opener(_NoRedirect)
    try:
        with opener.open(Request(url, headers=auth), timeout=60) as response:  # noqa: S310
            return bytes(response.read())
    except HTTPError as exc:
        if exc.code not in (301, 302, 303, 307, 308):
            raise FlowError(f"frame {url}: {exc.code} {exc.read()[:200]!r}") from exc
        location = exc.headers["Location"]
    with urlopen(location, timeout=60) as response:  # noqa: S310
        return bytes(response.read())


def expect(status: int, wanted: int, what: str, payload: bytes) -> Any:
    if status != wanted:
        raise FlowError(f"{what}: expected {wanted}, got {status}: {payload[:300]!r}")
    return json.loads(payload) if payload else None


def step(name: str, **facts: Any) -> None:
    print(json.dumps({"step": name, **facts}), flush=True)


def run(api: str, video: Path, *, click: bool, timeout_s: float) -> dict[str, Any]:
    email = f"flow-{uuid.uuid4().hex[:10]}@example.com"
    status, _, payload = call(
        "POST", f"{api}/v1/auth/register", body={"email": email, "password": "a long password 123"}
    )
    tokens = expect(status, 201, "register", payload)
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    step("registered", email=email)

    size = video.stat().st_size
    status, _, payload = call(
        "POST",
        f"{api}/v1/videos",
        headers=auth,
        body={"filename": video.name, "content_type": "video/mp4", "size_bytes": size},
    )
    created = expect(status, 201, "create video", payload)
    upload, video_id = created["upload"], created["video"]["id"]
    if upload["method"] != "PUT":
        raise FlowError(f"expected a single PUT for {size} bytes, got {upload['method']}")
    status, _, payload = call(
        "PUT", upload["url"], headers=upload["headers"], raw=video.read_bytes()
    )
    if status != 200:
        raise FlowError(f"PUT to storage: {status} {payload[:200]!r}")
    step("uploaded", video_id=video_id, size_bytes=size)

    status, _, payload = call(
        "POST", f"{api}/v1/videos/{video_id}/upload-complete", headers=auth, body={}
    )
    job = expect(status, 202, "upload-complete", payload)["job"]
    step("ingest_queued", job_id=job["id"])

    deadline = time.monotonic() + timeout_s
    while True:
        status, _, payload = call("GET", f"{api}/v1/videos/{video_id}", headers=auth)
        described = expect(status, 200, "get video", payload)
        if described["status"] in ("ready", "failed"):
            break
        if time.monotonic() > deadline:
            raise FlowError(f"video still {described['status']} after {timeout_s}s")
        time.sleep(0.25)
    if described["status"] != "ready":
        raise FlowError(f"ingest failed: {described['error']}")
    step("ready", **{k: described[k] for k in ("width", "height", "fps", "frame_count", "codec")})

    for index in (0, described["frame_count"] - 1):
        payload = fetch_frame(f"{api}/v1/videos/{video_id}/frames/{index}", auth)
        if not payload.startswith(JPEG_MAGIC):
            raise FlowError(f"frame {index}: not a JPEG")
    status, _, payload = call(
        "GET", f"{api}/v1/videos/{video_id}/frames/{described['frame_count']}", headers=auth
    )
    expect(status, 404, "frame past the end", payload)
    step("frames_served")

    if click:
        status, _, payload = call(
            "POST", f"{api}/v1/videos/{video_id}/objects", headers=auth, body={"name": "disc"}
        )
        obj = expect(status, 201, "create object", payload)
        prompt = {
            "object_id": obj["id"],
            "frame_index": 0,
            "points": [[described["width"] // 4, described["height"] // 2]],
            "labels": [1],
            "box": None,
            "mode": "replace",
        }
        began = time.monotonic()
        status, _, payload = call(
            "POST", f"{api}/v1/videos/{video_id}/prompts?wait=30", headers=auth, body=prompt
        )
        answer = expect(status, 200, "prompt", payload)
        size_hw = answer["mask"]["rle"]["size"]
        if size_hw != [described["height"], described["width"]]:
            raise FlowError(f"mask size {size_hw} is not the source's")
        step("clicked", seconds=round(time.monotonic() - began, 3), score=answer["mask"]["score"])
    return described


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", required=True, help="base URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--video", required=True, type=Path, help="a small video file")
    parser.add_argument("--click", action="store_true", help="also create an object and click")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for ingest")
    args = parser.parse_args(argv)
    try:
        run(args.api.rstrip("/"), args.video, click=args.click, timeout_s=args.timeout)
    except FlowError as exc:
        step("failed", reason=str(exc))
        return 1
    step("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
