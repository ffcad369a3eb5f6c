"""Auto: measure the noise of the plane on display (in a thread) and emit the calibration."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
from napari.utils.notifications import show_error
from qtpy.QtCore import QObject, Signal
from qtpy.QtWidgets import QPushButton
from superqt.utils import create_worker

from ..calibrate import Calibration, auto_calibration


class Calibrator(QObject):
    """The Auto button and its background calibration; ``calibrated(Calibration)``."""

    calibrated = Signal(object)

    def __init__(self, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.button = QPushButton("Auto")
        self.button.setToolTip(
            "Measure the noise of the image on display and set the sliders so the synthetic "
            "noise matches it, times an over-injection factor (docs/auto.md)")
        #: What the last Auto measured and chose (None before the first Auto).
        self.last: Optional[Calibration] = None
        self._worker: Any = None

    def start(self, plane: np.ndarray) -> None:
        if self._worker is not None:
            return

        def compute() -> Any:
            try:
                return auto_calibration(plane)
            except ValueError as e:
                return e

        worker = create_worker(compute, _start_thread=False, _ignore_errors=True)
        worker.returned.connect(self._returned)
        worker.finished.connect(self._done)
        self.button.setEnabled(False)
        self.button.setText("Auto ...")
        self._worker = worker
        worker.start()

    def _returned(self, cal: Any) -> None:
        if not isinstance(cal, Calibration):
            show_error(f"FM2S: Auto could not measure the noise: {cal}")
            return
        self.last = cal
        self.calibrated.emit(cal)

    def _done(self) -> None:
        self._worker = None
        self.button.setEnabled(True)
        self.button.setText("Auto")

    def summary(self) -> str:
        """One line on what the last calibration measured."""
        cal = self.last
        if cal is None:
            return ""
        est = cal.estimate
        return (f"Auto: noise std {100 * est.std_at_median:.2g}% of full scale at the median "
                f"intensity, correlation {est.corr:.2f}; synthetic noise aims at "
                f"{cal.factor:.2g}x the variance of yours.")
