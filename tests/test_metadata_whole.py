"""Everything an input TIFF says comes back: the whole OME-XML (instrument, planes,
channel colours, the user's annotations), ImageJ ROIs and overlays, an ImageJ stack of
plain images; and what cannot be denoised is refused (a palette image).  Helper 32 found
each of these dropped without a word."""

import numpy as np
import pytest
import tifffile

from napari_fm2s.io import open_image, read_provenance
from napari_fm2s.metadata import provenance
from napari_fm2s.presets import get_preset
from napari_fm2s.tiff_out import write_tiff_atomic

PROV = provenance(get_preset("confocal"), "fast")
NS = "http://www.openmicroscopy.org/Schemas/OME/2016-06"


def _round_trip(src, out, axes):
    opened = open_image(src)
    write_tiff_atomic(out, opened.data.astype(np.float32), axes=axes, meta=opened.meta,
                      description=PROV)
    opened.close()
    return out


def _rich_ome(data_shape):
    z, c = data_shape[:2]
    planes = "".join(
        f'<Plane TheZ="{iz}" TheC="{ic}" TheT="0" DeltaT="{0.1 * (iz * c + ic):.1f}" '
        f'PositionX="10.5" PositionZ="{0.3 * iz:.1f}" ExposureTime="100"/>'
        for iz in range(z) for ic in range(c))
    tiffdata = "".join(
        f'<TiffData IFD="{iz * c + ic}" PlaneCount="1" FirstZ="{iz}" FirstC="{ic}" '
        f'FirstT="0"/>' for iz in range(z) for ic in range(c))
    channels = "".join(
        f'<Channel ID="Channel:0:{ic}" Name="ch{ic}" Color="{-16776961 + ic}" '
        f'EmissionWavelength="{461 + 48 * ic}" SamplesPerPixel="1"/>' for ic in range(c))
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><OME xmlns="{NS}" UUID="urn:uuid:'
        '12345678-1234-1234-1234-123456789abc" Creator="a microscope">'
        '<Instrument ID="Instrument:0"><Microscope Model="FakeScope 3000"/>'
        '<Objective ID="Objective:0" NominalMagnification="60.0" LensNA="1.4"/></Instrument>'
        '<Image ID="Image:551" Name="cells"><AcquisitionDate>2024-01-02T03:04:05'
        '</AcquisitionDate><Description>two dyes</Description>'
        '<InstrumentRef ID="Instrument:0"/><ObjectiveSettings ID="Objective:0"/>'
        f'<Pixels ID="Pixels:0" DimensionOrder="XYCZT" Type="uint16" SizeX="{data_shape[3]}" '
        f'SizeY="{data_shape[2]}" SizeC="{c}" SizeZ="{z}" SizeT="1" PhysicalSizeX="0.108" '
        f'PhysicalSizeXUnit="µm">{channels}{tiffdata}{planes}</Pixels>'
        '<AnnotationRef ID="Annotation:0"/></Image>'
        '<StructuredAnnotations><MapAnnotation ID="Annotation:0" Namespace="lab.notes">'
        '<Value><M K="Operator">Alice</M></Value></MapAnnotation></StructuredAnnotations>'
        '<Dataset ID="Dataset:1"><ImageRef ID="Image:551"/></Dataset></OME>')


def test_the_whole_ome_xml_is_carried(tmp_path):
    data = np.random.default_rng(0).integers(0, 4000, (3, 2, 24, 32), dtype=np.uint16)
    src = tmp_path / "in.ome.tif"
    tifffile.imwrite(src, data.reshape(6, 24, 32), description=_rich_ome(data.shape).encode(),
                     metadata=None)
    with tifffile.TiffFile(src) as tf:
        assert tf.is_ome and tf.series[0].axes == "ZCYX"
    out = _round_trip(src, tmp_path / "out.ome.tif", "ZCYX")
    with tifffile.TiffFile(out) as tf:
        assert tf.is_ome and tf.series[0].axes == "ZCYX"
        np.testing.assert_array_equal(tf.asarray(), data)
        xml = tf.ome_metadata
    for s in ('Model="FakeScope 3000"', 'LensNA="1.4"', "2024-01-02T03:04:05",
              "<Description>two dyes</Description>", '<InstrumentRef ID="Instrument:0"',
              'Color="-16776960"', 'EmissionWavelength="509"', 'PositionZ="0.6"',
              'DeltaT="0.5"', '<M K="Operator">Alice</M>', 'Type="float"',
              'Namespace="napari-fm2s"', '<AnnotationRef ID="Annotation:0"',
              'PhysicalSizeX="0.108"', '<Image ID="Image:551"', '<ImageRef ID="Image:551"'):
        assert s in xml, s  # IDs kept: references to the image hold (helper 33)
    assert 'Type="uint16"' not in xml and "ns0:" not in xml
    assert read_provenance(out)["preset"] == "confocal"
    again = _round_trip(out, tmp_path / "again.ome.tif", "ZCYX")  # an output denoised again
    with tifffile.TiffFile(again) as tf:
        xml = tf.ome_metadata
    assert xml.count('Namespace="napari-fm2s"') == 1  # this run's record, not both
    assert xml.count('<M K="Operator">Alice</M>') == 1


def test_planes_read_in_other_axes_lose_only_their_per_plane_metadata(tmp_path, caplog):
    """--axes CZYX on a ZCYX OME-TIFF: 3 channels of 2 planes where the file has 2 of
    3.  The Plane elements would describe other planes: left out, with a warning; the
    file's 2 channel names do not fit 3 channels (tifffile had raised IndexError after
    the training, helper 33)."""
    data = np.random.default_rng(0).integers(0, 4000, (3, 2, 24, 32), dtype=np.uint16)
    src = tmp_path / "in.ome.tif"
    tifffile.imwrite(src, data.reshape(6, 24, 32), description=_rich_ome(data.shape).encode(),
                     metadata=None)
    out = tmp_path / "out.ome.tif"
    opened = open_image(src)
    with caplog.at_level("WARNING", logger="napari_fm2s"):
        write_tiff_atomic(out, opened.data.astype(np.float32), axes="CZYX", meta=opened.meta,
                          description=PROV)
    opened.close()
    assert "per-plane metadata (OME Plane times and positions" in caplog.text
    with tifffile.TiffFile(out) as tf:
        assert tf.series[0].axes == "CZYX" and tf.series[0].shape == data.shape
        xml = tf.ome_metadata
    assert "<Plane " not in xml and 'Model="FakeScope 3000"' in xml and 'Name="ch0"' not in xml


def _roi(kind: int) -> bytes:
    """A minimal ImageJ ROI record (header only: what ImageJ and tifffile read)."""
    b = bytearray(64)
    b[:4], b[4:6], b[6] = b"Iout", (227).to_bytes(2, "big"), kind
    b[8:16] = b"\x00\x0a\x00\x0a\x00\x32\x00\x28"  # top, left, bottom, right
    return bytes(b)


def test_imagej_rois_overlays_and_a_plain_images_stack_are_kept(tmp_path):
    data = np.random.default_rng(1).integers(0, 4000, (4, 24, 32), dtype=np.uint16)
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, data, imagej=True, resolution=(10.0, 10.0),
                     metadata={"axes": "ZYX", "unit": "micron", "spacing": 0.7,
                               "Info": "a stack", "ROI": _roi(1),
                               "Overlays": [_roi(2), _roi(1)]})
    # an older writer's ImageJ stack: images=4 without slices; tifffile reads IYX
    tifffile.tiffcomment(src, tifffile.TiffFile(src).pages[0].description
                         .replace("slices=4\n", ""))
    opened = open_image(src)
    assert opened.labels == list("IYX")
    opened.close()
    out = _round_trip(src, tmp_path / "out.tif", "IYX")
    with tifffile.TiffFile(out) as tf:
        assert tf.is_imagej and tf.series[0].shape == data.shape
        md = tf.imagej_metadata
        np.testing.assert_array_equal(tf.asarray(), data)
    assert md["unit"] == "micron" and md["spacing"] == 0.7 and md["Info"].startswith("a stack")
    assert md["ROI"] == _roi(1) and list(md["Overlays"]) == [_roi(2), _roi(1)]
    again = _round_trip(out, tmp_path / "again.tif", "ZYX")  # an output denoised again
    with tifffile.TiffFile(again) as tf:
        assert tf.imagej_metadata["Info"].count("napari-fm2s: {") == 1
        assert tf.imagej_metadata["Info"].startswith("a stack\n")


def test_a_palette_image_is_refused(tmp_path):
    src = tmp_path / "palette.tif"
    cmap = np.zeros((3, 256), np.uint16)
    cmap[0] = np.arange(256) * 257
    tifffile.imwrite(src, np.arange(64 * 64, dtype=np.uint8).reshape(64, 64) % 7,
                     photometric="palette", colormap=cmap)
    with pytest.raises(ValueError, match="palette .*colour-table indices, not intensities"):
        open_image(src)


def test_plain_tiff_text_tags_description_and_series_names_are_kept(tmp_path):
    rng = np.random.default_rng(3)
    src = tmp_path / "plain.tif"
    tifffile.imwrite(src, rng.integers(0, 4000, (24, 32), dtype=np.uint16),
                     description="exposure 100 ms, 60x oil", software="MicroManager 2.0",
                     datetime="2024:01:02 03:04:05",
                     extratags=[(315, "s", 0, "Alice", True), (272, "s", 0, "ORCA-Fusion",
                                                                True)])
    out = _round_trip(src, tmp_path / "out.tif", "YX")
    with tifffile.TiffFile(out) as tf:
        page = tf.pages.first
        assert page.tags.valueof(315) == "Alice" and page.tags.valueof(272) == "ORCA-Fusion"
        assert page.software == "MicroManager 2.0" and page.datetime.year == 2024
        assert page.description == "exposure 100 ms, 60x oil"  # shown as it was
        assert tf.shaped_metadata[0]["napari-fm2s"]["preset"] == "confocal"
    two = tmp_path / "two.tif"
    with tifffile.TiffWriter(two) as tw:
        for name, shape in (("A", (24, 32)), ("B", (20, 28))):
            tw.write(rng.integers(0, 4000, shape, dtype=np.uint16),
                     metadata={"axes": "YX", "name": name})
    dst = tmp_path / "two_out.tif"
    from napari_fm2s.tiff_out import Series, write_tiff_series_atomic

    parts = []
    for i in range(2):
        o = open_image(two, series=i)
        parts.append(Series(o.data.astype(np.float32), "YX", o.meta, PROV))
    write_tiff_series_atomic(dst, parts, 2)
    with tifffile.TiffFile(dst) as tf:
        assert [s.name for s in tf.series] == ["A", "B"]


def test_slice_labels_follow_their_planes_when_the_axes_are_renamed(tmp_path):
    """--axes ZTCYX on a TZCYX hyperstack: the planes are written in ImageJ's order, and
    their labels with them (helper 32: 20 of 24 labels named the wrong plane)."""
    t, z, c = 3, 4, 2
    data = np.random.default_rng(4).integers(0, 4000, (t, z, c, 8, 8), dtype=np.uint16)
    labels = [f"t{i}z{j}c{k}" for i in range(t) for j in range(z) for k in range(c)]
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, data, imagej=True, metadata={"axes": "TZCYX", "Labels": labels,
                                                       "Overlays": [_roi(1)]})
    out = _round_trip(src, tmp_path / "out.tif", "ZTCYX")  # the user's reading of the axes
    with tifffile.TiffFile(out) as tf:
        pages = tf.asarray().reshape(-1, 8, 8)
        written = tf.imagej_metadata["Labels"]
        assert "Overlays" not in tf.imagej_metadata  # their plane positions: the file's
    by_label = dict(zip(labels, data.reshape(-1, 8, 8)))
    assert sorted(written) == sorted(labels) and written != labels
    for name, page in zip(written, pages):
        np.testing.assert_array_equal(page, by_label[name])


def test_a_blank_series_is_copied_as_a_blank_channel_is(tmp_path, capsys):
    from napari_fm2s.cli import main
    from napari_fm2s.samples import synthetic_cells

    src, out = tmp_path / "two.tif", tmp_path / "out.tif"
    with tifffile.TiffWriter(src) as tw:
        tw.write(synthetic_cells((48, 48), seed=1, dtype=np.uint16)[0],
                 metadata={"axes": "YX", "name": "cells"})
        tw.write(np.zeros((32, 32), np.uint16), metadata={"axes": "YX", "name": "blank"})
    assert main(["denoise", str(src), "-o", str(out), "--fast-steps", "10", "-q"]) == 0
    assert "series 2 of 2 (blank): image is constant" in capsys.readouterr().err
    with tifffile.TiffFile(out) as tf:
        assert [s.name for s in tf.series] == ["cells", "blank"]
        assert not tf.series[1].asarray().any()
    with tifffile.TiffWriter(src) as tw:  # nothing but blanks: nothing to denoise
        for _ in range(2):
            tw.write(np.zeros((32, 32), np.uint16), metadata={"axes": "YX"})
    assert main(["denoise", str(src), "-o", str(tmp_path / "o2.tif"), "-q"]) == 1
    assert "every series of two.tif is blank" in capsys.readouterr().err


def test_a_multi_file_ome_dataset_is_denoised_once_per_position(tmp_path):
    """Each file of a multi-file OME dataset describes every position; each position is
    read from the file it starts in (a folder run had written both positions twice)."""
    import uuid

    ids = ["urn:uuid:" + str(uuid.UUID(int=0xF0 + p)) for p in range(2)]
    names = [f"pos{p}.ome.tif" for p in range(2)]
    images = "".join(
        f'<Image ID="Image:{p}" Name="Pos{p}"><Pixels ID="Pixels:{p}" DimensionOrder="XYCZT" '
        'Type="uint16" SizeX="32" SizeY="24" SizeZ="1" SizeC="1" SizeT="2">'
        f'<Channel ID="Channel:{p}:0" SamplesPerPixel="1"/>' + "".join(
            f'<TiffData FirstT="{t}" IFD="{t}" PlaneCount="1"><UUID FileName="{names[p]}">'
            f'{ids[p]}</UUID></TiffData>' for t in range(2)) + "</Pixels></Image>"
        for p in range(2))
    rng = np.random.default_rng(5)
    for p in range(2):
        xml = f'<?xml version="1.0" encoding="UTF-8"?><OME xmlns="{NS}" UUID="{ids[p]}">' \
              f'{images}</OME>'
        with tifffile.TiffWriter(tmp_path / names[p]) as tw:
            for t in range(2):
                tw.write(rng.integers(0, 4000, (24, 32), dtype=np.uint16),
                         description=xml.encode() if t == 0 else None, metadata=None,
                         contiguous=False)
    for p in range(2):
        opened = open_image(tmp_path / names[p])
        assert opened.series == 1 and opened.meta.name == f"Pos{p}"
        expected = tifffile.imread(tmp_path / names[p], series=p)
        np.testing.assert_array_equal(opened.data, expected)
        opened.close()
