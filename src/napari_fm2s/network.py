"""The FM2S network: three convolutions, 3,529 parameters for one channel.

``application`` says how :func:`napari_fm2s.inference.apply` runs a trained network
(training is the same for both, the forward pass is always the reference's):

* ``"fidelity"`` (fast mode, the default): the input is mirrored by :data:`RECEPTIVE_RADIUS`
  pixels at the image edge (half-sample symmetric, like the median target's scipy
  ``'reflect'``), so edge pixels never see the convolutions' zero padding; the output stays
  within the range of the input pixels it is computed from, and saturated plateaus stay
  saturated (see :mod:`napari_fm2s.inference`).
* ``"reference"`` (paper mode): the authors' code, zero padding and a [0, 1] clamp only.
"""

from __future__ import annotations

import math

import torch
from torch import nn

#: Pixels each output pixel sees on each side (5x5, 3x3, 5x5 convolutions).
RECEPTIVE_RADIUS = 5
#: How a trained network is applied (see the module docstring).
APPLICATIONS = ("fidelity", "reference")


class FM2SNet(nn.Module):
    """conv5x5(n->24) - LeakyReLU - conv3x3(24->12) - LeakyReLU - conv5x5(12->n)."""

    def __init__(self, channels: int = 1, slope: float = 0.001,
                 application: str = "fidelity") -> None:
        super().__init__()
        if application not in APPLICATIONS:
            raise ValueError(f"unknown application {application!r}; "
                             f"valid: {', '.join(APPLICATIONS)}")
        self.channels = channels
        self.application = application
        self.conv1 = nn.Conv2d(channels, 24, 5, padding=2)
        self.conv2 = nn.Conv2d(24, 12, 3, padding=1)
        self.conv3 = nn.Conv2d(12, channels, 5, padding=2)
        self.act = nn.LeakyReLU(slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv3(self.act(self.conv2(self.act(self.conv1(x)))))

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """PyTorch's default Conv2d initialisation, drawn from ``generator``."""
        with torch.no_grad():
            for conv in (self.conv1, self.conv2, self.conv3):
                bound = 1.0 / math.sqrt(conv.weight[0].numel())
                conv.weight.uniform_(-bound, bound, generator=generator)
                conv.bias.uniform_(-bound, bound, generator=generator)

    def collapsed(self) -> FM2SNet:
        """Single-input-channel copy for inputs whose channels are all identical.

        conv1's weights are summed over its input channels, so
        ``collapsed()(x[:, :1]) == self(x)`` when every channel of ``x`` is equal.
        """
        net = FM2SNet(self.channels, application=self.application)
        net.load_state_dict(self.state_dict())
        conv1 = nn.Conv2d(1, 24, 5, padding=2)
        with torch.no_grad():
            conv1.weight.copy_(self.conv1.weight.sum(dim=1, keepdim=True))
            conv1.bias.copy_(self.conv1.bias)
        net.conv1 = conv1
        return net.to(self.conv1.weight.device)


def make_network(channels: int, seed: int, device: torch.device | str = "cpu",
                 application: str = "fidelity") -> FM2SNet:
    """A freshly initialised network, deterministic for a given ``seed``."""
    g = torch.Generator().manual_seed(int(seed))
    net = FM2SNet(channels, application=application)
    net.reset_parameters(g)
    return net.to(device)
