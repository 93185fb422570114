"""Images to codes and back in chunks: ``encode_all`` and ``decode_all``, what every stage after training calls.

A CAE's ``encode`` / ``decode`` take one batch; these split a large one into chunks, in eval mode and without
gradients. Their old home ``caelib.swap`` re-exports them (``swap.encode_all``: notebooks 02 to 04).
"""

from __future__ import annotations

import torch

from .cae import CAE
from .conventions import evaluating

__all__ = ["encode_all", "decode_all"]


@torch.no_grad()
def encode_all(cae: CAE, x: torch.Tensor, batch_size: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """Encode a large batch in chunks: (N, C, H, W) -> (class codes (N, D), individual codes (N, ...))."""
    with evaluating(cae):
        parts = [cae.encode(xb) for xb in x.split(batch_size)]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


@torch.no_grad()
def decode_all(cae: CAE, indiv_code: torch.Tensor, class_code: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Decode in chunks: (N, ...) individual codes and (N, D) class codes -> (N, C, H, W)."""
    with evaluating(cae):
        return torch.cat([cae.decode(i, s) for i, s in zip(indiv_code.split(batch_size),
                                                            class_code.split(batch_size))])
