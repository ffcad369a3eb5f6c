"""The axes vocabulary: one letter per axis, as in OME / ImageJ / tifffile.

``Y`` and ``X`` are the plane, ``C`` (channels) and ``S`` (RGB(A) samples) are channels,
each denoised with its own model, and every other letter (``T``, ``Z``, tifffile's
``Q``/``I``, ...) is a stack axis whose planes share one model (or get one each with
``per_plane=True``).  An alpha sample (index 3 of an ``S`` axis of size 4) is passed
through untouched.  :func:`guess_axes` guesses the letters when none are given (a
:class:`GuessedAxes`, so that the pipeline can refuse a guess that leaves a tiny plane,
:func:`check_guessed_plane`, and say when a guessed stack looks like channels,
:func:`channel_like_stack`); :class:`Layout` says where each kind of axis is.  No napari
or Qt here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import numpy as np

from .checks import MIN_SIDE

_UNIQUE = "TZCYXS"
_CHANNEL = "CS"
_LABELS = {"t": "T", "time": "T", "frame": "T", "frames": "T", "z": "Z", "depth": "Z",
           "slice": "Z", "c": "C", "ch": "C", "channel": "C", "channels": "C", "y": "Y",
           "x": "X", "s": "S", "rgb": "S", "rgba": "S", "sample": "S", "samples": "S"}


def _no_plane(shape: Sequence[int]) -> ValueError:
    return ValueError(f"image has shape {tuple(shape)}: FM2S needs at least a 2D plane (Y, X)")


def check_axes(axes: str, shape: Sequence[int]) -> str:
    """Upper-cased ``axes`` if it fits ``shape``; ValueError otherwise."""
    if not isinstance(axes, str):
        raise ValueError(f"axes must be a string such as 'TYX', got {axes!r}")
    ax = axes.strip().upper()
    if len(shape) < 2:
        raise _no_plane(shape)
    if len(ax) != len(shape) or not ax.isalpha() or not ax.isascii():
        raise ValueError(f"axes {axes!r} must have one letter per dimension of the image "
                         f"(shape {tuple(shape)}: {len(shape)} letters), e.g. "
                         f"{_example(shape)!r}")
    for a in _UNIQUE:
        if ax.count(a) > 1:
            raise ValueError(f"axes {axes!r} name {a} more than once")
    if "Y" not in ax or "X" not in ax:
        raise ValueError(f"axes {axes!r} must contain Y and X (the image plane)")
    return GuessedAxes(ax, axes.rule) if isinstance(axes, GuessedAxes) else ax


#: Smallest plane side a guess may leave (axes given by the user may go below it): on
#: planes a few pixels wide the result is worse than the input (a 3x300 or 192x3 plane:
#: 5-18 dB worse, 1.5-3x brighter).
MIN_GUESSED_SIDE = 16


class GuessedAxes(str):
    """Axes letters that :func:`guess_axes` chose: ``rule`` True when from the shape
    rule, False when from axis labels (a file's; then only tifffile's unknown ``Q`` axes
    are unsure).  Axes given as a plain ``str`` are the user's, never second-guessed."""

    rule: bool

    def __new__(cls, letters: str, rule: bool = True) -> "GuessedAxes":
        obj = super().__new__(cls, letters)
        obj.rule = rule
        return obj


def _rule(shape: tuple[int, ...], dtype: np.dtype, rgb: Optional[bool]) -> str:
    """The documented fallback: last two axes YX; a last axis of 3/4 is channels, RGB(A)
    samples ``S`` in uint8 (or with ``rgb``), else ``C`` when two large axes precede it."""
    nd = len(shape)
    last = "Q"
    if nd >= 3 and shape[-1] in (3, 4):
        if rgb or (rgb is None and dtype == np.uint8):
            last = "S"
        elif min(shape[-3], shape[-2]) >= MIN_GUESSED_SIDE:
            last = "C"
    elif rgb:
        last = "S"
    body = list(range(nd - 1 if last != "Q" else nd))
    if len(body) < 2:
        raise _no_plane(shape)
    big = [i for i in body if shape[i] > 1]
    yx = big[-2:] if len(big) >= 2 else body[-2:]
    stack = [i for i in big if i not in yx]
    if len(stack) > 2:
        raise ValueError(f"cannot guess the axes of an image of shape {shape}: "
                         "pass axes, e.g. axes='TZCYX' (CLI: --axes TZCYX)")
    letters = ["Q"] * nd
    if last != "Q":
        letters[-1] = last
    letters[yx[0]], letters[yx[1]] = "Y", "X"
    for i, a in zip(stack, "TZ"):
        letters[i] = a
    return "".join(letters)


def guess_axes(shape: Sequence[int], dtype: Any, labels: Optional[Sequence[str]] = None,
               rgb: Optional[bool] = None) -> GuessedAxes:
    """Axes of an image when none were given.

    ``labels`` (axis names from a file's metadata or a napari layer's ``axis_labels``,
    e.g. ``"TYX"`` or ``["t", "y", "x"]``) win when they name every axis; unknown names
    become stack axes.  Otherwise, among the axes longer than 1: the last two are YX,
    one more in front is T, two more are TZ; a last axis of size 3 or 4 is channels: RGB(A)
    ``S`` in uint8 data (or with ``rgb=True``, napari's flag), ``C`` in any other dtype when
    the two axes before it are at least :data:`MIN_GUESSED_SIDE` long.  Singleton axes are
    stack axes (``Q``).  Returns a :class:`GuessedAxes`.
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
            named = GuessedAxes(check_axes("".join(letters), shape), rule=False)
        except ValueError:
            named = None
        # a plain TIFF's generic axes (tifffile's I, Q) give way to the rule where they
        # would leave a small plane: a (96, 96, 3) uint16 file read as QYX is YXC
        generic = named is not None and set(named) - set("YX") <= set("IQ")
        side = min(shape[named.index("Y")], shape[named.index("X")]) if named else 0
        if named is not None and not (generic and side < MIN_GUESSED_SIDE):
            return named
    return GuessedAxes(_rule(shape, dtype, rgb))


def check_guessed_plane(shape: Sequence[int], axes: str) -> None:
    """ValueError when ``axes`` were not given (a :class:`GuessedAxes`: guessed, or read
    from a file) and leave a plane side under :data:`MIN_GUESSED_SIDE`; given axes pass."""
    if not isinstance(axes, GuessedAxes):
        return
    shape = tuple(int(s) for s in shape)
    h, w = shape[axes.index("Y")], shape[axes.index("X")]
    if min(h, w) >= MIN_GUESSED_SIDE or (len(shape) == 2 and min(h, w) < MIN_SIDE):
        return  # a 2D line: no other axes to suggest (check_plane_size refuses it)
    example, how = _example(shape), "guessed" if axes.rule else "from the file"
    if axes.rule:
        ask = (f"pass axes=... to say which axes are the plane, e.g. axes={example!r} (CLI: "
               f"--axes {example}; napari: the layer's axis_labels)")
    else:  # the file's axes are likely right: the plane is just small
        ask = (f"if {axes} is right, pass it to denoise the plane anyway: axes={str(axes)!r} "
               f"(CLI: --axes {axes})")
    raise ValueError(f"the image plane of {h}x{w} (axes {axes}, {how}, for shape {shape}) is "
                     f"too small (under {MIN_GUESSED_SIDE} px on a side, where the result is likely "
                     f"worse than the input); {ask}")


def _example(shape: tuple[int, ...]) -> str:
    """Axes letters with Y, X on the two longest axes, C on a short one, then T, Z."""
    yx = sorted(sorted(range(len(shape)), key=lambda i: -shape[i])[:2])
    rest = iter("CTZ" if any(shape[i] <= 4 for i in range(len(shape)) if i not in yx)
                else "TZC")
    letters = [next(rest, "Q") if i not in yx else "" for i in range(len(shape))]
    letters[yx[0]], letters[yx[1]] = "Y", "X"
    return "".join(letters)


#: A guessed stack axis of at most this many planes is compared with channels (more are
#: rarely channels: a time-lapse or a z-stack).
CHANNEL_LIKE_PLANES = 6
#: Ratio of the planes' signal spans (99th - 1st percentile) above which a guessed stack
#: axis looks like channels.  Measured on synthetic Poisson images (128x128, 5-300 photons,
#: offset 0 or 100): bleaching to 50 % gives 1.8-2.0, two channels 10x apart 4.0-7.0
#: (shot noise narrows the gap when photons are few), two different images of one
#: brightness 1.25-1.4.  The median would miss channels on a camera offset (ratio 1.0).
CHANNEL_LIKE_RATIO = 3.0
#: Pixels per plane sampled (strided) to measure its span.
_SPAN_PIXELS = 1 << 16


def channel_like_stack(data: Any, axes: str, read: Callable[[list[Any]], list[np.ndarray]]
                       ) -> Optional[tuple[str, str]]:
    """For a guessed stack axis of ``data`` (axes ``axes``) whose planes differ in
    brightness like channels (:data:`CHANNEL_LIKE_RATIO`): ``(axes to use, message)``,
    the axis made the channel axis C (each plane its own model) where ``axes`` holds no
    channel axis (C, S) yet, else kept with a warning; kept with a warning when some of
    its planes are blank (a shared model copes with them); None otherwise.

    Only for :class:`GuessedAxes` (from labels: only their generic ``I`` and ``Q`` axes).  ``read``
    turns the sampled (maybe lazy) planes into numpy arrays.
    """
    if not isinstance(axes, GuessedAxes):
        return None
    shape = tuple(int(s) for s in data.shape)
    layout = Layout(str(axes), shape)
    h, w = layout.plane
    step = max(1, int(np.ceil(np.sqrt(h * w / _SPAN_PIXELS))))
    for i in layout.stack:
        if not 2 <= shape[i] <= CHANNEL_LIKE_PLANES or not (axes.rule or axes[i] in "IQ"):
            continue
        base = [n // 2 if j in layout.stack else 0 for j, n in enumerate(shape)]
        parts = []
        for k in range(shape[i]):
            index: list[Any] = [slice(None, None, step) if a in "YX" else b
                                for a, b in zip(axes, base)]
            index[i] = k
            parts.append(data[tuple(index)])
        spans = [float(np.subtract(*np.percentile(p.astype(np.float64), (99, 1))))
                 for p in read(parts)]
        lo, hi = min(spans), max(spans)  # a blank plane: a shared model copes (and can
        if lo == 0 < hi:  # be saved; a blank channel not): said, not switched
            alt = axes[:i] + "C" + axes[i + 1:]
            return axes, (f"axis {i} ({shape[i]} planes) was guessed as a stack ({axes[i]}) "
                          f"and some of its planes are blank: if they are channels, pass "
                          f"axes={alt!r} (CLI: --axes {alt}) to give each its own model")
        if not (lo > 0 and hi / lo > CHANNEL_LIKE_RATIO):
            continue
        what = (f"axis {i} ({shape[i]} planes) was guessed as a stack ({axes[i]}), but its "
                f"planes differ {hi / lo:.1f}x in brightness, like channels")
        if "C" in axes or "S" in axes:
            return axes, (f"{what}: it was treated as a stack sharing one model; if they "
                          "are channels, pass the axes to give each its own model")
        alt = GuessedAxes(axes[:i] + "C" + axes[i + 1:], axes.rule)
        return alt, (f"{what}: treated as channels ({alt}), each with its own model; pass "
                     f"axes={str(axes)!r} (CLI: --axes {axes}) to share one model")
    return None


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

    def part_name(self, cidx: tuple[int, ...], plane: Optional[int] = None) -> str:
        """``channel C=1`` (empty without channels); with ``plane`` (a flat index into the
        stack axes) ``channel C=1, plane T=3``."""
        parts = [f"channel {self.channel_name(cidx)}"] if cidx else []
        if plane is not None and self.stack:
            stack = tuple(self.shape[i] for i in self.stack)
            parts.append(f"plane {self.plane_name(np.unravel_index(plane, stack))}")
        return ", ".join(parts)

    def where(self, cidx: tuple[int, ...], plane: Optional[int] = None) -> str:
        """:meth:`part_name` for messages: `` (channel C=1)``, empty without a name."""
        name = self.part_name(cidx, plane)
        return f" ({name})" if name else ""

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
    if isinstance(axes, GuessedAxes):  # a guess stays a guess
        rest = GuessedAxes(rest, axes.rule)
    return tuple(index), rest


def positions(axes: str, letters: str) -> list[int]:
    """Where each of ``letters`` (a reordering of ``axes``) is in ``axes``; a repeated
    letter (tifffile's ``Q`` for unnamed axes) takes its occurrences in turn."""
    taken: list[int] = []
    for a in letters:
        taken.append(next(i for i, b in enumerate(axes) if b == a and i not in taken))
    return taken
