"""A batch's plan: its inputs (files, folders, globs) and where each one's result goes,
resolved once before any work (what is done already, what would overwrite an input or
another input's result).  No napari or Qt here.
"""

from __future__ import annotations

import glob
import os
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


def find_inputs(inputs: Sequence[str]) -> list[Path]:
    """Files, folders (their image files and ``.zarr`` folders) and globs, in order.

    A path that does not exist is kept (its job then fails with a clear message); a glob
    or a folder that matches no image is an error.
    """
    paths: list[Path] = []
    for s in inputs:
        p = Path(s)
        if p.is_dir() and not is_zarr(p):
            found = sorted(q for q in p.iterdir() if _is_input(q))
            if not found:
                raise ValueError(f"folder {p} holds no {'/'.join(READ_SUFFIXES + (ZARR_SUFFIX,))}"
                                 " images")
            paths.extend(found)
        elif not p.exists() and glob.has_magic(s):
            found = sorted(Path(q) for q in glob.glob(s) if _is_input(Path(q)))
            if not found:
                raise ValueError(f"no images match {s!r}")
            paths.extend(found)
        else:
            paths.append(p)
    seen: set[Path] = set()
    unique = []
    for p in paths:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


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
    if several or output.is_dir() and not is_zarr(output) or str(output).endswith(("/", "\\")):
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

    Several inputs (or a folder or glob) write into the folder ``output``
    (:func:`run_batch` creates it).
    """
    paths = find_inputs(inputs)
    output = Path(output)
    several = len(paths) > 1 or any(  # a folder or a glob always writes into a folder
        (Path(s).is_dir() and not is_zarr(s)) or (not Path(s).exists() and glob.has_magic(s))
        for s in inputs)
    if several and not output.is_dir() and output.suffix.lower() in TIFF_SUFFIXES:
        raise ValueError(f"several inputs (a folder or a pattern) are written into a folder, "
                         f"and -o {output} looks like a file name: give a folder, e.g. "
                         f"-o {output.with_suffix('')}/")
    plan = Plan([], [], [], output if several else None)
    dsts = _outputs(paths, output, several, plan.refused)
    if several and len({_key(d) for d in dsts.values()}) < len(dsts):
        common = Path(os.path.commonpath([str(p.resolve().parent) for p in dsts]))
        log.info("outputs: inputs in different folders share file names, so the outputs "
                 "keep their folders below %s", common)
        dsts = {p: output_path(p, output / p.resolve().parent.relative_to(common), True)
                for p in dsts}
    first: dict[str, Path] = {}
    for p, dst in dsts.items():
        if _key(dst) in first:  # same folder, same name, another suffix (a.tif, a.png)
            plan.refused.append((p, ValueError(
                f"its output {dst} would also be {first[_key(dst)]}'s (the same name): "
                "rename one of them or denoise it on its own with its own -o")))
            continue
        first[_key(dst)] = p
        (plan.done if dst.exists() and not overwrite else plan.jobs).append((p, dst))
    return plan


def _key(dst: Path) -> str:
    """An output path as the file system may compare it (case-insensitive on macOS and
    Windows: two names differing in case only are taken as one)."""
    return os.path.normcase(os.path.abspath(dst)).casefold()


def _outputs(paths: Sequence[Path], output: Path, several: bool,
             refused: list[tuple[Path, ValueError]]) -> dict[Path, Path]:
    """Each input's output path (:func:`output_path`); those with none go to ``refused``."""
    dsts = {}
    for p in paths:
        try:
            dsts[p] = output_path(p, output, several)
        except ValueError as e:
            refused.append((p, e))
    return dsts
