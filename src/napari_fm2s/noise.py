"""Median pre-denoise target and FM2S noise injection (paper section 3.3).

All arrays are on the [0, 1] intensity scale.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter

from .hooks import raise_if
from .medians import square_median

#: Bounds of the region mean ``m`` used by region-wise injection (reference code).
REGION_MEAN_MIN = 1e-5
REGION_MEAN_MAX = 0.15


#: Work (output pixels x window pixels) of one block of a cancellable median filter:
#: about 0.2 s on one core, so a cancel is seen within that.
MEDIAN_BLOCK_WORK = 15_000_000
#: Work above which the median is filtered in row bands on several threads (scipy's
#: filter releases the GIL).  Measured on the 2-core CPU: two 11x11 medians of a 512x512
#: plane (the guard's, before medians.wide_median) took 0.49 s in all (cProfile), against
#: 0.87 s on one thread.
MEDIAN_PARALLEL_WORK = 1_000_000


def median_target(raw: np.ndarray, filter_size: int,
                  cancelled: Optional[Callable[[], bool]] = None) -> np.ndarray:
    """Median-filtered image (square window, 'reflect' border): the training target.

    A large image is filtered in row bands, each with a halo (so the result is the
    same), on up to ``torch.get_num_threads()`` threads; with ``cancelled``,
    ``cancelled()`` is checked before each band (bands of at most
    :data:`MEDIAN_BLOCK_WORK`), raising :class:`~napari_fm2s.hooks.DenoiseCancelled`.
    """
    x = np.asarray(raw, dtype=np.float32)
    size = int(filter_size)
    h, w = x.shape
    work = h * w * size * size
    workers = max(1, min(torch.get_num_threads(), h))
    parallel = workers > 1 and work >= MEDIAN_PARALLEL_WORK
    blocked = cancelled is not None and work > MEDIAN_BLOCK_WORK
    if not (parallel or blocked):
        if cancelled is not None:
            raise_if(cancelled)
        return square_median(x, size)
    bands = max(workers, -(-work // MEDIAN_BLOCK_WORK) if blocked else 1)
    rows = -(-h // min(bands, h))
    r = size // 2
    out = np.empty_like(x)

    def band(y: int) -> None:
        if cancelled is not None:
            raise_if(cancelled)
        ya, yb = max(0, y - r), min(h, y + rows + r)
        block = square_median(x[ya:yb], size)
        out[y:y + rows] = block[y - ya:y - ya + rows]

    starts = list(range(0, h, rows))
    if workers == 1:
        for y in starts:
            band(y)
        return out
    with ThreadPoolExecutor(workers) as pool:
        for f in [pool.submit(band, y) for y in starts]:
            f.result()
    return out


#: Gaussian sigma (pixels) of the scale on which fast mode's target keeps the raw mean.
MEAN_SIGMA = 8.0
#: Pixels of context :func:`mean_preserving` reads on each side (the filter's truncation).
MEAN_HALO = int(4 * MEAN_SIGMA)


def mean_preserving(target: np.ndarray, raw: np.ndarray, sigma: float = MEAN_SIGMA) -> np.ndarray:
    """``target + G_sigma(raw - target)``: the target with the raw image's local mean.

    The median of skewed low-count data lies below its mean (3x3 median of Poisson data:
    -14 % at 1 count, -5 % at 3, -0.7 % at 20), so a network trained on it darkens
    photon-counting backgrounds.  Adding back the smoothed residual gives the target the
    raw image's mean on the ``sigma`` scale; the residual is clipped to 8 robust standard
    deviations first, so a hot pixel the median removed is not spread around.
    """
    res = np.asarray(raw, np.float32) - target
    mad = float(np.median(np.abs(res - np.median(res))))
    s = 1.4826 * mad if mad > 0 else float(res.std())
    if s > 0:
        np.clip(res, -8 * s, 8 * s, out=res)
    return target + gaussian_filter(res, sigma, mode="reflect", truncate=4.0)


def region_means(x: torch.Tensor, stride: int) -> torch.Tensor:
    """Mean of each ``stride`` x ``stride`` region over its pixels and all channels.

    ``x`` is B x n x H x W; it is zero-padded at the bottom/right to a multiple of
    ``stride`` (so edge regions read darker, as in the reference).  Returns a
    B x 1 x H x W map of clamped region means.
    """
    b, n, h, w = x.shape
    ph, pw = -h % stride, -w % stride
    xp = F.pad(x, (0, pw, 0, ph))
    m = F.avg_pool2d(xp.mean(dim=1, keepdim=True), stride, stride)
    m = m.clamp(REGION_MEAN_MIN, REGION_MEAN_MAX)
    m = m.repeat_interleave(stride, dim=2).repeat_interleave(stride, dim=3)
    return m[:, :, :h, :w]


def inject(x: torch.Tensor, k_g: float, k_p: float, lam_p: float, stride: int,
           generator: torch.Generator | None = None,
           means: torch.Tensor | None = None, corr: float | tuple[float, float] = 0.0,
           black: float = 0.0) -> torch.Tensor:
    """Draw one synthetic noisy sample from the clean-ish image ``x`` (B x n x H x W).

    Region-wise mixed Poisson-Gaussian noise (rate ``k_p / m``, Gaussian std
    ``k_g * m / 255``, ``m`` the clamped region mean), clamp to [0, 1], then an
    overall Poisson noise of rate ``lam_p`` and a final clamp.  ``means`` may be
    passed to reuse :func:`region_means` of ``x`` across samples.  ``corr`` > 0
    colours the injected noise ``y - x`` (:func:`colour_noise`) so that neighbouring
    pixels' noise has that correlation (a pair: along y and along x); 0 is the paper's
    white injection.

    ``black`` > 0 is a camera's black level (offset, unit scale): it carries no photons,
    so both Poisson parts act on ``x - black`` (photons; their region means too) and the
    offset is added back; values below it keep their (read) noise.  0 is the paper.
    """
    m = region_means(x, stride) if means is None else means
    if black > 0:
        return _inject_black(x, k_g, k_p, lam_p, stride, generator, m, corr, black)
    rate = k_p / m
    # a mean-preserving target dips just below 0 next to values under the scale's start
    y = torch.poisson((x * rate).clamp_(min=0.0), generator=generator) / rate
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    y = (y + noise * (k_g * m / 255.0)).clamp_(0.0, 1.0)
    y = torch.poisson(y * lam_p, generator=generator) / lam_p
    if _any_corr(corr):
        y = (x + colour_noise(y - x, corr)).clamp_(0.0, 1.0)
    return y.clamp_(0.0, 1.0)


def _any_corr(corr: float | tuple[float, float]) -> bool:
    return any(c > 0 for c in corr) if isinstance(corr, tuple) else corr > 0


def _inject_black(x: torch.Tensor, k_g: float, k_p: float, lam_p: float, stride: int,
                  generator: torch.Generator | None, m: torch.Tensor,
                  corr: float | tuple[float, float], black: float) -> torch.Tensor:
    """:func:`inject` with the Poisson parts on photons ``x - black`` (see there)."""
    s = (x - black).clamp(min=0.0)
    rate = k_p / region_means(s, stride)
    y = torch.poisson(s * rate, generator=generator) / rate
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    y = (y + noise * (k_g * m / 255.0)).clamp_(-black, 1.0 - black)
    pos = y.clamp(min=0.0)
    y = y - pos + torch.poisson(pos * lam_p, generator=generator) / lam_p + black
    if _any_corr(corr):
        y = x + colour_noise(y - x, corr)
    return y.clamp_(0.0, 1.0)


#: Largest lag-1 correlation the 3-tap colouring kernel reaches (1/sqrt(2)).
MAX_CORR = 0.7


def colour_kernel(corr: float) -> np.ndarray:
    """1D kernel ``[c, 1, c] / sqrt(1 + 2c^2)``: white noise filtered with it along an
    axis has unit gain in variance and lag-1 correlation ``corr`` along that axis."""
    rho = float(np.clip(corr, 0.0, MAX_CORR))
    c = 0.0 if rho == 0 else (1.0 - np.sqrt(1.0 - 2.0 * rho * rho)) / (2.0 * rho)
    return np.array([c, 1.0, c]) / np.sqrt(1.0 + 2.0 * c * c)


def colour_noise(noise: torch.Tensor, corr: float | tuple[float, float]) -> torch.Tensor:
    """Filter ``noise`` (B x n x H x W) with the separable :func:`colour_kernel`.

    White noise comes out with lag-1 correlation ``corr`` along both axes (or
    ``(corr_y, corr_x)``, one per axis: row or column noise) and the same variance (a
    slowly varying variance is kept locally).  Borders replicate.
    """
    cy, cx = corr if isinstance(corr, tuple) else (corr, corr)
    n = noise.shape[1]
    out = noise
    if cy > 0:
        k1 = torch.as_tensor(colour_kernel(cy), dtype=noise.dtype, device=noise.device)
        ky = k1.view(1, 1, 3, 1).repeat(n, 1, 1, 1)
        out = F.conv2d(F.pad(out, (0, 0, 1, 1), mode="replicate"), ky, groups=n)
    if cx > 0:
        k1 = torch.as_tensor(colour_kernel(cx), dtype=noise.dtype, device=noise.device)
        kx = k1.view(1, 1, 1, 3).repeat(n, 1, 1, 1)
        out = F.conv2d(F.pad(out, (1, 1, 0, 0), mode="replicate"), kx, groups=n)
    return out


def injected_variance(u: float, k_g: float, k_p: float, lam_p: float) -> float:
    """Variance that :func:`inject` adds to a flat interior region of value ``u``.

    ``u / lam_p + u**2 / k_p + (k_g * u / 255)**2`` (valid while clamping is rare and
    ``u`` lies inside [REGION_MEAN_MIN, REGION_MEAN_MAX]; above that ``m`` saturates).
    """
    m = min(max(u, REGION_MEAN_MIN), REGION_MEAN_MAX)
    return u / lam_p + u * m / k_p + (k_g * m / 255.0) ** 2
