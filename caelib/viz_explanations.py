"""Figures of the methods that explain a decision in other ways: counterfactual baselines and where they change the
image (notebook 07; re-exported by ``baselines``), several explanations of one decision (notebook 08; re-exported
by ``responsibility``) and why an image was misclassified (notebook 09 and ``widgets.MisclassExplorer``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .viz_panels import _contour, _imshow, add_colourbar
from .viz_paths import plot_path_probabilities

if TYPE_CHECKING:
    import torch

    from .responsibility import MultiExplanation


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
