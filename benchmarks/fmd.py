"""FM2S on the real FMD and SRDTrans images: PSNR / SSIM / time per image, mean per microscope.

    python benchmarks/fmd.py --mode paper --images '*_1'
    python benchmarks/fmd.py --images 'srdtrans_*' --samples 45

Reads ../shared/data (or --data).  Not a test: prints a table.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import DEFAULT_DATA, REFERENCE, append_json, find_images, offset_psnr, score  # noqa: E402

from napari_fm2s import denoise  # noqa: E402
from napari_fm2s.presets import get_preset  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--mode", default="paper")
    ap.add_argument("--images", default="*_1", help="fnmatch pattern(s), comma separated")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--device", default=None)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--samples", type=int, default=None, help="override the sample count")
    ap.add_argument("--json", default=None, help="append one JSON record per image here")
    args = ap.parse_args()

    items = find_images(args.data, args.images)
    if not items:
        sys.exit(f"no images match {args.images!r} under {args.data}")
    print(f"mode={args.mode} samples={args.samples or 'preset'} images={len(items)}", flush=True)
    header = f"{'image':<22} {'preset':<10} {'PSNR':>7} {'SSIM':>7} {'ref PSNR':>8} {'diff':>6} {'time s':>7}"
    print(header)
    print("-" * len(header), flush=True)
    groups: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for it in items:
        noisy, gt = it.load()
        extra = {} if args.samples is None else {"samples": args.samples}
        t0 = time.perf_counter()
        out = denoise(noisy, it.preset, mode=args.mode, seed=args.seed, device=args.device, **extra)
        dt = time.perf_counter() - t0
        psnr, ssim = score(out, gt)
        ref = REFERENCE.get(it.name)
        ref_s = f"{ref[0]:8.3f} {psnr - ref[0]:+6.2f}" if ref else f"{'':8} {'':6}"
        print(f"{it.name:<22} {it.preset:<10} {psnr:7.3f} {ssim:7.4f} {ref_s} {dt:7.1f}", flush=True)
        groups[it.group].append((psnr, ssim, dt))
        seed = get_preset(it.preset).seed if args.seed is None else args.seed
        append_json(args.json, {"image": it.name, "mode": args.mode, "preset": it.preset,
                                "samples": args.samples, "seed": seed, "psnr": psnr,
                                "ssim": ssim, "psnr_offset": offset_psnr(out, gt),
                                "time_s": dt, "threads": torch.get_num_threads()})
    print("\nmean per microscope")
    for g, rows in groups.items():
        a = np.array(rows)
        print(f"{g:<12} n={len(rows):<3} PSNR {a[:, 0].mean():7.3f}  SSIM {a[:, 1].mean():.4f}  "
              f"time {a[:, 2].mean():6.1f} s")


if __name__ == "__main__":
    main()
