"""Lazy (dask / zarr / h5py) input: detection, statistics and reads, chunked inference.

Dask input (or anything array-like that is not numpy, e.g. a zarr array) is never loaded
whole: statistics are computed chunk by chunk, training reads only the planes it needs,
and the result is a lazy dask array whose chunks are denoised with a halo of
:data:`~napari_fm2s.inference.HALO` pixels (``map_overlap``, no padding at the image
border, as the network sees a whole plane), so it equals the in-memory result.
No napari or Qt here.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np
import torch

from .inference import HALO

#: Lazy chunks outside [MIN_CHUNK, MAX_CHUNK] pixels along Y or X are re-chunked to CHUNK.
MIN_CHUNK, MAX_CHUNK, CHUNK = 256, 2048, 1024


def is_lazy(image: Any) -> bool:
    """Dask arrays and array-likes that are not numpy (zarr, h5py, ...) are handled lazily."""
    if isinstance(image, np.ndarray):
        return False
    if type(image).__module__.split(".")[0] == "dask":
        return True
    return all(hasattr(image, a) for a in ("shape", "dtype", "ndim", "__getitem__")) \
        and not isinstance(image, (list, tuple, torch.Tensor))


def as_dask(image: Any) -> Any:
    """``image`` as a dask array (its own chunks when it has usable ones)."""
    import dask.array as da

    if isinstance(image, da.Array):
        return image
    chunks = getattr(image, "chunks", None)
    ok = isinstance(chunks, tuple) and len(chunks) == image.ndim and all(
        isinstance(c, (int, np.integer)) for c in chunks)
    return da.from_array(image, chunks=chunks if ok else "auto", asarray=True)


def stats(sub: Any, lazy: bool, per_plane: bool, scheduler: Any) -> tuple[Any, ...]:
    """(min, max, all finite, per-plane mins, per-plane maxs) of a (stack..., Y, X) array."""
    floating = np.issubdtype(sub.dtype, np.floating)
    if lazy:
        import dask
        import dask.array as da

        parts = [sub.min(), sub.max(), da.isfinite(sub).all() if floating else True]
        if per_plane:
            parts += [sub.min(axis=(-2, -1)), sub.max(axis=(-2, -1))]
        return tuple(dask.compute(*parts, scheduler=scheduler))
    finite = bool(np.isfinite(sub).all()) if floating else True
    out = [sub.min(), sub.max(), finite]
    if per_plane:
        out += [sub.min(axis=(-2, -1)), sub.max(axis=(-2, -1))]
    return tuple(out)


def robust_plane_ranges(sub: Any, scheduler: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per-plane (robust mins, robust maxs) of a lazy (stack..., Y, X) array, flat plane
    order: :func:`~napari_fm2s.intensity.capped` chunk by chunk with a one-pixel halo (no
    padding at the image border), so it equals the in-memory rule."""
    import dask
    import dask.array as da

    from .intensity import capped

    nd = sub.ndim
    depth = {i: 0 for i in range(nd - 2)}
    depth.update({nd - 2: 1, nd - 1: 1})
    kw: dict[str, Any] = dict(depth=depth, boundary="none", dtype=np.float64,
                              meta=np.empty((0,) * nd, np.float64))
    c_lo = da.map_overlap(lambda b: capped(b)[0], as_dask(sub), **kw)
    c_hi = da.map_overlap(lambda b: capped(b)[1], as_dask(sub), **kw)
    lo, hi = dask.compute(c_lo.min(axis=(-2, -1)), c_hi.max(axis=(-2, -1)), scheduler=scheduler)
    return np.asarray(lo).ravel(), np.asarray(hi).ravel()


def load(arrays: list[Any], lazy: bool, scheduler: Any) -> list[np.ndarray]:
    """The arrays as numpy (lazy ones computed together with ``scheduler``)."""
    if lazy:
        import dask

        return [np.asarray(a) for a in dask.compute(*arrays, scheduler=scheduler)]
    return [np.asarray(a) for a in arrays]


def _chunked(sub: Any, halo: int = 0) -> Any:
    """Stack axes in chunks of one plane; Y/X chunks kept unless tiny or huge, and none
    smaller than ``halo`` (the overlap reads only the neighbouring chunks)."""
    chunks: dict[int, Any] = {i: 1 for i in range(sub.ndim - 2)}
    for ax in (sub.ndim - 2, sub.ndim - 1):
        c = max(sub.chunks[ax])
        if not MIN_CHUNK <= c <= MAX_CHUNK:
            chunks[ax] = min(CHUNK, sub.shape[ax])
    sub = sub.rechunk(chunks)
    wider = {ax: _at_least(sub.chunks[ax], halo) for ax in (sub.ndim - 2, sub.ndim - 1)
             if len(sub.chunks[ax]) > 1 and min(sub.chunks[ax]) < halo}
    return sub.rechunk(wider) if wider else sub


def _at_least(chunks: tuple[int, ...], halo: int) -> tuple[int, ...]:
    """Equal chunks of at least ``halo`` (the largest given) covering the axis, the last
    one joined to the one before when shorter than ``halo``."""
    n, size = sum(chunks), max(max(chunks), halo)
    out = [size] * (n // size) + ([n % size] if n % size else [])
    if len(out) > 1 and out[-1] < halo:
        out[-2:] = [out[-2] + out[-1]]
    return tuple(out)


def map_planes(sub: Any, fn: Callable[..., np.ndarray], extra_halo: int = 0) -> Any:
    """Lazy float32 ``fn(block, first, origin)`` over a (stack..., Y, X) dask array.

    ``fn`` gets each chunk with a halo of ``HALO + extra_halo`` pixels, the stack index of
    the chunk's first plane and the (y, x) of the block's first pixel in the plane, and
    returns the chunk's result (same shape).
    """
    nd = sub.ndim
    halo = HALO + extra_halo
    sub = _chunked(sub, halo)
    starts = [np.concatenate([[0], np.cumsum(c)[:-1]]) for c in sub.chunks[-2:]]

    def block_fn(block: np.ndarray, block_info: Optional[dict] = None) -> np.ndarray:
        if not block_info:
            return fn(block, (0,) * (nd - 2), origin=(0, 0))
        loc, where = block_info[0]["array-location"], block_info[0]["chunk-location"]
        origin = tuple(int(s[k]) - halo if k else 0 for s, k in zip(starts, where[-2:]))
        return fn(block, tuple(int(a) for a, _ in loc[:-2]), origin=origin)

    # an axis held in one chunk needs no halo (and dask refuses one wider than the axis)
    depth = {i: 0 for i in range(nd)}
    depth.update({ax: halo for ax in (nd - 2, nd - 1) if len(sub.chunks[ax]) > 1})
    return sub.map_overlap(block_fn, depth=depth, boundary="none", dtype=np.float32,
                           meta=np.empty((0,) * nd, np.float32))
