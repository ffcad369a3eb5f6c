"""Plain functions for napari-workflows / napari-assistant: image data in, image data out.

The signature of :func:`fm2s_denoise` is generated from the parameter table
(:data:`napari_fm2s.params.PARAMS`): one number per tunable, where ``-1`` (below every
row's range) means "the preset's value" (for ``"auto"``, the default: the calibrated one).
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any

from napari.types import ImageData

from ..api import DEFAULT_PRESET, denoise
from ..params import PARAMS
from ..presets import PRESETS
from ..training import MODES

#: The value that keeps the preset's own (every parameter is >= 0).
PRESET_VALUE = -1


def fm2s_denoise(image: ImageData, preset: str = DEFAULT_PRESET, mode: str = MODES[0],
                 axes: str = "", **params: Any) -> ImageData:
    """Denoise a fluorescence image with FM2S, trained on the image itself.

    ``denoise(image, preset, mode=mode, axes=axes, **params)``; ``axes`` "" guesses them
    (a stack whose axes cannot be guessed needs them, e.g. "TZCYX"); a parameter left at
    -1 keeps the preset's value.
    """
    given = {k: v for k, v in params.items() if v != PRESET_VALUE}
    return denoise(image, preset, mode=mode, axes=axes.strip() or None, **given)


def _signature() -> inspect.Signature:
    P = inspect.Parameter
    params = [
        P("image", P.POSITIONAL_OR_KEYWORD, annotation=ImageData),
        P("preset", P.POSITIONAL_OR_KEYWORD, default=DEFAULT_PRESET,
          annotation=Annotated[str, {"choices": [DEFAULT_PRESET, *PRESETS]}]),
        P("mode", P.POSITIONAL_OR_KEYWORD, default=MODES[0],
          annotation=Annotated[str, {"choices": list(MODES)}]),
        P("axes", P.POSITIONAL_OR_KEYWORD, default="",
          annotation=Annotated[str, {"tooltip": "one letter per axis, e.g. TZCYX; empty: "
                                                "guessed"}]),
    ]
    for row in PARAMS:
        opts = {"label": row.label, "min": PRESET_VALUE, "max": row.hi,
                "tooltip": f"{row.help}. -1: the preset's value"}
        if row.kind is float:
            opts.update(step=row.step)
        params.append(P(row.name, P.KEYWORD_ONLY, default=row.kind(PRESET_VALUE),
                        annotation=Annotated[row.kind, opts]))
    return inspect.Signature(params, return_annotation=ImageData)


fm2s_denoise.__signature__ = _signature()  # type: ignore[attr-defined]
