"""More fast-mode training while the estimated error falls.

Fast mode's 400 steps under-train some images: fine structure at high photon counts
(SRDTrans' neurons, a 12-bit CCD at 25x the light, FMD's confocal cells) gains 0.3-2 dB
from more, smooth nuclei and TIRF's low counts lose a little.  The image itself can tell:
Stein's unbiased risk estimate of a result ``f`` of the input ``x`` with white noise of
variance ``v``,

    SURE(f) = mean((x - f)^2) - mean(v) + 2 mean(v div f),

has the expectation of the result's mean squared error against the truth (the divergence
by one Monte Carlo probe, as the do-no-harm guard takes it).  After the preset's steps,
training continues in stages of :data:`EXTRA_STEPS` (one-cycle again, at
:data:`EXTRA_LR` of the peak learning rate, batches of :data:`EXTRA_BATCH` crops, no
warm-up) while a stage lowers SURE on the training planes by more than
:data:`STAGE_SIGNIFICANCE` standard errors of the fall, at most :data:`MAX_STAGES` stages
(:data:`MAX_STAGES_STACK` for a network shared by a stack's planes); the last network kept
is the result.  Measured:
``benchmarks/sure_steps.py`` (the network alone) and docs/auto.md, "More training while it
pays" (the whole path).  No napari or Qt here.
"""

from __future__ import annotations

import copy
import math
from dataclasses import replace
from typing import Callable, Optional, Sequence

import numpy as np
import torch

from .guard import PROBE
from .hooks import CancelLike, ProgressFn, cancel_checker, raise_if
from .inference import INFERENCE_TILE, apply
from .memory import log
from .network import FM2SNet
from .presets import Preset
from .training import CropSampler, FastSchedule, fit, fit_fast

#: Steps of one more stage, its peak learning rate relative to fast mode's, and its
#: crops per batch (half fast mode's: two stages cost what one at the full batch did).
EXTRA_STEPS, EXTRA_LR, EXTRA_BATCH = 400, 0.5, 6
#: Most stages after the preset's steps: for a network that serves one plane (a 512 x 512
#: plane stays under 10 s on two CPU cores), and one shared by a stack's planes.
MAX_STAGES, MAX_STAGES_STACK = 2, 4
#: A stage is kept when it lowers SURE by more than this many standard errors of the
#: fall (the paired per-pixel differences averaged over blocks of :data:`STAGE_BLOCK`
#: pixels square, taken as independent).  Without it a second stage passed on chance on
#: 64 px planes (``benchmarks/small_planes.py`` +0.98 -> +0.91 dB over the blur, the
#: worst plane +0.57 -> +0.09); with it +1.01, worst +0.58; on a 490 x 490 SRDTrans frame
#: both stages fall by 4-9 standard errors.
STAGE_SIGNIFICANCE, STAGE_BLOCK = 2.0, 16

Variance = Callable[[np.ndarray], np.ndarray]


def risk_terms(net: FM2SNet, planes: Sequence[np.ndarray], variance: Variance, seed: int,
               cancelled: Callable[[], bool] = lambda: False) -> list[np.ndarray]:
    """Per-pixel terms of SURE of ``net``'s result on unit-scale 2D ``planes`` (one array
    per plane): ``variance(f)`` the noise variance at the result's values; one Rademacher
    probe of :data:`~napari_fm2s.guard.PROBE` noise standard deviations, drawn from
    ``seed`` (the same for every network: their differences are paired)."""
    rng = np.random.default_rng(seed)
    out = []
    for x in planes:
        x = np.asarray(x, np.float32)
        f = apply(net, x, tile=INFERENCE_TILE, cancelled=cancelled).astype(np.float64)
        v = np.maximum(variance(f), 0.0)
        d = PROBE * np.sqrt(v) * rng.choice([-1.0, 1.0], size=x.shape)
        f2 = apply(net, (x + d).astype(np.float32), tile=INFERENCE_TILE,
                   cancelled=cancelled).astype(np.float64)
        out.append((x - f) ** 2 - v + 2.0 * d * (f2 - f) / PROBE ** 2)
    return out


def risk(net: FM2SNet, planes: Sequence[np.ndarray], variance: Variance, seed: int,
         cancelled: Callable[[], bool] = lambda: False) -> float:
    """SURE of ``net``'s result on unit-scale 2D ``planes``: the mean of
    :func:`risk_terms` over their pixels."""
    return _mean(risk_terms(net, planes, variance, seed, cancelled))


def _mean(terms: Sequence[np.ndarray]) -> float:
    return float(sum(t.sum() for t in terms) / max(sum(t.size for t in terms), 1))


def fall(before: Sequence[np.ndarray], after: Sequence[np.ndarray],
         block: int = STAGE_BLOCK) -> tuple[float, float]:
    """``(mean, standard error)`` of the fall of SURE from ``before`` to ``after`` (their
    :func:`risk_terms`): the mean over all pixels; the standard error from the means of
    the whole ``block`` x ``block`` blocks of every plane (inf with fewer than two)."""
    d = [np.asarray(b, np.float64) - a for b, a in zip(before, after)]
    means = []
    for a in d:
        h, w = a.shape[0] // block * block, a.shape[1] // block * block
        means.append(a[:h, :w].reshape(h // block, block, w // block, block)
                     .mean(axis=(1, 3)).ravel())
    m = np.concatenate(means)
    se = float(np.std(m, ddof=1) / np.sqrt(m.size)) if m.size > 1 else math.inf
    return _mean(d), se


def extra_total(stages: int = MAX_STAGES) -> int:
    """The most steps :func:`train_more` adds in ``stages`` (for a progress bar's total)."""
    return EXTRA_STEPS * stages


def train_more(net: FM2SNet, raws: Sequence[np.ndarray], p: Preset, variance: Variance,
               done: int, progress: Optional[ProgressFn] = None, cancel: CancelLike = None,
               stages: int = MAX_STAGES, where: str = "",
               schedule: FastSchedule = FastSchedule()) -> FM2SNet:
    """``net`` (trained ``done`` steps on the unit-scale ``raws`` with preset ``p``), or a
    continuation of it in up to ``stages`` stages with a lower SURE (module docstring).
    ``progress(step, total, loss)`` counts on from ``done`` to ``done +
    extra_total(stages)``, which it reaches whether or not every stage ran; ``where``: the
    log line's channel (``" (channel C=1)"``)."""
    cancelled = cancel_checker(cancel)
    total = done + extra_total(stages)
    seed = int(p.seed)
    best, best_terms = net, risk_terms(net, raws, variance, seed, cancelled)
    change, kept, falls = 0.0, 0, []
    sched = replace(schedule, warmup_steps=0, lr=schedule.lr * EXTRA_LR, batch=EXTRA_BATCH)
    last_loss, last_step = float("nan"), done
    for k in range(stages):
        raise_if(cancelled)
        start = done + k * EXTRA_STEPS

        def report(step: int, _total: int, loss: float, start: int = start) -> None:
            nonlocal last_loss, last_step
            last_loss, last_step = loss, start + step
            if progress is not None:
                progress(start + step, total, loss)

        more = copy.deepcopy(best)
        gen = torch.Generator().manual_seed(seed + 1 + k)
        sampler = CropSampler(raws, p.filter_size, p.stride, sched.crop, gen, sched.flips,
                              cancelled=cancelled)
        fit_fast(more, sampler, replace(p, fast_steps=EXTRA_STEPS, seed=seed + 1 + k),
                 sched, report, cancelled)
        terms = risk_terms(more, raws, variance, seed, cancelled)
        mean, se = fall(best_terms, terms)
        z = mean / se if se > 0 else math.copysign(math.inf, mean)
        falls.append(f"{'rose' if z < 0 else 'fell'} by {abs(z):.1f}")
        if not mean > STAGE_SIGNIFICANCE * se:  # NaN (a diverged stage) too
            break
        best, best_terms, change, kept = more, terms, change - mean, kept + 1
    noise = float(np.mean([np.mean(variance(np.asarray(x, np.float64))) for x in raws]))
    total_change = f"; in all {change / max(noise, 1e-30):+.2g} x the noise variance" \
        if kept else ""
    log.info("more training%s: %d of %d extra stages of %d steps kept (Stein's estimate of "
             "the error, stage by stage: %s standard errors; a stage is kept when it falls "
             "by more than %g%s)",
             where, kept, stages, EXTRA_STEPS, ", ".join(falls) or "-", STAGE_SIGNIFICANCE,
             total_change)
    if progress is not None and last_step < total:
        progress(total, total, last_loss)
    return best


def fit_and_more(raws: Sequence[np.ndarray], p: Preset, mode: str, device: torch.device,
                 progress: Optional[ProgressFn], cancel: CancelLike,
                 variance: Optional[Variance], planes: int = 1, where: str = "") -> FM2SNet:
    """:func:`~napari_fm2s.training.fit`, then in fast mode with a noise ``variance``
    (unit scale; white noise) :func:`train_more`, in more stages for a network that
    serves more than one of a stack's ``planes``; one progress count over both."""
    if variance is None or mode != "fast":
        return fit(raws, p, mode=mode, device=device, progress=progress, cancel=cancel)
    stages = MAX_STAGES if planes <= 1 else MAX_STAGES_STACK
    extra = extra_total(stages)
    first = None if progress is None else (
        lambda step, total, loss: progress(step, total + extra, loss))
    net = fit(raws, p, mode=mode, device=device, progress=first, cancel=cancel)
    done = FastSchedule().warmup_steps + p.fast_steps
    return train_more(net, raws, p, variance, done, progress, cancel, stages, where)
