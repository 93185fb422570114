"""Code swapping: decode one image's individual code with another image's class code, and measure it.

A good swap keeps the look of the individual-code donor and takes the class of the class-code donor:
the black box should then assign the swap to the donor's class (the *flip rate*). Taught in
``notebooks/03_swapping.ipynb``; the metrics here also back the quality bars of ``data/README.md``.
After Xie et al., "Class Association Embedding", ICDE 2024.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .cae import CAE
from .classifier import predict_proba

Classifier = Callable[[torch.Tensor], torch.Tensor]


@torch.no_grad()
def encode_all(cae: CAE, x: torch.Tensor, batch_size: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """Encode a large batch in chunks: (N, C, H, W) -> (class codes (N, D), individual codes (N, ...))."""
    cae.eval()
    parts = [cae.encode(xb) for xb in x.split(batch_size)]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


@torch.no_grad()
def decode_all(cae: CAE, indiv_code: torch.Tensor, class_code: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Decode in chunks: (N, ...) individual codes and (N, D) class codes -> (N, C, H, W)."""
    cae.eval()
    return torch.cat([cae.decode(i, s) for i, s in zip(indiv_code.split(batch_size), class_code.split(batch_size))])


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


def _pairs(labels: torch.Tensor, a: int, b: int, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    ia, ib = (labels == a).nonzero().flatten(), (labels == b).nonzero().flatten()
    m = min(n, len(ia))
    return ia[torch.randperm(len(ia), generator=gen)[:m]], ib[torch.randint(len(ib), (m,), generator=gen)]


@torch.no_grad()
def swap_confusion(cae: CAE, classifier: Classifier, images: torch.Tensor, labels: torch.Tensor, *,
                   n_per_pair: int = 200, seed: int = 0) -> np.ndarray:
    """Black-box decisions on swaps. Entry [a, b, p] (K, K, K) = fraction of swaps with an individual code
    of class a and a class code of class b that the black box assigns to class p. The diagonal pairs
    (a == b) are same-class swaps. Rows sum to 1 over p."""
    k = int(labels.max()) + 1
    gen = torch.Generator().manual_seed(seed)
    out = np.zeros((k, k, k))
    cls_codes, indiv_codes = encode_all(cae, images)
    pairs = [_pairs(labels, a, b, n_per_pair, gen) for a in range(k) for b in range(k)]
    ia, ib = torch.cat([p[0] for p in pairs]), torch.cat([p[1] for p in pairs])
    # one batched decode and one black-box call for all K * K pairs (many small batches are slow on a CPU)
    pred = predict_proba(classifier, decode_all(cae, indiv_codes[ia], cls_codes[ib])).argmax(1)
    for (a, b), part in zip([(a, b) for a in range(k) for b in range(k)], pred.split([len(p[0]) for p in pairs])):
        out[a, b] = np.bincount(part.numpy(), minlength=k)[:k] / len(part)
    return out


def flip_rates(confusion: np.ndarray) -> dict:
    """From ``swap_confusion``: the flip rate of each ordered class pair a -> b (a != b; higher is better:
    the fraction of swaps the black box gives the class-code donor's class), their mean and worst, and
    the same-class agreement (a == b)."""
    k = confusion.shape[0]
    per_pair = {(a, b): float(confusion[a, b, b]) for a in range(k) for b in range(k) if a != b}
    return {"mean": float(np.mean(list(per_pair.values()))), "worst": float(min(per_pair.values())),
            "per_pair": per_pair, "same_class": float(np.mean([confusion[a, a, a] for a in range(k)]))}


@torch.no_grad()
def reconstruction_report(cae: CAE, classifier: Classifier, images: torch.Tensor, labels: torch.Tensor) -> dict:
    """Reconstruction guards: mean |decode(encode(x)) - x| on the [-1, 1] scale (lower is better) and the
    black box's accuracy on the reconstructions (higher is better; >= 0.95 means the class survives)."""
    cls, indiv = encode_all(cae, images)
    rec = decode_all(cae, indiv, cls)
    correct = int((predict_proba(classifier, rec).argmax(1) == labels).sum())
    # an exact ratio: float32's mean of 950 hits in 1000 is 0.94999999, which a ">= 0.95" bar would refuse
    return {"recon_error": float((rec - images).abs().mean()), "recon_accuracy": correct / len(labels)}


@torch.no_grad()
def same_class_swap_error(cae: CAE, images: torch.Tensor, labels: torch.Tensor, seed: int = 0) -> float:
    """Mean |swap - x| when the class code comes from another image of the same class (lower is better:
    class codes of one class are interchangeable)."""
    gen = torch.Generator().manual_seed(seed)
    cls, indiv = encode_all(cae, images)
    partner = torch.empty_like(labels)
    for k in labels.unique():
        idx = (labels == k).nonzero().flatten()
        partner[idx] = idx[torch.randperm(len(idx), generator=gen)]
    return float((decode_all(cae, indiv, cls[partner]) - images).abs().mean())


@torch.no_grad()
def class_code_effect(cae: CAE, images: torch.Tensor, labels: torch.Tensor, seed: int = 0) -> float:
    """Mean |decode(c_a, s_b) - decode(c_a, s_a)| over cross-class pairs: how much the class code changes
    the output (0 would mean the decoder ignores it: a collapsed CAE)."""
    gen = torch.Generator().manual_seed(seed)
    cls, indiv = encode_all(cae, images)
    partner = torch.randperm(len(labels), generator=gen)
    cross = labels != labels[partner]
    a, b = cross.nonzero().flatten(), partner[cross]
    return float((decode_all(cae, indiv[a], cls[b]) - decode_all(cae, indiv[a], cls[a])).abs().mean())


def dilate(mask: torch.Tensor, pixels: int = 1) -> torch.Tensor:
    """Grow a binary mask (B, 1, H, W) by ``pixels`` in every direction (max-pooling)."""
    return F.max_pool2d(mask.float(), 2 * pixels + 1, stride=1, padding=pixels) if pixels > 0 else mask.float()


@torch.no_grad()
def localisation_ratio(cae: CAE, images: torch.Tensor, labels: torch.Tensor, masks: torch.Tensor, *,
                       normal_class: int = 0, dilation: int = 1, n: int = 500, seed: int = 0) -> dict:
    """Where does a swap to the normal class change the image? For images with evidence (label !=
    ``normal_class``), swap in the class code of a random normal image and compare the result with the
    image's own reconstruction (the change the class code causes, without the reconstruction error).

    Returns ``ratio`` = mean |change| inside the evidence mask (dilated by ``dilation`` px) / mean |change|
    outside (higher is better) and ``ratio_vs_input``, the same with the change measured against the
    input image instead of the reconstruction."""
    gen = torch.Generator().manual_seed(seed)
    sick = (labels != normal_class).nonzero().flatten()
    sick = sick[torch.randperm(len(sick), generator=gen)[:n]]
    normal = (labels == normal_class).nonzero().flatten()
    donors = normal[torch.randint(len(normal), (len(sick),), generator=gen)]
    cls, indiv = encode_all(cae, images[sick])
    cls_n, _ = encode_all(cae, images[donors])
    rec, sw = decode_all(cae, indiv, cls), decode_all(cae, indiv, cls_n)
    m = dilate(masks[sick], dilation) > 0

    def ratio(change):
        change = change.abs().mean(1, keepdim=True)
        return float(change[m].mean() / change[~m].mean().clamp_min(1e-8))
    return {"ratio": ratio(sw - rec), "ratio_vs_input": ratio(sw - images[sick])}


def quality_report(cae: CAE, classifier: Classifier, test, train=None, *, n: int = 1000, seed: int = 0) -> dict:
    """Every quality bar of a trained CAE on held-out data (see ``data/README.md``): flip rates (mean,
    worst and per ordered class pair), same-class agreement, reconstruction error and the black box's
    accuracy on reconstructions, same-class swap error, the class code's effect, the localisation
    ratio (datasets with masks) and the 5-NN accuracy of class codes (with ``train`` given)."""
    from sklearn.neighbors import KNeighborsClassifier

    x, y = test.images[:n], test.labels[:n]
    rates = flip_rates(swap_confusion(cae, classifier, x, y, n_per_pair=200, seed=seed))
    report = {"flip_mean": rates["mean"], "flip_worst": rates["worst"], "same_class_agreement": rates["same_class"],
              "flip_per_pair": {f"{a}->{b}": v for (a, b), v in rates["per_pair"].items()},
              **reconstruction_report(cae, classifier, x, y),
              "same_class_swap_error": same_class_swap_error(cae, x, y, seed),
              "class_code_effect": class_code_effect(cae, x, y, seed)}
    if getattr(test, "masks", None) is not None:
        loc = localisation_ratio(cae, x, y, test.masks[:n], seed=seed)
        report["localisation_ratio"], report["localisation_ratio_vs_input"] = loc["ratio"], loc["ratio_vs_input"]
    if train is not None:
        codes_train, _ = encode_all(cae, train.images[:4000])
        codes_test, _ = encode_all(cae, x)
        knn = KNeighborsClassifier(5).fit(codes_train.numpy(), train.labels[:4000].numpy())
        report["knn5_class_code"] = float(knn.score(codes_test.numpy(), y.numpy()))
    return report


# ---- grids, difference maps and the confusion over swaps (notebook 03) --------------------------------

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


def swap_confusion_matrix(confusion: np.ndarray, *, include_same_class: bool = False) -> np.ndarray:
    """From ``swap_confusion`` (K, K, K): the black box's confusion over swaps, (K, K) with rows = the
    class-code donor's class b and columns = the predicted class p, averaged over the individual-code
    classes a (a != b unless ``include_same_class``). Rows sum to 1; a perfect CAE gives the identity
    (the diagonal is the flip rate into each class; higher is better)."""
    k = confusion.shape[0]
    keep = np.ones((k, k), bool) if include_same_class else ~np.eye(k, dtype=bool)  # [a, b]
    weights = keep[:, :, None].astype(float)
    return (confusion * weights).sum(0) / weights.sum(0)
