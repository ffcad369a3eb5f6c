"""Plain functions for napari-workflows / napari-assistant: image data in, image data out."""

from typing import Annotated

from napari.types import ImageData

from ..api import denoise
from ..presets import PRESETS
from ..training import MODES

_PRESET_DEFAULT = "0: the preset's value"


def _number(label: str, maximum: float) -> dict:
    return {"label": label, "min": 0, "max": maximum, "tooltip": _PRESET_DEFAULT}


def fm2s_denoise(image: ImageData,
                 preset: Annotated[str, {"choices": list(PRESETS)}] = "confocal",
                 mode: Annotated[str, {"choices": list(MODES)}] = MODES[0],
                 k_g: Annotated[float, _number("k_g", 1e5)] = 0.0,
                 k_p: Annotated[float, _number("k_p", 1e7)] = 0.0,
                 lam_p: Annotated[float, _number("lam_p", 1e7)] = 0.0,
                 samples: Annotated[int, _number("samples", 100_000)] = 0,
                 seed: Annotated[int, {"min": 0, "max": 2**31 - 1}] = 3407) -> ImageData:
    """Denoise a fluorescence image with FM2S, trained on the image itself.

    ``denoise(image, preset, mode=mode, seed=seed, ...)``; ``k_g``, ``k_p``,
    ``lam_p`` and ``samples`` override the preset where they are > 0.
    """
    given = {"k_g": k_g, "k_p": k_p, "lam_p": lam_p, "samples": samples}
    return denoise(image, preset, mode=mode, seed=seed,
                   **{k: v for k, v in given.items() if v > 0})
