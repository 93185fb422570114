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
  probability of the target class (caelib's variant): the steps around the flip count most;
- ``PATH_GRADIENT``: the black box's own gradient integrated along the path (``path_gradients``), its
  positive part, lightly smoothed (caelib's variant): what moved the black box, not only what the CAE changed.

``CAESaliency(...).attribute(inputs, target=...)`` has the call of Captum's attribution methods and
returns maps shaped like ``inputs``, so that it lines up with them (notebook 06). The metrics that score
maps (the pointing game among them) are in ``caelib.evaluate``. Taught in ``notebooks/05_paths.ipynb``.
"""

from __future__ import annotations

from enum import Enum

import torch

from .cae import CAE
from .classifier import predict_proba
from .conventions import Classifier, gaussian_blur, resolve_target, runner_up
from .data import check_images
from .evaluate import pointing_game  # noqa: F401  (its old home: notebooks 05 and 10 import it from here)
from .paths import CounterfactualPath, Route, counterfactual_path


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
# (benchmarks/path_gradient_choice.py; larger sigmas trade relevance mass for top-k IoU). Faithfulness pulls the
# other way on photographs: on the Fashion-MNIST panel runs the unsmoothed map (``smooth=0``) removes the evidence
# faster under deletion than the 1-px one, and than Integrated Gradients; on digits, mnist and lesions-kinds it does
# not (its positive part leaves most pixels at 0, deleted in random order). benchmarks/results/generalisation.md,
# "Deletion AUC of the CAE maps".
DEFAULT_SMOOTH = {Variant.DIFFERENCE: 0.0, Variant.RECONSTRUCTION: 2.0, Variant.PATH: 2.0,
                  Variant.PATH_WEIGHTED: 2.0, Variant.PATH_GRADIENT: 1.0}
WHOLE_PATH = {Variant.PATH, Variant.PATH_WEIGHTED, Variant.PATH_GRADIENT}   # need the frames beyond the flip
NEEDS_CLASSIFIER = {Variant.PATH_GRADIENT}                                  # read the black box's gradients
SUBSTEPS = 4  # PATH_GRADIENT: gradient evaluations per path segment (midpoint rule)


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
        probs = predict_proba(self.classifier, inputs)                               # (B, K)
        decision = probs.argmax(1)                                                   # (B,)
        goal = None
        if target is not None:
            t = resolve_target(target, *probs.shape)
            goal = torch.where(t == decision, torch.full_like(t, -1), t)           # -1: explain the decision
        if contrast is not None:
            c = resolve_target(contrast, *probs.shape, what="contrast")
            goal = c if goal is None else torch.where(goal < 0, c, goal)
        if goal is not None and (goal < 0).any():  # the default contrast where none was given
            goal = torch.where(goal < 0, runner_up(probs, decision), goal)
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
