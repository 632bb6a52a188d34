"""Stripe webhooks: the signature check and the events that change a user's plan.

Stripe signs ``<timestamp>.<raw body>`` with HMAC-SHA256 under the endpoint's signing secret and
sends ``Stripe-Signature: t=<timestamp>,v1=<hex>[,v1=<hex>...]``. An old timestamp is refused so
that a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
import uuid
from typing import Any

import msgspec

from roto.errors import BadRequest

#: Events that set the plan from a completed checkout, and that end a subscription.
CHECKOUT_COMPLETED = "checkout.session.completed"
SUBSCRIPTION_DELETED = "customer.subscription.deleted"
#: A Unix time in seconds, as Stripe sends it: ASCII digits, never more than a few (``str.isdigit``
#: would also take "²" or a thousand digits, which ``int`` or the float arithmetic then refuse).
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class StripeEvent(msgspec.Struct):
    id: str
    type: str
    data: dict[str, Any]


def signature(secret: str, timestamp: int, payload: bytes) -> str:
    """The ``v1`` signature Stripe would send for ``payload`` at ``timestamp``."""
    signed = str(timestamp).encode() + b"." + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify(secret: str, header: str | None, payload: bytes, tolerance_s: int) -> StripeEvent:
    """The event in ``payload`` if ``header`` signs it; a 400 naming what is wrong otherwise."""
    if not header:
        raise _bad("the Stripe-Signature header is missing")
    fields = [part.split("=", 1) for part in header.split(",") if "=" in part]
    timestamps = [value for key, value in fields if key.strip() == "t"]
    candidates = [value.strip() for key, value in fields if key.strip() == "v1"]
    if len(timestamps) != 1 or not _TIMESTAMP.fullmatch(timestamps[0].strip()) or not candidates:
        raise _bad("the Stripe-Signature header needs one t=<unix seconds> and at least one v1=")
    timestamp = int(timestamps[0])
    if abs(time.time() - timestamp) > tolerance_s:
        raise _bad(f"the signature's timestamp is more than {tolerance_s} s from now")
    expected = signature(secret, timestamp, payload)
    if not any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        raise _bad("the signature does not match the payload")
    try:
        return msgspec.json.decode(payload, type=StripeEvent)
    except msgspec.ValidationError as exc:
        raise _bad(f"the payload is not a Stripe event: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise _bad("the payload is not JSON") from exc


def checkout_plan(event: StripeEvent) -> tuple[uuid.UUID, str, str | None] | None:
    """(user id, plan, customer id) of a completed checkout; None if it names no user or plan.

    The checkout session is created with ``client_reference_id`` = our user id and
    ``metadata.plan`` = the plan bought.
    """
    session = event.data.get("object") or {}
    reference = session.get("client_reference_id")
    plan = (session.get("metadata") or {}).get("plan")
    customer = session.get("customer")
    if not isinstance(reference, str) or not isinstance(plan, str):
        return None
    try:
        user_id = uuid.UUID(reference)
    except ValueError:
        return None
    return user_id, plan, customer if isinstance(customer, str) else None


def ended_customer(event: StripeEvent) -> str | None:
    """The customer whose subscription ended."""
    customer = (event.data.get("object") or {}).get("customer")
    return customer if isinstance(customer, str) else None


def _bad(reason: str) -> BadRequest:
    return BadRequest(
        f"Stripe-Signature: {reason}", errors=[{"key": "Stripe-Signature", "message": reason}]
    )
