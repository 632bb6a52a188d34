"""The README.txt at the top of every archive: what the files are and the conventions they use."""

from __future__ import annotations

from roto.exports.plan import ExportPlan

FORMAT_NOTES = {
    "png_sequence": (
        "<video>_<object>.NNNN.png: one single-channel matte per object per frame, {depth}-bit, "
        "{white} inside the object and 0 outside."
    ),
    "rgba_png_sequence": (
        "<video>_<object>.NNNN.png: 8-bit RGBA per object per frame. RGB are the source's pixels, "
        "unchanged and not premultiplied (straight alpha); alpha is 255 inside the object, 0 "
        "outside. The source is decoded from the uploaded file, not from preview JPEGs."
    ),
    "exr_sequence": (
        "<video>.NNNN.exr: one file per frame with one HALF channel per object, named <object>; "
        "1.0 inside the object, 0.0 outside. ZIP compression (lossless), scanline, no RGB."
    ),
    "prores_4444": (
        "<video>_<object>.mov: one ProRes 4444 movie per object (yuva444p10le, BT.709). Colour "
        "is the source's; alpha is the object's matte, straight (not premultiplied), full "
        "inside and 0 outside. Frame rate: {rate} fps, as the source."
    ),
    "overlay_mp4": (
        "<video>_overlay.mp4: an H.264 preview (yuv420p) of the source with each object's colour "
        "blended in at 50%. Frame rate: {rate} fps, as the source. For review, not compositing."
    ),
    "coco_json": (
        "<video>_coco.json: COCO with one image per frame (id 1 = the first exported frame, "
        "file_name <video>.NNNN.png; the images themselves are not included), one category per "
        "object (id = the object's id) and one annotation per non-empty mask, its segmentation "
        "a compressed RLE (pycocotools.mask.decode reads it), iscrowd 0."
    ),
    "yolo_seg": (
        "<video>.NNNN.txt: one label file per frame (empty when no object has a mask there); "
        "each line 'class x1 y1 x2 y2 ...' is the outline of one region of an object, "
        "coordinates normalised to 0..1 by the frame's width and height (holes are filled). "
        "classes.txt lists the class names: line i is class i."
    ),
}


def readme(plan: ExportPlan) -> str:
    """The README text of ``plan``'s archive."""
    white = "65535" if plan.bit_depth == 16 else "255"
    rate = "unknown" if plan.rate is None else f"{plan.rate} (= {float(plan.rate):.6g})"
    notes = FORMAT_NOTES[plan.format].format(depth=plan.bit_depth, white=white, rate=rate)
    objects = "\n".join(
        f'  {o.label}: object {o.object_id} "{o.name}" ({o.color}), class {o.index}'
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

Frames: {plan.frame_total}, {plan.width}x{plan.height}. A frame on which an object has no stored
mask (outside what was prompted or propagated) is exported as an empty matte (all 0), not left
out, so every sequence has one file per frame.
"""
