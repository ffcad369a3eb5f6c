import pytest
import numpy as np
import torch

from napari_fm2s import denoise
from napari_fm2s.noise import mean_preserving, median_target, region_means
from napari_fm2s.samples import synthetic_cells
from napari_fm2s.training import CropSampler


def test_tiles_match_whole_image_target_and_region_grid():
    rng = np.random.default_rng(0)
    raw = rng.random((700, 650)).astype(np.float32)
    gen = torch.Generator().manual_seed(0)
    s = CropSampler([raw], filter_size=11, stride=75, crop=64, generator=gen, budget=200_000)
    # fast mode's target: the median with the raw image's local mean (noise.mean_preserving)
    whole_t = mean_preserving(median_target(raw, 11), raw)
    whole_m = region_means(torch.from_numpy(whole_t)[None, None], 75)[0, 0].numpy()
    assert 200_000 <= sum(t.shape[1] * t.shape[2] for t in s.tiles) < 200_000 + 300 * 300
    for tile in s.tiles:
        # locate the tile by its raw pixels, then compare target and region means there
        r = tile[0].numpy()
        ys, xs = np.nonzero((raw == r[0, 0]))
        (y, x), = [(a, b) for a, b in zip(ys, xs)
                   if np.array_equal(raw[a:a + r.shape[0], b:b + r.shape[1]], r)]
        h, w = r.shape
        assert y % 75 == 0 and x % 75 == 0
        assert np.array_equal(tile[1].numpy(), whole_t[y:y + h, x:x + w])
        assert np.allclose(tile[2].numpy(), whole_m[y:y + h, x:x + w], rtol=1e-5)


def test_small_image_uses_whole_plane():
    raw = np.random.default_rng(1).random((100, 120)).astype(np.float32)
    s = CropSampler([raw], 3, 75, 96, torch.Generator().manual_seed(0))
    assert len(s.tiles) == 1 and tuple(s.tiles[0].shape) == (3, 100, 120)
    b = s(5)
    assert tuple(b.shape) == (5, 3, 96, 96)


@pytest.mark.slow
def test_fast_mode_beats_its_median_target():
    noisy, clean = synthetic_cells((128, 128), seed=4)

    def psnr(x):
        return 10 * np.log10(255**2 / np.mean((x.astype(float) - clean) ** 2))

    out = denoise(noisy, "confocal", mode="fast")
    target = median_target(noisy.astype(np.float32), 3)
    assert psnr(out) > psnr(target) + 0.5, (psnr(out), psnr(target), psnr(noisy))


def _fast_net(raw, **sched):
    from napari_fm2s.presets import get_preset
    from napari_fm2s.training import FastSchedule, fit

    steps = []
    p = get_preset("srdtrans").with_overrides(fast_steps=7)
    net = fit([raw], p, mode="fast", schedule=FastSchedule(warmup_steps=2, **sched),
              progress=lambda step, total, loss: steps.append((step, total)))
    return net, steps


def test_noise_reuse_keeps_the_step_count():
    raw = np.random.default_rng(3).random((60, 70)).astype(np.float32)
    a, steps = _fast_net(raw, noise_reuse=3)
    b, _ = _fast_net(raw, noise_reuse=1)
    assert steps == [(i, 9) for i in range(1, 10)]
    assert not torch.equal(a.conv1.weight, b.conv1.weight)


def _pool(raw, preset="srdtrans", **over):
    from napari_fm2s.presets import get_preset
    from napari_fm2s.training import NoisePool

    p = get_preset(preset).with_overrides(**over)
    gen = torch.Generator().manual_seed(0)
    s = CropSampler([raw], p.filter_size, p.stride, 48, gen)
    return NoisePool(s, p, torch.device("cpu"), gen), p


def test_noise_pool_renews_every_pixel_in_turn():
    raw = np.random.default_rng(5).uniform(0.05, 0.3, (100, 90)).astype(np.float32)
    pool, _ = _pool(raw)
    before = pool.noisy[0].clone()
    pool.renew(32 * 90 - 1)  # not yet a whole band of 32 rows
    assert torch.equal(pool.noisy[0], before)
    pool.renew(1)  # now one band: rows 0-31 only
    changed = (pool.noisy[0] != before).float().mean(dim=(0, 2))
    assert (changed[:32] > 0.8).all() and (changed[32:] == 0).all()
    pool.renew(100 * 90)  # the rest, wrapping around to the top
    changed = (pool.noisy[0] != before).float().mean(dim=(0, 2))
    assert (changed > 0.8).all()


def test_noise_pool_injects_the_papers_noise():
    from napari_fm2s.noise import inject

    u = 0.08
    raw = np.full((150, 150), u, dtype=np.float32)
    pool, p = _pool(raw, "confocal")
    noisy = pool.noisy[0]
    assert noisy.shape == (p.channels, 150, 150)
    # the same injection, drawn directly on one whole 75x75 region (mean u, as in the pool)
    region = torch.full((40, p.channels, 75, 75), u)
    direct = inject(region, p.k_g, p.k_p, p.lam_p, p.stride,
                    generator=torch.Generator().manual_seed(1))
    inner = noisy[:, :75, :75]
    assert abs(float(inner.mean()) - float(direct.mean())) < 0.003
    assert abs(float(inner.var()) / float(direct.var()) - 1) < 0.08
    assert float(inner.var()) > 0.5 * u / p.lam_p  # really noisy
