"""Immerkaer's noise estimate by intensity: the noise of small or textured planes, where
the residual curve of :mod:`napari_fm2s.measure` has too few bins or reads structure as
noise; and the weighted line fit both use.  No napari or Qt here.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import maximum_filter, uniform_filter

from .clipped import unclipped, varying


def fit_line(u: np.ndarray, v: np.ndarray, w: np.ndarray) -> tuple[float, float, float]:
    """Weighted least squares ``v = a u + b`` with ``a >= 0``: ``(a, b, se)``, ``se`` the
    standard error of the free fit's slope from its residuals (NaN under 3 points)."""
    A = np.stack([u, np.ones_like(u)], 1) * w[:, None]
    (a, b), *_ = np.linalg.lstsq(A, v * w, rcond=None)
    se = float("nan")
    if u.size >= 3:
        resid = v * w - A @ np.array([a, b])
        cov = np.linalg.pinv(A.T @ A) * float(resid @ resid) / (u.size - 2)
        se = float(np.sqrt(max(cov[0, 0], 0.0)))
    if a < 0 or u.size < 2:
        return 0.0, float(np.sum(v * w * w) / np.sum(w * w)), se
    return float(a), float(b), se


def white_noise_line(image: np.ndarray) -> tuple[float, float, float]:
    """``(a, b, floor)`` of :func:`white_noise_fit`."""
    return white_noise_fit(image)[:3]


def white_noise_fit(image: np.ndarray) -> tuple[float, float, float, float]:
    """Noise of a (Y, X) or (k, Y, X) array, small or textured (same scale as the array):
    ``(a, b, floor, se)`` of ``var(u) = max(a u + b, floor)``, ``se`` the slope's standard
    error (:func:`fit_line`; NaN under 3 groups).  Immerkaer's mask (Immerkaer
    1996, "Fast noise variance estimation"; it cancels flat and sloped intensities), its
    responses in up to :data:`LINE_GROUPS` groups by 3 x 3 mean intensity, each group's
    std from its median absolute response (``/ (0.6745 * 6)``), a line fitted to their
    variances (``floor``: the darkest group's).  Windows that are constant or touch a
    clipped plateau (the maximum, on 2+ pixels; a clipped floor, while
    :data:`LINE_GROUP_PIXELS` others are left) are left out.  All 0 when none is left."""
    x = np.asarray(image, np.float64)
    x = x.reshape((-1,) + x.shape[-2:])
    if min(x.shape[-2:]) < 3:
        return 0.0, 0.0, 0.0, float("nan")
    r = (x[:, :-2, :-2] - 2 * x[:, :-2, 1:-1] + x[:, :-2, 2:]
         - 2 * x[:, 1:-1, :-2] + 4 * x[:, 1:-1, 1:-1] - 2 * x[:, 1:-1, 2:]
         + x[:, 2:, :-2] - 2 * x[:, 2:, 1:-1] + x[:, 2:, 2:])
    top = x == x.max()
    left_out = ~varying(x) if x.shape[-1] >= 5 and x.shape[-2] >= 5 else \
        np.zeros(x.shape, bool)
    if top.sum() > 1:
        left_out |= maximum_filter(top, (1, 3, 3))
    clipped = ~unclipped(x)[:, 1:-1, 1:-1]
    if (~left_out[:, 1:-1, 1:-1] & ~clipped).sum() >= LINE_GROUP_PIXELS:
        left_out[:, 1:-1, 1:-1] |= clipped
    keep = ~left_out[:, 1:-1, 1:-1]
    if not keep.any():
        return 0.0, 0.0, 0.0, float("nan")
    level = uniform_filter(x, (1, 3, 3))[:, 1:-1, 1:-1][keep]
    resp = np.abs(r[keep])
    k = int(max(np.clip(resp.size // LINE_GROUP_PIXELS, 1, LINE_GROUPS),
                min(resp.size // WIDE_GROUP_PIXELS, WIDE_GROUPS)))
    which = np.minimum((np.argsort(np.argsort(level)) * k) // resp.size, k - 1)
    lv = np.array([level[which == g].mean() for g in range(k)])
    var = np.array([(np.median(resp[which == g]) / (0.6745 * 6)) ** 2 for g in range(k)])
    if k == 1 or not np.all(var > 0):
        v = float(np.median(var))
        return 0.0, v, v, float("nan")
    a, b, se = fit_line(lv, var, np.ones(k) / var)
    return a, b, float(var[0]), se


#: Groups (by intensity) and the fewest responses per group of :func:`white_noise_line`.
LINE_GROUPS, LINE_GROUP_PIXELS = 4, 100
#: ... and up to this many groups of at least this many responses each, where there are
#: enough (a high-dynamic-range plane: 4 groups put its dark background with the edges).
WIDE_GROUPS, WIDE_GROUP_PIXELS = 12, 1000
