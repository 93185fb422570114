"""The parts the figures of ``caelib.viz`` are built from: one image on an axis (``_imshow``), a grid of images
(``show_images``), mask outlines (``_contour``), colour bars (``add_colourbar``, ``add_side_colourbar``), the class
colours and markers (``_class_colours``, ``_MARKERS``) and the black box's probabilities as bars
(``plot_probabilities``).

Used by every ``viz_*`` module; in the notebooks through ``caelib.viz``: ``show_images`` in notebooks 01, 02 and 08,
``plot_probabilities`` inside the explorers of 03 and 04.
"""

from __future__ import annotations


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


def _imshow(ax, img, cmap: str = "gray"):
    """Draw one model image (C, H, W) in [-1, 1] on ``ax`` without ticks."""
    from .data import to_display

    a = to_display(img.detach().cpu()).permute(1, 2, 0).numpy()
    ax.imshow(a.squeeze(-1) if a.shape[-1] == 1 else a, cmap=cmap, vmin=0, vmax=1)
    ax.set_xticks([]), ax.set_yticks([])


def _contour(ax, mask, colour: str, style: str = "solid"):
    if mask is not None and mask.any():
        ax.contour(mask[0].detach().cpu().numpy(), levels=[0.5], colors=colour, linewidths=0.9, linestyles=style)


_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "p")


def _class_colours(k: int):
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("tab10" if k <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(k)]


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
