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

This module's one job is the baselines and the one-vs-one question; taught in notebook 07, measured in
``benchmarks/baselines.py``. The rest of notebook 07 lives next to it and is importable from here too
(``bl.score``, ``bl.shortcut_report``, ...): the counterfactual baseline (``caelib.counterfactual_baseline``),
the shortcut lesions' analysis (``caelib.shortcut``; ``mask_mass`` from ``caelib.evaluate``), scoring maps
into a table (``caelib.scoring``) and the figures (``caelib.viz``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from .conventions import DEFAULT_REPLACEMENT
from .counterfactual_baseline import CounterfactualBaseline, counterfactual_change
from .evaluate import mask_mass  # mask_mass lives in evaluate; bl.mask_mass stays notebook 07's name
from .paths import CodeBank, NearestReference
from .saliency import CAE_METHODS, explain
from .scoring import COLUMN_TITLES, Explain, cae_explainer, captum_explainer, markdown_table, score
from .shortcut import SHORTCUT_METRICS, shortcut_images, shortcut_report
from .viz import plot_baselines, plot_counterfactual_changes

__all__ = ["BASELINE_CHOICES", "UniformNoise", "DatasetMean", "CounterfactualBaseline", "make_baseline", "Contrast",
           "one_vs_one", "mask_mass", "counterfactual_change", "shortcut_report", "shortcut_images",
           "captum_explainer", "cae_explainer", "score", "markdown_table", "plot_baselines",
           "plot_counterfactual_changes", "SHORTCUT_METRICS", "COLUMN_TITLES", "Explain"]

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
