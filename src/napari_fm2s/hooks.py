"""Progress and cancel hooks shared by every long-running step.

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
