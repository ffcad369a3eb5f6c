"""A slider on a logarithmic scale with a spin box for exact values.

The spin box keeps a value as given (calibrated values are not rounded: 17 decimals, so
a float64 round-trips; shown with 6 significant digits, and the text as shown reads back
as the value kept); a slider drag gives 3 significant digits.  A row
may have an "off" value (e.g. lam_p = 1e7: no overall Poisson part), shown as "off" with
a line saying what it means.
"""

from __future__ import annotations

import math
from typing import Optional

from qtpy.QtCore import Qt, Signal
from qtpy.QtGui import QValidator
from qtpy.QtWidgets import QDoubleSpinBox, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from ..params import OFF as OFF_VALUES

_TICKS = 1000
#: Decimals the spin box keeps (Qt rounds every value to them; 17: none lost).
DECIMALS = 17
OFF = "off"


def knob_text(name: str, value: float) -> str:
    """``value`` of parameter ``name`` for a caption: "off" at its off value."""
    return OFF if name in OFF_VALUES and value == OFF_VALUES[name][0] else f"{value:g}"


def three_digits(value: float) -> float:
    """``value`` rounded to 3 significant digits (a slider position is that coarse)."""
    if value <= 0:
        return value
    return round(value, 2 - int(math.floor(math.log10(value))))


class ExactSpin(QDoubleSpinBox):
    """A spin box that keeps its value unrounded (shown as ``%.6g``), ``off`` for ``off``."""

    def __init__(self, off: Optional[float] = None, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.off = off
        self.setDecimals(DECIMALS)

    def textFromValue(self, value: float) -> str:  # noqa: N802 (Qt naming)
        return OFF if self.off is not None and value == self.off else f"{value:.6g}"

    def valueFromText(self, text: str) -> float:  # noqa: N802 (Qt naming)
        t = text.strip().lower()
        if t == self.textFromValue(self.value()).lower():
            return self.value()  # the text as shown: the value kept, not its display
        if self.off is not None and t == OFF:
            return float(self.off)
        try:
            return float(t)
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int) -> tuple:
        t = text.strip().lower()
        if self.off is not None and t and OFF.startswith(t):
            state = QValidator.State.Acceptable if t == OFF else QValidator.State.Intermediate
            return state, text, pos
        try:
            v = float(t)
        except ValueError:
            ok = t == "" or all(c in "0123456789.eE+-" for c in t)
            return (QValidator.State.Intermediate if ok else QValidator.State.Invalid), text, pos
        inside = self.minimum() <= v <= self.maximum()
        return (QValidator.State.Acceptable if inside else QValidator.State.Intermediate), \
            text, pos


class LogSlider(QWidget):
    """Slider over ``[lo, hi]`` on a log scale; the spin box takes ``[minimum, maximum]``.

    ``off``: the value that turns this part of the noise off, ``off_text`` what that means
    (shown under the slider while the value is ``off``).  ``valueChanged(float)`` fires on
    every user or programmatic change.
    """

    valueChanged = Signal(float)

    def __init__(self, lo: float, hi: float, minimum: float, maximum: float,
                 off: Optional[float] = None, off_text: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._lo, self._hi = math.log(lo), math.log(hi)
        self._dragging = False
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, _TICKS)
        self.spin = ExactSpin(off)
        self.spin.setRange(minimum, maximum)
        self.spin.setKeyboardTracking(False)
        self.spin.setMinimumWidth(80)
        self.note = QLabel(f"{OFF} ({off_text})" if off_text else OFF)
        self.note.setWordWrap(True)  # wraps rather than widening the dock past its edge
        self.note.setVisible(False)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.slider, 1)
        row.addWidget(self.spin)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(row)
        layout.addWidget(self.note)
        self.slider.valueChanged.connect(self._from_slider)
        self.spin.valueChanged.connect(self._from_spin)

    def value(self) -> float:
        return float(self.spin.value())

    def setValue(self, value: float) -> None:  # noqa: N802 (Qt naming)
        self.spin.setValue(float(value))

    @property
    def is_off(self) -> bool:
        """The value turns this part of the noise off."""
        return self.spin.off is not None and self.value() == self.spin.off

    def _position(self, value: float) -> int:
        if value <= 0:
            return 0
        frac = (math.log(value) - self._lo) / (self._hi - self._lo)
        return int(round(min(max(frac, 0.0), 1.0) * _TICKS))

    def _from_slider(self, pos: int) -> None:
        self._dragging = True  # the slider keeps its position; only the box follows
        try:
            self.spin.setValue(three_digits(
                math.exp(self._lo + (self._hi - self._lo) * pos / _TICKS)))
        finally:
            self._dragging = False

    def _from_spin(self, value: float) -> None:
        if not self._dragging:
            self.slider.blockSignals(True)
            self.slider.setValue(self._position(value))
            self.slider.blockSignals(False)
        self.note.setVisible(self.is_off)
        self.valueChanged.emit(float(value))
