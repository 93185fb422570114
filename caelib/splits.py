"""Seeded train/test splits and class-balanced samples of labelled data, shared by every data source.

``SPLITS`` names the splits; ``split_rng`` gives a separate, reproducible random stream per (seed, split,
source); ``stratified_split`` splits indices per class; ``stratified_indices`` samples across the classes
(never "the first n"). Used by ``caelib.data`` (notebook 01), ``caelib.synthetic`` and ``caelib.image_files``
(notebook 10); ``stratified_indices`` is importable from ``caelib.data`` too.
"""

from __future__ import annotations

import zlib
from typing import Sequence

import numpy as np
from torch import Tensor

__all__ = ["SPLITS", "split_rng", "stratified_split", "stratified_indices"]

SPLITS = ("train", "test")


def split_rng(seed: int, split: str, stream: str) -> np.random.Generator:
    """A separate, reproducible random stream per (seed, split, dataset name)."""
    return np.random.default_rng([seed, SPLITS.index(split), zlib.crc32(stream.encode())])


def stratified_split(labels: np.ndarray, test_fraction: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Deterministic per-class split of indices into "train" and "test" (sorted index arrays)."""
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        k = int(round(len(idx) * test_fraction))
        test.append(idx[:k])
        train.append(idx[k:])
    return {"train": np.sort(np.concatenate(train)), "test": np.sort(np.concatenate(test))}


def stratified_indices(labels: Sequence[int] | Tensor | np.ndarray, n: int | None = None,
                       seed: int | np.random.Generator = 0) -> np.ndarray:
    """Indices of ``n`` samples spread evenly across the classes of ``labels`` (seeded, random within a class).

    Use it wherever "the first n images" would do: a folder a user brings is often sorted by class, so its
    first n images are one class. The classes take turns (one sample of every class, then the next round, ...;
    a class with fewer samples than its share gives all it has and the others fill up), so every prefix of the
    result is as balanced as the data allow. ``n`` None (or >= the number of samples): every index, in that
    order. ``seed``: an int or a numpy Generator. Returns an int64 array (not sorted)."""
    labels = np.asarray(labels.detach().cpu() if isinstance(labels, Tensor) else labels).reshape(-1)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    rank = np.empty(len(labels), np.int64)
    for c in np.unique(labels):  # rank of each sample within its class, in random order
        members = order[labels[order] == c]
        rank[members] = np.arange(len(members))
    picked = order[np.argsort(rank[order], kind="stable")]
    return picked if n is None else picked[:n]
