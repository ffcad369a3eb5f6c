"""The CUDA path on a real GPU (skipped without one): noise pool generator, inference
against the CPU, and the out-of-memory fallbacks with real CUDA out-of-memory errors."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from napari_fm2s import denoise
from napari_fm2s.api import resolve_params
from napari_fm2s.inference import apply
from napari_fm2s.network import make_network
from napari_fm2s.training import fit

from .conftest import FAST
from .gpu_fill import fill_gpu

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


@pytest.fixture
def exact_convs():
    """Full float32 convolutions (no TF32), so GPU results can be compared with the CPU's."""
    old = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32 = old


def test_fast_mode_on_cuda_is_reproducible_and_finite(noisy_small) -> None:
    a = denoise(noisy_small, device="cuda", **FAST)
    b = denoise(noisy_small, device="cuda", **FAST)
    assert np.isfinite(a).all() and a.shape == noisy_small.shape
    np.testing.assert_allclose(a, b, atol=1e-3)  # same seed: the CUDA generator repeats


def test_paper_mode_on_cuda(noisy_small) -> None:
    out = denoise(noisy_small, mode="paper", device="cuda", **FAST)
    assert np.isfinite(out).all()


def test_inference_on_cuda_matches_cpu(exact_convs) -> None:
    net = make_network(2, 0)
    raw = np.random.default_rng(0).random((300, 200), dtype=np.float32)
    cpu = apply(net, raw, tile=128)
    gpu = apply(make_network(2, 0, "cuda"), raw, tile=128)
    np.testing.assert_allclose(gpu, cpu, atol=1e-5)


@pytest.mark.slow
def test_real_oom_falls_back_to_smaller_tiles_then_cpu(caplog, exact_convs) -> None:
    net = make_network(2, 0, "cuda")
    raw = np.random.default_rng(1).random((4096, 4096), dtype=np.float32)
    expected = apply(make_network(2, 0), raw[:512, :512], tile=512)
    with caplog.at_level(logging.WARNING, logger="napari_fm2s"):
        blocks = fill_gpu(leave=512 << 20)  # a 4096 tile needs ~5 GB, a 1024 one ~0.4 GB
        try:
            out = apply(net, raw, tile=4096)
        finally:
            del blocks
            torch.cuda.empty_cache()
        assert any("tiles" in r.getMessage() for r in caplog.records)
        np.testing.assert_allclose(out[:500, :500], expected[:500, :500], atol=1e-5)
        caplog.clear()
        blocks = fill_gpu(leave=0)
        try:
            out = apply(net, raw[:512, :512], tile=512)
            trained = fit([raw[:256, :256]], resolve_params("confocal", fast_steps=5),
                          mode="fast", device="cuda")
        finally:
            del blocks
            torch.cuda.empty_cache()
    msgs = [r.getMessage() for r in caplog.records]
    assert any("continuing on the CPU" in m for m in msgs)
    assert any("training ran out of CUDA memory" in m for m in msgs)
    assert trained.conv1.weight.device.type == "cpu"
    np.testing.assert_allclose(out, expected, atol=1e-5)
