"""Threads on a busy machine: a default 512x512 denoise, idle and beside busy-loop processes.

    python benchmarks/load.py                      # idle and 4 busy loops, every config
    python benchmarks/load.py --busy 0,4 --configs 1,2,default --repeat 2

Each run is a fresh subprocess (``python -c`` importing this tree's ``src``) that denoises
Confocal_FISH_1 (or a synthetic 512x512 image without ../shared/data) with the default
settings and reports the wall time and the CPU time (its own rusage) of ``denoise()``
alone, plus the whole process's CPU time (``wait4`` rusage: import and reading too).
Busy loops are ``python -c "while 1: pass"`` processes started beside it and ended after.
Configs:
  1, 2        ``threads=1`` / ``threads=2``, OpenMP's own wait policy (torch imported first,
              so the package's passive wait policy is not applied: the behaviour before)
  1p, 2p      the same with ``OMP_WAIT_POLICY=PASSIVE`` (waiting threads sleep)
  default     ``threads=None``: what a user gets (package import sets the wait policy)
  spin30k, spin100k, spin300k   default with GOMP_SPINCOUNT set (longer spin before sleeping)
  active      default with OMP_WAIT_POLICY=ACTIVE set by the user (spinning wait)
Ratios are against the idle ``default`` row (else the first idle row).  Other programs use
the CPU too: the load average when each row started is printed; run idle rows when it is low.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from _data import DEFAULT_DATA  # noqa: E402

_CHILD = r"""
import json, os, resource, sys, time
torch_first, threads, image, gt = sys.argv[1] == "1", sys.argv[2], sys.argv[3], sys.argv[4]
if torch_first:
    import torch  # OpenMP loads before napari_fm2s could set its wait policy
import numpy as np
from napari_fm2s import denoise
if image == "-":
    from napari_fm2s.samples import synthetic_cells
    img, clean = synthetic_cells((512, 512), seed=1)
else:
    from PIL import Image
    img, clean = np.asarray(Image.open(image)), np.asarray(Image.open(gt))
t = None if threads == "default" else int(threads)
import torch
used = set()
r0, w0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
out = denoise(img, "confocal", threads=t, progress=lambda s, n, l: used.add(torch.get_num_threads()))
w1, r1 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
mse = float(np.mean((np.clip(np.round(out), 0, 255) - clean.astype(np.float64)) ** 2))
print(json.dumps({"wall": w1 - w0, "cpu": cpu, "psnr": 10 * np.log10(255 ** 2 / mse),
                  "threads": "/".join(map(str, sorted(used))),
                  "policy": os.environ.get("OMP_WAIT_POLICY", "")}))
"""

CONFIGS = {  # name: (threads, torch imported first, extra environment)
    "1": ("1", True, {}),
    "2": ("2", True, {}),
    "1p": ("1", True, {"OMP_WAIT_POLICY": "PASSIVE"}),
    "2p": ("2", True, {"OMP_WAIT_POLICY": "PASSIVE"}),
    "default": ("default", False, {}),
    # the package's passive wait with a longer spin (the user's GOMP_SPINCOUNT is kept);
    # libgomp counts ~100000 spins per ms
    "spin30k": ("default", False, {"GOMP_SPINCOUNT": "30000"}),
    "spin100k": ("default", False, {"GOMP_SPINCOUNT": "100000"}),
    "spin300k": ("default", False, {"GOMP_SPINCOUNT": "300000"}),
    "active": ("default", False, {"OMP_WAIT_POLICY": "ACTIVE"}),
}


def run_child(config: str, image: str, gt: str) -> dict:
    threads, first, extra = CONFIGS[config]
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS", "FM2S_THREADS")}
    env.update(extra, PYTHONPATH=str(ROOT / "src"))
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, "1" if first else "0", threads,
                             image, gt], env=env, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"config {config} failed (exit {proc.returncode})")
    rec = json.loads(out.strip().splitlines()[-1])
    rec.update(proc_wall=time.perf_counter() - t0, proc_cpu=usage.ru_utime + usage.ru_stime)
    return rec


def busy_loops(n: int) -> list[subprocess.Popen]:
    procs = [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(n)]
    time.sleep(1.0 if n else 0.0)
    return procs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--busy", default="0,4", help="numbers of busy loops, comma-separated")
    ap.add_argument("--configs", default="1,2,1p,2p,default")
    ap.add_argument("--repeat", type=int, default=1, help="runs per row (medians reported)")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=None, help="also append the table to this file")
    args = ap.parse_args()
    raw, gt = args.data / "fmd" / "raw" / "Confocal_FISH_1.png", args.data / "fmd" / "gt" / "Confocal_FISH_1.png"
    image, truth = (str(raw), str(gt)) if raw.exists() else ("-", "-")
    configs = args.configs.split(",")
    lines = [f"# {' '.join([Path(sys.executable).name] + sys.argv)}  ({time.strftime('%Y-%m-%d %H:%M')}, "
             f"{os.cpu_count()} CPUs, image {Path(raw).stem if image != '-' else 'synthetic 512x512'}, "
             f"medians of {args.repeat})",
             f"{'busy':>4} {'config':>8} {'thr':>3} {'load1':>5} {'wall s':>7} {'CPU s':>7} "
             f"{'CPU/idle':>8} {'wall/idle':>9} {'proc CPU s':>10} {'PSNR':>7}"]
    print("\n".join(lines), flush=True)
    ref = None
    for n in [int(b) for b in args.busy.split(",")]:
        procs = busy_loops(n)
        try:
            for c in configs:
                load = os.getloadavg()[0]
                recs = [run_child(c, image, truth) for _ in range(args.repeat)]
                rec = {k: median(r[k] for r in recs) if isinstance(recs[0][k], float) else recs[0][k]
                       for k in recs[0]}
                if n == 0 and (ref is None or c == "default"):
                    ref = rec
                r_cpu, r_wall = (rec["cpu"] / ref["cpu"], rec["wall"] / ref["wall"]) if ref \
                    else (float("nan"), float("nan"))
                line = (f"{n:>4} {c:>8} {rec['threads']:>3} {load:>5.1f} {rec['wall']:>7.1f} "
                        f"{rec['cpu']:>7.1f} {r_cpu:>8.2f} {r_wall:>9.2f} "
                        f"{rec['proc_cpu']:>10.1f} {rec['psnr']:>7.3f}")
                print(line, flush=True)
                lines.append(line)
        finally:
            for p in procs:
                p.kill()
                p.wait()
    if args.out:
        with open(args.out, "a") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
