"""Auto: measure the noise of the plane on display (in a thread) and emit the calibration;
say the camera offset it estimated, in the image's units, and take one the user gives."""

from __future__ import annotations

from typing import Any, Hashable, Optional

import numpy as np
from napari.utils.notifications import show_error
from qtpy.QtCore import QObject, Signal
from qtpy.QtGui import QDoubleValidator
from qtpy.QtWidgets import QLabel, QLineEdit, QPushButton
from superqt.utils import create_worker

from ..api import AUTO_BASE, check_offset
from ..checks import check_image
from ..calibrate import Calibration, auto_calibration, offset_bounds
from ..intensity import intensity_map

_OFFSET_TIP = (
    "The camera's black level (offset: no photons), read where the noise's variance-"
    "against-intensity line reaches zero (docs/auto.md): that lies below the black level "
    "by the read noise squared over the gain (a few ADU on most sCMOS cameras, more on "
    "slow CCDs), so the true offset is the first number or above; the second is the "
    "darkest background level, which holds no fewer than 0 photons (within its noise); "
    "'at most' where the line gives no lower bound (too few flat levels to measure it). "
    "Auto leaves it in the image (measured "
    "better); to give it yourself, type it in the 'Camera offset' field (as "
    "denoise(image, offset=...) or fm2s denoise --offset)")
_ENTRY_TIP = (
    "The camera's black level in the image's units (ADU), e.g. from its data sheet or a "
    "dark frame: the synthetic Poisson noise then acts on the photons above it. Empty: "
    "estimated. Cleared when another image is selected (an offset belongs to its camera).")


def offset_units(plane: np.ndarray, cal: Calibration) -> tuple[float, float]:
    """The calibration's estimated camera offset range in ``plane``'s own units
    (:func:`~napari_fm2s.calibrate.offset_bounds`, with the intensity mapping
    ``auto_calibration`` and ``denoise()`` use)."""
    imap = intensity_map(check_image(plane))  # NaN pixels filled, as calibration takes them
    return offset_bounds(cal.estimate, imap)


def offset_line(bounds: tuple[float, float], dtype: Any) -> str:
    """E.g. "Camera offset 96-110 ADU (estimated; not subtracted)", or "Camera offset at
    most 110 ADU ..." where the noise line gives no lower bound (:func:`offset_units`)."""
    dt = np.dtype(dtype)
    unit = ("grey levels" if dt == np.uint8 else "ADU" if np.issubdtype(dt, np.integer)
            else "(image units)")

    def number(value: float) -> str:
        return f"{value:.0f}" if abs(value) >= 10 else f"{value:.2g}"

    lo, hi = (number(b) for b in bounds)
    span = f"at most {hi}" if np.isnan(bounds[0]) else f"≈ {lo}" if lo == hi else f"{lo}-{hi}"
    return f"Camera offset {span} {unit} (estimated; not subtracted)"


class Calibrator(QObject):
    """The Auto button, its background calibration and the offset line under it.

    ``calibrated(Calibration, automatic)``: ``automatic`` when the widget asked on its own
    (the auto label on a new layer) rather than the button; those fail with ``failed``
    (the reason) instead of an error notification."""

    calibrated = Signal(object, bool)
    #: An automatic calibration failed (a message); a requested one shows an error.
    failed = Signal(str)

    def __init__(self, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.button = QPushButton("Auto")
        self.button.setToolTip(
            "Measure the noise of the image on display and set the sliders so the synthetic "
            "noise matches it, times an over-injection factor (docs/auto.md)")
        self.note = QLabel()
        self.note.setToolTip(_OFFSET_TIP)
        self.note.setWordWrap(True)
        self.note.hide()
        #: The offset the user gives (empty: none given); see :meth:`given_offset`.
        self.entry = QLineEdit()
        self.entry.setPlaceholderText("estimated")
        self.entry.setValidator(QDoubleValidator())
        self.entry.setToolTip(_ENTRY_TIP)
        #: What the last Auto measured and chose (None before the first Auto).
        self.last: Optional[Calibration] = None
        #: The offset it estimated, in the image's units.
        self.offset: Optional[tuple[float, float]] = None  # the estimate's bounds
        #: What the last calibration was of (the widget's key for a layer's data).
        self.key: Optional[Hashable] = None
        self._worker: Any = None
        self._running: tuple[Optional[Hashable], bool] = (None, False)  # key, automatic
        self._queued: Optional[tuple[Any, Optional[Hashable], bool]] = None
        self._stale = False  # the running calibration's layer was left (forget)

    def start(self, plane: Any, key: Optional[Hashable] = None,
              automatic: bool = False) -> None:
        """Calibrate on ``plane`` (numpy, or lazy: read in the thread); while one runs,
        the latest request waits for it."""
        if self._worker is not None:
            self._queued = (plane, key, automatic)
            return

        def compute() -> Any:
            try:
                arr = np.asarray(plane)
                cal = auto_calibration(arr)
                return cal, offset_units(arr, cal), arr.dtype
            except ValueError as e:  # a message: a returned exception would be raised
                return str(e)

        worker = create_worker(compute, _start_thread=False, _ignore_errors=True)
        # bound methods of this QObject: Qt drops them if the widget closes meanwhile
        worker.returned.connect(self._returned)
        worker.finished.connect(self._done)
        self._running = (key, automatic)
        self.button.setEnabled(False)
        self.button.setText("Auto ...")
        self._worker = worker
        worker.start()

    def _returned(self, result: Any) -> None:
        key, automatic = self._running
        if self._queued is not None or self._stale:  # a newer request, or another layer
            return
        if isinstance(result, str):  # the reason it could not
            if not automatic:
                show_error(f"FM2S: Auto could not measure the noise: {result}")
            else:  # the sliders still show the last layer's values
                self.failed.emit(
                    f"Auto could not measure this layer's noise ({result}); the sliders show "
                    f"the previous calibration, and Denoise falls back to preset "
                    f"'{AUTO_BASE}'.")
            return
        self.last, self.offset, dtype = result
        self.key = key
        self.note.setText(offset_line(self.offset, dtype))
        self.note.show()
        self.calibrated.emit(self.last, automatic)

    def _done(self) -> None:
        self._worker, self._stale = None, False
        self.button.setEnabled(True)
        self.button.setText("Auto")
        queued, self._queued = self._queued, None
        if queued is not None:
            self.start(*queued)

    def forget(self) -> None:
        """Another layer: the offset line and a given offset no longer apply (nor does a
        calibration still running for the layer left)."""
        self.key = None
        self._stale = self._worker is not None
        self.note.hide()
        self.entry.clear()

    def given_offset(self, strict: bool = True) -> Optional[float]:
        """The offset typed in the entry, in the image's units; None when it is empty.
        Not a finite number: ValueError naming the field (``strict``), else None."""
        text = self.entry.text().strip()
        if not text:
            return None
        try:  # a decimal comma, as some locales type it
            return check_offset(text.replace(",", "."))
        except ValueError:
            if not strict:
                return None
            raise ValueError(f"Camera offset: {text!r} is not a number; type the camera's "
                             "black level in the image's units, or leave it empty") from None

    def summary(self) -> str:
        """One line on what the last calibration measured."""
        cal = self.last
        if cal is None:
            return ""
        est = cal.estimate
        return (f"Auto: noise std {100 * est.std_at_median:.2g}% of full scale at the median "
                f"intensity, correlation {est.corr:.2f}; synthetic noise aims at "
                f"{cal.factor:.2g}x the variance of yours.")
