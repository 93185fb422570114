"""Is a saliency map faithful to the black box? Deletion and insertion curves, their areas, and AOPC.

``deletion_curve`` / ``insertion_curve`` and their areas (Petsiuk et al., "RISE", BMVC 2018) and ``aopc``
(Samek et al., IEEE TNNLS 2017); a removed pixel becomes ``conventions.DEFAULT_REPLACEMENT`` unless ``baseline=``
says otherwise. Importable from ``caelib.evaluate``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..classifier import predict_proba
from ..conventions import DEFAULT_REPLACEMENT, Classifier, replacement, target_classes
from ..data import check_images
from .common import _direction, _rank, check_maps

__all__ = ["Curve", "deletion_curve", "insertion_curve", "deletion_auc", "insertion_auc", "aopc", "faithfulness"]


@dataclass
class Curve:
    """A deletion or insertion curve: ``probs`` (B, S + 1), the black box's probability of the target class
    after each step, at ``fractions`` (S + 1,) of the pixels removed / inserted (0 ... 1)."""

    fractions: torch.Tensor
    probs: torch.Tensor

    @property
    def auc(self) -> torch.Tensor:
        """(B,) area under the curve over fractions 0..1 (trapezoid rule), in [0, 1]."""
        return torch.trapezoid(self.probs, self.fractions, dim=1)

    def aopc(self, upto: float = 0.1) -> torch.Tensor:
        """(B,) area over the perturbation curve of a deletion curve: the mean over its steps up to ``upto`` of
        the pixels removed of the drop p(x) - p(x_k) (what ``aopc`` computes from the maps)."""
        keep = self.fractions <= upto + 1e-9
        p = self.probs[:, keep]                                                      # (B, L + 1)
        return (p[:, :1] - p).mean(1)


@torch.no_grad()
def _curve(classifier: Classifier, x: torch.Tensor, maps: torch.Tensor, target, start: torch.Tensor,
           end: torch.Tensor, steps: int, seed: int) -> Curve:
    """Move pixels from ``start`` to ``end`` (both (B, C, H, W)) in order of decreasing map value, in
    ``steps`` equal steps; one black-box call per step for the whole batch."""
    maps = check_maps(maps)
    if maps.shape[0] != x.shape[0] or maps.shape[-2:] != x.shape[-2:]:
        raise ValueError(f"maps {tuple(maps.shape)} and images {tuple(x.shape)} need the same batch and size")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    b, c, h, w = x.shape
    t = target_classes(classifier, x, target)                                       # (B,)
    rank = _rank(maps.flatten(1).cpu(), seed).to(x.device)                          # (B, N), 0 = largest
    n = h * w
    counts = torch.linspace(0, n, steps + 1).round().long()                          # pixels moved after each step
    probs = []
    for k in counts.tolist():
        moved = (rank < k).view(b, 1, h, w)                                          # (B, 1, H, W)
        xs = torch.where(moved, end, start)                                          # (B, C, H, W)
        probs.append(predict_proba(classifier, xs).gather(1, t[:, None])[:, 0])      # (B,)
    return Curve(counts.float() / n, torch.stack(probs, 1))


def deletion_curve(classifier: Classifier, x: torch.Tensor, maps: torch.Tensor, target=None, *, steps: int = 64,
                   baseline=DEFAULT_REPLACEMENT, seed: int = 0) -> Curve:
    """Deletion (Petsiuk et al., RISE, BMVC 2018): replace the pixels (all channels) of images ``x``
    (B, C, H, W) by the ``baseline`` image in order of decreasing map value, in ``steps`` equal steps from
    none to all (64: 16 pixels a step at 32x32), and record the black box's probability of ``target``
    (None: its decision on ``x``). The probability should fall fast: the area under the curve
    (``Curve.auc``, ``deletion_auc``) is lower for better maps. Ties in the map go in random (seeded) order.

    ``baseline``: what a deleted pixel becomes; default ``DEFAULT_REPLACEMENT``, the image blurred with a
    Gaussian of 4 pixels. RISE deletes to a constant; on the lesion images mid-grey (0) paints a disc brighter
    than the tissue, a lesion to the classifier: deleting the true lesion to 0 scores worse than a random order
    (the measurement: ``benchmarks/results/measured_choices.md``). A number, a tensor broadcastable to ``x``
    (``x.amin((1, 2, 3), keepdim=True)`` for black) or a callable of ``x`` also work."""
    check_images(x, what="images")
    return _curve(classifier, x, maps, target, x, replacement(baseline, x), steps, seed)


def insertion_curve(classifier: Classifier, x: torch.Tensor, maps: torch.Tensor, target=None, *, steps: int = 64,
                    baseline=DEFAULT_REPLACEMENT, seed: int = 0) -> Curve:
    """Insertion (Petsiuk et al., RISE): start from the ``baseline`` image (default ``DEFAULT_REPLACEMENT``,
    RISE's blurred copy: it keeps the brightness and removes the shapes) and put the original pixels back in order
    of decreasing map value, ``steps`` equal steps; the probability of ``target`` should rise fast
    (``insertion_auc``, higher is better)."""
    check_images(x, what="images")
    return _curve(classifier, x, maps, target, replacement(baseline, x), x, steps, seed)


@_direction(higher=False)
def deletion_auc(classifier: Classifier, x: torch.Tensor, maps: torch.Tensor, target=None, **kw) -> torch.Tensor:
    """Area under the deletion curve (lower is better) -> (B,) in [0, 1]; see ``deletion_curve``."""
    return deletion_curve(classifier, x, maps, target, **kw).auc


@_direction(higher=True)
def insertion_auc(classifier: Classifier, x: torch.Tensor, maps: torch.Tensor, target=None, **kw) -> torch.Tensor:
    """Area under the insertion curve (higher is better) -> (B,) in [0, 1]; see ``insertion_curve``."""
    return insertion_curve(classifier, x, maps, target, **kw).auc


@_direction(higher=True)
def aopc(classifier: Classifier, x: torch.Tensor, maps: torch.Tensor, target=None, *, upto: float = 0.1,
         **kw) -> torch.Tensor:
    """Area over the perturbation curve (higher is better; Samek et al., IEEE TNNLS 2017) of the deletion curve
    (``deletion_curve``, which takes ``**kw``): the mean over its first steps, up to ``upto`` of the pixels
    removed, of the drop p(x) - p(x_k) -> (B,). Samek et al. remove square regions by noise in the
    most-relevant-first order; here pixels go to the deletion's replacement value, and ``upto`` = 0.1 looks at
    the first tenth of the image, where the most relevant pixels must make the difference. From a deletion
    curve you already have: ``Curve.aopc(upto)``."""
    return deletion_curve(classifier, x, maps, target, **kw).aopc(upto)


def faithfulness(classifier: Classifier, x: torch.Tensor, maps: torch.Tensor, target=None, *, steps: int = 64,
                 baseline=DEFAULT_REPLACEMENT, upto: float = 0.1, seed: int = 0) -> dict[str, torch.Tensor]:
    """``deletion_auc`` (lower is better), ``insertion_auc`` and ``aopc`` (higher is better), each (B,),
    from one deletion and one insertion curve between ``x`` and the same ``baseline`` image."""
    d = deletion_curve(classifier, x, maps, target, steps=steps, baseline=baseline, seed=seed)
    i = insertion_curve(classifier, x, maps, target, steps=steps, baseline=baseline, seed=seed)
    return {"deletion_auc": d.auc, "insertion_auc": i.auc, "aopc": d.aopc(upto)}
