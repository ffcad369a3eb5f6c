"""The widget's first state (auto), Auto button, offset line, noise-correlation control and
noise-curve plot; Denoise in auto equals the API's."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("napari")

from napari_fm2s import denoise  # noqa: E402
from napari_fm2s._napari.state import AUTO, CUSTOM  # noqa: E402
from napari_fm2s.api import AUTO_BASE  # noqa: E402
from napari_fm2s.calibrate import CALIBRATED, auto_preset  # noqa: E402
from napari_fm2s.params import TUNABLE  # noqa: E402
from napari_fm2s.presets import get_preset  # noqa: E402
from napari_fm2s.samples import synthetic_cells  # noqa: E402

from .conftest import FAST, PLUGIN, WIDGET, open_widget  # noqa: E402
from .test_auto_stacks import OFFSET, READ, _camera_stack  # noqa: E402


def _calibrated(w, expected) -> None:
    """The controls show every calibrated value of ``expected``, unrounded."""
    for key in CALIBRATED:
        assert w.spins[key].value() == pytest.approx(getattr(expected, key), rel=1e-9,
                                                     abs=1e-9), key


def test_first_state_calibrates_and_auto_button_sets_sliders_and_plot_follows(
        make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    image = synthetic_cells((300, 300), seed=2)[0]
    viewer.add_image(image, name="cells")
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    expected = auto_preset(image)
    # the first state is auto: the sliders show the calibration of the image, unrounded
    assert w.preset_combo.currentText() == AUTO and w.state.preset == AUTO
    qtbot.waitUntil(lambda: w.last_calibration is not None, timeout=20_000)
    _calibrated(w, expected)
    assert w.preset_combo.currentText() == AUTO
    assert "Camera offset " in w.calibrator.note.text() and not w.calibrator.note.isHidden()
    w.preset_combo.setCurrentText("srdtrans")  # stride 5, 6 channels, ...
    assert w.params() == get_preset("srdtrans")
    qtbot.waitUntil(w.auto_button.isEnabled, timeout=20_000)
    w.calibrator.last = None
    w.auto_button.click()
    qtbot.waitUntil(lambda: w.last_calibration is not None, timeout=20_000)
    assert w.preset_combo.currentText() == AUTO
    _calibrated(w, expected)
    p = w.params()
    assert (p.k_g, p.k_p, p.lam_p) == (expected.k_g, expected.k_p, expected.lam_p)
    # what calibration does not choose is auto's base again, as in denoise(image, "auto")
    base = get_preset(AUTO_BASE)
    rest = {k: getattr(base, k) for k in TUNABLE if k not in CALIBRATED}
    assert w.state.run_preset() == ("auto", rest)
    w.spins["seed"].setValue(11)  # not calibrated: still auto
    assert w.preset_combo.currentText() == AUTO
    assert w.state.run_preset() == ("auto", {**rest, "seed": 11})
    # the plot shows real and synthetic curves from the preview, and follows the sliders
    qtbot.waitUntil(lambda: w.last_preview is not None
                    and w.last_preview.curve_synthetic is not None, timeout=10_000)
    plot = w.preview.view.noise_plot
    qtbot.waitUntil(lambda: plot.synthetic is w.last_preview.curve_synthetic, timeout=10_000)
    assert plot.real is not None and plot.real.level.size >= 1
    before = float(np.mean(plot.synthetic.variance))
    w.sliders["k_g"].setValue(w.sliders["k_g"].value() * 3)  # 9x stronger Gaussian noise
    assert w.preset_combo.currentText() == CUSTOM
    assert w.params().k_p == expected.k_p  # the others keep their calibrated values
    qtbot.waitUntil(lambda: plot.synthetic is not None
                    and float(np.mean(plot.synthetic.variance)) > 1.5 * before, timeout=10_000)
    w.spins["corr"].setValue(0.6)
    qtbot.waitUntil(lambda: plot.correlations[1] > 0.4, timeout=10_000)
    assert w.params().corr == pytest.approx(0.6)
    plot.grab()  # paints without error


def _tiny_run(w, seed: int = 5) -> dict:
    """Paper mode with FAST's few steps and ``seed``: none of them is calibrated, so the
    label stays auto; returns what the core gets for the same run."""
    w.preview.check.setChecked(False)
    w.mode_combo.setCurrentText("paper")
    w.spins["samples"].setValue(FAST["samples"])
    w.spins["steps_per_sample"].setValue(FAST["steps_per_sample"])
    w.spins["seed"].setValue(seed)
    assert w.preset_combo.currentText() == AUTO
    return dict(mode="paper", samples=FAST["samples"], seed=seed,
                steps_per_sample=FAST["steps_per_sample"], threads=w.run_options()["threads"])


def _denoise(w, qtbot):
    w.denoise_button.click()
    assert w.running
    qtbot.waitUntil(lambda: not w.running, timeout=180_000)
    assert w.run_status.phase == "done", w.status.text()


def test_untouched_first_state_denoises_as_the_default(viewer, qtbot):
    image = synthetic_cells((64, 64), seed=3)[0]
    viewer.add_image(image, name="cells")
    w = open_widget(viewer, tiny=False)
    kw = _tiny_run(w, seed=get_preset(AUTO_BASE).seed)
    assert w.state.run_preset()[0] == "auto"
    _denoise(w, qtbot)
    kw.pop("seed")  # the default's
    np.testing.assert_array_equal(viewer.layers["cells (FM2S)"].data, denoise(image, **kw))


def test_auto_then_denoise_on_a_plane_equals_the_api(viewer, qtbot):
    stack = np.stack([synthetic_cells((64, 64), seed=10 + i)[0] for i in range(3)])
    viewer.add_image(stack, name="movie")
    viewer.dims.set_current_step(0, 2)
    w = open_widget(viewer, tiny=False)
    w.scope_combo.setCurrentText("plane in view")
    kw = _tiny_run(w)
    qtbot.waitUntil(w.auto_button.isEnabled, timeout=20_000)  # the first state's own Auto
    w.calibrator.last = None
    w.auto_button.click()
    qtbot.waitUntil(lambda: w.last_calibration is not None, timeout=20_000)
    _calibrated(w, auto_preset(stack[2]))
    _denoise(w, qtbot)
    out = viewer.layers["movie [plane 2] (FM2S)"].data[0]
    np.testing.assert_array_equal(out, denoise(stack[2], "auto", **kw))
    _calibrated(w, w.models.last_model.preset)  # the run trained with the values shown


def test_a_saved_preset_choice_survives_a_restart(viewer, make_napari_viewer, qtbot,
                                                  private_config):
    # widget.json as an earlier version wrote it, with confocal chosen
    old = {**{k: getattr(get_preset("confocal"), k) for k in CALIBRATED},
           "preset": "confocal", "base": "confocal", "mode": "fast", "device": "auto",
           "scope": "whole layer", "preview": False}
    private_config.parent.mkdir(parents=True)
    private_config.write_text(json.dumps(old))
    viewer.add_image(synthetic_cells((64, 64), seed=3)[0], name="cells")
    w = open_widget(viewer, tiny=False)
    assert w.preset_combo.currentText() == "confocal"
    assert w.state.run_preset() == (get_preset("confocal"), {})
    assert w.auto_button.isEnabled() and w.last_calibration is None  # no calibration ran
    w.preset_combo.setCurrentText(AUTO)  # auto again: calibrates, and is remembered
    qtbot.waitUntil(lambda: w.last_calibration is not None, timeout=20_000)
    w.save()
    assert json.loads(private_config.read_text())["preset"] == AUTO
    again = open_widget(make_napari_viewer(), tiny=False)
    assert again.preset_combo.currentText() == AUTO
    again.preset_combo.setCurrentText("widefield")
    again.save()
    assert open_widget(make_napari_viewer(), tiny=False).params() == get_preset("widefield")


def test_offset_estimate_is_shown_in_the_image_units(viewer, qtbot):
    image = _camera_stack(n=1, shape=(160, 160))[0]  # uint16, offset 100 ADU
    viewer.add_image(image, name="camera")
    w = open_widget(viewer, tiny=False)
    qtbot.waitUntil(lambda: w.last_calibration is not None, timeout=20_000)
    seen = []
    denoise(image, on_params=lambda p, mode: seen.append(p.description), fast_steps=1)
    core = float(seen[0].split("offset ")[1].split()[0])  # the core's own report
    lo, hi = w.calibrator.offset
    assert lo == pytest.approx(core, rel=1e-5)
    assert lo == pytest.approx(OFFSET, rel=0.1) and lo <= hi
    top = float(seen[0].split("offset ")[1].split()[2])  # "offset LO to HI (estimated ..."
    assert hi == pytest.approx(top, rel=1e-5) and hi >= OFFSET - READ  # within its noise
    assert w.calibrator.note.text() == (f"Camera offset {lo:.0f}-{hi:.0f} ADU "
                                        "(estimated; not subtracted)")


def test_a_calibration_of_a_layer_left_is_not_shown(viewer, qtbot):
    """Picking an RGB layer while the last image's calibration ran left that image's
    offset line on screen (helper 21)."""
    image = _camera_stack(n=1, shape=(160, 160))[0]
    viewer.add_image(image, name="camera")
    w = open_widget(viewer, tiny=False)
    qtbot.waitUntil(lambda: w.last_calibration is not None, timeout=20_000)
    w.calibrator.start(image, ("again",))  # a calibration under way ...
    w.calibrator.forget()  # ... when another layer is picked
    qtbot.waitUntil(lambda: w.calibrator._worker is None, timeout=20_000)
    assert w.calibrator.note.isHidden() and w.calibrator.key is None


def test_a_given_offset_reaches_the_run_as_in_the_api(viewer, qtbot, monkeypatch):
    image = _camera_stack(n=1, shape=(64, 64))[0]  # uint16, offset 100 ADU
    viewer.add_image(image, name="camera")
    w = open_widget(viewer, tiny=False)
    kw = _tiny_run(w)
    errors = []
    monkeypatch.setattr("napari_fm2s._napari.widget.show_error", errors.append)
    w.calibrator.entry.setText("1e")  # not a number: named, and nothing runs
    w.start_denoise()
    assert not w.running and "Camera offset" in errors[-1]
    w.calibrator.entry.setText("95")
    w.calibrator.entry.editingFinished.emit()
    assert w.state.offset == 95.0 and "offset" not in w.settings()  # not remembered
    _denoise(w, qtbot)
    np.testing.assert_array_equal(viewer.layers["camera (FM2S)"].data,
                                  denoise(image, "auto", offset=95.0, **kw))
    assert "offset 95" in w.models.last_model.preset.description
    viewer.add_image(image[:32, :32].copy(), name="other")  # another camera's image
    assert w.calibrator.entry.text() == "" and w.state.offset is None


def test_lam_p_off_reads_as_no_overall_poisson_part(qtbot):
    from qtpy.QtWidgets import QFormLayout, QWidget

    from napari_fm2s._napari.controls import ParamControls

    host = QWidget()
    qtbot.addWidget(host)
    controls = ParamControls(QFormLayout(host), QFormLayout(QWidget(host)))
    lam_p = controls.widgets["lam_p"]
    lam_p.setValue(70.0)
    assert lam_p.spin.text() == "70" and lam_p.note.isHidden()
    lam_p.setValue(1e7)  # calibration's bound: no overall Poisson part
    assert lam_p.spin.text() == "off" and not lam_p.note.isHidden()
    assert lam_p.note.text() == "off (no overall Poisson part injected)"
    lam_p.setValue(0.3214567891234567)  # kept as given, shown with 6 digits
    assert lam_p.spin.text() == "0.321457" and lam_p.value() == 0.3214567891234567
    lam_p.spin.interpretText()  # the text as shown reads back as the value kept
    assert lam_p.value() == 0.3214567891234567
    lam_p.spin.lineEdit().setText("off")
    lam_p.spin.interpretText()
    assert lam_p.value() == 1e7 and lam_p.spin.text() == "off"
    assert controls.widgets["k_g"].spin.textFromValue(0.0) == "off"


def test_auto_without_image_notifies(make_napari_viewer, qtbot):
    from napari.utils.notifications import notification_manager

    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    n = len(notification_manager.records)
    w.auto_button.click()
    assert any("Select an image layer" in str(r.message)
               for r in notification_manager.records[n:])
    assert w.last_calibration is None
