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
    """Axes of ``layer``'s data: its ``axis_labels`` when they name the axes (the user's,
    as given to ``denoise``), else guessed (a :class:`~napari_fm2s.axes.GuessedAxes`)."""
    data = layer.data
    labels = getattr(layer, "axis_labels", None)
    try:
        axes = guess_axes(data.shape, data.dtype, labels=labels, rgb=bool(layer.rgb))
        return axes if axes.rule else str(axes)
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


def view_plane(layer: Image, world_point: Sequence[float]) -> tuple[tuple[int, ...], Any]:
    """Index and data of ``layer``'s 2D plane (the last two axes) at ``world_point``."""
    data = layer.data
    if data.ndim <= 2:
        return (), data
    index = tuple(view_step(layer, world_point)[:-2])
    return index, data[index]


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
    ``dims.point``) when the layer is a stack: named ``[z=3]`` by the layer's axis labels,
    ``[plane 3]`` when the axes were guessed."""
    data = layer.data
    axes = layer_axes(layer)
    if plane_only and world_point is not None and Layout(axes, tuple(data.shape)).stack:
        index, rest = plane_view(data.shape, axes, view_step(layer, world_point))
        labels = layer.axis_labels  # as the viewer's sliders show them
        cut = [(a, i, n) for a, i, n in zip(labels, index, data.shape) if isinstance(i, int)]
        if getattr(axes, "rule", None):  # guessed letters (an unlabelled Z stack is no T)
            where = "plane " + ", ".join(str(i) for _, i, n in cut if n > 1)
        else:
            where = ", ".join(f"{a}={i}" for a, i, _ in cut)
        return LayerJob(data[index], rest, index, f"{layer.name} [{where}] (FM2S)")
    return LayerJob(data, axes, (slice(None),) * data.ndim, f"{layer.name} (FM2S)")


def place(result: Any, job: LayerJob, properties: dict[str, Any]) -> tuple[Any, dict]:
    """The result with the cut axes back as length-1 axes, placed on its source plane.

    A cut plane at index ``k`` along axis ``i`` is the source's data shifted by ``k e_i``,
    so the result keeps the source's scale, rotate, shear and affine and gets the translate
    ``translate + L (k e_i)``, ``L`` the source's data-to-physical linear part (rotate,
    shear, scale): it lies on its plane whatever the rotation or shear.
    """
    from napari.utils.transforms import Affine

    cut = job.cut
    if not cut:
        return result, properties
    result = result[tuple(None if i in cut else slice(None) for i in range(len(job.index)))]
    translate = np.array(properties["translate"], dtype=float)
    linear = Affine(scale=properties["scale"], translate=translate,
                    rotate=properties.get("rotate"), shear=properties.get("shear"),
                    ndim=len(translate)).linear_matrix
    offset = np.zeros(len(translate))
    for i in cut:
        offset[i] = int(job.index[i])
    return result, {**properties, "translate": translate + linear @ offset}


#: Most planes (numpy / lazy) and pixels per plane read to choose a result's contrast limits.
LIMIT_PLANES, LIMIT_PLANES_LAZY = 8, 4
LIMIT_PIXELS = 1 << 18


def contrast_limits(result: Any) -> tuple[float, float]:
    """0.1-99.9 percentiles of the whole result: of planes evenly spaced through a stack
    (all of a small numpy stack; up to ``LIMIT_PLANES``, ``LIMIT_PLANES_LAZY`` for lazy data),
    each subsampled to about ``LIMIT_PIXELS`` pixels (lazy: a central window of that many,
    so that only the chunks under it are computed)."""
    stack = tuple(int(n) for n in result.shape[:-2])
    n = int(np.prod(stack, dtype=np.int64))
    lazy = not isinstance(result, np.ndarray)
    count = min(n, LIMIT_PLANES_LAZY if lazy else LIMIT_PLANES)
    picks = np.unique(np.linspace(0, n - 1, count).round().astype(np.int64))
    h, w = (int(v) for v in result.shape[-2:])
    if not lazy and result.size <= LIMIT_PLANES * LIMIT_PIXELS:
        sample = result
    else:
        side = int(np.sqrt(LIMIT_PIXELS))
        step = max(1, int(np.ceil(np.sqrt(h * w / LIMIT_PIXELS))))
        y0, x0 = max(0, (h - side) // 2), max(0, (w - side) // 2)
        window = ((slice(y0, y0 + side), slice(x0, x0 + side)) if lazy
                  else (slice(None, None, step), slice(None, None, step)))
        parts = [result[(np.unravel_index(int(k), stack) if stack else ()) + window]
                 for k in picks]
        if lazy:
            import dask

            parts = dask.compute(*parts)
        sample = np.stack([np.asarray(p) for p in parts])
    sample = np.asarray(sample, dtype=np.float32)
    sample = sample[np.isfinite(sample)]  # NaN pixels (missing) are left out
    if sample.size == 0:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(sample, (0.1, 99.9)))
    if hi <= lo:
        lo, hi = float(sample.min()), float(sample.max())
        if hi <= lo:
            hi = lo + 1.0
    return lo, hi
