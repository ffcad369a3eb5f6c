"""Apply each channel's trained networks to all of its planes, in memory or lazily.

The pipeline (:mod:`napari_fm2s.pipeline`) trains; this module runs inference over the
working array (channels first, then stack axes, then Y, X) and puts the result back in
the input's axis order.  With ``spread``, the per-pixel spread of the flip ensemble
(:func:`napari_fm2s.inference.apply_with_spread`) comes back too, in the input's units.
Channels with a measured noise (auto, and named presets in fast mode) go through the
do-no-harm guard (:mod:`napari_fm2s.guard`).
No napari or Qt here.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Optional, Sequence

import numpy as np

from .axes import Layout
from .hooks import raise_if
from .defects import without_defects
from .guard import GUARD_RADIUS, MEDIAN_WINDOW, REPORT_FRACTION, constant_areas, guard
from .inference import INFERENCE_TILE, apply, apply_with_spread
from .intensity import IntensityMap
from .lazy import CHUNK, map_planes
from .memory import BLOCK_PIXELS, log
from .network import FM2SNet
from .noise_model import NoiseModel


def denoise_block(block: np.ndarray, first: tuple[int, ...], stack_shape: tuple[int, ...],
                  nets: Sequence[FM2SNet], maps: Sequence[IntensityMap],
                  cancelled: Callable[[], bool], spread: bool = False,
                  origin: tuple[int, int] = (0, 0),
                  noises: Sequence[Optional[NoiseModel]] = (None,), where: str = "",
                  chunked: bool = False) -> np.ndarray:
    """Denoise every plane of a (stack..., Y, X) block whose first plane is at ``first``
    (its first pixel at ``origin`` in the plane); with ``spread``, return the spread
    (input units) instead of the result.  ``noises`` (one, or one per plane, as ``nets``
    and ``maps``): each result through the do-no-harm guard (:func:`_plane`) where not
    None.  ``chunked``: one of a lazy run's blocks (only the
    first block's guard line is logged at info level).

    Takes only what a dask worker needs (picklable: no run context, no scheduler)."""
    out, dev = _both(block, first, stack_shape, nets, maps, cancelled, origin, noises, where,
                     spread, chunked)
    return dev if dev is not None else out


def _both(block: np.ndarray, first: tuple[int, ...], stack_shape: tuple[int, ...],
          nets: Sequence[FM2SNet], maps: Sequence[IntensityMap],
          cancelled: Callable[[], bool], origin: tuple[int, int] = (0, 0),
          noises: Sequence[Optional[NoiseModel]] = (None,), where: str = "",
          spread: bool = False,
          chunked: bool = False) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """Result of every plane of a block and, with ``spread``, its spread, from one pass
    (see :func:`denoise_block`); logs when the guard acted."""
    out = np.empty(block.shape, np.float32)
    dev = np.empty(block.shape, np.float32) if spread else None
    acted: list[tuple[float, float, float]] = []
    for local in np.ndindex(block.shape[:-2]):
        glob = tuple(a + b for a, b in zip(first, local))
        i = int(np.ravel_multi_index(glob, stack_shape)) if stack_shape else 0
        net, imap, noise = nets[i % len(nets)], maps[i % len(maps)], noises[i % len(noises)]
        out[local], d, shares = _plane(block[local], net, imap, cancelled, origin, noise,
                                       spread)
        if dev is not None and d is not None:
            dev[local] = d
        if max(shares) >= REPORT_FRACTION:
            acted.append(shares)
    if acted:
        med, blur, back = np.mean(acted, axis=0)
        lead = not chunked or (not any(first) and origin == (0, 0) and not spread)  # once
        (log.info if lead else log.debug)(
            "do-no-harm guard%s: acted on %d of %d plane(s)%s: %.0f %% blended toward a "
            "%dx%d median, then %.0f %% of that toward a Gaussian blur (on average, where "
            "their estimated error was lower), %.0f %% of the removed part put back (where "
            "more than the measured noise was removed)", where, len(acted),
            int(np.prod(block.shape[:-2], dtype=np.int64)),
            " of the first chunk (each chunk is guarded alike)" if chunked else "",
            100 * med, MEDIAN_WINDOW, MEDIAN_WINDOW, 100 * blur, 100 * back)
    return out, dev


def _plane(raw: np.ndarray, net: FM2SNet, imap: IntensityMap, cancelled: Callable[[], bool],
           origin: tuple[int, int], noise: Optional[NoiseModel], spread: bool = False
           ) -> tuple[np.ndarray, Optional[np.ndarray], tuple[float, float, float]]:
    """One plane: result, spread (input units; None without ``spread``), and the guard's
    (median share, blur share, fraction of the removed part put back).  With ``noise``
    the result goes through the do-no-harm guard (:func:`napari_fm2s.guard.guard`); a
    fidelity (fast-mode) network's result keeps the input's constant areas (zero
    padding) exactly."""
    x = imap.to_unit(raw)

    def network(a: np.ndarray) -> tuple[np.ndarray, Optional[np.ndarray]]:
        if spread:
            return apply_with_spread(net, a, tile=INFERENCE_TILE, cancelled=cancelled)
        return apply(net, a, tile=INFERENCE_TILE, cancelled=cancelled), None

    guarded = noise is not None and raw.min() < raw.max()  # a constant plane: nothing to do
    if guarded:  # camera defects repaired before the network (their noise from the model)
        def sd(values: np.ndarray) -> np.ndarray:
            v = noise.unit_variance(np.asarray(values, np.float64), imap.scale, imap.offset)
            return np.sqrt(np.maximum(v, 0.0))

        x = without_defects(x, sd)
    unit, d = network(x)
    shares = (0.0, 0.0, 0.0)
    if guarded:
        var = noise.unit_variance(unit.astype(np.float64), imap.scale, imap.offset)
        run = partial(apply, net, tile=INFERENCE_TILE, cancelled=cancelled)
        layers = partial(noise.layers, scale=imap.scale, offset=imap.offset)
        unit, med, blur, back = guard(x, unit, var, noise.corr, run, origin, layers)
        shares = (med, blur, back)
    out = imap.from_unit(unit)
    if net.application == "fidelity":
        const = constant_areas(raw)
        out[const] = raw[const]
    if np.issubdtype(raw.dtype, np.integer):  # the guard's blends can leave it (saturated
        info = np.iinfo(raw.dtype)  # plateaus: up to 65562 from uint16; -0.003 from counts)
        np.clip(out, info.min, info.max, out=out)
    return out, None if d is None else d * np.float32(imap.scale), shares


def _in_blocks(data: np.ndarray) -> Any:
    """In-memory (stack..., Y, X) ``data`` as a dask array of one plane by
    :data:`~napari_fm2s.lazy.CHUNK` x CHUNK pixels per chunk: a plane of more than
    :data:`~napari_fm2s.memory.BLOCK_PIXELS` is denoised in such blocks, with the lazy
    path's halo (the same result), so the guard's ~600 bytes per pixel
    (:data:`~napari_fm2s.memory.GUARD_BYTES`) are those of a block, not of the plane."""
    import dask.array as da

    return da.from_array(data, chunks=(1,) * (data.ndim - 2) + (CHUNK, CHUNK))


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
        noises = ch.noises or [None]  # the measured noise: the guard's
        where = layout.where(ch.index)
        if not ch.nets:  # alpha sample or constant channel
            copy = ch.data.astype(np.float32)
            res = [copy, copy * 0] if spread else [copy]
        elif lazy or ch.data.shape[-2] * ch.data.shape[-1] > BLOCK_PIXELS:
            data = ch.data if lazy else _in_blocks(np.asarray(ch.data))
            res = [map_planes(data, partial(denoise_block, stack_shape=stack_shape,
                                            nets=ch.nets, maps=ch.maps,
                                            cancelled=cancelled, spread=bool(k),
                                            noises=noises, where=where, chunked=True),
                              extra_halo=GUARD_RADIUS if any(v is not None for v in noises)
                              else 0)
                   for k in range(n_out)]
            if not lazy:  # one block at a time: the memory of one block's guard
                import dask

                res = list(dask.compute(*res, scheduler="synchronous"))
        else:
            raise_if(cancelled)
            first = (0,) * len(stack_shape)
            res = list(_both(np.asarray(ch.data), first, stack_shape, ch.nets, ch.maps,
                             cancelled, noises=noises, where=where, spread=spread))[:n_out]
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
