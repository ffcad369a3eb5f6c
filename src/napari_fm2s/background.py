"""Run :func:`denoise` in a helper thread and iterate over its progress.

A GUI wraps :func:`iter_denoise` in a generator worker: every yield hands the
training progress to the UI, and the run can be stopped at any yield.  No Qt
or napari here.
"""

from __future__ import annotations

import logging
import queue
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generator, Optional

import numpy as np

from .api import denoise
from .hooks import DenoiseCancelled
from .memory import available_memory
from .stack import is_lazy

#: Seconds to wait for the helper thread to finish its step after an early stop.
_STOP_WAIT = 5.0


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

    @property
    def message(self) -> str:
        return user_message(self.error) if self.error is not None else ""


def user_message(e: BaseException) -> str:
    """One line for the user; unexpected error types keep their class name."""
    text = " ".join(str(e).split()) or type(e).__name__
    low = text.lower()
    if isinstance(e, MemoryError) and isinstance(e, ValueError):  # our own, with advice
        return text
    if isinstance(e, MemoryError) or "out of memory" in low or "can't allocate memory" in low:
        return ("out of memory: use a smaller image (crop it), fewer channels, "
                "or the CPU device")
    if isinstance(e, ValueError):
        return text
    return f"{type(e).__name__}: {text}"


def realize(result: Any, fraction: float = 1 / 3) -> Any:
    """Run the inference of a lazy result (dask) now, in this thread.

    In memory when it takes at most ``fraction`` of the available memory; else chunk by
    chunk into a zarr store in a new temporary folder, returned as a dask array reading
    it (a result bigger than memory is never held whole).  Non-lazy results pass through.
    """
    if not is_lazy(result):
        return result
    avail = available_memory()
    if avail is None or result.nbytes <= avail * fraction:
        return np.asarray(result.compute(scheduler="threads"))
    import dask.array as da

    from .io import write_zarr_atomic

    path = Path(tempfile.mkdtemp(prefix="fm2s-result-")) / "denoised.zarr"
    write_zarr_atomic(path, result, scheduler="threads")
    return da.from_zarr(str(path))


def iter_denoise(image: Any, preset: Any = "confocal", *, cancel: threading.Event,
                 poll: float = 0.05, **kwargs: Any) -> Generator[Progress, None, Outcome]:
    """Run ``denoise(image, preset, cancel=cancel, **kwargs)`` in a helper thread.

    Yields a :class:`Progress` at least every ``poll`` seconds (``losses`` may be
    empty), so a caller can stop at any yield; stopping early (``close()``) sets
    ``cancel``.  Returns an :class:`Outcome`; errors are returned, not raised.  A lazy
    result (dask or zarr input) is computed in the helper thread (:func:`realize`).
    """
    reports: queue.SimpleQueue = queue.SimpleQueue()
    notes: queue.SimpleQueue = queue.SimpleQueue()
    result: dict[str, Any] = {}
    if kwargs.get("model") is None and kwargs.get("save_model") is None:
        kwargs["save_model"] = lambda m: result.__setitem__("model", m)

    def run() -> None:
        try:
            result["image"] = realize(denoise(
                image, preset, cancel=cancel,
                progress=lambda s, t, loss: reports.put((s, t, loss)), **kwargs))
        except BaseException as e:  # handed to the caller as an Outcome
            result["error"] = e

    helper = threading.Thread(target=run, name="fm2s-denoise", daemon=True)
    handler = _ThreadNotes(notes)
    logger = logging.getLogger("napari_fm2s")
    logger.addHandler(handler)
    helper.start()
    handler.thread = helper.ident
    step = total = 0
    try:
        while True:
            helper.join(timeout=poll)  # at most one report per poll interval
            alive = helper.is_alive()  # read before draining: nothing is left behind
            new = _drain(reports)
            if new:
                step, total = new[-1][0], new[-1][1]
            yield Progress(step, total, tuple((s, loss) for s, _, loss in new),
                           tuple(_drain(notes)))
            if not alive:
                break
    finally:
        if helper.is_alive():  # closed early by the caller: stop the helper
            cancel.set()
            helper.join(timeout=_STOP_WAIT)
        logger.removeHandler(handler)
    error = result.get("error")
    if isinstance(error, DenoiseCancelled):
        return Outcome(cancelled=True)
    if error is not None:
        return Outcome(error=error)
    return Outcome(image=result["image"], model=result.get("model"))


class _ThreadNotes(logging.Handler):
    """Collects the warnings logged by one thread (the helper) as one-line messages."""

    def __init__(self, sink: queue.SimpleQueue) -> None:
        super().__init__(logging.WARNING)
        self.sink = sink
        self.thread: Optional[int] = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.thread is None or record.thread == self.thread:
            try:
                self.sink.put(record.getMessage())
            except Exception:  # a bad format string must not break the run
                pass


def _drain(q: queue.SimpleQueue) -> list[tuple[int, int, float]]:
    """Everything in ``q`` now."""
    items = []
    while True:
        try:
            items.append(q.get_nowait())
        except queue.Empty:
            return items
