"""Input checks with the messages users see: dtype, values, and a single 2D plane.

One place for each message, used by the pipeline (every input kind), the preview and
calibration.  No napari or Qt here.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from .missing import fill_missing

log = logging.getLogger("napari_fm2s")

#: Float values beyond this are refused (they overflow the float32 training scale).
MAX_ABS = 1e30


class ConstantChannel(ValueError):
    """A channel (or a single-channel image) has one value everywhere."""


def check_dtype(dtype: Any) -> np.dtype:
    """Return ``dtype`` if FM2S can denoise it, else raise ValueError saying why."""
    dtype = np.dtype(dtype)
    if dtype == bool:
        raise ValueError("image is boolean (a mask?): FM2S needs intensities; "
                         "convert it to a number type if it really is an image")
    if np.issubdtype(dtype, np.complexfloating):
        raise ValueError("image is complex: pass its magnitude (np.abs) or real part")
    if not (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)):
        raise ValueError(f"image has unsupported dtype {dtype}; "
                         "pass integer or floating-point intensities")
    return dtype


def as_array(image: Any) -> np.ndarray:
    """``np.asarray(image)`` of a denoisable dtype and size, else ValueError."""
    try:
        arr = np.asarray(image)
    except Exception as e:  # ragged lists and the like
        raise ValueError(f"could not read the image as an array: {e}") from e
    check_dtype(arr.dtype)
    if arr.size == 0:
        raise ValueError(f"image is empty (shape {arr.shape})")
    if isinstance(image, np.ma.MaskedArray) and np.ma.getmaskarray(image).any():
        log.warning("the image's mask is ignored: masked pixels are denoised as data (their "
                    "values are used); fill them first (image.filled(...)) if they are not")
    return arr


def check_finite(finite: bool, where: str = "") -> None:
    """ValueError when the data (``where``: e.g. " (channel C=1)") has NaN or inf."""
    if not finite:
        raise ValueError(f"image{where} contains NaN or infinite values: replace infinite "
                         "ones before denoising; NaN pixels are taken as missing in an image "
                         "read whole, not in a lazy one (zarr, or a TIFF over --lazy-above: "
                         "raise it above the file's size, or load the array; setting NaN to "
                         "0 darkens the pixels beside them)")


def check_values(lo: Any, hi: Any, finite: bool, dtype: Any, where: str = "") -> None:
    """Checks on the value range ``[lo, hi]`` of data of ``dtype`` (ValueError)."""
    check_finite(finite, where)
    if float(lo) == float(hi):
        raise ConstantChannel(f"image{where} is constant (every pixel is {lo}): there is no "
                              "signal or noise to learn from")
    if np.issubdtype(np.dtype(dtype), np.floating) and max(abs(float(lo)),
                                                           abs(float(hi))) > MAX_ABS:
        raise ValueError("image values exceed 1e30: rescale the data first")


#: Fewest pixels on a side of a plane (3 rows came back NaN; a line has no 2D noise).
MIN_SIDE = 4


def check_plane_size(h: int, w: int, filter_size: int, axes: str = "YX") -> None:
    """ValueError when an ``h`` x ``w`` plane is under :data:`MIN_SIDE` pixels on a side
    (a line scan) or smaller than the median window."""
    if min(h, w) < MIN_SIDE:
        raise ValueError(f"image plane of {h}x{w} (axes {axes}) is a line, not a 2D image "
                         f"(under {MIN_SIDE} px on a side): FM2S learns from 2D "
                         "neighbourhoods (a line scan repeated in time is a 2D image, its "
                         "lines the rows: axes YX); or check the axes")
    if min(h, w) < filter_size:
        raise ValueError(f"image plane of {h}x{w} (axes {axes}) is smaller than the "
                         f"{filter_size}x{filter_size} median filter window; use a larger "
                         "image or a smaller filter_size, or check the axes")


def check_image(image: Any, filter_size: int = 1) -> np.ndarray:
    """``image`` as one 2D plane (singleton axes dropped), checked; else ValueError."""
    arr = as_array(image)
    plane = arr.reshape([s for s in arr.shape if s != 1]) if arr.ndim != 2 else arr
    if plane.ndim != 2:
        raise ValueError(f"image has shape {arr.shape}: this takes one 2D plane (Y, X); "
                         "for stacks pass axes (e.g. axes='TYX') to denoise()")
    floating = np.issubdtype(plane.dtype, np.floating)
    nan = np.isnan(plane) if floating else None
    if nan is not None and nan.any() and not nan.all():
        plane = fill_missing(plane, nan, 0, 1)  # missing, as in denoise()
    check_values(plane.min(), plane.max(), bool(np.isfinite(plane).all()) if floating
                 else True, plane.dtype)
    check_plane_size(*plane.shape, filter_size)
    return plane
