"""nD denoising: axes, channels, shared or per-plane models, lazy (dask / zarr) data.

An image has one letter per axis (``axes``): ``Y`` and ``X`` are the plane, ``C`` (channels)
and ``S`` (RGB(A) samples) are channels, each denoised with its own model, and every other
letter (``T``, ``Z``, tifffile's ``Q``/``I``, ...) is a stack axis whose planes share one
model (or get one each with ``per_plane=True``).  An alpha sample (index 3 of an ``S`` axis
of size 4) is passed through untouched.

Numpy input is denoised in memory.  Dask input (or anything array-like that is not numpy,
e.g. a zarr array) is never loaded whole: training reads at most :data:`TRAIN_PLANES` planes
(cropped to :data:`TRAIN_PIXELS` pixels in all), and the result is a lazy dask array whose
chunks are denoised with a halo of :data:`~napari_fm2s.inference.HALO` pixels
(``map_overlap``, no padding at the image border, as the network sees a whole plane), so it
equals the in-memory result.

This module imports neither napari nor Qt.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch

from .hooks import CancelLike, ProgressFn, cancel_checker, raise_if
from .memory import log
from .inference import HALO, INFERENCE_TILE, apply
from .intensity import IntensityMap, map_for_range
from .network import FM2SNet
from .presets import Preset
from .training import MODES, fit

#: Most planes a shared model trains on (evenly spaced through the stack).
TRAIN_PLANES = 8
#: Most pixels handed to training in all; larger planes are cropped (see :func:`train_windows`).
TRAIN_PIXELS = 4096 * 4096
#: Lazy chunks outside [MIN_CHUNK, MAX_CHUNK] pixels along Y or X are re-chunked to CHUNK.
MIN_CHUNK, MAX_CHUNK, CHUNK = 256, 2048, 1024

_UNIQUE = "TZCYXS"
_CHANNEL = "CS"
_LABELS = {"t": "T", "time": "T", "frame": "T", "frames": "T", "z": "Z", "depth": "Z",
           "slice": "Z", "c": "C", "ch": "C", "channel": "C", "channels": "C", "y": "Y",
           "x": "X", "s": "S", "rgb": "S", "rgba": "S", "sample": "S", "samples": "S"}


def default_mode(planes: int) -> str:
    """``"fast"`` for a stack of several planes when training.py has it, else ``MODES[0]``."""
    return "fast" if planes > 1 and "fast" in MODES else MODES[0]


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


def is_lazy(image: Any) -> bool:
    """Dask arrays and array-likes that are not numpy (zarr, h5py, ...) are handled lazily."""
    if isinstance(image, np.ndarray):
        return False
    if type(image).__module__.split(".")[0] == "dask":
        return True
    return all(hasattr(image, a) for a in ("shape", "dtype", "ndim", "__getitem__")) \
        and not isinstance(image, (list, tuple, torch.Tensor))


def as_dask(image: Any) -> Any:
    import dask.array as da

    if isinstance(image, da.Array):
        return image
    chunks = getattr(image, "chunks", None)
    ok = isinstance(chunks, tuple) and len(chunks) == image.ndim and all(
        isinstance(c, (int, np.integer)) for c in chunks)
    return da.from_array(image, chunks=chunks if ok else "auto", asarray=True)


def plane_subset(n: int, k: int = TRAIN_PLANES) -> list[int]:
    """Up to ``k`` evenly spaced plane indices out of ``n`` (first and last included)."""
    if n <= k:
        return list(range(n))
    return sorted({int(round(v)) for v in np.linspace(0, n - 1, k)})


def train_windows(k: int, h: int, w: int, min_side: int,
                  budget: int = TRAIN_PIXELS) -> list[tuple[slice, slice]]:
    """Training windows of ``k`` planes of ``h`` x ``w``: whole planes, or equal crops.

    When ``k * h * w`` exceeds ``budget`` every plane is cropped by the same factor
    (sides at least ``min_side``); plane ``j``'s crop sits at ``(j + 0.5) / k`` along each
    axis, so together the crops sweep the field of view.
    """
    if k * h * w <= budget:
        return [(slice(0, h), slice(0, w))] * k
    f = math.sqrt(budget / (k * h * w))
    ch, cw = min(h, max(min_side, int(h * f))), min(w, max(min_side, int(w * f)))
    out = []
    for j in range(k):
        t = (j + 0.5) / k
        y0, x0 = int(round((h - ch) * t)), int(round((w - cw) * t))
        out.append((slice(y0, y0 + ch), slice(x0, x0 + cw)))
    return out


class _Progress:
    """Turns the progress of ``fits`` successive trainings into one count."""

    def __init__(self, progress: Optional[ProgressFn], fits: int) -> None:
        self.progress, self.fits, self.done = progress, fits, 0

    def for_fit(self) -> Optional[ProgressFn]:
        if self.progress is None:
            return None
        i, fits, cb = self.done, self.fits, self.progress
        self.done += 1
        return lambda step, total, loss: cb(i * total + step, fits * total, loss)


class ConstantChannel(ValueError):
    """A channel (or a single-channel image) has one value everywhere."""


def _stats(sub: Any, lazy: bool, per_plane: bool, scheduler: Any) -> tuple[Any, ...]:
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


def _maps(layout: Layout, cidx: tuple[int, ...], sub: Any, lazy: bool, per_plane: bool,
          scheduler: Any) -> tuple[IntensityMap, list[IntensityMap]]:
    """The channel's intensity map and, with ``per_plane``, each plane's; checks the data."""
    stats = _stats(sub, lazy, per_plane, scheduler)
    lo, hi, finite = float(stats[0]), float(stats[1]), bool(stats[2])
    where = f" (channel {layout.channel_name(cidx)})" if cidx else ""
    if not finite:
        raise ValueError(f"image{where} contains NaN or infinite values: replace them "
                         "(e.g. np.nan_to_num) before denoising")
    if lo == hi:
        raise ConstantChannel(f"image{where} is constant (every pixel is {stats[0]}): there is no "
                         "signal or noise to learn from")
    if np.issubdtype(sub.dtype, np.floating) and max(abs(lo), abs(hi)) > 1e30:
        raise ValueError("image values exceed 1e30: rescale the data first")
    whole = map_for_range(sub.dtype, lo, hi)
    planes: list[IntensityMap] = []
    if per_plane:
        mins, maxs = np.asarray(stats[3]).ravel(), np.asarray(stats[4]).ravel()
        stack_shape = sub.shape[:-2]
        for i, (a, b) in enumerate(zip(mins, maxs)):
            if a == b:
                pidx = np.unravel_index(i, stack_shape)
                raise ValueError(f"plane {layout.plane_name(pidx)}{where} is constant: a model "
                                 "cannot be trained on it alone; use the shared model "
                                 "(per_plane=False, CLI: without --per-plane)")
            planes.append(map_for_range(sub.dtype, float(a), float(b)))
    return whole, planes


def _load(arrays: list[Any], lazy: bool, scheduler: Any) -> list[np.ndarray]:
    if lazy:
        import dask

        return [np.asarray(a) for a in dask.compute(*arrays, scheduler=scheduler)]
    return [np.asarray(a) for a in arrays]


def _train(sub: Any, lazy: bool, per_plane: bool, whole: IntensityMap,
           plane_maps: list[IntensityMap], p: Preset, mode: str, device: torch.device,
           prog: _Progress, cancelled: Callable[[], bool], scheduler: Any) -> list[FM2SNet]:
    """One network (shared) or one per plane (``per_plane``), in flat plane order."""
    stack_shape, (h, w) = sub.shape[:-2], sub.shape[-2:]
    n = int(np.prod(stack_shape, dtype=np.int64))

    def plane(i: int) -> Any:
        return sub[np.unravel_index(i, stack_shape)] if stack_shape else sub

    if not per_plane:
        idx = plane_subset(n)
        wins = train_windows(len(idx), h, w, p.filter_size)
        raws = _load([plane(i)[win] for i, win in zip(idx, wins)], lazy, scheduler)
        raws = [whole.to_unit(r) for r in raws]
        return [fit(raws, p, mode=mode, device=device, progress=prog.for_fit(),
                    cancel=cancelled)]
    nets = []
    win = train_windows(1, h, w, p.filter_size)[0]
    for i in range(n):
        raise_if(cancelled)
        raw = plane_maps[i].to_unit(_load([plane(i)[win]], lazy, scheduler)[0])
        nets.append(fit([raw], p, mode=mode, device=device, progress=prog.for_fit(),
                        cancel=cancelled))
    return nets


def _denoise_planes(block: np.ndarray, first: tuple[int, ...], stack_shape: tuple[int, ...],
                    nets: list[FM2SNet], maps: list[IntensityMap],
                    cancelled: Callable[[], bool]) -> np.ndarray:
    """Denoise every plane of a (stack..., Y, X) block whose first plane is at ``first``."""
    out = np.empty(block.shape, np.float32)
    for local in np.ndindex(block.shape[:-2]):
        glob = tuple(a + b for a, b in zip(first, local))
        i = int(np.ravel_multi_index(glob, stack_shape)) if stack_shape else 0
        net, imap = nets[i % len(nets)], maps[i % len(maps)]
        unit = apply(net, imap.to_unit(block[local]), tile=INFERENCE_TILE, cancelled=cancelled)
        out[local] = imap.from_unit(unit)
    return out


def _lazy_chunks(sub: Any) -> Any:
    """Stack axes in chunks of one plane; Y/X chunks kept unless tiny or huge."""
    chunks: dict[int, Any] = {i: 1 for i in range(sub.ndim - 2)}
    for ax in (sub.ndim - 2, sub.ndim - 1):
        c = max(sub.chunks[ax])
        if not MIN_CHUNK <= c <= MAX_CHUNK:
            chunks[ax] = min(CHUNK, sub.shape[ax])
    return sub.rechunk(chunks)


def _infer_lazy(sub: Any, nets: list[FM2SNet], maps: list[IntensityMap],
                cancelled: Callable[[], bool]) -> Any:
    stack_shape = tuple(sub.shape[:-2])
    nd = sub.ndim
    sub = _lazy_chunks(sub)

    def block_fn(block: np.ndarray, block_info: Optional[dict] = None) -> np.ndarray:
        loc = block_info[0]["array-location"] if block_info else [(0, 0)] * nd
        first = tuple(int(a) for a, _ in loc[:-2])
        return _denoise_planes(block, first, stack_shape, nets, maps, cancelled)

    depth = {i: 0 for i in range(nd - 2)}
    depth.update({nd - 2: HALO, nd - 1: HALO})
    return sub.map_overlap(block_fn, depth=depth, boundary="none", dtype=np.float32,
                           meta=np.empty((0,) * nd, np.float32))


def denoise_nd(image: Any, p: Preset, axes: Optional[str] = None, *, mode: Optional[str] = None,
               per_plane: bool = False, device: torch.device | str = "cpu",
               progress: Optional[ProgressFn] = None, cancel: CancelLike = None,
               scheduler: Any = None, model: Any = None, save_model: Any = None,
               check_memory: bool = False) -> Any:
    """Denoise an nD image (see the module docstring); ``p`` is a resolved preset.

    Returns float32 in the input's units and axis order: a numpy array for numpy input, a
    lazy dask array for lazy input (the models are trained before this returns; computing
    the array runs inference, chunk by chunk).  ``scheduler`` is the dask scheduler used
    for the statistics and training reads of lazy input (``None``: dask's default).
    ``model`` (a :class:`~napari_fm2s.model_io.FM2SModel`) is applied instead of training
    (``p`` is then the model's preset); ``save_model`` (a path or a callable) receives the
    trained model before inference.  ``check_memory`` refuses (``InsufficientMemory``) an
    in-memory run whose estimated peak exceeds the available memory.
    """
    from .model_io import FM2SModel, deliver, intensity_for

    if model is not None and (per_plane or save_model is not None):
        raise ValueError("a saved model is applied as it is: per_plane and save_model "
                         "do not go with model")
    if per_plane and save_model is not None:
        raise ValueError("save_model saves one model per channel; per_plane trains one per "
                         "plane, which cannot be saved")
    lazy = is_lazy(image)
    if lazy:
        arr = as_dask(image)
    else:
        try:
            arr = np.asarray(image)
        except Exception as e:  # ragged lists and the like
            raise ValueError(f"could not read the image as an array: {e}") from e
    dtype = check_dtype(arr.dtype)
    if arr.size == 0:
        raise ValueError(f"image is empty (shape {arr.shape})")
    ax = check_axes(axes, arr.shape) if axes is not None else guess_axes(arr.shape, dtype)
    layout = Layout(ax, tuple(int(s) for s in arr.shape))
    h, w = arr.shape[ax.index("Y")], arr.shape[ax.index("X")]
    if model is None and min(h, w) < p.filter_size:
        raise ValueError(f"image plane of {h}x{w} (axes {ax}) is smaller than the "
                         f"{p.filter_size}x{p.filter_size} median filter window; use a larger "
                         "image or a smaller filter_size, or check the axes")
    cancelled = cancel_checker(cancel)
    dev = torch.device(device)

    work = arr.transpose(layout.order)
    nch = len(layout.channel)
    chan_shape = tuple(work.shape[:nch])
    stack_shape = tuple(work.shape[nch:-2])
    todo = [c for c in np.ndindex(chan_shape) if not layout.alpha(c)]
    n_planes = int(np.prod(stack_shape, dtype=np.int64))
    mode = default_mode(n_planes) if mode is None else mode
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; valid modes: {', '.join(MODES)}")
    if check_memory and not lazy and model is None:
        from .memory import check_memory as _check, estimate_bytes

        train_px = min(TRAIN_PIXELS, h * w * (n_planes if per_plane else
                                              len(plane_subset(n_planes))))
        _check(estimate_bytes(int(arr.size), (h, w), train_px, p.channels, mode,
                              INFERENCE_TILE))

    trained: dict[tuple[int, ...], tuple[list[FM2SNet], list[IntensityMap]]] = {}
    constant: dict[tuple[int, ...], ConstantChannel] = {}
    to_train: dict[tuple[int, ...], tuple[IntensityMap, list[IntensityMap]]] = {}
    for k, cidx in enumerate(todo):  # train (or take from the model) every channel first
        sub = work[cidx]
        raise_if(cancelled)
        if model is not None:
            net, saved = model.net_for(k, len(todo))
            lo, hi, finite = (float(v) for v in _stats(sub, lazy, False, scheduler)[:3])
            where = f" (channel {layout.channel_name(cidx)})" if cidx else ""
            if not finite:
                raise ValueError(f"image{where} contains NaN or infinite values: replace "
                                 "them (e.g. np.nan_to_num) before denoising")
            trained[cidx] = ([net], [intensity_for(saved, sub.dtype, lo, hi, where)])
            continue
        try:
            to_train[cidx] = _maps(layout, cidx, sub, lazy, per_plane, scheduler)
        except ConstantChannel as e:
            if len(todo) == 1 or save_model is not None:
                raise
            constant[cidx] = e  # e.g. the empty blue of a red-only RGB image: kept as it is
    if constant and len(constant) == len(todo):
        raise next(iter(constant.values()))
    prog = _Progress(progress, len(to_train) * (n_planes if per_plane else 1))
    for cidx, (whole, plane_maps) in to_train.items():
        nets = _train(work[cidx], lazy, per_plane, whole, plane_maps, p, mode, dev, prog,
                      cancelled, scheduler)
        trained[cidx] = (nets, plane_maps if per_plane else [whole])
    for cidx in constant:
        log.warning("channel %s is constant: copied unchanged", layout.channel_name(cidx))
    if save_model is not None:
        deliver(FM2SModel(p, mode, [trained[c][0][0] for c in todo],
                          [trained[c][1][0] for c in todo], dtype=str(np.dtype(dtype)),
                          axes=ax, shape=layout.shape,
                          channel_names=[layout.channel_name(c) or "image" for c in todo]),
                save_model)

    results: dict[tuple[int, ...], Any] = {}
    out = None if lazy else np.empty(work.shape, np.float32)
    for cidx in np.ndindex(chan_shape):
        sub = work[cidx]
        if layout.alpha(cidx) or cidx in constant:
            results[cidx] = sub.astype(np.float32)
            if out is not None:
                out[cidx] = results.pop(cidx)
            continue
        raise_if(cancelled)
        nets, maps = trained[cidx]
        if lazy:
            results[cidx] = _infer_lazy(sub, nets, maps, cancelled)
        else:
            out[cidx] = _denoise_planes(np.asarray(sub), (0,) * len(stack_shape), stack_shape,
                                        nets, maps, cancelled)
    inverse = list(np.argsort(layout.order))
    if not lazy:
        return out.transpose(inverse)
    import dask.array as da

    flat = [results[c] for c in np.ndindex(chan_shape)]
    joined = da.stack(flat).reshape(chan_shape + flat[0].shape) if nch else flat[0]
    return joined.transpose(inverse)


def plane_view(shape: Sequence[int], axes: str, step: Sequence[int]) -> tuple[tuple, str]:
    """Index and remaining axes of the plane at ``step`` (see :func:`denoise_plane`)."""
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


def denoise_plane(data: Any, p: Preset, axes: str, step: Sequence[int],
                  **kwargs: Any) -> np.ndarray:
    """Denoise the one plane of ``data`` at ``step``, trained on that plane alone.

    ``step`` has one index per axis of ``data`` (napari's ``viewer.dims.current_step``;
    for an RGB layer the missing last one is fine); indices of Y, X, C and S are ignored.
    Returns the plane's (Y, X[, C][, S]) float32 array in input units, axes in input
    order: the plane of ``denoise_nd(data, per_plane=True)``.  ``kwargs`` go to
    :func:`denoise_nd`.
    """
    index, rest = plane_view(np.shape(data), axes, step)
    plane = data[index]
    out = denoise_nd(plane, p, rest, **kwargs)
    return np.asarray(out.compute() if is_lazy(out) else out)
