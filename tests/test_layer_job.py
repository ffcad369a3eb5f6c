"""Result layers (issue 14, kind 6): contrast limits of the whole result, placement of a
plane in view through the layer's full transform.  Layers only: no viewer, no Qt."""

import dask.array as da
import numpy as np
import pytest
from napari.layers import Image

from napari_fm2s._napari.layer_job import contrast_limits, layer_job, place


def _properties(layer: Image) -> dict:
    return {"scale": layer.scale, "translate": layer.translate, "rotate": layer.rotate,
            "shear": layer.shear, "affine": layer.affine.affine_matrix}


@pytest.mark.parametrize("transform", [
    {"scale": (2.0, 0.5, 0.7)},
    {"rotate": (30.0, 20.0, 10.0), "translate": (1.0, -4.0, 2.0)},
    {"scale": (3.0, 1.0, 1.5), "rotate": (45.0, 0.0, 60.0), "shear": (0.2, -0.1, 0.3),
     "translate": (5.0, 1.0, -2.0),
     "affine": np.array([[1, 0, 0, 1], [0, 0.8, 0.6, 0], [0, -0.6, 0.8, 2], [0, 0, 0, 1.0]])},
])
def test_plane_in_view_lies_on_its_plane(transform):
    src = Image(np.random.default_rng(0).random((6, 20, 30)), **transform)
    k = 4
    point = src.data_to_world((k, 10, 15))
    job = layer_job(src, point, plane_only=True)
    assert job.cut == [0] and job.index[0] == k
    result, props = place(np.asarray(job.image, np.float32), job, _properties(src))
    out = Image(result, **props)
    for y, x in [(0, 0), (19, 0), (0, 29), (7, 13)]:
        assert np.allclose(out.data_to_world((0, y, x)), src.data_to_world((k, y, x)), atol=1e-9)


def test_contrast_limits_come_from_the_whole_stack():
    rng = np.random.default_rng(1)
    stack = rng.normal(1000.0, 50.0, (10, 64, 64)).astype(np.float32)
    stack[0] = rng.normal(100.0, 5.0, (64, 64))  # a dim first plane
    lo, hi = contrast_limits(stack)
    saturated = np.mean(stack[1:] > hi)
    assert saturated < 0.005  # first plane only: hi ~115, every other pixel saturated
    assert lo < 120 and hi > 1100


def test_contrast_limits_of_a_lazy_stack_sample_its_planes():
    rng = np.random.default_rng(2)
    stack = rng.normal(1000.0, 50.0, (40, 64, 64)).astype(np.float32)
    stack[0] = 100.0
    lazy = da.from_array(stack, chunks=(1, 64, 64))
    lo, hi = contrast_limits(lazy)
    assert np.mean(stack[1:] > hi) < 0.005 and hi > 1100 and lo < 1000


@pytest.mark.parametrize("shape, labels, name", [
    ((6, 20, 30), None, "s [plane 4] (FM2S)"),  # unlabelled: guessed TYX, letter not shown
    ((1, 6, 20, 30), None, "s [plane 4] (FM2S)"),  # ... nor a length-1 axis
    ((6, 20, 30), ("z", "y", "x"), "s [z=4] (FM2S)"),  # as the sliders name it
    ((6, 20, 30), ("Z", "Y", "X"), "s [Z=4] (FM2S)"),
])
def test_plane_in_view_is_named_by_the_layers_axes(shape, labels, name):
    kw = {} if labels is None else {"axis_labels": labels}
    src = Image(np.zeros(shape, np.float32), name="s", **kw)
    point = src.data_to_world((0,) * (len(shape) - 3) + (4, 0, 0))
    assert layer_job(src, point, plane_only=True).name == name
