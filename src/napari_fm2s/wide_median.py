"""The do-no-harm guard's wide median: separable, each 1-D pass a running median.

A 33 x 33 square median of a 1024 x 1024 plane costs seconds; the guard's median is the
mean of two separable ones (rows then columns, and columns first), each pass a running
median along one axis: ``bottleneck.move_median`` (a double heap, O(log size) per pixel)
on the plane padded by reflection, which gives exactly ``scipy.ndimage.median_filter``'s
values with a ``(1, size)`` window and its 'reflect' border (0.05 against 0.47 s per pass
on 1024 x 1024, one thread).  No napari or Qt here.
"""

from __future__ import annotations

import bottleneck
import numpy as np
from scipy.ndimage import median_filter


def running_median(x: np.ndarray, size: int, axis: int) -> np.ndarray:
    """``scipy.ndimage.median_filter(x, size)`` of an odd 1-D window of ``size`` along
    ``axis`` of a 2D float array, 'reflect' border (same values, same dtype)."""
    if size % 2 == 0 or x.shape[axis] <= size:  # even windows, or a reflection of a
        shape = [1, 1]  # reflection: scipy's own rule
        shape[axis] = size
        return median_filter(x, size=tuple(shape), mode="reflect")
    pad = [(0, 0), (0, 0)]
    pad[axis] = (size // 2, size // 2)
    moved = bottleneck.move_median(np.pad(x, pad, mode="symmetric"), size, axis=axis)
    return moved[(slice(None),) * axis + (slice(size - 1, None),)]


def wide_median(a: np.ndarray, size: int) -> np.ndarray:
    """The guard's median of a 2D array (float64, same shape): the mean of its two
    separable medians, each row's running median over ``size`` pixels then each column's,
    and columns first; 'reflect' border.  Its support is the ``size x size`` square of a
    square median, at O(log size) instead of O(size^2) work per pixel (one thread: two
    were slower, bottleneck holding the GIL)."""
    x = np.asarray(a, dtype=np.float32)

    def order(first: int) -> np.ndarray:
        once = running_median(x, size, first)
        return running_median(once, size, 1 - first).astype(np.float64)

    return 0.5 * (order(1) + order(0))
