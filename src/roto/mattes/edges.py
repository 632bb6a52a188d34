"""Soft edges from the source pixels: an edge-aware guided filter, and an alpha-matting solve
in a band around the edge. Both are written with box filters (OpenCV's ``boxFilter``), so their
cost does not depend on the window's size.

- ``guided_filter``: He, Sun and Tang, "Guided Image Filtering" (ECCV 2010, TPAMI 2013), the
  colour-guide form: the output is locally a linear function of the guide's colour, so the
  hard edge of a mask snaps to and softens along the colour edges of the picture.
- ``solve_matte``: the closed-form matting of Levin, Lischinski and Weiss (CVPR 2006, TPAMI
  2008), with the matting Laplacian applied without building it, as in He, Sun and Tang, "Fast
  Matting Using Large Kernel Matting Laplacian Matrices" (CVPR 2010): ``L p`` is
  ``|w| (p - G(p))`` where ``G`` is a guided filter. The known pixels are the mask's inside and
  outside away from its edge (a trimap); conjugate gradients from the guided filter's result
  solve ``(L + lambda D) alpha = lambda D known`` for the band between them.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Weight of the trimap's known pixels (He et al. use 100).
KNOWN_WEIGHT = 100.0


def _box(image: np.ndarray, radius: int) -> np.ndarray:
    size = 2 * radius + 1
    return cv2.boxFilter(image, -1, (size, size), borderType=cv2.BORDER_REFLECT)


class Guide:
    """What a guided filter of one picture needs whatever it filters: the colour's local means
    and the inverse of its local covariance (plus ``eps``), per pixel."""

    def __init__(self, rgb: np.ndarray, radius: int, eps: float) -> None:
        """``rgb``: HxWx3 float32 in 0..1."""
        self.rgb = rgb
        self.radius = radius
        channels = [np.ascontiguousarray(rgb[..., c]) for c in range(3)]
        self.channels = channels
        self.mean = [_box(c, radius) for c in channels]
        cov = {}
        for i in range(3):
            for j in range(i, 3):
                cov[i, j] = _box(channels[i] * channels[j], radius) - self.mean[i] * self.mean[j]
        rr, gg, bb = cov[0, 0] + eps, cov[1, 1] + eps, cov[2, 2] + eps
        rg, rb, gb = cov[0, 1], cov[0, 2], cov[1, 2]
        # The symmetric 3x3 inverse by its adjugate, for every pixel at once.
        inv_rr = gg * bb - gb * gb
        inv_rg = gb * rb - rg * bb
        inv_rb = rg * gb - gg * rb
        inv_gg = rr * bb - rb * rb
        inv_gb = rb * rg - rr * gb
        inv_bb = rr * gg - rg * rg
        det = rr * inv_rr + rg * inv_rg + rb * inv_rb
        self.inverse = [
            [inv_rr / det, inv_rg / det, inv_rb / det],
            [inv_rg / det, inv_gg / det, inv_gb / det],
            [inv_rb / det, inv_gb / det, inv_bb / det],
        ]

    def filter(self, p: np.ndarray) -> np.ndarray:
        """The guided filter's output for the HxW float32 input ``p``."""
        r = self.radius
        mean_p = _box(p, r)
        cov_ip = [
            _box(c * p, r) - m * mean_p for c, m in zip(self.channels, self.mean, strict=True)
        ]
        a = [sum(self.inverse[i][j] * cov_ip[j] for j in range(3)) for i in range(3)]
        b = mean_p - sum(a[i] * self.mean[i] for i in range(3))
        out = _box(b, r)
        for i in range(3):
            out += _box(a[i], r) * self.channels[i]
        result: np.ndarray = out
        return result


def guided_filter(rgb: np.ndarray, p: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """``p`` filtered with ``rgb`` as the guide, clipped to 0..1."""
    return np.clip(Guide(rgb, radius, eps).filter(p), 0.0, 1.0)


def solve_matte(
    rgb: np.ndarray,
    known: np.ndarray,
    values: np.ndarray,
    start: np.ndarray,
    radius: int,
    eps: float,
    iterations: int,
) -> np.ndarray:
    """Alpha over the picture ``rgb`` where ``known`` pixels hold ``values`` (0 or 1): a fixed
    number of conjugate-gradient steps of the closed-form matting system from ``start``."""
    window = (2 * radius + 1) ** 2
    # eps of the Laplacian is per window; the guided filter's is per pixel.
    guide = Guide(rgb, radius, eps / window)
    weight = np.float32(KNOWN_WEIGHT / window)
    constrained = known.astype(np.float32) * weight

    def apply(x: np.ndarray) -> np.ndarray:
        result: np.ndarray = x - guide.filter(x) + constrained * x
        return result

    x = start.astype(np.float32)
    residual = constrained * values.astype(np.float32) - apply(x)
    direction = residual.copy()
    rho = float(np.vdot(residual, residual))
    for _ in range(iterations):
        if rho <= 1e-12:
            break
        product = apply(direction)
        step = rho / float(np.vdot(direction, product))
        x += np.float32(step) * direction
        residual -= np.float32(step) * product
        rho_next = float(np.vdot(residual, residual))
        direction *= np.float32(rho_next / rho)
        direction += residual
        rho = rho_next
    result: np.ndarray = np.clip(x, 0.0, 1.0)
    return result
