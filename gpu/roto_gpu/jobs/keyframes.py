"""A keyframe's state from its prompts, decoded as SAM2's video predictor decodes them; the one
path by which both the segment job (the mask the user sees) and the propagate job (what the
tracker is seeded with) get a keyframe.

The prompts of a keyframe are a history, oldest first. Each prompt's state is decoded from the
state before it and stored, so undoing the last prompt gives back exactly the state before it,
and a deleted prompt in the middle makes the later ones be decoded again from there. The first
prompt starts from the frame as it was: never tracked (no memory, no previous mask, as SAM2 on a
new frame), or tracked (the tracker's memory of the other frames rebuilt from the stored track
records, and the tracked mask as the previous mask). That starting context is fixed for the
keyframe's life (stored), so the same prompts always decode the same way.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import numpy as np
import structlog

from roto.masks import rle
from roto.masks.schemas import Rle
from roto.objects.prompts_repository import KeyframeRow, PromptRow
from roto.resources import Resources
from roto.worker.contract import JobFailed
from roto_gpu import model_spans
from roto_gpu.batcher import Priority, RequestTiming
from roto_gpu.engine import Engine
from roto_gpu.jobs import repository as repo
from roto_gpu.jobs.frames import load_frame
from roto_gpu.jobs.track_store import (
    TrackChunk,
    TrackStore,
    context_key,
    encode_context,
    state_key,
)
from roto_gpu.model.embedding import Embedding, embedding_key
from roto_gpu.model.prompts import KeyframeRequest, KeyframeResult, KeyframeState
from roto_gpu.tracking.requests import ContextRequest, TrackRecord
from roto_gpu.tracking.state import MemoryWindow

log = structlog.get_logger(__name__)

#: A box's corners go to SAM2 as two points with these labels, before the clicks.
BOX_LABELS = (2, 3)


class Step(NamedTuple):
    """One decoder pass: an imported matte, or every point the keyframe holds at that prompt."""

    prompt: int  # index of the prompt in the keyframe's history
    matte: dict[str, Any] | None
    points: np.ndarray | None
    labels: np.ndarray | None


def decode_steps(rows: Sequence[PromptRow]) -> list[Step]:
    """The passes that SAM2's video predictor makes for these prompts in order: clicks add to
    the frame's points (``clear_old_points=False``), a box starts them over with its corners
    first (SAM2 takes a box only that way), and a matte replaces the mask and clears the points
    (``add_new_mask``); a prompt with a matte and clicks refines the matte."""
    points: list[list[float]] = []
    labels: list[int] = []
    steps: list[Step] = []
    for index, row in enumerate(rows):
        if row.mask is not None:
            points, labels = [], []
            steps.append(Step(index, row.mask, None, None))
        if row.box is not None:
            x0, y0, x1, y1 = row.box
            points = [[x0, y0], [x1, y1], *row.points]
            labels = [*BOX_LABELS, *row.labels]
        elif row.points:
            points = [*points, *row.points]
            labels = [*labels, *row.labels]
        if row.box is not None or row.points:
            steps.append(
                Step(index, None, np.array(points, dtype=np.float64), np.array(labels, np.int64))
            )
    return steps


class KeyframeOutcome(NamedTuple):
    """A keyframe's state after its newest prompt, and what was made to get it."""

    state: KeyframeState
    mask: np.ndarray  # bool, the source frame's height x width
    used: tuple[uuid.UUID, ...]  # the prompts it was made from, in order
    new_states: list[tuple[uuid.UUID, str]]  # (prompt id, state key) stored by this run
    new_keyframe: KeyframeRow | None  # the keyframe's context, when its first prompt made it
    decoded: int  # decoder passes run
    version: datetime
    timings: dict[str, float]  # milliseconds by step, for the job's log line


class _Clock:
    """Milliseconds spent per named step (a step seen twice adds up)."""

    def __init__(self) -> None:
        self._last = time.monotonic()
        self.laps: dict[str, float] = {}

    def lap(self, step: str) -> None:
        now = time.monotonic()
        self.add(step, now - self._last)
        self._last = now

    def add(self, step: str, seconds: float) -> None:
        """Count ``seconds`` measured elsewhere (inside a lap) under ``step`` too."""
        self.laps[step] = round(self.laps.get(step, 0.0) + seconds * 1000, 1)


@dataclass
class KeyframeComputer:
    """Computes keyframes of one video on the engine, at one priority."""

    engine: Engine
    resources: Resources
    video_id: uuid.UUID
    num_frames: int
    orig_hw: tuple[int, int]
    priority: Priority
    deadline: float | None = None
    #: The new states' S3 writes start once this is set (the job's answer is out, so they do not
    #: compete with it); None: at once.
    writes_after: asyncio.Event | None = None

    def __post_init__(self) -> None:
        self.store = TrackStore(self.resources.s3, self.resources.settings.s3_bucket)

    async def compute(
        self, object_id: int, frame: int, rows: Sequence[PromptRow], keyframe: KeyframeRow | None
    ) -> KeyframeOutcome:
        """The keyframe's state after ``rows`` (its prompts, oldest first), decoding what is not
        stored yet; ``keyframe`` is its stored context row (None: this run makes it)."""
        if not rows:
            raise JobFailed("no_prompts", "the object has no prompts on this frame")
        clock = _Clock()
        # Only the state the next pass starts from (or the final one) is read; one that is gone
        # from storage is made again with those after it.
        first_missing = next((i for i, r in enumerate(rows) if r.state_key is None), len(rows))
        before: KeyframeState | None = None
        while first_missing > 0 and before is None:
            key = rows[first_missing - 1].state_key
            before = await self.state(key) if key else None
            if before is None:
                first_missing -= 1
        version = max(row.version or row.created_at for row in rows)
        used = tuple(row.id for row in rows)
        clock.lap("states_ms")
        if first_missing == len(rows):
            assert before is not None
            mask = await self._submit("render", (before, self.orig_hw))
            clock.lap("render_ms")
            return KeyframeOutcome(before, mask, used, [], None, 0, version, clock.laps)

        embedding = await self.embedding(frame)
        clock.lap("embedding_ms")
        context, prev_raw, new_keyframe = await self._context(object_id, frame, keyframe, embedding)
        clock.lap("context_ms")
        prev: np.ndarray | None = None
        prev_is_raw = False
        if before is not None:
            prev = before.pred_masks
        elif prev_raw is not None:
            prev, prev_is_raw = prev_raw, True
        new_states: list[tuple[uuid.UUID, str]] = []
        result: KeyframeResult | None = None
        decoded = 0
        steps = [step for step in decode_steps(rows) if step.prompt >= first_missing]
        for number, step in enumerate(steps):
            request = self._request(step, embedding, context, prev, prev_is_raw)
            timing = RequestTiming()
            result = await self._submit("keyframe", request, timing)
            clock.lap("decode_ms")
            clock.add("decode_model_ms", timing.model_s)
            decoded += 1
            prev, prev_is_raw = result.state.pred_masks, False
            last_of_prompt = number + 1 == len(steps) or steps[number + 1].prompt != step.prompt
            if last_of_prompt:
                row = rows[step.prompt]
                key = state_key(self.video_id, object_id, frame, row.id)
                kept = self.engine.states.keep(key, result.state)
                # Serialized in the write itself, behind the answer.
                self.engine.states.write_behind(
                    key, self._put_state(key, kept), after=self.writes_after
                )
                new_states.append((row.id, key))
                clock.lap("state_store_ms")
        assert result is not None, "a stored prompt without a state has a pass to run"
        return KeyframeOutcome(
            result.state, result.mask, used, new_states, new_keyframe, decoded, version, clock.laps
        )

    async def state(self, key: str) -> KeyframeState | None:
        """The state at ``key``: kept in this process since it was made, else read from S3."""
        return self.engine.states.get(key) or await self.store.state(key)

    async def embedding(self, frame: int) -> Embedding:
        """The frame's backbone features: this process's memory, Redis, or the encoder."""
        engine = self.engine
        key = embedding_key(engine.model.model_id, str(self.video_id), frame)

        async def encode() -> Embedding:
            image = await load_frame(
                self.resources.s3, self.resources.settings.s3_bucket, self.video_id, frame
            )
            encoded: Embedding = await self._submit("encode", image)
            return encoded

        embedding, _ = await engine.embeddings.get(key, encode)
        if embedding.orig_hw != self.orig_hw:
            height, width = embedding.orig_hw
            raise JobFailed(
                "frame_size_mismatch",
                f"stored frame {frame} is {width}x{height}, "
                f"the video {self.orig_hw[1]}x{self.orig_hw[0]}",
            )
        return embedding

    def _request(
        self,
        step: Step,
        embedding: Embedding,
        context: np.ndarray | None,
        prev: np.ndarray | None,
        prev_is_raw: bool,
    ) -> KeyframeRequest:
        if step.matte is not None:
            matte = rle.decode(Rle(size=step.matte["size"], counts=step.matte["counts"]))
            return KeyframeRequest(embedding, matte=matte)
        return KeyframeRequest(
            embedding,
            context=context,
            points=step.points,
            labels=step.labels,
            prev_logits=prev,
            prev_is_raw=prev_is_raw,
        )

    async def _context(
        self, object_id: int, frame: int, keyframe: KeyframeRow | None, embedding: Embedding
    ) -> tuple[np.ndarray | None, np.ndarray | None, KeyframeRow | None]:
        """(memory-conditioned features or None, the tracked mask's raw logits or None, the
        keyframe row to store when this run fixes the context)."""
        async with self.resources.pool.acquire() as conn:
            chunks = await repo.tracked_chunks(conn, self.video_id, object_id, [frame])
        found = await self.store.record(chunks[frame], frame) if frame in chunks else None
        prev_raw = found[0].logits if found is not None else None
        if keyframe is not None:
            context = None
            if keyframe.context_key is not None:
                loaded = await self.store.context(keyframe.context_key)
                if loaded is None:
                    log.warning("keyframe_context_missing", key=keyframe.context_key)
                else:
                    context = loaded[0]
            return context, prev_raw, None
        if found is None:
            return None, None, KeyframeRow(self.video_id, object_id, frame, None, False)
        record, chunk = found
        context = await self._rebuild_memory(object_id, frame, record, chunk, embedding)
        key = context_key(self.video_id, object_id, frame)
        await self.store.put(key, encode_context(context, record.reverse))
        row = KeyframeRow(self.video_id, object_id, frame, key, record.reverse)
        return context, prev_raw, row

    async def _rebuild_memory(
        self,
        object_id: int,
        frame: int,
        record: TrackRecord,
        chunk: TrackChunk,
        embedding: Embedding,
    ) -> np.ndarray:
        """The memory-conditioned features the tracker had on ``frame``: its run's keyframe
        states, and the records of the frames tracked before it in its direction."""
        window = MemoryWindow.of(self.engine.model.video_predictor, self.num_frames)
        step = 1 if record.reverse else -1
        before = [
            frame + step * k
            for k in range(1, window.pointers + 1)
            if 0 <= frame + step * k < self.num_frames
        ]
        async with self.resources.pool.acquire() as conn:
            chunks = await repo.tracked_chunks(conn, self.video_id, object_id, before)
        tracked: dict[int, tuple[TrackRecord, bool]] = {}
        for t in before:
            if t in chunk.keyframes or t not in chunks:
                continue
            found = await self.store.record(chunks[t], t)
            if found is not None:
                tracked[t] = (found[0], abs(t - frame) <= window.spatial)
        keyframes: dict[int, KeyframeState] = {}
        for k, key in chunk.keyframes.items():
            state = await self.store.state(key)
            if state is None:
                log.warning("run_keyframe_state_missing", key=key)
                continue
            keyframes[k] = state
        wanted = sorted({*keyframes, *(t for t, (_, near) in tracked.items() if near)})
        embeddings = dict(
            zip(wanted, await asyncio.gather(*(self.embedding(f) for f in wanted)), strict=True)
        )
        request = ContextRequest(
            frame_index=frame,
            num_frames=self.num_frames,
            reverse=record.reverse,
            current=embedding,
            keyframes={k: (embeddings[k], state) for k, state in keyframes.items()},
            tracked={t: (embeddings[t] if near else None, r) for t, (r, near) in tracked.items()},
        )
        features: np.ndarray = await self._submit("track_context", request)
        log.info(
            "keyframe_memory_rebuilt",
            frame=frame,
            keyframes=len(keyframes),
            tracked=len(tracked),
            encoded=len(wanted),
        )
        return features

    async def _put_state(self, key: str, state: KeyframeState) -> None:
        await self.store.put(key, state.to_bytes())

    async def _submit(self, kind: str, item: Any, timing: RequestTiming | None = None) -> Any:
        return await model_spans.submit(
            self.engine.batcher,
            kind,
            item,
            priority=self.priority,
            deadline=self.deadline,
            timing=timing,
        )
