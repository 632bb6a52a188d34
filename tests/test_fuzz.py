"""Property-based fuzzing of the whole HTTP API from its own OpenAPI document (Schemathesis),
against the app behind a real server: a bounded number of generated requests per operation, valid
(positive) and invalid (negative). No answer may be a 5xx, and every 4xx must be a problem+json;
a 400 or 422 must name what was wrong (a parameter, a header, a body field, or the body)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from typing import Any

import httpx
import pytest

from roto.errors import PROBLEM_JSON
from tests.factories import signup

schemathesis = pytest.importorskip(
    "schemathesis",
    reason="schemathesis is not installed in this environment (it goes in the dev extra and "
    "constraints.txt): the API fuzz test needs it",
)
hypothesis = pytest.importorskip("hypothesis")

#: Generated requests per operation and per mode (valid, invalid): bounded for a loaded CI box.
MAX_EXAMPLES = 8
#: The webhook answers 503 without a secret (by design): give it one, so it checks signatures.
FUZZED = {"stripe_webhook_secret": "whsec_fuzz_0123456789abcdef"}


def names_in(value: Any) -> set[str]:
    """Every key of a JSON value, at any depth: the fields a body could be blamed for."""
    if isinstance(value, dict):
        return set(value).union(*(names_in(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(names_in(item) for item in value))
    return set()


def header(response: Any, name: str) -> str:
    """A header of a Schemathesis response (its headers map names to lists of values)."""
    for key, values in response.headers.items():
        if key.lower() == name:
            return str(values[0] if isinstance(values, list) else values)
    return ""


def problem_with(case: Any, response: Any) -> str | None:
    """What is wrong with one answer, or None."""
    status = response.status_code
    if status >= 500:
        return f"{status}: {response.text[:300]}"
    if status < 400:
        return None
    content_type = header(response, "content-type")
    if not content_type.startswith(PROBLEM_JSON):
        return f"{status} is not problem+json: {content_type}"
    body = response.json()
    if not isinstance(body.get("detail"), str) or body.get("status") != status:
        return f"{status} problem without detail/status: {body}"
    if status not in (400, 422):
        return None
    named = {"body"} | {p.name for p in case.operation.iter_parameters()}
    named |= names_in(case.body) | set(case.query or {}) | set(case.headers or {})
    said = body["detail"] + " " + " ".join(str(e.get("key")) for e in body.get("errors") or [])
    if not any(name and name in said for name in named):
        return f"{status} names no field of the request: {body['detail']}"
    return None


@pytest.mark.parametrize("settings", [FUZZED], indirect=True)
async def test_generated_requests_never_get_a_5xx_and_every_4xx_names_the_problem(
    live: httpx.AsyncClient,
) -> None:
    auth = await signup(live)
    base_url = str(live.base_url).rstrip("/")
    raw = (await live.get("/schema/openapi.json")).json()
    outcome = await asyncio.to_thread(fuzz, raw, base_url, auth)
    print(
        f"\nfuzz: {outcome['cases']} cases over {outcome['operations']} operations, "
        f"{outcome['5xx']} answered 5xx, statuses {dict(sorted(outcome['statuses'].items()))}"
    )
    assert outcome["cases"] >= outcome["operations"]
    assert outcome["problems"] == [], "\n".join(outcome["problems"][:20])


def fuzz(raw: dict[str, Any], base_url: str, auth: dict[str, str]) -> dict[str, Any]:
    """Run every operation's generated cases (sync: Schemathesis calls with ``requests``)."""
    from schemathesis.generation import GenerationMode

    schema = schemathesis.openapi.from_dict(raw)
    statuses: Counter[int] = Counter()
    problems: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode)
            label = f"{operation.label} [{mode.value}]"
            fuzz_one(strategy, label, base_url, auth, statuses, problems)
    return {
        "operations": len(operations),
        "cases": sum(statuses.values()),
        "5xx": sum(count for status, count in statuses.items() if status >= 500),
        "statuses": statuses,
        "problems": problems,
    }


def fuzz_one(
    strategy: Any,
    label: str,
    base_url: str,
    auth: dict[str, str],
    statuses: Counter[int],
    problems: list[str],
) -> None:
    """Up to ``MAX_EXAMPLES`` cases of one operation in one mode; answers tallied, not raised
    (no shrinking: every problem found is listed)."""

    @hypothesis.given(case=strategy)
    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    def run(case: Any) -> None:
        response = case.call(base_url=base_url, headers=auth, timeout=30)
        statuses[response.status_code] += 1
        found = problem_with(case, response)
        if found is not None:
            problems.append(f"{label} -> {found}")

    # Unsatisfiable: nothing invalid can be made of it (an operation without any input).
    with contextlib.suppress(hypothesis.errors.Unsatisfiable):
        run()
