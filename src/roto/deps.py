"""The app-level dependencies that handlers declare by name."""

from __future__ import annotations

from typing import Any, TypeAlias

from litestar import Request
from litestar.di import NamedDependency
from litestar.params import FromPath

from roto.auth.schemas import CurrentUser
from roto.idempotency import IdempotencyKeyHeader, check_key, request_hash
from roto.ids import parse_id
from roto.jobs.submit import JobOrigin
from roto.logging import request_id
from roto.resources import Resources

#: The process's clients (``resources`` parameter).
ResourcesDep: TypeAlias = NamedDependency[Resources]
#: The authenticated caller (``user`` parameter); declaring it makes a handler require auth.
UserDep: TypeAlias = NamedDependency[CurrentUser]
#: Who asks for a job on the video in the path (``origin`` parameter), for job-creating POSTs.
JobOriginDep: TypeAlias = NamedDependency[JobOrigin]


async def provide_job_origin(
    request: Request[Any, Any, Any],
    user: NamedDependency[CurrentUser],
    video_id: FromPath[str],
    idempotency_key: IdempotencyKeyHeader = None,
) -> JobOrigin:
    """The caller, the video, the Idempotency-Key (400 when malformed) with a hash of the body
    it came with, and the request id that the job carries to the worker's logs."""
    key = check_key(idempotency_key)
    return JobOrigin(
        user_id=user.id,
        video_id=parse_id(video_id, "video"),
        key=key,
        request_id=request_id(request),
        # The body is read once and kept by the request, so the handler's decoding sees it too.
        body_hash=request_hash(await request.body()) if key is not None else None,
    )
