"""Fine structure read as correlated noise (napari_fm2s.texture)."""

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from napari_fm2s import denoise
from napari_fm2s.measure import estimate_noise
from napari_fm2s.noise import colour_noise
from napari_fm2s.texture import corr_trend, white_if_textured


def _scene(n: int, rng: np.random.Generator) -> np.ndarray:
    base = gaussian_filter(rng.random((n, n)), 12)
    return 0.05 + 0.9 * (base - base.min()) / (base.max() - base.min())


def _textured(n: int = 384, seed: int = 0, texture: float = 0.05):
    """A bright, high-SNR plane: fine texture (5 % of the signal, correlated over a pixel)
    under shot-like white noise (sd 0.01 at 0.5): (truth, noisy, noise sd per pixel)."""
    rng = np.random.default_rng(seed)
    fine = gaussian_filter(rng.standard_normal((n, n)), 0.8)
    truth = _scene(n, rng) * (1 + texture * fine / fine.std())
    sd = 0.01 * np.sqrt(truth / 0.5)
    return truth, truth + sd * rng.standard_normal((n, n)), sd


def test_texture_is_not_read_as_correlated_noise():
    """The curve reads correlated noise at twice the true level; its correlation rises
    with intensity, so the estimate becomes white noise at Immerkaer's level."""
    _, x, sd = _textured()
    est = estimate_noise(x)
    assert est.correlated and est.std_at_median > 1.7 * np.median(sd)
    white = white_if_textured(est, x)
    assert white.textured and white.corr == 0.0 and not white.correlated
    assert white.std_at_median == pytest.approx(float(np.median(sd)), rel=0.15)


@pytest.mark.parametrize("n", [256, 512])
def test_correlated_noise_stays_correlated(n):
    """Wide-field-like noise (correlation 0.6, shot-like) over a smooth scene: the same
    correlation at every intensity, no trend, the estimate is kept."""
    rng = np.random.default_rng(1)
    scene = _scene(n, rng)
    white = torch.from_numpy(rng.standard_normal((1, 1, n, n))).float()
    noise = colour_noise(white, 0.6)[0, 0].numpy()
    x = scene + 0.03 * np.sqrt(scene) * noise / noise.std()
    est = estimate_noise(x)
    assert est.correlated and abs(corr_trend(est.curve)) < 2.0
    assert white_if_textured(est, x) is est


@pytest.mark.parametrize("seed", [1, 2])
def test_small_textured_crop_is_read_as_white_noise(seed):
    """A 48 x 48 crop (one bin: no trend to read) whose texture reads as noise of
    correlation 0.35-0.40: white noise, with the curve's residual variance read as white
    noise's (closer to the true level)."""
    _, x, sd = _textured(48, seed, texture=0.03)
    est = estimate_noise(x)
    assert est.curve.level.size == 1 and est.correlated and est.corr < 0.45
    white = white_if_textured(est, x)
    assert white.textured and not white.correlated
    true = float(np.median(sd))
    assert abs(white.std_at_median - true) < 0.6 * abs(est.std_at_median - true)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_small_crop_of_correlated_noise_stays_correlated(seed):
    """48 x 48 of wide-field-like noise (correlation 0.6): kept correlated."""
    rng = np.random.default_rng(seed)
    scene = _scene(48, rng)
    white = torch.from_numpy(rng.standard_normal((1, 1, 48, 48))).float()
    noise = colour_noise(white, 0.6)[0, 0].numpy()
    x = scene + 0.03 * np.sqrt(scene) * noise / noise.std()
    est = estimate_noise(x)
    assert est.correlated and white_if_textured(est, x) is est


@pytest.mark.slow
def test_textured_image_is_not_smoothed_like_a_blur(monkeypatch):
    """End to end: the fine texture is kept (above the Gaussian blur, near the input);
    read as correlated noise (the trend rule off) the result fell below the blur."""
    import napari_fm2s.texture as texture

    truth, x, _ = _textured()
    x = x.astype(np.float32)

    def psnr(a):
        return 10 * np.log10(1.0 / np.mean((np.asarray(a, float) - truth) ** 2))

    blur = psnr(gaussian_filter(x, 1.0))
    kept = psnr(denoise(x, seed=0))
    monkeypatch.setattr(texture, "TREND_T", np.inf)
    smoothed = psnr(denoise(x, seed=0))
    assert smoothed < blur < kept - 0.5  # measured: 36.50 < 38.76 < 40.09 (input 40.78)
