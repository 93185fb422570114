"""The synthetic lesion images: 32x32 "scans" whose class evidence (the lesions) has an exact mask.

``generate_lesions`` renders the variants of ``LESION_VARIANTS`` (``lesions``, ``lesions-kinds``,
``lesions-two``, ``lesions-shortcut``) as numpy arrays, vectorised; ``caelib.data.load_dataset`` wraps them
as an ``ImageDataset``. ``brightest_pixel_hit_rate`` is the check a good synthetic data set must pass: "find
the bright spot" must not find the lesion. Taught in notebook 01; both importable from ``caelib.data`` too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .splits import SPLITS, split_rng

if TYPE_CHECKING:
    from .data import ImageDataset

__all__ = ["LesionVariant", "LESION_VARIANTS", "generate_lesions", "brightest_pixel_hit_rate"]


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
    rng = split_rng(seed, split, variant)
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
