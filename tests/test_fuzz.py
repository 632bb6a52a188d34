"""Property-based fuzzing of the whole HTTP API from its own OpenAPI document (Schemathesis),
against the app behind a real server: a bounded number of generated requests per operation, valid
(positive) and invalid (negative). No answer may be a 5xx, and every 4xx must be a problem+json;
a 400 or 422 must name what was wrong (a parameter, a header, a body field, or the body)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest

from roto.errors import PROBLEM_JSON
from roto.settings import Settings
from tests.factories import signup
from tests.objects.helpers import click, video_with_object
from tests.videos.helpers import connect

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


def field_names(document: Any) -> set[str]:
    """Every property and parameter name the OpenAPI document declares: a problem may name a
    field the request left out (e.g. an omitted ``object_ids`` that defaults to all objects)."""
    found: set[str] = set()
    if isinstance(document, dict):
        found |= set(document.get("properties") or {})
        if isinstance(document.get("name"), str) and "in" in document:
            found.add(document["name"])
        for value in document.values():
            found |= field_names(value)
    elif isinstance(document, list):
        for value in document:
            found |= field_names(value)
    return found


def problem_with(case: Any, response: Any, declared: set[str]) -> str | None:
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
    named = {"body"} | declared | {p.name for p in case.operation.iter_parameters()}
    named |= names_in(case.body) | set(case.query or {}) | set(case.headers or {})
    said = body["detail"] + " " + " ".join(str(e.get("key")) for e in body.get("errors") or [])
    if not any(name and name in said for name in named):
        return f"{status} names no field of the request: {body['detail']}"
    return None


@pytest.mark.parametrize("settings", [FUZZED], indirect=True)
async def test_generated_requests_never_get_a_5xx_and_every_4xx_names_the_problem(
    live: httpx.AsyncClient, settings: Settings
) -> None:
    auth = await signup(live)
    base_url = str(live.base_url).rstrip("/")
    raw = (await live.get("/schema/openapi.json")).json()
    # Twice: with generated ids (mostly 404s), then with the ids of real, ready resources, so
    # the generated bodies and parameters reach the checks behind the lookups.
    random_ids = await asyncio.to_thread(fuzz, raw, base_url, auth, {})
    real_ids = await asyncio.to_thread(fuzz, raw, base_url, auth, await seed(live, auth, settings))
    cases = random_ids["cases"] + real_ids["cases"]
    statuses = random_ids["statuses"] + real_ids["statuses"]
    server_errors = sum(count for status, count in statuses.items() if status >= 500)
    print(
        f"\nfuzz: {cases} cases over {random_ids['operations']} operations, {server_errors} "
        f"answered 5xx, statuses {dict(sorted(statuses.items()))}"
    )
    problems = random_ids["problems"] + real_ids["problems"]
    assert real_ids["cases"] >= real_ids["operations"]
    assert problems == [], "\n".join(problems[:20])


async def seed(live: httpx.AsyncClient, auth: dict[str, str], settings: Settings) -> dict[str, str]:
    """Real path parameters: a ready video with an object and a prompt, a finished job (its
    event stream ends at once), an API key."""
    video_id = await video_with_object(live, auth, settings)
    prompt = await live.post(
        f"/v1/videos/{video_id}/prompts", params={"wait": 0}, json=click(1, 0, 5, 5), headers=auth
    )
    job_id = prompt.json()["job"]["id"]
    conn = await connect(settings)
    try:
        await conn.execute(
            "UPDATE jobs SET status = 'succeeded', finished_at = now() WHERE id = $1",
            uuid.UUID(job_id),
        )
    finally:
        await conn.close()
    key = await live.post("/v1/api-keys", json={"name": "fuzz"}, headers=auth)
    return {
        "video_id": video_id,
        "object_id": "1",
        "frame_index": "0",
        "matte": "0.png",
        "prompt_id": prompt.json()["prompt"]["id"],
        "job_id": job_id,
        "key_id": key.json()["id"],
    }


def fuzz(
    raw: dict[str, Any], base_url: str, auth: dict[str, str], ids: dict[str, str]
) -> dict[str, Any]:
    """Run every operation's generated cases (sync: Schemathesis calls with ``requests``); with
    ``ids``, the path parameters they name are those, DELETEs are left out (the resources must
    last the run) and prompts are not waited for."""
    from schemathesis.generation import GenerationMode

    schema = schemathesis.openapi.from_dict(raw)
    declared = field_names(raw)
    statuses: Counter[int] = Counter()
    problems: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    if ids:
        operations = [op for op in operations if op.method.upper() != "DELETE"]
    for operation in operations:
        names = {p.name for p in operation.iter_parameters()}
        fixed = {name: value for name, value in ids.items() if name in names}
        if ids and {p.name for p in operation.path_parameters} - set(fixed):
            continue  # a path parameter without a real value
        query = {"wait": 0} if ids and "wait" in names else None
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(
                generation_mode=mode, path_parameters=fixed or None, query=query
            )
            label = f"{operation.label} [{mode.value}{', real ids' if ids else ''}]"
            fuzz_one(strategy, label, base_url, auth, declared, statuses, problems)
    return {
        "operations": len(operations),
        "cases": sum(statuses.values()),
        "statuses": statuses,
        "problems": problems,
    }


def fuzz_one(
    strategy: Any,
    label: str,
    base_url: str,
    auth: dict[str, str],
    declared: set[str],
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
        found = problem_with(case, response, declared)
        if found is not None:
            problems.append(f"{label} -> {found}")

    # Unsatisfiable: nothing invalid can be made of it (an operation without any input).
    with contextlib.suppress(hypothesis.errors.Unsatisfiable):
        run()
