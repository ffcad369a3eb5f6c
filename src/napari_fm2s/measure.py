"""Measure an image's noise: residual variance against intensity, lag-1 correlation per
axis, and the camera model behind it (offset, gain, read noise).  ``docs/auto.md``.

Works on one plane (Y, X) or on several planes pooled (k, Y, X): a stack's noise is
measured on a sample of its planes, as one curve.  Constant areas (zero padding after
registration, clipped regions) carry no noise and are left out.  Everything on the
[0, 1] intensity scale.  No napari or Qt here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

import numpy as np
import torch
from scipy.ndimage import gaussian_filter, maximum_filter, median_filter, minimum_filter, \
    uniform_filter

from .noise import MAX_CORR, colour_noise

#: Median window of the residuals (real and synthetic alike).
MEASURE_FILTER = 3
#: Intensity bins of the variance curve.
BINS = 12
#: Smallest number of flat pixels a bin needs to count.
MIN_BIN_PIXELS = 100
#: Fraction of each intensity bin (lowest smoothed gradient) counted as flat.
FLAT_FRACTION = 0.25


@dataclass(frozen=True)
class NoiseCurve:
    """Residual statistics of one image (or pooled planes), measured by :func:`measure`."""

    level: np.ndarray  # mean intensity of each bin (unit scale)
    variance: np.ndarray  # variance of x - median3(x) on the bin's flat pixels
    count: np.ndarray  # flat pixels per bin
    edges: np.ndarray  # bin edges (intensity of the smoothed median3 image)
    corr: tuple[float, float]  # lag-1 correlation of the residuals along (y, x)

    @property
    def mean_corr(self) -> float:
        return float(np.mean(self.corr))


def _in_plane(n: int) -> tuple[int, int, int]:
    """A filter window of ``n`` x ``n`` in each plane of a (k, Y, X) array."""
    return (1, n, n)


def _lag1(z: np.ndarray, mask: np.ndarray, axis: int) -> float:
    a = [slice(None)] * z.ndim
    b = [slice(None)] * z.ndim
    a[axis], b[axis] = slice(None, -1), slice(1, None)
    za, zb = z[tuple(a)], z[tuple(b)]
    both = mask[tuple(a)] & mask[tuple(b)]
    if both.sum() < 10:
        return 0.0
    za, zb = za[both], zb[both]
    den = np.sqrt(np.sum(za * za) * np.sum(zb * zb))
    return float(np.sum(za * zb) / den) if den > 0 else 0.0


def varying(x: np.ndarray) -> np.ndarray:
    """Pixels whose 5x5 neighbourhood is not constant (zero padding, clipped plateaus
    and other constant areas are False), plane by plane of a (k, Y, X) array."""
    return maximum_filter(x, _in_plane(5)) > minimum_filter(x, _in_plane(5))


def measure(image: np.ndarray, edges: Optional[np.ndarray] = None,
            bins: int = BINS) -> NoiseCurve:
    """Residual variance against intensity and lag-1 correlation on flat pixels.

    ``image``: (Y, X) or (k, Y, X) planes pooled.  ``r = x - median3(x)``; intensity =
    the 5x5 mean of ``median3(x)``; a pixel is flat when the gradient of the image smoothed
    with a Gaussian (sigma 2) is among the lowest :data:`FLAT_FRACTION` of its intensity
    bin; constant areas are left out.  ``edges`` fixes the bins (to measure a synthetic
    sample in the bins of the real image).
    """
    x = np.asarray(image, dtype=np.float32)
    x = x[None] if x.ndim == 2 else x
    med = median_filter(x, _in_plane(MEASURE_FILTER), mode="reflect")
    r = x - med
    level = uniform_filter(med, _in_plane(5), mode="reflect")
    gy, gx = np.gradient(gaussian_filter(x, (0, 2.0, 2.0), mode="reflect"), axis=(1, 2))
    grad = gy * gy + gx * gx
    inner = np.zeros(x.shape, bool)
    m = min(3, max(0, min(x.shape[1:]) // 4))
    inner[:, m:x.shape[1] - m, m:x.shape[2] - m] = True
    inner &= varying(x)
    if edges is None:  # fewer bins on a small image: >= 4 * MIN_BIN_PIXELS flat pixels each
        n = int(inner.sum() * FLAT_FRACTION // (4 * MIN_BIN_PIXELS))
        bins = int(np.clip(n, 1, bins))
        vals = level[inner] if inner.any() else level.ravel()
        edges = np.unique(np.quantile(vals, np.linspace(0.005, 0.995, bins + 1)))
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
    corr = (_lag1(z, flat, 1), _lag1(z, flat, 2))
    good = np.isfinite(var) & (np.asarray(cnt) >= MIN_BIN_PIXELS) & (np.asarray(var) > 0)
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


def axis_corr(curve: NoiseCurve) -> tuple[float, float]:
    """The noise's lag-1 correlation along y and along x, each read in the isotropic
    table (an approximation for anisotropic noise: it tells rows from columns)."""
    rhos, rr, _ = residual_response()
    return (float(np.interp(curve.corr[0], rr, rhos)),
            float(np.interp(curve.corr[1], rr, rhos)))


def _fit_line(u: np.ndarray, v: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Weighted least squares ``v = a u + b`` with ``a >= 0``."""
    A = np.stack([u, np.ones_like(u)], 1) * w[:, None]
    (a, b), *_ = np.linalg.lstsq(A, v * w, rcond=None)
    if a < 0 or u.size < 2:
        return 0.0, float(np.sum(v * w * w) / np.sum(w * w))
    return float(a), float(b)


@dataclass(frozen=True)
class NoiseEstimate:
    """The noise itself: ``var(u) = a * u + b``, its lag-1 correlation, and the camera
    model read from it (all on the unit scale):

    * ``offset``: the black level (no photons): where the variance line reaches zero,
      ``-b / a``, kept within [0, the darkest flat level];
    * ``gain``: ``a``, the variance added per unit of signal (unit-scale size of one photon
      for a shot-noise-limited camera, times the excess factor 2 of an EMCCD);
    * ``read_noise``: the noise std measured at the darkest flat level (all of it when
      the darkest areas hold no photons, an upper bound otherwise).
    """

    a: float
    b: float
    corr: float
    curve: NoiseCurve  # the residual measurement it comes from
    kappa: float  # residual variance / noise variance for this correlation
    corr_yx: tuple[float, float] = (0.0, 0.0)  # per axis (approximate, see axis_corr)

    def variance(self, u: np.ndarray | float) -> np.ndarray:
        return self.a * np.asarray(u, dtype=float) + self.b

    @property
    def std_at_median(self) -> float:
        """Noise std at the image's median bin (unit scale)."""
        u = float(np.median(self.curve.level))
        return float(np.sqrt(max(self.variance(u), 0.0)))

    @property
    def dark(self) -> float:
        return float(self.curve.level.min())

    @property
    def offset(self) -> float:
        if self.a <= 0:
            return 0.0
        return float(np.clip(-self.b / self.a, 0.0, self.dark))

    @property
    def gain(self) -> float:
        return self.a

    @property
    def read_noise(self) -> float:
        i = int(np.argmin(self.curve.level))
        return float(np.sqrt(self.curve.variance[i] / self.kappa))


def estimate_noise(image: np.ndarray) -> NoiseEstimate:
    """The noise of ``image`` ((Y, X) or pooled (k, Y, X), unit scale)."""
    curve = measure(image)
    if curve.level.size == 0:
        raise ValueError("too few flat (non-constant) pixels to measure the noise "
                         "(image too small or constant?)")
    rhos, _, kappa = residual_response()
    rho = noise_corr(curve)
    k = float(np.interp(rho, rhos, kappa))
    v = curve.variance / k
    w = np.sqrt(curve.count) / np.maximum(v, 1e-12)
    a, b = _fit_line(curve.level, v, w)
    return NoiseEstimate(a, b, rho, curve, k, axis_corr(curve))
