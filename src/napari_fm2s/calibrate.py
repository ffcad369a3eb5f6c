"""Auto: estimate an image's noise and calibrate FM2S's noise injection to it.

The method (``docs/auto.md``):

1. **Measure** (:func:`measure`): residuals ``r = x - median3(x)`` on *flat* pixels
   (the half of each intensity bin with the smallest gradient of a smoothed image),
   their variance per intensity bin and their lag-1 correlation along y and x.
2. **Estimate** (:func:`estimate_noise`): the same measurement on simulated noise of
   known correlation (a table, computed once) converts the residual statistics into
   the noise's own lag-1 correlation and variance curve ``var(u) = a u + b``.
3. **Calibrate** (:func:`calibrate`): pick ``corr`` (and the median window) from the
   correlation, an over-injection factor ``F`` from the noise level, then ``k_g``,
   ``k_p``, ``lam_p`` whose synthetic noise, injected into the median target with
   :func:`napari_fm2s.noise.inject` and measured by the same :func:`measure`, has
   ``F`` times the real residual variance in every intensity bin.

Everything runs on the [0, 1] intensity scale.  No napari or Qt here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch
from scipy.ndimage import uniform_filter
from scipy.optimize import nnls

from .measure import (ANISOTROPY, BINS, CORR_ON, FLAT_FRACTION, MEASURE_FILTER,
                      MIN_BIN_PIXELS, NoiseCurve, NoiseEstimate, estimate_noise, measure,
                      noise_corr, residual_response)
from .intensity import IntensityMap
from .noise import median_target, inject, region_means
from .params import OFF
from .presets import Preset
from .texture import white_if_textured
from .medians import square_median

__all__ = ["ANISOTROPY", "BINS", "CORR_ON", "FLAT_FRACTION", "MEASURE_FILTER",
           "MIN_BIN_PIXELS", "NoiseCurve",
           "NoiseEstimate", "estimate_noise", "measure", "noise_corr", "residual_response",
           "Calibration", "calibrate", "auto_preset", "auto_calibration", "is_auto",
           "describe", "gain_determined", "noise_estimate", "offset_bounds"]

#: Calibration looks at most at this many pixels per side of a plane (a centred window),
#: and at most at CALIBRATION_PIXELS pixels over all the planes pooled.
CALIBRATION_SIDE = 512
CALIBRATION_PIXELS = 2 * 512 * 512
#: Median window for white and for correlated noise.
FILTER_WHITE, FILTER_CORRELATED = 3, 11
#: Fast-mode steps for correlated noise (white noise: the confocal preset's 400).  The
#: widefield preset's 1000 were set before auto, the flips and the guard.  On
#: WideField_BPAE_B_1, _3, _4 (default path), averaged over seeds 3407, 1 and 2, 400 steps
#: scored 35.067 / 34.841 / 33.693 dB against 35.046 / 34.749 / 33.591 with 600 (mean
#: +0.07 dB, in a third less training); seed 3407 alone favoured 600 (by 0.11-0.13 dB),
#: seeds 1 and 2 favoured 400 (by 0.04-0.24): one run's seed moves these images by up to
#: 0.4 dB (benchmarks/results/widefield_steps_seeds.txt).
STEPS_CORRELATED = 400
#: Side of the regions whose means the noise is measured against when no preset gives one
#: (the confocal preset's, auto's base).
NOISE_STRIDE = 75
#: The tunables (``params.PARAMS``) calibration chooses; the others come from the base
#: preset (and a user's own values win over both).
CALIBRATED = ("k_g", "k_p", "lam_p", "corr", "filter_size", "channels", "fast_steps")


@dataclass(frozen=True)
class Calibration:
    """What :func:`calibrate` chose and why."""

    preset: Preset
    estimate: NoiseEstimate
    factor: float  # synthetic / real variance aimed at
    real: NoiseCurve
    synthetic: NoiseCurve  # the chosen parameters' noise, measured like ``real``

    @property
    def ratio(self) -> np.ndarray:
        """Synthetic over real residual variance, per bin both curves have."""
        rv, sv, _ = _match(self.real, self.synthetic)
        return sv / np.maximum(rv, 1e-20)


def over_injection(est: NoiseEstimate) -> float:
    """Synthetic / real noise variance to aim at, from the noise level.

    The authors' avg1 presets inject 3-4x the real variance on the FMD images and less
    at lower noise levels; this rule follows them: ``F`` grows with the noise std at
    the image's median intensity ``s`` (unit scale), ``F = clip(s / 0.012, 1.5, cap)``,
    ``cap`` 3 for white noise and 2.3 for correlated noise (the WideField avg1 preset
    injects 0.8-3x where most of its pixels lie, less than the others' 3-5x).
    """
    cap = FACTOR_MAX_CORRELATED if est.correlated else FACTOR_MAX
    return float(np.clip(est.std_at_median / FACTOR_STD, FACTOR_MIN, cap))


#: Parameters of :func:`over_injection`.
FACTOR_STD, FACTOR_MIN, FACTOR_MAX, FACTOR_MAX_CORRELATED = 0.012, 1.5, 3.0, 2.3


def calibration_side(planes: int, stride: int = 1) -> int:
    """Side of the centred window taken from each of ``planes`` pooled planes."""
    side = min(CALIBRATION_SIDE, int(np.sqrt(CALIBRATION_PIXELS / max(planes, 1))))
    return max(stride, side) if side < CALIBRATION_SIDE else side


def window(shape: Sequence[int], stride: int, side: int = CALIBRATION_SIDE
           ) -> tuple[slice, slice]:
    """A centred window of at most ``side`` pixels per axis of a (Y, X) plane, starting on
    the ``stride`` grid (so region means match the whole plane's)."""
    out = []
    for n in shape[-2:]:
        if n <= side:
            out.append(slice(0, n))
        else:
            start = ((n - side) // 2 // stride) * stride
            out.append(slice(start, start + side))
    return out[0], out[1]


def _pooled(image: np.ndarray | Sequence[np.ndarray], stride: int) -> np.ndarray:
    """(k, Y, X) float32 windows of one plane or of several (equal-shaped) planes."""
    planes = [np.asarray(image)] if np.ndim(image) == 2 else list(image)
    side = calibration_side(len(planes), stride)
    return np.stack([np.asarray(q[window(q.shape, stride, side)], np.float32)
                     for q in planes])


def _params(c: np.ndarray) -> tuple[float, float, float]:
    """(k_g, k_p, lam_p) from the coefficients of (u, u m, (m/255)^2)."""
    lam_p = 1e7 if c[0] <= 1e-7 else min(1e7, 1.0 / c[0])
    k_p = 1e7 if c[1] <= 1e-7 else min(1e7, 1.0 / c[1])
    k_g = float(min(1e5, np.sqrt(max(c[2], 0.0))))
    return float(k_g), float(k_p), float(lam_p)


def _synthetic(u: torch.Tensor, means: torch.Tensor, p: Preset, edges: np.ndarray,
               seed: int) -> NoiseCurve:
    gen = torch.Generator().manual_seed(seed)
    y = inject(u, p.k_g, p.k_p, p.lam_p, p.stride, generator=gen, means=means,
               corr=p.noise_corr, black=p.black)
    return measure(y[:, 0].numpy(), edges=edges)


def _match(real: NoiseCurve, syn: NoiseCurve) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Real and synthetic variance and weights on the bins both have (same edges)."""
    rb = np.digitize(real.level, real.edges) - 1
    sb = {int(b): i for i, b in enumerate(np.digitize(syn.level, syn.edges) - 1)}
    keep = [(i, sb[int(b)]) for i, b in enumerate(rb) if int(b) in sb]
    if not keep:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    ri, si = (np.asarray(v) for v in zip(*keep))
    return real.variance[ri], syn.variance[si], real.count[ri].astype(float)


def noise_estimate(image: np.ndarray | Sequence[np.ndarray], stride: int) -> NoiseEstimate:
    """The noise of one plane or of several pooled, measured on the windows
    :func:`calibrate` measures (a saved auto model's guard reads it, see pipeline)."""
    x = _pooled(image, stride)
    return white_if_textured(estimate_noise(x), x)


def calibrate(image: np.ndarray | Sequence[np.ndarray], factor: Optional[float] = None,
              seed: int = 0, base: Optional[Preset] = None, iterations: int = 2,
              black: Optional[float] = None) -> Calibration:
    """Choose FM2S injection parameters for ``image`` (unit scale): one (Y, X) plane, or
    several planes of a stack (a sequence or a (k, Y, X) array) pooled into one estimate.

    ``factor`` overrides :func:`over_injection`.  ``base`` gives the parameters
    auto does not choose (samples, lr, seed, ...); its stride is kept.  ``black`` (unit
    scale) is the camera offset the Poisson part acts above; ``None``: 0, the offset is
    only estimated (``estimate.offset``) and reported.  Measured on the TIRF sCMOS stack
    (benchmarks/camera.py): injecting above the estimated offset gave 28.40 dB against
    29.74 dB at 0 (the offset-including injection over-injects in the dark background, which
    the leave-one-out score rewards); on FMD it cost 0.42 dB on Confocal_BPAE_B_1.
    """
    from .presets import get_preset

    stride = NOISE_STRIDE if base is None else base.stride
    x = _pooled(image, stride)
    est = white_if_textured(estimate_noise(x), x)
    real = est.curve
    template = get_preset("widefield" if est.correlated else "confocal")
    base = template if base is None else base
    blk = 0.0 if black is None else float(black)
    cy, cx = est.corr_yx if est.anisotropic else (None, None)  # row / column noise
    corr = (est.corr_yx[0] + est.corr_yx[1]) / 2 if est.anisotropic else est.corr
    p = base.with_overrides(
        name="auto", filter_size=template.filter_size, channels=template.channels,
        fast_steps=STEPS_CORRELATED if est.correlated else template.fast_steps,
        corr=corr if est.correlated else 0.0, black=blk,
        corr_y=cy, corr_x=cx,
        source="calibrated from the image (napari_fm2s.calibrate)",
        description="Calibrated from the image (preset='auto')")
    f = over_injection(est) if factor is None else float(factor)
    u_np = np.stack([median_target(q, p.filter_size) for q in x])
    u = torch.from_numpy(u_np)[:, None]
    means = region_means(u, p.stride)
    # analytic start: injected variance = c0 s + c1 s m_s + c2 (m / 255)^2 (s = u - black,
    # photons; m_s their region means, m the target's), averaged per bin of the real curve
    m_np = means[:, 0].numpy()
    s_np = np.maximum(u_np - blk, 0.0)
    ms_np = region_means(torch.from_numpy(s_np)[:, None], p.stride)[:, 0].numpy() \
        if blk > 0 else m_np
    level = uniform_filter(square_median(u_np, MEASURE_FILTER), (1, 5, 5))
    which = np.digitize(level, real.edges) - 1
    rows, target, weight = [], [], []
    for lv, v, n in zip(real.level, real.variance, real.count):
        i = int(np.clip(np.searchsorted(real.edges, lv, side="right") - 1, 0,
                        real.edges.size - 2))
        sel = which == i
        if sel.sum() < 10:
            continue
        ss, ms, mm = s_np[sel], ms_np[sel], m_np[sel]
        rows.append([ss.mean(), (ss * ms).mean(), ((mm / 255.0) ** 2).mean()])
        target.append(f * v / est.kappa)
        weight.append(np.sqrt(n) / max(f * v / est.kappa, 1e-12))
    c = np.zeros(3)
    if rows:
        A = np.asarray(rows) * np.asarray(weight)[:, None]
        scale = A.max(axis=0)
        scale[scale == 0] = 1.0
        c, _ = nnls(A / scale, np.asarray(target) * np.asarray(weight))
        c = c / scale
    if not np.any(c > 0):  # no usable bin: start from Gaussian noise, the loop scales it
        c = np.array([0.0, 0.0, 1.0])
    syn = None
    for it in range(iterations + 1):
        k_g, k_p, lam_p = _params(c)
        p = p.with_overrides(k_g=k_g, k_p=k_p, lam_p=lam_p)
        syn = _synthetic(u, means, p, real.edges, seed + it)
        rv, sv, w = _match(real, syn)
        if it == iterations or rv.size == 0:
            break
        ratio = float(np.exp(np.average(np.log(f * rv / np.maximum(sv, 1e-20)), weights=w)))
        c = c * ratio
    assert syn is not None
    return Calibration(p, est, f, real, syn)


#: A gain whose standard error is above this fraction of it is reported as uncertain
#: (sparse puncta on a flat background, every flat level within 1.3 ADU: 0.47; the 20 FMD
#: captures, the TIRF stack and 10 simulated camera kinds: at most 0.13).
GAIN_UNSURE = 0.25


def gain_determined(est: NoiseEstimate) -> bool:
    """The noise line's slope (the gain) is measured: its standard error at most
    :data:`GAIN_UNSURE` of it."""
    return est.gain > 0 and bool(np.isfinite(est.gain_se)) and \
        est.gain_se <= GAIN_UNSURE * est.gain


#: The darkest bin's level reads this far below a flat background, in its noise std
#: (0.34 on 64-512 px planes of pure read noise, 0.16 on 64 px): added to the offset's
#: upper bound (helper 27: "at most 99.44" on an empty channel at offset 100).
DARK_BIAS = 0.5


def offset_bounds(est: NoiseEstimate, imap: IntensityMap) -> tuple[float, float]:
    """The estimated camera offset's range in input units: from where the noise variance
    line reaches zero (:attr:`~napari_fm2s.measure.NoiseEstimate.offset`, a lower bound;
    NaN where the line gives none: its zero at or below the intensity scale's 0, or its
    slope not :func:`gain_determined`) to the darkest flat level (a background holds no
    fewer than 0 photons), plus :data:`DARK_BIAS` of its noise (picked as the darkest, it
    reads low)."""
    lo = est.offset if est.offset > 0 and gain_determined(est) else float("nan")
    hi = est.dark + DARK_BIAS * est.read_noise
    return float(lo * imap.scale + imap.offset), float(hi * imap.scale + imap.offset)


def _camera_text(est: NoiseEstimate, imap: IntensityMap) -> str:
    """"offset LO to HI (...)", or "at most HI" where the noise line gives no lower bound
    (:func:`offset_bounds`)."""
    lo, hi = offset_bounds(est, imap)
    if np.isnan(lo):
        return (f"offset at most {hi:.6g} (estimated: the darkest background level; the "
                "noise line gives no lower bound here; not subtracted)")
    return (f"offset {lo:.6g} to {hi:.6g} (estimated: between the noise variance line's "
            "zero and the darkest background level; not subtracted)")


def _gain_text(est: NoiseEstimate, imap: IntensityMap) -> str:
    """"gain G +/- SE per photon", or "gain uncertain (...)" (:func:`gain_determined`)."""
    g, se = est.gain * imap.scale, est.gain_se * imap.scale
    if gain_determined(est):
        return f"gain {g:.4g} +/- {se:.2g} per photon"
    return (f"gain uncertain ({g:.3g} +/- {se:.2g} per photon: too few flat pixels, or "
            "their levels too alike, to measure how the noise rises with the signal)")


def describe(q: Preset, est: NoiseEstimate, imap: IntensityMap, offset_given: bool,
             given: Sequence[str] = ()) -> str:
    """One line: the parameters ``q`` trains with (unrounded: passed back, they train the
    same; those named in ``given`` marked as the user's) and the camera model in input
    units (:func:`_camera_text`, :func:`_gain_text`); the read noise as the noise measured
    at the darkest level, which holds it and that level's shot noise."""
    offset = f"offset {q.black * imap.scale + imap.offset:.6g} (given)" if offset_given \
        else _camera_text(est, imap)
    camera = f"{offset}, {_gain_text(est, imap)}"
    cy, cx = est.corr_yx
    rows = "" if q.corr_y is None else \
        f" (line noise along {'x, within rows' if cx > cy else 'y, within columns'}: injected so)"
    if est.textured:
        rows += (" (the residuals' correlation read as fine structure, not correlated "
                 "noise: white noise assumed, texture.white_if_textured)")
    values = {k: f"none ({OFF[k][1]})" if getattr(q, k) == OFF[k][0] else repr(getattr(q, k))
              for k in ("k_g", "k_p", "lam_p")}
    values.update(corr=repr(q.noise_corr), median=repr(q.filter_size),
                  channels=repr(q.channels))
    names = {"median": "filter_size"}
    chosen = ", ".join(f"{k} {v}" + (" (given)" if names.get(k, k) in given else "")
                       for k, v in values.items())
    return (f"{camera}, read noise at most {est.read_noise * imap.scale:.4g}"
            f" (input units); noise corr y {cy:.2f} x {cx:.2f}{rows}; {chosen}")


def is_auto(preset: object) -> bool:
    """``preset`` names auto calibration (``"auto"``, any case)."""
    return isinstance(preset, str) and preset.strip().lower() == AUTO


#: The preset name that calibrates from the image.
AUTO = "auto"


def auto_calibration(image: np.ndarray, seed: int = 0,
                     offset: Optional[float] = None) -> Calibration:
    """:func:`calibrate` for a 2D image in its own units (intensity mapping as
    :func:`napari_fm2s.denoise` maps it); ``offset``: the camera's black level in the
    image's units (None: estimated)."""
    from .checks import check_image
    from .intensity import intensity_map

    plane = check_image(image, FILTER_CORRELATED)
    imap = intensity_map(plane)
    black = None if offset is None else (float(offset) - imap.offset) / imap.scale
    return calibrate(imap.to_unit(plane), seed=seed, black=black)


def auto_preset(image: np.ndarray, seed: int = 0, offset: Optional[float] = None) -> Preset:
    """The preset ``preset='auto'`` trains with on ``image`` (2D, its own units)."""
    return auto_calibration(image, seed, offset).preset
