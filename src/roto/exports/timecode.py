"""SMPTE timecodes: the source's start timecode moved to the first exported frame, and as the
EXR ``timeCode`` attribute. Drop-frame (``;``) counting for 29.97 and 59.94 fps."""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

_TIMECODE = re.compile(r"^(\d{2}):(\d{2}):(\d{2})([:;])(\d{2,3})$")


@dataclass(frozen=True)
class Timecode:
    hours: int
    minutes: int
    seconds: int
    frames: int
    drop_frame: bool

    def __str__(self) -> str:
        sep = ";" if self.drop_frame else ":"
        return f"{self.hours:02d}:{self.minutes:02d}:{self.seconds:02d}{sep}{self.frames:02d}"


def nominal_rate(rate: Fraction) -> int:
    """Frames a timecode second counts: 24 for 24000/1001, 30 for 30000/1001."""
    return max(1, round(rate))


def _drop_per_minute(base: int) -> int:
    return base // 15  # 2 at 30 fps, 4 at 60 fps


def parse(text: str) -> Timecode:
    match = _TIMECODE.match(text)
    if match is None:
        raise ValueError(f"not a timecode: {text!r}")
    h, m, s, sep, f = match.groups()
    return Timecode(int(h), int(m), int(s), int(f), sep == ";")


def to_frames(code: Timecode, rate: Fraction) -> int:
    base = nominal_rate(rate)
    total_minutes = 60 * code.hours + code.minutes
    frames = (3600 * code.hours + 60 * code.minutes + code.seconds) * base + code.frames
    if code.drop_frame:
        frames -= _drop_per_minute(base) * (total_minutes - total_minutes // 10)
    return frames


def from_frames(frames: int, rate: Fraction, drop_frame: bool) -> Timecode:
    base = nominal_rate(rate)
    if drop_frame:
        drop = _drop_per_minute(base)
        per_ten = base * 600 - drop * 9
        per_minute = base * 60 - drop
        tens, rest = divmod(frames, per_ten)
        extra = 0 if rest < drop else drop * ((rest - drop) // per_minute)
        frames += drop * 9 * tens + extra
    frames %= base * 86400
    seconds, frame = divmod(frames, base)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return Timecode(hour, minute, second, frame, drop_frame)


def shifted(text: str, rate: Fraction, offset: int) -> Timecode:
    """The timecode ``offset`` frames after ``text``."""
    code = parse(text)
    return from_frames(to_frames(code, rate) + offset, rate, code.drop_frame)
