"""Checks for the exercises of notebook 04 (the class-code manifold)."""

from __future__ import annotations

import functools

import torch

from . import WrongAnswer, exercise
from ._common import close, data, demo, models, pair


def _decision():
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 3, (5, 5), generator=g)


@exercise("04.1", "Share of the decision map's cells given to each class.",
          demo_right=lambda: (torch.bincount(_decision().flatten(), minlength=4).float() / 25,
                              {"decision": _decision(), "num_classes": 4}),
          demo_wrong=lambda: (torch.bincount(_decision().flatten(), minlength=3).float() / 25,   # a class missing
                              {"decision": _decision(), "num_classes": 4}))
def check_shares(answer, *, decision, num_classes):
    truth = torch.bincount(decision.flatten(), minlength=num_classes).double() / decision.numel()
    close(answer, truth, "shares", atol=1e-6, hint="count the cells of each class (also the classes with no "
          "cell: torch.bincount's minlength) and divide by the number of cells")


@functools.lru_cache(maxsize=None)
def _space():
    from ..manifold import fit_plane
    from ..swap import encode_all

    m, test, train = models("lesions-kinds"), data("lesions-kinds", "test", 60), data("lesions-kinds", "train", 120)
    codes, indiv = encode_all(m.cae, test.images)
    plane = fit_plane(codes)
    return m, test, train, codes, indiv, plane


def _ctx_knn():
    m, test, train, codes, _, plane = _space()
    return {"cae": m.cae, "plane": plane, "train_images": train.images, "train_labels": train.labels,
            "points": plane.project(codes), "labels": test.labels}


def _knn_2d(cae, plane, train_images, train_labels, points, labels):
    from ..manifold import knn_accuracy
    from ..swap import encode_all

    train_codes, _ = encode_all(cae, train_images)
    return knn_accuracy(plane.project(train_codes), train_labels, points, labels)


def _wrong_knn():
    from ..manifold import knn_accuracy
    from ..swap import encode_all

    c = _ctx_knn()
    train_codes, _ = encode_all(c["cae"], c["train_images"])
    test_codes, _ = encode_all(c["cae"], _space()[1].images)
    return knn_accuracy(train_codes, c["train_labels"], test_codes, c["labels"]) * 0.5, c   # not the 2-D number


@exercise("04.2", "5-NN accuracy of the class codes projected on the 2-D PCA plane.",
          demo_right=demo(_knn_2d, _ctx_knn), demo_wrong=_wrong_knn)
def check_knn_2d(answer, *, cae, plane, train_images, train_labels, points, labels):
    close(answer, _knn_2d(cae, plane, train_images, train_labels, points, labels), "knn_2d", atol=0.005,
          hint="encode the training images, project their class codes with the same plane (plane.project), and "
          "score the 5-NN classifier on the projected test points")


def _first_flip(cae, classifier, codes, indiv, labels, image, target):
    from ..classifier import predict_proba
    from ..swap import decode_all

    target_code = codes[labels == target].mean(0)
    steps = torch.linspace(0, 1, 8)[:, None]
    line = (1 - steps) * codes[image] + steps * target_code
    frames = decode_all(cae, indiv[image:image + 1].expand(8, *indiv.shape[1:]), line)
    decisions = predict_proba(classifier, frames).argmax(1).tolist()
    return next((i for i, d in enumerate(decisions) if d == target), None)


def _ctx_flip():
    m, test, _, codes, indiv, _ = _space()
    image = 0
    return {"cae": m.cae, "classifier": m.classifier, "codes": codes, "indiv": indiv, "labels": test.labels,
            "image": image, "target": (int(test.labels[image]) + 1) % 4}


def _wrong_flip():
    c = _ctx_flip()
    truth = _first_flip(**c)
    return (7 if truth is None else (truth + 1 if truth < 7 else None)), c


@exercise("04.3", "First of 8 steps on the straight line towards the target class's mean class code that the "
          "black box assigns to the target.", demo_right=demo(_first_flip, _ctx_flip),
          demo_wrong=_wrong_flip, accepts_none=True)
def check_first_flip(answer, *, cae, classifier, codes, indiv, labels, image, target):
    truth = _first_flip(cae, classifier, codes, indiv, labels, image, target)
    if truth is None and answer is not None:
        raise WrongAnswer("the black box never says TARGET on this line: the answer is None")
    if truth is not None:
        if answer is None or not isinstance(answer, int) and not (isinstance(answer, torch.Tensor)
                                                                    and answer.numel() == 1):
            raise WrongAnswer("first_flip should be a step index 0..7 (or None if no step is TARGET)")
        if int(answer) != truth:
            raise WrongAnswer(f"step {int(answer)} is not the first step the black box calls TARGET: decode the 8 "
                              "steps from the image's class code (step 0) to the class mean (step 7) with the "
                              "image's individual code and take the first decision equal to TARGET")


def _erasure_cost(cae, images, power=1):
    from ..erasure import raw_indiv_codes
    from ..swap import decode_all, encode_all

    codes, indiv = encode_all(cae, images)
    raw = raw_indiv_codes(cae, images).view_as(indiv)
    return tuple(float((decode_all(cae, ind, codes) - images).abs().pow(power).mean()) for ind in (indiv, raw))


def _ctx_erasure():
    m, test, *_ = _space()
    return {"cae": m.cae, "images": test.images}


def _wrong_erasure():
    c = _ctx_erasure()
    return _erasure_cost(**c, power=2), c                        # squared errors, not absolute ones


@exercise("04.4", "Mean |error| of the reconstructions decoded from the erased individual codes and from the "
          "codes before erasure.", demo_right=demo(_erasure_cost, _ctx_erasure), demo_wrong=_wrong_erasure)
def check_erasure_cost(answer, *, cae, images):
    got = pair(answer, "err_erased, err_raw")
    close(got, _erasure_cost(cae, images), "(err_erased, err_raw)", atol=1e-4,
          hint="decode each set of individual codes with the images' own class codes (swap.decode_all) and "
          "average |decoded - image|; the codes before erasure are erasure.raw_indiv_codes(cae, images), "
          "reshaped like indiv")
