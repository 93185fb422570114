"""Checks for the exercises of notebook 06 (saliency maps and how to judge them)."""

from __future__ import annotations

import copy
import functools

import torch

from . import exercise
from ._common import close_pair, data, demo, models, pair, same_ints, swapped


@functools.lru_cache(maxsize=None)
def _setup():
    from .. import evaluate as ev

    d = data("lesions", "test", 60)
    keep = ev.has_evidence(d.masks)
    x, masks = d.images[keep][:8], d.masks[keep][:8]
    g = torch.Generator().manual_seed(0)
    random_map = torch.rand(masks.shape, generator=g)
    return x, masks, random_map


def _chance(random_map, masks):
    from .. import evaluate as ev

    a = masks.flatten(1).float().mean(1)
    return float(ev.topk_iou(random_map, masks).mean()), float((a / (2 - a)).mean())


def _ctx_chance():
    _, masks, random_map = _setup()
    return {"random_map": random_map, "masks": masks}


def _wrong_chance():
    c = _ctx_chance()
    iou, _ = _chance(**c)
    return (iou, float(c["masks"].flatten(1).float().mean(1).mean())), c      # the area share a, not a / (2 - a)


@exercise("06.1", "The random map's mean top-k IoU and the chance level a / (2 - a).",
          demo_right=demo(_chance, _ctx_chance), demo_wrong=_wrong_chance)
def check_chance(answer, *, random_map, masks):
    close_pair(answer, _chance(random_map, masks), ("iou_random", "iou_chance"), atol=1e-5,
               hints=("the mean of ev.topk_iou(random map, masks)", "a is each mask's area share (mean over its "
                      "pixels); average a / (2 - a) over the images"))


def _aurocs(saliency_map, masks):
    from .. import evaluate as ev
    from ..conventions import gaussian_blur

    return (float(ev.mask_auroc(saliency_map, masks).mean()),
            float(ev.mask_auroc(gaussian_blur(saliency_map, 2.0), masks).mean()))


def _ctx_auroc():
    x, masks, _ = _setup()
    m = models("lesions")
    xg = x.clone().requires_grad_(True)
    m.classifier(xg)[:, 1].sum().backward()
    return {"saliency_map": xg.grad.abs().detach(), "masks": masks}


@exercise("06.2", "Mask AUROC of the gradient map, raw and blurred by 2 pixels.",
          demo_right=demo(_aurocs, _ctx_auroc), demo_wrong=demo(_aurocs, _ctx_auroc, swapped))
def check_aurocs(answer, *, saliency_map, masks):
    close_pair(answer, _aurocs(saliency_map, masks), ("auroc_raw", "auroc_smooth"), atol=1e-4,
               hints=("ev.mask_auroc of the gradient map as it is", "ev.mask_auroc of the gradient map after "
                      "gaussian_blur(..., 2.0)"))


def _flips(cae, classifier, broken, x, reference):
    from ..paths import counterfactual_path

    return (counterfactual_path(cae, classifier, x, reference=reference, steps=11).flip_index,
            counterfactual_path(cae, broken, x, reference=reference, steps=11).flip_index)


@functools.lru_cache(maxsize=None)
def _ctx_flips_cached():
    from .. import evaluate as ev
    from ..paths import CodeBank, MedoidReference

    m = models("lesions")
    train = data("lesions", "train", 300)
    bank = CodeBank.from_images(m.cae, train.images, train.labels, classifier=m.classifier)
    broken = copy.deepcopy(m.classifier)
    torch.manual_seed(0)
    for name in ev.randomisable_layers(broken):
        broken.get_submodule(name).reset_parameters()
    return {"cae": m.cae, "classifier": m.classifier, "broken": broken, "x": _setup()[0],
            "reference": MedoidReference(bank)}


def _ctx_flips():
    return dict(_ctx_flips_cached())


@exercise("06.3", "Flip steps of the medoid paths for the trained and for the randomised black box.",
          demo_right=demo(_flips, _ctx_flips), demo_wrong=demo(_flips, _ctx_flips, swapped))
def check_flips(answer, *, cae, classifier, broken, x, reference):
    flip_trained, flip_broken = pair(answer, "flip_trained, flip_broken")
    truth_trained, truth_broken = _flips(cae, classifier, broken, x, reference)
    same_ints(flip_trained, truth_trained, "flip_trained", hint="the flip_index of the medoid path of the trained "
              "black box clf (steps=11, its own decision as the start)")
    same_ints(flip_broken, truth_broken, "flip_broken", hint="the flip_index of the medoid path of the randomised "
              "black box broken")
