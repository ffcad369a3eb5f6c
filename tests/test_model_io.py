"""Saved models: round trip, applied to other images, and files that are refused unrun."""

from __future__ import annotations

import json
import pickle
import struct

import numpy as np
import pytest
import tifffile
import torch

from napari_fm2s import denoise
from napari_fm2s.cli import main
from napari_fm2s.model_io import FM2SModel, load_model, save_model
from napari_fm2s.samples import synthetic_cells

TINY = {"mode": "paper", "samples": 1, "steps_per_sample": 1, "warmup_steps": 2}


@pytest.fixture
def img() -> np.ndarray:
    return synthetic_cells((48, 48), seed=3)[0]


@pytest.fixture
def saved(tmp_path, img):
    path = tmp_path / "cells.fm2s.safetensors"
    out = denoise(img, "twophoton", k_g=123.0, save_model=path, **TINY)
    return path, out


def test_round_trip_gives_the_same_result(saved, img):
    path, out = saved
    m = load_model(path)
    assert m.preset.name == "twophoton" and m.preset.k_g == 123.0 and m.mode == "paper"
    assert m.maps[0].scale == 255.0 and m.dtype == "uint8" and m.shape == (48, 48)
    np.testing.assert_array_equal(denoise(img, model=path), out)
    np.testing.assert_array_equal(denoise(img, model=m), out)


def test_the_header_is_safetensors_with_our_json(saved):
    path, _ = saved
    blob = path.read_bytes()
    n = struct.unpack("<Q", blob[:8])[0]
    doc = json.loads(json.loads(blob[8:8 + n])["__metadata__"]["napari_fm2s"])
    assert doc["format"] == "napari-fm2s model" and doc["format_version"] == 1
    assert doc["preset"]["k_g"] == 123.0 and doc["package_version"]
    assert doc["channels"][0]["intensity"] == {"offset": 0.0, "scale": 255.0,
                                               "rule": "uint8 / 255"}


def test_applied_to_another_image_and_a_stack(saved):
    path, _ = saved
    other = synthetic_cells((80, 64), seed=9)[0]
    out = denoise(other, model=path)
    assert out.shape == other.shape and out.dtype == np.float32
    stack = np.stack([other, other[::-1]])
    outs = denoise(stack, model=path)
    np.testing.assert_allclose(outs[0], out, atol=1e-4)


def test_values_outside_the_saved_range_use_their_own_mapping(tmp_path, caplog):
    f = synthetic_cells((48, 48), seed=3)[0].astype(np.float32) / 255
    path = tmp_path / "f.fm2s.safetensors"
    denoise(f, save_model=path, **TINY)
    out = denoise(f * 10, model=path)  # same data, 10x the units: mapped by its own range
    assert "outside the range" in caplog.text
    assert out.max() <= 10 * f.max() + 1e-3 and out.dtype == np.float32


def test_a_model_applied_to_another_dtype_warns(saved, img, caplog):
    """A uint8 model on 16-bit and float data runs, and says the data differ."""
    path, _ = saved
    denoise(img, model=path)
    assert "trained on a uint8 image" not in caplog.text
    for other in (img.astype(np.uint16) * 16, img.astype(np.float32) / 255):
        caplog.clear()
        denoise(other, model=path)
        assert f"trained on a uint8 image, this one is {other.dtype}" in caplog.text


def test_model_with_parameters_or_other_channel_count_is_refused(saved, img):
    path, _ = saved
    with pytest.raises(ValueError, match="k_g"):
        denoise(img, model=path, k_g=3)
    rgb = np.stack([img] * 3, -1)
    m = load_model(path)
    three = FM2SModel(m.preset, m.mode, m.nets * 3, m.maps * 3, axes="YXS", shape=(48, 48, 3))
    with pytest.raises(ValueError, match="3 channels"):
        denoise(np.stack([img, img]), axes="CYX", model=three)
    assert denoise(rgb, model=path).shape == rgb.shape  # one model: every channel


class _Evil:
    """Unpickling this creates a marker file (what a malicious checkpoint would do)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("kind", ["pickle", "pickle0", "torch", "torch-weights"])
def test_malicious_pickle_runs_no_code(tmp_path, kind):
    marker = tmp_path / "pwned"
    path = tmp_path / f"evil-{kind}.fm2s.safetensors"
    if kind == "pickle":
        path.write_bytes(pickle.dumps(_Evil(marker)))
    elif kind == "pickle0":
        path.write_bytes(pickle.dumps(_Evil(marker), protocol=0))
    elif kind == "torch":
        torch.save({"state": _Evil(marker)}, path)
    else:  # a real-looking checkpoint with a payload next to the weights
        torch.save({"conv1.weight": torch.zeros(24, 2, 5, 5), "x": _Evil(marker)}, path)
    assert not marker.exists()
    with pytest.raises(ValueError, match="not an FM2S model file"):
        load_model(path)
    with pytest.raises(ValueError, match="nothing in it was run"):
        denoise(synthetic_cells((32, 32))[0], model=path)
    assert not marker.exists()


def _with_metadata(tmp_path, tensors, doc):
    from safetensors.torch import save_file

    path = tmp_path / "m.safetensors"
    meta = None if doc is None else {"napari_fm2s": doc if isinstance(doc, str)
                                     else json.dumps(doc)}
    save_file(tensors, str(path), metadata=meta)
    return path


@pytest.mark.parametrize("case, match", [
    ("foreign", "without napari-fm2s metadata"),
    ("bad-json", "corrupt metadata"),
    ("other-format", "does not name"),
    ("newer", "newer napari-fm2s"),
    ("bad-preset", "invalid preset"),
    ("bad-scale", "scale must be > 0"),
    ("nan-weights", "NaN"),
    ("wrong-shape", "wrong shape"),
    ("extra-tensor", "does not have"),
    ("truncated", "truncated"),
    ("empty", "not a safetensors"),
    ("text", "not a safetensors"),
    ("folder", "folder"),
    ("missing", "does not exist"),
])
def test_files_that_are_not_ours_are_refused(tmp_path, saved, case, match):
    path, _ = saved
    good = load_model(path)
    doc = good.metadata()
    tensors = {f"net0.{k}": v for k, v in good.nets[0].state_dict().items()}
    if case == "foreign":
        path = _with_metadata(tmp_path, {"w": torch.zeros(3)}, None)
    elif case == "bad-json":
        path = _with_metadata(tmp_path, tensors, "{not json")
    elif case == "other-format":
        path = _with_metadata(tmp_path, tensors, {**doc, "format": "something else"})
    elif case == "newer":
        path = _with_metadata(tmp_path, tensors, {**doc, "format_version": 99})
    elif case == "bad-preset":
        path = _with_metadata(tmp_path, tensors, {**doc, "preset": {"k_p": -1}})
    elif case == "bad-scale":
        doc["channels"][0]["intensity"]["scale"] = 0
        path = _with_metadata(tmp_path, tensors, doc)
    elif case == "nan-weights":
        tensors["net0.conv2.bias"] = torch.full((12,), float("nan"))
        path = _with_metadata(tmp_path, tensors, doc)
    elif case == "wrong-shape":
        tensors["net0.conv2.bias"] = torch.zeros(13)
        path = _with_metadata(tmp_path, tensors, doc)
    elif case == "extra-tensor":
        tensors["net0.payload"] = torch.zeros(1)
        path = _with_metadata(tmp_path, tensors, doc)
    elif case == "truncated":
        blob = path.read_bytes()
        path = tmp_path / "cut.safetensors"
        path.write_bytes(blob[:len(blob) // 2])
    elif case == "empty":
        path = tmp_path / "empty.safetensors"
        path.write_bytes(b"")
    elif case == "text":
        path = tmp_path / "notes.safetensors"
        path.write_text("hello, this is not a model\n" * 10)
    elif case == "folder":
        path = tmp_path
    else:
        path = tmp_path / "nope.safetensors"
    with pytest.raises(ValueError, match=match):
        load_model(path)


def test_save_model_path_is_checked_before_training(tmp_path, img):
    calls = []
    with pytest.raises(ValueError, match="does not exist"):
        denoise(img, save_model=tmp_path / "no" / "m.safetensors",
                progress=lambda *a: calls.append(a), **TINY)
    with pytest.raises(ValueError, match="is a folder"):
        denoise(img, save_model=tmp_path, **TINY)
    assert calls == []  # refused before any training step
    with pytest.raises(ValueError, match="per_plane"):
        denoise(np.stack([img, img]), per_plane=True, save_model=tmp_path / "m.safetensors")


def test_save_is_atomic(tmp_path, saved, monkeypatch):
    path, _ = saved
    m = load_model(path)
    target = tmp_path / "again.fm2s.safetensors"

    def full_disk(self, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(type(target), "write_bytes", full_disk)
    with pytest.raises(ValueError, match="No space left"):
        save_model(m, target)
    assert not target.exists() and not list(tmp_path.glob(".again*"))


def test_cli_save_then_apply_to_a_batch(tmp_path, capsys):
    a, b = synthetic_cells((48, 48), seed=1)[0], synthetic_cells((40, 56), seed=2)[0]
    tifffile.imwrite(tmp_path / "a.tif", a)
    (tmp_path / "more").mkdir()
    tifffile.imwrite(tmp_path / "more" / "b.tif", b)
    tifffile.imwrite(tmp_path / "more" / "c.tif", a)
    model = tmp_path / "scope.fm2s.safetensors"
    assert main(["denoise", str(tmp_path / "a.tif"), "-o", str(tmp_path / "a_out.tif"),
                 "--save-model", str(model), "--mode", "paper", "--samples", "1",
                 "--steps-per-sample", "1", "-q"]) == 0
    assert model.exists()
    assert main(["denoise", str(tmp_path / "more"), "-o", str(tmp_path / "out"),
                 "--model", str(model), "-q"]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["b_fm2s.tif", "c_fm2s.tif"]
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "out" / "c_fm2s.tif"),
                                  tifffile.imread(tmp_path / "a_out.tif"))
    # the outputs record the model (helper 30: "source": "model file" only), and a rerun
    # with it over outputs made by training says so
    from napari_fm2s.io import read_provenance

    assert read_provenance(tmp_path / "out" / "b_fm2s.tif")["model"]["file"] == model.name
    capsys.readouterr()
    assert main(["denoise", str(tmp_path / "a.tif"), "-o", str(tmp_path / "a_out.tif"),
                 "--model", str(model)]) == 0
    assert f"made by training, not with {model.name}" in capsys.readouterr().err
    # refused up front with one line: a bad model file, parameters with --model, several
    # inputs with --save-model
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps(_Evil(tmp_path / "pwned")))
    for args, msg in [(["--model", str(evil)], "not an FM2S model file"),
                      (["--model", str(model), "--k-g", "3"], "cannot be used with --model"),
                      (["--model", str(model), "--offset", "100"],
                       "--offset cannot be used with --model"),
                      (["--save-model", str(tmp_path / "x.safetensors")], "one INPUT")]:
        assert main(["denoise", str(tmp_path / "more"), "-o", str(tmp_path / "o2"), "-q",
                     *args]) == 1
        err = capsys.readouterr().err
        assert msg in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "o2").exists()
