"""The run status as data, and the run panel driven by it alone (no viewer)."""

from __future__ import annotations

import pytest

pytest.importorskip("napari")

from napari_fm2s._napari.state import RunStatus  # noqa: E402
from napari_fm2s.background import Outcome  # noqa: E402


def test_a_run_goes_through_its_phases():
    s, seen = RunStatus(), []
    s.events.phase.connect(seen.append)
    s.begin(training=True)
    for step in range(1, 11):
        s.advance(step, 10)
        if step == 6:
            assert s.phase == "training" and s.eta is not None and "left" in s.line()
    assert s.phase == "inferring" and s.step == 10
    s.end(Outcome(image=object()), "Added")
    assert seen == ["training", "inferring", "done"] and not s.running


@pytest.mark.parametrize("training", [True, False])
def test_cancel_in_each_phase_ends_cancelled_and_clears_progress(training):
    s = RunStatus()
    s.begin(training=training)
    if training:
        s.advance(3, 10)
    s.end(Outcome(cancelled=True), "cancelled")
    assert s.phase == "cancelled" and (s.step, s.total, s.eta) == (0, 0, None)
    s.advance(4, 10)  # a late report changes nothing
    assert s.step == 0


def test_failed_and_a_loaded_model_skips_training():
    s = RunStatus()
    s.begin(training=False)
    assert s.phase == "inferring" and s.running
    s.end(Outcome(error=ValueError("x")), "could not")
    assert s.phase == "failed" and s.message == "could not"


def test_the_run_panel_follows_the_status(qtbot):
    from napari_fm2s._napari.run_panel import RunPanel

    s = RunStatus()
    panel = RunPanel(s)
    qtbot.addWidget(panel)
    assert panel.denoise_button.isEnabled() and not panel.cancel_button.isEnabled()
    s.begin(training=True, message="Training on 'cells' ...")
    s.advance(5, 20)
    assert not panel.denoise_button.isEnabled() and panel.cancel_button.isEnabled()
    assert panel.bar.value() == 5 and panel.bar.maximum() == 20
    assert "step 5 of up to 20" in panel.phase.text() and "cells" in panel.message.text()
    panel.loss_plot.add([(1, 0.1), (2, 0.05)], 20)
    s.end(Outcome(cancelled=True), "cancelled")
    assert panel.denoise_button.isEnabled() and not panel.cancel_button.isEnabled()
    assert not panel.loss_plot.losses and panel.phase.text() == "Cancelled"


def test_widget_settings_as_data_round_trip():
    from napari_fm2s._napari.state import WidgetSettings

    s, changed = WidgetSettings(), []
    s.events.all.connect(lambda info: changed.append(info.signal.name))
    s.mode = "paper"
    s.params = {"k_g": 1.0}
    s.params = {"k_g": 1.0}  # the same value: no event
    assert changed == ["mode", "params"]
    assert s.as_json() == {"k_g": 1.0, "preset": "auto (calibrated)", "base": "confocal",
                           "mode": "paper", "device": "auto", "scope": "whole layer",
                           "preview": True, "spread": False}
