"""Fast vs paper mode: time and PSNR per image, training-time scaling, inference memory.

    python benchmarks/speed.py                       # paper side by side on Confocal_FISH_1
    python benchmarks/speed.py --paper-images '*_1'  # paper side by side on every image

Default images: the FMD `_1` captures and the SRDTrans frames.  Paper-mode rows not run
side by side are read from benchmarks/results/paper_fmd.jsonl (earlier
`benchmarks/fmd.py --mode paper --json ...` runs, seed 3407) and marked "(earlier)".
Paper mode's PSNR moves with the seed by up to 0.65 dB on one image, so the summary also
compares fast mode with paper mode averaged over every seed run (paper_seeds.jsonl adds
seeds other than 3407): column "paper avg" with the number of seeds.  On SRDTrans, whose
ground truth lies ~8.5 grey levels below the frames, it also prints the offset-matched PSNR
(`_data.offset_psnr`) of fast mode and of the paper-mode runs that recorded it.
Fast mode's PSNR moves with the seed too (up to 0.7 dB on Confocal_BPAE_B_1): with
--fast-seeds K it also runs seeds 1..K-1 (untimed) and compares their mean with paper
mode's seed average ("fast avg" columns and summary lines).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import (DEFAULT_DATA, PAPER_3407, PAPER_SEEDS, find_images, offset_psnr,  # noqa: E402
                   paper_offsets, paper_runs, paper_seed_psnrs, score)

from napari_fm2s import denoise  # noqa: E402
from napari_fm2s.params import resolve_params  # noqa: E402
from napari_fm2s.samples import synthetic_cells  # noqa: E402
from napari_fm2s.training import fit  # noqa: E402


_MEM_CHILD = """
import resource, sys, numpy as np, torch
from napari_fm2s.inference import apply, INFERENCE_TILE
from napari_fm2s.network import make_network
n, run = int(sys.argv[1]), sys.argv[2] == "1"
img = np.random.default_rng(0).random((n, n), dtype=np.float32)
net = make_network(2, 0)
out = apply(net, img, tile=INFERENCE_TILE) if run else img.copy()  # same output array size
try:  # this process's own peak: ru_maxrss after fork + exec can be the parent's at fork time
    hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM:")][0]
    print(int(hwm.split()[1]) / 1024)
except OSError:
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--images", default="Confocal*_1,TwoPhoton*_1,WideField*_1,srdtrans_*")
    ap.add_argument("--paper-images", default="Confocal_FISH_1",
                    help="images on which paper mode runs side by side ('' for none)")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--fast-seeds", type=int, default=1,
                    help="fast-mode runs per image: the preset's seed, then seeds 1, 2, ...")
    args = ap.parse_args()
    earlier = {r["image"]: r for r in paper_runs(PAPER_3407)}
    pats = [s for s in args.paper_images.split(",") if s]
    others = paper_seed_psnrs((PAPER_SEEDS,))  # seeds other than 3407
    paper_off = paper_offsets()

    print(f"{'image':<20} {'paper s':>8} {'fast s':>7} {'ratio':>6} {'paper dB':>9} "
          f"{'fast dB':>8} {'diff':>6} {'paper avg':>9} {'seeds':>5} {'diff':>6} {'fast avg':>8} "
          f"{'diff':>6}", flush=True)
    # One-time process costs (torch imports its compiler stack on the first optimizer, about
    # 2-3 s) are paid before timing, as in a napari session that has denoised once.
    denoise(synthetic_cells((64, 64), seed=0)[0], "confocal", fast_steps=1)
    rows, off_rows = [], []
    for it in find_images(args.data, args.images):
        noisy, gt = it.load()
        fast, t_fast = _timed(lambda: denoise(noisy, it.preset, mode="fast"))
        f_psnr = score(fast, gt)[0]
        f_runs = [(f_psnr, offset_psnr(fast, gt))]
        for seed in range(1, args.fast_seeds):
            out = denoise(noisy, it.preset, mode="fast", seed=seed)
            f_runs.append((score(out, gt)[0], offset_psnr(out, gt)))
        f_avg, f_off = np.mean(f_runs, axis=0)
        if any(fnmatch.fnmatch(it.name, q) for q in pats):
            paper, t_paper = _timed(lambda: denoise(noisy, it.preset, mode="paper"))
            p_psnr, note = score(paper, gt)[0], ""
            paper_off.setdefault(it.name, []).append(offset_psnr(paper, gt))
        elif it.name in earlier:
            t_paper, p_psnr, note = earlier[it.name]["time_s"], earlier[it.name]["psnr"], " (earlier)"
        else:
            t_paper, p_psnr, note = float("nan"), float("nan"), " (no paper run)"
        seeds = ([] if np.isnan(p_psnr) else [p_psnr]) + others.get(it.name, [])
        p_avg = float(np.mean(seeds)) if seeds else float("nan")
        rows.append((it.group == "SRDTrans", p_psnr, f_psnr, p_avg, f_avg))
        if it.group == "SRDTrans":
            off_rows.append((it.name, paper_off.get(it.name, []), f_runs[0][1], f_off))
        print(f"{it.name:<20} {t_paper:8.1f} {t_fast:7.1f} {t_paper / t_fast:6.1f} {p_psnr:9.3f} "
              f"{f_psnr:8.3f} {f_psnr - p_psnr:+6.2f} {p_avg:9.3f} {len(seeds):5d} "
              f"{f_psnr - p_avg:+6.2f} {f_avg:8.3f} {f_avg - p_avg:+6.2f}{note}", flush=True)
    pairs = [(2, 1, "fast seed 3407 vs paper seed 3407"), (2, 3, "fast seed 3407 vs paper seed avg")]
    if args.fast_seeds > 1:
        pairs.append((4, 3, f"fast avg of {args.fast_seeds} seeds vs paper seed avg"))
    for srd, label in ((False, "FMD"), (True, "SRDTrans")):
        for fcol, pcol, what in pairs:
            # over the images with a paper-mode number, so both columns cover the same images
            a = np.array([(r[pcol], r[fcol]) for r in rows
                          if r[0] == srd and not np.isnan(r[pcol])])
            if len(a):
                d = a[:, 1] - a[:, 0]
                print(f"mean {label:<9} {what:<42} paper {a[:, 0].mean():7.3f}  fast "
                      f"{a[:, 1].mean():7.3f}  diff {d.mean():+.2f}  (n={len(a)}, worst "
                      f"{d.min():+.2f})", flush=True)
    if off_rows:
        print("\nSRDTrans, offset-matched PSNR (the global mean difference to the ground truth "
              "removed)\nimage                paper runs  paper mean  fast dB   diff  fast avg   diff",
              flush=True)
        d = []
        for name, runs, f_off, f_off_avg in off_rows:
            p_off = float(np.mean(runs)) if runs else float("nan")
            if runs:
                d.append((f_off - p_off, f_off_avg - p_off))
            print(f"{name:<20} {len(runs):10d} {p_off:11.3f} {f_off:8.3f} {f_off - p_off:+6.2f} "
                  f"{f_off_avg:9.3f} {f_off_avg - p_off:+6.2f}", flush=True)
        if d:
            a = np.array(d)
            print(f"mean diff over the {len(d)} frames with a paper run: seed 3407 "
                  f"{a[:, 0].mean():+.2f} (worst {a[:, 0].min():+.2f}), fast avg of "
                  f"{args.fast_seeds} seeds {a[:, 1].mean():+.2f} (worst {a[:, 1].min():+.2f}); "
                  f"fast over all frames {np.mean([r[2] for r in off_rows]):.3f}", flush=True)
    print(flush=True)

    p = resolve_params("confocal")
    times = {}
    for n in (512, 2048):
        noisy = synthetic_cells((n, n), seed=0)[0].astype(np.float32) / 255
        _, times[n] = _timed(lambda: fit([noisy], p, mode="fast"))
    print(f"fast training time: 512x512 {times[512]:.1f} s, 2048x2048 {times[2048]:.1f} s, "
          f"ratio {times[2048] / times[512]:.2f}", flush=True)

    def peak_mib(run: str) -> float:
        r = subprocess.run([sys.executable, "-c", _MEM_CHILD, "4096", run], capture_output=True,
                           text=True, check=True)
        return float(r.stdout.split()[-1])

    with_inf, without = peak_mib("1"), peak_mib("0")
    peak = with_inf - without
    print(f"inference on 4096x4096 (1024 tiles): process peak RSS {with_inf:.0f} MiB, the same "
          f"process without inference {without:.0f} MiB: +{peak:.0f} MiB for inference "
          f"(a 4096x4096 float32 plane is 64 MiB)")
    print(json.dumps({"train_512_s": times[512], "train_2048_s": times[2048],
                      "infer_4096_peak_mib": peak}))


if __name__ == "__main__":
    main()
