"""Stop with napari: a dock widget that calls ``shutdown()`` when it is removed from
napari, closed, or napari's window closes (so no run outlives what shows it)."""

from __future__ import annotations

from typing import Any, Optional

from qtpy.QtCore import QEvent, QObject


class StopsWithNapari:
    """Mixin for a QWidget with ``shutdown()`` and ``running``."""

    _watched_window: Optional[QObject] = None

    def shutdown(self) -> None:  # pragma: no cover - the widget's own
        raise NotImplementedError

    def event(self, e: QEvent) -> bool:  # noqa: D102 (Qt override)
        if (e.type() == QEvent.Type.ParentChange and self.parent() is None
                and getattr(self, "running", False)):
            self.shutdown()  # napari removed the dock widget
        return super().event(e)

    def showEvent(self, e: Any) -> None:  # noqa: N802 (Qt naming)
        """Watch the top-level window (napari's), to stop a run when it closes."""
        super().showEvent(e)
        top = self.window()
        if top is not self and top is not self._watched_window:
            if self._watched_window is not None:
                self._watched_window.removeEventFilter(self)
            top.installEventFilter(self)
            self._watched_window = top

    def eventFilter(self, obj: QObject, e: QEvent) -> bool:  # noqa: N802 (Qt naming)
        if obj is self._watched_window and e.type() == QEvent.Type.Close:
            self.shutdown()
        return False

    def closeEvent(self, e: Any) -> None:  # noqa: N802 (Qt naming)
        self.shutdown()
        super().closeEvent(e)
