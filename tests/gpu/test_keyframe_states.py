"""The keyframe states a daemon keeps in memory and writes to S3 behind the answer."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from roto_gpu.keyframe_states import RecentStates
from roto_gpu.model.prompts import KeyframeState


def state(value: float) -> KeyframeState:
    logits = np.full((4, 4), value, dtype=np.float32)
    return KeyframeState(logits, np.arange(3, dtype=np.float32), 0.5, 0.9)


def test_a_state_as_stored_is_what_a_read_of_its_bytes_gives() -> None:
    rng = np.random.default_rng(3)
    made = KeyframeState(
        rng.normal(size=(8, 8)),  # float64, as a model output could be
        rng.normal(size=5).astype(np.float32),
        np.float32(-0.37),
        0.123456789012345,
    )
    kept, read = made.as_stored(), KeyframeState.from_bytes(made.to_bytes())
    assert kept.pred_masks.dtype == read.pred_masks.dtype == np.float32
    np.testing.assert_array_equal(kept.pred_masks, read.pred_masks)
    np.testing.assert_array_equal(kept.obj_ptr, read.obj_ptr)
    assert (kept.object_score_logits, kept.score) == (read.object_score_logits, read.score)
    assert type(kept.score) is float and type(kept.object_score_logits) is float
    assert kept.obj_ptr is not made.obj_ptr  # its own copy


def test_a_kept_state_reads_back_as_stored_and_the_oldest_goes_first() -> None:
    states = RecentStates(entries=2)
    for name, value in (("a", 1.0), ("b", 2.0)):
        states.keep(name, state(value))
    assert states.get("a") is not None  # now the most recently used
    states.keep("c", state(3.0))
    assert states.get("b") is None
    kept = states.get("a")
    assert kept is not None
    assert kept.pred_masks.dtype == np.float32
    np.testing.assert_array_equal(kept.pred_masks, state(1.0).pred_masks)
    assert (kept.object_score_logits, kept.score) == (0.5, 0.9)


async def test_a_failed_write_is_logged_and_flush_waits_for_the_writes_under_way() -> None:
    states = RecentStates()
    release = asyncio.Event()
    written: list[str] = []

    async def slow() -> None:
        await release.wait()
        written.append("slow")

    async def failing() -> None:
        raise ConnectionError("S3 is away")

    states.write_behind("slow", slow())
    states.write_behind("failing", failing())
    assert await states.flush(0.05) == 1  # the slow one is still under way
    release.set()
    assert await states.flush(5.0) == 0
    assert written == ["slow"] and states.pending == 0


async def test_a_write_held_for_its_job_starts_once_the_job_is_finished() -> None:
    states = RecentStates()
    finished = asyncio.Event()
    written: list[str] = []

    async def write() -> None:
        written.append("state")

    states.write_behind("held", write(), after=finished)
    await asyncio.sleep(0.05)
    assert written == [] and states.pending == 1  # held while the job is answered
    finished.set()
    for _ in range(500):  # up to 5 s on a loaded machine; at once here
        if written:
            break
        await asyncio.sleep(0.01)
    assert written == ["state"]


async def test_a_flush_starts_the_held_writes() -> None:
    # At the daemon's shutdown: a write whose job never reported its end is not left behind.
    states = RecentStates()
    written: list[str] = []

    async def write() -> None:
        written.append("state")

    states.write_behind("held", write(), after=asyncio.Event())
    assert await states.flush(5.0) == 0
    assert written == ["state"]
    # Later writes are held again.
    states.write_behind("next", write(), after=asyncio.Event())
    await asyncio.sleep(0.05)
    assert written == ["state"] and states.pending == 1
    assert await states.flush(5.0) == 0


def test_at_least_one_entry() -> None:
    with pytest.raises(ValueError, match="entries"):
        RecentStates(entries=0)
