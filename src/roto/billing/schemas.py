"""Wire shapes of billing."""

from __future__ import annotations

import msgspec


class BillingUsage(msgspec.Struct):
    """What the caller used this calendar month (UTC) against the plan's frame quota."""

    period_start: str
    frames_processed: int
    gpu_seconds: float
    frames_quota: int


class WebhookAck(msgspec.Struct):
    """The answer to Stripe: whether the event changed anything here."""

    received: bool
    handled: bool
