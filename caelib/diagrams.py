"""The idea of each notebook in one small picture: ``caelib.diagrams.idea(stage)``.

Every notebook opens with a schematic figure of what it is about (image -> class code + individual code ->
decoder; a swap; a path; the class-code map ...). The figures use real images and the shipped models
(``caelib.pretrained``) wherever that is cheap, so what the diagram shows is what the models do; each
draws in about a second on a laptop CPU. Text is at least 8 pt at the figure's own size.

    from caelib import diagrams
    diagrams.idea("swap")           # notebook 03
    plt.show()

Stages (``STAGES``) and what each shows:

- ``"data"`` (01): test images of the lesions data (normal and lesion, the lesion's evidence mask in red)
  going into the black box (a small CNN), and its probability of "lesion" for each.
- ``"encoding"`` (02): an image split by the two encoders into the **class code** (a few numbers, drawn as
  a strip) and the spatial **individual code** (four of its channels), and the decoder (AdaIN) that
  rebuilds the image from both.
- ``"swap"`` (03): image A gives its individual code, image B (another class) its class code; the decoder
  makes A's look with B's class, and the black box's decision on the swap.
- ``"manifold"`` (04): the class codes of real test images in the PCA plane, over the black box's decision
  on images decoded from the plane with one image's individual code, and three decoded points.
- ``"path"`` (05): a counterfactual path: the class code walks from the image's own towards a reference of
  the other class; frames along the path, the first frame the black box gives the target (the flip,
  outlined in green) and the target's probability along the way.
- ``"saliency"`` (06): the image, its counterfactual at the flip and the CAE saliency map |x_cf - x|, with
  the true evidence mask in cyan.
- ``"baselines"`` (07): attribution needs a baseline: the zero, blurred and counterfactual (the image's own
  individual code with a normal class code) baselines of one lesion image and Integrated Gradients' map
  from each.
- ``"multiple"`` (08): an image of the two-lesion data; each lesion alone (the rest of the image replaced by
  its mean) and the black box's decision on each: one decision, several sufficient explanations.
- ``"misclass"`` (09): a digit the black box gets wrong (mnist) and three counterfactuals towards its true
  class from three references, each with what it changes.
- ``"own-data"`` (10): the pipeline for your own images and model: image folders -> ``as_black_box`` ->
  ``train_cae`` -> swaps, paths and saliency.

Arguments of :func:`idea`: ``dataset`` (the shipped dataset whose images and models to use; default
``"lesions"``, ``"mnist"`` for ``"misclass"``; ``"multiple"`` always uses ``lesions-two``; ``"own-data"``
draws no model), ``index`` (which test image to show, counted among the images that suit the stage, default
0) and ``seed``. Returns the matplotlib figure.
"""

from __future__ import annotations

from contextlib import nullcontext
from functools import lru_cache

import torch

__all__ = ["STAGES", "idea"]

STAGES = ("data", "encoding", "swap", "manifold", "path", "saliency", "baselines", "multiple", "misclass",
          "own-data")
FONT = 8            # the smallest text size (pt) in these figures
BLUE, ORANGE, GREEN, RED = "tab:blue", "tab:orange", "tab:green", "tab:red"


@lru_cache(maxsize=4)
def _shipped(name: str):
    """(models, test images) of a shipped dataset, loaded once."""
    import caelib

    return caelib.pretrained(name), caelib.load_dataset(name, split="test", n=400)


@lru_cache(maxsize=4)
def _bank(name: str):
    import caelib

    from .paths import CodeBank

    models, _ = _shipped(name)
    train = caelib.load_dataset(name, split="train", n=300)
    return CodeBank.from_images(models.cae, train.images, train.labels, classifier=models.classifier)


class _Sketch:
    """A figure laid out in inches: images, heat maps, boxes and arrows placed where the schematic needs them."""

    def __init__(self, width: float, height: float, title: str):
        import matplotlib.pyplot as plt

        self.fig = plt.figure(figsize=(width, height))
        self.w, self.h = width, height
        self.fig.text(0.01, 1 - 0.08 / height, title, fontsize=FONT + 2, weight="bold", va="top")

    def _axes(self, x, y, w, h):
        ax = self.fig.add_axes((x / self.w, y / self.h, w / self.w, h / self.h))
        ax.set_xticks([]), ax.set_yticks([])
        return ax

    def image(self, x, y, size, img, title=None, *, mask=None, mask_colour=RED, frame=None, colour="black",
              below=None):
        from .data import to_display

        ax = self._axes(x, y, size, size)
        a = to_display(img.detach().cpu()).permute(1, 2, 0).numpy()
        ax.imshow(a.squeeze(-1) if a.shape[-1] == 1 else a, cmap="gray", vmin=0, vmax=1)
        if mask is not None and mask.any():
            ax.contour(mask[0].numpy(), levels=[0.5], colors=mask_colour, linewidths=1)
        if frame:
            for side in ax.spines.values():
                side.set_color(frame), side.set_linewidth(2.5)
        if title:
            ax.set_title(title, fontsize=FONT, color=colour, pad=3)
        if below:
            ax.set_xlabel(below, fontsize=FONT)
        return ax

    def heat(self, x, y, w, h, array, title=None, *, cmap="magma", mask=None, below=None, vmin=None, vmax=None):
        ax = self._axes(x, y, w, h)
        ax.imshow(array, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto", interpolation="nearest")
        if mask is not None and mask.any():
            ax.contour(mask[0].numpy(), levels=[0.5], colors="cyan", linewidths=1)
        if title:
            ax.set_title(title, fontsize=FONT, pad=3)
        if below:
            ax.set_xlabel(below, fontsize=FONT)
        return ax

    def box(self, x, y, w, h, text, colour="#eef", *, mono=False):
        from matplotlib.patches import FancyBboxPatch

        self.fig.add_artist(FancyBboxPatch((x / self.w, y / self.h), w / self.w, h / self.h,
                                           boxstyle="round,pad=0.005", transform=self.fig.transFigure,
                                           facecolor=colour, edgecolor="black", linewidth=0.8))
        self.text(x + w / 2, y + h / 2, text, family="monospace" if mono else None)

    def text(self, x, y, s, *, size=FONT, colour="black", ha="center", family=None):
        self.fig.text(x / self.w, y / self.h, s, fontsize=size, color=colour, ha=ha, va="center", family=family)

    def arrow(self, x0, y0, x1, y1, label=None, colour="black"):
        from matplotlib.patches import FancyArrowPatch

        self.fig.add_artist(FancyArrowPatch((x0 / self.w, y0 / self.h), (x1 / self.w, y1 / self.h),
                                            transform=self.fig.transFigure, arrowstyle="-|>", mutation_scale=12,
                                            color=colour, linewidth=1.2))
        if label:
            self.text((x0 + x1) / 2, (y0 + y1) / 2 + 0.14, label, colour=colour)


def _first(labels, wanted, index=0):
    hits = torch.nonzero(wanted(labels)).flatten()
    return int(hits[min(index, len(hits) - 1)])


def _prob(classifier, x):
    import caelib

    return caelib.predict_proba(classifier, x)


# ---- the stages ----------------------------------------------------------------------------------------

def _data(dataset, index, seed):
    models, ds = _shipped(dataset)
    names = ds.class_names
    picks = [_first(ds.labels, lambda y: y == 0, index)] + \
        [int(i) for i in torch.nonzero(ds.labels != 0).flatten()[index:index + 2]]
    probs = _prob(models.classifier, ds.images[picks])
    s = _Sketch(9.0, 2.5, "01 · the data and the black box")
    for j, i in enumerate(picks):
        s.image(0.2 + 1.3 * j, 0.55, 1.15, ds.images[i], f"{j + 1}: {names[int(ds.labels[i])]}",
                mask=None if ds.masks is None else ds.masks[i])
    s.text(2.1, 0.25, "test images; the evidence (the lesion's mask) in red")
    s.arrow(4.1, 1.15, 4.6, 1.15)
    s.box(4.65, 0.8, 1.6, 0.7, "black box\n(a small CNN)")
    s.arrow(6.3, 1.15, 6.9, 1.15)
    shown = 1 if len(names) == 2 else int(probs[1].argmax())
    ax = s._axes(7.3, 0.55, 1.5, 1.2)
    ax.barh(range(len(picks)), probs[:, shown].numpy(), color=[ORANGE if p else BLUE for p in
                                                                (probs.argmax(1) == shown).tolist()])
    ax.set_xlim(0, 1), ax.invert_yaxis()
    ax.set_yticks(range(len(picks)), [str(j + 1) for j in range(len(picks))], fontsize=FONT)
    ax.tick_params(axis="x", labelsize=FONT)
    ax.set_title(f"P({names[shown]})", fontsize=FONT)
    return s.fig


def _encoding(dataset, index, seed):
    models, ds = _shipped(dataset)
    i = _first(ds.labels, lambda y: y != 0, index)
    x = ds.images[i:i + 1]
    with torch.no_grad():
        class_code, indiv = models.cae.encode(x)
        rec = models.cae.decode(indiv, class_code)
    s = _Sketch(9.5, 2.9, "02 · encoding: one image, two codes")
    s.image(0.2, 0.75, 1.2, x[0], f"image x ({ds.class_names[int(ds.labels[i])]})")
    s.arrow(1.45, 1.55, 1.9, 2.0), s.arrow(1.45, 1.15, 1.9, 0.75)
    s.box(1.95, 1.75, 1.75, 0.55, "class-code encoder", "#fde9d4")
    s.box(1.95, 0.45, 1.75, 0.55, "individual-code encoder", "#dbe9f6")
    c = class_code[0].numpy()[None]
    s.arrow(3.75, 2.02, 4.05, 2.02)
    s.heat(4.1, 1.9, 1.7, 0.25, c, cmap="coolwarm", vmin=-abs(c).max(), vmax=abs(c).max(),
           below=f"class code: {c.shape[1]} numbers")
    ch = indiv[0, :4].numpy()
    tiles = torch.as_tensor(ch).reshape(2, 2, *ch.shape[1:]).permute(0, 2, 1, 3).reshape(2 * ch.shape[1], -1)
    s.arrow(3.75, 0.72, 4.25, 0.72)
    s.heat(4.3, 0.2, 1.05, 1.05, tiles.numpy(), cmap="viridis")
    s.text(5.65, 0.08, f"individual code: {' × '.join(map(str, indiv.shape[1:]))} (4 channels shown)")
    s.arrow(5.85, 2.02, 6.45, 1.5)
    s.text(6.55, 2.1, "styles it (AdaIN)", ha="left")
    s.arrow(5.4, 0.72, 6.45, 1.1)
    s.box(6.5, 0.95, 1.2, 0.75, "decoder")
    s.arrow(7.75, 1.32, 8.1, 1.32)
    s.image(8.15, 0.75, 1.2, rec[0], "reconstruction")
    return s.fig


def _swap(dataset, index, seed):
    models, ds = _shipped(dataset)
    names = ds.class_names
    a = _first(ds.labels, lambda y: y == 0, index)
    b = _first(ds.labels, lambda y: y != 0, index)
    with torch.no_grad():
        _, indiv_a = models.cae.encode(ds.images[a:a + 1])
        class_b, _ = models.cae.encode(ds.images[b:b + 1])
        x_swap = models.cae.decode(indiv_a, class_b)
    p = _prob(models.classifier, x_swap)[0]
    decision = int(p.argmax())
    s = _Sketch(9.5, 3.1, "03 · a swap: A's individual code with B's class code")
    s.image(0.25, 1.5, 1.05, ds.images[a], f"A: {names[int(ds.labels[a])]}", frame=BLUE)
    s.image(0.25, 0.15, 1.05, ds.images[b], None, frame=ORANGE,
            mask=None if ds.masks is None else ds.masks[b], below=f"B: {names[int(ds.labels[b])]}")
    s.arrow(1.35, 2.07, 1.9, 2.07), s.arrow(1.35, 0.67, 1.9, 0.67)
    s.box(1.95, 1.8, 1.8, 0.55, "A's individual code\n(its look)", "#dbe9f6")
    s.box(1.95, 0.4, 1.8, 0.55, "B's class code\n(its class)", "#fde9d4")
    s.arrow(3.8, 2.07, 4.35, 1.55), s.arrow(3.8, 0.67, 4.35, 1.15)
    s.box(4.4, 1.0, 1.2, 0.7, "decoder\n(class code\nstyles, AdaIN)")
    s.arrow(5.65, 1.35, 6.1, 1.35)
    s.image(6.15, 0.8, 1.15, x_swap[0], "swap")
    s.arrow(7.35, 1.35, 7.7, 1.35)
    ok = decision == int(ds.labels[b])
    s.text(8.55, 1.5, "black box:", colour="black")
    s.text(8.55, 1.2, f"{names[decision]} ({float(p[decision]):.2f})", colour=GREEN if ok else RED)
    s.text(8.55, 0.85, "(B's class)" if ok else "(not B's class)", colour=GREEN if ok else RED)
    return s.fig


def _manifold(dataset, index, seed):
    import numpy as np

    from . import manifold
    from .viz import _class_colours

    models, ds = _shipped(dataset)
    names, k = ds.class_names, ds.num_classes
    with torch.no_grad():
        codes, indiv = models.cae.encode(ds.images[:300])
    plane = manifold.fit_plane(codes)
    pts = plane.project(codes)
    xs, ys = manifold.grid_axes(pts, n=12)
    dmap = manifold.decision_map(models.cae, models.classifier, indiv[index], plane, xs, ys)
    colours = np.array(_class_colours(k))[:, :3]
    s = _Sketch(9.5, 3.1, "04 · the class-code manifold: where the class codes lie, what the black box says there")
    ax = s._axes(0.4, 0.35, 3.4, 2.35)
    dx, dy = float(xs[1] - xs[0]) / 2, float(ys[1] - ys[0]) / 2
    ax.imshow(1 - 0.35 * (1 - colours[dmap.decision.numpy()]), origin="lower", aspect="auto",
              extent=(float(xs[0]) - dx, float(xs[-1]) + dx, float(ys[0]) - dy, float(ys[-1]) + dy))
    for c in range(k):
        sel = (ds.labels[:300] == c).numpy()
        ax.scatter(pts[sel, 0], pts[sel, 1], s=7, color=colours[c], edgecolors="black", linewidths=0.3,
                   label=f"{names[c]} (real image)")
    line = torch.stack([torch.linspace(float(xs[1]), float(xs[-2]), 3), pts[index, 1].expand(3)], dim=1)
    images, probs = manifold.decode_points(models.cae, models.classifier, indiv[index], plane, line)
    for j, (px, py) in enumerate(line.tolist()):
        ax.plot(px, py, "o", color="white", markeredgecolor="black", ms=11)
        ax.text(px, py, str(j + 1), fontsize=FONT, ha="center", va="center")
    ax.set_xlabel("PC 1 (background: the black box's decision)", fontsize=FONT), ax.set_ylabel("PC 2", fontsize=FONT)
    ax.legend(fontsize=FONT, loc="upper right", framealpha=0.8)
    for j in range(3):
        d = int(probs[j].argmax())
        s.image(4.6 + 1.6 * j, 0.9, 1.3, images[j], f"{j + 1}: {names[d]} ({float(probs[j, d]):.2f})",
                colour=colours[d] * 0.8)
    s.text(6.95, 0.45, "decoded at the numbered points with one image's individual code")
    return s.fig


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


_DRAW = {"data": _data, "encoding": _encoding, "swap": _swap, "manifold": _manifold, "path": _path,
         "saliency": _saliency, "baselines": _baselines, "multiple": _multiple, "misclass": _misclass,
         "own-data": _own_data}


def idea(stage: str, *, dataset: str | None = None, index: int = 0, seed: int = 0):
    """The schematic figure of ``stage`` (one of ``STAGES``; the module docstring says what each shows).

    ``dataset``: the shipped dataset whose test images and models the figure uses (default ``"lesions"``;
    ``"mnist"`` for ``"misclass"``); ``index``: which suitable test image to show (0 = the first);
    ``seed``: for stages that sample. Returns the matplotlib figure (about a second to draw on a CPU)."""
    if stage not in _DRAW:
        raise ValueError(f"no diagram for stage {stage!r}; stages: {', '.join(STAGES)}")
    if dataset is None:
        dataset = "mnist" if stage == "misclass" else "lesions"
    with torch.random.fork_rng(devices=[]):   # the notebook's own seed stays as it set it
        torch.manual_seed(seed)
        with torch.no_grad() if stage != "baselines" else nullcontext():
            return _DRAW[stage](dataset, index, seed)

