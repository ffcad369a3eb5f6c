"""``denoise()``: decide (preset, ``auto`` or a saved model; mode; device), then run the
one pipeline (:func:`napari_fm2s.pipeline.run`)."""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np
import torch

from .calibrate import is_auto
from .heap import steady_heap
from .hooks import CancelLike, ProgressFn
from .model_io import as_model, check_sink
from .params import resolve_params
from .pipeline import run
from .presets import Preset
from .runtime import RunContext, check_mode, pick_device
from .threads import thread_policy

__all__ = ["DEFAULT_PRESET", "check_offset", "denoise", "pick_device", "resolve_params"]

#: What runs when no preset is named (API, CLI, widget): see README, "The default".
DEFAULT_PRESET = "auto"
#: The preset auto starts from (what calibration does not choose: samples, lr, stride ...).
AUTO_BASE = "confocal"


def denoise(image: Any, preset: str | Preset = DEFAULT_PRESET, *, mode: Optional[str] = None,
            axes: Optional[str] = None, per_plane: bool = False, offset: Optional[float] = None,
            seed: Optional[int] = None, device: Optional[str | torch.device] = None,
            progress: Optional[ProgressFn] = None, cancel: CancelLike = None,
            scheduler: Any = None, model: Any = None, save_model: Any = None,
            on_params: Optional[Callable[[Preset, str], None]] = None,
            threads: Optional[int] = None, return_spread: bool = False,
            **overrides: Any) -> Any:
    """Denoise a fluorescence image or stack with FM2S, trained on the data itself.

    Args:
        image: 2D plane (singleton axes allowed), or an nD stack; numpy, or dask / zarr
            (then never loaded whole); any integer or float dtype.
        preset: microscope / noise level, see ``napari_fm2s.PRESETS``, or ``"auto"`` (the
            default, :data:`DEFAULT_PRESET`): calibrated from the data's own noise, each
            channel on its own, pooled over up to 8 sampled planes of a stack.
        mode: training schedule, one of ``MODES`` (``"paper"`` reproduces the authors');
            ``None``: the first of ``MODES`` for a plane, ``"fast"`` (if present) for a stack.
        axes: one letter per axis, e.g. ``"TYX"``, ``"ZCYX"``, ``"YXS"`` (RGB); ``None``
            guesses (:func:`napari_fm2s.axes.guess_axes`; a guess leaving a plane side
            under 16 px is refused, a guessed stack axis of 2-6 planes whose brightness
            differs like channels' is taken as channels, with a warning).  Channels (C,
            S) get a model each; the planes of the other axes
            share one, or one each with ``per_plane``.
        offset: the camera's black level (offset, in the image's units: tens to hundreds
            of ADU on sCMOS / EMCCD / CCD raw data); the Poisson part of the synthetic noise
            acts above it.  ``None``: estimated by ``"auto"``, 0 for a named preset.
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
        on_params: called with the preset (calibrated values for ``"auto"``, the model's for
            ``model``) and the mode the run uses, before it starts (e.g. for provenance).
        threads: CPU threads for this run; ``None``: ``$FM2S_THREADS``, else the cores this
            process may use (:mod:`napari_fm2s.threads`).
        return_spread: also return the spread of the ensemble the result averages: per
            pixel, the standard deviation of the network's four flipped applications
            (input units, float32, the result's shape; 0 for copied channels and in paper
            mode).  High where the answer depends on the image's orientation, i.e. where
            the network is unsure of structure; not a calibrated error bar.
        **overrides: any of ``napari_fm2s.params.TUNABLE`` (k_g, k_p, lam_p, stride, ...).

    Returns:
        float32 in the input's intensity units, shape and axis order: a numpy array, or
        for lazy input a lazy dask array (trained already; computing it runs inference
        chunk by chunk).  With ``return_spread``: ``(result, spread)`` (lazy: computing
        the spread runs inference again).

    Raises:
        ValueError: a bad input or setting, with what to do; ``DenoiseCancelled``.
    """
    check_mode(mode)
    auto = is_auto(preset) and model is None  # a given model brings its own parameters
    p = resolve_params(AUTO_BASE if is_auto(preset) else preset, seed=seed, **overrides)
    keep = {k: getattr(p, k) for k, v in overrides.items() if v is not None}
    if offset is not None:
        if model is not None:
            raise ValueError("offset: a saved model is applied as it was trained")
        offset = check_offset(offset)
    check_sink(save_model)
    if model is not None:
        given = sorted(k for k, v in overrides.items() if v is not None)
        if given or seed is not None:
            raise ValueError(f"{', '.join(given) or 'seed'}: a saved model is applied as it "
                             "was trained; training parameters do not go with model")
        model = as_model(model)
        p, mode = model.preset, model.mode
    dev = pick_device(device)
    ctx = RunContext(dev, mode, progress, cancel, scheduler, check_memory=dev.type == "cpu",
                     on_params=on_params)
    with thread_policy(threads), steady_heap():
        return run(image, p, axes, ctx, per_plane=per_plane, model=model,
                   save_model=save_model, auto=auto, offset=offset, keep=keep,
                   spread=bool(return_spread))


def check_offset(offset: Any) -> float:
    """``offset`` as a finite float, or ValueError."""
    try:
        v = float(offset)
    except (TypeError, ValueError):
        raise ValueError(f"offset must be a number (the camera's black level in the image's "
                         f"units), got {offset!r}") from None
    if not np.isfinite(v):
        raise ValueError(f"offset must be finite, got {offset!r}")
    return v
