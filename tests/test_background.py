"""run_denoise: the widget's worker-thread run, throttled reports, an Outcome."""

import threading

import numpy as np
import pytest

from napari_fm2s import denoise
from napari_fm2s.background import Progress, run_denoise, user_message
from .conftest import FAST


def test_progress_then_the_same_result_as_denoise(noisy_small):
    items: list[Progress] = []
    outcome = run_denoise(noisy_small, "confocal", cancel=threading.Event(),
                          report=items.append, interval=0.0, mode="paper", **FAST)
    steps = [s for item in items for s, _ in item.losses]
    assert steps == list(range(1, 5 + 3 * 2 + 1))
    assert items[-1].step == items[-1].total == 11
    assert not outcome.cancelled and outcome.error is None and outcome.model is not None
    np.testing.assert_array_equal(outcome.image, denoise(noisy_small, "confocal", mode="paper",
                                                         **FAST))


def test_spread_comes_back_realized_beside_the_same_result(noisy_small):
    da = pytest.importorskip("dask.array")
    lazy = da.from_array(np.stack([noisy_small] * 2), chunks=(1, 64, 64))
    kw = dict(axes="TYX", mode="fast", **FAST)
    outcome = run_denoise(lazy, "confocal", cancel=threading.Event(), return_spread=True, **kw)
    assert isinstance(outcome.image, np.ndarray) and isinstance(outcome.spread, np.ndarray)
    result, spread = denoise(lazy, "confocal", return_spread=True, **kw)
    np.testing.assert_array_equal(outcome.image, np.asarray(result))
    np.testing.assert_array_equal(outcome.spread, np.asarray(spread))
    assert outcome.spread.max() > 0
    assert run_denoise(noisy_small, "confocal", cancel=threading.Event(), mode="paper",
                       **FAST).spread is None


def test_reports_are_throttled_but_lose_no_step(noisy_small):
    items: list[Progress] = []
    run_denoise(noisy_small, cancel=threading.Event(), report=items.append,
                interval=3600.0, mode="paper", **FAST)
    assert len(items) <= 2  # the first step and the final flush
    assert [s for item in items for s, _ in item.losses] == list(range(1, 12))


def test_cancel_event_ends_with_cancelled_within_a_step(noisy_small):
    cancel, after = threading.Event(), []

    def report(p: Progress) -> None:
        if cancel.is_set():
            after.extend(p.losses)
        elif p.step >= 3:
            cancel.set()

    outcome = run_denoise(noisy_small, cancel=cancel, report=report, interval=0.0,
                          mode="paper", samples=100_000)
    assert outcome.cancelled and outcome.image is None
    assert len(after) <= 1  # the core checks the event at every step


def test_errors_are_returned_with_a_message():
    outcome = run_denoise(np.zeros((32, 32)), cancel=threading.Event())
    assert outcome.image is None and not outcome.cancelled
    assert isinstance(outcome.error, ValueError) and "constant" in outcome.message


def test_user_message():
    assert user_message(ValueError("k_p must be > 0")) == "k_p must be > 0"
    assert user_message(MemoryError()).startswith("out of memory")
    gpu = user_message(RuntimeError("CUDA out of memory. Tried ..."))
    assert gpu.startswith("out of memory") and "CPU device" in gpu
    assert "CPU device" not in user_message(MemoryError())  # it is on the CPU already
    thread = user_message(RuntimeError("can't start new thread"))  # under ulimit -v
    assert "could not start another thread" in thread and "--threads 1" in thread
    assert user_message(KeyError("x")).startswith("KeyError: 'x' (an internal error: please")
    assert user_message(PermissionError("denied")) == "PermissionError: denied"


def test_realize_lazy_result_in_memory_or_through_a_zarr_store(monkeypatch):
    import dask.array as da

    import napari_fm2s.background as bg

    lazy = da.from_array(np.arange(4 * 32 * 32, dtype=np.float32).reshape(4, 32, 32),
                         chunks=(1, 32, 32)) * 2
    plain = np.ones((3, 3), np.float32)
    assert bg.realize(plain) is plain
    small = bg.realize(lazy)
    assert isinstance(small, np.ndarray) and np.array_equal(small, lazy.compute())
    monkeypatch.setattr(bg, "available_memory", lambda: lazy.nbytes)  # does not fit a third
    stored = bg.realize(lazy)
    assert isinstance(stored, da.Array) and stored.name.startswith("from-zarr")
    np.testing.assert_array_equal(stored.compute(), lazy.compute())


def test_blank_channel_is_copied_with_a_note_as_by_denoise(tmp_path):
    """The run the widget makes (it keeps the model) follows the API's rule for a constant
    channel: copied unchanged, with a warning; a model file asked for is refused."""
    from napari_fm2s.samples import synthetic_cells

    x = np.stack([synthetic_cells((48, 48), seed=s)[0] for s in range(3)])
    x[1] = 7
    notes: list[str] = []
    kw = dict(axes="CYX", mode="paper", **FAST)
    outcome = run_denoise(x, "confocal", cancel=threading.Event(),
                          report=lambda p: notes.extend(p.notes), **kw)
    assert outcome.error is None and outcome.trained
    assert outcome.model is None  # no model of every channel
    assert np.array_equal(outcome.image[1], x[1])
    np.testing.assert_array_equal(outcome.image, denoise(x, "confocal", **kw))
    assert any("channel C=1 is constant: copied unchanged" in n for n in notes), notes
    with pytest.raises(ValueError, match="a saved model needs a network for every channel"):
        denoise(x, "confocal", save_model=tmp_path / "m.fm2s.safetensors", **kw)
    assert not (tmp_path / "m.fm2s.safetensors").exists()
