"""PSNR along paper mode's training on one image: how far its end point wanders.

    python benchmarks/paper_trajectory.py srdtrans_7 --seed 3407 --every 50

Trains paper mode exactly as ``denoise(..., mode="paper")`` does and scores the network
every ``--every`` steps (inference only, the training is not changed): PSNR, PSNR with
the global mean difference to the ground truth removed (``_data.offset_psnr``) and the
output's mean.  Prints one line per checkpoint and a summary; ``--json`` writes the
checkpoints.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import DEFAULT_DATA, find_images, offset_psnr, score  # noqa: E402

from napari_fm2s.params import resolve_params  # noqa: E402
from napari_fm2s.inference import apply  # noqa: E402
from napari_fm2s.network import make_network  # noqa: E402
from napari_fm2s.noise import median_target  # noqa: E402
from napari_fm2s.training import _stack, fit_paper  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("image")
    ap.add_argument("--seed", type=int, default=3407)
    ap.add_argument("--every", type=int, default=50)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    (it,) = find_images(args.data, args.image)
    noisy, gt = it.load()
    raw = noisy.astype(np.float32) / 255  # the 8-bit rule of denoise()
    p = resolve_params(it.preset, seed=args.seed)
    net = make_network(p.channels, p.seed)
    points = []

    def checkpoint(step: int, total: int, loss: float) -> None:
        if step % args.every == 0 or step == total:
            out = apply(net, raw) * 255
            points.append((step, score(out, gt)[0], offset_psnr(out, gt), float(out.mean())))
            print(f"step {step:5d}  PSNR {points[-1][1]:.3f}  offset-matched PSNR "
                  f"{points[-1][2]:.3f}  output mean {points[-1][3]:.2f}", flush=True)

    cpu = net.conv1.weight.device
    fit_paper(net, _stack([raw], p.channels, cpu),
              _stack([median_target(raw, p.filter_size)], p.channels, cpu), p, checkpoint)
    late = np.array([pt[1:] for pt in points if pt[0] >= 300])
    for col, what in ((0, "PSNR"), (1, "offset-matched PSNR"), (2, "output mean")):
        v = late[:, col]
        print(f"{it.name} seed {args.seed} {what}: end {points[-1][col + 1]:.3f}; from step 300 "
              f"on: mean {v.mean():.3f}, min {v.min():.3f}, max {v.max():.3f}, sd {v.std():.3f}")
    print(f"ground truth mean {gt.mean():.2f}, noisy mean {noisy.mean():.2f}")
    if args.json:
        args.json.write_text(json.dumps({"image": it.name, "seed": args.seed, "points": points}))


if __name__ == "__main__":
    main()
