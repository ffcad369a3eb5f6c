"""Save a trained FM2S model and apply it to other images from the same microscope.

A model file is one `safetensors <https://huggingface.co/docs/safetensors>`_ file: the
weights of one network per denoised channel (``net0.conv1.weight``, ...), and in the
header's metadata, under ``napari_fm2s``, a JSON document with the format name and
version, the package version, the preset and every training parameter, the mode, and
each channel's intensity mapping (plus the training image's dtype, shape and axes).

Loading never unpickles anything: the file must be a safetensors file (a length, a JSON
header, raw numbers) whose metadata says it is ours, with exactly the tensors an FM2S
network of that size has, all finite.  Anything else (a pickle, a PyTorch checkpoint, an
unrelated safetensors file, a truncated or corrupt one) is refused with a ValueError and
nothing in it runs.  No napari or Qt here.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np
import torch

from .intensity import IntensityMap, map_for_range
from .metadata import package_version
from .network import APPLICATIONS, FM2SNet
from .params import TUNABLE, resolve_params
from .presets import Preset, get_preset
from .training import MODES

log = logging.getLogger("napari_fm2s")

FORMAT = "napari-fm2s model"
FORMAT_VERSION = 1
#: Suggested file name ending.
SUFFIX = ".fm2s.safetensors"
_META_KEY = "napari_fm2s"
#: Refuse bigger files outright (a 64-channel model is under 1 MB).
MAX_FILE_BYTES = 64 << 20
_PARAMS = ("conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "conv3.weight",
           "conv3.bias")


@dataclass
class FM2SModel:
    """Trained networks (one per denoised channel) and what is needed to apply them."""

    preset: Preset
    mode: str
    nets: list[FM2SNet]
    maps: list[IntensityMap]
    dtype: str = "float32"  # dtype of the training image
    axes: str = "YX"
    shape: tuple[int, ...] = ()
    channel_names: list[str] = field(default_factory=list)
    version: str = field(default_factory=package_version)
    created: str = field(default_factory=lambda: datetime.now(timezone.utc)
                         .isoformat(timespec="seconds"))
    file: str = ""  # the file it was loaded from (not saved in it)

    def record(self) -> dict[str, str]:
        """What an output made with this model records of it (its provenance)."""
        return {"file": self.file, "created": self.created, "version": self.version}

    def __post_init__(self) -> None:
        if not self.nets or len(self.nets) != len(self.maps):
            raise ValueError("a model needs one network and one intensity mapping per channel")

    def net_for(self, k: int, n_channels: int) -> tuple[FM2SNet, IntensityMap]:
        """Network and saved mapping of channel ``k`` of an image with ``n_channels``."""
        if len(self.nets) == 1:
            return self.nets[0], self.maps[0]
        if n_channels != len(self.nets):
            raise ValueError(f"the model was trained on an image with {len(self.nets)} "
                             f"channels ({self.axes}, shape {self.shape}); this image has "
                             f"{n_channels}: use a model trained on a matching image")
        return self.nets[k], self.maps[k]

    def metadata(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "package_version": self.version, "created": self.created,
            "preset": {k: v for k, v in self.preset.as_dict().items()
                       if isinstance(v, (int, float, str)) and not isinstance(v, bool)},
            "mode": self.mode,
            "application": self.nets[0].application if self.nets else "fidelity",
            "training_image": {"dtype": self.dtype, "axes": self.axes,
                               "shape": [int(s) for s in self.shape]},
            "channels": [{"name": name, "intensity": {"offset": m.offset, "scale": m.scale,
                                                      "rule": m.rule}}
                         for name, m in zip(self._names(), self.maps)],
        }

    def _names(self) -> list[str]:
        if len(self.channel_names) == len(self.nets):
            return list(self.channel_names)
        return [f"channel {i}" for i in range(len(self.nets))]

    def describe(self) -> str:
        """One line for a user: preset, channels, training image."""
        ch = f", {len(self.nets)} channels" if len(self.nets) > 1 else ""
        return (f"FM2S model: preset {self.preset.name}, {self.mode} mode{ch}, trained on a "
                f"{self.dtype} image of shape {tuple(self.shape)} (napari-fm2s {self.version})")


def intensity_for(saved: IntensityMap, dtype: Any, lo: float, hi: float,
                  where: str = "") -> IntensityMap:
    """The mapping to apply a model with: the saved one (same microscope, same scale) when
    the image's values ``[lo, hi]`` fit in its [0, 1] range, else the image's own (logged)."""
    u_lo, u_hi = (lo - saved.offset) / saved.scale, (hi - saved.offset) / saved.scale
    if u_lo >= -1e-6 and u_hi <= 1 + 1e-6:
        return saved
    own = map_for_range(dtype, lo, hi)
    log.warning("image%s values [%g, %g] lie outside the range the model was trained on "
                "([%g, %g]); mapping them by their own range instead", where, lo, hi,
                saved.offset, saved.offset + saved.scale)
    return own


# ---- saving -------------------------------------------------------------------------------
def check_model_path(path: Union[str, os.PathLike]) -> Path:
    """ValueError now if a model could not be written to ``path`` (checked before training)."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise ValueError(f"model path {path} is a folder; give a file name, "
                         f"e.g. {path / ('model' + SUFFIX)}")
    if not folder.is_dir():
        raise ValueError(f"cannot save the model: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise ValueError(f"cannot save the model: folder {folder} is not writable")
    return path


def save_model(model: FM2SModel, path: Union[str, os.PathLike]) -> Path:
    """Write ``model`` to ``path`` (safetensors + JSON metadata), whole or not at all."""
    from safetensors.torch import save as st_save

    from .io import atomic_output

    path = check_model_path(path)
    tensors = {}
    for k, net in enumerate(model.nets):
        state = net.state_dict()
        for name in _PARAMS:
            tensors[f"net{k}.{name}"] = state[name].detach().to("cpu", torch.float32).contiguous()
    blob = st_save(tensors, metadata={_META_KEY: json.dumps(model.metadata())})
    try:
        with atomic_output(path) as tmp:
            tmp.write_bytes(blob)
    except OSError as e:
        raise ValueError(f"cannot save the model to {path}: {e.strerror or e}") from e
    return path


ModelSink = Union[str, os.PathLike, Callable[[FM2SModel], Any]]


class KeepModel:
    """A ``save_model`` callable that takes the model only when there is one: a run that
    copies a constant channel (which has no network) hands it nothing and goes on, where
    a path or a plain callable refuses the run (a saved model needs every channel's
    network).  The widget keeps the last trained model this way."""

    def __init__(self, fn: Callable[[FM2SModel], Any]) -> None:
        self.fn = fn

    def __call__(self, model: FM2SModel) -> None:
        self.fn(model)


def deliver(model: FM2SModel, sink: Optional[ModelSink]) -> None:
    """``save_model=`` of :func:`napari_fm2s.denoise`: a path to write, or a callable."""
    if sink is None:
        return
    if callable(sink):
        sink(model)
    else:
        save_model(model, sink)


def check_sink(sink: Optional[ModelSink]) -> None:
    if sink is not None and not callable(sink):
        if not isinstance(sink, (str, os.PathLike)):
            raise ValueError("save_model must be a file path or a callable")
        check_model_path(sink)


# ---- loading ------------------------------------------------------------------------------
def _refuse(path: Path, why: str) -> ValueError:
    return ValueError(f"{path} is not an FM2S model file ({why}); nothing in it was run")


def _read_header(path: Path, blob: bytes) -> dict:
    n = int.from_bytes(blob[:8], "little") if len(blob) >= 8 else 0
    if len(blob) < 10 or n > len(blob) - 8 or blob[8:9] != b"{":
        if (blob[:1] == b"\x80" and blob[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")) \
                or blob[:2] == b"PK":
            raise _refuse(path, "it looks like a Python pickle or a PyTorch checkpoint, which "
                                "can run code when loaded, so FM2S never opens such files")
        raise _refuse(path, "not a safetensors file, or a truncated one")
    try:
        header = json.loads(blob[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise _refuse(path, f"unreadable header: {e}") from e
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    text = meta.get(_META_KEY) if isinstance(meta, dict) else None
    if not isinstance(text, str):
        raise _refuse(path, "a safetensors file without napari-fm2s metadata")
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise _refuse(path, f"corrupt metadata: {e}") from e
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise _refuse(path, "its metadata does not name the napari-fm2s model format")
    version = doc.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _refuse(path, "no valid format version")
    if version > FORMAT_VERSION:
        raise ValueError(f"{path} was written by a newer napari-fm2s (model format {version}, "
                         f"this version reads up to {FORMAT_VERSION}): update napari-fm2s")
    return doc


def _number(d: dict, key: str, path: Path) -> float:
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
        raise _refuse(path, f"bad or missing number {key!r}")
    return float(v)


def _preset(doc: dict, path: Path) -> Preset:
    d = doc.get("preset")
    if not isinstance(d, dict):
        raise _refuse(path, "no preset")
    name = d.get("name") if isinstance(d.get("name"), str) else "saved"
    base = get_preset("confocal").with_overrides(name=name[:100], source="model file",
                                                 description="")
    values = {k: d[k] for k in TUNABLE if k in d}
    try:
        return resolve_params(base, **values)
    except ValueError as e:
        raise _refuse(path, f"invalid preset: {e}") from e


def _maps(doc: dict, path: Path) -> tuple[list[IntensityMap], list[str]]:
    chans = doc.get("channels")
    if not isinstance(chans, list) or not 1 <= len(chans) <= 1024:
        raise _refuse(path, "no channel list")
    maps, names = [], []
    for c in chans:
        inten = c.get("intensity") if isinstance(c, dict) else None
        if not isinstance(inten, dict):
            raise _refuse(path, "a channel without intensity mapping")
        offset, scale = _number(inten, "offset", path), _number(inten, "scale", path)
        if scale <= 0:
            raise _refuse(path, "intensity scale must be > 0")
        rule = inten.get("rule") if isinstance(inten.get("rule"), str) else ""
        maps.append(IntensityMap(offset, scale, rule[:200]))
        names.append(str(c.get("name", ""))[:100])
    return maps, names


def load_model(path: Union[str, os.PathLike]) -> FM2SModel:
    """Read a model written by :func:`save_model`; ValueError for anything else."""
    from safetensors.torch import load as st_load

    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not a model file")
    if not path.exists():
        raise ValueError(f"model file {path} does not exist")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise _refuse(path, f"{size} bytes, far more than a model's")
        blob = path.read_bytes()
    except OSError as e:
        raise ValueError(f"cannot read model file {path}: {e.strerror or e}") from e
    doc = _read_header(path, blob)
    preset = _preset(doc, path)
    maps, names = _maps(doc, path)
    try:
        tensors = st_load(blob)
    except Exception as e:  # safetensors' own checks: offsets, sizes, dtypes
        raise _refuse(path, f"corrupt or truncated tensor data: {e}") from e
    nets = []
    mode = doc.get("mode") if doc.get("mode") in MODES else MODES[0]
    application = doc.get("application")
    if application not in APPLICATIONS:  # files from before the rule: same training
        application = "reference" if mode == "paper" else "fidelity"
    expected = {k: tuple(v.shape) for k, v in FM2SNet(preset.channels).state_dict().items()}
    for k in range(len(maps)):
        state = {}
        for name in _PARAMS:
            t = tensors.get(f"net{k}.{name}")
            if t is None or tuple(t.shape) != expected[name] or t.dtype != torch.float32:
                raise _refuse(path, f"tensor net{k}.{name} is missing or has the wrong shape")
            if not bool(torch.isfinite(t).all()):
                raise _refuse(path, f"tensor net{k}.{name} holds NaN or infinite values")
            state[name] = t
        net = FM2SNet(preset.channels, application=application)
        net.load_state_dict(state)
        nets.append(net.eval())
    if len(tensors) != len(maps) * len(_PARAMS):
        raise _refuse(path, "it holds tensors an FM2S model does not have")
    img = doc.get("training_image") if isinstance(doc.get("training_image"), dict) else {}
    shape = img.get("shape") if isinstance(img.get("shape"), list) else []
    return FM2SModel(
        preset=preset, mode=mode, nets=nets, maps=maps,
        dtype=str(img.get("dtype", "?"))[:20], axes=str(img.get("axes", "?"))[:20],
        shape=tuple(int(s) for s in shape if isinstance(s, int) and not isinstance(s, bool)),
        channel_names=names, version=str(doc.get("package_version", "?"))[:40],
        created=str(doc.get("created", ""))[:40], file=path.name)


def as_model(model: Union[FM2SModel, str, os.PathLike]) -> FM2SModel:
    """``model=`` of :func:`napari_fm2s.denoise`: an :class:`FM2SModel` or a path to load."""
    if isinstance(model, FM2SModel):
        return model
    if isinstance(model, (str, os.PathLike)):
        return load_model(model)
    raise ValueError("model must be an FM2SModel or the path of a model file")
