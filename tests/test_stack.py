"""nD stacks, channels, RGB, lazy (dask / zarr) input, and the batch CLI on folders."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import tifffile
import zarr

from napari_fm2s import denoise
from napari_fm2s import lazy as lazy_mod
from napari_fm2s.batch import Settings, denoise_file
from napari_fm2s.batch_plan import find_inputs, output_path
from napari_fm2s.cli import main
from napari_fm2s.io import open_image
from napari_fm2s.zarr_out import write_zarr_atomic
from napari_fm2s.tiff_out import write_tiff_atomic
from napari_fm2s.samples import synthetic_cells
from napari_fm2s.axes import check_axes, guess_axes, plane_view
from napari_fm2s.pipeline import plane_subset, train_windows
from napari_fm2s.training import FastSchedule

from .conftest import FAST

TINY = dict(preset="confocal", mode="paper", **FAST)  # pipeline properties, not auto
CLI_TINY = ["--preset", "confocal", "--mode", "paper", "--samples", "3",
            "--steps-per-sample", "2", "-q"]


def cells(n: int, shape=(48, 40), dtype=np.uint8) -> np.ndarray:
    return np.stack([synthetic_cells(shape, seed=s, dtype=dtype)[0] for s in range(n)])


# ---------------------------------------------------------------- axes


@pytest.mark.parametrize("shape, dtype, axes", [
    ((64, 64), np.uint8, "YX"),
    ((5, 64, 64), np.uint16, "TYX"),
    ((3, 4, 64, 64), np.float32, "TZYX"),
    ((64, 64, 3), np.uint8, "YXS"),
    ((64, 64, 4), np.uint8, "YXS"),
    ((2, 64, 64, 3), np.uint8, "TYXS"),
    ((64, 64, 3), np.uint16, "YXC"),  # channels; only uint8 is taken for RGB
    ((1, 64, 64, 1), np.uint8, "QYXQ"),
    ((1, 7, 64, 64), np.uint16, "QTYX"),
])
def test_guess_axes_rule(shape, dtype, axes):
    assert guess_axes(shape, dtype) == axes


def test_guess_axes_from_labels_and_errors():
    assert guess_axes((3, 2, 64, 64), np.uint16, labels="ZCYX") == "ZCYX"
    assert guess_axes((3, 64, 64), np.uint16, labels=["t", "y", "x"]) == "TYX"
    assert guess_axes((3, 64, 64), np.uint16, labels=["Time", "Y", "X"]) == "TYX"
    assert guess_axes((3, 64, 64), np.uint16, labels=list("QYX")) == "QYX"  # tifffile
    # napari's default labels say nothing: the rule decides
    assert guess_axes((3, 64, 64), np.uint16, labels=["axis -3", "axis -2", "axis -1"]) == "TYX"
    assert guess_axes((2, 64, 64, 3), np.float32, rgb=True) == "TYXS"
    with pytest.raises(ValueError, match="cannot guess the axes"):
        guess_axes((2, 3, 4, 64, 64), np.uint16)
    with pytest.raises(ValueError, match="one letter per dimension"):
        check_axes("YX", (3, 64, 64))
    with pytest.raises(ValueError, match="must contain Y and X"):
        check_axes("TZX", (3, 4, 64))
    with pytest.raises(ValueError, match="more than once"):
        check_axes("TTYX", (2, 2, 8, 8))
    with pytest.raises(ValueError, match="is a line"):
        denoise(np.zeros((64, 2, 64), np.uint8), axes="YXT")


def test_2d_unchanged_through_the_stack_path(noisy_small):
    assert np.array_equal(denoise(noisy_small, **TINY), denoise(noisy_small, axes="YX", **TINY))


def test_tyx_shared_model_trains_once_and_keeps_input():
    x = cells(3, dtype=np.uint16)
    before = x.copy()
    calls = []
    out = denoise(x, axes="TYX", progress=lambda s, t, l: calls.append((s, t)), **TINY)
    assert out.shape == x.shape and out.dtype == np.float32
    assert np.array_equal(x, before)
    steps = 5 + FAST["samples"] * FAST["steps_per_sample"]
    assert [c[0] for c in calls] == list(range(1, steps + 1))  # one fit for the stack
    for t in range(3):
        assert abs(out[t].mean() - x[t].mean()) < 0.15 * x[t].mean()


def test_per_plane_auto_calibrates_each_plane_alone(caplog):
    # planes of different brightness get intensity maps of different scales: calibrated
    # pooled on the first plane's scale, the gain read was a mixture (helper 31's EMCCD
    # stack: 87.65 for 10 planes of 420-460 each, the result below a Gaussian blur)
    x = cells(2, dtype=np.uint16)
    x[1] = x[1] * 12 + 300
    caplog.set_level("INFO", logger="napari_fm2s")
    out = denoise(x, axes="TYX", per_plane=True, fast_steps=10)
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("auto")]
    assert [m.split(":")[0] for m in said] == ["auto (plane T=0)", "auto (plane T=1)"]
    for t in range(2):
        assert np.array_equal(out[t], denoise(x[t], fast_steps=10))


def test_stacks_default_to_fast_mode():
    calls = []
    denoise(cells(2), progress=lambda s, t, l: calls.append(t), **FAST)
    assert calls == [FastSchedule().warmup_steps + FAST["fast_steps"]] * len(calls)
    assert len(calls) == calls[0]  # one fit for the stack, on the fast schedule


def test_per_plane_equals_denoising_each_plane():
    x = cells(3)
    calls = []
    out = denoise(x, per_plane=True, progress=lambda s, t, l: calls.append((s, t)), **TINY)
    for t in range(3):
        assert np.array_equal(out[t], denoise(x[t], **TINY))
    steps = 5 + FAST["samples"] * FAST["steps_per_sample"]
    assert [c[0] for c in calls] == list(range(1, 3 * steps + 1))
    assert {c[1] for c in calls} == {3 * steps}


def test_zcyx_channels_have_their_own_model_and_mapping():
    x = cells(4, dtype=np.uint16).reshape(2, 2, 48, 40)  # Z=2, C=2
    x[:, 1] //= 8  # a dimmer channel: its own intensity mapping
    out = denoise(x, axes="ZCYX", **TINY)
    for c in range(2):
        assert np.array_equal(out[:, c], denoise(x[:, c], axes="ZYX", **TINY))
    # C moved elsewhere gives the same numbers
    moved = denoise(np.moveaxis(x, 1, -1), axes="ZYXC", **TINY)
    assert np.array_equal(np.moveaxis(moved, -1, 1), out)


def test_rgba_per_colour_alpha_untouched():
    x = cells(3)
    alpha = np.random.default_rng(0).integers(0, 256, x.shape[1:], dtype=np.uint8)
    rgba = np.stack([x[0], x[1], x[2], alpha], axis=-1)
    out = denoise(rgba, **TINY)  # guessed YXS
    assert out.shape == rgba.shape
    assert np.array_equal(out[..., 3], alpha.astype(np.float32))
    for c in range(3):
        assert np.array_equal(out[..., c], denoise(rgba[..., c], **TINY))


def test_shared_mapping_spans_the_stack_and_bad_planes_are_named():
    x = cells(2, dtype=np.uint16)
    x[1] = 0  # a blank frame: fine for a shared model, not for its own
    assert np.isfinite(denoise(x, axes="TYX", **TINY)).all()
    with pytest.raises(ValueError, match="plane T=1 is constant"):
        denoise(x, axes="TYX", per_plane=True, **TINY)
    f = cells(4).astype(np.float32).reshape(2, 2, 48, 40)
    f[1, 1, 3, 3] = np.inf  # NaN pixels are missing (test_robust), infinite ones refused
    with pytest.raises(ValueError, match=r"channel C=1\) contains NaN or infinite"):
        denoise(f, axes="TCYX", **TINY)


def test_training_subset_and_windows():
    assert plane_subset(5) == [0, 1, 2, 3, 4]
    sub = plane_subset(100)
    assert len(sub) == 8 and sub[0] == 0 and sub[-1] == 99
    assert train_windows(2, 100, 100, 3, budget=10**6) == [(slice(0, 100), slice(0, 100))] * 2
    wins = train_windows(8, 2048, 2048, 3, budget=4096 * 4096)
    assert sum((w[0].stop - w[0].start) * (w[1].stop - w[1].start) for w in wins) <= 4096**2
    assert all(0 <= w[0].start and w[0].stop <= 2048 for w in wins)
    assert len({w[0].start for w in wins}) == 8  # spread through the field of view


def test_plane_view_for_the_widget():
    """The widget's "plane in view": plane_view's index, then the one pipeline."""
    x = cells(3)
    index, rest = plane_view(x.shape, "TYX", (1, 0, 0))
    assert rest == "YX"
    assert np.array_equal(denoise(x[index], axes=rest, **TINY), denoise(x[1], **TINY))
    rgb = np.stack([cells(3)] * 3, axis=-1)  # T, Y, X, S
    index, rest = plane_view(rgb.shape, "TYXS", (2, 0, 0))  # napari: no S in step
    plane = denoise(rgb[index], axes=rest, **TINY)
    assert plane.shape == (48, 40, 3)
    assert np.array_equal(plane, denoise(rgb, per_plane=True, **TINY)[2])
    with pytest.raises(ValueError, match="outside axis T"):
        plane_view(x.shape, "TYX", (5, 0, 0))


# ---------------------------------------------------------------- lazy input


@pytest.fixture
def small_chunks(monkeypatch):
    """Keep the input's small chunks, so map_overlap really works across many blocks."""
    monkeypatch.setattr(lazy_mod, "MIN_CHUNK", 1)


@pytest.mark.parametrize("per_plane, mode", [(False, "paper"), (True, "paper"),
                                             (False, None)])  # None: fast, the stack default
def test_dask_input_equals_numpy_input(small_chunks, per_plane, mode):
    x = cells(3, shape=(70, 61), dtype=np.uint16)
    kw = dict(FAST, mode=mode, axes="TYX", per_plane=per_plane)
    ref = denoise(x, **kw)
    lazy = denoise(da.from_array(x, chunks=(2, 17, 23)), **kw)
    assert isinstance(lazy, da.Array)
    got = lazy.compute()
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5 * 65535)
    # the border blocks are not padded: the image edges match exactly the in-memory ones
    np.testing.assert_allclose(got[:, :, 0], ref[:, :, 0], rtol=0, atol=1e-5 * 65535)


def test_a_lazy_run_logs_one_guard_line(small_chunks, caplog):
    """A zarr input logged the guard's line once per chunk (4 per 512 px plane)."""
    import logging

    x = cells(3, shape=(70, 61), dtype=np.uint16)
    with caplog.at_level(logging.DEBUG, logger="napari_fm2s"):
        denoise(da.from_array(x, chunks=(1, 35, 31)), **FAST, axes="TYX").compute()
    lines = [r for r in caplog.records if "do-no-harm guard" in r.getMessage()]
    info = [r.getMessage() for r in lines if r.levelno == logging.INFO]
    assert len(lines) > 1 and len(info) == 1 and "of the first chunk" in info[0]


@pytest.mark.slow
def test_zarr_rgb_and_channels_equal_numpy(small_chunks, tmp_path):
    x = cells(4, shape=(40, 36)).reshape(2, 2, 40, 36)  # T, C
    z = zarr.open_array(str(tmp_path / "x.zarr"), mode="w", shape=x.shape, chunks=(1, 1, 20, 20),
                        dtype=x.dtype)
    z[:] = x
    got = denoise(z, axes="TCYX", **TINY)
    assert isinstance(got, da.Array)
    np.testing.assert_allclose(got.compute(), denoise(x, axes="TCYX", **TINY), atol=1e-5 * 255)
    rgba = np.stack(list(cells(4)), -1)  # YXS, S=4: the 4th is alpha
    got = denoise(da.from_array(rgba, chunks=(16, 16, 4)), **TINY).compute()
    np.testing.assert_allclose(got, denoise(rgba, **TINY), atol=1e-5 * 255)
    assert np.array_equal(got[..., 3], rgba[..., 3])


# ---------------------------------------------------------------- files


def test_lazy_tiff_and_ome_zarr_round_trip(tmp_path, small_chunks):
    x = cells(3, dtype=np.uint16)
    tifffile.imwrite(tmp_path / "s.tif", x, photometric="minisblack",
                     metadata={"axes": "TYX"})
    s = Settings(mode="paper", overrides=dict(FAST))
    denoise_file(tmp_path / "s.tif", tmp_path / "mem.tif", s)
    lazy = Settings(mode="paper", overrides=dict(FAST), lazy_bytes=0)
    opened = open_image(tmp_path / "s.tif", lazy_bytes=0)
    assert opened.lazy and opened.labels == list("TYX")
    opened.close()
    denoise_file(tmp_path / "s.tif", tmp_path / "lazy.tif", lazy)
    a, b = tifffile.imread(tmp_path / "mem.tif"), tifffile.imread(tmp_path / "lazy.tif")
    np.testing.assert_allclose(a, b, atol=1e-5 * 65535)
    with tifffile.TiffFile(tmp_path / "lazy.tif") as tf:
        assert tf.series[0].axes == "TYX"

    # OME-Zarr (0.4, zarr v2) in, OME-Zarr out with the same axes and scale
    v2 = {"zarr_format": 2} if int(zarr.__version__.split(".")[0]) >= 3 else {}
    g = zarr.open_group(str(tmp_path / "in.ome.zarr"), mode="w", **v2)
    zarr.open_array(str(tmp_path / "in.ome.zarr"), path="0", mode="w", shape=x.shape,
                    chunks=(1, 24, 24), dtype=x.dtype, **v2)[:] = x
    ms = {"version": "0.4", "axes": [{"name": "t", "type": "time"},
                                     {"name": "y", "type": "space"},
                                     {"name": "x", "type": "space"}],
          "datasets": [{"path": "0", "coordinateTransformations":
                        [{"type": "scale", "scale": [1.0, 0.2, 0.2]}]}]}
    g.attrs["multiscales"] = [ms]
    out = output_path(tmp_path / "in.ome.zarr", tmp_path / "res", True)
    assert out.name == "in_fm2s.ome.zarr"
    (tmp_path / "res").mkdir()
    denoise_file(tmp_path / "in.ome.zarr", out, s)
    og = zarr.open_group(str(out), mode="r")
    oms = og.attrs["multiscales"][0]
    assert [a["name"] for a in oms["axes"]] == ["t", "y", "x"]
    assert oms["datasets"][0]["coordinateTransformations"][0]["scale"] == [1.0, 0.2, 0.2]
    np.testing.assert_allclose(og["0"][:], a, atol=1e-5 * 65535)
    assert og["0"].chunks == (1, 24, 24)  # the input's chunks (they became whole planes)


class _Boom(Exception):
    pass


@pytest.mark.parametrize("fmt", ["tif", "zarr"])
@pytest.mark.parametrize("exc", [_Boom, KeyboardInterrupt])
def test_writers_leave_nothing_when_interrupted(tmp_path, fmt, exc):
    def plane(block, block_info=None):
        if block_info[0]["chunk-location"][0] == 2:
            raise exc("stop")
        return block.astype(np.float32)

    data = da.from_array(np.ones((4, 16, 16), np.float32), chunks=(1, 16, 16))
    data = data.map_blocks(plane, dtype=np.float32)
    path = tmp_path / f"out.{fmt}"
    with pytest.raises(exc):
        if fmt == "tif":
            write_tiff_atomic(path, data, axes="TYX", scheduler="sync")
        else:
            write_zarr_atomic(path, data, scheduler="sync")
    assert os.listdir(tmp_path) == []


def _folder(tmp_path: Path, n: int = 3, shape=(48, 40)) -> Path:
    src = tmp_path / "in"
    src.mkdir()
    for i in range(n):
        tifffile.imwrite(src / f"img{i}.tif", synthetic_cells(shape, seed=i)[0])
    return src


def test_batch_resume_skips_finished_files(tmp_path, capsys):
    src = _folder(tmp_path)
    out = tmp_path / "out"
    assert main(["denoise", str(src), "-o", str(out), *CLI_TINY]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["img0_fm2s.tif", "img1_fm2s.tif", "img2_fm2s.tif"]
    stamp = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    first = tifffile.imread(out / "img1_fm2s.tif")
    (out / "img1_fm2s.tif").unlink()
    time.sleep(0.01)
    capsys.readouterr()
    assert main(["denoise", str(src / "*.tif"), "-o", str(out), "--preset", "confocal",
                 "--mode", "paper", "--samples", "3", "--steps-per-sample", "2"]) == 0
    err = capsys.readouterr().err
    assert err.count("exists, skipped") == 2 and "1 denoised, 2 skipped" in err
    now = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert now["img0_fm2s.tif"] == stamp["img0_fm2s.tif"]
    assert now["img2_fm2s.tif"] == stamp["img2_fm2s.tif"]
    assert np.array_equal(tifffile.imread(out / "img1_fm2s.tif"), first)
    assert main(["denoise", str(src), "-o", str(out), "--overwrite", *CLI_TINY]) == 0
    assert all(p.stat().st_mtime_ns != stamp.get(p.name) for p in out.iterdir())


def test_find_inputs_folders_globs_and_zarr(tmp_path):
    src = _folder(tmp_path, 2, (16, 16))
    zarr.open_array(str(src / "z.zarr"), mode="w", shape=(16, 16), dtype="uint8")[:] = 1
    (src / "notes.txt").write_text("x")
    assert [p.name for p in find_inputs([str(src)])] == ["img0.tif", "img1.tif", "z.zarr"]
    assert [p.name for p in find_inputs([str(src / "img*.tif"), str(src / "img0.tif")])] == \
        ["img0.tif", "img1.tif"]
    with pytest.raises(ValueError, match="no images match"):
        find_inputs([str(src / "*.png")])


@pytest.mark.slow
def test_killed_batch_leaves_no_partial_file(tmp_path):
    src = _folder(tmp_path, 6, (96, 96))
    out = tmp_path / "out"
    args = [sys.executable, "-m", "napari_fm2s.cli", "denoise", str(src), "-o", str(out),
            "--mode", "paper", "--samples", "20", "--steps-per-sample", "2", "-q"]
    p = subprocess.Popen(args, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while time.time() < deadline and p.poll() is None:
        if out.is_dir() and any(q.name.endswith("_fm2s.tif") for q in out.iterdir()):
            break
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=60)
    done = sorted(q for q in out.iterdir() if not q.name.startswith("."))
    assert 1 <= len(done) < 6, "the batch was not killed midway"
    for q in done:  # anything under a final name is complete
        assert tifffile.imread(q).shape == (96, 96)
    # resuming finishes the rest and clears what the kill left behind
    r = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert sorted(q.name for q in out.iterdir()) == [f"img{i}_fm2s.tif" for i in range(6)]
    fresh = tmp_path / "fresh"
    assert main(["denoise", str(src), "-o", str(fresh), *CLI_TINY[2:3], "paper", "--samples",
                 "20", "--steps-per-sample", "2", "-q"]) == 0
    for q in out.iterdir():
        assert np.array_equal(tifffile.imread(q), tifffile.imread(fresh / q.name))


def test_local_cluster_writes_the_same_files(tmp_path):
    distributed = pytest.importorskip("distributed")
    src = _folder(tmp_path, 2)
    x = cells(3, dtype=np.uint16)
    z = zarr.open_array(str(src / "stack.zarr"), mode="w", shape=x.shape, chunks=(1, 24, 24),
                        dtype=x.dtype)
    z[:] = x
    assert main(["denoise", str(src), "-o", str(tmp_path / "local"), *CLI_TINY]) == 0
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        assert main(["denoise", str(src), "-o", str(tmp_path / "dist"),
                     "--scheduler", cluster.scheduler_address, *CLI_TINY]) == 0
    names = sorted(p.name for p in (tmp_path / "local").iterdir())
    assert names == ["img0_fm2s.tif", "img1_fm2s.tif", "stack_fm2s.zarr"]
    assert sorted(p.name for p in (tmp_path / "dist").iterdir()) == names
    for n in names[:2]:
        assert np.array_equal(tifffile.imread(tmp_path / "local" / n),
                              tifffile.imread(tmp_path / "dist" / n))
    assert np.array_equal(zarr.open_array(str(tmp_path / "local" / names[2]), mode="r")[:],
                          zarr.open_array(str(tmp_path / "dist" / names[2]), mode="r")[:])


@pytest.mark.slow
def test_cli_axes_flag_and_bad_scheduler(tmp_path, capsys):
    x = cells(4).reshape(2, 2, 48, 40)
    tifffile.imwrite(tmp_path / "x.tif", x)  # no axes in the file: QQYX
    assert main(["denoise", str(tmp_path / "x.tif"), "-o", str(tmp_path / "o.tif"),
                 "--axes", "CTYX", *CLI_TINY]) == 0
    out = tifffile.imread(tmp_path / "o.tif")
    np.testing.assert_array_equal(out, denoise(x, axes="CTYX", **TINY))
    assert main(["denoise", str(tmp_path / "x.tif"), "-o", str(tmp_path / "p.tif"),
                 "--axes", "TYX", *CLI_TINY]) == 1
    assert "one letter per dimension" in capsys.readouterr().err
    assert main(["denoise", str(tmp_path / "x.tif"), "-o", str(tmp_path / "q.tif"),
                 "--scheduler", "tcp://127.0.0.1:9", *CLI_TINY]) == 1
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err


def test_lazy_hot_pixel_uses_the_robust_range_like_numpy(small_chunks):
    """A hot pixel at 65535 in 12-bit lazy data (on a chunk border) does not make the
    lazy map 16-bit: lazy and in-memory maps, and results, agree (issue 14, kind 3)."""
    from napari_fm2s.intensity import robust_range
    from napari_fm2s.lazy import robust_plane_ranges

    rng = np.random.default_rng(5)
    x = rng.poisson(800.0, (3, 40, 46)).astype(np.uint16)
    x[1, 5:7, 5:7] = 4095  # a real saturated spot (4 pixels)
    x[2, 17, 23] = 65535  # a lone hot pixel at a chunk corner
    lo, hi = robust_plane_ranges(da.from_array(x, chunks=(1, 17, 23)), "synchronous")
    assert [(a, b) for a, b in zip(lo, hi)] == [robust_range(p) for p in x]
    assert hi.max() == 4095
    kw = dict(FAST, axes="TYX")
    ref = denoise(x, **kw)
    got = denoise(da.from_array(x, chunks=(1, 17, 23)), **kw).compute()
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5 * 4095)
    assert got[2, 17, 23] < 2000  # denoised on the 12-bit scale, not kept near 65535


def test_generic_file_axes_give_way_where_they_are_wrong(tmp_path, capsys):
    """tifffile's generic axes of a plain TIFF (helper 35): a (96, 96, 3) uint16 file
    read as QYX is YXC (was refused as 96 planes of 96x3, advising axes='QYX'); a
    multi-page file's I axis whose planes differ like channels is made channels, as Q."""
    assert guess_axes((96, 96, 3), np.uint16, labels="QYX") == "YXC"
    assert guess_axes((5, 96, 96), np.uint16, labels="IYX") == "IYX"  # a stack stays
    x = cells(2, shape=(64, 64)).astype(np.float32)
    x[1] /= 10
    tifffile.imwrite(tmp_path / "two.tif", x, metadata=None)
    assert open_image(tmp_path / "two.tif").labels == list("IYX")
    assert main(["denoise", str(tmp_path / "two.tif"), "-o", str(tmp_path / "o.tif"),
                 *CLI_TINY]) == 0
    assert "like channels: treated as channels (CYX)" in capsys.readouterr().err
