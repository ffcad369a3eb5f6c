"""Do no harm: keep constant areas constant, never do worse than a Gaussian blur, and
blend the result back toward the input where the denoiser removed more than the noise.

The rule (``docs/auto.md``, "Do no harm").  With ``x = s + n`` (noise variance ``v`` per
pixel, from the calibration's estimate), a result ``f`` and the removed part
``r = x - f``, the blend ``x - alpha r`` has the expected squared error

    E|n - alpha r|^2 = v - 2 alpha (v - t) + alpha^2 E[r^2],   t = E[n (f - s)] = v div f,

(Stein's lemma), smallest at ``alpha = (v - t) / E[r^2]``.  When ``f`` removed only noise,
``E[r^2] = v - 2t + |f - s|^2`` is about ``v - t`` and ``alpha`` is 1: nothing changes.
Where it removed signal too (a low-noise image, fine structure), ``E[r^2]`` exceeds the
noise and ``alpha < 1`` puts part of the input back.  Every expectation is a local mean
(9 x 9 pixels); ``t`` is estimated by Monte Carlo (one more pass of the network on the
input plus a small probe noise of the measured correlation, averaged over 33 x 33).
``alpha`` is raised by a margin (the noise model's uncertainty and the local means'
fluctuation), so it lies between the optimum and 1: never worse than ``f``, and not
worse than the input while the margin stays under 2 (1.97 for white noise; correlated
noise, whose local means fluctuate more, gets a wider one), up to the accuracy of ``v``
and ``t``.

Before that, the same estimate compares ``f`` with two plain estimates of the input,
in turn: a wide median ``m`` (:func:`wide_median`, 33 x 33; its ``t`` by the same Monte
Carlo probe), then a Gaussian blur ``g`` (sigma 1), whose ``t`` is exact (``v`` times
the kernel's weights summed against the noise's autocorrelation).  Each time the result
becomes ``f + beta (c - f)`` with the ``beta`` in [0, 1] that minimises the estimated
error over 33 x 33 windows, less a margin of standard deviations of the estimate.  Their
errors differ from the network's: in flat areas and with correlated (wide-field) noise
the network leaves grain that the wide median averages out; at low photon counts
(photon counting, EMCCD) the median target is coarse and the blur can be the better
estimate there; where the network is better, ``beta`` is 0.

Both the network's result and the median first get the input's local mean back
(:func:`keep_mean`): on skewed, low-count noise both fall below it (Confocal_FISH_1:
-2.5 % and -29 %), which shifted intensities; with it the 20 FMD images gained +0.09 dB
on average and photon-counting data +0.9 dB (benchmarks/results/fmd_table_keepmean.txt,
camera_kinds.txt).

All of it rests on ``v``.  The calibration's estimate can run high (FMD confocal images,
against their ground truth: 1.3-2x), which makes smoother estimates look better than
they are, so ``v`` is capped where the result itself shows less noise:
``E[(x - f)^2] = v (1 - 2 div f) + E[(f - s)^2] >= v (1 - 2 div f)`` (33 x 33 means;
the put-back scales ``v`` to that bound, keeping its rise with intensity, the blends
before it cut ``v`` there: :func:`capped_variance`).

Last, on white noise, what the result removed on average over a few pixels of one
intensity, where that exceeds 2 standard errors of such a mean of noise, is given back
(:func:`~napari_fm2s.local_mean.local_bias`: a network's undershoot beside a bright edge).

No napari or Qt here.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import torch
from scipy.ndimage import (gaussian_filter, maximum_filter, median_filter, minimum_filter,
                           uniform_filter)

from .clipped import clipped_floor
from .defects import EIGHT, HOT_RATIO, HOT_SD, ring_excess
from .local_mean import BIAS_REACH, REACH, Layers, keep_mean, local_bias
from .measure import CORR_ON
from .noise import colour_kernel, colour_noise
from .medians import wide_median

#: Radius of the local windows of the blend toward the input, of the divergence's mean,
#: and of the choice of the blur's share (pixels).
BLEND_RADIUS, TRACE_RADIUS, BLUR_RADIUS = 4, 16, 16
#: The blur the result is compared with: Gaussian, sigma in pixels (scipy's kernel,
#: truncated at 4 sigma).
BLUR_SIGMA = 1.0
#: Side of the window of :func:`wide_median`, the median the result is compared with.
#: History, square medians (``scipy.ndimage.median_filter``), seed 3407, TIRF /
#: Confocal_FISH_1 / TwoPhoton_MICE_3 / WideField_BPAE_B_4: with the variance cap, 11 x 11
#: (FM2S's wide-field target) scored +0.024 dB over the training target's 3 x 3 on the 16
#: FMD confocal / two-photon images; once the median keeps the input's local mean
#: (:func:`keep_mean`), wider did better: 9: 29.901 / 32.015 / 34.354 / 33.431; 11: 29.910
#: / 32.052 / 34.395 / 33.516; 17: 29.930 / 32.072 / 34.469 / 33.540; 21: 29.935 / 32.077
#: / 34.480 / 33.545; 25: 29.939 / 32.082 / 34.483 / 33.527, each size step costing more
#: (17 x 17: ~1 s per 512 x 512 median on one core).  The mean of the two separable
#: medians scored as well or better at a fraction of the cost (20 FMD images / TIRF, seed
#: 3407; square 17: 34.203 / 29.930): 25: 34.214 / 29.948; 33: 34.216 / 29.954; 45:
#: 34.216 / 29.955 (no image more than 0.02 dB below square 17); one order alone (rows
#: then columns, 33): 34.209 / 29.938.  33: benchmarks/results/fmd_table_widemedian.txt,
#: camera_guard.txt; the others one-off runs (docs/auto.md).
MEDIAN_WINDOW = 33
#: Standard deviations of evidence the median's share needs (any noise).  Measured (3 x 3,
#: fast, auto, seed 3407; without the median / 2 sd for correlated noise only / 2 sd for
#: any): WideField_BPAE_B_1 34.63 / 35.18 / 35.18, _B_4 32.94 / 33.63 / 33.63;
#: TwoPhoton_MICE_3 34.38 / 34.44 / 34.50; Confocal_FISH_1 31.91 / 31.87 / 31.90.
MEDIAN_SIGNIFICANCE = 2.0
#: The variance cap's ``1 - 2 div f`` is floored here (a result that keeps half the noise
#: or more bounds nothing).
CAP_FLOOR = 0.1
#: Standard deviations of evidence the blur's share needs (any noise).  Measured (fast,
#: auto, seed 3407): WideField_BPAE_B_1 (corr 0.6) 34.48 dB without the blur, 34.23 with
#: no margin, 34.41 with 1, 34.50 with 2.  On white noise, with none, a share clipped at 0
#: took the estimate's noise as gain: SRDTrans frames 0 / 3 / 6 lost 0.07 dB (offset-
#: matched) to the blur (12-19 % shares); with 2: +0.005 dB on SRDTrans, -0.002 on the 20
#: FMD images, +0.04 over the blur on ``benchmarks/camera_kinds.py`` (docs/auto.md).
BLUR_SIGNIFICANCE = 2.0
#: Blend only where the removed part exceeds the noise by more than this many standard
#: deviations of a local mean of squared noise (``sqrt(2 / n)`` for ``n`` pixels).
SIGNIFICANCE = 2.0
#: ... and by more than this fraction of the noise model: the local noise can exceed the
#: fitted curve (pixel-to-pixel read noise of sCMOS cameras, estimate errors of ~30 % on
#: FMD images).
MODEL_MARGIN = 0.5
#: Size of the Monte Carlo probe, relative to the noise std.
PROBE = 0.1
#: The guard is reported when it puts back at least this fraction of the removed part on
#: average over a plane.
REPORT_FRACTION = 0.02
#: Window of :func:`constant_areas`: a pixel in a constant window of this size is kept ...
CONSTANT_WINDOW = 5
#: ... where chance would rarely make one: a value held by a fraction ``f`` of the plane
#: (other than a clipped floor, :func:`~napari_fm2s.clipped.clipped_floor`) needs a window
#: of ``n`` pixels with ``f ** n`` under this.  Photon counts at 0.08 per pixel are 93 %
#: zeros, and 14 % of their 5 x 5 windows hold only zeros: kept as 0, they halved the
#: image's mean and put it 0.4 dB below a Gaussian blur (helper 24).  A clipped floor's
#: zeros are kept at 5 x 5: wider, ``benchmarks/clipped.py`` lost 0.8 dB over the blur.
CONSTANT_CHANCE = 1e-8


def _constant_centres(x: np.ndarray, side: int) -> np.ndarray:
    return maximum_filter(x, side, mode="nearest") == minimum_filter(x, side, mode="nearest")


def constant_areas(x: np.ndarray, size: int = CONSTANT_WINDOW) -> np.ndarray:
    """Pixels of a (Y, X) plane that lie in a constant window (zero padding after
    registration, clipped plateaus): they carry no noise to remove.  The window is
    ``size`` x ``size``, wider for a value so common that such windows come by chance
    (:data:`CONSTANT_CHANCE`: the zeros of sparse photon counts, not a clipped floor)."""
    flat = _constant_centres(x, size)
    if not flat.any():
        return flat
    vals = np.unique(x[flat])
    frac = np.bincount(np.searchsorted(vals, x[np.isin(x, vals)]), minlength=vals.size) / x.size
    common = frac ** (size * size) >= CONSTANT_CHANCE
    if common[0] and clipped_floor(x, vals[0]):  # vals[0]: the smallest, maybe the minimum
        common[0] = False
    keep = maximum_filter(flat & ~np.isin(x, vals[common]), size, mode="constant", cval=False)
    for v, f in zip(vals[common], frac[common]):
        n = np.log(CONSTANT_CHANCE) / np.log(f) if f < 1 else np.inf
        side = int(min(np.ceil(np.sqrt(n)), max(x.shape))) | 1  # odd: a centred window
        keep |= maximum_filter((x == v) & _constant_centres(x, side), side, mode="constant",
                               cval=False)
    return keep


def blend_weight(x: np.ndarray, f: np.ndarray, var: np.ndarray, trace: np.ndarray,
                 corr: tuple[float, float] = (0.0, 0.0),
                 radius: int = BLEND_RADIUS) -> np.ndarray:
    """``alpha`` in [0, 1] per pixel (module docstring): local means over ``2 radius + 1``
    windows of the noise variance ``var`` minus ``trace`` (the Monte Carlo ``v div f``
    terms), over the removed part's ``(x - f)^2``, times a margin: :data:`MODEL_MARGIN`
    and :data:`SIGNIFICANCE` standard deviations of a local mean of squared noise (noise
    of lag-1 correlation ``corr`` along (y, x) averages over fewer independent pixels)."""
    size = 2 * radius + 1
    r2 = uniform_filter((x - f) ** 2, size, mode="reflect")
    kept = uniform_filter(var - trace, size, mode="reflect")
    spread = np.sqrt(2.0 / effective_pixels(size, corr))
    margin = (1.0 + MODEL_MARGIN) * (1.0 + SIGNIFICANCE * spread)
    return np.clip(margin * kept / np.maximum(r2, 1e-30), 0.0, 1.0)


def effective_pixels(size: int, corr: tuple[float, float]) -> float:
    """Independent pixels in a ``size`` x ``size`` mean of squared noise coloured with
    :func:`napari_fm2s.noise.colour_kernel` (``corr`` along y and x): ``size^2`` over
    the sum of the squared autocorrelations, per axis ``1 + 2 rho_1^2 + 2 rho_2^2``."""
    n = float(size * size)
    for c in corr:
        n /= 1.0 + 2.0 * float(c) ** 2 + 2.0 * lag2_correlation(c) ** 2
    return n


def lag2_correlation(corr: float) -> float:
    """Lag-2 autocorrelation of noise coloured with the 3-tap
    :func:`napari_fm2s.noise.colour_kernel` (unit energy) of lag-1 ``corr``."""
    k = colour_kernel(max(float(corr), 0.0))
    return float(k[0] * k[2])


def rademacher(shape: tuple[int, int], origin: tuple[int, int] = (0, 0),
               seed: int = 0) -> np.ndarray:
    """+-1 per pixel, a hash of its (y, x) in the plane (``origin``: the block's first
    pixel): a lazy chunk draws the same probe as the whole plane."""
    y = np.arange(origin[0], origin[0] + shape[0], dtype=np.uint64)[:, None]
    x = np.arange(origin[1], origin[1] + shape[1], dtype=np.uint64)[None, :]
    h = y * np.uint64(0x9E3779B97F4A7C15) ^ (x + np.uint64(seed)) * np.uint64(0xC2B2AE3D27D4EB4F)
    h ^= h >> np.uint64(31)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(29)
    return np.where(h & np.uint64(1 << 40), 1.0, -1.0)


def probe_trace(x: np.ndarray, f: np.ndarray, std: np.ndarray, corr: tuple[float, float],
                run: Callable[[np.ndarray], np.ndarray],
                origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Per-pixel Monte Carlo terms of ``sum_ij C_ij df_i/dx_j`` (``C``: the noise
    covariance): ``std_i b_i (run(x + e std b) - f)_i / e`` for a probe ``b``
    (:func:`rademacher`, coloured to the noise's correlation), ``e`` = :data:`PROBE`."""
    b = rademacher(x.shape, origin)
    if corr[0] > 0 or corr[1] > 0:
        t = torch.from_numpy(b)[None, None]
        b = colour_noise(t, (max(corr[0], 0.0), max(corr[1], 0.0)))[0, 0].numpy()
    probe = b * std
    moved = run((x + PROBE * probe).astype(np.float32))
    return probe * (moved.astype(np.float64) - f) / PROBE


def blur_trace_factor(corr: tuple[float, float], sigma: float = BLUR_SIGMA) -> float:
    """``E[n_i g_i] / v`` for the Gaussian blur ``g`` of noise ``n`` of variance ``v``
    coloured with :func:`napari_fm2s.noise.colour_kernel` (lag-1 ``corr`` along y, x):
    per axis the kernel's weights summed against the noise's autocorrelation (lags 0-2)."""
    delta = np.zeros(2 * int(4 * sigma + 0.5) + 1)
    c = len(delta) // 2
    delta[c] = 1.0
    w = gaussian_filter(delta, sigma, mode="constant")
    out = 1.0
    for r1 in corr:
        rho = (1.0, max(float(r1), 0.0), lag2_correlation(r1))
        out *= w[c] + 2.0 * sum(w[c + lag] * rho[lag] for lag in (1, 2))
    return out


#: Windows nest (divergence, the median's share, the blur's share, the blend) around the
#: widest filter (the median and the local mean it keeps, or the blur's kernel), after
#: the hot pixels' 5 x 5 test: a lazy chunk needs GUARD_RADIUS of halo beyond the network's.
GUARD_RADIUS = (TRACE_RADIUS + 2 * BLUR_RADIUS + BLEND_RADIUS + 2 + BIAS_REACH
                + max(int(4 * BLUR_SIGMA + 0.5), MEDIAN_WINDOW // 2 + REACH))


def toward(x: np.ndarray, f: np.ndarray, tf: np.ndarray, c: np.ndarray, tc: np.ndarray,
           var: np.ndarray, corr: tuple[float, float], significance: float = 0.0
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(h, th, beta)``: ``h = f + beta (c - f)`` with ``beta`` in [0, 1] minimising the
    estimated error over windows of ``2 BLUR_RADIUS + 1``, less ``significance``
    standard deviations of the estimate (module docstring); ``tf``, ``tc``, ``th``: the
    ``v div`` terms of ``f``, ``c`` and ``h``."""
    size = 2 * BLUR_RADIUS + 1

    def local(a: np.ndarray) -> np.ndarray:
        return uniform_filter(a, size, mode="reflect")

    d = c - f
    gain = local((x - f) * d) - local(tc - tf)  # half the error's slope at beta = 0
    if significance > 0:
        # local sums of non-negative terms can come out a rounding error below 0
        gain -= significance * np.sqrt(np.maximum(local(var * d * d), 0.0)
                                       / effective_pixels(size, corr))
    beta = np.clip(gain / np.maximum(local(d * d), 1e-30), 0.0, 1.0)
    return f + beta * d, tf + beta * (tc - tf), beta


def toward_blur(x: np.ndarray, f: np.ndarray, var: np.ndarray, tf: np.ndarray,
                corr: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`toward` the Gaussian blur of ``x`` (sigma :data:`BLUR_SIGMA`, exact ``v
    div``), with :data:`BLUR_SIGNIFICANCE` standard deviations of evidence."""
    g = gaussian_filter(x, BLUR_SIGMA, mode="reflect")
    return toward(x, f, tf, g, blur_trace_factor(corr) * var, var, corr, BLUR_SIGNIFICANCE)


def divergence(x: np.ndarray, out: np.ndarray, var: np.ndarray, corr: tuple[float, float],
               run: Callable[[np.ndarray], np.ndarray], origin: tuple[int, int]
               ) -> np.ndarray:
    """``div out`` of ``out = run(x)`` (noise covariance weighted, in units of ``var``):
    the Monte Carlo probe's terms averaged over ``2 TRACE_RADIUS + 1`` windows (one probe
    is noisy: the divergence, a smooth property of ``run``, is averaged wider), clipped
    to [0, 1].  ``v div`` is the covariance term the estimates use."""
    size = 2 * TRACE_RADIUS + 1
    trace = probe_trace(x, out, np.sqrt(np.maximum(var, 0.0)), corr, run, origin)
    div = uniform_filter(trace, size, mode="reflect") / np.maximum(
        uniform_filter(var, size, mode="reflect"), 1e-30)
    return np.clip(div, 0.0, 1.0)


def capped_variance(x: np.ndarray, f: np.ndarray, var: np.ndarray, div: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """``(cut, scaled)``: ``var`` where the result agrees with it, else bounded by the
    most noise the result ``f`` (of divergence ``div``) can have removed, ``bound =
    mean((x - f)^2) / (1 - 2 div)`` over ``2 TRACE_RADIUS + 1`` windows (module
    docstring): ``cut = min(var, bound)``, ``scaled = var * min(1, bound / mean(var))``.

    The bound is a window's mean: the scaled variance keeps the noise model's rise with
    intensity inside the window, the cut one holds a bright cell's pixels to the window's
    mean (0.4 of their true variance on 64 px sCMOS planes).  The put-back uses the
    scaled one (with the cut one it returned noise to bright cells: 64 px planes 0.9 dB
    lower, 4 of 10 below the blur; ``benchmarks/small_planes.py``), the blends toward the
    median and the blur the cut one (scaled there: EMCCD spots -0.17 dB,
    ``benchmarks/camera_kinds.py``)."""
    size = 2 * TRACE_RADIUS + 1
    # a running local mean of squares can dip a rounding error below 0 next to a constant
    # (zero-padded) area: clipped, else its square root is NaN and spreads over the plane
    r2 = np.maximum(uniform_filter((x - f) ** 2, size, mode="reflect"), 0.0)
    bound = r2 / np.maximum(1 - 2 * div, CAP_FLOOR)
    mean_var = np.maximum(uniform_filter(var, size, mode="reflect"), 1e-30)
    return np.minimum(var, bound), var * np.minimum(1.0, bound / mean_var)


#: :func:`without_hot_pixels`' ratio on the plane's floor (a clipped export's zeros),
#: where a spike's neighbour is often another spike of censored noise: twice suffices
#: there, as before stop 33 (with :data:`~napari_fm2s.defects.HOT_RATIO`, `clipped.py`
#: fell from +2.039 to +1.760 dB over the blur).
FLOOR_HOT_RATIO = 2.0


def without_hot_pixels(x: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """``x`` (a (Y, X) plane, noise std ``sd``) with each hot pixel replaced by the median
    of its 8 neighbours: a pixel whose excess over the median of the 5 x 5 ring around it
    is above :data:`HOT_SD` noise standard deviations and more than
    :data:`~napari_fm2s.defects.HOT_RATIO` times its brightest neighbour's (a spot's
    peak, whose PSF reaches its neighbours, is kept: at twice, a spot of sigma 0.81 px
    lost half its peak, helper 26; on the plane's floor twice, as before: a clipped
    export's spikes come in pairs; on the FMD, SRDTrans and TIRF images 0-1 pixel
    each).  The network removes such a pixel as the median target does; compared with
    it, the guard would read the sCMOS defect as removed signal and put it back, with
    the noise of the 9 x 9 window around it."""
    base, excess, brightest = ring_excess(x)
    ratio = np.where(base > x.min(), HOT_RATIO, FLOOR_HOT_RATIO)
    hot = (excess > HOT_SD * sd) & (excess > ratio * np.maximum(brightest, 0.0))
    if not hot.any():
        return x
    out = x.copy()
    out[hot] = median_filter(x, footprint=EIGHT, mode="reflect")[hot]
    return out


def guard(x: np.ndarray, f: np.ndarray, var: np.ndarray, corr: tuple[float, float],
          run: Callable[[np.ndarray], np.ndarray], origin: tuple[int, int] = (0, 0),
          layers: Optional[Layers] = None) -> tuple[np.ndarray, float, float, float]:
    """The guarded result of one unit-scale plane (or block of it, its first pixel at
    ``origin``): ``x`` the network's input (camera defects repaired:
    :func:`napari_fm2s.defects.without_defects`; its own, looser, hot-pixel rule cleans
    only its reference, :func:`without_hot_pixels`), ``f`` its output, ``var`` the noise
    variance per pixel (the calibration's), ``run`` the network.  Returns the result, the
    median's and the blur's mean shares, and the mean fraction of the removed part put back.
    ``layers``: the noise model's layer coordinate
    (:meth:`~napari_fm2s.noise_model.NoiseModel.layers`) for :func:`keep_mean` and, on
    white noise, the last step: the result's significant local biases given back
    (:func:`~napari_fm2s.local_mean.local_bias`)."""
    sd = np.sqrt(np.maximum(var, 0.0))
    x64 = without_hot_pixels(x.astype(np.float64), sd)

    def mean_of(a: np.ndarray, of: np.ndarray) -> np.ndarray:
        return keep_mean(a, of.astype(np.float64), sd, layers, origin)

    f64 = mean_of(f.astype(np.float64), x64)

    def network(a: np.ndarray) -> np.ndarray:
        return mean_of(run(a).astype(np.float64), a)

    div_f = divergence(x64, f64, var, corr, network, origin)
    v, v_scaled = capped_variance(x64, f64, var, div_f)

    def median(a: np.ndarray) -> np.ndarray:
        return mean_of(wide_median(a, MEDIAN_WINDOW), a)

    m = median(x64)
    tm = divergence(x64, m, v, corr, median, origin) * v
    h, th, gamma = toward(x64, f64, div_f * v, m, tm, v, corr, MEDIAN_SIGNIFICANCE)
    h, th, beta = toward_blur(x64, h, v, th, corr)
    # th is v times h's divergence: the same divergence at the scaled variance
    rescale = np.divide(v_scaled, v, out=np.zeros_like(v), where=v > 0)
    alpha = blend_weight(x64, h, v_scaled, th * rescale, corr)
    out = h + (1.0 - alpha) * (x64 - h)
    if layers is not None and max(corr) < CORR_ON:  # white noise: local biases back
        # the cut variance's sd: with the scaled one 64 / 128 px planes lost 0.07 / 0.10 dB
        out += local_bias(x64 - out, np.sqrt(v), layers, out, origin)
    return (out.astype(np.float32), float(np.mean(gamma)), float(np.mean(beta)),
            float(np.mean(1 - alpha)))
