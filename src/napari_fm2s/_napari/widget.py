"""The FM2S dock widget: image and preset, noise sliders, live preview, threaded Denoise.

Thin: it turns the controls into :func:`napari_fm2s.api.resolve_params` arguments,
shows :class:`napari_fm2s.preview.NoisePreview` panels and runs
:func:`napari_fm2s.background.iter_denoise` in a napari ``thread_worker``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

import numpy as np
import torch
from napari.layers import Image
from napari.qt.threading import create_worker
from napari.utils import cancelable_progress
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import QEvent, QObject, Qt, QTimer
from qtpy.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout,
                            QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget)
from superqt import QCollapsible
from superqt.utils import create_worker as create_plain_worker

from ..api import resolve_params
from ..background import Outcome, Progress, iter_denoise, user_message
from ..calibrate import Calibration, auto_calibration
from ..model_io import SUFFIX, FM2SModel, load_model, save_model
from ..noise import MAX_CORR
from ..presets import PRESETS, Preset, get_preset
from ..preview import NoisePreview, PreviewPanels
from ..training import MODES
from .layer_job import LayerJob, contrast_limits, layer_job, place, stack_axes, view_step
from .log_slider import LogSlider
from .loss_plot import LossPlot
from .preview_view import PreviewView
from .settings import load_settings, save_settings

if TYPE_CHECKING:
    import napari

#: Wait after the last slider move before the preview is recomputed (ms).
PREVIEW_DEBOUNCE_MS = 60
_SAVE_DELAY_MS = 400
_SLIDERS = ("k_g", "k_p", "lam_p")
_SPINS = {  # parameter: (label, minimum, maximum, step)
    "stride": ("Region size (stride)", 1, 4096, 1),
    "filter_size": ("Median filter size", 1, 101, 2),
    "channels": ("Channels", 1, 64, 1),
    "samples": ("Noise samples", 0, 100_000, 1),
    "steps_per_sample": ("Steps per sample", 1, 1000, 1),
}
_TIPS = {
    "k_g": "Gaussian (camera read) noise: higher = stronger",
    "k_p": "Signal-dependent Poisson noise, region by region: lower = stronger",
    "lam_p": "Overall Poisson (shot) noise: lower = stronger",
    "stride": "Side of the square regions whose mean brightness sets the noise level",
    "filter_size": "Median window of the pre-denoised target (odd)",
    "channels": "Channel amplification: copies of the image the network sees",
    "samples": "Noise-injected training samples (paper mode)",
    "steps_per_sample": "Optimizer steps on each sample (paper mode)",
    "corr": "Correlation of neighbouring pixels' synthetic noise: 0 = white (the paper); "
            "raise it for noise that looks blotchy (e.g. wide-field cameras, ~0.6)",
}


def _devices() -> list[str]:
    names = ["auto", "cpu"]
    if torch.cuda.is_available():
        names.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        names.append("mps")
    return names


def _camera(viewer: "napari.viewer.Viewer") -> Any:
    """The viewer's camera (``viewer.scene.camera`` since napari 0.9)."""
    return getattr(viewer, "scene", viewer).camera


def _unsuitable(layer: Image) -> Optional[str]:
    """Why ``layer`` cannot be denoised, or None."""
    if layer.rgb:
        return (f"'{layer.name}' is an RGB image: FM2S denoises one fluorescence channel; "
                "split it first (right-click the layer > Split RGB)")
    if layer.multiscale:
        return (f"'{layer.name}' is multiscale: open its full-resolution level as a layer of "
                "its own (it is read lazily) and denoise that")
    return None


def _layer_properties(layer: Image) -> dict[str, Any]:
    """What a result layer copies from its source (placement, metadata, look)."""
    props: dict[str, Any] = {
        "scale": layer.scale, "translate": layer.translate, "rotate": layer.rotate,
        "shear": layer.shear, "affine": layer.affine.affine_matrix,
        "metadata": dict(layer.metadata), "colormap": layer.colormap,
        "blending": layer.blending, "gamma": layer.gamma,
    }
    for name in ("units", "axis_labels"):  # napari >= 0.6
        if hasattr(layer, name):
            props[name] = getattr(layer, name)
    return props


def _disconnect(links: list[tuple[Any, Callable]]) -> None:
    for emitter, callback in links:
        try:
            emitter.disconnect(callback)
        except (RuntimeError, TypeError, ValueError):
            pass


class _StopFlag(threading.Event):
    """Set by Cancel, or seen as set once napari quits the worker (e.g. closing napari)."""

    worker: Any = None

    def is_set(self) -> bool:
        return super().is_set() or bool(self.worker is not None and self.worker.abort_requested)


@dataclass
class _Run:
    """One Denoise run in progress."""

    worker: Any
    cancel: _StopFlag
    bar: cancelable_progress
    source_name: str
    properties: dict[str, Any]
    job: LayerJob
    outcome: Optional[Outcome] = None
    notified: bool = False  # an unexpected error already went to napari's notifications


class FM2SWidget(QWidget):
    """Dock widget: pick an image and a preset, tune the noise, preview, denoise."""

    def __init__(self, napari_viewer: "napari.viewer.Viewer", parent: Optional[QWidget] = None
                 ) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        self._layers: list[Image] = []
        self._loading = False  # True while the controls are filled programmatically
        self._run: Optional[_Run] = None
        self._preview_worker: Any = None
        self._preview_request: tuple[tuple, Optional[Preset]] = ((), None)
        self._preview_pending = False
        self._preview_source: tuple[Any, Optional[NoisePreview]] = (None, None)
        self._draw = 0
        #: The panels on display (None when the preview shows a message).
        self.last_preview: Optional[PreviewPanels] = None
        #: What the last Auto measured and chose (None before the first Auto).
        self.last_calibration: Optional[Calibration] = None
        self._auto_worker: Any = None
        #: A loaded model, applied by Denoise instead of training (None: train).
        self.model: Optional[FM2SModel] = None
        #: The model trained by the last run (what "Save model..." saves).
        self.last_model: Optional[FM2SModel] = None
        self._watched_window: Optional[QObject] = None
        self._shut = False
        self._build()
        self._connect_viewer()
        self._refresh_layers()
        self._restore()
        self._schedule_preview()

    # ---- building -------------------------------------------------------------------------
    def _build(self) -> None:
        self.layer_combo = QComboBox()
        self.layer_combo.setToolTip("The image layer to denoise (never modified)")
        self.preset_combo = QComboBox()
        for i, (name, p) in enumerate(PRESETS.items()):
            self.preset_combo.addItem(name)
            self.preset_combo.setItemData(i, p.description, Qt.ItemDataRole.ToolTipRole)
        self.sliders = {
            "k_g": LogSlider(1, 1000, 0.0, 1e5),
            "k_p": LogSlider(3, 10_000, 0.1, 1e7),
            "lam_p": LogSlider(10, 100_000, 0.1, 1e7),
        }
        self.corr_spin = QDoubleSpinBox()
        self.corr_spin.setRange(0.0, MAX_CORR)
        self.corr_spin.setSingleStep(0.05)
        self.corr_spin.setDecimals(3)
        self.corr_spin.setKeyboardTracking(False)
        self.corr_spin.setToolTip(_TIPS["corr"])
        self.auto_button = QPushButton("Auto")
        self.auto_button.setToolTip(
            "Measure the noise of the image on display and set the sliders so the synthetic "
            "noise matches it, times an over-injection factor (docs/auto.md)")
        self.spins: dict[str, QSpinBox] = {}
        for key, (_, lo, hi, step) in _SPINS.items():
            spin = QSpinBox()
            spin.setRange(lo, hi)
            spin.setSingleStep(step)
            spin.setKeyboardTracking(False)
            self.spins[key] = spin
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setToolTip("Random seed: same seed, same result")
        self.mode_combo = QComboBox()
        self.mode_combo.addItems(list(MODES))
        self.mode_combo.setToolTip("Training schedule; 'paper' is the authors' exact one")
        self.device_combo = QComboBox()
        self.device_combo.addItems(_devices())
        self.device_combo.setToolTip("auto: CUDA, then Apple MPS, then the CPU")
        self.scope_combo = QComboBox()
        self.scope_combo.addItems(["whole layer", "plane in view"])
        self.scope_combo.setToolTip(
            "A stack (time, z): denoise every plane with one model trained on several "
            "planes, or only the plane on display")
        for key, widget in {**self.sliders, **self.spins}.items():
            widget.setToolTip(_TIPS[key])

        form = QFormLayout()
        form.addRow("Image", self.layer_combo)
        preset_row = QHBoxLayout()
        preset_row.addWidget(self.preset_combo, 1)
        preset_row.addWidget(self.auto_button)
        form.addRow("Preset", preset_row)
        form.addRow("k_g", self.sliders["k_g"])
        form.addRow("k_p", self.sliders["k_p"])
        form.addRow("λp (lam_p)", self.sliders["lam_p"])
        form.addRow("Noise correlation", self.corr_spin)
        form.addRow("Denoise", self.scope_combo)
        adv = QWidget()
        adv_form = QFormLayout(adv)
        adv_form.setContentsMargins(0, 0, 0, 0)
        for key, (label, *_rest) in _SPINS.items():
            adv_form.addRow(label, self.spins[key])
        adv_form.addRow("Seed", self.seed)
        adv_form.addRow("Mode", self.mode_combo)
        adv_form.addRow("Device", self.device_combo)
        self.advanced = QCollapsible("Advanced")
        self.advanced.addWidget(adv)
        left = QVBoxLayout()
        left.addLayout(form)
        left.addWidget(self.advanced)
        left.addStretch(1)

        self.preview_check = QCheckBox("Live preview")
        self.preview_check.setChecked(True)
        self.preview_check.setToolTip("Compare your image's noise with the synthetic noise")
        self.resample_button = QPushButton("Resample")
        self.resample_button.setToolTip("Draw a new synthetic noise sample")
        self.denoise_button = QPushButton("Denoise")
        self.denoise_button.setToolTip("Train FM2S on this image and add the result as a layer")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.load_model_button = QPushButton("Load model...")
        self.load_model_button.setToolTip("Apply a model saved from another image of the same "
                                          "microscope instead of training (.fm2s.safetensors)")
        self.save_model_button = QPushButton("Save model...")
        self.save_model_button.setToolTip("Save the model trained by the last Denoise, to "
                                          "apply it to other images")
        self.save_model_button.setEnabled(False)
        self.clear_model_button = QPushButton("Train")
        self.clear_model_button.setToolTip("Forget the loaded model: Denoise trains again")
        self.clear_model_button.setEnabled(False)
        self.model_label = QLabel("")
        self.model_label.setWordWrap(True)
        self.loss_plot = LossPlot()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        right = QVBoxLayout()
        row = QHBoxLayout()
        row.addWidget(self.preview_check)
        row.addWidget(self.resample_button)
        right.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(self.denoise_button)
        row.addWidget(self.cancel_button)
        right.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(self.load_model_button)
        row.addWidget(self.save_model_button)
        row.addWidget(self.clear_model_button)
        right.addLayout(row)
        right.addWidget(self.model_label)
        right.addWidget(self.loss_plot, 1)
        right.addWidget(self.status)

        top = QHBoxLayout()
        top.addLayout(left, 3)
        top.addLayout(right, 2)
        self.preview_view = PreviewView()
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.preview_view)
        layout.addStretch(1)

        self._preview_timer = self._timer(PREVIEW_DEBOUNCE_MS, self._start_preview)
        self._save_timer = self._timer(_SAVE_DELAY_MS, self.save)
        self.preset_combo.currentTextChanged.connect(self._apply_preset)
        for slider in self.sliders.values():
            slider.valueChanged.connect(self._on_value_changed)
        for spin in (*self.spins.values(), self.seed):
            spin.valueChanged.connect(self._on_value_changed)
        self.mode_combo.currentTextChanged.connect(self._on_value_changed)
        self.device_combo.currentTextChanged.connect(self._on_value_changed)
        self.layer_combo.currentIndexChanged.connect(self._on_layer_changed)
        self.preview_check.toggled.connect(self._on_preview_toggled)
        self.resample_button.clicked.connect(self.resample)
        self.corr_spin.valueChanged.connect(self._on_value_changed)
        self.auto_button.clicked.connect(self.auto)
        self.denoise_button.clicked.connect(self.start_denoise)
        self.cancel_button.clicked.connect(self.cancel)
        self.load_model_button.clicked.connect(self._ask_load_model)
        self.save_model_button.clicked.connect(self._ask_save_model)
        self.clear_model_button.clicked.connect(lambda *_: self.use_model(None))

    def _timer(self, ms: int, slot: Callable[[], None]) -> QTimer:
        timer = QTimer(self)
        timer.setSingleShot(True)
        timer.setInterval(ms)
        timer.timeout.connect(slot)
        return timer

    def _connect_viewer(self) -> None:
        """Follow the viewer's layers, view and plane; let go when the widget is deleted."""
        events = self.viewer.layers.events
        links: list[tuple[Any, Callable]] = [
            (events.inserted, self._refresh_layers), (events.removed, self._refresh_layers),
            (events.reordered, self._refresh_layers), (events.inserted, self._watch_layer),
            (_camera(self.viewer).events.center, self._schedule_preview),
            (self.viewer.dims.events.current_step, self._schedule_preview)]
        for emitter, callback in links:
            emitter.connect(callback)
        self._links = links
        for layer in self.viewer.layers:
            self._watch_layer(layer)
        self.destroyed.connect(lambda *_: _disconnect(links))

    def _watch_layer(self, event_or_layer: Any) -> None:
        layer = getattr(event_or_layer, "value", event_or_layer)
        new = [(layer.events.name, self._refresh_layers), (layer.events.data, self._on_data)]
        for emitter, callback in new:
            emitter.connect(callback)
        self._links.extend(new)

    def _on_data(self, *_: Any) -> None:
        self._preview_source = (None, None)
        self._schedule_preview()

    # ---- values ---------------------------------------------------------------------------
    def layer(self) -> Optional[Image]:
        """The selected image layer (None if there is none)."""
        i = self.layer_combo.currentIndex()
        return self._layers[i] if 0 <= i < len(self._layers) else None

    def overrides(self) -> dict[str, Any]:
        """The controls as ``denoise()`` overrides."""
        values: dict[str, Any] = {k: s.value() for k, s in self.sliders.items()}
        values.update({k: s.value() for k, s in self.spins.items()})
        values["corr"] = self.corr_spin.value()
        return values

    def params(self) -> Preset:
        """The preset with the controls applied; ValueError if a value is invalid."""
        return resolve_params(self.preset_combo.currentText(), seed=self.seed.value(),
                              **self.overrides())

    def run_options(self) -> dict[str, Any]:
        device = self.device_combo.currentText()
        return {"mode": self.mode_combo.currentText(),
                "device": None if device == "auto" else device}

    def _apply_preset(self, name: str) -> None:
        """Fill sliders and advanced values from the preset."""
        p = get_preset(name)
        self._loading = True
        try:
            for key, slider in self.sliders.items():
                slider.setValue(getattr(p, key))
            for key, spin in self.spins.items():
                spin.setValue(getattr(p, key))
            self.corr_spin.setValue(p.corr)
            self.seed.setValue(p.seed)
        finally:
            self._loading = False
        self._on_value_changed()

    def _on_value_changed(self, *_: Any) -> None:
        if self._loading:
            return
        self._save_timer.start()
        self._schedule_preview()

    # ---- auto -----------------------------------------------------------------------------
    def auto(self) -> None:
        """Calibrate the sliders on the plane on display (in a thread)."""
        layer = self.layer()
        problem = "Select an image layer first." if layer is None else _unsuitable(layer)
        if problem is not None:
            show_error(f"FM2S: {problem}")
            return
        assert layer is not None
        _, plane = self._plane(layer)
        plane = np.asarray(plane)

        def compute() -> Any:
            try:
                return auto_calibration(plane)
            except ValueError as e:
                return e

        worker = create_plain_worker(compute, _start_thread=False, _ignore_errors=True)
        worker.returned.connect(self._apply_calibration)
        worker.finished.connect(self._auto_done)
        self.auto_button.setEnabled(False)
        self.auto_button.setText("Auto ...")
        self._auto_worker = worker
        worker.start()

    def _auto_done(self) -> None:
        self._auto_worker = None
        self.auto_button.setEnabled(True)
        self.auto_button.setText("Auto")

    def _apply_calibration(self, cal: Any) -> None:
        """Set the preset (white or correlated template), sliders and windows from ``cal``."""
        if not isinstance(cal, Calibration):
            show_error(f"FM2S: Auto could not measure the noise: {cal}")
            return
        p = cal.preset
        self.last_calibration = cal
        self._loading = True
        try:
            self.preset_combo.blockSignals(True)
            self.preset_combo.setCurrentText("widefield" if p.corr > 0 else "confocal")
            self.preset_combo.blockSignals(False)
            for key, slider in self.sliders.items():
                slider.setValue(getattr(p, key))
            for key, spin in self.spins.items():
                spin.setValue(getattr(p, key))
            self.corr_spin.setValue(p.corr)
        finally:
            self._loading = False
        est = cal.estimate
        self.status.setText(
            f"Auto: noise std {100 * est.std_at_median:.2g}% of full scale at the median "
            "intensity, "
            f"correlation {est.corr:.2f}; synthetic noise aims at {cal.factor:.2g}x the "
            "variance of yours.")
        self._on_value_changed()

    # ---- settings -------------------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        values: dict[str, Any] = {k: s.value() for k, s in self.sliders.items()}
        values.update(preset=self.preset_combo.currentText(),
                      mode=self.mode_combo.currentText(),
                      device=self.device_combo.currentText(),
                      preview=self.preview_check.isChecked())
        return values

    def save(self) -> None:
        """Remember the preset, sliders, mode, device and preview switch."""
        save_settings(self.settings())

    def _restore(self) -> None:
        saved = load_settings()
        name = saved.get("preset")
        if isinstance(name, str) and name in PRESETS:
            self.preset_combo.setCurrentText(name)
        self._apply_preset(self.preset_combo.currentText())
        self._loading = True
        try:
            for key, slider in self.sliders.items():
                value = saved.get(key)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    slider.setValue(value)
            for combo, key in ((self.mode_combo, "mode"), (self.device_combo, "device")):
                if saved.get(key) in [combo.itemText(i) for i in range(combo.count())]:
                    combo.setCurrentText(saved[key])
            if isinstance(saved.get("preview"), bool):
                self.preview_check.setChecked(saved["preview"])
        finally:
            self._loading = False

    # ---- layers ---------------------------------------------------------------------------
    def _refresh_layers(self, *_: Any) -> None:
        current = self.layer()
        self._layers = [lay for lay in self.viewer.layers if isinstance(lay, Image)]
        active = self.viewer.layers.selection.active
        pick = current if current in self._layers else (
            active if active in self._layers else (self._layers[-1] if self._layers else None))
        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        self.layer_combo.addItems([lay.name for lay in self._layers])
        if pick is not None:
            self.layer_combo.setCurrentIndex(self._layers.index(pick))
        self.layer_combo.blockSignals(False)
        if pick is not current:
            self._on_layer_changed()

    def _on_layer_changed(self, *_: Any) -> None:
        self._preview_source = (None, None)
        layer = self.layer()
        try:
            stack = bool(layer is not None and not layer.rgb and stack_axes(layer))
        except ValueError:
            stack = False
        self.scope_combo.setEnabled(stack)
        self._schedule_preview()

    # ---- preview --------------------------------------------------------------------------
    def _on_preview_toggled(self, on: bool) -> None:
        self.preview_view.setVisible(on)
        self.resample_button.setEnabled(on)
        if not on:
            self.last_preview = None
            self._preview_source = (None, None)  # free the cached image
        self._on_value_changed()

    def resample(self) -> None:
        """Draw a new synthetic sample."""
        self._draw += 1
        self._start_preview()

    def _schedule_preview(self, *_: Any) -> None:
        if self.preview_check.isChecked():
            self._preview_timer.start()

    def _plane(self, layer: Image) -> tuple[tuple[int, ...], Any]:
        """Index and data of the 2D plane on display (the last two axes)."""
        data = layer.data
        if data.ndim <= 2:
            return (), data
        index = tuple(view_step(layer, self.viewer.dims.point)[:-2])
        return index, data[index]

    def _view_center(self, layer: Image) -> tuple[float, float]:
        world = np.asarray(self.viewer.dims.point, dtype=float)
        world[-2:] = _camera(self.viewer).center[-2:]
        y, x = layer.world_to_data(world)[-2:]
        return float(y), float(x)

    def _start_preview(self) -> None:
        """Compute the preview in a thread; a request during a computation waits for it."""
        if not self.preview_check.isChecked():
            return
        if self._preview_worker is not None:
            self._preview_pending = True
            return
        layer = self.layer()
        problem = "Add or open an image to see the preview." if layer is None else _unsuitable(
            layer)
        if problem is None:
            try:
                p = self.params()
            except ValueError as e:
                problem = f"Invalid setting: {e}"
        if problem is not None:
            self._show_preview_message(problem)
            return
        assert layer is not None
        index, plane = self._plane(layer)
        key = (id(layer), id(layer.data), index)
        cached_key, cached = self._preview_source
        source = cached if cached_key == key else None
        center, draw = self._view_center(layer), self._draw

        def compute() -> tuple[Any, Any]:
            try:
                src = source if source is not None else NoisePreview(plane)
                return src, src.render(p, center, draw)
            except ValueError as e:
                return None, e

        worker = create_plain_worker(compute, _start_thread=False, _ignore_errors=True)
        # bound methods, not lambdas: Qt drops the connections if the widget is deleted
        worker.returned.connect(self._show_preview)
        worker.finished.connect(self._preview_done)
        self._preview_worker, self._preview_request = worker, (key, p)
        worker.start()

    def _show_preview(self, out: tuple[Optional[NoisePreview], Any]) -> None:
        (key, p), (source, result) = self._preview_request, out
        if not self.preview_check.isChecked():
            return
        if source is None:
            self._show_preview_message(f"No preview: {result}")
            return
        self._preview_source = (key, source)
        self.last_preview = result
        self.preview_view.show_panels(result, p)

    def _show_preview_message(self, text: str) -> None:
        self.last_preview = None
        self.preview_view.show_message(text)

    def _preview_done(self) -> None:
        self._preview_worker = None
        if self._preview_pending:
            self._preview_pending = False
            self._start_preview()

    # ---- denoise --------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._run is not None

    def start_denoise(self) -> None:
        """Start training on the selected layer; does nothing while a run is going."""
        if self._run is not None:
            return
        layer = self.layer()
        problem = "Select an image layer first." if layer is None else _unsuitable(layer)
        if problem is None:
            try:
                p = self.params()
                job = layer_job(layer, self.viewer.dims.point,
                                plane_only=self.scope_combo.currentIndex() == 1)
            except ValueError as e:
                problem = str(e)
        if problem is not None:
            show_error(f"FM2S: {problem}")
            return
        assert layer is not None
        self.save()
        cancel = _StopFlag()
        bar = cancelable_progress(total=0, desc=f"FM2S: {layer.name}")
        options = self.run_options()
        if self.model is not None:
            options["model"] = self.model
        worker = create_worker(iter_denoise, job.image, p, cancel=cancel, axes=job.axes,
                               _start_thread=False, _ignore_errors=True, **options)
        cancel.worker = worker
        self._run = _Run(worker, cancel, bar, layer.name, _layer_properties(layer), job)
        worker.yielded.connect(self._on_progress)
        worker.returned.connect(self._on_outcome)
        worker.errored.connect(self._on_error)
        worker.finished.connect(self._on_finished)
        self.denoise_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.loss_plot.reset()
        self.status.setText(f"{'Applying the model to' if self.model else 'Training on'} "
                            f"'{layer.name}' ...")
        worker.start()

    def cancel(self) -> None:
        """Stop the running training; nothing is added to the viewer."""
        run = self._run
        if run is None or run.cancel.is_set():
            return
        run.cancel.set()
        run.worker.quit()
        self.status.setText("Cancelling ...")

    def _on_progress(self, prog: Progress) -> None:
        run = self._run
        if run is None:
            return
        if run.bar.is_canceled:  # the progress bar's own cancel button
            self.cancel()
            return
        if prog.total and run.bar.total != prog.total:
            run.bar.total = prog.total
        if prog.step > run.bar.n:
            run.bar.update(prog.step - run.bar.n)
        if prog.losses:
            self.loss_plot.add(prog.losses, prog.total)
        for note in prog.notes:  # e.g. out of GPU memory: smaller tiles, then the CPU
            show_warning(f"FM2S: {note}")
            self.status.setText(note)

    def _on_outcome(self, outcome: Outcome) -> None:
        run = self._run
        if run is None:
            return
        run.outcome = outcome
        if outcome.model is not None:
            self.last_model = outcome.model
            self.save_model_button.setEnabled(True)
        if outcome.image is None:
            return
        result, properties = place(outcome.image, run.job, run.properties)
        self.viewer.add_image(result, name=run.job.name,
                              contrast_limits=contrast_limits(result), **properties)

    def _on_error(self, error: BaseException) -> None:
        """An error outside denoise() itself; napari has already notified it."""
        if self._run is not None:
            self._run.outcome = Outcome(error=error)
            self._run.notified = True

    def _on_finished(self) -> None:
        run, self._run = self._run, None
        if run is None:
            return
        run.bar.close()
        self.denoise_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        outcome = run.outcome
        if outcome is None or outcome.cancelled:
            text = f"FM2S: cancelled; '{run.source_name}' and the viewer are unchanged"
            show_info(text)
        elif outcome.error is not None:
            text = f"FM2S could not denoise '{run.source_name}': {outcome.message}"
            if not run.notified:
                show_error(text)
        else:
            text = f"Added '{run.job.name}'."
        self.status.setText(text)

    # ---- saved models ---------------------------------------------------------------------
    def use_model(self, model: Optional[FM2SModel], name: str = "") -> None:
        """Apply ``model`` on Denoise instead of training (None: train again)."""
        self.model = model
        self.clear_model_button.setEnabled(model is not None)
        self.model_label.setText("" if model is None else
                                 f"Denoise applies {name or 'the loaded model'}: "
                                 f"{model.describe()}")

    def load_model_file(self, path: str) -> bool:
        """Load a model file; a file that is not ours is refused with a notification."""
        try:
            model = load_model(path)
        except ValueError as e:
            show_error(f"FM2S: {e}")
            return False
        self.use_model(model, Path(path).name)
        show_info(f"FM2S: loaded {Path(path).name}")
        return True

    def save_model_file(self, path: str) -> bool:
        """Save the last trained model to ``path``; problems go to a notification."""
        if self.last_model is None:
            show_error("FM2S: no trained model yet: run Denoise first")
            return False
        try:
            save_model(self.last_model, path)
        except ValueError as e:
            show_error(f"FM2S: {e}")
            return False
        show_info(f"FM2S: model saved to {path}")
        return True

    def _ask_load_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load an FM2S model", "",
                                              "FM2S model (*.safetensors);;All files (*)")
        if path:
            self.load_model_file(path)

    def _ask_save_model(self) -> None:
        run_name = self.layer().name if self.layer() is not None else "model"
        path, _ = QFileDialog.getSaveFileName(self, "Save the FM2S model", run_name + SUFFIX,
                                              "FM2S model (*.safetensors)")
        if path:
            self.save_model_file(path)

    # ---- shutdown -------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop a run and the preview: the widget is closing, or napari is."""
        self._shut = True
        for timer in (self._preview_timer, self._save_timer):
            try:
                timer.stop()
            except RuntimeError:  # already deleted by Qt
                pass
        run = self._run
        if run is not None:
            run.cancel.set()
            run.worker.quit()

    def event(self, e: QEvent) -> bool:  # noqa: D102 (Qt override)
        if (e.type() == QEvent.Type.ParentChange and self.parent() is None
                and getattr(self, "_run", None) is not None):
            self.shutdown()  # napari removed the dock widget
        return super().event(e)

    def showEvent(self, e: Any) -> None:  # noqa: N802 (Qt naming)
        """Watch the top-level window (napari's), to stop a run when it closes."""
        super().showEvent(e)
        top = self.window()
        if top is not self and top is not self._watched_window:
            if self._watched_window is not None:
                self._watched_window.removeEventFilter(self)
            top.installEventFilter(self)
            self._watched_window = top

    def eventFilter(self, obj: QObject, e: QEvent) -> bool:  # noqa: N802 (Qt naming)
        if obj is self._watched_window and e.type() == QEvent.Type.Close:
            self.shutdown()
        return False

    def closeEvent(self, e: Any) -> None:  # noqa: N802 (Qt naming)
        self.shutdown()
        super().closeEvent(e)
