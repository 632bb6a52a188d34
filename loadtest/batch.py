"""A pipeline script with an API key: corrects a keyframe, propagates, exports, and polls jobs."""

from __future__ import annotations

import random
import time
import uuid

from common import FLOW_EVENT, Api, FlowAborted, disc_point, fire
from locust import HttpUser, between, task

JOB_TIMEOUT_S = 300.0
POLL_EVERY_S = 1.0  # a script polls; it does not hold an event stream open


class BatchClientUser(HttpUser):
    """One account and one video per user; each round changes a keyframe and re-propagates."""

    weight = 1
    wait_time = between(1, 4)
    export_formats = ("coco_json", "yolo_seg", "png_sequence")

    def on_start(self) -> None:
        self.api = Api(self)
        self.video: dict | None = None
        self.rounds = 0

    def setup_video(self) -> None:
        """Sign up, switch to an API key, upload and ingest the clip, make an object."""
        api = self.api
        api.register("batch")
        api.use_api_key("loadtest pipeline")
        video_id, job, submitted = api.upload_clip()
        api.poll_job(job, submitted, every_s=POLL_EVERY_S, timeout_s=JOB_TIMEOUT_S)
        self.video = api.json("GET", f"/v1/videos/{video_id}", name="/v1/videos/[id]")
        self.object_id = api.json(
            "POST",
            f"/v1/videos/{video_id}/objects",
            name="/v1/videos/[id]/objects",
            expect=(201,),
            body={"name": "disc"},
        )["id"]

    @task
    def round(self) -> None:
        began = time.monotonic()
        try:
            if self.video is None:
                self.setup_video()
            self.run_round()
        except FlowAborted as exc:
            fire(self, FLOW_EVENT, "batch", began, f"aborted at {exc}")
            return
        fire(self, FLOW_EVENT, "batch", began, None)

    def run_round(self) -> None:
        api, video = self.api, self.video
        assert video is not None
        video_id, last = video["id"], video["frame_count"] - 1
        index = random.choice((0, last // 3, 2 * last // 3, last))
        # No wait: a script submits, and the job is followed by polling like the others.
        submitted = time.monotonic()
        prompt = api.json(
            "POST",
            f"/v1/videos/{video_id}/prompts?wait=0",
            name="/v1/videos/[id]/prompts?wait=0",
            expect=(200, 202),
            body={
                "object_id": self.object_id,
                "frame_index": index,
                "points": [disc_point(index, video["width"], video["height"])],
                "labels": [1],
                "box": None,
                "mode": "replace",
            },
        )
        api.poll_job(prompt["job"], submitted, every_s=0.2, timeout_s=JOB_TIMEOUT_S)

        key = str(uuid.uuid4())
        body = {"object_ids": None, "direction": "both"}
        submitted = time.monotonic()
        path, name = f"/v1/videos/{video_id}/propagations", "/v1/videos/[id]/propagations"
        job = api.submit_job(path, name, body, key)
        # A retried submit with the same key answers the same job, not a second one.
        again = api.submit_job(path, name, body, key)
        if again["id"] != job["id"]:
            api.check_failed("idempotent propagation", "same Idempotency-Key, another job")
        api.poll_job(job, submitted, every_s=POLL_EVERY_S, timeout_s=JOB_TIMEOUT_S)
        api.json("GET", f"/v1/jobs?video_id={video_id}&limit=20", name="/v1/jobs?video_id")

        self.rounds += 1
        if self.rounds % 2 == 1:
            fmt = self.export_formats[(self.rounds // 2) % len(self.export_formats)]
            submitted = time.monotonic()
            export = api.submit_job(
                f"/v1/videos/{video_id}/exports",
                "/v1/videos/[id]/exports",
                {"format": fmt, "object_ids": None},
            )
            done = api.poll_job(export, submitted, every_s=POLL_EVERY_S, timeout_s=JOB_TIMEOUT_S)
            api.call("GET", done["result"]["download_url"], name="storage: GET export", auth={})
