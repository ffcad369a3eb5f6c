import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tifffile
from PIL import Image

from napari_fm2s.cli import main
from napari_fm2s.samples import synthetic_cells

SMALL = ["--samples", "2", "--steps-per-sample", "2", "--fast-steps", "10", "-q"]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "napari_fm2s.cli", *args],
                          capture_output=True, text=True, timeout=300)


def _main(capsys, *args: str) -> tuple[int, str]:
    """``fm2s ARGS`` in this process: (exit code, stderr)."""
    capsys.readouterr()
    rc = main(list(args))
    return rc, capsys.readouterr().err


@pytest.mark.slow
def test_tiff_in_tiff_out(tmp_path, noisy_small):
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, noisy_small)
    r = _run("denoise", str(src), "-o", str(tmp_path / "out.tif"), *SMALL)
    assert r.returncode == 0, r.stderr
    out = tifffile.imread(tmp_path / "out.tif")
    assert out.dtype == np.float32 and out.shape == noisy_small.shape
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_several_inputs_go_to_a_folder(tmp_path, noisy_small):
    Image.fromarray(noisy_small).save(tmp_path / "a.png")
    tifffile.imwrite(tmp_path / "b.tif", noisy_small.astype(np.uint16) * 16)
    assert main(["denoise", str(tmp_path / "a.png"), str(tmp_path / "b.tif"),
                 "-o", str(tmp_path / "out"), *SMALL]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_fm2s.tif", "b_fm2s.tif"]


def test_same_names_in_different_folders_keep_their_folders(tmp_path, noisy_small, capsys):
    """Micro-Manager positions (Pos0/img.tif, Pos1/img.tif) once both went to out/img_fm2s.tif:
    the second overwrote the first and the batch reported 2 denoised."""
    for pos, k in (("Pos0", 1), ("Pos1", 3)):
        (tmp_path / "mm" / pos).mkdir(parents=True)
        tifffile.imwrite(tmp_path / "mm" / pos / "img.tif", noisy_small.astype(np.uint16) * k)
    rc, err = _main(capsys, "denoise", str(tmp_path / "mm" / "*" / "img.tif"),
                    "-o", str(tmp_path / "out"), *SMALL[:-1])
    assert rc == 0, err
    a = tifffile.imread(tmp_path / "out" / "Pos0" / "img_fm2s.tif")
    b = tifffile.imread(tmp_path / "out" / "Pos1" / "img_fm2s.tif")
    assert 2.5 < b.mean() / a.mean() < 3.5  # each input's own result
    assert not (tmp_path / "out" / "img_fm2s.tif").exists()


def test_a_pattern_keeps_its_folders_whatever_it_matches(tmp_path):
    """The layout once depended on the set of inputs (mirrored only when names collided),
    so a batch resumed after Pos1 arrived redid Pos0 into another place."""
    from napari_fm2s.batch_plan import make_plan
    (tmp_path / "mm" / "Pos0").mkdir(parents=True)
    tifffile.imwrite(tmp_path / "mm" / "Pos0" / "img.tif", np.zeros((8, 8), np.uint8))
    pattern = str(tmp_path / "mm" / "*" / "img.tif")
    plan = make_plan([pattern], tmp_path / "out")
    assert [d for _, d in plan.jobs] == [tmp_path / "out" / "Pos0" / "img_fm2s.tif"]
    (tmp_path / "out" / "Pos0").mkdir(parents=True)
    (tmp_path / "out" / "Pos0" / "img_fm2s.tif").write_bytes(b"done")
    (tmp_path / "mm" / "Pos1").mkdir()
    tifffile.imwrite(tmp_path / "mm" / "Pos1" / "img.tif", np.zeros((8, 8), np.uint8))
    plan = make_plan([pattern], tmp_path / "out")
    assert [d for _, d in plan.done] == [tmp_path / "out" / "Pos0" / "img_fm2s.tif"]
    assert [d for _, d in plan.jobs] == [tmp_path / "out" / "Pos1" / "img_fm2s.tif"]
    # the same name in two folders given one by one: refused by name, never overwritten
    plan = make_plan([str(tmp_path / "mm" / "Pos0" / "img.tif"),
                      str(tmp_path / "mm" / "Pos1" / "img.tif")], tmp_path / "o2")
    assert len(plan.jobs) == 1 and "as a pattern" in str(plan.refused[0][1])


def test_results_in_the_input_folder_are_not_denoised_again(tmp_path):
    """A batch written into its input folder denoised its own results when run again
    (cell_fm2s_fm2s.tif ...), reporting success."""
    from napari_fm2s.batch_plan import find_inputs, make_plan
    for name in ("cell.tif", "cell_fm2s.tif", "cell.spread.tif", "x_fm2s.ome.tif"):
        tifffile.imwrite(tmp_path / name, np.zeros((8, 8), np.uint8))
    assert [p.name for p in find_inputs([str(tmp_path)])] == ["cell.tif"]
    assert [p.name for p in find_inputs([str(tmp_path / "*.tif")])] == ["cell.tif"]
    plan = make_plan([str(tmp_path)], tmp_path)
    assert [s.name for s, _ in plan.done] == ["cell.tif"] and not plan.jobs
    named = find_inputs([str(tmp_path / "cell_fm2s.tif")])  # named: denoised as asked
    assert [p.name for p in named] == ["cell_fm2s.tif"]


def test_an_unwritable_output_folder_fails_before_any_denoising(tmp_path, noisy_small,
                                                                capsys, monkeypatch):
    """Each file was denoised in full before its write failed (44 s for 3 small files)."""
    import tempfile

    import napari_fm2s.batch as batch
    for name in ("a.tif", "b.tif"):
        tifffile.imwrite(tmp_path / name, noisy_small)
    (tmp_path / "ro").mkdir()
    real = tempfile.mkstemp

    def denied(*a, dir=None, **k):
        if str(dir) == str(tmp_path / "ro"):
            raise PermissionError(13, "Operation not permitted")
        return real(*a, dir=dir, **k)
    monkeypatch.setattr(tempfile, "mkstemp", denied)
    ran = []
    monkeypatch.setattr(batch, "denoise_file", lambda *a, **k: ran.append(a))
    rc, err = _main(capsys, "denoise", str(tmp_path / "a.tif"), str(tmp_path / "b.tif"),
                    "-o", str(tmp_path / "ro"), *SMALL)
    assert rc == 1 and not ran
    assert err.count("cannot write into") == 2 and "Operation not permitted" in err


def test_a_skipped_output_made_otherwise_is_said(tmp_path, noisy_small, capsys):
    """A re-run with --preset confocal skipped outputs made with auto, saying only
    '0 denoised, 2 skipped'; an input replaced under its name was skipped alike."""
    import os

    src = tmp_path / "a.tif"
    tifffile.imwrite(src, noisy_small)
    out = tmp_path / "out.tif"
    assert _main(capsys, "denoise", str(src), "-o", str(out), *SMALL)[0] == 0
    rc, err = _main(capsys, "denoise", str(src), "-o", str(out), *SMALL)
    assert rc == 0 and "warning" not in err  # the same settings: skipped quietly
    rc, err = _main(capsys, "denoise", str(src), "-o", str(out), "--preset", "confocal",
                    "--seed", "5", *SMALL)
    assert rc == 0 and "made with preset auto (now confocal), seed 3407 (now 5)" in err
    os.utime(src, (out.stat().st_mtime + 10,) * 2)
    rc, err = _main(capsys, "denoise", str(src), "-o", str(out), *SMALL)
    assert "the input is newer than it: skipped (--overwrite to redo)" in err


def test_lazy_above_reads_a_tiff_page_by_page_with_the_same_result(tmp_path, noisy_small,
                                                                   capsys, monkeypatch):
    """There was no way to bound memory: TIFFs under 1 GiB were always read whole."""
    import napari_fm2s.io as io

    src = tmp_path / "movie.tif"
    tifffile.imwrite(src, np.stack([noisy_small, noisy_small[::-1]]))
    opened = []
    real = io.open_image
    monkeypatch.setattr("napari_fm2s.batch.open_image",
                        lambda *a, **k: opened.append(real(*a, **k)) or opened[-1])
    for name, extra in (("whole.tif", []), ("lazy.tif", ["--lazy-above", "1e-6"])):
        assert _main(capsys, "denoise", str(src), "-o", str(tmp_path / name), *extra,
                     *SMALL)[0] == 0
    assert [o.lazy for o in opened] == [False, True]
    np.testing.assert_allclose(tifffile.imread(tmp_path / "lazy.tif"),
                               tifffile.imread(tmp_path / "whole.tif"), atol=1e-3)
    rc, err = _main(capsys, "denoise", str(src), "-o", str(tmp_path / "said.tif"),
                    "--lazy-above", "1e-6", *[a for a in SMALL if a != "-q"])
    assert rc == 0 and "read lazily (a TIFF over --lazy-above" in err  # helper 30
    rc, err = _main(capsys, "denoise", str(src), "-o", str(tmp_path / "x.tif"),
                    "--lazy-above", "0", *SMALL)
    assert rc == 1 and "--lazy-above must be a positive size" in err


def test_a_thumbnail_series_is_left_out(tmp_path, noisy_small, capsys):
    """A TIFF with a reduced-resolution page (a thumbnail) was refused whole: its 3x3 RGB
    series was taken for a second image."""
    src = tmp_path / "thumb.tif"
    with tifffile.TiffWriter(src) as tw:
        tw.write(noisy_small)
        tw.write(np.zeros((3, 3, 3), np.uint8), photometric="rgb", subfiletype=1)
    rc, err = _main(capsys, "denoise", str(src), "-o", str(tmp_path / "o.tif"), *SMALL)
    assert rc == 0, err
    with tifffile.TiffFile(tmp_path / "o.tif") as tf:
        assert len(tf.series) == 1 and tf.series[0].shape == noisy_small.shape


def test_skip_warnings_know_aliases_offsets_and_spreads(tmp_path, noisy_small, capsys):
    src = tmp_path / "a.tif"
    tifffile.imwrite(src, noisy_small)
    out = str(tmp_path / "o.tif")
    assert _main(capsys, "denoise", str(src), "-o", out, "--preset", "confocal", *SMALL)[0] == 0
    err = _main(capsys, "denoise", str(src), "-o", out, "--preset", "Confocal-avg1", *SMALL)[1]
    assert "warning" not in err  # the same preset by its alias
    err = _main(capsys, "denoise", str(src), "-o", out, "--preset", "confocal", "--offset",
                "3", "--spread", "--per-plane", *SMALL)[1]
    assert "made with offset None (now 3.0), per_plane False (now True)" in err
    assert "no spread file beside it" in err
    assert _main(capsys, "denoise", str(src), "-o", out, "--spread", "--overwrite",
                 *SMALL)[0] == 0
    assert (tmp_path / "o.spread.tif").exists()
    assert _main(capsys, "denoise", str(src), "-o", out, "--overwrite", *SMALL)[0] == 0
    assert not (tmp_path / "o.spread.tif").exists()  # it described the replaced result


@pytest.mark.parametrize("value", ["inf", "nan"])
def test_lazy_above_must_be_a_finite_size(tmp_path, noisy_small, capsys, value):
    tifffile.imwrite(tmp_path / "a.tif", noisy_small)
    rc, err = _main(capsys, "denoise", str(tmp_path / "a.tif"), "-o", str(tmp_path / "o.tif"),
                    "--lazy-above", value, *SMALL)
    assert rc == 1 and "--lazy-above must be a positive size" in err


def test_progress_counts_skipped_files(tmp_path, monkeypatch):
    """With 1 of 2 outputs done, the file denoised was labelled [1/2] (its index among the
    jobs, not among the files)."""
    import napari_fm2s.batch as batch
    from napari_fm2s.batch_plan import make_plan
    for name in ("a.tif", "b.tif"):
        tifffile.imwrite(tmp_path / name, np.zeros((8, 8), np.uint8))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a_fm2s.tif").write_bytes(b"done")
    monkeypatch.setattr(batch, "denoise_file", lambda *a, **k: None)
    started = []
    batch.run_batch(make_plan([str(tmp_path / "a.tif"), str(tmp_path / "b.tif")],
                              tmp_path / "out"), batch.Settings(),
                    on_start=lambda i, src: started.append((i, src.name)))
    assert started == [(1, "b.tif")]  # the CLI labels it [i + 1/2]


def test_same_name_in_one_folder_is_refused_not_overwritten(tmp_path):
    """a.tif and a.png in one folder would both be a_fm2s.tif: the second is refused by name."""
    from napari_fm2s.batch_plan import make_plan
    tifffile.imwrite(tmp_path / "a.tif", np.zeros((8, 8), np.uint8))
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "a.png")
    plan = make_plan([str(tmp_path)], tmp_path / "out")
    assert [d.name for _, d in plan.jobs] == ["a_fm2s.tif"]
    (src, e), = plan.refused
    assert "would also be" in str(e) and "a_fm2s.tif" in str(e)
    assert src.name in {"a.png", "a.tif"} and "rename one" in str(e)


def _two_positions(path, small):
    with tifffile.TiffWriter(path, ome=True) as tw:
        for k, name in ((1, "Position1"), (3, "Position2")):
            tw.write(np.stack([small, small // 2]).astype(np.uint16) * k,
                     metadata={"axes": "CYX", "Name": name, "PhysicalSizeX": 0.1,
                               "Channel": {"Name": ["DAPI", "GFP"]}})


def test_every_series_of_an_ome_tiff_is_denoised_and_kept(tmp_path, noisy_small, capsys):
    """A 2-position OME-TIFF came back with its first position only, renamed Image0."""
    src = tmp_path / "pos.ome.tif"
    _two_positions(src, noisy_small[:48, :48])
    rc, err = _main(capsys, "denoise", str(src), "-o", str(tmp_path / "o.ome.tif"),
                    "--spread", *SMALL[:-1])
    assert rc == 0, err
    assert "series 2 of 2 (Position2)" in err
    for out in ("o.ome.tif", "o.spread.ome.tif"):
        with tifffile.TiffFile(tmp_path / out) as tf:
            assert [s.name for s in tf.series] == ["Position1", "Position2"]
            assert [s.shape for s in tf.series] == [(2, 48, 48)] * 2
            assert 'Name="GFP"' in tf.ome_metadata and 'PhysicalSizeX="0.1"' in tf.ome_metadata
            if out == "o.ome.tif":
                a, b = (s.asarray() for s in tf.series)
                assert 2.5 < b.mean() / a.mean() < 3.5  # each position its own result


@pytest.mark.parametrize("out, extra, msg", [("o.zarr", [], "write them to a TIFF"),
                                             ("o.tif", ["--save-model", "m.fm2s"], "saves one")])
def test_series_that_cannot_be_kept_are_refused(tmp_path, noisy_small, capsys, out, extra, msg):
    src = tmp_path / "pos.ome.tif"
    _two_positions(src, noisy_small[:32, :32])
    extra = [str(tmp_path / e) if e.endswith(".fm2s") else e for e in extra]
    rc, err = _main(capsys, "denoise", str(src), "-o", str(tmp_path / out), *extra, *SMALL)
    assert rc == 1 and msg in err and "2 series" in err
    assert not (tmp_path / out).exists()


def test_axes_advice_in_a_batch_says_it_applies_to_every_input(tmp_path, noisy_small, capsys):
    """A batch's too-small file said 'pass --axes YX', which then broke the other inputs."""
    tifffile.imwrite(tmp_path / "tiny.tif", noisy_small[:12, :12])
    tifffile.imwrite(tmp_path / "big.tif", noisy_small)
    rc, err = _main(capsys, "denoise", str(tmp_path / "tiny.tif"), str(tmp_path / "big.tif"),
                    "-o", str(tmp_path / "out"), *SMALL)
    assert rc == 1 and "--axes YX" in err and "run this file on its own" in err
    assert (tmp_path / "out" / "big_fm2s.tif").exists()


def test_a_folder_into_a_file_name_is_refused(tmp_path, noisy_small, capsys):
    (tmp_path / "in").mkdir()
    tifffile.imwrite(tmp_path / "in" / "b.tif", noisy_small)
    assert main(["denoise", str(tmp_path / "in"), "-o", str(tmp_path / "o.tif"), *SMALL]) == 1
    err = capsys.readouterr().err
    assert "looks like a file name" in err and "give a folder" in err
    assert not (tmp_path / "o.tif").exists()  # no folder named like a file


def test_one_file_twice_goes_into_the_folder_and_an_unmakeable_folder_is_named(
        tmp_path, noisy_small, capsys):
    """Helper 30: the same input twice with -o DIR read DIR as a file name ("must end in
    .tif"); a folder that cannot be made gave a raw "OSError: [Errno ...]"."""
    src = tmp_path / "a.tif"
    tifffile.imwrite(src, noisy_small)
    rc, err = _main(capsys, "denoise", str(src), str(src), "-o", str(tmp_path / "dir"),
                    *SMALL)
    assert rc == 0 and (tmp_path / "dir" / "a_fm2s.tif").exists(), err
    (tmp_path / "file").write_text("not a folder")
    rc, err = _main(capsys, "denoise", str(src), str(src), "-o",
                    str(tmp_path / "file" / "sub"), *SMALL)
    assert rc == 1 and "cannot make the output folder" in err and "OSError" not in err


@pytest.mark.slow
def test_sample_and_presets(tmp_path):
    assert main(["denoise", "--sample", "-o", str(tmp_path / "s.tif"), *SMALL]) == 0
    assert tifffile.imread(tmp_path / "s.tif").shape == (256, 256)
    from napari_fm2s.io import read_provenance

    assert read_provenance(tmp_path / "s.tif")["source"] == "--sample"  # recorded, as a file's
    r = _run("presets")
    assert r.returncode == 0 and "twophoton-avg16" in r.stdout and "srdtrans" in r.stdout


@pytest.mark.parametrize("setup, args, msg", [
    (None, ["missing.tif"], "does not exist"),
    ("dir", ["adir"], "holds no"),
    ("corrupt", ["bad.tif"], "cannot read"),
    ("ok", ["in.tif", "--preset", "nope"], "valid presets"),
    ("ok", ["in.tif", "--k-p", "-3"], "k_p must be > 0"),
    ("ok", ["in.tif", "-o", "nofolder/x.tif"], "does not exist"),
    ("ok", ["in.tif", "-o", "in.tif"], "overwrite the input"),
    ("ok", ["in.tif", "-o", "x.png"], "must end in .tif"),
])
def test_bad_input_one_line_no_traceback(tmp_path, capsys, noisy_small, setup, args, msg):
    if setup == "dir":
        (tmp_path / "adir").mkdir()
    elif setup == "corrupt":
        (tmp_path / "bad.tif").write_bytes(b"II*\x00garbage")
    elif setup == "ok":
        tifffile.imwrite(tmp_path / "in.tif", noisy_small)
    args = [str(tmp_path / a) if i == 0 or (a.endswith((".tif", ".png")) and "/" not in a
            and args[i - 1] == "-o") or a.startswith("nofolder") else a for i, a in enumerate(args)]
    if "-o" not in args:
        args += ["-o", str(tmp_path / "out.tif")]
    rc, err = _main(capsys, "denoise", *args, *SMALL)
    assert rc == 1
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and msg in lines[0], err


@pytest.mark.slow
def test_a_bad_input_through_the_entry_point_is_one_line(tmp_path):
    r = _run("denoise", str(tmp_path / "missing.tif"), "-o", str(tmp_path / "o.tif"), *SMALL)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [f"fm2s: error: {tmp_path / 'missing.tif'}: "
                                             f"{tmp_path / 'missing.tif'} does not exist"] \
        or "does not exist" in r.stderr


def test_help_shows_each_parameter_with_its_default(capsys):
    with pytest.raises(SystemExit):
        main(["denoise", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--k-g FLOAT" in out and "(--preset confocal: 200)" in out and "--fast-steps INT" in out
    assert "Paper mode: noise-injected training samples" in out and "odd" in out


@pytest.mark.slow
def test_sigterm_leaves_no_partial_file(tmp_path):
    img = synthetic_cells((256, 256))[0]
    tifffile.imwrite(tmp_path / "in.tif", img)
    out = tmp_path / "out.tif"
    p = subprocess.Popen([sys.executable, "-m", "napari_fm2s.cli", "denoise",
                          str(tmp_path / "in.tif"), "-o", str(out)],
                         stderr=subprocess.PIPE)
    seen = b""
    deadline = time.time() + 120
    while b"loss" not in seen and time.time() < deadline:  # wait until training runs
        seen += os.read(p.stderr.fileno(), 256)
    p.send_signal(signal.SIGTERM)
    _, rest = p.communicate(timeout=60)
    err = (seen + rest).decode()
    assert p.returncode == 130, err
    assert "Traceback" not in err
    assert os.listdir(tmp_path) == ["in.tif"]


def test_spread_is_written_beside_each_output(tmp_path, noisy_small):
    """--spread: OUT.spread.tif (float32, the result's shape, the API's values); an RGB
    input's spread is a float image with one channel per sample (issue 18)."""
    from napari_fm2s import denoise

    tifffile.imwrite(tmp_path / "g.tif", noisy_small)
    rgb = np.stack([noisy_small, noisy_small[::-1], noisy_small[:, ::-1]], -1)
    tifffile.imwrite(tmp_path / "c.tif", rgb, photometric="rgb")
    assert main(["denoise", str(tmp_path / "g.tif"), str(tmp_path / "c.tif"), "-o",
                 str(tmp_path / "out"), "--spread", *SMALL]) == 0
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["c_fm2s.spread.tif", "c_fm2s.tif", "g_fm2s.spread.tif", "g_fm2s.tif"]
    spread = tifffile.imread(tmp_path / "out" / "g_fm2s.spread.tif")
    _, want = denoise(noisy_small, samples=2, steps_per_sample=2, fast_steps=10,
                      return_spread=True)
    assert spread.dtype == np.float32 and spread.shape == noisy_small.shape
    np.testing.assert_allclose(spread, want, atol=1e-4)
    with tifffile.TiffFile(tmp_path / "out" / "c_fm2s.spread.tif") as f:
        data = f.asarray()
        assert data.dtype == np.float32 and f.pages[0].photometric != 2  # not RGB
    assert sorted(data.shape) == sorted(rgb.shape) and data.max() > 0


def test_unnamed_axes_tiff_is_written_back(tmp_path, noisy_small, capsys):
    """A plain 4D TIFF (tifffile labels its axes QQYX) is written in the input's shape and
    planes; a second Q took the first Q's position before."""
    stack = np.stack([np.stack([noisy_small, noisy_small[::-1]]), np.stack(
        [noisy_small[:, ::-1], noisy_small.T])])
    src = tmp_path / "q.tif"
    tifffile.imwrite(src, stack)
    assert tifffile.TiffFile(src).series[0].axes == "QQYX"
    rc, err = _main(capsys, "denoise", str(src), "-o", str(tmp_path / "o.tif"), *SMALL)
    assert rc == 0, err
    out = tifffile.imread(tmp_path / "o.tif")
    assert out.shape == stack.shape
    for idx in np.ndindex(stack.shape[:2]):  # each plane stays in its place
        r = np.corrcoef(out[idx].ravel(), stack[idx].ravel().astype(float))[0, 1]
        assert r > 0.8, (idx, r)


def test_axes_x_before_y_keeps_the_input_layout(tmp_path, capsys):
    """``--axes XY`` (or TXY) processes rows as X, and the output file has the input's
    layout, so it lines up with the source like the API's result does."""
    img = synthetic_cells((48, 64), seed=4)[0]
    src = tmp_path / "xy.tif"
    tifffile.imwrite(src, img)
    rc, err = _main(capsys, "denoise", str(src), "-o", str(tmp_path / "o.tif"),
                    "--axes", "XY", *SMALL)
    assert rc == 0, err
    out = tifffile.imread(tmp_path / "o.tif")
    assert out.shape == img.shape
    assert np.corrcoef(out.ravel(), img.ravel().astype(float))[0, 1] > 0.8


def test_ome_tiff_names_stay_ome(tmp_path):
    """OME readers (Bio-Formats) go by the name: NAME.ome.tif -> NAME_fm2s.ome.tif, and
    its spread NAME_fm2s.spread.ome.tif."""
    from napari_fm2s.batch_plan import output_path, spread_path

    out = tmp_path / "out"
    dst = output_path(tmp_path / "cells.ome.tif", out, several=True)
    assert dst.name == "cells_fm2s.ome.tif"
    assert spread_path(dst).name == "cells_fm2s.spread.ome.tif"
    assert output_path(tmp_path / "cells.tif", out, several=True).name == "cells_fm2s.tif"
    assert spread_path(out / "x.tif").name == "x.spread.tif"


def test_an_ome_zarr_spread_has_no_display_window_of_the_input(tmp_path, noisy_small):
    """Helper 30: the spread (0-50) carried the result's omero window (100-1200)."""
    import zarr

    v2 = {"zarr_format": 2} if int(zarr.__version__.split(".")[0]) >= 3 else {}
    src = tmp_path / "in.ome.zarr"
    g = zarr.open_group(str(src), mode="w", **v2)
    data = np.asarray(noisy_small, np.float32)
    zarr.open_array(str(src), path="0", mode="w", shape=data.shape, chunks=data.shape,
                    dtype=data.dtype, **v2)[:] = data
    g.attrs.update({"multiscales": [{"version": "0.4", "axes": [
        {"name": "y", "type": "space"}, {"name": "x", "type": "space"}],
        "datasets": [{"path": "0", "coordinateTransformations": [
            {"type": "scale", "scale": [1.0, 1.0]}]}]}],
        "omero": {"channels": [{"label": "GFP", "window": {"start": 0.1, "end": 0.9}}]}})
    out = tmp_path / "out.ome.zarr"
    assert main(["denoise", str(src), "-o", str(out), "--spread", *SMALL]) == 0
    kept = dict(zarr.open_group(str(out), mode="r").attrs)["omero"]["channels"][0]
    spread = dict(zarr.open_group(str(tmp_path / "out.spread.ome.zarr"), mode="r").attrs)
    assert "window" in kept and "window" not in spread["omero"]["channels"][0]
    assert spread["omero"]["channels"][0]["label"] == "GFP"


def test_spread_file_has_no_display_range_of_the_input(tmp_path, noisy_small):
    """ImageJ's display range is kept on the result (same units), not on the spread
    (values near 0: it would open black)."""
    src = tmp_path / "ij.tif"
    data = noisy_small.astype(np.uint16) * 10 + 500
    tifffile.imwrite(src, data, imagej=True, metadata={"min": 600.0, "max": 2600.0})
    assert main(["denoise", str(src), "-o", str(tmp_path / "o.tif"), "--spread",
                 *SMALL]) == 0
    with tifffile.TiffFile(tmp_path / "o.tif") as tf:
        assert tf.imagej_metadata["min"] == 600.0
    with tifffile.TiffFile(tmp_path / "o.spread.tif") as tf:
        assert "min" not in tf.imagej_metadata and "Ranges" not in tf.imagej_metadata


@pytest.mark.slow
def test_the_more_training_verdict_is_printed(tmp_path, noisy_small, capsys):
    """The default run says whether it kept more training (helper 23: the line was logged
    but never printed)."""
    tifffile.imwrite(tmp_path / "in.tif", noisy_small)
    rc, err = _main(capsys, "denoise", str(tmp_path / "in.tif"), "-o", str(tmp_path / "o.tif"))
    assert rc == 0
    assert "fm2s: more training: " in err and "extra stages of 400 steps kept" in err


def test_a_file_not_made_by_fm2s_at_the_output_is_said(tmp_path, noisy_small, capsys):
    """A junk file where the output goes had counted as a finished result, silently with
    -q (helper 32): it is skipped with a warning naming why."""
    src, out = tmp_path / "a.tif", tmp_path / "o.tif"
    tifffile.imwrite(src, noisy_small)
    out.write_text("junk")
    rc, err = _main(capsys, "denoise", str(src), "-o", str(out), "-q", *SMALL)
    assert rc == 0 and "holding no record of being made by napari-fm2s" in err
    assert out.read_text() == "junk"


def test_an_internal_error_is_named_and_traced_on_request(tmp_path, noisy_small, capsys,
                                                          monkeypatch):
    import napari_fm2s.batch as batch

    def broken(*a, **k):
        raise KeyError("plane")

    tifffile.imwrite(tmp_path / "a.tif", noisy_small)
    monkeypatch.setattr(batch, "open_image", broken)
    args = ("denoise", str(tmp_path / "a.tif"), "-o", str(tmp_path / "o.tif"), *SMALL)
    rc, err = _main(capsys, *args)
    assert rc == 1 and "KeyError: 'plane' (an internal error: please report it; " \
        "FM2S_DEBUG=1 prints where it happened)" in err and "Traceback" not in err
    monkeypatch.setenv("FM2S_DEBUG", "1")
    rc, err = _main(capsys, *args)
    assert rc == 1 and "Traceback" in err and "in broken" in err
