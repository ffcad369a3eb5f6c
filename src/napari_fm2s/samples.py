"""A synthetic fluorescence-like image with realistic mixed Poisson-Gaussian noise."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter


def synthetic_cells(shape: tuple[int, int] = (256, 256), seed: int = 0, photons: float = 30.0,
                    read_noise: float = 2.0, dtype: type = np.uint8,
                    clip_filaments: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(noisy, clean)``: blurred cells and filaments, imaged with shot + read noise.

    ``photons`` is the expected photon count at the brightest point; ``read_noise``
    the camera's Gaussian noise in photons.  ``noisy`` is ``dtype`` (8-bit by
    default), ``clean`` is float32 on the same intensity scale.
    ``clip_filaments=True`` (the default, which keeps the images the tests were tuned on)
    runs a filament that leaves the image along its border, where it piles up and sets
    the brightest point; ``False`` ends it there, for natural-looking images.
    """
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros(shape, np.float32)
    n_cells = max(3, h * w // 4000)
    for _ in range(n_cells):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        r = rng.uniform(6, 16) * max(h, w) / 256
        a, b = rng.uniform(0.7, 1.3, 2)
        d = ((yy - cy) / (r * a)) ** 2 + ((xx - cx) / (r * b)) ** 2
        img += rng.uniform(0.3, 0.7) * (d < 1)  # cytoplasm
        img += rng.uniform(0.3, 0.6) * (d < 0.2)  # nucleus
    for _ in range(max(4, n_cells)):  # filaments: random smooth curves
        t = np.linspace(0, 1, 4 * max(h, w))
        p0 = rng.uniform(0, 1, 2) * (h, w)
        ang = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0, 0.01, t.size))
        ys = p0[0] + np.cumsum(np.sin(ang)) * 0.5
        xs = p0[1] + np.cumsum(np.cos(ang)) * 0.5
        if clip_filaments:
            ys, xs = np.clip(ys, 0, h - 1).astype(int), np.clip(xs, 0, w - 1).astype(int)
        else:  # a filament leaving the image ends there
            ys, xs = np.floor(ys).astype(int), np.floor(xs).astype(int)
            inside = (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
            ys, xs = ys[inside], xs[inside]
        img[ys, xs] += rng.uniform(1.0, 2.0)
    img = gaussian_filter(img, 1.5) + 0.03
    img /= img.max()
    full = np.iinfo(dtype).max if np.issubdtype(dtype, np.integer) else 1.0
    gain = 0.8 * full / photons  # intensity units per photon; brightest ~80% of full scale
    clean = (img * photons * gain).astype(np.float32)
    counts = rng.poisson(img * photons) + rng.normal(0, read_noise, shape)
    noisy = np.clip(counts * gain, 0, full)
    if np.issubdtype(dtype, np.integer):
        noisy = np.round(noisy)
    return noisy.astype(dtype), clean
