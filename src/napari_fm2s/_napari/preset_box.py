"""The preset box: the microscope presets, plus "auto (calibrated)" after Auto and
"custom" once a parameter is moved by hand (over the preset they started from)."""

from __future__ import annotations

from typing import Optional

from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import QComboBox, QWidget

from ..presets import PRESETS

AUTO, CUSTOM = "auto (calibrated)", "custom"


class PresetBox(QComboBox):
    """``chosen(name)`` when the user picks a preset; :attr:`base` is the preset under
    the "auto" / "custom" labels."""

    chosen = Signal(str)

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        for i, (name, p) in enumerate(PRESETS.items()):
            self.addItem(name)
            self.setItemData(i, p.description, Qt.ItemDataRole.ToolTipRole)
        self.base = "confocal"
        self.currentTextChanged.connect(self._picked)

    def _picked(self, name: str) -> None:
        if name in PRESETS:
            self.base = name
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
