"""Code swapping: decode one image's individual code with another image's class code, and measure it.

A good swap keeps the look of the individual-code donor and takes the class of the class-code donor:
the black box should then assign the swap to the donor's class (the *flip rate*). Taught in
``notebooks/03_swapping.ipynb``; the metrics here also back the quality bars of ``data/README.md``.
After Xie et al., "Class Association Embedding", ICDE 2024.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import torch

from .cae import CAE
from .classifier import predict_proba
from .conventions import Classifier, dilate, evaluating  # noqa: F401  (swap.dilate: notebook 03)
from .train import CRITIC_WEIGHT


@torch.no_grad()
def encode_all(cae: CAE, x: torch.Tensor, batch_size: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """Encode a large batch in chunks: (N, C, H, W) -> (class codes (N, D), individual codes (N, ...))."""
    with evaluating(cae):
        parts = [cae.encode(xb) for xb in x.split(batch_size)]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


@torch.no_grad()
def decode_all(cae: CAE, indiv_code: torch.Tensor, class_code: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Decode in chunks: (N, ...) individual codes and (N, D) class codes -> (N, C, H, W)."""
    with evaluating(cae):
        return torch.cat([cae.decode(i, s) for i, s in zip(indiv_code.split(batch_size),
                                                            class_code.split(batch_size))])


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


# ---- the verdict at the end of training -----------------------------------------------------------------

# The bars a CAE must meet on any data (issue 25 of the project: a reader's own images, 2 to 10 classes): swaps flip
# the black box (mean over ordered class pairs, and the worst pair), reconstructions keep the black box's accuracy
# within an absolute margin (read against its own accuracy on the same images: a black box right on 80% of the
# originals cannot be right on 95% of their reconstructions), and the class code changes the output at all (0: a
# collapsed CAE whose decoder ignores it).
VERDICT_BARS = {"recon_accuracy_margin": 0.02, "flip_mean": 0.90, "flip_worst": 0.75, "class_code_effect": 0.01}


@dataclass(frozen=True)
class Guard:
    """One guard of a trained CAE: the measured ``value``, the ``bar`` it must reach (``op`` ">=" or ">"),
    whether it is ``met``, and ``hint``: what to try when it is not."""

    name: str
    what: str
    value: float
    op: str
    bar: float
    hint: str

    @property
    def met(self) -> bool:
        if not np.isfinite(self.value):
            return False
        return self.value > self.bar if self.op == ">" else self.value >= self.bar - 1e-9

    def as_dict(self) -> dict:
        return {"name": self.name, "what": self.what, "value": self.value, "op": self.op, "bar": self.bar,
                "met": self.met, "hint": self.hint}


@dataclass
class Verdict:
    """Is a trained CAE fit to explain its black box? ``guards`` (each met or not, with what to try),
    measured on ``n_images`` test images sampled across the classes; ``report`` holds every number of
    ``quality_report`` on them, ``classifier_accuracy`` the black box's accuracy on the originals.
    ``str(verdict)`` is the table ``python -m caelib train-cae`` prints."""

    guards: list[Guard]
    n_images: int
    classifier_accuracy: float
    report: dict

    @property
    def failed(self) -> list[Guard]:
        return [g for g in self.guards if not g.met]

    @property
    def met(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        n, m = len(self.failed), len(self.guards)
        return f"all {m} guards met" if not n else f"{n} of {m} guards not met"

    def table(self) -> str:
        rows = [(g.what, f"{g.value:.3f}", f"{g.op} {g.bar:.3f}", "met" if g.met else "NOT MET") for g in self.guards]
        head = ("guard", "measured", "bar", "")
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
        lines = [f"verdict on {self.n_images} test images (sampled across the classes):",
                 "  " + "  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip()]
        lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        if "flip_mean_right_donors" in self.report:
            lines.append(textwrap.fill(
                "  swaps take the class codes of images the black box classifies correctly; with every donor "
                f"(those it misreads too): flip mean {self.report['flip_mean']:.3f}, worst pair "
                f"{self.report['flip_worst']:.3f}", 110, subsequent_indent="    "))
        lines += [textwrap.fill(f"not met: {g.what}: {g.hint}", 110, initial_indent="  ", subsequent_indent="    ",
                                break_on_hyphens=False)
                  for g in self.failed]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table() + "\n" + self.summary()

    def as_dict(self) -> dict:
        return {"n_images": self.n_images, "classifier_accuracy": self.classifier_accuracy, "met": self.met,
                "summary": self.summary(), "guards": [g.as_dict() for g in self.guards]}


def rates_on(cae: CAE, classifier: Classifier, x: torch.Tensor, y: torch.Tensor, seed: int = 0,
             decisions: torch.Tensor | None = None) -> dict:
    """``flip_rates`` of swaps whose class-code donors the black box classifies correctly (``swap_confusion``
    with ``donors``): whether the CAE carries a class's features as the black box sees them. ``decisions``: the
    black box's classes for ``x`` when already computed."""
    if decisions is None:
        decisions = predict_proba(classifier, x).argmax(1)
    right = decisions == y
    return flip_rates(swap_confusion(cae, classifier, x, y, n_per_pair=200, seed=seed, donors=right))


@torch.no_grad()
def verdict(cae: CAE, classifier: Classifier, test, *, n: int | None = 500, seed: int = 0,
            class_names=None, bars: dict | None = None) -> Verdict:
    """Measure the guards of a trained CAE against its black box on ``n`` test images sampled across the
    classes (``data.stratified_indices``; None: all): the black box beats guessing the majority class; the
    black box classifies reconstructions correctly about as often as the originals (its own accuracy less
    ``recon_accuracy_margin``); the swap flip rate, on average and for the worst ordered class pair; the class
    code changes the output. Each guard says what to try when it is not met. Backs ``train_cae(..., test=,
    classifier=)``'s ``TrainResult.verdict`` and the table at the end of ``python -m caelib train-cae``.
    The numbers are those of :func:`quality_report` (``bars``: other values for ``VERDICT_BARS``)."""
    b = {**VERDICT_BARS, **(bars or {})}
    x, y, _ = _sample(test, n, seed)
    k = cae.config.num_classes
    names = list(class_names) if class_names is not None else [str(c) for c in range(k)]
    decisions = predict_proba(classifier, x).argmax(1)
    acc = float((decisions == y).float().mean())
    majority = float(torch.bincount(y, minlength=k).max()) / max(len(y), 1)
    present = len(torch.unique(y))
    more_data = ("more training images (a larger folder, or raise --max-images; with a few hundred images a CAE "
                 "learns slowly)")
    guards = [Guard("classifier_accuracy", "black box beats the majority class", acc, ">", majority,
                    "the black box itself is no better than always answering its most frequent class on these "
                    "images: check the black box (train it longer: python -m caelib train-classifier --epochs; "
                    "check that it was trained on these classes, in this order, with this preprocessing) before "
                    "explaining it")]
    if present < 2:
        report = reconstruction_report(cae, classifier, x, y)
        for name, what in (("flip_mean", "swap flip rate, mean over class pairs"),
                           ("flip_worst", "swap flip rate, worst class pair")):
            guards.append(Guard(name, what, float("nan"), ">=", b[name], f"not measured: the test images hold "
                                f"{present} class(es); a flip rate needs test images of at least two classes"))
        effect = float("nan")
    else:
        report = quality_report(cae, classifier, SimpleNamespace(images=x, labels=y), n=None, seed=seed)
        # The guards take class codes from donors the black box classifies correctly: a donor it misreads
        # shows it another class's features, and a faithful swap carries those (swaps follow the donor's
        # decision). quality_report's rates (every donor) stay in the report as flip_mean / flip_worst.
        right = rates_on(cae, classifier, x, y, seed, decisions)
        report.update({"flip_mean_right_donors": right["mean"], "flip_worst_right_donors": right["worst"],
                       "flip_per_pair_right_donors": {f"{a}->{c}": v for (a, c), v in right["per_pair"].items()}})
        pairs = {key: v for key, v in report["flip_per_pair_right_donors"].items() if np.isfinite(v)}
        worst = min(pairs, key=pairs.get) if pairs else None
        w_name = "none" if worst is None else " -> ".join(names[int(c)] for c in worst.split("->"))
        train_more = "train longer (more --steps; train-cae resumes its checkpoint)"
        guards += [
            Guard("flip_mean", "swap flip rate, mean over class pairs", right["mean"], ">=", b["flip_mean"],
                  f"swaps do not take the class-code donor's class often enough: {train_more}; {more_data}; a "
                  "louder class head on swaps (--swap-class-weight 5) or a louder black-box critic (train-cae "
                  f"uses --critic {CRITIC_WEIGHT:g} when given --classifier: try {2 * CRITIC_WEIGHT:g})"),
            Guard("flip_worst", f"swap flip rate, worst class pair ({w_name})",
                  right["worst"] if pairs else float("nan"), ">=", b["flip_worst"],
                  f"the CAE cannot yet turn {w_name} (individual code -> class code): {train_more}; more images "
                  "of both classes; a louder black-box critic (--critic "
                  f"{2 * CRITIC_WEIGHT:g}); check how well the black box tells the "
                  "two apart"),
        ]
        effect = report["class_code_effect"]
    margin = b["recon_accuracy_margin"]
    guards.insert(1, Guard("recon_accuracy", f"reconstructions classified correctly (>= black box - {margin:.2f})",
                           report["recon_accuracy"], ">=", acc - margin,
                           "the black box misreads the reconstructions more often than the originals, so the CAE's "
                           "images lose what it looks at: train longer (more --steps); a finer individual code "
                           "(--indiv-downs 1) keeps thin structures; more training images"))
    guards.append(Guard("class_code_effect", "the class code changes the output", effect, ">=",
                        b["class_code_effect"], "the decoder ignores the class code (a collapsed CAE): train longer, "
                        "or anew with another --seed or a lower --lr; check that the classes differ in the images"))
    return Verdict(guards=guards, n_images=len(y), classifier_accuracy=acc,
                   report={**report, "classifier_accuracy": acc, "majority_rate": majority})


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


QUALITY_MEANINGS = {
    "flip_mean": ("share of cross-class swaps the black box gives the class-code donor's class (mean over class "
                  "pairs)", "higher"),
    "flip_worst": ("the same for the worst ordered pair of classes", "higher"),
    "same_class_agreement": ("share of swaps between two images of one class that keep that class", "higher"),
    "recon_error": ("mean |reconstruction - image| on the [-1, 1] scale", "lower"),
    "recon_accuracy": ("black box's accuracy on the reconstructions", "higher"),
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
