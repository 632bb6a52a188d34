"""POST /v1/billing/stripe-webhook: Stripe's signature checked (400 otherwise, nothing changed),
a completed checkout sets the plan it bought, an ended subscription sets it back, once per event."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from roto.billing.stripe import signature
from roto.settings import Settings
from tests.factories import signup
from tests.objects.helpers import fetch_value

SECRET = "whsec_test_0123456789abcdef"
WITH_SECRET = pytest.mark.parametrize(
    "settings", [{"stripe_webhook_secret": SECRET}], indirect=True
)
URL = "/v1/billing/stripe-webhook"


def checkout(user_id: str, plan: str = "pro", event_id: str | None = None) -> dict[str, Any]:
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex}",
        "type": "checkout.session.completed",
        "data": {
            "object": {
                "client_reference_id": user_id,
                "customer": "cus_123",
                "metadata": {"plan": plan},
            }
        },
    }


def signed(event: dict[str, Any], secret: str = SECRET, at: int | None = None) -> dict[str, Any]:
    body = json.dumps(event).encode()
    stamp = int(time.time()) if at is None else at
    header = f"t={stamp},v1={signature(secret, stamp, body)}"
    return {"content": body, "headers": {"Stripe-Signature": header}}


async def plan_of(client: AsyncTestClient, headers: dict[str, str]) -> tuple[str, int]:
    me = (await client.get("/v1/me", headers=headers)).json()
    return me["plan"], me["usage"]["frames_quota"]


@WITH_SECRET
async def test_a_completed_checkout_sets_the_plan_once(client: AsyncTestClient) -> None:
    headers = await signup(client)
    user_id = (await client.get("/v1/me", headers=headers)).json()["id"]
    event = checkout(user_id)

    first = await client.post(URL, **signed(event))
    again = await client.post(URL, **signed(event))

    assert first.status_code == 200, first.text
    assert first.json() == {"received": True, "handled": True}
    assert again.json() == {"received": True, "handled": False}
    assert await plan_of(client, headers) == ("pro", 500_000)


@WITH_SECRET
async def test_an_ended_subscription_sets_the_customer_back_to_free(
    client: AsyncTestClient,
) -> None:
    headers = await signup(client)
    user_id = (await client.get("/v1/me", headers=headers)).json()["id"]
    await client.post(URL, **signed(checkout(user_id)))
    ended = {
        "id": "evt_ended",
        "type": "customer.subscription.deleted",
        "data": {"object": {"customer": "cus_123"}},
    }
    answer = await client.post(URL, **signed(ended))
    assert answer.json() == {"received": True, "handled": True}
    assert await plan_of(client, headers) == ("free", 20_000)


@WITH_SECRET
async def test_bad_signatures_are_400_naming_the_header_and_change_nothing(
    client: AsyncTestClient, settings: Settings
) -> None:
    headers = await signup(client)
    user_id = (await client.get("/v1/me", headers=headers)).json()["id"]
    event = checkout(user_id)
    good = signed(event)
    cases = {
        "missing": {"content": good["content"]},
        "wrong secret": signed(event, secret="whsec_other"),
        "too old": signed(event, at=int(time.time()) - 3600),
        "malformed": {"content": good["content"], "headers": {"Stripe-Signature": "v1=abc"}},
        # Odd t= values that once reached int() or the float arithmetic (a 500).
        "superscript t": {
            "content": good["content"],
            "headers": {"Stripe-Signature": "t=\u00b2,v1=ab".encode("latin-1")},
        },
        "huge t": {
            "content": good["content"],
            "headers": {"Stripe-Signature": f"t={'9' * 400},v1=ab"},
        },
        "endless t": {
            "content": good["content"],
            "headers": {"Stripe-Signature": f"t={'9' * 5000},v1=ab"},
        },
        "tampered": {
            "content": good["content"].replace(b'"pro"', b'"max"'),
            "headers": good["headers"],
        },
    }
    answers = {}
    for name, request in cases.items():
        response = await client.post(URL, **request)
        answers[name] = (response.status_code, "Stripe-Signature" in response.json()["detail"])
    assert answers == {name: (400, True) for name in cases}
    assert await plan_of(client, headers) == ("free", 20_000)
    seen = await fetch_value(settings, "SELECT count(*) FROM stripe_events")
    assert seen == 0


@WITH_SECRET
async def test_other_events_and_unknown_plans_are_acknowledged_and_ignored(
    client: AsyncTestClient,
) -> None:
    headers = await signup(client)
    user_id = (await client.get("/v1/me", headers=headers)).json()["id"]
    other = {"id": "evt_other", "type": "invoice.paid", "data": {"object": {}}}
    assert (await client.post(URL, **signed(other))).json() == {
        "received": True,
        "handled": False,
    }
    unknown = await client.post(URL, **signed(checkout(user_id, plan="platinum")))
    assert unknown.json() == {"received": True, "handled": False}
    assert await plan_of(client, headers) == ("free", 20_000)


async def test_without_a_secret_the_webhook_is_503(client: AsyncTestClient) -> None:
    response = await client.post(URL, **signed(checkout(str(uuid.uuid4()))))
    assert response.status_code == 503
    assert "ROTO_STRIPE_WEBHOOK_SECRET" in response.json()["detail"]
