"""How strong is the presets' synthetic noise compared with the real noise? (FMD images)

    python benchmarks/noise_ratios.py

For each FMD image with its preset: the real noise std (noisy - ground truth) and the
synthetic noise std (sample - median target) in the dim and bright half of the preview
crop, their ratio, and what the widget's preview reads (``image - median3(image)``
on both).  This is where ``napari_fm2s.preview.PRESET_RATIOS`` comes from.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from _data import DEFAULT_DATA, _png
from napari_fm2s.presets import get_preset
from napari_fm2s.preview import NoisePreview

IMAGES = [("Confocal_FISH_1", "confocal"), ("Confocal_BPAE_B_1", "confocal"),
          ("TwoPhoton_MICE_1", "twophoton"), ("TwoPhoton_BPAE_G_1", "twophoton"),
          ("WideField_BPAE_B_1", "widefield")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    fmd = ap.parse_args().data / "fmd"
    if not (fmd / "raw").exists():
        print(f"no FMD data in {fmd}")
        return 1
    print("| image | preset | real noise dim / bright | synthetic / real (truth) "
          "| synthetic / real (preview reads) | neighbour correlation of real noise |")
    print("|---|---|---|---|---|---|")
    for name, preset in IMAGES:
        noisy = _png(fmd / "raw" / f"{name}.png").astype(np.float32)
        gt = _png(fmd / "gt" / f"{name}.png").astype(np.float32)
        panels = NoisePreview(noisy).render(get_preset(preset))
        box = panels.box
        bright = panels.target > np.median(panels.target)
        real = noisy[box] - gt[box]
        synthetic = panels.synthetic - panels.target
        r = [real[m].std() for m in (~bright, bright)]
        s = [synthetic[m].std() for m in (~bright, bright)]
        read = panels.noise_ratio
        corr = np.corrcoef(real[:, :-1].ravel(), real[:, 1:].ravel())[0, 1]
        print(f"| {name} | {preset} | {r[0]:.1f} / {r[1]:.1f} | ×{s[0] / r[0]:.2f} / "
              f"×{s[1] / r[1]:.2f} | ×{read.dim:.2f} / ×{read.bright:.2f} | {corr:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
