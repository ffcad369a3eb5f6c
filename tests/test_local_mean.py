"""The guard's local mean by intensity layer (napari_fm2s.local_mean)."""

import numpy as np
import pytest

from napari_fm2s.local_mean import (LAYER_SPACING, REACH, keep_mean, layer_coordinate,
                                    layered_mean)
from napari_fm2s.noise_model import NoiseModel


def _disk(shape=(128, 128), radius=20.0):
    yy, xx = np.indices(shape)
    r = np.hypot(yy - shape[0] / 2, xx - shape[1] / 2)
    return r, np.where(r < radius, 1.0, 0.1)


def test_no_dark_ring_beside_a_brightened_rim():
    """An estimate that brightened a disk's rim (x - a = -0.05 there) gets the rim's own
    mean back; the background beside it keeps its level, where the plain Gaussian mean
    leaves a dark ring."""
    r, a = _disk()
    sd = np.full(a.shape, 0.01)
    rim = (r < 20) & (r >= 17)
    x = a - 0.05 * rim
    plain = keep_mean(a, x, sd)
    layered = keep_mean(a, x, sd, lambda u: layer_coordinate(u / 0.01))
    beside = (r >= 20) & (r < 26)
    assert np.mean(plain[beside] - x[beside]) < -0.003  # the ring this fixes (0.3 sd)
    assert abs(np.mean(layered[beside] - x[beside])) < 0.1 * abs(
        np.mean(plain[beside] - x[beside]))
    assert np.mean(np.abs(layered[rim] - x[rim])) < np.mean(np.abs(plain[rim] - x[rim]))


def test_flat_layer_is_the_plain_gaussian_mean():
    """All pixels in one layer: the layered mean is the Gaussian mean (up to the cell grid)."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(0)
    res = gaussian_filter(rng.standard_normal((96, 80)), 3)
    got = layered_mean(res, np.full(res.shape, 0.4), 8.0)
    want = gaussian_filter(res, 8.0, mode="reflect", truncate=4.0)
    assert np.abs(got - want).max() < 0.1 * np.abs(want).max()


@pytest.mark.parametrize("origin", [(37, 53), (64, 3)])
def test_block_with_halo_equals_the_plane(origin):
    """A block's result, beyond REACH from its cut edges, equals the whole plane's (what
    lazy chunks rely on): the cell grid is aligned with the plane."""
    rng = np.random.default_rng(1)
    res = rng.standard_normal((200, 180))
    coord = 4 * rng.random((200, 180))
    whole = layered_mean(res, coord, 8.0)
    oy, ox = origin
    block = layered_mean(res[oy:oy + 120, ox:ox + 110], coord[oy:oy + 120, ox:ox + 110],
                         8.0, origin)
    inner = (slice(REACH, 120 - REACH), slice(REACH, 110 - REACH))
    np.testing.assert_allclose(block[inner],
                               whole[oy:oy + 120, ox:ox + 110][inner], atol=1e-12)


def test_noise_model_layers_are_noise_sd_apart():
    """NoiseModel.layers: increasing, 0 at the map's zero, one layer per LAYER_SPACING
    noise sd near the dark end (Poisson-Gaussian model with a floor)."""
    model = NoiseModel(a=2.0, b=-180.0, floor=25.0)  # offset 100 ADU (b / a), read 5 ADU
    scale, offset = 4000.0, 90.0
    u = np.linspace(0.0, 1.0, 2001)
    c = model.layers(u, scale, offset)
    assert c[0] == pytest.approx(0.0, abs=1e-12) and np.all(np.diff(c) > 0)
    for X in (95.0, 120.0):  # below the compression
        du = 1e-4
        uu = np.array([(X - offset) / scale, (X - offset) / scale + du])
        slope = np.diff(model.layers(uu, scale, offset))[0] / (du * scale)
        sd = np.sqrt(max(model.a * X + model.b, model.floor))
        assert slope == pytest.approx(1 / (LAYER_SPACING * sd), rel=0.1)


def test_local_bias_of_noise_alone_is_small():
    """A removed part that is white noise only: almost nothing comes back (the soft
    threshold at one standard error of the mean)."""
    from napari_fm2s.local_mean import local_bias

    rng = np.random.default_rng(3)
    r, result = _disk()
    removed = 0.02 * rng.standard_normal(result.shape)
    back = local_bias(removed, np.full(result.shape, 0.02),
                      lambda u: layer_coordinate(u / 0.02), result)
    assert np.mean(back ** 2) < 0.002 * 0.02 ** 2  # measured 0.0003


def test_local_bias_returns_a_dark_undershoot():
    """A result one noise sd too dark in a 4 px band beside a bright disk (the network's
    undershoot): 40 % of the band's bias comes back (the sigma-2 mean spreads it, the
    threshold takes two standard errors off), almost none of the noise."""
    from napari_fm2s.local_mean import local_bias

    rng = np.random.default_rng(4)
    r, result = _disk()
    band = (r >= 21) & (r < 25)
    removed = 0.02 * rng.standard_normal(result.shape) + 0.02 * band
    back = local_bias(removed, np.full(result.shape, 0.02),
                      lambda u: layer_coordinate(u / 0.02), result)
    assert np.mean(back[band]) > 0.3 * 0.02
    far = r > 40
    assert np.mean(back[far] ** 2) < 0.002 * 0.02 ** 2
