"""glibc's malloc in the media worker: large buffers are mapped and unmapped on their own.

glibc serves an allocation above its mmap threshold with a fresh mapping and returns it to the
system when freed, but raises the threshold to the size of each such block freed. After the
first 8 MiB multipart part of an export is freed, every later part comes from the heap, which
fragments and keeps growing: peak RSS rose 169 -> 186 MiB from a 1,200- to a 3,000-frame PNG
export, and 164 -> 168 MiB with the threshold pinned at 1 MiB (bench/export.py).
"""

from __future__ import annotations

import ctypes
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from roto.resources import Resources

log = structlog.get_logger(__name__)

#: ``M_MMAP_THRESHOLD`` from glibc's malloc.h; setting it also stops the dynamic adjustment.
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 1024**2


def pin_mmap_threshold(nbytes: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap threshold at ``nbytes``; False where the C library has no ``mallopt``
    or refuses (not glibc)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, nbytes))


@asynccontextmanager
async def media_lifespan(resources: Resources) -> AsyncIterator[None]:
    """The media role's process set-up."""
    pinned = pin_mmap_threshold()
    log.info("malloc_mmap_threshold", bytes=MMAP_THRESHOLD_BYTES, pinned=pinned)
    yield
