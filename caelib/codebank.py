"""A bank of real class codes with their labels (``CodeBank``): where counterfactual paths find their references.

The bank is also what a graph route walks through and what ``paths.path_metrics`` measures a route against.
Built from images with ``CodeBank.from_images(cae, images, labels, classifier=...)``; taught in
``notebooks/05_paths.ipynb``. Importable from ``caelib.paths`` too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .cae import CAE
from .classifier import predict_proba
from .conventions import Classifier
from .swap import encode_all

__all__ = ["CodeBank", "DECODE_BATCH"]

# frames per decoder call on a path's steps or a reference's probes: small ones stay in the CPU cache
# (benchmarks/results/measured_choices.md)
DECODE_BATCH = 64


@dataclass
class CodeBank:
    """The class codes of real images (usually the training set) with their labels: where references come
    from and what the graph route walks through.

    ``codes`` (N, D) float32, ``labels`` (N,) int64 in 0..K-1, ``images`` (N, C, H, W) in [-1, 1] or None
    (kept to show the reference used). ``num_classes`` defaults to ``labels.max() + 1``."""

    codes: torch.Tensor
    labels: torch.Tensor
    images: torch.Tensor | None = None
    num_classes: int = 0
    _nn: object = field(default=None, init=False, repr=False)

    def __post_init__(self):
        self.codes = torch.as_tensor(self.codes, dtype=torch.float32).detach().cpu()
        self.labels = torch.as_tensor(self.labels, dtype=torch.long).cpu()
        if self.codes.ndim != 2 or self.labels.shape != (len(self.codes),) or len(self.codes) < 2:
            raise ValueError(f"a CodeBank needs codes (N, D) and labels (N,) with N >= 2, got "
                             f"{tuple(self.codes.shape)} and {tuple(self.labels.shape)}")
        self.num_classes = max(self.num_classes, int(self.labels.max()) + 1)

    @classmethod
    def from_images(cls, cae: CAE, images: torch.Tensor, labels: torch.Tensor, *,
                    classifier: Classifier | None = None, n: int | None = None) -> "CodeBank":
        """Encode real images (N, C, H, W) in [-1, 1] (``n`` of them, sampled across the classes with
        ``data.stratified_indices``: the first ``n`` of a folder sorted by class would be one class; None:
        all). With ``classifier``, keep only the images the black box assigns to their label: a reference
        should be a sample the black box itself puts in the target class."""
        from .data import stratified_indices

        labels = torch.as_tensor(labels)
        if n is not None and n < len(labels):
            pick = torch.as_tensor(stratified_indices(labels, n, seed=0)).to(labels.device)
            images, labels = images[pick.to(images.device)], labels[pick]
        k = int(labels.max()) + 1
        if classifier is not None:
            keep = predict_proba(classifier, images).argmax(1) == labels.cpu()
            images, labels = images[keep], labels[keep]
        codes, _ = encode_all(cae, images)
        return cls(codes.cpu(), labels, images.cpu(), num_classes=k)

    def __len__(self) -> int:
        return len(self.codes)

    def distance_to_nearest(self, codes: torch.Tensor) -> torch.Tensor:
        """Euclidean distance (M,) from each of ``codes`` (M, D) to the nearest class code of the bank
        (lower: closer to the manifold of real codes)."""
        from sklearn.neighbors import NearestNeighbors

        if self._nn is None:
            self._nn = NearestNeighbors(n_neighbors=1).fit(self.codes.numpy())
        dist, _ = self._nn.kneighbors(codes.detach().cpu().reshape(-1, self.codes.shape[1]).numpy())
        return torch.as_tensor(dist[:, 0], dtype=torch.float32)

    def depth(self) -> torch.Tensor:
        """(N,) distance from each bank code to the nearest bank code of another class: small at the
        border between classes, large deep inside a class."""
        from sklearn.neighbors import NearestNeighbors

        out = torch.full((len(self),), float("inf"))
        for k in self.labels.unique():
            mine, other = self.labels == k, self.labels != k
            if other.any():
                dist, _ = NearestNeighbors(n_neighbors=1).fit(self.codes[other].numpy()).kneighbors(
                    self.codes[mine].numpy())
                out[mine] = torch.as_tensor(dist[:, 0], dtype=torch.float32)
        return out

    def spacing(self) -> float:
        """The median distance from a bank code to its nearest other bank code: the manifold's grain,
        to read ``distance_to_nearest`` against."""
        from sklearn.neighbors import NearestNeighbors

        dist, _ = NearestNeighbors(n_neighbors=2).fit(self.codes.numpy()).kneighbors(self.codes.numpy())
        return float(np.median(dist[:, 1]))

