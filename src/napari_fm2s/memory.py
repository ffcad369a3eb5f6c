"""Memory: refuse a CPU run that cannot fit, and fall back when a device runs out.

* :func:`available_memory` reads ``/proc/meminfo`` (and a cgroup limit when there is one),
  else ``os.sysconf``; ``None`` when neither is readable (then nothing is refused).
* :func:`estimate_bytes` is a deliberately generous estimate of a run's peak memory;
  :func:`check_memory` raises :class:`InsufficientMemory` up front when it exceeds what
  is available.
* :func:`is_oom` recognises out-of-memory errors of CUDA, MPS and the CPU allocator;
  :func:`with_oom_fallback` retries a tiled computation with smaller tiles, then on the CPU.

Warnings go to the ``napari_fm2s`` logger (the CLI prints them, the widget shows them).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable, Optional, TypeVar

import torch

from .threads import CGROUP, own_cgroup_dirs

log = logging.getLogger("napari_fm2s")

T = TypeVar("T")

#: Smallest inference tile tried after out-of-memory errors.
MIN_TILE = 128
_GIB = 1024**3


class InsufficientMemory(MemoryError, ValueError):
    """The run needs more memory than there is: a MemoryError and a ValueError with a message."""


def _meminfo_available(path: str = "/proc/meminfo") -> Optional[int]:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_available(root: Path = CGROUP, proc_cgroup: Path = Path("/proc/self/cgroup")
                      ) -> Optional[int]:
    """Room left under this process's cgroup memory limits (v2, or v1's memory controller),
    the tightest on the way up from its own cgroup (a SLURM job's sits below the root)."""
    rooms = []
    for ctrl, limit_name, usage_name in (("", "memory.max", "memory.current"),
                                         ("memory", "memory.limit_in_bytes",
                                          "memory.usage_in_bytes")):
        for d in own_cgroup_dirs(root, proc_cgroup, ctrl):
            try:
                limit = (d / limit_name).read_text().strip()
                usage = int((d / usage_name).read_text().strip())
            except (OSError, ValueError):
                continue
            if limit.isdigit() and int(limit) < 1 << 60:
                rooms.append(max(0, int(limit) - usage))
    return min(rooms) if rooms else None


def available_memory() -> Optional[int]:
    """Bytes of memory available to this process now, or ``None`` when unknown."""
    found = [v for v in (_meminfo_available(), _cgroup_available()) if v is not None]
    if not found:
        try:
            found.append(int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE")))
        except (ValueError, OSError, AttributeError):
            return None
    return min(found)


#: In-memory planes of more pixels than this are denoised in blocks
#: (:func:`napari_fm2s.planes.infer`, with the lazy path's chunks and halo).
BLOCK_PIXELS = 2048 * 2048
#: Peak bytes per pixel of a plane (or block) going through inference and the do-no-harm
#: guard.  Measured (peak RSS less ~0.4 GB for Python and torch): a 2048 x 2048 uint16
#: plane 2.6 GB (helper 25); a 4096 x 4096 one 1.7 GB in blocks of 1024 x 1024.
GUARD_BYTES = 600


def estimate_bytes(total_pixels: int, plane: tuple[int, int], train_pixels: int,
                   channels: int, mode: str, tile: int) -> int:
    """Peak bytes of an in-memory run (generous; the network's own size is negligible).

    ``total_pixels``: the whole input (the float32 result is that big); ``plane``: one
    plane's (Y, X); ``train_pixels``: pixels handed to training; ``channels``: the preset's
    channel amplification; ``tile``: the inference tile side.
    """
    h, w = plane
    n = int(channels)
    # the result, and one plane's (or block's) working copies: the guard's float64 arrays
    base = 4 * total_pixels + GUARD_BYTES * min(h * w, BLOCK_PIXELS)
    if mode == "paper":  # whole planes: raw, target, noisy sample, activations and grads
        train = train_pixels * (4 * (3 * n + 1) + 8 * (72 + n) + 12)
    else:  # crops from a bounded pool of tiles, plus the planes handed to training
        train = 12 * train_pixels + (1 << 19) * 16
    th, tw = min(h, tile) + 16, min(w, tile) + 16
    infer = th * tw * 4 * (2 + 2 * 24 + 2 * 12 + n)
    return int(base + train + infer)


def check_memory(needed: int, what: str = "this run",
                 available: Optional[int] = None) -> None:
    """Raise :class:`InsufficientMemory` when ``needed`` bytes exceed what is available."""
    avail = available_memory() if available is None else available
    if avail is None or needed <= avail:
        return
    raise InsufficientMemory(
        f"not enough memory: {what} needs about {needed / _GIB:.1f} GiB but only "
        f"{avail / _GIB:.1f} GiB is available; crop the image, use mode='fast' "
        "(the default), or close other programs")


def is_oom(e: BaseException) -> bool:
    """An out-of-memory error from torch (CUDA, MPS) or the CPU allocator."""
    if isinstance(e, (MemoryError, getattr(torch, "OutOfMemoryError", MemoryError))):
        return True
    text = str(e).lower()
    return isinstance(e, RuntimeError) and ("out of memory" in text
                                            or "can't allocate memory" in text
                                            or "failed to allocate" in text)


def free_device_cache(device: torch.device) -> None:
    try:
        if device.type == "cuda":
            torch.cuda.empty_cache()
        elif device.type == "mps":
            torch.mps.empty_cache()
    except Exception:  # best effort only
        pass


def with_oom_fallback(run: Callable[[int, torch.device], T], tile: int,
                      device: torch.device, what: str = "inference") -> T:
    """``run(tile, device)``; after an out-of-memory error, retry with halved tiles (down to
    :data:`MIN_TILE`), then (off the CPU) on the CPU from the original tile size.

    Each fallback is logged as a warning.  When even the CPU with the smallest tiles runs
    out, :class:`InsufficientMemory` is raised with a message.
    """
    device = torch.device(device)
    first = tile
    while True:
        try:
            return run(tile, device)
        except Exception as e:
            if not is_oom(e):
                raise
            free_device_cache(device)
            if tile > MIN_TILE:
                tile = max(MIN_TILE, tile // 2)
                log.warning("%s ran out of memory on %s: retrying in %dx%d tiles",
                            what, device.type.upper(), tile, tile)
            elif device.type != "cpu":
                device, tile = torch.device("cpu"), first
                log.warning("%s ran out of GPU memory even in small tiles: "
                            "continuing on the CPU (slower)", what)
            else:
                raise InsufficientMemory(
                    f"out of memory during {what}, even in {MIN_TILE}x{MIN_TILE} tiles on "
                    "the CPU: crop the image or close other programs") from e
