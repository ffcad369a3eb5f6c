"""The parameter controls, generated from the one parameter table (``params.PARAMS``).

Log-scale rows (the noise knobs) are sliders on the main form; the others are spin boxes
in "Advanced", shown only for the training mode that uses them.  The seed is a text
field (Qt spin boxes stop at 2**31 - 1; seeds go to 2**63 - 1).
"""

from __future__ import annotations

from typing import Any, Optional

from qtpy.QtCore import QRegularExpression, Signal
from qtpy.QtGui import QRegularExpressionValidator
from qtpy.QtWidgets import QFormLayout, QLineEdit, QSpinBox, QWidget

from ..params import OFF, PARAMS, Param
from ..presets import Preset
from .log_slider import ExactSpin, LogSlider


class SeedEdit(QLineEdit):
    """A non-negative integer of any size; ``value()`` / ``setValue()`` like a spin box."""

    valueChanged = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setValidator(QRegularExpressionValidator(QRegularExpression(r"\d{1,19}"), self))
        self.editingFinished.connect(lambda: self.valueChanged.emit(self.value()))

    def value(self) -> int:
        return int(self.text() or 0)

    def setValue(self, value: int) -> None:  # noqa: N802 (Qt naming)
        self.setText(str(int(value)))
        self.valueChanged.emit(int(value))


def _make(row: Param) -> QWidget:
    if row.name == "seed":
        return SeedEdit()
    if row.log_scale:
        off, text = OFF.get(row.name, (None, ""))
        return LogSlider(*row.slider, row.lo, row.hi, off=off, off_text=text)
    spin: QSpinBox | ExactSpin = QSpinBox() if row.kind is int else ExactSpin()
    spin.setRange(int(row.lo) if row.kind is int else row.lo,
                  int(row.hi) if row.kind is int else row.hi)
    spin.setSingleStep(row.step)
    spin.setKeyboardTracking(False)
    return spin


class ParamControls:
    """One control per parameter row, laid out on a main and an advanced form.

    ``changed`` callbacks run on every user or programmatic change.
    """

    def __init__(self, main: QFormLayout, advanced: QFormLayout) -> None:
        self.widgets: dict[str, Any] = {}
        self._forms = {"main": main, "advanced": advanced}
        for row in PARAMS:
            w = _make(row)
            w.setToolTip(row.help)
            (main if row.log_scale or row.name == "corr" else advanced).addRow(row.label, w)
            self.widgets[row.name] = w

    def connect(self, callback: Any) -> None:
        for w in self.widgets.values():
            w.valueChanged.connect(callback)

    def name_of(self, widget: Any) -> Optional[str]:
        """The parameter ``widget`` (e.g. a signal's sender) controls, or None."""
        return next((k for k, w in self.widgets.items() if w is widget), None)

    def values(self) -> dict[str, Any]:
        """The controls as ``denoise()`` keyword arguments."""
        return {k: w.value() for k, w in self.widgets.items()}

    def set_values(self, source: Preset | dict[str, Any]) -> None:
        for k, w in self.widgets.items():
            v = getattr(source, k) if isinstance(source, Preset) else source.get(k)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                w.setValue(v)

    def show_mode(self, mode: str) -> None:
        """Show the rows the training ``mode`` uses, hide the others."""
        form = self._forms["advanced"]
        for row in PARAMS:
            if not row.log_scale and row.name != "corr":
                w, on = self.widgets[row.name], mode in row.modes
                w.setVisible(on)
                label = form.labelForField(w)
                if label is not None:
                    label.setVisible(on)
