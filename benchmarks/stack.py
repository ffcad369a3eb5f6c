"""One shared model vs one model per frame on the SRDTrans time-lapse (10 frames, one TYX TIFF).

    python benchmarks/stack.py                 # fast mode (the stack default)
    python benchmarks/stack.py --mode paper    # the authors' schedule: ~10 min per frame

Saves the noisy frames as one TYX TIFF in a temporary folder, runs ``fm2s denoise`` on it
twice (shared model; ``--per-plane``), and prints per-frame PSNR (FMD convention) and the
wall time of each run.  Reads ../shared/data (or --data).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import DEFAULT_DATA, append_json, find_images, score  # noqa: E402


def run_cli(src: Path, dst: Path, extra: list[str]) -> float:
    """Run ``fm2s denoise src -o dst`` in a fresh process; its wall time in seconds."""
    cmd = [sys.executable, "-m", "napari_fm2s.cli", "denoise", str(src), "-o", str(dst), *extra]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--mode", default=None, help="training mode (default: the stack default)")
    ap.add_argument("--preset", default="srdtrans")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--device", default=None)
    ap.add_argument("--json", default=None, help="append one JSON record here")
    args = ap.parse_args()

    items = find_images(args.data, "srdtrans_*")
    if not items:
        sys.exit(f"no SRDTrans frames under {args.data}")
    noisy = np.stack([it.load()[0] for it in items])
    gts = [it.load()[1] for it in items]
    extra = ["--preset", args.preset, "-q"]
    if args.mode:
        extra += ["--mode", args.mode]
    if args.device:
        extra += ["--device", args.device]
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "srdtrans.tif"
        tifffile.imwrite(src, noisy, photometric="minisblack", metadata={"axes": "TYX"})
        outs, times = {}, {}
        for name, flags in (("shared", []), ("per-frame", ["--per-plane"])):
            dst = Path(tmp) / f"{name}.tif"
            times[name] = run_cli(src, dst, extra + flags)
            outs[name] = tifffile.imread(dst)
            assert outs[name].shape == noisy.shape, outs[name].shape
    psnr = {k: np.array([score(o, g)[0] for o, g in zip(v, gts)]) for k, v in outs.items()}
    noisy_psnr = np.array([score(n.astype(np.float32), g)[0] for n, g in zip(noisy, gts)])

    print(f"SRDTrans stack {noisy.shape} {noisy.dtype}, preset {args.preset}, "
          f"mode {args.mode or 'default'}")
    print(f"{'frame':>5} {'noisy':>7} {'shared':>7} {'per-frame':>9} {'diff':>6}")
    for i in range(len(items)):
        print(f"{i:>5} {noisy_psnr[i]:7.3f} {psnr['shared'][i]:7.3f} "
              f"{psnr['per-frame'][i]:9.3f} {psnr['shared'][i] - psnr['per-frame'][i]:+6.2f}")
    diff = psnr["shared"].mean() - psnr["per-frame"].mean()
    print(f"{'mean':>5} {noisy_psnr.mean():7.3f} {psnr['shared'].mean():7.3f} "
          f"{psnr['per-frame'].mean():9.3f} {diff:+6.2f}")
    print(f"total time: shared {times['shared']:.1f} s, per-frame {times['per-frame']:.1f} s "
          f"(x{times['per-frame'] / times['shared']:.1f})")
    ok = diff >= -0.2 and times["shared"] < times["per-frame"]
    print(f"shared model loses at most 0.2 dB and costs less: {'yes' if ok else 'NO'}")
    append_json(args.json, {"benchmark": "stack", "mode": args.mode, "preset": args.preset,
                            "psnr_shared": psnr["shared"].tolist(),
                            "psnr_per_frame": psnr["per-frame"].tolist(),
                            "time_shared_s": times["shared"],
                            "time_per_frame_s": times["per-frame"]})


if __name__ == "__main__":
    main()
