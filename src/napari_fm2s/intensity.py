"""Map any supported dtype onto the [0, 1] scale the presets assume, and back.

The rule (also in README.md):

* ``uint8``: ``x / 255``, exactly as the paper.
* other integers: ``(x - lo) / full_scale`` with ``lo = min(0, min)`` and
  ``full_scale = 2**b - 1`` for the smallest bit depth ``b >= 8`` that holds
  ``max - lo``.  A 12-bit camera stored in uint16 (values up to 4095) is
  divided by 4095, not 65535, so its noise looks to the presets as it would on
  an 8-bit sensor at full range.
* floats: ``(x - lo) / (max - lo)`` with ``lo = min(0, min)``.  Zero
  stays zero and data in [0, 1] whose maximum is 1 is unchanged;
  background-subtracted data with negative values is shifted so that its most
  negative value maps to 0, which keeps the noise around the background intact.

``min`` and ``max`` are robust (:func:`robust_range`): a pixel more than twice as bright
as all 8 of its neighbours (darker than all of them) counts only as bright (dark) as its
brightest (darkest) neighbour, so one hot pixel at 65535 in a 12-bit image does not make
it 16-bit, while the peak of a sharp spot counts in full.  :meth:`IntensityMap.to_unit`
replaces the pixels that fall outside [0, 1] (such outliers) by the median of their 3x3
neighbourhood, as the median training target does, and clips to [0, 1].

``from_unit`` inverts the mapping exactly, returning float32 in input units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import maximum_filter, minimum_filter

from .medians import square_median


@dataclass(frozen=True)
class IntensityMap:
    """``unit = (x - offset) / scale``."""

    offset: float
    scale: float
    rule: str

    def to_unit(self, x: np.ndarray) -> np.ndarray:
        """``x`` on the [0, 1] scale (float32); pixels outside it are outliers (hot or cold
        pixels beyond the robust range): replaced by their 3x3 median, then clipped."""
        y = ((np.asarray(x, dtype=np.float64) - self.offset) / self.scale).astype(np.float32)
        bad = (y > 1.0) | (y < 0.0)
        if y.ndim >= 2 and bad.any():
            med = square_median(y, 3)
            y[bad] = med[bad]
        return np.clip(y, 0.0, 1.0, out=y)

    def from_unit(self, y: np.ndarray) -> np.ndarray:
        return (np.asarray(y, dtype=np.float64) * self.scale + self.offset).astype(np.float32)


def capped(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``x`` (..., Y, X) with each pixel capped to the range of its 8 neighbours in the
    plane: (raised to the darkest neighbour, lowered to the brightest), float64.

    A pixel at most twice as bright as its brightest (non-negative) neighbour is not
    lowered: the peak of a sharp spot on a low-noise image is no hot pixel, and capping it
    would put it above the full scale, where :meth:`IntensityMap.to_unit` replaces it by
    its median.  Works on any block with a halo of one pixel (image borders have fewer
    neighbours)."""
    f = np.asarray(x, dtype=np.float64)
    ring = np.ones((3, 3), bool)
    ring[1, 1] = False
    ring = ring.reshape((1,) * (f.ndim - 2) + (3, 3))
    up = maximum_filter(f, footprint=ring, mode="constant", cval=-np.inf)
    down = minimum_filter(f, footprint=ring, mode="constant", cval=np.inf)
    hot = f - up > np.maximum(up, 0.0)
    return np.maximum(f, down), np.where(hot, up, f)


def robust_range(x: np.ndarray) -> tuple[float, float]:
    """(min, max) of ``x`` ignoring isolated outliers, over its last two (Y, X) axes.

    Each pixel is capped to the range of its 8 neighbours before taking the min and max
    (:func:`capped`): a lone hot (or cold) pixel counts as its brightest (darkest)
    neighbour, while a spot's peak and any feature of two or more pixels, e.g. a
    saturated spot, count in full.  Falls back to the plain range when the capped one is
    empty (e.g. one non-zero pixel).
    """
    x = np.asarray(x)
    lo, hi = float(np.min(x)), float(np.max(x))
    if x.ndim < 2 or min(x.shape[-2:]) < 2:
        return lo, hi
    c_lo, c_hi = capped(x)
    return robust_or_plain(float(np.min(c_lo)), float(np.max(c_hi)), lo, hi)


def robust_or_plain(rlo: float, rhi: float, lo: float, hi: float) -> tuple[float, float]:
    """The robust range, or the plain one when the robust one is empty."""
    return (rlo, rhi) if rhi > rlo else (lo, hi)


def intensity_map(x: np.ndarray) -> IntensityMap:
    """Choose the mapping for ``x`` (see the module docstring for the rule)."""
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return IntensityMap(0.0, 255.0, "uint8 / 255")
    return map_for_range(x.dtype, *robust_range(x))


def map_for_range(dtype: np.dtype | type, xmin: float, xmax: float) -> IntensityMap:
    """The mapping of data of ``dtype`` whose values span ``[xmin, xmax]``.

    Lets a whole stack (or a lazy array, from its min and max) share one mapping.
    """
    dtype = np.dtype(dtype)
    if dtype == np.uint8:
        return IntensityMap(0.0, 255.0, "uint8 / 255")
    lo = min(0.0, float(xmin))
    span = float(xmax) - lo
    if np.issubdtype(dtype, np.integer):
        bits = max(8, int(np.ceil(np.log2(span + 1.0))))
        return IntensityMap(lo, float(2**bits - 1), f"integer, {bits}-bit full scale")
    if span <= 0:
        raise ValueError("image is all zeros: nothing to denoise")
    return IntensityMap(lo, span, "float, (x - min(0, x.min())) / range")


def to_unit(x: np.ndarray) -> tuple[np.ndarray, IntensityMap]:
    """Return ``x`` on the [0, 1] scale (float32) and the map to go back."""
    m = intensity_map(x)
    return m.to_unit(x), m
