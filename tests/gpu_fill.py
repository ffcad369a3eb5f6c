"""Fill GPU memory on purpose, to cause real CUDA out-of-memory errors (tests/test_cuda.py,
benchmarks/gpu.py)."""

from __future__ import annotations

import torch


def fill_gpu(leave: int) -> list[torch.Tensor]:
    """Tensors that take all but about ``leave`` bytes of GPU memory (blocks of >= 2 MiB,
    from the caching allocator's large pool: the small pool keeps room for the weights)."""
    torch.cuda.empty_cache()
    blocks, size = [], 1 << 34
    while size >= 2 << 20:
        if torch.cuda.mem_get_info()[0] - size < leave:
            size //= 2
            continue
        try:
            blocks.append(torch.empty(size, dtype=torch.uint8, device="cuda"))
        except torch.OutOfMemoryError:
            size //= 2
    return blocks
