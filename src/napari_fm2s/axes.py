"""The axes vocabulary: one letter per axis, as in OME / ImageJ / tifffile.

``Y`` and ``X`` are the plane, ``C`` (channels) and ``S`` (RGB(A) samples) are channels,
each denoised with its own model, and every other letter (``T``, ``Z``, tifffile's
``Q``/``I``, ...) is a stack axis whose planes share one model (or get one each with
``per_plane=True``).  An alpha sample (index 3 of an ``S`` axis of size 4) is passed
through untouched.  :func:`guess_axes` guesses the letters when none are given;
:class:`Layout` says where each kind of axis is.  No napari or Qt here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

_UNIQUE = "TZCYXS"
_CHANNEL = "CS"
_LABELS = {"t": "T", "time": "T", "frame": "T", "frames": "T", "z": "Z", "depth": "Z",
           "slice": "Z", "c": "C", "ch": "C", "channel": "C", "channels": "C", "y": "Y",
           "x": "X", "s": "S", "rgb": "S", "rgba": "S", "sample": "S", "samples": "S"}


def check_axes(axes: str, shape: Sequence[int]) -> str:
    """Upper-cased ``axes`` if it fits ``shape``; ValueError otherwise."""
    if not isinstance(axes, str):
        raise ValueError(f"axes must be a string such as 'TYX', got {axes!r}")
    ax = axes.strip().upper()
    if len(ax) != len(shape) or not ax.isalpha() or not ax.isascii():
        raise ValueError(f"axes {axes!r} must have one letter per dimension of the image "
                         f"(shape {tuple(shape)}: {len(shape)} letters), e.g. "
                         f"{'TZCYXS'[-len(shape):] if 2 <= len(shape) <= 6 else 'TYX'!r}")
    for a in _UNIQUE:
        if ax.count(a) > 1:
            raise ValueError(f"axes {axes!r} name {a} more than once")
    if "Y" not in ax or "X" not in ax:
        raise ValueError(f"axes {axes!r} must contain Y and X (the image plane)")
    return ax


def _rule(shape: tuple[int, ...], dtype: np.dtype, rgb: Optional[bool]) -> str:
    """The documented fallback: last two axes YX, a last axis of 3/4 in uint8 is RGB(A)."""
    nd = len(shape)
    if rgb is None:
        rgb = dtype == np.uint8 and nd >= 3 and shape[-1] in (3, 4)
    body = list(range(nd - 1 if rgb else nd))
    if len(body) < 2:
        raise ValueError(f"image has shape {shape}: FM2S needs at least a 2D plane (Y, X)")
    big = [i for i in body if shape[i] > 1]
    yx = big[-2:] if len(big) >= 2 else body[-2:]
    stack = [i for i in big if i not in yx]
    if len(stack) > 2:
        raise ValueError(f"cannot guess the axes of an image of shape {shape}: "
                         "pass axes, e.g. axes='TZCYX' (CLI: --axes TZCYX)")
    letters = ["Q"] * nd
    if rgb:
        letters[-1] = "S"
    letters[yx[0]], letters[yx[1]] = "Y", "X"
    for i, a in zip(stack, "TZ"):
        letters[i] = a
    return "".join(letters)


def guess_axes(shape: Sequence[int], dtype: Any, labels: Optional[Sequence[str]] = None,
               rgb: Optional[bool] = None) -> str:
    """Axes of an image when none were given.

    ``labels`` (axis names from a file's metadata or a napari layer's ``axis_labels``,
    e.g. ``"TYX"`` or ``["t", "y", "x"]``) win when they name every axis; unknown names
    become stack axes.  Otherwise, among the axes longer than 1: the last two are YX,
    one more in front is T, two more are TZ; a last axis of size 3 or 4 in uint8 data
    (or ``rgb=True``, napari's flag) is RGB(A).  Singleton axes are stack axes (``Q``).
    """
    shape = tuple(int(s) for s in shape)
    dtype = np.dtype(dtype)
    if labels is not None and len(labels) == len(shape):
        letters = []
        for lab in labels:
            name = str(lab).strip().lower()
            letters.append(_LABELS.get(name, name.upper() if len(name) == 1 and name.isalpha()
                                       and name.isascii() else "Q"))
        if rgb and letters[-1] != "S":
            letters[-1] = "S"
        try:
            return check_axes("".join(letters), shape)
        except ValueError:
            pass
    return _rule(shape, dtype, rgb)


@dataclass(frozen=True)
class Layout:
    """Where the plane, channel and stack axes of an image are."""

    axes: str
    shape: tuple[int, ...]

    @property
    def plane(self) -> tuple[int, int]:
        """(height, width) of one plane."""
        return self.shape[self.axes.index("Y")], self.shape[self.axes.index("X")]

    @property
    def channel(self) -> list[int]:
        return [i for i, a in enumerate(self.axes) if a in _CHANNEL]

    @property
    def stack(self) -> list[int]:
        return [i for i, a in enumerate(self.axes) if a not in _CHANNEL + "YX"]

    @property
    def order(self) -> list[int]:
        """Channel axes, stack axes, Y, X: the working order."""
        return self.channel + self.stack + [self.axes.index("Y"), self.axes.index("X")]

    def alpha(self, cidx: tuple[int, ...]) -> bool:
        """Is channel index ``cidx`` (over :attr:`channel` axes) an alpha sample?"""
        for pos, i in enumerate(self.channel):
            if self.axes[i] == "S" and self.shape[i] == 4 and cidx[pos] == 3:
                return True
        return False

    def channel_name(self, cidx: tuple[int, ...]) -> str:
        return ", ".join(f"{self.axes[i]}={c}" for i, c in zip(self.channel, cidx))

    def plane_name(self, pidx: tuple[int, ...]) -> str:
        return ", ".join(f"{self.axes[i]}={c}" for i, c in zip(self.stack, pidx))


def plane_view(shape: Sequence[int], axes: str, step: Sequence[int]) -> tuple[tuple, str]:
    """Index and remaining axes of the plane at ``step`` (napari's ``dims.current_step``)."""
    ax = check_axes(axes, shape)
    step = [int(s) for s in step]
    if ax[-1] == "S" and len(step) == len(ax) - 1:  # napari's RGB layers: no dim for S
        step = step + [0]
    if len(step) != len(ax):
        raise ValueError(f"step {tuple(step)} must have one index per axis of {ax}")
    index: list[Any] = []
    for a, n, s in zip(ax, shape, step):
        if a in _CHANNEL + "YX":
            index.append(slice(None))
        elif not 0 <= s < n:
            raise ValueError(f"index {s} is outside axis {a} of size {n}")
        else:
            index.append(s)
    rest = "".join(a for a in ax if a in _CHANNEL + "YX")
    return tuple(index), rest
