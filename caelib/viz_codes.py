"""Figures of the CAE's two codes: swapping individual and class codes between images (notebooks 02 and 03:
``swap_strip``, ``plot_swap_grid``, ``plot_swap_confusion``, ``plot_swap_changes``, ``plot_swap_explorer``) and the
class-code manifold (notebook 04: ``plot_embedding``, ``plot_decision_map``, ``plot_strip``,
``plot_manifold_explorer``). The swap and manifold explorers of ``caelib.widgets`` draw with them.
"""

from __future__ import annotations

from .viz_data import plot_confusion
from .viz_panels import (
    _MARKERS,
    _class_colours,
    _contour,
    _imshow,
    add_colourbar,
    add_side_colourbar,
    plot_probabilities,
    show_images,
)

# ---- the first swaps (notebook 02) ----------------------------------------------------------------------

def swap_strip(cae, x_indiv, x_class, *, title: str | None = None, class_names=None, labels_indiv=None,
               labels_class=None, classifier=None):
    """Three rows: individual-code donors, class-code donors, and their swaps. With ``class_names`` and
    ``labels_indiv`` / ``labels_class`` (B,) each donor is titled with its class; with ``classifier`` each swap
    with the black box's decision (green: the class-code donor's class, red: not). Returns the figure."""
    import torch

    with torch.no_grad():
        swapped = cae.swap(x_indiv, x_class)
    fig = show_images([x_indiv, x_class, swapped], row_titles=["individual code", "class code", "swap"])
    n = len(x_indiv)
    if class_names is not None:
        decisions = None
        if classifier is not None:
            from .classifier import predict_proba

            decisions = predict_proba(classifier, swapped).argmax(1)
        _title_swap_columns([fig.axes[r * n:(r + 1) * n] for r in range(3)], class_names, labels_indiv,
                            labels_class, decisions)
    if title:
        fig.suptitle(title, fontsize=9)
        fig.tight_layout()
    return fig


def _title_swap_columns(rows, class_names, labels_indiv=None, labels_class=None, decisions=None) -> None:
    """Title the columns of a swap figure, whose ``rows`` are the axes of the individual-code donors, the
    class-code donors and the swaps: each donor with its class (where its labels are given), each swap with the
    black box's ``decisions`` (green: the class-code donor's class, red: another; black without
    ``labels_class``)."""
    for axes, labels in ((rows[0], labels_indiv), (rows[1], labels_class)):
        for j, ax in enumerate(axes if labels is not None else []):
            ax.set_title(class_names[int(labels[j])], fontsize=8, pad=2)
    for j, ax in enumerate(rows[2] if decisions is not None else []):
        said = int(decisions[j])
        colour = "black" if labels_class is None else "tab:green" if said == int(labels_class[j]) else "tab:red"
        ax.set_title(f"says {class_names[said]}", fontsize=8, pad=2, color=colour)


# ---- code swapping (notebook 03) ---------------------------------------------------------------------

def plot_swap_grid(x_indiv, x_class, grid, *, probs=None, class_names=None, class_labels=None,
                   size: float = 1.1, title: str | None = None):
    """The paper's swap figure: the individual-code donors ``x_indiv`` (N, C, H, W) along the top, the
    class-code donors ``x_class`` (M, C, H, W) down the left, and ``grid`` (M, N, C, H, W) from
    ``swap.swap_grid`` in between. With ``probs`` (M, N, K) and ``class_names`` each swap is titled with
    the black box's decision, green when it is the class of the class-code donor (``class_labels`` (M,)),
    red otherwise. Returns the figure."""
    import matplotlib.pyplot as plt

    m, n = grid.shape[:2]
    fig, axes = plt.subplots(m + 1, n + 1, figsize=(size * (n + 1), size * (m + 1) + 0.2 * (probs is not None)),
                             squeeze=False)
    axes[0, 0].axis("off")
    axes[0, 0].text(0.5, 0.5, "class code \u2193\nindividual \u2192", ha="center", va="center", fontsize=8,
                    transform=axes[0, 0].transAxes)
    for c in range(n):
        _imshow(axes[0, c + 1], x_indiv[c])
        for side in axes[0, c + 1].spines.values():
            side.set_color("tab:blue"), side.set_linewidth(2)
    for r in range(m):
        _imshow(axes[r + 1, 0], x_class[r])
        for side in axes[r + 1, 0].spines.values():
            side.set_color("tab:orange"), side.set_linewidth(2)
        if class_names is not None and class_labels is not None:
            axes[r + 1, 0].set_ylabel(class_names[int(class_labels[r])], fontsize=8)
        for c in range(n):
            ax = axes[r + 1, c + 1]
            _imshow(ax, grid[r, c])
            if probs is not None and class_names is not None:
                p = int(probs[r, c].argmax())
                ok = class_labels is None or p == int(class_labels[r])
                ax.set_title(class_names[p], fontsize=8, color="tab:green" if ok else "tab:red", pad=2)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_swap_confusion(matrix, class_names, *, ax=None, title: str | None = None):
    """The black box's confusion over swaps (K, K) from ``swap.swap_confusion_matrix``: rows = the
    class-code donor's class, columns = the predicted class; the diagonal is the flip rate into each
    class. Returns the figure."""
    fig = plot_confusion(matrix, class_names, ax=ax, title=title, normalise=True)  # rows already sum to 1
    ax = fig.axes[0] if ax is None else ax
    ax.set_xlabel("black box's decision on the swap"), ax.set_ylabel("class-code donor's class")
    fig.tight_layout()
    return fig


def plot_swap_changes(x_indiv, x_class, result, *, masks_indiv=None, masks_class=None, class_names=None,
                      labels_indiv=None, labels_class=None, size: float = 1.3, title: str | None = None):
    """What stays and what changes. Columns = pairs; rows = individual-code donor, class-code donor, the
    swap, and the change |swap - reconstruction| (``result`` from ``swap.explain_swap``) as a heat map.
    Evidence masks (B, 1, H, W), when given, are drawn on the change: the individual-code donor's in
    cyan, the class-code donor's dashed in lime. Returns the figure."""
    import matplotlib.pyplot as plt

    b = len(x_indiv)
    vmax = max(float(result.change.max()), 1e-6)
    fig, axes = plt.subplots(4, b, figsize=(size * b, size * 4.2), squeeze=False)
    for j in range(b):
        _imshow(axes[0, j], x_indiv[j])
        _imshow(axes[1, j], x_class[j])
        _imshow(axes[2, j], result.swap[j])
        ax = axes[3, j]
        im = ax.imshow(result.change[j, 0].cpu().numpy(), cmap="magma", vmin=0, vmax=vmax)
        ax.set_xticks([]), ax.set_yticks([])
        if j == b - 1:
            add_side_colourbar(ax, im)
        _contour(ax, None if masks_indiv is None else masks_indiv[j], "cyan")
        _contour(ax, None if masks_class is None else masks_class[j], "lime", "dashed")
    if class_names is not None:
        _title_swap_columns(axes[:3], class_names, labels_indiv, labels_class, result.probs.argmax(1))
    for row, name in enumerate(["individual", "class code", "swap", "|change|"]):
        axes[row, 0].set_ylabel(name, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_swap_explorer(x_indiv, x_class, result, class_names, *, label_indiv: int | None = None,
                       label_class: int | None = None, mask=None):
    """One swap, for ``widgets.SwapExplorer``: the individual-code donor and the class-code donor (each
    (1, C, H, W) or (C, H, W)), the swap, its difference |swap - individual-code donor| (``result`` from
    ``swap.explain_swap``, with the donor's evidence ``mask`` (1, H, W) in cyan) and the black box's
    probabilities. Returns the figure."""
    import matplotlib.pyplot as plt

    x_indiv, x_class = x_indiv.reshape(-1, *x_indiv.shape[-3:])[0], x_class.reshape(-1, *x_class.shape[-3:])[0]
    fig, axes = plt.subplots(1, 5, figsize=(10, 2.3), gridspec_kw={"width_ratios": [1, 1, 1, 1, 1.6]})

    def name(k):
        return "" if k is None else f" ({class_names[k]})"
    _imshow(axes[0], x_indiv), axes[0].set_title("individual code" + name(label_indiv), fontsize=8)
    _imshow(axes[1], x_class), axes[1].set_title("class code" + name(label_class), fontsize=8)
    _imshow(axes[2], result.swap[0]), axes[2].set_title("swap", fontsize=8)
    add_colourbar(axes[3], axes[3].imshow(result.change_vs_input[0, 0].cpu().numpy(), cmap="magma", vmin=0))
    axes[3].set_xticks([]), axes[3].set_yticks([]), axes[3].set_title("|swap - individual|", fontsize=8)
    _contour(axes[3], mask, "cyan")
    plot_probabilities(result.probs[0], class_names, ax=axes[4], highlight=label_class,
                       title="black box on the swap")
    fig.tight_layout()
    return fig


# ---- the class-code manifold (notebook 04) ------------------------------------------------------------

def plot_embedding(points, labels, class_names, *, values=None, value_label: str = "probability",
                   misclassified=None, ax=None, title: str | None = None):
    """A 2-D embedding of codes: ``points`` (N, 2), coloured by true class (``labels`` (N,)) or, with
    ``values`` (N,) in [0, 1], by a continuous value such as the black box's probability of a class.
    ``misclassified`` (N,) bool marks the samples the black box gets wrong with black crosses. Returns
    the figure."""
    import matplotlib.pyplot as plt
    import numpy as np

    pts = np.asarray(points.detach().cpu() if hasattr(points, "detach") else points)
    lab = np.asarray(labels)
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 3.6))
    if values is None:
        colours = _class_colours(len(class_names))
        for k, name in enumerate(class_names):
            sel = lab == k
            ax.scatter(pts[sel, 0], pts[sel, 1], s=6, color=colours[k], label=name, alpha=0.8)
        ax.legend(fontsize=8, markerscale=2, loc="best", ncol=2 if len(class_names) > 5 else 1)
    else:
        sc = ax.scatter(pts[:, 0], pts[:, 1], s=6, c=np.asarray(values), cmap="viridis", vmin=0, vmax=1)
        add_colourbar(ax, sc, value_label)
    if misclassified is not None:
        wrong = np.asarray(misclassified, dtype=bool)
        ax.scatter(pts[wrong, 0], pts[wrong, 1], s=22, marker="x", color="black", linewidths=0.8,
                   label=f"misclassified ({wrong.sum()})")
        ax.legend(fontsize=8, markerscale=1.5, loc="best", ncol=2 if len(class_names) > 5 and values is None else 1)
    ax.set_xticks([]), ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    ax.figure.tight_layout()
    return ax.figure


def plot_decision_map(dmap, class_names, *, points=None, labels=None, marker=None, ax=None,
                      title: str | None = None):
    """A ``manifold.DecisionMap``: each cell coloured by the black box's decision on the decoded image,
    paler where it is less sure (boundaries); ``points`` (N, 2) / ``labels`` (N,) overlay the class codes
    of real images, ``marker`` (x, y) a star. Returns the figure."""
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    if ax is None:
        _, ax = plt.subplots(figsize=(5.6, 3.8))
    colours = np.array(_class_colours(len(class_names)))[:, :3]
    rgb = colours[dmap.decision.numpy()]                                   # (ny, nx, 3)
    conf = dmap.confidence.numpy()[..., None]
    k = len(class_names)
    strength = ((conf - 1 / k) / (1 - 1 / k)).clip(0, 1) * 0.75 + 0.25      # 1/K -> pale, 1 -> full
    rgb = 1 - strength * (1 - rgb)
    xs, ys = dmap.xs.numpy(), dmap.ys.numpy()
    dx, dy = (xs[1] - xs[0]) / 2 if len(xs) > 1 else 0.5, (ys[1] - ys[0]) / 2 if len(ys) > 1 else 0.5
    ax.imshow(rgb, origin="lower", extent=(xs[0] - dx, xs[-1] + dx, ys[0] - dy, ys[-1] + dy), aspect="auto")
    handles = [Patch(color=1 - 0.75 * (1 - colours[i]), label=f"says {n}") for i, n in enumerate(class_names)]
    if points is not None:          # real codes: the class's marker shape, darker than the regions, white rim
        pts = np.asarray(points.detach().cpu() if hasattr(points, "detach") else points)
        lab = np.asarray(labels)
        for c in range(k):
            sel = lab == c
            ax.scatter(pts[sel, 0], pts[sel, 1], s=14, marker=_MARKERS[c % len(_MARKERS)], color=colours[c] * 0.7,
                       edgecolors="white", linewidths=0.5)
            handles.append(Line2D([], [], ls="", marker=_MARKERS[c % len(_MARKERS)], color=colours[c] * 0.7,
                                  markeredgecolor="white", ms=5, label=f"real image: {class_names[c]}"))
    if marker is not None:
        ax.plot([marker[0]], [marker[1]], marker="*", markersize=14, color="white", markeredgecolor="black")
        handles.append(Line2D([], [], ls="", marker="*", color="white", markeredgecolor="black", ms=10,
                              label="this point"))
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0,
              title="paler: less sure", title_fontsize=8, frameon=False)
    ax.set_xlabel("PC 1", fontsize=8), ax.set_ylabel("PC 2", fontsize=8), ax.tick_params(labelsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    ax.figure.tight_layout()
    return ax.figure


def plot_strip(images, probs, class_names, *, positions=None, size: float = 1.1, title: str | None = None):
    """Decoded images along a line (n, C, H, W), each titled with the black box's decision and its
    probability from ``probs`` (n, K); ``positions`` (n,) label the points below. Returns the figure."""
    import matplotlib.pyplot as plt

    n = len(images)
    fig, axes = plt.subplots(1, n, figsize=(size * n, size + 0.5), squeeze=False)
    for j in range(n):
        _imshow(axes[0, j], images[j])
        p = int(probs[j].argmax())
        axes[0, j].set_title(f"{class_names[p]} {float(probs[j, p]):.2f}", fontsize=8,
                             color=_class_colours(len(class_names))[p])
        if positions is not None:
            axes[0, j].set_xlabel(f"{float(positions[j]):.1f}", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_manifold_explorer(dmap, image, probs, point, class_names, *, points=None, labels=None):
    """One point of the class-code plane, for ``widgets.ManifoldExplorer``: the decision map with the point
    starred, the image decoded there (1, C, H, W) and the black box's probabilities (K,). Returns the
    figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(9.5, 3.2), gridspec_kw={"width_ratios": [1.5, 1, 1.3]})
    plot_decision_map(dmap, class_names, points=points, labels=labels, marker=point, ax=axes[0])
    _imshow(axes[1], image.reshape(-1, *image.shape[-3:])[0])
    axes[1].set_title(f"decoded at ({float(point[0]):.1f}, {float(point[1]):.1f})", fontsize=8)
    plot_probabilities(probs, class_names, ax=axes[2], title="black box")
    fig.tight_layout()
    return fig
