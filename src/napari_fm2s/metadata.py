"""What an input TIFF says about itself, and how an output TIFF says it again.

:func:`read_tiff_meta` collects, from an open ``tifffile.TiffFile``, the ImageJ hyperstack
metadata (spacing, unit, frame interval, labels, info), the OME-XML calibration (physical
sizes and units, time increment, channel names) and the resolution tags.
:func:`tiff_write_options` turns it back into ``tifffile.imwrite`` arguments for the
denoised data:

* ImageJ in -> ImageJ hyperstack out (axes in ImageJ's TZCYXS order, same calibration);
* OME-TIFF in -> OME-TIFF out (PhysicalSize*, TimeIncrement, channel names);
* any other TIFF: the axes and resolution in tifffile's own JSON description.

Every output records how it was made (:func:`provenance`): in ImageJ's ``Info`` and
``Properties``, in an OME ``MapAnnotation`` (namespace ``napari-fm2s``), or in the JSON
description.  RGB(A) outputs are written in the input's integer type (rounded, clipped),
because many viewers cannot show a float RGB TIFF.
"""

from __future__ import annotations

import datetime as _dt
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from typing import Any, Optional

import numpy as np

#: ImageJ's axis order; an ImageJ hyperstack holds no other axes.
IMAGEJ_AXES = "TZCYXS"
#: ImageJ metadata keys that are copied to the output (the rest follow from the shape).
#: The display ranges too: the output is in the input's units, so it opens with the
#: contrast the input was saved with.
_IMAGEJ_KEEP = ("unit", "spacing", "finterval", "fps", "loop", "mode", "xorigin", "yorigin",
                "zorigin", "Info", "Properties", "Labels", "LUTs", "Ranges", "min", "max",
                "ROI", "Overlays", "Plot")
#: ImageJ's display ranges: right for a result in the input's units, not for its spread.
_IMAGEJ_DISPLAY = ("Ranges", "min", "max")
#: Lossless TIFF compressions (tifffile's COMPRESSION names) an output keeps, as
#: ``tifffile.imwrite``'s ``compression``; others (JPEG ...) are written uncompressed.
_LOSSLESS = {"LZW": "lzw", "ADOBE_DEFLATE": "zlib", "DEFLATE": "zlib", "ZSTD": "zstd",
             "LZMA": "lzma", "PACKBITS": "packbits"}
_OME_PIXELS = ("PhysicalSizeX", "PhysicalSizeXUnit", "PhysicalSizeY", "PhysicalSizeYUnit",
               "PhysicalSizeZ", "PhysicalSizeZUnit", "TimeIncrement", "TimeIncrementUnit",
               "SignificantBits")
NAMESPACE = "napari-fm2s"
#: The first page's text tags an output keeps: DocumentName, Make, Model (the camera),
#: Software, DateTime, Artist, HostComputer, Copyright.
TEXT_TAGS = (269, 271, 272, 305, 306, 315, 316, 33432)


@dataclass
class TiffMeta:
    """Metadata of an input TIFF that an output should keep."""

    axes: str = ""
    dtype: str = ""
    imagej: Optional[dict] = None  # kept ImageJ metadata (when the file is ImageJ)
    ome: Optional[dict] = None  # OME Pixels attributes (floats / units) when OME-TIFF
    channel_names: list[str] = field(default_factory=list)  # OME Channel Name
    resolution: Optional[tuple[float, float]] = None  # pixels per unit (X, Y)
    resolutionunit: Optional[int] = None
    compression: Optional[str] = None  # the input's lossless compression, kept (tifffile)
    bigtiff: bool = False  # the input is a BigTIFF: so is the output
    name: Optional[str] = None  # OME Image Name (a stage position's, a series')
    ome_xml: Optional[str] = None  # the input's whole OME-XML (carried: napari_fm2s.ome_xml)
    ome_index: int = 0  # the index of this series' Image in it
    tags: dict[int, str] = field(default_factory=dict)  # text tags (:data:`TEXT_TAGS`)
    text: Optional[str] = None  # a plain TIFF's own free-text ImageDescription


def xml_tag(e: ET.Element) -> str:
    """An XML element's tag without its namespace."""
    return e.tag.rsplit("}", 1)[-1]


def _ome_pixels(xml: str, index: int = 0) -> tuple[dict, list[str], Optional[str]]:
    """(Pixels calibration, channel names, Image Name) of the ``index``-th OME Image."""
    root = ET.fromstring(xml)
    images = [e for e in root.iter() if xml_tag(e) == "Image"]
    image = images[index] if index < len(images) else None
    pixels = next((e for e in (image if image is not None else root).iter()
                   if xml_tag(e) == "Pixels"), None)
    if pixels is None:
        return {}, [], None
    out: dict[str, Any] = {}
    for k in _OME_PIXELS:
        v = pixels.get(k)
        if v is not None:
            out[k] = v if k.endswith("Unit") else float(v)
    names = [c.get("Name", "") for c in pixels if xml_tag(c) == "Channel"]
    return out, names if any(names) else [], None if image is None else image.get("Name")


#: OME-Zarr (UDUNITS) unit names and their OME-TIFF symbols.
_UNITS = {"micrometer": "µm", "nanometer": "nm", "millimeter": "mm", "centimeter": "cm",
          "meter": "m", "angstrom": "Å", "second": "s", "millisecond": "ms",
          "microsecond": "µs", "minute": "min", "hour": "h"}


def ome_zarr_meta(multiscale: dict, omero: Optional[dict]) -> TiffMeta:
    """What a TIFF written from an OME-Zarr image keeps: its level-0 pixel sizes and time
    step (with their units) as OME Pixels attributes, and the ``omero`` channel labels."""
    axes = [a if isinstance(a, dict) else {"name": str(a)} for a in multiscale.get("axes", [])]
    scale, scaled = [1.0] * len(axes), False
    for t in (multiscale["datasets"][0].get("coordinateTransformations") or []) + \
            (multiscale.get("coordinateTransformations") or []):
        if t.get("type") == "scale" and len(t.get("scale", [])) == len(axes):
            scale, scaled = [a * float(b) for a, b in zip(scale, t["scale"])], True
    ome: dict[str, Any] = {}
    for a, size in zip(axes, scale):
        name = str(a.get("name", "")).upper()
        key = {"X": "PhysicalSizeX", "Y": "PhysicalSizeY", "Z": "PhysicalSizeZ",
               "T": "TimeIncrement"}.get(name)
        if key is not None and (scaled or a.get("unit")):  # none given: none claimed
            ome[key] = size
            if a.get("unit") in _UNITS:
                ome[key + "Unit"] = _UNITS[a["unit"]]
    labels = [str(c.get("label", "")) for c in (omero or {}).get("channels", [])
              if isinstance(c, dict)]
    return TiffMeta(axes="".join(str(a.get("name", "")).upper() for a in axes), ome=ome,
                    channel_names=labels if any(labels) else [])


def ome_annotation(xml: str, namespace: str) -> Optional[dict]:
    """The key-value pairs of the OME MapAnnotation of ``namespace`` (values read as JSON
    where they are), or None."""
    for e in ET.fromstring(xml).iter():
        if xml_tag(e) == "MapAnnotation" and e.get("Namespace") == namespace:
            out: dict[str, Any] = {}
            for m in e.iter():
                if xml_tag(m) == "M" and m.get("K"):
                    try:
                        out[m.get("K", "")] = json.loads(m.text or "")
                    except ValueError:
                        out[m.get("K", "")] = m.text or ""
            return out
    return None


def read_tiff_meta(tf: Any, index: int = 0) -> TiffMeta:
    """:class:`TiffMeta` of an open ``tifffile.TiffFile``'s series ``index``."""
    series = tf.series[index]
    meta = TiffMeta(axes=str(series.axes), dtype=str(series.dtype))
    if tf.is_imagej and tf.imagej_metadata:
        meta.imagej = {k: v for k, v in tf.imagej_metadata.items() if k in _IMAGEJ_KEEP}
    if tf.is_ome and tf.ome_metadata:
        try:
            meta.ome, meta.channel_names, meta.name = _ome_pixels(tf.ome_metadata, index)
            meta.ome_xml, meta.ome_index = tf.ome_metadata, index
        except ET.ParseError:
            meta.ome = {}
    page = getattr(series, "keyframe", None) or tf.pages.first
    for code in TEXT_TAGS:
        value = page.tags.valueof(code)
        if isinstance(value, str) and value.strip():
            meta.tags[code] = value
    text = tf.pages.first.description
    if text.strip() and not (tf.is_imagej or tf.is_ome or text.startswith('{"shape"')):
        meta.text = text  # not tifffile's JSON (then in the second description, if any)
    if tf.is_shaped and series.name:  # a plain multi-series file's series names
        meta.name = str(series.name)
    meta.compression = _LOSSLESS.get(getattr(page.compression, "name", ""))
    meta.bigtiff = bool(tf.is_bigtiff)
    try:
        x, y = page.get_resolution()
        if x > 0 and y > 0 and (x, y) != (1, 1):
            meta.resolution = (float(x), float(y))
            meta.resolutionunit = int(page.resolutionunit)
    except Exception:  # no or broken resolution tags
        pass
    return meta


def without_display_ranges(meta: Optional[TiffMeta]) -> Optional[TiffMeta]:
    """``meta`` without ImageJ's display ranges (for an output not in the input's range)."""
    if meta is None or meta.imagej is None:
        return meta
    return replace(meta, imagej={k: v for k, v in meta.imagej.items()
                                 if k not in _IMAGEJ_DISPLAY})


def ome_without_windows(ome: Optional[dict]) -> Optional[dict]:
    """An OME-Zarr input's kept metadata (:attr:`~napari_fm2s.io.Opened.ome`) without the
    ``omero`` channels' display windows (for an output not in the input's range: helper
    30's spread, 0-50, carried the result's window 100-1200)."""
    omero = (ome or {}).get("attrs", {}).get("omero")
    if not isinstance(omero, dict) or not isinstance(omero.get("channels"), list):
        return ome
    channels = [{k: v for k, v in c.items() if k != "window"} if isinstance(c, dict) else c
                for c in omero["channels"]]
    assert ome is not None
    return {**ome, "attrs": {**ome["attrs"], "omero": {**omero, "channels": channels}}}


def package_version() -> str:
    try:
        from importlib.metadata import version

        return version("napari-fm2s")
    except Exception:  # pragma: no cover - not installed
        return "0.0.0+unknown"


def provenance(preset: Any, mode: str, **extra: Any) -> dict[str, Any]:
    """How an output was made: package and version, preset (name and every parameter:
    calibrated values for ``auto``), mode, seed, the CPU threads (called during the run:
    the same seed gives the same result with the same threads), time; ``extra`` is added
    as is."""
    import torch

    params = {k: v for k, v in preset.as_dict().items()
              if isinstance(v, (int, float, str)) and not isinstance(v, bool)}
    return {"software": NAMESPACE, "version": package_version(), "preset": preset.name,
            "mode": mode, "seed": int(preset.seed), "threads": torch.get_num_threads(),
            "parameters": params,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            **extra}


def rgb_dtype(meta: Optional[TiffMeta]) -> Optional[np.dtype]:
    """The dtype an RGB(A) output is written in: the input's, when it is an integer type."""
    if meta is None or not meta.dtype:
        return None
    dt = np.dtype(meta.dtype)
    return dt if np.issubdtype(dt, np.integer) else None


def cast_rgb(page: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``page`` rounded and clipped into ``dtype``'s range."""
    info = np.iinfo(dtype)
    return np.clip(np.rint(page), info.min, info.max).astype(dtype)


def tiff_layout(shape: tuple[int, ...], axes: str) -> tuple[list[int], str, str]:
    """The axis order to write data of ``shape`` and ``axes`` in: Y, X last, and an RGB(A)
    S (3 or 4 samples) after them, or just before them where it was (a planar RGB TIFF);
    the axes it gives and the photometric layout: "minisblack", "rgb" or "rgb-planar"."""
    s = axes.find("S")
    rgb = s >= 0 and shape[s] in (3, 4)
    kind = ("rgb" if rgb and s == len(axes) - 1 else
            "rgb-planar" if rgb and axes.endswith("SYX") else "minisblack")
    tail = [axes.index("Y"), axes.index("X")]
    tail = tail + [s] if kind == "rgb" else [s] + tail if kind == "rgb-planar" else tail
    order = [i for i in range(len(axes)) if i not in tail] + tail
    return order, "".join(axes[i] for i in order), kind


def _imagej_letters(axes: str) -> str:
    """``axes`` with a generic stack axis (tifffile's ``I``: an ImageJ stack of images
    without slices or frames; ``Q``) named by a free ImageJ letter, Z then T."""
    for a in "IQ":
        free = next((b for b in "ZT" if b not in axes), None)
        if a in axes and free is not None:
            axes = axes.replace(a, free)
    return axes


def tiff_write_options(meta: Optional[TiffMeta], axes: str, shape: tuple[int, ...],
                       dtype: np.dtype, photometric: str, description: Optional[dict]
                       ) -> tuple[str, dict]:
    """(axes order to write, ``tifffile.imwrite`` keyword arguments) for data of ``shape``
    with ``axes`` in :func:`tiff_layout`'s order, its ``photometric`` layout and ``dtype``,
    keeping ``meta`` and recording ``description``.  A planar RGB is never written as
    an ImageJ hyperstack (ImageJ's RGB is contiguous)."""
    text = json.dumps(description) if description else ""
    rgb = photometric != "minisblack"
    kw: dict[str, Any] = {"photometric": "rgb" if rgb else "minisblack"}
    if meta is not None and meta.compression:  # float data: LZW / PackBits grow it
        floating = np.issubdtype(np.dtype(dtype), np.floating)
        lossless = "zlib" if floating and meta.compression in ("lzw", "packbits") \
            else meta.compression
        kw["compression"] = lossless
        if floating:
            kw["predictor"] = True  # floating-point predictor
    if photometric == "rgb-planar":
        kw["planarconfig"] = "separate"
    if meta is not None and meta.tags:
        tags = dict(meta.tags)
        kw["software"] = tags.pop(305, None) or None
        kw["datetime"] = tags.pop(306, None) or None
        kw["extratags"] = [(code, "s", 0, v, True) for code, v in tags.items()]
    if meta is not None and meta.resolution:
        kw["resolution"] = meta.resolution
        kw["resolutionunit"] = meta.resolutionunit
    named = _imagej_letters(axes)
    imagej_ok = (meta is not None and meta.imagej is not None
                 and set(named) <= set(IMAGEJ_AXES)
                 and np.dtype(dtype).name in ("uint8", "uint16", "float32")
                 and (not rgb or np.dtype(dtype) == np.uint8) and photometric != "rgb-planar")
    if imagej_ok:
        assert meta is not None and meta.imagej is not None
        ij_axes = "".join(a for a in IMAGEJ_AXES if a in named)
        md = dict(meta.imagej)
        planes = int(np.prod([n for a, n in zip(axes, shape) if a in "TZC"], dtype=np.int64))
        if len(md.get("Labels") or []) != planes:  # slice labels: one per plane
            md.pop("Labels", None)
        if text:  # an earlier run's record (an output denoised again) is replaced
            info = [ln for ln in str(md.get("Info", "")).split("\n")
                    if not ln.startswith(f"{NAMESPACE}: {{")]
            md["Info"] = "\n".join(info + [f"{NAMESPACE}: {text}"]).lstrip()
            md["Properties"] = {**dict(md.get("Properties") or {}), NAMESPACE: text}
        md["axes"] = ij_axes
        return ij_axes.translate(str.maketrans(named, axes)), \
            {**kw, "imagej": True, "metadata": md}
    if meta is not None and meta.ome is not None:
        md = {"axes": axes, **{k: v for k, v in meta.ome.items() if k != "SignificantBits"}}
        if meta.name:
            md["Name"] = meta.name
        nc = shape[axes.index("C")] if "C" in axes else 1  # --axes may change the count
        if meta.channel_names and len(meta.channel_names) == nc:
            md["Channel"] = {"Name": list(meta.channel_names)}
        if description:
            md["MapAnnotation"] = {"Namespace": NAMESPACE,
                                   **{k: json.dumps(v) if not isinstance(v, str) else v
                                      for k, v in description.items()}}
        return axes, {**kw, "ome": True, "metadata": md}
    md = {"axes": axes}
    if meta is not None and meta.text:  # the input's own words first, tifffile's JSON after
        kw["description"] = meta.text
    if meta is not None and meta.name:
        md["name"] = meta.name
    if description:
        md[NAMESPACE] = description
    return axes, {**kw, "metadata": md}
