"""A batch of 20 images of 512x512 through one ``fm2s denoise DIR -o OUT`` call.

    python benchmarks/batch_throughput.py                 # default threads
    python benchmarks/batch_throughput.py --threads 1,2   # one CLI run per count

Copies the 20 FMD raw captures (512x512 PNG; ../shared/data or --data; synthetic images
without it) into a temporary folder, runs the CLI on the folder in a subprocess and
reports images per minute.  Then times the pieces of one file's job in this process (the
median over the first --pieces images): read, intensity scaling, model build, training set-up (median targets,
crop pool), training steps, inference, TIFF write; and, in fresh processes, Python's start
and ``import napari_fm2s.cli`` (paid once per CLI call).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from _data import DEFAULT_DATA  # noqa: E402

from napari_fm2s.checks import check_image  # noqa: E402
from napari_fm2s.params import resolve_params  # noqa: E402
from napari_fm2s.inference import INFERENCE_TILE, apply  # noqa: E402
from napari_fm2s.intensity import to_unit  # noqa: E402
from napari_fm2s.io import open_image  # noqa: E402
from napari_fm2s.tiff_out import write_tiff_atomic  # noqa: E402
from napari_fm2s.network import make_network  # noqa: E402
from napari_fm2s.samples import synthetic_cells  # noqa: E402
from napari_fm2s.threads import thread_policy  # noqa: E402
from napari_fm2s.training import CropSampler, FastSchedule, fit_fast  # noqa: E402

N = 20


def make_inputs(data: Path, folder: Path) -> list[Path]:
    raws = sorted((data / "fmd" / "raw").glob("*.png"))[:N]
    if len(raws) < N:  # no data: synthetic 512x512 images
        import tifffile

        for i in range(N):
            tifffile.imwrite(folder / f"synthetic_{i:02d}.tif", synthetic_cells((512, 512), seed=i)[0])
    else:
        for p in raws:
            shutil.copy(p, folder / p.name)
    return sorted(folder.iterdir())


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=str(ROOT / "src"))


def cli_run(src: Path, out: Path, threads: str) -> float:
    cmd = [sys.executable, "-m", "napari_fm2s.cli", "denoise", str(src), "-o", str(out), "-q"]
    if threads != "default":
        cmd += ["--threads", threads]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=_env(), capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
    return time.perf_counter() - t0


def process_costs(repeat: int = 3) -> tuple[float, float]:
    """Median seconds of a bare Python start, and of one that imports napari_fm2s.cli."""
    def run(code: str) -> float:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], env=_env(), check=True)
        return time.perf_counter() - t0
    return (median(run("pass") for _ in range(repeat)),
            median(run("import napari_fm2s.cli") for _ in range(repeat)))


def pieces(path: Path, tmp: Path) -> dict[str, float]:
    """Seconds of each piece of one default (fast, confocal) job on ``path``."""
    t: dict[str, float] = {}

    def clock(name: str, fn, *a, **kw):
        t0 = time.perf_counter()
        out = fn(*a, **kw)
        t[name] = time.perf_counter() - t0
        return out

    p, sched = resolve_params("confocal"), FastSchedule()

    def read() -> np.ndarray:
        opened = open_image(path)
        try:
            return np.asarray(opened.data)
        finally:
            opened.close()

    img = clock("read", read)
    raw, imap = clock("scale", lambda: to_unit(check_image(img, p.filter_size)))
    net = clock("build", make_network, p.channels, p.seed, "cpu")
    gen = torch.Generator().manual_seed(p.seed)
    sampler = clock("setup", CropSampler, [raw], p.filter_size, p.stride, sched.crop, gen,
                    sched.flips)
    net = clock("train", fit_fast, net, sampler, p, sched)
    out = clock("infer", apply, net, raw, tile=INFERENCE_TILE)
    clock("write", write_tiff_atomic, tmp / "piece.tif", imap.from_unit(out))
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--threads", default="default", help="comma-separated, e.g. 1,2,default")
    ap.add_argument("--pieces", type=int, default=5, help="images timed piece by piece")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        src = tmp / "in"
        src.mkdir()
        files = make_inputs(args.data, src)
        print(f"# {' '.join([Path(sys.executable).name] + sys.argv)}  ({time.strftime('%Y-%m-%d %H:%M')}, "
              f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; {len(files)} images "
              f"{files[0].suffix} 512x512)")
        print(f"{'threads':>8} {'wall s':>7} {'images/min':>10} {'s/image':>8}")
        walls = {}
        for th in args.threads.split(","):
            out = tmp / f"out_{th}"
            walls[th] = cli_run(src, out, th)
            assert len(list(out.glob("*_fm2s.tif"))) == len(files)
            print(f"{th:>8} {walls[th]:7.1f} {60 * len(files) / walls[th]:10.1f} "
                  f"{walls[th] / len(files):8.2f}", flush=True)
        bare, imported = process_costs()
        th = args.threads.split(",")[-1]
        with thread_policy(None if th == "default" else int(th)) as n:
            rows = [pieces(f, tmp) for f in files[:args.pieces]]
        med = {k: median(r[k] for r in rows) for k in rows[0]}
        load = os.getloadavg()[0]
    per_image = walls[th] / len(files)
    print(f"\nper image, in process ({n} threads, medians of {len(rows)}; load {load:.1f}):")
    for k, v in med.items():
        print(f"  {k:<6} {v:7.3f} s")
    work = med["train"] + med["infer"]
    print(f"  training + inference {work:.3f} s; the CLI's {per_image:.2f} s per image leaves "
          f"{per_image - work:.3f} s per image of overhead: read+scale+write "
          f"{med['read'] + med['scale'] + med['write']:.3f}, build {med['build']:.4f}, "
          f"setup {med['setup']:.3f}, Python start + import once per call "
          f"{imported:.2f} s ({bare:.2f} s of it Python itself) = "
          f"{imported / len(files):.3f} s per image")


if __name__ == "__main__":
    main()
