"""The drawing kit of the notebook diagrams: a figure laid out in inches, its font and colours, the shipped models.

``_Sketch`` places images, heat maps, boxes and arrows in inches; ``_shipped`` and ``_bank`` load the shipped models,
test images and a code bank once. Used by ``diagrams_models`` and ``diagrams_explanations`` (``caelib.diagrams``).
"""

from __future__ import annotations

from functools import lru_cache

import torch

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
