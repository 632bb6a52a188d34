"""Operations endpoints: liveness, readiness, metrics are mounted by the app."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from litestar import Response, get

from roto.deps import ResourcesDep
from roto.resources import Resources

CHECK_TIMEOUT_S = 3.0


@get("/healthz", tags=["operations"], summary="Liveness")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


async def _check(name: str, probe: Any) -> tuple[str, str]:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            await probe
    except Exception as exc:
        return name, f"error: {type(exc).__name__}: {exc}"[:300]
    return name, "ok"


@get("/readyz", tags=["operations"], summary="Readiness of every dependency")
async def readyz(resources: ResourcesDep) -> Response[dict[str, Any]]:
    probes = [
        _check("postgres", resources.pool.fetchval("SELECT 1")),
        _check("redis", resources.redis.ping()),
        _check("s3", resources.s3.head_bucket(Bucket=resources.settings.s3_bucket)),
    ]
    for role, url in resources.queue_urls.items():
        probes.append(
            _check(
                f"queue_{role}",
                resources.sqs.get_queue_attributes(
                    QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
                ),
            )
        )
    # Side by side: an unanswering dependency costs CHECK_TIMEOUT_S once, not once per probe.
    answers, model = await asyncio.gather(asyncio.gather(*probes), _model_info(resources))
    checks = dict(answers)
    failed = [name for name, state in checks.items() if state != "ok"]
    body: dict[str, Any] = {
        "status": "ready" if not failed else "unavailable",
        "checks": checks,
        "model": model,
    }
    if failed:
        body["detail"] = "not ready: " + ", ".join(failed)
    return Response(body, status_code=503 if failed else 200)


async def _model_info(resources: Resources) -> dict[str, Any]:
    """What the GPU daemon last reported about its model (it publishes to Redis), if known;
    nothing when Redis does not answer in time (its check says why)."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            raw = await resources.redis.get("roto:model:info")
    except Exception:
        return {}
    if not raw:
        return {}
    info: dict[str, Any] = msgspec.json.decode(raw)
    return info


ROUTES = [healthz, readyz]
