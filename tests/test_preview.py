"""The live noise preview's core: exact window maths, panels, noise comparison."""

import numpy as np
import pytest
import torch

from napari_fm2s.intensity import to_unit
from napari_fm2s.noise import inject, median_target, region_means
from napari_fm2s.presets import get_preset
from napari_fm2s.preview import NoisePreview, crop_box, one_torch_thread
from napari_fm2s.samples import synthetic_cells


@pytest.fixture(scope="module")
def cells() -> np.ndarray:
    return synthetic_cells((300, 340), seed=5)[0]  # not a multiple of any stride


def test_crop_box_stays_inside_and_follows_center():
    assert crop_box((512, 600)) == (slice(128, 384), slice(172, 428))
    assert crop_box((512, 600), (0, 590)) == (slice(0, 256), slice(344, 600))
    assert crop_box((512, 600), (300.4, 200.6)) == (slice(172, 428), slice(73, 329))
    assert crop_box((100, 40), (10, 10)) == (slice(0, 100), slice(0, 40))
    assert crop_box((512, 512), (np.nan, 100)) == (slice(128, 384), slice(0, 256))


@pytest.mark.parametrize("preset", ["confocal", "widefield", "srdtrans"])
@pytest.mark.parametrize("center", [None, (0, 0), (299, 339), (150, 40)])
def test_crop_sees_whole_image_target_and_region_grid(cells, preset, center):
    """The window computation gives exactly what training computes on the whole image."""
    p = get_preset(preset)
    preview = NoisePreview(cells, size=128)
    panels = preview.render(p, center)
    raw, imap = to_unit(cells)
    target = median_target(raw, p.filter_size)
    means = region_means(torch.from_numpy(target)[None, None], p.stride)[0, 0].numpy()
    box = panels.box
    _, crop_target, crop_means = preview._target(box, p)
    np.testing.assert_array_equal(crop_target.numpy(), target[box])
    np.testing.assert_array_equal(crop_means.numpy(), means[box])
    np.testing.assert_array_equal(panels.noisy, cells[box].astype(np.float32))  # input units
    np.testing.assert_allclose(panels.target, imap.from_unit(target[box]), rtol=1e-6)


def test_sliders_change_only_the_synthetic_panel(cells):
    p = get_preset("confocal")
    preview = NoisePreview(cells)
    a = preview.render(p, draw=0)
    b = preview.render(p.with_overrides(k_g=1000.0), draw=0)
    assert np.array_equal(a.noisy, b.noisy) and np.array_equal(a.target, b.target)
    assert a.limits == b.limits
    assert b.noise_synthetic.dim > 2 * a.noise_synthetic.dim
    np.testing.assert_array_equal(preview.render(p, draw=0).synthetic, a.synthetic)
    assert not np.array_equal(preview.render(p, draw=1).synthetic, a.synthetic)


def test_noise_ratio_near_one_when_sliders_match_the_noise():
    """An image made by inject() with known parameters: those parameters match it."""
    clean = synthetic_cells((384, 384), seed=6)[1] / 255.0
    truth = dict(k_g=60.0, k_p=40.0, lam_p=125.0)
    x = torch.from_numpy(clean.astype(np.float32))[None, None]
    noisy = inject(x, stride=75, generator=torch.Generator().manual_seed(0), **truth)[0, 0]
    image = (noisy.numpy() * 255).astype(np.float32)
    image[0, :2] = 255.0  # pins the float intensity scale to the 8-bit one (two pixels:
    # the robust range rule ignores a lone one, as it would a hot pixel)
    p = get_preset("confocal").with_overrides(**truth)
    ratio = NoisePreview(image).render(p).noise_ratio
    assert 0.8 < ratio.dim < 1.25 and 0.8 < ratio.bright < 1.25
    weak = NoisePreview(image).render(p.with_overrides(lam_p=5000.0, k_g=5.0)).noise_ratio
    assert weak.dim < 0.7 and weak.bright < 0.7


def test_unsuitable_image_is_refused():
    with pytest.raises(ValueError, match="constant"):
        NoisePreview(np.full((64, 64), 3, np.uint16))
    with pytest.raises(ValueError):
        NoisePreview(np.zeros((4, 64, 64), np.float32) + np.arange(4)[:, None, None])


def test_one_torch_thread_restores_the_count():
    before = torch.get_num_threads()
    with one_torch_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_slider_hint_names_the_slider_to_move():
    from napari_fm2s.preview import NoiseLevel, slider_hint

    assert "plausible" in slider_hint(NoiseLevel(1.2, 0.9))
    weak_dim = slider_hint(NoiseLevel(0.5, 1.0))
    assert "dim" in weak_dim and "raise k_g" in weak_dim and "bright" not in weak_dim
    loud_bright = slider_hint(NoiseLevel(1.0, 5.0))
    assert "bright" in loud_bright and "raise λp" in loud_bright
    # helper 29: λp already off (at its top) and k_p too: only k_g can lower it
    off = get_preset("confocal").with_overrides(k_g=300.0, k_p=1e7, lam_p=1e7)
    assert slider_hint(NoiseLevel(1.0, 5.0), off).endswith("bright areas: lower k_g.")
    none = off.with_overrides(k_g=0.0)
    assert "no slider can move it further" in slider_hint(NoiseLevel(1.0, 5.0), none)
