"""Axis guesses that could make things worse (issue 14, kind 4): channels last in any dtype,
no guessed plane under 16 px, a warning when a guessed stack looks like channels, and the
axes the CLI used.  Synthetic images only."""

import logging
import pickle

import dask.array as da
import numpy as np
import pytest
import tifffile

from napari_fm2s import denoise
from napari_fm2s.axes import (GuessedAxes, channel_like_stack, check_axes,
                              check_guessed_plane, guess_axes, plane_view)
from napari_fm2s.cli import main
from napari_fm2s.samples import synthetic_cells

from .conftest import FAST

TINY = dict(preset="confocal", mode="paper", **FAST)
CLI_TINY = ["--preset", "confocal", "--mode", "paper", "--samples", "3",
            "--steps-per-sample", "2"]


def psnr(x: np.ndarray, truth: np.ndarray) -> float:
    err = np.mean((np.asarray(x, np.float64) - truth) ** 2)
    return float(10 * np.log10(float(truth.max()) ** 2 / err))


def channels_last(dtype, side: int = 192) -> tuple[np.ndarray, np.ndarray]:
    pairs = [synthetic_cells((side, side), seed=s, dtype=dtype) for s in range(3)]
    return np.stack([p[0] for p in pairs], -1), np.stack([p[1] for p in pairs], -1)


@pytest.mark.parametrize("shape, dtype, rgb, axes", [
    ((192, 192, 3), np.uint16, None, "YXC"),  # was TYX: 192 planes of 192x3
    ((192, 192, 3), np.float32, None, "YXC"),
    ((64, 64, 4), np.int32, None, "YXC"),
    ((5, 64, 64, 3), np.uint16, None, "TYXC"),
    ((64, 64, 3), np.uint8, None, "YXS"),  # uint8 stays RGB
    ((64, 64, 3), np.uint16, True, "YXS"),  # napari's RGB flag
    ((64, 64, 3), np.uint8, False, "YXC"),  # napari says: not RGB
    ((10, 64, 3), np.float32, None, "TYX"),  # not two large axes: no channels (refused)
])
def test_last_axis_of_3_or_4_is_channels_in_any_dtype(shape, dtype, rgb, axes):
    got = guess_axes(shape, dtype, rgb=rgb)
    assert got == axes and isinstance(got, GuessedAxes) and got.rule


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_channels_last_image_is_denoised_per_channel(tmp_path, dtype):
    """Before: guessed TYX, 12.8 dB out of 23.7 dB in (400 fast steps), 3.2x brighter."""
    x, truth = channels_last(dtype)
    if dtype == np.uint16:  # a 16-bit RGB TIFF read as a plain array: no axes with it
        tifffile.imwrite(tmp_path / "rgb.tif", x, photometric="rgb")
        x = tifffile.imread(tmp_path / "rgb.tif")
    out = denoise(x, **TINY)
    assert out.shape == x.shape
    assert psnr(out, truth) > psnr(x, truth) + 1.0
    for c in range(3):  # each channel keeps the input's brightness (its own mapping)
        assert out[..., c].mean() == pytest.approx(x[..., c].mean(), rel=0.2)


@pytest.mark.parametrize("shape", [(5, 300), (300, 5, 3), (10, 64, 3)])
def test_a_guess_never_leaves_a_plane_side_under_16_px(shape):
    strip = np.random.default_rng(0).random(shape).astype(np.float32)
    with pytest.raises(ValueError, match=r"too small.*pass axes=.*axes='.*YX"):
        denoise(strip, **TINY)
    axes = "YX" if len(shape) == 2 else "YXC"  # (300, 5, 3): 3 columns would be a line
    assert denoise(strip, axes=axes, **TINY).shape == shape  # the user's axes still work


def test_guessed_plane_check_spares_given_axes_only():
    check_guessed_plane((5, 300), "YX")  # given: the user's
    with pytest.raises(ValueError, match="from the file"):
        check_guessed_plane((5, 300), GuessedAxes("YX", rule=False))
    with pytest.raises(ValueError, match="--axes YXC"):
        check_guessed_plane((10, 64, 3), guess_axes((10, 64, 3), np.float32))
    with pytest.raises(ValueError, match="is a line"):  # below the window: as before
        denoise(np.random.default_rng(0).random((2, 40)), **TINY)
    _, rest = plane_view((4, 64, 64), guess_axes((4, 64, 64), np.uint16), (1, 0, 0))
    assert isinstance(rest, GuessedAxes) and rest == "YX"
    back = pickle.loads(pickle.dumps(GuessedAxes("QYX", rule=False)))  # to dask workers
    assert back == "QYX" and back.rule is False


def two_planes(ratio: float, offset: float = 0.0) -> np.ndarray:
    a = synthetic_cells((64, 64), seed=4, photons=300, dtype=np.float32)[0]
    b = synthetic_cells((64, 64), seed=5, photons=300, dtype=np.float32)[0]
    return np.stack([a, b / ratio]) + offset


def test_guessed_stack_with_planes_10x_apart_is_channels(caplog, monkeypatch):
    """Two planes 10x apart in brightness, axes guessed: channels, each its own model
    (calibrated apart: two auto calibrations), with a warning; not so for the user's
    axes."""
    import napari_fm2s.pipeline as pipeline

    x = two_planes(10.0, offset=0.1)  # a camera offset: medians alone would not tell
    fits = []
    real = pipeline._train
    monkeypatch.setattr(pipeline, "_train", lambda ch, *a, **k: fits.append(ch.index)
                        or real(ch, *a, **k))
    with caplog.at_level(logging.WARNING, "napari_fm2s"):
        out = denoise(x, **TINY)
    assert out.shape == x.shape and len(fits) == 2
    assert "axis 0 (2 planes) was guessed as a stack (T)" in caplog.text
    assert "treated as channels (CYX)" in caplog.text
    assert "axes='TYX' (CLI: --axes TYX) to share one model" in caplog.text
    caplog.clear()
    fits.clear()
    with caplog.at_level(logging.WARNING, "napari_fm2s"):
        denoise(da.from_array(x, chunks=(1, 64, 64)), **TINY)  # lazy: the same rule
        assert "treated as channels" in caplog.text and len(fits) == 2
        caplog.clear()
        fits.clear()
        denoise(x, axes="TYX", **TINY)  # the user's axes: no second guess
    assert "treated as channels" not in caplog.text and len(fits) == 1
    # a channel axis already: the stack axis is kept, with a warning
    kept = channel_like_stack(np.stack([x, x], axis=1), GuessedAxes("TCYX", True), list)
    assert kept is not None and kept[0] == "TCYX" and "sharing one model" in kept[1]


def test_a_blank_plane_in_a_guessed_stack_is_said(caplog):
    """An empty second channel, axes guessed: kept a stack (a shared model copes and can be
    saved), with a warning naming the axes for channels."""
    x = two_planes(1.0)
    x[1] = 0.0
    with caplog.at_level(logging.WARNING, "napari_fm2s"):
        out = denoise(x, **TINY)
    assert "some of its planes are blank" in caplog.text and "axes='CYX'" in caplog.text
    assert "treated as channels" not in caplog.text and out.shape == x.shape


def test_bleaching_time_lapse_does_not_warn(caplog):
    clean = synthetic_cells((64, 64), seed=2, dtype=np.float32)[1]
    rng = np.random.default_rng(1)
    frames = np.stack([rng.poisson(clean / clean.max() * 50 * 0.5 ** (t / 3)) + 100.0
                       for t in range(4)]).astype(np.float32)  # to 50 % over the stack
    with caplog.at_level(logging.WARNING, "napari_fm2s"):
        denoise(frames, **TINY)
        denoise(two_planes(1.0), **TINY)  # two images of one brightness
    assert "like channels" not in caplog.text


def test_cli_prints_the_axes_it_used(tmp_path, capsys):
    from PIL import Image

    img = synthetic_cells((48, 48))[0]
    Image.fromarray(img).save(tmp_path / "plane.png")  # no axes in a PNG: guessed
    tifffile.imwrite(tmp_path / "stack.tif", np.stack([img, img[::-1]]))  # tifffile: QYX
    for name, extra, line in [
            ("plane.png", [], "axes: YX (guessed; pass --axes to change)"),
            ("stack.tif", [], "axes: QYX (from the file, Q: an axis the file does not name; "
                              "pass --axes to change)"),
            ("stack.tif", ["--axes", "TYX"], "axes: TYX (given)")]:
        assert main(["denoise", str(tmp_path / name), "-o",
                     str(tmp_path / f"out{len(extra)}_{name}.tif"), *CLI_TINY, *extra]) == 0
        err = capsys.readouterr().err
        assert [s for s in err.splitlines() if "axes:" in s] == [f"fm2s: {line}"], err
    assert main(["denoise", str(tmp_path / "stack.tif"), "-o", str(tmp_path / "q.tif"),
                 *CLI_TINY, "-q"]) == 0
    assert "axes:" not in capsys.readouterr().err  # quiet: no progress, no info lines
    tifffile.imwrite(tmp_path / "strip.tif", img[:5])  # a 5x48 plane, axes not given
    assert main(["denoise", str(tmp_path / "strip.tif"), "-o", str(tmp_path / "s.tif"),
                 *CLI_TINY]) == 1
    err = capsys.readouterr().err
    assert "too small" in err and "--axes YX" in err
    assert main(["denoise", str(tmp_path / "strip.tif"), "-o", str(tmp_path / "s.tif"),
                 *CLI_TINY, "--axes", "YX"]) == 0


@pytest.mark.parametrize("shape", [(64, 64), (3, 64, 64), (64, 64, 3), (2, 3, 64, 64),
                                   (2, 3, 2, 64, 64)])
def test_wrong_length_axes_suggest_valid_letters(shape):
    """The example in the error message is itself a valid answer for the shape."""
    with pytest.raises(ValueError, match="one letter per dimension") as e:
        check_axes("Q" * (len(shape) + 1), shape)
    example = str(e.value).rsplit("e.g. ", 1)[1].strip("'")
    assert check_axes(example, shape) == example


def test_axes_for_a_1d_array_say_it_needs_a_plane():
    with pytest.raises(ValueError, match="at least a 2D plane"):
        check_axes("YX", (256,))
    with pytest.raises(ValueError, match="at least a 2D plane"):
        denoise(np.arange(256, dtype=np.float32), axes="YX")


def test_a_saved_model_applies_to_the_stack_it_was_trained_on(tmp_path, caplog):
    """Trained with a guessed stack taken as channels, the model has a network per
    channel; applying it to the same data takes the axis as channels again."""
    x = two_planes(10.0, offset=0.1)
    path = tmp_path / "m.fm2s.safetensors"
    fast = {"mode": "fast", "fast_steps": 3}
    out = denoise(x, save_model=path, **fast)
    with caplog.at_level(logging.WARNING, "napari_fm2s"):
        again = denoise(x, model=path)
    assert "treated as channels" in caplog.text
    np.testing.assert_allclose(again, out, atol=1e-5)
