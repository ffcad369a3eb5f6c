"""A small training-loss curve (log scale) that grows while a run trains."""

from __future__ import annotations

import math
from typing import Iterable

from qtpy.QtCore import QPointF, QRectF, Qt
from qtpy.QtGui import QColor, QPainter, QPen, QPolygonF
from qtpy.QtWidgets import QSizePolicy, QWidget


def begin_plot(widget: QWidget, top: int, bottom: int) -> tuple[QPainter, QColor, QRectF]:
    """Start painting a small plot: painter, text colour, and the framed plot area."""
    p = QPainter(widget)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    fg = widget.palette().color(widget.foregroundRole())
    dim = QColor(fg)
    dim.setAlpha(90)
    box = QRectF(widget.rect()).adjusted(4, top, -4, -bottom)
    p.setPen(QPen(dim, 1))
    p.drawRect(box)
    return p, fg, box


class LossPlot(QWidget):
    """Loss against step, log10 y axis, redrawn from all points so far."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.total = 0
        self.setMinimumHeight(90)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setToolTip("Training loss (MSE to the median target, log scale)")

    def reset(self, total: int = 0) -> None:
        self.steps, self.losses, self.total = [], [], total
        self.update()

    def add(self, points: Iterable[tuple[int, float]], total: int = 0) -> None:
        for step, loss in points:
            if loss > 0 and math.isfinite(loss):
                self.steps.append(step)
                self.losses.append(loss)
        self.total = max(self.total, total)
        self.update()

    def paintEvent(self, event: object) -> None:  # noqa: N802 (Qt naming)
        p, fg, box = begin_plot(self, 16, 4)
        if not self.losses:
            p.setPen(fg)
            p.drawText(box, Qt.AlignmentFlag.AlignCenter, "loss curve appears while training")
            p.end()
            return
        logs = [math.log10(v) for v in self.losses]
        lo, hi = min(logs), max(logs)
        hi = hi if hi > lo else lo + 1.0
        span = max(self.total, self.steps[-1], 1)
        poly = QPolygonF([
            QPointF(box.left() + box.width() * s / span,
                    box.bottom() - box.height() * (v - lo) / (hi - lo))
            for s, v in zip(self.steps, logs)])
        p.setPen(QPen(QColor(255, 160, 40), 1.5))
        p.drawPolyline(poly)
        p.setPen(fg)
        p.drawText(QRectF(self.rect()).adjusted(4, 0, -4, 0),
                   Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
                   f"loss {self.losses[-1]:.2e}  (step {self.steps[-1]}/{span})")
        p.end()
