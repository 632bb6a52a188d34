"""The problem+json answers of an operation, for its OpenAPI description."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from litestar.openapi.datastructures import ResponseSpec

from roto.errors import PROBLEM_JSON


class Problem(msgspec.Struct):
    """An error answer (RFC 9457); ``errors`` lists the offending fields when there are any."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = None


def problem_responses(by_status: Mapping[int, str]) -> dict[int, ResponseSpec]:
    """``responses=`` for a handler, from {status: when it is answered}."""
    return {
        status: ResponseSpec(
            Problem, description=text, media_type=PROBLEM_JSON, generate_examples=False
        )
        for status, text in by_status.items()
    }
