"""The floor under a click: the bare calls that any click through this architecture makes, timed
against the servers of a running embedded stack, with no application code around them.

    .venv/bin/python bench/stack_floor.py                 # against `make run` (.roto/)
    .venv/bin/python bench/stack_floor.py --data-dir DIR  # another stack's ROTO_DATA_DIR

A click is a row first and a message second, its mask lives in S3, and its answer comes back
through Redis (docs/architecture.md). So however lean the code, one click costs at least: the
client's HTTP round trip to the API, three committed PostgreSQL transactions (the job with its
outbox row, the claim, the finish), the hand-over to the daemon, one S3 put of the mask, and one
Redis publish reaching a subscriber. The hand-over is one of two (``roto.jobs.lane``): through
the fast lane, a Redis list push returned to a pop already waiting; through SQS, one send and
the wait until a long poll already waiting returns it. This script times each call (p50 of
``--samples``) and prints the sum along each path: a lower bound for the stack's share of a
click on this machine, to read the click benchmark's stages against.
It writes only scratch objects (a table, a key, a queue) and removes them. Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aioboto3
import asyncpg
import httpx
import redis.asyncio as aioredis

from roto.devstack.services import LOCAL_AWS_ENV

REPO = Path(__file__).resolve().parents[1]
MASK_BYTES = 2048  # a keyframe mask's compressed RLE is about this size
# How many of each call one click makes at the least (see the docstring), by the path its job
# takes to the daemon.
COMMON = {
    "HTTP round trip to the API": 1,
    "PostgreSQL: committed write transaction": 3,
    "S3: put a mask": 1,
    "Redis: publish -> subscriber has it": 1,
}
PER_CLICK = {
    "lane": {**COMMON, "Redis: list push -> returned to a waiting pop": 1},
    "sqs": {
        **COMMON,
        "SQS: send a message": 1,
        "SQS: sent -> returned to a waiting long poll": 1,
    },
}


async def timed(samples: int, call: Callable[[], Awaitable[float | None]]) -> list[float]:
    """``samples`` timings of ``call`` in seconds (its own figure when it returns one)."""
    took: list[float] = []
    for _ in range(samples):
        began = time.perf_counter()
        own = await call()
        took.append(own if own is not None else time.perf_counter() - began)
    return took


async def postgres_write(dsn: str, samples: int) -> list[float]:
    conn = await asyncpg.connect(dsn)
    table = f"bench_floor_{uuid.uuid4().hex[:8]}"
    await conn.execute(f"CREATE TABLE {table} (id bigserial PRIMARY KEY, at timestamptz)")

    async def write() -> None:
        async with conn.transaction():
            await conn.execute(f"INSERT INTO {table} (at) VALUES (now())")  # noqa: S608

    try:
        return await timed(samples, write)
    finally:
        await conn.execute(f"DROP TABLE {table}")
        await conn.close()


async def redis_publish(url: str, samples: int) -> list[float]:
    client = aioredis.Redis.from_url(url)
    channel = f"bench-floor-{uuid.uuid4().hex[:8]}"
    pubsub = client.pubsub()
    await pubsub.subscribe(channel)
    await pubsub.get_message(timeout=1.0)  # the subscribe confirmation

    async def round_trip() -> None:
        await client.publish(channel, b"x")
        while await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0) is None:
            pass

    try:
        return await timed(samples, round_trip)
    finally:
        await pubsub.aclose()
        await client.aclose()


async def redis_lane(url: str, samples: int) -> list[float]:
    pusher, popper = aioredis.Redis.from_url(url), aioredis.Redis.from_url(url)
    key = f"bench-floor-{uuid.uuid4().hex[:8]}"

    async def push_to_waiting_pop() -> float:
        waiting = asyncio.create_task(popper.brpop([key], timeout=5))
        await asyncio.sleep(0.05)  # the pop is waiting, as the daemon's is
        began = time.perf_counter()
        await pusher.lpush(key, b"hint")
        await waiting
        return time.perf_counter() - began

    try:
        return await timed(samples, push_to_waiting_pop)
    finally:
        await pusher.delete(key)
        await pusher.aclose()
        await popper.aclose()


async def aws_calls(endpoint: str, samples: int) -> dict[str, list[float]]:
    session = aioboto3.Session(
        aws_access_key_id=LOCAL_AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        region_name=LOCAL_AWS_ENV["AWS_DEFAULT_REGION"],
    )
    async with (
        session.client("s3", endpoint_url=endpoint) as s3,
        session.client("sqs", endpoint_url=endpoint) as sqs,
    ):
        bucket = f"bench-floor-{uuid.uuid4().hex[:8]}"
        await s3.create_bucket(Bucket=bucket)
        queue = (await sqs.create_queue(QueueName=bucket))["QueueUrl"]
        body = bytes(MASK_BYTES)
        sends: list[float] = []

        async def put() -> None:
            await s3.put_object(Bucket=bucket, Key="mask.rle", Body=body)

        async def send_and_receive() -> float:
            waiting = asyncio.create_task(
                sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=20, MaxNumberOfMessages=1)
            )
            await asyncio.sleep(0.05)  # the long poll is waiting, as the daemon's is
            began = time.perf_counter()
            await sqs.send_message(QueueUrl=queue, MessageBody="probe")
            sent = time.perf_counter()
            sends.append(sent - began)
            answer = await waiting
            returned = time.perf_counter() - sent
            for message in answer.get("Messages", []):
                await sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
            return returned

        try:
            puts = await timed(samples, put)
            queued = await timed(samples, send_and_receive)
        finally:
            await s3.delete_object(Bucket=bucket, Key="mask.rle")
            await s3.delete_bucket(Bucket=bucket)
            await sqs.delete_queue(QueueUrl=queue)
    return {
        "SQS: send a message": sends,
        "SQS: sent -> returned to a waiting long poll": queued,
        "S3: put a mask": puts,
    }


def http_round_trip(api_url: str, samples: int) -> list[float]:
    took = []
    with httpx.Client(base_url=api_url, timeout=10) as http:
        http.get("/healthz").raise_for_status()
        for _ in range(samples):
            began = time.perf_counter()
            http.get("/healthz")
            took.append(time.perf_counter() - began)
    return took


async def measure(stack: dict[str, Any], samples: int) -> dict[str, list[float]]:
    """Each bare call ``samples`` times against the stack described by its devstack.json."""
    figures = {"HTTP round trip to the API": http_round_trip(stack["api_url"], samples)}
    figures["PostgreSQL: committed write transaction"] = await postgres_write(
        stack["database_url"], samples
    )
    figures.update(await aws_calls(stack["aws_endpoint_url"], samples))
    figures["Redis: publish -> subscriber has it"] = await redis_publish(
        stack["redis_url"], samples
    )
    figures["Redis: list push -> returned to a waiting pop"] = await redis_lane(
        stack["redis_url"], samples
    )
    return figures


def floor(data_dir: Path, samples: int = 30) -> dict[str, float]:
    """p50 in ms of each bare call, and ``"floor lane"``/``"floor sqs"``: the sum of them that
    one click needs along each path."""
    stack = json.loads((data_dir / "devstack.json").read_text())
    figures = asyncio.run(measure(stack, samples))
    p50 = {name: statistics.median(values) * 1000 for name, values in figures.items()}
    for path, calls in PER_CLICK.items():
        p50[f"floor {path}"] = sum(count * p50[name] for name, count in calls.items())
    return p50


def show(p50: dict[str, float], path: str = "lane") -> None:
    print(f" the floor: bare calls one click makes at the least, through the {path} (p50 each):")
    for name, count in PER_CLICK[path].items():
        print(f"  {name:<46} {p50[name]:6.1f} ms x {count}")
    total = p50[f"floor {path}"]
    print(f"  {'sum: the least a click can spend outside the model':<46} {total:6.1f} ms")
    for other in PER_CLICK.keys() - {path}:
        print(f"  (through the {other}: {p50[f'floor {other}']:.1f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=REPO / ".roto", help="ROTO_DATA_DIR")
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()
    show(floor(args.data_dir, args.samples))


if __name__ == "__main__":
    main()
