"""Write results as TIFF, whole or not at all: page by page (lazy data computed one page
at a time), in the input's layout (ImageJ hyperstack, OME-TIFF, planar or contiguous RGB),
with its metadata (:mod:`napari_fm2s.metadata`), one series or several (an OME-TIFF's
stage positions).  The file is written under a temporary name and renamed when complete
(:func:`napari_fm2s.io.atomic_output`).  No napari or Qt here.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Optional

import numpy as np

from .axes import positions
from .io import atomic_output
from .memory import log
from .metadata import TiffMeta, cast_rgb, rgb_dtype, tiff_layout, tiff_write_options
from .ome_xml import carry_ome

#: Data larger than this (bytes) is written as BigTIFF (a classic TIFF ends at 4 GiB).
BIGTIFF_BYTES = 2**32 - 2**25


class Series(NamedTuple):
    """One series of an output: its data, axes, the input's metadata, provenance."""

    data: Any
    axes: Optional[str] = None
    meta: Optional[TiffMeta] = None
    description: Optional[dict] = None


def write_tiff_atomic(path: str | os.PathLike, data: Any, axes: Optional[str] = None,
                      scheduler: Any = None,
                      progress: Optional[Callable[[int, int], None]] = None, *,
                      meta: Optional[TiffMeta] = None,
                      description: Optional[dict] = None) -> Path:
    """Write ``data`` to ``path`` as TIFF via a temporary file in the same folder.

    The file appears under its final name only once it is complete; on any error
    (or KeyboardInterrupt) the temporary file is removed and ``path`` is untouched.
    With ``axes`` (a 2D ``data`` defaults to ``"YX"``), the image is written page by page
    (Y, X and an RGB(A) S axis last, the axes in the metadata): a lazy dask ``data`` is
    computed one page at a time with ``scheduler``, and ``progress(pages_done, pages)``
    follows.  ``meta`` (:attr:`Opened.meta` of the input) keeps its ImageJ / OME metadata,
    calibration, lossless compression and BigTIFF-ness, and an RGB output in its integer
    type; ``description`` (e.g. :func:`napari_fm2s.metadata.provenance`) is recorded in
    the file (:mod:`napari_fm2s.metadata`).
    """
    if axes is None and np.ndim(data) != 2:
        import tifffile

        with atomic_output(path) as tmp:
            tifffile.imwrite(tmp, np.asarray(data),
                             metadata={"napari-fm2s": description} if description else {})
        return Path(path)
    return write_tiff_series_atomic(path, [Series(data, axes or "YX", meta, description)],
                                    1, scheduler, progress)


def write_tiff_series_atomic(path: str | os.PathLike, series: Iterable[Series], count: int,
                             scheduler: Any = None,
                             progress: Optional[Callable[[int, int], None]] = None,
                             total_bytes: Optional[int] = None) -> Path:
    """Write ``count`` series, each as :func:`write_tiff_atomic` writes one, into one TIFF
    (OME-TIFF when the first is): ``series`` may be a generator that computes each when
    it is reached, so only one is held at a time.  ``progress`` counts pages over all
    series (as far as they are known).  ``total_bytes``: all series' size, for the choice
    of BigTIFF (default: the first one's times ``count``).  Whole or not at all."""
    with series_writer(path, count, scheduler, progress, total_bytes) as add:
        for s in series:
            add(s)
    return Path(path)


@contextlib.contextmanager
def series_writer(path: str | os.PathLike, count: int, scheduler: Any = None,
                  progress: Optional[Callable[[int, int], None]] = None,
                  total_bytes: Optional[int] = None) -> Iterator[Callable[[Series], None]]:
    """:func:`write_tiff_series_atomic` as a context: yields ``add(series)``, each written
    when added (two files can be filled series by series in step); the file appears
    whole when the block ends without an error."""
    import tifffile

    with atomic_output(Path(path)) as tmp:
        state: dict[str, Any] = {"writer": None, "done": 0, "ome": False, "metas": []}

        def add(s: Series) -> None:
            keep = as_read(s)
            arr, lead, dtype, options = _layout(s, keep)
            nbytes = int(np.prod(arr.shape, dtype=np.int64)) * dtype.itemsize
            kind = {k: bool(options.pop(k, False)) for k in ("ome", "imagej")}
            if state["writer"] is None:
                total = nbytes * count if total_bytes is None else total_bytes
                big = total > BIGTIFF_BYTES or bool(s.meta and s.meta.bigtiff)
                state["writer"] = tifffile.TiffWriter(tmp, bigtiff=big, **kind)
                state["ome"] = kind["ome"]
            state["metas"].append((s.meta, keep))
            first, n = state["done"], int(np.prod(lead, dtype=np.int64))

            def report(i: int) -> None:
                if progress is not None:
                    progress(first + i, first + n)

            state["writer"].write(_pages(arr, lead, dtype, scheduler, report),
                                  shape=arr.shape, dtype=dtype, **options)
            state["done"] += n

        try:
            yield add
        finally:
            if state["writer"] is not None:
                state["writer"].close()
        if state["ome"]:
            _carry_ome(tmp, state["metas"])


def _carry_ome(path: Path, metas: list[tuple[Optional[TiffMeta], bool]]) -> None:
    """Put the inputs' whole OME-XML (:func:`napari_fm2s.ome_xml.carry_ome`) into the
    OME-TIFF just written at ``path`` (``metas``: each series' input metadata, and whether
    its planes keep the file's axes); where it cannot be, the file keeps tifffile's, with
    a warning naming what that keeps."""
    import xml.etree.ElementTree as ET

    import tifffile

    sources = [(m.ome_xml, m.ome_index, kept) if m is not None and m.ome_xml else None
               for m, kept in metas]
    if not any(sources):
        return
    written = tifffile.tiffcomment(path)
    try:
        merged = carry_ome(written, sources)
    except (ET.ParseError, IndexError, KeyError, ValueError) as e:
        log.warning("the input's OME-XML could not be carried whole (%s): the output keeps "
                    "its physical sizes, time step and channel names", e)
        return
    if merged != written:
        tifffile.tiffcomment(path, merged.encode("utf-8"))


def as_read(s: Series) -> bool:
    """Whether series ``s`` keeps the axes its file gave its planes (not re-read with
    ``--axes``): only then does per-plane metadata (OME Planes, ImageJ overlays) still
    describe its planes.  Said once per series where it does not."""
    def stack(axes: str) -> str:  # a spread's channels may be the input's samples
        return "".join(a for a in axes.replace("S", "C") if a not in "YX")

    if s.meta is None or not s.meta.axes or not s.axes:
        return True
    mine, file = stack(s.axes), stack(s.meta.axes)
    same = len(mine) == len(file) and all(a == b or b in "IQ" for a, b in zip(mine, file))
    if not same and (s.meta.ome_xml or (s.meta.imagej or {}).get("Overlays")):
        log.warning("the planes were read as %s, the file says %s: its per-plane metadata "
                    "(OME Plane times and positions, ImageJ overlays) is not carried", s.axes,
                    s.meta.axes)
    return same


def _layout(s: Series, planes_as_read: bool = True
            ) -> tuple[Any, tuple[int, ...], np.dtype, dict]:
    """(data in the order to write, its leading (page) shape, dtype, TiffWriter.write
    options with "ome" / "imagej" for the writer); without ``planes_as_read``
    (:func:`as_read`) no ImageJ overlays."""
    order, out_axes, photometric = tiff_layout(tuple(s.data.shape), s.axes or "YX")
    rgb = photometric != "minisblack"
    dtype = (rgb_dtype(s.meta) if rgb else None) or np.dtype(s.data.dtype)
    shape = tuple(int(s.data.shape[i]) for i in order)
    write_axes, options = tiff_write_options(s.meta, out_axes, shape, dtype, photometric,
                                             s.description)
    order = [order[i] for i in positions(out_axes, write_axes)]
    arr = s.data.transpose(order)
    lead = tuple(arr.shape[:-(3 if rgb else 2)])
    if not planes_as_read and options.get("imagej"):
        options["metadata"].pop("Overlays", None)
    labels = (options.get("metadata") or {}).get("Labels") if options.get("imagej") else None
    if labels is not None and len(labels) == int(np.prod(lead, dtype=np.int64)):
        # ImageJ's slice labels name the input's pages: put them in the written order
        ins = [i for i in range(len(order)) if i in order[:len(lead)]]
        grid = np.array(list(labels), dtype=object).reshape([s.data.shape[i] for i in ins])
        options["metadata"]["Labels"] = list(grid.transpose(
            [ins.index(i) for i in order[:len(lead)]]).ravel())
    return arr, lead, dtype, options


def _pages(arr: Any, lead: tuple[int, ...], dtype: np.dtype, scheduler: Any,
           report: Callable[[int], None]) -> Iterator[np.ndarray]:
    """The pages of ``arr`` (leading shape ``lead``), computed one at a time if lazy."""
    for i, idx in enumerate(np.ndindex(lead)):
        page = arr[idx]
        if not isinstance(page, np.ndarray):
            page = page.compute(scheduler=scheduler)
        page = cast_rgb(page, dtype) if dtype != arr.dtype else page
        yield np.ascontiguousarray(page, dtype=dtype)
        report(i + 1)
