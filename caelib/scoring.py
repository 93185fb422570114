"""Scoring saliency maps into the rows of a comparison table, and the table in Markdown (notebook 07).

``captum_explainer`` / ``cae_explainer`` fix a method and its baseline (or CAE and reference rule) as a
``(model, x, target) -> maps`` function; ``score`` computes its maps and their metrics (``caelib.evaluate``)
on a batch, one row per (method, baseline); ``markdown_table`` renders the rows, the best of each column
with a direction in bold. The tables of notebook 07 and ``benchmarks/baselines.py``.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from . import evaluate as ev
from .conventions import DEFAULT_REPLACEMENT
from .evaluate import higher_is_better, mask_mass
from .saliency import explain

__all__ = ["Explain", "captum_explainer", "cae_explainer", "score", "COLUMN_TITLES", "markdown_table"]

Explain = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]   # (model, x, target) -> maps


def captum_explainer(method: str, baseline, **options) -> Explain:
    """``(model, x, target) -> maps`` for a Captum method of ``caelib.saliency`` with a fixed ``baseline`` (a
    ``CounterfactualBaseline`` keeps the black box it was built with: under cascading randomisation the
    baseline stays the same image and only the model changes)."""
    return lambda model, x, t: explain(method, model, x, t, baseline=baseline, **options)


def cae_explainer(method: str, cae, reference, **options) -> Explain:
    """``(model, x, target) -> maps`` for a CAE method of ``caelib.saliency`` (``cae-path`` ...)."""
    return lambda model, x, t: explain(method, model, x, t, cae=cae, reference=reference, **options)


def score(explainer: Explain, classifier: nn.Module, x: torch.Tensor, target: torch.Tensor, *,
          masks: torch.Tensor | None = None, regions: dict[str, torch.Tensor] | None = None,
          eval_baseline=DEFAULT_REPLACEMENT, steps: int = 16, n_random: int = 0, seed: int = 0,
          batch: int = 64) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Maps of ``x`` by ``explainer`` and their scores: (``{metric: (B,) values}``, maps (B, 1, H, W)).

    Metrics (``caelib.evaluate``): localisation against ``masks`` (pointing game, mask AUROC, top-k IoU,
    relevance mass); ``mass_<region>`` (``mask_mass``) for each mask of ``regions`` (e.g. ``marker``,
    ``lesion``); deletion / insertion areas and AOPC with removed pixels replaced by ``eval_baseline`` (the
    same for every row, whatever the method's own baseline); and, on the first ``n_random`` images,
    ``randomisation_top`` / ``randomisation_all`` (|Spearman| after randomising the top / all layers of the
    black box; lower is better; (n_random,) values)."""
    maps = torch.cat([explainer(classifier, xb, tb) for xb, tb in zip(x.split(batch), target.split(batch))])
    out: dict[str, torch.Tensor] = {}
    if masks is not None:
        out.update(ev.localisation(maps, masks))
    for name, region in (regions or {}).items():
        out[f"mass_{name}"] = mask_mass(maps, region)
    out.update(ev.faithfulness(classifier, x, maps, target, steps=steps, baseline=eval_baseline, seed=seed))
    if n_random:
        r = ev.cascading_randomisation(explainer, classifier, x[:n_random], target[:n_random], seed=seed)
        out["randomisation_top"], out["randomisation_all"] = r.top, r.full
    return out, maps


COLUMN_TITLES = {"pointing_game": "pointing game", "mask_auroc": "mask AUROC", "topk_iou": "top-k IoU",
                 "relevance_mass": "relevance mass", "mass_marker": "mass on marker",
                 "mass_lesion": "mass on lesion", "deletion_auc": "deletion AUC", "insertion_auc": "insertion AUC",
                 "aopc": "AOPC", "randomisation_top": "rand. ρ top", "randomisation_all": "rand. ρ all"}
# (no "|" in a title: inside a Markdown table a bare "|ρ|" splits the header into extra columns)


def markdown_table(rows: dict[tuple[str, str], dict[str, torch.Tensor]], *, metrics: list[str] | None = None,
                   interval: bool = False, seed: int = 0) -> str:
    """A Markdown table of ``{(method, baseline): scores}`` (``score``'s first value): the mean per metric
    (``metrics``: these columns, in this order; default all), with ``interval`` its 95% bootstrap interval
    (``caelib.evaluate.mean_ci``), the best of each column with a direction in bold."""
    metrics = metrics or list(dict.fromkeys(k for s in rows.values() for k in s))
    cell: dict[tuple, tuple[float, float, float]] = {}
    for key, s in rows.items():
        for m in metrics:
            v = s.get(m)
            if v is not None and torch.isfinite(v).any():
                cell[key, m] = ev.mean_ci(v[torch.isfinite(v)], seed=seed) if interval else (
                    float(v[torch.isfinite(v)].mean()), float("nan"), float("nan"))
    arrow = {True: " ↑", False: " ↓", None: ""}
    lines = ["| method | baseline | " + " | ".join(COLUMN_TITLES.get(m, m) + arrow[higher_is_better(m)]
                                                 for m in metrics) + " |",
             "|---|---|" + "---|" * len(metrics)]
    best = {}
    for m in metrics:
        up = higher_is_better(m)
        vals = [cell[k, m][0] for k in rows if (k, m) in cell]
        if up is not None and vals:
            best[m] = max(vals) if up else min(vals)
    for key in rows:
        parts = []
        for m in metrics:
            if (key, m) not in cell:
                parts.append("–")
                continue
            mean, lo, hi = cell[key, m]
            txt = f"{mean:.3f}" + (f" [{lo:.3f}, {hi:.3f}]" if interval else "")
            parts.append(f"**{txt}**" if m in best and abs(mean - best[m]) < 5e-4 else txt)
        lines.append(f"| {key[0]} | {key[1]} | " + " | ".join(parts) + " |")
    return "\n".join(lines)
