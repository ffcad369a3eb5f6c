"""A finished run's layers: the result, and with the spread switch on, the spread.

The spread (``denoise(..., return_spread=True)``) is, per pixel, the standard deviation
of the network's four mirrored applications that the result averages: high where the
denoiser is unsure of structure.  It is placed exactly as the result (the same
:func:`~.layer_job.place`), on a 'magma' map from 0 to its own upper percentile.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .layer_job import LayerJob, contrast_limits, place
from .state import WidgetSettings

#: What a spread layer is, in its metadata (``layer.metadata["fm2s_spread"]``).
SPREAD_METADATA = {
    "what": "per-pixel standard deviation of the 4 mirrored (flipped) applications of the "
            "trained network that the FM2S result averages",
    "units": "the input image's intensity units",
    "meaning": "high where the denoiser is unsure of structure; not a calibrated error bar",
}


def spread_name(job: LayerJob) -> str:
    """``<name> (FM2S spread)`` beside the result's ``<name> (FM2S)``."""
    head, _, _ = job.name.rpartition(" (FM2S)")
    return f"{head or job.name} (FM2S spread)"


def spread_layer(job: LayerJob, spread: Any, properties: dict[str, Any]
                 ) -> tuple[Any, dict[str, Any]]:
    """(data, add_image keywords) of the spread: the result's placement, magma from 0."""
    data, props = place(spread, job, dict(properties))
    props.pop("gamma", None)
    props.update(colormap="magma", blending="translucent",
                 contrast_limits=(0.0, contrast_limits(data)[1]),
                 metadata={**props.get("metadata", {}), "fm2s_spread": SPREAD_METADATA})
    return data, props


def add_results(viewer: Any, job: LayerJob, outcome: Any, properties: dict[str, Any],
                settings: WidgetSettings) -> str:
    """Add the result of ``outcome`` (a ``background.Outcome``) and, when it has one, its
    spread; the line for the status (with the spread switch on, a run without a spread,
    i.e. of a loaded paper-mode model, says why)."""
    result, props = place(outcome.image, job, properties)
    lo, hi = props.get("contrast_limits", (np.nan, np.nan))
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):  # none to copy: the result's
        props = {**props, "contrast_limits": contrast_limits(result)}
    added = viewer.add_image(result, name=job.name, **props)
    text = f"Added '{added.name}'. Residual shows what was removed."  # napari may add " [1]"
    if outcome.spread is not None:
        data, props = spread_layer(job, outcome.spread, properties)
        viewer.add_image(data, name=spread_name(job), **props)
        text += (f" '{spread_name(job)}': where the 4 mirrored applications disagree (std, "
                 "image units; not an error bar).")
    elif settings.spread_for():
        text += " No spread: a paper-mode model is applied once, not mirrored."
    return text
