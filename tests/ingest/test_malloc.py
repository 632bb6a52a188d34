"""The media worker pins glibc's mmap threshold, so a large buffer freed and allocated again is
mapped afresh instead of growing the heap (which is what kept an export's RSS climbing)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest

from roto.media.role import media_role
from roto.worker.registry import build_role

# Frees a 16 MiB block (glibc then raises its threshold past 16 MiB unless it is pinned), then
# allocates 4 MiB and says whether that came as a new anonymous mapping rather than the heap.
PROBE = """
import sys
from roto.media.malloc import pin_mmap_threshold

def anonymous_mappings():
    found = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split()
            if len(fields) == 5:  # no path: anonymous, not [heap] or [stack]
                start, end = (int(x, 16) for x in fields[0].split("-"))
                found.add((start, end))
    return found

if sys.argv[1] == "pin":
    assert pin_mmap_threshold()
block = bytearray(16 * 2**20)
del block
before = anonymous_mappings()
buffer = bytearray(4 * 2**20)
print(any(end - start >= 4 * 2**20 for start, end in anonymous_mappings() - before))
"""


def probe(mode: str) -> bool:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
    )
    return out.stdout.strip() == "True"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
def test_a_pinned_threshold_maps_large_buffers_after_a_larger_one_was_freed() -> None:
    assert probe("default") is False  # glibc's own behaviour: the heap serves it
    assert probe("pin") is True


async def test_the_media_role_pins_the_threshold_when_it_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The role's serve enters ``media_lifespan`` (spied on here: the real one would pin the
    threshold of the test process itself)."""
    assert media_role.__module__ == "roto.media.role"
    entered: list[object] = []

    @contextlib.asynccontextmanager
    async def spy(resources: object) -> AsyncIterator[None]:
        entered.append(resources)
        yield

    monkeypatch.setattr("roto.media.role.media_lifespan", spy)
    async with build_role("media").serve("resources") as handlers:  # type: ignore[arg-type]
        assert entered == ["resources"]
        assert set(handlers) == {"ingest", "export"}
