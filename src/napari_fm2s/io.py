"""Read TIFF / PNG / zarr images (large ones lazily, a TIFF's image series one by one) and
what an output of this tool records (:func:`read_provenance`); the atomic output every
writer uses (:func:`atomic_output`: a hidden temporary name, ``.NAME.*.part``, in the
output's folder, renamed to ``NAME`` only once complete, so an output is whole or absent;
the writers: :mod:`napari_fm2s.tiff_out`, :mod:`napari_fm2s.zarr_out`).  No napari or Qt.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import numpy as np

from .metadata import NAMESPACE, TiffMeta, ome_annotation, ome_zarr_meta, read_tiff_meta

_log = logging.getLogger("napari_fm2s")
READ_SUFFIXES = (".tif", ".tiff", ".png")
ZARR_SUFFIX = ".zarr"
#: TIFF files larger than this are read lazily (page by page) rather than whole.
LAZY_BYTES = 1 << 30


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read a TIFF (tifffile) or PNG (Pillow) file; ValueError if it cannot be read."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not an image file")
    if not path.exists():
        raise ValueError(f"{path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix in (".tif", ".tiff"):
            import tifffile

            with _quiet_tifffile():
                arr = tifffile.imread(path)
            if arr.size == 0:
                raise ValueError(f"cannot read {path}: no image data (corrupt or truncated file?)")
            return arr
        if suffix == ".png":
            from PIL import Image

            with Image.open(path) as im:
                im.load()
                return np.asarray(im)
    except ValueError as e:  # ours say "cannot read"; tifffile's get the file's name
        if str(e).startswith("cannot read"):
            raise
        raise ValueError(f"cannot read {path}: {e} (corrupt or truncated file?)") from e
    except Exception as e:  # corrupt or truncated files raise many kinds of errors
        raise ValueError(f"cannot read {path}: {e.__class__.__name__}: {e}") from e
    raise ValueError(f"{path}: unsupported file type {suffix!r}; "
                     f"use one of {', '.join(READ_SUFFIXES)}")


@contextlib.contextmanager
def _quiet_tifffile() -> Iterator[None]:
    log = logging.getLogger("tifffile")
    level, log.level = log.level, logging.CRITICAL
    try:
        yield
    finally:
        log.setLevel(level)


def is_zarr(path: str | os.PathLike) -> bool:
    """A ``.zarr`` path, or a folder holding zarr metadata."""
    path = Path(path)
    if path.suffix.lower() == ZARR_SUFFIX:
        return True
    return path.is_dir() and any((path / n).exists() for n in (".zarray", ".zgroup", "zarr.json"))


@dataclass
class Opened:
    """An input image: data (numpy, or dask when lazy) and what its file says about it."""

    data: Any
    labels: Optional[list[str]] = None  # axis names from the metadata (tifffile / OME-Zarr)
    kind: str = "tiff"  # "tiff", "png", "zarr" or "ome-zarr"
    ome: Optional[dict] = None  # OME-Zarr: {"root": key or None, "multiscale": ..., "attrs": ...}
    zarr_format: Optional[int] = None
    meta: Optional[TiffMeta] = None  # TIFF / PNG: calibration, ImageJ / OME metadata, dtype
    series: int = 1  # series in the file (an OME-TIFF's stage positions); this is one
    _close: list[Callable[[], None]] = field(default_factory=list, repr=False)

    @property
    def lazy(self) -> bool:
        return not isinstance(self.data, np.ndarray)

    def close(self) -> None:
        for f in self._close:
            f()
        self._close.clear()


def _ome_multiscale(attrs: dict) -> tuple[Optional[str], Optional[dict]]:
    """(key holding the OME metadata or None, first multiscale entry) of group ``attrs``."""
    for root in ("ome", None):
        meta = attrs.get(root, {}) if root else attrs
        ms = meta.get("multiscales") if isinstance(meta, dict) else None
        if isinstance(ms, list) and ms and isinstance(ms[0], dict):
            return root, ms[0]
    return None, None


def _open_zarr(path: Path) -> Opened:
    import dask.array as da
    import zarr

    try:
        node = zarr.open(str(path), mode="r")
    except Exception as e:
        raise ValueError(f"cannot read {path} as zarr: {e.__class__.__name__}: {e}") from e
    fmt = int(getattr(getattr(node, "metadata", None), "zarr_format", 2) or 2)
    if isinstance(node, zarr.Array):
        return Opened(da.from_zarr(node), kind="zarr", zarr_format=fmt)
    attrs = dict(node.attrs)
    root, ms = _ome_multiscale(attrs)
    if ms is None or not ms.get("datasets"):
        arrays = sorted(k for k, _ in node.arrays()) if hasattr(node, "arrays") else []
        hint = f" (it holds {', '.join(arrays)}: give e.g. {path / arrays[0]})" if arrays else ""
        raise ValueError(f"{path} is a zarr group without OME-Zarr multiscales metadata; "
                         f"give the path of one array inside it{hint}")
    level0 = ms["datasets"][0]["path"]
    arr = node[level0]
    names = [a["name"] if isinstance(a, dict) else str(a) for a in ms.get("axes", [])]
    kept = attrs.get(root, {}) if root else {k: v for k, v in attrs.items() if k == "omero"}
    ome = {"root": root, "multiscale": ms, "attrs": kept}
    meta = ome_zarr_meta(ms, kept.get("omero") or attrs.get("omero"))  # for a TIFF output
    return Opened(da.from_zarr(arr), labels=names or None, meta=meta, kind="ome-zarr",
                  ome=ome, zarr_format=fmt)


def main_series(tf: Any) -> list[int]:
    """The series of an open ``tifffile.TiffFile`` that are images, not reduced-resolution
    copies (thumbnails, previews: TIFF subfile type 1), and that start in this file (a
    multi-file OME dataset's files each describe every position: each is denoised from
    the file it starts in, once); all of them when none is left."""
    main = [i for i, s in enumerate(tf.series)
            if not getattr(getattr(s, "keyframe", None), "is_reduced", False)]
    main = main or list(range(len(tf.series)))
    return [i for i in main if _starts_here(tf, tf.series[i])] or main


def _starts_here(tf: Any, series: Any) -> bool:
    first = next((p for p in getattr(series, "pages", []) if p is not None), None)
    return getattr(first, "parent", tf) is tf


def open_image(path: str | os.PathLike, lazy_bytes: int = LAZY_BYTES, series: int = 0
               ) -> Opened:
    """Open a TIFF (its ``series``-th series), PNG or zarr / OME-Zarr image; ValueError if
    it cannot be read.

    zarr is always lazy (dask); a TIFF whose data exceeds ``lazy_bytes`` is opened lazily
    too (page-wise, through tifffile's zarr store); anything else is read into memory.
    Axis names from the metadata go to :attr:`Opened.labels`, a TIFF's ImageJ / OME
    metadata and calibration to :attr:`Opened.meta` (pass it to :func:`~napari_fm2s.tiff_out.write_tiff_atomic`).
    Call ``close()`` when done.
    """
    path = Path(path)
    if is_zarr(path):
        if not path.exists():
            raise ValueError(f"{path} does not exist")
        return _open_zarr(path)
    suffix = path.suffix.lower()
    if suffix not in (".tif", ".tiff") or not path.is_file():
        arr = read_image(path)
        return Opened(arr, kind="png" if suffix == ".png" else "tiff",
                      meta=TiffMeta(dtype=str(arr.dtype)))
    import tifffile

    try:
        with _quiet_tifffile(), tifffile.TiffFile(path) as tf:
            main = main_series(tf)
            elsewhere = [s.name or str(i) for i, s in enumerate(tf.series)
                         if i not in main and not _starts_here(tf, s)]
            if series == 0 and elsewhere:  # said once per file
                _log.info(
                    "series: %s of this multi-file dataset start in its other files: "
                    "denoised from those", ", ".join(elsewhere))
            if series == 0 and len(main) + len(elsewhere) < len(tf.series):
                _log.info(
                    "series: %d reduced-resolution series (thumbnails) left out",
                    len(tf.series) - len(main) - len(elsewhere))
            count, series = len(main), main[series]
            one = tf.series[series]
            if one.keyframe.photometric == tifffile.PHOTOMETRIC.PALETTE:
                raise ValueError(f"cannot read {path}: a palette (indexed colour) image holds "
                                 "colour-table indices, not intensities: save it as "
                                 "greyscale or RGB first (Fiji: Image > Type)")
            gaps = sum(p is None for p in one.pages)
            if gaps:
                _log.warning(
                    "%s holds %d of its %d planes (a stopped acquisition?): the %d missing "
                    "read as 0 and are written so", path.name, len(one.pages) - gaps,
                    len(one.pages), gaps)
            if len(one.levels) > 1 and series == 0:
                _log.info(
                    "pyramid: the input's %d reduced-resolution levels are not written (the "
                    "output holds the full resolution only)", len(one.levels) - 1)
            labels, nbytes = list(one.axes), int(one.nbytes)
            meta = read_tiff_meta(tf, series)
            if nbytes <= lazy_bytes:
                arr = one.asarray()
                if arr.size == 0:
                    raise ValueError(f"cannot read {path}: no image data "
                                     "(corrupt or truncated file?)")
                return Opened(arr, labels=labels, meta=meta, series=count)
        import dask.array as da
        import zarr

        with _quiet_tifffile():
            store = tifffile.imread(path, aszarr=True, series=series, level=0)
        return Opened(da.from_zarr(zarr.open(store, mode="r")), labels=labels, meta=meta,
                      series=count, _close=[store.close])
    except ValueError as e:  # ours say "cannot read"; tifffile's get the file's name
        if str(e).startswith("cannot read"):
            raise
        raise ValueError(f"cannot read {path}: {e} (corrupt or truncated file?)") from e
    except Exception as e:  # corrupt or truncated files raise many kinds of errors
        raise ValueError(f"cannot read {path}: {e.__class__.__name__}: {e}") from e


def read_provenance(path: str | os.PathLike) -> Optional[dict]:
    """How an output of this tool was made (:func:`napari_fm2s.metadata.provenance`, as
    written into a TIFF's ImageJ properties, OME MapAnnotation or description, or a zarr's
    attributes), or None when it holds none or cannot be read."""
    path = Path(path)
    try:
        if is_zarr(path):
            import zarr

            attrs = dict(zarr.open(str(path), mode="r").attrs)
            for a in (attrs, *(v for v in attrs.values() if isinstance(v, dict))):
                if NAMESPACE in a:
                    return dict(a[NAMESPACE])
            return None
        import tifffile

        with _quiet_tifffile(), tifffile.TiffFile(path) as tf:
            if tf.is_imagej:
                text = ((tf.imagej_metadata or {}).get("Properties") or {}).get(NAMESPACE)
                return json.loads(text) if text else None
            if tf.is_ome:
                return ome_annotation(tf.ome_metadata or "", NAMESPACE)
            shaped = tf.shaped_metadata
            return dict(shaped[0][NAMESPACE]) if shaped and NAMESPACE in shaped[0] else None
    except Exception:  # not ours, or unreadable: nothing known
        return None


def stale_parts(path: str | os.PathLike) -> list[Path]:
    """Leftover temporary files / folders of ``path`` (from a killed run)."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    return sorted(folder.glob(f".{_glob_escape(path.name)}.*.part"))


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def remove_stale_parts(path: str | os.PathLike) -> None:
    """Delete what a killed run left of ``path`` (only ``.NAME.*.part`` entries)."""
    for p in stale_parts(path):
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                p.unlink()


def _remove(p: str | os.PathLike) -> None:
    p = Path(p)
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` when the block succeeds.

    On any error (or KeyboardInterrupt) the temporary is removed and ``path`` is untouched.
    An existing ``path`` is replaced (a folder via a rename-aside, removed afterwards).
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise ValueError(f"output folder {folder} {what}")
    try:
        if directory:
            tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".part", dir=folder))
        else:
            fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=folder)
            os.close(fd)
            tmp = Path(name)
    except OSError as e:
        raise _write_error(path, e) from e
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, (0o777 if directory else 0o666) & ~umask)  # mkstemp's are private
        yield tmp
        if not directory:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        if directory and path.exists():
            old = folder / f".{path.name}.{secrets.token_hex(4)}.old.part"
            os.replace(path, old)
            os.replace(tmp, path)
            _remove(old)
        else:
            os.replace(tmp, path)
    except OSError as e:
        _remove(tmp)
        if e.errno in _WRITE_ERRNOS:
            raise _write_error(path, e) from e
        raise
    except BaseException:
        _remove(tmp)
        raise


#: Errors that mean "this output cannot be written here": said in one plain line.
_WRITE_ERRNOS = {errno.ENOSPC, errno.EACCES, errno.EPERM, errno.EROFS, errno.EFBIG,
                 getattr(errno, "EDQUOT", errno.ENOSPC), errno.ENOTDIR, errno.EISDIR}


def _write_error(path: Path, e: OSError) -> ValueError:
    why = e.strerror or str(e)
    return ValueError(f"cannot write {path}: {why}; nothing was written")
