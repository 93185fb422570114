"""Figures of saliency maps and how they are scored: the maps of several methods side by side
(``plot_saliency_grid``: notebooks 05, 06, 08 and 10, the tour report, ``benchmarks/saliency.py``) and each metric
of notebook 06 on its own (pointing game, mask ROC, top-k IoU, one bar per method, deletion and insertion curves,
cascading randomisation).
"""

from __future__ import annotations

from .viz_panels import _contour, _imshow, add_colourbar, add_side_colourbar

# ---- saliency maps side by side (notebooks 05, 06, 08, 10) ---------------------------------------------

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
