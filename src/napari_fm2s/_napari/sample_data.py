"""napari sample data: a synthetic noisy fluorescence image and its clean version."""

from __future__ import annotations

import numpy as np

from ..samples import synthetic_cells


def sample_cells() -> list[tuple]:
    """Noisy 8-bit cells (512x512, shot + read noise) and the clean image, for comparison."""
    noisy, clean = synthetic_cells((512, 512), seed=1, clip_filaments=False)
    # one display range for both, set by the bright structures, so dim cells are visible
    limits = [0.0, float(np.percentile(clean, 99.9))]
    return [
        (clean, {"name": "cells (clean truth)", "colormap": "gray", "contrast_limits": limits,
                 "visible": False}, "image"),
        (noisy, {"name": "cells (noisy)", "colormap": "gray", "contrast_limits": limits}, "image"),
    ]
