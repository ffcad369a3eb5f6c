"""Map any supported dtype onto the [0, 1] scale the presets assume, and back.

The rule (also in README.md):

* ``uint8``: ``x / 255``, exactly as the paper.
* other integers: ``(x - lo) / full_scale`` with ``lo = min(0, x.min())`` and
  ``full_scale = 2**b - 1`` for the smallest bit depth ``b >= 8`` that holds
  ``x.max() - lo``.  A 12-bit camera stored in uint16 (values up to 4095) is
  divided by 4095, not 65535, so its noise looks to the presets as it would on
  an 8-bit sensor at full range.
* floats: ``(x - lo) / (x.max() - lo)`` with ``lo = min(0, x.min())``.  Zero
  stays zero and data in [0, 1] whose maximum is 1 is unchanged;
  background-subtracted data with negative values is shifted so that its most
  negative value maps to 0, which keeps the noise around the background intact.

``from_unit`` inverts the mapping exactly, returning float32 in input units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class IntensityMap:
    """``unit = (x - offset) / scale``."""

    offset: float
    scale: float
    rule: str

    def to_unit(self, x: np.ndarray) -> np.ndarray:
        return ((np.asarray(x, dtype=np.float64) - self.offset) / self.scale).astype(np.float32)

    def from_unit(self, y: np.ndarray) -> np.ndarray:
        return (np.asarray(y, dtype=np.float64) * self.scale + self.offset).astype(np.float32)


def intensity_map(x: np.ndarray) -> IntensityMap:
    """Choose the mapping for ``x`` (see the module docstring for the rule)."""
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return IntensityMap(0.0, 255.0, "uint8 / 255")
    return map_for_range(x.dtype, float(np.min(x)), float(np.max(x)))


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
