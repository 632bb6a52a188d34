"""A scratch directory per worker process, under the system's temp directory. Every temp file the
process's jobs make goes there (it becomes ``tempfile.tempdir`` and ``TMPDIR``), and a worker that
starts removes the scratch directories of workers that are gone: a worker killed with -9 or by
the OOM killer cannot clean up after itself, and nothing else would.

A directory's owner holds an advisory lock on a file in it for as long as it lives; the kernel
drops the lock when the process dies, however it dies, so a lock that can be taken marks a
directory whose worker is gone.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

PREFIX = "roto-worker-"
LOCK_FILE = ".owner.lock"
#: A directory without a lock file this young may be another worker's, just being made.
UNLOCKED_GRACE_S = 60.0


@contextlib.contextmanager
def scratch_dir(base: Path | None = None) -> Iterator[Path]:
    """This process's scratch directory under ``base`` (default: the temp directory), after
    removing those of workers that are gone; removed on exit."""
    base = Path(base or tempfile.gettempdir())
    swept = sweep(base)
    if swept:
        log.info("scratch_swept", directories=[str(p) for p in swept])
    path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=base))
    lock = (path / LOCK_FILE).open("w")
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    previous = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir = os.environ["TMPDIR"] = str(path)
    try:
        yield path
    finally:
        tempfile.tempdir = previous[0]
        if previous[1] is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = previous[1]
        shutil.rmtree(path, ignore_errors=True)
        lock.close()


def sweep(base: Path) -> list[Path]:
    """Remove the scratch directories under ``base`` whose worker is gone; the ones removed."""
    removed = []
    for path in sorted(base.glob(PREFIX + "*")):
        if path.is_dir() and _owner_gone(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _owner_gone(path: Path) -> bool:
    try:
        lock = (path / LOCK_FILE).open("r")
    except FileNotFoundError:
        return time.time() - path.stat().st_mtime > UNLOCKED_GRACE_S
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # its worker holds the lock: alive
        return True
