"""The preset box: "auto (calibrated)" (the first state), the microscope presets, and
"custom" once a parameter is moved by hand (over the preset they started from)."""

from __future__ import annotations

from typing import Optional

from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import QComboBox, QWidget

from ..api import AUTO_BASE
from ..presets import PRESETS
from .state import AUTO, CUSTOM

__all__ = ["AUTO", "CUSTOM", "PresetBox"]

_AUTO_TIP = ("Calibrated from the image, as denoise(image) and the fm2s command do: Denoise "
             "measures the noise of what it denoises (each channel on its own, up to 8 planes "
             "of a stack pooled); the sliders show it for the plane on display")


class PresetBox(QComboBox):
    """``chosen(name)`` when the user picks a preset or :data:`AUTO`; :attr:`base` is the
    preset under the "auto" / "custom" labels."""

    chosen = Signal(str)

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.addItem(AUTO)
        self.setItemData(0, _AUTO_TIP, Qt.ItemDataRole.ToolTipRole)
        for name, p in PRESETS.items():
            self.addItem(name)
            self.setItemData(self.count() - 1, p.description, Qt.ItemDataRole.ToolTipRole)
        self.base = AUTO_BASE
        self.currentTextChanged.connect(self._picked)

    def _picked(self, name: str) -> None:
        if name == AUTO:
            self.base = AUTO_BASE
        if name in PRESETS:
            self.base = name
        if name == AUTO or name in PRESETS:
            self.chosen.emit(name)

    def label(self, text: str, base: Optional[str] = None) -> None:
        """Show ``text`` (:data:`AUTO`, :data:`CUSTOM`) without changing the values."""
        if base is not None:
            self.base = base
        if self.findText(text) < 0:
            self.addItem(text)
        self.blockSignals(True)
        self.setCurrentText(text)
        self.blockSignals(False)
