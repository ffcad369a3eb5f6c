"""The run context: device, training mode, progress, cancel and dask scheduler.

One object carries what every step of a run needs besides the data and the preset, so
the pipeline's functions take ``(data, preset, ctx)`` instead of a dozen arguments.
No napari or Qt here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import torch

from .hooks import CancelLike, ProgressFn, cancel_checker, raise_if
from .training import MODES


def pick_device(device: Optional[str | torch.device] = None) -> torch.device:
    """``None`` picks CUDA, then Apple MPS, then the CPU; a named device must exist."""
    if device is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"unknown device {device!r}; use 'cpu', 'cuda' or 'mps'") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but no CUDA GPU is available; use 'cpu'")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None)
                                  and torch.backends.mps.is_available()):
        raise ValueError("device 'mps' was asked for but Apple MPS is not available; use 'cpu'")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unsupported device {device!r}; use 'cpu', 'cuda' or 'mps'")
    return dev


def check_mode(mode: Optional[str]) -> Optional[str]:
    """``mode`` if it is one of ``MODES`` (or None), else ValueError."""
    if mode is not None and mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; valid modes: {', '.join(MODES)}")
    return mode


def default_mode(planes: int) -> str:
    """``"fast"`` for a stack of several planes when training.py has it, else ``MODES[0]``."""
    return "fast" if planes > 1 and "fast" in MODES else MODES[0]


@dataclass
class RunContext:
    """How to run: ``mode`` None picks :func:`default_mode`; ``check_memory`` refuses an
    in-memory run whose estimated peak exceeds the available memory."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    mode: Optional[str] = None
    progress: Optional[ProgressFn] = None
    cancel: CancelLike = None
    scheduler: Any = None  # dask scheduler for reads of lazy input (None: dask's default)
    check_memory: bool = False
    on_params: Optional[Callable[[Any, str], None]] = None  # gets (preset, mode) as run

    def __post_init__(self) -> None:
        check_mode(self.mode)
        self.cancelled: Callable[[], bool] = cancel_checker(self.cancel)

    def raise_if_cancelled(self) -> None:
        raise_if(self.cancelled)
