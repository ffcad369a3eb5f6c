"""Apply a trained network to an image, whole or in tiles with a halo.

A network whose ``application`` is ``"fidelity"`` (fast mode) is applied with three rules
(paper mode's ``"reference"`` networks get the authors' zero padding and [0, 1] clamp only):

* border: the block is mirrored by the receptive radius (half-sample symmetric, as the
  median target's border), so no pixel sees zero padding: no bright or dark frame;
* range: each output pixel is clipped to the min and max of the input pixels it is computed
  from (its 11 x 11 receptive field): no value below the input's minimum (or above its
  maximum), no overshoot at edges;
* saturation: a pixel at the top of the scale (1.0: the integer full scale, e.g. 4095 of a
  12-bit image, or a float image's maximum) with at least 2 of its 8 neighbours there too,
  or whose 3x3 median is there, comes out at 1.0: saturated plateaus (corners included)
  stay saturated, while a lone pixel at full scale (hot pixel) is denoised.

All three act within the receptive radius, so a tile or lazy chunk with a halo of
``HALO`` pixels gives the whole-image result.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import torch
from scipy.ndimage import maximum_filter, minimum_filter, uniform_filter

from .hooks import raise_if
from .memory import with_oom_fallback
from .network import RECEPTIVE_RADIUS, FM2SNet

#: Halo added around each tile; at least the receptive radius, so tiles are exact.
HALO = 8
#: Default tile side for inference: bounded memory (about 150 MB of activations).
INFERENCE_TILE = 1024


#: Test-time flips of a fidelity network's input (dims of an N x C x H x W tensor): the
#: network is applied to the image, its up-down, left-right and both-ways mirror images,
#: and the four results, mirrored back, are averaged.  Flips keep row and column noise
#: rows and columns, which transposes would not: on the 20 FMD images (fast, auto) the
#: four flips gained +0.01 to +0.16 dB on every image (mean +0.06), while adding the four
#: transposed ones lost up to 0.13 dB on TwoPhoton_BPAE_G (benchmarks/results/tta.txt).
FLIPS: tuple[tuple[int, ...], ...] = ((), (-2,), (-1,), (-2, -1))


def _run(net: FM2SNet, x: np.ndarray, device: torch.device, spread: bool = False
         ) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """(result, spread or None) of one block; ``spread``: the standard deviation of the
    flipped applications (fidelity networks only, else zeros)."""
    x = np.asarray(x, dtype=np.float32)
    fidelity = net.application == "fidelity"
    r = RECEPTIVE_RADIUS if fidelity else 0
    xp = np.pad(x, r, mode="symmetric") if r else x
    t = torch.from_numpy(np.ascontiguousarray(xp))[None, None].to(device)
    total, ys = None, []
    for dims in FLIPS if fidelity else ((),):
        inp = t.flip(dims) if dims else t
        y = net(inp.contiguous(memory_format=torch.channels_last)).clamp_(0.0, 1.0).mean(dim=1)
        y = y.flip(dims) if dims else y
        total = y if total is None else total + y
        if spread:  # the members are kept only for the spread
            ys.append(y)
    k = len(FLIPS) if fidelity else 1
    mean = total / k
    out = mean[0].cpu().numpy()
    dev = None
    if spread:
        var = sum(((y - mean) ** 2 for y in ys), torch.zeros_like(mean)) / k
        dev = var.sqrt()[0].cpu().numpy()
    if not fidelity:
        return out, dev
    out = np.ascontiguousarray(out[r:r + x.shape[0], r:r + x.shape[1]])
    if dev is not None:
        dev = np.ascontiguousarray(dev[r:r + x.shape[0], r:r + x.shape[1]])
    return fidelity_rules(out, x), dev


def fidelity_rules(out: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """The range and saturation rules (module docstring) on a network output ``out`` of the
    [0, 1] image ``raw`` (same shape); ``out`` is changed in place and returned."""
    size = 2 * RECEPTIVE_RADIUS + 1
    np.clip(out, minimum_filter(raw, size, mode="reflect"),
            maximum_filter(raw, size, mode="reflect"), out=out)
    if raw.max() >= 1.0:
        top = (raw >= 1.0).astype(np.float32)
        neighbours = np.rint(uniform_filter(top, 3, mode="constant") * 9) - top
        # 5 or more of 9 at the top: the 3x3 median ('reflect' border) is at the top
        median_top = np.rint(uniform_filter(top, 3, mode="reflect") * 9) >= 5
        out[((top > 0) & (neighbours >= 2)) | median_top] = 1.0
    return out


@torch.no_grad()
def apply(net: FM2SNet, raw: np.ndarray, tile: Optional[int] = None,
          cancelled: Callable[[], bool] = lambda: False) -> np.ndarray:
    """Denoise a 2D [0, 1] image: ``clamp(net(raw repeated n times), 0, 1)``, channel mean.

    A fidelity network is applied to the four :data:`FLIPS` of the image and the results
    averaged.  The raw image is the same in every input channel, so the network's first
    layer is collapsed to one input channel (exact).  With ``tile`` set, the image is
    processed in ``tile`` x ``tile`` blocks with a halo of ``HALO`` (>= the receptive
    radius) pixels, which gives the untiled result.  When the device runs out of memory,
    smaller tiles and then the CPU are tried (:func:`napari_fm2s.memory.with_oom_fallback`,
    with a logged warning).
    """
    return _apply(net, raw, tile, cancelled, False)[0]


@torch.no_grad()
def apply_with_spread(net: FM2SNet, raw: np.ndarray, tile: Optional[int] = None,
                      cancelled: Callable[[], bool] = lambda: False
                      ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`apply`, and the spread of its ensemble: per pixel, the standard deviation
    of the four flipped applications averaged into the result ([0, 1] scale, H x W).

    It shows where the network's answer depends on the image's orientation (structure it
    is unsure of); it is not a calibrated error estimate.  Zeros for a paper-mode
    (reference) network, which is applied once.
    """
    out, dev = _apply(net, raw, tile, cancelled, True)
    assert dev is not None
    return out, dev


def _apply(net: FM2SNet, raw: np.ndarray, tile: Optional[int],
           cancelled: Callable[[], bool], spread: bool
           ) -> tuple[np.ndarray, Optional[np.ndarray]]:
    assert HALO >= RECEPTIVE_RADIUS
    # channels-last: about twice as fast on CPU for these small convolutions (measured)
    net = net.collapsed().eval().to(memory_format=torch.channels_last)
    device = net.conv1.weight.device
    h, w = raw.shape
    nets = {device: net}

    def run(size: int, dev: torch.device) -> tuple[np.ndarray, Optional[np.ndarray]]:
        if dev not in nets:
            nets[dev] = net.to(dev)
        return _tiled(nets[dev], raw, size, dev, cancelled, spread)

    return with_oom_fallback(run, max(h, w) if tile is None else min(tile, max(h, w)), device)


def _tiled(net: FM2SNet, raw: np.ndarray, tile: int, device: torch.device,
           cancelled: Callable[[], bool], spread: bool
           ) -> tuple[np.ndarray, Optional[np.ndarray]]:
    h, w = raw.shape
    if h <= tile and w <= tile:
        return _run(net, raw, device, spread)
    out = np.empty((h, w), dtype=np.float32)
    dev = np.empty((h, w), dtype=np.float32) if spread else None
    for y0 in range(0, h, tile):
        for x0 in range(0, w, tile):
            raise_if(cancelled)
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            ya, xa = max(0, y0 - HALO), max(0, x0 - HALO)
            yb, xb = min(h, y1 + HALO), min(w, x1 + HALO)
            block, bdev = _run(net, raw[ya:yb, xa:xb], device, spread)
            out[y0:y1, x0:x1] = block[y0 - ya:y1 - ya, x0 - xa:x1 - xa]
            if dev is not None and bdev is not None:
                dev[y0:y1, x0:x1] = bdev[y0 - ya:y1 - ya, x0 - xa:x1 - xa]
    return out, dev
