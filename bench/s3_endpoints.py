"""The client CPU of an S3 call on a new key, with the endpoint parameters that no rule reads
dropped (``roto.aws.drop_unused_endpoint_params``, this tree) and, as the reference in the same
run, as botocore ships them (the endpoint ruleset evaluated again for every new key).

Each round makes ``--calls`` puts of a keyframe state's size, ``--calls`` gets of them and
``--calls`` presigned GETs, every one on its own key, as the daemon's states, the ingest's frames,
a propagation's frame reads and the API's frame URLs are. The two clients take turns round by
round, so both see the same machine. Prints the median over the rounds of this process's CPU
per call (moto runs in its own process) and of the p50 wall time of a put, per client, and
their ratio.
Needs no API stack.

    .venv/bin/python bench/s3_endpoints.py --calls 200 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import aioboto3
from bench_services import local_services  # bench/, beside this script
from botocore.config import Config

from roto.aws import drop_unused_endpoint_params

BUCKET = "endpoint-bench"
STATE_BYTES = 16_000  # a keyframe state at image size 256 (a 64x64 logit map and its pointer)
CALLS = ("put", "get", "presign")


async def timed(calls: int, call: Callable[[int], Awaitable[Any]]) -> tuple[float, float]:
    """(this process's CPU per call, the p50 of the wall time of one) in ms, over ``calls``
    calls: the CPU is the whole batch's over the calls, so it includes the event loop's and the
    collector's share."""
    wall: list[float] = []
    cpu = time.process_time()
    for i in range(calls):
        w0 = time.perf_counter()
        await call(i)
        wall.append(time.perf_counter() - w0)
    return (time.process_time() - cpu) / calls * 1000, statistics.median(wall) * 1000


async def one_round(s3: Any, calls: int) -> dict[str, tuple[float, float]]:
    prefix = f"round-{uuid.uuid4()}/"
    body = os.urandom(STATE_BYTES)

    async def put(i: int) -> None:
        await s3.put_object(Bucket=BUCKET, Key=f"{prefix}{i:06d}.npz", Body=body)

    async def get(i: int) -> None:
        answer = await s3.get_object(Bucket=BUCKET, Key=f"{prefix}{i:06d}.npz")
        async with answer["Body"] as stream:
            await stream.read()

    async def presign(i: int) -> None:
        params = {"Bucket": BUCKET, "Key": f"{prefix}frames/{i:06d}.jpg"}
        await s3.generate_presigned_url("get_object", Params=params, ExpiresIn=600)

    return {
        "put": await timed(calls, put),
        "get": await timed(calls, get),
        "presign": await timed(calls, presign),
    }


async def run(endpoint: str, args: argparse.Namespace) -> None:
    config = Config(signature_version="s3v4", s3={"addressing_style": "path"})
    session = aioboto3.Session()
    async with AsyncExitStack() as stack:
        clients: dict[str, Any] = {}
        for label in ("as botocore ships (reference)", "unread parameters dropped"):
            clients[label] = await stack.enter_async_context(
                session.client("s3", endpoint_url=endpoint, region_name="us-east-1", config=config)
            )
        dropped = drop_unused_endpoint_params(clients["unread parameters dropped"])
        print(f"dropped from endpoint resolution: {', '.join(sorted(dropped))}")
        reference = clients["as botocore ships (reference)"]
        await reference.create_bucket(Bucket=BUCKET)
        for client in clients.values():  # connections open and the endpoint cache warm
            await one_round(client, 5)
        rounds: dict[str, list[dict[str, tuple[float, float]]]] = {label: [] for label in clients}
        for _ in range(args.rounds):
            for label, client in clients.items():
                rounds[label].append(await one_round(client, args.calls))
    figures = {
        label: {
            call: (
                statistics.median(r[call][0] for r in runs),
                statistics.median(r[call][1] for r in runs),
            )
            for call in CALLS
        }
        for label, runs in rounds.items()
    }
    print(f"\n{args.calls} calls of each kind per round, {args.rounds} rounds, each on a new key")
    print("| client | put: CPU | get: CPU | presign: CPU | put: wall |\n|---|---|---|---|---|")
    for label, by_call in figures.items():
        cells = " | ".join(f"{by_call[call][0]:.3f} ms" for call in CALLS)
        print(f"| {label} | {cells} | {by_call['put'][1]:.2f} ms |")
    before, after = figures.values()
    ratios = " | ".join(f"{after[call][0] / before[call][0]:.2f}x" for call in CALLS)
    print(f"| dropped / reference | {ratios} | {after['put'][1] / before['put'][1]:.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="calls of each kind per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with local_services("endpoints") as services:
        asyncio.run(run(services.moto.endpoint, args))


if __name__ == "__main__":
    main()
