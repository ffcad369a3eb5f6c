"""The default path (no preset named) against the per-microscope preset on the 20 FMD raw
images (all four captures of each group), fast mode, PSNR (FMD convention).

    python benchmarks/default.py [--images 'Confocal*'] [--json results/default_fmd.jsonl]

Done-when bar (issue 19): mean(default - preset) >= -0.1 dB and no image below -0.5 dB.
Reads ../shared/data; not a test.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import DEFAULT_DATA, append_json, find_images, load_json, score  # noqa: E402

from napari_fm2s import denoise  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--images", default="Confocal*,TwoPhoton*,WideField*")
    ap.add_argument("--json", default=None, help="append records; reuse preset ones found")
    args = ap.parse_args()
    old = {r["image"]: r["psnr"] for r in (load_json(args.json) if args.json else [])
           if r.get("method") == "preset"}
    print(f"{'image':<22} {'noisy':>6} {'preset':>7} {'default':>7} {'diff':>6}  chosen",
          flush=True)
    diffs = []
    for it in find_images(args.data, args.images):
        noisy, gt = it.load()
        seen: list = []
        out = denoise(noisy, on_params=lambda p, m: seen.append(p))
        d = score(out, gt)[0]
        if it.name in old:
            ps = old[it.name]
        else:
            ps = score(denoise(noisy, it.preset), gt)[0]
            append_json(args.json, {"image": it.name, "method": "preset", "psnr": ps})
        append_json(args.json, {"image": it.name, "method": "default", "psnr": d})
        diffs.append(d - ps)
        p = seen[0]
        print(f"{it.name:<22} {score(noisy, gt)[0]:6.2f} {ps:7.2f} {d:7.2f} {d - ps:+6.2f}  "
              f"{p.name} k_g {p.k_g:.4g} k_p {p.k_p:.4g} lam_p {p.lam_p:.4g} w "
              f"{p.filter_size} corr {p.corr:.2f} black {p.black * 255:.2f}/255", flush=True)
    print(f"\nmean default - preset {np.mean(diffs):+.2f} dB (bar >= -0.10: "
          f"{'yes' if np.mean(diffs) >= -0.1 else 'NO'}); worst {min(diffs):+.2f} dB (bar >= "
          f"-0.50: {'yes' if min(diffs) >= -0.5 else 'NO'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
