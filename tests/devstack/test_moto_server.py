"""The dev stack's moto launcher: moto's own server, with its package listing read once."""

from __future__ import annotations

import moto.backends

from roto.devstack.moto_server import listed_once


def test_a_listing_is_read_once_and_given_back_unchanged() -> None:
    calls = []

    def listing() -> list[str]:
        calls.append(1)
        return ["s3", "sqs"]

    cached = listed_once(listing)
    assert cached() == ("s3", "sqs")
    assert cached() == ("s3", "sqs")
    assert len(calls) == 1


def test_the_cached_listing_is_motos_own() -> None:
    """What the launcher keeps is what moto would list on each request (its service packages,
    s3 and sqs among them)."""
    original = moto.backends.list_of_moto_modules
    cached = listed_once(original)
    assert cached() == tuple(original())
    assert {"s3", "sqs"} <= set(cached())
