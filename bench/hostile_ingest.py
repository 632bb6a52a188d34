"""Peak memory of the media worker's ingest on a decode bomb: a small MPEG-TS whose header says
64x64 (its first frames are) and whose later frames are huge.

    .venv/bin/python bench/hostile_ingest.py --side 16000
    .venv/bin/python bench/hostile_ingest.py --side 16000 --code ../main/src   # another checkout

Builds the file (12 frames of 64x64, then 2 of side x side, a few hundred KB), then runs the
ingest's media path on it in a fresh process: the probe and the frame extractor (decode, checks,
JPEG encoding) with uploads discarded, as the media worker runs them, with the default limits.
Prints the outcome (the refusal's code and message, or the frames stored) and the process's
peak resident memory (VmHWM) above its memory before the ingest. ``--code`` runs the same on the
``roto`` package of another source tree (e.g. main, before the per-frame checks).
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import av
import numpy as np

REPO = Path(__file__).resolve().parents[1]

RUN = textwrap.dedent(
    """
    import asyncio, inspect, json, sys, uuid
    from pathlib import Path

    def status(field):
        for line in open("/proc/self/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024

    from roto.media import probe
    from roto.media.frames import FrameExtractor
    from roto.settings import load_settings
    from roto.worker.contract import JobFailed

    class Discard:
        async def put_object(self, **kwargs):
            pass

    async def ingest(path):
        settings = load_settings({})
        if "max_pixels" in inspect.signature(probe.probe_file).parameters:
            info = probe.probe_file(path, settings.max_width * settings.max_height)
        else:
            info = probe.probe_file(path)
        probe.check_limits(info, path.stat().st_size, settings)
        kwargs = {"quality": settings.frame_jpeg_quality}
        accepted = inspect.signature(FrameExtractor).parameters
        if "guard" in accepted:  # this branch: checks every frame
            from roto.media.decoding import FrameGuard
            kwargs.update(
                proxy_quality=settings.proxy_jpeg_quality,
                guard=FrameGuard(settings.max_width, settings.max_height),
                max_frames=settings.max_frame_count,
            )
        else:  # before: the header's size sets the pipeline's depth
            from roto.media.frames import frames_in_flight
            kwargs["in_flight"] = frames_in_flight(info.width, info.height)
        extractor = FrameExtractor(Discard(), "bucket", uuid.uuid4(), **kwargs)

        async def progress(done):
            pass

        return await extractor.run(path, progress)

    before = status("VmRSS")
    try:
        outcome = f"stored {asyncio.run(ingest(Path(sys.argv[1])))} frames"
    except JobFailed as exc:
        outcome = f"refused: {exc.code}: {exc.message}"
    print(json.dumps({"outcome": outcome, "peak_mib": (status("VmHWM") - before) / 2**20}))
    """
)


def segment(width: int, height: int, frames: int) -> bytes:
    """An H.264 MPEG-TS of flat frames (MPEG-TS segments concatenate into one stream)."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mpegts") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        plane = np.full((height * 3 // 2, width), 128, dtype=np.uint8)
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(plane, format="yuv420p")
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--side", type=int, default=16000, help="size of the huge frames")
    parser.add_argument("--code", type=Path, default=REPO / "src", help="roto's source tree")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bomb.ts"
        path.write_bytes(segment(64, 64, 12) + segment(args.side, args.side, 2))
        print(f"file: {path.stat().st_size} bytes, 12 frames of 64x64 then 2 of {args.side}^2")
        done = subprocess.run(
            [sys.executable, "-c", RUN, str(path)],
            capture_output=True,
            text=True,
            env={"PYTHONPATH": str(args.code), "PATH": "/usr/bin:/bin"},
            check=False,
        )
        if done.returncode != 0:
            print(f"the ingest process died (exit {done.returncode}): {done.stderr[-400:]}")
            return
        result = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"code: {args.code}")
        print(f"outcome: {result['outcome']}")
        print(f"peak memory above the process's start: {result['peak_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
