"""The one denoising pipeline, for every input kind (a 2D plane is its ``YX`` case).

validate and map each channel -> train (or take the given model) -> deliver the model ->
infer plane by plane -> reassemble in the input's axis order.  Channels (C, S) get a model
each; the planes of the other axes share one, trained on at most :data:`TRAIN_PLANES`
planes (cropped to :data:`TRAIN_PIXELS` pixels in all), or get one each (``per_plane``).
Numpy input is denoised in memory; lazy input (:mod:`napari_fm2s.lazy`) gives a lazy
result.  No napari or Qt here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Optional

import numpy as np

from .axes import Layout, channel_like_stack, check_axes, check_guessed_plane, guess_axes
from .missing import fill_missing, missing_pixels, restore_missing
from .checks import ConstantChannel, as_array, check_dtype, check_finite, check_plane_size, \
    check_values
from .hooks import ProgressFn
from .inference import INFERENCE_TILE
from .intensity import IntensityMap, map_for_range, robust_or_plain, robust_range
from .lazy import as_dask, is_lazy, load, robust_plane_ranges, stats
from .memory import check_memory, estimate_bytes, log
from .model_io import FM2SModel, KeepModel, deliver, intensity_for
from .network import FM2SNet
from .planes import infer
from .calibrate import NOISE_STRIDE, is_auto
from .channel_preset import measured_noise, preset_for
from .noise_model import NoiseModel
from .measure import CORR_ON
from .presets import Preset
from .runtime import RunContext, default_mode
from .more_training import fit_and_more

#: Most planes a shared model trains on (evenly spaced through the stack).
TRAIN_PLANES = 8
#: Most pixels handed to training in all; larger planes are cropped (see :func:`train_windows`).
TRAIN_PIXELS = 4096 * 4096


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


@dataclass
class _Channel:
    """One channel of the working array: its data, networks and intensity maps."""

    index: tuple[int, ...]
    data: Any  # (stack..., Y, X)
    nets: list[FM2SNet] = field(default_factory=list)
    maps: list[IntensityMap] = field(default_factory=list)  # one, or one per plane
    brights: list[float] = field(default_factory=list)  # each map's (robust) brightest value
    constant: Optional[ConstantChannel] = None  # copied unchanged
    # one, or one per plane: the preset trained with (calibrated, or with its black level),
    # the measured noise (the do-no-harm guard's)
    presets: list[Preset] = field(default_factory=list)
    noises: list[Optional[NoiseModel]] = field(default_factory=list)

    @property
    def preset(self) -> Optional[Preset]:
        """The (first) preset trained with; None before training."""
        return self.presets[0] if self.presets else None


def _map_channel(ch: _Channel, layout: Layout, lazy: bool, per_plane: bool,
                 ctx: RunContext) -> None:
    """Check the channel's values and set its intensity map(s) (one per plane with
    ``per_plane``); ConstantChannel if it has one value."""
    where = layout.where(ch.index)
    st = stats(ch.data, lazy, True, ctx.scheduler)
    check_values(st[0], st[1], bool(st[2]), ch.data.dtype, where)
    mins, maxs = np.asarray(st[3]).ravel(), np.asarray(st[4]).ravel()
    planes = _robust_ranges(ch.data, lazy, mins, maxs, ctx.scheduler)
    lo, hi = min(a for a, _ in planes), max(b for _, b in planes)
    ch.maps, ch.brights = [map_for_range(ch.data.dtype, lo, hi)], [float(hi)]
    if per_plane:
        ch.maps, ch.brights = [], [float(b) for _, b in planes]
        for i, (a, b) in enumerate(zip(mins, maxs)):
            if a == b:
                pidx = np.unravel_index(i, ch.data.shape[:-2])
                raise ValueError(f"plane {layout.plane_name(pidx)}{where} is constant: a model "
                                 "cannot be trained on it alone; use the shared model "
                                 "(per_plane=False, CLI: without --per-plane)")
            a, b = planes[i]
            ch.maps.append(map_for_range(ch.data.dtype, float(a), float(b)))


def _robust_ranges(sub: Any, lazy: bool, mins: np.ndarray, maxs: np.ndarray,
                   scheduler: Any) -> list[tuple[float, float]]:
    """:func:`~napari_fm2s.intensity.robust_range` of each plane of a (stack..., Y, X)
    array (``mins``/``maxs``: the plain per-plane ranges), in flat plane order: plane by
    plane in memory, chunk by chunk for lazy data (same values)."""
    if not lazy:
        sub = np.asarray(sub)
        return [robust_range(sub[i]) for i in np.ndindex(sub.shape[:-2])]
    if min(sub.shape[-2:]) < 2:
        return [(float(a), float(b)) for a, b in zip(mins, maxs)]
    rlo, rhi = robust_plane_ranges(sub, scheduler)
    return [robust_or_plain(float(a), float(b), float(c), float(d))
            for a, b, c, d in zip(rlo, rhi, mins, maxs)]


def _train(ch: _Channel, lazy: bool, per_plane: bool, mode: str, prog: _Progress,
           ctx: RunContext, more: bool, layout: Layout) -> None:
    """One network (shared) or one per plane (``per_plane``), in flat plane order;
    ``more``: trained on while it pays (:mod:`~napari_fm2s.more_training`: auto with
    steps not given, on white noise); ``layout`` names the channel (and plane) in
    messages."""
    sub = ch.data
    stack_shape, (h, w) = sub.shape[:-2], sub.shape[-2:]
    n = int(np.prod(stack_shape, dtype=np.int64))

    def plane(i: int) -> Any:
        return sub[np.unravel_index(i, stack_shape)] if stack_shape else sub

    def fit_on(raws: list[np.ndarray], i: int) -> FM2SNet:
        imap, noise = ch.maps[i % len(ch.maps)], ch.noises[i % len(ch.noises)]
        noise = noise if more and noise and max(noise.corr) < CORR_ON else None
        var = None if noise is None else partial(noise.unit_variance, scale=imap.scale,
                                                 offset=imap.offset)
        return fit_and_more(raws, ch.presets[i % len(ch.presets)], mode, ctx.device,
                            prog.for_fit(), ctx.cancelled, var, 1 if per_plane else n,
                            layout.where(ch.index, i if per_plane else None))

    if not per_plane:
        idx = plane_subset(n)
        wins = train_windows(len(idx), h, w, ch.presets[0].filter_size)
        raws = load([plane(i)[win] for i, win in zip(idx, wins)], lazy, ctx.scheduler)
        ch.nets = [fit_on([ch.maps[0].to_unit(r) for r in raws], 0)]
        return
    for i in range(n):
        ctx.raise_if_cancelled()
        win = train_windows(1, h, w, ch.presets[i].filter_size)[0]
        raw = load([plane(i)[win]], lazy, ctx.scheduler)[0]
        ch.nets.append(fit_on([ch.maps[i].to_unit(raw)], i))


def _from_model(ch: _Channel, k: int, n: int, model: FM2SModel, layout: Layout, lazy: bool,
                ctx: RunContext) -> None:
    net, saved = model.net_for(k, n)
    lo, hi, finite = (float(v) for v in stats(ch.data, lazy, False, ctx.scheduler)[:3])
    where = layout.where(ch.index)
    check_finite(finite, where)
    if k == 0 and model.dtype != str(np.dtype(ch.data.dtype)):
        log.warning("the model was trained on a %s image, this one is %s: its intensities "
                    "and noise may not match the model's (denoise it without the model "
                    "if in doubt)", model.dtype, np.dtype(ch.data.dtype))
    ch.nets, ch.maps = [net], [intensity_for(saved, ch.data.dtype, lo, hi, where)]
    by_auto = is_auto(model.preset.name)
    if by_auto or model.mode == "fast":  # the guard, on this image's noise
        idx = plane_subset(int(np.prod(ch.data.shape[:-2], dtype=np.int64)))
        ch.noises = [measured_noise(ch, idx, model.preset.stride if by_auto else NOISE_STRIDE,
                                    lazy, ctx)]


def run(image: Any, p: Preset, axes: Optional[str] = None, ctx: Optional[RunContext] = None,
        *, per_plane: bool = False, model: Optional[FM2SModel] = None,
        save_model: Any = None, auto: bool = False, offset: Optional[float] = None,
        keep: Optional[dict] = None, spread: bool = False) -> Any:
    """Denoise ``image`` (any kind, see the module docstring) with the resolved preset ``p``.

    ``axes`` None guesses them (:func:`~napari_fm2s.axes.guess_axes`); axes not given (a
    :class:`~napari_fm2s.axes.GuessedAxes`) that leave a plane side under 16 px are refused,
    and a guessed stack axis whose planes look like channels is made the channel axis
    (:func:`~napari_fm2s.axes.channel_like_stack`, with a warning).  ``model`` is applied
    instead of training (``p`` is then the model's preset); ``save_model`` (a path or a
    callable) receives the trained model before inference.  Returns float32 in
    the input's units and axis order: numpy for numpy input, a lazy dask array for lazy
    input (trained already; computing it runs inference chunk by chunk).  ``auto``
    calibrates each channel's preset, with ``per_plane`` each plane's
    (:func:`~napari_fm2s.channel_preset.preset_for`; ``p`` gives what auto does
    not choose, ``keep`` the user's values); ``offset`` is the camera's black level in
    input units (the Poisson part of the injection acts above it).  ``spread``: return
    (result, spread) (:func:`napari_fm2s.planes.infer`).
    """
    ctx = RunContext() if ctx is None else ctx
    if model is not None and (per_plane or save_model is not None):
        raise ValueError("a saved model is applied as it is: per_plane and save_model "
                         "do not go with model")
    if per_plane and save_model is not None:
        raise ValueError("save_model saves one model per channel; per_plane trains one per "
                         "plane, which cannot be saved")
    lazy = is_lazy(image)
    arr = as_dask(image) if lazy else as_array(image)
    dtype = check_dtype(arr.dtype)
    if np.issubdtype(dtype, np.floating) and dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float32 if dtype.itemsize < 4 else np.float64)  # scipy's filters
        dtype = arr.dtype  # take neither float16 nor long double; a copy: input untouched
    if arr.size == 0:
        raise ValueError(f"image is empty (shape {arr.shape})")
    ax = check_axes(axes, arr.shape) if axes is not None else guess_axes(arr.shape, dtype)
    layout = Layout(ax, tuple(int(s) for s in arr.shape))
    h, w = layout.plane
    check_guessed_plane(layout.shape, ax)  # axes not given only: given ones are the user's
    check_plane_size(h, w, p.filter_size if model is None else 1, ax)  # a model: no median
    missing = missing_pixels(arr, lazy, ax.index("Y"), ax.index("X"))  # NaN: filled, NaN again
    if missing is not None:
        arr = fill_missing(arr, missing, ax.index("Y"), ax.index("X"))
    found = channel_like_stack(arr, ax, lambda parts: load(parts, lazy, ctx.scheduler))
    if found is not None:  # a guessed stack of channel-like planes: channels (with a saved
        alt = Layout(found[0], layout.shape)  # model, as many as it has networks for)
        if model is None or np.prod([alt.shape[i] for i in alt.channel]) == len(model.nets):
            ax, layout = found[0], alt
            log.warning(found[1])

    work = arr.transpose(layout.order)
    nch = len(layout.channel)
    chan_shape, stack_shape = tuple(work.shape[:nch]), tuple(work.shape[nch:-2])
    channels = [_Channel(c, work[c]) for c in np.ndindex(chan_shape)]
    todo = [ch for ch in channels if not layout.alpha(ch.index)]
    n_planes = int(np.prod(stack_shape, dtype=np.int64))
    mode = default_mode(n_planes) if ctx.mode is None else ctx.mode
    if ctx.check_memory and not lazy and model is None:
        train_px = min(TRAIN_PIXELS, h * w * (n_planes if per_plane else
                                              len(plane_subset(n_planes))))
        check_memory(estimate_bytes(int(arr.size), (h, w), train_px, p.channels, mode,
                                    INFERENCE_TILE))

    for k, ch in enumerate(todo):  # check and map every channel before any training
        ctx.raise_if_cancelled()
        if model is not None:
            _from_model(ch, k, len(todo), model, layout, lazy, ctx)
            continue
        try:
            _map_channel(ch, layout, lazy, per_plane, ctx)
        except ConstantChannel as e:
            if len(todo) == 1:
                raise
            if save_model is not None and not isinstance(save_model, KeepModel):
                raise ConstantChannel(f"{e}; a saved model needs a network for every channel: "
                                      "without save_model (CLI: --save-model) this channel "
                                      "is copied unchanged") from e
            ch.constant = e  # e.g. the empty blue of a red-only RGB image: kept as it is
    to_train = [ch for ch in todo if ch.constant is None and not ch.nets]
    if model is None and not to_train:
        raise next(ch.constant for ch in todo if ch.constant is not None)
    for ch in to_train:  # one preset for the channel, or each plane's own
        groups = [[i] for i in range(n_planes)] if per_plane else [plane_subset(n_planes)]
        made = [preset_for(ch, g, p, auto, offset, keep or {},
                           layout.where(ch.index, g[0] if per_plane else None), lazy, ctx,
                           mode) for g in groups]
        ch.presets, ch.noises = [q for q, _ in made], [v for _, v in made]
    if ctx.on_params is not None:
        ctx.on_params(_reported(to_train, p, layout, per_plane), mode)
    prog = _Progress(ctx.progress, len(to_train) * (n_planes if per_plane else 1))
    for ch in to_train:
        _train(ch, lazy, per_plane, mode, prog, ctx,
               auto and "fast_steps" not in (keep or {}), layout)
    for ch in todo:
        if ch.constant is not None:
            log.warning("channel %s is constant: copied unchanged",
                        layout.channel_name(ch.index))
    if save_model is not None and all(ch.nets for ch in todo):  # KeepModel: maybe none
        trained_p = (to_train[0].preset if to_train else None) or p
        deliver(FM2SModel(trained_p, mode, [ch.nets[0] for ch in todo],
                          [ch.maps[0] for ch in todo],
                          dtype=str(np.dtype(dtype)), axes=ax, shape=layout.shape,
                          channel_names=[layout.channel_name(ch.index) or "image"
                                         for ch in todo]), save_model)
    return restore_missing(infer(channels, work, layout, lazy, ctx.cancelled, spread),
                           missing)


def _reported(trained: list[_Channel], p: Preset, layout: Layout, per_plane: bool) -> Preset:
    """The preset to report: the one channel's, or the first's with every channel's (and
    with ``per_plane`` every plane's) calibration in its description."""
    if not trained or trained[0].preset is None:
        return p
    first = trained[0].presets[0]
    every = [(layout.part_name(ch.index, i if per_plane else None), q)
             for ch in trained for i, q in enumerate(ch.presets)]
    if all(q == first and q.description == first.description for _, q in every):
        return first
    return first.with_overrides(description=" | ".join(f"{name}: {q.description}"
                                                       for name, q in every))
