"""Local means that stay on their side of an edge.

The guard gives the network's result (and the wide median) the input's local mean
(:func:`keep_mean`).  A plain Gaussian mean of the removed part spreads
what was removed at a bright object's edge onto the dark background beside it: a cell
whose rim the network brightened by 5-11 ADU left a dark ring of -2.5 to -3 ADU around
it (a 1024 x 1024 sCMOS frame, noise 11.4 ADU).  :func:`layered_mean` averages each pixel
with its neighbours of similar intensity only: the intensity axis is cut into layers of
:data:`LAYER_SPACING` noise standard deviations (on the noise model's variance-stabilised
scale, compressed above :data:`LAYER_COMPRESS`), each pixel split between its two
nearest layers, and each layer's Gaussian mean taken on its own, as in the bilateral grid
(Chen, Paris & Durand 2007).  The Gaussian runs on cells of :data:`CELL` x :data:`CELL`
pixels, aligned with the plane (not the block), so a lazy chunk with its halo gets the
plane's result.  No napari or Qt here.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
from scipy.ndimage import gaussian_filter, map_coordinates

from .noise import MEAN_SIGMA

#: Unit-scale intensities -> layer coordinate (the guard's
#: :meth:`napari_fm2s.noise_model.NoiseModel.layers`).
Layers = Callable[[np.ndarray], np.ndarray]
#: :func:`keep_mean` clips the removed part at this many noise standard deviations.
MEAN_CLIP = 8.0

#: Height of a layer, in noise standard deviations.
LAYER_SPACING = 3.0
#: Stabilised intensity (noise standard deviations) above which layers widen in
#: proportion (``asinh``): a 16-bit high-SNR plane keeps a few dozen layers.
LAYER_COMPRESS = 30.0
#: Side of the cells the Gaussian runs on (pixels).
CELL = 4
#: Weight of the all-layer mean in each layer's mean (in pixels of the cell grid's
#: Gaussian weights): a layer with a handful of pixels nearby is not a mean of noise.
PRIOR = 0.05
#: More layers than this in one block: the plain Gaussian mean (memory bound).
MAX_LAYERS = 256
#: How far (pixels) :func:`layered_mean` reads: the Gaussian's truncation plus a cell
#: each for the grid's alignment and its interpolation (a lazy chunk's halo).
REACH = int(4 * MEAN_SIGMA) + 2 * CELL


def layer_coordinate(stabilised: np.ndarray) -> np.ndarray:
    """Layer coordinate (layers 1 apart) of a variance-stabilised intensity (noise
    standard deviations)."""
    return (LAYER_COMPRESS / LAYER_SPACING) * np.arcsinh(
        np.asarray(stabilised, np.float64) / LAYER_COMPRESS)


def layered_mean(res: np.ndarray, coord: np.ndarray, sigma: float,
                 origin: tuple[int, int] = (0, 0), cell: int = CELL) -> np.ndarray:
    """The Gaussian (``sigma`` pixels) local mean of ``res`` (Y, X) over the pixels of
    each pixel's layer: ``coord`` (same shape, :func:`layer_coordinate`) puts each pixel
    between layers ``floor(coord)`` and the next, linearly.  ``origin``: the block's
    first pixel in the plane; ``cell``: side of the grid's cells (pixels, at most about
    ``sigma / 2``).  Float64, the shape of ``res``."""
    res = np.asarray(res, np.float64)
    coord = np.asarray(coord, np.float64)
    k = np.floor(coord)
    frac = (coord - k).ravel()
    k = k.astype(np.int64)
    k0, k1 = (int(k.min()), int(k.max())) if k.size else (0, 0)
    if k1 - k0 > 4 * MAX_LAYERS:
        return gaussian_filter(res, sigma, mode="reflect", truncate=4.0)
    present = np.flatnonzero(np.bincount((k - k0).ravel(), minlength=1)) + k0
    occupied = np.union1d(present, present + 1)
    if occupied.size > MAX_LAYERS or min(res.shape) < 2:
        return gaussian_filter(res, sigma, mode="reflect", truncate=4.0)
    index = np.zeros(k1 - k0 + 2, np.int64)  # a layer's place among the occupied ones
    index[occupied - k0] = np.arange(occupied.size)
    layer = index[k - k0]  # k + 1 is the next occupied layer
    n_layers = occupied.size
    (h, w), (oy, ox) = res.shape, origin
    cy = (np.arange(h) + oy) // cell - oy // cell
    cx = (np.arange(w) + ox) // cell - ox // cell
    ny, nx = int(cy[-1]) + 1, int(cx[-1]) + 1
    lo = ((cy[:, None] * nx + cx[None, :]) * n_layers + layer).ravel()
    hi, rest = lo + 1, 1 - frac
    size = ny * nx * n_layers
    r = res.ravel()

    def splat(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
        grid = (np.bincount(lo, lower, size) + np.bincount(hi, upper, size)
                ).reshape(ny, nx, n_layers)
        s = sigma / cell
        return gaussian_filter(grid, (s, s, 0), mode="reflect", truncate=4.0)

    num, den = splat(rest * r, frac * r), splat(rest, frac)
    every = num.sum(axis=2, keepdims=True) / np.maximum(den.sum(axis=2, keepdims=True),
                                                         1e-12)
    mean = (num + PRIOR * every) / (den + PRIOR)
    at_y = (np.arange(h) + oy + 0.5) / cell - 0.5 - oy // cell
    at_x = (np.arange(w) + ox + 0.5) / cell - 0.5 - ox // cell
    at = [np.broadcast_to(at_y[:, None], res.shape), np.broadcast_to(at_x[None, :], res.shape),
          layer + frac.reshape(res.shape)]
    return map_coordinates(mean, at, order=1, mode="nearest")


def keep_mean(a: np.ndarray, x: np.ndarray, sd: np.ndarray,
              layers: Optional[Layers] = None, origin: tuple[int, int] = (0, 0)
              ) -> np.ndarray:
    """``a + G(clip(x - a))``: the estimate ``a`` of ``x`` with ``x``'s local mean (Gaussian
    ``G`` of the training target's :data:`~napari_fm2s.noise.MEAN_SIGMA`); the removed part
    is clipped at :data:`MEAN_CLIP` noise standard deviations ``sd`` per pixel first, so a
    hot pixel is not spread.  The network and the median fall below the mean of skewed,
    low-count noise (Confocal_FISH_1: -2.5 % and -29 %).  With ``layers`` (intensity ->
    layer coordinate), ``G`` averages over pixels of ``a``'s intensity only
    (:func:`layered_mean`): no dark ring beside bright edges."""
    res = np.clip(x - a, -MEAN_CLIP * sd, MEAN_CLIP * sd)
    if layers is None:
        return a + gaussian_filter(res, MEAN_SIGMA, mode="reflect", truncate=4.0)
    return a + layered_mean(res, layers(a), MEAN_SIGMA, origin)


#: :func:`local_bias`: Gaussian sigma (pixels) of the local mean of the removed part,
#: and the standard errors of that mean it must exceed (soft threshold).  At 1 standard
#: error: FMD confocal +0.02 dB but low-SNR nuclei (2-22 photons) -0.20 dB, the noise put
#: back weighing against a result whose own error is ~2 % of the noise variance; at 2:
#: every benchmark kind within -0.01 dB or better (docs/auto.md).
BIAS_SIGMA, BIAS_SE = 2.0, 2.0
#: How far (pixels) :func:`local_bias` reads (a lazy chunk's halo).
BIAS_REACH = int(4 * BIAS_SIGMA) + 1


def local_bias(removed: np.ndarray, sd: np.ndarray, layers: Layers, result: np.ndarray,
               origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """What a result removed on average, where that is more than noise: the layered mean
    (:func:`layered_mean`, sigma :data:`BIAS_SIGMA`, layers of ``result``) of the
    ``removed`` part, soft-thresholded at :data:`BIAS_SE` standard errors of a mean of
    white noise of std ``sd`` (``sd / (2 sigma sqrt(pi))``).  Added back, it takes off
    the result's local biases (a bright nucleus' flank left 12 ADU high, the dark
    undershoot beside it) at the cost of ~0.02 % of the noise variance elsewhere (pure
    noise soft-thresholded at 2 standard errors); for white noise only (a mean of
    correlated noise is blotchy: at 1 standard error WideField_BPAE_B_4 lost 0.33 dB)."""
    m = layered_mean(removed, layers(result), BIAS_SIGMA, origin, cell=1)
    se = sd / (2.0 * BIAS_SIGMA * np.sqrt(np.pi))
    return np.sign(m) * np.maximum(np.abs(m) - BIAS_SE * se, 0.0)
