"""More fast-mode training while Stein's estimate of the error falls
(napari_fm2s.more_training)."""

import numpy as np
import pytest

from napari_fm2s import denoise
from napari_fm2s.inference import apply
from napari_fm2s.more_training import (EXTRA_STEPS, MAX_STAGES, MAX_STAGES_STACK,
                                       STAGE_SIGNIFICANCE, extra_total, fall, risk,
                                       risk_terms, train_more)
from napari_fm2s.presets import get_preset
from napari_fm2s.training import FastSchedule, fit

SHORT = 60  # steps of the networks these tests train (fewer than fast mode's)


def _scene(seed: int = 0, size: int = 96) -> tuple[np.ndarray, np.ndarray, float]:
    """(noisy, clean, noise sd) on the [0, 1] scale: blobs under white Gaussian noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    clean = np.full((size, size), 0.2)
    for _ in range(6):
        cy, cx, r = rng.uniform(10, size - 10), rng.uniform(10, size - 10), rng.uniform(4, 10)
        clean += 0.4 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
    sd = 0.05
    return (clean + sd * rng.standard_normal(clean.shape)).astype(np.float32), clean, sd


def test_risk_estimates_the_error_against_the_truth():
    """SURE of a trained network's result is its mean squared error against the clean
    image, within a tenth of the noise variance (without the truth)."""
    x, clean, sd = _scene()
    p = get_preset("confocal").with_overrides(fast_steps=SHORT)
    net = fit([x], p)
    f = apply(net, x)
    true = float(np.mean((f - clean) ** 2))
    est = risk(net, [x], lambda u: np.full(u.shape, sd * sd), seed=1)
    assert abs(est - true) < 0.1 * sd * sd
    assert est < 0.5 * sd * sd  # the premise: the network removed most of the noise


def test_train_more_keeps_the_lowest_estimate_and_counts_its_steps():
    x, _, sd = _scene(1)
    p = get_preset("confocal").with_overrides(fast_steps=SHORT)
    net = fit([x], p)

    def variance(u: np.ndarray) -> np.ndarray:
        return np.full(u.shape, sd * sd)

    done = FastSchedule().warmup_steps + SHORT
    seen = []
    more = train_more(net, [x], p, variance, done, lambda s, t, loss: seen.append((s, t)),
                      stages=MAX_STAGES_STACK)
    assert risk(more, [x], variance, int(p.seed)) <= risk(net, [x], variance, int(p.seed))
    steps = [s for s, _ in seen]
    assert steps == sorted(steps) and steps[0] == done + 1
    total = done + extra_total(MAX_STAGES_STACK)
    assert seen[-1] == (total, total) and {t for _, t in seen} == {total}
    assert seen.count((total, total)) == 1  # reached once, whether or not every stage ran
    assert extra_total() == EXTRA_STEPS * MAX_STAGES


def test_a_fall_within_chance_is_not_significant():
    """:func:`fall` pairs the per-pixel terms: a fall of 0.01 under noise of sd 1 on a
    64 px plane is within its standard error (~1/64 per pixel's sd, here the blocks'),
    one of 0.2 is far beyond it; the standard error matches i.i.d. theory."""
    rng = np.random.default_rng(0)
    before = [rng.standard_normal((64, 64))]
    after = [before[0] - 0.01 + rng.standard_normal((64, 64))]
    mean, se = fall(before, after)
    assert se == pytest.approx(1 / 64, rel=0.5)
    assert not mean > STAGE_SIGNIFICANCE * se
    lower = [before[0] - 0.2 + 0.1 * rng.standard_normal((64, 64))]
    mean, se = fall(before, lower)
    assert mean == pytest.approx(0.2, abs=0.01) and mean > 10 * se
    assert fall([np.zeros((8, 8))], [np.zeros((8, 8)) - 1])[1] == np.inf  # no whole block


def test_risk_terms_average_to_risk():
    x, _, sd = _scene(3, size=48)
    p = get_preset("confocal").with_overrides(fast_steps=10)
    net = fit([x], p)

    def variance(u: np.ndarray) -> np.ndarray:
        return np.full(u.shape, sd * sd)

    terms = risk_terms(net, [x, x[:32]], variance, seed=4)
    assert [t.shape for t in terms] == [(48, 48), (32, 48)]
    assert risk(net, [x, x[:32]], variance, seed=4) == pytest.approx(
        (terms[0].sum() + terms[1].sum()) / (48 * 48 + 32 * 48))


@pytest.mark.slow
def test_auto_trains_more_only_without_given_steps():
    """The default path's progress runs to the preset's steps plus the most extra steps
    (reached whether or not every stage ran); a given step count is trained as given."""
    x, _, _ = _scene(2)
    image = (x * 200).astype(np.float32)
    seen = []
    a = denoise(image, seed=3, progress=lambda s, t, loss: seen.append((s, t)))
    total = FastSchedule().warmup_steps + get_preset("confocal").fast_steps + extra_total()
    assert seen[-1] == (total, total)
    again = denoise(image, seed=3)
    np.testing.assert_array_equal(a, again)  # deterministic with a seed
    seen.clear()
    denoise(image, seed=3, fast_steps=50, progress=lambda s, t, loss: seen.append((s, t)))
    assert seen[-1] == (FastSchedule().warmup_steps + 50,) * 2
