"""Settings, read once from ``ROTO_*`` environment variables (the list lives in the README)."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path

import msgspec

ENV_PREFIX = "ROTO_"
GiB = 1024**3
MiB = 1024**2


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Every knob of the service. Field ``foo_bar`` is read from ``ROTO_FOO_BAR``."""

    env: str = "dev"
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: str = ".roto"
    log_level: str = "INFO"
    log_json: bool = True
    # App metrics as CloudWatch EMF lines on stdout (roto.emf); the cloud turns them on.
    metrics_emf: bool = False
    # Where finished spans go as OTLP JSON lines when no OTLP endpoint is set (the dev stack sets
    # <data dir>/traces); empty: no traces unless OTEL_EXPORTER_OTLP_ENDPOINT is set.
    traces_dir: str = ""

    database_url: str = "postgresql://postgres@127.0.0.1:5432/roto"
    # Read-only work that may lag a little (a replica in AWS); empty means database_url.
    database_read_url: str = ""
    database_pool_min: int = 1
    database_pool_max: int = 10
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Connections one process opens to Redis at most (event streams and waiting prompts each
    # hold one); a command waits this long for a free one, for the connection and for the answer.
    redis_max_connections: int = 64
    redis_timeout_s: float = 2.0

    # AWS. With ``aws_endpoint_url`` unset the clients talk to real AWS.
    aws_region: str = "us-east-1"
    aws_endpoint_url: str | None = None
    s3_bucket: str = "roto-dev"
    # Queue names (not URLs); URLs are looked up once at start.
    queue_interactive: str = "roto-interactive"
    queue_batch: str = "roto-batch"
    queue_media: str = "roto-media"

    # Auth. The dev stack writes a random secret under data_dir; the cloud injects one.
    jwt_secret: str = ""
    jwt_issuer: str = "megaton-roto"
    access_token_ttl_s: int = 900
    refresh_token_ttl_s: int = 30 * 24 * 3600
    # Browser origins other than the API's own that may call it (comma-separated, e.g.
    # "https://app.example.com"); empty: same origin only (the web app is served by the API).
    cors_allowed_origins: str = ""

    # Billing and abuse limits.
    stripe_webhook_secret: str = ""  # the webhook endpoint's signing secret (whsec_...)
    stripe_webhook_tolerance_s: int = 300  # a signature older than this is refused
    rate_limit_per_minute: int = 6000  # requests per caller per minute; 0 turns it off
    login_failures_per_minute: int = 10  # failed sign-ins per email per minute before 429
    # Unauthenticated auth calls (register, login, refresh) per client address per minute.
    auth_requests_per_address_per_minute: int = 120
    # Proxies in front of the API that append the caller's address to X-Forwarded-For (2 behind
    # CloudFront and the load balancer); 0 uses the connection's peer address.
    trusted_proxy_hops: int = 0
    # What one user may hold open at once in one API process.
    max_event_streams_per_user: int = 8
    max_prompt_waits_per_user: int = 8

    # Uploads.
    max_upload_bytes: int = 20 * GiB
    multipart_threshold_bytes: int = 64 * MiB
    multipart_part_size_bytes: int = 64 * MiB
    presign_ttl_s: int = 3600

    # Ingest limits: checked against the header and again against every decoded frame.
    max_duration_s: float = 2 * 3600.0
    max_width: int = 8192
    max_height: int = 8192
    max_frame_rate: float = 120.0
    max_frame_count: int = 216_000  # two hours at 30 fps; each frame is one stored JPEG
    frame_jpeg_quality: int = 92
    proxy_jpeg_quality: int = 85

    # Job pipeline.
    outbox_poll_interval_s: float = 1.0
    idempotency_ttl_s: int = 24 * 3600
    # Clicks' jobs go to a waiting worker through Redis, their SQS messages held back this long
    # in case the lane fails them (``roto.jobs.lane``).
    job_lane: bool = True
    job_lane_hold_s: float = 2.0
    worker_role: str = "media"
    worker_concurrency: int = 2
    worker_wait_time_s: int = 10
    worker_visibility_timeout_s: int = 60
    worker_heartbeat_interval_s: float = 20.0
    worker_max_receives: int = 3
    worker_drain_timeout_s: float = 30.0
    # The longest one attempt of any job may run; 0 leaves each job type its own limit.
    worker_max_run_s: float = 0.0
    # How often a worker reads its queues' dead-letter queues (failing the jobs found there).
    worker_dlq_poll_interval_s: float = 30.0
    # The liveness file a worker rewrites while it can take jobs (infra/README.md, "Worker
    # heartbeat"); empty means ``<data_dir>/heartbeat``.
    worker_liveness_path: str = ""
    worker_liveness_interval_s: float = 5.0
    # A GPU daemon whose model call has run this long stops beating: it is hung, not busy.
    worker_stall_after_s: float = 300.0
    sse_ping_interval_s: float = 15.0
    # An event stream re-reads its job this often, so a missed pub/sub message cannot hang it.
    sse_resync_interval_s: float = 5.0

    # The embedded dev stack (`make run`). Port 0 means ``port`` + 1 for Redis, + 2 for S3+SQS.
    devstack_redis_port: int = 0
    devstack_aws_port: int = 0
    devstack_s3_sync_interval_s: float = 5.0

    # GPU daemon: SAM2.1 (tiny | small | base_plus | large) and its dynamic batcher.
    model_size: str = "tiny"
    model_image_size: int = 0  # 0 keeps the config's 1024; else a multiple of 32
    model_checkpoint: str = ""  # a file path or s3://bucket/key
    model_checkpoint_sha256: str = ""  # required with model_checkpoint
    model_allow_random_weights: bool = False  # development only: run without a checkpoint
    model_random_seed: int = 0
    model_device: str = "auto"  # auto | cpu | cuda | cuda:N
    # Where the backend chain starts: auto | tensorrt | aot | compile | eager (each falls back
    # to the next, loudly); auto is TensorRT on a GPU and eager on a CPU.
    model_backend: str = "auto"
    # Built TensorRT engines and AOT packages are shared through ROTO_S3_BUCKET under this
    # prefix ("" keeps them on the instance's disk only, under data_dir/engines).
    model_engine_s3_prefix: str = "model-engines/"
    batch_max_size: int = 8
    batch_max_wait_ms: float = 5.0
    batch_queue_limit: int = 256

    # GPU daemon: the concept detector (SAM 3's image model) behind text and exemplar prompts.
    # A directory as transformers saves it (weights, config, processor and tokenizer), a tar of
    # one, or s3://bucket/key of such a tar; never fetched from the model hub.
    detector_checkpoint: str = ""
    detector_checkpoint_sha256: str = ""  # required with detector_checkpoint

    # GPU daemon: the segment job, its frame-embedding caches and its metrics endpoint.
    embedding_cache_ttl_s: int = 3600  # a frame's embedding stays in Redis this long after use
    embedding_cache_max_entries: int = 128  # at most this many in Redis (8 MiB each at 1024 px)
    embedding_local_entries: int = 16  # recent embeddings kept in the daemon's own memory
    segment_deadline_s: float = 10.0  # a click's model work not started by then is refused
    daemon_metrics_port: int = 0  # the daemon's Prometheus endpoint; 0 turns it off

    @property
    def queue_names(self) -> dict[str, str]:
        """Queue names by role of queue: interactive, batch, media."""
        return {
            "interactive": self.queue_interactive,
            "batch": self.queue_batch,
            "media": self.queue_media,
        }

    @property
    def cors_origins(self) -> list[str]:
        """``cors_allowed_origins`` as a list, blanks dropped."""
        return [o.strip() for o in self.cors_allowed_origins.split(",") if o.strip()]

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def liveness_file(self) -> Path:
        return (
            Path(self.worker_liveness_path)
            if self.worker_liveness_path
            else (self.data_path / "heartbeat")
        )


def settings_field_names() -> list[str]:
    """Names of all settings as environment variables (``ROTO_...``)."""
    return [ENV_PREFIX + name.upper() for name in Settings.__struct_fields__]


def load_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build settings from an environment mapping plus explicit overrides (used by tests)."""
    environ = os.environ if environ is None else environ
    raw: dict[str, object] = {}
    for name in Settings.__struct_fields__:
        key = ENV_PREFIX + name.upper()
        if key in environ:
            raw[name] = environ[key]
    unknown = sorted(
        k for k in environ if k.startswith(ENV_PREFIX) and k not in set(settings_field_names())
    )
    if unknown:
        raise ValueError(f"unknown settings: {', '.join(unknown)}")
    raw.update(overrides)
    # Empty strings mean "unset" for optional values, as in a shell `export ROTO_X=`.
    for name in ("aws_endpoint_url",):
        if raw.get(name) == "":
            raw[name] = None
    try:
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise ValueError(f"invalid settings: {exc}") from exc


@functools.cache
def get_settings() -> Settings:
    """The process's settings, read once from the environment."""
    return load_settings()
