"""Megaton Roto load test: clients that behave like the real ones, against any deployment.

    locust -f loadtest/locustfile.py --host http://127.0.0.1:8000          # web UI on :8089
    python scripts/loadtest.py --host URL --users 6 --duration 5m          # headless + summary

Users, mixed by weight (name classes on the command line to run only some):
- ``ArtistUser`` (3): signs up once and stays signed in, as the web app does; each session is
  the frontend's whole flow: list videos, upload ``clip.mp4`` through its presigned URL, follow
  ingest's events, open frames, click with ``?wait``, propagate and follow the events, export
  and download, delete the video.
- ``BatchClientUser`` (1): an API-key script: corrects a keyframe, propagates with an
  Idempotency-Key (sent twice), exports now and then, and polls jobs.
- ``MisbehavingUser`` (1): bad credentials, malformed bodies, other users' ids; the 4xx that
  api.md promises counts as a success, anything else as a failure.

Each is a long-lived client (``session.py``): tokens renewed before expiry, a refused refresh
signing in again, a 429 with Retry-After waited out. Besides HTTP requests, the statistics hold
``JOB`` rows (submit to terminal status, per job type), ``FLOW`` rows (one whole artist session
or batch round), ``CHECK`` rows (a 2xx answer with the wrong content), ``SESSION`` rows (token
renewals) and ``THROTTLE`` rows (429s waited out). Only locust and the standard library are
imported.

``clip.mp4`` is 2 s of 320x180 H.264 at 24 fps (48 frames, ~370 KB): a yellow disc moving left
to right over a noisy gradient, made once with PyAV like tests/media.py's clips (crf 21).
"""

from __future__ import annotations

from artist import ArtistUser
from batch import BatchClientUser
from misbehaving import MisbehavingUser

__all__ = ["ArtistUser", "BatchClientUser", "MisbehavingUser"]
