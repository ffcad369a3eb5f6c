import numpy as np
import pytest

from napari_fm2s.intensity import intensity_map, to_unit


@pytest.mark.parametrize("arr, scale, offset", [
    (np.array([[0, 17, 255]], np.uint8), 255, 0),
    (np.array([[100, 2000, 4095]], np.uint16), 4095, 0),  # 12-bit camera in uint16
    (np.array([[0, 60000]], np.uint16), 65535, 0),
    (np.array([[3, 200]], np.uint16), 255, 0),  # 8-bit data stored in 16 bits
    (np.array([[-300, 500]], np.int16), 1023, -300),
    (np.array([[0, 70000]], np.int32), 2**17 - 1, 0),
    (np.array([[0.0, 0.5, 1.0]], np.float32), 1.0, 0),
    (np.array([[-0.2, 3.0]], np.float64), 3.2, -0.2),  # background-subtracted
])
def test_mapping_and_round_trip(arr, scale, offset):
    unit, m = to_unit(arr)
    assert np.isclose(m.scale, scale) and np.isclose(m.offset, offset)
    assert unit.dtype == np.float32
    assert unit.min() >= 0 and unit.max() <= 1
    back = m.from_unit(unit)
    assert back.dtype == np.float32
    assert np.allclose(back, arr, rtol=1e-6, atol=1e-6 * max(1.0, float(np.abs(arr).max())))


def test_uint8_is_paper_scale():
    arr = np.arange(256, dtype=np.uint8).reshape(16, 16)
    unit, _ = to_unit(arr)
    assert np.allclose(unit, arr / 255.0)


def test_float_all_zero_rejected():
    with pytest.raises(ValueError, match="all zeros"):
        intensity_map(np.zeros((4, 4), np.float32))
