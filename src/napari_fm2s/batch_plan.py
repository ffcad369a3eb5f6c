"""A batch's plan: its inputs (files, folders, globs) and where each one's result goes,
resolved once before any work (what is done already, what would overwrite an input or
another input's result).  No napari or Qt here.
"""

from __future__ import annotations

import glob
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from .io import READ_SUFFIXES, ZARR_SUFFIX, is_zarr
from .memory import log

TIFF_SUFFIXES = (".tif", ".tiff")
WRITE_SUFFIXES = TIFF_SUFFIXES + (ZARR_SUFFIX,)


def _ome_split(name: str) -> tuple[str, str]:
    """``name`` less a trailing ``.ome`` (any case), and ``".ome"`` where it had one: OME
    readers know a file by its name, so outputs keep it (``NAME_fm2s.ome.tif``)."""
    return (name[:-4], ".ome") if name.lower().endswith(".ome") else (name, "")


def spread_path(dst: Path) -> Path:
    """Where ``--spread`` writes the spread of ``dst``: ``out.tif`` -> ``out.spread.tif``,
    ``out.ome.tif`` -> ``out.spread.ome.tif``."""
    base, ome = _ome_split(dst.name[:-len(dst.suffix)])
    return dst.with_name(f"{base}.spread{ome}{dst.suffix}")


def _is_input(p: Path) -> bool:
    return (p.is_file() and p.suffix.lower() in READ_SUFFIXES) or (p.is_dir() and is_zarr(p))


def is_output_name(name: str) -> bool:
    """Whether a file name is one this tool writes (``NAME_fm2s.tif``, ``NAME_fm2s.ome.tif``,
    ``NAME_fm2s.zarr``, a spread ``NAME.spread.tif``): left out of folders and globs."""
    stem = name.rsplit(".", 1)[0] if "." in name else name
    base, _ = _ome_split(stem)
    return base.endswith(("_fm2s", ".spread"))


def find_inputs(inputs: Sequence[str]) -> list[Path]:
    """Files, folders (their image files and ``.zarr`` folders) and globs, in order.

    A path that does not exist is kept (its job then fails with a clear message); a glob
    or a folder that matches no image is an error.  Folders and globs leave out files
    named as this tool's results (:func:`is_output_name`): a batch written into its input
    folder does not denoise its own results when run again.
    """
    return list(_found(inputs))


def _kind(s: str) -> str:
    """How an input argument is read: "folder" (its images), "pattern" (a glob that names
    no existing path) or "file"."""
    p = Path(s)
    if p.is_dir() and not is_zarr(p):
        return "folder"
    return "pattern" if not p.exists() and glob.has_magic(s) else "file"


def _glob_root(pattern: str) -> Path:
    """The folder part of a glob before its first wildcard: ``mm/*/img.tif`` -> ``mm``."""
    parts = Path(pattern).parts
    i = next(k for k, part in enumerate(parts) if glob.has_magic(part))
    return Path(*parts[:i]) if i else Path(".")


def _found(inputs: Sequence[str]) -> dict[Path, Path]:
    """Each input (in order, once) and the folder its output's sub-folders start from: a
    glob's fixed part (its matches keep their folders below it), else its own folder."""
    found: dict[Path, Path] = {}
    seen: set[Path] = set()
    left_out = 0
    for s in inputs:
        p, kind = Path(s), _kind(s)
        if kind == "folder":
            hits = sorted(q for q in p.iterdir() if _is_input(q))
            if not hits:
                raise ValueError(f"folder {p} holds no {'/'.join(READ_SUFFIXES + (ZARR_SUFFIX,))}"
                                 " images")
            root = p
        elif kind == "pattern":
            hits = sorted(Path(q) for q in glob.glob(s) if _is_input(Path(q)))
            if not hits:
                raise ValueError(f"no images match {s!r}")
            root = _glob_root(s)
        else:
            hits, root = [p], p.parent
        for q in hits:
            if q is not p and is_output_name(q.name):  # found, not named: a result
                left_out += 1
                continue
            key = q.resolve()
            if key not in seen:
                seen.add(key)
                found[q] = q.parent if q is p else root
    if left_out:
        log.info("outputs: %d file(s) named as fm2s results (NAME_fm2s.*, *.spread.*) left "
                 "out of the folders and patterns given; name them to denoise them", left_out)
    if not found:
        raise ValueError("the folders and patterns given hold only fm2s results "
                         "(NAME_fm2s.*): name a file to denoise it again")
    return found


def output_path(src: Path, output: Path, several: bool) -> Path:
    """Where ``src``'s result goes: ``output`` itself, or ``output/NAME_fm2s.tif|.zarr``
    (``NAME_fm2s.ome.tif|.ome.zarr`` for OME inputs).

    ValueError when that would overwrite the input or is not a writable kind.
    """
    dst = _output_path(src, output, several)
    if src.exists() and dst.resolve() == src.resolve():
        raise ValueError("output would overwrite the input; choose another -o")
    return dst


def _output_path(src: Path, output: Path, several: bool) -> Path:
    if several or output.is_dir() and not is_zarr(output):
        if is_zarr(src):
            name = src.name[:-len(ZARR_SUFFIX)] if src.name.lower().endswith(ZARR_SUFFIX) \
                else src.name
            base, ome = _ome_split(name)
            return output / f"{base}_fm2s{ome}.zarr"
        base, ome = _ome_split(src.stem)
        return output / f"{base}_fm2s{ome}.tif"
    if output.suffix.lower() not in WRITE_SUFFIXES:
        raise ValueError(f"output {output} must end in .tif, .tiff or .zarr "
                         "(results are float32 TIFF or zarr; RGB in its integer type)")
    return output


@dataclass
class Plan:
    """A batch resolved once: the jobs to run, those done already, inputs refused."""

    jobs: list[tuple[Path, Path]]  # (input, output) to denoise
    done: list[tuple[Path, Path]]  # outputs that exist (skipped unless overwrite)
    refused: list[tuple[Path, ValueError]]  # inputs with no valid output path
    folder: Optional[Path] = None  # the output folder of several inputs (made when run)

    @property
    def total(self) -> int:
        return len(self.jobs) + len(self.done)

    @property
    def inputs(self) -> int:
        return self.total + len(self.refused)


def make_plan(inputs: Sequence[str], output: str | Path, overwrite: bool = False) -> Plan:
    """Resolve inputs (files, folders, globs) and their outputs, once, before any work.

    Several inputs (or a folder or glob, or ``output`` ending in "/") write into the
    folder ``output`` (:func:`~napari_fm2s.batch.run_batch` creates it).
    """
    roots = _found(inputs)
    paths = list(roots)
    named_folder = str(output).endswith(("/", os.sep))  # -o newdir/: a folder, made
    output = Path(output)
    several = named_folder or len(paths) > 1 or len(inputs) > 1 or any(  # a folder or a
        _kind(s) != "file" for s in inputs)  # glob: into a folder (one file twice: too)
    if several and not output.is_dir() and output.suffix.lower() in TIFF_SUFFIXES:
        raise ValueError(f"several inputs (a folder or a pattern) are written into a folder, "
                         f"and -o {output} looks like a file name: give a folder, e.g. "
                         f"-o {output.with_suffix('')}/")
    plan = Plan([], [], [], output if several else None)
    first: dict[str, Path] = {}
    for p in paths:
        try:
            dst = output_path(p, output / _below(p, roots[p]) if several else output,
                              several)
        except ValueError as e:
            plan.refused.append((p, e))
            continue
        if _key(dst) in first:  # a.tif and a.png; or one name in two folders given alike
            plan.refused.append((p, ValueError(
                f"its output {dst} would also be {first[_key(dst)]}'s (the same name): "
                "rename one, denoise it on its own with its own -o, or give such files as "
                "a pattern whose matches keep their folders, in quotes so that the shell "
                "passes it as it is (e.g. 'DIR/*/NAME.tif')")))
            continue
        first[_key(dst)] = p
        (plan.done if dst.exists() and not overwrite else plan.jobs).append((p, dst))
    return plan


def _below(p: Path, root: Path) -> Path:
    """``p``'s folder relative to ``root`` (``.`` when it is not below it)."""
    try:
        return p.resolve().parent.relative_to(root.resolve())
    except ValueError:
        return Path(".")


def _key(dst: Path) -> str:
    """An output path as the file system may compare it (case-insensitive on macOS and
    Windows: two names differing in case only are taken as one there)."""
    key = os.path.normcase(os.path.abspath(dst))
    return key.casefold() if sys.platform in ("darwin", "win32") else key
