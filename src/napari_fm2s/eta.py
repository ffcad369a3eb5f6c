"""Time left from measured step times: the first steps ignored, then an exponential average.

A phase (training, writing, the files of a batch) is timed from its first report, not from
when its progress bar was made, so set-up work before it does not count as steps.  The
first ``skip`` steps (allocation, warm-up) are not measured; later step times are smoothed
with an exponential moving average, each counted as at most :data:`OUTLIER` times the
average, so one slow step (a pause between stages, e.g. more training's error estimate)
moves the estimate only a little, while a lasting slowdown still takes over within a few
dozen steps; many steps reported at once, far faster than the average, were skipped, not
run (more training's stages not kept), and leave the average as it was.
"""

from __future__ import annotations

import time
from typing import Callable, Optional


#: A step time counts as at most this many times the average so far (helper 27: a pause
#: before an extra training stage, read as one step, put "ETA 6:23" on a run that ended in
#: 0:46).
OUTLIER = 3.0


class StepEta:
    """``update(step, total)`` after each step returns the estimated seconds left, or
    ``None`` until a step has been measured.

    A step count that goes back, or a new ``total``, starts a new phase (as :meth:`reset`).
    ``alpha`` is the weight of one new step in the average; ``outlier``: a step counts as
    at most this many times the average (``inf`` where steps differ by nature, e.g. files).
    """

    def __init__(self, skip: int = 3, alpha: float = 0.1,
                 clock: Callable[[], float] = time.perf_counter,
                 outlier: float = OUTLIER) -> None:
        if skip < 0 or not 0 < alpha <= 1 or not outlier >= 1:
            raise ValueError("skip must be >= 0, alpha in (0, 1] and outlier >= 1")
        self.skip, self.alpha, self.clock, self.outlier = skip, alpha, clock, outlier
        self.reset()

    def reset(self) -> None:
        """Forget the phase: the next report is the new phase's starting point."""
        self.last: Optional[tuple[float, int]] = None  # (time, step) of the last report
        self.total: Optional[int] = None
        self.first: Optional[float] = None  # time of the phase's first report
        self.per_step: Optional[float] = None
        self.skipped = 0

    def start(self, step: int = 0, total: Optional[int] = None) -> None:
        """Begin a phase now, at ``step`` (for phases whose first step is timed too)."""
        self.reset()
        self.total = total
        self.first = self.clock()
        self.last = (self.first, step)

    def pause(self) -> None:
        """Count the time since the last report as no step's (e.g. an item that was skipped)."""
        if self.last is not None:
            self.last = (self.clock(), self.last[1])

    def elapsed(self) -> float:
        """Seconds since the phase's first report."""
        return 0.0 if self.first is None else self.clock() - self.first

    def update(self, step: int, total: int) -> Optional[float]:
        """Report that ``step`` of ``total`` steps are done; returns the seconds left."""
        now = self.clock()
        if self.last is None or step < self.last[1] or (self.total is not None
                                                         and total != self.total):
            self.reset()
            self.first, self.last, self.total = now, (now, step), total
            return self.remaining(step)
        self.total = total
        t0, s0 = self.last
        done = step - s0
        if done <= 0:
            return self.remaining(step)
        self.last = (now, step)
        if self.skipped < self.skip:  # warm-up steps: not measured
            self.skipped += done
            return self.remaining(step)
        per = (now - t0) / done
        if self.per_step is None:
            self.per_step = per
        elif done > 1 and per * self.outlier < self.per_step:
            return self.remaining(step)  # steps skipped, not run (a stage not kept): no rate
        else:  # several steps at once weigh as much as several reports
            per = min(per, self.outlier * self.per_step)
            keep = (1 - self.alpha) ** done
            self.per_step = keep * self.per_step + (1 - keep) * per
        return self.remaining(step)

    def remaining(self, step: int) -> Optional[float]:
        """Seconds left at ``step`` of the phase's total, or ``None`` while unknown."""
        if self.per_step is None or self.total is None:
            return None
        return self.per_step * max(0, self.total - step)


def format_eta(seconds: Optional[float]) -> str:
    """``m:ss`` (``h:mm:ss`` from an hour), ``--:--`` when unknown."""
    if seconds is None:
        return "--:--"
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
