"""The CUDA path, checked in one go (a few minutes on a modern GPU):

    python benchmarks/gpu.py                 # reads ../shared/data (or --data)
    python benchmarks/gpu.py --json gpu.jsonl

1. Quality: fast mode on Confocal_FISH_1 and TwoPhoton_MICE_1, on the GPU and on this
   machine's CPU with the same seeds (3407 and 1); paper mode on the GPU, against the
   CPU records (benchmarks/results/paper_fmd.jsonl, paper_seeds.jsonl); the SRDTrans
   stack (10 frames, one shared fast model) on the GPU and the CPU.  On CUDA the
   injected noise is drawn by a CUDA generator (training.py), whose stream differs from
   the CPU's for the same seed: a same-seed difference is compared with the spread
   between seeds, which is what it amounts to.
2. Speed: ``denoise()`` end to end per 512x512 image (FMD) and per 2048x2048 image
   (synthetic), after warm-up, median of --repeat runs; GPU memory peak of each run.
3. Out of memory, for real: GPU memory is filled with blocking tensors until an absurd
   tile (the whole 8192x8192 image) no longer fits; inference must fall back to smaller
   tiles, then (memory all but full) to the CPU; training must restart on the CPU.  The
   results must equal the CPU's.

Without a CUDA GPU it says so and exits with status 0.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]
from _data import DEFAULT_DATA, find_images, offset_psnr, paper_seed_psnrs, score  # noqa: E402

from napari_fm2s import denoise  # noqa: E402
from napari_fm2s.params import resolve_params  # noqa: E402
from napari_fm2s.inference import apply  # noqa: E402
from napari_fm2s.network import make_network  # noqa: E402
from napari_fm2s.samples import synthetic_cells  # noqa: E402
from napari_fm2s.training import fit  # noqa: E402
from tests.gpu_fill import fill_gpu  # noqa: E402

IMAGES = ("Confocal_FISH_1", "TwoPhoton_MICE_1")
SEEDS = (3407, 1)
STACK_CPU_RECORD = 28.493  # benchmarks/results/stack.txt, shared model, mean PSNR (idle CPU)
_MIB = 1024 ** 2


def timed(fn, *args, **kw):
    """(result, seconds, GPU memory peak in MiB) of ``fn(*args, **kw)``."""
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    torch.cuda.synchronize()
    return out, time.perf_counter() - t0, torch.cuda.max_memory_allocated() / _MIB


def quality(data: Path, out: list[dict]) -> None:
    items = {it.name: it for it in find_images(data)}
    papers = paper_seed_psnrs()
    print("\n1. quality (PSNR dB, FMD convention); diff = GPU - CPU")
    print(f"{'image':<18} {'mode':<6} {'seed':>5} {'CPU':>7} {'GPU':>7} {'diff':>6} "
          f"{'CPU s':>6} {'GPU s':>6} {'GPU MiB':>8}  note")
    for name in IMAGES:
        if name not in items:
            print(f"{name}: not under {data}, skipped")
            continue
        it = items[name]
        noisy, gt = it.load()
        for seed in SEEDS:
            (c, tc) = _cpu(lambda: denoise(noisy, it.preset, mode="fast", seed=seed, device="cpu"))
            g, tg, mem = timed(denoise, noisy, it.preset, mode="fast", seed=seed, device="cuda")
            pc, pg = score(c, gt)[0], score(g, gt)[0]
            out.append(dict(check="fast", image=name, seed=seed, cpu=pc, gpu=pg, cpu_s=tc,
                            gpu_s=tg, gpu_mib=mem))
            print(f"{name:<18} {'fast':<6} {seed:>5} {pc:7.3f} {pg:7.3f} {pg - pc:+6.2f} "
                  f"{tc:6.1f} {tg:6.2f} {mem:8.0f}")
        seeds = [r for r in out if r.get("image") == name and r["check"] == "fast"]
        d_avg = np.mean([r["gpu"] for r in seeds]) - np.mean([r["cpu"] for r in seeds])
        spread = max(r["cpu"] for r in seeds) - min(r["cpu"] for r in seeds)
        print(f"{name:<18} {'fast':<6} {'avg':>5} {'':>7} {'':>7} {d_avg:+6.2f} "
              f"{'':>6} {'':>6} {'':>8}  CPU seed spread {spread:.2f}")
        g, tg, mem = timed(denoise, noisy, it.preset, mode="paper", device="cuda")
        pg = score(g, gt)[0]
        rec = papers.get(name, [])
        note = (f"CPU records: seed 3407 {rec[0]:.3f}, {len(rec)} seeds mean "
                f"{np.mean(rec):.3f}, range {min(rec):.3f}-{max(rec):.3f}") if rec else "no CPU record"
        pc = rec[0] if rec else float("nan")
        out.append(dict(check="paper", image=name, seed=3407, cpu=pc, gpu=pg, gpu_s=tg,
                        gpu_mib=mem, cpu_seeds=rec))
        print(f"{name:<18} {'paper':<6} {3407:>5} {pc:7.3f} {pg:7.3f} {pg - pc:+6.2f} "
              f"{'':>6} {tg:6.2f} {mem:8.0f}  {note}")
    frames = find_images(data, "srdtrans_*")
    if not frames:
        print(f"SRDTrans frames not under {data}, skipped")
        return
    stack = np.stack([f.load()[0] for f in frames])
    gts = [f.load()[1] for f in frames]
    c, tc = _cpu(lambda: denoise(stack, "srdtrans", axes="TYX", device="cpu"))
    g, tg, mem = timed(denoise, stack, "srdtrans", axes="TYX", device="cuda")
    pc = float(np.mean([score(o, t)[0] for o, t in zip(c, gts)]))
    pg = float(np.mean([score(o, t)[0] for o, t in zip(g, gts)]))
    oc = float(np.mean([offset_psnr(o, t) for o, t in zip(c, gts)]))
    og = float(np.mean([offset_psnr(o, t) for o, t in zip(g, gts)]))
    out.append(dict(check="stack", image="srdtrans", seed=3407, cpu=pc, gpu=pg, cpu_s=tc,
                    gpu_s=tg, gpu_mib=mem, cpu_offset=oc, gpu_offset=og))
    print(f"{'SRDTrans stack':<18} {'fast':<6} {3407:>5} {pc:7.3f} {pg:7.3f} {pg - pc:+6.2f} "
          f"{tc:6.1f} {tg:6.2f} {mem:8.0f}  offset-matched CPU {oc:.3f} GPU {og:.3f}; "
          f"idle 2-core record {STACK_CPU_RECORD}")


def _cpu(fn):
    t0 = time.perf_counter()
    return fn(), time.perf_counter() - t0


def speed(data: Path, repeat: int, out: list[dict]) -> None:
    items = {it.name: it for it in find_images(data)}
    plane = items[IMAGES[0]].load()[0] if IMAGES[0] in items else synthetic_cells((512, 512))[0]
    big = synthetic_cells((2048, 2048), seed=2)[0]
    print(f"\n2. speed: denoise() end to end on the GPU after warm-up, median of {repeat}")
    print(f"{'image':<12} {'mode':<6} {'median s':>9} {'min s':>7} {'max s':>7} {'GPU MiB':>8}")
    for label, img in (("512x512", plane), ("2048x2048", big)):
        for mode in ("fast", "paper"):
            if mode == "paper" and label != "512x512":
                continue
            timed(denoise, img, "confocal", mode=mode, device="cuda")  # warm-up
            runs = [timed(denoise, img, "confocal", mode=mode, device="cuda")
                    for _ in range(repeat)]
            ts, mem = [r[1] for r in runs], max(r[2] for r in runs)
            out.append(dict(check="speed", image=label, mode=mode, seconds=ts, gpu_mib=mem))
            print(f"{label:<12} {mode:<6} {statistics.median(ts):9.3f} {min(ts):7.3f} "
                  f"{max(ts):7.3f} {mem:8.0f}")


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _stage(what: str, leave: int, run, check, warn: _Warnings) -> dict:
    """Run ``run()`` with all but ``leave`` bytes of GPU memory taken; ``check(result,
    warnings)`` says whether the fallback happened and gave the right result."""
    warn.messages.clear()
    blocks = fill_gpu(leave)
    free = torch.cuda.mem_get_info()[0] / _MIB
    t0 = time.perf_counter()
    try:
        res = run()
        good, note = check(res, list(warn.messages))
    except Exception as e:  # noqa: BLE001 - a failed fallback is reported, not raised
        good, note = False, f"raised {type(e).__name__}: {str(e)[:200]}"
    finally:
        del blocks
        torch.cuda.empty_cache()
    dt = time.perf_counter() - t0
    print(f"{what}, {free:.0f} MiB free: {dt:.1f} s, {'OK' if good else 'FAILED'} ({note}); "
          f"warnings: {warn.messages}")
    return dict(check="oom", what=what, free_mib=free, ok=good, note=note,
                warnings=list(warn.messages), seconds=dt)


def oom(out: list[dict]) -> bool:
    print("\n3. real out-of-memory on the GPU")
    warn = _Warnings()
    logging.getLogger("napari_fm2s").addHandler(warn)
    try:
        net = make_network(2, 0, "cpu")
        img = np.random.default_rng(0).random((8192, 8192), dtype=np.float32)
        ref = apply(net, img[:1024, :1024], tile=1024)[:1000, :1000]  # CPU reference
        net = net.cuda()

        def same(res: np.ndarray, word: str, msgs: list[str]) -> tuple[bool, str]:
            err = float(np.abs(res[:1000, :1000] - ref).max())
            return err < 5e-3 and any(word in m for m in msgs), f"max diff to CPU {err:.1e}"

        p = resolve_params("confocal", fast_steps=30)

        def trained_on_cpu(net_: torch.nn.Module, msgs: list[str]) -> tuple[bool, str]:
            dev = net_.conv1.weight.device.type
            return dev == "cpu" and any("CPU" in m for m in msgs), f"trained on {dev}"

        out += [  # a 2048 tile fits in 3 GiB, an 8192 one (~21 GB) and a 4096 one do not
            _stage("inference, 8192x8192 image as one tile", 3 << 30,
                   lambda: apply(net, img, tile=8192),
                   lambda r, m: same(r, "tiles", m), warn),
            _stage("inference, 1024x1024, GPU full", 0,
                   lambda: apply(net.cuda(), img[:1024, :1024], tile=1024),
                   lambda r, m: same(r, "CPU", m), warn),
            _stage("training (fast, 30 steps), GPU full", 0,
                   lambda: fit([img[:512, :512] * 0.5], p, mode="fast", device="cuda"),
                   trained_on_cpu, warn),
        ]
    finally:
        logging.getLogger("napari_fm2s").removeHandler(warn)
        torch.cuda.empty_cache()
    return all(r["ok"] for r in out if r.get("check") == "oom")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", default=None, help="write the records here (JSON lines)")
    ap.add_argument("--skip", default="", help="comma-separated: quality,speed,oom")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("benchmarks/gpu.py: no CUDA GPU here (torch.cuda.is_available() is False, "
              f"torch {torch.__version__}); nothing measured.  Run it on a CUDA machine.")
        return 0
    skip = set(filter(None, args.skip.split(",")))
    t0 = time.perf_counter()
    print(f"# benchmarks/gpu.py  {time.strftime('%Y-%m-%d %H:%M')}  "
          f"{torch.cuda.get_device_name()}  torch {torch.__version__}  CUDA {torch.version.cuda}"
          f"  cuDNN TF32 {torch.backends.cudnn.allow_tf32}  CPU threads {torch.get_num_threads()}")
    denoise(synthetic_cells((128, 128))[0], fast_steps=20, device="cuda")  # CUDA start-up
    records: list[dict] = []
    ok = True
    if "quality" not in skip:
        quality(args.data, records)
    if "speed" not in skip:
        speed(args.data, args.repeat, records)
    if "oom" not in skip:
        ok = oom(records)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s; out-of-memory fallback "
          f"{'proved' if ok else 'FAILED'}")
    if args.json:
        with open(args.json, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in records)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
