"""UI state as data: the run's status and the user's settings, evented dataclasses
panels subscribe to.

No Qt here: ``RunStatus`` and ``WidgetSettings`` can be driven and tested without a
viewer; their ``events`` (psygnal) tell the panels what to show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from psygnal import evented

from ..api import AUTO_BASE
from ..calibrate import AUTO as AUTO_PRESET, CALIBRATED
from ..eta import StepEta, format_eta
from ..params import resolve_params
from ..presets import Preset

#: The preset box's labels beside the preset names: calibrated from the image (the first
#: state, as ``denoise(image)``), and a parameter moved by hand.
AUTO, CUSTOM = "auto (calibrated)", "custom"


def label_after_edit(label: str, name: str) -> str:
    """The preset box's label once parameter ``name`` is moved by hand (the label was
    ``label``): auto stays auto for what calibration does not choose (seed, paper-mode
    steps ...); anything else becomes "custom"."""
    return AUTO if label == AUTO and name not in CALIBRATED else CUSTOM


#: The phases of a run, in order; the last three are ends.
PHASES = ("idle", "training", "inferring", "done", "cancelled", "failed")
_WORDS = {"training": "Training", "inferring": "Applying the network",
          "done": "Done", "cancelled": "Cancelled", "failed": "Failed"}


@evented
@dataclass
class RunStatus:
    """Phase, step / total of the training, seconds left (None: unknown), a message."""

    phase: str = "idle"
    step: int = 0
    total: int = 0
    eta: Optional[float] = None
    message: str = ""
    _clock: StepEta = field(default_factory=StepEta, repr=False, compare=False)

    @property
    def running(self) -> bool:
        return self.phase in ("training", "inferring")

    def begin(self, training: bool, message: str = "") -> None:
        """A run starts: training, or straight to inference for a loaded model."""
        self._clock.reset()
        self.step, self.total, self.eta = 0, 0, None
        self.message = message
        self.phase = "training" if training else "inferring"

    def advance(self, step: int, total: int) -> None:
        """Training reached ``step`` of ``total``; the last step starts inference."""
        if not self.running:
            return
        self.eta = self._clock.update(step, total)
        self.step, self.total = step, total
        if total and step >= total:
            self.phase, self.eta = "inferring", None

    def refuse(self, message: str) -> None:
        """A run did not start (no layer, a bad setting): the line says why, not what an
        earlier run did."""
        self.step, self.total, self.eta = 0, 0, None
        self.message = message
        self.phase = "failed"

    def end(self, outcome: Any, message: str) -> None:
        """The run ended (a ``background.Outcome``): done, cancelled or failed.
        A cancel clears the progress."""
        if outcome.cancelled:
            self.step, self.total, self.eta = 0, 0, None
        self.eta = None
        self.message = message
        self.phase = ("cancelled" if outcome.cancelled else
                      "failed" if outcome.error is not None else "done")

    def line(self) -> str:
        """One line for the user: phase, steps and time left."""
        if self.phase == "training":
            left = f", {format_eta(self.eta)} left" if self.eta is not None else ""
            return f"Training: step {self.step} of up to {self.total or '?'}{left}"
        return _WORDS.get(self.phase, "")


@evented
@dataclass
class WidgetSettings:
    """What the user chose: the preset label (a preset name, :data:`AUTO` or :data:`CUSTOM`)
    over its base preset, every parameter of the table, mode, device, scope, preview,
    whether Denoise also adds the spread layer, and the camera offset the user gave (None:
    estimated; not remembered: it belongs to the image's camera).
    The widget writes it; the save timer and the mode-dependent controls subscribe;
    ``widget.json`` is :meth:`as_json`.  A fresh one is auto, as ``denoise()``'s default."""

    preset: str = AUTO
    base: str = AUTO_BASE
    params: dict = field(default_factory=dict)
    mode: str = "fast"
    device: str = "auto"
    scope: str = "whole layer"
    preview: bool = True
    spread: bool = False
    offset: Optional[float] = None

    def as_json(self) -> dict[str, Any]:
        return {**self.params, "preset": self.preset, "base": self.base, "mode": self.mode,
                "device": self.device, "scope": self.scope, "preview": self.preview,
                "spread": self.spread}

    def spread_for(self, model: Any = None) -> bool:
        """Whether Denoise asks for the spread: switched on, and a run whose network is
        applied mirrored (not paper mode, nor a loaded paper-mode ``model``)."""
        mode = self.mode if model is None else model.mode
        return self.spread and mode != "paper"

    def run_options(self, model: Any = None) -> dict[str, Any]:
        """Keyword options of ``denoise()`` beyond the preset: the spread, and the offset
        the user gave (a saved ``model`` is applied as it was trained: no offset)."""
        given = {} if self.offset is None or model is not None else {"offset": self.offset}
        return {"return_spread": self.spread_for(model), **given}

    def run_preset(self) -> tuple[str | Preset, dict[str, Any]]:
        """What Denoise passes to ``denoise()``: the preset and keyword overrides.

        Auto: ``"auto"`` (calibrated from the data the run denoises, exactly as the API)
        with the parameters calibration does not choose; else the base preset with every
        parameter.  ValueError if a value is invalid."""
        if self.preset == AUTO:
            given = {k: v for k, v in self.params.items() if k not in CALIBRATED}
            resolve_params(self.base, **given)  # checked now, not in the worker
            return AUTO_PRESET, given
        return resolve_params(self.base, **self.params), {}
