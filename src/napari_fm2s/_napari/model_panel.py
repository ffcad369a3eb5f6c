"""Saved models in the widget: load one to apply instead of training, save the last one."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from napari.utils.notifications import show_error, show_info
from qtpy.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ..model_io import SUFFIX, FM2SModel, load_model, save_model
from .state import RunStatus


class ModelPanel(QWidget):
    """Load model... / Save model... / Train, and a line saying which model Denoise applies."""

    def __init__(self, default_name: Callable[[], str], status: Optional[RunStatus] = None,
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self._default_name = default_name
        #: A loaded model, applied by Denoise instead of training (None: train).
        self.model: Optional[FM2SModel] = None
        #: The model trained by the last run (what "Save model..." saves).
        self.last_model: Optional[FM2SModel] = None
        self.load_button = QPushButton("Load model...")
        self.load_button.setToolTip("Apply a model saved from another image of the same "
                                    "microscope instead of training (.fm2s.safetensors)")
        self.save_button = QPushButton("Save model...")
        self.save_button.setToolTip("Save the model trained by the last Denoise, to apply "
                                    "it to other images")
        self.save_button.setEnabled(False)
        self.clear_button = QPushButton("Train")
        self.clear_button.setToolTip("Forget the loaded model: Denoise trains again")
        self.clear_button.setEnabled(False)
        self.label = QLabel("")
        self.label.setWordWrap(True)
        row = QHBoxLayout()
        for b in (self.load_button, self.save_button, self.clear_button):
            row.addWidget(b)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.label)
        self.load_button.clicked.connect(self._ask_load)
        self.save_button.clicked.connect(self._ask_save)
        self.clear_button.clicked.connect(lambda *_: self.use_model(None))
        self._status = status
        if status is not None:  # the model a run applies is fixed while it runs
            status.events.phase.connect(self._show_running)

    def _show_running(self, *_: object) -> None:
        running = self._status is not None and self._status.running
        self.load_button.setEnabled(not running)
        self.clear_button.setEnabled(not running and self.model is not None)

    def trained(self, model: Optional[FM2SModel]) -> None:
        """A run trained ``model``: it can be saved now (None: the run copied a blank
        channel and has no model of every channel; nothing to save)."""
        self.last_model = model
        self.save_button.setEnabled(model is not None)

    def use_model(self, model: Optional[FM2SModel], name: str = "") -> None:
        """Apply ``model`` on Denoise instead of training (None: train again)."""
        self.model = model
        self._show_running()
        self.label.setText("" if model is None else
                           f"Denoise applies {name or 'the loaded model'}: {model.describe()}")

    def load_file(self, path: str) -> bool:
        """Load a model file; a file that is not ours is refused with a notification."""
        try:
            model = load_model(path)
        except ValueError as e:
            show_error(f"FM2S: {e}")
            return False
        self.use_model(model, Path(path).name)
        show_info(f"FM2S: loaded {Path(path).name}")
        return True

    def save_file(self, path: str) -> bool:
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

    def _ask_load(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load an FM2S model", "",
                                              "FM2S model (*.safetensors);;All files (*)")
        if path:
            self.load_file(path)

    def _ask_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the FM2S model",
                                              self._default_name() + SUFFIX,
                                              "FM2S model (*.safetensors)")
        if path:
            self.save_file(path)
