"""NaN pixels as missing data (outside a registered or stitched field, masked out): each
is given its nearest valid pixel's value in its plane for denoising, and is NaN again in
the result (and its spread).  In-memory float data only: lazy (zarr, large TIFF) data with
NaN is refused by :func:`napari_fm2s.checks.check_finite`.  No napari or Qt here.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
from scipy.ndimage import distance_transform_edt

from .memory import log


def missing_pixels(arr: Any, lazy: bool, y: int = -2, x: int = -1) -> Optional[np.ndarray]:
    """The NaN pixels of an in-memory float ``arr`` (bool, its shape; planes along axes
    ``y``, ``x``), or None when there are none (or ``lazy``).  ValueError when every
    pixel is NaN."""
    if lazy or not np.issubdtype(arr.dtype, np.floating):
        return None
    nan = np.isnan(arr)
    if not nan.any():
        return None
    if nan.all():
        raise ValueError("image is all NaN: there is nothing to denoise")
    planes = np.moveaxis(nan, (y, x), (-2, -1)).reshape(-1, nan.shape[y] * nan.shape[x])
    whole = int(planes.all(axis=1).sum())
    log.warning("%.2g %% of the pixels are NaN%s: taken as missing (filled from their nearest "
                "pixels for denoising, NaN again in the result)", 100 * nan.mean(),
                f" ({whole} of {len(planes)} planes wholly)" if whole else "")
    return nan


#: A missing pixel takes the value of a valid pixel up to this far from its nearest one.
FILL_REACH = 2


def fill_missing(arr: np.ndarray, missing: np.ndarray, y: int, x: int) -> np.ndarray:
    """A copy of ``arr`` whose ``missing`` pixels hold the value of a valid pixel of their
    (``y``, ``x``) plane drawn (seeded) from within :data:`FILL_REACH` pixels of the nearest
    one, so that the fill carries the local level and noise (the nearest pixel's value
    alone made noise-free patches: at 37 % NaN the noise was measured at a third of its
    level); a plane with none valid holds the image's median."""
    out = np.moveaxis(arr.copy(), (y, x), (-2, -1))
    gone = np.moveaxis(missing, (y, x), (-2, -1))
    rng = np.random.default_rng(0)
    for idx in np.ndindex(out.shape[:-2]):
        m = gone[idx]
        if not m.any():
            continue
        if m.all():
            out[idx] = np.nanmedian(arr)
            continue
        iy, ix = distance_transform_edt(m, return_distances=False, return_indices=True)
        jy = np.clip(iy + rng.integers(-FILL_REACH, FILL_REACH + 1, m.shape), 0, m.shape[0] - 1)
        jx = np.clip(ix + rng.integers(-FILL_REACH, FILL_REACH + 1, m.shape), 0, m.shape[1] - 1)
        ok = ~m[jy, jx]
        plane = out[idx]
        plane[m] = plane[np.where(ok, jy, iy), np.where(ok, jx, ix)][m]
    return np.moveaxis(out, (-2, -1), (y, x))


def restore_missing(result: Any, missing: Optional[np.ndarray]) -> Any:
    """``result`` (an array, or a (result, spread) pair) with NaN at the ``missing`` pixels."""
    if missing is None:
        return result
    if isinstance(result, tuple):
        return tuple(restore_missing(r, missing) for r in result)
    result[missing] = np.nan
    return result
