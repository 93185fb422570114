"""Checks for notebook 07 (counterfactual baselines, one-vs-one, the shortcut classifier)."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import torch

from . import WrongAnswer, exercise
from ._common import close, data, demo, models, numbers


@functools.lru_cache(maxsize=None)
def _lesions():
    from ..paths import CodeBank

    m = models("lesions")
    train = data("lesions", "train", 400)
    return m, data("lesions", "test", 32), CodeBank.from_images(m.cae, train.images, train.labels,
                                                                 classifier=m.classifier)


@functools.lru_cache(maxsize=None)
def _shortcut():
    from ..baselines import shortcut_images
    from ..pretrained import pretrained

    clf = pretrained("lesions-shortcut", with_cae=False).classifier
    test = data("lesions-shortcut", "test", 120)
    both = shortcut_images(test)[:6]
    return clf, test.images[both], test.marker_masks[both]


# ---- 07.1: the counterfactual baseline by hand ------------------------------------------------------------

def _ctx_1():
    from ..paths import MedoidReference

    m, test, bank = _lesions()
    return {"cae": m.cae, "x": test.images[test.labels == 1][:4], "reference": MedoidReference(bank), "contrast": 0}


def _baseline(cae, x, reference, contrast):
    from ..baselines import CounterfactualBaseline

    return CounterfactualBaseline(cae, reference, contrast)(x)


def _reconstruction(cae, x, **_):
    with torch.no_grad():
        return cae.reconstruct(x)          # the image's own class code: not a counterfactual


@exercise("07.1", "Build the counterfactual baseline by hand: x's individual code with the medoid class code "
          "of the contrast class.", demo_right=demo(_baseline, _ctx_1), demo_wrong=demo(_reconstruction, _ctx_1))
def check_counterfactual_by_hand(answer, *, cae, x, reference, contrast) -> str:
    try:
        close(answer, _baseline(cae, x, reference, contrast), "the baselines", atol=1e-3, rtol=0,
              hint="decode the image's *individual* code (the second value of cae.encode) with the bank's class "
                   "code that reference(class_codes, targets) picks")
    except WrongAnswer:
        got, rec = numbers(answer, "the baselines"), _reconstruction(cae, x).double().numpy()
        if got.shape == rec.shape and np.allclose(got, rec, atol=1e-3, rtol=0):
            raise WrongAnswer("these are the reconstructions: the class code must come from the bank "
                              "(reference.bank.codes[...]) for the contrast class, not from the image") from None
        raise
    return "this is the image as the CAE would draw it in the contrast class: the baseline IG starts from."


# ---- 07.2: how much of the map lies on the marker -----------------------------------------------------------

def _ctx_2():
    clf, x, marker = _shortcut()
    return {"classifier": clf, "x": x, "marker": marker}


def _marker_mass(classifier, x, marker) -> float:
    from caelib import baselines, saliency

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        maps = saliency.explain("integrated-gradients", classifier, x, 1, baseline=0.0)
    return float(baselines.mask_mass(maps, marker).mean())


def _marker_area(classifier, x, marker) -> float:
    return float(marker.mean())            # what a map spread evenly would give: chance


@exercise("07.2", "The mean share of Integrated Gradients' map (zero baseline, target 'lesion') on the marker.",
          demo_right=demo(_marker_mass, _ctx_2), demo_wrong=demo(_marker_area, _ctx_2))
def check_marker_mass(answer, *, classifier, x, marker) -> str:
    truth, area = _marker_mass(classifier, x, marker), _marker_area(classifier, x, marker)
    got = numbers(answer, "the share")
    even = got.shape == () and abs(float(got) - area) < 0.01
    close(answer, truth, "the share", atol=0.02, rtol=0,
          hint=("that is about the marker's area, what a map spread evenly would give. " if even else "")
          + "Use saliency.explain('integrated-gradients', classifier, x, 1, baseline=0.0) and "
          "baselines.mask_mass(maps, marker), then the mean (one number)")
    return f"{truth:.3f} of the map, on {area:.3f} of the image. Compare it with the other baselines."


# ---- 07.3: one-vs-one completeness ----------------------------------------------------------------------------

def _ctx_3():
    from ..paths import NearestReference

    m, test, bank = _lesions()
    return {"classifier": m.classifier, "cae": m.cae, "x": test.images[test.labels == 1][:4],
            "reference": NearestReference(bank, core=0.5), "target": 1, "contrast": 0}


def _gap(classifier, cae, x, reference, target, contrast) -> torch.Tensor:
    base = _baseline(cae, x, reference, contrast)
    with torch.no_grad():
        zx, zb = classifier(x), classifier(base)
    return (zx[:, target] - zx[:, contrast]) - (zb[:, target] - zb[:, contrast])


def _gap_at_x(classifier, x, target, contrast, **_) -> torch.Tensor:
    with torch.no_grad():
        z = classifier(x)
    return z[:, target] - z[:, contrast]   # the logit difference at x alone, without the baseline's


@exercise("07.3", "What the one-vs-one IG map adds up to: (z_t - z_c)(x) - (z_t - z_c)(counterfactual baseline).",
          demo_right=demo(_gap, _ctx_3), demo_wrong=demo(_gap_at_x, _ctx_3))
def check_one_vs_one_gap(answer, *, classifier, cae, x, reference, target, contrast) -> str:
    close(answer, _gap(classifier, cae, x, reference, target, contrast), "the gaps", atol=1e-3, rtol=1e-3,
          hint="evaluate z_target - z_contrast on the images *and* on their counterfactual baselines "
               "(CounterfactualBaseline(cae, reference, contrast)(x)), and subtract")
    return "by IG's completeness, the signed map sums to exactly this: the whole gap between x and its counterfactual."
