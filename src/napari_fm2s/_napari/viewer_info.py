"""What the widget reads from napari: devices, the camera, layers it can denoise."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional

import torch
from napari.layers import Image

if TYPE_CHECKING:
    import napari


def _devices() -> list[str]:
    names = ["auto", "cpu"]
    if torch.cuda.is_available():
        names.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        names.append("mps")
    return names


def _camera(viewer: "napari.viewer.Viewer") -> Any:
    """The viewer's camera (``viewer.scene.camera`` since napari 0.9)."""
    return getattr(viewer, "scene", viewer).camera


def _unsuitable(layer: Image) -> Optional[str]:
    """Why ``layer`` cannot be denoised, or None."""
    if layer.rgb:
        return (f"'{layer.name}' is an RGB image: FM2S denoises one fluorescence channel; "
                "split it first (right-click the layer > Split RGB)")
    if layer.multiscale:
        return (f"'{layer.name}' is multiscale: open its full-resolution level as a layer of "
                "its own (it is read lazily) and denoise that")
    return None


def _layer_properties(layer: Image) -> dict[str, Any]:
    """What a result layer copies from its source (placement, metadata, look)."""
    props: dict[str, Any] = {
        "scale": layer.scale, "translate": layer.translate, "rotate": layer.rotate,
        "shear": layer.shear, "affine": layer.affine.affine_matrix,
        "metadata": dict(layer.metadata), "colormap": layer.colormap,
        "blending": layer.blending, "gamma": layer.gamma, "opacity": layer.opacity,
        # the same display range: side by side, a result is compared, not re-stretched
        "contrast_limits": tuple(float(v) for v in layer.contrast_limits),
    }
    for name in ("units", "axis_labels"):  # napari >= 0.6
        if hasattr(layer, name):
            props[name] = getattr(layer, name)
    return props


def _disconnect(links: list[tuple[Any, Callable]]) -> None:
    for emitter, callback in links:
        try:
            emitter.disconnect(callback)
        except (AttributeError, RuntimeError, TypeError, ValueError):  # already torn down
            pass
