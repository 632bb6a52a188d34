"""An image's SAM2 backbone features (what the mask decoder and the memory need) and their compact
form for Redis. The features are the backbone's own: SAM2's no-memory embedding is added at decode
time for a frame that was never tracked, and memory attention reads them for one that was.

The bytes hold float16 values: casting rounds each value to within 2**-11 of its size (about
0.05 %), and a float32 value out of float16's range (over 65504) is refused, not clipped.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

MAGIC = b"RTEM"
FORMAT_VERSION = 2
# magic, version, number of arrays, original height and width.
_HEADER = struct.Struct("<4sBBII")
_SHAPE = struct.Struct("<III")
_WIRE_DTYPE = np.dtype("<f2")
_ARRAY_COUNT = 3


@dataclass(frozen=True, eq=False)
class Embedding:
    """Backbone output for one image: ``image_embed`` (C, E, E), the lowest-resolution features
    as the backbone gives them; ``high_res_feats`` at 4E and 2E (after the mask decoder's
    convolutions, as SAM2's ``forward_image`` leaves them); and the original image size that
    masks are resized back to."""

    image_embed: np.ndarray
    high_res_feats: tuple[np.ndarray, np.ndarray]
    orig_hw: tuple[int, int]

    @property
    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (self.image_embed, self.high_res_feats[0], self.high_res_feats[1])

    @property
    def shapes(self) -> tuple[tuple[int, ...], ...]:
        return tuple(a.shape for a in self.arrays)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays)

    def to_bytes(self) -> bytes:
        """Serialise as float16; refuses values float16 cannot hold."""
        parts = [_HEADER.pack(MAGIC, FORMAT_VERSION, _ARRAY_COUNT, *self.orig_hw)]
        payloads = []
        for array in self.arrays:
            if array.ndim != 3:
                raise ValueError(f"embedding arrays must be 3-D, got shape {array.shape}")
            with np.errstate(over="ignore"):
                wire = np.ascontiguousarray(array, dtype=_WIRE_DTYPE)
            if not np.isfinite(wire).all():
                raise ValueError("embedding holds values that float16 cannot represent")
            parts.append(_SHAPE.pack(*array.shape))
            payloads.append(wire.tobytes())
        return b"".join(parts + payloads)

    @classmethod
    def from_bytes(cls, data: bytes) -> Embedding:
        """Parse what ``to_bytes`` wrote; arrays come back as float32."""
        view = memoryview(data)
        if len(view) < _HEADER.size:
            raise ValueError("embedding bytes are truncated")
        magic, version, count, height, width = _HEADER.unpack_from(view, 0)
        if magic != MAGIC or version != FORMAT_VERSION or count != _ARRAY_COUNT:
            raise ValueError(f"not an embedding of format {FORMAT_VERSION}")
        offset = _HEADER.size
        if len(view) < offset + count * _SHAPE.size:
            raise ValueError("embedding bytes are truncated")
        shapes = []
        for _ in range(count):
            shapes.append(_SHAPE.unpack_from(view, offset))
            offset += _SHAPE.size
        arrays = []
        for shape in shapes:
            size = int(np.prod(shape)) * _WIRE_DTYPE.itemsize
            if len(view) < offset + size:
                raise ValueError("embedding bytes are truncated")
            chunk = np.frombuffer(view[offset : offset + size], dtype=_WIRE_DTYPE)
            arrays.append(chunk.reshape(shape).astype(np.float32))
            offset += size
        if offset != len(view):
            raise ValueError("embedding bytes have trailing data")
        return cls(
            image_embed=arrays[0],
            high_res_feats=(arrays[1], arrays[2]),
            orig_hw=(height, width),
        )


def embedding_key(model_id: str, video_id: str, frame_index: int) -> str:
    """Redis key of a frame's cached embedding; the model id keeps other weights' apart."""
    return f"roto:emb:v{FORMAT_VERSION}:{model_id}:{video_id}:{frame_index}"
