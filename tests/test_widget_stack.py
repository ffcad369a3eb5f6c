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
    name = "movie [T=2] (FM2S)"
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
