"""Which frames a propagation must (re)compute, in plain Python.

An object's keyframes cut the video into segments: the frames before its first keyframe, those
between two neighbouring keyframes, and those after its last. A stored span records the part of
one segment that a propagation filled and the versions (newest prompt time) of the keyframes it
was computed from. A new prompt changes the version of its keyframe, or adds a keyframe and so
new segments, which makes exactly the segments next to it stale.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import NamedTuple

import msgspec


class Segment(NamedTuple):
    """Frames strictly between ``before`` and ``after`` (-1 and the frame count at the edges)."""

    before: int
    after: int


class SpanRow(msgspec.Struct, frozen=True):
    """A stored span: the frames [frame_start, frame_end] of one segment of one object."""

    object_id: int
    keyframe_before: int
    keyframe_after: int
    before_version: datetime | None
    after_version: datetime | None
    frame_start: int
    frame_end: int


class Piece(NamedTuple):
    """The part of a segment inside the requested range that must be computed."""

    segment: Segment
    first: int
    last: int


class Run(NamedTuple):
    """Frames ``first`` to ``last`` processed in one go for ``object_ids``."""

    first: int
    last: int
    object_ids: tuple[int, ...]


def segments(keyframes: Iterable[int], frame_count: int) -> list[Segment]:
    """The non-empty segments that an object's keyframes cut a video into, in order."""
    bounds = [-1, *sorted(set(keyframes)), frame_count]
    return [Segment(a, b) for a, b in itertools.pairwise(bounds) if b - a > 1]


def stale_pieces(
    versions: Mapping[int, datetime],
    spans: Iterable[SpanRow],
    frame_start: int,
    frame_end: int,
    frame_count: int,
) -> list[Piece]:
    """The parts of [frame_start, frame_end] that one object (keyframes -> version) needs:
    every segment's part that no stored span computed from the same keyframes covers."""
    stored = list(spans)
    pieces = []
    for segment in segments(versions, frame_count):
        first, last = max(segment.before + 1, frame_start), min(segment.after - 1, frame_end)
        if first > last:
            continue
        if not any(_covers(span, segment, versions, first, last) for span in stored):
            pieces.append(Piece(segment, first, last))
    return pieces


def _covers(
    span: SpanRow, segment: Segment, versions: Mapping[int, datetime], first: int, last: int
) -> bool:
    return (
        (span.keyframe_before, span.keyframe_after) == segment
        and span.before_version == versions.get(segment.before)
        and span.after_version == versions.get(segment.after)
        and span.frame_start <= first
        and last <= span.frame_end
    )


def plan_runs(
    pieces: Mapping[int, Sequence[Piece]], keyframes: Mapping[int, Iterable[int]]
) -> list[Run]:
    """Runs over the union of what the objects need, each with the objects that need part of
    it. An object's pieces on both sides of one of its own keyframes join into one run (the
    keyframe itself is not recomputed), so a correction's span is tracked in one go."""
    intervals: list[tuple[int, int, int]] = []
    for object_id, own in pieces.items():
        own_keyframes = set(keyframes.get(object_id, ()))
        for first, last in _join(sorted((p.first, p.last) for p in own), own_keyframes):
            intervals.append((first, last, object_id))
    intervals.sort()
    runs: list[Run] = []
    for first, last, object_id in intervals:
        if runs and first <= runs[-1].last + 1:
            previous = runs[-1]
            objects = tuple(sorted({*previous.object_ids, object_id}))
            runs[-1] = Run(previous.first, max(previous.last, last), objects)
        else:
            runs.append(Run(first, last, (object_id,)))
    return runs


def _join(blocks: list[tuple[int, int]], keyframes: set[int]) -> list[tuple[int, int]]:
    joined: list[tuple[int, int]] = []
    for first, last in blocks:
        if joined and all(f in keyframes for f in range(joined[-1][1] + 1, first)):
            joined[-1] = (joined[-1][0], last)
        else:
            joined.append((first, last))
    return joined


def needed_frames(pieces: Iterable[Piece]) -> set[int]:
    return {frame for piece in pieces for frame in range(piece.first, piece.last + 1)}


def span_row(object_id: int, piece: Piece, versions: Mapping[int, datetime]) -> SpanRow:
    """The row that records ``piece`` as computed from the current keyframes."""
    return SpanRow(
        object_id=object_id,
        keyframe_before=piece.segment.before,
        keyframe_after=piece.segment.after,
        before_version=versions.get(piece.segment.before),
        after_version=versions.get(piece.segment.after),
        frame_start=piece.first,
        frame_end=piece.last,
    )


class SpanState(NamedTuple):
    """Frames ``first`` to ``last`` of one object and what their masks are: ``fresh`` (computed
    from the keyframes as they are now), ``stale`` (from keyframes that have changed since) or
    ``missing`` (never propagated)."""

    first: int
    last: int
    state: str


def span_states(
    versions: Mapping[int, datetime], spans: Iterable[SpanRow], frame_count: int
) -> list[SpanState]:
    """Every frame of one object between and around its keyframes, as runs of one state."""
    stored = sorted(spans, key=lambda span: span.frame_start)
    runs: list[SpanState] = []
    for segment in segments(versions, frame_count):
        first, last = segment.before + 1, segment.after - 1
        cursor = first
        for span in stored:
            start, end = max(span.frame_start, first), min(span.frame_end, last)
            if start > end:
                continue
            if cursor < start:
                runs.append(SpanState(cursor, start - 1, "missing"))
            fresh = _covers(span, segment, versions, start, end)
            runs.append(SpanState(start, end, "fresh" if fresh else "stale"))
            cursor = end + 1
        if cursor <= last:
            runs.append(SpanState(cursor, last, "missing"))
    return _merge(runs)


def _merge(runs: list[SpanState]) -> list[SpanState]:
    merged: list[SpanState] = []
    for run in runs:
        if merged and merged[-1].state == run.state and merged[-1].last + 1 == run.first:
            merged[-1] = SpanState(merged[-1].first, run.last, run.state)
        else:
            merged.append(run)
    return merged


def trim(span: SpanRow, first: int, last: int) -> list[SpanRow]:
    """What is left of ``span`` once frames ``first``..``last`` are computed again: nothing, one
    end, or both ends of it."""
    left: list[SpanRow] = []
    if span.frame_start < first:
        left.append(msgspec.structs.replace(span, frame_end=min(span.frame_end, first - 1)))
    if span.frame_end > last:
        left.append(msgspec.structs.replace(span, frame_start=max(span.frame_start, last + 1)))
    return left


def resolve_range(
    direction: str,
    keyframes: Iterable[int],
    frame_count: int,
    frame_start: int | None = None,
    frame_end: int | None = None,
) -> tuple[int, int]:
    """The range a request means when it leaves ends out: forward runs from the earliest
    keyframe to the last frame, backward from the first frame to the latest keyframe, both
    over the whole video. Ends that are given are kept."""
    frames = sorted(keyframes)
    last = frame_count - 1
    start = frame_start
    if start is None:
        start = frames[0] if direction == "forward" and frames else 0
        # A keyframe past an explicit end: start at that end rather than pass it.
        start = min(start, last if frame_end is None else frame_end)
    end = frame_end
    if end is None:
        end = frames[-1] if direction == "backward" and frames else last
        end = max(end, start)
    return start, end
