"""The run panel: Denoise / Cancel, phase and progress with the time left, the loss
curve, the residual switch, the spread switch.  It shows a :class:`~.state.RunStatus`
and the spread setting of a :class:`~.state.WidgetSettings`, and owns no state."""

from __future__ import annotations

from typing import Optional

from qtpy.QtWidgets import (QCheckBox, QHBoxLayout, QLabel, QProgressBar, QPushButton,
                            QVBoxLayout, QWidget)

from .loss_plot import LossPlot
from .state import RunStatus, WidgetSettings

#: The spread switch's tooltip, when it applies and in paper mode (where it does not).
SPREAD_TIP = ("Denoise also adds '<name> (FM2S spread)': per pixel, the standard deviation "
              "of the 4 mirrored applications of the network that the result averages, in "
              "the image's units. High where the denoiser is unsure of structure; not a "
              "calibrated error bar")
SPREAD_PAPER_TIP = ("No spread in paper mode: it applies the network once, not mirrored, so "
                    "there is nothing to compare. Choose fast mode (Advanced > Mode)")


class RunPanel(QWidget):
    """Buttons and read-outs of one run; follows ``status`` through its events, and
    shows and sets ``settings.spread`` (off and greyed out in paper mode)."""

    def __init__(self, status: RunStatus, settings: Optional[WidgetSettings] = None,
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.status = status
        self.settings = WidgetSettings() if settings is None else settings
        self.denoise_button = QPushButton("Denoise")
        self.denoise_button.setToolTip("Train FM2S on this image and add the result as a layer")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the run; nothing is added")
        self.cancel_button.setEnabled(False)
        self.residual_button = QPushButton("Residual")
        self.residual_button.setCheckable(True)
        self.residual_button.setEnabled(False)
        self.residual_button.setToolTip(
            "Show input - result as a layer (blue: removed dimmer, red: removed brighter). "
            "Noise looks like grain; structure there is signal the denoiser removed")
        self.spread_check = QCheckBox("Also add the spread (where unsure)")
        self.spread_check.toggled.connect(lambda on: setattr(self.settings, "spread", on))
        self.phase = QLabel("")
        self.bar = QProgressBar()
        self.bar.setTextVisible(False)
        self.bar.setMaximumHeight(8)
        self.bar.setVisible(False)
        self.loss_plot = LossPlot()
        self.message = QLabel("")
        self.message.setWordWrap(True)
        row = QHBoxLayout()
        for b in (self.denoise_button, self.cancel_button, self.residual_button):
            row.addWidget(b)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.spread_check)
        layout.addWidget(self.phase)
        layout.addWidget(self.bar)
        layout.addWidget(self.loss_plot)
        layout.addWidget(self.message)
        for name in ("phase", "step", "total", "eta", "message"):
            getattr(status.events, name).connect(self._show)
        self.settings.events.spread.connect(self._show_spread)
        self.settings.events.mode.connect(self._show_spread)
        self._show()
        self._show_spread()

    def _show_spread(self, *_: object) -> None:
        paper = self.settings.mode == "paper"  # unchecked there; the setting is kept
        blocked = self.spread_check.blockSignals(True)
        self.spread_check.setChecked(self.settings.spread and not paper)
        self.spread_check.blockSignals(blocked)
        self.spread_check.setEnabled(not paper)
        self.spread_check.setToolTip(SPREAD_PAPER_TIP if paper else SPREAD_TIP)

    def _show(self, *_: object) -> None:
        s = self.status
        running = s.running
        self.denoise_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.phase.setText(s.line())
        self.bar.setVisible(running)
        if s.phase == "inferring":
            self.bar.setRange(0, 0)  # busy: inference reports no steps
        else:
            self.bar.setRange(0, max(s.total, 1))
            self.bar.setValue(min(s.step, max(s.total, 1)))
        if s.phase == "cancelled":
            self.loss_plot.reset()
        self.message.setText(s.message)
