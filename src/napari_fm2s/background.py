"""Run :func:`denoise` for a GUI's one worker thread: throttled reports, an Outcome.

:func:`run_denoise` runs in the calling thread (the GUI's worker).  It hands
:class:`Progress` reports to ``report`` at most every ``interval`` seconds (a GUI turns
them into signals), stops when ``cancel`` is set (the one cancel route), and returns an
:class:`Outcome` instead of raising.  A lazy result is computed there too (:func:`realize`);
one bigger than memory goes to a temporary zarr store that is deleted once nothing
reads it any more.  No Qt or napari here.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from .api import denoise
from .hooks import DenoiseCancelled, user_message
from .lazy import is_lazy
from .memory import available_memory
from .model_io import KeepModel

__all__ = ["Outcome", "Progress", "realize", "run_denoise", "user_message"]


@dataclass(frozen=True)
class Progress:
    """Training progress since the previous report."""

    step: int
    total: int
    losses: tuple[tuple[int, float], ...]  # (step, loss) of each new step
    notes: tuple[str, ...] = ()  # warnings logged by the run (e.g. an out-of-memory fallback)


@dataclass(frozen=True)
class Outcome:
    """How a run ended: a result, a cancellation, or an error for the user."""

    image: Optional[np.ndarray] = None
    cancelled: bool = False
    error: Optional[BaseException] = None
    model: Any = None  # the trained FM2SModel (None when a saved model was applied)
    trained: bool = False  # a result trained here (its model may be None: a blank channel)
    spread: Any = None  # with ``return_spread``: the flip ensemble's spread, realized too

    @property
    def message(self) -> str:
        return user_message(self.error) if self.error is not None else ""


def realize(result: Any, fraction: float = 1 / 3) -> Any:
    """Run the inference of a lazy result (dask) now, in this thread.

    In memory when it takes at most ``fraction`` of the available memory; else chunk by
    chunk into a zarr store in a new temporary folder, returned as a dask array reading
    it (a result bigger than memory is never held whole).  The folder is deleted when
    the store is no longer referenced (by that array or any array made from it), or at
    exit.  Non-lazy results pass through.
    """
    if not is_lazy(result):
        return result
    avail = available_memory()
    if avail is None or result.nbytes <= avail * fraction:
        return np.asarray(result.compute(scheduler="threads"))
    import dask.array as da
    import zarr

    from .zarr_out import write_zarr_atomic

    folder = Path(tempfile.mkdtemp(prefix="fm2s-result-"))
    try:
        write_zarr_atomic(folder / "denoised.zarr", result, scheduler="threads")
        store = zarr.open_array(str(folder / "denoised.zarr"), mode="r")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    weakref.finalize(store, shutil.rmtree, str(folder), ignore_errors=True)
    return da.from_zarr(store)


class _Reporter:
    """Collects progress and this thread's warnings; reports at most every ``interval`` s."""

    def __init__(self, report: Callable[[Progress], None], interval: float) -> None:
        self.report, self.interval = report, interval
        self.step = self.total = 0
        self.losses: list[tuple[int, float]] = []
        self.notes: list[str] = []
        self.last = 0.0

    def __call__(self, step: int, total: int, loss: float) -> None:
        self.step, self.total = step, total
        self.losses.append((step, loss))
        if time.monotonic() - self.last >= self.interval:
            self.flush()

    def flush(self) -> None:
        if self.losses or self.notes:
            p = Progress(self.step, self.total, tuple(self.losses), tuple(self.notes))
            self.losses.clear()
            self.notes.clear()  # in place: the log handler appends to this list
            self.report(p)
        self.last = time.monotonic()


class _ThreadNotes(logging.Handler):
    """Hands the warnings logged by one thread to ``sink`` as one-line messages."""

    def __init__(self, sink: Callable[[str], None]) -> None:
        super().__init__(logging.WARNING)
        self.sink, self.thread = sink, threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            try:
                self.sink(record.getMessage())
            except Exception:  # a bad format string must not break the run
                pass


def run_denoise(image: Any, preset: Any = "confocal", *, cancel: threading.Event,
                report: Callable[[Progress], None] = lambda p: None, interval: float = 0.1,
                **kwargs: Any) -> Outcome:
    """``denoise(image, preset, cancel=cancel, **kwargs)`` here, results realized.

    ``report`` gets a :class:`Progress` at most every ``interval`` seconds while training
    (and a last one at the end).  Errors and cancellation are returned in the
    :class:`Outcome`, never raised.  The trained model comes back in ``Outcome.model``
    (None when a constant channel was copied: such a run has no model to keep); with
    ``return_spread=True`` the spread in ``Outcome.spread``, realized like the result.
    """
    reporter = _Reporter(report, interval)
    kept: dict[str, Any] = {}
    if kwargs.get("model") is None and kwargs.get("save_model") is None:
        kwargs["save_model"] = KeepModel(lambda m: kept.__setitem__("model", m))
    notes = _ThreadNotes(reporter.notes.append)
    logger = logging.getLogger("napari_fm2s")
    logger.addHandler(notes)
    try:
        out = denoise(image, preset, cancel=cancel, progress=reporter, **kwargs)
        image, spread = out if kwargs.get("return_spread") else (out, None)
        image, spread = realize(image), realize(spread)
    except DenoiseCancelled:
        return Outcome(cancelled=True)
    except Exception as e:  # handed to the caller as an Outcome
        return Outcome(error=e)
    finally:
        logger.removeHandler(notes)
        reporter.flush()
    return Outcome(image=image, model=kept.get("model"), trained=kwargs.get("model") is None,
                   spread=spread)
