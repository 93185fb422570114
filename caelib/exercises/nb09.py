"""Checks for the exercises of ``notebooks/09_misclassifications.ipynb`` (why was it misclassified?).

Each check recomputes the truth from the context the notebook passes (models, images, the explanation),
so it holds for any models and images, not one hard-coded number.
"""

from __future__ import annotations

import functools

import torch

from . import WrongAnswer, exercise

# ---- small demonstrations (shipped models, a few test images) ----------------------------------------------

@functools.lru_cache(maxsize=1)
def _mnist():
    from .. import load_dataset, misclass, paths, pretrained

    models = pretrained("mnist")
    test = load_dataset("mnist", "test")
    idx = misclass.misclassified(models.classifier, test.images, test.labels)[:4]
    bank = paths.CodeBank.from_images(models.cae, test.images, test.labels, classifier=models.classifier)
    expl = misclass.explain_misclassified(models.cae, models.classifier, test.images[idx], test.labels[idx],
                                          reference=misclass.DiverseReference(bank, nearest=1, diverse=2),
                                          method="saliency")
    return models, test.images[idx], test.labels[idx], expl


@functools.lru_cache(maxsize=1)
def _lesions():
    from pathlib import Path

    from .. import load_dataset
    from ..classifier import load_classifier

    path = Path(__file__).resolve().parents[2] / "data" / "lesions-weak-classifier.pt"
    test = load_dataset("lesions", "test", n=300)
    return load_classifier(path).eval(), test


# ---- 09.1: already right at the reconstruction ------------------------------------------------------------

def _rec_right(cae, classifier, images, labels) -> int:
    from ..classifier import predict_proba

    with torch.no_grad():
        rec = cae.reconstruct(images)
    return int((predict_proba(classifier, rec).argmax(1) == torch.as_tensor(labels)).sum())


def _demo_rec(wrong: bool):
    models, x, y, _ = _mnist()
    n = _rec_right(models.cae, models.classifier, x, y)
    return n + 1 if wrong else n, {"cae": models.cae, "classifier": models.classifier, "images": x, "labels": y}


@exercise("09.1", "How many misclassified images does the black box get right on their reconstruction?",
          demo_right=lambda: _demo_rec(False), demo_wrong=lambda: _demo_rec(True))
def check_reconstruction(answer, *, cae, classifier, images, labels) -> str | None:
    truth = _rec_right(cae, classifier, images, labels)
    try:
        n = int(answer)
    except (TypeError, ValueError):
        raise WrongAnswer(f"answer with a count (an int), got {type(answer).__name__}") from None
    if n != truth:
        raise WrongAnswer("Reconstruct the misclassified images with cae.reconstruct, ask the black box "
                          "(caelib.predict_proba(...).argmax(1)) and count where it gives the true label.")
    return (f"{truth} of {len(images)}: their counterfactuals flip at step 0, so they explain the CAE's "
            "reconstruction rather than a change of class code.")


# ---- 09.2: the pixel every counterfactual changes ---------------------------------------------------------

def _demo_pixel(wrong: bool):
    *_, expl = _mnist()
    e = int(expl.found.nonzero()[0])
    common = expl.common(e)[0]
    flat = common.argmin() if wrong else common.argmax()
    return (int(flat) // common.shape[1], int(flat) % common.shape[1]), {"expl": expl, "e": e}


@exercise("09.2", "Which pixel do all counterfactuals of one misclassified image change most?",
          demo_right=lambda: _demo_pixel(False), demo_wrong=lambda: _demo_pixel(True))
def check_pixel(answer, *, expl, e) -> str | None:
    try:
        row, col = (int(v) for v in answer)
    except (TypeError, ValueError):
        raise WrongAnswer("answer with the pixel's position as a pair (row, col)") from None
    idx = expl.found_paths(e)
    if len(idx) == 0:
        raise WrongAnswer(f"image {e} has no counterfactual towards its true class; pick another e")
    common = expl.cae_maps[idx].amin(0)[0]                                             # (H, W)
    if not (0 <= row < common.shape[0] and 0 <= col < common.shape[1]):
        raise WrongAnswer(f"(row, col) must lie inside the {common.shape[0]}x{common.shape[1]} image")
    if float(common[row, col]) < 0.999 * float(common.max()):
        raise WrongAnswer("Take the CAE maps of the counterfactuals that reach the true class "
                          "(expl.found_paths(e)), their pixel-wise minimum, and the (row, col) of its maximum.")
    return None


# ---- 09.3: are the missed lesions fainter? -----------------------------------------------------------------

def _contrasts(classifier, images, labels, masks) -> tuple[float, float]:
    from ..classifier import predict_proba
    from ..misclass import lesion_contrast

    pred = predict_proba(classifier, images).argmax(1)
    lesion = torch.as_tensor(labels) == 1
    c = lesion_contrast(images, masks)
    return float(c[lesion & (pred == 0)].mean()), float(c[lesion & (pred == 1)].mean())


def _demo_contrast(wrong: bool):
    clf, test = _lesions()
    missed, seen = _contrasts(clf, test.images, test.labels, test.masks)
    return ((seen, missed) if wrong else (missed, seen),
            {"classifier": clf, "images": test.images, "labels": test.labels, "masks": test.masks})


@exercise("09.3", "Are the lesions the weak black box misses fainter than those it detects?",
          demo_right=lambda: _demo_contrast(False), demo_wrong=lambda: _demo_contrast(True))
def check_contrast(answer, *, classifier, images, labels, masks) -> str | None:
    missed, seen = _contrasts(classifier, images, labels, masks)
    try:
        got = tuple(float(v) for v in answer)
    except (TypeError, ValueError):
        got = ()
    if len(got) != 2:
        raise WrongAnswer("answer with two numbers: (mean contrast of the missed lesions, of the detected ones)")
    if abs(got[0] - seen) < 1e-3 and abs(got[1] - missed) < 1e-3 and abs(missed - seen) > 1e-3:
        raise WrongAnswer("The two numbers are swapped: first the missed lesions (label 1, decision 0).")
    if abs(got[0] - missed) > 1e-3 or abs(got[1] - seen) > 1e-3:
        raise WrongAnswer("Use misclass.lesion_contrast(images, masks) and average it over the lesion images "
                          "(label 1) the black box calls normal, then over those it calls lesion.")
    verdict = "fainter" if missed < seen else "not fainter"
    return f"missed {missed:.3f} vs detected {seen:.3f}: the missed lesions are {verdict}."
