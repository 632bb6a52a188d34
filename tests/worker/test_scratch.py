"""A worker's scratch directory: its temp files go there, and a starting worker removes those of
workers that were killed (whose lock nobody holds), never a live worker's."""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path

from roto.worker.scratch import LOCK_FILE, PREFIX, scratch_dir


def leftover(base: Path, name: str) -> Path:
    """The scratch directory of a worker killed mid-job: a half-written export in it."""
    path = base / f"{PREFIX}{name}"
    (path / "roto-export-x").mkdir(parents=True)
    (path / "roto-export-x" / "part.mov").write_bytes(b"\0" * 1024)
    (path / LOCK_FILE).touch()
    return path


def test_a_starting_worker_removes_the_scratch_of_killed_workers_only(tmp_path: Path) -> None:
    dead = leftover(tmp_path, "111-dead")
    alive = leftover(tmp_path, "222-alive")
    with (alive / LOCK_FILE).open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as its live worker does
        with scratch_dir(tmp_path) as mine:
            made = Path(tempfile.mkdtemp(prefix="roto-export-"))
            assert made.parent == mine
            assert os.environ["TMPDIR"] == str(mine)
            assert mine.name.startswith(f"{PREFIX}{os.getpid()}-")
            assert not dead.exists()
            assert alive.exists()
        assert not mine.exists()
    assert tempfile.gettempdir() != str(mine)
