"""The noise the do-no-harm guard (:mod:`napari_fm2s.guard`) compares against: a line of
variance against intensity with a floor, in the image's own units, from auto's (or the
image's measured) noise estimate.  No napari or Qt here."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .local_mean import layer_coordinate
from .measure import NoiseEstimate


@dataclass(frozen=True)
class NoiseModel:
    """The noise the guard compares against, in the image's own units:
    ``variance(X) = max(a X + b, floor)`` (``floor``: the read noise's variance, which
    no darker pixel goes below), lag-1 correlation ``corr`` along (y, x)."""

    a: float
    b: float
    floor: float = 0.0
    corr: tuple[float, float] = (0.0, 0.0)

    @classmethod
    def from_unit(cls, a: float, b: float, floor: float, scale: float, offset: float,
                  corr: tuple[float, float] = (0.0, 0.0)) -> NoiseModel:
        """From ``var(u) = max(a u + b, floor)`` on the unit scale
        ``u = (X - offset) / scale``."""
        return cls(a * scale, b * scale * scale - a * scale * offset, floor * scale * scale,
                   (float(corr[0]), float(corr[1])))

    @classmethod
    def from_estimate(cls, est: NoiseEstimate, scale: float, offset: float) -> NoiseModel:
        """From a calibration's estimate (unit scale of the map ``scale``, ``offset``)."""
        return cls.from_unit(est.a, est.b, est.read_noise ** 2, scale, offset, est.corr_yx)

    def unit_variance(self, u: np.ndarray, scale: float, offset: float) -> np.ndarray:
        """The variance at unit-scale values ``u`` of a map (``scale``, ``offset``)."""
        v = self.a * (u * scale + offset) + self.b
        return np.maximum(v, self.floor) / (scale * scale)

    def layers(self, u: np.ndarray, scale: float, offset: float) -> np.ndarray:
        """Layer coordinate (:func:`~napari_fm2s.local_mean.layer_coordinate`) of
        unit-scale values ``u``: the variance-stabilised intensity ``integral dX / sd(X)``
        (noise standard deviations above the map's zero), for
        :func:`~napari_fm2s.local_mean.keep_mean`."""
        floor = max(self.floor, self.a * self.a, 1e-30)  # Poisson only: one photon's
        if self.a <= 0:
            return layer_coordinate(np.asarray(u) * scale / np.sqrt(max(self.b, floor)))

        def stabilised(X: np.ndarray) -> np.ndarray:
            knee = (floor - self.b) / self.a  # the line reaches the floor here
            line = 2.0 * (np.sqrt(np.maximum(self.a * X + self.b, floor))
                          - np.sqrt(floor)) / self.a + knee / np.sqrt(floor)
            return np.where(X < knee, X / np.sqrt(floor), line)

        X = np.asarray(u, np.float64) * scale + offset
        return layer_coordinate(stabilised(X) - stabilised(np.float64(offset)))
