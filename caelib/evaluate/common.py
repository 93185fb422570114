"""What every saliency metric shares: its direction (the one registry, ``higher_is_better``) and its input checks.

``HIGHER_IS_BETTER`` holds each metric's direction by function name (the metrics register with ``_direction``),
``REPORTED_AS`` the table columns that report a metric under a name of their own; ``check_maps`` / ``check_masks``
/ ``has_evidence`` check what the metrics take, ``_rank`` orders a map's pixels (ties at random, seeded). Importable
from ``caelib.evaluate``, the one home of the metrics.
"""

from __future__ import annotations

import torch

__all__ = ["HIGHER_IS_BETTER", "REPORTED_AS", "higher_is_better", "check_maps", "check_masks", "has_evidence"]

HIGHER_IS_BETTER: dict[str, bool] = {}   # metric function's __name__ -> True (higher is better) / False (lower)
# table columns (``scoring.score``, benchmarks/saliency.py) that report a metric under a key of their own -> the
# metric's __name__
REPORTED_AS = {"randomisation_similarity": "cascading_randomisation", "randomisation_top": "cascading_randomisation",
               "randomisation_all": "cascading_randomisation", "ms_per_image": "time_per_image"}


def _direction(*, higher: bool):
    """Register a metric's direction in ``HIGHER_IS_BETTER`` under the function's ``__name__``, and as its
    ``higher_is_better``."""
    def mark(fn):
        HIGHER_IS_BETTER[fn.__name__] = fn.higher_is_better = higher
        return fn
    return mark


def higher_is_better(key: str) -> bool | None:
    """The direction of a metric (``HIGHER_IS_BETTER``, by function name) or of a table column that reports one
    (``REPORTED_AS``: ``randomisation_top`` / ``randomisation_all`` for ``cascading_randomisation``, ``ms_per_image``
    for ``time_per_image``, both lower is better); None for a column without a direction, such as ``mask_mass``'s
    ``mass_<region>`` columns. The one place tables and benchmarks read directions."""
    return HIGHER_IS_BETTER.get(REPORTED_AS.get(key, key))


# ---- input checks ----------------------------------------------------------------------------------------

def check_maps(maps: torch.Tensor, what: str = "maps") -> torch.Tensor:
    """Maps must be a finite float tensor (B, 1, H, W); returns it as float32, else raises ValueError."""
    if not torch.is_tensor(maps) or not maps.is_floating_point():
        got = f"a {maps.dtype} tensor" if torch.is_tensor(maps) else type(maps).__name__
        raise ValueError(f"expected {what} as a float tensor (B, 1, H, W), got {got}")
    if maps.ndim != 4 or maps.shape[1] != 1:
        hint = ("add the channel axis with maps.unsqueeze(1)" if maps.ndim == 3 else
                "reduce the channels with caelib.saliency.to_map(attributions)" if maps.ndim == 4 else
                "reshape to (B, 1, H, W)")
        raise ValueError(f"expected {what} of shape (B, 1, H, W), got {tuple(maps.shape)}; {hint}")
    if not torch.isfinite(maps).all():
        raise ValueError(f"{what} contain NaN or inf values; check the saliency method's output")
    return maps.detach().float()


def check_masks(masks: torch.Tensor, maps: torch.Tensor, *, nonempty: bool = True) -> torch.Tensor:
    """Masks must be (B, 1, H, W) in {0, 1}, with the maps' batch and size, and (with ``nonempty``) hold at
    least one and not all pixels; returns them as float32, else raises ValueError."""
    if not torch.is_tensor(masks) or masks.ndim != 4 or masks.shape[1] != 1:
        got = tuple(masks.shape) if torch.is_tensor(masks) else type(masks).__name__
        raise ValueError(f"expected evidence masks (B, 1, H, W) in {{0, 1}}, got {got}")
    if masks.shape[0] != maps.shape[0] or masks.shape[-2:] != maps.shape[-2:]:
        raise ValueError(f"maps {tuple(maps.shape)} and masks {tuple(masks.shape)} need the same batch and size; "
                         "resize the maps to the images (saliency.explain does) or pass the masks of these images")
    m = masks.detach().float()
    if not torch.isfinite(m).all() or ((m != 0) & (m != 1)).any():
        raise ValueError("masks must hold only 0 and 1; binarise them, e.g. (masks > 0.5).float()")
    if nonempty:
        area = m.flatten(1).sum(1)
        bad = ((area == 0) | (area == m.shape[1:].numel())).nonzero().flatten()
        if len(bad):
            raise ValueError(f"mask {int(bad[0])} is empty or covers the whole image: localisation is undefined "
                             "there; keep the images with evidence, keep = caelib.evaluate.has_evidence(masks)")
    return m


def has_evidence(masks: torch.Tensor) -> torch.Tensor:
    """(B,) bool: the masks (B, 1, H, W) with at least one and not all pixels set (localisation needs both)."""
    area = masks.flatten(1).gt(0).sum(1)
    return (area > 0) & (area < masks.shape[1:].numel())


def _rank(flat: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """(B, N) each pixel's place when the values ``flat`` (B, N) are sorted in decreasing order (0 = the
    largest); ties in random (seeded) order rather than row by row."""
    perm = torch.randperm(flat.shape[1], generator=torch.Generator().manual_seed(seed))
    order = perm[flat[:, perm].argsort(dim=1, descending=True, stable=True)]        # (B, N) pixel indices
    return torch.empty_like(order).scatter_(1, order, torch.arange(flat.shape[1]).expand_as(order))
