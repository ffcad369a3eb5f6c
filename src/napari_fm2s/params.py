"""The one table of tunable parameters: names, types, bounds, words for users.

Every consumer is generated from :data:`PARAMS`: :func:`resolve_params` (validation), the
CLI's flags and help (``fm2s denoise --help``), the widget's controls and the
napari-workflows function.  Adding a tunable is one :class:`Param` row here (plus its
field, with the default, in :class:`~napari_fm2s.presets.Preset`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from .noise import MAX_CORR
from .presets import Preset, get_preset


@dataclass(frozen=True)
class Param:
    """One tunable: ``lo <= value <= hi`` (``lo`` excluded when ``open_lo``)."""

    name: str  # the Preset field and the denoise() keyword
    kind: type  # int or float
    lo: float
    hi: float
    label: str  # short label for a form
    help: str  # what it does, in a user's words
    modes: tuple[str, ...] = ("fast", "paper")  # training modes that use it
    open_lo: bool = False
    odd: bool = False
    log_scale: bool = False  # a log slider in the widget (the noise knobs)
    slider: tuple[float, float] = (0.0, 0.0)  # slider range for log_scale rows
    step: float = 1
    note: str = ""  # appended to the range message (what the bound means)

    @property
    def flag(self) -> str:
        """The CLI flag, e.g. ``--k-g``."""
        return "--" + self.name.replace("_", "-")

    def bounds_text(self) -> str:
        lo = f"> {_num(self.lo)}" if self.open_lo else f">= {_num(self.lo)}"
        return f"{lo} and <= {_num(self.hi)}" + (", odd" if self.odd else "")

    def check(self, value: Any) -> int | float:
        """``value`` as this row's type, or ValueError naming the problem."""
        v = value
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.number)):
            raise ValueError(f"{self.name} must be a number, got {v!r}")
        if isinstance(v, (float, np.floating)) and not np.isfinite(v):
            raise ValueError(f"{self.name} must be finite, got {v!r}")
        if self.kind is int:
            if int(v) != v:
                raise ValueError(f"{self.name} must be a whole number, got {v!r}")
            v = int(v)
        else:
            v = float(v)
        below = v <= self.lo if self.open_lo else v < self.lo
        if below or v > self.hi or (self.odd and v % 2 != 1):
            raise ValueError(f"{self.name} must be {self.bounds_text()}, got {value!r}"
                             + (f" ({self.note})" if self.note else ""))
        return v


def _num(x: float) -> str:
    if x >= 2**62:
        return "2**63 - 1"
    if float(x).is_integer():
        x = int(x)
        return f"{x:.0e}".replace("+0", "").replace("+", "") if x >= 100_000 else str(x)
    return f"{x:g}"


PARAMS: tuple[Param, ...] = (
    Param("k_g", float, 0, 1e5, "Gaussian noise (k_g)",
          "Gaussian (read-noise-like) noise added to the training copies: higher = "
          "stronger",
          log_scale=True, slider=(1, 1000), note="0 turns the Gaussian part off"),
    Param("k_p", float, 0, 1e7, "Bright-region noise (k_p)",
          "Signal-dependent Poisson noise, region by region: lower = stronger",
          open_lo=True, log_scale=True, slider=(3, 10_000),
          note="larger means weaker Poisson noise"),
    Param("lam_p", float, 0, 1e7, "Shot noise (λp)",
          "Overall Poisson (shot) noise: lower = stronger", open_lo=True, log_scale=True,
          slider=(10, 100_000), note="larger means weaker overall Poisson noise"),
    Param("corr", float, 0, MAX_CORR, "Noise correlation",
          "Correlation of neighbouring pixels' synthetic noise: 0 = white (the paper); "
          "raise it for noise that looks blotchy (e.g. wide-field cameras, ~0.6)", step=0.05),
    Param("stride", int, 1, 4096, "Region size (px)",
          "Side of the square regions whose mean brightness sets the noise level (pixels)"),
    Param("filter_size", int, 1, 101, "Median filter size (px)",
          "Median window of the pre-denoised target the network learns (odd, pixels)",
          odd=True, step=2),
    Param("channels", int, 1, 64, "Channel copies",
          "Channel amplification: copies of the image the network sees (not the "
          "image's channels)"),
    Param("fast_steps", int, 1, 100_000, "Training steps",
          "Fast mode: training steps, each on a fresh batch of noisy crops (auto adds "
          "stages while they lower Stein's estimate of the error, unless this is given)",
          modes=("fast",), step=100),
    Param("samples", int, 0, 100_000, "Noise samples",
          "Paper mode: noise-injected training samples", modes=("paper",)),
    Param("steps_per_sample", int, 1, 1000, "Steps per sample",
          "Paper mode: optimizer steps on each noise-injected sample", modes=("paper",)),
    Param("warmup_steps", int, 0, 100_000, "Warm-up steps",
          "Paper mode: first-stage steps from the raw image to the median target",
          modes=("paper",)),
    Param("lr", float, 0, 1.0, "Learning rate", "Paper mode: Adam's learning rate",
          modes=("paper",), open_lo=True, step=1e-4),
    Param("seed", int, 0, 2**63 - 1, "Seed",
          "Random seed: same seed and CPU threads, same result (on one machine)"),
)

#: Parameters a user may override (``denoise(..., k_g=150)``, ``--k-g 150``).
TUNABLE: tuple[str, ...] = tuple(p.name for p in PARAMS)
#: Rows by name.
BY_NAME: dict[str, Param] = {p.name: p for p in PARAMS}
#: Values that turn a part of the injection off, and what that means (the widget shows
#: "off"): k_g 0, and k_p / lam_p at their bound 1e7, where calibration puts a part it
#: finds no need for.  "Injected": the parts are of the training copies' synthetic noise,
#: not the camera's (a camera with read noise may be matched without a Gaussian part).
OFF: dict[str, tuple[float, str]] = {
    "k_g": (0.0, "no Gaussian part injected"),
    "k_p": (BY_NAME["k_p"].hi, "no region-wise Poisson part injected"),
    "lam_p": (BY_NAME["lam_p"].hi, "no overall Poisson part injected"),
}


def resolve_params(preset: str | Preset = "confocal", seed: Optional[int] = None,
                   **overrides: Any) -> Preset:
    """The preset with ``overrides`` (any of :data:`TUNABLE`; ``None``: keep) applied.

    Raises ValueError naming the parameter, its bounds and the value given.
    """
    p = get_preset(preset)
    unknown = sorted(set(overrides) - set(TUNABLE))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)}; "
                         f"tunable parameters: {', '.join(TUNABLE)}")
    values = {k: v for k, v in overrides.items() if v is not None}
    if seed is not None:
        values["seed"] = seed
    values = {k: BY_NAME[k].check(v) for k, v in values.items()}
    for row in PARAMS:  # a custom Preset object's own values are checked too
        if row.name not in values:
            row.check(getattr(p, row.name))
    return p.with_overrides(**values)
