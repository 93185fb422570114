"""Figures (matplotlib). Functions take an optional ``ax`` where one panel suffices and return the figure.

Compute lives in the stage modules (``swap``, ``manifold``, ``paths``); this module only draws.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from .responsibility import MultiExplanation


# ---- encoding (notebook 02) -------------------------------------------------------------------------

def show_images(rows, *, row_titles=None, col_titles=None, size: float = 1.3, cmap: str = "gray"):
    """A grid of images: ``rows`` is a list of batches (B, C, H, W) in [-1, 1], one row each.
    Returns the figure. Taught in notebook 02."""
    import matplotlib.pyplot as plt

    from .data import to_display

    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(size * n_cols, size * n_rows), squeeze=False)
    for i, batch in enumerate(rows):
        for j in range(n_cols):
            ax = axes[i, j]
            ax.set_xticks([]), ax.set_yticks([])
            if j < len(batch):
                img = to_display(batch[j].detach().cpu()).permute(1, 2, 0).numpy()
                ax.imshow(img.squeeze(-1) if img.shape[-1] == 1 else img, cmap=cmap, vmin=0, vmax=1)
            if j == 0 and row_titles:
                ax.set_ylabel(row_titles[i], fontsize=8)
            if i == 0 and col_titles and j < len(col_titles):
                ax.set_title(col_titles[j], fontsize=8)
    fig.tight_layout()
    return fig


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


def plot_history(history, keys, *, ax=None, title: str | None = None, smooth: int = 5):
    """Training curves of the named loss terms in ``history`` (a list of dicts with a "step" key, as
    returned by ``caelib.train_cae``), smoothed by a running mean over ``smooth`` log points."""
    import matplotlib.pyplot as plt
    import numpy as np

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3))
    steps = np.array([row["step"] for row in history])
    missing = [key for key in keys if not any(key in row for row in history)]
    if missing:
        known = sorted({k for row in history for k in row} - {"step"})
        raise ValueError(f"the history has no {', '.join(map(repr, missing))} (it has: {', '.join(known)})")
    for key in keys:
        values = np.array([row.get(key, np.nan) for row in history], dtype=float)
        if smooth > 1 and len(values) >= smooth:
            values = np.convolve(values, np.ones(smooth) / smooth, mode="valid")
            ax.plot(steps[smooth - 1:], values, label=key)
        else:
            ax.plot(steps, values, label=key)
    ax.set_xlabel("step", fontsize=8), ax.set_yscale("log"), ax.legend(fontsize=8), ax.tick_params(labelsize=8)
    ax.set_ylabel("loss (log scale)", fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    ax.figure.tight_layout()
    return ax.figure


# ---- data and the black box (notebook 01) -----------------------------------------------------------

def show_dataset(ds, n: int = 8, *, per_class: bool = True, size: float = 1.3, title: str | None = None):
    """Sample images of a dataset, ``n`` per class (or the first ``n``), with the evidence masks drawn
    as red contours and spurious markers (``marker_masks``) as cyan ones. Returns the figure."""
    import matplotlib.pyplot as plt
    import torch

    from .data import to_display

    if per_class:
        rows = [torch.nonzero(ds.labels == k).flatten()[:n] for k in range(ds.num_classes)]
    else:
        rows = [torch.arange(min(n, len(ds)))]
    markers = getattr(ds, "marker_masks", None)
    fig, axes = plt.subplots(len(rows), n, figsize=(size * n, size * len(rows)), squeeze=False)
    for r, idx in enumerate(rows):
        for c in range(n):
            ax = axes[r, c]
            ax.set_xticks([]), ax.set_yticks([])
            if c >= len(idx):
                ax.axis("off")
                continue
            i = int(idx[c])
            img = to_display(ds.images[i]).permute(1, 2, 0).numpy()
            ax.imshow(img.squeeze(-1) if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=1)
            if ds.masks is not None and ds.masks[i].any():
                ax.contour(ds.masks[i, 0].numpy(), levels=[0.5], colors="red", linewidths=0.8)
            if markers is not None and markers[i].any():
                ax.contour(markers[i, 0].numpy(), levels=[0.5], colors="cyan", linewidths=0.8)
            if c == 0:
                ax.set_ylabel(ds.class_names[int(ds.labels[i])], fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_confusion(confusion, class_names, *, ax=None, title: str | None = None, normalise: bool = True):
    """A confusion matrix (K, K), rows = true class, columns = predicted, as a heat map with numbers."""
    import matplotlib.pyplot as plt
    import numpy as np

    m = np.asarray(confusion, dtype=float)
    if normalise:
        m = m / m.sum(1, keepdims=True).clip(min=1)
    if ax is None:
        _, ax = plt.subplots(figsize=(0.45 * len(class_names) + 2, 0.45 * len(class_names) + 1.6))
    im = ax.imshow(m, cmap="Blues", vmin=0, vmax=1 if normalise else None)
    add_colourbar(ax, im, "share of the row" if normalise else "count")
    many = len(class_names) > 6     # drop the leading zero so that 8 pt numbers fit small cells
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            text = (f"{m[i, j]:.2f}".lstrip("0") if many else f"{m[i, j]:.2f}") if normalise else int(m[i, j])
            ax.text(j, i, text, ha="center", va="center", fontsize=8,
                    color="white" if m[i, j] > 0.6 * m.max() else "black")
    ax.set_xticks(range(len(class_names)), class_names, fontsize=8, rotation=45)
    ax.set_yticks(range(len(class_names)), class_names, fontsize=8)
    ax.set_xlabel("predicted", fontsize=8), ax.set_ylabel("true", fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    ax.figure.tight_layout()
    return ax.figure


# ---- code swapping (notebook 03) ---------------------------------------------------------------------

def _imshow(ax, img, cmap: str = "gray"):
    """Draw one model image (C, H, W) in [-1, 1] on ``ax`` without ticks."""
    from .data import to_display

    a = to_display(img.detach().cpu()).permute(1, 2, 0).numpy()
    ax.imshow(a.squeeze(-1) if a.shape[-1] == 1 else a, cmap=cmap, vmin=0, vmax=1)
    ax.set_xticks([]), ax.set_yticks([])


_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "p")


def _class_colours(k: int):
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("tab10" if k <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(k)]


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


def add_colourbar(ax, im, label: str | None = None):
    """A slim colour bar (every map in caelib's figures has one) for the map drawn by ``im`` on ``ax``,
    with readable (8 pt) ticks."""
    cb = ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
    cb.ax.tick_params(labelsize=8)
    if label:
        cb.set_label(label, fontsize=8)
    return cb


def add_side_colourbar(ax, im, label: str | None = None):
    """A colour bar beside the last panel of a row of equal panels, without shrinking that panel (an inset
    outside its right edge), with 8 pt ticks."""
    cb = ax.figure.colorbar(im, cax=ax.inset_axes((1.06, 0.0, 0.07, 1.0)))
    cb.ax.set_label("<colorbar>")            # as fig.colorbar names its own axes
    cb.ax.tick_params(labelsize=8)
    if label:
        cb.set_label(label, fontsize=8)
    return cb


def _contour(ax, mask, colour: str, style: str = "solid"):
    if mask is not None and mask.any():
        ax.contour(mask[0].detach().cpu().numpy(), levels=[0.5], colors=colour, linewidths=0.9, linestyles=style)


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


def plot_probabilities(probs, class_names, *, ax=None, highlight: int | None = None, title: str | None = None):
    """The black box's class probabilities (K,) as a bar chart; ``highlight`` outlines one class (e.g. the
    class-code donor's). Returns the figure."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(0.35 * len(class_names) + 1.5, 2))
    p = [float(v) for v in probs]
    bars = ax.bar(range(len(p)), p, color=_class_colours(len(p)))
    if highlight is not None:
        bars[highlight].set_edgecolor("black"), bars[highlight].set_linewidth(2)
    ax.set_xticks(range(len(p)), class_names, fontsize=8, rotation=45 if len(p) > 4 else 0)
    ax.set_ylim(0, 1), ax.set_ylabel("probability", fontsize=8), ax.tick_params(axis="y", labelsize=8)
    if title:
        ax.set_title(title, fontsize=8)
    return ax.figure


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


# ---- guided counterfactual paths (notebook 05) -------------------------------------------------------

def plot_path_probabilities(path, i: int, class_names, *, step: int | None = None, ax=None, top: int = 4,
                            title: str | None = None):
    """The black box's probabilities along path ``i`` of a ``paths.CounterfactualPath`` (the start
    class, the target and the ``top`` most likely others), the flip as a dashed line and, with
    ``step``, a marker on the target's curve at that step. Returns the figure."""
    import matplotlib.pyplot as plt
    import numpy as np

    if ax is None:
        _, ax = plt.subplots(figsize=(4, 2.6))
    probs = path.probs[i].detach().cpu().numpy()                       # (S, K)
    src, tgt, flip = int(path.source[i]), int(path.target[i]), int(path.flip_index[i])
    colours = _class_colours(len(class_names))
    order = [src, tgt] + [int(k) for k in np.argsort(-probs.max(0)) if k not in (src, tgt)][:max(0, top - 2)]
    steps = np.arange(len(probs))
    for k in order:
        ax.plot(steps, probs[:, k], color=colours[k], lw=2 if k in (src, tgt) else 1,
                label=class_names[k] + (" (start)" if k == src else " (target)" if k == tgt else ""))
    if flip >= 0:
        ax.axvline(flip, color="black", ls="--", lw=0.8)
        ax.text(flip, 1.02, " flip", fontsize=8, va="bottom")
    if step is not None:
        # above the legend (zorder 5), which may sit where the curves cross
        ax.plot([step], [probs[step, tgt]], "o", color=colours[tgt], markeredgecolor="black", ms=8, zorder=6)
    ax.set_ylim(0, 1.08), ax.set_xlim(0, len(probs) - 1)
    ax.set_xlabel("step along the path", fontsize=8), ax.set_ylabel("probability", fontsize=8)
    ax.tick_params(labelsize=8), ax.legend(fontsize=8, loc="center right", framealpha=0.6)
    if title:
        ax.set_title(title, fontsize=8)
    return ax.figure


def plot_path_frame(path, i: int, step: int, class_names, *, mask=None):
    """One step of path ``i``, for ``widgets.PathExplorer``: the original image, the frame decoded at
    ``step``, its difference |frame - original| (with the evidence ``mask`` (1, H, W) in cyan) and the
    probability curve with the step marked. Returns the figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(10, 2.5), gridspec_kw={"width_ratios": [1, 1, 1, 1.8]})
    src, tgt = int(path.source[i]), int(path.target[i])
    frame = path.frames[i, step]
    p = path.probs[i, step]
    _imshow(axes[0], path.x[i]), axes[0].set_title(f"original ({class_names[src]})", fontsize=8)
    _imshow(axes[1], frame)
    axes[1].set_title(f"step {step}: {class_names[int(p.argmax())]} {float(p.max()):.2f}", fontsize=8,
                      color="tab:green" if int(p.argmax()) == tgt else "black")
    diff = (frame - path.x[i]).abs().mean(0).detach().cpu().numpy()
    add_colourbar(axes[2], axes[2].imshow(diff, cmap="magma", vmin=0,
                                       vmax=max(float((path.frames[i] - path.x[i]).abs().mean(1).max()), 1e-6)))
    axes[2].set_xticks([]), axes[2].set_yticks([]), axes[2].set_title("|frame - original|", fontsize=8)
    _contour(axes[2], mask, "cyan")
    plot_path_probabilities(path, i, class_names, step=step, ax=axes[3],
                            title=f"{class_names[src]} \u2192 {class_names[tgt]}")
    fig.tight_layout()
    return fig


def plot_path(path, i: int, class_names, *, n_frames: int = 7, mask=None, maps=None, title: str | None = None):
    """Path ``i`` as a film strip: the original, ``n_frames`` evenly spaced frames (the flip's frame
    outlined in green) and, with ``maps`` {name: (M, C, H, W)}, saliency maps of the path with the
    evidence ``mask`` (1, H, W) in cyan; the probability curve below. Returns the figure."""
    import matplotlib.pyplot as plt
    import numpy as np

    s = path.steps
    chosen = sorted(set(np.linspace(0, s - 1, n_frames).round().astype(int).tolist())
                    | ({int(path.flip_index[i])} if path.flip_index[i] >= 0 else set()))
    maps = maps or {}
    n_top = 1 + len(chosen) + len(maps)
    fig = plt.figure(figsize=(1.25 * n_top, 3.9))
    grid = fig.add_gridspec(2, n_top, height_ratios=[1, 1.3])
    ax = fig.add_subplot(grid[0, 0])
    _imshow(ax, path.x[i]), ax.set_title(f"original\n{class_names[int(path.source[i])]}", fontsize=8)
    for j, st in enumerate(chosen):
        ax = fig.add_subplot(grid[0, 1 + j])
        _imshow(ax, path.frames[i, st])
        p = path.probs[i, st]
        ax.set_title(f"step {st}\n{class_names[int(p.argmax())]} {float(p.max()):.2f}", fontsize=8)
        if st == int(path.flip_index[i]):
            for side in ax.spines.values():
                side.set_color("tab:green"), side.set_linewidth(2.5)
    for j, (name, m) in enumerate(maps.items()):
        ax = fig.add_subplot(grid[0, 1 + len(chosen) + j])
        add_colourbar(ax, ax.imshow(m[i].sum(0).detach().cpu().numpy(), cmap="magma"))
        ax.set_xticks([]), ax.set_yticks([]), ax.set_title(name, fontsize=8)
        _contour(ax, mask, "cyan")
    plot_path_probabilities(path, i, class_names, ax=fig.add_subplot(grid[1, :]))
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_routes(points, labels, class_names, routes, *, ax=None, title: str | None = None):
    """Routes drawn over the class codes of real images in 2-D: ``points`` (N, 2) coloured by ``labels``
    (N,), ``routes`` {name: (S, 2) points of one path}, each a line from a circle (start) to a star
    (reference). Project codes with ``manifold.fit_plane(...).project``. Returns the figure."""
    import numpy as np

    own_figure = ax is None
    fig = plot_embedding(points, labels, class_names, ax=ax, title=title)
    ax = fig.axes[0] if ax is None else ax
    styles, colours = ["-", "--", ":", "-."], ["black", "tab:red", "tab:purple", "tab:brown"]
    ends = []
    for j, (name, pts) in enumerate(routes.items()):
        pts = np.asarray(pts.detach().cpu() if hasattr(pts, "detach") else pts)
        ends.append(pts)
        ax.plot(pts[:, 0], pts[:, 1], styles[j % 4], color=colours[j % 4], lw=1.8, marker=".", ms=5,
                label=f"{name} route")
        ax.plot(pts[0, 0], pts[0, 1], "o", color="white", markeredgecolor="black", ms=8,
                label="start: the image's class code" if j == 0 else None)
        ax.plot(pts[-1, 0], pts[-1, 1], "*", color="white", markeredgecolor="black", ms=13,
                label="end: the reference's class code" if j == 0 else None)
    if ends:                        # frame the routes (with room around them), not every real code
        both = np.concatenate(ends)
        lo, hi = both.min(0), both.max(0)
        pad = np.maximum((hi - lo) * 0.6, 0.1 * (np.ptp(np.asarray(points), 0) + 1e-9))
        ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0]), ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0, frameon=False)
    if own_figure:                  # room for the legend beside the map
        fig.set_size_inches(7, 3.8)
    ax.figure.tight_layout()
    return fig


def plot_saliency_grid(x, maps, *, masks=None, titles=None, size: float = 1.2, title: str | None = None):
    """Images ``x`` (B, C, H, W) in the first row and one row of maps per method, ``maps`` {name:
    (B, C, H, W)} (summed over channels, each divided by its largest absolute value, so one colour bar per
    row reads every map), the evidence ``masks`` (B, 1, H, W) as cyan contours; column ``titles`` optional.
    Returns the figure."""
    import matplotlib.pyplot as plt

    b = len(x)
    fig, axes = plt.subplots(1 + len(maps), b, figsize=(size * b, size * (1 + len(maps))), squeeze=False)
    for j in range(b):
        _imshow(axes[0, j], x[j])
        _contour(axes[0, j], None if masks is None else masks[j], "red")
        if titles is not None:
            axes[0, j].set_title(titles[j], fontsize=8)
        for r, m in enumerate(maps.values()):
            ax = axes[1 + r, j]
            shown = m[j].sum(0).detach().cpu()
            shown = shown / max(float(shown.abs().max()), 1e-12)      # each map on one scale: its maximum = 1
            im = ax.imshow(shown.numpy(), cmap="magma", vmin=-1 if float(shown.min()) < 0 else 0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
            if j == b - 1:
                add_side_colourbar(ax, im, "map / its max")
            _contour(ax, None if masks is None else masks[j], "cyan")
    axes[0, 0].set_ylabel("image", fontsize=8)
    for r, name in enumerate(maps):
        axes[1 + r, 0].set_ylabel(name, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


# ---- counterfactual baselines (notebook 07) ----------------------------------------------------------

def plot_baselines(x: torch.Tensor, baselines: dict[str, torch.Tensor], *, maps: dict[str, torch.Tensor] | None = None,
                   size: float = 1.2, title: str | None = None):
    """Images (first column) and, per baseline name, the baseline image (and under it, with ``maps``, the map
    from that baseline): one row per image. Returns the figure."""
    import matplotlib.pyplot as plt

    names = list(baselines)
    n = len(x)
    rows = n * (2 if maps else 1)
    fig, axes = plt.subplots(rows, len(names) + 1, figsize=(size * (len(names) + 1), size * rows), squeeze=False)
    for i in range(n):
        r = i * (2 if maps else 1)
        axes[r, 0].imshow(x[i].mean(0), cmap="gray", vmin=-1, vmax=1)
        axes[r, 0].set_ylabel(f"image {i}", fontsize=8)
        for j, name in enumerate(names, start=1):
            axes[r, j].imshow(baselines[name][i].mean(0), cmap="gray", vmin=-1, vmax=1)
            if i == 0:
                axes[r, j].set_title(name, fontsize=8)
            if maps:
                m = maps[name][i, 0].detach()
                im = axes[r + 1, j].imshow((m / max(float(m.abs().max()), 1e-12)).cpu().numpy(), cmap="magma",
                                           vmin=0, vmax=1)
        if maps:
            axes[r + 1, 0].axis("off")
            axes[r + 1, 0].text(0.5, 0.5, "map\n(/ its max)", ha="center", va="center", fontsize=8)
            add_colourbar(axes[r + 1, -1], im)
    for ax in axes.flat:
        ax.set_xticks([]), ax.set_yticks([])
    axes[0, 0].set_title("image", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_counterfactual_changes(x: torch.Tensor, changes: dict[str, torch.Tensor], *, masks: dict[str, torch.Tensor]
                                | None = None, size: float = 1.5, title: str | None = None,
                                mask_labels: dict[str, str] | None = None):
    """Images (first row) and, one row per name of ``changes``, a change map (B, 1, H, W) such as
    ``counterfactual_change``; ``masks`` {colour: (B, 1, H, W)} are outlined on the maps (e.g. ``{"red": marker,
    "cyan": lesion}``), named in a legend by ``mask_labels`` {colour: name}. One column per image, one colour
    bar per row. Returns the figure."""
    import matplotlib.pyplot as plt

    n, names = len(x), list(changes)
    vmax = {name: max(float(changes[name][:n].max()), 1e-6) for name in names}   # one scale per row
    fig, axes = plt.subplots(1 + len(names), n, figsize=(size * n, size * (1 + len(names))), squeeze=False)
    for i in range(n):
        axes[0, i].imshow(x[i].mean(0), cmap="gray", vmin=-1, vmax=1)
        for r, name in enumerate(names, start=1):
            im = axes[r, i].imshow(changes[name][i, 0].detach().cpu().numpy(), cmap="magma", vmin=0, vmax=vmax[name])
            for colour, m in (masks or {}).items():
                axes[r, i].contour(m[i, 0], levels=[0.5], colors=colour, linewidths=0.8)
            if i == n - 1:
                add_colourbar(axes[r, i], im, "|x_cf - x|")
    for ax, label in zip(axes[:, 0], ["image"] + names):
        ax.set_ylabel(label, fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([]), ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=9)
    if mask_labels:
        from matplotlib.lines import Line2D

        fig.legend(handles=[Line2D([], [], color=c, label=mask_labels.get(c, c)) for c in (masks or {})],
                   loc="lower center", ncol=len(masks or {}), fontsize=8, frameon=False)
        fig.tight_layout(rect=(0, 0.06, 1, 1))
    else:
        fig.tight_layout()
    return fig


# ---- several explanations of one decision (notebook 08) ----------------------------------------------

def plot_explanations(x: torch.Tensor, result: MultiExplanation, *, lesion_masks: torch.Tensor | None = None,
                      axes=None, title: str | None = None):
    """One image (C, H, W) in [-1, 1]: the image, its responsibility map and each explanation (the revealed
    pixels on a dim copy of the image), lesion outlines in cyan. ``axes``: a sequence of 2 + E axes (or None)."""
    import matplotlib.pyplot as plt
    import numpy as np

    from .data import to_display

    e = len(result.explanations)
    if axes is None:
        fig, axes = plt.subplots(1, 2 + e, figsize=(2.2 * (2 + e), 2.6), squeeze=False)
        axes = axes[0]
    fig = axes[0].figure
    img = to_display(x).mean(0).cpu().numpy()
    panels = [(img, "gray", "image"), (result.responsibility.numpy(), "magma", "responsibility")]
    for k, m in enumerate(result.explanations):
        panels.append((np.where(m.numpy(), img, 0.25 * img), "gray", f"explanation {k + 1} ({int(m.sum())} px)"))
    for ax, (a, cmap, name) in zip(axes, panels):
        im = ax.imshow(a, cmap=cmap, vmin=0 if cmap == "gray" else None, vmax=1 if cmap == "gray" else None)
        if cmap != "gray":
            cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
            cb.ax.tick_params(labelsize=8)
        if lesion_masks is not None:
            for lm in lesion_masks:
                ax.contour(lm.numpy(), levels=[0.5], colors="cyan", linewidths=0.7)
        ax.set_title(name, fontsize=8)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    if lesion_masks is not None:
        from matplotlib.lines import Line2D

        axes[0].legend(handles=[Line2D([], [], color="cyan", label="evidence (lesions)")], fontsize=8,
                       loc="upper center", bbox_to_anchor=(0.5, -0.02), frameon=False)
    fig.tight_layout()
    return fig


# ---- why was it misclassified? (notebook 09) ---------------------------------------------------------

def _map_panel(ax, m, title: str, mask=None, vmax: float | None = None, colourbar: bool = True):
    im = ax.imshow(m.sum(0).detach().cpu().numpy(), cmap="magma", vmin=0, vmax=vmax)
    ax.set_xticks([]), ax.set_yticks([]), ax.set_title(title, fontsize=8)
    _contour(ax, mask, "cyan")
    if colourbar:
        add_colourbar(ax, im)


def _misclass_legend(fig, mask, *, frame: bool = True):
    """The legend of the misclassification figures: the green frame and the mask outlines."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Patch(facecolor="none", edgecolor="tab:green", lw=2.5, label="the black box says the true class")] \
        if frame else []
    if mask is not None:
        handles += [Line2D([], [], color="red", label="evidence (lesion) on the image"),
                    Line2D([], [], color="cyan", label="evidence (lesion) on the maps")]
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)


def plot_counterfactuals(expl, e: int, class_names, *, mask=None, n_frames: int = 5, size: float = 1.7):
    """Misclassified image ``e`` of a ``misclass.MisclassExplanation``: one row per counterfactual path
    (towards the true class): the transitional images from the reconstruction to the counterfactual
    (framed in green where the black box says the true class), the CAE map and the Captum map on the
    counterfactual (each with its colour bar), with the evidence ``mask`` (1, H, W) in cyan; the original in the
    first column. Returns the figure."""
    import matplotlib.pyplot as plt

    rows = expl.paths_of(e).tolist()
    fig, axes = plt.subplots(len(rows), n_frames + 3, figsize=(size * (n_frames + 3.6), size * len(rows) + 0.9),
                             squeeze=False)
    p = expl.path
    true, pred = int(expl.label[e]), int(expl.predicted[e])
    for r, m in enumerate(rows):
        ax = axes[r, 0]
        if r == 0:
            _imshow(ax, p.x[m]), _contour(ax, mask, "red")
            ax.set_title(f"image: true {class_names[true]}\nblack box {class_names[pred]}", fontsize=8)
        else:
            ax.axis("off")
        frames, steps = expl.transitions(m, n_frames)
        for j in range(n_frames):
            ax = axes[r, 1 + j]
            if j >= len(frames):
                ax.axis("off")
                continue
            _imshow(ax, frames[j])
            prob = p.probs[m, int(steps[j])]
            ax.set_title(f"step {int(steps[j])}:\n{class_names[int(prob.argmax())]} {float(prob.max()):.2f}",
                         fontsize=8)
            if int(prob.argmax()) == true:
                for side in ax.spines.values():
                    side.set_color("tab:green"), side.set_linewidth(2.5)
        found = "" if p.flipped[m] else " (no flip)"
        _map_panel(axes[r, n_frames + 1], expl.cae_maps[m], f"CAE |x_cf - x|{found}", mask)
        _map_panel(axes[r, n_frames + 2], expl.method_maps[m], f"{expl.method}\non x_cf", mask)
        axes[r, 1].set_ylabel(f"reference {r + 1}", fontsize=8)
    fig.tight_layout(rect=(0, 0.6 / (size * len(rows) + 0.9), 1, 1))
    _misclass_legend(fig, mask)
    return fig


def plot_change_summary(expl, e: int, *, mask=None, ax=None):
    """What had to change for image ``e`` of a ``misclass.MisclassExplanation``: the image, the part every
    counterfactual changes (``common``), the part that varies between them (``varying``) and the pairwise
    distances between the counterfactuals' changes (0 = the same change, 2 = disjoint). With ``ax`` (4
    axes) draws there. Returns the figure."""
    import matplotlib.pyplot as plt
    import numpy as np

    if ax is None:
        fig, ax = plt.subplots(1, 4, figsize=(11, 3.0))
    fig = ax[0].figure
    _imshow(ax[0], expl.path.x[expl.paths_of(e)[0]]), _contour(ax[0], mask, "red")
    ax[0].set_title("image", fontsize=9)
    common, varying = expl.common(e), expl.varying(e)
    vmax = max(float(common.max()), float(varying.max()), 1e-6)
    _map_panel(ax[1], common, "changed by every\ncounterfactual", mask, vmax)
    _map_panel(ax[2], varying, "changed by some,\nnot all", mask, vmax)
    d = expl.distances(e).numpy()
    if len(d):
        add_colourbar(ax[3], ax[3].imshow(d, cmap="viridis", vmin=0, vmax=2), "distance")
    for (i, j), v in np.ndenumerate(d):
        ax[3].text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8, color="white" if v < 1 else "black")
    ax[3].set_xticks(range(len(d)), [str(k + 1) for k in range(len(d))], fontsize=8)
    ax[3].set_yticks(range(len(d)), [str(k + 1) for k in range(len(d))], fontsize=8)
    ax[3].set_xlabel("counterfactual", fontsize=8)
    ax[3].set_title(f"{len(d)} found, {int(expl.distinct[e])} distinct", fontsize=9)
    fig.tight_layout(rect=(0, 0.1 if mask is not None else 0, 1, 1))
    _misclass_legend(fig, mask, frame=False)
    return fig


def plot_misclass_step(expl, m: int, step: int, class_names, *, mask=None):
    """One step of counterfactual path ``m`` of a ``misclass.MisclassExplanation``, for
    ``widgets.MisclassExplorer``: the image, the frame at ``step``, |frame - image|, the counterfactual's
    CAE and Captum maps (evidence ``mask`` (1, H, W) in cyan; colour bars) and the probability curve. Returns
    the figure."""
    import matplotlib.pyplot as plt

    p = expl.path
    fig, axes = plt.subplots(1, 6, figsize=(15, 3.2), gridspec_kw={"width_ratios": [1, 1, 1.25, 1.25, 1.25, 2.2]})
    true = int(p.target[m])
    _imshow(axes[0], p.x[m]), _contour(axes[0], mask, "red")
    axes[0].set_title(f"true {class_names[true]},\nblack box {class_names[int(p.source[m])]}", fontsize=8)
    frame, prob = p.frames[m, step], p.probs[m, step]
    _imshow(axes[1], frame)
    axes[1].set_title(f"step {step}:\n{class_names[int(prob.argmax())]} {float(prob.max()):.2f}", fontsize=8,
                      color="tab:green" if int(prob.argmax()) == true else "black")
    diff = (frame - p.x[m]).abs().sum(0, keepdim=True)
    _map_panel(axes[2], diff, "|frame - image|", mask, max(float((p.frames[m] - p.x[m]).abs().sum(1).max()), 1e-6))
    _map_panel(axes[3], expl.cae_maps[m], "CAE map of x_cf", mask)
    _map_panel(axes[4], expl.method_maps[m], f"{expl.method}\non x_cf", mask)
    plot_path_probabilities(p, m, class_names, step=step, ax=axes[5],
                            title=f"towards the true class {class_names[true]}")
    fig.tight_layout(rect=(0, 0.12 if mask is not None else 0, 1, 1))
    _misclass_legend(fig, mask, frame=False)
    return fig


# ---- saliency metrics one by one (notebook 06) ---------------------------------------------------------

def plot_pointing_game(maps, masks, i: int = 0, *, size: float = 2.8):
    """The pointing game on image ``i``: per method of ``maps`` {name: (B, 1, H, W)} its map (colour bar),
    the lesion ``masks`` (B, 1, H, W) outlined in cyan, the map's brightest pixel as a cross (green: inside
    the lesion, a hit; red: a miss). Returns the figure."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    fig, axes = plt.subplots(1, len(maps), figsize=(size * len(maps), size), squeeze=False)
    for ax, (name, mp) in zip(axes[0], maps.items()):
        m = mp[i].sum(0).detach().cpu()
        r, c = divmod(int(m.argmax()), m.shape[1])
        hit = bool(masks[i, 0, r, c])
        add_colourbar(ax, ax.imshow(m.numpy(), cmap="magma"), "map value")
        _contour(ax, masks[i], "cyan")
        ax.plot(c, r, "x", color="lime" if hit else "red", ms=12, mew=3)
        ax.set_title(f"{name}: {'hit' if hit else 'miss'}", fontsize=9)
        ax.set_xticks([]), ax.set_yticks([])
    axes[0, 0].legend(handles=[Line2D([], [], color="cyan", label="lesion"),
                               Line2D([], [], ls="", marker="x", color="lime", mew=3, label="brightest pixel: hit"),
                               Line2D([], [], ls="", marker="x", color="red", mew=3, label="brightest pixel: miss")],
                      fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.02), frameon=False)
    fig.tight_layout()
    return fig


def plot_mask_roc(maps, masks, i: int = 0, *, ax=None):
    """The ROC curve of each map of ``maps`` on image ``i`` read as a pixel classifier of the lesion mask,
    the mask AUROC in the legend. Returns the figure."""
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_auc_score, roc_curve

    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 3.6))
    truth = masks[i].flatten().cpu().numpy()
    for name, mp in maps.items():
        score = mp[i].sum(0).flatten().detach().cpu().numpy()
        fpr, tpr, _ = roc_curve(truth, score)
        ax.plot(fpr, tpr, label=f"{name} (AUROC {roc_auc_score(truth, score):.2f})")
    ax.plot([0, 1], [0, 1], "k:", lw=1, label="chance")
    ax.set_xlabel("background pixels above the threshold", fontsize=8)
    ax.set_ylabel("lesion pixels above the threshold", fontsize=8)
    ax.tick_params(labelsize=8), ax.legend(fontsize=8)
    ax.set_title(f"image {i}: ROC of the map", fontsize=9)
    ax.figure.tight_layout()
    return ax.figure


def plot_topk(maps, masks, i: int = 0, *, size: float = 2.6):
    """Top-k IoU on image ``i``: per method the map's k brightest pixels (white; k = the lesion's area) and the
    lesion (cyan outline), the IoU in the title. Returns the figure."""
    import matplotlib.pyplot as plt
    import torch
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from .evaluate import topk_iou

    fig, axes = plt.subplots(1, len(maps), figsize=(size * len(maps), size + 0.4), squeeze=False)
    k = int(masks[i].sum())
    for ax, (name, mp) in zip(axes[0], maps.items()):
        flat = mp[i].sum(0).flatten().detach()
        top = torch.zeros_like(flat).scatter_(0, flat.topk(k).indices, 1.0).view(masks.shape[-2:])
        ax.imshow(top.cpu().numpy(), cmap="gray", vmin=0, vmax=1)
        _contour(ax, masks[i], "cyan")
        iou = float(topk_iou(mp[i:i + 1], masks[i:i + 1])[0])
        ax.set_title(f"{name}: IoU {iou:.2f}", fontsize=9)
        ax.set_xticks([]), ax.set_yticks([])
    axes[0, 0].legend(handles=[Patch(facecolor="white", edgecolor="grey", label=f"top-k pixels (k = {k})"),
                               Line2D([], [], color="cyan", label="lesion")],
                      fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.02), frameon=False)
    fig.tight_layout()
    return fig


def plot_metric_bars(values: dict, *, chance: float | None = None, highlight=(), ylabel: str = "",
                     ax=None, title: str | None = None):
    """One bar per method of ``values`` {name: value} (orange: the names in ``highlight``, e.g. the CAE
    methods), ``chance`` as a dotted line; every colour is in the legend. Returns the figure."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3))
    names = list(values)
    ax.bar(names, [values[n] for n in names], color=["C1" if n in highlight else "C0" for n in names])
    handles = [Patch(color="C1", label="CAE maps"), Patch(color="C0", label="other maps")]
    if chance is not None:
        handles.append(ax.axhline(chance, color="k", ls=":", label="chance (lesion area)"))
    ax.set_ylabel(ylabel, fontsize=8), ax.legend(handles=handles, fontsize=8)
    ax.tick_params(axis="y", labelsize=8)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    ax.figure.tight_layout()
    return ax.figure


def plot_deletion_insertion(deletion: dict, insertion: dict, *, window: float | None = 0.1, zoom: float | None = None):
    """Mean deletion and insertion curves, ``{name: evaluate.Curve}`` each, the area under each curve in the
    legend; ``window`` shades AOPC's first fraction of pixels; ``zoom`` limits the deletion panel's x axis to
    the first fraction of pixels (where small lesions are deleted). Returns the figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, curves in zip(axes, (deletion, insertion)):
        for name, cv in curves.items():
            ax.plot(cv.fractions.numpy(), cv.probs.mean(0).numpy(), label=f"{name} (area {float(cv.auc.mean()):.3f})")
    if window:
        axes[0].axvspan(0, window, color="grey", alpha=0.2, label="AOPC window")
    if zoom:
        axes[0].set_xlim(0, zoom)
    for ax, t in zip(axes, ["deletion (lower area is better)" + (f", first {zoom:.0%} of the pixels" if zoom else ""),
                            "insertion (higher area is better)"]):
        ax.set_xlabel("fraction of pixels moved", fontsize=8), ax.set_ylabel("p(decision)", fontsize=8)
        ax.set_title(t, fontsize=9), ax.tick_params(labelsize=8), ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_randomisation(rand: dict, *, highlight=(), ax=None):
    """Cascading randomisation: per method of ``rand`` {name: evaluate.Randomisation} the mean |Spearman|
    similarity to the trained model's maps after each randomised layer (thick lines with dots: the names in
    ``highlight``, e.g. the CAE methods). Returns the figure."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.6))
    layers = next(iter(rand.values())).layers
    for name, r in rand.items():
        thick = name in highlight
        ax.plot(range(1, len(layers) + 1), r.similarity.abs().mean(1).numpy(), "o-" if thick else ".--", label=name,
                lw=2.5 if thick else 1)
    ax.set_xticks(range(1, len(layers) + 1), layers, rotation=30, fontsize=8)
    ax.set_xlabel("randomised from the output down to ...", fontsize=8)
    ax.set_ylabel("|Spearman| with the trained maps", fontsize=8), ax.tick_params(axis="y", labelsize=8)
    ax.set_ylim(-0.05, 1.05), ax.legend(fontsize=8, ncol=2, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.figure.tight_layout()
    return ax.figure
