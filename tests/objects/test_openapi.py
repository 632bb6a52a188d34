"""The OpenAPI document describes the objects, prompts and masks operations and their errors."""

from __future__ import annotations

from typing import Any

import pytest

from roto.app import create_app
from roto.settings import load_settings


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    settings = load_settings({}, jwt_secret="s" * 40, log_json=False, log_level="WARNING")
    schema: dict[str, Any] = create_app(settings).openapi_schema.to_schema()
    return schema


@pytest.mark.parametrize(
    ("path", "method", "codes"),
    [
        ("/v1/videos/{video_id}/objects", "post", {"201", "400", "404", "409", "422"}),
        ("/v1/videos/{video_id}/objects", "get", {"200", "400", "404"}),
        ("/v1/videos/{video_id}/objects/{object_id}", "delete", {"204", "404", "503"}),
        ("/v1/videos/{video_id}/prompts", "post", {"200", "202", "400", "404", "409", "422"}),
        ("/v1/videos/{video_id}/masks", "get", {"200", "400", "404", "409", "503"}),
        ("/v1/videos/{video_id}/masks/{matte}", "get", {"200", "400", "404", "409", "503"}),
    ],
)
def test_operations_document_their_answers(
    document: dict[str, Any], path: str, method: str, codes: set[str]
) -> None:
    responses = document["paths"][path][method]["responses"]
    assert codes <= set(responses)
    for code in codes - {"200", "201", "202", "204"}:
        assert "application/problem+json" in responses[code]["content"], code


def test_prompt_answers_are_the_mask_or_the_job(document: dict[str, Any]) -> None:
    responses = document["paths"]["/v1/videos/{video_id}/prompts"]["post"]["responses"]
    ok = responses["200"]["content"]["application/json"]["schema"]["$ref"]
    accepted = responses["202"]["content"]["application/json"]["schema"]["$ref"]
    assert ok.endswith("/PromptMask")
    assert accepted.endswith("/PromptJob")


def test_matte_is_documented_as_png(document: dict[str, Any]) -> None:
    operation = document["paths"]["/v1/videos/{video_id}/masks/{matte}"]["get"]
    assert "image/png" in operation["responses"]["200"]["content"]
