"""A slider on a logarithmic scale with a spin box for exact values."""

from __future__ import annotations

import math

from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import QDoubleSpinBox, QHBoxLayout, QSlider, QWidget

_TICKS = 1000


class LogSlider(QWidget):
    """Slider over ``[lo, hi]`` on a log scale; the spin box takes ``[minimum, maximum]``.

    ``valueChanged(float)`` fires on every user or programmatic change.
    """

    valueChanged = Signal(float)

    def __init__(self, lo: float, hi: float, minimum: float, maximum: float,
                 decimals: int = 1, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._lo, self._hi = math.log(lo), math.log(hi)
        self._dragging = False
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, _TICKS)
        self.spin = QDoubleSpinBox()
        self.spin.setRange(minimum, maximum)
        self.spin.setDecimals(decimals)
        self.spin.setKeyboardTracking(False)
        self.spin.setMinimumWidth(80)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.spin)
        self.slider.valueChanged.connect(self._from_slider)
        self.spin.valueChanged.connect(self._from_spin)

    def value(self) -> float:
        return float(self.spin.value())

    def setValue(self, value: float) -> None:  # noqa: N802 (Qt naming)
        self.spin.setValue(float(value))

    def _position(self, value: float) -> int:
        if value <= 0:
            return 0
        frac = (math.log(value) - self._lo) / (self._hi - self._lo)
        return int(round(min(max(frac, 0.0), 1.0) * _TICKS))

    def _from_slider(self, pos: int) -> None:
        self._dragging = True  # the slider keeps its position; only the box follows
        try:
            self.spin.setValue(math.exp(self._lo + (self._hi - self._lo) * pos / _TICKS))
        finally:
            self._dragging = False

    def _from_spin(self, value: float) -> None:
        if not self._dragging:
            self.slider.blockSignals(True)
            self.slider.setValue(self._position(value))
            self.slider.blockSignals(False)
        self.valueChanged.emit(float(value))
