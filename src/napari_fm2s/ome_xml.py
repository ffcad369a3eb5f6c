"""The input's whole OME-XML carried into an output OME-TIFF.

tifffile writes an output's OME-XML from a few fields (physical sizes, time step, channel
names, our provenance); :func:`carry_ome` puts that XML's pixel layout (type, sizes,
dimension order, ``TiffData``) and provenance into a copy of the input's own OME-XML, so
everything else the input said (instrument and objective, acquisition date, description,
channel colours and wavelengths, per-plane positions and times, the user's annotations,
ROIs) is kept.  No napari or Qt here.
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from typing import Optional, Sequence

from .metadata import NAMESPACE, xml_tag as _tag

#: Pixels attributes that describe the written data: taken from tifffile's XML.
_LAYOUT = ("DimensionOrder", "Type", "SignificantBits", "BigEndian", "Interleaved",
           "SizeX", "SizeY", "SizeZ", "SizeC", "SizeT")
#: Pixels children that say where the pixels are: taken from tifffile's XML.
_STORAGE = ("TiffData", "BinData", "MetadataOnly")


def _ns(e: ET.Element) -> str:
    return e.tag[:e.tag.index("}") + 1] if e.tag.startswith("{") else ""


def _children(e: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in e if _tag(c) == name]


def _in_ns(e: ET.Element, ns: str) -> ET.Element:
    """A copy of ``e`` with its and its descendants' tags in namespace ``ns``."""
    e = copy.deepcopy(e)
    for d in e.iter():
        d.tag = ns + _tag(d)
    return e


def _ours(root: ET.Element) -> list[ET.Element]:
    """The provenance annotations (namespace :data:`NAMESPACE`) under ``root``."""
    return [a for sa in _children(root, "StructuredAnnotations") for a in sa
            if a.get("Namespace") == NAMESPACE]


def carry_ome(generated: str, sources: Sequence[Optional[tuple[str, int, bool]]]) -> str:
    """``generated`` (tifffile's OME-XML of an output, one Image per written series) merged
    into the input's OME-XML: ``sources[k]`` is (the input's OME-XML, the index of its
    Image, whether its planes were read in the file's axes) for written series ``k``.
    Each written Image is the input's Image (its IDs kept: references to it hold) with
    tifffile's pixel layout; where the sizes differ, tifffile's channels and planes too,
    and where the planes were read in other axes (``--axes``), without the input's
    per-plane Plane elements (they would describe other planes).
    The input's earlier provenance is replaced by this output's.  Returns ``generated``
    unchanged when the series do not all come from one input's OME-XML.  Raises
    ``xml.etree.ElementTree.ParseError`` for XML that does not parse."""
    if not sources or any(s is None for s in sources) or \
            len({s[0] for s in sources if s is not None}) != 1:
        return generated
    gen = ET.fromstring(generated)
    base = ET.fromstring(sources[0][0])  # type: ignore[index]
    ns = _ns(base)
    gen_images, src_images = _children(gen, "Image"), _children(base, "Image")
    if len(gen_images) != len(sources) or any(s[1] >= len(src_images) for s in sources):
        return generated
    old = {a.get("ID") for a in _ours(base)}
    for sa in _children(base, "StructuredAnnotations"):
        for a in [a for a in sa if a.get("ID") in old]:
            sa.remove(a)
    ids = {e.get("ID") for e in base.iter() if e.get("ID")}
    renamed: dict[Optional[str], str] = {}
    n = 0
    for a in _ours(gen):
        while f"Annotation:{NAMESPACE}:{n}" in ids:
            n += 1
        renamed[a.get("ID")] = f"Annotation:{NAMESPACE}:{n}"
        ids.add(renamed[a.get("ID")])
    images = [_image(g, src_images[s[1]], ns, old, renamed, s[2])  # type: ignore[index]
              for g, s in zip(gen_images, sources)]
    at = list(base).index(src_images[0])
    for e in src_images:
        base.remove(e)
    for i, e in enumerate(images):
        base.insert(at + i, e)
    _add_annotations(base, _ours(gen), renamed, ns)
    for key in ("UUID", "Creator"):
        if gen.get(key):
            base.set(key, gen.get(key, ""))
    if ns:  # written unprefixed, as OME-XML is (ElementTree's registry is global)
        ET.register_namespace("", ns[1:-1])
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(base, encoding="unicode")


def _image(gen: ET.Element, src: ET.Element, ns: str, old: set,
           renamed: dict[Optional[str], str], as_read: bool) -> ET.Element:
    """The input's Image ``src`` with the written Image ``gen``'s pixel layout and
    provenance reference (``renamed``: its annotation IDs in the output; ``old``: the
    input's provenance IDs, whose references go); ``as_read``: the planes keep the
    file's axes."""
    out = copy.deepcopy(src)
    gp, sp = _children(gen, "Pixels")[0], _children(out, "Pixels")[0]
    same = all(gp.get(f"Size{a}") == sp.get(f"Size{a}") for a in "XYZCT")
    for key in _LAYOUT:
        if gp.get(key) is not None:
            sp.set(key, gp.get(key, ""))
        elif key in sp.attrib:
            del sp.attrib[key]
    kept = sp if same else gp
    channels = [_in_ns(c, ns) if kept is gp else c for c in _children(kept, "Channel")]
    planes = [_in_ns(c, ns) if kept is gp else c for c in _children(kept, "Plane")
              if as_read or kept is gp]
    storage = [_in_ns(c, ns) for c in gp if _tag(c) in _STORAGE]
    for c in list(sp):
        sp.remove(c)
    sp.extend(channels + storage + planes)
    for ref in [r for r in _children(out, "AnnotationRef") if r.get("ID") in old]:
        out.remove(ref)
    for ref in _children(gen, "AnnotationRef"):
        if ref.get("ID") in renamed:
            out.append(ET.Element(ns + "AnnotationRef", {"ID": renamed[ref.get("ID")]}))
    return out


def _add_annotations(base: ET.Element, ours: list[ET.Element],
                     renamed: dict[Optional[str], str], ns: str) -> None:
    """Append the output's provenance annotations ``ours`` (IDs ``renamed``) to the
    input's StructuredAnnotations (made where it has none, before any ROI)."""
    if not ours:
        return
    sas = _children(base, "StructuredAnnotations")
    if sas:
        sa = sas[0]
    else:
        sa = ET.Element(ns + "StructuredAnnotations")
        later = [i for i, c in enumerate(base) if _tag(c) in ("ROI", "BinaryOnly")]
        base.insert(later[0] if later else len(base), sa)
    for a in ours:
        a = _in_ns(a, ns)
        a.set("ID", renamed[a.get("ID")])
        sa.append(a)
