"""Progress, cancel and error hooks shared by every long-running step.

``progress(step, total, loss)`` is called after every optimizer step; ``cancel`` (a
callable returning True, or anything with ``is_set()`` such as ``threading.Event``)
is checked at least once per step, and a set flag raises :class:`DenoiseCancelled`.
"""

from __future__ import annotations

from typing import Any, Callable

ProgressFn = Callable[[int, int, float], None]
CancelLike = Any  # None, a callable -> bool, or an object with is_set()


class DenoiseCancelled(Exception):
    """Raised when a run is stopped through its ``cancel`` flag."""


def cancel_checker(cancel: CancelLike) -> Callable[[], bool]:
    """Turn ``None``, a callable or an Event-like object into a no-argument check."""
    if cancel is None:
        return lambda: False
    if hasattr(cancel, "is_set"):
        return cancel.is_set
    if callable(cancel):
        return lambda: bool(cancel())
    raise ValueError("cancel must be a callable returning bool or a threading.Event")


def raise_if(cancelled: Callable[[], bool]) -> None:
    """Raise :class:`DenoiseCancelled` when the flag is set."""
    if cancelled():
        raise DenoiseCancelled("denoising was cancelled")


def user_message(e: BaseException) -> str:
    """One line for the user (CLI and widget); unexpected error types keep their class name."""
    text = " ".join(str(e).split()) or type(e).__name__
    low = text.lower()
    if isinstance(e, MemoryError) and isinstance(e, ValueError):  # our own, with advice
        return text
    if "can't start new thread" in low or "thread creation failed" in low:
        return ("could not start another thread (a memory or process limit, e.g. ulimit -v "
                "or a scheduler's vmem limit): use fewer threads (--threads 1, "
                "FM2S_THREADS=1) or raise the limit")
    if isinstance(e, MemoryError) or "out of memory" in low or "can't allocate memory" in low:
        gpu = ", or the CPU device" if "cuda" in low or "mps" in low else ""
        return ("out of memory: use a smaller image (crop it), fewer channels or threads"
                f"{gpu}, or a lower --lazy-above to read a large TIFF page by page")
    if isinstance(e, ValueError):
        return text
    if isinstance(e, OSError):  # the file system's: named, not a bug
        return f"{type(e).__name__}: {text}"
    return f"{type(e).__name__}: {text} {INTERNAL}"


#: The end of :func:`user_message` for an error no check of ours raised: a bug.
INTERNAL = "(an internal error: please report it)"
