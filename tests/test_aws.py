"""The AWS clients' endpoint resolution: S3's is worked out once per bucket, not once per key
(``roto.aws.drop_unused_endpoint_params``), and every call still reaches the right place. The S3
calls go over HTTP to the local endpoint."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AsyncExitStack
from types import SimpleNamespace
from typing import Any

import aioboto3
import httpx
import pytest
from botocore.endpoint_provider import EndpointProvider

from roto import aws
from roto.resources import Resources

pytestmark = pytest.mark.usefixtures("services")


def _count_evaluations(monkeypatch: pytest.MonkeyPatch, client: Any) -> Callable[[], int]:
    """How many times the client's endpoint ruleset is evaluated from now on (a cached endpoint
    is not evaluated)."""
    ruleset = client._ruleset_resolver._provider.ruleset
    evaluate = ruleset.evaluate
    calls = 0

    def counted(params: dict[str, Any]) -> Any:
        nonlocal calls
        calls += 1
        return evaluate(params)

    monkeypatch.setattr(ruleset, "evaluate", counted)
    return lambda: calls


async def test_s3_calls_on_new_keys_reuse_the_resolved_endpoint(
    resources: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3, bucket = resources.s3, resources.settings.s3_bucket
    evaluations = _count_evaluations(monkeypatch, s3)
    prefix = f"endpoint-test/{uuid.uuid4()}/"
    bodies = {f"{prefix}{i:03d}.bin": f"object {i}".encode() for i in range(12)}
    for key, body in bodies.items():
        await s3.put_object(Bucket=bucket, Key=key, Body=body)
    for key, body in bodies.items():
        answer = await s3.get_object(Bucket=bucket, Key=key)
        async with answer["Body"] as stream:
            assert await stream.read() == body
    urls = [
        await s3.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=60
        )
        for key in bodies
    ]
    listed = await s3.list_objects_v2(Bucket=bucket, Prefix=prefix)

    assert sorted(item["Key"] for item in listed["Contents"]) == sorted(bodies)
    async with httpx.AsyncClient() as http:
        for url, (key, body) in zip(urls, bodies.items(), strict=True):
            assert f"/{bucket}/{key}" in url
            assert (await http.get(url)).content == body
    # The ruleset is read once for the bucket, whatever the key. Before the change it was read
    # again for each new key and for the listing's prefix: 13 times here.
    assert evaluations() == 1


async def test_s3_drops_only_the_parameters_no_rule_reads(resources: Resources) -> None:
    kept = set(resources.s3._ruleset_resolver._param_definitions)
    assert {"Bucket", "Region", "Endpoint", "ForcePathStyle"} <= kept
    assert not {"Key", "Prefix", "CopySource"} & kept
    async with AsyncExitStack() as stack:
        session = aioboto3.Session()
        s3 = await stack.enter_async_context(session.client("s3", region_name="us-east-1"))
        sqs = await stack.enter_async_context(session.client("sqs", region_name="us-east-1"))
        assert aws.drop_unused_endpoint_params(s3) == {"Key", "Prefix", "CopySource"}
        assert aws.drop_unused_endpoint_params(sqs) == frozenset()
        assert aws.drop_unused_endpoint_params(s3) == frozenset()  # nothing left to drop


def test_a_name_read_by_a_condition_or_a_template_is_kept_and_a_required_one_too() -> None:
    ruleset = {
        "version": "1.0",
        "parameters": {
            "Region": {"type": "string", "builtIn": "AWS::Region", "required": True},
            "InCondition": {"type": "string"},
            "InTemplate": {"type": "string"},
            "InHeader": {"type": "string"},
            "Unread": {"type": "string"},
            "UnreadButRequired": {"type": "string", "required": True, "default": "x"},
        },
        "rules": [
            {
                "type": "tree",
                "conditions": [{"fn": "isSet", "argv": [{"ref": "InCondition"}]}],
                "rules": [
                    {
                        "type": "endpoint",
                        "conditions": [],
                        "endpoint": {
                            "url": "https://{InTemplate}.example.com",
                            "properties": {},
                            "headers": {"x-scheme": ["{InHeader#scheme}"]},
                        },
                    }
                ],
            },
            {"type": "error", "conditions": [], "error": "no endpoint"},
        ],
    }
    provider = EndpointProvider(ruleset, {"partitions": []})
    resolver = SimpleNamespace(_provider=provider, _param_definitions=provider.ruleset.parameters)

    dropped = aws.drop_unused_endpoint_params(SimpleNamespace(_ruleset_resolver=resolver))

    assert dropped == {"Unread"}
    assert set(resolver._param_definitions) == {
        "Region",
        "InCondition",
        "InTemplate",
        "InHeader",
        "UnreadButRequired",
    }
    assert "Unread" in provider.ruleset.parameters  # the ruleset itself is left as it was


def test_a_client_without_a_ruleset_resolver_is_left_alone() -> None:
    assert aws.drop_unused_endpoint_params(SimpleNamespace()) == frozenset()
