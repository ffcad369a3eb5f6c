"""8-bit exports with the camera offset subtracted and the result clipped at 0.

    python benchmarks/clipped.py                     # five scenes, crops 64-512 px
    python benchmarks/clipped.py --scenes Confocal_FISH_1 --sizes 256,512

A common way microscopy reaches a denoiser: the offset (or a background) subtracted, the
result clipped at 0 and saved as 8 bits, so most of the dark background is exactly 0,
with sparse positive noise spikes.  Scenes: FMD ground truths (../shared/data/fmd/gt)
scaled to photons, Poisson shot noise and Gaussian read noise added, an offset subtracted,
rounded and clipped to [0, 255].  The truth is the expected value clipped the same way.
Each crop is denoised by ``denoise(crop)`` and by a Gaussian blur (sigma 1); PSNR against
the truth, data range the crop's truth range; "zeros": the crop's fraction of 0 pixels.
Crops whose input is constant are skipped.  Reads ../shared/data; not a test.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import DEFAULT_DATA, psnr  # noqa: E402

from napari_fm2s import denoise  # noqa: E402

#: scene: (photons per grey level of the ground truth, offset subtracted, read noise sd).
SCENES = {
    "Confocal_BPAE_B_1": (0.5, 12, 3),
    "TwoPhoton_MICE_1": (0.6, 20, 4),
    "Confocal_FISH_1": (1.0, 15, 2),
    "WideField_BPAE_B_1": (0.4, 30, 3),
    "TwoPhoton_BPAE_G_1": (0.3, 8, 6),
}
#: Crop corners (y, x) per size.
PLACES = {64: ((100, 100), (300, 200), (40, 380)), 128: ((100, 100), (300, 200)),
          256: ((0, 0), (256, 256)), 512: ((0, 0),)}


def make(name: str, data: Path, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 image clipped at 0, its clipped expected value) for one scene."""
    scale, offset, read = SCENES[name]
    gt = np.asarray(Image.open(data / "fmd" / "gt" / f"{name}.png"), np.float64)
    rng = np.random.default_rng(seed)
    lam = gt * scale
    raw = rng.poisson(lam) + rng.normal(0, read, lam.shape) - offset
    return np.clip(np.rint(raw), 0, 255).astype(np.uint8), np.clip(lam - offset, 0, 255)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--scenes", default=",".join(SCENES))
    ap.add_argument("--sizes", default=",".join(str(s) for s in PLACES))
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    print(f"{'scene':<20} {'size':>4} {'at':>8} {'zeros':>5} {'input':>6} {'gauss1':>6} "
          f"{'default':>7} {'-gauss':>6}")
    diffs = []
    for name in args.scenes.split(","):
        img, truth = make(name, args.data)
        for n in (int(s) for s in args.sizes.split(",")):
            for y, x in PLACES[n]:
                c, t = img[y:y + n, x:x + n], truth[y:y + n, x:x + n]
                if c.min() == c.max():
                    continue
                rng = max(float(t.max() - t.min()), 1.0)
                p_in, p_g = psnr(c, t, rng), psnr(gaussian_filter(c.astype(float), 1.0), t, rng)
                p_d = psnr(denoise(c, seed=3407), t, rng)
                diffs.append(p_d - p_g)
                print(f"{name:<20} {n:>4} {y:>3},{x:<4} {(c == 0).mean():>5.2f} {p_in:>6.2f} "
                      f"{p_g:>6.2f} {p_d:>7.2f} {p_d - p_g:>+6.2f}", flush=True)
    d = np.array(diffs)
    print(f"{d.size} crops: below the blur {int((d < 0).sum())} (worst {d.min():+.2f} dB), "
          f"mean default - gauss1 {d.mean():+.3f} dB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
