"""Paper mode against the authors' reference, over the seeds that were run (a summary, no runs).

    python benchmarks/fmd.py --mode paper --images '*_1' --json benchmarks/results/paper_fmd.jsonl
    python benchmarks/fmd.py --mode paper --images NAME --seed S --json benchmarks/results/paper_seeds.jsonl
    python benchmarks/paper_vs_reference.py

Reads those two files: the first holds the preset seed (3407) runs, the second other seeds.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import REFERENCE, paper_seed_psnrs  # noqa: E402


def main() -> None:
    runs = paper_seed_psnrs()  # seed 3407 first, then the others
    print(f"{'image':<20} {'reference':>9}  ours, one per seed (3407 first)   {'mean':>7} "
          f"{'mean-ref':>8} {'range':>6}")
    first, means = [], []
    for image, (ref, _) in REFERENCE.items():
        v = runs.get(image)
        if not v:
            continue
        m = float(np.mean(v))
        first.append(v[0] - ref)
        means.append(m - ref)
        seeds = " ".join(f"{x:7.3f}" for x in v)
        print(f"{image:<20} {ref:9.3f}  {seeds:<32} {m:7.3f} {m - ref:+8.2f} "
              f"{max(v) - min(v):6.2f}")
    print(f"\nmean over {len(first)} images, ours - reference: seed 3407 {np.mean(first):+.3f} dB, "
          f"mean of each image's seeds {np.mean(means):+.3f} dB")


if __name__ == "__main__":
    main()
