"""Figures of guided counterfactual paths (notebook 05): the black box's probabilities along a path, one step of
it (for ``widgets.PathExplorer``), the path as a film strip and routes drawn over the class codes.
``plot_path_probabilities`` also draws the curve of notebook 09's explorer (``viz_explanations``).
"""

from __future__ import annotations

from .viz_codes import plot_embedding
from .viz_panels import _class_colours, _contour, _imshow, add_colourbar

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
