"""Stop with napari: a dock widget that calls ``shutdown()`` when it is removed from
napari, closed, or napari's window closes (so no run outlives what shows it), and, at
interpreter exit, waits for the threads it started."""

from __future__ import annotations

import atexit
import weakref
from typing import Any, Optional

from qtpy.QtCore import QEvent, QObject, QThreadPool

#: At interpreter exit, the most to wait for worker threads (ms).
EXIT_WAIT_MS = 30_000
_LIVE: "weakref.WeakSet[Any]" = weakref.WeakSet()


def stop_at_exit(widget: Any) -> None:
    """Have ``widget.shutdown()`` called at interpreter exit, then wait for Qt's thread
    pool (up to :data:`EXIT_WAIT_MS`): a calibration or run still in its thread when
    Python tears down calls into deleted objects and aborts the process (helper 28:
    a script that closed napari while Auto calibrated the image ended with exit code
    134; a viewer never shown gets no close event)."""
    if not _LIVE:
        atexit.register(_finish_threads)
    _LIVE.add(widget)


def _finish_threads() -> None:
    for widget in list(_LIVE):
        try:
            widget.shutdown()
        except (RuntimeError, AttributeError):  # its Qt object is gone, or half-built
            pass
    QThreadPool.globalInstance().waitForDone(EXIT_WAIT_MS)


class StopsWithNapari:
    """Mixin for a QWidget with ``shutdown()`` and ``running``."""

    _watched_window: Optional[QObject] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        stop_at_exit(self)

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
