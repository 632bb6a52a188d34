"""HTTP handlers of billing: the month's usage and Stripe's webhook."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Router, get, post
from litestar.params import Parameter

from roto.billing import service
from roto.billing.schemas import BillingUsage, WebhookAck
from roto.deps import ResourcesDep, UserDep
from roto.problems import problem_responses

TAGS = ["billing"]
#: Stripe's webhook carries no user credentials; its signature is the authentication.
PUBLIC: list[dict[str, list[str]]] = [{}]
#: Stripe's events are a few KiB; anything far larger is not one.
MAX_WEBHOOK_BYTES = 1 << 20
StripeSignature = Annotated[
    str | None,
    Parameter(
        header="Stripe-Signature",
        description="`t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.<raw body>'>`, as Stripe "
        "signs its events with the endpoint's signing secret",
    ),
]


@get(
    "/usage",
    tags=TAGS,
    summary="Frames processed and GPU time this month, against the plan's frame quota",
    description="The period is the calendar month in UTC. Clicks count one frame each, "
    "propagations the frames they computed (a canceled one what it finished). A job that "
    "would take the caller past `frames_quota` is refused with 402 before it is queued.",
)
async def get_usage(resources: ResourcesDep, user: UserDep) -> BillingUsage:
    return await service.usage(resources, user.id)


@post(
    "/stripe-webhook",
    status_code=200,
    tags=TAGS,
    summary="Stripe events (signed with the webhook secret)",
    description="`checkout.session.completed` with `client_reference_id` = the user id and "
    "`metadata.plan` sets that plan; `customer.subscription.deleted` sets the customer back to "
    "`free`. Other events are acknowledged and ignored; a redelivered event changes nothing.",
    security=PUBLIC,
    request_max_body_size=MAX_WEBHOOK_BYTES,
    responses=problem_responses(
        {
            400: "the Stripe-Signature header is missing, malformed, too old or does not match",
            503: "no webhook secret is configured",
        }
    ),
)
async def stripe_webhook(
    request: Request[Any, Any, Any],
    resources: ResourcesDep,
    stripe_signature: StripeSignature = None,
) -> WebhookAck:
    return await service.handle_stripe_webhook(resources, stripe_signature, await request.body())


router = Router("/v1/billing", route_handlers=[get_usage, stripe_webhook])
