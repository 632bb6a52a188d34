"""HTTP handler of exports."""

from __future__ import annotations

from litestar import Router, post

from roto.deps import JobOriginDep, ResourcesDep
from roto.exports import service
from roto.exports.schemas import ExportCreate
from roto.jobs.schemas import JobEnvelope
from roto.problems import problem_responses

TAGS = ["export"]


@post(
    "/",
    status_code=202,
    tags=TAGS,
    summary="Export stored masks as mattes, a movie or a dataset",
    description="Queues an `export` job on the media queue. It reads the stored masks (and, for "
    "`rgba_png_sequence`, `prores_4444` and `overlay_mp4`, the uploaded source decoded frame by "
    "frame, upright, at 16 bits when it has more than 8), writes the format into a zip with a "
    "README stating the conventions, and uploads it to storage. The finished job's `result` is "
    "`{download_url, expires_at, filename, size_bytes}`. `object_ids` null (or left out) takes "
    "every object that has masks; left out, `frame_start`/`frame_end` cover the whole video. A "
    "frame where an object has no mask is exported empty. Sequences are named "
    "`<video>_<object>.%04d.<ext>` from `start_number` (`<video>`: the upload's file name "
    "without extension, `<object>`: the object's name, both with characters other than "
    "letters, digits, `-` and `_` replaced by `_`; a name two objects share, ignoring case, "
    "gets the object id appended until no two objects share a file name). `bit_depth` 16 is "
    "for `png_sequence` and `rgba_png_sequence`; left out it is 8, except for an RGBA export "
    "of a source deeper than 8 bits, which stays at 16. `matte` (matte formats: png, rgba, "
    "exr, prores) shapes every matte as the matte endpoint previews it: holes filled, "
    "islands removed, grown or shrunk, steadied over +-`smooth_frames` frames, soft edges "
    "from the stored frames (`guided` or `matting`), feathered; 16-bit PNG, RGBA, EXR and "
    "ProRes then hold fractional alpha. EXR has a layer per object (`<object>.A`), "
    "`framesPerSecond` and, where the source has a timecode, `timeCode`; ProRes a timecode "
    "track. `dataset` (coco_json, yolo_seg) takes every `frame_step`-th frame, includes the "
    "frames (JPEG) unless `include_frames` is false, numbers classes from the objects' "
    "`category`, gives each annotation its object's id as a track id, its score and source, "
    "cuts `splits` into contiguous blocks (train, val, test) and writes YOLO's `data.yaml`. "
    "A repeated Idempotency-Key answers the first job.",
    responses=problem_responses(
        {
            400: "a malformed body or Idempotency-Key, an unknown field, a field of the wrong "
            "type, an unknown format, a negative frame or start_number, a bit_depth other than "
            "8 or 16, a matte or dataset field out of its range, a split other than train, val "
            "or test",
            404: "no such video for this caller (also for another user's video)",
            409: "the video is not ready",
            422: "object_ids empty, naming an object twice, an object not in the video or one "
            "with no masks; a video with no masks at all; frame_start or frame_end past the "
            "last frame, frame_end before frame_start, or a range where the objects have no "
            "mask; bit_depth 16 for a format without a 16-bit variant; matte for a format "
            "that writes no matte, dataset for one that is not a dataset; splits without a "
            "train share or whose shares do not sum to 1; an Idempotency-Key reused for "
            "another request",
        }
    ),
)
async def create_export(
    data: ExportCreate, resources: ResourcesDep, origin: JobOriginDep
) -> JobEnvelope:
    job = await service.create_export(resources, origin, data)
    return JobEnvelope(job.to_wire())


#: Mounted under /v1/videos/{video_id}.
router = Router("/exports", route_handlers=[create_export])
