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
from functools import lru_cache
from typing import Optional

import numpy as np
import torch
from scipy.ndimage import gaussian_filter, median_filter, uniform_filter
from scipy.optimize import nnls

from .noise import MAX_CORR, colour_noise, inject, median_target, region_means
from .presets import Preset

#: Median window of the residuals (real and synthetic alike).
MEASURE_FILTER = 3
#: Intensity bins of the variance curve.
BINS = 12
#: Smallest number of flat pixels a bin needs to count.
MIN_BIN_PIXELS = 100
#: Fraction of each intensity bin (lowest smoothed gradient) counted as flat.
FLAT_FRACTION = 0.25
#: Calibration looks at most at this many pixels per side (a centred window).
CALIBRATION_SIDE = 512
#: Noise whose lag-1 correlation reaches this is treated as correlated: coloured
#: injection and the wide median window (as the WideField presets use).
CORR_ON = 0.25
#: Median window for white and for correlated noise.
FILTER_WHITE, FILTER_CORRELATED = 3, 11


@dataclass(frozen=True)
class NoiseCurve:
    """Residual statistics of one image, measured by :func:`measure`."""

    level: np.ndarray  # mean intensity of each bin (unit scale)
    variance: np.ndarray  # variance of x - median3(x) on the bin's flat pixels
    count: np.ndarray  # flat pixels per bin
    edges: np.ndarray  # bin edges (intensity of the smoothed median3 image)
    corr: tuple[float, float]  # lag-1 correlation of the residuals along (y, x)

    @property
    def mean_corr(self) -> float:
        return float(np.mean(self.corr))


@dataclass(frozen=True)
class NoiseEstimate:
    """The noise itself: ``var(u) = a * u + b`` and its lag-1 correlation."""

    a: float
    b: float
    corr: float
    curve: NoiseCurve  # the residual measurement it comes from
    kappa: float  # residual variance / noise variance for this correlation

    def variance(self, u: np.ndarray | float) -> np.ndarray:
        return self.a * np.asarray(u, dtype=float) + self.b

    @property
    def std_at_median(self) -> float:
        """Noise std at the image's median bin (unit scale)."""
        u = float(np.median(self.curve.level))
        return float(np.sqrt(max(self.variance(u), 0.0)))


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


def _lag1(z: np.ndarray, mask: np.ndarray, axis: int) -> float:
    a = [slice(None)] * 2
    b = [slice(None)] * 2
    a[axis], b[axis] = slice(None, -1), slice(1, None)
    za, zb = z[tuple(a)], z[tuple(b)]
    both = mask[tuple(a)] & mask[tuple(b)]
    if both.sum() < 10:
        return 0.0
    za, zb = za[both], zb[both]
    den = np.sqrt(np.sum(za * za) * np.sum(zb * zb))
    return float(np.sum(za * zb) / den) if den > 0 else 0.0


def measure(image: np.ndarray, edges: Optional[np.ndarray] = None,
            bins: int = BINS) -> NoiseCurve:
    """Residual variance against intensity and lag-1 correlation on flat pixels.

    ``r = x - median3(x)``; intensity = the 5x5 mean of ``median3(x)``; a pixel is
    flat when the gradient of the image smoothed with a Gaussian (sigma 2) is at most
    the median gradient of its intensity bin.  ``edges`` fixes the bins (to measure a
    synthetic sample in the bins of the real image).
    """
    x = np.asarray(image, dtype=np.float32)
    med = median_filter(x, size=MEASURE_FILTER, mode="reflect")
    r = x - med
    level = uniform_filter(med, 5, mode="reflect")
    gy, gx = np.gradient(gaussian_filter(x, 2.0, mode="reflect"))
    grad = gy * gy + gx * gx
    inner = np.zeros(x.shape, bool)
    m = min(3, max(0, min(x.shape) // 4))
    inner[m:x.shape[0] - m, m:x.shape[1] - m] = True
    if edges is None:  # fewer bins on a small image: >= 4 * MIN_BIN_PIXELS flat pixels each
        n = int(inner.sum() * FLAT_FRACTION // (4 * MIN_BIN_PIXELS))
        bins = int(np.clip(n, 1, bins))
        qs = np.quantile(level[inner], np.linspace(0.005, 0.995, bins + 1))
        edges = np.unique(qs)
        if edges.size < 2:
            edges = np.array([float(level.min()), float(level.max()) + 1e-6])
    edges = np.asarray(edges, dtype=float)
    which = np.digitize(level, edges) - 1  # bin i: edges[i] <= level < edges[i+1]
    flat = np.zeros(x.shape, bool)
    z = np.zeros(x.shape, np.float32)
    lv, var, cnt = [], [], []
    for i in range(edges.size - 1):
        sel = inner & (which == i)
        if sel.sum() * FLAT_FRACTION < MIN_BIN_PIXELS:
            lv.append(np.nan), var.append(np.nan), cnt.append(0)
            continue
        keep = sel & (grad <= np.quantile(grad[sel], FLAT_FRACTION))
        rr = r[keep].astype(np.float64)
        v = float(np.mean((rr - rr.mean()) ** 2))
        if v > 0:  # drop outliers (hot pixels, edges that slipped through)
            ok = np.abs(rr - rr.mean()) <= 6 * np.sqrt(v)
            rr = rr[ok]
            v = float(np.var(rr))
        lv.append(float(level[keep].mean())), var.append(v), cnt.append(int(rr.size))
        flat |= keep
        if v > 0:
            z[keep] = (r[keep] - rr.mean()) / np.sqrt(v)
    flat &= np.abs(z) <= 6
    corr = (_lag1(z, flat, 0), _lag1(z, flat, 1))
    good = np.isfinite(var) & (np.asarray(cnt) >= MIN_BIN_PIXELS)
    return NoiseCurve(np.asarray(lv)[good], np.asarray(var)[good], np.asarray(cnt)[good],
                      edges, corr)


@lru_cache(maxsize=1)
def residual_response() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(noise correlation, residual correlation, residual/noise variance) table.

    :func:`measure` applied to flat Gaussian noise coloured with
    :func:`napari_fm2s.noise.colour_noise` at each correlation (fixed seed).
    """
    rhos = np.linspace(0.0, MAX_CORR, 15)
    gen = torch.Generator().manual_seed(0)
    white = torch.randn((1, 1, 320, 320), generator=gen)
    rr, kappa = [], []
    for rho in rhos:
        noise = colour_noise(white, float(rho))[0, 0].numpy()
        true_var = float(noise.var())
        curve = measure(0.5 + 0.02 * noise / np.sqrt(true_var), bins=1)
        rr.append(curve.mean_corr)
        kappa.append(float(np.average(curve.variance, weights=curve.count)) / 0.02 ** 2)
    return rhos, np.asarray(rr), np.asarray(kappa)


def noise_corr(curve: NoiseCurve) -> float:
    """Lag-1 correlation of the noise itself (0 to MAX_CORR), from the residuals'."""
    rhos, rr, _ = residual_response()
    return float(np.interp(curve.mean_corr, rr, rhos))


def _fit_line(u: np.ndarray, v: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Weighted least squares ``v = a u + b`` with ``a >= 0``."""
    A = np.stack([u, np.ones_like(u)], 1) * w[:, None]
    (a, b), *_ = np.linalg.lstsq(A, v * w, rcond=None)
    if a < 0 or u.size < 2:
        return 0.0, float(np.sum(v * w * w) / np.sum(w * w))
    return float(a), float(b)


def estimate_noise(image: np.ndarray) -> NoiseEstimate:
    """The noise of ``image`` (unit scale): variance curve and lag-1 correlation."""
    curve = measure(image)
    if curve.level.size == 0:
        raise ValueError("too few flat pixels to measure the noise (image too small?)")
    rhos, _, kappa = residual_response()
    rho = noise_corr(curve)
    k = float(np.interp(rho, rhos, kappa))
    v = curve.variance / k
    w = np.sqrt(curve.count) / np.maximum(v, 1e-12)
    a, b = _fit_line(curve.level, v, w)
    return NoiseEstimate(a, b, rho, curve, k)


def over_injection(est: NoiseEstimate) -> float:
    """Synthetic / real noise variance to aim at, from the noise level.

    The authors' avg1 presets inject 3-4x the real variance on the FMD images and less
    at lower noise levels; this rule follows them: ``F`` grows with the noise std at
    the image's median intensity ``s`` (unit scale), ``F = clip(s / 0.012, 1.5, cap)``,
    ``cap`` 3 for white noise and 2.3 for correlated noise (the WideField avg1 preset
    injects 0.8-3x where most of its pixels lie, less than the others' 3-5x).
    """
    cap = FACTOR_MAX_CORRELATED if est.corr >= CORR_ON else FACTOR_MAX
    return float(np.clip(est.std_at_median / FACTOR_STD, FACTOR_MIN, cap))


#: Parameters of :func:`over_injection`.
FACTOR_STD, FACTOR_MIN, FACTOR_MAX, FACTOR_MAX_CORRELATED = 0.012, 1.5, 3.0, 2.3


def _window(image: np.ndarray, stride: int, side: int = CALIBRATION_SIDE) -> np.ndarray:
    """A centred window of at most ``side`` pixels per axis starting on the stride grid."""
    out = []
    for n in image.shape:
        if n <= side:
            out.append(slice(0, n))
        else:
            start = ((n - side) // 2 // stride) * stride
            out.append(slice(start, start + side))
    return np.asarray(image[tuple(out)], dtype=np.float32)


def _params(c: np.ndarray) -> tuple[float, float, float]:
    """(k_g, k_p, lam_p) from the coefficients of (u, u m, (m/255)^2)."""
    lam_p = 1e7 if c[0] <= 1e-7 else min(1e7, 1.0 / c[0])
    k_p = 1e7 if c[1] <= 1e-7 else min(1e7, 1.0 / c[1])
    k_g = float(min(1e5, np.sqrt(max(c[2], 0.0))))
    return float(k_g), float(k_p), float(lam_p)


def _synthetic(u: torch.Tensor, means: torch.Tensor, p: Preset, edges: np.ndarray,
               seed: int) -> NoiseCurve:
    gen = torch.Generator().manual_seed(seed)
    y = inject(u, p.k_g, p.k_p, p.lam_p, p.stride, generator=gen, means=means, corr=p.corr)
    return measure(y[0, 0].numpy(), edges=edges)


def _match(real: NoiseCurve, syn: NoiseCurve) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Real and synthetic variance and weights on the bins both have (same edges)."""
    rb = np.digitize(real.level, real.edges) - 1
    sb = {int(b): i for i, b in enumerate(np.digitize(syn.level, syn.edges) - 1)}
    keep = [(i, sb[int(b)]) for i, b in enumerate(rb) if int(b) in sb]
    if not keep:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    ri, si = (np.asarray(v) for v in zip(*keep))
    return real.variance[ri], syn.variance[si], real.count[ri].astype(float)


def calibrate(image: np.ndarray, factor: Optional[float] = None, seed: int = 0,
              base: Optional[Preset] = None, iterations: int = 2) -> Calibration:
    """Choose FM2S injection parameters for ``image`` (2D, unit scale).

    ``factor`` overrides :func:`over_injection`.  ``base`` gives the parameters
    auto does not choose (samples, lr, seed, ...); its stride is kept.
    """
    from .presets import get_preset

    stride = 75 if base is None else base.stride
    x = _window(image, stride)
    est = estimate_noise(x)
    real = est.curve
    correlated = est.corr >= CORR_ON
    template = get_preset("widefield" if correlated else "confocal")
    base = template if base is None else base
    p = base.with_overrides(
        name="auto", filter_size=template.filter_size, channels=template.channels,
        fast_steps=template.fast_steps, corr=round(est.corr, 3) if correlated else 0.0,
        source="calibrated from the image (napari_fm2s.calibrate)",
        description="Calibrated from the image (preset='auto')")
    f = over_injection(est) if factor is None else float(factor)
    u_np = median_target(x, p.filter_size)
    u = torch.from_numpy(u_np)[None, None]
    means = region_means(u, p.stride)
    # analytic start: injected variance = c0 u + c1 u m + c2 (m / 255)^2, averaged per
    # bin of the real curve (binned by the target's smoothed intensity)
    m_np = means[0, 0].numpy()
    level = uniform_filter(median_filter(u_np, MEASURE_FILTER, mode="reflect"), 5)
    which = np.digitize(level, real.edges) - 1
    rows, target, weight = [], [], []
    for lv, v, n in zip(real.level, real.variance, real.count):
        i = int(np.clip(np.searchsorted(real.edges, lv, side="right") - 1, 0,
                        real.edges.size - 2))
        sel = which == i
        if sel.sum() < 10:
            continue
        uu, mm = u_np[sel], m_np[sel]
        rows.append([uu.mean(), (uu * mm).mean(), ((mm / 255.0) ** 2).mean()])
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
        p = p.with_overrides(k_g=round(k_g, 2), k_p=round(k_p, 2), lam_p=round(lam_p, 2))
        syn = _synthetic(u, means, p, real.edges, seed + it)
        rv, sv, w = _match(real, syn)
        if it == iterations or rv.size == 0:
            break
        ratio = float(np.exp(np.average(np.log(f * rv / np.maximum(sv, 1e-20)), weights=w)))
        c = c * ratio
    assert syn is not None
    return Calibration(p, est, f, real, syn)


def is_auto(preset: object) -> bool:
    """``preset`` names auto calibration (``"auto"``, any case)."""
    return isinstance(preset, str) and preset.strip().lower() == AUTO


#: The preset name that calibrates from the image.
AUTO = "auto"


def auto_calibration(image: np.ndarray, seed: int = 0) -> Calibration:
    """:func:`calibrate` for a 2D image in its own units (intensity mapping as
    :func:`napari_fm2s.denoise` maps it)."""
    from .checks import check_image
    from .intensity import to_unit

    plane = check_image(image, FILTER_CORRELATED)
    raw, _ = to_unit(plane)
    return calibrate(raw, seed=seed)


def auto_preset(image: np.ndarray, seed: int = 0) -> Preset:
    """The preset ``preset='auto'`` trains with on ``image`` (2D, its own units)."""
    return auto_calibration(image, seed).preset
