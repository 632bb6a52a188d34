"""The README.txt at the top of every archive: what the files are and the conventions they use."""

from __future__ import annotations

from roto.exports.plan import ExportPlan
from roto.exports.schemas import DATASET_FORMATS, MATTE_FORMATS

FORMAT_NOTES = {
    "png_sequence": (
        "<video>_<object>.NNNN.png: one single-channel matte per object per frame, {depth}-bit, "
        "{white} inside the object and 0 outside (fractional values between them on soft or "
        "feathered edges)."
    ),
    "rgba_png_sequence": (
        "<video>_<object>.NNNN.png: {depth}-bit RGBA per object per frame. RGB are the source's "
        "pixels, unchanged and not premultiplied (straight alpha), decoded from the uploaded "
        "file (at 16 bits when the source has more than 8); alpha is the object's matte, "
        "{white} inside and 0 outside."
    ),
    "exr_sequence": (
        "<video>.NNNN.exr: one file per frame with one layer per object, channel <object>.A "
        "(HALF, 1.0 inside the object, 0.0 outside), so compositors (Nuke) show a layer per "
        "object. Header: framesPerSecond (the source's exact rate){timecode_note}. ZIP "
        "compression (lossless), scanline, no RGB."
    ),
    "prores_4444": (
        "<video>_<object>.mov: one ProRes 4444 movie per object (yuva444p10le, BT.709). Colour "
        "is the source's (10 bits kept from a 10-bit source); alpha is the object's matte, "
        "straight (not premultiplied), full inside and 0 outside. Frame rate: {rate} fps, as the "
        "source{timecode_note}."
    ),
    "overlay_mp4": (
        "<video>_overlay.mp4: an H.264 preview (yuv420p) of the source with each object's colour "
        "blended in at 50%. Frame rate: {rate} fps, as the source. For review, not compositing."
    ),
    "coco_json": (
        "<video>_coco.json (one per split: <video>_coco_<split>.json): COCO with one image per "
        "annotated frame (file_name is the image's path in this archive, "
        "images/[<split>/]<video>.NNNN.jpg; id 1 = the split's first frame), one category per "
        "object category (ids from 1), a 'tracks' list (object id, name, category) and one "
        "annotation per non-empty mask: segmentation a compressed RLE (pycocotools.mask.decode "
        "reads it), iscrowd 0, and track_id (the object's id, the same on every frame), score "
        "(the model's confidence) and source (prompt: a keyframe; propagation: tracked)."
    ),
    "yolo_seg": (
        "The Ultralytics YOLO segmentation layout: images/[<split>/]<video>.NNNN.jpg, each with "
        "labels/[<split>/]<video>.NNNN.txt (empty when no object has a mask there); each line "
        "'class x1 y1 x2 y2 ...' is the outline of one region of an object, coordinates "
        "normalised to 0..1 by the frame's width and height (holes are filled). data.yaml names "
        "the splits' image folders and the classes (the objects' categories); classes.txt lists "
        "them too (line i is class i); tracks.csv gives each label line's object (track id, the "
        "same on every frame), score and source (prompt or propagation)."
    ),
}


def matte_note(plan: ExportPlan) -> str:
    matte = plan.matte
    steps = []
    if matte.fill_holes_px:
        steps.append(f"holes of up to {matte.fill_holes_px} px filled")
    if matte.remove_islands_px:
        steps.append(f"regions of up to {matte.remove_islands_px} px removed")
    if matte.grow_px:
        verb = "grown" if matte.grow_px > 0 else "shrunk"
        steps.append(f"{verb} by {abs(matte.grow_px)} px")
    if matte.smooth_frames:
        steps.append(f"steadied over +-{matte.smooth_frames} frames (majority of the frames)")
    if matte.soft_edges == "guided":
        steps.append("soft edges from the frame's pixels (guided filter)")
    if matte.soft_edges == "matting":
        steps.append("soft edges from an alpha-matting solve around the edge")
    if matte.feather_px:
        steps.append(f"feathered over {matte.feather_px} px")
    shaped = "; ".join(steps) if steps else "the stored mask as it is (binary)"
    return f"\nMatte: {shaped}.\n"


def dataset_note(plan: ExportPlan) -> str:
    dataset = plan.dataset
    frames = plan.dataset_frames()
    text = f"\nDataset: every {dataset.frame_step}. frame of the range ({len(frames)} frames)"
    text += ", images included" if dataset.include_frames else ", images not included"
    if dataset.splits:
        counts: dict[str, int] = {}
        for split in plan.splits().values():
            counts[split] = counts.get(split, 0) + 1
        blocks = ", ".join(f"{name} {count}" for name, count in counts.items())
        text += f"; splits in contiguous blocks, in this order: {blocks}"
    classes = ", ".join(f"{i}: {name}" for i, name in enumerate(plan.categories))
    return text + f".\nClasses (YOLO index: category; COCO id = index + 1): {classes}.\n"


def readme(plan: ExportPlan) -> str:
    """The README text of ``plan``'s archive."""
    white = "65535" if plan.bit_depth == 16 else "255"
    rate = "unknown" if plan.rate is None else f"{plan.rate} (= {float(plan.rate):.6g})"
    timecode_note = ""
    if plan.timecode:
        timecode_note = f", and the timecode of each frame (source frame 0 is {plan.timecode})"
    notes = FORMAT_NOTES[plan.format].format(
        depth=plan.bit_depth, white=white, rate=rate, timecode_note=timecode_note
    )
    if plan.format in MATTE_FORMATS:
        notes += matte_note(plan)
    if plan.format in DATASET_FORMATS:
        notes += dataset_note(plan)
    objects = "\n".join(
        f'  {o.label}: object {o.object_id} "{o.name}" ({o.color}), category {o.category}'
        for o in plan.objects
    )
    last = plan.number(plan.frame_end)
    return f"""Megaton Roto export: {plan.format}

{notes}
Names: <video> is "{plan.video}" (the uploaded file's name without its extension) and <object>
is the object's name; characters other than letters, digits, '-' and '_' become '_', and a name
two objects share (ignoring case) gets the object id appended, again if it still matches another
name, so no two objects share a file name. NNNN is the frame number, at least 4 digits:
source frames {plan.frame_start}..{plan.frame_end} (0-based, decode order) are numbered
{plan.start_number}..{last}.

Objects:
{objects}

Frames: {plan.frame_total}, {plan.width}x{plan.height}, upright (as a player shows them). A frame
on which an object has no stored mask (outside what was prompted or propagated) is exported as an
empty matte (all 0), not left out, so every sequence has one file per frame.
"""
