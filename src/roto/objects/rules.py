"""What every object of a video obeys, wherever it is made (the API, or the GPU daemon's
detections): how many a video holds, the range of their ids, and their default colours."""

from __future__ import annotations

#: Live objects one video may hold; it bounds the masks of a frame (and so a masks answer).
MAX_OBJECTS = 100
#: Object ids are PostgreSQL integers; anything above cannot name an object.
MAX_OBJECT_ID = 2**31 - 1
#: Default colours by object id, distinct on dark and light footage (Trubetskoy's 20 colours).
PALETTE = (
    "#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0",
    "#f032e6", "#bcf60c", "#fabebe", "#008080", "#e6beff", "#9a6324", "#fffac8",
    "#800000", "#aaffc3", "#808000", "#ffd8b1", "#000075", "#808080",
)  # fmt: skip


def default_color(object_id: int) -> str:
    return PALETTE[(object_id - 1) % len(PALETTE)]
