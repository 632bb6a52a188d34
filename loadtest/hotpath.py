"""The hot endpoints at full speed, next to a bare Litestar app's twins (scripts/bare_app.py).

Its own locustfile: pick one endpoint per run with ``--tags``, so each figure is a sustained rate
at a fixed number of users with no think time:

    locust -f loadtest/hotpath.py --host API --bare-host BARE --tags job_read   # or prompt,
                                                                   # bare_job_read, bare_prompt
The users of one process share one account (one session) and one ready video, made by the first
of them.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, ClassVar

from common import Api, FlowAborted, disc_point
from locust import FastHttpUser, constant, events, tag, task

SETUP_TIMEOUT_S = 180.0


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    parser.add_argument("--bare-host", default="", help="base URL of scripts/bare_app.py")


class HotPathUser(FastHttpUser):
    """Reads a job or submits a click, as fast as the server answers."""

    wait_time = constant(0)
    shared: ClassVar[dict[str, Any]] = {}

    def on_start(self) -> None:
        self.api = Api(self)
        if not self.shared:
            self.shared["started"] = True
            try:
                self.setup_shared()
            except FlowAborted:
                self.shared["failed"] = True
        deadline = time.monotonic() + SETUP_TIMEOUT_S
        while "session" not in self.shared and time.monotonic() < deadline:
            if self.shared.get("failed"):
                raise RuntimeError("hot path setup failed; see the failures")
            time.sleep(0.2)  # gevent's sleep: the first user is still setting up
        self.api.session = self.shared["session"]  # one sign-in; its renewals take turns
        self.bare = self.environment.parsed_options.bare_host.rstrip("/")

    def setup_shared(self) -> None:
        """One account, the clip ingested, an object to click on."""
        api = self.api
        api.register("hotpath")
        video_id, job, submitted = api.upload_clip()
        job = api.poll_job(job, submitted, every_s=0.2, timeout_s=SETUP_TIMEOUT_S)
        video = api.json("GET", f"/v1/videos/{video_id}", name="/v1/videos/[id]")
        obj = api.json(
            "POST",
            f"/v1/videos/{video_id}/objects",
            name="/v1/videos/[id]/objects",
            expect=(201,),
            body={},
        )
        prompt = {
            "object_id": obj["id"],
            "frame_index": 0,
            "points": [disc_point(0, video["width"], video["height"])],
            "labels": [1],
            "box": None,
            "mode": "replace",  # the keyframe keeps one click however many are sent
        }
        # The measured window starts now: the setup's requests would dilute the rate.
        self.environment.stats.reset_all()
        self.shared.update(job_id=job["id"], video_id=video_id, prompt=prompt, session=api.session)

    def hit(self, method: str, url: str, name: str, **kwargs: Any) -> None:
        # A failure is already in the statistics; the next request goes on.
        with contextlib.suppress(FlowAborted):
            self.api.call(method, url, name=name, **kwargs)

    @tag("job_read")
    @task
    def job_read(self) -> None:
        self.hit("GET", f"/v1/jobs/{self.shared['job_id']}", "GET /v1/jobs/[id]")

    @tag("prompt")
    @task
    def prompt(self) -> None:
        self.hit(
            "POST",
            f"/v1/videos/{self.shared['video_id']}/prompts?wait=0",
            "POST /v1/videos/[id]/prompts?wait=0",
            expect=(200, 202),
            body=self.shared["prompt"],
        )

    @tag("bare_job_read")
    @task
    def bare_job_read(self) -> None:
        self.hit("GET", f"{self.bare}/v1/jobs/{self.shared['job_id']}", "bare: GET job")

    @tag("bare_prompt")
    @task
    def bare_prompt(self) -> None:
        self.hit(
            "POST",
            f"{self.bare}/v1/videos/{self.shared['video_id']}/prompts?wait=0",
            "bare: POST prompts",
            expect=(202,),
            body=self.shared["prompt"],
        )
