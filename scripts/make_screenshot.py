"""Make docs/screenshot*.png: napari with the FM2S widget docked, preview, run, residual.

    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" python scripts/make_screenshot.py
    ... make_screenshot.py --size 1280 800 -o docs/screenshot-1280.png

Three pictures: ``NAME.png`` (the preview), ``NAME-run.png`` (a run in progress) and
``NAME-result.png`` (the result with its residual).

Uses the FMD image Confocal_FISH_1 when ../shared/data is there, else the built-in
synthetic sample.  Settings go to a temporary directory, not the user's config.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FMD = ROOT.parent / "shared" / "data" / "fmd" / "raw" / "Confocal_FISH_1.png"


def load() -> tuple[str, np.ndarray]:
    if FMD.exists():
        from PIL import Image

        return FMD.stem, np.asarray(Image.open(FMD).convert("L"))
    from napari_fm2s.samples import synthetic_cells

    return "cells (noisy)", synthetic_cells((512, 512), seed=1)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "docs" / "screenshot.png")
    parser.add_argument("--size", type=int, nargs=2, default=(1600, 1000), metavar=("W", "H"))
    args = parser.parse_args()
    os.environ["NAPARI_FM2S_CONFIG_DIR"] = tempfile.mkdtemp(prefix="fm2s-screenshot-")

    import napari
    from qtpy.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])

    def settle(seconds: float, until=lambda: True, limit: float = 30) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end or not until():
            app.processEvents()
            time.sleep(0.02)
            if time.perf_counter() > end + limit:
                raise TimeoutError(f"still waiting after {limit} s")

    name, image = load()
    viewer = napari.Viewer(show=True, title="napari: FM2S denoising")
    viewer.window._qt_window.resize(*args.size)
    viewer.add_image(image, name=name, colormap="gray")
    dock, widget = viewer.window.add_plugin_dock_widget("napari-fm2s", "FM2S denoise")
    settle(0.5, lambda: widget.last_calibration is not None)  # the first state: auto
    viewer.reset_view()
    settle(1.0, lambda: widget.last_preview is not None)
    settle(0.5)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    out = args.output

    def shot(suffix: str) -> None:
        path = out.with_name(out.stem + suffix + out.suffix)
        viewer.screenshot(str(path), canvas_only=False, flash=False)
        print(f"wrote {path}")

    from qtpy.QtWidgets import QScrollArea

    scroll = widget.findChild(QScrollArea)  # nothing may sit under the vertical scroll bar
    need, have = scroll.widget().minimumSizeHint().width(), scroll.viewport().width()
    print(f"the panels need {need} px; the dock shows {have} px")
    if need > have:
        raise SystemExit("the dock cuts the panels off at the right")
    shot("")
    widget.denoise_button.click()
    settle(1.0, lambda: widget.run_status.step > 60)
    shot("-run")
    settle(1.0, lambda: not widget.running, limit=600)
    widget.run_panel.residual_button.click()
    viewer.layers[name].visible = False
    settle(1.0)
    shot("-result")
    viewer.close()


if __name__ == "__main__":
    main()
