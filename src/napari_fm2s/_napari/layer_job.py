"""What Denoise sends to the core for a napari image layer, and where its result goes.

The whole layer, or only the plane in view of a stack; lazy data (dask, zarr) stays
lazy.  The layer is only read.  No Qt here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np
from napari.layers import Image

from ..axes import Layout, guess_axes, plane_view


def layer_axes(layer: Image) -> str:
    """Axes of ``layer``'s data: its ``axis_labels`` when they name the axes, else guessed."""
    data = layer.data
    labels = getattr(layer, "axis_labels", None)
    try:
        return guess_axes(data.shape, data.dtype, labels=labels, rgb=bool(layer.rgb))
    except ValueError as e:  # the core's advice is for the API and CLI; add napari's way
        example = tuple(("abdefghi"[:max(0, data.ndim - 5)] + "tzcyx")[-data.ndim:])
        raise ValueError(f"{e}. In napari, name the layer's axes instead, e.g. in the "
                         f"console: viewer.layers['{layer.name}'].axis_labels = "
                         f"{example!r}") from e


def stack_axes(layer: Image) -> str:
    """The axes of ``layer`` that hold a stack of planes (T, Z, ...); '' for one plane."""
    axes = layer_axes(layer)
    return "".join(axes[i] for i in Layout(axes, tuple(layer.data.shape)).stack)


def view_step(layer: Image, world_point: Sequence[float]) -> list[int]:
    """Index along each axis of ``layer``'s data of the point ``world_point`` (the viewer's
    ``dims.point``), rounded and kept inside the data."""
    pos = np.asarray(layer.world_to_data(world_point), dtype=float)
    return [int(np.clip(round(v), 0, n - 1)) for v, n in zip(pos, layer.data.shape)]


@dataclass(frozen=True)
class LayerJob:
    """One Denoise request: data and axes for ``denoise()``, and the result's place."""

    image: Any  # the layer's data, or one plane of it (lazy stays lazy)
    axes: str
    index: tuple  # per layer axis: an int where one plane was cut out, else slice(None)
    name: str  # of the result layer

    @property
    def cut(self) -> list[int]:
        return [i for i, v in enumerate(self.index) if isinstance(v, (int, np.integer))]


def layer_job(layer: Image, world_point: Optional[Sequence[float]] = None,
              plane_only: bool = False) -> LayerJob:
    """The whole layer, or with ``plane_only`` the plane at ``world_point`` (the viewer's
    ``dims.point``) when the layer is a stack."""
    data = layer.data
    axes = layer_axes(layer)
    if plane_only and world_point is not None and Layout(axes, tuple(data.shape)).stack:
        index, rest = plane_view(data.shape, axes, view_step(layer, world_point))
        where = ", ".join(f"{a}={i}" for a, i in zip(axes, index) if isinstance(i, int))
        return LayerJob(data[index], rest, index, f"{layer.name} [{where}] (FM2S)")
    return LayerJob(data, axes, (slice(None),) * data.ndim, f"{layer.name} (FM2S)")


def place(result: Any, job: LayerJob, properties: dict[str, Any]) -> tuple[Any, dict]:
    """The result with the cut axes back as length-1 axes, moved to the plane's position,
    so that it lies on its source plane in the viewer (scale, then translate)."""
    cut = job.cut
    if not cut:
        return result, properties
    result = result[tuple(None if i in cut else slice(None) for i in range(len(job.index)))]
    translate = np.array(properties["translate"], dtype=float)
    scale = np.asarray(properties["scale"], dtype=float)
    for i in cut:
        translate[i] += scale[i] * int(job.index[i])
    return result, {**properties, "translate": translate}


def contrast_limits(result: Any) -> tuple[float, float]:
    """0.1-99.9 percentiles of the result, read from one plane when it is a stack."""
    sample = result[(0,) * (result.ndim - 2)] if result.ndim > 2 else result
    sample = np.asarray(sample, dtype=np.float32)
    lo, hi = (float(v) for v in np.percentile(sample, (0.1, 99.9)))
    if hi <= lo:
        lo, hi = float(sample.min()), float(sample.min()) + 1.0
    return lo, hi
