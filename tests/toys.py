"""Hand-built models whose right answers are known, shared by several test files."""

from __future__ import annotations

import torch
from torch import nn


class MeanCAE(nn.Module):
    """Hand-built 'CAE': class code = (mean pixel, 0), individual code = x - mean; decode adds it back
    (so the reconstruction is exact)."""

    def encode(self, x):
        m = x.mean(dim=(1, 2, 3))
        return torch.stack([m, torch.zeros_like(m)], 1), x - m[:, None, None, None]

    def decode(self, indiv, code):
        return indiv + code[:, 0, None, None, None]


class MeanClassifier(nn.Module):
    """Hand-built black box: class 1 iff the mean pixel is > 0."""

    def forward(self, x):
        m = x.mean(dim=(1, 2, 3))
        return 20 * torch.stack([-m, m], 1)
