"""Large in-memory planes are denoised in blocks (napari_fm2s.planes.BLOCK_PIXELS): the
same result as the whole plane, with the guard never holding more than a block."""

from __future__ import annotations

import numpy as np

import napari_fm2s.planes as planes
from napari_fm2s import denoise

from .conftest import FAST


def _frame() -> np.ndarray:
    """A 16-bit camera frame of blurred spots (offset 200, 0.05 ADU per photon)."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[:400, :300].astype(float)
    clean = np.zeros((400, 300))
    for _ in range(200):
        cy, cx, s = rng.uniform(0, 400), rng.uniform(0, 300), rng.uniform(1, 4)
        clean += rng.uniform(0.2, 1) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    adu = 200.0 + 4000.0 * clean / clean.max()
    noisy = 0.05 * rng.poisson(adu / 0.05) + rng.normal(0.0, 1.5, clean.shape)
    return np.clip(np.round(noisy), 0, 65535).astype(np.uint16)


def test_a_large_plane_in_blocks_equals_the_whole_plane(monkeypatch):
    img = _frame()
    whole = denoise(img, **FAST)
    sides = []
    guard = planes.guard

    def counted(x, *a, **k):
        sides.append(x.shape)
        return guard(x, *a, **k)

    monkeypatch.setattr(planes, "guard", counted)
    monkeypatch.setattr(planes, "BLOCK_PIXELS", 200 * 200)
    monkeypatch.setattr(planes, "CHUNK", 256)
    blocks = denoise(img, **FAST)
    assert isinstance(blocks, np.ndarray) and blocks.dtype == np.float32
    np.testing.assert_allclose(blocks, whole, atol=1e-3)
    assert len(sides) == 2 and all(h < 400 for h, _ in sides)  # two blocks along Y
