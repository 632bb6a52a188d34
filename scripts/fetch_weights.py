#!/usr/bin/env python3
"""`make weights`: download an official SAM2.1 checkpoint from Meta's published URL into
``<data dir>/models/`` (default ``.roto/models/``), resuming a cut download with HTTP Range
requests, and record its SHA-256 beside it. `make run` then gives the file and its hash to the
GPU daemon (roto.devstack.children.local_checkpoint), which verifies it again before loading.

    python3 scripts/fetch_weights.py [--size tiny|small|base_plus|large] [--data-dir .roto]

Standard library only, so it runs before `make install`. Exits 0 with the file in place, 2 when
the download cannot be completed (no internet: the stack then starts on random weights).
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

BASE_URL = "https://dl.fbaipublicfiles.com/segment_anything_2/092824"
SIZES = ("tiny", "small", "base_plus", "large")
CHUNK = 1 << 20
ATTEMPTS = 8
BACKOFF_S = 1.0
TIMEOUT_S = 30.0


class FetchError(RuntimeError):
    pass


def checkpoint_name(size: str) -> str:
    return f"sam2.1_hiera_{size}.pt"


def record_path(directory: Path, size: str) -> Path:
    return directory / f"sam2.1_hiera_{size}.json"


def fetch(
    url: str,
    directory: Path,
    size: str,
    *,
    attempts: int | None = None,
    backoff_s: float | None = None,
    log: object = print,
) -> dict[str, object]:
    """Download ``url`` as ``<directory>/sam2.1_hiera_<size>.pt`` (resuming a ``.partial``
    left by an earlier try), then write its record (file, url, bytes, sha256)."""
    say = log if callable(log) else print
    attempts = ATTEMPTS if attempts is None else attempts
    backoff_s = BACKOFF_S if backoff_s is None else backoff_s
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / checkpoint_name(size)
    record = record_path(directory, size)
    if final.is_file() and record.is_file():
        known = json.loads(record.read_text())
        if known.get("bytes") == final.stat().st_size and known.get("url") == url:
            say(f"{final} is already here (sha256 {known['sha256']})")
            return dict(known)
    partial = final.with_name(final.name + ".partial")
    last_error: Exception | None = None
    for attempt in range(1, attempts + 1):
        try:
            if _download(url, partial, say):
                break
        except (urllib.error.URLError, http.client.HTTPException, OSError, TimeoutError) as exc:
            last_error = exc
            if isinstance(getattr(exc, "reason", None), socket.gaierror):
                # The host's name does not resolve: no internet; retrying will not help.
                raise FetchError(f"cannot download {url}: {exc}") from exc
            have = partial.stat().st_size if partial.exists() else 0
            say(f"attempt {attempt}: {exc}; {have} bytes kept, resuming")
            time.sleep(backoff_s * attempt)
    else:
        raise FetchError(f"cannot download {url}: {last_error}")
    digest = _sha256(partial)
    os.replace(partial, final)
    known = {"file": final.name, "url": url, "bytes": final.stat().st_size, "sha256": digest}
    record.write_text(json.dumps(known, indent=2) + "\n")
    say(f"{final}: {known['bytes']} bytes, sha256 {digest}")
    return known


def _download(url: str, partial: Path, say: object) -> bool:
    """One request from where ``partial`` ends; True once the file is complete."""
    if not url.startswith(("https://", "http://")):
        raise FetchError(f"{url} is not an http(s) URL")
    have = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(  # noqa: S310 (http(s) only, checked above)
        url, headers={"User-Agent": "megaton-roto-weights"}
    )
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        reply = urllib.request.urlopen(request, timeout=TIMEOUT_S)  # noqa: S310
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left past what we have: complete
            return True
        raise
    with reply:
        if have and reply.status == 206:
            total = _total_from_content_range(reply.headers.get("Content-Range"), have)
            mode = "ab"
        else:  # the server sent the whole file: start over
            have, mode = 0, "wb"
            total = int(reply.headers.get("Content-Length") or 0) or None
        with partial.open(mode) as out:
            while chunk := reply.read(CHUNK):
                out.write(chunk)
                have += len(chunk)
    if total is not None and have < total:
        raise OSError(f"connection closed at {have} of {total} bytes")
    return True


def _total_from_content_range(value: str | None, start: int) -> int | None:
    # "bytes 100-999/1000"
    if not value or "/" not in value:
        return None
    total = value.rsplit("/", 1)[1]
    return int(total) if total.isdigit() else None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="tiny", choices=SIZES)
    parser.add_argument("--data-dir", default=os.environ.get("ROTO_DATA_DIR", ".roto"))
    parser.add_argument("--url", help="another source of the same file (default: Meta's)")
    args = parser.parse_args(argv)
    url = args.url or f"{BASE_URL}/{checkpoint_name(args.size)}"
    directory = Path(args.data_dir) / "models"
    try:
        fetch(url, directory, args.size)
    except FetchError as exc:
        print(
            f"{exc}\nNo checkpoint: is there internet access? `make run` still starts, with "
            "RANDOM weights (masks that mean nothing); run `make weights` again to resume.",
            file=sys.stderr,
        )
        return 2
    print(
        f"`make run` now gives SAM2.1 {args.size} to the GPU daemon (ROTO_MODEL_SIZE={args.size})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
