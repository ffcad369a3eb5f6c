import numpy as np
import torch

from napari_fm2s.inference import apply
from napari_fm2s.network import FM2SNet, make_network


def test_parameter_counts():
    assert sum(p.numel() for p in FM2SNet(1).parameters()) == 3529
    assert sum(p.numel() for p in FM2SNet(2).parameters()) == 4430


def test_seeded_init_is_deterministic():
    a, b = make_network(2, 7), make_network(2, 7)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    c = make_network(2, 8)
    assert not torch.equal(a.conv1.weight, c.conv1.weight)


def test_collapsed_equals_repeated_input():
    net = make_network(3, 0)
    x = torch.rand(1, 1, 40, 50)
    with torch.no_grad():
        full = net(x.repeat(1, 3, 1, 1))
        fast = net.collapsed()(x)
    assert torch.allclose(full, fast, atol=1e-5)


def test_tiled_equals_untiled():
    net = make_network(2, 0)
    raw = np.random.default_rng(0).random((150, 170)).astype(np.float32)
    whole = apply(net, raw)
    tiled = apply(net, raw, tile=32)
    assert np.abs(whole - tiled).max() < 1e-5
