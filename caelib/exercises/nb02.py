"""Checks for the exercises of notebook 02 (encoding)."""

from __future__ import annotations

import torch

from . import exercise
from ._common import close, data, demo, models, pair, same_ints, swapped


def _recon_errors(cae, images, labels, num_classes):
    with torch.no_grad():
        err = (cae.reconstruct(images) - images).abs().mean(dim=(1, 2, 3))
    return torch.stack([err[labels == k].mean() for k in range(num_classes)])


def _ctx_recon():
    d = data("lesions", "test", 40)
    return {"cae": models("lesions").cae, "images": d.images, "labels": d.labels}


def _right_recon():
    c = _ctx_recon()
    return _recon_errors(c["cae"], c["images"], c["labels"], 2).tolist(), c


def _wrong_recon():
    c = _ctx_recon()
    with torch.no_grad():
        err = ((c["cae"].reconstruct(c["images"]) - c["images"]) ** 2).mean(dim=(1, 2, 3))   # squared, not |.|
    return [float(err[c["labels"] == k].mean()) for k in range(2)], c


@exercise("02.1", "Mean absolute reconstruction error per class.", demo_right=_right_recon, demo_wrong=_wrong_recon)
def check_recon_per_class(answer, *, cae, images, labels):
    k = int(labels.max()) + 1
    close(answer, _recon_errors(cae, images, labels, k), "per_class", rtol=1e-3, atol=1e-5,
          hint="for each class, the mean over its images of mean |x_rec - x| over all pixels")


def _centroid_accuracy(cae, train_images, train_labels, images, labels):
    from ..swap import encode_all

    k = int(train_labels.max()) + 1
    codes, _ = encode_all(cae, train_images)
    centroids = torch.stack([codes[train_labels == c].mean(0) for c in range(k)])
    test_codes, _ = encode_all(cae, images)
    return float((torch.cdist(test_codes, centroids).argmin(1) == labels).float().mean())


def _ctx_centroid():
    train, test = data("lesions", "train", 200), data("lesions", "test", 60)
    return {"cae": models("lesions").cae, "train_images": train.images, "train_labels": train.labels,
            "images": test.images, "labels": test.labels}


@exercise("02.2", "Accuracy of a nearest-centroid classifier on class codes.",
          demo_right=demo(_centroid_accuracy, _ctx_centroid),
          demo_wrong=demo(_centroid_accuracy, _ctx_centroid, lambda accuracy: 1 - accuracy))   # the error rate
def check_centroid_accuracy(answer, *, cae, train_images, train_labels, images, labels):
    close(answer, _centroid_accuracy(cae, train_images, train_labels, images, labels), "accuracy", atol=0.01,
          hint="average the class codes of each class's training images, assign each test image to the "
          "nearest average, and count how often that is its label")


def _swapped_predictions(cae, classifier, normal, lesion):
    from ..classifier import predict_proba
    from ..swap import decode_all, encode_all

    s_n, c_n = encode_all(cae, normal)
    s_l, _ = encode_all(cae, lesion)
    own = predict_proba(classifier, decode_all(cae, c_n, s_n)).argmax(1)
    with_lesion_code = predict_proba(classifier, decode_all(cae, c_n, s_l)).argmax(1)
    return own, with_lesion_code


def _ctx_swap():
    d, m = data("lesions", "test", 40), models("lesions")
    return {"cae": m.cae, "classifier": m.classifier, "normal": d.images[d.labels == 0][:12],
            "lesion": d.images[d.labels == 1][:12]}


@exercise("02.3", "Black-box decisions on normal images decoded with their own / a lesion image's class code.",
          demo_right=demo(_swapped_predictions, _ctx_swap),
          demo_wrong=demo(_swapped_predictions, _ctx_swap, swapped))
def check_swap_direction(answer, *, cae, classifier, normal, lesion):
    pred_own, pred_swapped = pair(answer, "pred_own, pred_swapped")
    own, with_lesion_code = _swapped_predictions(cae, classifier, normal, lesion)
    same_ints(pred_own, own, "pred_own", agree=0.98, hint="decode each normal image's individual code with its "
              "own class code")
    same_ints(pred_swapped, with_lesion_code, "pred_swapped", agree=0.98, hint="decode each normal image's individual "
              "code with the class code of a lesion image (swap.encode_all returns (class codes, individual "
              "codes); swap.decode_all takes (cae, individual codes, class codes))")
