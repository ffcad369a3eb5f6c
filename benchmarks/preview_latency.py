"""Latency of the live noise preview: median of 20 slider moves on a 512x512 image.

    QT_QPA_PLATFORM=xcb xvfb-run -a python benchmarks/preview_latency.py

Prints two tables: the core computation (``NoisePreview.render``, no Qt) per preset,
and the widget end to end (slider value set -> new panels on display, debounce
included) in a real napari viewer.  The widget part needs a display (Xvfb).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from napari_fm2s.presets import get_preset
from napari_fm2s.preview import NoisePreview
from napari_fm2s.samples import synthetic_cells

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "fmd" / "raw"
MOVES = 20


def load_image() -> tuple[str, np.ndarray]:
    """Confocal_FISH_1 (512x512, 8-bit) when the FMD data is there, else a synthetic image."""
    path = DATA / "Confocal_FISH_1.png"
    if path.exists():
        from PIL import Image

        return path.stem, np.asarray(Image.open(path).convert("L"))
    return "synthetic cells", synthetic_cells((512, 512), seed=1)[0]


def _k_g_values(start: float) -> list[float]:
    return [start * (0.7 + 0.03 * i) for i in range(MOVES)]  # 20 distinct slider positions


def core_table(image: np.ndarray) -> list[tuple[str, float, float, float]]:
    """(preset, first render, median, max) in ms; the first render filters the window."""
    rows = []
    for name in ("confocal", "twophoton", "widefield", "srdtrans"):
        p = get_preset(name)
        preview = NoisePreview(image)
        t0 = time.perf_counter()
        preview.render(p)
        first = time.perf_counter() - t0
        times = []
        for i, k_g in enumerate(_k_g_values(p.k_g)):
            t0 = time.perf_counter()
            preview.render(p.with_overrides(k_g=k_g), draw=i)
            times.append(time.perf_counter() - t0)
        rows.append((name, 1e3 * first, 1e3 * statistics.median(times), 1e3 * max(times)))
    return rows


def widget_times(image: np.ndarray) -> list[float]:
    """Seconds from a slider move to the new panels, for MOVES moves, in napari."""
    import napari
    from qtpy.QtWidgets import QApplication

    os.environ.setdefault("NAPARI_FM2S_CONFIG_DIR", str(Path("/tmp") / "fm2s-bench-config"))
    viewer = napari.Viewer(show=True)
    viewer.add_image(image, name="image")
    _, widget = viewer.window.add_plugin_dock_widget("napari-fm2s", "FM2S denoise")
    app = QApplication.instance()

    def wait_for_new(old: object, timeout: float = 10.0) -> None:
        end = time.perf_counter() + timeout
        while widget.last_preview is old or widget.last_preview is None:
            app.processEvents()
            time.sleep(0.001)
            if time.perf_counter() > end:
                raise TimeoutError("no preview")

    wait_for_new(None)
    times = []
    for k_g in _k_g_values(widget.sliders["k_g"].value()):
        old = widget.last_preview
        t0 = time.perf_counter()
        widget.sliders["k_g"].setValue(k_g)
        wait_for_new(old)
        times.append(time.perf_counter() - t0)
        for _ in range(5):  # let the UI settle as between two real slider moves
            app.processEvents()
            time.sleep(0.01)
    viewer.close()
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-widget", action="store_true", help="only the core table")
    args = parser.parse_args()
    name, image = load_image()
    print(f"image: {name}, {image.shape[0]}x{image.shape[1]} {image.dtype}; "
          f"{os.cpu_count()} CPUs; {MOVES} k_g moves each\n")
    print("core (NoisePreview.render, 256x256 crop)")
    print(f"| preset | first render (ms) | median (ms) | max (ms) |\n|---|---|---|---|")
    for preset, first, med, worst in core_table(image):
        print(f"| {preset} | {first:.1f} | {med:.1f} | {worst:.1f} |")
    if args.no_widget or not os.environ.get("DISPLAY"):
        print("\n(widget latency skipped: no display; run under xvfb-run)")
        return 0
    times = widget_times(image)
    print("\nwidget end to end (slider set -> new panels shown; includes the debounce)")
    print("| moves | median (s) | p90 (s) | max (s) | target (s) |\n|---|---|---|---|---|")
    p90 = float(np.percentile(times, 90))
    print(f"| {len(times)} | {statistics.median(times):.3f} | {p90:.3f} | {max(times):.3f} | 0.3 |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
