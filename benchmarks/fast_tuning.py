"""Fast-mode settings against paper mode, averaged over seeds: how fast_steps was chosen.

    python benchmarks/fast_tuning.py --steps 1200,1600,2400          # SRDTrans, 2 seeds
    python benchmarks/fast_tuning.py --images 'Confocal*_1' --seeds 3407,1,2 --beta2 0.999

For each setting (``fast_steps`` x ``FastSchedule`` fields given here) it trains fast mode on
every image with every seed, then prints the mean over seeds of plain and offset-matched
PSNR (`_data.offset_psnr`) minus paper mode's mean over its earlier runs
(benchmarks/results/paper_*.jsonl), per image and summarised.  One torch thread by default,
so that two runs can share a 2-core machine; times are per run.  Reads ../shared/data.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import (DEFAULT_DATA, find_images, offset_psnr, paper_offsets,  # noqa: E402
                   paper_seed_psnrs, score)

from napari_fm2s.inference import apply  # noqa: E402
from napari_fm2s.presets import get_preset  # noqa: E402
from napari_fm2s.training import FastSchedule, fit  # noqa: E402

SRDTRANS = "srdtrans_0,srdtrans_2,srdtrans_4,srdtrans_7,srdtrans_9"


def _mean(v: list[float]) -> float:
    return float(np.mean(v)) if v else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--images", default=SRDTRANS)
    ap.add_argument("--seeds", default="3407,1")
    ap.add_argument("--steps", default="", help="fast_steps values (default: the preset's)")
    ap.add_argument("--beta2", type=float, default=FastSchedule.beta2)
    ap.add_argument("--noise-reuse", type=float, default=FastSchedule.noise_reuse)
    ap.add_argument("--lr", type=float, default=FastSchedule.lr)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sched = FastSchedule(beta2=args.beta2, noise_reuse=args.noise_reuse, lr=args.lr)
    seeds = [int(s) for s in args.seeds.split(",")]
    steps = [int(s) for s in args.steps.split(",") if s] or [None]
    paper_plain, paper_off = paper_seed_psnrs(), paper_offsets()
    items = find_images(args.data, args.images)
    print(f"beta2 {args.beta2}  noise_reuse {args.noise_reuse}  lr {args.lr}  seeds {seeds}  "
          f"threads {args.threads}")
    print(f"{'image':<20} {'steps':>5} {'s/run':>6} {'plain':>7} {'paper':>7} {'diff':>6} "
          f"{'offset':>7} {'paper':>7} {'diff':>6}", flush=True)
    for n in steps:
        d_plain, d_off = [], []
        for it in items:
            noisy, gt = it.load()
            raw = noisy.astype(np.float32) / 255
            plain, off, times = [], [], []
            for seed in seeds:
                p = get_preset(it.preset).with_overrides(seed=seed)
                if n is not None:
                    p = p.with_overrides(fast_steps=n)
                t0 = time.perf_counter()
                out = apply(fit([raw], p, "fast", schedule=sched), raw) * 255
                times.append(time.perf_counter() - t0)
                plain.append(score(out, gt)[0])
                off.append(offset_psnr(out, gt))
            pp, po = _mean(paper_plain.get(it.name, [])), _mean(paper_off.get(it.name, []))
            fp, fo = _mean(plain), _mean(off)
            if not np.isnan(pp):
                d_plain.append(fp - pp)
            if not np.isnan(po):
                d_off.append(fo - po)
            label = n if n is not None else get_preset(it.preset).fast_steps
            print(f"{it.name:<20} {label:>5} {_mean(times):6.1f} {fp:7.3f} {pp:7.3f} "
                  f"{fp - pp:+6.2f} {fo:7.3f} {po:7.3f} {fo - po:+6.2f}", flush=True)
        for what, d in (("plain", d_plain), ("offset-matched", d_off)):
            if d:
                print(f"  steps {n or 'preset'}: {what} PSNR vs paper, mean {np.mean(d):+.3f} dB, "
                      f"worst {np.min(d):+.3f} (n={len(d)})", flush=True)


if __name__ == "__main__":
    main()
