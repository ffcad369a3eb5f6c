"""ETA from measured step times, with a fake clock (no real time is measured)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from napari_fm2s.batch import Outcome
from napari_fm2s.cli import ProgressBar, _Overall
from napari_fm2s.eta import StepEta, format_eta


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def steps(eta: StepEta, clock: Clock, first: int, last: int, total: int, dt: float) -> list:
    out = []
    for s in range(first, last + 1):
        clock.t += dt
        out.append(eta.update(s, total))
    return out


def test_unknown_until_warm_up_steps_are_past_then_exact_for_constant_steps() -> None:
    clock = Clock()
    eta = StepEta(skip=3, clock=clock)
    got = steps(eta, clock, 1, 10, 100, 0.5)
    # step 1 is the phase's start; steps 2-4 are the skipped warm-up; step 5 is measured
    assert got[:4] == [None] * 4
    assert got[4] == pytest.approx(0.5 * 95)
    assert got[-1] == pytest.approx(0.5 * 90)


def test_slow_set_up_before_the_first_step_is_not_counted() -> None:
    clock = Clock()
    eta = StepEta(skip=0, clock=clock)
    clock.t += 600.0  # e.g. a bar made before 10 minutes of training, then writing starts
    steps(eta, clock, 1, 3, 20, 1.0)
    assert eta.remaining(3) == pytest.approx(17.0)


def test_one_slow_step_moves_the_estimate_by_alpha_of_at_most_three_steps() -> None:
    clock = Clock()
    eta = StepEta(skip=0, alpha=0.1, clock=clock)
    steps(eta, clock, 1, 5, 100, 1.0)
    clock.t += 2.0
    eta.update(6, 100)
    assert eta.per_step == pytest.approx(0.9 * 1.0 + 0.1 * 2.0)
    clock.t += 30.0  # a pause between stages, read as one step: counts as 3 x the average
    eta.update(7, 100)
    assert eta.per_step == pytest.approx(0.9 * 1.1 + 0.1 * 3 * 1.1)


def test_a_lasting_slowdown_takes_over() -> None:
    clock = Clock()
    eta = StepEta(skip=0, alpha=0.1, clock=clock)
    steps(eta, clock, 1, 5, 1000, 0.1)
    steps(eta, clock, 6, 60, 1000, 2.0)  # 20x slower from step 6
    assert eta.per_step == pytest.approx(2.0, rel=0.05)


def test_several_steps_in_one_report_weigh_as_several() -> None:
    clock = Clock()
    eta = StepEta(skip=0, alpha=0.5, clock=clock)
    steps(eta, clock, 1, 2, 100, 1.0)
    clock.t += 6.0  # 2 steps of 3 s
    eta.update(4, 100)
    assert eta.per_step == pytest.approx(0.25 * 1.0 + 0.75 * 3.0)


def test_steps_skipped_at_once_leave_the_rate_as_it_was() -> None:
    """More training's stages not kept jump the count to the end of their budget; per
    plane, the next plane's steps then read "ETA 0:00" and climbed back (helper 36)."""
    clock = Clock()
    eta = StepEta(skip=0, alpha=0.1, clock=clock)
    steps(eta, clock, 1, 20, 4000, 0.5)
    clock.t += 0.01
    eta.update(820, 4000)  # 800 steps not run, reported at once
    assert eta.per_step == pytest.approx(0.5)
    assert eta.remaining(820) == pytest.approx(0.5 * 3180)


def test_new_phase_when_steps_go_back_or_total_changes() -> None:
    clock = Clock()
    eta = StepEta(skip=1, clock=clock)
    steps(eta, clock, 1, 5, 10, 1.0)
    assert eta.per_step == pytest.approx(1.0)
    clock.t += 50.0
    assert eta.update(1, 10) is None  # a new phase: nothing measured yet
    assert eta.per_step is None
    steps(eta, clock, 2, 4, 10, 2.0)
    assert eta.remaining(4) == pytest.approx(12.0)
    clock.t += 1.0
    assert eta.update(5, 30) is None  # another total: another phase
    eta.reset()
    assert eta.elapsed() == 0.0


def test_pause_leaves_time_out_and_start_times_the_first_step() -> None:
    clock = Clock()
    eta = StepEta(skip=0, clock=clock)
    eta.start(0, 10)
    clock.t += 2.0
    eta.update(1, 10)
    clock.t += 100.0
    eta.pause()
    clock.t += 2.0
    eta.update(2, 10)
    assert eta.per_step == pytest.approx(2.0)
    assert eta.elapsed() == pytest.approx(104.0)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        StepEta(skip=-1)
    with pytest.raises(ValueError):
        StepEta(alpha=0)


def test_format_eta() -> None:
    assert format_eta(None) == "--:--"
    assert format_eta(65.4) == "1:05"
    assert format_eta(3725) == "1:02:05"


def test_progress_bar_eta_from_steps_and_done_line() -> None:
    clock, out = Clock(), io.StringIO()
    bar = ProgressBar("x", stream=out, skip=2, clock=clock, interactive=True)
    clock.t += 30.0  # set-up before training: not a step
    bar(1, 100, 0.1)
    assert "ETA --:--" in out.getvalue()
    for s in range(2, 101):
        clock.t += 0.25
        bar(s, 100, 0.1)
    lines = out.getvalue().split("\r")
    at_50 = [ln for ln in lines if " 50/100" in ln]
    assert at_50 and "ETA 0:12" in at_50[0]  # 50 steps of 0.25 s left: 12.5 s
    assert lines[-1].rstrip().endswith("in 0:25")  # 99 steps of 0.25 s after step 1
    assert out.getvalue().endswith("\n")


def test_progress_bar_redraws_at_most_every_fifth_of_a_second() -> None:
    clock, out = Clock(), io.StringIO()
    bar = ProgressBar("x", stream=out, clock=clock, interactive=True)
    for s in range(1, 101):
        clock.t += 0.01
        bar(s, 100)
    assert out.getvalue().count("\r") == 1 + 4 + 1  # first, every 0.2 s of 1 s, last


def test_progress_to_a_file_is_plain_lines_every_ten_seconds() -> None:
    clock, out = Clock(), io.StringIO()  # a StringIO is no terminal
    bar = ProgressBar("x", stream=out, clock=clock)
    for s in range(1, 101):
        clock.t += 0.25  # 25 s in all
        bar(s, 100, 0.1)
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert len(lines) == 1 + 2 + 1  # first, every 10 s of 25 s, last
    assert lines[-1].startswith("x [") and "100/100" in lines[-1]


def test_overall_eta_ignores_skipped_files(capsys: pytest.CaptureFixture) -> None:
    clock = Clock()
    overall = _Overall(6, quiet=False, clock=clock)
    for i in range(3):  # a resumed batch: the first three exist already
        overall.done(Outcome(Path(f"{i}.tif"), Path("o"), "skipped"), i + 1, 6)
    clock.t += 10.0
    overall.done(Outcome(Path("3.tif"), Path("o"), "done", 10.0), 4, 6)
    assert overall.eta.per_step == pytest.approx(10.0)
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith("4/6 ETA 0:20")


def test_a_message_starts_its_own_line_without_a_blank_one(capsys, monkeypatch) -> None:
    """A core warning below a terminal bar being drawn starts a new line; after a plain
    line (a file, a pipe) it leaves no empty line (helper 37)."""
    import logging

    from napari_fm2s.cli import _WarningLine

    monkeypatch.setattr(ProgressBar, "line_open", False)
    handler = _WarningLine()
    record = logging.LogRecord("napari_fm2s", logging.WARNING, "", 0, "careful", None, None)
    for interactive in (True, False):
        bar = ProgressBar("x", stream=sys.stderr, clock=Clock(), interactive=interactive)
        bar(1, 10)
        handler.emit(record)
        handler.emit(record)
        err = capsys.readouterr().err
        assert err.startswith("\rx [" if interactive else "x [")
        assert err.count("fm2s: warning: careful\n") == 2 and "\n\n" not in err
        assert "--:--" + (" \n" if interactive else "\n") + "fm2s: warning" in err
