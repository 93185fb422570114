"""Checks for the exercises of notebook 08 (multiple explanations of one decision)."""

from __future__ import annotations

import functools

import torch

from . import WrongAnswer, exercise
from ._common import close, demo, pair, swapped


@functools.lru_cache(maxsize=None)
def _lesions():
    from .. import load_dataset, pretrained

    ds = load_dataset("lesions-two", split="test", n=40)
    pos = ds.labels == 1
    return pretrained("lesions", with_cae=False).classifier.eval(), ds.images[pos][:12], ds.lesion_masks[pos][:12]


# ---- 08.1 either lesion alone suffices -----------------------------------------------------------------------

def _alone(classifier, x, lesion_masks):
    from ..responsibility import sufficiency

    only_first = sufficiency(classifier, x, lesion_masks[:, :1])[:, 0]
    neither = sufficiency(classifier, x, 1 - lesion_masks.amax(1, keepdim=True))[:, 0]
    return float(only_first.float().mean()), float(neither.float().mean())


def _ctx_alone():
    clf, x, lm = _lesions()
    return {"classifier": clf, "x": x, "lesion_masks": lm}


@exercise("08.1", "Fraction still called 'lesion' with only the first lesion kept, and with both lesions removed.",
          demo_right=demo(_alone, _ctx_alone), demo_wrong=demo(_alone, _ctx_alone, swapped))
def check_alone(answer, *, classifier, x, lesion_masks):
    only_first, neither = pair(answer, "only_first, neither")
    truth_first, truth_neither = _alone(classifier, x, lesion_masks)
    close(only_first, truth_first, "only_first", atol=1e-6,
          hint="keep lesion_masks[:, :1] with responsibility.sufficiency and average the verdicts")
    close(neither, truth_neither, "neither", atol=1e-6,
          hint="keep everything except the two lesions: 1 - the union (maximum) of lesion_masks over its lesion axis")
    return f"only the first lesion: {truth_first:.2f} still 'lesion'; neither lesion: {truth_neither:.2f}."


# ---- 08.2 sufficient, and minimal? ------------------------------------------------------------------------------

def _minimal(classifier, x, mask, replacement):
    from ..responsibility import sufficiency

    sufficient = bool(sufficiency(classifier, x, mask[None, None], replacement=replacement)[0, 0])
    idx = torch.nonzero(mask.flatten())[:, 0]
    tries = mask.flatten().repeat(len(idx), 1)
    tries[torch.arange(len(idx)), idx] = False
    ok = sufficiency(classifier, x, tries.reshape(1, len(idx), *mask.shape), replacement=replacement)
    return sufficient, int(ok.sum())


def _ctx_minimal():
    from ..responsibility import TwoSquares

    box = TwoSquares()
    mask = box.masks()[0].clone()
    mask[6, 2:5] = True                                      # square A and three pixels it does not need
    return {"classifier": box, "x": box.image(), "mask": mask, "replacement": -1.0}


@exercise("08.2", "Is the explanation sufficient, and how many of its pixels could each be dropped alone?",
          demo_right=demo(_minimal, _ctx_minimal),
          demo_wrong=lambda: ((True, 0), _ctx_minimal()))
def check_minimal(answer, *, classifier, x, mask, replacement):
    sufficient, droppable = pair(answer, "sufficient, droppable")
    truth_sufficient, truth_droppable = _minimal(classifier, x, mask, replacement)
    if bool(sufficient) != truth_sufficient:
        raise WrongAnswer("sufficient: reveal only the explanation's pixels (the rest replaced) and ask the black box "
                          "whether it still gives the same label")
    close(droppable, truth_droppable, "droppable", atol=0.5,
          hint="remove one pixel at a time (a batch of masks, each one pixel short) and count the masks that "
               "still suffice")
    return (f"{'sufficient' if truth_sufficient else 'not sufficient'}; {truth_droppable} pixel(s) could go "
            "one at a time (trimming removes them).")


# ---- 08.3 OR against AND ----------------------------------------------------------------------------------------

def _or_and(config):
    from ..responsibility import TwoSquares, explain_multiple

    x = TwoSquares().image()
    n_or = len(explain_multiple(TwoSquares(), x, replacement=-1.0, config=config, progress=False)[0])
    n_and = len(explain_multiple(TwoSquares(need_both=True), x, replacement=-1.0, config=config, progress=False)[0])
    return n_or, n_and


def _ctx_or_and():
    from ..responsibility import ResponsibilityConfig

    return {"config": ResponsibilityConfig(iters=12, min_box=1, spotlights=8, spotlight_radius=3.0)}


@exercise("08.3", "Number of explanations of the OR and of the AND two-squares black box on the same image.",
          demo_right=demo(_or_and, _ctx_or_and),
          demo_wrong=lambda: ((2, 2), _ctx_or_and()))
def check_or_and(answer, *, config):
    n_or, n_and = pair(answer, "n_or, n_and")
    truth_or, truth_and = _or_and(config)
    close(n_or, truth_or, "n_or", atol=0.5, hint="run explain_multiple on TwoSquares() with replacement=-1.0 and "
          "the given config, and count its explanations")
    close(n_and, truth_and, "n_and", atol=0.5, hint="the same with TwoSquares(need_both=True): can either square "
          "alone keep its label?")
    return (f"OR: {truth_or} explanation(s), AND: {truth_and}. Integrated gradients draws the same map for both "
            "black boxes; multiple explanations tell them apart.")
