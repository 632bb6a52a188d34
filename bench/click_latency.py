"""Click-to-mask latency through the whole embedded stack (API -> GPU daemon -> API), next to
the model's own time measured in this process, so that the stack's overhead is a visible number;
and a refinement click (a correction, decoded as SAM2's video predictor decodes it) against a
fresh click at the same image size.

    .venv/bin/python bench/click_latency.py --image-size 256 --clicks 10

Starts ``python -m roto.devstack`` on free ports with a temporary ROTO_DATA_DIR, registers a user,
uploads a generated video through its presigned URL, waits for ingest and for the GPU daemon,
creates two objects, then clicks (``POST /prompts?wait=30``):
- fresh clicks (``mode: replace``: a new keyframe, no memory, no previous mask) once on each of N
  new frames (the encoder runs), and N times on one frame already seen (only the decoder runs);
- refining clicks on a keyframe (``mode: add``: the previous mask goes into the decoder);
- first corrections on N propagated frames of the second object (the tracker's memory of the
  frame is rebuilt from stored track records: encoder passes for frames not cached, memory
  encoder and attention, then the decoder);
- a few fresh clicks after a pause longer than the daemon's SQS long poll.
A click's job reaches the daemon through the fast lane (``roto.jobs.lane``), or through the
outbox and SQS when the stack runs with ``ROTO_JOB_LANE=false`` (``--no-lane``).
Then it builds the same model here and times the encoder and the decoder alone, and times the
bare server calls a click cannot avoid (``bench/stack_floor.py``: the floor under the stack's
share). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import stack_floor  # bench/, beside this script

REPO = Path(__file__).resolve().parents[1]
READY_TIMEOUT_S = 300.0
# The daemon's own timings (its segment_done and segment_mask_stored log lines).
# The log lines, one per stage boundary, that ``stages`` reads (all processes, by job id).
STAGE_EVENTS = (
    "job_queued",  # the API committed the job and its outbox row (and offered it on the lane)
    "job_received",  # the daemon took it from the lane, or its SQS receive returned it
    "job_started",  # claimed (running) and announced
    "segment_done",  # the mask is made
    "job_succeeded",  # finished, stored and announced
)
# Seen only when the job went through SQS: the relay's SendMessageBatch returned.
SQS_EVENT = "outbox_sent"
DAEMON_STEPS = {
    "states_ms": "prompt rows and stored states",
    "embedding_ms": "embedding (cache or S3+encoder)",
    "context_ms": "memory context (rebuilt on a tracked frame)",
    "decode_ms": "mask decoder via batcher",
    "decode_model_ms": "of which the model function",
    "state_store_ms": "prompt's state kept (S3 write behind)",
    "store_ms": "then stored: S3, masks row, Redis",
}


def percentiles(values: list[float]) -> tuple[float, float]:
    """(p50, p95) in milliseconds."""
    if len(values) == 1:
        return values[0] * 1000, values[0] * 1000
    cuts = statistics.quantiles(values, n=20, method="inclusive")
    return statistics.median(values) * 1000, cuts[18] * 1000


def frame_image(index: int, width: int, height: int) -> np.ndarray:
    """A gradient with a bright disc that moves a little every frame: something to click on."""
    x = np.linspace(0, 160, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 60, height, dtype=np.float32)[:, None, None]
    image = np.broadcast_to(x + y, (height, width, 3)).copy()
    cx, cy, radius = disc(index, width, height)
    yy, xx = np.ogrid[:height, :width]
    image[(xx - cx) ** 2 + (yy - cy) ** 2 <= radius**2] = (240, 230, 40)
    return image.astype(np.uint8)


def disc(index: int, width: int, height: int) -> tuple[int, int, int]:
    return int(width * (0.2 + 0.6 * (index % 50) / 50)), height // 2, min(width, height) // 6


def make_clip(path: Path, frames: int, width: int, height: int) -> list[np.ndarray]:
    images = [frame_image(i, width, height) for i in range(frames)]
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for image in images:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return images


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def start_stack(
    data_dir: Path, args: argparse.Namespace, tree: Path | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """The dev stack on free ports; its code from ``tree`` (another checkout of this
    repository) instead of the installed one when given."""
    port, redis_port, aws_port = free_ports(3)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ROTO_", "AWS_"))}
    if tree is not None:
        env["PYTHONPATH"] = os.pathsep.join(str(tree / part) for part in ("src", "gpu"))
    env.update(
        ROTO_DATA_DIR=str(data_dir),
        ROTO_PORT=str(port),
        ROTO_DEVSTACK_REDIS_PORT=str(redis_port),
        ROTO_DEVSTACK_AWS_PORT=str(aws_port),
        ROTO_MODEL_SIZE=args.model_size,
        ROTO_MODEL_IMAGE_SIZE=str(args.image_size),
        ROTO_LOG_LEVEL="INFO",
        ROTO_LOG_JSON="true",
        ROTO_JOB_LANE="false" if args.no_lane else "true",
    )
    log = (data_dir / "bench-stack.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "roto.devstack"],
        cwd=tree or REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return proc, f"http://127.0.0.1:{port}"


def wait_for_daemon(http: httpx.Client, proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    """/readyz answers 200 and names the daemon's model (published once the model is loaded)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the stack exited with {proc.returncode}")
        try:
            answer = http.get("/readyz")
            if answer.status_code == 200 and answer.json().get("model"):
                model: dict[str, Any] = answer.json()["model"]
                return model
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("the stack or its GPU daemon did not get ready in time")


def prepare_video(http: httpx.Client, clip: Path) -> str:
    """Register, upload ``clip`` through its presigned URL, wait for ingest; the video id."""
    email = f"bench-{time.time_ns()}@example.com"
    tokens = http.post("/v1/auth/register", json={"email": email, "password": "bench-password"})
    http.headers["Authorization"] = f"Bearer {tokens.json()['access_token']}"
    data = clip.read_bytes()
    created = http.post(
        "/v1/videos",
        json={"filename": clip.name, "content_type": "video/mp4", "size_bytes": len(data)},
    ).json()
    upload = created["upload"]
    httpx.put(upload["url"], content=data, headers=upload["headers"], timeout=60).raise_for_status()
    video_id: str = created["video"]["id"]
    http.post(f"/v1/videos/{video_id}/upload-complete", json={}).raise_for_status()
    while (video := http.get(f"/v1/videos/{video_id}").json())["status"] == "ingesting":
        time.sleep(0.2)
    if video["status"] != "ready":
        raise SystemExit(f"ingest failed: {video['error']}")
    return video_id


def click(
    http: httpx.Client,
    video_id: str,
    frame: int,
    point: tuple[int, int],
    *,
    mode: str = "replace",
    object_id: int = 1,
    label: int = 1,
) -> dict[str, Any]:
    """One click; its wall time and the job's own timestamps."""
    body = {"object_id": object_id, "frame_index": frame, "points": [list(point)]}
    body |= {"labels": [label], "box": None, "mode": mode}
    sent_at = time.time()
    began = time.perf_counter()
    answer = http.post(f"/v1/videos/{video_id}/prompts", params={"wait": 30}, json=body)
    took = time.perf_counter() - began
    answered_at = time.time()
    job = answer.json().get("job", {})
    if answer.status_code != 200:
        print(f"  click on frame {frame}: {answer.status_code} {answer.text[:300]}")
    stamps = [job.get(name) for name in ("created_at", "started_at", "finished_at")]
    created, started, finished = (
        datetime.fromisoformat(s.replace("Z", "+00:00")) if s else None for s in stamps
    )
    return {
        "job_id": job.get("id"),
        "total": took,
        "sent_at": sent_at,
        "answered_at": answered_at,
        "pickup": (started - created).total_seconds() if created and started else None,
        "run": (finished - started).total_seconds() if started and finished else None,
    }


def log_entries(data_dir: Path) -> list[dict[str, Any]]:
    """Every JSON log line of the stack's processes (the API with its outbox relay, the workers)."""
    entries: list[dict[str, Any]] = []
    for path in sorted((data_dir / "logs").glob("*.log")):
        for line in path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                entries.append(entry)
    return entries


def job_timeline(entries: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per job id: the daemon's step timings (``*_ms``) and the wall-clock instant (seconds) of
    each stage's log line (``STAGE_EVENTS``), from every process's log."""
    jobs: dict[str, dict[str, float]] = {}
    for entry in entries:
        event = entry.get("event")
        if event in ("segment_done", "segment_mask_stored"):
            timings = {k: v for k, v in entry.items() if k.endswith("_ms")}
            jobs.setdefault(entry.get("job_id", ""), {}).update(timings)
        if event == "job_received":
            jobs.setdefault(entry.get("job_id", ""), {}).setdefault("via", entry.get("via", "sqs"))
        if (event not in STAGE_EVENTS and event != SQS_EVENT) or "timestamp" not in entry:
            continue
        at = datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00")).timestamp()
        ids = entry.get("job_ids") or [entry.get("job_id", "")]
        for job_id in ids:
            jobs.setdefault(job_id, {}).setdefault(f"at_{event}", at)
    return jobs


def stages(click: dict[str, Any]) -> dict[str, float] | None:
    """Where one click's time went, in seconds, stage by stage (they add up to the round trip);
    None when a stage's log line is missing."""
    needed = ["at_" + event for event in STAGE_EVENTS] + ["decode_ms", "store_ms"]
    if any(name not in click for name in needed):
        return None
    ms = 1 / 1000
    run = click["at_segment_done"] - click["at_job_started"]
    store = (click.get("state_store_ms", 0.0) + click["store_ms"]) * ms
    return {
        "API: request, checks, transaction": click["at_job_queued"] - click["sent_at"],
        "hand-over: committed -> received": click["at_job_received"] - click["at_job_queued"],
        "receive: claim the job": click["at_job_started"] - click["at_job_received"],
        "frame fetch: prompts, embedding": run
        - click["decode_ms"] * ms
        - click.get("state_store_ms", 0.0) * ms,
        "decode (batcher + decoder)": click["decode_ms"] * ms,
        "store: state, mask, row, Redis": store,
        "notify: finish row, publish": click["at_job_succeeded"]
        - click["at_segment_done"]
        - click["store_ms"] * ms,
        "answer: event -> client": click["answered_at"] - click["at_job_succeeded"],
    }


def model_times(
    args: argparse.Namespace, images: list[np.ndarray]
) -> tuple[list[float], list[float], list[float]]:
    """The encoder's and the mask decoder's own time, one image or one click at a time: a fresh
    click (no memory, no previous mask) and a refining one (memory features and a previous mask,
    as a correction on a tracked frame is decoded)."""
    from roto_gpu.model.prompts import KeyframeRequest
    from roto_gpu.model.sam2_model import ModelOptions, Sam2Model

    options = ModelOptions(
        size=args.model_size, image_size=args.image_size, allow_random_weights=True
    )
    model = Sam2Model(options, None)
    encode: list[float] = []
    fresh: list[float] = []
    refine: list[float] = []
    embeddings = []
    for image in images[: args.clicks]:
        began = time.perf_counter()
        embeddings.extend(model.encode_images([image]))
        encode.append(time.perf_counter() - began)
    height, width = images[0].shape[:2]
    cx, cy, _ = disc(0, width, height)
    first = KeyframeRequest(embeddings[0], points=np.array([[cx, cy]]), labels=np.array([1]))
    (seed,) = model.decode_keyframes([first])
    context = embeddings[0].image_embed.copy()  # memory-conditioned features have this shape
    for index in range(args.clicks):
        request = first._replace(points=np.array([[cx + index, cy]]))
        began = time.perf_counter()
        model.decode_keyframes([request])
        fresh.append(time.perf_counter() - began)
        refining = request._replace(context=context, prev_logits=seed.state.pred_masks)
        began = time.perf_counter()
        model.decode_keyframes([refining])
        refine.append(time.perf_counter() - began)
    return encode, fresh, refine


def propagate(http: httpx.Client, video_id: str, object_id: int) -> None:
    """Propagate one object forward over the video and wait for the job."""
    answer = http.post(
        f"/v1/videos/{video_id}/propagations",
        json={"object_ids": [object_id], "direction": "forward"},
    )
    answer.raise_for_status()
    job_id = answer.json()["job"]["id"]
    while (job := http.get(f"/v1/jobs/{job_id}").json())["status"] in ("queued", "running"):
        time.sleep(0.2)
    if job["status"] != "succeeded":
        raise SystemExit(f"propagation failed: {job['error']}")


def show(name: str, values: list[float]) -> float:
    if not values:
        print(f"  {name:<34} no data")
        return 0.0
    p50, p95 = percentiles(values)
    print(f"  {name:<34} p50 {p50:8.1f} ms   p95 {p95:8.1f} ms   (n={len(values)})")
    return p50


def run(args: argparse.Namespace, data_dir: Path) -> None:
    frames = 2 * args.clicks + 4
    images = make_clip(data_dir / "clip.mp4", frames, args.width, args.height)
    proc, api = start_stack(data_dir, args)
    uncached: list[dict[str, Any]] = []
    cached: list[dict[str, Any]] = []
    refining: list[dict[str, Any]] = []
    corrections: list[dict[str, Any]] = []
    idle: list[dict[str, Any]] = []
    try:
        with httpx.Client(base_url=api, timeout=60) as http:
            model = wait_for_daemon(http, proc)
            print(f"stack up: model {model.get('model_id')} on {model.get('device')}")
            video_id = prepare_video(http, data_dir / "clip.mp4")
            for _ in range(2):
                http.post(f"/v1/videos/{video_id}/objects", json={}).raise_for_status()
            first = click(http, video_id, 0, disc(0, args.width, args.height)[:2])
            queued, ran = (first["pickup"] or 0) * 1000, (first["run"] or 0) * 1000
            print(
                f"first click (not counted): {first['total'] * 1000:.0f} ms, of which queued "
                f"{queued:.0f} ms, in the daemon {ran:.0f} ms"
            )
            for frame in range(1, args.clicks + 1):
                uncached.append(
                    click(http, video_id, frame, disc(frame, args.width, args.height)[:2])
                )
            cx, cy, _ = disc(1, args.width, args.height)
            for index in range(args.clicks):
                cached.append(click(http, video_id, 1, (cx + index, cy)))
            for index in range(args.clicks):
                point = (cx - 5 - index, cy - 5)
                refining.append(click(http, video_id, 1, point, mode="add", label=index % 2))
            # Object 2: a click on frame 0, propagated; then one correction on each of N
            # propagated frames, in the second half of the video (their neighbours' embeddings
            # were never asked for by a click: the memory rebuild encodes what it needs).
            click(http, video_id, 0, disc(0, args.width, args.height)[:2], object_id=2)
            propagate(http, video_id, 2)
            for frame in range(frames - args.clicks, frames):
                fx, fy, radius = disc(frame, args.width, args.height)
                point = (fx + radius + 8, fy)
                corrections.append(
                    click(http, video_id, frame, point, mode="add", object_id=2, label=0)
                )
            # A pause longer than the daemon's SQS long poll, as an artist looking at a mask.
            for index in range(args.idle_clicks):
                time.sleep(args.idle_s)
                idle.append(click(http, video_id, 1, (cx - index, cy)))
        # While the stack is still up (and idle), so all figures share the same background.
        encode, fresh, refine = model_times(args, images)
        bare = stack_floor.floor(data_dir)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    timeline = job_timeline(log_entries(data_dir))
    for record in uncached + cached + refining + corrections + idle:
        record.update(timeline.get(record["job_id"] or "", {}))

    print(f"\nclick latency, {args.width}x{args.height} video, image size {args.image_size}:")
    cases = [
        ("fresh click, uncached frame", uncached),
        ("fresh click, cached frame", cached),
        ("refining click on a keyframe", refining),
        ("first correction on a propagated frame", corrections),
    ]
    if idle:
        cases.append((f"cached frame after {args.idle_s:g} s idle", idle))
    for name, clicks in cases:
        print(f" {name}:")
        show("click (HTTP round trip)", [c["total"] for c in clicks])
        show("  queued: created -> started", [c["pickup"] for c in clicks if c["pickup"]])
        show("  daemon: started -> finished", [c["run"] for c in clicks if c["run"] is not None])
        for step, what in DAEMON_STEPS.items():
            show(f"    {what}", [c[step] / 1000 for c in clicks if step in c])
    via = collections.Counter(str(c.get("via", "?")) for c in cached)
    path = via.most_common(1)[0][0] if via else "lane"
    routes = ", ".join(f"{count} through the {name}" for name, count in via.items())
    print(" where a fresh cached click's time goes (p50 of each stage; p50s do not add up;")
    print(f"  its job reached the daemon: {routes}):")
    broken = [b for b in (stages(c) for c in cached) if b is not None]
    for stage in broken[0] if broken else {}:
        show(stage, [b[stage] for b in broken])
    print(" model alone, in this process:")
    encode_p50 = show("encoder (one frame)", encode)
    decode_p50 = show("mask decoder, fresh click", fresh)
    refine_p50 = show("mask decoder, refining click", refine)
    print(" stack overhead (click p50 - model p50):")
    uncached_p50 = percentiles([c["total"] for c in uncached])[0]
    cached_p50 = percentiles([c["total"] for c in cached])[0]
    refining_p50 = percentiles([c["total"] for c in refining])[0]
    print(f"  fresh, uncached  {uncached_p50 - encode_p50 - decode_p50:8.1f} ms")
    print(f"  fresh, cached    {cached_p50 - decode_p50:8.1f} ms")
    shares = [c["total"] * 1000 - c["decode_model_ms"] for c in cached if "decode_model_ms" in c]
    if shares:
        share = statistics.median(shares)
        print(f"  fresh, cached: click - the daemon's model function {share:8.1f} ms")
    print(f"  refining         {refining_p50 - refine_p50:8.1f} ms")
    correction_p50 = percentiles([c["total"] for c in corrections])[0]
    print(
        f" a refining click costs {refining_p50 / cached_p50:.2f}x a fresh cached click; a first "
        f"correction on a propagated frame {correction_p50 / cached_p50:.2f}x "
        f"({correction_p50 / uncached_p50:.2f}x a fresh uncached click)"
    )
    if path not in stack_floor.PER_CLICK:
        path = "lane"
    stack_floor.show(bare, path)
    if shares:
        least = bare[f"floor {path}"]
        print(
            f" the stack's share of a fresh cached click is {share / least:.2f}x its floor "
            f"({share - least:.1f} ms above it)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--image-size", type=int, default=512, help="ROTO_MODEL_IMAGE_SIZE")
    parser.add_argument("--model-size", default="tiny", help="ROTO_MODEL_SIZE")
    parser.add_argument("--clicks", type=int, default=10, help="clicks per case")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--idle-clicks", type=int, default=3, help="clicks after a pause")
    parser.add_argument("--idle-s", type=float, default=12.0, help="the pause before each")
    parser.add_argument(
        "--no-lane", action="store_true", help="clicks' jobs through SQS (ROTO_JOB_LANE=false)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="roto-bench-") as folder:
        run(args, Path(folder))


if __name__ == "__main__":
    main()
