"""Experiment for a next step (not used by the package): would Stein's unbiased risk
estimate (SURE) of the network's own result, with auto's measured noise, tell when more
fast-mode training pays?  Per image: the default 400 steps (A), then two continuations
of +400 steps each at half the peak learning rate (B, C); the network's result (before
the do-no-harm guard) scored against the truth and by SURE, and the stage SURE picks.

    python benchmarks/sure_steps.py [--images 'Confocal*,srdtrans_0'] [--kinds emccd,...]

SURE on the unit scale: ``mean((x - f)^2) - mean(v) + 2 mean(v div f)``, ``v`` the
noise model at ``f``, the divergence by one Monte Carlo probe (the guard's, 0.1 sd),
the same probe for every stage.  White noise only (correlated-noise images: skipped).
PSNR: FMD 8-bit; SRDTrans offset-matched; camera kinds as in camera_kinds.py.  Reads
../shared/data; not a test.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import DEFAULT_DATA, find_images  # noqa: E402
from camera_kinds import KINDS, make  # noqa: E402

from napari_fm2s.calibrate import auto_calibration  # noqa: E402
from napari_fm2s.guard import PROBE  # noqa: E402
from napari_fm2s.inference import apply  # noqa: E402
from napari_fm2s.intensity import intensity_map  # noqa: E402
from napari_fm2s.noise_model import NoiseModel  # noqa: E402
from napari_fm2s.training import CropSampler, FastSchedule, fit, fit_fast  # noqa: E402

EXTRA, LR_FACTOR, STAGES = 400, 0.5, 2


def sure(net, u: np.ndarray, noise: NoiseModel, scale: float, offset: float,
         probe: np.ndarray) -> tuple[float, np.ndarray]:
    f = apply(net, u, tile=256).astype(np.float64)
    v = noise.unit_variance(f, scale, offset)
    d = PROBE * np.sqrt(v) * probe
    f2 = apply(net, (u + d).astype(np.float32), tile=256).astype(np.float64)
    trace = np.mean(d * (f2 - f)) / PROBE ** 2
    return float(np.mean((u - f) ** 2) - np.mean(v) + 2 * trace), f


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--images", default="Confocal*,TwoPhoton*,srdtrans_0,srdtrans_4")
    ap.add_argument("--kinds", default=",".join(k for k in KINDS if k != "scmos-columns"))
    args = ap.parse_args()
    cases = []
    for it in find_images(args.data, args.images):
        noisy, gt = it.load()
        cases.append((it.name, noisy, gt.astype(np.float64), "srdtrans" in it.name, 255.0))
    for k in (s for s in args.kinds.split(",") if s):
        raw, truth = make(k, args.data, 0)
        cases.append((k, raw, truth, False, float(truth.max() - truth.min())))
    print(f"{'image':<22}{'A400':>8}{'B800':>8}{'C1200':>8}  SURE A / B / C (x1e-6)"
          f"{'':>8}pick  picked-A  s/stage")
    gains = []
    for name, raw, truth, offm, rng in cases:
        cal = auto_calibration(raw)
        if max(cal.estimate.corr_yx) >= 0.25:
            print(f"{name:<22} skipped (correlated noise)")
            continue
        imap = intensity_map(raw)
        u = imap.to_unit(np.asarray(raw, np.float64)).astype(np.float32)
        noise = NoiseModel.from_estimate(cal.estimate, 1.0, 0.0)  # unit scale
        probe = np.random.default_rng(0).choice([-1.0, 1.0], size=u.shape)
        p = cal.preset

        def score(f: np.ndarray) -> float:
            d = imap.from_unit(f.astype(np.float32)).astype(np.float64) - truth
            if offm:
                d = d - d.mean()
            return float(10 * np.log10(rng * rng / np.mean(d * d)))

        t0 = time.perf_counter()
        net = fit([u], p)
        times = [time.perf_counter() - t0]
        s, f = sure(net, u, noise, 1.0, 0.0, probe)
        sures, psnrs = [s], [score(f)]
        for k in range(STAGES):
            net = copy.deepcopy(net)
            sched = FastSchedule(warmup_steps=0, lr=FastSchedule().lr * LR_FACTOR)
            gen = torch.Generator().manual_seed(int(p.seed) + 1 + k)
            sampler = CropSampler([u], p.filter_size, p.stride, sched.crop, gen, sched.flips)
            t0 = time.perf_counter()
            fit_fast(net, sampler, replace(p, fast_steps=EXTRA), sched)
            times.append(time.perf_counter() - t0)
            s, f = sure(net, u, noise, 1.0, 0.0, probe)
            sures.append(s)
            psnrs.append(score(f))
        pick = 0
        while pick + 1 < len(sures) and sures[pick + 1] < sures[pick]:
            pick += 1
        gains.append(psnrs[pick] - psnrs[0])
        print(f"{name:<22}" + "".join(f"{x:8.2f}" for x in psnrs) + "  "
              + " / ".join(f"{x * 1e6:8.2f}" for x in sures)
              + f"  {'ABC'[pick]:>4}  {psnrs[pick] - psnrs[0]:+7.2f}  "
              + "/".join(f"{t:.1f}" for t in times), flush=True)
    g = np.array(gains)
    print(f"\npicked - A: mean {g.mean():+.3f} dB, worst {g.min():+.2f}, best {g.max():+.2f} "
          f"(n={g.size}); oracle would never lose")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
