"""``denoise()``: check the input, run the FM2S pieces, map back to input units."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch

from .hooks import CancelLike, ProgressFn, cancel_checker
from .inference import INFERENCE_TILE, apply
from .intensity import to_unit
from .memory import check_memory, estimate_bytes
from .model_io import FM2SModel, as_model, check_sink, deliver
from .calibrate import is_auto
from .noise import MAX_CORR
from .presets import TUNABLE, Preset, get_preset
from .stack import check_dtype, denoise_nd, is_lazy
from .threads import thread_policy
from .training import MODES, fit

_INT_PARAMS = ("stride", "filter_size", "channels", "samples", "steps_per_sample",
               "warmup_steps", "seed", "fast_steps")


def pick_device(device: Optional[str | torch.device] = None) -> torch.device:
    """``None`` picks CUDA, then Apple MPS, then the CPU; a named device must exist."""
    if device is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"unknown device {device!r}; use 'cpu', 'cuda' or 'mps'") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but no CUDA GPU is available; use 'cpu'")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None)
                                  and torch.backends.mps.is_available()):
        raise ValueError("device 'mps' was asked for but Apple MPS is not available; use 'cpu'")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unsupported device {device!r}; use 'cpu', 'cuda' or 'mps'")
    return dev


def resolve_params(preset: str | Preset = "confocal", seed: Optional[int] = None,
                   **overrides: Any) -> Preset:
    """The preset with ``overrides`` applied and checked (ValueError on a bad value)."""
    p = get_preset(preset)
    unknown = sorted(set(overrides) - set(TUNABLE))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)}; "
                         f"tunable parameters: {', '.join(TUNABLE)}")
    values = {k: v for k, v in overrides.items() if v is not None}
    if seed is not None:
        values["seed"] = seed
    for k, v in values.items():
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.number)):
            raise ValueError(f"{k} must be a number, got {v!r}")
        if not np.isfinite(v):
            raise ValueError(f"{k} must be finite, got {v!r}")
        if k in _INT_PARAMS:
            if int(v) != v:
                raise ValueError(f"{k} must be a whole number, got {v!r}")
            values[k] = int(v)
        else:
            values[k] = float(v)
    p = p.with_overrides(**values)
    checks = [
        (p.k_g >= 0, "k_g must be >= 0 (0 turns the Gaussian part off)"),
        (p.k_p > 0, "k_p must be > 0 (larger means weaker Poisson noise)"),
        (p.lam_p > 0, "lam_p must be > 0 (larger means weaker overall Poisson noise)"),
        (p.k_p <= 1e7 and p.lam_p <= 1e7, "k_p and lam_p must be <= 1e7"),
        (p.k_g <= 1e5, "k_g must be <= 1e5"),
        (1 <= p.stride <= 4096, "stride must be between 1 and 4096 pixels"),
        (1 <= p.filter_size <= 101 and p.filter_size % 2 == 1,
         "filter_size must be an odd number between 1 and 101"),
        (1 <= p.channels <= 64, "channels must be between 1 and 64"),
        (0 <= p.samples <= 100_000, "samples must be between 0 and 100000"),
        (1 <= p.steps_per_sample <= 1000, "steps_per_sample must be between 1 and 1000"),
        (1 <= p.fast_steps <= 100_000, "fast_steps must be between 1 and 100000"),
        (0 <= p.warmup_steps <= 100_000, "warmup_steps must be between 0 and 100000"),
        (0 < p.lr <= 1.0, "lr must be in (0, 1]"),
        (0 <= p.seed < 2**63, "seed must be a non-negative integer"),
        (0 <= p.corr <= MAX_CORR, f"corr must be between 0 and {MAX_CORR}"),
    ]
    for ok, msg in checks:
        if not ok:
            raise ValueError(msg)
    return p


def check_image(image: Any, filter_size: int = 1) -> np.ndarray:
    """Return ``image`` as a 2D array or raise ValueError saying what is wrong."""
    try:
        arr = np.asarray(image)
    except Exception as e:  # ragged lists and the like
        raise ValueError(f"could not read the image as an array: {e}") from e
    check_dtype(arr.dtype)
    if arr.size == 0:
        raise ValueError(f"image is empty (shape {arr.shape})")
    plane = arr.reshape([s for s in arr.shape if s != 1]) if arr.ndim != 2 else arr
    if plane.ndim != 2:
        raise ValueError(f"image has shape {arr.shape}: denoise() takes one 2D plane "
                         "(Y, X); for stacks pass axes (e.g. axes='TYX') to denoise()")
    if not np.all(np.isfinite(plane)):
        raise ValueError("image contains NaN or infinite values: replace them "
                         "(e.g. np.nan_to_num) before denoising")
    lo, hi = plane.min(), plane.max()
    if lo == hi:
        raise ValueError(f"image is constant (every pixel is {lo}): there is no signal "
                         "or noise to learn from")
    if np.issubdtype(plane.dtype, np.floating) and (abs(float(lo)) > 1e30 or abs(float(hi)) > 1e30):
        raise ValueError("image values exceed 1e30: rescale the data first")
    if min(plane.shape) < filter_size:
        raise ValueError(f"image of shape {plane.shape} is smaller than the "
                         f"{filter_size}x{filter_size} median filter window; "
                         "use a larger image or a smaller filter_size")
    return plane


def _auto_preset(image: Any, axes: Optional[str], per_plane: bool) -> Preset:
    """``preset='auto'``: the preset calibrated on a 2D plane (:mod:`napari_fm2s.calibrate`)."""
    from .calibrate import auto_preset

    if per_plane or is_lazy(image) or _is_nd(image):
        raise ValueError("preset='auto' calibrates on one 2D plane; for a stack, calibrate "
                         "one plane with napari_fm2s.calibrate.auto_preset(plane) and pass "
                         "that preset")
    return auto_preset(image)


def _is_nd(image: Any) -> bool:
    """More than two axes longer than 1 (numpy-like input)."""
    try:
        return sum(int(n) > 1 for n in np.shape(image)) > 2
    except ValueError:  # ragged lists: check_image explains
        return False


def denoise(image: Any, preset: str | Preset = "confocal", *, mode: Optional[str] = None,
            axes: Optional[str] = None, per_plane: bool = False,
            seed: Optional[int] = None, device: Optional[str | torch.device] = None,
            progress: Optional[ProgressFn] = None, cancel: CancelLike = None,
            scheduler: Any = None, model: Any = None, save_model: Any = None,
            threads: Optional[int] = None, **overrides: Any) -> Any:
    """Denoise a fluorescence image or stack with FM2S, trained on the data itself.

    Args:
        image: 2D plane (singleton axes allowed), or an nD stack with ``axes``; numpy, or
            dask / zarr (then never loaded whole); any integer or float dtype.
        preset: microscope / noise level, see ``napari_fm2s.PRESETS``.
        mode: training schedule, one of ``MODES`` (``"paper"`` reproduces the authors');
            ``None``: the first of ``MODES`` for a plane, ``"fast"`` (if present) for a stack.
        axes: one letter per axis, e.g. ``"TYX"``, ``"ZCYX"``, ``"YXS"`` (RGB); ``None``
            guesses (:func:`napari_fm2s.stack.guess_axes`).  Channels (C, S) get a model
            each; the planes of the other axes share one, or one each with ``per_plane``.
        seed: random seed (default: the preset's, 3407, so runs are reproducible).
        device: ``"cpu"``, ``"cuda"``, ``"mps"``; ``None`` picks the fastest available.
        progress: ``progress(step, total, loss)`` called after each training step.
        cancel: callable or ``threading.Event``; when set, :class:`DenoiseCancelled` is raised.
        scheduler: dask scheduler for reading lazy input (``None``: dask's default).
        model: a trained model (:class:`napari_fm2s.model_io.FM2SModel`, or the path of a
            file written with ``save_model``) to apply instead of training: for other
            images from the same microscope.  Preset, mode and parameters come from it.
        save_model: a file path (``.fm2s.safetensors``) to save the trained model to, or a
            callable receiving it; checked before training starts.
        threads: CPU threads for this run; ``None``: ``$FM2S_THREADS``, else the cores this
            process may use (:mod:`napari_fm2s.threads`).
        **overrides: any of ``napari_fm2s.presets.TUNABLE`` (k_g, k_p, lam_p, stride, ...).

    Returns:
        float32 in the input's intensity units, shape and axis order: a numpy array, or
        for lazy input a lazy dask array (trained already; computing it runs inference
        chunk by chunk).
    """
    with thread_policy(threads):
        return _denoise(image, preset, mode, axes, per_plane, seed, device, progress, cancel,
                        scheduler, model, save_model, overrides)


def _denoise(image: Any, preset: str | Preset, mode: Optional[str], axes: Optional[str],
             per_plane: bool, seed: Optional[int], device: Optional[str | torch.device],
             progress: Optional[ProgressFn], cancel: CancelLike, scheduler: Any, model: Any,
             save_model: Any, overrides: dict) -> Any:
    if mode is not None and mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; valid modes: {', '.join(MODES)}")
    if is_auto(preset):  # calibrated from the image; a given model brings its own
        preset = _auto_preset(image, axes, per_plane) if model is None else "confocal"
    p = resolve_params(preset, seed=seed, **overrides)
    check_sink(save_model)
    if model is not None:
        given = sorted(k for k, v in overrides.items() if v is not None)
        if given or seed is not None:
            raise ValueError(f"{', '.join(given) or 'seed'}: a saved model is applied as it "
                             "was trained; training parameters do not go with model")
        model = as_model(model)
        p, mode = model.preset, model.mode
    if model is not None or axes is not None or per_plane or is_lazy(image) or _is_nd(image):
        dev = pick_device(device)
        return denoise_nd(image, p, axes, mode=mode, per_plane=per_plane,
                          device=dev, progress=progress, cancel=cancel,
                          scheduler=scheduler, model=model, save_model=save_model,
                          check_memory=dev.type == "cpu")
    mode = MODES[0] if mode is None else mode
    plane = check_image(image, p.filter_size)
    dev = pick_device(device)
    if dev.type == "cpu":
        check_memory(estimate_bytes(plane.size, plane.shape, plane.size, p.channels, mode,
                                    INFERENCE_TILE))
    cancelled = cancel_checker(cancel)
    raw, imap = to_unit(plane)
    net = fit([raw], p, mode=mode, device=dev, progress=progress, cancel=cancelled)
    deliver(FM2SModel(p, mode, [net], [imap], dtype=str(plane.dtype), axes="YX",
                      shape=tuple(np.shape(image))), save_model)
    out = apply(net, raw, tile=INFERENCE_TILE, cancelled=cancelled)
    return imap.from_unit(out).reshape(np.shape(image))
