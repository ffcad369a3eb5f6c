"""Outputs keep their metadata (issue 14, kind 7): ImageJ, OME-TIFF, OME-Zarr, RGB, and
every output records how it was made.  The writer is given the input's data as float32
(what denoise() returns), so no training is needed."""

import json

import numpy as np
import pytest
import tifffile
import zarr

from napari_fm2s.io import open_image
from napari_fm2s.zarr_out import write_zarr_atomic
from napari_fm2s.tiff_out import write_tiff_atomic
from napari_fm2s.metadata import provenance
from napari_fm2s.presets import get_preset

PROV = provenance(get_preset("confocal"), "fast")


def _round_trip(src, tmp_path, axes):
    opened = open_image(src)
    out = tmp_path / "out.tif"
    write_tiff_atomic(out, opened.data.astype(np.float32), axes=axes, meta=opened.meta,
                      description=PROV)
    opened.close()
    return out


def test_provenance_names_everything_needed_to_redo_it():
    p = provenance(get_preset("twophoton").with_overrides(seed=7, k_g=150.0), "paper")
    assert p["preset"] == "twophoton" and p["mode"] == "paper" and p["seed"] == 7
    assert p["threads"] >= 1  # the same seed gives the same result with the same threads
    assert p["parameters"]["k_g"] == 150.0 and p["version"] and p["software"] == "napari-fm2s"


def test_imagej_hyperstack_comes_back_as_imagej_with_its_calibration(tmp_path):
    data = np.random.default_rng(0).integers(0, 4000, (3, 4, 24, 32), dtype=np.uint16)
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, data, imagej=True, resolution=(1 / 0.065, 1 / 0.065),
                     metadata={"axes": "TZYX", "spacing": 0.3, "unit": "um", "finterval": 2.5})
    out = _round_trip(src, tmp_path, "TZYX")
    with tifffile.TiffFile(src) as a, tifffile.TiffFile(out) as b:
        assert b.is_imagej and b.series[0].axes == "TZYX" and b.series[0].shape == data.shape
        ia, ib = a.imagej_metadata, b.imagej_metadata
        for k in ("frames", "slices", "spacing", "unit", "finterval"):
            assert ib[k] == ia[k], k
        assert np.allclose(b.pages.first.get_resolution(), a.pages.first.get_resolution())
        assert json.loads(ib["Properties"]["napari-fm2s"])["preset"] == "confocal"
        np.testing.assert_array_equal(b.asarray(), data)


def test_imagej_display_ranges_are_kept(tmp_path):
    """The output is in the input's units: it opens with the input's contrast."""
    data = np.random.default_rng(2).integers(100, 5000, (2, 16, 16), dtype=np.uint16)
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, data, imagej=True,
                     metadata={"axes": "CYX", "Ranges": (100.0, 5000.0, 100.0, 200.0)})
    out = _round_trip(src, tmp_path, "CYX")
    with tifffile.TiffFile(out) as tf:
        assert tuple(tf.imagej_metadata["Ranges"]) == (100.0, 5000.0, 100.0, 200.0)
    one = tmp_path / "one.tif"
    tifffile.imwrite(one, data[0], imagej=True, metadata={"min": 150.0, "max": 900.0})
    with tifffile.TiffFile(_round_trip(one, tmp_path, "YX")) as tf:
        assert (tf.imagej_metadata["min"], tf.imagej_metadata["max"]) == (150.0, 900.0)


def test_imagej_axes_are_put_in_imagej_order(tmp_path):
    data = np.random.default_rng(1).random((2, 3, 16, 16)).astype(np.float32)  # Z, C
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, data, imagej=True, metadata={"axes": "ZCYX", "spacing": 1.5})
    out = tmp_path / "out.tif"
    write_tiff_atomic(out, data.transpose(1, 0, 2, 3), axes="CZYX",
                      meta=open_image(src).meta, description=PROV)
    with tifffile.TiffFile(out) as tf:
        assert tf.is_imagej and tf.series[0].axes == "ZCYX"
        assert tf.imagej_metadata["channels"] == 3 and tf.imagej_metadata["spacing"] == 1.5
        np.testing.assert_array_equal(tf.asarray(), data)


def test_ome_tiff_comes_back_as_ome_with_sizes_and_channel_names(tmp_path):
    data = np.random.default_rng(2).integers(0, 255, (2, 5, 16, 16), dtype=np.uint16)
    src = tmp_path / "in.ome.tif"
    tifffile.imwrite(src, data, ome=True, metadata={
        "axes": "CZYX", "PhysicalSizeX": 0.11, "PhysicalSizeXUnit": "µm",
        "PhysicalSizeY": 0.12, "PhysicalSizeYUnit": "µm", "PhysicalSizeZ": 0.5,
        "PhysicalSizeZUnit": "µm", "Channel": {"Name": ["GFP", "mCherry"]}})
    out = _round_trip(src, tmp_path, "CZYX")
    with tifffile.TiffFile(out) as tf:
        assert tf.is_ome and tf.series[0].axes == "CZYX"
        xml = tf.ome_metadata
    for s in ('PhysicalSizeX="0.11"', 'PhysicalSizeY="0.12"', 'PhysicalSizeZ="0.5"',
              'Name="GFP"', 'Name="mCherry"', 'Namespace="napari-fm2s"',
              '<M K="preset">confocal</M>'):
        assert s in xml, s


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_rgb_comes_back_in_the_input_integer_type(tmp_path, dtype):
    data = np.random.default_rng(3).integers(0, 200, (16, 20, 3)).astype(dtype)
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, data, photometric="rgb")
    result = data.astype(np.float32) + 0.4
    result[0, 0, 0] = -3.0  # rounded and clipped into the type's range
    out = tmp_path / "out.tif"
    write_tiff_atomic(out, result, axes="YXS", meta=open_image(src).meta)
    with tifffile.TiffFile(out) as tf:
        assert tf.pages.first.photometric == tifffile.PHOTOMETRIC.RGB
        back = tf.asarray()
    assert back.dtype == dtype and back[0, 0, 0] == 0
    np.testing.assert_array_equal(back[1:], data[1:])


@pytest.mark.parametrize("lead", ["", "T"])
def test_planar_rgb_stays_planar_rgb(tmp_path, lead):
    """A planar RGB TIFF (samples stored as separate planes, axes SYX) comes back as one
    planar RGB page per plane in its integer type, not as three grey pages."""
    shape = (2,) * len(lead) + (3, 16, 20)
    data = np.random.default_rng(5).integers(0, 200, shape).astype(np.uint8)
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, data, photometric="rgb", planarconfig="separate")
    opened = open_image(src)
    out = tmp_path / "out.tif"
    write_tiff_atomic(out, opened.data.astype(np.float32) + 0.4, axes=lead + "SYX",
                      meta=opened.meta, description=PROV)
    with tifffile.TiffFile(out) as tf:
        page = tf.pages.first
        assert page.photometric == tifffile.PHOTOMETRIC.RGB
        assert page.planarconfig == tifffile.PLANARCONFIG.SEPARATE
        assert len(tf.pages) == int(np.prod(shape[:-3]))
        assert tf.series[0].axes.endswith("SYX")
        back = tf.asarray()
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, data)


def test_plain_tiff_keeps_resolution_and_records_provenance(tmp_path):
    data = np.random.default_rng(4).integers(0, 900, (24, 24), dtype=np.uint16)
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, data, resolution=(5.0, 5.0), resolutionunit="CENTIMETER")
    out = _round_trip(src, tmp_path, "YX")
    with tifffile.TiffFile(out) as tf:
        assert tf.pages.first.get_resolution() == (5.0, 5.0)
        assert tf.pages.first.resolutionunit == tifffile.RESUNIT.CENTIMETER
        assert tf.shaped_metadata[0]["napari-fm2s"]["mode"] == "fast"


@pytest.mark.parametrize("written, kept", [
    (dict(compression="lzw"), "ADOBE_DEFLATE"),  # LZW grows float32 results: deflate
    (dict(compression="zlib", tile=(16, 16)), "ADOBE_DEFLATE"),
    (dict(compression="zstd", imagej=True), "ZSTD"), (dict(bigtiff=True), "NONE")])
def test_compressed_and_bigtiff_inputs_are_read_and_kept(tmp_path, written, kept):
    """LZW TIFFs could not be opened (imagecodecs missing); a deflate input's output was 4x
    its size, uncompressed; a BigTIFF's a classic TIFF.  Float results are compressed with
    the floating-point predictor (LZW without it made them larger than uncompressed)."""
    data = np.random.default_rng(5).integers(0, 900, (32, 32), dtype=np.uint16)
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, data, **written)
    assert np.array_equal(open_image(src).data, data)
    out = _round_trip(src, tmp_path, "YX")
    with tifffile.TiffFile(out) as tf:
        assert tf.pages.first.compression.name == kept
        assert tf.is_bigtiff == bool(written.get("bigtiff"))
        assert tf.is_imagej == bool(written.get("imagej"))


def test_ome_zarr_keeps_axes_transforms_and_channels(tmp_path):
    v2 = {"zarr_format": 2} if int(zarr.__version__.split(".")[0]) >= 3 else {}
    x = np.random.default_rng(5).random((2, 16, 16)).astype(np.float32)
    src = tmp_path / "in.ome.zarr"
    g = zarr.open_group(str(src), mode="w", **v2)
    zarr.open_array(str(src), path="0", mode="w", shape=x.shape, chunks=(1, 16, 16),
                    dtype=x.dtype, **v2)[:] = x
    ms = {"version": "0.4", "name": "cells",
          "axes": [{"name": "c", "type": "channel"}, {"name": "y", "type": "space", "unit":
                   "micrometer"}, {"name": "x", "type": "space", "unit": "micrometer"}],
          "datasets": [{"path": "0", "coordinateTransformations":
                        [{"type": "scale", "scale": [1.0, 0.2, 0.2]},
                         {"type": "translation", "translation": [0.0, 5.0, 7.0]}]}]}
    omero = {"channels": [{"label": "DAPI", "color": "0000FF"},
                          {"label": "GFP", "color": "00FF00"}]}
    g.attrs.update({"multiscales": [ms], "omero": omero})
    opened = open_image(src)
    out = tmp_path / "out.ome.zarr"
    write_zarr_atomic(out, opened.data, ome=opened.ome, zarr_format=opened.zarr_format,
                      description=PROV)
    attrs = dict(zarr.open_group(str(out), mode="r").attrs)
    oms = attrs["multiscales"][0]
    assert oms["axes"] == ms["axes"] and oms["name"] == "cells"  # the image's name kept
    assert oms["datasets"][0]["coordinateTransformations"] == \
        ms["datasets"][0]["coordinateTransformations"]
    assert [c["label"] for c in attrs["omero"]["channels"]] == ["DAPI", "GFP"]
    assert attrs["napari-fm2s"]["preset"] == "confocal"
    # to a TIFF (helper 30: a plain TIFF, pixel size and time step lost): OME, with both
    tif = tmp_path / "out.tif"
    write_tiff_atomic(tif, opened.data, axes="CYX", meta=opened.meta, description=PROV)
    with tifffile.TiffFile(tif) as tf:
        assert tf.is_ome and 'PhysicalSizeX="0.2"' in tf.ome_metadata
        assert 'PhysicalSizeXUnit="µm"' in tf.ome_metadata and 'Name="GFP"' in tf.ome_metadata


def test_ome_zarr_pyramid_levels_are_remade_from_the_result(tmp_path):
    """Only level 0 of a 2-level OME-Zarr came back (napari then reads the full level to
    show a zoomed-out view)."""
    v2 = {"zarr_format": 2} if int(zarr.__version__.split(".")[0]) >= 3 else {}
    x = np.random.default_rng(6).random((2, 17, 16)).astype(np.float32)
    src = tmp_path / "in.ome.zarr"
    g = zarr.open_group(str(src), mode="w", **v2)
    for i, a in enumerate((x, x[:, ::2, ::2])):
        zarr.open_array(str(src), path=str(i), mode="w", shape=a.shape, chunks=a.shape,
                        dtype=a.dtype, **v2)[:] = a
    sets = [{"path": str(i), "coordinateTransformations": [
        {"type": "scale", "scale": [1.0, 0.2 * 2 ** i, 0.2 * 2 ** i]}]} for i in range(2)]
    g.attrs.update({"multiscales": [{"version": "0.4", "datasets": sets, "axes": [
        {"name": n, "type": t} for n, t in (("c", "channel"), ("y", "space"),
                                             ("x", "space"))]}]})
    opened = open_image(src)
    out = tmp_path / "out.ome.zarr"
    write_zarr_atomic(out, opened.data, ome=opened.ome, zarr_format=opened.zarr_format)
    oms = dict(zarr.open_group(str(out), mode="r").attrs)["multiscales"][0]
    assert [d["coordinateTransformations"] for d in oms["datasets"]] == \
        [d["coordinateTransformations"] for d in sets]
    level1 = zarr.open_array(str(out), path="1", mode="r")[:]
    sets.append({"path": "2", "coordinateTransformations": [  # 1 x 0 x 0: not written
        {"type": "scale", "scale": [2.0, 0.2 * 32, 0.2 * 32]}]})
    ome = dict(opened.ome, multiscale=dict(opened.ome["multiscale"], datasets=sets))
    write_zarr_atomic(tmp_path / "o3.ome.zarr", opened.data, ome=ome,
                      zarr_format=opened.zarr_format)
    oms3 = dict(zarr.open_group(str(tmp_path / "o3.ome.zarr"), mode="r").attrs)["multiscales"]
    assert [d["path"] for d in oms3[0]["datasets"]] == ["0", "1"]
    assert level1.shape == (2, 8, 8)
    np.testing.assert_allclose(level1, x[:, :16].reshape(2, 8, 2, 8, 2).mean(axis=(2, 4)),
                               rtol=1e-6)


def test_fm2s_denoise_keeps_imagej_calibration_and_records_the_run(tmp_path):
    """Through the CLI (batch.denoise_file): the file's calibration and how it was made."""
    from napari_fm2s.cli import main

    data = np.random.default_rng(0).integers(0, 4000, (2, 3, 40, 48), dtype=np.uint16)
    src, out = tmp_path / "in.tif", tmp_path / "out.tif"
    tifffile.imwrite(src, data, imagej=True, resolution=(1 / 0.065, 1 / 0.065),
                     metadata={"axes": "TZYX", "spacing": 0.3, "unit": "um", "finterval": 2.5})
    assert main(["denoise", str(src), "-o", str(out), "--fast-steps", "5", "--seed", "7",
                 "--preset", "confocal",
                 "-q"]) == 0
    with tifffile.TiffFile(src) as a, tifffile.TiffFile(out) as b:
        assert b.is_imagej and b.series[0].axes == "TZYX"
        ia, ib = a.imagej_metadata, b.imagej_metadata
        for k in ("frames", "slices", "spacing", "unit", "finterval"):
            assert ib[k] == ia[k], k
        made = json.loads(ib["Properties"]["napari-fm2s"])
        assert made["preset"] == "confocal" and made["mode"] == "fast" and made["seed"] == 7
        assert made["parameters"]["fast_steps"] == 5 and made["source"] == "in.tif"
