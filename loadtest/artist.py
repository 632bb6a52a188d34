"""An artist in the web frontend: one session is the whole api.md flow, from login to download."""

from __future__ import annotations

import random
import time
from typing import Any

from common import CHECK_EVENT, FLOW_EVENT, Api, FlowAborted, disc_point, fire
from locust import HttpUser, between, task

# Seconds a step may take before the session counts it as failed (a CPU-only stack is slow).
INGEST_TIMEOUT_S = 120.0
PROPAGATION_TIMEOUT_S = 300.0
EXPORT_TIMEOUT_S = 300.0


class ArtistUser(HttpUser):
    """Signs up once and stays signed in, as the web app does (it keeps its tokens across
    reloads and renews them); each session uploads the clip, clicks, propagates, exports."""

    weight = 3
    wait_time = between(2, 6)  # an artist looks at the result before the next shot
    export_format = "png_sequence"

    def on_start(self) -> None:
        self.api = Api(self)
        self.email: str | None = None  # signed up (the session renews its tokens from then on)

    @task
    def session(self) -> None:
        began = time.monotonic()
        try:
            self.run_session()
        except FlowAborted as exc:
            fire(self, FLOW_EVENT, "artist", began, f"aborted at {exc}")
            return
        fire(self, FLOW_EVENT, "artist", began, None)

    def run_session(self) -> None:
        api = self.api
        if self.email is None:
            self.email = api.register("artist")
        api.json("GET", "/v1/me", name="/v1/me")
        api.json("GET", "/v1/videos?limit=20", name="/v1/videos")

        video_id, job, submitted = api.upload_clip()
        api.follow_job(job, submitted, timeout_s=INGEST_TIMEOUT_S)
        video = api.json("GET", f"/v1/videos/{video_id}", name="/v1/videos/[id]")
        last = video["frame_count"] - 1
        for index in (0, last // 2, last):  # the timeline's first view, then scrubbing
            response = api.call(
                "GET",
                f"/v1/videos/{video_id}/frames/{index}",
                name="/v1/videos/[id]/frames/[n]",
                expect=(200, 302, 307),
            )
            api.storage_get(response, "storage: GET frame")

        obj = api.json(
            "POST",
            f"/v1/videos/{video_id}/objects",
            name="/v1/videos/[id]/objects",
            expect=(201,),
            body={"name": "disc"},
        )
        for index in (0, last):  # a keyframe at each end
            self.click(video_id, video, obj["id"], index)
        # A refinement on the first keyframe: the second click on a frame hits the cache.
        self.click(video_id, video, obj["id"], 0, mode="add")

        submitted = time.monotonic()
        propagation = api.submit_job(
            f"/v1/videos/{video_id}/propagations",
            "/v1/videos/[id]/propagations",
            {"object_ids": [obj["id"]], "direction": "forward"},
        )
        api.follow_job(propagation, submitted, timeout_s=PROPAGATION_TIMEOUT_S)
        api.json(
            "GET",
            f"/v1/videos/{video_id}/masks?frame_start=0&frame_end={min(last, 9)}",
            name="/v1/videos/[id]/masks",
        )

        submitted = time.monotonic()
        export = api.submit_job(
            f"/v1/videos/{video_id}/exports",
            "/v1/videos/[id]/exports",
            {"format": self.export_format, "object_ids": None},
        )
        done, _ = api.follow_job(export, submitted, timeout_s=EXPORT_TIMEOUT_S)
        api.call("GET", done["result"]["download_url"], name="storage: GET export", auth={})
        # The next session starts a new shot; deleting keeps a soak about leaks, not storage.
        api.call("DELETE", f"/v1/videos/{video_id}", name="/v1/videos/[id]", expect=(204,))

    def click(
        self,
        video_id: str,
        video: dict[str, Any],
        object_id: int,
        index: int,
        mode: str = "replace",
    ) -> None:
        """A positive click on the disc, waiting for its mask as the frontend does."""
        point = disc_point(index, video["width"], video["height"])
        if mode == "add":  # a second click a few pixels off, as a correction would be
            point = [point[0] + random.uniform(-3, 3), point[1] + random.uniform(-3, 3)]
        began = time.monotonic()
        answer = self.api.json(
            "POST",
            f"/v1/videos/{video_id}/prompts?wait=30",
            name="/v1/videos/[id]/prompts?wait",
            expect=(200, 202),
            body={
                "object_id": object_id,
                "frame_index": index,
                "points": [point],
                "labels": [1],
                "box": None,
                "mode": mode,
            },
        )
        if "mask" not in answer:
            # api.md allows it, but an artist waited 30 s for a click: count it, then wait on.
            fire(self, CHECK_EVENT, "click mask within ?wait=30", began, "202 after 30 s")
            self.api.follow_job(answer["job"], began, timeout_s=INGEST_TIMEOUT_S)
            return
        if answer["mask"]["rle"]["size"] != [video["height"], video["width"]]:
            self.api.check_failed(
                "mask at source size", f"mask size {answer['mask']['rle']['size']}"
            )
