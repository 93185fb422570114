"""How good a CAE's swaps are: flip rates, reconstruction, the class code's effect, localisation (``quality_report``).

A good swap keeps the look of the individual-code donor and takes the class of the class-code donor: the black
box should then assign the swap to the donor's class (the *flip rate*). These measures back the quality bars of
``data/README.md`` and the guards of ``caelib.verdict``; taught in notebooks 02 and 03. Importable from
``caelib.swap`` too. After Xie et al., "Class Association Embedding", ICDE 2024.
"""

from __future__ import annotations

import numpy as np
import torch

from .cae import CAE
from .classifier import predict_proba
from .codes import decode_all, encode_all
from .conventions import Classifier, dilate

__all__ = ["swap_confusion", "flip_rates", "reconstruction_report", "same_class_swap_error", "class_code_effect",
           "localisation_ratio", "quality_report", "swap_confusion_matrix", "QUALITY_MEANINGS", "quality_table"]


def _pairs(labels: torch.Tensor, a: int, b: int, n: int, gen: torch.Generator,
           donors: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    ia = (labels == a).nonzero().flatten()
    ib = ((labels == b) if donors is None else (labels == b) & donors).nonzero().flatten()
    if len(ib) == 0:   # no class-code donors of class b (a NaN pair)
        return ia[:0], ib
    m = min(n, len(ia))
    return ia[torch.randperm(len(ia), generator=gen)[:m]], ib[torch.randint(len(ib), (m,), generator=gen)]


@torch.no_grad()
def swap_confusion(cae: CAE, classifier: Classifier, images: torch.Tensor, labels: torch.Tensor, *,
                   n_per_pair: int = 200, seed: int = 0, donors: torch.Tensor | None = None) -> np.ndarray:
    """Black-box decisions on swaps. Entry [a, b, p] (K, K, K) = fraction of swaps with an individual code
    of class a and a class code of class b that the black box assigns to class p. The diagonal pairs
    (a == b) are same-class swaps. Rows sum to 1 over p. ``donors`` (N,) bool: only these images give
    class codes (e.g. those the black box classifies correctly); a pair without donors is NaN."""
    k = int(labels.max()) + 1
    gen = torch.Generator().manual_seed(seed)
    out = np.zeros((k, k, k))
    cls_codes, indiv_codes = encode_all(cae, images)
    pairs = [_pairs(labels, a, b, n_per_pair, gen, donors) for a in range(k) for b in range(k)]
    ia, ib = torch.cat([p[0] for p in pairs]), torch.cat([p[1] for p in pairs])
    # one batched decode and one black-box call for all K * K pairs (many small batches are slow on a CPU)
    pred = predict_proba(classifier, decode_all(cae, indiv_codes[ia], cls_codes[ib])).argmax(1)
    for (a, b), part in zip([(a, b) for a in range(k) for b in range(k)], pred.split([len(p[0]) for p in pairs])):
        out[a, b] = np.bincount(part.numpy(), minlength=k)[:k] / len(part) if len(part) else np.nan
    return out


def flip_rates(confusion: np.ndarray) -> dict:
    """From ``swap_confusion``: the flip rate of each ordered class pair a -> b (a != b; higher is better:
    the fraction of swaps the black box gives the class-code donor's class), their mean and worst, and
    the same-class agreement (a == b)."""
    k = confusion.shape[0]
    per_pair = {(a, b): float(confusion[a, b, b]) for a in range(k) for b in range(k) if a != b}
    measured = [v for v in per_pair.values() if np.isfinite(v)]   # NaN: a pair without swaps (no donors)
    same = [confusion[a, a, a] for a in range(k) if np.isfinite(confusion[a, a, a])]
    return {"mean": float(np.mean(measured)) if measured else float("nan"),
            "worst": float(min(measured)) if measured else float("nan"),
            "per_pair": per_pair, "same_class": float(np.mean(same)) if same else float("nan")}


@torch.no_grad()
def reconstruction_report(cae: CAE, classifier: Classifier, images: torch.Tensor, labels: torch.Tensor) -> dict:
    """Reconstruction guards: mean |decode(encode(x)) - x| on the [-1, 1] scale (lower is better), the
    black box's accuracy on the reconstructions (higher is better; >= 0.95 means the class survives) and the
    accuracy of the CAE's code head on the class codes (``code_accuracy``: a reconstruction takes the class its
    class code carries, and their accuracy follows this one: benchmarks/results/generalisation.md)."""
    cls, indiv = encode_all(cae, images)
    rec = decode_all(cae, indiv, cls)
    correct = int((predict_proba(classifier, rec).argmax(1) == labels).sum())
    read = int((cae.code_head(cls).argmax(1).cpu() == labels.cpu()).sum())
    # exact ratios: float32's mean of 950 hits in 1000 is 0.94999999, which a ">= 0.95" bar would refuse
    return {"recon_error": float((rec - images).abs().mean()), "recon_accuracy": correct / len(labels),
            "code_accuracy": read / len(labels)}


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


def _sample(ds, n: int | None, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """``(images, labels, masks or None)`` of ``n`` images of ``ds`` (anything with ``.images`` and ``.labels``)
    sampled across the classes (``data.stratified_indices``, seeded); all of them when ``n`` is None or >= their
    number."""
    from .data import stratified_indices

    masks = getattr(ds, "masks", None)
    if n is None or n >= len(ds.labels):
        return ds.images, ds.labels, masks
    pick = torch.as_tensor(stratified_indices(ds.labels, n, seed))
    return ds.images[pick], ds.labels[pick], None if masks is None else masks[pick]


def quality_report(cae: CAE, classifier: Classifier, test, train=None, *, n: int | None = 1000,
                   seed: int = 0) -> dict:
    """Every quality bar of a trained CAE on held-out data (see ``data/README.md``): flip rates (mean,
    worst and per ordered class pair), same-class agreement, reconstruction error and the black box's
    accuracy on reconstructions, same-class swap error, the class code's effect, the localisation
    ratio (datasets with masks) and the 5-NN accuracy of class codes (with ``train`` given).

    Measured on ``n`` test images (and 4,000 training images) sampled across the classes
    (``data.stratified_indices``, seeded), not the first ``n``: in a dataset sorted by class those are one
    class. With ``n`` None or >= the test size, every test image."""
    from sklearn.neighbors import KNeighborsClassifier

    x, y, masks = _sample(test, n, seed)
    rates = flip_rates(swap_confusion(cae, classifier, x, y, n_per_pair=200, seed=seed))
    report = {"flip_mean": rates["mean"], "flip_worst": rates["worst"], "same_class_agreement": rates["same_class"],
              "flip_per_pair": {f"{a}->{b}": v for (a, b), v in rates["per_pair"].items()},
              **reconstruction_report(cae, classifier, x, y),
              "same_class_swap_error": same_class_swap_error(cae, x, y, seed),
              "class_code_effect": class_code_effect(cae, x, y, seed)}
    if masks is not None:
        loc = localisation_ratio(cae, x, y, masks, seed=seed)
        report["localisation_ratio"], report["localisation_ratio_vs_input"] = loc["ratio"], loc["ratio_vs_input"]
    if train is not None:
        x_train, y_train, _ = _sample(train, 4000, seed)
        codes_train, _ = encode_all(cae, x_train)
        codes_test, _ = encode_all(cae, x)
        knn = KNeighborsClassifier(5).fit(codes_train.numpy(), y_train.numpy())
        report["knn5_class_code"] = float(knn.score(codes_test.numpy(), y.numpy()))
    return report


def swap_confusion_matrix(confusion: np.ndarray, *, include_same_class: bool = False) -> np.ndarray:
    """From ``swap_confusion`` (K, K, K): the black box's confusion over swaps, (K, K) with rows = the
    class-code donor's class b and columns = the predicted class p, averaged over the individual-code
    classes a (a != b unless ``include_same_class``). Rows sum to 1; a perfect CAE gives the identity
    (the diagonal is the flip rate into each class; higher is better)."""
    k = confusion.shape[0]
    keep = np.ones((k, k), bool) if include_same_class else ~np.eye(k, dtype=bool)  # [a, b]
    weights = keep[:, :, None].astype(float)
    return (confusion * weights).sum(0) / weights.sum(0)


QUALITY_MEANINGS = {
    "flip_mean": ("share of cross-class swaps the black box gives the class-code donor's class (mean over class "
                  "pairs)", "higher"),
    "flip_worst": ("the same for the worst ordered pair of classes", "higher"),
    "same_class_agreement": ("share of swaps between two images of one class that keep that class", "higher"),
    "recon_error": ("mean |reconstruction - image| on the [-1, 1] scale", "lower"),
    "recon_accuracy": ("black box's accuracy on the reconstructions", "higher"),
    "code_accuracy": ("the CAE's code head's accuracy on the class codes (reconstructions take the class it reads)",
                      "higher"),
    "same_class_swap_error": ("mean |swap - reconstruction| for swaps within one class", "lower"),
    "class_code_effect": ("mean change of the output when only the class code changes", "higher"),
    "localisation_ratio": ("change of a swap to 'normal' inside the lesion / outside it", "higher"),
    "localisation_ratio_vs_input": ("the same, measured against the input instead of its reconstruction", "higher"),
    "knn5_class_code": ("5-NN accuracy of the class codes (neighbours among training codes)", "higher"),
}


def quality_table(report: dict, class_names=None, *, caption: str | None = None):
    """``quality_report``'s measures as a table (``caelib.claims.table``): one row per measure (the flip rate of
    every ordered class pair included, named by ``class_names``), its value, what it means and which direction
    is better. Notebook 02."""
    from .claims import table

    rows = {}
    for key, value in report.items():
        if key == "flip_per_pair":
            for pair, rate in value.items():
                a, b = (int(c) for c in pair.split("->"))
                na, nb = (class_names[a], class_names[b]) if class_names is not None else (a, b)
                rows[f"flip {na} \u2192 {nb}"] = {"value": rate, "what it measures": f"share of {na} images given a "
                                                  f"{nb} class code that the black box calls {nb}", "better": "higher"}
        else:
            meaning, better = QUALITY_MEANINGS.get(key, ("", ""))
            rows[key] = {"value": value, "what it measures": meaning, "better": better}
    return table(rows, index="measure", caption=caption)
