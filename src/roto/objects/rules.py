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


#: Longest object name and category (the API's ``ObjectName`` and ``Category``).
MAX_NAME_LENGTH = 100
#: The category of an object nobody named a class for.
DEFAULT_CATEGORY = "object"


def name_problem(text: str) -> str | None:
    """What makes ``text`` unfit for a name or category (blank, or control characters); None
    when it is fit (once stripped of surrounding blanks)."""
    stripped = text.strip()
    if not stripped:
        return "must not be blank"
    if any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in stripped):
        return "must not contain control characters"
    return None


def detection_category(text: str | None) -> str:
    """The category of the objects a detection makes: its text (cut to a category's length), or
    the default one for exemplar boxes alone."""
    label = (text or "").strip()[:MAX_NAME_LENGTH].rstrip()
    return label or DEFAULT_CATEGORY


def numbered_name(category: str, number: int) -> str:
    """``"person 3"``, the category cut short so the name fits ``MAX_NAME_LENGTH``."""
    suffix = f" {number}"
    return category[: MAX_NAME_LENGTH - len(suffix)].rstrip() + suffix
