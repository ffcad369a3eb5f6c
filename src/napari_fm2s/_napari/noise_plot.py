"""A small plot: real and synthetic noise variance against intensity, and lag-1 correlation."""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
from qtpy.QtCore import QPointF, QRectF, Qt
from qtpy.QtGui import QColor, QPen, QPolygonF
from qtpy.QtWidgets import QSizePolicy, QWidget

from ..calibrate import NoiseCurve, noise_corr
from ..intensity import IntensityMap
from .loss_plot import begin_plot

REAL_COLOR = QColor(120, 190, 255)
SYNTHETIC_COLOR = QColor(255, 160, 40)


class NoiseCurvePlot(QWidget):
    """Residual variance (``x - median3(x)``, flat pixels) against intensity, both
    curves measured alike, in the image's units; the noise's lag-1 correlation in the
    title.  Follows the sliders through :meth:`set_curves`."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.real: Optional[NoiseCurve] = None
        self.synthetic: Optional[NoiseCurve] = None
        self.imap: Optional[IntensityMap] = None
        self.setMinimumHeight(110)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setToolTip(
            "Noise variance against intensity in flat areas of the preview crop: yours "
            "(blue) and the synthetic sample's (orange), measured the same way "
            "(variance of image - 3x3 median). The presets' synthetic noise lies 1-4x "
            "above yours. corr: neighbouring pixels' noise correlation.")

    def set_curves(self, real: Optional[NoiseCurve], synthetic: Optional[NoiseCurve],
                   imap: Optional[IntensityMap] = None) -> None:
        self.real, self.synthetic, self.imap = real, synthetic, imap
        self.update()

    @property
    def correlations(self) -> tuple[float, float]:
        """Lag-1 noise correlation of the real and the synthetic curve (nan if none)."""
        return tuple(noise_corr(c) if c is not None else math.nan  # type: ignore[return-value]
                     for c in (self.real, self.synthetic))

    def _units(self, c: NoiseCurve) -> tuple[np.ndarray, np.ndarray]:
        scale = self.imap.scale if self.imap is not None else 1.0
        offset = self.imap.offset if self.imap is not None else 0.0
        return c.level * scale + offset, c.variance * scale * scale

    def paintEvent(self, event: object) -> None:  # noqa: N802 (Qt naming)
        p, fg, box = begin_plot(self, 18, 14)
        curves = [c for c in (self.real, self.synthetic) if c is not None and c.level.size]
        if not curves:
            p.setPen(fg)
            p.drawText(box, Qt.AlignmentFlag.AlignCenter, "noise curves appear with the preview")
            p.end()
            return
        pts = [self._units(c) for c in curves]
        x_lo = min(float(x.min()) for x, _ in pts)
        x_hi = max(float(x.max()) for x, _ in pts)
        y_hi = max(float(y.max()) for _, y in pts)
        x_hi = x_hi if x_hi > x_lo else x_lo + 1.0
        y_hi = y_hi if y_hi > 0 else 1.0
        for c, color in ((self.real, REAL_COLOR), (self.synthetic, SYNTHETIC_COLOR)):
            if c is None or not c.level.size:
                continue
            x, y = self._units(c)
            poly = QPolygonF([QPointF(box.left() + box.width() * (a - x_lo) / (x_hi - x_lo),
                                      box.bottom() - box.height() * b / y_hi)
                              for a, b in zip(x, y)])
            p.setPen(QPen(color, 1.8))
            p.drawPolyline(poly)
            for pt in poly:
                p.drawEllipse(pt, 1.8, 1.8)
        real_c, syn_c = self.correlations
        p.setPen(fg)
        p.drawText(QRectF(self.rect()).adjusted(4, 0, -4, 0),
                   Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop
                   | Qt.TextFlag.TextWordWrap,  # helper 29: cut off at the dock's width
                   f"variance vs intensity · yours (blue) corr {real_c:.2f} · "
                   f"synthetic (orange) {syn_c:.2f}")
        p.drawText(QRectF(self.rect()).adjusted(4, 0, -4, 0),
                   Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom,
                   f"{x_lo:.3g}")
        p.drawText(QRectF(self.rect()).adjusted(4, 0, -4, 0),
                   Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom,
                   f"{x_hi:.3g}  (max var {y_hi:.3g})")
        p.end()
