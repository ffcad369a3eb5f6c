"""The guard's running medians (bottleneck) give scipy's median_filter values exactly."""

import numpy as np
import pytest
from scipy.ndimage import median_filter

from napari_fm2s.wide_median import running_median


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (5, 40), (33, 34), (40, 7), (64, 97)])
@pytest.mark.parametrize("size", [3, 4, 33])
def test_running_median_equals_scipys(shape, size):
    x = np.random.default_rng(sum(shape) + size).random(shape).astype(np.float32)
    x[0, 0] = x[-1, -1]  # ties
    for axis in (0, 1):
        window = (size, 1) if axis == 0 else (1, size)
        np.testing.assert_array_equal(running_median(x, size, axis),
                                      median_filter(x, size=window, mode="reflect"))
