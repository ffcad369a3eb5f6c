"""A clipped floor of the intensity range, where the noise is censored.

An 8-bit export whose camera offset was subtracted and the result clipped at 0 holds many
pixels at the minimum of its range.  Next to them
the noise is cut off: sparse spikes on zeros, whose small residuals read as a noise many
times lower than the noise on the structures, and pixels kept only where the noise
happened to stay inside the range, which correlates it.  :mod:`napari_fm2s.measure`
leaves such pixels and intensity bins out.

Photon counts are not clipped although they too pile up at 0: beside a zero, a photon-
counting image mostly holds ones, a clipped camera image values spread over its read
noise (:data:`CLIP_GAP`); and the zeros of a clipped image pile up, more of them than of
the values just above (:data:`CLIP_PILE`), while from a mean of one photon up Poisson
counts hold more ones than zeros.  The top is left alone: at a few photons per pixel the maximum
is common and far from its neighbours too (saturated plateaus are constant and left out
as such, :func:`varying`).

No napari or Qt here.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import maximum_filter, minimum_filter

#: A plane's minimum held by at least this fraction of its pixels may be a clipped
#: floor ...
CLIP_FRACTION = 0.01
#: ... when the pixels beside it lie, on average, at least this many quantisation steps
#: (the smallest difference between two of the plane's values) away from it.  Poisson
#: counts beside zeros: 1.6 steps at a mean of 1 photon, 2.3 at 2.
CLIP_GAP = 3.0
#: ... and when it holds more than this many times the pixels lying above it by up to half
#: that mean distance: a pile-up (a clipped tail), where Poisson counts hold fewer zeros
#: than ones from a mean of 1 photon up (a flat-fielded image's counts alike).
CLIP_PILE = 1.0
#: An intensity bin with more than this fraction of its pixels next to a clipped floor is
#: left out of the noise curve.
CLIP_BIN = 0.02


def clipped_floor(p: np.ndarray, v: float) -> bool:
    """Whether ``v``, the minimum of the (Y, X) plane ``p``, is a clipped floor (module
    docstring), not a pile of photon counts' zeros."""
    hit = p == v
    if hit.mean() < CLIP_FRACTION or hit.all():
        return False
    ring = maximum_filter(hit, 3) & ~hit
    step = quantum(p)
    if not (ring.any() and step > 0):
        return False
    gap = float(np.mean(p[ring] - v))
    near = int(((p > v) & (p <= v + gap)).sum())  # the values just above the floor
    return gap >= CLIP_GAP * step and hit.sum() > CLIP_PILE * near


def quantum(x: np.ndarray) -> float:
    """The smallest difference between two of ``x``'s values (its quantisation step; 0
    when it holds one value)."""
    values = np.unique(x)
    return float(np.min(np.diff(values))) if values.size > 1 else 0.0


def unclipped(x: np.ndarray) -> np.ndarray:
    """Pixels of a (k, Y, X) array farther than one pixel from a clipped floor of their
    plane: its minimum, held by at least :data:`CLIP_FRACTION` of the plane, with the
    pixels beside it :data:`CLIP_GAP` steps above it on average and piled up
    (:data:`CLIP_PILE`)."""
    out = np.ones(x.shape, bool)
    for i, p in enumerate(x):
        v = p.min()
        if clipped_floor(p, v):
            out[i] = ~maximum_filter(p == v, 3)
    return out


def censored_bins(clipped: np.ndarray, inner: np.ndarray, which: np.ndarray,
                  bins: int) -> np.ndarray:
    """For each of ``bins`` intensity bins (``which``: each pixel's bin), whether to leave
    it out: more than :data:`CLIP_BIN` of its ``inner`` pixels are ``clipped`` (next to
    a clipped floor)."""
    if not clipped.any():
        return np.zeros(bins, bool)
    sel = [inner & (which == i) for i in range(bins)]
    return np.array([(clipped & s).sum() > CLIP_BIN * s.sum() for s in sel], bool)


def varying(x: np.ndarray) -> np.ndarray:
    """Pixels whose 5x5 neighbourhood is not constant (zero padding, clipped plateaus
    and other constant areas are False), plane by plane of a (k, Y, X) array."""
    return maximum_filter(x, (1, 5, 5)) > minimum_filter(x, (1, 5, 5))
