"""Apply each channel's trained networks to all of its planes, in memory or lazily.

The pipeline (:mod:`napari_fm2s.pipeline`) trains; this module runs inference over the
working array (channels first, then stack axes, then Y, X) and puts the result back in
the input's axis order.  With ``spread``, the per-pixel spread of the flip ensemble
(:func:`napari_fm2s.inference.apply_with_spread`) comes back too, in the input's units.
No napari or Qt here.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Sequence

import numpy as np

from .axes import Layout
from .hooks import raise_if
from .inference import INFERENCE_TILE, apply_with_spread
from .intensity import IntensityMap
from .lazy import map_planes
from .network import FM2SNet


def denoise_block(block: np.ndarray, first: tuple[int, ...], stack_shape: tuple[int, ...],
                  nets: Sequence[FM2SNet], maps: Sequence[IntensityMap],
                  cancelled: Callable[[], bool], spread: bool = False) -> np.ndarray:
    """Denoise every plane of a (stack..., Y, X) block whose first plane is at ``first``;
    with ``spread``, return the spread (input units) instead of the result.

    Takes only what a dask worker needs (picklable: no run context, no scheduler)."""
    out = np.empty(block.shape, np.float32)
    for local in np.ndindex(block.shape[:-2]):
        glob = tuple(a + b for a, b in zip(first, local))
        i = int(np.ravel_multi_index(glob, stack_shape)) if stack_shape else 0
        net, imap = nets[i % len(nets)], maps[i % len(maps)]
        unit, dev = apply_with_spread(net, imap.to_unit(block[local]), tile=INFERENCE_TILE,
                                      cancelled=cancelled)
        out[local] = dev * np.float32(imap.scale) if spread else imap.from_unit(unit)
    return out


def _both(block: np.ndarray, stack_shape: tuple[int, ...],
          nets: Sequence[FM2SNet], maps: Sequence[IntensityMap],
          cancelled: Callable[[], bool]) -> tuple[np.ndarray, np.ndarray]:
    """In memory: result and spread from one pass."""
    out = np.empty(block.shape, np.float32)
    dev = np.empty(block.shape, np.float32)
    for local in np.ndindex(block.shape[:-2]):
        i = int(np.ravel_multi_index(local, stack_shape)) if stack_shape else 0
        net, imap = nets[i % len(nets)], maps[i % len(maps)]
        unit, d = apply_with_spread(net, imap.to_unit(block[local]), tile=INFERENCE_TILE,
                                    cancelled=cancelled)
        out[local], dev[local] = imap.from_unit(unit), d * np.float32(imap.scale)
    return out, dev


def infer(channels: Sequence[Any], work: Any, layout: Layout, lazy: bool,
          cancelled: Callable[[], bool], spread: bool = False) -> Any:
    """Each channel's planes through its networks (``ch.nets``, ``ch.maps``; copies of
    ``ch.data`` for alpha / constant channels, whose spread is 0), back in the input's
    axis order: numpy, or lazy dask for ``lazy``.  With ``spread``: (result, spread)."""
    nch = len(layout.channel)
    stack_shape = tuple(work.shape[nch:-2])
    n_out = 2 if spread else 1
    outs = [None if lazy else np.empty(work.shape, np.float32) for _ in range(n_out)]
    results: list[list[Any]] = [[] for _ in range(n_out)]
    for ch in channels:
        if not ch.nets:  # alpha sample or constant channel
            copy = ch.data.astype(np.float32)
            res = [copy, copy * 0] if spread else [copy]
        elif lazy:
            res = [map_planes(ch.data, partial(denoise_block, stack_shape=stack_shape,
                                               nets=ch.nets, maps=ch.maps,
                                               cancelled=cancelled, spread=bool(k)))
                   for k in range(n_out)]
        else:
            raise_if(cancelled)
            first = (0,) * len(stack_shape)
            data = np.asarray(ch.data)
            res = list(_both(data, stack_shape, ch.nets, ch.maps, cancelled)) if spread \
                else [denoise_block(data, first, stack_shape, ch.nets, ch.maps, cancelled)]
        for k in range(n_out):
            if outs[k] is not None:
                outs[k][ch.index] = res[k]
            else:
                results[k].append(res[k])
    inverse = list(np.argsort(layout.order))
    final = []
    for k in range(n_out):
        if outs[k] is not None:
            final.append(outs[k].transpose(inverse))
            continue
        import dask.array as da

        joined = da.stack(results[k]).reshape(work.shape[:nch] + results[k][0].shape) \
            if nch else results[k][0]
        final.append(joined.transpose(inverse))
    return tuple(final) if spread else final[0]
