"""Display of a :class:`~napari_fm2s.preview.PreviewPanels`: three images side by side."""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
from qtpy.QtCore import QRectF, QSize, Qt
from qtpy.QtGui import QImage, QPainter
from qtpy.QtWidgets import QGridLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from ..presets import Preset
from ..preview import PRESET_RATIOS, PREVIEW_SIZE, PreviewPanels, slider_hint
from .log_slider import knob_text
from .noise_plot import NoiseCurvePlot

_GOOD, _OFF = "#5fbf5f", "#f0a030"


class ImagePanel(QWidget):
    """A grayscale image scaled to fit, pixels kept sharp when enlarged."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image: Optional[QImage] = None
        self.setMinimumSize(96, 96)
        policy = QSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt naming)
        return QSize(PREVIEW_SIZE, PREVIEW_SIZE)

    def hasHeightForWidth(self) -> bool:  # noqa: N802
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802
        if self.image is None or self.image.width() == 0:
            return width
        return min(int(width * self.image.height() / self.image.width()), 2 * PREVIEW_SIZE)

    def set_data(self, data: np.ndarray, limits: tuple[float, float]) -> None:
        lo, hi = limits
        grey = np.clip((data - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.uint8)
        grey = np.ascontiguousarray(grey)
        h, w = grey.shape
        self.image = QImage(grey.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
        self.update()

    def paintEvent(self, event: object) -> None:  # noqa: N802
        if self.image is None:
            return
        iw, ih = self.image.width(), self.image.height()
        zoom = min(self.width() / iw, self.height() / ih)
        if zoom >= 1:
            zoom = math.floor(zoom)  # whole-pixel zoom: noise grain shown as it is
        w, h = iw * zoom, ih * zoom
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, zoom < 1)
        p.drawImage(QRectF((self.width() - w) / 2, 0, w, h), self.image)
        p.end()


def _ratio_cell(ratio: float) -> str:
    if not math.isfinite(ratio):
        return "–"
    lo, hi = PRESET_RATIOS
    color = _GOOD if lo <= ratio <= hi else _OFF
    return f'<span style="color:{color}">×{ratio:.2f}</span>'


def noise_table(panels: PreviewPanels) -> str:
    """HTML table: real and synthetic noise, and their ratio, in dim and bright areas."""
    real, syn, ratio = panels.noise_real, panels.noise_synthetic, panels.noise_ratio
    rows = [("", "<b>dim areas</b>", "<b>bright areas</b>"),
            ("noise in your image", f"{real.dim:.3g}", f"{real.bright:.3g}"),
            ("synthetic noise", f"{syn.dim:.3g}", f"{syn.bright:.3g}"),
            ("synthetic / yours", _ratio_cell(ratio.dim), _ratio_cell(ratio.bright))]
    body = "".join("<tr>" + "".join(
        f'<td align="{"left" if i == 0 else "right"}" style="padding: 0 10px">{c}</td>'
        for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table>{body}</table>"


class PreviewView(QWidget):
    """Real crop, median target and synthetic sample at one contrast, with noise levels."""

    CAPTIONS = ("Your image", "Median target", "Synthetic noise (your sliders)")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.panels = [ImagePanel() for _ in self.CAPTIONS]
        self.captions = [QLabel(f"<b>{c}</b>") for c in self.CAPTIONS]
        self.notes = [QLabel() for _ in self.CAPTIONS]
        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(2)
        for col, (cap, panel, note) in enumerate(zip(self.captions, self.panels, self.notes)):
            for label in (cap, note):
                label.setAlignment(Qt.AlignmentFlag.AlignCenter)
                label.setWordWrap(True)
                label.setMinimumWidth(10)  # long text wraps instead of widening a column
            note.setTextFormat(Qt.TextFormat.RichText)
            grid.addWidget(cap, 0, col)
            grid.addWidget(panel, 1, col)
            grid.addWidget(note, 2, col)
            grid.setColumnStretch(col, 1)
        self.table = QLabel()
        self.table.setTextFormat(Qt.TextFormat.RichText)
        self.table.setToolTip("Noise: standard deviation of (image - its 3x3 median), in "
                              "your image's units. Spatially correlated noise (some "
                              "wide-field cameras) reads lower than it is.")
        self.noise_plot = NoiseCurvePlot()
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.RichText)
        help_text = QLabel(
            "The synthetic panel is what the network is trained on: its noise should look "
            "like yours, about as strong or stronger (the presets inject 0.8-3.5x the real "
            "noise). Pan or zoom the image to preview another region.")
        help_text.setWordWrap(True)
        help_text.setEnabled(False)  # drawn muted
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(grid)
        layout.addWidget(self.table)
        layout.addWidget(self.noise_plot)
        layout.addWidget(self.status)
        layout.addWidget(help_text)
        layout.addStretch(1)
        self.show_message("")

    def show_panels(self, panels: PreviewPanels, p: Preset) -> None:
        """Draw the three panels with one display range, and the noise comparison."""
        for widget, data in zip(self.panels, (panels.noisy, panels.target, panels.synthetic)):
            widget.set_data(data, panels.limits)
        y, x = panels.box[0].start, panels.box[1].start
        h, w = panels.noisy.shape
        self.notes[0].setText(f"{h}×{w} crop at row {y}, column {x}")
        self.notes[1].setText(f"{p.filter_size}×{p.filter_size} median: "
                              "what the network learns to output")
        corr = f" · corr {p.corr:g}" if p.corr else ""
        k_g, k_p, lam_p = (knob_text(k, getattr(p, k)) for k in ("k_g", "k_p", "lam_p"))
        self.notes[2].setText(f"k_g {k_g} · k_p {k_p} · λp {lam_p}{corr}")
        self.table.setText(noise_table(panels))
        self.noise_plot.set_curves(panels.curve_real, panels.curve_synthetic, panels.imap)
        self.status.setText(f"<b>{slider_hint(panels.noise_ratio, p)}</b>")

    def show_message(self, text: str) -> None:
        """Show ``text`` instead of panels (no image, unsuitable layer, ...)."""
        for panel in self.panels:
            panel.image = None
            panel.update()
        for note in self.notes:
            note.setText("")
        self.table.setText("")
        self.noise_plot.set_curves(None, None)
        self.status.setText(text)
