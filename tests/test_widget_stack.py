"""The widget on stacks: axes from the layer, whole layer or plane in view, lazy data."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")
da = pytest.importorskip("dask.array")

from napari_fm2s import denoise  # noqa: E402
from napari_fm2s.samples import synthetic_cells  # noqa: E402

from .test_widget import _widget  # noqa: E402




def _stack(n: int = 3, side: int = 48) -> np.ndarray:
    return np.stack([synthetic_cells((side, side), seed=10 + i)[0] for i in range(n)])


def _run(w, qtbot) -> None:
    w.denoise_button.click()
    assert w.running
    qtbot.waitUntil(lambda: not w.running, timeout=180_000)


def test_scope_offered_only_for_stacks(viewer):
    viewer.add_image(synthetic_cells((48, 48), seed=1)[0], name="plane")
    w = _widget(viewer)
    assert not w.scope_combo.isEnabled()
    viewer.add_image(_stack(), name="stack")
    w.layer_combo.setCurrentText("stack")
    assert w.scope_combo.isEnabled()


def test_dask_stack_whole_layer_stays_lazy_and_equals_the_core(viewer, qtbot):
    stack = _stack()
    lazy = da.from_array(stack, chunks=(1, 48, 48))
    viewer.add_image(lazy, name="movie", axis_labels=("t", "y", "x"))
    w = _widget(viewer)
    w.denoise_button.click()
    assert w._job[2].image is lazy and w._job[2].axes == "TYX"  # handed over unread
    qtbot.waitUntil(lambda: not w.running, timeout=180_000)
    out = viewer.layers["movie (FM2S)"]
    assert out.data.shape == stack.shape
    preset, kw = w.state.run_preset()  # the first state: auto, as the API's default
    expected = denoise(stack, preset, axes="TYX", mode="paper", **kw)
    np.testing.assert_allclose(np.asarray(out.data), expected, atol=1e-3)


def test_plane_in_view_is_denoised_alone_and_placed_on_its_plane(viewer, qtbot):
    stack = _stack()
    src = viewer.add_image(stack, name="movie", scale=(2.0, 0.5, 0.5), translate=(1.0, 0, 0))
    w = _widget(viewer)
    w.scope_combo.setCurrentText("plane in view")
    viewer.dims.set_current_step(0, 2)
    _run(w, qtbot)
    name = "movie [plane 2] (FM2S)"  # unlabelled: the guessed T is not named
    assert [layer.name for layer in viewer.layers] == ["movie", name]
    out = viewer.layers[name]
    assert out.data.shape == (1, 48, 48)
    np.testing.assert_allclose(out.translate, [1.0 + 2.0 * 2, 0, 0])
    np.testing.assert_array_equal(out.scale, src.scale)
    preset, kw = w.state.run_preset()
    expected = denoise(stack[2], preset, mode="paper", **kw)
    np.testing.assert_allclose(out.data[0], expected, atol=1e-3)
    assert np.array_equal(src.data, _stack())  # the source is never modified


def test_layer_whose_axes_cannot_be_guessed_gives_notification(viewer, qtbot):
    from napari.utils.notifications import notification_manager

    viewer.add_image(np.random.default_rng(0).random((2, 2, 2, 2, 16, 16)), name="six")
    w = _widget(viewer)
    n = len(notification_manager.records)
    w.denoise_button.click()
    assert not w.running
    errors = [str(r.message) for r in notification_manager.records[n:]
              if r.severity.name.lower() == "error"]
    assert errors and "cannot guess the axes" in errors[0]
    assert [lay.name for lay in viewer.layers] == ["six"]


def test_blank_channel_is_copied_with_a_warning_as_by_the_api(viewer, qtbot):
    """Issue 14, kind 5: the widget used to refuse a layer the API and CLI denoise."""
    from napari.utils.notifications import notification_manager

    x = _stack()
    x[1] = 7  # channel 1 is blank
    viewer.add_image(x, name="cells", axis_labels=("c", "y", "x"))
    w = _widget(viewer)
    n = len(notification_manager.records)
    _run(w, qtbot)
    records = notification_manager.records[n:]
    errors = [str(r.message) for r in records if r.severity.name.lower() == "error"]
    warnings = [str(r.message) for r in records if r.severity.name.lower() == "warning"]
    assert not errors
    assert any("channel C=1 is constant: copied unchanged" in m for m in warnings), warnings
    out = np.asarray(viewer.layers["cells (FM2S)"].data)
    assert out.shape == x.shape and np.array_equal(out[1], x[1])
    assert not np.array_equal(out[0], x[0]) and not np.array_equal(out[2], x[2])
    assert w.models.last_model is None and not w.models.save_button.isEnabled()
    preset, given = w.state.run_preset()  # what Denoise ran (auto: each channel calibrated)
    np.testing.assert_allclose(out, denoise(x, preset, axes="CYX", mode="paper", **given),
                               atol=1e-3)


def test_thin_layer_is_refused_as_by_the_api(viewer, qtbot):
    from napari.utils.notifications import notification_manager

    viewer.add_image(synthetic_cells((48, 300), seed=1)[0][:5], name="strip")
    w = _widget(viewer)
    n = len(notification_manager.records)
    w.denoise_button.click()
    qtbot.waitUntil(lambda: not w.running, timeout=60_000)
    errors = [str(r.message) for r in notification_manager.records[n:]
              if r.severity.name.lower() == "error"]
    assert errors and "too small" in errors[0] and "axis_labels" in errors[0]
    assert [lay.name for lay in viewer.layers] == ["strip"]
