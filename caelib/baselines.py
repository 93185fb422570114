"""Baselines for attribution, one-vs-one questions, and catching a classifier that looks at a shortcut.

Integrated Gradients and DeepLift attribute the change of the output between a *baseline* image and the
image; Occlusion puts the baseline's pixels where it removes a patch. The baseline is part of the question:
"what in x, compared with *this* image, makes the black box say t?". ``BASELINE_CHOICES`` names the usual
answers and the counterfactual one (``make_baseline``):

- ``zero``: mid-grey (0 in [-1, 1]); ``blurred``: the image blurred with a Gaussian of 4 px
  (``caelib.saliency.Blurred``, caelib's default); ``noise``: uniform noise in [-1, 1] (``UniformNoise``);
  ``mean``: the mean training image (``DatasetMean``);
- ``counterfactual``: ``CounterfactualBaseline``, the image's own individual code decoded with a real class
  code of the contrast class (a rule of ``caelib.paths``: ``NearestReference`` or ``MedoidReference``), i.e.
  the closest realistic image of the other class. The nearest code of the class lies at its border and often
  does not cross the black box's boundary: keep the deeper half of each class (``NearestReference(bank,
  core=0.5)``, ``make_baseline``'s choice; the measurements: ``benchmarks/results/measured_choices.md``).
  GANMEX (Shih, Tien and Karnin, arXiv 2011.06015) builds this
  baseline with a StarGAN whose discriminator contains the classifier being explained; caelib builds it with
  the CAE (Xie et al., ICDE 2024), trained with the default discriminator class head or, like GANMEX, with
  the frozen black box as its class critic (``caelib.train_cae(..., critic=black_box)``; the shipped
  ``pretrained("lesions-shortcut", cae="critic")``).

One-vs-one ("why 3 and not 8?"): ``Contrast(classifier, 8)`` answers with the logit difference z_t - z_8
(its softmax is the classifier's own: the decisions do not change), and ``one_vs_one`` explains it from the
counterfactual baseline of class 8.

The shortcut lesions (``load_dataset("lesions-shortcut")``): in the training split a bright 3x3 marker in the
top-left corner gives the label away, and ``data/lesions-shortcut-classifier.pt`` learnt the marker instead of
the lesion. ``mask_mass`` measures how much of a map (or of a counterfactual's change) lies on the marker and
on the lesion; ``shortcut_report`` measures a CAE against that black box. Taught in notebook 07; measured in
``benchmarks/baselines.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from . import evaluate as ev
from .classifier import predict_proba
from .conventions import DEFAULT_REPLACEMENT, dilate, resolve_target, runner_up
from .evaluate import higher_is_better, mask_mass  # mask_mass lives in evaluate; bl.mask_mass stays notebook 07's name
from .paths import CodeBank, MedoidReference, NearestReference
from .saliency import CAE_METHODS, explain
from .swap import decode_all, encode_all
from .viz import add_colourbar

__all__ = ["BASELINE_CHOICES", "UniformNoise", "DatasetMean", "CounterfactualBaseline", "make_baseline", "Contrast",
           "one_vs_one", "mask_mass", "counterfactual_change", "shortcut_report", "shortcut_images",
           "captum_explainer", "cae_explainer", "score", "markdown_table", "plot_baselines",
           "plot_counterfactual_changes", "SHORTCUT_METRICS"]

BASELINE_CHOICES = ("zero", "blurred", "noise", "mean", "counterfactual")


@dataclass(frozen=True)
class UniformNoise:
    """A baseline of uniform noise in [``low``, ``high``], the same draw for the same image shape and ``seed``
    (so that a map does not change from one call to the next)."""

    seed: int = 0
    low: float = -1.0
    high: float = 1.0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed)
        u = torch.rand(tuple(x.shape), generator=g)
        return (self.low + (self.high - self.low) * u).to(x.device, x.dtype)


@dataclass(frozen=True)
class DatasetMean:
    """A baseline: the mean image (C, H, W) of a data set (``DatasetMean.of(train.images)``)."""

    image: torch.Tensor = field(repr=False)

    @classmethod
    def of(cls, images: torch.Tensor) -> "DatasetMean":
        if not torch.is_tensor(images) or images.ndim != 4:
            raise ValueError("DatasetMean.of needs images (N, C, H, W), e.g. load_dataset(name, split='train').images")
        return cls(images.float().mean(0))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(self.image.shape) != tuple(x.shape[1:]):
            raise ValueError(f"the mean image has shape {tuple(self.image.shape)}, the images {tuple(x.shape[1:])}")
        return self.image.to(x.device, x.dtype).expand_as(x)


class CounterfactualBaseline:
    """The counterfactual baseline: ``x``'s individual code decoded with a real class code of the contrast
    class, chosen by ``reference`` (``NearestReference(bank)``: the nearest code of that class; or
    ``MedoidReference(bank)``: its most typical one). "The closest realistic image of class c" (GANMEX).

    ``contrast``: the class of the baseline, an int or (B,) ints; None: the class the black box
    (``classifier``) finds most likely after its decision. With ``classifier`` and a rule that proposes
    several codes (``NearestReference(bank, n=5)``), the baseline is the first proposal (nearest first) that
    the black box assigns to the contrast class, so that it is a counterfactual for this black box (the
    first proposal when none is). Call it like any baseline of ``caelib.saliency``
    (``baseline=CounterfactualBaseline(...)``): ``baseline(x)`` -> (B, C, H, W)."""

    def __init__(self, cae, reference, contrast=None, *, classifier=None):
        if not callable(reference) or not isinstance(getattr(reference, "bank", None), CodeBank):
            raise ValueError("reference must be a rule over a CodeBank: NearestReference(bank) or "
                             "MedoidReference(bank)")
        if contrast is None and classifier is None:
            raise ValueError("pass contrast= (the class of the baseline) or classifier= (to use its runner-up class)")
        self.cae, self.reference, self.contrast, self.classifier = cae, reference, contrast, classifier

    def classes(self, x: torch.Tensor) -> torch.Tensor:
        """(B,) the contrast class of each image."""
        if self.contrast is not None:
            return resolve_target(self.contrast, len(x), self.reference.bank.num_classes)
        return runner_up(predict_proba(self.classifier, x))

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.detach()
        class_x, indiv_x = encode_all(self.cae, x.cpu())
        contrast = self.classes(x).cpu()
        proposals = self.reference(class_x, contrast)                                  # (B, n)
        codes = self.reference.bank.codes
        out = decode_all(self.cae, indiv_x, codes[proposals[:, 0]])
        if self.classifier is not None and proposals.shape[1] > 1:
            done = predict_proba(self.classifier, out).argmax(1).cpu() == contrast        # (B,)
            for j in range(1, proposals.shape[1]):
                if done.all():
                    break
                todo = (~done).nonzero().flatten()
                cand = decode_all(self.cae, indiv_x[todo], codes[proposals[todo, j]])
                hit = predict_proba(self.classifier, cand).argmax(1).cpu() == contrast[todo]
                out[todo[hit]] = cand[hit]
                done[todo[hit]] = True
        return out.to(x.device, x.dtype)

    def __repr__(self) -> str:
        return f"CounterfactualBaseline({self.reference!r}, contrast={self.contrast!r})"


def make_baseline(name: str, *, cae=None, bank: CodeBank | None = None, reference=None, contrast=None,
                  classifier=None, images: torch.Tensor | None = None, seed: int = 0) -> Callable | float:
    """The baseline called ``name`` (one of ``BASELINE_CHOICES``), ready for ``baseline=`` of
    ``caelib.saliency.explain``. ``mean`` needs ``images`` (the training images); ``counterfactual`` needs
    ``cae`` and ``reference`` (or ``bank``: then ``NearestReference(bank, core=0.5)``, the nearest code among the
    deeper half of the class), and ``contrast`` or ``classifier``."""
    if name == "zero":
        return 0.0
    if name == "blurred":
        return DEFAULT_REPLACEMENT
    if name == "noise":
        return UniformNoise(seed)
    if name == "mean":
        if images is None:
            raise ValueError("the 'mean' baseline needs images= (the training images)")
        return DatasetMean.of(images)
    if name == "counterfactual":
        if cae is None or (reference is None and bank is None):
            raise ValueError("the 'counterfactual' baseline needs cae= and reference= (or bank=)")
        return CounterfactualBaseline(cae, reference if reference is not None else NearestReference(bank, core=0.5),
                                      contrast, classifier=classifier)
    raise ValueError(f"unknown baseline {name!r}; choose one of {', '.join(BASELINE_CHOICES)}")


class Contrast(nn.Module):
    """A black box that answers "why t and not ``contrast``?": its logits minus the logit of ``contrast``
    (an int), so that output t is z_t - z_contrast. Softmax ignores the shift: the decisions and probabilities
    are the classifier's own. Keeps ``feature_layer`` for GradCAM."""

    def __init__(self, classifier: nn.Module, contrast: int):
        super().__init__()
        if not isinstance(contrast, int):
            raise ValueError(f"contrast must be one class (an int) for the whole batch, got {type(contrast).__name__}")
        self.classifier, self.contrast = classifier, contrast
        self.train(classifier.training)   # a new module is in training mode: take the black box's own mode

    @property
    def feature_layer(self) -> nn.Module:
        return self.classifier.feature_layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.classifier(x)
        if not 0 <= self.contrast < z.shape[1]:
            raise ValueError(f"contrast {self.contrast} is outside the black box's classes 0..{z.shape[1] - 1}")
        return z - z[:, self.contrast:self.contrast + 1]


def one_vs_one(method: str, classifier: nn.Module, x: torch.Tensor, target: int, contrast: int, *, cae=None,
               reference=None, baseline="counterfactual", **options) -> torch.Tensor:
    """Maps (B, 1, H, W) answering "why ``target`` and not ``contrast``?" for images ``x``.

    Captum methods explain z_target - z_contrast (``Contrast``) from ``baseline``: by default the
    counterfactual baseline of class ``contrast`` (needs ``cae`` and ``reference``), or any baseline of
    ``caelib.saliency`` / a name of ``BASELINE_CHOICES`` (not 'mean'). The CAE methods (``cae``, ``cae-path``,
    ...) walk the path from x towards ``contrast``. ``options``: the method's own (``saliency.METHODS``)."""
    if target == contrast:
        raise ValueError(f"target and contrast are both {target}: a one-vs-one question needs two classes")
    if method in CAE_METHODS:
        return explain(method, classifier, x, target=contrast, cae=cae, reference=reference, **options)
    if isinstance(baseline, str):
        baseline = make_baseline(baseline, cae=cae, reference=reference, contrast=contrast)
    return explain(method, Contrast(classifier, contrast), x, target=target, baseline=baseline, **options)


# ---- where a map, or a change, lies ------------------------------------------------------------------------

@torch.no_grad()
def counterfactual_change(cae, x: torch.Tensor, reference, contrast) -> torch.Tensor:
    """|x_cf - x| (B, 1, H, W), summed over channels, where x_cf is the counterfactual baseline of class
    ``contrast``: where the CAE's counterfactual changes the image."""
    cf = CounterfactualBaseline(cae, reference, contrast)(x)
    return (cf - x).abs().sum(1, keepdim=True)


def shortcut_images(ds, *, marker: bool = True, lesion: bool = True) -> torch.Tensor:
    """Indices of the images of a shortcut data set (``marker_masks``) with / without a marker and a lesion."""
    if not hasattr(ds, "marker_masks"):
        raise ValueError(f"{getattr(ds, 'name', 'this data set')} has no marker_masks; use "
                         "load_dataset('lesions-shortcut', split=...)")
    has_m = ds.marker_masks.flatten(1).sum(1) > 0
    has_l = ds.masks.flatten(1).sum(1) > 0
    return ((has_m == marker) & (has_l == lesion)).nonzero().flatten()


@torch.no_grad()
def shortcut_report(cae, classifier, test, train, *, n: int = 300, seed: int = 0) -> dict:
    """A CAE on the shortcut lesions, judged by the black box (on the test split the marker says nothing
    about the label, so the labels cannot judge it):

    - ``bb_flip_mean`` / ``bb_flip_worst``: swaps with the class code of a random training image the black
      box puts in the other class, that the black box puts in that class (mean and worse direction);
    - ``bb_recon_agreement``: reconstructions the black box classifies as it classifies the image;
    - ``cf_marker_mass`` / ``cf_lesion_mass``: on test images with a marker and a lesion, swapped to the
      medoid of class 0, the share of |x_cf - x| on the marker / on the lesion (each mask grown by 1 px),
      and ``marker_area`` / ``lesion_area``, the share of the image those masks cover (what chance gives)."""
    g = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(test), generator=g)[:n]
    x = test.images[pick]
    decision = predict_proba(classifier, x).argmax(1)
    bank = CodeBank.from_images(cae, train.images[:3000], predict_proba(classifier, train.images[:3000]).argmax(1))
    class_x, indiv_x = encode_all(cae, x)
    rec = decode_all(cae, indiv_x, class_x)
    agree = float((predict_proba(classifier, rec).argmax(1) == decision).float().mean())
    k = bank.num_classes
    other = (decision + torch.randint(1, k, (len(x),), generator=g)) % k
    donors = torch.stack([(bank.labels == c).nonzero().flatten()[torch.randint(int((bank.labels == c).sum()), (1,),
                                                                               generator=g)][0] for c in other])
    swaps = decode_all(cae, indiv_x, bank.codes[donors])
    hit = predict_proba(classifier, swaps).argmax(1) == other
    per_class = [float(hit[other == c].float().mean()) for c in range(k) if (other == c).any()]
    both = shortcut_images(test)[:n]
    change = counterfactual_change(cae, test.images[both], MedoidReference(bank), 0)
    marker, lesion = test.marker_masks[both], test.masks[both]
    return {"bb_flip_mean": float(hit.float().mean()), "bb_flip_worst": min(per_class), "bb_recon_agreement": agree,
            "cf_marker_mass": float(mask_mass(change, marker, dilation=1).nanmean()),
            "cf_lesion_mass": float(mask_mass(change, lesion, dilation=1).nanmean()),
            "marker_area": float((dilate(marker, 1) > 0).float().mean()),
            "lesion_area": float((dilate(lesion, 1) > 0).float().mean())}


# ---- scoring maps: one row of the tables of notebook 07 and benchmarks/baselines.py -------------------------

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


# the columns of the shortcut tables: localisation against the marker, where the mass lies, faithfulness, sanity
SHORTCUT_METRICS = ["pointing_game", "mask_auroc", "topk_iou", "mass_marker", "mass_lesion", "deletion_auc",
                    "insertion_auc", "aopc", "randomisation_top", "randomisation_all"]


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


def plot_baselines(x: torch.Tensor, baselines: dict[str, torch.Tensor], *, maps: dict[str, torch.Tensor] | None = None,
                   size: float = 1.2, title: str | None = None):
    """Images (first column) and, per baseline name, the baseline image (and under it, with ``maps``, the map
    from that baseline): one row per image. Returns the figure."""
    import matplotlib.pyplot as plt

    names = list(baselines)
    n = len(x)
    rows = n * (2 if maps else 1)
    fig, axes = plt.subplots(rows, len(names) + 1, figsize=(size * (len(names) + 1), size * rows), squeeze=False)
    for i in range(n):
        r = i * (2 if maps else 1)
        axes[r, 0].imshow(x[i].mean(0), cmap="gray", vmin=-1, vmax=1)
        axes[r, 0].set_ylabel(f"image {i}", fontsize=8)
        for j, name in enumerate(names, start=1):
            axes[r, j].imshow(baselines[name][i].mean(0), cmap="gray", vmin=-1, vmax=1)
            if i == 0:
                axes[r, j].set_title(name, fontsize=8)
            if maps:
                m = maps[name][i, 0].detach()
                im = axes[r + 1, j].imshow((m / max(float(m.abs().max()), 1e-12)).cpu().numpy(), cmap="magma",
                                           vmin=0, vmax=1)
        if maps:
            axes[r + 1, 0].axis("off")
            axes[r + 1, 0].text(0.5, 0.5, "map\n(/ its max)", ha="center", va="center", fontsize=8)
            add_colourbar(axes[r + 1, -1], im)
    for ax in axes.flat:
        ax.set_xticks([]), ax.set_yticks([])
    axes[0, 0].set_title("image", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_counterfactual_changes(x: torch.Tensor, changes: dict[str, torch.Tensor], *, masks: dict[str, torch.Tensor]
                                | None = None, size: float = 1.5, title: str | None = None,
                                mask_labels: dict[str, str] | None = None):
    """Images (first row) and, one row per name of ``changes``, a change map (B, 1, H, W) such as
    ``counterfactual_change``; ``masks`` {colour: (B, 1, H, W)} are outlined on the maps (e.g. ``{"red": marker,
    "cyan": lesion}``), named in a legend by ``mask_labels`` {colour: name}. One column per image, one colour
    bar per row. Returns the figure."""
    import matplotlib.pyplot as plt

    n, names = len(x), list(changes)
    vmax = {name: max(float(changes[name][:n].max()), 1e-6) for name in names}   # one scale per row
    fig, axes = plt.subplots(1 + len(names), n, figsize=(size * n, size * (1 + len(names))), squeeze=False)
    for i in range(n):
        axes[0, i].imshow(x[i].mean(0), cmap="gray", vmin=-1, vmax=1)
        for r, name in enumerate(names, start=1):
            im = axes[r, i].imshow(changes[name][i, 0].detach().cpu().numpy(), cmap="magma", vmin=0, vmax=vmax[name])
            for colour, m in (masks or {}).items():
                axes[r, i].contour(m[i, 0], levels=[0.5], colors=colour, linewidths=0.8)
            if i == n - 1:
                add_colourbar(axes[r, i], im, "|x_cf - x|")
    for ax, label in zip(axes[:, 0], ["image"] + names):
        ax.set_ylabel(label, fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([]), ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=9)
    if mask_labels:
        from matplotlib.lines import Line2D

        fig.legend(handles=[Line2D([], [], color=c, label=mask_labels.get(c, c)) for c in (masks or {})],
                   loc="lower center", ncol=len(masks or {}), fontsize=8, frameon=False)
        fig.tight_layout(rect=(0, 0.06, 1, 1))
    else:
        fig.tight_layout()
    return fig
