"""Issues 18 and 19's table: the default path on the 20 local FMD test_mix images, per image
and per microscope, beside the per-microscope preset (fast mode, the default before auto),
the median target alone, and the paper-mode records of the authors' schedule; with the
presets, also issue 19's bar (mean and worst default - preset).

    python benchmarks/fmd_table.py [--seeds 3407,1] [--images 'Confocal*'] [--json FILE]

Each method runs once per seed (the mean over seeds is printed: one run's seed moves an
image by 0.2-0.6 dB).  Time: wall and CPU seconds of the default path per image
(``torch.get_num_threads()`` threads; idle machine for the <= 10 s target).  PSNR: FMD
convention (8-bit, data_range 255).  Reads ../shared/data; not a test.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import DEFAULT_DATA, PAPER_3407, append_json, find_images, load_json, score  # noqa: E402

from napari_fm2s import denoise  # noqa: E402  (before torch: sets OMP_WAIT_POLICY=PASSIVE)
from napari_fm2s.noise import median_target  # noqa: E402
from napari_fm2s.presets import get_preset  # noqa: E402

import torch  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--images", default="Confocal*,TwoPhoton*,WideField*")
    ap.add_argument("--seeds", default="3407", help="comma-separated seeds")
    ap.add_argument("--no-preset", action="store_true", help="skip the preset column")
    ap.add_argument("--json", default=None, help="append one record per image and method")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    paper = {r["image"]: r["psnr"] for r in load_json(PAPER_3407) if r.get("mode") == "paper"}
    print(f"# seeds {seeds}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"{'image':<22}{'noisy':>7}{'median':>8}{'paper':>8}{'preset':>8}{'default':>9}"
          f"{'diff':>7}{'wall s':>8}{'cpu s':>7}", flush=True)
    rows: dict[str, list] = defaultdict(list)
    for it in find_images(args.data, args.images):
        noisy, gt = it.load()
        w = get_preset(it.preset).filter_size
        med = score(median_target(noisy.astype(np.float32), w), gt)[0]
        dflt, pres, wall, cpu = [], [], [], []
        for s in seeds:
            t0, c0 = time.perf_counter(), time.process_time()
            out = denoise(noisy, seed=s)
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            dflt.append(score(out, gt)[0])
            if not args.no_preset:
                pres.append(score(denoise(noisy, it.preset, seed=s), gt)[0])
        d = float(np.mean(dflt))
        ps = float(np.mean(pres)) if pres else float("nan")
        pp = paper.get(it.name, float("nan"))
        rows[it.group].append((d, ps, med, float(np.mean(wall)), float(np.mean(cpu))))
        append_json(args.json, {"image": it.name, "seeds": seeds, "default": dflt,
                                "preset": pres, "median": med, "wall_s": wall, "cpu_s": cpu})
        print(f"{it.name:<22}{score(noisy, gt)[0]:7.2f}{med:8.2f}{pp:8.2f}{ps:8.2f}{d:9.3f}"
              f"{d - ps:+7.2f}{np.mean(wall):8.1f}{np.mean(cpu):7.1f}", flush=True)
    print("\nper microscope (mean)")
    alls = []
    for g, r in rows.items():
        a = np.array(r)
        alls.append(a)
        print(f"{g:<12} n={len(a):<3} default {a[:, 0].mean():7.3f}  preset {a[:, 1].mean():7.3f}"
              f"  median {a[:, 2].mean():7.3f}  wall {a[:, 3].mean():5.1f} s  cpu "
              f"{a[:, 4].mean():5.1f} s")
    a = np.concatenate(alls)
    print(f"{'all':<12} n={len(a):<3} default {a[:, 0].mean():7.3f}  preset {a[:, 1].mean():7.3f}"
          f"  median {a[:, 2].mean():7.3f}  wall {a[:, 3].mean():5.1f} s  cpu "
          f"{a[:, 4].mean():5.1f} s   (target on these 20: default >= 33.95)")
    if not args.no_preset:  # issue 19's bar on FMD
        diff = a[:, 0] - a[:, 1]
        print(f"default - preset: mean {diff.mean():+.3f} dB (bar >= -0.1), worst image "
              f"{diff.min():+.3f} dB (bar >= -0.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
