"""Batch denoising of files: inputs from folders and globs, resumable, atomic outputs.

:func:`make_plan` resolves the inputs and outputs once (what is done already, what would
overwrite an input).  One file is one job (:func:`denoise_file`): open (lazily when large
or zarr), denoise with :func:`napari_fm2s.denoise`, write TIFF or zarr under a temporary
name, rename.  An output that exists is complete, so a batch is resumed by running it
again (existing outputs are skipped unless ``overwrite``).  :func:`run_batch` runs jobs here, or on a Dask distributed
cluster: each TIFF / PNG job as one task on a worker, each zarr job trained here with its
inference chunks computed by the cluster's workers (which must see the same file system).
"""

from __future__ import annotations

import glob
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from .hooks import DenoiseCancelled
from .io import (LAZY_BYTES, READ_SUFFIXES, ZARR_SUFFIX, is_zarr, open_image,
                 remove_stale_parts, write_tiff_atomic, write_zarr_atomic)
from .axes import GuessedAxes, check_axes, guess_axes
from .memory import log
from .metadata import provenance, without_display_ranges

TIFF_SUFFIXES = (".tif", ".tiff")
WRITE_SUFFIXES = TIFF_SUFFIXES + (ZARR_SUFFIX,)
#: X and Y swapped: a TIFF written in the input's layout calls its rows Y.
_SWAP_YX = str.maketrans("XY", "YX")


@dataclass(frozen=True)
class Settings:
    """Everything a job needs besides its paths (picklable, for cluster workers)."""

    preset: str = "auto"
    mode: Optional[str] = None
    axes: Optional[str] = None
    offset: Optional[float] = None  # camera black level, input units (None: auto estimates)
    per_plane: bool = False
    seed: Optional[int] = None
    device: Optional[str] = None
    overrides: dict = field(default_factory=dict)
    lazy_bytes: int = LAZY_BYTES
    model: Any = None  # a saved model (FM2SModel, loaded once) to apply instead of training
    save_model: Optional[str] = None  # where to save the trained model (one input only)
    threads: Optional[int] = None  # CPU threads (None: $FM2S_THREADS, else usable cores)
    spread: bool = False  # also write the spread of the flip ensemble (spread_path)


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


def denoise_file(src: Path, dst: Path, settings: Settings,
                 progress: Optional[Callable[[int, int, float], None]] = None,
                 write_progress: Optional[Callable[[int, int], None]] = None,
                 scheduler: Any = "threads") -> None:
    """Open ``src``, denoise it, write ``dst`` whole (atomically) or not at all.

    Paths are checked by :func:`make_plan`.  ``scheduler`` computes the chunks of lazy
    (zarr or large TIFF) input: ``"threads"`` (here), or a ``distributed.Client``.
    """
    from .api import denoise

    src, dst = Path(src), Path(dst)
    remove_stale_parts(dst)
    opened = open_image(src, settings.lazy_bytes)
    try:
        shape, dtype = tuple(opened.data.shape), opened.data.dtype
        axes = check_axes(settings.axes, shape) if settings.axes else \
            guess_axes(shape, dtype, labels=opened.labels)
        how = "given" if not isinstance(axes, GuessedAxes) else \
            f"{'guessed' if axes.rule else 'from the file'}; pass --axes to change"
        log.info("axes: %s (%s)", axes, how)  # the CLI prints it
        made: dict[str, Any] = {}  # how the output was made, for its metadata
        result = denoise(opened.data, settings.preset, mode=settings.mode, axes=axes,
                         per_plane=settings.per_plane, seed=settings.seed,
                         offset=settings.offset,
                         device=settings.device, progress=progress, scheduler=scheduler,
                         model=settings.model, save_model=settings.save_model,
                         on_params=lambda p, mode: made.update(
                             provenance(p, mode, source=src.name)),
                         threads=settings.threads, return_spread=settings.spread,
                         **settings.overrides)
        # the spread first: the result's file is the sign that the job is done
        outputs = [(spread_path(dst), result[1], "spread of the flip ensemble (input units)"),
                   (dst, result[0], None)] if settings.spread else [(dst, result, None)]
        for path, data, what in outputs:
            desc = made if what is None else {**made, "content": what}
            if path.suffix.lower() == ZARR_SUFFIX:
                write_zarr_atomic(path, data, ome=opened.ome, zarr_format=opened.zarr_format,
                                  name=path.name, scheduler=scheduler,
                                  progress=write_progress, description=desc)
            else:  # a spread is float data: RGB samples become channels
                ax = axes if what is None or "C" in axes else str(axes).replace("S", "C")
                if ax.index("X") < ax.index("Y"):  # keep the input's layout
                    ax = ax.translate(_SWAP_YX)
                meta = opened.meta if what is None else without_display_ranges(opened.meta)
                write_tiff_atomic(path, data, axes=ax, scheduler=scheduler,
                                  progress=write_progress, meta=meta, description=desc)
    finally:
        opened.close()


@dataclass
class Outcome:
    """What happened to one job: ``status`` is "done", "skipped" or "failed"."""

    src: Path
    dst: Optional[Path]
    status: str
    seconds: float = 0.0
    error: Optional[BaseException] = None


def connect(address: str) -> Any:
    """A ``distributed.Client`` for the scheduler at ``address``; ValueError if unreachable."""
    try:
        from distributed import Client
    except ImportError as e:
        raise ValueError("--scheduler needs the 'distributed' package: "
                         "pip install 'napari-fm2s[distributed]'") from e
    try:
        return Client(address, timeout="10s")
    except (OSError, TimeoutError) as e:
        raise ValueError(f"cannot reach the Dask scheduler at {address}: {e}") from e


def run_batch(plan: Plan, settings: Settings, client: Any = None,
              on_start: Optional[Callable[[int, Path], Any]] = None,
              on_done: Optional[Callable[[Outcome, int, int], None]] = None) -> list[Outcome]:
    """Run a :class:`Plan`; ``client``: a ``distributed.Client`` or ``None`` (here).

    ``on_start(i, src)`` may return ``(progress, write_progress)`` callbacks for a job run
    here; ``on_done(outcome, finished, total)`` is called as each job ends (skipped ones
    first).  Failures are recorded, not raised (KeyboardInterrupt is).
    """
    outcomes: list[Outcome] = []
    total = plan.total
    if plan.folder is not None:
        plan.folder.mkdir(parents=True, exist_ok=True)
        for _, dst in plan.jobs:  # inputs in several folders sharing names (make_plan)
            dst.parent.mkdir(parents=True, exist_ok=True)

    def finish(o: Outcome) -> None:
        outcomes.append(o)
        if on_done is not None:
            on_done(o, len(outcomes), total)

    for src, dst in plan.done:
        finish(Outcome(src, dst, "skipped"))

    def local(i: int, src: Path, dst: Path, scheduler: Any) -> None:
        cbs = on_start(i, src) if on_start is not None else None
        prog, wprog = cbs if cbs else (None, None)
        t0 = time.perf_counter()
        try:
            denoise_file(src, dst, settings, prog, wprog, scheduler)
            finish(Outcome(src, dst, "done", time.perf_counter() - t0))
        except DenoiseCancelled:
            raise
        except Exception as e:  # any failure of one file is recorded; the batch goes on
            finish(Outcome(src, dst, "failed", time.perf_counter() - t0, e))

    if client is None:
        for i, (src, dst) in enumerate(plan.jobs):
            local(i, src, dst, "threads")
        return outcomes

    from distributed import as_completed

    futures = {}
    started = time.perf_counter()
    for src, dst in plan.jobs:
        if not is_zarr(src):
            fut = client.submit(denoise_file, src, dst, settings, pure=False,
                                key=f"fm2s-{os.fspath(dst)}-{time.time_ns()}")
            futures[fut] = (src, dst)
    try:
        for i, (src, dst) in enumerate(plan.jobs):  # zarr: train here, chunks on the cluster
            if is_zarr(src):
                local(i, src, dst, client)
        for fut in as_completed(list(futures)):
            src, dst = futures[fut]
            try:
                fut.result()
                finish(Outcome(src, dst, "done", time.perf_counter() - started))
            except Exception as e:  # any failure of one file is recorded
                finish(Outcome(src, dst, "failed", time.perf_counter() - started, e))
    finally:
        for fut in futures:
            fut.cancel()
    return outcomes
