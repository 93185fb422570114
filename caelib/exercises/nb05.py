"""Checks for the exercises of notebook 05 (guided counterfactual paths)."""

from __future__ import annotations

import functools

import torch

from . import exercise
from ._common import close, data, demo, models, pair


@functools.lru_cache(maxsize=None)
def _setup():
    from ..paths import CodeBank, MedoidReference

    m, train, test = models("lesions"), data("lesions", "train", 300), data("lesions", "test", 40)
    bank = CodeBank.from_images(m.cae, train.images, train.labels, classifier=m.classifier)
    return m, test.images[:12], bank, MedoidReference(bank)


def _ctx_path():
    from ..paths import counterfactual_path

    m, x, _, medoid = _setup()
    return {"path": counterfactual_path(m.cae, m.classifier, x[:8], reference=medoid, steps=11, stop_at_flip=False)}


def _at_flip(path):
    flipped = path.flipped
    return path.target_probs[flipped, path.flip_index[flipped]]


def _wrong_at_flip():
    c = _ctx_path()
    p = c["path"]
    return p.target_probs[p.flipped, -1], c                          # the last step, not the flip


@exercise("05.1", "The target class's probability at each flip of the paths of 'One path'.",
          demo_right=demo(_at_flip, _ctx_path), demo_wrong=_wrong_at_flip)
def check_at_flip(answer, *, path):
    close(answer, _at_flip(path), "at_flip", atol=1e-5, hint="keep the flipped paths only (path.flipped) and read "
          "path.target_probs at each one's flip step (path.flip_index)")


def _flip0_counts(cae, classifier, x, reference):
    from ..classifier import predict_proba
    from ..paths import counterfactual_path

    p = counterfactual_path(cae, classifier, x, reference=reference, steps=11)
    with torch.no_grad():
        rec = predict_proba(classifier, cae.reconstruct(x)).argmax(1)
    return int((p.flip_index == 0).sum()), int((rec == p.target).sum())


def _ctx_flip0():
    m, x, _, medoid = _setup()
    return {"cae": m.cae, "classifier": m.classifier, "x": x, "reference": medoid}


def _wrong_flip0():
    from ..classifier import predict_proba

    c = _ctx_flip0()
    n_flip0, _ = _flip0_counts(**c)
    with torch.no_grad():
        rec = predict_proba(c["classifier"], c["cae"].reconstruct(c["x"])).argmax(1)
    decision = predict_proba(c["classifier"], c["x"]).argmax(1)
    return (n_flip0, int((rec == decision).sum())), c                  # compared with the source, not the target


@exercise("05.2", "Paths that flip at step 0, counted from flip_index and from the black box on reconstructions.",
          demo_right=demo(_flip0_counts, _ctx_flip0), demo_wrong=_wrong_flip0)
def check_flip0(answer, *, cae, classifier, x, reference):
    n_flip0, n_direct = pair(answer, "n_flip0, n_direct")
    truth0, truth_direct = _flip0_counts(cae, classifier, x, reference)
    close(n_flip0, truth0, "n_flip0", atol=0, rtol=0, hint="count the paths whose flip_index is 0")
    close(n_direct, truth_direct, "n_direct", atol=0, rtol=0, hint="count the images whose reconstruction the "
          "black box assigns to the path's target class (path.target)")


def _flip_shares(cae, classifier, x, bank):
    from ..paths import NearestReference, counterfactual_path

    p3 = counterfactual_path(cae, classifier, x, reference=NearestReference(bank, n=3))
    any_flip = float(torch.zeros(len(x)).index_add_(0, p3.image_index, p3.flipped.float()).gt(0).float().mean())
    p1 = counterfactual_path(cae, classifier, x, reference=NearestReference(bank, n=1))
    return any_flip, float(p1.flipped.float().mean()), float(p3.flipped.float().mean())


def _ctx_shares():
    m, x, bank, _ = _setup()
    return {"cae": m.cae, "classifier": m.classifier, "x": x, "bank": bank}


def _wrong_shares():
    c = _ctx_shares()
    any_flip, one_flip, per_path = _flip_shares(**c)
    wrong = per_path if abs(per_path - any_flip) > 1e-6 else any_flip / 2   # per path, not per image
    return (wrong, one_flip), c


@exercise("05.3", "Share of images with at least one flipping path among 3 nearest references, and with 1.",
          demo_right=demo(_flip_shares, _ctx_shares, lambda shares: shares[:2]), demo_wrong=_wrong_shares)
def check_flip_shares(answer, *, cae, classifier, x, bank):
    any_flip, one_flip = pair(answer, "any_flip, one_flip")
    truth_any, truth_one, _ = _flip_shares(cae, classifier, x, bank)
    close(any_flip, truth_any, "any_flip", atol=1e-6, hint="count images, not paths: an image counts when at "
          "least one of its three paths (path.image_index) flips")
    close(one_flip, truth_one, "one_flip", atol=1e-6, hint="with n=1 there is one path per image: the share of "
          "flipped paths")
