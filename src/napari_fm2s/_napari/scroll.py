"""The dock widget's body in a vertical scroll area."""

from __future__ import annotations

from qtpy.QtCore import Qt
from qtpy.QtWidgets import QFrame, QScrollArea, QVBoxLayout, QWidget


def fill_scrolled(owner: QWidget, body: QWidget, min_width: int) -> None:
    """Fill ``owner`` with ``body`` in a vertical scroll area (nothing is cut off on a small
    screen), at least ``min_width`` wide and wide enough for ``body`` and the scroll bar
    (nothing goes under it)."""
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    scroll.setWidget(body)
    outer = QVBoxLayout(owner)
    outer.setContentsMargins(0, 0, 0, 0)
    outer.addWidget(scroll)
    bar = scroll.verticalScrollBar().sizeHint().width()
    owner.setMinimumWidth(max(min_width, body.minimumSizeHint().width() + bar))
