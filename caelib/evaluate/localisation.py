"""Where a saliency map points: localisation metrics against evidence masks, and where a map's mass lies.

``pointing_game`` (Zhang et al., ECCV 2016), ``mask_auroc``, ``topk_iou`` and ``relevance_mass`` (Arras et al.,
"CLEVR-XAI", Information Fusion 2022), all higher is better, on images with evidence (``has_evidence``);
``mask_mass`` for any region (no direction; notebook 07). Importable from ``caelib.evaluate``.
"""

from __future__ import annotations

import torch

from ..conventions import dilate
from .common import _direction, _rank, check_maps, check_masks

__all__ = ["pointing_game", "mask_auroc", "topk_iou", "relevance_mass", "mask_mass", "LOCALISATION", "localisation"]


@_direction(higher=True)
def pointing_game(maps: torch.Tensor, masks: torch.Tensor, tolerance: int = 0) -> torch.Tensor:
    """Pointing game (higher is better; Zhang et al., ECCV 2016): 1 where the map's maximum lies inside the
    mask (grown by ``tolerance`` pixels), else 0 -> (B,); their mean is the hit rate. Maps (B, 1, H, W), or
    (B, C, H, W) summed over the channels (as ``saliency_path.CAESaliency`` gives them). Of tied maxima the
    first in row-major order counts. Chance level is the mask's area fraction. Empty masks raise ValueError."""
    if torch.is_tensor(maps) and maps.ndim == 4:
        maps = maps.sum(1, keepdim=True)
    maps = check_maps(maps)
    inside = dilate(check_masks(masks, maps), tolerance).flatten(1)                # (B, H * W)
    return inside.gather(1, maps.flatten(1).argmax(1, keepdim=True))[:, 0].clamp(max=1)


@_direction(higher=True)
def mask_auroc(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Area under the ROC curve of the map's values as a pixel classifier of the mask (higher is better)
    -> (B,): the chance that a random evidence pixel outranks a random other pixel (ties count a half).
    0.5 = chance, 1 = every evidence pixel above every other. scikit-learn's ``roc_auc_score``."""
    from sklearn.metrics import roc_auc_score

    maps = check_maps(maps)
    m = check_masks(masks, maps).flatten(1).numpy()
    a = maps.flatten(1).numpy()
    return torch.tensor([roc_auc_score(m[i], a[i]) for i in range(len(a))], dtype=torch.float32)


def _top_k(maps: torch.Tensor, k: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """(B, N) bool: each map's ``k[b]`` largest pixels, ties broken at random (seeded)."""
    return _rank(maps.flatten(1), seed) < k[:, None]


@_direction(higher=True)
def topk_iou(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Intersection over union of the map's k largest pixels with the mask, k = the mask's area (higher is
    better) -> (B,). Ties among the map's values are broken at random (seeded). 1 = the top k pixels are
    the mask; a random map scores about (a / N) / (2 - a / N) for a mask of a pixels among N."""
    maps = check_maps(maps)
    m = check_masks(masks, maps).flatten(1).bool()
    top = _top_k(maps, m.sum(1))
    inter = (top & m).sum(1).float()
    return inter / (top | m).sum(1).float()


@_direction(higher=True)
def relevance_mass(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Share of the map's positive relevance that falls inside the mask (higher is better; Arras et al.,
    2022) -> (B,) in [0, 1]. Negative values are left out (Arras et al. count positive relevance); a map
    with no positive value scores the mask's area fraction, like a flat map."""
    maps = check_maps(maps)
    m = check_masks(masks, maps).flatten(1)
    a = maps.clamp_min(0).flatten(1)                                                 # (B, N)
    total = a.sum(1)
    return torch.where(total > 0, (a * m).sum(1) / total.clamp_min(1e-30), m.mean(1))


def mask_mass(maps: torch.Tensor, masks: torch.Tensor, *, dilation: int = 0) -> torch.Tensor:
    """(B,) the share of each map's total |value| (summed over channels) inside its region ``masks``
    (B, 1, H, W) grown by ``dilation`` px; NaN where a map is all zero. No direction: which region should hold
    the mass depends on what the black box uses (notebook 07: the marker and the lesion).

    Not ``relevance_mass``: that one is Arras et al.'s localisation metric (positive relevance of a
    (B, 1, H, W) map, evidence masks checked, a map with nothing positive at chance). This one takes any
    region (an empty one gives 0), any map or change (B, C, H, W) (e.g. ``counterfactual_change``)
    and counts evidence for and against alike (|value|)."""
    m = dilate(masks.float(), dilation) > 0 if dilation else masks > 0
    a = maps.detach().abs().float().sum(1, keepdim=True)
    total = a.flatten(1).sum(1)
    inside = (a * m).flatten(1).sum(1)
    return torch.where(total > 0, inside / total.clamp_min(1e-12), torch.full_like(total, float("nan")))


LOCALISATION = {"pointing_game": pointing_game, "mask_auroc": mask_auroc, "topk_iou": topk_iou,
                "relevance_mass": relevance_mass}


def localisation(maps: torch.Tensor, masks: torch.Tensor) -> dict[str, torch.Tensor]:
    """All four localisation metrics of ``LOCALISATION``: {name: (B,)} (all higher is better)."""
    return {name: fn(maps, masks) for name, fn in LOCALISATION.items()}
