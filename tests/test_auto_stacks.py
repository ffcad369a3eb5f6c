"""preset='auto' on every input kind, the camera model (offset, gain, read noise), and
constant (zero-padded) areas.  Synthetic data only."""

from __future__ import annotations

import logging

import warnings

import dask.array as da
import numpy as np
import pytest
import tifffile
from scipy.ndimage import gaussian_filter

from napari_fm2s import denoise
from napari_fm2s.calibrate import calibrate
from napari_fm2s.cli import main
from napari_fm2s.intensity import intensity_map
from napari_fm2s.measure import estimate_noise

from .conftest import FAST

OFFSET, GAIN, READ = 100.0, 2.0, 2.0  # ADU, ADU per photon, ADU


def _camera_stack(n=4, shape=(192, 192), seed=0) -> np.ndarray:
    """Raw sCMOS-like counts: photons (Poisson) x gain + offset + Gaussian read noise, on a
    static scene whose darker third has no photons at all."""
    rng = np.random.default_rng(seed)
    field = gaussian_filter(rng.standard_normal(shape), 12)
    field = (field - np.quantile(field, 0.35)) / (field.max() - np.quantile(field, 0.35))
    photons = 40.0 * np.clip(field, 0, 1)
    frames = [GAIN * rng.poisson(photons) + OFFSET + rng.normal(0, READ, shape)
              for _ in range(n)]
    return np.round(frames).astype(np.uint16)


def test_camera_model_recovered_from_pooled_stack():
    stack = _camera_stack()
    imap = intensity_map(stack)
    est = estimate_noise(np.stack([imap.to_unit(f) for f in stack]))
    assert est.offset * imap.scale + imap.offset == pytest.approx(OFFSET, rel=0.10)
    assert est.gain * imap.scale == pytest.approx(GAIN, rel=0.10)
    assert est.read_noise * imap.scale == pytest.approx(READ, rel=0.10)


def test_estimated_offset_is_reported_with_its_bounds():
    """A slow CCD (read noise 8 ADU, 1 ADU per photon, offset 100): the noise line's zero
    lies read^2 / gain = 64 ADU below the offset (helper 23's 12-bit CCD read "offset 0");
    the reported range runs from it to the darkest background level, which holds the
    offset within a fraction of the noise (read here 1.8 ADU low)."""
    rng = np.random.default_rng(5)
    field = gaussian_filter(rng.standard_normal((256, 256)), 12)
    field = (field - np.quantile(field, 0.35)) / (field.max() - np.quantile(field, 0.35))
    frame = np.round(rng.poisson(60.0 * np.clip(field, 0, 1)) + OFFSET
                     + rng.normal(0, 8.0, field.shape)).astype(np.uint16)
    seen = []
    denoise(frame, on_params=lambda p, m: seen.append(p), **FAST)
    p = seen[0]
    words = p.description.split("offset ")[1].split()
    lo, to, hi = float(words[0]), words[1], float(words[2])
    assert to == "to" and lo < 0.8 * OFFSET and OFFSET - 0.4 * 8.0 <= hi <= OFFSET + 10
    assert "not subtracted" in p.description


def test_gain_is_reported_only_where_the_noise_rise_is_measured():
    """Sparse spots on a flat background (helper 25: "gain 0.176 per photon" for a true 1):
    every flat pixel lies within a few ADU, so the slope is not determined and the offset
    has no lower bound; the camera stack's background and cells give both."""
    from napari_fm2s.calibrate import gain_determined, offset_bounds

    rng = np.random.default_rng(3)
    spots = np.zeros((256, 256))
    spots[tuple(rng.integers(8, 248, (2, 40)))] = 1.0
    photons = 2.0 + 400.0 * gaussian_filter(spots, 1.3)
    frame = np.round(OFFSET + rng.poisson(photons) + rng.normal(0, 1.5, photons.shape))
    imap = intensity_map(frame)
    est = estimate_noise(imap.to_unit(frame))
    assert not gain_determined(est) and np.isnan(offset_bounds(est, imap)[0])
    seen = []
    denoise(frame.astype(np.uint16), on_params=lambda p, m: seen.append(p), **FAST)
    assert "gain uncertain" in seen[0].description
    assert "offset at most" in seen[0].description

    stack = _camera_stack()
    imap = intensity_map(stack)
    est = estimate_noise(np.stack([imap.to_unit(f) for f in stack]))
    lo, hi = offset_bounds(est, imap)
    assert gain_determined(est) and lo < OFFSET + 1 < hi + 2
    assert est.gain_se * imap.scale < 0.1 * GAIN


def test_auto_on_stack_numpy_and_lazy_agree_and_report():
    stack = _camera_stack(n=3, shape=(96, 96))
    seen = []
    out = denoise(stack, "auto", axes="TYX", on_params=lambda p, m: seen.append(p), **FAST)
    assert out.shape == stack.shape and np.isfinite(out).all()
    p = seen[0]
    assert p.name == "auto" and "offset" in p.description and "gain" in p.description
    lazy = denoise(da.from_array(stack, chunks=(1, 96, 96)), "auto", axes="TYX", **FAST)
    np.testing.assert_allclose(np.asarray(lazy), out, atol=1e-3)


def test_auto_is_the_default_and_offset_is_given():
    stack = _camera_stack(n=2, shape=(96, 96))
    seen = []
    denoise(stack, axes="TYX", on_params=lambda p, m: seen.append(p), **FAST)
    assert seen[-1].name == "auto"
    denoise(stack, axes="TYX", offset=OFFSET, on_params=lambda p, m: seen.append(p), **FAST)
    imap = intensity_map(stack)
    assert seen[-1].black == pytest.approx((OFFSET - imap.offset) / imap.scale)
    assert "given" in seen[-1].description
    with pytest.raises(ValueError, match="offset"):
        denoise(stack, axes="TYX", offset="dark", **FAST)


def test_an_offset_outside_the_image_is_named(caplog):
    """An offset at or above the brightest values (no photons anywhere) is refused before
    training; one below the scale's start (negative) is raised to it, with a warning."""
    stack = _camera_stack(n=2, shape=(64, 64))
    for bad in (float(stack.max()) + 1, 99999.0):
        with pytest.raises(ValueError, match="offset .* not below the image's brightest"):
            denoise(stack, axes="TYX", offset=bad, **FAST)
    seen = []
    with caplog.at_level(logging.WARNING, logger="napari_fm2s"):
        denoise(stack, axes="TYX", offset=-5, on_params=lambda p, m: seen.append(p), **FAST)
    assert seen[-1].black == 0.0
    assert any("offset -5 lies below" in r.getMessage() for r in caplog.records)


def test_channels_calibrated_each():
    a = _camera_stack(n=1, shape=(96, 96))[0].astype(np.float32)
    b = 10 * (a - OFFSET) + 7  # another channel, other scale and no offset
    seen = []
    denoise(np.stack([a, b]), "auto", axes="CYX", on_params=lambda p, m: seen.append(p),
            **FAST)
    assert "C=0" in seen[0].description and "C=1" in seen[0].description


@pytest.mark.parametrize("band", [0.05, 0.10, 0.20])
def test_zero_padding_left_out_of_the_estimate(band):
    stack = _camera_stack(n=1, shape=(256, 256))[0]
    imap = intensity_map(stack)
    ref = calibrate(imap.to_unit(stack)).preset
    padded = stack.copy()
    padded[:, : int(band * stack.shape[1])] = 0  # registration left a zero band
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no divide-by-zero
        p = calibrate(imap.to_unit(padded)).preset
    for k in ("k_g", "k_p", "lam_p"):
        a, b = getattr(ref, k), getattr(p, k)
        assert (a >= 1e7) == (b >= 1e7), k
        if a < 1e7:
            assert b == pytest.approx(a, rel=0.35), k


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_zero_border_all_round_comes_back_zero_and_finite(dtype):
    """Registration padding on every side: the guard's local means of squares dipped a
    rounding error below 0 beside it, and their square root turned the plane into NaN."""
    img = np.zeros((256, 256), dtype)
    img[40:-40, 48:-32] = _camera_stack(n=1, shape=(176, 176))[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no invalid value in sqrt
        out = denoise(img, **FAST)
    assert np.isfinite(out).all()
    inner = np.zeros(img.shape, bool)
    inner[40:-40, 48:-32] = True
    assert (out[~inner] == 0).all()
    assert abs(float(out[inner].mean()) - float(img[inner].mean())) < 1.0


@pytest.mark.slow
def test_auto_through_cli_on_stack_cyx_and_rgb(tmp_path, capsys):
    cam = _camera_stack(n=3, shape=(96, 96))
    files = {"tyx.tif": (cam, {"axes": "TYX"}),
             "cyx.tif": (np.stack([cam[0], cam[1] // 2]), {"axes": "CYX"})}
    for name, (data, md) in files.items():
        tifffile.imwrite(tmp_path / name, data, imagej=True, metadata=md)
    rgb = np.stack([cam[0] - 90, (cam[1] - 90) // 2, cam[2] - 95], -1).clip(0, 255)
    tifffile.imwrite(tmp_path / "rgb.tif", rgb.astype(np.uint8), photometric="rgb")
    for name in ("tyx.tif", "cyx.tif", "rgb.tif"):
        rc = main(["denoise", str(tmp_path / name), "-o", str(tmp_path / f"out_{name}"),
                   "--preset", "auto", "--fast-steps", "5"])
        assert rc == 0, name
        err = capsys.readouterr().err
        assert "fm2s: auto" in err and "k_g" in err, name
        with tifffile.TiffFile(tmp_path / f"out_{name}") as t:
            text = str(t.imagej_metadata) + t.pages[0].description
        assert '"preset": "auto"' in text and '"mode"' in text and '"seed"' in text
