"""The FM2S dock widget: composes the panels and follows the viewer.

Thin: the controls (generated from the parameter table), the preview, saved models and the
one background run are panels of their own (:mod:`.controls`, :mod:`.preview_panel`,
:mod:`.model_panel`, :mod:`.runner`); this picks the layer, makes the preset, adds results.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import numpy as np
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import QSize, QTimer
from qtpy.QtWidgets import QComboBox, QFormLayout, QHBoxLayout, QVBoxLayout, QWidget
from superqt import QCollapsible

from ..api import AUTO_BASE
from ..background import Outcome, Progress
from ..calibrate import CALIBRATED, Calibration
from .auto_panel import Calibrator
from ..params import resolve_params
from ..presets import PRESETS, Preset, get_preset
from ..threads import choose_threads
from ..training import MODES
from .controls import ParamControls
from .layer_picker import LayerPicker
from .preset_box import AUTO, CUSTOM, PresetBox
from .lifecycle import StopsWithNapari
from .layer_job import LayerJob, layer_job, stack_axes, view_plane
from .spread_layer import add_results
from .residual import toggle_residual
from .run_panel import RunPanel
from .state import RunStatus, WidgetSettings, label_after_edit
from .model_panel import ModelPanel
from .preview_panel import PreviewPanel
from .runner import Runner
from .scroll import fill_scrolled
from .settings import load_settings, save_settings
from .viewer_info import _camera, _devices, _disconnect, _layer_properties, _unsuitable

if TYPE_CHECKING:
    import napari

_SAVE_DELAY_MS = 400
#: The dock's least width (px; wider if its panels and scroll bar need): the canvas keeps room.
MIN_WIDTH = 420
_SCOPES = ["whole layer", "plane in view"]


class FM2SWidget(StopsWithNapari, QWidget):
    """Dock widget: pick an image and a preset, tune the noise, preview, denoise."""

    def __init__(self, napari_viewer: "napari.viewer.Viewer", parent: Optional[QWidget] = None
                 ) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        self._loading = False  # True while the controls are filled programmatically
        self._job: Optional[tuple[str, dict[str, Any], LayerJob]] = None  # the run's layer
        self._done: Optional[tuple[LayerJob, Any, dict[str, Any]]] = None  # the last result
        #: The user's choices as data (evented); the controls write it.
        self.state = WidgetSettings()
        self._build()
        self._restore()
        self._on_layer_changed()

    # ---- building -------------------------------------------------------------------------
    def _build(self) -> None:
        self.picker = LayerPicker(self.viewer, lambda: self.running or self._job is not None,
                                  self)
        self.layer_combo = self.picker.combo
        self.preset_combo = PresetBox()
        self.calibrator = Calibrator(self)
        self.auto_button = self.calibrator.button
        self.mode_combo = QComboBox()
        self.mode_combo.addItems(list(MODES))
        self.mode_combo.setToolTip("Training schedule; 'paper' is the authors' exact one")
        self.device_combo = QComboBox()
        self.device_combo.addItems(_devices())
        self.device_combo.setToolTip("auto: CUDA, then Apple MPS, then the CPU")
        self.scope_combo = QComboBox()
        self.scope_combo.addItems(_SCOPES)
        self.scope_combo.setToolTip(
            "A stack (time, z): denoise every plane with one model trained on several "
            "planes, or only the plane on display")

        form = QFormLayout()
        form.addRow("Image", self.layer_combo)
        preset_row = QHBoxLayout()
        preset_row.addWidget(self.preset_combo, 1)
        preset_row.addWidget(self.auto_button)
        form.addRow("Microscope", preset_row)
        form.addRow("Camera offset", self.calibrator.entry)
        form.addRow(self.calibrator.note)
        adv = QWidget()
        adv_form = QFormLayout(adv)
        adv_form.setContentsMargins(0, 0, 0, 0)
        adv_form.addRow("Mode", self.mode_combo)
        adv_form.addRow("Device", self.device_combo)
        self.controls = ParamControls(form, adv_form)
        form.addRow("Process", self.scope_combo)
        self.advanced = QCollapsible("Advanced")
        self.advanced.addWidget(adv)

        self.run_status = RunStatus()
        self.run_panel = RunPanel(self.run_status, self.state)
        rp = self.run_panel
        self.denoise_button, self.cancel_button = rp.denoise_button, rp.cancel_button
        self.loss_plot, self.status = rp.loss_plot, rp.message
        self.models = ModelPanel(lambda: getattr(self.layer(), "name", "model"), self.run_status)
        self.preview = PreviewPanel(self._preview_request)
        self.runner = Runner(self)

        body = QWidget()  # in a scroll area: nothing is cut off on a small screen
        layout = QVBoxLayout(body)
        layout.addLayout(form)
        layout.addWidget(self.advanced)
        layout.addWidget(self.run_panel)
        layout.addWidget(self.models)
        layout.addWidget(self.preview)
        layout.addStretch(1)
        fill_scrolled(self, body, MIN_WIDTH)

        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(_SAVE_DELAY_MS)
        self._save_timer.timeout.connect(self.save)
        self.state.events.all.connect(lambda *_: self._save_timer.start())  # saved soon
        self.state.events.mode.connect(self.controls.show_mode)  # the mode's own rows
        self.preset_combo.chosen.connect(self._apply_preset)
        self.controls.connect(self._on_value_changed)
        self.mode_combo.currentTextChanged.connect(self._on_value_changed)
        self.device_combo.currentTextChanged.connect(self._on_value_changed)
        self.scope_combo.currentTextChanged.connect(self._on_value_changed)
        self.calibrator.entry.editingFinished.connect(self._on_value_changed)
        self.picker.changed.connect(self._on_layer_changed)
        self.picker.data_changed.connect(self._on_layer_changed)  # new data, as a new layer
        self.layer = self.picker.layer
        view_links = [(_camera(self.viewer).events.center, self.preview.schedule),
                      (self.viewer.dims.events.current_step, self.preview.schedule)]
        for emitter, callback in view_links:
            emitter.connect(callback)
        self.destroyed.connect(lambda *_: _disconnect(view_links))
        self.preview.check.toggled.connect(self._on_value_changed)
        self.auto_button.clicked.connect(lambda: self.auto())
        self.calibrator.calibrated.connect(self._apply_calibration)
        self.calibrator.failed.connect(self._calibration_failed)
        self.denoise_button.clicked.connect(self.start_denoise)
        self.cancel_button.clicked.connect(self.cancel)
        rp.residual_button.toggled.connect(self.show_residual)
        self.runner.progress.connect(self._on_progress)
        self.runner.done.connect(self._on_done)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt naming)
        """Narrow: napari gives a dock its hint, and the canvas needs the room."""
        return QSize(self.minimumWidth(), super().sizeHint().height())

    # shortcuts used by scripts and tests
    @property
    def sliders(self) -> dict[str, Any]:
        return {k: w for k, w in self.controls.widgets.items() if k in ("k_g", "k_p", "lam_p")}

    @property
    def spins(self) -> dict[str, Any]:
        return self.controls.widgets

    @property
    def last_preview(self) -> Any:
        return self.preview.last_preview

    @property
    def last_calibration(self) -> Optional[Calibration]:
        """What the last Auto measured and chose (None before the first Auto)."""
        return self.calibrator.last

    @property
    def running(self) -> bool:
        return self.runner.running

    # ---- values ---------------------------------------------------------------------------
    def params(self) -> Preset:
        """The preset with the controls applied; ValueError if a value is invalid."""
        return resolve_params(self.preset_combo.base, **self.controls.values())

    def run_options(self) -> dict[str, Any]:
        device = self.device_combo.currentText()
        # one core left to napari's GUI (FM2S_THREADS overrides)
        return {"mode": self.mode_combo.currentText(),
                "device": None if device == "auto" else device,
                "threads": choose_threads(None, reserve=1)}

    def _apply_preset(self, name: str) -> None:
        """Fill the controls from the preset; auto: calibrate on the plane on display."""
        if name == AUTO:
            self.calibrator.key = None  # again, even on the same layer
            self.auto(automatic=True)
        self._set_controls(get_preset(AUTO_BASE if name == AUTO else name))

    def _set_controls(self, source: Preset | dict[str, Any]) -> None:
        self._loading = True
        try:
            self.controls.set_values(source)
        finally:
            self._loading = False
        self._on_value_changed()

    def _on_value_changed(self, *_: Any) -> None:
        if self._loading:
            return
        name, label = self.controls.name_of(self.sender()), self.preset_combo.currentText()
        if name is not None and label_after_edit(label, name) != label:
            self.preset_combo.label(CUSTOM)  # moved by hand: no longer the preset's values
        self._sync()
        self.preview.schedule()

    def _sync(self, strict: bool = False) -> None:
        """The controls into :attr:`state` (its subscribers hear what changed); ``strict``:
        ValueError for an offset that is not a number."""
        st = self.state
        st.params = self.controls.values()
        st.preset, st.base = self.preset_combo.currentText(), self.preset_combo.base
        st.mode, st.device = self.mode_combo.currentText(), self.device_combo.currentText()
        st.scope, st.preview = self.scope_combo.currentText(), self.preview.check.isChecked()
        st.offset = self.calibrator.given_offset(strict)

    # ---- auto -----------------------------------------------------------------------------
    def auto(self, automatic: bool = False) -> None:
        """Calibrate the controls on the plane on display (in a thread).  ``automatic``:
        the auto label's own look at a layer it has not calibrated (quiet, once a layer)."""
        layer = self.layer()
        problem = "Select an image layer first." if layer is None else _unsuitable(layer)
        key = None if layer is None else (id(layer), id(layer.data))
        if automatic and (key == self.calibrator.key or self.preset_combo.currentText() != AUTO):
            return
        if layer is not None and problem is None:
            self.calibrator.start(view_plane(layer, self.viewer.dims.point)[1], key, automatic)
        elif not automatic:
            show_error(f"FM2S: {problem}")
        elif not self.running:  # a new layer it cannot use: say why where Denoise is
            self.run_status.message = problem or ""

    def _apply_calibration(self, cal: Calibration, automatic: bool) -> None:
        """Label auto and show the calibrated values (unrounded); coming from a preset, the
        others are auto's base preset's.  An automatic one only while the label is auto."""
        was_auto = self.preset_combo.currentText() == AUTO
        if automatic and not was_auto:
            return
        self.preset_combo.label(AUTO, AUTO_BASE)
        base = {} if was_auto else get_preset(AUTO_BASE).as_dict()
        self._set_controls({**base, **{k: getattr(cal.preset, k) for k in CALIBRATED}})
        if not self.running:
            self.run_status.message = self.calibrator.summary()

    def _calibration_failed(self, text: str) -> None:  # Auto's own look at a new layer
        if not self.running and self.preset_combo.currentText() == AUTO:
            self.run_status.message = text

    # ---- settings -------------------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        """Everything the widget remembers: preset, every parameter, mode, device, scope."""
        self._sync()
        return self.state.as_json()

    def save(self) -> None:
        """Remember the settings for the next time napari opens."""
        save_settings(self.settings())

    def _restore(self) -> None:
        """The saved settings (a preset once chosen stays chosen); none: auto."""
        saved = load_settings()
        name, base = (v if isinstance(v, str) else "" for v in
                      (saved.get("preset", AUTO), saved.get("base")))
        base = name if name in PRESETS else base if base in PRESETS else AUTO_BASE
        self.preset_combo.label(name if name in (AUTO, CUSTOM) else base, base)
        self._loading = True
        try:
            self.controls.set_values(get_preset(base))
            self.controls.set_values(saved)
            for combo, key in ((self.mode_combo, "mode"), (self.device_combo, "device"),
                               (self.scope_combo, "scope")):
                if saved.get(key) in [combo.itemText(i) for i in range(combo.count())]:
                    combo.setCurrentText(saved[key])
            if isinstance(saved.get("preview"), bool):
                self.preview.check.setChecked(saved["preview"])
            self.state.spread = saved.get("spread") is True
        finally:
            self._loading = False
        self._sync()
        self.controls.show_mode(self.state.mode)

    # ---- layers ---------------------------------------------------------------------------
    def _on_layer_changed(self) -> None:
        self.preview.forget()
        self.calibrator.forget()  # its offset entry too
        if not self.running:  # the last layer's message no longer applies
            self.run_status.message = ""
        self.state.offset = None
        self.auto(automatic=True)
        layer = self.layer()
        try:
            stack = bool(layer is not None and not layer.rgb and stack_axes(layer))
        except ValueError:
            stack = False
        self.scope_combo.setEnabled(stack)
        self.preview.schedule()

    def _preview_request(self) -> Any:
        """For the preview: a message, or (cache key, plane, preset, centre of the view)."""
        layer = self.layer()
        if layer is None:
            return "Add or open an image to see the preview."
        problem = _unsuitable(layer)
        if problem is not None:
            return problem
        try:
            p = self.params()
        except ValueError as e:
            return f"Invalid setting: {e}"
        index, plane = view_plane(layer, self.viewer.dims.point)
        world = np.asarray(self.viewer.dims.point, dtype=float)
        world[-2:] = _camera(self.viewer).center[-2:]
        y, x = layer.world_to_data(world)[-2:]
        return (id(layer), id(layer.data), index), plane, p, (float(y), float(x))

    # ---- denoise --------------------------------------------------------------------------
    def start_denoise(self) -> None:
        """Start training on the selected layer; does nothing while a run is going."""
        if self.running:
            return
        layer = self.layer()
        problem = "Select an image layer first." if layer is None else _unsuitable(layer)
        if problem is None:
            try:
                self._sync(strict=True)
                p, extra = self.state.run_preset()
                job = layer_job(layer, self.viewer.dims.point,
                                plane_only=self.scope_combo.currentIndex() == 1)
            except ValueError as e:
                problem = str(e)
        if problem is not None:
            show_error(f"FM2S: {problem}")
            return self.run_status.refuse(f"FM2S did not start: {problem}")
        assert layer is not None
        self.save()
        model = self.models.model  # a saved model brings its own parameters
        options = {**self.run_options(), **(extra if model is None else {"model": model}),
                   **self.state.run_options(model)}
        self._job = (layer.name, _layer_properties(layer), job)
        self.runner.start(job.image, p, f"FM2S: {layer.name}", axes=job.axes, **options)
        self.loss_plot.reset()
        self.run_panel.residual_button.setChecked(False)
        self.run_status.begin(training=self.models.model is None, message=(
            f"{'Applying the model to' if self.models.model else 'Training on'} "
            f"'{layer.name}' ..."))

    def cancel(self) -> None:
        """Stop the running training; nothing is added to the viewer."""
        if self.running and not self.runner.cancelling:
            self.runner.cancel()
            self.run_status.message = "Cancelling ..."

    def _on_progress(self, prog: Progress) -> None:
        self.run_status.advance(prog.step, prog.total)
        if prog.losses:
            self.loss_plot.add(prog.losses, prog.total)
        for note in prog.notes:  # e.g. out of GPU memory: smaller tiles, then the CPU
            show_warning(f"FM2S: {note}")
            self.run_status.message = note

    def _on_done(self, outcome: Outcome) -> None:
        job, self._job = self._job, None
        if job is None:
            return
        source, properties, lj = job
        if outcome.trained:
            self.models.trained(outcome.model)
        if outcome.cancelled or outcome.error is not None:
            text = (f"FM2S: cancelled; '{source}' and the viewer are unchanged"
                    if outcome.cancelled else
                    f"FM2S could not denoise '{source}': {outcome.message}")
            (show_info if outcome.cancelled else show_error)(text)
        else:
            text = add_results(self.viewer, lj, outcome, properties, self.state)
            self._done = (lj, outcome.image, properties)
        self.run_panel.residual_button.setEnabled(self._done is not None)
        self.run_status.end(outcome, text)

    def show_residual(self, on: bool) -> None:
        """Add (or remove) the residual input - result of the last run as a layer."""
        if self._done is not None:
            toggle_residual(self.viewer, *self._done, on)

    def shutdown(self) -> None:
        """Stop a run and the timers: the widget is closing, or napari is."""
        for timer in (self.preview.timer, self._save_timer):
            try:
                timer.stop()
            except RuntimeError:  # already deleted by Qt
                pass
        self.runner.cancel()
