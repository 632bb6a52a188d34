"""The load-test client's session: when it renews, how it renews, and what it does with a 401
or a 429. A fake Api answers; no I/O, no locust (importing locust would patch this process)."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "loadtest"))

import session as s  # loadtest/ is a folder of locust modules, not a package

PASSWORD = "load test password 1"


class Answer:
    def __init__(self, status: int, body: dict[str, Any] | None = None) -> None:
        self.status_code = status
        self.body = body or {}

    def json(self) -> dict[str, Any]:
        return self.body


def tokens(n: int, expires_in: int = 20) -> dict[str, Any]:
    return {"access_token": f"a{n}", "refresh_token": f"r{n}", "expires_in": expires_in}


class FakeApi:
    """Answers the auth calls from a script; records calls and SESSION events."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, Any]] = []
        self.events: list[tuple[str, str]] = []

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        assert kwargs["auth"] == {}, "auth calls go without the session's credentials"
        self.calls.append((path, kwargs.get("body")))
        answer = self.answers.pop(0)
        assert answer.status_code in kwargs.get("expect", (200,))
        return answer

    def record(self, kind: str, name: str, began: float, error: str | None = None) -> None:
        self.events.append((kind, name))


def signed_in(expires_in: int = 20) -> tuple[s.Session, FakeApi]:
    api = FakeApi(Answer(201, tokens(1, expires_in)))
    session = s.Session()
    session.register(api, "artist@loadtest.example.com", PASSWORD)
    api.calls.clear()
    return session, api


def test_a_fresh_token_is_sent_without_a_renewal() -> None:
    session, api = signed_in()
    credentials = session.current(api)
    assert credentials.headers == {"Authorization": "Bearer a1"}
    assert credentials.token == "a1"
    assert api.calls == [] and api.events == []


def test_a_token_near_its_expiry_is_refreshed_and_the_rotated_pair_kept() -> None:
    session, api = signed_in()
    session.renew_at = time.monotonic() - 1  # the margin before expiry has begun
    api.answers.append(Answer(200, tokens(2)))
    credentials = session.current(api)
    assert api.calls == [("/v1/auth/refresh", {"refresh_token": "r1"})]
    assert credentials.headers == {"Authorization": "Bearer a2"}
    assert session.refresh_token == "r2"  # rotated: the spent r1 is never sent again
    assert api.events == [(s.SESSION_EVENT, s.REFRESHED)]


def test_a_refused_refresh_token_signs_in_again_with_email_and_password() -> None:
    session, api = signed_in()
    session.renew_at = time.monotonic() - 1
    api.answers += [Answer(401), Answer(200, tokens(3))]
    assert session.current(api).token == "a3"
    assert api.calls == [
        ("/v1/auth/refresh", {"refresh_token": "r1"}),
        ("/v1/auth/login", {"email": "artist@loadtest.example.com", "password": PASSWORD}),
    ]
    assert api.events == [(s.SESSION_EVENT, s.SIGNED_IN_AGAIN)]


def test_renewing_a_token_that_another_user_already_replaced_does_nothing() -> None:
    session, api = signed_in()
    api.answers.append(Answer(200, tokens(2)))
    session.renew(api, "a1", reason=s.REFRESHED_AFTER_401)
    session.renew(api, "a1", reason=s.REFRESHED_AFTER_401)  # a second user saw the same 401
    assert len(api.calls) == 1 and session.access_token == "a2"


def test_renewal_is_due_a_fifth_of_the_lifetime_before_a_conservative_expiry() -> None:
    session, _ = signed_in(expires_in=900)
    now = time.monotonic()
    assert 900 - 60 - 1 < session.renew_at - now <= 900 - 60
    assert session.valid_until - session.renew_at == 60 - s.CLOCK_SLACK_S
    assert s.renewal_margin_s(20) == 4.0 and s.renewal_margin_s(5) == 2.0


def test_an_api_key_is_sent_as_is_and_never_renewed() -> None:
    session, api = signed_in()
    session.use_api_key("rk_key")
    credentials = session.current(api)
    assert credentials == s.Credentials({"X-API-Key": "rk_key"}, None, math.inf)
    assert not session.is_due(math.inf)


def step(status: int, **overrides: Any) -> s.Step:
    arguments: dict[str, Any] = {
        "credentials": s.Credentials({"Authorization": "Bearer a1"}, "a1", 100.0),
        "retry_after": None,
        "is_api": True,
        "renewed": False,
        "waited_s": 0.0,
        "now": 50.0,
    }
    arguments.update(overrides)
    return s.next_step(status, (200,), **arguments)


def test_an_expected_status_is_accepted_even_a_401_or_429() -> None:
    assert s.next_step(
        429,
        (401, 429),
        credentials=s.Credentials({}, None, math.inf),
        retry_after="30",
        is_api=True,
        renewed=False,
        waited_s=0.0,
        now=0.0,
    ) == s.Step(s.ACCEPT)


def test_a_401_after_the_token_may_have_expired_renews_once() -> None:
    assert step(401, now=100.0) == s.Step(s.RENEW)
    assert step(401, now=100.0, renewed=True).failure == "401 right after renewing the access token"


def test_a_401_for_a_token_that_was_certainly_valid_is_a_failure_not_a_renewal() -> None:
    assert step(401, now=99.0) == s.Step(
        s.FAIL, failure="401 for an access token that had not expired"
    )


def test_a_401_for_an_api_key_or_no_credentials_is_a_plain_failure() -> None:
    key = s.Credentials({"X-API-Key": "rk"}, None, math.inf)
    assert step(401, credentials=key).failure == "401 where 200 was expected"


@pytest.mark.parametrize(
    ("retry_after", "waited_s", "wait_s"),
    [("7", 0.0, 7.0), ("3600", 0.0, s.MAX_RETRY_AFTER_S), ("0", 0.0, 1.0), ("30", 170.0, 10.0)],
)
def test_a_429_from_the_api_waits_retry_after_bounded(
    retry_after: str, waited_s: float, wait_s: float
) -> None:
    assert step(429, retry_after=retry_after, waited_s=waited_s) == s.Step(s.WAIT, wait_s=wait_s)


@pytest.mark.parametrize("retry_after", [None, "", "soon", "-1", "nan", "inf"])
def test_a_429_without_a_usable_retry_after_is_a_failure(retry_after: str | None) -> None:
    assert step(429, retry_after=retry_after).failure == "429 without a usable Retry-After"


def test_a_429_that_outlasts_the_budget_or_comes_from_storage_is_a_failure() -> None:
    over = step(429, retry_after="5", waited_s=s.THROTTLE_BUDGET_S)
    assert over.failure == "429 still after waiting 180 s"
    assert step(429, retry_after="5", is_api=False).failure == "429 where 200 was expected"


def test_other_statuses_and_no_answer_are_failures_named_by_kind() -> None:
    assert step(500).failure == "500 where 200 was expected"
    assert step(0).failure == "no response where 200 was expected"
