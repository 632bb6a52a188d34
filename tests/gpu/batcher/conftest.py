"""The batcher tests' fixtures: a fake model function and batchers closed at teardown."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from roto_gpu.batcher import Batcher
from tests.gpu.batcher.support import FakeModel


@pytest.fixture
def fake() -> FakeModel:
    return FakeModel()


@pytest.fixture
async def make_batcher() -> AsyncIterator[Callable[..., Batcher]]:
    made: list[Batcher] = []

    def make(functions: dict[str, Any], **options: Any) -> Batcher:
        batcher = Batcher(functions, **options)
        made.append(batcher)
        return batcher

    yield make
    for batcher in made:
        await batcher.close()
