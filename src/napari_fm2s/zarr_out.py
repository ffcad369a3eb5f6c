"""Write results as zarr / OME-Zarr, whole or not at all: slab by slab (lazy data computed
chunk by chunk), an OME-Zarr input's axes, transforms, channel metadata and pyramid levels
kept (the levels remade from the result by block means).  The folder is written under a
temporary name and renamed when complete (:func:`napari_fm2s.io.atomic_output`).  No
napari or Qt here.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from .io import atomic_output
from .threads import usable_cores


def _zarr_kwargs(fmt: Optional[int]) -> dict:
    import zarr

    major = int(zarr.__version__.split(".")[0])
    return {"zarr_format": fmt} if major >= 3 and fmt else {}


def write_zarr_atomic(path: str | os.PathLike, data: Any, ome: Optional[dict] = None,
                      zarr_format: Optional[int] = None, name: str = "",
                      scheduler: Any = None,
                      progress: Optional[Callable[[int, int], None]] = None, *,
                      description: Optional[dict] = None,
                      chunks: Optional[tuple[int, ...]] = None) -> Path:
    """Write ``data`` (numpy or dask) to a zarr folder ``path``, whole or not at all.

    With ``ome`` (from :func:`open_image` of an OME-Zarr input) the output is an OME-Zarr
    group of the same format, axes, coordinate transformations and ``omero`` channel
    metadata, its pyramid levels remade from the result (block means of level 0, by the
    levels' whole-number scale factors: :func:`pyramid_factors`; else level 0 only);
    otherwise a plain zarr array.  The multiscale keeps the input's ``name`` (else
    ``name``).  ``description`` (how it was made) goes to the attribute ``napari-fm2s``;
    ``chunks`` (default: the data's) is the stored chunk shape.  Dask data is stored slab
    by slab along the first axis (each slab's chunks in parallel with
    ``scheduler``); ``progress(slabs_done, slabs)`` follows.
    """
    import dask.array as da
    import zarr

    path = Path(path)
    shape = tuple(int(s) for s in data.shape)
    if isinstance(data, np.ndarray):  # planes of up to 1024 x 1024
        data = da.from_array(data, chunks=tuple([1] * (len(shape) - 2)
                                                + [min(s, 1024) for s in shape[-2:]]))
    chunks = tuple(int(c) for c in (chunks or data.chunksize))  # the input's, if given
    data = data.rechunk(chunks)
    kw = _zarr_kwargs(zarr_format)
    with atomic_output(path, directory=True) as tmp:
        levels: list[tuple[int, ...]] = []  # the input's pyramid: factors per level
        if ome is not None:
            group = zarr.open_group(str(tmp), mode="w", **kw)
            ms = dict(ome["multiscale"])
            levels = pyramid_factors(ms["datasets"], data.ndim)
            levels = levels[:next((i for i, f in enumerate(levels)  # none under one pixel
                                   if any(n // v == 0 for n, v in zip(shape, f))), len(levels))]
            sets = [dict(d, path=str(i)) for i, d in enumerate(ms["datasets"][:1 + len(levels)])]
            ms.update(datasets=sets, name=ms.get("name") or name)  # the image keeps its name
            ms.pop("type", None)  # the input's downsampling method: ours is a block mean
            if levels:
                ms["metadata"] = {"method": "block mean of level 0 (napari-fm2s)"}
            attrs = {**dict(ome.get("attrs", {})), "multiscales": [ms]}  # omero kept
            if ome.get("root"):
                attrs = {ome["root"]: attrs}
            if description:
                attrs["napari-fm2s"] = description
            group.attrs.update(attrs)
            target = zarr.open_array(store=str(tmp), path="0", mode="w", shape=shape,
                                     chunks=chunks, dtype=data.dtype, **kw)
        else:
            target = zarr.open_array(store=str(tmp), mode="w", shape=shape, chunks=chunks,
                                     dtype=data.dtype, **kw)
            if description:
                target.attrs["napari-fm2s"] = description
        bounds = np.cumsum((0,) + data.chunks[0]) if data.ndim else [0, 0]
        n = len(bounds) - 1
        # our own thread pool: on an interrupt its running chunks end before the
        # temporary folder is removed (they wrote chunks into it after the removal)
        pool = ThreadPoolExecutor(usable_cores()) if scheduler in (None, "threads") \
            else None
        store_kw = {"lock": False, "scheduler": scheduler,
                    **({"pool": pool} if pool is not None else {})}
        try:
            for i in range(n):
                a, b = int(bounds[i]), int(bounds[i + 1])
                region = (slice(a, b),) + (slice(None),) * (data.ndim - 1)
                da.store(data[a:b], target, regions=region, **store_kw)
                if progress is not None:
                    progress(i + 1, n)
            level0 = da.from_zarr(target)  # the written result: no inference again
            for i, factors in enumerate(levels, 1):
                small = da.coarsen(np.mean, level0, dict(enumerate(factors)), trim_excess=True)
                out = zarr.open_array(store=str(tmp), path=str(i), mode="w", shape=small.shape,
                                      chunks=tuple(map(min, chunks, small.shape)),
                                      dtype=np.float32, **kw)
                da.store(small.astype(np.float32).rechunk(out.chunks), out, **store_kw)
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
    return path


def pyramid_factors(datasets: list, ndim: int) -> list[tuple[int, ...]]:
    """Per-axis integer downsampling factors of each OME-Zarr level after the first, from
    the levels' scale transforms; none (level 0 only) where they are not whole numbers."""
    def scale(d: dict) -> Optional[np.ndarray]:
        for t in d.get("coordinateTransformations", []):
            if t.get("type") == "scale" and len(t.get("scale", [])) == ndim:
                return np.asarray(t["scale"], float)
        return None

    first = scale(datasets[0]) if datasets else None
    out = []
    for d in datasets[1:]:
        s = scale(d)
        if first is None or s is None or np.any(first <= 0):
            return []
        f = s / first
        if np.any(np.abs(f - np.rint(f)) > 1e-6) or np.any(np.rint(f) < 1):
            return []
        out.append(tuple(int(v) for v in np.rint(f)))
    return out
