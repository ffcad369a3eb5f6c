"""The widget's Auto button, noise-correlation control and noise-curve plot."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")

from napari_fm2s.calibrate import auto_preset  # noqa: E402
from napari_fm2s.samples import synthetic_cells  # noqa: E402

from .conftest import PLUGIN, WIDGET  # noqa: E402


def test_auto_button_sets_sliders_and_plot_follows(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    image = synthetic_cells((300, 300), seed=2)[0]
    viewer.add_image(image, name="cells")
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    w.preset_combo.setCurrentText("twophoton-avg16")
    expected = auto_preset(image)
    w.auto_button.click()
    qtbot.waitUntil(lambda: w.last_calibration is not None, timeout=20_000)
    assert w.preset_combo.currentText() == "auto (calibrated)"
    for key in ("k_g", "k_p", "lam_p"):
        # the sliders show one decimal
        assert w.sliders[key].value() == pytest.approx(getattr(expected, key), abs=0.051)
    assert w.spins["filter_size"].value() == expected.filter_size
    assert w.spins["corr"].value() == pytest.approx(expected.corr, abs=1e-3)
    p = w.params()
    assert (p.k_g, p.filter_size) == pytest.approx((expected.k_g, expected.filter_size), abs=0.05)
    # the plot shows real and synthetic curves from the preview, and follows the sliders
    qtbot.waitUntil(lambda: w.last_preview is not None
                    and w.last_preview.curve_synthetic is not None, timeout=10_000)
    plot = w.preview.view.noise_plot
    qtbot.waitUntil(lambda: plot.synthetic is w.last_preview.curve_synthetic, timeout=10_000)
    assert plot.real is not None and plot.real.level.size >= 1
    before = float(np.mean(plot.synthetic.variance))
    w.sliders["lam_p"].setValue(w.sliders["lam_p"].value() / 10)  # 10x stronger Poisson noise
    assert w.preset_combo.currentText() == "custom"
    qtbot.waitUntil(lambda: plot.synthetic is not None
                    and float(np.mean(plot.synthetic.variance)) > 1.5 * before, timeout=10_000)
    w.spins["corr"].setValue(0.6)
    qtbot.waitUntil(lambda: plot.correlations[1] > 0.4, timeout=10_000)
    assert w.params().corr == pytest.approx(0.6)
    plot.grab()  # paints without error


def test_auto_without_image_notifies(make_napari_viewer, qtbot):
    from napari.utils.notifications import notification_manager

    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    n = len(notification_manager.records)
    w.auto_button.click()
    assert any("Select an image layer" in str(r.message)
               for r in notification_manager.records[n:])
    assert w.last_calibration is None
