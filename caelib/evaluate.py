"""How good is a saliency map? Metrics on whole batches, each with its direction (``HIGHER_IS_BETTER``).

Maps are (B, 1, H, W) >= 0 (``caelib.saliency.explain`` makes them), higher = more important; evidence
masks are (B, 1, H, W) in {0, 1}; images (B, C, H, W) in [-1, 1]. Every metric returns one value per
image, (B,) float32, so that a table can give a mean and an interval (``mean_ci``). One call shape per kind:
localisation metrics take ``(maps, masks)``, faithfulness metrics ``(classifier, x, maps, target=None, ...)``; the
sanity check takes the method (``explain(model, x, target)``) instead of maps, since it recomputes them.

- Localisation against evidence masks (only images with evidence: ``has_evidence``):
  ``pointing_game`` (Zhang et al., "Top-down neural attention by excitation backprop", ECCV 2016),
  ``mask_auroc`` (the map as a pixel classifier of the mask), ``topk_iou`` (the map's top k pixels,
  k = mask area, against the mask) and ``relevance_mass`` (Arras et al., "CLEVR-XAI", Information
  Fusion 2022). ``mask_mass``: where a map's |mass| lies, for any region (no direction; notebook 07).
- Faithfulness to the black box: ``deletion_curve`` / ``insertion_curve`` and their areas (Petsiuk et al.,
  "RISE", BMVC 2018) and ``aopc`` (Samek et al., "Evaluating the visualization of what a deep neural
  network has learned", IEEE TNNLS 2017). A removed pixel becomes ``conventions.DEFAULT_REPLACEMENT``, the
  image blurred with a Gaussian of 4 pixels, unless ``baseline=`` says otherwise: mid-grey draws a lesion of
  its own on the lesion images (see ``deletion_curve``); on mnist the black background (-1) is the natural
  choice (``benchmarks/saliency.py`` uses it there).
- Sanity: ``cascading_randomisation`` (Adebayo et al., "Sanity checks for saliency maps", NeurIPS 2018).
- Cost: ``time_per_image``.

This module is the one home of the metrics (the pointing game of notebooks 05 and 10 included);
``higher_is_better`` is the one place tables read a metric's direction (``HIGHER_IS_BETTER`` by function name,
``REPORTED_AS`` for the table columns that report a metric under a name of their own). Taught in notebook 06;
measured in ``benchmarks/saliency.py``.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from .classifier import predict_proba
from .conventions import DEFAULT_REPLACEMENT, Classifier, dilate, replacement, target_classes
from .data import check_images

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


# ---- localisation ----------------------------------------------------------------------------------------

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


def _rank(flat: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """(B, N) each pixel's place when the values ``flat`` (B, N) are sorted in decreasing order (0 = the
    largest); ties in random (seeded) order rather than row by row."""
    perm = torch.randperm(flat.shape[1], generator=torch.Generator().manual_seed(seed))
    order = perm[flat[:, perm].argsort(dim=1, descending=True, stable=True)]        # (B, N) pixel indices
    return torch.empty_like(order).scatter_(1, order, torch.arange(flat.shape[1]).expand_as(order))


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


# ---- faithfulness: deletion, insertion, AOPC -------------------------------------------------------------

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


# ---- sanity: cascading model-parameter randomisation -----------------------------------------------------

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


# ---- cost, and summaries ---------------------------------------------------------------------------------

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


def mean_ci(values, level: float = 0.95, n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """(mean, low, high): the mean over images and its percentile-bootstrap ``level`` interval (``n_boot``
    resamples, seeded); NaN values are left out."""
    v = np.asarray(torch.as_tensor(values).detach().cpu().double().numpy()).ravel()
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), (n_boot, len(v)))].mean(1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(v.mean()), float(lo), float(hi)


__all__ = ["HIGHER_IS_BETTER", "REPORTED_AS", "higher_is_better", "LOCALISATION", "check_maps", "check_masks",
           "has_evidence", "pointing_game", "mask_auroc", "topk_iou", "relevance_mass", "mask_mass", "localisation",
           "Curve", "deletion_curve", "insertion_curve", "deletion_auc", "insertion_auc", "aopc", "faithfulness",
           "spearman", "randomisable_layers", "Randomisation", "cascading_randomisation", "time_per_image", "mean_ci"]
