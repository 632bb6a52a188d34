"""Streaming video propagation: frames are loaded just ahead of the model (a bounded window),
keyframes are seeded from their stored states, then each frame goes through the dynamic batcher in
processing order, and tracked outputs leave the memory bank once the model cannot read them.

Several propagations in one daemon share the batcher: each has one frame in flight, so a batch
holds at most one frame per video, and each video's frames arrive in order.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncGenerator, Callable, Coroutine, Iterable, Mapping, Sequence
from typing import Any, NamedTuple, get_args

import numpy as np
import structlog

from roto.jobs.contracts import Direction
from roto_gpu.batcher import Batcher, Priority, QueueFull
from roto_gpu.model.prompts import KeyframeState
from roto_gpu.tracking.requests import ObjectMasks, SeedRequest, StepRequest
from roto_gpu.tracking.tracker import VideoTracker

log = structlog.get_logger(__name__)

DIRECTIONS: tuple[Direction, ...] = get_args(Direction)
FrameLoader = Callable[[int], Coroutine[Any, Any, np.ndarray]]
# object id -> keyframe index -> that keyframe's stored state
Keyframes = Mapping[int, Mapping[int, KeyframeState]]

#: Frames loaded ahead of the one the model works on.
DEFAULT_LOOK_AHEAD = 4
#: Keyframes seeded at once (their encoder passes batch together).
SEED_CONCURRENCY = 4
QUEUE_FULL_BACKOFF_S = (0.05, 1.0)


class Leg(NamedTuple):
    """Frames ``first`` to ``last`` (both included) in processing order."""

    first: int
    last: int

    @property
    def reverse(self) -> bool:
        return self.last < self.first

    def frames(self) -> range:
        step = -1 if self.reverse else 1
        return range(self.first, self.last + step, step)


def choose_anchor(keyframes: Iterable[int], frame_start: int, frame_end: int) -> int:
    """Where a both-ways propagation starts: the earliest keyframe in the range, else the end
    of the range nearest to a keyframe."""
    frames = sorted(keyframes)
    inside = [f for f in frames if frame_start <= f <= frame_end]
    if inside:
        return inside[0]
    if not frames:
        return frame_start
    nearest = min(frames, key=lambda f: min(abs(f - frame_start), abs(f - frame_end)))
    return frame_start if abs(nearest - frame_start) <= abs(nearest - frame_end) else frame_end


def plan_legs(
    frame_start: int, frame_end: int, direction: Direction, anchor: int | None = None
) -> list[Leg]:
    """The legs that cover [frame_start, frame_end] once each; ``both`` goes forward from the
    anchor first, then backward from the frame before it (as SAM2's demo does)."""
    if not 0 <= frame_start <= frame_end:
        raise ValueError(f"bad frame range [{frame_start}, {frame_end}]")
    if direction == "forward":
        return [Leg(frame_start, frame_end)]
    if direction == "backward":
        return [Leg(frame_end, frame_start)]
    if direction != "both":
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}")
    anchor = frame_start if anchor is None else min(max(anchor, frame_start), frame_end)
    legs = [Leg(anchor, frame_end)]
    if anchor > frame_start:
        legs.append(Leg(anchor - 1, frame_start))
    return legs


class FrameWindow:
    """Frames in processing order, loaded ahead into a bounded deque; frames in ``skip`` are
    not loaded (their masks come from keyframes)."""

    def __init__(
        self, load: FrameLoader, order: Iterable[int], size: int, skip: frozenset[int]
    ) -> None:
        if size < 1:
            raise ValueError("the look-ahead window holds at least one frame")
        self._load = load
        self._order = iter(order)
        self._size = size
        self._skip = skip
        self._ahead: collections.deque[tuple[int, asyncio.Task[np.ndarray] | None]] = (
            collections.deque()
        )
        self.peak = 0

    @property
    def held(self) -> int:
        """Frames loaded or loading ahead of the one being processed."""
        return sum(1 for _, task in self._ahead if task is not None)

    async def next(self) -> tuple[int, np.ndarray | None] | None:
        """The next frame and its pixels (None if skipped); None after the last frame."""
        self._fill()
        if not self._ahead:
            return None
        frame, task = self._ahead.popleft()
        image = None if task is None else await task
        self._fill()
        return frame, image

    async def close(self) -> None:
        """Cancel the loads still ahead."""
        tasks = [task for _, task in self._ahead if task is not None]
        self._ahead.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _fill(self) -> None:
        while len(self._ahead) < self._size:
            frame = next(self._order, None)
            if frame is None:
                break
            task: asyncio.Task[np.ndarray] | None = None
            if frame not in self._skip:
                task = asyncio.create_task(self._load(frame), name=f"frame-{frame}")
            self._ahead.append((frame, task))
        self.peak = max(self.peak, self.held)


class Propagator:
    """One video's propagation over ``legs``; ``run`` yields ``(frame_index, masks)`` per frame
    in processing order, each object's mask at the source resolution with its score."""

    def __init__(
        self,
        tracker: VideoTracker,
        batcher: Batcher,
        *,
        num_frames: int,
        orig_hw: tuple[int, int],
        keyframes: Keyframes,
        legs: Sequence[Leg],
        load: FrameLoader,
        look_ahead: int = DEFAULT_LOOK_AHEAD,
    ) -> None:
        if not keyframes or any(not frames for frames in keyframes.values()):
            raise ValueError("every object needs at least one keyframe")
        self._batcher = batcher
        self._keyframes = keyframes
        self._legs = list(legs)
        self._load = load
        self._look_ahead = look_ahead
        self.state = tracker.new_state(num_frames, orig_hw, sorted(keyframes))
        self.window: FrameWindow | None = None

    async def run(self) -> AsyncGenerator[tuple[int, ObjectMasks], None]:
        """Seed the keyframes, then track leg by leg; closing the generator stops it."""
        await self._seed()
        state = self.state
        everywhere = set.intersection(*(set(frames) for frames in self._keyframes.values()))
        order = [frame for leg in self._legs for frame in leg.frames()]
        window = FrameWindow(self._load, order, self._look_ahead, frozenset(everywhere))
        self.window = window
        try:
            # One track step in flight at a time: declared, so its batch need not wait for company.
            with self._batcher.stream("track_step"):
                for number, leg in enumerate(self._legs):
                    state.unpin()
                    state.evict(leg.first)
                    if number + 1 < len(self._legs):
                        state.pin(self._legs[number + 1].first)
                    for frame in leg.frames():
                        loaded = await window.next()
                        assert loaded is not None and loaded[0] == frame
                        request = StepRequest(state, frame, loaded[1], leg.reverse)
                        masks: ObjectMasks = await self._submit("track_step", request)
                        yield frame, masks
                        state.evict(frame - 1 if leg.reverse else frame + 1)
        finally:
            await window.close()
            state.unpin()
            state.evict(None)

    async def _seed(self) -> None:
        """Condition every object on each of its keyframes, a few keyframes at a time."""
        by_frame: dict[int, dict[int, KeyframeState]] = {}
        for object_id, frames in self._keyframes.items():
            for frame, keyframe in frames.items():
                by_frame.setdefault(frame, {})[object_id] = keyframe
        limit = asyncio.Semaphore(SEED_CONCURRENCY)

        async def seed(frame: int, keyframes: dict[int, KeyframeState]) -> None:
            async with limit:
                with self._batcher.stream("track_seed"):
                    image = await self._load(frame)
                    request = SeedRequest(self.state, frame, image, keyframes)
                    await self._submit("track_seed", request)

        outcomes = await asyncio.gather(
            *(seed(f, p) for f, p in sorted(by_frame.items())), return_exceptions=True
        )
        failed = next((o for o in outcomes if isinstance(o, BaseException)), None)
        if failed is not None:
            raise failed
        log.debug("propagation_seeded", keyframes=len(by_frame))

    async def _submit(self, kind: str, item: Any) -> Any:
        """Submit at batch priority; a full queue is waited out, not failed."""
        delay, longest = QUEUE_FULL_BACKOFF_S
        while True:
            try:
                return await self._batcher.submit(kind, item, priority=Priority.BATCH)
            except QueueFull:
                await asyncio.sleep(delay)
                delay = min(delay * 2, longest)
