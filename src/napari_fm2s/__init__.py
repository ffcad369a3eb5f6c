"""napari-fm2s: zero-shot FM2S denoising for fluorescence microscopy.

>>> from napari_fm2s import denoise
>>> clean = denoise(noisy, preset="confocal")
"""

from .api import denoise, pick_device
from .hooks import DenoiseCancelled
from .metadata import package_version
from .presets import PRESETS, Preset, get_preset

__version__ = package_version()

__all__ = ["denoise", "DenoiseCancelled", "PRESETS", "Preset", "get_preset", "pick_device",
           "__version__"]
