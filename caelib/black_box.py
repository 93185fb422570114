"""Any classifier seen the caelib way: ``BlackBox`` and ``as_black_box``, which check its inputs and outputs.

A black box takes images (B, C, H, W) in [-1, 1] and returns logits (B, K); the wrapper refuses NaN or inf scores
(``NonFiniteOutputError``) and probabilities passed off as logits (``looks_like_probabilities``). Importable from
``caelib.classifier`` too.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from .classifier_net import ClassifierConfig, _as_param_dtype
from .data import check_images

__all__ = ["BlackBox", "OUTPUTS", "NonFiniteOutputError", "looks_like_probabilities", "as_black_box"]


class BlackBox(nn.Module):
    """Any classifier seen the caelib way: images (B, C, H, W) in [-1, 1] in, logits (B, K) out.

    ``model``: an ``nn.Module`` or any callable returning logits. ``preprocess``: maps caelib images to
    the model's own input (resize, normalise, repeat grey to RGB, ...). ``channels`` / ``image_size``:
    the caelib images it accepts (None: not checked). ``check_inputs=False`` skips the input check
    (e.g. for noise-adding saliency methods that leave [-1, 1]).

    ``outputs``: what the model returns. ``"logits"`` (default): unnormalised scores; a model whose every row
    is non-negative and sums to 1 (it ends with a softmax) is refused with a ``ValueError``, since caelib
    would softmax its probabilities again (flattened decisions, other gradients). ``"probabilities"``: the
    model returns class probabilities and the black box returns their centred logarithm, ``log p - mean_k
    log p``: logits that give back exactly the model's probabilities under softmax (they equal the model's
    own pre-softmax logits up to a constant per row, which no softmax sees). Rows with NaN or inf scores
    raise :class:`NonFiniteOutputError` naming the images. Float images of another dtype (float64,
    float16) are converted to the model's parameter dtype.
    """

    def __init__(
        self,
        model: Callable[[torch.Tensor], torch.Tensor],
        num_classes: int,
        *,
        preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
        channels: int | None = None,
        image_size: int | None = None,
        check_inputs: bool = True,
        outputs: str = "logits",
    ) -> None:
        super().__init__()
        if not callable(model):
            raise TypeError(f"the black box must be an nn.Module or a callable, got {type(model).__name__}")
        if outputs not in OUTPUTS:
            raise ValueError(f"outputs must be one of {', '.join(map(repr, OUTPUTS))}, got {outputs!r}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
            raise ValueError(f"num_classes must be a whole number >= 1 (the number of logits), got {num_classes!r}")
        self.outputs = outputs
        self.model = model  # registered as a submodule when it is an nn.Module
        self.preprocess = preprocess
        self.num_classes = int(num_classes)
        self.channels, self.image_size, self.check_inputs = channels, image_size, check_inputs
        self.training = bool(getattr(model, "training", False))   # the wrapper reports the model's own mode

    @property
    def last_conv(self) -> nn.Module:
        """The wrapped model's ``last_conv``, when it has one."""
        return self.model.last_conv

    @property
    def feature_layer(self) -> nn.Module:
        """The wrapped model's ``feature_layer`` (for GradCAM), when it has one."""
        return self.model.feature_layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.check_inputs:
            check_images(x, channels=self.channels, image_size=self.image_size, what="black-box input")
        if isinstance(self.model, nn.Module) and self.preprocess is None:
            x = _as_param_dtype(self.model, x)
        logits = self.model(self.preprocess(x) if self.preprocess is not None else x)
        if not isinstance(logits, torch.Tensor) or logits.shape != (x.shape[0], self.num_classes):
            got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
            raise ValueError(
                f"the classifier returned shape {got} for {x.shape[0]} images; expected (B, K) logits "
                f"with B={x.shape[0]}, K={self.num_classes}; wrap it with as_black_box(model, "
                f"num_classes=K, preprocess=...) so that it takes (B, C, H, W) images in [-1, 1] and "
                "returns one row of logits per image"
            )
        return self._checked(logits)

    def _checked(self, out: torch.Tensor) -> torch.Tensor:
        """The model's outputs as logits: non-finite rows refused, probabilities refused or turned into logits."""
        finite = torch.isfinite(out.detach()).all(1)
        if not finite.all():
            raise NonFiniteOutputError((~finite).nonzero().flatten().tolist(), len(out))
        probabilities = looks_like_probabilities(out)
        if self.outputs == "probabilities":
            if not probabilities and len(out):
                raise ValueError("as_black_box(..., outputs='probabilities'), but the model's rows are not "
                                 "probabilities (non-negative, summing to 1); for logits leave outputs='logits'")
            log = torch.log(out.clamp_min(torch.finfo(out.dtype).tiny))
            return log - log.mean(1, keepdim=True)
        if probabilities:
            raise ValueError("the classifier returns probabilities (every row is non-negative and sums to 1), not "
                             "logits: caelib would softmax them again. Wrap it with as_black_box(model, "
                             "num_classes=K, outputs='probabilities'), or drop the model's final softmax")
        return out


OUTPUTS = ("logits", "probabilities")


class NonFiniteOutputError(ValueError):
    """The black box returned NaN or inf scores; ``rows`` are the images (indices in the batch) concerned."""

    def __init__(self, rows: list[int], batch: int):
        self.rows = rows
        shown = ", ".join(map(str, rows[:10])) + (f" and {len(rows) - 10} more" if len(rows) > 10 else "")
        super().__init__(f"the classifier returned NaN or inf scores for image(s) {shown} of a batch of {batch}; "
                         "a decision needs finite logits: check the model and its preprocessing on these images")


def looks_like_probabilities(out: torch.Tensor, atol: float = 2e-3) -> bool:
    """Is every row of ``out`` (B, K) non-negative and summing to 1 (the output of a softmax)? False for K < 2 and
    for an empty batch."""
    if out.ndim != 2 or out.shape[1] < 2 or out.shape[0] == 0:
        return False
    o = out.detach().float()
    return bool((o >= 0).all() and ((o.sum(1) - 1).abs() <= atol).all())


def as_black_box(
    model: Callable[[torch.Tensor], torch.Tensor],
    num_classes: int | None = None,
    preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
    **kw: Any,
) -> BlackBox:
    """Wrap ``model`` as a :class:`BlackBox` (returned unchanged if it already is one).

    ``num_classes`` may be left out for a :class:`SmallCNN` (read from its config) or a model with a
    ``num_classes`` attribute. A model that returns probabilities (it ends with a softmax) needs
    ``outputs="probabilities"`` (see :class:`BlackBox`); without it the first call raises ``ValueError``.
    """
    if isinstance(model, BlackBox):
        return model
    config = getattr(model, "config", None)
    if isinstance(config, ClassifierConfig):
        num_classes = num_classes or config.num_classes
        if preprocess is None:
            kw.setdefault("channels", config.channels)
            kw.setdefault("image_size", config.image_size)
    num_classes = num_classes or getattr(model, "num_classes", None)
    if num_classes is None:
        raise ValueError("cannot tell how many classes the classifier has; pass num_classes=K")
    return BlackBox(model, int(num_classes), preprocess=preprocess, **kw)
