"""Checks for the exercises of notebook 03 (code swapping)."""

from __future__ import annotations

import numpy as np
import torch

from . import WrongAnswer, exercise
from ._common import close, data, demo, models, pair


def _conf():
    rng = np.random.default_rng(0)
    c = rng.random((3, 3, 3))
    return c / c.sum(2, keepdims=True)                          # [a, b, p], rows sum to 1 over p


@exercise("03.1", "Mean flip rate into each class b over the individual-code classes a != b.",
          demo_right=lambda: ([np.mean([_conf()[a, b, b] for a in range(3) if a != b]) for b in range(3)],
                              {"conf": _conf()}),
          demo_wrong=lambda: ([np.mean([_conf()[a, b, b] for b in range(3) if b != a]) for a in range(3)],
                              {"conf": _conf()}))               # averaged the other way: flip rate *from* a
def check_into(answer, *, conf):
    conf = np.asarray(conf, dtype=np.float64)
    k = conf.shape[0]
    truth = [np.mean([conf[a, b, b] for a in range(k) if a != b]) for b in range(k)]
    close(answer, truth, "into", atol=1e-6, hint="for a fixed class-code class b, average conf[a, b, b] "
          "over the individual-code classes a != b")


def _self_gap(cae, images):
    from ..swap import swap

    with torch.no_grad():
        return float((swap(cae, images, images) - cae.reconstruct(images)).abs().max())


def _ctx_gap():
    return {"cae": models("lesions").cae, "images": data("lesions", "test", 40).images[:8]}


def _wrong_gap():
    c = _ctx_gap()
    from ..swap import swap

    with torch.no_grad():
        return float((swap(c["cae"], c["images"], c["images"]) - c["images"]).abs().max()), c   # vs the input


@exercise("03.2", "Largest |swap(x, x) - reconstruct(x)| on a few test images.",
          demo_right=demo(_self_gap, _ctx_gap), demo_wrong=_wrong_gap)
def check_self_swap(answer, *, cae, images):
    truth = _self_gap(cae, images)
    close(answer, truth, "gap", atol=1e-5, rtol=0.1, hint="compare the self-swap with the reconstruction "
          "(cae.reconstruct), not with the input image: the reconstruction error is not part of this gap")


def _shares(change, masks):
    from ..conventions import dilate

    inside = dilate(masks, 1)
    return float((change * inside).sum() / change.sum()), float(inside.mean())


def _ctx_shares():
    from ..swap import explain_swap

    d, m = data("lesions-kinds", "test", 40), models("lesions-kinds")
    sick, healthy = (d.labels != 0).nonzero().flatten()[:4], (d.labels == 0).nonzero().flatten()[:4]
    result = explain_swap(m.cae, m.classifier, d.images[sick], d.images[healthy])
    return {"change": result.change, "masks": d.masks[sick]}


def _wrong_shares():
    c = _ctx_shares()
    m = c["masks"].float()                                       # forgot to grow the masks by 1 pixel
    return (float((c["change"] * m).sum() / c["change"].sum()), float(m.mean())), c


@exercise("03.3", "Share of the swap's change inside the (dilated) evidence masks, and the masks' share of the area.",
          demo_right=demo(_shares, _ctx_shares), demo_wrong=_wrong_shares)
def check_change_shares(answer, *, change, masks):
    if masks is None:
        raise WrongAnswer("this dataset has no evidence masks: skip this exercise")
    share_of_change, share_of_area = pair(answer, "share_of_change, share_of_area")
    truth_change, truth_area = _shares(change, masks)
    close(share_of_area, truth_area, "share_of_area", atol=1e-5, hint="the mean of the masks grown by 1 pixel "
          "(swap.dilate(masks, 1))")
    close(share_of_change, truth_change, "share_of_change", atol=1e-4, hint="the sum of the change inside the "
          "grown masks divided by the sum of all the change")
