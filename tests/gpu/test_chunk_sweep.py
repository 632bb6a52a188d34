"""Which orphan chunks the sweep may delete: only those whose writer can never index them."""

from __future__ import annotations

import uuid

from roto.masks.storage import chunk_key, chunk_writer_id, keyframe_mask_key
from roto_gpu.jobs.chunk_sweep import Writer, is_sweepable

VIDEO = uuid.UUID("00000000-0000-0000-0000-0000000000aa")
JOB = uuid.UUID("00000000-0000-0000-0000-000000000001")
OTHER = uuid.UUID("00000000-0000-0000-0000-000000000002")


def test_writer_is_read_back_from_a_chunk_key() -> None:
    key = chunk_key(VIDEO, 3, f"{JOB}-2", 48)
    assert Writer.parse(chunk_writer_id(key) or "") == Writer(JOB, 2)


def test_keys_this_code_did_not_write_have_no_writer() -> None:
    assert chunk_writer_id(keyframe_mask_key(VIDEO, 3, 5)) is None
    assert Writer.parse("not-a-writer") is None
    assert Writer.parse(str(JOB)) is None


def test_earlier_attempts_of_the_sweeping_job_are_sweepable_later_ones_not() -> None:
    sweeper = Writer(JOB, 2)
    assert is_sweepable(Writer(JOB, 1), sweeper, set())
    assert not is_sweepable(Writer(JOB, 2), sweeper, set())
    assert not is_sweepable(Writer(JOB, 3), sweeper, set())


def test_another_jobs_chunks_are_sweepable_only_once_it_finished() -> None:
    sweeper = Writer(JOB, 1)
    assert not is_sweepable(Writer(OTHER, 1), sweeper, set())
    assert is_sweepable(Writer(OTHER, 1), sweeper, {OTHER})
