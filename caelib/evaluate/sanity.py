"""Checks of a saliency method itself: does it depend on the model (cascading randomisation), and what it costs.

``cascading_randomisation`` (Adebayo et al., "Sanity checks for saliency maps", NeurIPS 2018) with ``spearman``
and ``randomisable_layers``; ``time_per_image``. Both lower is better. Importable from ``caelib.evaluate``.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ..conventions import target_classes
from .common import _direction, check_maps

__all__ = ["spearman", "randomisable_layers", "Randomisation", "cascading_randomisation", "time_per_image"]


def spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman rank correlation (B,) between maps ``a`` and ``b`` (B, ...) image by image, ties by average
    rank. Where a map is constant: 1 if both are the same constant map, else 0 (no shared ranking)."""
    from scipy.stats import rankdata

    fa, fb = a.detach().flatten(1).double().cpu(), b.detach().flatten(1).double().cpu()
    ra = torch.from_numpy(rankdata(fa.numpy(), axis=1))
    rb = torch.from_numpy(rankdata(fb.numpy(), axis=1))
    ra, rb = ra - ra.mean(1, keepdim=True), rb - rb.mean(1, keepdim=True)
    den = (ra.norm(dim=1) * rb.norm(dim=1))
    rho = (ra * rb).sum(1) / den.clamp_min(1e-30)
    flat = den == 0
    same = (fa == fb).all(1)
    return torch.where(flat, same.double(), rho).float()


def randomisable_layers(model: nn.Module) -> list[str]:
    """Names of the layers with weights (convolutions, linear layers: a weight of >= 2 dimensions), from the
    output down to the input (the order of cascading randomisation). Normalisation layers are kept."""
    names = [name for name, m in model.named_modules()
             if hasattr(m, "reset_parameters") and getattr(m, "weight", None) is not None and m.weight.ndim >= 2]
    return names[::-1]


@dataclass
class Randomisation:
    """Result of ``cascading_randomisation``: ``layers`` [L] randomised in this order (cumulatively) and
    ``similarity`` (L, B): the Spearman correlation of each image's map after randomising layers 1..l with
    its map on the trained model, with its sign. ``top`` and ``full`` give its absolute value, the measure
    of the check (lower is better, 0 = unrelated maps): a map whose ranking turns over (a randomised output
    layer can swap the sign of the evidence) still follows the same image structure."""

    layers: list[str]
    similarity: torch.Tensor

    @property
    def top(self) -> torch.Tensor:
        """(B,) |similarity| after randomising only the top (output) layer."""
        return self.similarity[0].abs()

    @property
    def full(self) -> torch.Tensor:
        """(B,) |similarity| after randomising every layer."""
        return self.similarity[-1].abs()


@_direction(higher=False)
def cascading_randomisation(explain: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor],
                            classifier: nn.Module, x: torch.Tensor, target=None, *, seed: int = 0,
                            layers: list[str] | None = None) -> Randomisation:
    """Cascading model-parameter randomisation (Adebayo et al., NeurIPS 2018): copy the black box
    (``copy.deepcopy``; the original is untouched), re-initialise its weight layers from the top (output)
    down one more at a time (``randomisable_layers``, or the names in ``layers``; each layer's own
    ``reset_parameters`` under seed ``seed``), recompute the maps with ``explain(model, x, target)`` ->
    (B, 1, H, W) after each, and compare them with the maps of the trained model (``spearman``). The
    target stays the trained model's (None: its decision). A method that passes the check gives maps
    that change (|similarity| falls towards 0); a map that ignores the model keeps similarity 1. A map that
    becomes constant (e.g. GradCAM or LIME with nothing positive left) scores 0 (see ``spearman``)."""
    if not isinstance(classifier, nn.Module):
        raise ValueError(f"cascading randomisation re-initialises layers: it needs an nn.Module, got "
                         f"{type(classifier).__name__}")
    t = target_classes(classifier, x, target)
    base = check_maps(explain(classifier, x, t), "maps of the trained model")
    model = copy.deepcopy(classifier)
    layers = randomisable_layers(model) if layers is None else list(layers)
    if not layers:
        raise ValueError("the black box has no layer with weights to randomise")
    sims = []
    with torch.random.fork_rng(devices=[]):
        for i, name in enumerate(layers):
            torch.manual_seed(seed + i)
            model.get_submodule(name).reset_parameters()
            sims.append(spearman(base, check_maps(explain(model, x, t), f"maps after randomising {name}")))
    return Randomisation(layers, torch.stack(sims))


# ---- cost ------------------------------------------------------------------------------------------------

@_direction(higher=False)
def time_per_image(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, repeats: int = 1):
    """Wall-clock milliseconds per image of ``fn(x)`` on the batch ``x`` (lower is better), the best of
    ``repeats`` runs; returns (ms per image, the last output)."""
    best, out = float("inf"), None
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        out = fn(x)
        best = min(best, time.perf_counter() - t0)
    return 1000 * best / max(1, len(x)), out
