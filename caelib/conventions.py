"""The conventions every stage of caelib shares, each written once (read this module first).

- **Images** are float tensors (B, C, H, W) in [-1, 1]; masks are (B, 1, H, W) in {0, 1} (True / 1 = evidence).
- **The black box** (``Classifier``) is any callable from images to logits (B, K), usually an ``nn.Module``.
  It runs in eval mode (``evaluating``) on its own device (``device_of``).
- **The class asked about** (``target``) follows Captum's ``attribute(inputs, target=...)``: an int or one int
  per image, checked by ``resolve_target``; None means the black box's decision. A counterfactual heads for
  another class; its default is the most likely other class (``runner_up``).
- **A removed pixel** (deletion, insertion, Integrated Gradients' and DeepLift's reference image, what
  Occlusion, LIME, KernelSHAP and the responsibility search put in place of a pixel) becomes the image blurred
  with a Gaussian of 4 pixels, ``DEFAULT_REPLACEMENT = Blurred(4.0)``: it removes shapes and keeps the local
  brightness, where a constant such as mid-grey draws a shape of its own (on the lesion images a grey disc is
  brighter than the tissue: a lesion). ``replacement`` turns a number, a tensor or a callable into the image.
- Two image operations used across the stages: ``gaussian_blur`` (maps and images) and ``dilate`` (masks).

This module imports torch only, so that any module can use it without pulling in the CAE.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Classifier", "evaluating", "device_of", "class_indices", "resolve_target", "target_classes",
           "runner_up", "gaussian_blur", "dilate", "Blurred", "DEFAULT_REPLACEMENT", "replacement"]

Classifier = Callable[[torch.Tensor], torch.Tensor]
"""The black box: images (B, C, H, W) in [-1, 1] -> logits (B, K) (a module or any callable)."""


# ---- the black box: mode and device ---------------------------------------------------------------------

@contextmanager
def evaluating(model: Any) -> Iterator[Any]:
    """Eval mode inside the ``with`` block; afterwards each submodule gets back its own training flag (not
    ``train()`` on the whole: a user's eval-mode model inside a wrapper in training mode stays in eval mode).
    Callables that are not modules pass through."""
    modes = [(m, m.training) for m in model.modules()] if isinstance(model, nn.Module) else []
    if isinstance(model, nn.Module):
        model.eval()
    try:
        yield model
    finally:
        for module, mode in modes:
            module.training = mode


def device_of(model: Any, default: torch.device | str = "cpu") -> torch.device:
    """The device of ``model``'s first parameter; ``default`` for a module without parameters or a plain
    callable (a function cannot say where it runs)."""
    if isinstance(model, nn.Module):
        for p in model.parameters():
            return p.device
    return torch.device(default)


# ---- the class asked about ------------------------------------------------------------------------------

def class_indices(value, what: str = "target") -> torch.Tensor:
    """``value`` (an int, or ints: a list, array or tensor) as a flat int64 tensor on the CPU; a ``TypeError``
    for values that are not whole numbers (1.7 would otherwise be truncated to class 1) or not numbers at all."""
    try:
        t = torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"{what} must be a class index (an int) or one per image (a list / tensor of ints), "
                        f"got {type(value).__name__}") from None
    if t.dtype == torch.bool or t.is_complex() or (t.is_floating_point() and not (t == t.round()).all()):
        shown = value if not torch.is_tensor(value) and t.numel() == 1 else f"a {t.dtype} tensor"
        raise TypeError(f"{what} must be a class index (an int) or one per image (ints), got {shown!r}; "
                        "classes are numbered 0..K-1")
    return t.long().flatten().cpu()


def resolve_target(target, n: int, num_classes: int, *, default: torch.Tensor | None = None,
                   what: str = "target") -> torch.Tensor:
    """The class asked about for each of ``n`` images, (n,) int64: ``target`` (an int, or ``n`` ints) checked,
    or ``default`` where ``target`` is None (usually the black box's decision, ``probs.argmax(1)``).

    Raises ``TypeError`` for values that are not whole numbers (``class_indices``) and ``ValueError`` for a
    count other than 1 or ``n``, for a class outside 0..num_classes-1, and for None without a ``default``.
    ``what`` names the argument in the messages (``"target"``, ``"contrast"``)."""
    if target is None:
        if default is None:
            raise ValueError(f"pass {what}= (a class index, or one per image)")
        return default
    t = class_indices(target, what)
    if len(t) == 1:
        t = t.expand(n).clone()
    if len(t) != n:
        raise ValueError(f"{what} must be one class or one class per image ({n}), got {len(t)} values")
    bad = (t < 0) | (t >= num_classes)
    if bad.any():
        raise ValueError(f"{what} {int(t[bad][0])} is outside the black box's classes 0..{num_classes - 1}")
    return t


def target_classes(classifier: Classifier, x: torch.Tensor, target=None) -> torch.Tensor:
    """The class explained for each image of ``x`` (B, C, H, W), (B,) int64 on the CPU: ``resolve_target``
    against the black box's classes, with its decision where ``target`` is None (Captum's convention)."""
    from .classifier import predict_proba  # imported here: conventions stays a leaf that classifier.py can import

    probs = predict_proba(classifier, x)                                            # (B, K)
    return resolve_target(target, *probs.shape, default=probs.argmax(1))


def runner_up(scores: torch.Tensor, decision: torch.Tensor | None = None) -> torch.Tensor:
    """(B,) the most likely class other than ``decision`` (default: the black box's decision, the argmax of
    ``scores``), from the black box's probabilities or logits ``scores`` (B, K): a counterfactual's default
    target and a one-vs-one question's default contrast."""
    if decision is None:
        decision = scores.argmax(1)
    return scores.masked_fill(F.one_hot(decision, scores.shape[1]).bool(), float("-inf")).argmax(1)


# ---- two image operations -------------------------------------------------------------------------------

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


def dilate(mask: torch.Tensor, pixels: int = 1) -> torch.Tensor:
    """Grow a binary mask (B, C, H, W) by ``pixels`` in every direction (max-pooling) -> float; 0 pixels:
    the mask as float."""
    return F.max_pool2d(mask.float(), 2 * pixels + 1, stride=1, padding=pixels) if pixels > 0 else mask.float()


# ---- what a removed pixel becomes -----------------------------------------------------------------------

@dataclass(frozen=True)
class Blurred:
    """A replacement image: ``Blurred(sigma)(x)`` is ``x`` blurred with a Gaussian of ``sigma`` pixels. It
    removes shapes (a lesion, a stroke) and keeps the local brightness, where a constant such as mid-grey can
    draw a shape of its own (on the lesion images a grey disc is brighter than the tissue: a lesion)."""

    sigma: float = 4.0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return gaussian_blur(x.detach().float(), self.sigma)


DEFAULT_REPLACEMENT = Blurred(4.0)
"""What a removed or hidden pixel becomes unless ``baseline=`` / ``replacement=`` says otherwise (frozen, so
safe as a default argument). On mnist the black background (-1) is the natural choice."""


def replacement(value, x: torch.Tensor) -> torch.Tensor:
    """The replacement image (B, C, H, W) for ``x``: ``value`` a number, a tensor broadcastable to ``x``, or a
    callable such as ``DEFAULT_REPLACEMENT`` applied to ``x``."""
    if callable(value):
        value = value(x)
    if torch.is_tensor(value):
        return value.to(x.device, x.dtype).expand_as(x)
    return torch.full_like(x, float(value))
