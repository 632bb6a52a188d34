"""A client that gets things wrong: bad credentials, malformed bodies, other users' ids.

Each request expects the 4xx api.md promises, as problem+json; that answer counts as a success,
and anything else (a 5xx above all) as a failure. Names start with ``bad:``. Repeated wrong
passwords for one email may also answer 429 with Retry-After (the login throttle): that is the
promised answer too. The user's own sign-in is kept valid by its session like any client's.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

from common import Api, FlowAborted
from locust import HttpUser, between, task
from session import retry_after_s

PROBLEM_JSON = "application/problem+json"
GARBAGE_TOKEN = {"auth": {"Authorization": "Bearer x.y.z"}}
UNKNOWN_KEY = {"auth": {"X-API-Key": "rk_" + "0" * 40}}
FORWARD = {"body": {"direction": "forward"}}
SIDEWAYS = {"body": {"direction": "sideways"}}


class MisbehavingUser(HttpUser):
    """Owns a video that is still awaiting its upload; knows the id of another user's video."""

    weight = 1
    wait_time = between(0.5, 2)

    def on_start(self) -> None:
        self.api = Api(self)
        self.ready = False

    def setup(self) -> None:
        api = self.api
        api.register("victim")
        self.victim_video = self.announce_video()
        api.register("mallory")
        self.own_video = self.announce_video()
        self.ready = True

    def announce_video(self) -> str:
        created = self.api.json(
            "POST",
            "/v1/videos",
            name="/v1/videos",
            expect=(201,),
            body={"filename": "never.mp4", "content_type": "video/mp4", "size_bytes": 1000},
        )
        return str(created["video"]["id"])

    def expect(
        self,
        name: str,
        method: str,
        path: str,
        status: int | tuple[int, ...],
        *,
        body: Any = None,
        raw: bytes | None = None,
        auth: dict[str, str] | None = None,
    ) -> None:
        """The request must answer ``status`` (or one of them) with a problem+json body, and a
        429 must say when to come back."""
        headers = {"Content-Type": "application/json"} if raw is not None else None
        response = self.api.call(
            method,
            path,
            name=f"bad: {name}",
            expect=status if isinstance(status, tuple) else (status,),
            body=body,
            raw=raw,
            headers=headers,
            auth=auth,
        )
        if not response.headers.get("Content-Type", "").startswith(PROBLEM_JSON):
            self.api.check_failed(f"bad: {name}", "not problem+json")
        retry_after = response.headers.get("Retry-After")
        if response.status_code == 429 and retry_after_s(retry_after) is None:
            self.api.check_failed(f"bad: {name}", "429 without a usable Retry-After")

    @task
    def misbehave(self) -> None:
        try:
            if not self.ready:
                self.setup()
            name, method, path, status, extra = random.choice(self.mistakes())
            self.expect(name, method, path, status, **extra)
        except FlowAborted:
            return

    def mistakes(self) -> list[tuple[str, str, str, int | tuple[int, ...], dict[str, Any]]]:
        """(name, method, path, expected status, request arguments) of each mistake."""
        other, own = self.victim_video, self.own_video
        video = {"filename": "a.mp4", "content_type": "video/mp4", "size_bytes": 5}
        prompt = {"object_id": 1, "frame_index": 0, "points": [[5, 5]], "labels": [1]}
        login = {"email": "nobody@loadtest.example.com", "password": "not the password"}
        short = {"email": "short@loadtest.example.com", "password": "short"}
        return [
            ("garbage bearer token", "GET", "/v1/videos", 401, GARBAGE_TOKEN),
            ("no credentials", "GET", "/v1/me", 401, {"auth": {}}),
            ("unknown API key", "GET", "/v1/jobs", 401, UNKNOWN_KEY),
            # Every misbehaving user guesses for the same email: the throttle's 429 comes soon.
            ("wrong password", "POST", "/v1/auth/login", (401, 429), {"body": login, "auth": {}}),
            ("short password", "POST", "/v1/auth/register", 400, {"body": short, "auth": {}}),
            ("malformed JSON", "POST", "/v1/videos", 400, {"raw": b'{"filename": '}),
            ("unknown field", "POST", "/v1/videos", 400, {"body": {**video, "x": 1}}),
            ("zero size", "POST", "/v1/videos", 400, {"body": {**video, "size_bytes": 0}}),
            ("other user's video", "GET", f"/v1/videos/{other}", 404, {}),
            (
                "other's prompts",
                "POST",
                f"/v1/videos/{other}/prompts?wait=0",
                404,
                {"body": prompt},
            ),
            ("delete other user's video", "DELETE", f"/v1/videos/{other}", 404, {}),
            ("unknown job", "GET", f"/v1/jobs/{uuid.uuid4()}", 404, {}),
            ("not an id", "GET", "/v1/videos/not-a-uuid", 404, {}),
            ("frame before upload", "GET", f"/v1/videos/{own}/frames/0", 409, {}),
            ("propagate before upload", "POST", f"/v1/videos/{own}/propagations", 409, FORWARD),
            ("bad direction", "POST", f"/v1/videos/{own}/propagations", 400, SIDEWAYS),
        ]
