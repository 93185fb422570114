"""Does a given region suffice alone? And a black box whose sufficient regions are known (notebook 08).

``sufficiency`` keeps each given region of an image, replaces the rest (``conventions.DEFAULT_REPLACEMENT`` by
default) and asks the black box whether its top label stays; ``TwoSquares`` is a hand-made black box with a
known answer (two squares, OR or AND), to check ``caelib.responsibility.explain_multiple`` against. Both are
importable from ``caelib.responsibility`` too.
"""

from __future__ import annotations

import torch

from .conventions import DEFAULT_REPLACEMENT, Classifier, device_of, evaluating, resolve_target
from .conventions import replacement as _replacement
from .data import check_images

__all__ = ["sufficiency", "TwoSquares"]


@torch.no_grad()
def sufficiency(classifier: Classifier, x: torch.Tensor, masks: torch.Tensor, target=None, *,
                replacement=DEFAULT_REPLACEMENT) -> torch.Tensor:
    """Does each region suffice alone? ``x`` (B, C, H, W), ``masks`` (B, M, H, W) (True / 1 = kept; the rest
    becomes ``replacement``) -> (B, M) bool: the black box's top label on the kept region is ``target``
    (None: its decision on ``x``)."""
    check_images(x)
    if masks.ndim != 4 or masks.shape[0] != len(x) or masks.shape[2:] != x.shape[2:]:
        raise ValueError(f"expected masks (B, M, H, W) = ({len(x)}, M, {x.shape[2]}, {x.shape[3]}), got "
                         f"{tuple(masks.shape)}; use masks[:, None] for one region per image")
    dev = device_of(classifier)
    with evaluating(classifier):
        logits = classifier(x.to(dev)).cpu()
        t = resolve_target(target, *logits.shape, default=logits.argmax(1))
        base = _replacement(replacement, x)
        keep = masks.bool()[:, :, None]                                                          # (B, M, 1, H, W)
        mutants = torch.where(keep, x[:, None], base[:, None]).flatten(0, 1)                     # (B*M, C, H, W)
        out = torch.cat([classifier(m.to(dev)).argmax(1).cpu() for m in mutants.split(512)])
    return out.reshape(masks.shape[:2]) == t[:, None]


class TwoSquares(torch.nn.Module):
    """A hand-made black box with a known answer, for (B, 1, H, W) images in [-1, 1]: logits (B, 2), class 1
    when square A **or** square B (``need_both=False``) / square A **and** square B (``need_both=True``) is
    bright (mean over the square > 0.8, i.e. every pixel bright on a dark background). ``squares``: (y0, y1,
    x0, x1) of A and B. The OR box has two minimal explanations (each square), the AND box one (both)."""

    def __init__(self, need_both: bool = False, squares=((2, 5, 2, 5), (10, 13, 9, 12))) -> None:
        super().__init__()
        self.need_both, self.squares = need_both, tuple(tuple(s) for s in squares)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        means = torch.stack([x[:, 0, y0:y1, x0:x1].mean((1, 2)) for y0, y1, x0, x1 in self.squares], 1)  # (B, 2)
        score = means.min(1).values if self.need_both else means.max(1).values
        return torch.stack([torch.full_like(score, 0.8), score], 1)

    def masks(self, size: int = 16) -> torch.Tensor:
        """The squares as masks (2, size, size) bool."""
        m = torch.zeros(len(self.squares), size, size, dtype=torch.bool)
        for k, (y0, y1, x0, x1) in enumerate(self.squares):
            m[k, y0:y1, x0:x1] = True
        return m

    def image(self, size: int = 16, seed: int = 0) -> torch.Tensor:
        """One image (1, 1, size, size): a dark textured background with both squares bright."""
        x = -1 + 0.6 * torch.rand(1, 1, size, size, generator=torch.Generator().manual_seed(seed))
        return torch.where(self.masks(size).any(0), torch.ones(()), x)
