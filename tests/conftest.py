"""Shared fixtures: small synthetic images, short training, the widget in a real viewer."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from napari_fm2s.samples import synthetic_cells

#: Keeps paper- and fast-mode tests to a few dozen steps.
FAST = {"samples": 3, "steps_per_sample": 2, "fast_steps": 10}
PLUGIN, WIDGET = "napari-fm2s", "FM2S denoise"


@pytest.fixture
def noisy_small() -> np.ndarray:
    """64x64 uint8 noisy synthetic image."""
    return synthetic_cells((64, 64), seed=3)[0]


@pytest.fixture(autouse=True)
def private_config(tmp_path, monkeypatch):
    """The widget's settings go to tmp_path, never to the real user config."""
    monkeypatch.setenv("NAPARI_FM2S_CONFIG_DIR", str(tmp_path / "fm2s"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return tmp_path / "fm2s" / "widget.json"


@pytest.fixture
def viewer(make_napari_viewer):
    return make_napari_viewer()


def open_widget(viewer, samples: int = 3, preview: bool = False, tiny: bool = True):
    """The dock widget; ``tiny``: paper mode with ``samples`` x 2 steps, no preview."""
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    if tiny:
        w.preview.check.setChecked(preview)
        w.mode_combo.setCurrentText("paper")
        w.spins["samples"].setValue(samples)
        w.spins["steps_per_sample"].setValue(2)
    return w


class AfterCancel:
    """Counts calls of a wrapped function made after ``event`` was set (steps, tiles,
    median blocks): a cancel is measured in work done after it, never in seconds."""

    def __init__(self) -> None:
        self.event: threading.Event | None = None
        self.entered = threading.Event()
        self.after = 0

    def wrap(self, real):
        def wrapped(*a, **k):
            if self.event is not None and self.event.is_set():
                self.after += 1
            self.entered.set()
            return real(*a, **k)
        return wrapped


@pytest.fixture
def after_cancel(monkeypatch) -> AfterCancel:
    """Counts the training steps reported after the run's cancel event was set."""
    from napari_fm2s import background

    counter = AfterCancel()
    monkeypatch.setattr(background._Reporter, "__call__",
                        counter.wrap(background._Reporter.__call__))
    return counter
