"""Camera defects: hot pixels and dead (cold) pixels, rows and columns are found and
repaired before the network, and their neighbours are denoised like the rest.  Synthetic
camera images with known truth."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from napari_fm2s import denoise
from napari_fm2s.defects import HOT_SD, defects, without_defects


def _scene(shape=(96, 96), seed=0) -> np.ndarray:
    """Smooth texture plus PSF-blurred spots (sigma 1-2 px), in [0, 1]."""
    rng = np.random.default_rng(seed)
    img = gaussian_filter(rng.standard_normal(shape), 3)
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(float)
    for _ in range(25):
        cy, cx, s = rng.uniform(5, shape[0] - 5), rng.uniform(5, shape[1] - 5), rng.uniform(1, 2)
        img += 2.0 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    return (img - img.min()) / (img.max() - img.min())


def _camera(clean: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(counts, truth): offset 100 ADU, 2 ADU per photon, read noise 2 ADU."""
    rng = np.random.default_rng(seed)
    photons = 10.0 + 200.0 * clean
    counts = 100.0 + 2.0 * rng.poisson(photons) + rng.normal(0.0, 2.0, clean.shape)
    return np.round(counts), 100.0 + 2.0 * photons


def test_defects_are_dead_lines_and_lone_pixels_not_structure():
    """A dead pixel, a dead column, a dead pair of columns (helper 26: left at 0), a dead
    row and a hot pixel are found, and nothing else: not the peaks of spots, not the dark
    gap between two blurred cells.  Where the
    row crosses the column the pixel's neighbours are dead too: found once they are
    repaired."""
    clean = _scene()
    yy, xx = np.mgrid[:96, :96].astype(float)
    cells = sum(np.exp(-((yy - 70) ** 2 + (xx - c) ** 2) / (2 * 4.0 ** 2)) for c in (60, 72))
    clean = np.clip(clean + cells, 0, None)
    raw, truth = _camera(clean / clean.max(), seed=1)
    def sd(v: np.ndarray) -> np.ndarray:  # 2 ADU per photon above 100, read noise 2
        return np.sqrt(2.0 * np.maximum(v - 100.0, 0.0) + 4.0)

    assert not defects(raw, sd).any()
    bad = raw.copy()
    bad[:, 40] = 0.0  # dead column
    bad[20, :] = 0.0  # dead row
    bad[60, 10] = 0.0  # dead pixel
    bad[80, 85] = 4000.0  # hot pixel
    bad[:, 70:72] = 0.0  # a dead pair of columns
    want = np.zeros(raw.shape, bool)
    want[:, 40] = want[20, :] = want[60, 10] = want[80, 85] = True
    want[:, 70:72] = True
    found = defects(bad, sd)
    assert np.array_equal(found, want & ~((yy == 20) & np.isin(xx, [40, 70, 71])))
    fixed = without_defects(bad, sd)
    # beside the dead row's crossing with the dead pair, 1-2 good neighbours are left
    far = want & ~((np.abs(yy - 20) <= 1) & np.isin(xx, [70, 71]))
    assert np.all(np.abs(fixed - truth)[far] < HOT_SD * sd(truth)[far])
    assert not (fixed[want] == 0).any()
    assert np.array_equal(fixed[~want], bad[~want])
    assert without_defects(raw, sd) is raw  # nothing to repair: no copy


def test_photon_counts_are_no_defects():
    """Sparse photon counts (0.01 per pixel): a count of 1 among zeros lies many noise sd
    above the zeros' noise, but not above the noise at its own value."""
    counts = np.random.default_rng(5).poisson(0.01, (128, 128)).astype(np.float64)
    assert counts.sum() > 50
    assert not defects(counts, lambda v: np.sqrt(np.maximum(v, 1e-4))).any()


def test_dead_column_is_repaired_and_its_neighbours_denoised():
    """A dead column (all 0) on 16-bit camera counts: the network, never trained on one,
    passed it through and smeared it into its neighbours, and the guard put the input back
    there (a band of 9 columns left noisy).  Now the column comes back near the truth and
    the columns beside it are denoised as well as the rest."""
    raw, truth = _camera(_scene((96, 96), seed=3), seed=4)
    raw[:, 48] = 0
    out = np.asarray(denoise(raw.astype(np.uint16), fast_steps=200), np.float64)
    err = (out - truth) ** 2
    band = np.sqrt(err[:, [44, 45, 46, 47, 49, 50, 51, 52]].mean())
    away = np.sqrt(err[:, [c for c in range(8, 88) if abs(c - 48) > 8]].mean())
    noise = np.sqrt(((raw - truth)[:, 8:40] ** 2).mean())
    assert band < 1.3 * away < noise
    sd = np.sqrt(2.0 * (truth - 100.0) + 4.0)
    assert np.all(np.abs(out - truth)[:, 48] < HOT_SD * sd[:, 48])


def test_a_narrow_spot_keeps_its_peak_in_the_guard():
    """A spot of sigma 0.81 px (its neighbours at 0.47 of its peak: a 60x objective with
    108 nm pixels) is no hot pixel for the guard's reference either: at twice its
    brightest neighbour's excess it was, and the spot lost half its peak (helper 26)."""
    from napari_fm2s.guard import without_hot_pixels

    yy, xx = np.mgrid[:32, :32].astype(float)
    x = 100.0 + 19900.0 * np.exp(-((yy - 16) ** 2 + (xx - 16) ** 2) / (2 * 0.81 ** 2))
    x += np.random.default_rng(6).normal(0.0, 3.0, x.shape)  # read noise off the floor
    assert without_hot_pixels(x, np.full(x.shape, 3.0)) is x
