"""Noise correlated along rows or columns (issue 19, item 5): measured per axis, injected
with that shape, reported.  Synthetic images with known noise."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from napari_fm2s import denoise
from napari_fm2s.calibrate import STEPS_CORRELATED, calibrate
from napari_fm2s.measure import estimate_noise
from napari_fm2s.noise import colour_noise

from .conftest import FAST


def _scene(shape=(256, 256), seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = gaussian_filter(rng.standard_normal(shape), 20)
    return 0.1 + 0.6 * (base - base.min()) / (base.max() - base.min())


def _noise(shape, corr, seed=1) -> np.ndarray:
    white = torch.randn((1, 1, *shape), generator=torch.Generator().manual_seed(seed))
    return colour_noise(white, corr)[0, 0].numpy().astype(np.float64)


@pytest.mark.parametrize("corr", [(0.0, 0.5), (0.6, 0.0), (0.2, 0.65)])
def test_line_noise_measured_per_axis(corr):
    clean = _scene()
    est = estimate_noise(clean + 0.02 * _noise(clean.shape, corr))
    assert est.corr_yx[0] == pytest.approx(corr[0], abs=0.07)
    assert est.corr_yx[1] == pytest.approx(corr[1], abs=0.07)
    assert est.anisotropic and est.correlated
    assert est.variance(0.4) == pytest.approx(0.02 ** 2, rel=0.15)


def test_isotropic_noise_stays_isotropic():
    clean = _scene(seed=2)
    est = estimate_noise(clean + 0.02 * _noise(clean.shape, 0.55, seed=3))
    assert est.corr_yx == pytest.approx((0.55, 0.55), abs=0.07)
    assert not est.anisotropic
    p = calibrate((clean + 0.02 * _noise(clean.shape, 0.55, seed=3)).astype(np.float32)).preset
    assert p.corr_y is None and p.corr_x is None and p.noise_corr == pytest.approx(0.55, abs=0.07)


def test_calibration_injects_line_noise_along_the_measured_axis():
    """Row noise (correlated along x): the calibrated injection is correlated along x
    only, and the synthetic residuals' correlation matches the real one per axis."""
    clean = _scene(seed=4)
    noisy = (clean + 0.03 * _noise(clean.shape, (0.0, 0.6), seed=5)).astype(np.float32)
    cal = calibrate(noisy)
    cy, cx = cal.preset.noise_corr
    assert cy == pytest.approx(0.0, abs=0.07) and cx == pytest.approx(0.6, abs=0.07)
    assert cal.preset.filter_size == 11 and cal.preset.fast_steps == STEPS_CORRELATED
    for real, syn in zip(cal.real.corr, cal.synthetic.corr):
        assert syn == pytest.approx(real, abs=0.08)


def test_user_corr_replaces_the_calibrated_pair():
    clean = _scene((128, 128), seed=6)
    noisy = np.round(1000 * (clean + 0.03 * _noise(clean.shape, (0.0, 0.6), seed=7)))
    seen = []
    denoise(noisy.astype(np.uint16), on_params=lambda p, m: seen.append(p), **FAST)
    assert seen[0].corr_x is not None and "line noise along x, within rows" in \
        seen[0].description
    denoise(noisy.astype(np.uint16), corr=0.2, on_params=lambda p, m: seen.append(p), **FAST)
    assert seen[1].noise_corr == 0.2


def test_row_stripes_are_named_when_no_noise_curve_is_found():
    """Rows with their own offsets (a line scanner's stripes) leave no intensity range
    whose flat pixels hold noise alone; the error says so rather than 'too few flat
    pixels (image too small or constant?)' (helper 31, a 512 px image)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:192, :192]
    scene = 0.2 + 0.3 * np.exp(-((yy - 96) ** 2 + (xx - 80) ** 2) / 800)
    x = scene + rng.normal(0, 0.01, scene.shape) + rng.normal(0, 0.02, (192, 1))
    with pytest.raises(ValueError, match="stripes") as e:
        estimate_noise(x)
    assert "too small" not in str(e.value)
    with pytest.raises(ValueError, match="too small"):  # without the stripes, too small
        estimate_noise(scene[:12, :12] + rng.normal(0, 0.01, (12, 12)))
