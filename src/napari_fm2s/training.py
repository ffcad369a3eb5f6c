"""Training schedules; progress and cancel go through :mod:`napari_fm2s.hooks`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterator, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .hooks import CancelLike, ProgressFn, cancel_checker, raise_if
from .memory import free_device_cache, is_oom, log
from .network import FM2SNet, make_network
from .noise import MEAN_HALO, inject, mean_preserving, median_target, region_means
from .presets import Preset

#: Training schedules; the first is the default of ``denoise()``.
MODES = ("fast", "paper")


class _Stepper:
    """One Adam step at a time, with the progress and cancel hooks."""

    def __init__(self, net: torch.nn.Module, lr: float, total: int,
                 progress: Optional[ProgressFn], cancel: CancelLike,
                 lr_at: Optional[Callable[[int], float]] = None, beta2: float = 0.999) -> None:
        self.net = net
        self.opt = torch.optim.Adam(net.parameters(), lr=lr, betas=(0.9, beta2), foreach=True)
        self.lr_at = lr_at
        self.total = total
        self.step = 0
        self.progress = progress
        self.cancelled = cancel_checker(cancel)

    def __call__(self, inp: torch.Tensor, target: torch.Tensor) -> None:
        raise_if(self.cancelled)
        if self.lr_at is not None:
            for group in self.opt.param_groups:
                group["lr"] = self.lr_at(self.step)
        self.opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(self.net(inp), target)
        loss.backward()
        self.opt.step()
        self.step += 1
        if self.progress is not None:
            self.progress(self.step, self.total, float(loss.detach()))


def paper_total_steps(p: Preset) -> int:
    return p.warmup_steps + p.samples * p.steps_per_sample


def fit_paper(net: torch.nn.Module, raw: torch.Tensor, target: torch.Tensor, p: Preset,
              progress: Optional[ProgressFn] = None, cancel: CancelLike = None) -> torch.nn.Module:
    """The reference schedule: whole image as one batch (1 x n x H x W tensors).

    Stage 1: ``warmup_steps`` steps raw -> target.  Stage 2: ``samples`` fresh
    noise-injected copies of the target, ``steps_per_sample`` steps on each.
    """
    step = _Stepper(net, p.lr, paper_total_steps(p), progress, cancel)
    gen = torch.Generator(device=raw.device).manual_seed(int(p.seed))
    net.train()
    for _ in range(p.warmup_steps):
        step(raw, target)
    means = region_means(target, p.stride)
    for _ in range(p.samples):
        raise_if(step.cancelled)
        noisy = inject(target, p.k_g, p.k_p, p.lam_p, p.stride, generator=gen, means=means,
                       corr=p.noise_corr, black=p.black)
        for _ in range(p.steps_per_sample):
            step(noisy, target)
    return net


@dataclass(frozen=True)
class FastSchedule:
    """Fast mode: batches of random crops, one-cycle lr; stage-2 crops are cut from a
    :class:`NoisePool` whose noise is renewed as it is used.

    The number of stage-2 steps is the preset's ``fast_steps`` (tunable).
    """

    warmup_steps: int = 20  # stage 1: raw crops -> target crops
    batch: int = 12
    crop: int = 48
    lr: float = 5e-3  # peak learning rate
    # Adam's second-moment decay.  The paper's 0.999 let fast mode's loss blow up mid-run
    # (SRDTrans frame 0: from 1.3e-4 to 0.06 at step ~1070, ending 1.15 dB lower, offset-
    # matched); 0.99 adapts to the shrinking gradients in time: +0.22 dB offset-matched
    # PSNR (2400 steps, 2 seeds x 5 SRDTrans frames, 1 thread); FMD (3 seeds): -0.01 to
    # +0.34 dB per image.
    beta2: float = 0.99
    flips: bool = True
    # Crops each injected pixel serves on average before its noise is re-drawn.  Drawing
    # Poisson noise cost more than the training step itself for the 6-channel SRDTrans
    # preset (12.5 vs 11.3 ms per batch, one thread); at 8 it costs ~1/8 of that.
    noise_reuse: float = 8.0


def one_cycle(total: int, peak: float, start: float = 0.1, pct_up: float = 0.1,
              end: float = 0.01) -> Callable[[int], float]:
    """Linear rise from ``start*peak`` over ``pct_up`` of the steps, then cosine to ``end*peak``."""
    up = max(1, int(total * pct_up))

    def lr_at(step: int) -> float:
        if step < up:
            return peak * (start + (1 - start) * step / up)
        t = (step - up) / max(1, total - up)
        return peak * (end + (1 - end) * 0.5 * (1 + math.cos(math.pi * t)))

    return lr_at


#: Fast mode reads at most this many pixels for training (tiles on the region grid),
#: so its cost does not grow with the image or the number of planes.
POOL_PIXELS = 1 << 19
#: Approximate side of those tiles (rounded up to a multiple of the stride).
POOL_TILE = 256


def _tiles(shapes: Sequence[tuple[int, int]], stride: int, crop: int, budget: int,
           gen: torch.Generator) -> list[tuple[int, int, int, int, int]]:
    """(plane, y, x, h, w) tiles to train on: whole planes if they fit ``budget`` pixels,
    else random tiles whose origins lie on the stride grid, up to ``budget`` pixels."""
    if sum(h * w for h, w in shapes) <= budget:
        return [(i, 0, 0, h, w) for i, (h, w) in enumerate(shapes)]
    side = stride * math.ceil(POOL_TILE / stride)
    cands = [(i, y, x, min(side, h - y), min(side, w - x))
             for i, (h, w) in enumerate(shapes)
             for y in range(0, h, side) for x in range(0, w, side)]
    cands = [c for c in cands if min(c[3], c[4]) >= min(crop, side)] or cands
    chosen, total = [], 0
    for k in torch.randperm(len(cands), generator=gen).tolist():
        if total >= budget:
            break
        chosen.append(cands[k])
        total += cands[k][3] * cands[k][4]
    return chosen


class CropSampler:
    """Random training crops of (raw, median target, region means) from one or more planes.

    ``raws`` are 2D arrays on the [0, 1] scale (numpy, or lazy arrays such as dask:
    only the chosen tiles are read).  Targets are median-filtered on each tile plus
    a halo, with the raw image's local mean (:func:`~napari_fm2s.noise.mean_preserving`:
    fast mode keeps photon-counting backgrounds where they are), and region means are
    taken on the stride grid of the whole plane, as paper mode's whole-image injection
    takes them.
    """

    def __init__(self, raws: Sequence, filter_size: int, stride: int, crop: int,
                 generator: torch.Generator, flips: bool = True, budget: int = POOL_PIXELS,
                 cancelled: Callable[[], bool] = lambda: False) -> None:
        shapes = [tuple(int(v) for v in r.shape) for r in raws]
        r = filter_size // 2 + MEAN_HALO  # the median window inside the Gaussian halo: exact
        self.tiles = []
        for i, y, x, h, w in _tiles(shapes, stride, crop, budget, generator):
            raise_if(cancelled)
            H, W = shapes[i]
            ya, xa, yb, xb = max(0, y - r), max(0, x - r), min(H, y + h + r), min(W, x + w + r)
            block = np.asarray(raws[i][ya:yb, xa:xb], dtype=np.float32)
            tgt = mean_preserving(median_target(block, filter_size, cancelled), block)
            tgt = tgt[y - ya:y - ya + h, x - xa:x - xa + w]
            raw = np.ascontiguousarray(block[y - ya:y - ya + h, x - xa:x - xa + w])
            t = torch.from_numpy(np.ascontiguousarray(tgt))
            means = region_means(t[None, None], stride)[0, 0]
            self.tiles.append(torch.stack([torch.from_numpy(raw), t, means]))
        self.crop = min([crop] + [min(t.shape[1:]) for t in self.tiles])
        self.weights = torch.tensor([float(t.shape[1] * t.shape[2]) for t in self.tiles])
        self.gen = generator
        self.flips = flips

    def _int(self, high: int) -> int:
        return int(torch.randint(high, (1,), generator=self.gen))

    def picks(self, batch: int) -> list[tuple[int, int, int, list[int]]]:
        """``batch`` random crops: (tile, y, x, axes to flip)."""
        c = self.crop
        picks = torch.multinomial(self.weights, batch, replacement=True, generator=self.gen)
        out = []
        for k in picks.tolist():
            tile = self.tiles[k]
            y, x = self._int(tile.shape[1] - c + 1), self._int(tile.shape[2] - c + 1)
            dims = []
            if self.flips:
                dims = [d for d, f in ((1, self._int(2)), (2, self._int(2))) if f]
            out.append((k, y, x, dims))
        return out

    def cut(self, tensors: Sequence[torch.Tensor], picks: Sequence[tuple[int, int, int, list[int]]]
            ) -> torch.Tensor:
        """The crops ``picks`` of per-tile tensors (C x h x w each), stacked: B x C x crop x crop."""
        c, out = self.crop, []
        for k, y, x, dims in picks:
            block = tensors[k][:, y:y + c, x:x + c]
            out.append(block.flip(dims) if dims else block)
        return torch.stack(out)

    def __call__(self, batch: int) -> torch.Tensor:
        """batch x 3 x crop x crop: raw, target, region means."""
        return self.cut(self.tiles, self.picks(batch))


class NoisePool:
    """Noise-injected copies (n channels) of a sampler's tiles, renewed in turn.

    :meth:`renew` re-draws the noise of the next bands of ``BAND`` rows (wrapping
    around the tiles) once enough pixels have been asked for, so every pixel's
    noise is replaced after ``pool pixels / pixels asked per call`` calls.  Bands,
    not single rows: correlated injection (``corr`` > 0) pads each band's border.
    """

    BAND = 32

    def __init__(self, sampler: CropSampler, p: Preset, device: torch.device,
                 generator: torch.Generator) -> None:
        self.p, self.gen = p, generator
        self.tiles = [t.to(device) for t in sampler.tiles]
        self.targets = [t[1:2] for t in self.tiles]
        self.noisy = [torch.empty((p.channels, *t.shape[1:]), device=device) for t in self.tiles]
        for k, t in enumerate(self.tiles):
            self._inject(k, 0, t.shape[1])
        self.cursor, self.credit = (0, 0), 0.0

    def _inject(self, k: int, y0: int, y1: int) -> None:
        t, p = self.tiles[k][:, y0:y1], self.p
        tgt = t[1:2, None].expand(1, p.channels, -1, -1)
        self.noisy[k][:, y0:y1] = inject(tgt, p.k_g, p.k_p, p.lam_p, p.stride, generator=self.gen,
                                         means=t[None, 2:3], corr=p.noise_corr, black=p.black)[0]

    def renew(self, pixels: float) -> None:
        """Ask for ``pixels`` more pixels of fresh noise; whole bands are re-drawn in turn."""
        self.credit += pixels
        k, y = self.cursor
        while True:
            h, w = self.tiles[k].shape[1:]
            rows = min(h - y, self.BAND)
            if self.credit < rows * w:
                break
            self._inject(k, y, y + rows)
            self.credit -= rows * w
            y += rows
            if y >= h:
                k, y = (k + 1) % len(self.tiles), 0
        self.cursor = (k, y)


def _fast_batches(sampler: CropSampler, p: Preset, sched: FastSchedule, dev: torch.device
                  ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(input, target) batches on ``dev``, channels-last: stage 1 raw crops, then
    crops of a :class:`NoisePool`, which renews ``batch * crop**2 / noise_reuse``
    pixels of noise after each batch.

    Noise is drawn on a CUDA device with a generator of its own (seeded like the
    preset), elsewhere on the CPU with the sampler's generator.
    """
    cl, n = torch.channels_last, p.channels
    gen = sampler.gen
    if dev.type == "cuda":
        gen = torch.Generator(device=dev).manual_seed(int(p.seed))
    noise_dev = dev if dev.type == "cuda" else torch.device("cpu")
    for _ in range(sched.warmup_steps):
        b = sampler(sched.batch).to(dev)
        tgt = b[:, 1:2].expand(-1, n, -1, -1).contiguous(memory_format=cl)
        yield b[:, 0:1].expand(-1, n, -1, -1).contiguous(memory_format=cl), tgt
    pool = NoisePool(sampler, p, noise_dev, gen)
    per_batch = sched.batch * sampler.crop ** 2 / max(1.0, sched.noise_reuse)
    for _ in range(p.fast_steps):
        picks = sampler.picks(sched.batch)
        inp = sampler.cut(pool.noisy, picks).to(dev).contiguous(memory_format=cl)
        tgt = sampler.cut(pool.targets, picks).expand(-1, n, -1, -1)
        pool.renew(per_batch)
        yield inp, tgt.to(dev).contiguous(memory_format=cl)


def fit_fast(net: torch.nn.Module, sampler: CropSampler, p: Preset,
             sched: FastSchedule = FastSchedule(), progress: Optional[ProgressFn] = None,
             cancel: CancelLike = None) -> torch.nn.Module:
    """Fast mode: the paper's two stages on batches of random crops.

    The cost does not depend on the image size.  Stage 1 maps raw crops to their
    targets; stage 2 maps noise-injected crops (:class:`NoisePool`) to theirs.
    """
    dev = net.conv1.weight.device
    total = sched.warmup_steps + p.fast_steps
    # channels-last halves the time of these small convolutions on CPU (measured)
    net.to(memory_format=torch.channels_last)
    step = _Stepper(net, sched.lr, total, progress, cancel, one_cycle(total, sched.lr),
                    sched.beta2)
    net.train()
    for inp, tgt in _fast_batches(sampler, p, sched, dev):
        step(inp, tgt)
    return net.to(memory_format=torch.contiguous_format)


def _stack(planes: Sequence[np.ndarray], n: int, dev: torch.device) -> torch.Tensor:
    """B x n x H x W tensor: planes as a batch, each repeated n times (channel amplification)."""
    return torch.from_numpy(np.stack(planes))[:, None].repeat(1, n, 1, 1).to(dev)


def fit(raws: Sequence[np.ndarray], p: Preset, mode: str = "fast",
        device: torch.device | str = "cpu", progress: Optional[ProgressFn] = None,
        cancel: CancelLike = None, schedule: FastSchedule = FastSchedule()) -> FM2SNet:
    """Train one network on one or more 2D planes on the [0, 1] scale that share their noise.

    The median targets are computed here.  ``fast`` mode samples crops from a bounded
    pool of tiles (:class:`CropSampler`); ``paper`` mode uses all planes (same shape)
    as one batch.  When a GPU runs out of memory, training starts again on the CPU
    (with a logged warning).  A run whose weights become NaN or infinite raises ValueError.
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; valid modes: {', '.join(MODES)}")
    cancelled = cancel_checker(cancel)
    dev = torch.device(device)
    try:
        net = _fit(raws, p, mode, dev, progress, cancelled, schedule)
    except Exception as e:
        if dev.type == "cpu" or not is_oom(e):
            raise
        free_device_cache(dev)
        log.warning("training ran out of %s memory: starting again on the CPU (slower)",
                    dev.type.upper())
        net = _fit(raws, p, mode, torch.device("cpu"), progress, cancelled, schedule)
    if not all(bool(torch.isfinite(t).all()) for t in net.parameters()):
        raise ValueError("training diverged (the network's weights became NaN or infinite): "
                         "lower lr or check the image")
    return net


def _fit(raws: Sequence[np.ndarray], p: Preset, mode: str, dev: torch.device,
         progress: Optional[ProgressFn], cancelled: Callable[[], bool],
         schedule: FastSchedule) -> FM2SNet:
    if mode == "fast":
        net = make_network(p.channels, p.seed, dev)  # applied with the fidelity rules
        gen = torch.Generator().manual_seed(int(p.seed))
        sampler = CropSampler(raws, p.filter_size, p.stride, schedule.crop, gen,
                              schedule.flips, cancelled=cancelled)
        return fit_fast(net, sampler, p, schedule, progress, cancelled)
    targets = []
    for raw in raws:
        raise_if(cancelled)
        targets.append(median_target(raw, p.filter_size, cancelled))
    raise_if(cancelled)
    net = make_network(p.channels, p.seed, dev, application="reference")  # the authors' code
    if len({r.shape for r in raws}) != 1:
        raise ValueError("paper mode trains on planes of one shape")
    fit_paper(net, _stack(raws, p.channels, dev), _stack(targets, p.channels, dev), p,
              progress, cancelled)
    return net
