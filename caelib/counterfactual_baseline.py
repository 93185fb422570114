"""The counterfactual baseline: the closest realistic image of another class, made by the CAE (notebook 07).

``CounterfactualBaseline`` decodes an image's own individual code with a real class code of the contrast
class (chosen by a rule of ``caelib.paths``), for Integrated Gradients, DeepLift or Occlusion to start from;
``counterfactual_change`` says where that counterfactual changes the image. ``caelib.baselines`` names it
among the other baselines (``make_baseline("counterfactual", ...)``).
"""

from __future__ import annotations

import torch

from .classifier import predict_proba
from .conventions import resolve_target, runner_up
from .paths import CodeBank
from .swap import decode_all, encode_all

__all__ = ["CounterfactualBaseline", "counterfactual_change"]


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


@torch.no_grad()
def counterfactual_change(cae, x: torch.Tensor, reference, contrast) -> torch.Tensor:
    """|x_cf - x| (B, 1, H, W), summed over channels, where x_cf is the counterfactual baseline of class
    ``contrast``: where the CAE's counterfactual changes the image."""
    cf = CounterfactualBaseline(cae, reference, contrast)(x)
    return (cf - x).abs().sum(1, keepdim=True)
