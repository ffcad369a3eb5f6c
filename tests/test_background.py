"""denoise() in a helper thread, iterated for progress, stoppable at every yield."""

import threading

import numpy as np

from napari_fm2s import denoise
from napari_fm2s.background import Outcome, Progress, iter_denoise, user_message
from .conftest import FAST


def _finish(gen) -> tuple[list[Progress], Outcome]:
    items = []
    while True:
        try:
            items.append(next(gen))
        except StopIteration as stop:
            return items, stop.value


def test_progress_then_the_same_result_as_denoise(noisy_small):
    items, outcome = _finish(iter_denoise(noisy_small, "confocal", cancel=threading.Event(),
                                          mode="paper", **FAST))
    steps = [s for item in items for s, _ in item.losses]
    assert steps == list(range(1, 5 + 3 * 2 + 1))
    assert items[-1].step == items[-1].total == 11
    assert not outcome.cancelled and outcome.error is None
    np.testing.assert_allclose(outcome.image, denoise(noisy_small, mode="paper", **FAST),
                               rtol=1e-5, atol=1e-4)


def test_cancel_event_ends_with_cancelled(noisy_small):
    cancel = threading.Event()
    gen = iter_denoise(noisy_small, cancel=cancel, mode="paper", samples=100_000)
    while not next(gen).losses:
        pass
    cancel.set()
    items, outcome = _finish(gen)
    assert outcome.cancelled and outcome.image is None
    assert len(items) < 40  # stopped within a couple of polls


def test_closing_early_sets_cancel_and_stops_the_helper(noisy_small):
    cancel = threading.Event()
    gen = iter_denoise(noisy_small, cancel=cancel, mode="paper", samples=100_000)
    next(gen)
    gen.close()
    assert cancel.is_set()
    assert not any(t.name == "fm2s-denoise" and t.is_alive() for t in threading.enumerate())


def test_errors_are_returned_with_a_message():
    _, outcome = _finish(iter_denoise(np.zeros((32, 32)), cancel=threading.Event()))
    assert outcome.image is None and not outcome.cancelled
    assert isinstance(outcome.error, ValueError) and "constant" in outcome.message


def test_user_message():
    assert user_message(ValueError("k_p must be > 0")) == "k_p must be > 0"
    assert user_message(MemoryError()).startswith("out of memory")
    assert user_message(RuntimeError("CUDA out of memory. Tried ...")).startswith("out of memory")
    assert user_message(KeyError("x")) == "KeyError: 'x'"


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
