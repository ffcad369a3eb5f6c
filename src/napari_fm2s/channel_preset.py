"""What a channel's planes train with, and the noise their do-no-harm guard uses.

Auto calibrates (:func:`napari_fm2s.calibrate.calibrate`) on the channel's sampled planes
pooled, or, denoising each plane with its own model (``per_plane``), on each plane alone
on its own intensity map: as if it were denoised alone.  A named preset takes a given
camera offset as its black level and, in fast mode, the image's measured noise for the
guard.  No napari or Qt here.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from .calibrate import NOISE_STRIDE, calibrate, calibration_side, describe, noise_estimate, \
    window
from .immerkaer import white_noise_line
from .intensity import IntensityMap
from .lazy import load
from .memory import log
from .noise_model import NoiseModel
from .presets import Preset
from .runtime import RunContext


def plane_units(ch: Any, idx: Sequence[int], stride: int, lazy: bool,
                ctx: RunContext) -> list[np.ndarray]:
    """Centred windows of the planes ``idx`` (flat indices) of channel ``ch`` (a
    ``pipeline._Channel``), each on its plane's intensity map's unit scale (lazy data
    reads only those): what auto measures the noise on."""
    stack_shape = ch.data.shape[:-2]
    win = window(ch.data.shape[-2:], stride, calibration_side(len(idx), stride))
    raws = load([(ch.data[np.unravel_index(i, stack_shape)] if stack_shape else ch.data)[win]
                 for i in idx], lazy, ctx.scheduler)
    return [ch.maps[i % len(ch.maps)].to_unit(r) for i, r in zip(idx, raws)]


def black_level(offset: float, imap: IntensityMap, bright: float, where: str) -> float:
    """A given camera ``offset`` (input units) as the unit-scale black level, or
    ValueError when it is not below the image's ``bright`` end (no photons anywhere);
    below the unit scale's start it is raised to it, with a warning."""
    top = min(bright, imap.offset + imap.scale)
    if offset >= top:
        raise ValueError(f"offset {offset:g} is not below the image's brightest values{where} "
                         f"({top:.6g}): give the camera's black level (about the darkest "
                         "pixels' level), or leave it out to have it estimated")
    if offset < imap.offset:
        log.warning("offset %g lies below the image's dark end%s (%.6g); the noise "
                    "injection uses %.6g", offset, where, imap.offset, imap.offset)
    return float(max(0.0, (offset - imap.offset) / imap.scale))


def preset_for(ch: Any, idx: Sequence[int], p: Preset, auto: bool, offset: Optional[float],
               keep: dict, where: str, lazy: bool, ctx: RunContext, mode: str
               ) -> tuple[Preset, Optional[NoiseModel]]:
    """The preset planes ``idx`` of channel ``ch`` train with, and their guard's noise
    model: ``p`` (with the camera ``offset``, input units, as its black level) and for a
    named preset in fast ``mode`` the image's measured noise (paper mode runs as the
    authors' code: no guard); or for ``auto`` calibrated on those planes (centred
    windows; lazy data reads only those), ``keep`` the user's own values, which win over
    calibrated ones.  ``where`` names the channel or plane in messages."""
    ctx.raise_if_cancelled()
    k = idx[0] % len(ch.maps)
    imap = ch.maps[k]
    black = None if offset is None else black_level(offset, imap, ch.brights[k], where)
    base = p if black is None else p.with_overrides(black=black)
    if not auto:
        return base, (measured_noise(ch, idx, NOISE_STRIDE, lazy, ctx, where)
                      if mode == "fast" else None)
    units = plane_units(ch, idx, p.stride, lazy, ctx)
    try:
        cal = calibrate(units, base=p, black=black)
    except ValueError as e:  # e.g. too small to measure: the base preset, said so
        log.warning("auto%s could not measure the noise (%s): using preset %s",
                    where, e, p.name)
        return base, white_noise(units, imap, where)
    est, q = cal.estimate, cal.preset
    side = min(ch.data.shape[-2:])
    if q.filter_size > side:  # a wide (correlated-noise) window on a small plane
        q = q.with_overrides(filter_size=max(1, side - (1 - side % 2)))
    if "corr" in keep:  # the user's corr, on both axes
        q = q.with_overrides(corr_y=None, corr_x=None)
    q = q.with_overrides(**keep)
    q = q.with_overrides(description=describe(q, est, imap, offset is not None, tuple(keep)))
    log.info("auto%s: %s", where, q.description)
    return q, NoiseModel.from_estimate(est, imap.scale, imap.offset)


def measured_noise(ch: Any, idx: Sequence[int], stride: int, lazy: bool, ctx: RunContext,
                   where: str = "") -> Optional[NoiseModel]:
    """The do-no-harm guard's noise model, measured on planes ``idx`` of channel ``ch``
    as auto measures it, or :func:`white_noise` where it finds no noise curve."""
    imap = ch.maps[idx[0] % len(ch.maps)]
    units = plane_units(ch, idx, stride, lazy, ctx)
    try:
        est = noise_estimate(units, stride)
    except ValueError as e:  # too few flat pixels for the noise curve
        return white_noise(units, imap, where, str(e))
    return NoiseModel.from_estimate(est, imap.scale, imap.offset)


def white_noise(units: list[np.ndarray], imap: IntensityMap, where: str = "",
                why: str = "") -> Optional[NoiseModel]:
    """The guard's noise for planes too small (or too full of structure) for the noise
    curve (``why``, when no message said it yet): :func:`~napari_fm2s.immerkaer.
    white_noise_line` on the unit-scale planes ``units`` pooled, mapped by ``imap``; None
    for noiseless ones."""
    a, b, floor = white_noise_line(np.stack(units))
    if floor <= 0:
        return None
    log.warning("the do-no-harm guard%s uses a rougher noise estimate (Immerkaer's, by "
                "intensity)%s", where, f": {why}" if why else "")
    return NoiseModel.from_unit(a, b, floor, imap.scale, imap.offset)
