"""Checks for the exercises of ``notebooks/09_misclassifications.ipynb`` (why was it misclassified?).

Each check recomputes the truth from the context the notebook passes (models, images, the explanation),
so it holds for any models and images, not one hard-coded number.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from . import WrongAnswer, exercise
from ._common import close, close_pair, data, demo, models, numbers, pair, swapped

# ---- small demonstrations (shipped models, a few test images) ----------------------------------------------

@functools.lru_cache(maxsize=1)
def _mnist():
    from .. import misclass
    from ..paths import CodeBank

    m, test = models("mnist"), data("mnist", "test", None)
    idx = misclass.misclassified(m.classifier, test.images, test.labels)[:4]
    bank = CodeBank.from_images(m.cae, test.images, test.labels, classifier=m.classifier)
    expl = misclass.explain_misclassified(m.cae, m.classifier, test.images[idx], test.labels[idx],
                                          reference=misclass.DiverseReference(bank, nearest=1, diverse=2),
                                          method="saliency")
    return m, test.images[idx], test.labels[idx], expl


@functools.lru_cache(maxsize=1)
def _lesions():
    from pathlib import Path

    from ..classifier import load_classifier

    path = Path(__file__).resolve().parents[2] / "data" / "lesions-weak-classifier.pt"
    return load_classifier(path).eval(), data("lesions", "test", 300)


# ---- 09.1: already right at the reconstruction ------------------------------------------------------------

def _ctx_rec():
    m, x, y, _ = _mnist()
    return {"cae": m.cae, "classifier": m.classifier, "images": x, "labels": y}


def _rec_right(cae, classifier, images, labels) -> int:
    from ..classifier import predict_proba

    with torch.no_grad():
        rec = cae.reconstruct(images)
    return int((predict_proba(classifier, rec).argmax(1) == torch.as_tensor(labels)).sum())


@exercise("09.1", "How many misclassified images does the black box get right on their reconstruction?",
          demo_right=demo(_rec_right, _ctx_rec), demo_wrong=demo(_rec_right, _ctx_rec, lambda n: n + 1))
def check_reconstruction(answer, *, cae, classifier, images, labels) -> str | None:
    truth = _rec_right(cae, classifier, images, labels)
    close(answer, truth, "n_rec_right", atol=0, rtol=0,
          hint="reconstruct the misclassified images with cae.reconstruct, ask the black box "
               "(caelib.predict_proba(...).argmax(1)) and count where it gives the true label")
    return (f"{truth} of {len(images)}: their counterfactuals flip at step 0, so they explain the CAE's "
            "reconstruction rather than a change of class code.")


# ---- 09.2: the pixel every counterfactual changes ---------------------------------------------------------

def _ctx_pixel():
    *_, expl = _mnist()
    return {"expl": expl, "e": int(expl.found.nonzero()[0])}


def _common_change(expl, e) -> torch.Tensor:
    """(H, W) the pixel-wise minimum of the CAE maps of image ``e``'s counterfactuals that reach the true class."""
    return expl.cae_maps[expl.found_paths(e)].amin(0)[0]


def _pixel(expl, e, *, least: bool = False) -> tuple[int, int]:
    common = _common_change(expl, e)
    flat = int(common.argmin() if least else common.argmax())
    return flat // common.shape[1], flat % common.shape[1]


@exercise("09.2", "Which pixel do all counterfactuals of one misclassified image change most?",
          demo_right=demo(_pixel, _ctx_pixel), demo_wrong=demo(lambda **c: _pixel(**c, least=True), _ctx_pixel))
def check_pixel(answer, *, expl, e) -> str | None:
    row, col = (int(v) for v in numbers(pair(answer, "row, col"), "(row, col)"))
    if len(expl.found_paths(e)) == 0:
        raise WrongAnswer(f"image {e} has no counterfactual towards its true class; pick another e")
    common = _common_change(expl, e)                                                   # (H, W)
    if not (0 <= row < common.shape[0] and 0 <= col < common.shape[1]):
        raise WrongAnswer(f"(row, col) must lie inside the {common.shape[0]}x{common.shape[1]} image")
    if float(common[row, col]) < 0.999 * float(common.max()):     # any of tied maxima is right
        raise WrongAnswer("Take the CAE maps of the counterfactuals that reach the true class "
                          "(expl.found_paths(e)), their pixel-wise minimum, and the (row, col) of its maximum.")
    return None


# ---- 09.3: are the missed lesions fainter? -----------------------------------------------------------------

def _ctx_contrast():
    clf, test = _lesions()
    return {"classifier": clf, "images": test.images, "labels": test.labels, "masks": test.masks}


def _contrasts(classifier, images, labels, masks) -> tuple[float, float]:
    from ..classifier import predict_proba
    from ..misclass import lesion_contrast

    pred = predict_proba(classifier, images).argmax(1)
    lesion = torch.as_tensor(labels) == 1
    c = lesion_contrast(images, masks)
    return float(c[lesion & (pred == 0)].mean()), float(c[lesion & (pred == 1)].mean())


@exercise("09.3", "Are the lesions the weak black box misses fainter than those it detects?",
          demo_right=demo(_contrasts, _ctx_contrast), demo_wrong=demo(_contrasts, _ctx_contrast, swapped))
def check_contrast(answer, *, classifier, images, labels, masks) -> str | None:
    missed, seen = _contrasts(classifier, images, labels, masks)
    got = numbers(pair(answer, "mean contrast of the missed lesions, of the detected ones"), "contrasts")
    if abs(missed - seen) > 1e-3 and np.allclose(got, [seen, missed], atol=1e-3, rtol=0):
        raise WrongAnswer("The two numbers are swapped: first the missed lesions (label 1, decision 0).")
    hint = ("use misclass.lesion_contrast(images, masks) and average it over the lesion images (label 1) the black "
            "box calls normal, then over those it calls lesion")
    close_pair(answer, (missed, seen), ("missed", "detected"), atol=1e-3, hints=(hint, hint))
    verdict = "fainter" if missed < seen else "not fainter"
    return f"missed {missed:.3f} vs detected {seen:.3f}: the missed lesions are {verdict}."
