"""Thread policy: usable cores from affinity and cgroup quotas (fake files), the choice,
the context manager, and the ``threads`` option of denoise() and the CLI."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest
import torch

from napari_fm2s import denoise, threads
from napari_fm2s.cli import _settings, build_parser
from napari_fm2s.threads import (ENV, SPIN_COUNT, cgroup_cpu_limit, choose_threads,
                                 default_threads, prefer_passive_wait, thread_policy,
                                 usable_cores)

from .conftest import FAST


def cgroup(tmp_path: Path, own: str = "/", files: dict | None = None) -> tuple[Path, Path]:
    """A fake /sys/fs/cgroup under tmp_path and a /proc/self/cgroup naming ``own``."""
    root = tmp_path / "cgroup"
    root.mkdir()
    for rel, text in (files or {}).items():
        f = root / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
    proc = tmp_path / "proc_cgroup"
    proc.write_text(f"4:memory:/x\n1:cpu,cpuacct:{own}\n0::{own}\n")
    return root, proc


@pytest.fixture
def four_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "_affinity_cores", lambda: 4)


@pytest.mark.parametrize("files, expected", [
    ({}, 4),
    ({"cpu.max": "max 100000\n"}, 4),
    ({"cpu.max": "150000 100000\n"}, 1),  # 1.5 CPUs: rounded down
    ({"cpu.max": "250000 100000\n"}, 2),
    ({"cpu.max": "50000 100000\n"}, 1),  # under one CPU: still one thread
    ({"cpu.max": "800000 100000\n"}, 4),  # more quota than cores
    ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, 4),
    ({"cpu/cpu.cfs_quota_us": "300000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 3),
    ({"cpu,cpuacct/cpu.cfs_quota_us": "200000\n", "cpu,cpuacct/cpu.cfs_period_us": "100000\n"},
     2),
    ({"cpu.max": "garbage\n"}, 4),
])
def test_usable_cores_from_quota(tmp_path: Path, four_cores: None, files: dict,
                                 expected: int) -> None:
    root, proc = cgroup(tmp_path, files=files)
    assert usable_cores(root, proc) == expected


def test_quota_of_the_own_cgroup_or_a_parent_tightest_wins(tmp_path: Path,
                                                           four_cores: None) -> None:
    root, proc = cgroup(tmp_path, own="/a/b", files={
        "cpu.max": "max 100000\n", "a/cpu.max": "300000 100000\n",
        "a/b/cpu.max": "200000 100000\n", "other/cpu.max": "100000 100000\n"})
    assert cgroup_cpu_limit(root, proc) == pytest.approx(2.0)
    assert usable_cores(root, proc) == 2


def test_memory_limit_of_the_own_cgroup_is_read(tmp_path: Path) -> None:
    """The v1 memory limit was read at the root only; a job's limit sits on its own cgroup
    (here the process is in memory:/x, as the fake /proc/self/cgroup says)."""
    from napari_fm2s.memory import _cgroup_available

    gib = 1 << 30
    root, proc = cgroup(tmp_path, own="/a", files={
        "memory/memory.limit_in_bytes": str(1 << 62), "memory/memory.usage_in_bytes": "0",
        "memory/x/memory.limit_in_bytes": str(2 * gib),
        "memory/x/memory.usage_in_bytes": str(gib // 2)})
    assert _cgroup_available(root, proc) == 3 * gib // 2
    (tmp_path / "v2").mkdir()
    root2, proc2 = cgroup(tmp_path / "v2", own="/a", files={  # v2: its own cgroup
        "a/memory.max": str(gib), "a/memory.current": "0", "memory.max": "max",
        "memory.current": "0"})
    assert _cgroup_available(root2, proc2) == gib


def test_affinity_caps_the_cores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0, 3, 5}, raising=False)
    root, proc = cgroup(tmp_path)
    assert usable_cores(root, proc) == 3


def test_choose_threads(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(threads, "usable_cores", lambda: 4)
    assert choose_threads(None, env={}) == 4
    assert choose_threads(None, env={}, reserve=1) == 3
    assert choose_threads(None, env={}, reserve=9) == 1
    assert choose_threads(None, env={ENV: " 2 "}) == 2
    assert choose_threads(3, env={ENV: "2"}) == 3  # the argument wins
    assert choose_threads(8, env={}) == 8  # a user's choice is not capped
    with caplog.at_level(logging.WARNING, logger="napari_fm2s"):
        assert choose_threads(None, env={ENV: "many"}) == 4
        assert choose_threads(None, env={ENV: "0"}) == 4
    assert sum(ENV in r.getMessage() for r in caplog.records) == 2
    for bad in (0, -1, True, 1.5, "x"):
        with pytest.raises(ValueError, match="threads must be a whole number"):
            choose_threads(bad, env={})


@pytest.mark.parametrize("reserve, expected", [(0, 4), (1, 3), (9, 1)])
def test_default_threads(monkeypatch: pytest.MonkeyPatch, reserve, expected) -> None:
    monkeypatch.setattr(threads, "usable_cores", lambda: 4)
    assert default_threads(reserve) == expected


def test_thread_policy_sets_and_restores(monkeypatch: pytest.MonkeyPatch) -> None:
    before = torch.get_num_threads()
    with thread_policy(1) as n:
        assert n == 1 and torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError):
        with thread_policy(1):
            raise RuntimeError("boom")
    assert torch.get_num_threads() == before
    monkeypatch.setenv(ENV, "1")
    with thread_policy(None) as n:
        assert n == 1 and torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_prefer_passive_wait_only_before_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    env: dict[str, str] = {}
    assert prefer_passive_wait(env) is False  # torch is loaded in this process: too late
    assert env == {}
    monkeypatch.delitem(sys.modules, "torch")
    assert prefer_passive_wait(env) is True
    assert env == {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": str(SPIN_COUNT)}
    env = {"OMP_WAIT_POLICY": "active"}  # the user's choice stays
    assert prefer_passive_wait(env) is False and env == {"OMP_WAIT_POLICY": "active"}
    env = {"GOMP_SPINCOUNT": "0"}  # so does a spin count of the user's
    assert prefer_passive_wait(env) is False and env == {"GOMP_SPINCOUNT": "0"}


def test_denoise_runs_with_the_threads_asked_for(noisy_small) -> None:
    before, seen = torch.get_num_threads(), set()
    denoise(noisy_small, progress=lambda s, t, loss: seen.add(torch.get_num_threads()),
            threads=1, **FAST)
    assert seen == {1}
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads"):
        denoise(noisy_small, threads=0, **FAST)


def test_cli_threads_flag_reaches_the_settings(tmp_path: Path) -> None:
    parse = build_parser().parse_args
    assert _settings(parse(["denoise", "a.tif", "-o", str(tmp_path)])).threads is None
    assert _settings(parse(["denoise", "a.tif", "-o", str(tmp_path), "--threads", "1"])).threads == 1
    with pytest.raises(ValueError, match="threads"):
        _settings(parse(["denoise", "a.tif", "-o", str(tmp_path), "--threads", "0"]))
