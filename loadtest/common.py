"""What every scenario shares: JSON calls checked against the statuses api.md promises, accounts,
the upload through a presigned URL, following a job to its end, and job latency as locust events.

Only locust and the standard library are used, so this runs against any deployment.
"""

from __future__ import annotations

import csv
import json
import logging
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from locust import User, events
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

CLIP = Path(__file__).with_name("clip.mp4")
PASSWORD = "load test password 1"  # noqa: S105 (every load-test account has it)
TERMINAL = ("succeeded", "failed", "canceled")
JOB_EVENT = "JOB"  # request_type of job latency events: submit to terminal status
FLOW_EVENT = "FLOW"  # request_type of one whole scenario run (the CI smoke test looks for it)
CHECK_EVENT = "CHECK"  # request_type of a content check that failed on a 2xx answer
log = logging.getLogger("loadtest")


@events.quit.add_listener
def _write_final_csv(exit_code: int, **_: Any) -> None:
    """Rewrite --csv's statistics and failures once everything has stopped: locust writes them
    every second, and flows that end during --stop-timeout would otherwise be missing."""
    env = _ENVIRONMENT.get("env")
    prefix = getattr(getattr(env, "parsed_options", None), "csv_prefix", None)
    if env is None or not prefix:
        return
    writer = StatsCSV(env, PERCENTILES_TO_REPORT)
    with open(f"{prefix}_stats.csv", "w", newline="") as handle:
        writer.requests_csv(csv.writer(handle))
    with open(f"{prefix}_failures.csv", "w", newline="") as handle:
        writer.failures_csv(csv.writer(handle))


@events.init.add_listener
def _remember_environment(environment: Any, **_: Any) -> None:
    _ENVIRONMENT["env"] = environment


_ENVIRONMENT: dict[str, Any] = {}


class FlowAborted(Exception):
    """A step failed and was recorded as a locust failure; the rest of this run is skipped."""


class JobFailed(Exception):
    """A job ended in another status than ``succeeded`` (the message is its failure kind)."""


def clip_bytes() -> bytes:
    return CLIP.read_bytes()


def disc_point(frame_index: int, width: int, height: int) -> list[float]:
    """A positive click on the clip's disc at ``frame_index``."""
    return [round(width * (0.2 + 0.6 * (frame_index % 50) / 50), 1), round(height / 2, 1)]


def new_email(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}@loadtest.example.com"


def fire(user: User, request_type: str, name: str, began: float, error: str | None) -> None:
    """Record a non-HTTP measurement (job latency, a whole flow) as a locust request."""
    user.environment.events.request.fire(
        request_type=request_type,
        name=name,
        response_time=(time.monotonic() - began) * 1000.0,
        response_length=0,
        exception=JobFailed(error) if error else None,
        context={},
    )


class Api:
    """The API as a client sees it, on a locust user's HTTP client."""

    def __init__(self, user: User) -> None:
        self.user = user
        self.client: Any = user.client  # type: ignore[attr-defined]
        self.auth: dict[str, str] = {}

    def call(
        self,
        method: str,
        path: str,
        *,
        name: str,
        expect: Iterable[int] = (200,),
        body: Any = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        auth: dict[str, str] | None = None,
    ) -> Any:
        """One request; a status outside ``expect`` is a failure and aborts the flow.

        The failure message is the kind only ("500 where 200 was expected"), so locust groups
        failures by kind; the body goes to the log.
        """
        wanted = tuple(expect)
        sent = dict(self.auth if auth is None else auth)
        if body is not None:
            raw = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        with self.client.request(
            method,
            path,
            name=name,
            data=raw,
            headers=sent,
            catch_response=True,
            allow_redirects=False,
        ) as response:
            status = response.status_code or 0
            if status in wanted:
                response.success()
                return response
            kind = "no response" if status == 0 else str(status)
            response.failure(f"{kind} where {'/'.join(map(str, wanted))} was expected")
            log.warning("%s %s -> %s: %s", method, name, kind, _snippet(response))
        raise FlowAborted(name)

    def check_failed(self, name: str, message: str) -> None:
        """Record an answer that had the right status but the wrong content, and abort."""
        fire(self.user, CHECK_EVENT, name, time.monotonic(), message)
        raise FlowAborted(name)

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.call(method, path, **kwargs).json()

    def submit_job(
        self, path: str, name: str, body: dict[str, Any], key: str | None = None
    ) -> dict[str, Any]:
        """POST a request that queues a job (202 ``{"job": Job}``); the job."""
        headers = {"Idempotency-Key": key} if key else {}
        answer = self.json("POST", path, name=name, expect=(202,), body=body, headers=headers)
        return dict(answer["job"])

    def register(self, prefix: str) -> str:
        """A new account, signed in; answers its email."""
        email = new_email(prefix)
        tokens = self.json(
            "POST",
            "/v1/auth/register",
            name="/v1/auth/register",
            expect=(201,),
            body={"email": email, "password": PASSWORD},
            auth={},
        )
        self.auth = {"Authorization": f"Bearer {tokens['access_token']}"}
        return email

    def login(self, email: str) -> None:
        tokens = self.json(
            "POST",
            "/v1/auth/login",
            name="/v1/auth/login",
            body={"email": email, "password": PASSWORD},
            auth={},
        )
        self.auth = {"Authorization": f"Bearer {tokens['access_token']}"}

    def use_api_key(self, name: str) -> None:
        """Create an API key with the current login and authenticate with it from now on."""
        key = self.json(
            "POST", "/v1/api-keys", name="/v1/api-keys", expect=(201,), body={"name": name}
        )
        self.auth = {"X-API-Key": key["key"]}

    def upload_clip(self) -> tuple[str, dict[str, Any], float]:
        """Announce, PUT straight to storage and complete: the video id, its ingest job and when
        the job was submitted."""
        data = clip_bytes()
        created = self.json(
            "POST",
            "/v1/videos",
            name="/v1/videos",
            expect=(201,),
            body={"filename": CLIP.name, "content_type": "video/mp4", "size_bytes": len(data)},
        )
        video_id, upload = created["video"]["id"], created["upload"]
        if upload["method"] != "PUT":
            self.check_failed("single PUT upload", f"upload method {upload['method']}")
        self.call(
            "PUT",
            upload["url"],
            name="storage: PUT upload",
            raw=data,
            headers=upload["headers"],
            auth={},
        )
        submitted = time.monotonic()
        job = self.submit_job(
            f"/v1/videos/{video_id}/upload-complete", "/v1/videos/[id]/upload-complete", {}
        )
        return video_id, job, submitted

    def storage_get(self, response: Any, name: str) -> bytes:
        """Follow a redirect to storage without the API's credentials (S3 would refuse both)."""
        if response.status_code not in (301, 302, 303, 307, 308):
            return bytes(response.content)
        location = response.headers["Location"]
        return bytes(self.call("GET", location, name=name, auth={}).content)

    def poll_job(
        self, job: dict[str, Any], submitted: float, *, every_s: float = 0.5, timeout_s: float
    ) -> dict[str, Any]:
        """GET the job until it ends; fires its latency event."""
        deadline = submitted + timeout_s
        while job["status"] not in TERMINAL and time.monotonic() < deadline:
            time.sleep(every_s)
            job = self.json("GET", f"/v1/jobs/{job['id']}", name="/v1/jobs/[id]")
        return self._finish(job, submitted)

    def follow_job(
        self, job: dict[str, Any], submitted: float, *, timeout_s: float
    ) -> tuple[dict[str, Any], int]:
        """Follow the job's event stream to its terminal status, as the frontend does: the
        final job and how many ``masks`` events came; fires its latency event."""
        masks = 0
        response = self.client.request(
            "GET",
            f"/v1/jobs/{job['id']}/events",
            name="/v1/jobs/[id]/events",
            headers=self.auth,
            stream=True,
            timeout=(10, 30),
        )
        try:
            if response.status_code != 200:
                log.warning(
                    "events stream answered %s: %s", response.status_code, _snippet(response)
                )
                return self.poll_job(job, submitted, timeout_s=timeout_s), masks
            for event, data in _sse_events(response.iter_lines(decode_unicode=True)):
                if event == "status":
                    job = data
                elif event == "masks":
                    masks += 1
                if job["status"] in TERMINAL or time.monotonic() > submitted + timeout_s:
                    break
        except OSError as exc:  # a dropped stream: the job's state is still in the API
            log.warning("events stream dropped: %r", exc)
        finally:
            response.close()
        if job["status"] not in TERMINAL:
            return self.poll_job(job, submitted, timeout_s=timeout_s), masks
        return self._finish(job, submitted), masks

    def _finish(self, job: dict[str, Any], submitted: float) -> dict[str, Any]:
        error = None
        if job["status"] != "succeeded":
            code = (job.get("error") or {}).get("code", "timed out")
            error = f"{job['status']}: {code}"
        fire(self.user, JOB_EVENT, job["type"], submitted, error)
        if error:
            raise FlowAborted(f"{job['type']} job {error}")
        return job


def _sse_events(lines: Iterable[str]) -> Iterator[tuple[str, Any]]:
    """(event, decoded data) for each server-sent event; comments (pings) are skipped."""
    event, data = "message", []
    for line in lines:
        if not line:
            if data:
                yield event, json.loads("\n".join(data))
            event, data = "message", []
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())


def _snippet(response: Any) -> str:
    try:
        return str(response.text)[:300]
    except Exception:  # a streamed or broken body: the status is what matters
        return "<no body>"
