"""Fine structure that the noise curve reads as correlated noise.

On a bright, high-SNR image the flat pixels of every intensity bin still hold fine
structure (fibres, texture) at the noise's scale.  :func:`~napari_fm2s.measure.measure`
then reads correlated residuals and too much variance: on TwoPhoton_BPAE_G's ground truth
(the mean of 50 captures, white noise of about 2 grey levels) a noise of 4.9 grey levels
with correlation 0.49, so the network was trained and guarded as for wide-field noise
and smoothed the fibres as much as a Gaussian blur.

Camera noise has one correlation at every intensity; structure does not: it grows with
the signal, so the residuals' lag-1 correlation rises from the darkest bin to the
brightest (TwoPhoton_BPAE_G's ground truth: +0.09 to +0.20, t = 5.8; the 12-bit CCD
kind at 25x the light of ``benchmarks/camera_kinds.py``: t = 6.4), while on truly
correlated wide-field noise it stays flat (FMD WideField captures: t = -1.7 to -0.9;
their 96-256 px crops at most +1.4).  :func:`white_if_textured` takes such a rise as
structure: the noise is white, at the level of Immerkaer's estimate
(:func:`~napari_fm2s.immerkaer.white_noise_line`, whose second difference barely sees
structure smoother than a pixel).  Planes under about 300 x 300 pixels rarely show a
significant rise; under about 80 x 80 (fewer than 4 bins) or 200 x 200 pixels a weak
isotropic correlation is read as structure instead (:data:`SMALL_CORR`).  No napari or
Qt here.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .immerkaer import white_noise_fit
from .measure import NoiseCurve, NoiseEstimate, estimate_noise, residual_response

#: t-statistic of the correlation's rise over the bins from which it is structure.
TREND_T = 3.0
#: Variance of one bin's lag-1 correlation, in units of 1 / pixels (white noise: 1;
#: correlated noise, whose pairs are not independent, more: measured ~1.3 on FMD
#: WideField captures).
TREND_INFLATION = 1.5
#: Fewest bins the trend is read on.
MIN_TREND_BINS = 4
#: On fewer bins (planes under ~80 x 80), a correlation below this is read as structure:
#: a crop inside a textured cell reads 0.25-0.50 (the 12-bit CCD kind's 32-96 px crops),
#: wide-field camera noise 0.50-0.64 (FMD WideField's 32-64 px crops).
SMALL_CORR = 0.45
#: ... and so on planes (pooled) of fewer pixels than this, whatever their bins: a 128 x
#: 128 sCMOS frame of dense cells and filaments under white noise read 0.31 over 7 bins
#: with no rise; FMD WideField's 96-128 px crops read 0.57-0.64.
SMALL_PIXELS = 200 * 200


def corr_trend(curve: NoiseCurve) -> float:
    """t-statistic of the rise of the per-bin residual correlation (``curve.bin_corr``)
    from the darkest bin to the brightest (weighted by the bins' pixels; bins placed by
    rank).  0 with fewer than :data:`MIN_TREND_BINS` bins."""
    r, n = np.asarray(curve.bin_corr, float), np.asarray(curve.count, float)
    if r.size < MIN_TREND_BINS or r.size != n.size:
        return 0.0
    pos = np.linspace(0.0, 1.0, r.size)
    centred = pos - np.average(pos, weights=n)
    spread = float(np.sum(n * centred ** 2))
    slope = float(np.sum(n * centred * (r - np.average(r, weights=n)))) / spread
    return slope / np.sqrt(TREND_INFLATION / spread)


def white_if_textured(est: NoiseEstimate, image: np.ndarray) -> NoiseEstimate:
    """``est``, or white noise (``textured`` set) where its correlation reads as structure:

    * it rises with intensity (:func:`corr_trend` >= :data:`TREND_T`): white noise at
      Immerkaer's level on the same bins, ``var(u) = max(a u + b, floor)`` of
      :func:`~napari_fm2s.immerkaer.white_noise_line` on ``image`` ((Y, X) or (k, Y, X),
      the unit scale ``est`` was measured on);
    * too few bins for the trend or pixels (:data:`SMALL_PIXELS`) and an isotropic
      correlation under :data:`SMALL_CORR`: the curve's own residual variance read as
      white noise's
      (less than as correlated noise's, whose median residual keeps less of it)."""
    if not est.correlated:
        return est
    c = est.curve
    rises = corr_trend(c) >= TREND_T
    few = c.level.size < MIN_TREND_BINS or np.size(image) < SMALL_PIXELS
    small = few and est.corr < SMALL_CORR and not est.anisotropic
    if not (rises or small):
        return est
    _, rr, kappa = residual_response()[:3]
    k0 = float(kappa[0])
    if rises:
        a, b, floor, se = white_noise_fit(image)
        var = k0 * np.maximum(a * c.level + b, floor)
    else:
        var = c.variance
    white = NoiseCurve(c.level, var, c.count, c.edges, (float(rr[0]), float(rr[0])),
                       c.bin_corr)
    if rises:
        return NoiseEstimate(a, b, 0.0, white, k0, (0.0, 0.0), textured=True, gain_se=se)
    return replace(estimate_noise(image, white), textured=True)
