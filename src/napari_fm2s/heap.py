"""A steady C heap for runs: fewer page faults on glibc (Linux).

glibc returns freed memory to the system as soon as a few MB lie free at the top of the
main heap (its trim threshold follows the largest block freed lately) and maps large blocks
afresh; a run that allocates and frees the same few-MB arrays thousands of times (training
activations, image-sized temporaries) then touches fresh pages over and over.  Measured on
TwoPhoton_MICE_1 (512 x 512, default path, 2-core machine, runs 2-3 of a process): 387,000-
415,000 page faults and 10.4-10.5 s per run before, 27,000-30,000 and 9.0-9.3 s with these
settings.  The cost is peak memory on large planes, as freed blocks under 32 MB stay in the
heap: 1536 x 1536, 1316 MB either way; 2000 x 2000 uint16 (default path, 1 thread), 2459
against 2403 MB (+2 %; a fresh user measured +8 % and +13 % on another 2000 x 2000 image),
still under :func:`napari_fm2s.memory.estimate_bytes`; 57 against 63 s, and 476 against
679 MB held after the run (``malloc_trim``).  An 8 MB threshold peaked lower (2372 MB) but
took 67 s.  A run in another thread (napari's worker) uses a thread arena, which did not
fault so (9.4 s either way).

:func:`steady_heap` sets, once per process, glibc's ``mallopt`` the way the environment
variables ``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_`` and ``MALLOC_TOP_PAD_``
would: blocks under :data:`MMAP_THRESHOLD` come from the heap (glibc's own largest dynamic
threshold), which gives memory back when :data:`TRIM_THRESHOLD` lies free at its top and
grows by :data:`TOP_PAD` more than asked; after each run ``malloc_trim(0)`` gives back what
the run freed.  Nothing is set where a user set any of those variables or
``GLIBC_TUNABLES``, nor on other C libraries (macOS, Windows, musl).  No napari or Qt here.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys
from contextlib import contextmanager
from typing import Iterator, Mapping, Optional

log = logging.getLogger("napari_fm2s")

#: glibc ``mallopt`` parameters (malloc.h) and the values set.
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 64 << 20
TOP_PAD = 64 << 20
#: Environment variables by which a user sets glibc's heap; any of them leaves it alone.
USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_",
                 "GLIBC_TUNABLES")

_state: dict[str, object] = {}


def _glibc() -> Optional[ctypes.CDLL]:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version, libc.mallopt, libc.malloc_trim  # glibc only (not musl)
    except (OSError, AttributeError):
        return None
    return libc


def set_heap(env: Mapping[str, str] = os.environ) -> bool:
    """Set the heap's parameters (module docstring) unless the user set them or this is
    not glibc; once per process.  Returns whether they are this module's now."""
    if "libc" not in _state:
        libc = None if any(k in env for k in USER_SETTINGS) else _glibc()
        if libc is not None and not all(
                libc.mallopt(param, value) == 1 for param, value in
                ((M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, TRIM_THRESHOLD),
                 (M_TOP_PAD, TOP_PAD))):
            log.debug("glibc's mallopt refused the heap settings")
            libc = None
        _state["libc"] = libc
    return _state["libc"] is not None


@contextmanager
def steady_heap() -> Iterator[bool]:
    """Run the body with :func:`set_heap`'s settings; afterwards give the freed memory
    back to the system (``malloc_trim``).  Yields whether the settings are in force."""
    ok = set_heap()
    try:
        yield ok
    finally:
        libc = _state.get("libc")
        if isinstance(libc, ctypes.CDLL):
            libc.malloc_trim(0)
