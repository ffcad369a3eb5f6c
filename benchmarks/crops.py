"""Small regions of interest: crops of simulated camera images, as a user crops one cell.

    python benchmarks/crops.py                       # every kind, sizes 24-96 px
    python benchmarks/crops.py --kinds ccd-12bit --sizes 32,48

The scenes and camera models are those of ``camera_kinds.py`` (FMD ground truths turned
into photons; ``ccd-12bit-bright``: the 12-bit CCD at 25x the light, high SNR). Each
kind is cropped at three places per size; each crop is denoised on its own by
``denoise(crop)`` and by a Gaussian blur (sigma 1). PSNR in ADU against the crop's
expected ADU, data range that of the whole image's truth (the same for every crop of a
kind); "shift": mean(output - input) over the crop, ADU. Small planes have few flat
pixels for the noise curve (below ~57 x 57 one intensity bin, below ~24 x 24 none): what
``immerkaer.white_noise_line`` and the few-bin slope are for. Reads ../shared/data; not a
test.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import DEFAULT_DATA, psnr  # noqa: E402
from camera_kinds import make  # noqa: E402

from napari_fm2s import denoise  # noqa: E402

#: Crop corners as fractions of the free room (y, x).
PLACES = ((0.2, 0.2), (0.5, 0.5), (0.7, 0.3))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--kinds", default="scmos-widefield,emccd,photon-counting,ccd-12bit,"
                                       "ccd-12bit-bright")
    ap.add_argument("--sizes", default="24,32,48,64,96")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    print(f"{'kind':<20} {'size':>4} {'at':>9} {'input':>6} {'gauss1':>6} {'default':>7} "
          f"{'-gauss':>6} {'-input':>6} {'shift':>6}")
    rows = []
    for kind in args.kinds.split(","):
        raw, truth = make(kind, args.data, args.seed)
        rng = float(truth.max() - truth.min())
        for n in (int(s) for s in args.sizes.split(",")):
            for fy, fx in PLACES:
                y, x = int(fy * (raw.shape[0] - n)), int(fx * (raw.shape[1] - n))
                crop, t = raw[y:y + n, x:x + n], truth[y:y + n, x:x + n]
                out = np.asarray(denoise(crop), np.float64)
                i, g, d = (psnr(a, t, rng) for a in
                           (crop, gaussian_filter(crop.astype(np.float64), 1.0), out))
                shift = float(np.mean(out - crop))
                rows.append((d - g, d - i, abs(shift)))
                print(f"{kind:<20} {n:>4} {f'{y},{x}':>9} {i:6.2f} {g:6.2f} {d:7.2f} "
                      f"{d - g:+6.2f} {d - i:+6.2f} {shift:+6.2f}", flush=True)
    a = np.asarray(rows)
    print(f"{len(a)} crops: below the blur {int(np.sum(a[:, 0] < 0))} (worst {a[:, 0].min():+.2f}"
          f" dB), below the input {int(np.sum(a[:, 1] < 0))} (worst {a[:, 1].min():+.2f} dB), "
          f"mean default - gauss1 {a[:, 0].mean():+.2f} dB, |shift| max {a[:, 2].max():.2f} ADU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
