"""The widget under hostile use: cancel in every phase, closing mid-run, odd layers and
values, saved models.  Driven through a real viewer (pytest-qt under Xvfb)."""

from __future__ import annotations

import pickle
import threading
import time

import numpy as np
import pytest

pytest.importorskip("napari")

from napari.utils.notifications import notification_manager  # noqa: E402

from napari_fm2s import api, denoise, inference, noise  # noqa: E402
from napari_fm2s.samples import synthetic_cells  # noqa: E402

PLUGIN, WIDGET = "napari-fm2s", "FM2S denoise"


@pytest.fixture(autouse=True)
def private_config(tmp_path, monkeypatch):
    monkeypatch.setenv("NAPARI_FM2S_CONFIG_DIR", str(tmp_path / "fm2s"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


@pytest.fixture
def viewer(make_napari_viewer):
    return make_napari_viewer()


def _widget(viewer, samples=3, preview=False):
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    w.preview_check.setChecked(preview)
    w.mode_combo.setCurrentText("paper")
    w.spins["samples"].setValue(samples)
    w.spins["steps_per_sample"].setValue(2)
    return w


def _since(n, severity="error"):
    return [str(r.message) for r in notification_manager.records[n:]
            if r.severity.name.lower() == severity]


def _helpers_alive():
    return any(t.name == "fm2s-denoise" and t.is_alive() for t in threading.enumerate())


def _marker(module, name, monkeypatch):
    """Replace module.name with a wrapper that sets an Event when first called."""
    entered, real = threading.Event(), getattr(module, name)

    def wrapper(*a, **k):
        entered.set()
        return real(*a, **k)

    monkeypatch.setattr(module, name, wrapper)
    return entered


@pytest.mark.parametrize("phase", ["median", "training", "inference"])
def test_cancel_in_each_phase_within_a_second(viewer, qtbot, monkeypatch, phase):
    rng = np.random.default_rng(0)
    if phase == "median":  # paper mode filters the whole 1024x1024 plane with an 11x11 window
        viewer.add_image(rng.random((1024, 1024)).astype(np.float32), name="img")
        entered = _marker(noise, "median_filter", monkeypatch)
        w = _widget(viewer)
        w.spins["filter_size"].setValue(11)
    elif phase == "training":
        viewer.add_image(synthetic_cells((64, 64))[0], name="img")
        w = _widget(viewer, samples=100_000)
        entered = threading.Event()
    else:  # fast mode, 2 training steps, then inference of 2300x2300 in 1024 tiles
        viewer.add_image(rng.random((2300, 2300)).astype(np.float32), name="img")
        real_fit = api.fit
        monkeypatch.setattr(api, "fit", lambda raws, p, **kw: real_fit(
            raws, p.with_overrides(fast_steps=2), **kw))
        entered = _marker(inference, "_run", monkeypatch)
        w = _widget(viewer)
        w.mode_combo.setCurrentText("fast")
    w.denoise_button.click()
    if phase == "training":
        qtbot.waitUntil(lambda: len(w.loss_plot.losses) > 3, timeout=60_000)
    else:
        qtbot.waitUntil(entered.is_set, timeout=60_000)
    t0 = time.perf_counter()
    w.cancel_button.click()
    qtbot.waitUntil(lambda: not w.running, timeout=5_000)
    assert time.perf_counter() - t0 < 1.0
    assert [layer.name for layer in viewer.layers] == ["img"]
    qtbot.waitUntil(lambda: not _helpers_alive(), timeout=2_000)
    assert w.denoise_button.isEnabled()


def test_closing_the_viewer_mid_run_stops_cleanly(make_napari_viewer, qtbot, capfd):
    viewer = make_napari_viewer()
    viewer.add_image(synthetic_cells((64, 64))[0], name="cells")
    w = _widget(viewer, samples=100_000)
    w.denoise_button.click()
    qtbot.waitUntil(lambda: len(w.loss_plot.losses) > 3, timeout=60_000)
    run = w._run
    t0 = time.perf_counter()
    viewer.close()
    assert run.cancel.is_set()
    qtbot.waitUntil(lambda: not _helpers_alive(), timeout=3_000)
    assert time.perf_counter() - t0 < 3.0
    qtbot.wait(200)
    assert "Traceback" not in capfd.readouterr().err


def test_closing_the_widget_mid_run_stops_cleanly(viewer, qtbot, capfd):
    viewer.add_image(synthetic_cells((64, 64))[0], name="cells")
    w = _widget(viewer, samples=100_000)
    w.denoise_button.click()
    qtbot.waitUntil(lambda: len(w.loss_plot.losses) > 3, timeout=60_000)
    run = w._run
    viewer.window.remove_dock_widget(w)
    assert run.cancel.is_set()
    qtbot.waitUntil(lambda: not _helpers_alive(), timeout=3_000)
    qtbot.waitUntil(lambda: not w.running, timeout=3_000)
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
    qtbot.waitUntil(lambda: "image" in w.preview_view.status.text(), timeout=5_000)


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
    qtbot.waitUntil(lambda: w.last_preview is not None or bool(w.preview_view.status.text()),
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
    qtbot.waitUntil(lambda: w._preview_worker is None, timeout=10_000)


def test_save_and_load_a_model(viewer, qtbot, tmp_path, monkeypatch):
    from qtpy.QtWidgets import QFileDialog

    img = synthetic_cells((48, 48), seed=2)[0]
    viewer.add_image(img, name="cells")
    w = _widget(viewer)
    assert not w.save_model_button.isEnabled()
    w.denoise_button.click()
    qtbot.waitUntil(lambda: not w.running, timeout=60_000)
    trained = viewer.layers["cells (FM2S)"].data
    assert w.save_model_button.isEnabled()
    path = tmp_path / "scope.fm2s.safetensors"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(path), ""))
    w.save_model_button.click()
    assert path.exists()
    np.testing.assert_array_equal(denoise(img, model=path), trained)
    # a second image, denoised with the loaded model: no training, same network
    other = synthetic_cells((40, 56), seed=5)[0]
    viewer.add_image(other, name="other")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
    w.load_model_button.click()
    assert w.model is not None and "scope.fm2s.safetensors" in w.model_label.text()
    w.layer_combo.setCurrentText("other")
    w.denoise_button.click()
    qtbot.waitUntil(lambda: not w.running, timeout=60_000)
    np.testing.assert_array_equal(viewer.layers["other (FM2S)"].data,
                                  denoise(other, model=path))
    assert w.loss_plot.losses == []  # nothing was trained
    w.clear_model_button.click()
    assert w.model is None and not w.clear_model_button.isEnabled()


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
    w.load_model_button.click()
    assert "not an FM2S model file" in _since(n)[0]
    assert w.model is None and not marker.exists()
    # saving before any run, or into a missing folder: a message, nothing written
    w.save_model_file(str(tmp_path / "x.safetensors"))
    assert "no trained model" in _since(n)[-1]
