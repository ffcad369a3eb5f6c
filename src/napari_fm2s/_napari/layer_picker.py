"""The Image box: follows the viewer's image layers and picks a newly opened one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional

from napari.layers import Image
from qtpy.QtCore import QObject, Signal
from qtpy.QtWidgets import QComboBox

from .viewer_info import _disconnect

if TYPE_CHECKING:
    import napari


class LayerPicker(QObject):
    """A combo box of the viewer's image layers; ``changed()`` when the pick or its data
    changes.  A newly added image layer is picked (not FM2S's own results, spreads and
    residuals) unless ``hold()`` says a run is going."""

    changed = Signal()
    data_changed = Signal()

    def __init__(self, viewer: "napari.viewer.Viewer", hold: Callable[[], bool],
                 parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.viewer, self._hold = viewer, hold
        self._layers: list[Image] = []
        self.combo = QComboBox()
        self.combo.setToolTip("The image layer to denoise (never modified)")
        self.combo.currentIndexChanged.connect(self._on_index)
        events = viewer.layers.events
        # bound methods, not lambdas: napari holds them weakly, so nothing calls a deleted
        # object; the links are let go when this object is deleted
        links: list[tuple[Any, Callable]] = [
            (events.inserted, self._on_inserted), (events.removed, self.refresh),
            (events.reordered, self.refresh)]
        self._links = links
        for emitter, callback in links:
            emitter.connect(callback)
        for layer in viewer.layers:
            self._watch(layer)
        self.destroyed.connect(lambda *_: _disconnect(links))
        self.refresh()

    def _on_index(self, *_: Any) -> None:
        self.changed.emit()

    def _on_data(self, *_: Any) -> None:
        self.data_changed.emit()

    def layer(self) -> Optional[Image]:
        """The selected image layer (None if there is none)."""
        i = self.combo.currentIndex()
        return self._layers[i] if 0 <= i < len(self._layers) else None

    def _on_inserted(self, event: Any) -> None:
        layer = event.value
        self._watch(layer)
        self.refresh()
        if isinstance(layer, Image) and not self._hold() and layer in self._layers \
                and "(FM2S" not in layer.name:  # not our own results, spreads, residuals
            self.combo.setCurrentIndex(self._layers.index(layer))

    def _watch(self, layer: Any) -> None:
        new = [(layer.events.name, self.refresh), (layer.events.data, self._on_data)]
        for emitter, callback in new:
            emitter.connect(callback)
        self._links.extend(new)

    def refresh(self, *_: Any) -> None:
        current = self.layer()
        self._layers = [lay for lay in self.viewer.layers if isinstance(lay, Image)]
        active = self.viewer.layers.selection.active
        pick = current if current in self._layers else (
            active if active in self._layers else (self._layers[-1] if self._layers else None))
        self.combo.blockSignals(True)
        self.combo.clear()
        self.combo.addItems([lay.name for lay in self._layers])
        if pick is not None:
            self.combo.setCurrentIndex(self._layers.index(pick))
        self.combo.blockSignals(False)
        if pick is not current:
            self.changed.emit()
