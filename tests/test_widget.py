"""The napari plugin, driven through a real viewer (pytest-qt under Xvfb)."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("napari")

from napari.utils.notifications import notification_manager  # noqa: E402

from napari_fm2s.presets import get_preset  # noqa: E402
from napari_fm2s.samples import synthetic_cells  # noqa: E402

from .conftest import PLUGIN, open_widget  # noqa: E402

FUNCTION = "FM2S denoise (function)"






def _widget(viewer, qtbot=None, tiny: bool = True):
    return open_widget(viewer, tiny=tiny, preview=True)


def _errors_since(n: int) -> list[str]:
    return [str(r.message) for r in notification_manager.records[n:]
            if r.severity.name.lower() == "error"]


def test_preset_fills_sliders(viewer):
    w = _widget(viewer, tiny=False)
    for name in ("widefield-avg4", "srdtrans", "confocal"):
        w.preset_combo.setCurrentText(name)
        p = get_preset(name)
        assert [w.sliders[k].value() for k in ("k_g", "k_p", "lam_p")] == [p.k_g, p.k_p, p.lam_p]
        assert [w.spins[k].value() for k in ("stride", "filter_size", "channels")] == [
            p.stride, p.filter_size, p.channels]
        assert w.params() == p


def test_slider_move_changes_preview(viewer, qtbot):
    viewer.add_image(synthetic_cells((300, 300), seed=2)[0], name="cells")
    w = _widget(viewer)
    qtbot.waitUntil(lambda: w.last_preview is not None, timeout=10_000)
    first = w.last_preview
    assert first.noisy.shape == first.synthetic.shape == (256, 256)
    w.sliders["k_g"].setValue(1000.0)  # much stronger Gaussian noise
    qtbot.waitUntil(lambda: w.last_preview is not first, timeout=10_000)
    second = w.last_preview
    assert np.array_equal(second.noisy, first.noisy)
    assert np.array_equal(second.target, first.target)
    assert second.noise_synthetic.dim > 2 * first.noise_synthetic.dim
    w.preview.resample_button.click()
    qtbot.waitUntil(lambda: w.last_preview is not second, timeout=10_000)
    assert not np.array_equal(w.last_preview.synthetic, second.synthetic)
    # the preview lives in the widget: no layer added; switching it off hides it
    assert [layer.name for layer in viewer.layers] == ["cells"]
    w.preview.check.setChecked(False)
    assert w.last_preview is None and w.preview.view.isHidden()


def test_preview_follows_the_view(viewer, qtbot):
    viewer.add_image(synthetic_cells((600, 600), seed=2)[0], name="cells", scale=(2, 2))
    w = _widget(viewer)
    qtbot.waitUntil(lambda: w.last_preview is not None, timeout=10_000)
    first = w.last_preview
    assert first.box[0].start == 300 - 128
    getattr(viewer, "scene", viewer).camera.center = (0, 100, 1000)  # world units: data row 50, column 500
    qtbot.waitUntil(lambda: w.last_preview is not first, timeout=10_000)
    rows, cols = w.last_preview.box
    assert (rows.start, cols.stop) == (0, 600)


def test_denoise_adds_layer_with_source_placement(viewer, qtbot):
    data = synthetic_cells((64, 64), seed=3)[0]
    original = data.copy()
    src = viewer.add_image(data, name="cells", scale=(0.5, 2.0), translate=(10.0, -5.0),
                           metadata={"objective": "60x"}, contrast_limits=(10, 200),
                           opacity=0.8)
    w = _widget(viewer)
    w.denoise_button.click()
    assert w.running and not w.denoise_button.isEnabled()
    qtbot.waitUntil(lambda: not w.running, timeout=120_000)
    assert [layer.name for layer in viewer.layers] == ["cells", "cells (FM2S)"]
    out = viewer.layers["cells (FM2S)"]
    assert out.data.shape == data.shape
    np.testing.assert_array_equal(out.scale, src.scale)
    np.testing.assert_array_equal(out.translate, src.translate)
    np.testing.assert_array_equal(out.affine.affine_matrix, src.affine.affine_matrix)
    assert out.metadata == {"objective": "60x"}
    # the source's display (helper 29: a result with its own limits looked dimmer)
    assert tuple(out.contrast_limits) == tuple(src.contrast_limits)
    assert out.opacity == src.opacity
    assert np.array_equal(src.data, original)  # the source is never modified
    assert len(w.loss_plot.losses) == 5 + 3 * 2 and w.denoise_button.isEnabled()


def test_cancel_stops_fast_adds_nothing_and_second_click_starts_nothing(viewer, qtbot,
                                                                        after_cancel):
    viewer.add_image(synthetic_cells((64, 64), seed=3)[0], name="cells")
    w = _widget(viewer)
    w.spins["samples"].setValue(100_000)  # far longer than the test
    w.denoise_button.click()
    event, bar = w.runner._cancel, w.runner._bar
    qtbot.waitUntil(lambda: len(w.loss_plot.losses) > 3, timeout=60_000)
    # napari's progress bar: steps of the real total, and the time left
    assert bar.total == 5 + 100_000 * 2 and 0 < bar.n < bar.total
    assert "<" in str(bar).split("|")[-1]  # tqdm's [elapsed<remaining]
    w.start_denoise()  # a second start while running: ignored
    w.denoise_button.click()  # disabled: ignored
    assert w.runner._cancel is event
    after_cancel.event = event
    w.cancel_button.click()
    assert event.is_set()
    qtbot.waitUntil(lambda: not w.running, timeout=60_000)
    assert after_cancel.after <= 1  # the core stops at its next step
    assert [layer.name for layer in viewer.layers] == ["cells"]
    assert w.denoise_button.isEnabled() and not w.cancel_button.isEnabled()
    assert "cancelled" in w.status.text(), w.status.text()
    assert not w.loss_plot.losses  # nothing stale
    # usable again: a normal run now completes
    w.spins["samples"].setValue(3)
    w.denoise_button.click()
    qtbot.waitUntil(lambda: not w.running, timeout=120_000)
    assert [layer.name for layer in viewer.layers] == ["cells", "cells (FM2S)"]



@pytest.mark.parametrize("kind", ["rgb", "constant"])
def test_unsuitable_layer_gives_notification(viewer, qtbot, kind):
    if kind == "rgb":
        viewer.add_image(np.random.default_rng(0).integers(0, 255, (32, 32, 3), np.uint8),
                         name="bad", rgb=True)
    else:
        viewer.add_image(np.full((32, 32), 7, np.uint16), name="bad")
    w = _widget(viewer)
    n = len(notification_manager.records)
    w.denoise_button.click()
    qtbot.waitUntil(lambda: not w.running and bool(_errors_since(n)), timeout=30_000)
    message = _errors_since(n)[0]
    assert "bad" in message and ("RGB" in message if kind == "rgb" else "constant" in message)
    assert [layer.name for layer in viewer.layers] == ["bad"]
    assert w.denoise_button.isEnabled()
    if kind == "rgb":
        qtbot.waitUntil(lambda: "RGB" in w.preview.view.status.text(), timeout=5_000)


def test_bad_setting_gives_notification(viewer, qtbot):
    viewer.add_image(synthetic_cells((64, 64), seed=3)[0], name="cells")
    w = _widget(viewer)
    w.spins["filter_size"].setValue(4)  # even: refused by resolve_params
    n = len(notification_manager.records)
    w.denoise_button.click()
    assert not w.running and "odd" in _errors_since(n)[0]
    qtbot.waitUntil(lambda: "odd" in w.preview.view.status.text(), timeout=5_000)


def test_settings_remembered_between_sessions(viewer, make_napari_viewer, private_config):
    w = _widget(viewer, tiny=False)
    w.preset_combo.setCurrentText("twophoton-avg2")
    w.sliders["k_g"].setValue(123.4)
    w.save()
    saved = json.loads(private_config.read_text())
    assert saved["preset"] == "custom" and saved["base"] == "twophoton-avg2"
    assert saved["k_g"] == 123.4
    again = _widget(make_napari_viewer(), tiny=False)
    assert again.preset_combo.currentText() == "custom"
    assert again.sliders["k_g"].value() == 123.4
    assert again.sliders["k_p"].value() == get_preset("twophoton-avg2").k_p


def test_every_setting_is_remembered(viewer, make_napari_viewer, private_config):
    w = _widget(viewer, tiny=False)
    w.mode_combo.setCurrentText("fast")
    w.spins["fast_steps"].setValue(777)
    w.spins["corr"].setValue(0.35)
    w.spins["seed"].setValue(2**40 + 1)  # beyond a Qt spin box's 2**31 - 1
    w.save()
    again = _widget(make_napari_viewer(), tiny=False)
    assert again.params() == w.params()
    assert again.params().seed == 2**40 + 1 and again.params().fast_steps == 777
    assert again.mode_combo.currentText() == "fast"


def test_controls_come_from_the_parameter_table_and_follow_the_mode(viewer):
    from napari_fm2s.params import PARAMS

    w = _widget(viewer, tiny=False)
    assert set(w.controls.widgets) == {row.name for row in PARAMS}
    w.mode_combo.setCurrentText("fast")
    assert w.state.mode == "fast"  # the controls write the evented settings
    assert not w.spins["fast_steps"].isHidden() and w.spins["samples"].isHidden()
    w.mode_combo.setCurrentText("paper")
    assert w.spins["fast_steps"].isHidden() and not w.spins["samples"].isHidden()
    w.spins["fast_steps"].setValue(1234)
    assert w.params().fast_steps == 1234 and w.state.params["fast_steps"] == 1234
    assert w.state.preset == "custom"


def test_the_image_box_follows_a_newly_opened_image(viewer):
    viewer.add_image(synthetic_cells((64, 64), seed=1)[0], name="first")
    w = _widget(viewer, tiny=False)
    assert w.layer().name == "first"
    viewer.add_image(synthetic_cells((64, 64), seed=2)[0], name="second")
    assert w.layer().name == "second" and w.layer_combo.currentText() == "second"
    viewer.add_points(np.zeros((1, 2)))  # not an image: the pick stays
    assert w.layer().name == "second"


def test_the_dock_fits_a_laptop_screen(viewer):
    w = _widget(viewer, tiny=False)
    assert w.minimumSizeHint().width() <= 420 and w.minimumWidth() <= 420
    assert w.sizeHint().width() <= 420


def test_residual_is_input_minus_result_on_a_diverging_map(viewer, qtbot):
    src = viewer.add_image(synthetic_cells((64, 64), seed=3)[0], name="cells")
    w = _widget(viewer)
    assert not w.run_panel.residual_button.isEnabled()
    w.denoise_button.click()
    qtbot.waitUntil(lambda: not w.running, timeout=120_000)
    assert w.run_status.phase == "done"
    w.run_panel.residual_button.click()
    res = viewer.layers["cells (FM2S) residual"]
    assert w.layer() is src  # the Image box does not follow our own layers
    out = viewer.layers["cells (FM2S)"].data
    np.testing.assert_allclose(res.data, src.data.astype(np.float32) - out, atol=1e-4)
    lo, hi = res.contrast_limits
    assert lo == -hi and hi > 0 and res.colormap.name == "fm2s residual"
    w.run_panel.residual_button.click()  # toggles it off
    assert "cells (FM2S) residual" not in viewer.layers


def test_preset_box_says_custom_after_a_hand_edit(viewer):
    w = _widget(viewer, tiny=False)
    w.preset_combo.setCurrentText("twophoton")
    w.sliders["k_g"].setValue(123.0)
    assert w.preset_combo.currentText() == "custom"
    p = w.params()
    assert p.k_g == 123.0 and p.k_p == get_preset("twophoton").k_p
    w.preset_combo.setCurrentText("widefield")  # a preset again: its values
    assert w.params() == get_preset("widefield")


def test_manifest_menu_sample_and_function(viewer, qtbot):
    from napari._app_model import get_app_model

    items = get_app_model().menus.get_menu("napari/layers/filter")
    assert any(getattr(i, "command", None) and i.command.id.startswith("napari-fm2s")
               for i in items)
    viewer.open_sample(PLUGIN, "cells")
    names = [layer.name for layer in viewer.layers]
    assert names == ["cells (clean truth)", "cells (noisy)"]
    noisy = viewer.layers["cells (noisy)"].data
    assert noisy.dtype == np.uint8 and noisy.shape == (512, 512)
    clean = viewer.layers["cells (clean truth)"].data  # no filaments piled up on the border
    edges = [clean[0], clean[-1], clean[:, 0], clean[:, -1]]
    assert max(e.mean() for e in edges) < 2 * clean.mean()
    _, fn_widget = viewer.window.add_plugin_dock_widget(PLUGIN, FUNCTION)
    assert fn_widget.preset.value == "auto"  # as denoise(image)
    assert "widefield-avg16" in fn_widget.preset.choices


def test_function_contribution_is_denoise():
    from napari_fm2s import denoise
    from napari_fm2s._napari.functions import fm2s_denoise

    img = synthetic_cells((32, 32), seed=4)[0]
    fast = {"mode": "paper", "samples": 2}
    out = fm2s_denoise(img, "twophoton", k_p=50.0, seed=5, **fast)
    assert out.shape == img.shape and out.dtype == np.float32
    same = denoise(img, "twophoton", k_p=50.0, seed=5, steps_per_sample=5, **fast)
    np.testing.assert_allclose(out, same, rtol=1e-5, atol=1e-5)
    other = fm2s_denoise(img, "twophoton", k_p=5.0, seed=5, **fast)
    assert not np.allclose(out, other)


def test_function_contribution_takes_axes():
    """A 5D array cannot be guessed: the napari function takes its axes like denoise()."""
    from napari_fm2s._napari.functions import fm2s_denoise

    stack = np.stack([synthetic_cells((32, 32), seed=s)[0] for s in range(8)])
    stack = stack.reshape(2, 2, 2, 32, 32)
    with pytest.raises(ValueError, match="axes"):
        fm2s_denoise(stack, fast_steps=5)
    out = fm2s_denoise(stack, axes="TZCYX", fast_steps=5)
    assert out.shape == stack.shape


def test_the_activity_panels_cancel_is_the_same_route(viewer, qtbot, after_cancel):
    """napari's progress bar cancel button sets the run's one cancel event."""
    viewer.add_image(synthetic_cells((64, 64), seed=3)[0], name="cells")
    w = _widget(viewer)
    w.spins["samples"].setValue(100_000)
    w.denoise_button.click()
    qtbot.waitUntil(lambda: len(w.loss_plot.losses) > 3, timeout=60_000)
    after_cancel.event = w.runner._cancel
    w.runner._bar.cancel()  # what the activity panel's cancel button calls
    assert after_cancel.event.is_set()
    qtbot.waitUntil(lambda: not w.running, timeout=60_000)
    assert after_cancel.after <= 1
    assert [layer.name for layer in viewer.layers] == ["cells"]
