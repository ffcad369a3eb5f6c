"""Small whole planes (64-128 px) of a few PSF-blurred cells on an sCMOS camera, as a user
opens a small field of view: the default path against a Gaussian blur (sigma 1).

    python benchmarks/small_planes.py [--sizes 64,80,96,128] [--seeds 10]

Scene: 3-7 ellipses (nucleus-like bright cores), blurred by a PSF (sigma 1.5 px);
3-63 photons; gain 2 ADU/e-, offset 100 ADU, read noise 2 ADU rms, uint16.  PSNR against
the expected ADU (data range its max - min).  Not a test; needs no data.
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.ndimage import gaussian_filter

from napari_fm2s import denoise


def plane(size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(uint16 raw plane, its expected ADU) for one seed."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    img = np.zeros((size, size))
    for _ in range(max(3, size * size // 1500)):
        cy, cx = rng.uniform(0, size, 2)
        ry, rx = rng.uniform(4, 12, 2)
        r = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2
        img += rng.uniform(0.3, 1.0) * (r < 1) + rng.uniform(0.5, 1.5) * (r < 0.15)
    img = gaussian_filter(img, 1.5)
    photons = 3 + 60 * img / img.max()
    raw = 100 + 2 * rng.poisson(photons) + rng.normal(0, 2, photons.shape)
    return np.clip(np.rint(raw), 0, 65535).astype(np.uint16), 100 + 2 * photons


def psnr(a: np.ndarray, truth: np.ndarray) -> float:
    rng = float(truth.max() - truth.min())
    return float(10 * np.log10(rng ** 2 / np.mean((np.asarray(a, float) - truth) ** 2)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="64,80,96,128")
    ap.add_argument("--seeds", type=int, default=10)
    args = ap.parse_args()
    print(f"{'size':>4} {'seed':>4} {'input':>6} {'gauss1':>6} {'default':>7} {'diff':>6}")
    for size in (int(s) for s in args.sizes.split(",")):
        diffs = []
        for seed in range(args.seeds):
            raw, truth = plane(size, seed)
            g = psnr(gaussian_filter(raw.astype(float), 1.0), truth)
            d = psnr(denoise(raw), truth)
            diffs.append(d - g)
            print(f"{size:>4} {seed:>4} {psnr(raw, truth):6.2f} {g:6.2f} {d:7.2f} {d - g:+6.2f}",
                  flush=True)
        print(f"{size:>4} px: default - gauss1 mean {np.mean(diffs):+.2f} dB, worst "
              f"{min(diffs):+.2f}, below the blur {sum(x < 0 for x in diffs)} of {len(diffs)}",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
