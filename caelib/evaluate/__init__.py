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

Each kind is written in a module of its own and imported from here (``caelib.evaluate.X``): the directions and
input checks in ``evaluate.common``, localisation in ``evaluate.localisation``, faithfulness in
``evaluate.faithfulness``, the sanity check and the cost in ``evaluate.sanity``; ``mean_ci`` is here.
"""

from __future__ import annotations

import numpy as np
import torch

from .common import HIGHER_IS_BETTER, REPORTED_AS, check_maps, check_masks, has_evidence, higher_is_better
from .faithfulness import (
    Curve,
    aopc,
    deletion_auc,
    deletion_curve,
    faithfulness,
    insertion_auc,
    insertion_curve,
)
from .localisation import (
    LOCALISATION,
    localisation,
    mask_auroc,
    mask_mass,
    pointing_game,
    relevance_mass,
    topk_iou,
)
from .sanity import Randomisation, cascading_randomisation, randomisable_layers, spearman, time_per_image


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
