"""The live noise preview: your noise next to the synthetic noise, computed in a thread.

Debounced: a slider move or a pan restarts a short timer; a request made while a
preview is being computed waits for it (never two at once).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QCheckBox, QHBoxLayout, QPushButton, QVBoxLayout, QWidget
from superqt.utils import create_worker

from ..presets import Preset
from ..preview import NoisePreview, PreviewPanels
from .preview_view import PreviewView

#: Wait after the last slider move before the preview is recomputed (ms).
PREVIEW_DEBOUNCE_MS = 60

#: What the widget hands over: a message, or (cache key, plane, preset, view centre).
Request = Callable[[], "str | tuple[Any, Any, Preset, tuple[float, float]]"]


class PreviewPanel(QWidget):
    """Checkbox, Resample and the panels; ``request()`` says what to show."""

    def __init__(self, request: Request, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self._request = request
        self._worker: Any = None
        self._pending = False
        self._shown: tuple[Any, Optional[Preset]] = (None, None)
        self._source: tuple[Any, Optional[NoisePreview]] = (None, None)
        self._draw = 0
        #: The panels on display (None when the preview shows a message).
        self.last_preview: Optional[PreviewPanels] = None
        self.check = QCheckBox("Live preview")
        self.check.setChecked(True)
        self.check.setToolTip("Compare your image's noise with the synthetic noise")
        self.resample_button = QPushButton("Resample")
        self.resample_button.setToolTip("Draw a new synthetic noise sample")
        self.view = PreviewView()
        row = QHBoxLayout()
        row.addWidget(self.check)
        row.addWidget(self.resample_button)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.view)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(PREVIEW_DEBOUNCE_MS)
        self.timer.timeout.connect(self.start)
        self.check.toggled.connect(self._toggled)
        self.resample_button.clicked.connect(self.resample)

    @property
    def busy(self) -> bool:
        return self._worker is not None

    def forget(self) -> None:
        """The image changed: recompute its median target next time."""
        self._source = (None, None)

    def schedule(self, *_: Any) -> None:
        if self.check.isChecked():
            self.timer.start()

    def resample(self) -> None:
        """Draw a new synthetic sample."""
        self._draw += 1
        self.start()

    def _toggled(self, on: bool) -> None:
        self.view.setVisible(on)
        self.resample_button.setEnabled(on)
        if not on:
            self.last_preview = None
            self.forget()  # free the cached image
        self.schedule()

    def start(self) -> None:
        """Compute the preview in a thread; a request during a computation waits for it."""
        if not self.check.isChecked():
            return
        if self._worker is not None:
            self._pending = True
            return
        what = self._request()
        if isinstance(what, str):
            self.show_message(what)
            return
        key, plane, p, center = what
        cached_key, cached = self._source
        source = cached if cached_key == key else None
        draw = self._draw

        def compute() -> tuple[Any, Any]:
            try:
                src = source if source is not None else NoisePreview(plane)
                return src, src.render(p, center, draw)
            except ValueError as e:
                return None, e

        worker = create_worker(compute, _start_thread=False, _ignore_errors=True)
        # bound methods, not lambdas: Qt drops the connections if the widget is deleted
        worker.returned.connect(self._show)
        worker.finished.connect(self._done)
        self._worker, self._shown = worker, (key, p)
        worker.start()

    def _show(self, out: tuple[Optional[NoisePreview], Any]) -> None:
        (key, p), (source, result) = self._shown, out
        if not self.check.isChecked():
            return
        if source is None:
            self.show_message(f"No preview: {result}")
            return
        self._source = (key, source)
        self.last_preview = result
        self.view.show_panels(result, p)

    def show_message(self, text: str) -> None:
        self.last_preview = None
        self.view.show_message(text)

    def _done(self) -> None:
        self._worker = None
        if self._pending:
            self._pending = False
            self.start()
