"""What every scenario shares: JSON calls checked against the statuses api.md promises, accounts
(kept signed in by session.py), 429s honoured, the upload through a presigned URL, following a job
to its end, and job latency as locust events.

Only locust and the standard library are used, so this runs against any deployment.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import gevent
from locust import User, events
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV
from session import ACCEPT, FAIL, REFRESHED_AFTER_401, WAIT, Credentials, Session, next_step

CLIP = Path(__file__).with_name("clip.mp4")
PASSWORD = "load test password 1"  # noqa: S105 (every load-test account has it)
TERMINAL = ("succeeded", "failed", "canceled")
JOB_EVENT = "JOB"  # request_type of job latency events: submit to terminal status
FLOW_EVENT = "FLOW"  # request_type of one whole scenario run (the CI smoke test looks for it)
CHECK_EVENT = "CHECK"  # request_type of a content check that failed on a 2xx answer
THROTTLE_EVENT = "THROTTLE"  # request_type of a wait for Retry-After; its time is the wait
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


@events.init_command_line_parser.add_listener
def _quit_option(parser: Any) -> None:
    parser.add_argument(
        "--quit-after-flows",
        default="",
        help="comma-separated FLOW names: end the run once each has completed once",
    )


_COMPLETED: set[str] = set()


@events.request.add_listener
def _maybe_quit(request_type: str, name: str, exception: Any, **_: Any) -> None:
    """With --quit-after-flows, stop the run as soon as every named flow has completed: a smoke
    run then lasts as long as its flows take on the machine, not a guessed duration."""
    env = _ENVIRONMENT.get("env")
    options = getattr(env, "parsed_options", None)
    wanted = {n for n in getattr(options, "quit_after_flows", "").split(",") if n}
    if request_type != FLOW_EVENT or exception is not None or not wanted or env is None:
        return
    _COMPLETED.add(name)
    if wanted <= _COMPLETED and env.runner is not None:
        log.info("every flow of --quit-after-flows completed: stopping the run")
        # Quit from a fresh greenlet: quitting here would kill this user's greenlet before the
        # stats listener (fired after this one) records the flow that just completed.
        if "quit" not in _ENVIRONMENT:
            _ENVIRONMENT["quit"] = gevent.spawn(env.runner.quit)


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
    """The API as a client sees it, on a locust user's HTTP client, signed in by ``session``."""

    def __init__(self, user: User, session: Session | None = None) -> None:
        self.user = user
        self.client: Any = user.client  # type: ignore[attr-defined]
        self.session = session or Session()

    def record(self, kind: str, name: str, began: float, error: str | None = None) -> None:
        fire(self.user, kind, name, began, error)

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
        stream: bool = False,
    ) -> Any:
        """One request; a status outside ``expect`` is a failure and aborts the flow.

        Without ``auth`` it carries the session's credentials, renewed first when due; a 401
        for an access token that expired in flight renews it and sends once more. A 429 with
        Retry-After from the API (api.md has one for every limit) is waited out and sent again,
        unless ``expect`` holds 429. The failure message is the kind only ("500 where 200 was
        expected"), so locust groups failures by kind; the body goes to the log.
        """
        wanted = tuple(expect)
        if body is not None:
            raw = json.dumps(body).encode()
        options: dict[str, Any] = {"stream": True, "timeout": (10, 30)} if stream else {}
        renewed, throttled_s = False, 0.0
        while True:
            if auth is None:
                credentials = self.session.current(self)
            else:
                credentials = Credentials(auth, None, math.inf)
            sent = dict(credentials.headers)
            if body is not None:
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
                **options,
            ) as response:
                step = next_step(
                    response.status_code or 0,
                    wanted,
                    credentials=credentials,
                    retry_after=response.headers.get("Retry-After"),
                    is_api=path.startswith("/"),
                    renewed=renewed,
                    waited_s=throttled_s,
                    now=time.monotonic(),
                )
                if step.action == FAIL:
                    response.failure(step.failure)
                    log.warning("%s %s -> %s: %s", method, name, step.failure, _snippet(response))
                else:  # the answer, or what api.md promises a long-lived client: handled below
                    response.success()
            if step.action == ACCEPT:
                return response
            if stream:
                response.close()  # its connection goes back before the next attempt
            if step.action == FAIL:
                raise FlowAborted(name)
            if step.action == WAIT:
                # Recorded before the wait (as lasting it), so that a wait which the end of the
                # run cuts short still counts.
                self.record(THROTTLE_EVENT, name, time.monotonic() - step.wait_s)
                time.sleep(step.wait_s)
                throttled_s += step.wait_s
            else:
                self.session.renew(self, credentials.token, reason=REFRESHED_AFTER_401)
                renewed = True

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
        """A new account, signed in from now on; answers its email."""
        email = new_email(prefix)
        self.session.register(self, email, PASSWORD)
        return email

    def use_api_key(self, name: str) -> None:
        """Create an API key with the current sign-in and authenticate with it from now on."""
        key = self.json(
            "POST", "/v1/api-keys", name="/v1/api-keys", expect=(201,), body={"name": name}
        )
        self.session.use_api_key(key["key"])

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
        try:
            response = self.call(
                "GET", f"/v1/jobs/{job['id']}/events", name="/v1/jobs/[id]/events", stream=True
            )
        except FlowAborted:  # counted as a failure; the job's state is still in the API
            return self.poll_job(job, submitted, timeout_s=timeout_s), masks
        try:
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
