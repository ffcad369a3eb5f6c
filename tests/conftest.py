import numpy as np
import pytest

from napari_fm2s.samples import synthetic_cells


@pytest.fixture
def noisy_small() -> np.ndarray:
    """64x64 uint8 noisy synthetic image."""
    return synthetic_cells((64, 64), seed=3)[0]


#: Keeps paper- and fast-mode tests to a few dozen steps.
FAST = {"samples": 3, "steps_per_sample": 2, "fast_steps": 10}
