"""Batch denoising of files: inputs from folders and globs, resumable, atomic outputs.

:func:`~napari_fm2s.batch_plan.make_plan` resolves the inputs and outputs once.  One file
is one job (:func:`denoise_file`): open (lazily when large or zarr), denoise with
:func:`napari_fm2s.denoise`, write TIFF or zarr under a temporary name, rename.  An output
that exists is complete, so a batch is resumed by running it again (existing outputs are
skipped unless ``overwrite``).  :func:`run_batch` runs jobs here, or on a Dask distributed
cluster: each TIFF / PNG job as one task on a worker, each zarr job trained here with its
inference chunks computed by the cluster's workers (which must see the same file system).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from .axes import GuessedAxes, check_axes, guess_axes
from .calibrate import is_auto
from .batch_plan import Plan, spread_path
from .checks import ConstantChannel
from .hooks import DenoiseCancelled
from .io import LAZY_BYTES, ZARR_SUFFIX, is_zarr, main_series, open_image, \
    read_provenance, remove_stale_parts
from .memory import log
from .metadata import NAMESPACE, ome_without_windows, provenance, without_display_ranges
from .presets import get_preset
from .tiff_out import Series, series_writer, write_tiff_series_atomic
from .zarr_out import write_zarr_atomic

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


def denoise_file(src: Path, dst: Path, settings: Settings,
                 progress: Optional[Callable[[int, int, float], None]] = None,
                 write_progress: Optional[Callable[[int, int], None]] = None,
                 scheduler: Any = "threads") -> None:
    """Open ``src``, denoise it, write ``dst`` whole (atomically) or not at all.

    Paths are checked by :func:`~napari_fm2s.batch_plan.make_plan`.  ``scheduler``
    computes the chunks of lazy (zarr or large TIFF) input: ``"threads"`` (here), or a
    ``distributed.Client``.  A TIFF of several series (an OME-TIFF's stage positions) has
    each denoised on its own and written as a series of ``dst`` (a TIFF), in order.
    """
    src, dst = Path(src), Path(dst)
    remove_stale_parts(dst)
    opened = open_image(src, settings.lazy_bytes)
    if opened.series > 1:
        opened.close()
        _denoise_series(src, dst, settings, opened.series, progress, write_progress,
                        scheduler)
    else:
        _denoise_single(opened, src, dst, settings, progress, write_progress, scheduler)
    if not settings.spread:
        _drop_stale_spread(dst)


def _denoise_single(opened: Any, src: Path, dst: Path, settings: Settings, progress: Any,
                    write_progress: Any, scheduler: Any) -> None:
    """:func:`denoise_file` for an image of one series (closes ``opened``)."""
    try:
        result, axes, made = _denoise_opened(opened, src, settings, progress, scheduler)
        # the spread first: the result's file is the sign that the job is done
        outputs = [(spread_path(dst), result[1], SPREAD), (dst, result[0], None)] \
            if settings.spread else [(dst, result, None)]
        for path, data, what in outputs:
            desc = made if what is None else {**made, "content": what}
            if path.suffix.lower() == ZARR_SUFFIX:
                ome = opened.ome if what is None else ome_without_windows(opened.ome)
                write_zarr_atomic(path, data, ome=ome, zarr_format=opened.zarr_format,
                                  name=path.name, scheduler=scheduler,
                                  progress=write_progress, description=desc,
                                  chunks=opened.data.chunksize if opened.kind != "tiff"
                                  and opened.lazy else None)  # a zarr input's chunks
            else:
                write_tiff_series_atomic(path, [_series(data, axes, opened, desc, what)], 1,
                                         scheduler, write_progress)
    finally:
        opened.close()


def _drop_stale_spread(dst: Path) -> None:
    """Remove the spread file of a result this run replaced (``--overwrite`` without
    ``--spread``: it no longer describes the result beside it)."""
    old = spread_path(dst)
    if old.exists() and (read_provenance(old) or {}).get("content") == SPREAD:
        old.unlink()
        log.info("outputs: removed %s, the spread of the result this run replaced", old)


#: What a spread file holds (recorded in it).
SPREAD = "spread of the flip ensemble (input units)"


def _axes(opened: Any, settings: Settings) -> str:
    """The axes of an opened image: the user's (checked), else the file's or guessed."""
    shape, dtype = tuple(opened.data.shape), opened.data.dtype
    return check_axes(settings.axes, shape) if settings.axes else \
        guess_axes(shape, dtype, labels=opened.labels)


def _denoise_opened(opened: Any, src: Path, settings: Settings, progress: Any,
                    scheduler: Any) -> tuple[Any, str, dict[str, Any]]:
    """(denoise's result, the axes used, how it was made) for one opened image."""
    from .api import denoise

    axes = _axes(opened, settings)
    unnamed = ", Q: an axis the file does not name" if "Q" in axes else ""
    how = "given" if not isinstance(axes, GuessedAxes) else \
        f"{'guessed' if axes.rule else 'from the file' + unnamed}; pass --axes to change"
    log.info("axes: %s (%s)", axes, how)  # the CLI prints it
    if opened.lazy:  # helper 30: nothing said the page-by-page path was taken
        log.info("read lazily (%s): planes are read as needed and the result is written "
                 "as it is made", "zarr" if opened.kind != "tiff" else
                 f"a TIFF over --lazy-above {settings.lazy_bytes / 2 ** 30:.3g} GiB")
    made: dict[str, Any] = {}  # how the output was made, for its metadata
    result = denoise(opened.data, settings.preset, mode=settings.mode, axes=axes,
                     per_plane=settings.per_plane, seed=settings.seed,
                     offset=settings.offset,
                     device=settings.device, progress=progress, scheduler=scheduler,
                     model=settings.model, save_model=settings.save_model,
                     on_params=lambda p, mode: made.update(provenance(
                         p, mode, source=src.name, offset=settings.offset,
                         per_plane=settings.per_plane,
                         **({} if settings.model is None else
                            {"model": settings.model.record()}))),
                     threads=settings.threads, return_spread=settings.spread,
                     **settings.overrides)
    return result, str(axes), made


def _series(data: Any, axes: str, opened: Any, desc: dict, what: Optional[str]) -> Series:
    """One output series: a spread is float data (RGB samples become channels, no
    display range); Y before X as the input had it."""
    ax = axes if what is None or "C" in axes else axes.replace("S", "C")
    if ax.index("X") < ax.index("Y"):  # keep the input's layout
        ax = ax.translate(_SWAP_YX)
    meta = opened.meta if what is None else without_display_ranges(opened.meta)
    return Series(data, ax, meta, desc)


def _denoise_series(src: Path, dst: Path, settings: Settings, count: int, progress: Any,
                    write_progress: Any, scheduler: Any) -> None:
    """:func:`denoise_file` for a TIFF of ``count`` series, one held at a time."""
    if dst.suffix.lower() == ZARR_SUFFIX:
        raise ValueError(f"{src.name} holds {count} series (e.g. stage positions): write "
                         "them to a TIFF (-o NAME.ome.tif), one series each")
    if settings.save_model is not None:
        raise ValueError(f"{src.name} holds {count} series, each denoised with its own "
                         "model: --save-model saves one; save it from one series' file")
    total = _float32_bytes(src)
    with contextlib.ExitStack() as files:  # the spread's file closes (appears) first
        add = files.enter_context(series_writer(dst, count, scheduler, write_progress, total))
        add_spread = files.enter_context(series_writer(
            spread_path(dst), count, scheduler, write_progress, total)) \
            if settings.spread else None
        blank = 0
        for i in range(count):  # one series held at a time, its result and spread together
            opened = open_image(src, settings.lazy_bytes, series=i)
            try:
                name = f" ({opened.meta.name})" if opened.meta and opened.meta.name else ""
                log.info("series %d of %d%s", i + 1, count, name)
                try:
                    result, axes, made = _denoise_opened(opened, src, settings, progress,
                                                         scheduler)
                except ConstantChannel as e:  # a blank position: copied, as a blank channel
                    blank += 1
                    if blank == count:
                        raise ValueError(f"every series of {src.name} is blank: {e}") from e
                    log.warning("series %d of %d%s: %s: copied unchanged", i + 1, count,
                                name, e)
                    copy = opened.data.astype(np.float32)
                    result = (copy, copy * 0) if add_spread is not None else copy
                    axes, made = str(_axes(opened, settings)), {
                        "software": NAMESPACE, "source": src.name,
                        "content": "copied unchanged: one value everywhere"}
                except ValueError as e:  # which series, and nothing is written
                    raise ValueError(f"series {i + 1} of {count}{name}: {e}; nothing was "
                                     "written for the file") from e
                made["series"] = i
                if add_spread is not None:
                    add_spread(_series(result[1], axes, opened, {**made, "content": SPREAD},
                                       SPREAD))
                    result = result[0]
                add(_series(result, axes, opened, made, None))
            finally:
                opened.close()


def _unwritable(folders: set[Path], make: bool) -> dict[Path, ValueError]:
    """The output folders a file cannot be created in, each with the reason; ``make``: a
    batch's folders are made first (one file's -o folder must exist)."""
    out = {}
    for folder in folders:
        try:  # a pattern's matches keep their sub-folders (make_plan)
            if make:
                folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            pass  # said below
        if not folder.is_dir():  # as atomic_output says it
            what = "is a file, not a folder" if folder.exists() else "does not exist"
            out[folder] = ValueError(f"output folder {folder} {what}")
            continue
        try:
            fd, name = tempfile.mkstemp(prefix=".fm2s-probe.", suffix=".part", dir=folder)
            os.close(fd)
            os.remove(name)
        except OSError as e:
            out[folder] = ValueError(f"cannot write into {folder}: {e.strerror or e}; "
                                     "nothing was denoised for it")
    return out


@dataclass
class Outcome:
    """What happened to one job: ``status`` is "done", "skipped" or "failed"."""

    src: Path
    dst: Optional[Path]
    status: str
    seconds: float = 0.0
    error: Optional[BaseException] = None
    note: str = ""  # a skipped output's difference from this run (:func:`differs`)


def differs(src: Path, dst: Path, settings: Settings) -> str:
    """Why an existing output ``dst`` may not be what this run would make of ``src``: the
    input is newer, its recorded preset, mode, seed or a parameter given differs
    (:func:`~napari_fm2s.io.read_provenance`), or it records none; "" when it matches."""
    try:
        if src.stat().st_mtime > dst.stat().st_mtime:
            return "the input is newer than it"
    except OSError:
        pass
    made = read_provenance(dst)
    if made is None:  # helper 32: a junk file there had counted as a finished result
        return "holding no record of being made by napari-fm2s (another program's file, " \
            "or unreadable)"
    if settings.model is not None:  # made with this model (by its creation time), or not
        had = made.get("model") if isinstance(made.get("model"), dict) else {}
        return "" if had.get("created") == settings.model.created else \
            f"made {'with model ' + str(had.get('file')) if had else 'by training'}, " \
            f"not with {settings.model.file or 'the model given'}"
    preset = "auto" if is_auto(settings.preset) else get_preset(settings.preset).name
    wanted = {"preset": preset, "mode": settings.mode, "seed": settings.seed,
              "offset": settings.offset, "per_plane": settings.per_plane}
    had = {**made.get("parameters", {}), **made}
    diff = [f"{k} {had.get(k)} (now {v})" for k, v in {**wanted, **settings.overrides}.items()
            if v is not None and k in had and not _same(had[k], v)]
    said = [f"made with {', '.join(diff)}"] if diff else []
    if settings.spread and not spread_path(dst).exists():
        said.append("no spread file beside it (now --spread)")
    return "; ".join(said)


def _float32_bytes(src: Path) -> int:
    """The size of a TIFF's (main) series as float32 results."""
    import tifffile

    with tifffile.TiffFile(src) as tf:
        return sum(int(np.prod(tf.series[i].shape, dtype=np.int64)) * 4
                   for i in main_series(tf))


def _same(a: Any, b: Any) -> bool:
    """Recorded and asked values alike: as numbers where both are, else as text."""
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return str(a).lower() == str(b).lower()


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

    ``on_start(i, src)`` (``i``: the files ended before it, skipped ones included) may
    return ``(progress, write_progress)`` callbacks for a job run
    here; ``on_done(outcome, finished, total)`` is called as each job ends (skipped ones
    first).  Failures are recorded, not raised (KeyboardInterrupt is).
    """
    outcomes: list[Outcome] = []
    total = plan.total
    if plan.folder is not None:
        try:
            plan.folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:  # helper 30: the raw "OSError: [Errno 30] ..." before
            raise ValueError(f"cannot make the output folder {plan.folder}: "
                             f"{e.strerror or e}; nothing was denoised") from None

    def finish(o: Outcome) -> None:
        outcomes.append(o)
        if on_done is not None:
            on_done(o, len(outcomes), total)

    for src, dst in plan.done:
        finish(Outcome(src, dst, "skipped", note=differs(src, dst, settings)))
    refused = _unwritable({dst.parent for _, dst in plan.jobs}, plan.folder is not None)
    for src, dst in plan.jobs:  # before any work: not after denoising each file
        if dst.parent in refused:
            finish(Outcome(src, dst, "failed", 0.0, refused[dst.parent]))
    jobs = [(src, dst) for src, dst in plan.jobs if dst.parent not in refused]

    def local(src: Path, dst: Path, scheduler: Any) -> None:
        cbs = on_start(len(outcomes), src) if on_start is not None else None  # files before
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
        for src, dst in jobs:
            local(src, dst, "threads")
        return outcomes

    from distributed import as_completed

    futures = {}
    started = time.perf_counter()
    for src, dst in jobs:
        if not is_zarr(src):
            fut = client.submit(denoise_file, src, dst, settings, pure=False,
                                key=f"fm2s-{os.fspath(dst)}-{time.time_ns()}")
            futures[fut] = (src, dst)
    try:
        for src, dst in jobs:  # zarr: train here, chunks on the cluster
            if is_zarr(src):
                local(src, dst, client)
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
