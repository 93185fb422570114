"""Checks for notebook 07 (counterfactual baselines, one-vs-one, the shortcut classifier)."""

from __future__ import annotations

import warnings
from functools import lru_cache

import torch

from . import WrongAnswer, exercise


@lru_cache(maxsize=None)
def _lesions(n_train: int = 400, n_test: int = 32):
    import caelib
    from caelib import paths

    models = caelib.pretrained("lesions")
    train = caelib.load_dataset("lesions", split="train", n=n_train)
    test = caelib.load_dataset("lesions", split="test", n=n_test)
    bank = paths.CodeBank.from_images(models.cae, train.images, train.labels, classifier=models.classifier)
    return models, test, bank


@lru_cache(maxsize=None)
def _shortcut(n_test: int = 120):
    import caelib
    from caelib import baselines

    clf = caelib.pretrained("lesions-shortcut", with_cae=False).classifier
    test = caelib.load_dataset("lesions-shortcut", split="test", n=n_test)
    both = baselines.shortcut_images(test)[:6]
    return clf, test.images[both], test.marker_masks[both]


def _as_tensor(answer, what: str) -> torch.Tensor:
    if not torch.is_tensor(answer):
        raise WrongAnswer(f"{what} should be a torch tensor, got {type(answer).__name__}")
    return answer.detach().float()


# ---- 07.1: the counterfactual baseline by hand ------------------------------------------------------------

def _demo_1_context():
    from caelib import paths

    models, test, bank = _lesions()
    return {"cae": models.cae, "x": test.images[test.labels == 1][:4], "reference": paths.MedoidReference(bank),
            "contrast": 0}


def _demo_1_right():
    from caelib.baselines import CounterfactualBaseline

    ctx = _demo_1_context()
    return CounterfactualBaseline(ctx["cae"], ctx["reference"], ctx["contrast"])(ctx["x"]), ctx


def _demo_1_wrong():
    ctx = _demo_1_context()
    with torch.no_grad():
        return ctx["cae"].reconstruct(ctx["x"]), ctx   # the image's own class code: not a counterfactual


@exercise("07.1", "Build the counterfactual baseline by hand: x's individual code with the medoid class code "
          "of the contrast class.", demo_right=_demo_1_right, demo_wrong=_demo_1_wrong)
def check_counterfactual_by_hand(answer, *, cae, x, reference, contrast) -> str:
    from caelib.baselines import CounterfactualBaseline

    got = _as_tensor(answer, "the baselines")
    if got.shape != x.shape:
        raise WrongAnswer(f"expected one baseline per image, shape {tuple(x.shape)}, got {tuple(got.shape)}")
    truth = CounterfactualBaseline(cae, reference, contrast)(x)
    err = float((got - truth).abs().max())
    if err > 1e-3:
        with torch.no_grad():
            rec = cae.reconstruct(x)
        if float((got - rec).abs().max()) < 1e-3:
            raise WrongAnswer("these are the reconstructions: the class code must come from the bank "
                              "(reference.bank.codes[...]) for the contrast class, not from the image")
        raise WrongAnswer(f"off by up to {err:.3f}: decode the image's *individual* code (the second value of "
                          "cae.encode) with the bank's class code that reference(class_codes, targets) picks")
    return "this is the image as the CAE would draw it in the contrast class: the baseline IG starts from."


# ---- 07.2: how much of the map lies on the marker -----------------------------------------------------------

def _marker_mass(clf, x, marker) -> float:
    from caelib import baselines, saliency

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        maps = saliency.explain("integrated-gradients", clf, x, 1, baseline=0.0)
    return float(baselines.mask_mass(maps, marker).mean())


def _demo_2_right():
    clf, x, marker = _shortcut()
    return _marker_mass(clf, x, marker), {"classifier": clf, "x": x, "marker": marker}


def _demo_2_wrong():
    clf, x, marker = _shortcut()
    return float(marker.mean()), {"classifier": clf, "x": x, "marker": marker}   # the marker's area: chance


@exercise("07.2", "The mean share of Integrated Gradients' map (zero baseline, target 'lesion') on the marker.",
          demo_right=_demo_2_right, demo_wrong=_demo_2_wrong)
def check_marker_mass(answer, *, classifier, x, marker) -> str:
    try:
        value = float(answer)
    except (TypeError, ValueError):
        raise WrongAnswer(f"answer one number (the mean over the images), got {type(answer).__name__}") from None
    if not 0 <= value <= 1:
        raise WrongAnswer(f"a share of the map lies in [0, 1], got {value:.3f}")
    truth = _marker_mass(classifier, x, marker)
    if abs(value - truth) > 0.02:
        hint = " That is about the marker's area, what a map spread evenly would give." if abs(
            value - float(marker.mean())) < 0.01 else ""
        raise WrongAnswer(f"{value:.3f} is not what the maps give.{hint} Use saliency.explain('integrated-gradients',"
                          " classifier, x, 1, baseline=0.0) and baselines.mask_mass(maps, marker), then the mean")
    return f"{truth:.3f} of the map, on {float(marker.mean()):.3f} of the image. Compare it with the other baselines."


# ---- 07.3: one-vs-one completeness ----------------------------------------------------------------------------

def _demo_3_context():
    from caelib import paths

    models, test, bank = _lesions()
    return {"classifier": models.classifier, "cae": models.cae, "x": test.images[test.labels == 1][:4],
            "reference": paths.NearestReference(bank, core=0.5), "target": 1, "contrast": 0}


def _gap(classifier, cae, x, reference, target, contrast) -> torch.Tensor:
    from caelib.baselines import CounterfactualBaseline

    base = CounterfactualBaseline(cae, reference, contrast)(x)
    with torch.no_grad():
        zx, zb = classifier(x), classifier(base)
    return (zx[:, target] - zx[:, contrast]) - (zb[:, target] - zb[:, contrast])


def _demo_3_right():
    ctx = _demo_3_context()
    return _gap(**ctx), ctx


def _demo_3_wrong():
    ctx = _demo_3_context()
    with torch.no_grad():
        z = ctx["classifier"](ctx["x"])
    return z[:, 1] - z[:, 0], ctx   # the logit difference at x alone, without the baseline's


@exercise("07.3", "What the one-vs-one IG map adds up to: (z_t - z_c)(x) - (z_t - z_c)(counterfactual baseline).",
          demo_right=_demo_3_right, demo_wrong=_demo_3_wrong)
def check_one_vs_one_gap(answer, *, classifier, cae, x, reference, target, contrast) -> str:
    got = _as_tensor(answer, "the gaps")
    if got.shape != (len(x),):
        raise WrongAnswer(f"expected one number per image, shape ({len(x)},), got {tuple(got.shape)}")
    truth = _gap(classifier, cae, x, reference, target, contrast)
    if not torch.allclose(got, truth, rtol=1e-3, atol=1e-3):
        raise WrongAnswer("not the gap yet: evaluate z_target - z_contrast on the images *and* on their "
                          "counterfactual baselines (CounterfactualBaseline(cae, reference, contrast)(x)), and "
                          "subtract")
    return "by IG's completeness, the signed map sums to exactly this: the whole gap between x and its counterfactual."
