"""Checks for the exercises of notebook 01 (data and the black box)."""

from __future__ import annotations

import torch

from . import WrongAnswer, exercise
from ._common import close, pair


def _confusion():
    return torch.tensor([[90, 10, 0], [5, 80, 15], [2, 3, 95]])


@exercise("01.1", "Per-class accuracy from the confusion matrix (row = true class, column = decision).",
          demo_right=lambda: ([0.9, 0.8, 0.95], {"confusion": _confusion()}),
          demo_wrong=lambda: ([90 / 97, 80 / 93, 95 / 110], {"confusion": _confusion()}))   # divided by columns
def check_per_class(answer, *, confusion):
    c = torch.as_tensor(confusion).double()
    truth = c.diagonal() / c.sum(1)
    close(answer, truth, "per_class", hint="the rows of the confusion matrix are the true classes; divide the "
          "diagonal by the number of images of each true class")


def _masks():
    g = torch.Generator().manual_seed(0)
    labels = torch.tensor([0, 1, 1, 0, 1, 0])
    masks = (torch.rand(6, 1, 8, 8, generator=g) < 0.1).float() * labels.view(-1, 1, 1, 1)
    return {"masks": masks, "labels": labels}


@exercise("01.2", "Mean fraction of lesion pixels over the lesion images of the test set.",
          demo_right=lambda: (float(_masks()["masks"][_masks()["labels"] == 1].mean()), _masks()),
          demo_wrong=lambda: (float(_masks()["masks"].mean()), _masks()))        # averaged over all images
def check_lesion_fraction(answer, *, masks, labels):
    if masks is None:
        raise WrongAnswer("this dataset has no masks: use the lesions data")
    truth = masks[labels == 1].float().mean()
    close(answer, truth, "lesion_fraction", atol=1e-6, hint="average over the lesion images only (label 1): "
          "the normal images have empty masks")


def _markers():
    labels = torch.tensor([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    has_marker = torch.tensor([1, 1, 1, 0, 0, 0, 0, 0, 1, 0]).bool()
    return {"has_marker": has_marker, "labels": labels}


@exercise("01.3", "Fraction of lesion / normal training images of lesions-shortcut that carry the marker.",
          demo_right=lambda: ((0.75, 1 / 6), _markers()),
          demo_wrong=lambda: ((1 / 6, 0.75), _markers()))                          # the two swapped
def check_marker_rates(answer, *, has_marker, labels):
    with_lesion, without_lesion = pair(answer, "with_lesion, without_lesion")
    m = torch.as_tensor(has_marker).float()
    close(with_lesion, m[labels == 1].mean(), "with_lesion", atol=1e-6,
          hint="the share of lesion images (label 1) whose marker mask is not empty")
    close(without_lesion, m[labels == 0].mean(), "without_lesion", atol=1e-6,
          hint="the share of normal images (label 0) whose marker mask is not empty")
