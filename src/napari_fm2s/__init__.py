"""napari-fm2s: zero-shot FM2S denoising for fluorescence microscopy.

>>> from napari_fm2s import denoise
>>> clean = denoise(noisy, preset="confocal")
"""

from .threads import prefer_passive_wait

prefer_passive_wait()  # before torch loads OpenMP: idle worker threads sleep, not spin

from .api import denoise, pick_device  # noqa: E402
from .hooks import DenoiseCancelled  # noqa: E402
from .metadata import package_version  # noqa: E402
from .presets import PRESETS, Preset, get_preset  # noqa: E402

__version__ = package_version()

__all__ = ["denoise", "DenoiseCancelled", "PRESETS", "Preset", "get_preset", "pick_device",
           "__version__"]
