"""How many CPU threads a run uses, and waiting threads that yield instead of spinning.

* :func:`usable_cores`: the cores this process may run on (CPU affinity), capped by a
  cgroup v2 ``cpu.max`` / v1 ``cpu.cfs_quota_us`` quota when one is set.
* :func:`choose_threads`: an explicit count, else the ``FM2S_THREADS`` environment
  variable, else :func:`default_threads` (all usable cores; ``reserve`` keeps some free,
  e.g. one for a GUI).
* :func:`thread_policy`: a context manager that sets torch's intra-op threads for a run
  and restores the previous count afterwards.
* :func:`prefer_passive_wait`: asks OpenMP to put idle worker threads to sleep
  (``OMP_WAIT_POLICY=PASSIVE``) instead of spinning; it only works before torch (and its
  OpenMP runtime) is loaded, so the package calls it on import.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping, Optional

log = logging.getLogger("napari_fm2s")

#: Environment variable with the default number of threads (``threads=None``).
ENV = "FM2S_THREADS"
CGROUP = Path("/sys/fs/cgroup")


def _affinity_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def own_cgroup_dirs(root: Path, proc_cgroup: Path, controller: str) -> list[Path]:
    """This process's cgroup folder and its parents up to ``root`` (the quota may sit on any)."""
    rel = "/"
    try:
        for line in proc_cgroup.read_text().splitlines():
            _, ctrls, path = line.split(":", 2)
            if (controller == "" and ctrls == "") or controller in ctrls.split(","):
                rel = path
                break
    except (OSError, ValueError):
        pass
    base = root if controller == "" else root / controller
    parts = [p for p in rel.split("/") if p and p != ".."]
    return [base.joinpath(*parts[:i]) for i in range(len(parts), -1, -1)]


def _read(path: Path) -> Optional[str]:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def cgroup_cpu_limit(root: Path = CGROUP,
                     proc_cgroup: Path = Path("/proc/self/cgroup")) -> Optional[float]:
    """CPUs allowed by a cgroup quota (e.g. 1.5), the tightest on the way up; ``None``: none."""
    limits = []
    for d in own_cgroup_dirs(root, proc_cgroup, ""):  # v2: "max 100000" or "150000 100000"
        text = _read(d / "cpu.max")
        if text:
            quota, _, period = text.partition(" ")
            if quota.isdigit() and period.strip().isdigit() and int(period) > 0:
                limits.append(int(quota) / int(period))
    for ctrl in ("cpu", "cpu,cpuacct"):  # v1: quota -1 means none
        for d in own_cgroup_dirs(root, proc_cgroup, ctrl):
            quota, period = _read(d / "cpu.cfs_quota_us"), _read(d / "cpu.cfs_period_us")
            try:
                q, per = int(quota or "-1"), int(period or "0")
            except ValueError:
                continue
            if q > 0 and per > 0:
                limits.append(q / per)
    return min(limits) if limits else None


def usable_cores(root: Path = CGROUP, proc_cgroup: Path = Path("/proc/self/cgroup")) -> int:
    """Cores this process may use: its CPU affinity, capped by a cgroup CPU quota.

    A fractional quota is rounded down (at least 1): a thread more than the quota allows
    is throttled and holds the others up at every synchronisation.
    """
    n = _affinity_cores()
    quota = cgroup_cpu_limit(root, proc_cgroup)
    if quota is not None:
        n = min(n, max(1, math.floor(quota + 1e-9)))
    return n


def default_threads(reserve: int = 0) -> int:
    """Threads when none are asked for: the usable cores less ``reserve`` (at least 1).

    Not fewer when other programs keep the cores busy: with waiting threads asleep
    (:func:`prefer_passive_wait`) two threads beside 4 busy loops on 2 cores took 0.67x
    the wall time of one for 1.3x its CPU time (benchmarks/results/load.txt).
    """
    return max(1, usable_cores() - reserve)


def _check(n: object, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, str)):
        raise ValueError(f"{what} must be a whole number >= 1, got {n!r}")
    try:
        value = int(n)
    except ValueError:
        raise ValueError(f"{what} must be a whole number >= 1, got {n!r}") from None
    if value < 1:
        raise ValueError(f"{what} must be a whole number >= 1, got {n!r}")
    return value


def choose_threads(requested: Optional[int] = None, env: Mapping[str, str] = os.environ,
                   reserve: int = 0) -> int:
    """``requested`` if given (ValueError unless >= 1), else ``$FM2S_THREADS``, else
    :func:`default_threads` ``(reserve)``.  A bad ``FM2S_THREADS`` is logged and ignored."""
    if requested is not None:
        return _check(requested, "threads")
    text = env.get(ENV, "").strip()
    if text:
        try:
            return _check(text, ENV)
        except ValueError as e:
            log.warning("%s; using the default", e)
    return default_threads(reserve)


@contextmanager
def thread_policy(threads: Optional[int] = None, reserve: int = 0) -> Iterator[int]:
    """Run the body with :func:`choose_threads` ``(threads, reserve=reserve)`` intra-op
    threads; the previous count is restored afterwards.  Yields the count used."""
    import torch

    n = choose_threads(threads, reserve=reserve)
    old = torch.get_num_threads()
    if n != old:
        torch.set_num_threads(n)
    try:
        yield n
    finally:
        if torch.get_num_threads() != old:
            torch.set_num_threads(old)


#: Spins an idle OpenMP thread makes before it sleeps (``GOMP_SPINCOUNT``).  Passive wait
#: alone (0 spins) put every worker to sleep between the ~20 small operations of a
#: training step and cost 10-25 % of the wall time on an idle 2-core machine (training
#: step 21.6-30.3 ms vs 16.6-24.8 ms at 10,000 spins, interleaved runs); a short spin
#: keeps them awake within a step and asleep between runs (benchmarks/load.py).
SPIN_COUNT = 10_000


def prefer_passive_wait(env: "os._Environ[str] | dict[str, str]" = os.environ) -> bool:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` with a short spin (``GOMP_SPINCOUNT`` =
    :data:`SPIN_COUNT`) unless the user set either, if OpenMP is not loaded yet.

    Idle OpenMP threads then spin briefly and sleep instead of spinning for their next
    task, which costs little when the cores are free and stops them from burning the
    time of a busy machine (see benchmarks/load.py).  Returns whether the policy is now
    passive.
    """
    if ("torch" not in sys.modules and "OMP_WAIT_POLICY" not in env
            and "GOMP_SPINCOUNT" not in env):
        env["OMP_WAIT_POLICY"] = "PASSIVE"
        env["GOMP_SPINCOUNT"] = str(SPIN_COUNT)
    return env.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE"
