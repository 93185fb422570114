"""Building blocks of the CAE: conv blocks, residual blocks and adaptive instance norm (AdaIN).

Plain ``nn.Module`` s. Normalisation is chosen by passing a module *class* (``nn.InstanceNorm2d``,
``LayerNorm2d``, ``nn.Identity``), never a string. The shapes follow MUNIT (Huang et al., 2018), on
which the CAE of Xie et al. (ICDE 2024) builds. Taught in ``notebooks/02_encoding.ipynb``.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

Norm = Callable[[int], nn.Module]


class LayerNorm2d(nn.Module):
    """Layer norm over (C, H, W) of each sample, with a per-channel affine (as in MUNIT's decoder):
    ``(x - mean) / sqrt(var + eps) * weight + bias``, computed as a group norm with one group (one fused
    kernel, faster on a CPU than the mean/std/divide it replaced, which divided by ``std + eps`` with the
    unbiased std; the measurements: ``benchmarks/results/measured_choices.md``)."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W)
        return F.group_norm(x, 1, self.weight, self.bias, self.eps)


def instance_norm(channels: int) -> nn.Module:
    """Instance norm with a learned affine: the individual-code encoder's normalisation."""
    return nn.InstanceNorm2d(channels, affine=True)


def no_norm(channels: int) -> nn.Module:
    """No normalisation (the class-code encoder and the discriminator use none)."""
    return nn.Identity()


class ConvBlock(nn.Sequential):
    """Conv -> norm -> activation; zero padding keeps ``H / stride`` (kernel 4 with stride 2 halves
    the size). MUNIT pads by reflection; zero padding is faster on a CPU
    (``benchmarks/results/measured_choices.md``)."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1,
                 norm: Norm = no_norm, act: Callable[[], nn.Module] = nn.ReLU):
        super().__init__(nn.Conv2d(cin, cout, kernel, stride, padding=(kernel - 1) // 2), norm(cout), act())


class ResBlock(nn.Module):
    """Two 3x3 conv blocks with a skip connection: ``x + f(x)``."""

    def __init__(self, channels: int, norm: Norm = instance_norm, act: Callable[[], nn.Module] = nn.ReLU):
        super().__init__()
        self.body = nn.Sequential(
            ConvBlock(channels, channels, 3, norm=norm, act=act),
            ConvBlock(channels, channels, 3, norm=norm, act=nn.Identity),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class AdaIN(nn.Module):
    """Adaptive instance norm: normalise each channel of each sample, then scale and shift it
    with values computed from the class code. ``forward(x (B, C, H, W), gamma (B, C), beta (B, C))``.
    The scale is ``1 + gamma`` so that a zero class code starts as plain instance norm."""

    def __init__(self, eps: float = 1e-5):
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        x = F.instance_norm(x, eps=self.eps)
        return x * (1 + gamma[:, :, None, None]) + beta[:, :, None, None]


class AdaINResBlock(nn.Module):
    """Residual block whose two norms are AdaIN; it needs ``4 * channels`` style numbers."""

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.norm1, self.norm2 = AdaIN(), AdaIN()
        self.act = nn.ReLU()

    @property
    def n_style(self) -> int:
        return 4 * self.channels

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:  # style (B, 4C)
        g1, b1, g2, b2 = style.chunk(4, dim=1)
        h = self.act(self.norm1(self.conv1(x), g1, b1))
        h = self.norm2(self.conv2(h), g2, b2)
        return x + h


class UpBlock(nn.Sequential):
    """Nearest-neighbour x2 upsampling, then a conv block with layer norm (MUNIT's decoder).

    When the conv's weights are channels-last (as ``caelib.train`` trains them), the input is brought into
    that format *before* upsampling: the conv would otherwise convert the 4x larger upsampled map, a sizeable
    share of a CPU training step (``benchmarks/results/measured_choices.md``). Same numbers either way."""

    def __init__(self, cin: int, cout: int, kernel: int = 3):
        super().__init__(nn.Upsample(scale_factor=2, mode="nearest"),
                         ConvBlock(cin, cout, kernel, norm=LayerNorm2d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self[1][0].weight.is_contiguous(memory_format=torch.channels_last):
            x = x.contiguous(memory_format=torch.channels_last)
        return super().forward(x)


def mlp(cin: int, hidden: int, cout: int, layers: int = 3) -> nn.Sequential:
    """A small MLP with ReLUs: ``cin -> hidden -> ... -> cout``."""
    dims = [cin] + [hidden] * (layers - 1) + [cout]
    mods: list[nn.Module] = []
    for i in range(len(dims) - 1):
        mods.append(nn.Linear(dims[i], dims[i + 1]))
        if i < len(dims) - 2:
            mods.append(nn.ReLU())
    return nn.Sequential(*mods)
