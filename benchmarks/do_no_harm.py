"""Do no harm and line noise (issue 19, items 5 and 6) on synthetic 16-bit images with
known truth, through the default path (auto).

    python benchmarks/do_no_harm.py [--cases spots61,spots45,smooth42,band,rows]

* ``spots61`` / ``spots45``: 256x256, 300 Gaussian spots (sigma 1-4 px) on a floor of 200
  ADU, 4000 ADU peak; Poisson (gain 0.02 / 1 ADU per photon) + read noise (1 / 5 ADU).
* ``smooth42``: 40 broad blobs (sigma 4-20 px), gain 1, read noise 5 ADU.
* ``band``: ``spots45`` with a 10 % zero band (registration padding): the band's output.
* ``rows``: 80 blobs (sigma 2-10) on 100 ADU + 600 peak, Poisson + read noise 40 ADU
  correlated along x only (3-tap kernel, lag-1 0.65): auto (anisotropic injection) and
  auto with ``corr=0`` (white injection, same k's).

PSNR over the truth's range.  Not a test.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from napari_fm2s import denoise
from napari_fm2s.noise import colour_noise


def blobs(shape=(256, 256), n=300, smin=1.0, smax=4.0, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(float)
    img = np.zeros(shape)
    for _ in range(n):
        cy, cx = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        s, a = rng.uniform(smin, smax), rng.uniform(0.2, 1.0)
        img += a * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    return img / img.max()


def camera(clean: np.ndarray, gain: float, read: np.ndarray | float, seed=100) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noisy = gain * rng.poisson(clean / gain) + (rng.normal(0, read, clean.shape)
                                                if np.isscalar(read) else read)
    return np.clip(np.round(noisy), 0, 65535).astype(np.uint16)


def psnr(x: np.ndarray, truth: np.ndarray) -> float:
    mse = float(np.mean((np.asarray(x, float) - truth) ** 2))
    return 10 * np.log10((truth.max() - truth.min()) ** 2 / mse)


def run(name: str) -> None:
    if name in ("spots61", "spots45", "smooth42", "band"):
        gain, read = (0.02, 1.0) if name == "spots61" else (1.0, 5.0)
        img = blobs(n=40, smin=4, smax=20) if name == "smooth42" else blobs()
        clean = 200.0 + 4000.0 * img
        noisy = camera(clean, gain, read)
        if name == "band":
            noisy[:, :25] = 0
            out = denoise(noisy)
            print(f"{name:9s} band output: {np.count_nonzero(out[:, :25])} non-zero pixels "
                  f"(max {out[:, :25].max():.3g}); rest {psnr(out[:, 25:], clean[:, 25:]):.2f} "
                  f"dB (input {psnr(noisy[:, 25:], clean[:, 25:]):.2f})", flush=True)
            return
        out = denoise(noisy)
        print(f"{name:9s} input {psnr(noisy, clean):.2f} dB  default {psnr(out, clean):.2f} dB",
              flush=True)
        return
    clean = 100.0 + 600.0 * blobs(n=80, smin=2, smax=10)
    w = torch.randn((1, 1, 256, 256), generator=torch.Generator().manual_seed(7))
    noisy = camera(clean, 1.0, 40.0 * colour_noise(w, (0.0, 0.65))[0, 0].numpy())
    seen: list = []
    out = denoise(noisy, on_params=lambda p, m: seen.append(p))
    white = denoise(noisy, corr=0.0)
    print(f"{name:9s} input {psnr(noisy, clean):.2f} dB  default {psnr(out, clean):.2f} dB "
          f"(injection {seen[0].noise_corr})  white injection {psnr(white, clean):.2f} dB",
          flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cases", default="spots61,spots45,smooth42,band,rows")
    for name in ap.parse_args().cases.split(","):
        run(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
