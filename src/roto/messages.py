"""Messages on the job queues, shared by the API and every worker role so they cannot drift."""

from __future__ import annotations

import msgspec

JOB_QUEUES: dict[str, str] = {
    "ingest": "media",
    "export": "media",
    "segment": "interactive",
    "propagate": "batch",
}


class JobMessage(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The body of every SQS job message: just enough to load the job row."""

    job_id: str
    type: str
    request_id: str | None = None


def encode_message(message: JobMessage) -> str:
    return msgspec.json.encode(message).decode()


def decode_message(body: str | bytes) -> JobMessage:
    """Parse a message body; raises ``msgspec.ValidationError``/``DecodeError`` on garbage."""
    return msgspec.json.decode(body, type=JobMessage)
