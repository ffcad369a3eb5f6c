"""Training schedules; progress and cancel go through :mod:`napari_fm2s.hooks`."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .hooks import CancelLike, ProgressFn, cancel_checker, raise_if
from .network import FM2SNet, make_network
from .noise import inject, median_target, region_means
from .presets import Preset

#: Training schedules; the first is the default of ``denoise()``.
MODES = ("paper",)


class _Stepper:
    """One Adam step at a time, with the progress and cancel hooks."""

    def __init__(self, net: torch.nn.Module, lr: float, total: int,
                 progress: Optional[ProgressFn], cancel: CancelLike) -> None:
        self.net = net
        self.opt = torch.optim.Adam(net.parameters(), lr=lr, betas=(0.9, 0.999))
        self.total = total
        self.step = 0
        self.progress = progress
        self.cancelled = cancel_checker(cancel)

    def __call__(self, inp: torch.Tensor, target: torch.Tensor) -> None:
        raise_if(self.cancelled)
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
        noisy = inject(target, p.k_g, p.k_p, p.lam_p, p.stride, generator=gen, means=means)
        for _ in range(p.steps_per_sample):
            step(noisy, target)
    return net


def _stack(planes: Sequence[np.ndarray], n: int, dev: torch.device) -> torch.Tensor:
    """B x n x H x W tensor: planes as a batch, each repeated n times (channel amplification)."""
    return torch.from_numpy(np.stack(planes))[:, None].repeat(1, n, 1, 1).to(dev)


def fit(raws: Sequence[np.ndarray], p: Preset, mode: str = "paper",
        device: torch.device | str = "cpu", progress: Optional[ProgressFn] = None,
        cancel: CancelLike = None) -> FM2SNet:
    """Train one network on one or more 2D planes on the [0, 1] scale that share their noise.

    The median targets are computed here.  ``paper`` mode uses all planes (same
    shape) as one batch.
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; valid modes: {', '.join(MODES)}")
    cancelled = cancel_checker(cancel)
    dev = torch.device(device)
    targets = []
    for raw in raws:
        raise_if(cancelled)
        targets.append(median_target(raw, p.filter_size))
    raise_if(cancelled)
    net = make_network(p.channels, p.seed, dev)
    if len({r.shape for r in raws}) != 1:
        raise ValueError("paper mode trains on planes of one shape")
    fit_paper(net, _stack(raws, p.channels, dev), _stack(targets, p.channels, dev), p,
              progress, cancelled)
    return net
