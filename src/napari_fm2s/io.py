"""Read TIFF / PNG images and write TIFF atomically (whole or not at all)."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import numpy as np

READ_SUFFIXES = (".tif", ".tiff", ".png")


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

            log = logging.getLogger("tifffile")
            level, log.level = log.level, logging.CRITICAL
            try:
                arr = tifffile.imread(path)
            finally:
                log.setLevel(level)
            if arr.size == 0:
                raise ValueError(f"cannot read {path}: no image data (corrupt or truncated file?)")
            return arr
        if suffix == ".png":
            from PIL import Image

            with Image.open(path) as im:
                im.load()
                return np.asarray(im)
    except ValueError:
        raise
    except Exception as e:  # corrupt or truncated files raise many kinds of errors
        raise ValueError(f"cannot read {path}: {e.__class__.__name__}: {e}") from e
    raise ValueError(f"{path}: unsupported file type {suffix!r}; "
                     f"use one of {', '.join(READ_SUFFIXES)}")


def write_tiff_atomic(path: str | os.PathLike, data: np.ndarray) -> Path:
    """Write ``data`` to ``path`` as TIFF via a temporary file in the same folder.

    The file appears under its final name only once it is complete; on any error
    (or KeyboardInterrupt) the temporary file is removed and ``path`` is untouched.
    """
    import tifffile

    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ValueError(f"output folder {folder} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=folder)
    try:
        os.close(fd)
        tifffile.imwrite(tmp, data)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path
