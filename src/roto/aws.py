"""S3 and SQS clients (aioboto3) and the setup of the bucket and queues."""

from __future__ import annotations

import json
import re
from contextlib import AsyncExitStack
from typing import Any

import aioboto3
from botocore.config import Config

from roto.settings import Settings

DLQ_SUFFIX = "-dlq"
DLQ_RETENTION_S = 14 * 24 * 3600


def _client_kwargs(settings: Settings) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "region_name": settings.aws_region,
        "config": Config(
            signature_version="s3v4",
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=settings.worker_wait_time_s + 15,
            s3={"addressing_style": "path"} if settings.aws_endpoint_url else {},
        ),
    }
    if settings.aws_endpoint_url:
        kwargs["endpoint_url"] = settings.aws_endpoint_url
    return kwargs


async def open_clients(settings: Settings, stack: AsyncExitStack) -> tuple[Any, Any]:
    """(s3, sqs) clients that live as long as ``stack``."""
    session = aioboto3.Session()
    kwargs = _client_kwargs(settings)
    s3 = await stack.enter_async_context(session.client("s3", **kwargs))
    sqs = await stack.enter_async_context(session.client("sqs", **kwargs))
    for client in (s3, sqs):
        drop_unused_endpoint_params(client)
    return s3, sqs


#: A name a template string of an endpoint rule reads: ``{Bucket}``, or ``{url#scheme}``.
_TEMPLATE_NAME = re.compile(r"\{([A-Za-z0-9_]+)")


def drop_unused_endpoint_params(client: Any) -> frozenset[str]:
    """Stop passing the client's endpoint resolver the parameters that no rule of its service's
    endpoint ruleset reads; returns their names.

    botocore caches the endpoint it resolves for each set of parameters. S3's ruleset declares
    ``Key``, ``Prefix`` and ``CopySource`` without reading them, so each call on a new key
    evaluated the whole ruleset again, 0.2-0.5 ms of CPU per put, get or presign (botocore issue
    3528; its pull request 3692 fixes it in a botocore newer than aioboto3 15.5 allows). Without
    them the endpoint depends only on what the rules read, so the cached one is the same
    endpoint. A parameter marked required is always kept. Does nothing when the client has no
    ruleset resolver where this botocore keeps it.
    """
    resolver = getattr(client, "_ruleset_resolver", None)
    ruleset = getattr(getattr(resolver, "_provider", None), "ruleset", None)
    params = getattr(resolver, "_param_definitions", None)
    if resolver is None or ruleset is None or not isinstance(params, dict):
        return frozenset()
    read = _names_read(ruleset.rules)
    unused = frozenset(
        name for name, spec in params.items() if name not in read and not spec.required
    )
    resolver._param_definitions = {n: spec for n, spec in params.items() if n not in unused}
    return unused


def _names_read(node: Any) -> set[str]:
    """Every parameter or variable name that ``node`` (rules, conditions, templates) reads."""
    if isinstance(node, str):
        return set(_TEMPLATE_NAME.findall(node))
    if isinstance(node, dict):
        names = {node["ref"]} if isinstance(node.get("ref"), str) else set()
        return names.union(*(_names_read(v) for v in node.values()))
    if isinstance(node, list | tuple):
        return set().union(*(_names_read(v) for v in node))
    if hasattr(node, "conditions"):  # botocore's rule objects
        parts = ("conditions", "endpoint", "error", "rules")
        return set().union(*(_names_read(getattr(node, part, None)) for part in parts))
    return set()


async def resolve_queue_urls(sqs: Any, settings: Settings) -> dict[str, str]:
    """Queue URL by role (interactive, batch, media)."""
    urls = {}
    for role, name in settings.queue_names.items():
        urls[role] = (await sqs.get_queue_url(QueueName=name))["QueueUrl"]
    return urls


async def ensure_bucket(s3: Any, settings: Settings) -> None:
    """Create the bucket if it is missing (local stack and tests; CloudFormation owns it in AWS)."""
    try:
        await s3.head_bucket(Bucket=settings.s3_bucket)
    except s3.exceptions.ClientError:
        params: dict[str, Any] = {"Bucket": settings.s3_bucket}
        if settings.aws_region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": settings.aws_region}
        await s3.create_bucket(**params)
    await s3.put_bucket_cors(
        Bucket=settings.s3_bucket,
        CORSConfiguration={
            "CORSRules": [
                {
                    "AllowedMethods": ["GET", "PUT", "HEAD"],
                    "AllowedOrigins": ["*"],
                    "AllowedHeaders": ["*"],
                    "ExposeHeaders": ["ETag"],
                }
            ]
        },
    )


async def ensure_queues(sqs: Any, settings: Settings) -> dict[str, str]:
    """Create each job queue with its dead-letter queue and redrive policy; returns URLs."""
    urls = {}
    for role, name in settings.queue_names.items():
        dlq_url = (
            await sqs.create_queue(
                QueueName=name + DLQ_SUFFIX,
                Attributes={"MessageRetentionPeriod": str(DLQ_RETENTION_S)},
            )
        )["QueueUrl"]
        dlq_arn = (await sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"]))[
            "Attributes"
        ]["QueueArn"]
        redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": settings.worker_max_receives}
        urls[role] = (
            await sqs.create_queue(
                QueueName=name,
                Attributes={
                    "VisibilityTimeout": str(settings.worker_visibility_timeout_s),
                    "RedrivePolicy": json.dumps(redrive),
                },
            )
        )["QueueUrl"]
    return urls
