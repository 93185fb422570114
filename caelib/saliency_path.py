"""Saliency maps from a counterfactual path: where did the image have to change for the black box to
change its mind?

Five variants (``Variant``):

- ``DIFFERENCE``: |x_cf - x|, the map of Xie et al. ("Class Association Embedding", ICDE 2024): the
  counterfactual (the frame at the flip) against the input. It also carries the CAE's reconstruction
  error, spread over every textured pixel;
- ``RECONSTRUCTION``: |x_cf - x_rec|, the counterfactual against the image's own reconstruction (frame 0
  of the path), lightly smoothed: both images come out of the decoder, so only what the class code
  changed remains (caelib's variant);
- ``PATH``: the whole path, from the image's code to the reference's: how much each pixel changes along
  it (the sum of the changes between successive frames), lightly smoothed (caelib's variant). At the
  flip the change is often small and spread out; on the rest of the way the evidence keeps changing;
- ``PATH_WEIGHTED``: the same sum with each step weighted by how much it moved the black box's
  probability of the target class (caelib's variant): the steps around the flip count most.

``CAESaliency(...).attribute(inputs, target=...)`` has the call of Captum's attribution methods and
returns maps shaped like ``inputs``, so that it lines up with them (notebook 06). ``pointing_game``
scores maps against evidence masks. Taught in ``notebooks/05_paths.ipynb``.
"""

from __future__ import annotations

from enum import Enum
from typing import Callable

import torch
import torch.nn.functional as F

from .cae import CAE
from .classifier import predict_proba
from .data import check_images
from .paths import CounterfactualPath, Route, class_indices, counterfactual_path

Classifier = Callable[[torch.Tensor], torch.Tensor]


class Variant(Enum):
    """How a path becomes a map (see the module's docstring)."""

    DIFFERENCE = "difference"          # |x_cf - x| (Xie et al.)
    RECONSTRUCTION = "reconstruction"  # |x_cf - x_rec|, smoothed
    PATH = "path"                      # sum over the whole path of |frame change|, smoothed
    PATH_WEIGHTED = "path-weighted"    # the same, each step weighted by |change of p(target)|, smoothed
    PATH_GRADIENT = "path-gradient"    # the black box's gradient integrated along the path (positive part), smoothed


# Gaussian sigma (pixels) of each variant's smoothing: 2 px, picked among 0-3 px on lesions training images
# with the first shipped CAE (an 8x8 individual code, so 2 px is half a cell of the grid the class code acts on).
# More smoothing raises the pointing game further on blob-shaped evidence, but it is a prior about the
# evidence's size, not something the path shows: notebook 05 shows the effect.
# PATH_GRADIENT: 1 px and the positive part (rather than |.|): the choice with the best mean of the four
# localisation metrics on 150 lesions *training* images with the shipped models, among sigma 0-3 px
# (benchmarks/path_gradient_choice.py; larger sigmas trade relevance mass for top-k IoU).
DEFAULT_SMOOTH = {Variant.DIFFERENCE: 0.0, Variant.RECONSTRUCTION: 2.0, Variant.PATH: 2.0,
                  Variant.PATH_WEIGHTED: 2.0, Variant.PATH_GRADIENT: 1.0}
WHOLE_PATH = {Variant.PATH, Variant.PATH_WEIGHTED, Variant.PATH_GRADIENT}   # need the frames beyond the flip
NEEDS_CLASSIFIER = {Variant.PATH_GRADIENT}                                  # read the black box's gradients
SUBSTEPS = 4  # PATH_GRADIENT: gradient evaluations per path segment (midpoint rule)


def gaussian_blur(maps: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur each channel of maps (B, C, H, W) with a Gaussian of ``sigma`` pixels (0: unchanged);
    borders replicate."""
    if sigma <= 0:
        return maps
    r = max(1, int(3 * sigma + 0.5))
    g = torch.exp(-torch.arange(-r, r + 1, dtype=maps.dtype, device=maps.device) ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    b, c, h, w = maps.shape
    out = F.pad(maps.reshape(b * c, 1, h, w), (r, r, r, r), mode="replicate")
    out = F.conv2d(F.conv2d(out, g.view(1, 1, 1, -1)), g.view(1, 1, -1, 1))      # separable
    return out.reshape(b, c, h, w)


def _difference(path: CounterfactualPath) -> torch.Tensor:
    return (path.counterfactual - path.x).abs()                                    # (M, C, H, W)


def _reconstruction(path: CounterfactualPath) -> torch.Tensor:
    return (path.counterfactual - path.reconstruction).abs()


def _path(path: CounterfactualPath) -> torch.Tensor:
    return path.frames.diff(dim=1).abs().sum(1)                                    # (M, S-1, C, H, W) -> (M, C, H, W)


def _path_weighted(path: CounterfactualPath) -> torch.Tensor:
    change = path.frames.diff(dim=1).abs()                                         # (M, S-1, C, H, W)
    weight = (path.target_probs.diff(dim=1).abs() + 1e-3).to(change.dtype)         # (M, S-1)
    return (change * weight[:, :, None, None, None]).sum(1)                        # (M, C, H, W)


def path_gradients(path: CounterfactualPath, classifier: Classifier, substeps: int = SUBSTEPS) -> torch.Tensor:
    """Signed attributions (M, C, H, W): the gradient of the margin logit(source) - logit(target) integrated
    along the polyline x -> reconstruction -> frame 1 -> ... -> last frame (``substeps`` midpoints per
    segment), times each segment's change, signed so that positive means "this change lowered the margin".
    Their sum over pixels approaches margin(x) - margin(last frame) as ``substeps`` grows (completeness)."""
    if substeps < 1:
        raise ValueError(f"substeps must be >= 1, got {substeps}")
    points = torch.cat([path.x[:, None].to(path.frames), path.frames], 1)           # (M, S + 1, C, H, W)
    src, tgt = path.source[:, None].to(points.device), path.target[:, None].to(points.device)
    total = torch.zeros_like(path.x, dtype=torch.float32)
    with torch.enable_grad():
        for t in range(points.shape[1] - 1):
            a, b = points[:, t].float(), points[:, t + 1].float()
            if torch.equal(a, b):                                                  # frames repeated after a stop
                continue
            for s in range(substeps):
                z = (a + (b - a) * ((s + 0.5) / substeps)).requires_grad_(True)
                out = classifier(z)
                margin = (out.gather(1, src) - out.gather(1, tgt)).sum()
                grad, = torch.autograd.grad(margin, z)
                total += grad * (a - b) / substeps
    return total


def _path_gradient(path: CounterfactualPath, classifier: Classifier) -> torch.Tensor:
    return path_gradients(path, classifier).clamp_min(0)


_MAPS = {Variant.DIFFERENCE: _difference, Variant.RECONSTRUCTION: _reconstruction, Variant.PATH: _path,
         Variant.PATH_WEIGHTED: _path_weighted, Variant.PATH_GRADIENT: _path_gradient}


def scale_to_max(maps: torch.Tensor) -> torch.Tensor:
    """Each map (B, C, H, W) divided by its maximum (a map that is all zero stays zero)."""
    return maps / maps.flatten(1).amax(1).clamp_min(1e-12)[:, None, None, None]


def path_saliency(path: CounterfactualPath, variant: Variant = Variant.PATH, *, smooth: float | None = None,
                  normalise: bool = True, classifier: Classifier | None = None) -> torch.Tensor:
    """Maps (M, C, H, W) >= 0 of a batch of paths, one per path. ``smooth``: Gaussian sigma in pixels
    (None: the variant's default, ``DEFAULT_SMOOTH``); ``normalise``: divide each map by its maximum
    (to [0, 1], as in the paper). The ``WHOLE_PATH`` variants need a path computed with
    ``stop_at_flip=False``; on a stopped path they only see the way to the flip. ``classifier``: the black
    box (images -> logits), needed by the ``NEEDS_CLASSIFIER`` variants."""
    variant = Variant(variant)
    if variant in NEEDS_CLASSIFIER:
        if classifier is None:
            raise ValueError(f"the {variant.value!r} variant reads the black box's gradients: pass classifier=")
        raw = _MAPS[variant](path, classifier)
    else:
        raw = _MAPS[variant](path)
    maps = gaussian_blur(raw.float(), DEFAULT_SMOOTH[variant] if smooth is None else smooth)
    if normalise:
        maps = scale_to_max(maps)
    return maps


def _per_image(value, b: int, what: str) -> torch.Tensor:
    v = class_indices(value, what)
    if len(v) not in (1, b):
        raise ValueError(f"{what} must be one class or one class per image ({b}), got {len(v)} values")
    return v.expand(b).clone()


class CAESaliency:
    """CAE saliency with Captum's call: ``CAESaliency(cae, classifier, reference=MedoidReference(bank))
    .attribute(inputs, target=...)`` -> maps shaped like ``inputs`` (B, C, H, W), >= 0, each scaled to
    [0, 1].

    ``target`` is the class explained, as in Captum (an int or (B,) ints; None: the black box's
    decision). When it is the black box's decision, the path runs from the image to ``contrast`` (None:
    the most likely other class): the map shows what made it ``target`` rather than the contrast.
    Otherwise the path runs to ``target``: the map shows what would have to change to make it
    ``target``. With several references per image (``NearestReference(bank, n=3)``) the maps are
    averaged. ``explain`` also returns the paths. After Xie et al., ICDE 2024; notebook 05."""

    def __init__(self, cae: CAE, classifier: Classifier, *, reference, variant: Variant = Variant.PATH,
                 route: Route | None = None, steps: int = 11, smooth: float | None = None, normalise: bool = True):
        self.cae, self.classifier, self.reference, self.route = cae, classifier, reference, route
        self.variant, self.steps, self.smooth, self.normalise = Variant(variant), steps, smooth, normalise

    def explain(self, inputs: torch.Tensor, target=None, contrast=None) -> tuple[torch.Tensor, CounterfactualPath]:
        """(maps (B, C, H, W), the paths they come from)."""
        check_images(inputs, what="images to explain", nonempty=True)
        decision = predict_proba(self.classifier, inputs).argmax(1)                  # (B,)
        k = self.cae.config.num_classes if hasattr(self.cae, "config") else None
        goal = None
        if target is not None:
            t = _per_image(target, len(inputs), "target")
            if k is not None and ((t < 0) | (t >= k)).any():
                raise ValueError(f"target {int(t[(t < 0) | (t >= k)][0])} is outside the classes 0..{k - 1}")
            goal = torch.where(t == decision, torch.full_like(t, -1), t)           # -1: explain the decision
        if contrast is not None:
            c = _per_image(contrast, len(inputs), "contrast")
            goal = c if goal is None else torch.where(goal < 0, c, goal)
        if goal is not None and (goal < 0).any():  # the default contrast where none was given
            p = predict_proba(self.classifier, inputs)
            other = p.masked_fill(F.one_hot(decision, p.shape[1]).bool(), -1.0).argmax(1)
            goal = torch.where(goal < 0, other, goal)
        path = counterfactual_path(self.cae, self.classifier, inputs, goal, reference=self.reference,
                                   route=self.route, steps=self.steps,
                                   stop_at_flip=self.variant not in WHOLE_PATH)
        maps = path_saliency(path, self.variant, smooth=self.smooth, normalise=False, classifier=self.classifier)
        if len(path) != len(inputs):                                               # several references each
            maps = torch.zeros(len(inputs), *maps.shape[1:]).index_add_(0, path.image_index, maps) / (
                len(path) // len(inputs))
        if self.normalise:
            maps = scale_to_max(maps)
        return maps, path

    def attribute(self, inputs: torch.Tensor, target=None, contrast=None) -> torch.Tensor:
        """Maps (B, C, H, W) shaped like ``inputs`` (see the class docstring for ``target``/``contrast``)."""
        return self.explain(inputs, target, contrast)[0]


def pointing_game(maps: torch.Tensor, masks: torch.Tensor, tolerance: int = 0) -> torch.Tensor:
    """Pointing game (higher is better): 1 where the map's maximum (summed over channels) falls inside
    the evidence mask (B, 1, H, W), grown by ``tolerance`` pixels, else 0. -> (B,) floats; their mean is
    the hit rate. Maps (B, C, H, W)."""
    if maps.shape[0] != masks.shape[0] or maps.shape[-2:] != masks.shape[-2:]:
        raise ValueError(f"maps {tuple(maps.shape)} and masks {tuple(masks.shape)} need the same batch and size")
    m = masks.float()
    if tolerance > 0:
        m = F.max_pool2d(m, 2 * tolerance + 1, stride=1, padding=tolerance)
    flat = maps.sum(1).flatten(1)                                                  # (B, H * W)
    return m.flatten(1).gather(1, flat.argmax(1, keepdim=True))[:, 0].clamp(max=1)
