"""A load-test client's credentials, kept valid as a long-lived client keeps them (api.md).

A signed-in client holds an access token and a refresh token. Before a call it renews the access
token once it is within a margin of its expiry (``POST /v1/auth/refresh``; refresh tokens rotate,
so the used one is dropped), and signs in again with its email and password when the refresh
token is refused (expired, or already spent). An API-key client has nothing to renew. Each
renewal is a ``SESSION`` row in the statistics, so a run shows that it passed expiries.

``next_step`` is what the client does with an answer: a 401 for an access token that may have
expired in flight is renewed and sent once more, a 429 from the API with Retry-After is waited out
and sent again (api.md answers every limit so), anything else unexpected is a failure.

Only the standard library (the HTTP calls are the Api's, in common.py), so the unit tests import
this without locust.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any, NamedTuple, Protocol

SESSION_EVENT = "SESSION"  # request_type of a renewal; its name is one of the three below
REFRESHED = "refresh before expiry"
REFRESHED_AFTER_401 = "refresh after 401"
SIGNED_IN_AGAIN = "sign in again"
# The API's ``exp`` is whole seconds (``int(time.time()) + ttl``): up to 1 s earlier than the
# lifetime counted from the request; one more second for clocks.
CLOCK_SLACK_S = 2.0
# api.md's limits are per minute, so Retry-After is at most 60 s; one call waits 3 minutes at most.
MAX_RETRY_AFTER_S = 60.0
THROTTLE_BUDGET_S = 180.0
# What ``next_step`` says to do with an answer.
ACCEPT, WAIT, RENEW, FAIL = "accept", "wait", "renew", "fail"


class Caller(Protocol):
    """What a session needs of the Api: one checked call, and a measurement in the statistics."""

    def call(
        self,
        method: str,
        path: str,
        *,
        name: str,
        expect: tuple[int, ...] = (200,),
        body: Any = None,
        auth: dict[str, str] | None = None,
    ) -> Any: ...

    def record(self, kind: str, name: str, began: float, error: str | None = None) -> None: ...


class Credentials(NamedTuple):
    """What one request is sent with: its headers, the access token among them (None for an API
    key) and until when (monotonic seconds) that token is certainly valid."""

    headers: dict[str, str]
    token: str | None
    valid_until: float


class Step(NamedTuple):
    """What to do with an answer: ``action`` is ACCEPT, WAIT (``wait_s``, then send again),
    RENEW (renew the access token, then send again) or FAIL (``failure`` is its kind)."""

    action: str
    wait_s: float = 0.0
    failure: str = ""


def next_step(
    status: int,
    wanted: tuple[int, ...],
    *,
    credentials: Credentials,
    retry_after: str | None,
    is_api: bool,
    renewed: bool,
    waited_s: float,
    now: float,
) -> Step:
    """What a long-lived client does with an answer of ``status`` to a request sent with
    ``credentials``, having already renewed (``renewed``) and waited ``waited_s`` for it.

    A 401 is renewed once, and only when the access token may have expired by the time the API
    read it: one that was certainly still valid means the API refused a good token, a failure.
    A 429 is waited out (Retry-After, at most a minute at a time, three minutes in all) only
    from the API (``is_api``; storage has no such limits); without a usable Retry-After it is
    a failure.
    """
    if status in wanted:
        return Step(ACCEPT)
    expected = "/".join(map(str, wanted))
    if status == 0:
        return Step(FAIL, failure=f"no response where {expected} was expected")
    if status == 401 and credentials.token is not None:
        if renewed:
            return Step(FAIL, failure="401 right after renewing the access token")
        if now < credentials.valid_until:
            return Step(FAIL, failure="401 for an access token that had not expired")
        return Step(RENEW)
    if status == 429 and is_api:
        seconds = retry_after_s(retry_after)
        if seconds is None:
            return Step(FAIL, failure="429 without a usable Retry-After")
        if waited_s >= THROTTLE_BUDGET_S:
            return Step(FAIL, failure=f"429 still after waiting {THROTTLE_BUDGET_S:.0f} s")
        # At least a second, so that a Retry-After of 0 cannot spin.
        wait = min(seconds, MAX_RETRY_AFTER_S, THROTTLE_BUDGET_S - waited_s)
        return Step(WAIT, wait_s=max(1.0, wait))
    return Step(FAIL, failure=f"{status} where {expected} was expected")


def retry_after_s(value: str | None) -> float | None:
    """The seconds of a Retry-After header (api.md: seconds), or None when there is none that a
    client could use."""
    try:
        seconds = float(value or "")
    except ValueError:
        return None
    return seconds if 0 <= seconds < math.inf else None


def renewal_margin_s(expires_in: float) -> float:
    """Renew this long before expiry: a fifth of the lifetime, at least 2 s and at most 60 s
    (a 900 s token is renewed after 14 minutes, a 20 s one after 16 s)."""
    return min(max(expires_in / 5, 2.0), 60.0)


class Session:
    """One client's sign-in (or API key). Users that share a session (hotpath.py's) renew it one
    at a time: a second renewal of the same stale token is skipped, since rotating twice would
    present a spent refresh token and revoke the whole sign-in."""

    def __init__(self) -> None:
        self.email: str | None = None
        self.password: str | None = None
        self.access_token: str | None = None
        self.refresh_token: str | None = None
        self.api_key: str | None = None
        self.valid_until = 0.0  # monotonic: the access token certainly answers until then
        self.renew_at = 0.0  # monotonic: renew before a call from then on
        self._lock = threading.Lock()  # gevent's, once locust has patched the standard library

    def register(self, api: Caller, email: str, password: str) -> None:
        """Create the account and keep its tokens."""
        began = time.monotonic()
        body = {"email": email, "password": password}
        tokens = api.call(
            "POST", "/v1/auth/register", name="/v1/auth/register", expect=(201,), body=body, auth={}
        ).json()
        self.email, self.password = email, password
        self.keep(tokens, began)

    def sign_in(self, api: Caller) -> None:
        """Exchange the email and password for new tokens."""
        if self.email is None or self.password is None:
            raise RuntimeError("sign_in before register: no email and password to sign in with")
        began = time.monotonic()
        body = {"email": self.email, "password": self.password}
        self.keep(
            api.call("POST", "/v1/auth/login", name="/v1/auth/login", body=body, auth={}).json(),
            began,
        )

    def use_api_key(self, key: str) -> None:
        """Authenticate with ``key`` from now on; it does not expire, so nothing is renewed."""
        self.api_key = key
        self.access_token = self.refresh_token = None

    def keep(self, tokens: dict[str, Any], asked_at: float) -> None:
        """Hold api.md's Tokens, answered to a request sent at ``asked_at`` (monotonic)."""
        expires_in = float(tokens["expires_in"])
        self.access_token = str(tokens["access_token"])
        self.refresh_token = str(tokens["refresh_token"])
        self.api_key = None
        self.valid_until = asked_at + expires_in - CLOCK_SLACK_S
        self.renew_at = asked_at + expires_in - renewal_margin_s(expires_in)

    def is_due(self, now: float) -> bool:
        """Whether the access token is close enough to its expiry to renew before a call."""
        return self.access_token is not None and now >= self.renew_at

    def current(self, api: Caller) -> Credentials:
        """The credentials for the next request, renewed first when they are due."""
        if self.is_due(time.monotonic()):
            self.renew(api, self.access_token, reason=REFRESHED)
        if self.access_token is not None:
            headers = {"Authorization": f"Bearer {self.access_token}"}
            return Credentials(headers, self.access_token, self.valid_until)
        if self.api_key is not None:
            return Credentials({"X-API-Key": self.api_key}, None, math.inf)
        return Credentials({}, None, math.inf)

    def renew(self, api: Caller, stale: str | None, *, reason: str) -> None:
        """Replace the access token ``stale``: refresh, or sign in again when the refresh token
        is refused. Nothing to do when another user of this session already replaced it."""
        with self._lock:
            if stale is None or self.access_token != stale:
                return
            began = time.monotonic()
            tokens = self._refreshed(api)
            if tokens is not None:
                self.keep(tokens, began)
                api.record(SESSION_EVENT, reason, began)
                return
            self.sign_in(api)
            api.record(SESSION_EVENT, SIGNED_IN_AGAIN, began)

    def _refreshed(self, api: Caller) -> dict[str, Any] | None:
        """New tokens for the refresh token, or None when the API refuses it (401: expired,
        spent or revoked; the answer to that is signing in again)."""
        if self.refresh_token is None:
            return None
        spent, self.refresh_token = self.refresh_token, None  # single use, whatever the answer
        response = api.call(
            "POST",
            "/v1/auth/refresh",
            name="/v1/auth/refresh",
            expect=(200, 401),
            body={"refresh_token": spent},
            auth={},
        )
        if response.status_code == 401:
            return None
        tokens: dict[str, Any] = response.json()
        return tokens
