import numpy as np
import pytest
import torch
from scipy.ndimage import median_filter

from napari_fm2s.noise import inject, injected_variance, median_target, region_means


def _flat(u, size=300, n=2):
    return torch.full((1, n, size, size), u, dtype=torch.float32)


def test_region_means_pad_with_zeros():
    x = torch.ones(1, 2, 100, 100) * 0.1
    m = region_means(x, 75)
    # top-left region full; the bottom-right one is 25x25 of 0.1 in a zero-padded 75x75
    assert m[0, 0, 0, 0].item() == pytest.approx(0.1, rel=1e-4)
    assert m[0, 0, 99, 99].item() == pytest.approx(0.1 * 25 * 25 / 75**2, rel=1e-4)
    assert m[0, 0, 0, 99].item() == pytest.approx(0.1 * 25 / 75, rel=1e-4)
    assert m.shape == (1, 1, 100, 100)


def test_mean_preserved_and_variance_follows_formula():
    g = torch.Generator().manual_seed(0)
    # parameters where clamping at 0 is rare (the formula ignores clamping)
    for u, (k_g, k_p, lam_p) in [(0.1, (60, 40, 125)), (0.05, (20, 185, 600)), (0.14, (70, 195, 485))]:
        x = _flat(u)
        y = inject(x, k_g, k_p, lam_p, stride=75, generator=g)
        assert y.shape == x.shape
        assert abs(y.mean().item() - u) < 0.01 * u
        expected = injected_variance(u, k_g, k_p, lam_p)
        assert abs(y.var().item() / expected - 1) < 0.05


def test_fresh_sample_each_call_and_clamped():
    g = torch.Generator().manual_seed(1)
    x = _flat(0.9, 150)
    a, b = inject(x, 200, 30, 70, 75, g), inject(x, 200, 30, 70, 75, g)
    assert not torch.equal(a, b)
    assert a.min() >= 0 and a.max() <= 1


def test_median_target_is_median_filter():
    rng = np.random.default_rng(0)
    raw = rng.random((20, 20)).astype(np.float32)
    t = median_target(raw, 3)
    assert t.dtype == np.float32
    assert np.isclose(t[5, 5], np.median(raw[4:7, 4:7]))


def test_median_in_parallel_bands_equals_whole(monkeypatch):
    """Row bands filtered on several threads give scipy's whole-image median exactly."""
    import torch

    from napari_fm2s import noise

    rng = np.random.default_rng(3)
    x = rng.random((203, 157)).astype(np.float32)
    monkeypatch.setattr(noise, "MEDIAN_PARALLEL_WORK", 1000)
    calls = []
    real = noise.square_median
    monkeypatch.setattr(noise, "square_median", lambda a, size: calls.append(a.shape) or real(a, size))
    old = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        for size in (3, 11):
            calls.clear()
            out = median_target(x, size)
            np.testing.assert_array_equal(out, median_filter(x, size=size, mode="reflect"))
            assert len(calls) == 3  # one band per thread
    finally:
        torch.set_num_threads(old)
