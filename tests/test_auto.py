"""preset='auto': noise estimation, correlated injection, calibration (synthetic images only)."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import torch
from scipy.ndimage import gaussian_filter

from napari_fm2s import denoise
from napari_fm2s.params import resolve_params
from napari_fm2s.calibrate import CORR_ON, auto_preset, calibrate, estimate_noise
from napari_fm2s.cli import main
from napari_fm2s.noise import MAX_CORR, colour_noise, inject
from napari_fm2s.presets import PRESETS

from .conftest import FAST


def _scene(shape=(384, 384), seed=0) -> np.ndarray:
    """A smooth clean image spanning 0.1-0.7 (broad blobs, no fine structure)."""
    rng = np.random.default_rng(seed)
    base = gaussian_filter(rng.standard_normal(shape), 24)
    base = (base - base.min()) / (base.max() - base.min())
    return (0.1 + 0.6 * base).astype(np.float64)


def _lag1(z: np.ndarray, axis: int) -> float:
    a = np.moveaxis(z, axis, 0)
    return float(np.corrcoef(a[:-1].ravel(), a[1:].ravel())[0, 1])


def _coloured(shape, corr, seed) -> np.ndarray:
    gen = torch.Generator().manual_seed(seed)
    white = torch.randn((1, 1, *shape), generator=gen)
    return colour_noise(white, corr)[0, 0].numpy().astype(np.float64)


@pytest.mark.parametrize("a, b", [(4e-3, 1e-4), (1e-3, 4e-4), (1e-2, 0.0)])
def test_estimator_recovers_poisson_gaussian_variance_curve(a, b):
    clean = _scene(seed=1)
    rng = np.random.default_rng(2)
    noisy = rng.poisson(clean / a) * a + rng.normal(0, np.sqrt(b), clean.shape)
    est = estimate_noise(noisy)
    for u in (0.2, 0.3, 0.4, 0.5, 0.6):
        assert est.variance(u) == pytest.approx(a * u + b, rel=0.10), u
    assert abs(est.corr) < 0.08  # white


def _small_scmos(seed: int, n: int = 64) -> np.ndarray:
    """A few PSF-blurred cells, 3-63 photons, gain 2 ADU/e, offset 100, read 2 ADU, as
    a unit-scale (/ 4095) plane."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:n, :n]
    img = np.zeros((n, n))
    for _ in range(3):
        cy, cx = rng.uniform(0, n, 2)
        ry, rx = rng.uniform(4, 12, 2)
        img += rng.uniform(0.3, 1.0) * (((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1)
    ph = 3 + 60 * gaussian_filter(img, 1.5) / gaussian_filter(img, 1.5).max()
    return np.round(100 + 2 * rng.poisson(ph) + rng.normal(0, 2, ph.shape)) / 4095.0


def test_a_small_plane_s_noise_line_is_not_flat():
    """On 64 px planes the line fitted to 2-3 bins came out flat ('gain 0') on 3 of 12
    (4 of 10 of a user's), and the guard then put the result below a Gaussian blur."""
    ratios = [estimate_noise(_small_scmos(s)).a / (2 / 4095.0) for s in range(12)]
    assert min(ratios) > 0.3 and max(ratios) < 1.5, np.round(ratios, 2)


@pytest.mark.parametrize("corr", [0.3, 0.58])
def test_estimator_recovers_known_correlation(corr):
    clean = _scene(seed=3)
    noise = _coloured(clean.shape, corr, seed=4)
    assert _lag1(noise, 0) == pytest.approx(corr, abs=0.02)  # the noise has it
    assert _lag1(noise, 1) == pytest.approx(corr, abs=0.02)
    est = estimate_noise(clean + 0.02 * noise)
    assert est.corr == pytest.approx(corr, abs=0.05)
    assert est.variance(0.4) == pytest.approx(0.02 ** 2, rel=0.10)


def test_correlation_of_other_blur_recovered_roughly():
    """Noise coloured by a Gaussian blur (not our kernel): lag-1 correlation within 0.1."""
    rng = np.random.default_rng(5)
    noise = gaussian_filter(rng.standard_normal((384, 384)), 0.7)
    noise /= noise.std()
    truth = (_lag1(noise, 0) + _lag1(noise, 1)) / 2
    est = estimate_noise(_scene(seed=6) + 0.02 * noise)
    assert est.corr == pytest.approx(truth, abs=0.1)


def test_colour_noise_keeps_variance_sets_correlation():
    for corr in (0.0, 0.2, 0.5, MAX_CORR):
        z = _coloured((400, 400), corr, seed=7)
        assert z.var() == pytest.approx(1.0, rel=0.03)
        assert _lag1(z, 0) == pytest.approx(corr, abs=0.02)
        assert _lag1(z, 1) == pytest.approx(corr, abs=0.02)


def test_correlated_injection_keeps_mean_and_variance():
    x = torch.full((1, 1, 300, 300), 0.1)
    g = torch.Generator().manual_seed(0)
    white = inject(x, 60, 40, 125, 75, generator=g)
    g = torch.Generator().manual_seed(0)
    col = inject(x, 60, 40, 125, 75, generator=g, corr=0.5)
    assert col.mean().item() == pytest.approx(0.1, rel=0.01)
    assert col.var().item() == pytest.approx(white.var().item(), rel=0.05)
    assert _lag1(col[0, 0].numpy(), 1) == pytest.approx(0.5, abs=0.03)
    assert abs(_lag1(white[0, 0].numpy(), 1)) < 0.03


def test_presets_stay_white_and_corr_is_checked():
    assert all(p.corr == 0 for p in PRESETS.values())
    assert resolve_params("confocal", corr=0.4).corr == 0.4
    with pytest.raises(ValueError, match="corr"):
        resolve_params("confocal", corr=0.9)
    with pytest.raises(ValueError, match="corr"):
        resolve_params("confocal", corr=-0.1)


def test_calibration_matches_real_noise_times_factor():
    clean = _scene(seed=8)
    rng = np.random.default_rng(9)
    noisy = np.clip(rng.poisson(clean / 4e-3) * 4e-3 + rng.normal(0, 0.01, clean.shape), 0, 1)
    for factor in (1.0, 3.0):
        cal = calibrate(noisy.astype(np.float32), factor=factor)
        assert cal.preset.corr == 0 and cal.preset.filter_size == 3
        assert np.median(cal.ratio) == pytest.approx(factor, rel=0.2)
        # the same measurement on both: synthetic measured in the real image's bins
        assert np.array_equal(cal.synthetic.edges, cal.real.edges)


def test_calibration_uses_correlated_injection_for_correlated_noise():
    clean = _scene(seed=10)
    noisy = clean + 0.03 * _coloured(clean.shape, 0.55, seed=11)
    cal = calibrate(noisy.astype(np.float32))
    assert cal.estimate.corr >= CORR_ON
    assert cal.preset.corr == pytest.approx(0.55, abs=0.06)
    assert cal.preset.filter_size == 11
    assert cal.synthetic.mean_corr == pytest.approx(cal.real.mean_corr, abs=0.08)
    # over-injection: between 1.5x and 4x the real variance
    assert 1.2 < np.median(cal.ratio) < 5


def test_over_injection_shrinks_with_noise():
    clean = _scene(seed=12)
    rng = np.random.default_rng(13)
    factors = []
    for a in (2e-2, 4e-3, 5e-4):
        noisy = np.clip(rng.poisson(clean / a) * a, 0, 1).astype(np.float32)
        factors.append(calibrate(noisy).factor)
    assert factors[0] >= factors[1] >= factors[2]
    assert factors[0] > factors[2]


def test_auto_through_denoise(noisy_small):
    out = denoise(noisy_small, "auto", **FAST)
    assert out.shape == noisy_small.shape and out.dtype == np.float32
    p = auto_preset(noisy_small)
    assert p.name == "auto"
    # overrides apply on top of the calibrated values
    same = denoise(noisy_small, "AUTO", **FAST)
    assert np.array_equal(out, same)
    assert denoise(noisy_small, "auto", axes="YX", **FAST).shape == noisy_small.shape


def test_auto_description_gives_the_users_values(noisy_small):
    """Helper 27: with --k-p 0.4 the info line and the file's provenance said the
    calibrated k_p; they now say the value trained with, marked as given."""
    seen = []
    denoise(noisy_small, "auto", k_p=0.4, corr=0.3, on_params=lambda p, m: seen.append(p),
            **FAST)
    p = seen[0]
    assert p.k_p == 0.4 and "k_p 0.4 (given)" in p.description
    assert "corr 0.3 (given)" in p.description and "(given)" not in p.description.split(
        "k_g ")[1].split(",")[0]


def test_auto_through_cli(tmp_path, noisy_small):
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, noisy_small)
    dst = tmp_path / "out.tif"
    rc = main(["denoise", str(src), "-o", str(dst), "--preset", "auto", "--fast-steps", "5",
               "-q"])
    assert rc == 0
    assert tifffile.imread(dst).shape == noisy_small.shape
    rc = main(["denoise", str(src), "-o", str(tmp_path / "c.tif"), "--corr", "0.4",
               "--fast-steps", "5", "-q"])
    assert rc == 0
