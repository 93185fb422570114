"""Explain single images end to end: one call from images to counterfactual paths, saliency maps, a
figure per image and machine-readable records. Backs ``python -m caelib explain`` and notebook 10.

The explanation is CAE's (Xie et al., ICDE 2024): the class code of each image walks towards a reference
of another class (``paths.counterfactual_path``), the decoded frame at which the black box changes its
decision is the counterfactual, and the saliency map says where the image changed on the way
(``saliency_path.CAESaliency``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch

from .cae import CAE, CAEConfig
from .classifier import ClassifierConfig, predict_proba
from .conventions import Classifier, evaluating
from .paths import CodeBank, CounterfactualPath, MedoidReference
from .saliency_path import CAESaliency, Variant


def check_classifier(classifier: Classifier, config: CAEConfig, class_names: Sequence[str] | None = None) -> None:
    """Raise ``ValueError`` (saying what to do) unless ``classifier`` takes the CAE's images
    (B, channels, image_size, image_size) in [-1, 1] and returns (B, num_classes) logits."""
    shape = (config.channels, config.image_size, config.image_size)
    net = getattr(classifier, "model", classifier)
    own = getattr(net, "config", None)
    if isinstance(own, ClassifierConfig) and (own.channels, own.image_size) != (config.channels, config.image_size):
        raise ValueError(f"the classifier was trained for {own.channels}x{own.image_size}x{own.image_size} images "
                         f"but the CAE for {'x'.join(map(str, shape))}; train the CAE with --image-size "
                         f"{own.image_size} --channels {own.channels} (or a classifier for the CAE's images)")
    try:
        with evaluating(classifier), torch.no_grad():
            logits = classifier(torch.zeros(2, *shape))
    except Exception as err:  # any failure of the user's model on the CAE's images
        raise ValueError(f"the classifier fails on the CAE's images of shape (B, {', '.join(map(str, shape))}) in "
                         f"[-1, 1] ({type(err).__name__}: {err}); wrap your model with caelib.as_black_box(model, "
                         "num_classes=K, preprocess=...) so that it takes such images") from err
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2 or logits.shape[0] != 2:
        got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"the classifier returned {got} for 2 images; it must return logits of shape (B, K)")
    if logits.shape[1] != config.num_classes:
        names = f" ({', '.join(class_names)})" if class_names else ""
        raise ValueError(f"the classifier returns {logits.shape[1]} class scores but the CAE knows "
                         f"{config.num_classes} classes{names}; explain a classifier trained on the same classes, "
                         "in the same order, as the CAE's data")


def reference_bank(cae: CAE, classifier: Classifier, images: torch.Tensor, labels: torch.Tensor,
                   n: int = 2000) -> CodeBank:
    """The class codes of (at most ``n``) real images the black box puts in their own class: where the
    paths head to. Raises ``ValueError`` when some class has no such image."""
    bank = CodeBank.from_images(cae, images, labels, classifier=classifier, n=n)
    k = cae.config.num_classes
    missing = [c for c in range(k) if not (bank.labels == c).any()]
    if missing:
        raise ValueError(f"the black box puts none of the reference images in class(es) {missing}; the paths "
                         "need references of every class: check that the classifier and the data use the same "
                         "classes in the same order")
    return bank


@dataclass
class Explanation:
    """Explanations of B images: ``x`` (B, C, H, W) in [-1, 1], ``probs`` (B, K) the black box's
    probabilities, ``maps`` (B, C, H, W) CAE saliency in [0, 1], ``path`` the B counterfactual paths."""

    x: torch.Tensor
    probs: torch.Tensor
    maps: torch.Tensor
    path: CounterfactualPath
    class_names: tuple[str, ...]

    def record(self, i: int) -> dict[str, Any]:
        """Image ``i`` as plain values (for JSON): the decision and probabilities, the target, whether and
        where the path flips, the black box's probabilities on the counterfactual, the saliency peak."""
        names, p = self.class_names, self.path
        end = int(p.end_index[i])
        peak = int(self.maps[i].sum(0).flatten().argmax())
        width = self.maps.shape[-1]
        return {
            "decision": names[int(self.probs[i].argmax())],
            "probabilities": {n: round(float(v), 4) for n, v in zip(names, self.probs[i])},
            "target": names[int(p.target[i])],
            "flipped": bool(p.flipped[i]),
            "flip_step": int(p.flip_index[i]),
            "steps": int(p.steps),
            "counterfactual_probabilities": {n: round(float(v), 4) for n, v in zip(names, p.probs[i, end])},
            "saliency_peak": {"row": peak // width, "col": peak % width},
        }


def explain_images(cae: CAE, classifier: Classifier, x: torch.Tensor, bank: CodeBank, *, target=None,
                   steps: int = 11, variant: Variant = Variant.PATH,
                   class_names: Sequence[str] | None = None) -> Explanation:
    """Explain images ``x`` (B, C, H, W) in [-1, 1]: paths towards the medoid of the target class
    (``target`` None: the most likely other class; else an int or (B,) ints, see ``CAESaliency``) and their
    saliency maps."""
    names = tuple(class_names) if class_names is not None else tuple(str(k) for k in range(cae.config.num_classes))
    saliency = CAESaliency(cae, classifier, reference=MedoidReference(bank), variant=variant, steps=steps)
    maps, path = saliency.explain(x, target=target)
    return Explanation(x=x, probs=predict_proba(classifier, x), maps=maps, path=path, class_names=names)


def plot_explanation(expl: Explanation, i: int, *, title: str | None = None, n_frames: int = 5):
    """One image's explanation as a figure: the image, frames of its path (the flip outlined in green),
    the counterfactual, the saliency map over the image; below, the black box's probabilities along the
    path and on the image vs the counterfactual. Returns the figure."""
    import matplotlib.pyplot as plt
    import numpy as np

    from .data import to_display
    from .viz import plot_path_probabilities

    p, names = expl.path, expl.class_names
    end = int(p.end_index[i])
    chosen = sorted(set(np.linspace(0, p.steps - 1, n_frames).round().astype(int).tolist()) | {end})
    n_top = 2 + len(chosen)
    fig = plt.figure(figsize=(max(1.5 * n_top, 8), 4.8))
    grid = fig.add_gridspec(2, n_top, height_ratios=[1, 1.2])

    def show(ax, img, text, colour="black"):
        a = to_display(img.detach().cpu()).permute(1, 2, 0).numpy()
        ax.imshow(a.squeeze(-1) if a.shape[-1] == 1 else a, cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([]), ax.set_yticks([]), ax.set_title(text, fontsize=8, color=colour)

    decision = int(expl.probs[i].argmax())
    show(fig.add_subplot(grid[0, 0]), expl.x[i], f"image\n{names[decision]} {float(expl.probs[i].max()):.2f}")
    for j, st in enumerate(chosen):
        ax = fig.add_subplot(grid[0, 1 + j])
        q = p.probs[i, st]
        flip = st == int(p.flip_index[i])
        text = f"step {st}{' (flip)' if flip else ''}\n{names[int(q.argmax())]} {float(q.max()):.2f}"
        show(ax, p.frames[i, st], text, "tab:green" if flip else "black")
        if flip:
            for side in ax.spines.values():
                side.set_color("tab:green"), side.set_linewidth(2.5)
    ax = fig.add_subplot(grid[0, -1])
    show(ax, expl.x[i], "saliency")
    cbar = fig.colorbar(ax.imshow(expl.maps[i].sum(0).detach().cpu().numpy(), cmap="magma", alpha=0.55), ax=ax,
                        fraction=0.046, pad=0.03)
    cbar.ax.tick_params(labelsize=8)
    plot_path_probabilities(p, i, names, ax=fig.add_subplot(grid[1, : n_top // 2 + 1]),
                            title=f"path {names[int(p.source[i])]} \u2192 {names[int(p.target[i])]}")
    ax = fig.add_subplot(grid[1, n_top // 2 + 2:])
    k, width = len(names), 0.38
    ax.bar(np.arange(k) - width / 2, expl.probs[i].numpy(), width, label="image", color="tab:gray")
    ax.bar(np.arange(k) + width / 2, p.probs[i, end].numpy(), width, label="counterfactual", color="tab:green")
    ax.set_xticks(range(k), names, fontsize=8, rotation=45 if k > 4 else 0)
    ax.set_ylim(0, 1), ax.set_ylabel("probability", fontsize=8), ax.tick_params(axis="y", labelsize=8)
    ax.legend(fontsize=8), ax.set_title("black box", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
