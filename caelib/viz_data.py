"""Figures of the data and the black box, before any CAE explains it: sample images per class with their evidence
and the confusion matrix (notebook 01), and the CAE's training curves (notebook 02). The tour report
(``caelib.tour``) draws them too.
"""

from __future__ import annotations

from .viz_panels import add_colourbar

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


# ---- training the CAE (notebook 02) ------------------------------------------------------------------

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
