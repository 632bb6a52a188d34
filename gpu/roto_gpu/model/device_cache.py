"""Device copies of recent embeddings, kept by the model wrapper so that decoding right after
encoding (a first click) or again on the same frame does not copy them to the device again."""

from __future__ import annotations

import collections
import weakref

import torch

from roto_gpu.model.embedding import Embedding


class ResidentEmbeddings:
    """A bounded LRU keyed by the Embedding object itself (not its contents)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: collections.OrderedDict[
            int, tuple[weakref.ref[Embedding], tuple[torch.Tensor, ...]]
        ] = collections.OrderedDict()

    def get(self, embedding: Embedding) -> tuple[torch.Tensor, ...] | None:
        entry = self._items.get(id(embedding))
        # An id can be reused once its object is gone; the weak reference tells them apart.
        if entry is None or entry[0]() is not embedding:
            return None
        self._items.move_to_end(id(embedding))
        return entry[1]

    def put(self, embedding: Embedding, tensors: tuple[torch.Tensor, ...]) -> None:
        if self.capacity <= 0:
            return
        self._items[id(embedding)] = (weakref.ref(embedding), tensors)
        self._items.move_to_end(id(embedding))
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()
