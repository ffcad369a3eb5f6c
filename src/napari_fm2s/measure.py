"""Measure an image's noise: residual variance against intensity, lag-1 correlation per
axis, and the camera model behind it (offset, gain, read noise).  ``docs/auto.md``.

Works on one plane (Y, X) or on several planes pooled (k, Y, X): a stack's noise is
measured on a sample of its planes, as one curve.  Constant areas (zero padding after
registration, clipped regions) carry no noise and are left out.  Everything on the
[0, 1] intensity scale.  No napari or Qt here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Optional

import numpy as np
import torch
from scipy.ndimage import gaussian_filter, uniform_filter

from .clipped import censored_bins, quantum, unclipped, varying
from .immerkaer import fit_line, white_noise_fit
from .noise import MAX_CORR, colour_noise
from .medians import square_median

#: Median window of the residuals (real and synthetic alike).
MEASURE_FILTER = 3
#: Intensity bins of the variance curve.
BINS = 12
#: Smallest number of flat pixels a bin needs to count.
MIN_BIN_PIXELS = 100
#: Fraction of each intensity bin (lowest smoothed gradient) counted as flat.
FLAT_FRACTION = 0.25
#: A curve of one bin, or fewer bins of fewer pixels, takes
#: :func:`~napari_fm2s.immerkaer.white_noise_line`'s
#: slope: a line fitted to 2-3 bins came out flat on 4 of 10 64 px sCMOS planes (their
#: guard: 1.6 dB below a Gaussian blur on average).
MIN_SLOPE_BINS, MIN_SLOPE_PIXELS = 6, 128 * 128
#: Noise whose lag-1 correlation reaches this (on average, or along one axis) is treated
#: as correlated: coloured injection and the wide median window (as the WideField presets).
CORR_ON = 0.25
#: Noise correlated along one axis this much more than along the other is anisotropic
#: (row or column noise): injected with its own correlation along each axis.
ANISOTROPY = 0.2


@dataclass(frozen=True)
class NoiseCurve:
    """Residual statistics of one image (or pooled planes), measured by :func:`measure`."""

    level: np.ndarray  # mean intensity of each bin (unit scale)
    variance: np.ndarray  # variance of x - median3(x) on the bin's flat pixels
    count: np.ndarray  # flat pixels per bin
    edges: np.ndarray  # bin edges (intensity of the smoothed median3 image)
    corr: tuple[float, float]  # lag-1 correlation of the residuals along (y, x)
    bin_corr: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per bin (screened)
    screened: bool = False  # empty because every bin's flat pixels held structure

    @property
    def mean_corr(self) -> float:
        return float(np.mean(self.corr))


def _in_plane(n: int) -> tuple[int, int, int]:
    """A filter window of ``n`` x ``n`` in each plane of a (k, Y, X) array."""
    return (1, n, n)


def _lag(z: np.ndarray, mask: np.ndarray, axis: int, lag: int = 1) -> float:
    """Correlation of ``z`` with itself ``lag`` pixels along ``axis``, on pairs in ``mask``."""
    a = [slice(None)] * z.ndim
    b = [slice(None)] * z.ndim
    a[axis], b[axis] = slice(None, -lag), slice(lag, None)
    za, zb = z[tuple(a)], z[tuple(b)]
    both = mask[tuple(a)] & mask[tuple(b)]
    if both.sum() < 10:
        return 0.0
    za, zb = za[both], zb[both]
    den = np.sqrt(np.sum(za * za) * np.sum(zb * zb))
    return float(np.sum(za * zb) / den) if den > 0 else 0.0


def measure(image: np.ndarray, edges: Optional[np.ndarray] = None,
            bins: int = BINS, screen: Optional[bool] = None, clip: Optional[int] = None
            ) -> NoiseCurve:
    """Residual variance against intensity and lag-1 correlation on flat pixels.

    ``image``: (Y, X) or (k, Y, X) planes pooled.  ``r = x - median3(x)``; intensity =
    the 5x5 mean of ``median3(x)``; a pixel is flat when the gradient of the image smoothed
    with a Gaussian (sigma 2) is among the lowest :data:`FLAT_FRACTION` of its intensity
    bin; constant areas are left out, and so are pixels next to a clipped floor and the
    bins they crowd (:mod:`napari_fm2s.clipped`; ``clip`` 2, the default for a real
    image); where that leaves no bin, only the pixels (``clip`` 1), then neither (0: a
    rough curve rather than none; the default with ``edges``: synthetic noise is not
    clipped by a camera).  ``edges`` fixes the bins (to measure a synthetic sample in the
    bins of the real image).  ``screen`` (default: when ``edges`` is None) leaves out the
    bins whose flat pixels hold structure rather than noise (:func:`structure_excess`);
    where every bin does, the curve is empty.
    """
    x = np.asarray(image, dtype=np.float32)
    x = x[None] if x.ndim == 2 else x
    screen = edges is None if screen is None else screen
    clip = (2 if edges is None else 0) if clip is None else clip
    med = square_median(x, MEASURE_FILTER)
    r = x - med
    level = uniform_filter(med, _in_plane(5), mode="reflect")
    gy, gx = np.gradient(gaussian_filter(x, (0, 2.0, 2.0), mode="reflect"), axis=(1, 2))
    grad = gy * gy + gx * gx
    inner = np.zeros(x.shape, bool)
    m = min(3, max(0, min(x.shape[1:]) // 4))
    inner[:, m:x.shape[1] - m, m:x.shape[2] - m] = True
    inner &= varying(x)
    near_floor = inner & ~unclipped(x) if clip > 0 else np.zeros(x.shape, bool)
    if edges is None:  # fewer bins on a small image: >= 4 * MIN_BIN_PIXELS flat pixels each
        n = int(inner.sum() * FLAT_FRACTION // (4 * MIN_BIN_PIXELS))
        bins = int(np.clip(n, 1, bins))
        vals = level[inner] if inner.any() else level.ravel()
        edges = np.unique(np.quantile(vals, np.linspace(0.005, 0.995, bins + 1)))
        if edges.size < 2:
            edges = np.array([float(level.min()), float(level.max()) + 1e-6])
    edges = np.asarray(edges, dtype=float)
    which = np.digitize(level, edges) - 1  # bin i: edges[i] <= level < edges[i+1]
    for tier in range(clip, -1, -1):  # the clip rule's tiers, down to a rough curve
        clipped = near_floor if tier > 0 else np.zeros(x.shape, bool)
        flat_bin = np.full(x.shape, -1, np.int16)  # the bin of each flat pixel
        z = np.zeros(x.shape, np.float32)
        lv, var, cnt, lags = [], [], [], []
        censored = censored_bins(clipped, inner, which, edges.size - 1) & (tier > 1)
        for i in range(edges.size - 1):
            sel = inner & (which == i) & ~clipped
            lags.append((0.0, 0.0, 0.0, 0.0))
            if censored[i] or sel.sum() * FLAT_FRACTION < MIN_BIN_PIXELS:
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
            flat_bin[keep] = i
            if v > 0:
                z[keep] = (r[keep] - rr.mean()) / np.sqrt(v)
                if screen:
                    ok = keep & (np.abs(z) <= 6)
                    lags[-1] = tuple(_lag(z, ok, axis, lag) for lag in (1, 2)
                                     for axis in (1, 2))
        good = np.isfinite(var) & (np.asarray(cnt) >= MIN_BIN_PIXELS) & (np.asarray(var) > 0)
        screened = screen and bool(good.any())
        if screened:
            excess = np.array([structure_excess(*q) for q in lags])
            good &= excess <= STRUCTURE_EXCESS  # none left: structure everywhere (small
            # crops of a cell), no curve; the callers fall back to white_noise_line
        if good.any() or not clipped.any():
            break
    flat = np.isin(flat_bin, np.flatnonzero(good)) & (np.abs(z) <= 6)
    corr = (_lag(z, flat, 1), _lag(z, flat, 2))
    bin_corr = np.array([(q[0] + q[1]) / 2 for q in lags])[good] if screen else np.zeros(0)
    return NoiseCurve(np.asarray(lv)[good], np.asarray(var)[good], np.asarray(cnt)[good],
                      edges, corr, bin_corr, screened and not good.any())


#: A bin whose residuals correlate at lag 2 this much more than noise would (given their
#: lag-1 correlation) holds structure, not noise (:func:`structure_excess`).
STRUCTURE_EXCESS = 0.15


def structure_excess(l1y: float, l1x: float, l2y: float, l2x: float) -> float:
    """How much the residuals' lag-2 correlation exceeds noise's (table
    :func:`residual_response`, for the measured lag 1), mean over the axes.  Camera noise
    decorrelates within a pixel or two (median residuals' lag 2: at most ~+0.05, correlated
    noise down to -0.15); fine structure in the flat pixels is smooth over several."""
    _, rr, _, rr2 = residual_response()
    return float(np.mean([l2y - np.interp(l1y, rr, rr2), l2x - np.interp(l1x, rr, rr2)]))


@lru_cache(maxsize=1)
def residual_response() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(noise correlation, residual correlation, residual/noise variance, residual lag-2
    correlation) table.

    :func:`measure` applied to flat Gaussian noise coloured with
    :func:`napari_fm2s.noise.colour_noise` at each correlation (fixed seed).
    """
    rhos = np.linspace(0.0, MAX_CORR, 15)
    gen = torch.Generator().manual_seed(0)
    white = torch.randn((1, 1, 320, 320), generator=gen)
    rr, kappa, rr2 = [], [], []
    for rho in rhos:
        noise = colour_noise(white, float(rho))[0, 0].numpy()
        true_var = float(noise.var())
        x = 0.5 + 0.02 * noise / np.sqrt(true_var)
        curve = measure(x, bins=1, screen=False)
        rr.append(curve.mean_corr)
        kappa.append(float(np.average(curve.variance, weights=curve.count)) / 0.02 ** 2)
        res = (x - square_median(x, MEASURE_FILTER))[3:-3, 3:-3]
        ok = np.ones(res.shape, bool)
        rr2.append(float(np.mean([_lag(res, ok, 0, 2), _lag(res, ok, 1, 2)])))
    return rhos, np.asarray(rr), np.asarray(kappa), np.asarray(rr2)


def noise_corr(curve: NoiseCurve) -> float:
    """Lag-1 correlation of the noise itself (0 to MAX_CORR), from the residuals'."""
    rhos, rr = residual_response()[:2]
    return float(np.interp(curve.mean_corr, rr, rhos))


#: Per-axis noise correlations tabulated by :func:`axis_response` (a fine grid is read).
AXIS_GRID = np.linspace(0.0, MAX_CORR, 8)


@lru_cache(maxsize=1)
def axis_response() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(grid, residual correlation along y, along x, residual/noise variance) for noise
    coloured with correlation ``corr_y`` (rows of the tables) and ``corr_x`` (columns)
    along each axis, interpolated from :data:`AXIS_GRID` onto a 0.01 grid.

    :func:`measure` of flat noise coloured by :func:`napari_fm2s.noise.colour_noise` with
    each pair (fixed seed); the x-y mirror of a pair is read from its transpose."""
    n = AXIS_GRID.size
    white = torch.randn((1, 1, 256, 256), generator=torch.Generator().manual_seed(1))
    ry, rx, kap = (np.zeros((n, n)) for _ in range(3))
    for i, cy in enumerate(AXIS_GRID):
        for j, cx in enumerate(AXIS_GRID):
            if j < i:
                ry[i, j], rx[i, j], kap[i, j] = rx[j, i], ry[j, i], kap[j, i]
                continue
            noise = colour_noise(white, (float(cy), float(cx)))[0, 0].numpy()
            curve = measure(0.5 + 0.02 * noise / noise.std(), bins=1, screen=False)
            ry[i, j], rx[i, j] = curve.corr
            kap[i, j] = float(np.average(curve.variance, weights=curve.count)) / 0.02 ** 2
    fine = np.round(np.arange(0.0, MAX_CORR + 1e-9, 0.01), 2)

    def on_fine(t: np.ndarray) -> np.ndarray:
        rows = np.stack([np.interp(fine, AXIS_GRID, r) for r in t])
        return np.stack([np.interp(fine, AXIS_GRID, c) for c in rows.T]).T

    return fine, on_fine(ry), on_fine(rx), on_fine(kap)


def axis_corr(curve: NoiseCurve) -> tuple[float, float]:
    """The noise's lag-1 correlation along y and along x: the pair whose residuals
    (:func:`axis_response`) have the measured correlations along both axes."""
    fine, ry, rx, _ = axis_response()
    err = (ry - curve.corr[0]) ** 2 + (rx - curve.corr[1]) ** 2
    i, j = np.unravel_index(int(np.argmin(err)), err.shape)
    return float(fine[i]), float(fine[j])


def _floor_merged(level: np.ndarray, v: np.ndarray, count: np.ndarray, image: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The noise curve's ``(level, variance, weight)`` for the line fit, the bins within
    one quantisation step of the image's minimum (its floor) merged into one: their
    levels differ by less than a grey level, while clipping and rounding shape their
    variance, so they cannot give a slope (helper 27's 8-bit PMT export: ten of twelve
    bins between 0.18 and 0.96 grey levels read a slope of 3.7 for a true 9 and put the
    brightest bins 3.0-3.6x above the line; no bin of the 20 FMD captures, SRDTrans, TIRF
    or 17 other camera kinds lies there)."""
    x = np.asarray(image, np.float32).ravel()
    low = level < float(x.min()) + quantum(x[:: max(1, x.size // 65536)])
    if low.sum() > 1:
        n = count[low].astype(float)
        level = np.concatenate([[np.average(level[low], weights=n)], level[~low]])
        v = np.concatenate([[np.average(v[low], weights=n)], v[~low]])
        count = np.concatenate([[n.sum()], count[~low]])
    return level, v, np.sqrt(count) / np.maximum(v, 1e-12)


@dataclass(frozen=True)
class NoiseEstimate:
    """The noise itself: ``var(u) = a * u + b``, its lag-1 correlation, and the camera
    model read from it (all on the unit scale):

    * ``offset``: the black level (no photons), from below: where the variance line
      reaches zero, ``-b / a``, kept within [0, the darkest flat level].  With read noise
      ``r`` and gain ``g`` the line is ``g (u - offset) + r^2``, so this is the offset less
      ``r^2 / g`` (one unknown too many to part them);
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
    corr_yx: tuple[float, float] = (0.0, 0.0)  # per axis (see axis_corr)
    textured: bool = False  # correlation read as fine structure: white (texture.py)
    gain_se: float = float("nan")  # standard error of ``a`` (NaN: unknown)

    def variance(self, u: np.ndarray | float) -> np.ndarray:
        return self.a * np.asarray(u, dtype=float) + self.b

    @property
    def anisotropic(self) -> bool:
        """Correlated along one axis clearly more than along the other (row or column
        noise): at least :data:`CORR_ON` along one, :data:`ANISOTROPY` more than along
        the other."""
        cy, cx = self.corr_yx
        return max(cy, cx) >= CORR_ON and abs(cy - cx) >= ANISOTROPY

    @property
    def correlated(self) -> bool:
        """Correlated enough for coloured injection and the wide median window."""
        return self.corr >= CORR_ON or self.anisotropic

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


def estimate_noise(image: np.ndarray, curve: Optional[NoiseCurve] = None) -> NoiseEstimate:
    """The noise of ``image`` ((Y, X) or pooled (k, Y, X), unit scale), read from
    ``curve`` (default: :func:`measure` of it)."""
    curve = measure(image) if curve is None else curve
    if curve.level.size == 0 and curve.screened:
        raise ValueError("no intensity range whose flattest pixels hold noise alone: their "
                         "residuals stay correlated over several pixels (fine structure "
                         "everywhere, stripes, or noise smoothed by interpolation or "
                         "deconvolution)")
    if curve.level.size == 0:
        raise ValueError("too few flat (non-constant) pixels to measure the noise "
                         "(image too small or constant?)")
    rhos, _, kappa = residual_response()[:3]
    rho = noise_corr(curve)
    k = float(np.interp(rho, rhos, kappa))
    est = NoiseEstimate(0.0, 0.0, rho, curve, k, axis_corr(curve))
    if est.anisotropic:  # the variance ratio of noise correlated along one axis
        fine, _, _, kap = axis_response()
        cy, cx = est.corr_yx
        k = float(kap[np.searchsorted(fine, cy), np.searchsorted(fine, cx)])
    v = curve.variance / k
    w = np.sqrt(curve.count) / np.maximum(v, 1e-12)
    a, b, se = fit_line(*_floor_merged(curve.level, v, curve.count, image))
    few = curve.level.size < MIN_SLOPE_BINS and np.size(image) < MIN_SLOPE_PIXELS
    if curve.level.size == 1 or few:  # Immerkaer's relative slope, through the bins' mean
        ai, bi, _, sei = white_noise_fit(image)
        u0, v0 = float(np.average(curve.level, weights=w)), float(np.average(v, weights=w))
        vi = ai * u0 + bi
        a, se = (v0 * ai / vi, v0 * sei / vi) if vi > 0 else (0.0, float("nan"))
        b = v0 - a * u0
    return NoiseEstimate(a, b, rho, curve, k, est.corr_yx, gain_se=se)
