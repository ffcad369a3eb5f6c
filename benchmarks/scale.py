"""Peak memory of big inputs: a 4096x4096 uint16 image and zarr stacks of 4 and 16 2048x2048 frames.

    python benchmarks/scale.py            # fast mode (needs it in training.MODES)
    python benchmarks/scale.py --keep DIR # keep the generated data and outputs in DIR

Each case runs ``fm2s denoise`` in its own process under ``/usr/bin/time -v`` and reports
the peak resident memory (RSS) and wall time.  Checks: every peak under 2 GB, the 16-frame
stack's peak at most 20% above the 4-frame one's, and the chunked (zarr) results equal
the in-memory path on crops.  Synthetic data only; nothing is read from ../shared.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile
import zarr

from napari_fm2s import denoise
from napari_fm2s.samples import synthetic_cells

LIMIT_GB = 2.0
GROWTH = 0.20
CROPS = [(slice(1000, 1300), slice(1500, 1800)), (slice(0, 64), slice(0, 64)),
         (slice(-64, None), slice(-200, None))]


def frame(shape: tuple[int, int], seed: int) -> np.ndarray:
    """A noisy uint16 frame: a tiled 512x512 synthetic cell image with fresh shot noise."""
    clean = synthetic_cells((512, 512), seed=0, dtype=np.uint16)[1]
    reps = (-(-shape[0] // 512), -(-shape[1] // 512))
    clean = np.roll(np.tile(clean, reps)[:shape[0], :shape[1]], 37 * seed, axis=1)
    rng = np.random.default_rng(seed)
    photons = clean.astype(np.float64) / 40000 * 30  # ~30 photons at the brightest
    noisy = rng.poisson(photons) * (40000 / 30) + rng.normal(0, 200, shape) + 500
    return np.clip(noisy, 0, 65535).astype(np.uint16)


def make_zarr(path: Path, frames: int, side: int = 2048) -> None:
    z = zarr.open_array(str(path), mode="w", shape=(frames, side, side),
                        chunks=(1, 1024, 1024), dtype=np.uint16)
    for t in range(frames):  # one frame in memory at a time
        z[t] = frame((side, side), seed=t)


def run_case(src: Path, dst: Path, extra: list[str]) -> tuple[float, float]:
    """(peak RSS in GB, wall seconds) of ``fm2s denoise src -o dst`` in a fresh process."""
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "napari_fm2s.cli", "denoise",
           str(src), "-o", str(dst), "-q", *extra]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{r.stderr[-3000:]}")
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr)
    if not m:
        sys.exit(f"no peak RSS in /usr/bin/time's output:\n{r.stderr[-2000:]}")
    return int(m.group(1)) / 1024**2, wall


def crop_diff(lazy_out: np.ndarray | zarr.Array, ref: np.ndarray) -> float:
    """Largest |difference| over :data:`CROPS` of the last two axes (all leading planes)."""
    worst = 0.0
    for ys, xs in CROPS:
        a = np.asarray(lazy_out[..., ys, xs], dtype=np.float64)
        worst = max(worst, float(np.abs(a - ref[..., ys, xs]).max()))
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--mode", default=None, help="training mode (default: the package's)")
    ap.add_argument("--preset", default="confocal")
    ap.add_argument("--keep", type=Path, default=None, help="work in this folder and keep it")
    args = ap.parse_args()
    extra = ["--preset", args.preset] + (["--mode", args.mode] if args.mode else [])
    kw = {"mode": args.mode} if args.mode else {}

    tmp = None if args.keep else tempfile.TemporaryDirectory()
    work = args.keep or Path(tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        big = frame((4096, 4096), seed=99)
        tifffile.imwrite(work / "big.tif", big)
        zarr.open_array(str(work / "big.zarr"), mode="w", shape=big.shape,
                        chunks=(1024, 1024), dtype=big.dtype)[:] = big
        for n in (4, 16):
            make_zarr(work / f"stack{n}.zarr", n)
        cases = [("4096x4096 TIFF (in memory)", "big.tif", "big_out.tif"),
                 ("4096x4096 zarr (chunked)", "big.zarr", "big_out.zarr"),
                 ("4 x 2048x2048 zarr", "stack4.zarr", "stack4_out.zarr"),
                 ("16 x 2048x2048 zarr", "stack16.zarr", "stack16_out.zarr")]
        for name, src, dst in cases:
            rss, wall = run_case(work / src, work / dst, extra)
            rows.append([name, rss, wall, None])
            print(f"{name:<28} peak RSS {rss:5.2f} GB  {wall:7.1f} s", flush=True)

        # equality with the in-memory path, on crops
        ref_big = tifffile.imread(work / "big_out.tif")
        rows[1][3] = crop_diff(zarr.open_array(str(work / "big_out.zarr"), mode="r"), ref_big)
        ref4 = denoise(np.asarray(zarr.open_array(str(work / "stack4.zarr"), mode="r")),
                       args.preset, axes="TYX", **kw)
        rows[2][3] = crop_diff(zarr.open_array(str(work / "stack4_out.zarr"), mode="r"), ref4)
    finally:
        if tmp is not None:
            tmp.cleanup()

    print(f"\n{'case':<28} {'peak RSS GB':>11} {'time s':>8} {'max |diff| vs in-memory':>24}")
    for name, rss, wall, diff in rows:
        d = "" if diff is None else f"{diff:.3g}"
        print(f"{name:<28} {rss:11.2f} {wall:8.1f} {d:>24}")
    growth = rows[3][1] / rows[2][1] - 1
    diffs = [r[3] for r in rows if r[3] is not None]
    print(f"\npeak RSS under {LIMIT_GB} GB: {'yes' if max(r[1] for r in rows) < LIMIT_GB else 'NO'}")
    print(f"16 vs 4 frames: {growth:+.1%} (limit +{GROWTH:.0%}): "
          f"{'yes' if growth <= GROWTH else 'NO'}")
    print(f"chunked equals in-memory on crops (|diff| <= 1e-5 of 65535): "
          f"{'yes' if max(diffs) <= 1e-5 * 65535 else 'NO'}")


if __name__ == "__main__":
    main()
