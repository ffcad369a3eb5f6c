"""Exact medians, faster than ``scipy.ndimage.median_filter``: the 3 x 3 square median
(:func:`square_median`) and the do-no-harm guard's wide median, separable, each 1-D pass a
running median.

The 3 x 3 median (the median target of most presets, the noise curve's residuals) is the
median of three: of the columns' lowest values their highest, of their middle values the
median, of their highest values the lowest, each column of three sorted first; about 20
element-wise minima and maxima, the same values as scipy's (an element of the window is
selected, nothing computed), 7x faster on 512 x 512 (4 against 30 ms).

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


def _median3(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    return np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), c))


def square_median(x: np.ndarray, size: int) -> np.ndarray:
    """``scipy.ndimage.median_filter`` of a ``size`` x ``size`` window in each plane (the
    last two axes) of ``x``, 'reflect' border: the same values and dtype (a zero's sign
    may differ).  A 3 x 3 window on a non-empty float32 or float64 array of finite values
    is taken by the method of the module docstring, anything else by scipy."""
    x = np.asarray(x)
    if (size != 3 or x.ndim < 2 or x.size == 0 or x.dtype not in (np.float32, np.float64)
            or not np.isfinite(x).all()):
        return median_filter(x, size=(1,) * (x.ndim - 2) + (size, size), mode="reflect")
    p = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(1, 1), (1, 1)], mode="symmetric")
    a, b, c = p[..., :-2, :], p[..., 1:-1, :], p[..., 2:, :]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    mid, hi = np.minimum(hi, c), np.maximum(hi, c)
    lo, mid = np.minimum(lo, mid), np.maximum(lo, mid)  # each column: lo <= mid <= hi
    low = np.maximum(np.maximum(lo[..., :-2], lo[..., 1:-1]), lo[..., 2:])
    high = np.minimum(np.minimum(hi[..., :-2], hi[..., 1:-1]), hi[..., 2:])
    middle = _median3(mid[..., :-2], mid[..., 1:-1], mid[..., 2:])
    return _median3(low, middle, high)


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
