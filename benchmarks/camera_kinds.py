"""Simulated raw camera data of the kinds users open, with known truth.

    python benchmarks/camera_kinds.py                    # every kind, default path
    python benchmarks/camera_kinds.py --kinds emccd,photon-counting --seeds 0,1

The clean scenes are FMD ground truths (means of 50 captures, ../shared/data/fmd/gt),
turned into expected photon counts and put through a camera model (numbers of the kind's
typical hardware, not of one file):

* ``scmos-widefield``: nuclei (WideField_BPAE_B), 5-155 photons, 0.46 e-/ADU, offset 100 ADU,
  read noise 1.6 e- rms varying per pixel (lognormal), uint16.
* ``low-snr-nuclei``: the same camera, 2-22 photons.
* ``emccd``: Confocal_FISH, 1-41 photons, EM gain 200 (gamma-distributed: excess noise
  factor sqrt 2), 40 e- read noise, 20 e-/ADU, offset 400 ADU, uint16.
* ``photon-counting``: Confocal_BPAE_B, hybrid-detector counts 0.2-15.2 (Poisson only, no
  offset), uint8.
* ``ccd-12bit``: TwoPhoton_BPAE_G, 10-510 photons, 2 e-/ADU, read noise 6 e-, offset 200 ADU,
  12-bit counts in uint16.
* ``scmos-columns``: as scmos-widefield plus a fixed offset per column (sd 1.5 ADU) and
  row-correlated read noise.
* ``ccd-12bit-bright``: the 12-bit CCD at 25x the light (250-12750 photons): high SNR,
  a few pixels clip at 4095 (the truth is clipped there too).

Each image is denoised by ``denoise(image)`` (what ``fm2s denoise FILE -o OUT`` does) and
by a Gaussian blur (sigma 1).  PSNR in ADU against the expected ADU of the clean scene
(``data_range`` = its max - min); "dark shift": the mean change of the darkest decile of the
truth, in ADU (the background level a user measures).  Reads ../shared/data; not a test.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import DEFAULT_DATA  # noqa: E402

from napari_fm2s import denoise  # noqa: E402


def _scmos(photons: np.ndarray, rng: np.random.Generator, columns: bool = False
           ) -> tuple[np.ndarray, np.ndarray]:
    e_per_adu, offset = 0.46, 100.0
    read = 1.6 * rng.lognormal(0.0, 0.3, photons.shape)  # per-pixel read noise, e-
    e = rng.poisson(photons) + read * rng.standard_normal(photons.shape)
    adu = offset + e / e_per_adu
    if columns:
        adu += rng.normal(0.0, 1.5, photons.shape[1])[None, :]
        row = rng.standard_normal(photons.shape)
        adu += 1.2 * (row + np.roll(row, 1, axis=1) + np.roll(row, -1, axis=1)) / np.sqrt(3)
    return adu, offset + photons / e_per_adu


def _emccd(photons, rng):
    gain, read, e_per_adu, offset = 200.0, 40.0, 20.0, 400.0
    n = rng.poisson(photons)
    amplified = np.where(n > 0, rng.gamma(np.maximum(n, 1), gain), 0.0)
    adu = offset + (amplified + read * rng.standard_normal(photons.shape)) / e_per_adu
    return adu, offset + photons * gain / e_per_adu


def _counting(photons, rng):
    return rng.poisson(photons).astype(np.float64), photons


def _ccd(photons, rng):
    e_per_adu, read, offset = 2.0, 6.0, 200.0
    e = rng.poisson(photons) + read * rng.standard_normal(photons.shape)
    return offset + e / e_per_adu, offset + photons / e_per_adu


Camera = Callable[[np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray]]
#: kind: (FMD ground truth, photons at 0 and at 255, camera, dtype, full scale)
KINDS: dict[str, tuple[str, float, float, Camera, type, int]] = {
    "scmos-widefield": ("WideField_BPAE_B_1", 5, 155, _scmos, np.uint16, 65535),
    "low-snr-nuclei": ("WideField_BPAE_B_2", 2, 22, _scmos, np.uint16, 65535),
    "emccd": ("Confocal_FISH_1", 1, 41, _emccd, np.uint16, 65535),
    "photon-counting": ("Confocal_BPAE_B_1", 0.2, 15.2, _counting, np.uint8, 255),
    "ccd-12bit": ("TwoPhoton_BPAE_G_1", 10, 510, _ccd, np.uint16, 4095),
    "scmos-columns": ("WideField_BPAE_B_3", 5, 155,
                      lambda p, r: _scmos(p, r, columns=True), np.uint16, 65535),
    "ccd-12bit-bright": ("TwoPhoton_BPAE_G_1", 250, 12750, _ccd, np.uint16, 4095),
}


def make(kind: str, data: Path, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(raw camera image, its expected value in ADU, clipped at full scale as the camera
    clips) for one kind."""
    name, lo, hi, camera, dtype, top = KINDS[kind]
    gt = np.asarray(Image.open(data / "fmd" / "gt" / f"{name}.png"), np.float64)
    photons = lo + (hi - lo) * gt / 255.0
    raw, truth = camera(photons, np.random.default_rng(seed))
    return np.clip(np.rint(raw), 0, top).astype(dtype), np.minimum(truth, float(top))


def psnr(out: np.ndarray, truth: np.ndarray) -> float:
    rng = float(truth.max() - truth.min())
    return float(10 * np.log10(rng ** 2 / np.mean((np.asarray(out, np.float64) - truth) ** 2)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--seeds", default="0", help="noise draws (comma-separated)")
    args = ap.parse_args()
    print(f"{'kind':<16} {'seed':>4} {'input':>6} {'gauss1':>6} {'default':>7} {'diff':>6} "
          f"{'dark shift ADU':>14} {'gauss':>6} {'time s':>6}  chosen")
    diffs = []
    for kind in args.kinds.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            raw, truth = make(kind, args.data, seed)
            dark = truth <= np.quantile(truth, 0.1)
            seen: list = []
            t0 = time.perf_counter()
            out = np.asarray(denoise(raw, on_params=lambda p, m: seen.append(p)), np.float64)
            dt = time.perf_counter() - t0
            blur = gaussian_filter(raw.astype(np.float64), 1.0)
            d, g = psnr(out, truth), psnr(blur, truth)
            diffs.append(d - g)
            p = seen[0]
            note = (f"k_g {p.k_g:.3g} k_p {p.k_p:.3g} lam_p {p.lam_p:.3g} w {p.filter_size} "
                    f"black {p.black:.3g}")
            print(f"{kind:<16} {seed:>4} {psnr(raw, truth):6.2f} {g:6.2f} {d:7.2f} {d - g:+6.2f} "
                  f"{np.mean(out[dark] - truth[dark]):+14.2f} "
                  f"{np.mean(blur[dark] - truth[dark]):+6.2f} {dt:6.1f}  {note}", flush=True)
    print(f"default - gauss1: mean {np.mean(diffs):+.2f} dB, worst {min(diffs):+.2f} dB "
          f"(bar: > 0 on every kind)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
