"""The residual of a run (input - result) as a layer: over-smoothing made visible.

Noise removed looks like grain; structure in the residual (edges, filaments) is signal
the denoiser took away.  Shown with a diverging colormap around zero (blue: the result is
brighter there, red: darker), contrast symmetric, placed exactly on the result.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from napari.utils.colormaps import Colormap

from .layer_job import LayerJob, place

#: Diverging: blue (negative) - black (zero: nothing removed) - red (positive).
RESIDUAL_COLORMAP = Colormap([[0.25, 0.55, 1.0, 1.0], [0.0, 0.0, 0.0, 1.0],
                              [1.0, 0.35, 0.2, 1.0]], name="fm2s residual")
_SAMPLE = 1 << 20  # pixels looked at for the contrast limits


def residual_layer(job: LayerJob, result: Any, properties: dict[str, Any]
                   ) -> tuple[Any, dict[str, Any]]:
    """(data, add_image keywords) of ``job.image - result``; lazy stays lazy."""
    source = job.image
    if isinstance(source, np.ndarray) and isinstance(result, np.ndarray):
        data: Any = source.astype(np.float32) - result
        sample = data.ravel()[::max(1, data.size // _SAMPLE)]
    else:  # dask / zarr: subtract chunk by chunk, limits from a central window
        import dask.array as da

        data = da.asarray(source).astype(np.float32) - da.asarray(result)
        centre = tuple(slice(n // 2, n // 2 + 1) for n in data.shape[:-2]) + (
            slice(None, 512), slice(None, 512))
        sample = np.asarray(data[centre]).ravel()
    data, props = place(data, job, dict(properties))
    half = float(np.percentile(np.abs(sample), 99.5)) if sample.size else 1.0
    half = half if half > 0 else 1.0
    props.update(colormap=RESIDUAL_COLORMAP, contrast_limits=(-half, half),
                 blending="translucent")
    props.pop("gamma", None)
    return data, props


def toggle_residual(viewer: Any, job: LayerJob, result: Any, properties: dict[str, Any],
                    on: bool) -> None:
    """Add the residual layer ``<result name> residual`` to ``viewer`` (or remove it)."""
    name = f"{job.name} residual"
    if name in viewer.layers:
        viewer.layers.remove(name)
    if on:
        data, props = residual_layer(job, result, properties)
        viewer.add_image(data, name=name, **props)
