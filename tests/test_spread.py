"""Test-time flips and the spread of the flip ensemble (issue 18)."""

import dask.array as da
import numpy as np
import torch

from napari_fm2s import denoise
from napari_fm2s.inference import FLIPS, apply, apply_with_spread, fidelity_rules
from napari_fm2s.network import make_network

from .conftest import FAST


def _flip_mean(net, raw: np.ndarray) -> np.ndarray:
    """The flip ensemble by hand: each flipped image through the network, flipped back."""
    net = net.collapsed().eval()
    r = 5
    outs = []
    for dims in FLIPS:
        x = np.flip(raw, [d % 2 for d in dims]) if dims else raw
        t = torch.from_numpy(np.ascontiguousarray(np.pad(x, r, mode="symmetric")))[None, None]
        with torch.no_grad():
            y = net(t).clamp(0, 1).mean(1)[0].numpy()[r:-r, r:-r]
        outs.append(np.flip(y, [d % 2 for d in dims]) if dims else y)
    return np.mean(outs, 0), np.std(outs, 0)


def test_apply_averages_the_four_flips_and_its_spread_is_their_std():
    net = make_network(2, 3)
    with torch.no_grad():
        net.conv3.bias.fill_(0.5)  # outputs inside (0, 1): the clamp does not hide them
    raw = np.random.default_rng(1).random((40, 52)).astype(np.float32) * 0.5 + 0.25
    mean, std = _flip_mean(net, raw)
    got, spread = apply_with_spread(net, raw)
    np.testing.assert_allclose(got, fidelity_rules(mean.astype(np.float32), raw), atol=1e-5)
    np.testing.assert_allclose(spread, std, atol=1e-4)
    assert np.array_equal(apply(net, raw), got)
    assert spread.shape == raw.shape and spread.dtype == np.float32 and spread.max() > 0


def test_tiled_flip_ensemble_equals_untiled():
    net = make_network(2, 0)
    raw = np.random.default_rng(0).random((150, 170)).astype(np.float32)
    whole, s_whole = apply_with_spread(net, raw)
    tiled, s_tiled = apply_with_spread(net, raw, tile=32)
    assert np.abs(whole - tiled).max() < 1e-5
    assert np.abs(s_whole - s_tiled).max() < 1e-5


def test_spread_is_deterministic_in_input_units_and_lazy_equals_numpy():
    rng = np.random.default_rng(2)
    x = rng.poisson(30.0, (2, 48, 40)).astype(np.float32)
    kw = dict(FAST, axes="TYX", seed=5)
    out, spread = denoise(x, return_spread=True, **kw)
    out2, spread2 = denoise(x, return_spread=True, **kw)
    assert np.array_equal(out, out2) and np.array_equal(spread, spread2)
    assert spread.shape == x.shape and spread.dtype == np.float32
    assert np.array_equal(out, denoise(x, **kw))
    # units: the same image scaled by 4 gives the same unit-scale run, spread x 4
    _, spread4 = denoise(x * 4, return_spread=True, **kw)
    np.testing.assert_allclose(spread4, 4 * spread, rtol=1e-4, atol=1e-4)
    lazy_out, lazy_spread = denoise(da.from_array(x, chunks=(1, 48, 40)), return_spread=True,
                                    **kw)
    np.testing.assert_allclose(lazy_out.compute(), out, atol=1e-4)
    np.testing.assert_allclose(lazy_spread.compute(), spread, atol=1e-4)


def test_spread_is_zero_for_a_copied_channel_and_in_paper_mode():
    rng = np.random.default_rng(3)
    x = rng.poisson(40.0, (2, 40, 40)).astype(np.uint16)
    x[1] = 7  # a constant channel: copied
    _, spread = denoise(x, axes="CYX", return_spread=True, **FAST)
    assert np.all(spread[1] == 0) and spread[0].max() > 0
    _, spread = denoise(x[0], mode="paper", return_spread=True, **FAST)
    assert np.all(spread == 0)


def test_spread_is_larger_where_there_is_structure_than_on_flat_background():
    """Half flat background, half fine oriented stripes: the flipped applications agree
    on the flat half and disagree on the stripes' asymmetric edges."""
    rng = np.random.default_rng(4)
    yy, xx = np.mgrid[:96, :96]
    clean = np.full((96, 96), 40.0)
    stripes = 40.0 + 160.0 * (np.sin((yy + 2 * xx) / 2.2) > 0.3)
    clean[:, 48:] = stripes[:, 48:]
    x = rng.poisson(clean).astype(np.uint16)
    _, spread = denoise(x, fast_steps=60, return_spread=True)
    flat, busy = spread[8:-8, 8:40].mean(), spread[8:-8, 56:-8].mean()
    assert busy > 2 * flat, (busy, flat)
