"""The swap itself: decode one image's individual code with another image's class code (pairs, grids, changes).

A good swap keeps the look of the individual-code donor and takes the class of the class-code donor:
the black box should then assign the swap to the donor's class (the *flip rate*). Taught in
``notebooks/03_swapping.ipynb``. The measures of swaps live in ``caelib.swap_quality`` (``quality_report``, flip
rates), the guards of a trained CAE in ``caelib.verdict`` (``verdict``), the chunked ``encode_all`` /
``decode_all`` in ``caelib.codes``; all are re-exported here, so ``caelib.swap.X`` keeps working.
After Xie et al., "Class Association Embedding", ICDE 2024.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .cae import CAE
from .classifier import predict_proba
from .codes import decode_all, encode_all
from .conventions import Classifier, dilate, evaluating  # noqa: F401  (swap.dilate: notebook 03)
from .swap_quality import (
    QUALITY_MEANINGS,
    class_code_effect,
    flip_rates,
    localisation_ratio,
    quality_report,
    quality_table,
    reconstruction_report,
    same_class_swap_error,
    swap_confusion,
    swap_confusion_matrix,
)
from .verdict import VERDICT_BARS, Guard, Verdict, rates_on, verdict

__all__ = [
    # the swap itself (here)
    "swap", "check_swap_pair", "swap_grid", "difference_map", "SwapResult", "explain_swap",
    # images to codes and back in chunks (caelib.codes)
    "encode_all", "decode_all",
    # how good the swaps are (caelib.swap_quality)
    "swap_confusion", "flip_rates", "reconstruction_report", "same_class_swap_error", "class_code_effect",
    "localisation_ratio", "quality_report", "swap_confusion_matrix", "QUALITY_MEANINGS", "quality_table",
    # the guards of a trained CAE (caelib.verdict)
    "VERDICT_BARS", "Guard", "Verdict", "rates_on", "verdict",
]


@torch.no_grad()
def swap(cae: CAE, x_indiv: torch.Tensor, x_class: torch.Tensor) -> torch.Tensor:
    """Swaps of two equally long batches: image i = indiv code of ``x_indiv[i]`` + class code of
    ``x_class[i]``, (B, C, H, W) in [-1, 1]."""
    check_swap_pair(x_indiv, x_class)
    _, indiv = encode_all(cae, x_indiv)
    cls, _ = encode_all(cae, x_class)
    return decode_all(cae, indiv, cls)


def check_swap_pair(x_indiv: torch.Tensor, x_class: torch.Tensor, *, same_length: bool = True) -> None:
    """Raise a ``ValueError`` that says what to do unless the individual-code donors ``x_indiv`` and the
    class-code donors ``x_class`` are image batches (B, C, H, W) of one image size and channel count and,
    with ``same_length``, of one length (pairwise swaps need one class-code donor per image)."""
    for what, x in (("individual-code donors", x_indiv), ("class-code donors", x_class)):
        if not torch.is_tensor(x) or x.ndim != 4:
            got = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
            raise ValueError(f"expected the {what} as a batch of images (B, C, H, W), got {got}; "
                             "add a batch dimension with x.unsqueeze(0) for one image")
    if x_indiv.shape[1:] != x_class.shape[1:]:
        raise ValueError(f"cannot swap images of different sizes: the individual-code donors are "
                         f"{tuple(x_indiv.shape[1:])} (C, H, W) and the class-code donors "
                         f"{tuple(x_class.shape[1:])}; both need the same shape, the one the CAE was built for")
    if same_length and len(x_indiv) != len(x_class):
        raise ValueError(f"swap needs two batches of the same shape: got {len(x_indiv)} individual-code donors "
                         f"and {len(x_class)} class-code donors; pass one class-code donor per image "
                         "(or use swap_grid for every combination)")


# ---- grids and difference maps (notebook 03) ----------------------------------------------------------

@torch.no_grad()
def swap_grid(cae: CAE, x_indiv: torch.Tensor, x_class: torch.Tensor) -> torch.Tensor:
    """Every combination, as in the paper's swap figures: ``grid[r, c]`` decodes the individual code of
    ``x_indiv[c]`` (a row of N images along the top) with the class code of ``x_class[r]`` (a column of M
    images down the side). (N, C, H, W) and (M, C, H, W) in [-1, 1] -> (M, N, C, H, W) in [-1, 1].
    One batched decode of M * N images. Taught in notebook 03 (Xie et al., ICDE 2024, Fig. of swaps)."""
    check_swap_pair(x_indiv, x_class, same_length=False)
    cls, _ = encode_all(cae, x_class)        # (M, D)
    _, indiv = encode_all(cae, x_indiv)      # (N, Ci, h, w)
    m, n = len(cls), len(indiv)
    out = decode_all(cae, indiv.repeat(m, 1, 1, 1), cls.repeat_interleave(n, dim=0))  # (M * N, C, H, W)
    return out.reshape(m, n, *out.shape[1:])


def difference_map(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-pixel change |x - y|, averaged over channels: (B, C, H, W) twice -> (B, 1, H, W) in [0, 2]
    (images in [-1, 1]). Zero where nothing changed."""
    if x.shape != y.shape:
        raise ValueError(f"difference_map needs two batches of the same shape, got {tuple(x.shape)} and "
                         f"{tuple(y.shape)}")
    return (x - y).abs().mean(1, keepdim=True)


@dataclass
class SwapResult:
    """One batch of swaps and what they change (all on the [-1, 1] scale, B = batch size).

    ``swap`` (B, C, H, W): individual code of ``x_indiv`` + class code of ``x_class``;
    ``reconstruction`` (B, C, H, W): ``x_indiv`` rebuilt from its own two codes;
    ``change`` (B, 1, H, W): |swap - reconstruction|, what the class code alone changes (the
    reconstruction error cancels out); ``change_vs_input`` (B, 1, H, W): |swap - x_indiv|;
    ``probs`` (B, K): the black box's class probabilities on the swaps (rows sum to 1)."""

    swap: torch.Tensor
    reconstruction: torch.Tensor
    change: torch.Tensor
    change_vs_input: torch.Tensor
    probs: torch.Tensor


@torch.no_grad()
def explain_swap(cae: CAE, classifier: Classifier, x_indiv: torch.Tensor, x_class: torch.Tensor) -> SwapResult:
    """Swap pairwise (image i = indiv code of ``x_indiv[i]`` + class code of ``x_class[i]``; two batches
    (B, C, H, W) in [-1, 1] of one length) and measure what changes and what the black box says.
    Backs notebook 03's difference maps and ``widgets.SwapExplorer``."""
    check_swap_pair(x_indiv, x_class)
    cls_own, indiv = encode_all(cae, x_indiv)
    cls_donor, _ = encode_all(cae, x_class)
    both = decode_all(cae, torch.cat([indiv, indiv]), torch.cat([cls_donor, cls_own]))  # (2B, C, H, W)
    swapped, rec = both.split(len(x_indiv))
    return SwapResult(swap=swapped, reconstruction=rec, change=difference_map(swapped, rec),
                      change_vs_input=difference_map(swapped, x_indiv), probs=predict_proba(classifier, swapped))
