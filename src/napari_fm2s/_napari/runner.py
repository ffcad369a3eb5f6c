"""The widget's one background runner: one worker thread, progress as a Qt signal, one
cancel route (the ``threading.Event`` the core checks)."""

from __future__ import annotations

import threading
from typing import Any, Optional

from napari.qt.threading import FunctionWorker, create_worker
from napari.utils import cancelable_progress
from qtpy.QtCore import QObject, Signal

from ..background import Outcome, Progress, run_denoise


class _Bar(cancelable_progress):
    """napari's progress bar whose cancel button (activity panel) calls the callback now."""

    def cancel(self) -> None:
        super().cancel()
        if self.cancel_callback is not None:
            self.cancel_callback()


class _Worker(FunctionWorker):
    """napari quits running workers when it closes: here that sets the run's cancel event
    (the one route; a plain function worker could not be stopped otherwise)."""

    cancel_event: Optional[threading.Event] = None

    def quit(self) -> None:
        if self.cancel_event is not None:
            self.cancel_event.set()
        super().quit()


class _Relay(QObject):
    """Carries one run's reports, then its outcome, from the worker thread to the main
    thread, in order (queued signals of one sender).  Made without a parent and held by
    the run itself, so a report sent after the widget is gone reaches a live object."""

    report = Signal(object)
    done = Signal(object)


class Runner(QObject):
    """Runs :func:`napari_fm2s.background.run_denoise` in one worker thread.

    ``progress(Progress)`` arrives in the main thread; ``done(Outcome)`` once the run has
    ended, however it ended, after its last ``progress``.  :meth:`cancel` (the widget's
    button, the activity panel's cancel, closing the widget or napari) sets the run's
    event; the core stops at its next check.
    """

    progress = Signal(object)
    done = Signal(object)

    def __init__(self, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self._cancel: Optional[threading.Event] = None
        self._worker: Any = None
        self._bar: Optional[_Bar] = None

    @property
    def running(self) -> bool:
        return self._worker is not None

    @property
    def cancelling(self) -> bool:
        return self._cancel is not None and self._cancel.is_set()

    def start(self, image: Any, preset: Any, desc: str, **kwargs: Any) -> bool:
        """Start ``run_denoise(image, preset, **kwargs)`` (False if a run is going)."""
        if self._worker is not None:
            return False
        cancel = self._cancel = threading.Event()
        self._bar = _Bar(total=0, desc=desc, cancel_callback=self.cancel)
        relay = _Relay()
        relay.report.connect(self._report)  # bound methods, both: one queue, in order
        relay.done.connect(self._finished)

        def work() -> None:  # in the worker thread
            relay.done.emit(run_denoise(image, preset, cancel=cancel,
                                        report=relay.report.emit, **kwargs))

        worker = create_worker(work, _start_thread=False, _ignore_errors=True,
                               _worker_class=_Worker)
        worker.cancel_event = cancel
        worker.errored.connect(lambda e: self._finished(Outcome(error=e)))
        self._worker = worker
        worker.start()
        return True

    def cancel(self) -> None:
        """Stop the run at the core's next check (nothing if none is going)."""
        if self._cancel is not None:
            self._cancel.set()

    def _report(self, prog: Progress) -> None:
        if self._worker is not None:
            self.progress.emit(prog)
            self._advance(prog)  # last: napari's bar may process events (even our end)

    def _advance(self, prog: Progress) -> None:
        bar = self._bar
        if bar is None:
            return
        if prog.total and bar.total != prog.total:
            bar.total = prog.total
        if prog.step > bar.n:
            bar.update(prog.step - bar.n)

    def _finished(self, outcome: Outcome) -> None:
        if self._worker is None:
            return
        if self._bar is not None:
            self._bar.close()
        self._worker = self._bar = self._cancel = None
        self.done.emit(outcome)
