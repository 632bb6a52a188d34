"""Host <-> device copies through pinned memory: the same values come back (CPU here; the CUDA
case runs where a GPU is)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the gpu extra is not installed: no torch")

from roto_gpu.model.backends.transfer import to_device, to_host, to_host_many  # noqa: E402

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_arrays_cross_and_come_back_unchanged(device: str) -> None:
    image = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)[:, ::2]  # not contiguous
    embedding = np.linspace(-1, 1, 64, dtype=np.float16).reshape(4, 4, 4)
    on_device = [to_device(a, torch.device(device)) for a in (image, embedding)]
    assert [t.device.type for t in on_device] == [device, device]
    back = to_host_many([t * 1 for t in on_device])
    np.testing.assert_array_equal(back[0], image)
    np.testing.assert_array_equal(back[1], embedding)
    np.testing.assert_array_equal(to_host(on_device[1]), embedding)
    assert to_host_many([]) == []
