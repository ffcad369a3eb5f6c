"""Camera defects: hot pixels and dead (cold) pixels, rows and columns, found against the
noise and repaired from their neighbours before the network's pass (docs/auto.md, "Do no
harm").  No napari or Qt here.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.ndimage import maximum_filter, median_filter

from .clipped import unclipped

NoiseStd = Callable[[np.ndarray], np.ndarray]

#: Excess or deficit (noise standard deviations) from which a pixel may be a defect.
HOT_SD = 8.0
#: A hot pixel's excess is more than this many times its brightest neighbour's.  At 2,
#: WideField_BPAE_B_1 had one pixel flagged (245 grey levels, its 4 neighbours 124-144,
#: the diagonals 20-57) that is in the mean of 50 captures too; repaired before the
#: network it cost 0.01 dB there.  A sampled Gaussian spot's neighbours hold
#: exp(-1 / (2 sigma^2)) of its peak: 0.61 at sigma 1 px, 0.33 at 0.67.
HOT_RATIO = 3.0
#: The sides of a dead valley: one pixel wide (the neighbours at -1 and +1) or two (one
#: pixel of a dead pair of columns: -1 and +2, or -2 and +1).
WIDTHS = ((-1, 1), (-1, 2), (-2, 1))
#: A pixel's 8 neighbours (a 3 x 3 footprint without its centre).
EIGHT = np.ones((3, 3), bool)
EIGHT[1, 1] = False
#: Passes of :func:`without_defects`.
DEFECT_PASSES = 3


def ring_excess(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(base, excess, brightest)`` of a (Y, X) plane: the median of the 5 x 5 ring
    around each pixel, the pixel's excess over it, and its brightest 8-neighbour's."""
    ring = np.ones((5, 5), bool)
    ring[1:4, 1:4] = False
    base = median_filter(x, footprint=ring, mode="reflect")
    brightest = maximum_filter(x, footprint=EIGHT, mode="reflect") - base
    return base, x - base, brightest


def defects(x: np.ndarray, sd: NoiseStd) -> np.ndarray:
    """Camera defects of a (Y, X) plane (bool, its shape; ``sd(values)``: the noise std
    at those values): hot pixels, whose excess over the median of the 5 x 5 ring around
    them is above :data:`HOT_SD` noise standard deviations at their own value (a photon
    count of 1 among zeros is no defect), off the plane's floor, and more than
    :data:`HOT_RATIO` times their brightest neighbour's (a spot's peak, whose PSF
    reaches its neighbours, is kept); and dead (cold) pixels, rows and columns: among the
    plane's darkest 1 %, a deficit below that median above :data:`HOT_SD` standard
    deviations at the median and more than twice that of both neighbours along x or
    both along y (a valley one or two pixels wide below the background, :data:`WIDTHS`).
    Not next to a clipped floor (:func:`~napari_fm2s.clipped.unclipped`), whose sparse
    noise spikes read many noise sd above it."""
    base, excess, brightest = ring_excess(x)
    # on the plane's floor (zeros of photon counts or of a clipped export) a spike is a
    # count or censored noise as likely as a defect
    hot = ((excess > HOT_SD * sd(x)) & (excess > HOT_RATIO * np.maximum(brightest, 0.0))
           & (base > x.min()))
    deficit = -excess
    # below the plane's darkest 1 %: a valley between bright spots on a low-noise image is
    # 1-2 px wide too, and its depth can reach 8 sd of the noise (test_do_no_harm)
    cold = (x <= np.percentile(x, 1)) & (deficit > HOT_SD * sd(base))
    if cold.any():
        pad = np.pad(x, 2, mode="reflect")
        h, w = x.shape

        def at(dy: int, dx: int) -> np.ndarray:
            return pad[2 + dy:2 + dy + h, 2 + dx:2 + dx + w]

        thin = np.zeros_like(cold)
        for a, b in WIDTHS:  # the valley's two sides along y, then along x
            for one, two in (((a, 0), (b, 0)), ((0, a), (0, b))):
                darker = base - np.minimum(at(*one), at(*two))
                thin |= deficit > 2.0 * np.maximum(darker, 0.0)
        cold &= thin
    # next to a clipped floor the noise is censored: its spikes are noise, not defects
    return (hot | cold) & unclipped(x[None])[0]


def without_defects(x: np.ndarray, sd: NoiseStd) -> np.ndarray:
    """``x`` (a (Y, X) plane; ``sd(values)`` the noise std at those values) with each of
    its :func:`defects` replaced by the median of its 8 neighbours that are not defects
    themselves (in up to :data:`DEFECT_PASSES` passes: where a dead row crosses a dead
    column, the crossing is found once its neighbours are repaired); ``x`` itself when
    there are none.  The network, never trained on such pixels, passes a dead column
    through and smears it into its neighbours; the guard would read a hot pixel as
    removed signal and put it back, with the noise of the 9 x 9 window around it."""
    out = x
    for _ in range(DEFECT_PASSES):
        bad = defects(out, sd)
        if not bad.any():
            break
        out = _repaired(out, bad)
    return out


def _repaired(x: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """A copy of ``x`` whose ``bad`` pixels hold the median of their good neighbours (8,
    else the 5 x 5 ring's median)."""
    h, w = x.shape
    ys, xs = np.nonzero(bad)
    vals = np.full((8, ys.size), np.nan)
    k = 0
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy == 0 and dx == 0:
                continue
            yy = np.clip(ys + dy, 0, h - 1)
            xx = np.clip(xs + dx, 0, w - 1)
            vals[k] = np.where(bad[yy, xx], np.nan, x[yy, xx])
            k += 1
    fill = np.full(ys.size, np.nan)
    some = ~np.isnan(vals).all(axis=0)
    fill[some] = np.nanmedian(vals[:, some], axis=0)
    if not some.all():
        fill[~some] = ring_excess(x)[0][ys[~some], xs[~some]]
    out = x.copy()
    out[ys, xs] = fill
    return out
