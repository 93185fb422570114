"""The diagrams of the explanations, notebooks 05 to 10: paths, saliency, baselines, several explanations, own data.

Drawn by ``caelib.diagrams.idea(stage)`` (the stages "path", "saliency", "baselines", "multiple", "misclass" and
"own-data"): a counterfactual path, a saliency map from it, baselines for attribution, several explanations of one
decision, counterfactuals of a misclassification, the pipeline for your own data.
"""

from __future__ import annotations

from functools import lru_cache

import torch

from .diagrams_sketch import FONT, GREEN, ORANGE, RED, _bank, _first, _prob, _shipped, _Sketch


@lru_cache(maxsize=4)
def _one_path(dataset: str, index: int):
    from . import paths

    models, ds = _shipped(dataset)
    i = _first(ds.labels, lambda y: y != 0, index)
    bank = _bank(dataset)
    path = paths.counterfactual_path(models.cae, models.classifier, ds.images[i:i + 1],
                                     reference=paths.MedoidReference(bank), steps=11, stop_at_flip=False)
    return i, path


def _path(dataset, index, seed):
    import numpy as np

    models, ds = _shipped(dataset)
    names = ds.class_names
    i, path = _one_path(dataset, index)
    flip, src, tgt = int(path.flip_index[0]), int(path.source[0]), int(path.target[0])
    chosen = sorted(set(np.linspace(0, path.steps - 1, 5).round().astype(int).tolist()) | ({flip} if flip >= 0
                                                                                           else set()))
    s = _Sketch(9.5, 3.3, f"05 · a counterfactual path: {names[src]} \u2192 {names[tgt]}")
    s.image(0.2, 1.75, 0.95, ds.images[i], f"image ({names[src]})",
            mask=None if ds.masks is None else ds.masks[i], mask_colour="cyan")
    x0 = 1.5
    size = min(0.95, 6.9 / len(chosen) - 0.12)
    for j, st in enumerate(chosen):
        p = path.probs[0, st]
        d = int(p.argmax())
        s.image(x0 + j * (size + 0.12), 1.75, size, path.frames[0, st], f"step {st}\n{names[d]}",
                frame=GREEN if st == flip else None, colour=GREEN if d == tgt else "black")
    s.arrow(1.2, 1.5, x0 + len(chosen) * (size + 0.12) - 0.1, 1.5, "the class code walks to the reference's")
    ax = s._axes(1.5, 0.35, 6.5, 0.9)
    ax.plot(range(path.steps), path.probs[0, :, tgt].numpy(), color=ORANGE, lw=2, label=f"P({names[tgt]})")
    if flip >= 0:
        ax.axvline(flip, color=GREEN, ls="--", lw=1, label="flip: the counterfactual")
    ax.set_ylim(0, 1), ax.set_xlim(0, path.steps - 1), ax.tick_params(labelsize=FONT)
    ax.set_xticks(range(path.steps))
    ax.set_xlabel("step", fontsize=FONT, labelpad=1), ax.legend(fontsize=FONT, loc="center left", framealpha=0.8)
    return s.fig


def _saliency(dataset, index, seed):
    models, ds = _shipped(dataset)
    names = ds.class_names
    i, path = _one_path(dataset, index)
    flip = int(path.end_index[0])
    x, x_cf = path.x[0], path.frames[0, flip]
    mask = None if ds.masks is None else ds.masks[i]
    s = _Sketch(8.5, 2.6, "06 · a saliency map from the counterfactual")
    s.image(0.3, 0.5, 1.3, x, f"image x ({names[int(path.source[0])]})")
    s.arrow(1.7, 1.15, 2.5, 1.15, "path")
    s.image(2.6, 0.5, 1.3, x_cf, f"counterfactual x_cf\n({names[int(path.probs[0, flip].argmax())]}, step {flip})")
    s.arrow(4.0, 1.15, 4.8, 1.15, "|x_cf - x|")
    diff = (x_cf - x).abs().sum(0).numpy()
    s.heat(4.9, 0.5, 1.3, 1.3, diff, "saliency map", mask=mask)
    s.text(7.35, 1.35, "cyan: the true\nevidence (mask)", colour="black")
    s.text(7.35, 0.8, "judged against it\n(localisation, ...)", colour="black")
    return s.fig


def _baselines(dataset, index, seed):
    from captum.attr import IntegratedGradients

    from .conventions import DEFAULT_REPLACEMENT

    models, ds = _shipped(dataset)
    i = _first(ds.labels, lambda y: y != 0, index)
    x = ds.images[i:i + 1]
    normal = _first(ds.labels, lambda y: y == 0, index)
    with torch.no_grad():
        _, indiv = models.cae.encode(x)
        class_n, _ = models.cae.encode(ds.images[normal:normal + 1])
        cf = models.cae.decode(indiv, class_n)
    baselines = {"zero": torch.zeros_like(x), "blurred": DEFAULT_REPLACEMENT(x), "counterfactual": cf}
    target = int(ds.labels[i])
    ig = IntegratedGradients(models.classifier)
    mask = None if ds.masks is None else ds.masks[i]
    s = _Sketch(9.5, 3.2, "07 · attribution from a baseline: which image is 'nothing'?")
    s.image(0.2, 1.0, 1.2, x[0], f"image x ({ds.class_names[target]})", mask=mask, mask_colour="cyan")
    for j, (name, b) in enumerate(baselines.items()):
        left = 2.0 + 2.5 * j
        s.image(left, 1.6, 1.0, b[0], f"{name} baseline")
        m = ig.attribute(x, baselines=b, target=target, n_steps=16).detach()[0].sum(0).abs().numpy()
        s.heat(left + 1.15, 1.6, 1.0, 1.0, m, "IG map", mask=mask)
        s.arrow(left + 0.5, 1.5, left + 0.5, 0.95)
        s.text(left + 1.05, 0.75, "baseline \u2192 x:\nattribute along the line")
    s.arrow(1.45, 1.6, 1.95, 2.0)
    s.text(4.75, 0.2, "the counterfactual baseline: x's own individual code with a normal class code (notebook 03)")
    return s.fig


def _multiple(dataset, index, seed):
    from scipy import ndimage

    import caelib

    from .conventions import dilate

    models = caelib.pretrained("lesions", with_cae=False)
    ds = caelib.load_dataset("lesions-two", split="test", n=60)
    names = ds.class_names
    chosen, parts = None, None
    for i in torch.nonzero(ds.labels != 0).flatten().tolist()[index:]:
        lab, n = ndimage.label(ds.masks[i, 0].numpy() > 0.5)
        if n >= 2:
            chosen, parts = i, [torch.as_tensor(lab == k + 1) for k in range(2)]
            break
    x = ds.images[chosen]
    keep = [dilate(p[None, None].float(), 3)[0] for p in parts]
    alone = torch.stack([x * k + float(x.mean()) * (1 - k) for k in keep])
    probs = _prob(models.classifier, torch.cat([x[None], alone]))
    s = _Sketch(9.0, 2.8, "08 · several explanations of one decision")
    d0 = int(probs[0].argmax())
    s.image(0.3, 0.6, 1.3, x, f"image: {names[d0]} ({float(probs[0, d0]):.2f})", mask=ds.masks[chosen])
    s.arrow(1.7, 1.25, 2.6, 1.9), s.arrow(1.7, 1.25, 2.6, 0.6)
    for j in range(2):
        d = int(probs[1 + j].argmax())
        s.image(2.7 + 2.2 * j, 0.6, 1.3, alone[j], f"lesion {j + 1} alone:\n{names[d]} ({float(probs[1 + j, d]):.2f})",
                colour=GREEN if d == d0 else RED)
    both = all(int(probs[1 + j].argmax()) == d0 for j in range(2))
    if both:
        s.text(7.5, 1.45, "each lesion alone is enough\nfor the decision:", colour="black")
        s.text(7.5, 0.95, "two different explanations,\nnot one map", colour="black")
    else:
        s.text(7.5, 1.2, "here one lesion alone\nis not enough (red)", colour="black")
    s.text(3.95, 0.25, "the rest of the image replaced by its mean; red: the lesions' masks")
    return s.fig


def _misclass(dataset, index, seed):
    from . import paths

    models, ds = _shipped(dataset)
    names = ds.class_names
    probs = _prob(models.classifier, ds.images)
    wrong = torch.nonzero(probs.argmax(1) != ds.labels).flatten()
    i = int(wrong[min(index, len(wrong) - 1)])
    true, pred = int(ds.labels[i]), int(probs[i].argmax())
    path = paths.counterfactual_path(models.cae, models.classifier, ds.images[i:i + 1], true,
                                     reference=paths.NearestReference(_bank(dataset), n=3), steps=11)
    s = _Sketch(9.5, 3.0, "09 · why was it misclassified? counterfactuals towards the true class")
    s.image(0.25, 0.9, 1.25, ds.images[i], f"true {names[true]}\nblack box: {names[pred]}", colour=RED)
    for j in range(len(path)):
        left = 2.3 + 2.4 * j
        end = int(path.end_index[j])
        p = path.probs[j, end]
        d = int(p.argmax())
        s.image(left, 1.45, 1.0, path.frames[j, end], f"reference {j + 1}: {names[d]}",
                colour=GREEN if d == true else RED, frame=GREEN if d == true else None)
        s.heat(left + 1.1, 1.45, 1.0, 1.0, (path.frames[j, end] - path.x[j]).abs().sum(0).numpy(), "what changed")
    s.arrow(1.6, 1.5, 2.25, 1.95)
    s.text(5.9, 0.85, "several counterfactuals (one per reference): what they all change is what had to change;")
    s.text(5.9, 0.55, "what varies between them is one way among others")
    return s.fig


def _own_data(dataset, index, seed):
    _, ds = _shipped("lesions")
    s = _Sketch(9.5, 2.4, "10 · your own images and classifier")
    for j in range(3):
        s.image(0.2 + 0.55 * j, 1.1, 0.5, ds.images[j], None)
        s.image(0.2 + 0.55 * j, 0.5, 0.5, ds.images[10 + j], None)
    s.text(0.95, 0.25, "class_a/  class_b/  ...")
    s.arrow(1.9, 1.1, 2.3, 1.1)
    s.box(2.35, 0.7, 1.7, 0.8, "your model\nas_black_box(...)", "#eee", mono=False)
    s.arrow(4.1, 1.1, 4.5, 1.1)
    s.box(4.55, 0.7, 1.7, 0.8, "train_cae(...)\na CAE for it", "#fde9d4")
    s.arrow(6.3, 1.1, 6.7, 1.1)
    s.box(6.75, 0.7, 2.5, 0.8, "swaps · paths · saliency\n(notebooks 03-06)", "#dbe9f6")
    s.text(4.75, 1.85, "the same pipeline as notebooks 01-09, with your data and model (or from the command line)")
    return s.fig
