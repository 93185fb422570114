"""Every saliency method with one call: ``explain(method, classifier, x, target)`` -> maps (B, 1, H, W).

The methods (``METHODS``, by name; notebook 06 compares them, ``benchmarks/saliency.py`` measures them):

- CAE, from a counterfactual path (``caelib.saliency_path.CAESaliency``; Xie et al., ICDE 2024):
  ``cae`` (|x_cf - x|, the paper's map), ``cae-reconstruction``, ``cae-path``, ``cae-path-weighted`` and
  ``cae-path-gradient`` (caelib's variants, see ``saliency_path.Variant``; the last one integrates the
  black box's gradient along the path). They need the CAE (``cae=``) and a reference rule
  (``reference=``, or ``bank=`` for ``MedoidReference(bank)``).
- Captum's attribution methods, run as they are (Kokhlikyan et al., 2020): ``saliency`` (Simonyan et al.,
  2014), ``input-x-gradient`` (Shrikumar et al., 2016), ``integrated-gradients`` (Sundararajan et al.,
  2017), ``deeplift`` (Shrikumar et al., 2017), ``guided-backprop`` (Springenberg et al., 2015),
  ``gradcam`` (Selvaraju et al., 2017; upsampled bilinearly to the image), ``occlusion`` (Zeiler and
  Fergus, 2014), ``lime`` (Ribeiro et al., 2016) and ``kernel-shap`` (Lundberg and Lee, 2017).
- Sanity baselines that look at no model (pytorch-grad-cam and Adebayo et al. 2018 show such maps next to
  the real ones): ``random`` (uniform noise), ``sobel`` (the image's edge strength) and ``centre`` (a
  Gaussian centre prior). A method that does not beat them explains nothing.

Conventions. Images are (B, C, H, W) in [-1, 1]; a map is (B, 1, H, W), float32, higher = more
important. Attributions with C channels become one channel by ``Reduce``: the gradient methods take
|attribution| summed over channels (``ABS``: evidence for or against counts); the methods whose sign
says "for the target" (GradCAM, Occlusion, LIME, KernelSHAP) keep the positive part of the channel sum
(``POSITIVE``; they perturb whole pixels, so their map is the pixel's value, not a sum over channels);
CAE maps are >= 0 already. ``reduce=`` overrides it.

The reference image of Integrated Gradients and DeepLift, and what Occlusion, LIME and KernelSHAP put in
place of a removed pixel, is ``DEFAULT_REPLACEMENT`` (``caelib.conventions``): the image blurred with a
Gaussian of 4 pixels (option ``baseline=``: a number, a tensor or a callable of the images). Mid-grey (0), the
usual choice, draws a disc brighter than the tissue where a lesion is removed, which the lesion classifier
reads as a lesion (the measurements: ``benchmarks/results/measured_choices.md``, and the zero and blurred
rows of ``benchmarks/results/baselines_quality.md``). ``caelib.evaluate``'s deletion and insertion use the
same replacement.

``target``: the class explained, as in Captum's ``attribute(inputs, target=...)``: an int or (B,) ints;
None = the black box's decision. For the CAE methods a target other than the decision makes the path head
for it ("what would have to change to make it the target"); see ``CAESaliency``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from .conventions import DEFAULT_REPLACEMENT, Blurred, Classifier, device_of, evaluating, replacement, target_classes
from .data import check_images
from .saliency_path import CAESaliency, Variant

Attribute = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]   # (inputs (B, C, H, W), target (B,)) -> attributions

__all__ = ["Reduce", "Blurred", "DEFAULT_REPLACEMENT", "replacement", "Method", "METHODS", "CAE_METHODS",
           "CAPTUM_METHODS", "BASELINES", "Explainer", "explain", "to_map"]


class Reduce(Enum):
    """How attributions (B, C, H, W) become one map (B, 1, H, W)."""

    ABS = "abs"            # sum over channels of |attribution|: evidence for or against the target
    POSITIVE = "positive"  # sum over channels, negative part set to 0: evidence for the target only
    SIGNED = "signed"      # sum over channels, sign kept (the metrics of caelib.evaluate expect >= 0 maps)


def to_map(attributions: torch.Tensor, reduce: Reduce = Reduce.ABS) -> torch.Tensor:
    """Attributions (B, C, H, W) -> a map (B, 1, H, W), float32, by ``reduce`` (see ``Reduce``)."""
    if not torch.is_tensor(attributions) or attributions.ndim != 4:
        got = tuple(attributions.shape) if torch.is_tensor(attributions) else type(attributions).__name__
        raise ValueError(f"expected attributions (B, C, H, W), got {got}")
    a = attributions.detach().float()
    reduce = Reduce(reduce)
    if reduce is Reduce.ABS:
        return a.abs().sum(1, keepdim=True)
    s = a.sum(1, keepdim=True)                                                      # (B, 1, H, W)
    return s.clamp_min(0) if reduce is Reduce.POSITIVE else s


# ---- the methods -----------------------------------------------------------------------------------------

def _module(classifier, name: str) -> nn.Module:
    if not isinstance(classifier, nn.Module):
        raise ValueError(f"{name} hooks the network's layers: it needs an nn.Module (with each ReLU its own "
                         f"nn.ReLU), got {type(classifier).__name__}; wrap your model with caelib.as_black_box")
    return classifier


def _layer(classifier, layer) -> nn.Module:
    if isinstance(layer, str):
        return classifier.get_submodule(layer)
    if layer is not None:
        return layer
    if hasattr(classifier, "feature_layer"):
        return classifier.feature_layer
    raise ValueError("gradcam needs the layer to explain: pass layer= (the last convolutional block, a module or "
                     "its name in classifier.named_modules()); SmallCNN and BlackBox provide .feature_layer")


def _patches(x: torch.Tensor, patch: int) -> torch.Tensor:
    """Feature mask (1, 1, H, W) of square ``patch`` x ``patch`` superpixels, numbered row by row."""
    h, w = x.shape[-2:]
    rows = torch.arange(h, device=x.device) // patch
    cols = torch.arange(w, device=x.device) // patch
    return (rows[:, None] * ((w + patch - 1) // patch) + cols[None, :])[None, None]


def _captum(name: str) -> type:
    import captum.attr

    return getattr(captum.attr, name)


def _build_saliency(classifier, **_) -> Attribute:
    algo = _captum("Saliency")(classifier)
    return lambda x, t: algo.attribute(x, target=t, abs=True)


def _build_input_x_gradient(classifier, **_) -> Attribute:
    algo = _captum("InputXGradient")(classifier)
    return lambda x, t: algo.attribute(x, target=t)


def _build_integrated_gradients(classifier, *, n_steps: int, baseline, **_) -> Attribute:
    algo = _captum("IntegratedGradients")(classifier)
    return lambda x, t: algo.attribute(x, baselines=replacement(baseline, x), target=t, n_steps=n_steps,
                                       internal_batch_size=max(1, 4096 // n_steps))


def _build_deeplift(classifier, *, baseline, **_) -> Attribute:
    algo = _captum("DeepLift")(_module(classifier, "deeplift"))
    return lambda x, t: algo.attribute(x, baselines=replacement(baseline, x), target=t)


def _build_guided_backprop(classifier, **_) -> Attribute:
    algo = _captum("GuidedBackprop")(_module(classifier, "guided-backprop"))
    return lambda x, t: algo.attribute(x, target=t)


def _build_gradcam(classifier, *, layer=None, **_) -> Attribute:
    algo = _captum("LayerGradCam")(classifier, _layer(classifier, layer))
    interpolate = _captum("LayerAttribution").interpolate

    def attribute(x, t):
        a = algo.attribute(x, target=t, relu_attributions=True)                    # (B, 1, h, w)
        return interpolate(a, tuple(x.shape[-2:]), "bilinear")                      # (B, 1, H, W)
    return attribute


def _build_occlusion(classifier, *, window: int, stride: int, baseline, **_) -> Attribute:
    algo = _captum("Occlusion")(classifier)
    # the window spans all channels, so every channel of a pixel gets the same value: keep one (B, 1, H, W)
    return lambda x, t: algo.attribute(x, sliding_window_shapes=(x.shape[1], window, window),
                                       strides=(x.shape[1], stride, stride), baselines=replacement(baseline, x),
                                       target=t, perturbations_per_eval=max(1, 1024 // len(x)))[:, :1]


def _build_surrogate(cls_name: str):
    def build(classifier, *, patch: int, n_samples: int, baseline, **_) -> Attribute:
        algo = _captum(cls_name)(classifier)

        def attribute(x, t):  # one image at a time: a surrogate model per image (Captum's batch path warns)
            mask, base = _patches(x, patch), replacement(baseline, x)
            return torch.cat([algo.attribute(x[i:i + 1], baselines=base[i:i + 1], target=t[i:i + 1], feature_mask=mask,
                                             n_samples=n_samples, perturbations_per_eval=n_samples)[:, :1]
                              for i in range(len(x))])                      # a superpixel spans all channels
        return attribute
    return build


def _build_cae(variant: Variant):
    def build(classifier, *, cae, reference, steps: int, smooth: float | None, route=None, **_) -> Attribute:
        sal = CAESaliency(cae, classifier, reference=reference, variant=variant, route=route, steps=steps,
                          smooth=smooth)
        return lambda x, t: sal.attribute(x, t)
    return build


def _build_random(classifier, *, seed: int, **_) -> Attribute:
    def attribute(x, t):
        g = torch.Generator().manual_seed(seed)
        return torch.rand(len(x), 1, *x.shape[-2:], generator=g).to(x.device)
    return attribute


def _build_sobel(classifier, **_) -> Attribute:
    def attribute(x, t):
        k = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], device=x.device)
        c = x.shape[1]
        xp = F.pad(x.detach().float(), (1, 1, 1, 1), mode="replicate")
        gx = F.conv2d(xp, k.expand(c, 1, 3, 3), groups=c)                           # (B, C, H, W)
        gy = F.conv2d(xp, k.t().expand(c, 1, 3, 3), groups=c)
        return (gx ** 2 + gy ** 2).sqrt()
    return attribute


def _build_centre(classifier, *, sigma: float, **_) -> Attribute:
    def attribute(x, t):
        h, w = x.shape[-2:]
        s = sigma * min(h, w)
        yy = (torch.arange(h, device=x.device) - (h - 1) / 2) ** 2
        xx = (torch.arange(w, device=x.device) - (w - 1) / 2) ** 2
        prior = torch.exp(-(yy[:, None] + xx[None, :]) / (2 * s * s))              # (H, W)
        return prior.expand(len(x), 1, h, w).clone()
    return attribute


@dataclass(frozen=True)
class Method:
    """A saliency method of the registry: ``build(classifier, **options) -> attribute(inputs, target)``."""

    name: str
    family: str                          # "CAE", "gradient", "perturbation" or "sanity baseline" (for tables)
    reduce: Reduce                       # how its attributions become one channel
    build: Callable[..., Attribute]
    options: dict[str, Any] = field(default_factory=dict)   # the keyword options it takes, with defaults
    uses_model: bool = True              # False: the map ignores the black box (the sanity baselines)
    needs_cae: bool = False              # True: needs cae= and reference= or bank=
    summary: str = ""


_CAE_OPTIONS = {"reference": None, "steps": 11, "smooth": None, "route": None}
METHODS: dict[str, Method] = {m.name: m for m in [
    Method("cae", "CAE", Reduce.ABS, _build_cae(Variant.DIFFERENCE), _CAE_OPTIONS, needs_cae=True,
           summary="|x_cf - x| at the path's flip (Xie et al. 2024)"),
    Method("cae-reconstruction", "CAE", Reduce.ABS, _build_cae(Variant.RECONSTRUCTION), _CAE_OPTIONS, needs_cae=True,
           summary="|x_cf - x_rec|, smoothed (caelib)"),
    Method("cae-path", "CAE", Reduce.ABS, _build_cae(Variant.PATH), _CAE_OPTIONS, needs_cae=True,
           summary="change summed along the whole path, smoothed (caelib)"),
    Method("cae-path-weighted", "CAE", Reduce.ABS, _build_cae(Variant.PATH_WEIGHTED), _CAE_OPTIONS, needs_cae=True,
           summary="path change weighted by the change of p(target), smoothed (caelib)"),
    Method("cae-path-gradient", "CAE", Reduce.ABS, _build_cae(Variant.PATH_GRADIENT), _CAE_OPTIONS, needs_cae=True,
           summary="black box's gradient integrated along the path, positive part, smoothed (caelib)"),
    Method("saliency", "gradient", Reduce.ABS, _build_saliency, summary="|d logit / d x| (Simonyan et al. 2014)"),
    Method("input-x-gradient", "gradient", Reduce.ABS, _build_input_x_gradient,
           summary="x * gradient (Shrikumar et al. 2016)"),
    Method("integrated-gradients", "gradient", Reduce.ABS, _build_integrated_gradients,
           {"n_steps": 32, "baseline": DEFAULT_REPLACEMENT},
           summary="from the blurred image (Sundararajan et al. 2017)"),
    Method("deeplift", "gradient", Reduce.ABS, _build_deeplift, {"baseline": DEFAULT_REPLACEMENT},
           summary="rescale rule, blurred-image baseline (Shrikumar et al. 2017)"),
    Method("guided-backprop", "gradient", Reduce.ABS, _build_guided_backprop,
           summary="guided backpropagation (Springenberg et al. 2015)"),
    Method("gradcam", "gradient", Reduce.POSITIVE, _build_gradcam, {"layer": None},
           summary="GradCAM on the last conv block, upsampled (Selvaraju et al. 2017)"),
    Method("occlusion", "perturbation", Reduce.POSITIVE, _build_occlusion,
           {"window": 4, "stride": 2, "baseline": DEFAULT_REPLACEMENT},
           summary="4x4 patches of the blurred image, stride 2 (Zeiler and Fergus 2014)"),
    Method("lime", "perturbation", Reduce.POSITIVE, _build_surrogate("Lime"),
           {"patch": 4, "n_samples": 200, "baseline": DEFAULT_REPLACEMENT},
           summary="4x4 superpixels, 200 samples (Ribeiro et al. 2016)"),
    Method("kernel-shap", "perturbation", Reduce.POSITIVE, _build_surrogate("KernelShap"),
           {"patch": 4, "n_samples": 200, "baseline": DEFAULT_REPLACEMENT},
           summary="4x4 superpixels, 200 samples (Lundberg and Lee 2017)"),
    Method("random", "sanity baseline", Reduce.ABS, _build_random, {"seed": 0}, uses_model=False,
           summary="uniform noise, ignores image and model"),
    Method("sobel", "sanity baseline", Reduce.ABS, _build_sobel, uses_model=False,
           summary="edge strength of the image, ignores the model"),
    Method("centre", "sanity baseline", Reduce.ABS, _build_centre, {"sigma": 0.25}, uses_model=False,
           summary="Gaussian centre prior (sigma = a quarter of the side)"),
]}
CAE_METHODS = tuple(n for n, m in METHODS.items() if m.family == "CAE")
CAPTUM_METHODS = tuple(n for n, m in METHODS.items() if m.family in ("gradient", "perturbation"))
BASELINES = tuple(n for n, m in METHODS.items() if m.family == "sanity baseline")


def _method(method: str | Method) -> Method:
    if isinstance(method, Method):
        return method
    if method not in METHODS:
        raise ValueError(f"unknown saliency method {method!r}; choose one of {', '.join(METHODS)}")
    return METHODS[method]


class Explainer:
    """One saliency method bound to a black box (and a CAE), with Captum's call:
    ``Explainer("integrated-gradients", classifier).attribute(x, target=None)`` -> maps (B, 1, H, W).

    ``cae`` and ``bank`` are used by the CAE methods and ignored by the others (so a loop over ``METHODS``
    can pass them to all); a CAE method takes ``reference=`` or, without it, ``MedoidReference(bank)``.
    ``reduce`` overrides the method's ``Reduce``; ``options`` are the method's own (``METHODS[name].options``:
    e.g. ``n_steps`` for Integrated Gradients, ``n_samples`` for LIME, ``smooth`` for CAE). Build it once
    and call ``attribute`` on many batches: the CAE's reference rule is made only once."""

    def __init__(self, method: str | Method, classifier: Classifier, *, cae=None, bank=None,
                 reduce: Reduce | None = None, **options):
        self.method = _method(method)
        unknown = sorted(set(options) - set(self.method.options))
        if unknown:
            known = ", ".join(self.method.options) or "none"
            raise ValueError(f"{self.method.name} takes no option(s) {', '.join(unknown)}; its options: {known}")
        opts = {**self.method.options, **options}
        if self.method.needs_cae:
            if cae is None:
                raise ValueError(f"{self.method.name} needs the CAE: pass cae= (e.g. caelib.pretrained(name).cae)")
            if opts["reference"] is None:
                if bank is None:
                    raise ValueError(f"{self.method.name} needs a reference rule: pass bank=CodeBank.from_images(cae, "
                                     "train_images, train_labels, classifier=classifier) or reference=")
                from .paths import MedoidReference

                opts["reference"] = MedoidReference(bank)
            opts["cae"] = cae
        self.classifier = classifier
        self.reduce = self.method.reduce if reduce is None else Reduce(reduce)
        self._attribute = self.method.build(classifier, **opts)

    def attribute(self, inputs: torch.Tensor, target=None) -> torch.Tensor:
        """Maps (B, 1, H, W) >= 0 (unless ``reduce=SIGNED``) of images ``inputs`` (B, C, H, W) in [-1, 1]; an empty
        batch raises ``ValueError``."""
        check_images(inputs, what="images to explain", nonempty=True)
        with evaluating(self.classifier):
            dev = device_of(self.classifier, default=inputs.device)
            x = inputs.to(dev)
            if self.method.needs_cae:
                t = target     # CAESaliency resolves None itself (the decision against the runner-up)
                if t is not None:
                    target_classes(self.classifier, x, t)           # the same checks as for the other methods
            else:
                t = target_classes(self.classifier, x, target).to(dev) if self.method.uses_model else None
            with torch.enable_grad():
                maps = to_map(self._attribute(x, t), self.reduce)                  # (B, 1, H, W)
        if maps.shape != (len(inputs), 1, *inputs.shape[-2:]):
            raise RuntimeError(f"{self.method.name} returned maps {tuple(maps.shape)} for images "
                               f"{tuple(inputs.shape)}")
        if not torch.isfinite(maps).all():
            raise ValueError(f"{self.method.name} gave NaN or inf values; check the black box's outputs on these "
                             "images (and, for DeepLift, that no ReLU module is used twice)")
        return maps.to(inputs.device)


def explain(method: str | Method, classifier: Classifier, x: torch.Tensor, target=None, *, cae=None, bank=None,
            reduce: Reduce | None = None, **options) -> torch.Tensor:
    """Saliency maps (B, 1, H, W) of images ``x`` (B, C, H, W) in [-1, 1] by ``method`` (a name of
    ``METHODS`` or a ``Method``) for the black box ``classifier``: ``Explainer(method, classifier, ...)
    .attribute(x, target)``. See the module docstring for ``target``, the channel reduction and the
    methods' options. Taught in notebook 06."""
    return Explainer(method, classifier, cae=cae, bank=bank, reduce=reduce, **options).attribute(x, target)
