"""The diagrams of what the models do, notebooks 01 to 04: the data and the black box, encoding, a swap, the manifold.

Drawn by ``caelib.diagrams.idea(stage)`` (the stages "data", "encoding", "swap" and "manifold").
"""

from __future__ import annotations

import torch

from .diagrams_sketch import BLUE, FONT, GREEN, ORANGE, RED, _first, _prob, _shipped, _Sketch


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
