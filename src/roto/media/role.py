"""The media worker role: ingest and export from the media queue, on the CPU."""

from __future__ import annotations

from roto.exports.job import EXPORT_HANDLER
from roto.jobs.contracts import EXPORT, INGEST
from roto.media.ingest import INGEST_HANDLER
from roto.media.malloc import media_lifespan
from roto.worker.contract import Role, static_role


def media_role() -> Role:
    """The ``media`` role (registered as an entry point of megaton-roto)."""
    handlers = {INGEST.name: INGEST_HANDLER, EXPORT.name: EXPORT_HANDLER}
    return static_role("media", (INGEST.queue,), handlers, lifespan=media_lifespan)
