"""Which frames a propagation must compute: segments between keyframes, stale pieces against
stored spans, runs joined across an object's own keyframes, and the ranges requests leave out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from roto.propagations.spans import (
    Piece,
    Run,
    Segment,
    SpanRow,
    SpanState,
    needed_frames,
    plan_runs,
    resolve_range,
    segments,
    span_row,
    span_states,
    stale_pieces,
    trim,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def versions(*frames: int, at: datetime = T0) -> dict[int, datetime]:
    return {frame: at for frame in frames}


def test_keyframes_cut_the_video_into_segments_without_empty_ones() -> None:
    assert segments([4, 8], 12) == [Segment(-1, 4), Segment(4, 8), Segment(8, 12)]
    assert segments([0, 1, 11], 12) == [Segment(1, 11)]
    assert list(range(Segment(4, 8).before + 1, Segment(4, 8).after)) == [5, 6, 7]


def test_without_spans_every_segment_in_the_range_is_stale() -> None:
    pieces = stale_pieces(versions(0, 8), [], 0, 11, 12)
    assert pieces == [Piece(Segment(0, 8), 1, 7), Piece(Segment(8, 12), 9, 11)]
    assert needed_frames(pieces) == {1, 2, 3, 4, 5, 6, 7, 9, 10, 11}
    assert stale_pieces(versions(0, 8), [], 3, 9, 12) == [
        Piece(Segment(0, 8), 3, 7),
        Piece(Segment(8, 12), 9, 9),
    ]


def recorded(keyframes: dict[int, datetime], frame_start: int, frame_end: int) -> list[SpanRow]:
    return [
        span_row(1, p, keyframes) for p in stale_pieces(keyframes, [], frame_start, frame_end, 12)
    ]


def test_a_new_keyframe_makes_only_the_segment_it_splits_stale() -> None:
    spans = recorded(versions(0, 8), 0, 11)
    assert stale_pieces(versions(0, 8), spans, 0, 11, 12) == []
    later = {**versions(0, 8), 4: T0 + timedelta(seconds=5)}
    assert stale_pieces(later, spans, 0, 11, 12) == [
        Piece(Segment(0, 4), 1, 3),
        Piece(Segment(4, 8), 5, 7),
    ]


def test_a_new_prompt_on_a_keyframe_makes_both_its_neighbouring_segments_stale() -> None:
    spans = recorded(versions(0, 4, 8), 0, 11)
    changed = {**versions(0, 4, 8), 4: T0 + timedelta(seconds=1)}
    assert stale_pieces(changed, spans, 0, 11, 12) == [
        Piece(Segment(0, 4), 1, 3),
        Piece(Segment(4, 8), 5, 7),
    ]


def test_a_span_that_covered_less_of_its_segment_does_not_count_for_more() -> None:
    spans = recorded(versions(0), 0, 5)
    assert stale_pieces(versions(0), spans, 0, 5, 12) == []
    assert stale_pieces(versions(0), spans, 0, 11, 12) == [Piece(Segment(0, 12), 1, 11)]


def test_runs_join_an_objects_pieces_across_its_own_keyframes_and_merge_objects() -> None:
    pieces = {
        1: [Piece(Segment(0, 4), 1, 3), Piece(Segment(4, 8), 5, 7)],
        2: [Piece(Segment(9, 12), 10, 11)],
    }
    assert plan_runs(pieces, {1: [0, 4, 8], 2: [9]}) == [Run(1, 7, (1,)), Run(10, 11, (2,))]
    pieces[2] = [Piece(Segment(-1, 6), 0, 5)]
    assert plan_runs(pieces, {1: [0, 4, 8], 2: [6]}) == [Run(0, 7, (1, 2))]
    # A gap that is not the object's keyframe splits runs.
    gap = {1: [Piece(Segment(0, 4), 1, 2), Piece(Segment(4, 8), 5, 7)]}
    assert plan_runs(gap, {1: [0, 4, 8]}) == [Run(1, 2, (1,)), Run(5, 7, (1,))]


def test_left_out_range_follows_the_keyframes_and_the_direction() -> None:
    assert resolve_range("forward", [7, 3], 20) == (3, 19)
    assert resolve_range("backward", [7, 3], 20) == (0, 7)
    assert resolve_range("both", [7, 3], 20) == (0, 19)
    assert resolve_range("forward", [7], 20, frame_start=1) == (1, 19)
    assert resolve_range("forward", [15], 20, frame_end=10) == (10, 10)
    assert resolve_range("backward", [2], 20, frame_start=5) == (5, 5)
    assert resolve_range("backward", [2], 20, frame_start=5, frame_end=9) == (5, 9)


def span(before: int, after: int, first: int, last: int, at: datetime = T0) -> SpanRow:
    return SpanRow(
        object_id=1,
        keyframe_before=before,
        keyframe_after=after,
        before_version=at if before >= 0 else None,
        after_version=at if after < 12 else None,
        frame_start=first,
        frame_end=last,
    )


def test_span_states_tell_fresh_stale_and_missing_frames_apart() -> None:
    # Propagated from keyframe 0 to the end; then a correction on frame 6 (a new keyframe).
    before_correction = [span(0, 12, 1, 11)]
    assert span_states(versions(0), before_correction, 12) == [SpanState(1, 11, "fresh")]
    assert span_states(versions(0, 6), before_correction, 12) == [
        SpanState(1, 5, "stale"),
        SpanState(7, 11, "stale"),
    ]
    # The stale span was recomputed up to the correction only; after it, still stale; nothing
    # before keyframe 0 was ever propagated.
    after_update = [span(0, 6, 1, 5), *trim(span(0, 12, 1, 11), 1, 5)]
    assert span_states(versions(0, 6), after_update, 12) == [
        SpanState(1, 5, "fresh"),
        SpanState(7, 11, "stale"),
    ]
    moved = span_states(versions(2, 6), after_update, 12)
    assert moved[:2] == [SpanState(0, 0, "missing"), SpanState(1, 1, "stale")]


def test_a_span_made_at_another_version_of_its_keyframe_is_stale() -> None:
    later = T0 + timedelta(seconds=5)
    assert span_states({0: later}, [span(0, 12, 1, 11)], 12) == [SpanState(1, 11, "stale")]


def test_trimming_keeps_what_a_recomputation_did_not_cover() -> None:
    old = span(0, 12, 1, 11)
    assert trim(old, 1, 11) == []
    assert [(r.frame_start, r.frame_end) for r in trim(old, 1, 5)] == [(6, 11)]
    assert [(r.frame_start, r.frame_end) for r in trim(old, 4, 8)] == [(1, 3), (9, 11)]
    assert all(r.keyframe_before == 0 and r.keyframe_after == 12 for r in trim(old, 4, 8))
