"""The black box: a small CNN trained on caelib's datasets, and a wrapper for any user classifier.

Notebook 1 (data and the black box) trains and inspects it; every later notebook explains it.
Images are float tensors in [-1, 1] of shape (B, C, H, W); a classifier returns logits (B, K).

Here: the black box in use (``predict_proba``, ``evaluate_classifier``) and its checkpoints (``save_classifier``,
``load_classifier``). Re-exported from where they are written: the network (``classifier_net``: ``SmallCNN``,
``ClassifierConfig``), its training (``classifier_training``: ``train_classifier``, ``random_shift``, ...) and the
wrapper for any classifier (``black_box``: ``BlackBox``, ``as_black_box``, ...).
"""

from __future__ import annotations

import os
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from .black_box import OUTPUTS, BlackBox, NonFiniteOutputError, as_black_box, looks_like_probabilities
from .checkpoints import config_from_dict, config_to_dict, load_checkpoint, load_state, save_checkpoint, state_of
from .classifier_net import ClassifierConfig, SmallCNN
from .classifier_training import (
    AUTO_UPDATES,
    MAX_EPOCHS,
    MIN_EPOCHS,
    _tensors,
    auto_epochs,
    random_flip,
    random_shift,
    train_classifier,
)
from .conventions import device_of as _device_of
from .conventions import evaluating

__all__ = [
    "ClassifierConfig",
    "SmallCNN",
    "train_classifier",
    "evaluate_classifier",
    "predict_proba",
    "BlackBox",
    "as_black_box",
    "NonFiniteOutputError",
    "looks_like_probabilities",
    "save_classifier",
    "load_classifier",
    # training (classifier_training) and the wrapper's outputs (black_box)
    "random_shift",
    "random_flip",
    "auto_epochs",
    "AUTO_UPDATES",
    "MIN_EPOCHS",
    "MAX_EPOCHS",
    "OUTPUTS",
]


# ------------------------------------------------------------------------------------ using the model


@torch.no_grad()
def predict_proba(
    classifier: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch_size: int = 256
) -> torch.Tensor:
    """Class probabilities (B, K) of images ``x`` (B, C, H, W) in [-1, 1]; eval mode, no gradients.

    Runs on the classifier's device and returns a CPU tensor; each module's own mode is restored.
    """
    dev = _device_of(classifier)
    with evaluating(classifier):
        out = [torch.softmax(classifier(xb.to(dev)).float(), dim=1).cpu() for xb in x.split(batch_size)]
    return torch.cat(out)  # (B, K)


def evaluate_classifier(
    classifier: Callable[[torch.Tensor], torch.Tensor], ds: Any, batch_size: int = 256
) -> dict[str, Any]:
    """Accuracy (higher is better) and confusion matrix (K, K) with rows = true class, columns = predicted."""
    images, labels = _tensors(ds)
    pred = predict_proba(classifier, images, batch_size).argmax(1)
    k = getattr(ds, "num_classes", None) or int(max(labels.max().item(), pred.max().item()) + 1)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (labels.numpy(), pred.numpy()), 1)
    return {"accuracy": float((pred == labels).double().mean().item()), "confusion": confusion}


# -------------------------------------------------------------------------------------- checkpoints


def save_classifier(path: str | os.PathLike, model: nn.Module, meta: dict[str, Any] | None = None) -> None:
    """Save a :class:`SmallCNN` (or a BlackBox around one) as a ``kind="classifier"`` checkpoint."""
    net = model.model if isinstance(model, BlackBox) else model
    if not isinstance(net, SmallCNN):
        raise TypeError(
            f"save_classifier saves a SmallCNN, got {type(net).__name__}; "
            "save your own model with torch.save(model.state_dict(), path)"
        )
    try:
        from . import __version__ as caelib_version
    except ImportError:
        caelib_version = "unknown"
    info = {"caelib_version": caelib_version, "torch_version": torch.__version__, **(meta or {})}
    save_checkpoint(
        path, kind="classifier", config=config_to_dict(net.config), state={"classifier": net.state_dict()}, meta=info
    )


def load_classifier(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> SmallCNN:
    """Load a :class:`SmallCNN` saved by :func:`save_classifier`, in eval mode (its meta in ``.meta``)."""
    ckpt = load_checkpoint(path, kind="classifier", map_location=map_location)
    model = SmallCNN(config_from_dict(ClassifierConfig, ckpt["config"]))
    load_state(model, state_of(ckpt, "classifier", path), "classifier")
    model.meta = ckpt["meta"]
    return model.eval()
