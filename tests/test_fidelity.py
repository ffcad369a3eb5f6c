"""Intensity fidelity (issue 14): borders, backgrounds, plateaus, range, hot pixels."""

import numpy as np
import pytest
import torch

from napari_fm2s import denoise
from napari_fm2s.inference import apply
from napari_fm2s.intensity import intensity_map, robust_range
from napari_fm2s.network import make_network
from napari_fm2s.noise import mean_preserving, median_target

from .conftest import FAST

STEPS = {"fast_steps": 120}


def _ring(out: np.ndarray, k: int = 2) -> float:
    """Mean of the ``k``-pixel border ring over the mean of the interior (8 px in), minus 1."""
    ring = np.ones(out.shape, bool)
    ring[k:-k, k:-k] = False
    return float(out[ring].mean() / out[8:-8, 8:-8].mean() - 1)


@pytest.fixture(scope="module")
def photon_counting():
    """Flat Poisson background at 3 counts (uint16) and its denoised result."""
    img = np.random.default_rng(0).poisson(3.0, (96, 96)).astype(np.uint16)
    return img, denoise(img, **STEPS)


@pytest.mark.slow
def test_flat_poisson_has_no_border_ring(photon_counting):
    _, out = photon_counting
    assert abs(_ring(out, 2)) < 0.02
    assert abs(_ring(out, 1)) < 0.02


@pytest.mark.slow
def test_flat_poisson_background_mean_is_kept(photon_counting):
    img, out = photon_counting
    assert abs(out.mean() / img.mean() - 1) < 0.01  # the plain median target: -5 %


def test_mean_preserving_target_removes_the_median_bias():
    raw = np.random.default_rng(1).poisson(2.0, (128, 128)).astype(np.float32)
    med = median_target(raw, 3)
    assert med.mean() / raw.mean() - 1 < -0.05  # what the median does to low counts
    assert abs(mean_preserving(med, raw).mean() / raw.mean() - 1) < 0.005


def test_saturated_plateau_stays_saturated_and_range_is_kept():
    rng = np.random.default_rng(2)
    img = rng.poisson(300.0, (64, 64)) + 200  # camera offset: nothing below ~400
    img[20:40, 20:40] = 4095  # 12-bit saturation, corners included
    img = np.clip(img, 0, 4095).astype(np.uint16)
    out = denoise(img, **FAST)  # the rules hold whatever the training
    assert np.all(out[20:40, 20:40] == 4095)
    assert out.min() >= img.min() and out.max() <= img.max()


def test_hot_pixel_does_not_rescale_the_image():
    img = np.random.default_rng(3).poisson(500.0, (64, 64)).astype(np.uint16)
    img[:2, :2] = 4095  # a real saturated spot of 12-bit data: 4 pixels
    hot = img.copy()
    hot[32, 20] = 65535
    assert intensity_map(hot).scale == intensity_map(img).scale == 4095
    assert robust_range(hot)[1] == 4095
    unit = intensity_map(hot).to_unit(hot)
    assert unit.max() <= 1.0 and unit[32, 20] * 4095 < 700  # replaced by its 3x3 median


@pytest.mark.slow
def test_hot_pixel_is_removed_like_the_median_removes_it():
    """A hot pixel far beyond the range gives exactly the result of an image holding its
    3x3 median there: nothing else changes (it cost 10.8 dB PSNR before, 400 steps)."""
    rng = np.random.default_rng(4)
    clean = np.full((64, 64), 1000.0)
    clean[16:48, 16:48] = 2500
    img = np.clip(rng.poisson(clean / 10) * 10, 0, 4095).astype(np.uint16)
    hot = img.copy()
    hot[32, 8] = 65535
    cleaned = img.copy()
    window = hot[31:34, 7:10].ravel()
    cleaned[32, 8] = np.median(window)
    a, b = denoise(cleaned, fast_steps=30), denoise(hot, fast_steps=30)
    assert np.array_equal(a, b)
    assert abs(b[32, 8] - 1000) < 250  # a pixel of noise std 100; was 1844 (400 steps)


def test_tiles_give_the_whole_image_result():
    """Mirrored border, range and saturation rules agree between tiles and the whole image."""
    torch.manual_seed(0)
    raw = np.random.default_rng(5).random((70, 90)).astype(np.float32) * 0.5
    raw[10:20, 60:80] = 1.0
    net = make_network(2, seed=1)
    whole = apply(net, raw)
    assert np.allclose(apply(net, raw, tile=32), whole, atol=1e-6)
    assert np.all(whole[10:20, 60:80] == 1.0)


def test_reference_application_is_the_authors_code():
    raw = np.random.default_rng(6).random((40, 40)).astype(np.float32)
    net = make_network(2, seed=1, application="reference")
    with torch.no_grad():
        ref = net(torch.from_numpy(raw)[None, None].repeat(1, 2, 1, 1)).clamp(0, 1).mean(1)[0]
    assert np.allclose(apply(net, raw), ref.numpy(), atol=1e-6)


def _blobs(n: int, seed: int, bg: float, peak: float) -> np.ndarray:
    """Smooth Gaussian blobs of height ``peak`` over ``bg``: a (n, n) float image."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    dots = np.zeros((n, n))
    dots[rng.integers(4, n - 4, 12), rng.integers(4, n - 4, 12)] = 1.0
    b = gaussian_filter(dots, 3.0)
    return bg + peak * b / b.max()


@pytest.mark.slow
def test_integer_results_stay_in_their_type_range():
    """The guard's blends may not push a result below 0 (photon counts) or above the
    type's maximum (16-bit data saturated at 65535); an integer input's result stays in
    its type's range, so casting it back does not wrap."""
    rng = np.random.default_rng(8)
    dim = rng.poisson(_blobs(96, 1, 0.5, 12.0)).astype(np.uint16)
    sat = np.clip(rng.poisson(_blobs(96, 2, 200.0, 250000.0)) + rng.normal(100, 3, (96, 96)),
                  0, 65535).astype(np.uint16)
    assert (sat == 65535).mean() > 0.005
    for img in (dim, sat):
        out = denoise(img, **STEPS)
        assert out.min() >= 0 and out.max() <= 65535
