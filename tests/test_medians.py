"""The guard's running medians (bottleneck) and the 3x3 square median give scipy's
median_filter values exactly."""

import numpy as np
import pytest
from scipy.ndimage import median_filter

from napari_fm2s.medians import running_median, square_median


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (5, 40), (33, 34), (40, 7), (64, 97)])
@pytest.mark.parametrize("size", [3, 4, 33])
def test_running_median_equals_scipys(shape, size):
    x = np.random.default_rng(sum(shape) + size).random(shape).astype(np.float32)
    x[0, 0] = x[-1, -1]  # ties
    for axis in (0, 1):
        window = (size, 1) if axis == 0 else (1, size)
        np.testing.assert_array_equal(running_median(x, size, axis),
                                      median_filter(x, size=window, mode="reflect"))


@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (2, 2), (3, 7), (31, 17), (64, 48),
                                   (3, 20, 9), (2, 1, 6, 5)])
@pytest.mark.parametrize("kind", ["float32", "float64", "ties", "uint16", "int64"])
def test_square_median_3_equals_scipys(shape, kind):
    rng = np.random.default_rng(sum(shape))
    if kind == "ties":  # few distinct values: many equal neighbours
        x = rng.integers(0, 3, shape).astype(np.float32)
    elif kind in ("uint16", "int64"):  # scipy's own (it rounds int64 through float64)
        x = rng.integers(0, 65536, shape).astype(kind)
    else:
        x = rng.standard_normal(shape).astype(kind)
    want = median_filter(x, size=(1,) * (x.ndim - 2) + (3, 3), mode="reflect")
    got = square_median(x, 3)
    assert got.dtype == want.dtype and np.array_equal(got, want)


def test_square_median_other_windows_and_nan_are_scipys():
    rng = np.random.default_rng(2)
    x = rng.random((2, 30, 25)).astype(np.float32)
    for size in (1, 5, 11):
        want = median_filter(x, size=(1, size, size), mode="reflect")
        assert np.array_equal(square_median(x, size), want)
    for empty in (np.zeros((0, 5), np.float32), np.zeros((4, 0), np.float64)):
        assert square_median(empty, 3).shape == empty.shape
    x[0, 4, 4] = np.nan  # not finite: scipy's own ordering
    want = median_filter(x, size=(1, 3, 3), mode="reflect")
    assert np.array_equal(square_median(x, 3), want, equal_nan=True)
