"""The widget under hostile use: cancel in every phase, closing mid-run, odd layers and
values, saved models.  Driven through a real viewer (pytest-qt under Xvfb)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

pytest.importorskip("napari")

from napari.utils.notifications import notification_manager  # noqa: E402

from napari_fm2s import denoise, inference, noise  # noqa: E402
from napari_fm2s.samples import synthetic_cells  # noqa: E402
from napari_fm2s.threads import usable_cores  # noqa: E402

from .conftest import AfterCancel, open_widget  # noqa: E402



def _widget(viewer, samples=3, preview=False):
    return open_widget(viewer, samples=samples, preview=preview)


def _since(n, severity="error"):
    return [str(r.message) for r in notification_manager.records[n:]
            if r.severity.name.lower() == severity]


@pytest.mark.parametrize("phase", ["median", "training",
                                   pytest.param("inference", marks=pytest.mark.slow)])
def test_cancel_in_each_phase_stops_at_the_next_check(viewer, qtbot, monkeypatch, after_cancel,
                                                      phase):
    """Counted, not timed: after Cancel at most the block, step or tile under way ends."""
    rng = np.random.default_rng(0)
    if phase == "median":  # paper mode filters the whole 1024x1024 plane with an 11x11 window
        viewer.add_image(rng.random((1024, 1024)).astype(np.float32), name="img")
        work = AfterCancel()
        monkeypatch.setattr(noise, "square_median", work.wrap(noise.square_median))
        w = _widget(viewer)
        w.spins["filter_size"].setValue(11)
    elif phase == "training":
        viewer.add_image(synthetic_cells((64, 64))[0], name="img")
        w = _widget(viewer, samples=100_000)
        work = after_cancel
    else:  # fast mode, 2 training steps, then inference of 2300x2300 in 1024 tiles
        viewer.add_image(rng.random((2300, 2300)).astype(np.float32), name="img")
        work = AfterCancel()
        monkeypatch.setattr(inference, "_run", work.wrap(inference._run))
        w = _widget(viewer)
        w.mode_combo.setCurrentText("fast")
        w.spins["fast_steps"].setValue(2)  # the widget's own control: no patching needed
    w.denoise_button.click()
    work.event = w.runner._cancel
    if phase == "training":
        qtbot.waitUntil(lambda: len(w.loss_plot.losses) > 3, timeout=60_000)
    else:
        qtbot.waitUntil(work.entered.is_set, timeout=60_000)
    w.cancel_button.click()
    qtbot.waitUntil(lambda: not w.running, timeout=60_000)
    # median bands run on every usable core: those under way when Cancel came may finish
    assert work.after <= (max(usable_cores(), torch.get_num_threads()) if phase == "median"
                          else 1)
    assert [layer.name for layer in viewer.layers] == ["img"]
    assert w.denoise_button.isEnabled()


def test_closing_the_viewer_mid_run_stops_cleanly(make_napari_viewer, qtbot, capfd):
    viewer = make_napari_viewer()
    viewer.add_image(synthetic_cells((64, 64))[0], name="cells")
    w = _widget(viewer, samples=100_000)
    w.denoise_button.click()
    qtbot.waitUntil(lambda: len(w.loss_plot.losses) > 3, timeout=60_000)
    event, worker = w.runner._cancel, w.runner._worker
    viewer.close()
    assert event.is_set()  # the one cancel route; the core stops at its next step
    qtbot.waitUntil(lambda: not worker.is_running, timeout=60_000)  # the thread has ended
    qtbot.wait(200)
    assert "Traceback" not in capfd.readouterr().err


def test_closing_the_widget_mid_run_stops_cleanly(viewer, qtbot, capfd):
    viewer.add_image(synthetic_cells((64, 64))[0], name="cells")
    w = _widget(viewer, samples=100_000)
    w.denoise_button.click()
    qtbot.waitUntil(lambda: len(w.loss_plot.losses) > 3, timeout=60_000)
    event, worker = w.runner._cancel, w.runner._worker
    viewer.window.remove_dock_widget(w)
    assert event.is_set()
    qtbot.waitUntil(lambda: not worker.is_running, timeout=60_000)
    assert [layer.name for layer in viewer.layers] == ["cells"]
    assert "Traceback" not in capfd.readouterr().err


def test_removing_the_source_layer_mid_run(viewer, qtbot):
    viewer.add_image(synthetic_cells((64, 64))[0], name="cells", scale=(2, 2))
    viewer.add_image(synthetic_cells((32, 32))[0], name="other")
    w = _widget(viewer, samples=30)
    w.layer_combo.setCurrentText("cells")
    n = len(notification_manager.records)
    w.denoise_button.click()
    qtbot.waitUntil(lambda: len(w.loss_plot.losses) > 2, timeout=60_000)
    viewer.layers.remove("cells")
    assert w.layer_combo.currentText() == "other"
    qtbot.waitUntil(lambda: not w.running, timeout=120_000)
    # the run had its own copy of the data: its result arrives, placed like the source was
    assert [layer.name for layer in viewer.layers] == ["other", "cells (FM2S)"]
    assert tuple(viewer.layers["cells (FM2S)"].scale) == (2, 2)
    assert not _since(n)


def test_labels_points_shapes_are_not_offered(viewer, qtbot):
    viewer.add_labels(np.zeros((32, 32), np.uint8), name="labels")
    viewer.add_points(np.array([[1, 1], [5, 5]]), name="points")
    viewer.add_shapes([np.array([[0, 0], [10, 10], [0, 10]])], shape_type="polygon", name="shapes")
    w = _widget(viewer, preview=True)
    assert w.layer_combo.count() == 0
    n = len(notification_manager.records)
    w.denoise_button.click()
    assert not w.running and "Select an image layer" in _since(n)[0]
    qtbot.waitUntil(lambda: "image" in w.preview.view.status.text(), timeout=5_000)
    # the status line says why this attempt did not start, not what an earlier run did
    w.run_status.message = "FM2S could not denoise 'old': an earlier failure"
    w.denoise_button.click()
    assert w.run_status.phase == "failed"
    assert w.run_status.message == "FM2S did not start: Select an image layer first."
    assert "did not start" in w.status.text()


_BAD = {
    "bool": np.random.default_rng(0).random((32, 32)) > 0.5,
    "nan": np.where(np.eye(32) > 0, np.nan, 1.0),
    "inf": np.where(np.eye(32) > 0, np.inf, 1.0),
    "zeros": np.zeros((32, 32), np.float32),
    "1xN": np.random.default_rng(0).random((1, 40)),
    "2x2": np.random.default_rng(0).random((2, 2)),
    "huge": np.random.default_rng(0).random((32, 32)) * 1e35,
    "negative": -np.random.default_rng(0).random((32, 32)),
    "uint64-max": np.random.default_rng(0).integers(0, 2**64 - 1, (32, 32), np.uint64,
                                                    endpoint=True),
    "rgba": np.random.default_rng(0).integers(0, 255, (32, 32, 4), np.uint8),
}


@pytest.mark.slow  # a sweep: one viewer and one run per kind of data
@pytest.mark.parametrize("kind", list(_BAD))
def test_hostile_layer_data_ends_in_a_result_or_a_message(viewer, qtbot, kind):
    data = _BAD[kind]
    viewer.add_image(data, name="bad")
    w = _widget(viewer, samples=1, preview=True)
    n = len(notification_manager.records)
    w.denoise_button.click()
    qtbot.waitUntil(lambda: not w.running, timeout=60_000)
    names = [layer.name for layer in viewer.layers]
    errors = _since(n)
    assert (names == ["bad", "bad (FM2S)"]) != bool(errors), (names, errors)
    if errors:
        assert "bad" in errors[0] and "Traceback" not in errors[0]
    else:
        assert viewer.layers["bad (FM2S)"].data.dtype == np.float32
    # the preview shows panels or a message, whatever the data
    qtbot.waitUntil(lambda: w.last_preview is not None or bool(w.preview.view.status.text()),
                    timeout=15_000)


@pytest.mark.parametrize("value", [0, -5, 1e9, float("nan"), float("inf")])
def test_absurd_control_values(viewer, qtbot, value):
    viewer.add_image(synthetic_cells((48, 48))[0], name="cells")
    w = _widget(viewer, samples=1, preview=True)
    for slider in w.sliders.values():
        slider.setValue(value)
    for spin in w.spins.values():
        spin.setValue(int(value) if np.isfinite(value) and abs(value) < 2**31 else 0)
    n = len(notification_manager.records)
    try:
        w.params()
        valid = True
    except ValueError:
        valid = False
    w.denoise_button.click()
    qtbot.waitUntil(lambda: not w.running, timeout=60_000)
    names = [layer.name for layer in viewer.layers]
    if valid and not _since(n):
        assert names == ["cells", "cells (FM2S)"]
    else:
        assert names == ["cells"] and _since(n)
    qtbot.waitUntil(lambda: not w.preview.busy, timeout=10_000)


def test_save_and_load_a_model(viewer, qtbot, tmp_path, monkeypatch):
    from qtpy.QtWidgets import QFileDialog

    img = synthetic_cells((48, 48), seed=2)[0]
    viewer.add_image(img, name="cells")
    w = _widget(viewer)
    assert not w.models.save_button.isEnabled()
    w.denoise_button.click()
    assert w.running and not w.models.load_button.isEnabled()  # fixed while a run runs
    qtbot.waitUntil(lambda: not w.running, timeout=60_000)
    assert w.models.load_button.isEnabled()
    trained = viewer.layers["cells (FM2S)"].data
    assert w.models.save_button.isEnabled()
    path = tmp_path / "scope.fm2s.safetensors"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(path), ""))
    w.models.save_button.click()
    assert path.exists()
    np.testing.assert_array_equal(denoise(img, model=path), trained)
    # a second image, denoised with the loaded model: no training, same network
    other = synthetic_cells((40, 56), seed=5)[0]
    viewer.add_image(other, name="other")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
    w.models.load_button.click()
    assert w.models.model is not None and "scope.fm2s.safetensors" in w.models.label.text()
    w.layer_combo.setCurrentText("other")
    w.denoise_button.click()
    assert w.running and not w.models.clear_button.isEnabled()
    qtbot.waitUntil(lambda: not w.running, timeout=60_000)
    assert w.models.clear_button.isEnabled()
    np.testing.assert_array_equal(viewer.layers["other (FM2S)"].data,
                                  denoise(other, model=path))
    assert w.loss_plot.losses == []  # nothing was trained
    w.models.clear_button.click()
    assert w.models.model is None and not w.models.clear_button.isEnabled()


class _Evil:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_loading_a_malicious_pickle_runs_nothing(viewer, tmp_path, monkeypatch):
    from qtpy.QtWidgets import QFileDialog

    marker = tmp_path / "pwned"
    evil = tmp_path / "model.fm2s.safetensors"
    evil.write_bytes(pickle.dumps(_Evil(marker)))
    w = _widget(viewer)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(evil), ""))
    n = len(notification_manager.records)
    w.models.load_button.click()
    assert "not an FM2S model file" in _since(n)[0]
    assert w.models.model is None and not marker.exists()
    # saving before any run, or into a missing folder: a message, nothing written
    w.models.save_file(str(tmp_path / "x.safetensors"))
    assert "no trained model" in _since(n)[-1]


def test_a_layer_with_nan_is_denoised_and_added(viewer, qtbot):
    """A NaN corner (outside a registered field) gave the result contrast limits (nan, nan):
    napari raised 'cannot convert float NaN to integer' and the widget stayed locked; the
    offset line read 'nan'."""
    data = synthetic_cells((64, 64), seed=4)[0].astype(np.float32)
    data[:16, :16] = np.nan
    viewer.add_image(data, name="reg")
    w = _widget(viewer)
    n = len(notification_manager.records)
    w.denoise_button.click()
    qtbot.waitUntil(lambda: not w.running, timeout=120_000)
    out = viewer.layers["reg (FM2S)"]
    assert np.array_equal(np.isnan(out.data), np.isnan(data))
    assert np.all(np.isfinite(out.contrast_limits)) and w.denoise_button.isEnabled()
    assert not _since(n) and "Added 'reg (FM2S)'" in w.status.text()
    w.denoise_button.click()  # a second result: napari names it '... [1]', and so do we
    qtbot.waitUntil(lambda: not w.running, timeout=120_000)
    assert "Added 'reg (FM2S) [1]'" in w.status.text(), w.status.text()
    from napari_fm2s._napari.auto_panel import offset_units
    from napari_fm2s.calibrate import auto_calibration

    assert np.isfinite(offset_units(data, auto_calibration(data))).all()  # the offset line


_CLOSE_DURING_AUTO = """
import numpy as np
import napari
viewer = napari.Viewer(show=False)
rng = np.random.default_rng(0)
viewer.add_image((100 + rng.poisson(20, (1024, 1024))).astype(np.uint16), name="raw")
viewer.window.add_plugin_dock_widget("napari-fm2s")
viewer.close()
"""


@pytest.mark.slow
def test_a_script_that_closes_napari_during_auto_exits_cleanly(tmp_path):
    """Helper 28: the dock widget calibrates a new layer in a thread; a script that closed
    the (never shown) viewer and ended while it ran aborted (exit code 134: the thread
    called into objects Python's teardown had deleted).  Now the exit waits for it."""
    import os
    import subprocess
    import sys

    script = tmp_path / "close.py"
    script.write_text(_CLOSE_DURING_AUTO)
    env = dict(os.environ, FM2S_THREADS="1")
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_status_speaks_of_the_layer_picked(viewer, qtbot):
    """Helper 29: after an RGB layer's refusal, picking another layer still showed it; a
    layer auto could not calibrate kept the previous layer's sliders without a word (the
    calibration's error, returned as an exception, was raised by the worker and lost: the
    Auto button on such a layer showed nothing either)."""
    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[..., 0] = synthetic_cells((64, 64), seed=1)[0]
    viewer.add_image(rgb, name="rgb", rgb=True)
    w = open_widget(viewer, tiny=False)
    qtbot.waitUntil(lambda: "RGB" in w.status.text(), timeout=10_000)
    viewer.add_image(np.full((8, 8), 5.0, np.float32) + np.eye(8, dtype=np.float32),
                     name="tiny")  # the picker follows the new layer
    qtbot.waitUntil(lambda: "could not measure" in w.status.text(), timeout=20_000)
    assert "RGB" not in w.status.text()
    n = len(notification_manager.records)
    w.auto_button.click()
    qtbot.waitUntil(lambda: bool(_since(n)), timeout=20_000)
    assert "could not measure the noise" in _since(n)[0]
