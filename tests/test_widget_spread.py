"""The widget's spread layer (issue 18): where the denoiser is unsure, placed as the result."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("napari")
da = pytest.importorskip("dask.array")

from napari_fm2s import denoise  # noqa: E402
from napari_fm2s.samples import synthetic_cells  # noqa: E402

from .conftest import FAST, open_widget  # noqa: E402


def _fast_widget(viewer, spread: bool = True):
    """Fast mode (the mirrored ensemble) with FAST's few steps, no preview."""
    w = open_widget(viewer, tiny=False)
    w.preview.check.setChecked(False)
    w.mode_combo.setCurrentText("fast")
    w.spins["fast_steps"].setValue(FAST["fast_steps"])
    assert not w.run_panel.spread_check.isChecked() and not w.state.spread  # off by default
    if spread:
        w.run_panel.spread_check.click()
        assert w.state.spread
    return w


def _run(w, qtbot) -> None:
    w.denoise_button.click()
    assert w.running
    qtbot.waitUntil(lambda: not w.running, timeout=180_000)
    assert w.run_status.phase == "done", w.status.text()


def _core(w, image, **kw):
    """What the widget ran, through ``denoise`` itself."""
    preset, given = w.state.run_preset()
    return denoise(image, preset, mode="fast", threads=w.run_options()["threads"],
                   **given, **kw)


def _same_place(a, b) -> None:
    for name in ("scale", "translate", "rotate", "shear"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name))
    np.testing.assert_allclose(a.affine.affine_matrix, b.affine.affine_matrix)


def test_spread_layer_is_the_cores_spread_placed_as_the_result(viewer, qtbot):
    image = synthetic_cells((64, 64), seed=3)[0]
    viewer.add_image(image, name="cells", scale=(0.5, 2.0), translate=(10.0, -5.0),
                     rotate=30, metadata={"objective": "60x"})
    w = _fast_widget(viewer)
    _run(w, qtbot)
    assert [lay.name for lay in viewer.layers] == ["cells", "cells (FM2S)",
                                                   "cells (FM2S spread)"]
    out, spread = viewer.layers["cells (FM2S)"], viewer.layers["cells (FM2S spread)"]
    result, expected = _core(w, image, return_spread=True)
    np.testing.assert_allclose(spread.data, expected, atol=1e-4)
    np.testing.assert_array_equal(out.data, result)
    assert spread.data.shape == out.data.shape and spread.data.dtype == np.float32
    assert spread.data.max() > 0
    _same_place(spread, out)
    assert spread.colormap.name == "magma"
    lo, hi = spread.contrast_limits
    assert lo == 0 < hi <= float(spread.data.max())
    assert spread.metadata["objective"] == "60x"
    what = spread.metadata["fm2s_spread"]
    assert "4 mirrored" in what["what"] and "not a calibrated error" in what["meaning"]
    assert "(FM2S spread)" in w.status.text()
    assert w.layer().name == "cells"  # the Image box does not follow the spread layer


def test_spread_switch_off_adds_only_the_same_result(viewer, qtbot):
    image = synthetic_cells((64, 64), seed=3)[0]
    viewer.add_image(image, name="cells")
    w = _fast_widget(viewer, spread=False)
    _run(w, qtbot)
    assert [lay.name for lay in viewer.layers] == ["cells", "cells (FM2S)"]
    np.testing.assert_array_equal(viewer.layers["cells (FM2S)"].data, _core(w, image))
    assert "spread" not in w.status.text()


def test_lazy_stack_plane_in_view_and_whole_layer(viewer, qtbot):
    stack = np.stack([synthetic_cells((48, 48), seed=10 + i)[0] for i in range(3)])
    lazy = da.from_array(stack, chunks=(1, 48, 48))
    viewer.add_image(lazy, name="movie", axis_labels=("t", "y", "x"), scale=(2.0, 0.5, 0.5),
                     translate=(1.0, 0, 0))
    w = _fast_widget(viewer)
    w.scope_combo.setCurrentText("plane in view")
    viewer.dims.set_current_step(0, 2)
    _run(w, qtbot)
    out, spread = viewer.layers["movie [t=2] (FM2S)"], viewer.layers["movie [t=2] (FM2S spread)"]
    assert spread.data.shape == out.data.shape == (1, 48, 48)
    _same_place(spread, out)
    np.testing.assert_allclose(spread.translate, [1.0 + 2 * 2.0, 0, 0])
    expected = _core(w, lazy[2], return_spread=True)[1]
    np.testing.assert_allclose(np.asarray(spread.data[0]), np.asarray(expected), atol=1e-4)

    w.scope_combo.setCurrentText("whole layer")
    _run(w, qtbot)
    out, spread = viewer.layers["movie (FM2S)"], viewer.layers["movie (FM2S spread)"]
    assert spread.data.shape == out.data.shape == stack.shape
    assert type(spread.data) is type(out.data)  # realized as the result is
    _same_place(spread, out)
    expected = _core(w, lazy, axes="TYX", return_spread=True)[1]
    assert isinstance(expected, da.Array)  # lazy in, lazy spread from the core
    np.testing.assert_allclose(np.asarray(spread.data), expected.compute(), atol=1e-4)


def test_paper_mode_greys_the_switch_out_and_keeps_the_setting(qtbot):
    from napari_fm2s._napari.run_panel import RunPanel
    from napari_fm2s._napari.state import WidgetSettings, RunStatus

    s = WidgetSettings(spread=True, mode="paper")
    panel = RunPanel(RunStatus(), s)
    qtbot.addWidget(panel)
    box = panel.spread_check
    assert not box.isEnabled() and not box.isChecked() and "paper mode" in box.toolTip()
    assert s.spread and not s.spread_for()  # kept, but paper mode asks for no spread
    s.mode = "fast"
    assert box.isEnabled() and box.isChecked() and "not a calibrated" in box.toolTip()
    assert s.spread_for() and not s.spread_for(SimpleNamespace(mode="paper"))  # a loaded model
    box.click()
    assert not s.spread and not s.spread_for()


def test_paper_mode_run_adds_only_the_result(viewer, qtbot):
    viewer.add_image(synthetic_cells((64, 64), seed=3)[0], name="cells")
    w = open_widget(viewer)  # paper mode, tiny
    w.state.spread = True
    _run(w, qtbot)
    assert [lay.name for lay in viewer.layers] == ["cells", "cells (FM2S)"]
    assert "spread" not in w.status.text()


def test_spread_switch_survives_a_restart(viewer, make_napari_viewer, private_config):
    w = _fast_widget(viewer)
    w.save()
    assert json.loads(private_config.read_text())["spread"] is True
    again = open_widget(make_napari_viewer(), tiny=False)
    assert again.state.spread and again.run_panel.spread_check.isChecked()
    again.run_panel.spread_check.click()
    again.save()
    assert not open_widget(make_napari_viewer(), tiny=False).state.spread
