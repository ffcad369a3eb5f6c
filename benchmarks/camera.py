"""Raw camera data: the TIRF sCMOS stack, leave-one-out protocol (../shared/data/camera).

    python benchmarks/camera.py                          # input, gauss1, default, auto
    python benchmarks/camera.py --methods default,confocal,auto

Each frame's pseudo ground truth is the mean of the other 19 frames; PSNR per frame with
``data_range`` = max - min over all pseudo ground truths, averaged over the 20 frames.
Methods: ``input``; ``median3``; ``gauss1`` (Gaussian, sigma 1, per frame); ``default``
(``denoise(stack, axes="TYX")``, no preset named: what ``fm2s denoise FILE -o OUT`` does);
``auto`` (``preset="auto"``); any preset name.  Also prints the background shift: the mean
change of the darkest decile of the pseudo ground truth (ADU).  Reads ../shared/data; not a
test.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import tifffile
from scipy.ndimage import gaussian_filter, median_filter

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import DEFAULT_DATA  # noqa: E402

from napari_fm2s import denoise  # noqa: E402


def pseudo_truth(stack: np.ndarray) -> np.ndarray:
    """Leave-one-out means: frame i's truth is the mean of the others."""
    s = stack.astype(np.float64)
    return (s.sum(0)[None] - s) / (s.shape[0] - 1)


def psnr(out: np.ndarray, gt: np.ndarray, data_range: float) -> float:
    mse = float(np.mean((np.asarray(out, np.float64) - gt) ** 2))
    return 10 * np.log10(data_range ** 2 / mse)


def run(method: str, stack: np.ndarray) -> tuple[np.ndarray, str]:
    if method == "input":
        return stack.astype(np.float64), ""
    if method == "gauss1":
        return np.stack([gaussian_filter(f.astype(np.float64), 1.0) for f in stack]), ""
    if method == "median3":
        return np.stack([median_filter(f.astype(np.float64), 3) for f in stack]), ""
    seen: list = []
    kw = {} if method == "default" else {"preset": method}
    out = denoise(stack, axes="TYX", on_params=lambda p, mode: seen.append((p, mode)), **kw)
    p, mode = seen[0]
    note = (f"{p.name} {mode}: k_g {p.k_g:.4g} k_p {p.k_p:.4g} lam_p {p.lam_p:.4g} "
            f"corr {p.corr:g} w {p.filter_size} black {getattr(p, 'black', 0):.4g}")
    return np.asarray(out, np.float64), note


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--file", default="camera/TIRF_200Hz.tif")
    ap.add_argument("--methods", default="input,gauss1,default,auto")
    args = ap.parse_args()
    stack = tifffile.imread(args.data / args.file)
    gt = pseudo_truth(stack)
    rng = float(gt.max() - gt.min())
    dark = gt <= np.quantile(gt, 0.1)
    print(f"{args.file}: {stack.shape} {stack.dtype}, data_range {rng:.1f}")
    print(f"{'method':<10} {'PSNR dB':>8} {'min':>6} {'max':>6} {'dark shift ADU':>14} "
          f"{'time s':>7}  chosen")
    for m in args.methods.split(","):
        t0 = time.perf_counter()
        out, note = run(m, stack)
        dt = time.perf_counter() - t0
        ps = [psnr(out[i], gt[i], rng) for i in range(len(stack))]
        shift = float(np.mean(out[dark] - gt[dark]))
        print(f"{m:<10} {np.mean(ps):8.2f} {min(ps):6.2f} {max(ps):6.2f} {shift:+14.2f} "
              f"{dt:7.1f}  {note}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
