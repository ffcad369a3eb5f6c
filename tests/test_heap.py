"""The steady heap (napari_fm2s.heap): glibc's settings in force, measured in fresh
processes by where a 1 MB block comes from."""

import os
import subprocess
import sys

import pytest

from napari_fm2s import heap

GLIBC = heap._glibc() is not None

# Bytes of the blocks glibc holds mapped on their own (mallinfo2's hblkhd) that a 1 MB
# numpy array adds, in a fresh process; with "set", after set_heap().
_CHILD = """
import ctypes, sys
import numpy as np
from napari_fm2s import heap
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena ordblks smblks hblks hblkhd usmblks "
                                                 "fsmblks uordblks fordblks keepcost").split()]
libc = heap._glibc()
libc.mallinfo2.restype = Info
ok = heap.set_heap() if sys.argv[1] == "set" else None
before = libc.mallinfo2().hblkhd
a = np.ones(1 << 18, np.float32)
print(ok, libc.mallinfo2().hblkhd - before)
"""


def _child(arg: str, **env: str) -> tuple[str, int]:
    clean = {k: v for k, v in os.environ.items() if k not in heap.USER_SETTINGS}
    out = subprocess.run([sys.executable, "-c", _CHILD, arg], env={**clean, **env},
                         capture_output=True, text=True, check=True).stdout.split()
    return out[0], int(out[1])


@pytest.mark.skipif(not GLIBC, reason="glibc only")
def test_blocks_of_a_few_mb_come_from_the_heap():
    ok, mapped = _child("plain")
    assert ok == "None" and mapped >= 1 << 20  # glibc's default: mapped on its own
    assert _child("set") == ("True", 0)


@pytest.mark.skipif(not GLIBC, reason="glibc only")
def test_a_users_own_heap_settings_are_left_alone():
    ok, mapped = _child("set", MALLOC_TRIM_THRESHOLD_="1000000")
    assert ok == "False" and mapped >= 1 << 20


def test_no_settings_without_glibc(monkeypatch):
    monkeypatch.setattr(heap, "_state", {})
    monkeypatch.setattr(heap, "_glibc", lambda: None)
    assert heap.set_heap() is False
    with heap.steady_heap() as ok:
        assert ok is False
