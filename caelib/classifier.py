"""The black box: a small CNN trained on caelib's datasets, and a wrapper for any user classifier.

Notebook 1 (data and the black box) trains and inspects it; every later notebook explains it.
Images are float tensors in [-1, 1] of shape (B, C, H, W); a classifier returns logits (B, K).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .checkpoints import config_from_dict, config_to_dict, load_checkpoint, load_state, save_checkpoint, state_of
from .conventions import device_of as _device_of
from .conventions import evaluating
from .data import check_images
from .device import resolve_device

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
]


@dataclass(frozen=True)
class ClassifierConfig:
    """Shape of a :class:`SmallCNN`."""

    channels: int = 1  # image channels C (1 grey, 3 colour)
    image_size: int = 32  # image side H = W it is trained for (as_black_box checks inputs against it)
    num_classes: int = 2  # K, number of logits
    width: int = 8  # channels of the first stage; stage i has width * 2**i (8 suffices for 32x32 data)
    stages: int = 3  # conv stages (two 3x3 conv [+ BN] + ReLU each), 2x2 max-pool between stages
    batchnorm: bool = True  # BatchNorm after each conv (faster training; an affine map in eval mode)


class SmallCNN(nn.Module):
    """A plain CNN: ``stages`` x (conv-BN-ReLU-conv-BN-ReLU), max-pool between stages, global average
    pool, linear.

    Every ReLU is its own ``nn.ReLU`` module and nothing is in-place, so Captum's DeepLift and
    GuidedBackprop can hook them. ``model.last_conv`` is the last convolution and
    ``model.feature_layer`` the ReLU after it, whose output (the rectified feature maps) GradCAM weighs.
    Input: (B, C, H, W) in [-1, 1]; output: logits (B, K).
    """

    def __init__(self, config: ClassifierConfig = ClassifierConfig()) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        c_in = config.channels
        for i in range(config.stages):
            c_out = config.width * 2**i
            if i > 0:
                layers.append(nn.MaxPool2d(2))
            for conv_in in (c_in, c_out):
                layers.append(nn.Conv2d(conv_in, c_out, 3, padding=1, bias=not config.batchnorm))
                self._last_conv_index = len(layers) - 1
                layers += [nn.BatchNorm2d(c_out)] if config.batchnorm else []
                layers.append(nn.ReLU())
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(c_in, config.num_classes)

    @property
    def last_conv(self) -> nn.Conv2d:
        """The last ``nn.Conv2d`` layer."""
        return self.features[self._last_conv_index]

    @property
    def feature_layer(self) -> nn.ReLU:
        """The last ReLU: its output (B, width * 2**(stages-1), h, w) is the layer GradCAM explains."""
        return self.features[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.config.channels:   # a clear message instead of conv2d's
            check_images(x, channels=self.config.channels, what="the black box's input")
        x = _as_param_dtype(self, x)
        h = self.features(x)  # (B, width * 2**(stages-1), H / 2**(stages-1), W / 2**(stages-1))
        return self.head(self.pool(h).flatten(1))  # (B, K)


# ----------------------------------------------------------------------------------------- training


def _tensors(ds: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """(images (N, C, H, W), labels (N,)) of an ImageDataset, or of any dataset of dicts / tuples."""
    if hasattr(ds, "images") and hasattr(ds, "labels"):
        return torch.as_tensor(ds.images, dtype=torch.float32), torch.as_tensor(ds.labels, dtype=torch.long)
    items = [ds[i] for i in range(len(ds))]
    pairs = [(it["image"], it["label"]) if isinstance(it, dict) else (it[0], it[1]) for it in items]
    return torch.stack([torch.as_tensor(p[0]) for p in pairs]).float(), torch.as_tensor([int(p[1]) for p in pairs])


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Shift each image by its own random (dy, dx) in [-max_shift, max_shift]; borders are replicated."""
    if max_shift <= 0:
        return x
    b, _, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4, mode="replicate")  # (B, C, H + 2s, W + 2s)
    dy = torch.randint(0, 2 * max_shift + 1, (b,), generator=generator).to(x.device)
    dx = torch.randint(0, 2 * max_shift + 1, (b,), generator=generator).to(x.device)
    iy = dy[:, None] + torch.arange(h, device=x.device)  # (B, H)
    ix = dx[:, None] + torch.arange(w, device=x.device)  # (B, W)
    out = padded[torch.arange(b, device=x.device)[:, None, None], :, iy[:, :, None], ix[:, None, :]]
    return out.permute(0, 3, 1, 2).contiguous()  # (B, H, W, C) -> (B, C, H, W)


def random_flip(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Flip each image left-right and/or up-down with probability 1/2 each (for orientation-free data)."""
    b = x.shape[0]
    lr = (torch.rand(b, generator=generator) < 0.5).to(x.device)[:, None, None, None]
    ud = (torch.rand(b, generator=generator) < 0.5).to(x.device)[:, None, None, None]
    x = torch.where(lr, x.flip(3), x)
    return torch.where(ud, x.flip(2), x)


# ``epochs=None``: as many epochs as make about this many optimiser steps, within [MIN_EPOCHS, MAX_EPOCHS]
# (a fixed epoch count gives 500 images a few dozen steps: too few to learn from; benchmarks/generalisation.md)
AUTO_UPDATES, MIN_EPOCHS, MAX_EPOCHS = 1500, 8, 40


def auto_epochs(n_images: int, batch_size: int) -> int:
    """Epochs for ``n_images`` at ``batch_size`` when none are given: about ``AUTO_UPDATES`` optimiser steps,
    at least ``MIN_EPOCHS`` (large sets) and at most ``MAX_EPOCHS`` (a few hundred images)."""
    steps_per_epoch = max(1, -(-n_images // batch_size))
    return int(min(MAX_EPOCHS, max(MIN_EPOCHS, -(-AUTO_UPDATES // steps_per_epoch))))


def train_classifier(
    model: nn.Module,
    dataset: Any,
    *,
    epochs: int | None = None,
    batch_size: int = 64,
    lr: float = 1e-2,
    weight_decay: float = 1e-4,
    seed: int = 0,
    device: str | torch.device = "auto",
    augment: int = 0,
    flips: bool = False,
    progress: bool = True,
) -> list[dict[str, float]]:
    """Train ``model`` on ``dataset`` (AdamW, one-cycle learning rate, cross-entropy); returns per-epoch history.

    The trainers' shape, shared with ``caelib.train_cae``: ``dataset`` and ``model`` (yours to build, so required
    and first here), both accepted by keyword; the model is trained in place.
    ``epochs``: None = ``auto_epochs`` (about 1,500 steps, 8 to 40 epochs: more epochs for fewer images).
    ``augment``: maximum random shift in pixels (0 = none); ``flips``: random left-right and up-down
    flips (only for data whose class does not depend on orientation). Shuffling and augmentation use a
    ``torch.Generator`` seeded with ``seed``, so on the CPU two runs from the same initial weights give
    the same weights. Each history entry: ``{"epoch", "loss", "accuracy", "lr", "seconds"}``.
    """
    given_epochs = 1 if epochs is None else epochs   # None: resolved once batch_size is known to be valid
    for name, value, low in (("batch_size", batch_size, 1), ("epochs", given_epochs, 1), ("augment", augment, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be a whole number >= {low}, got {value!r}")
    images, labels = _tensors(dataset)
    if epochs is None:
        epochs = auto_epochs(len(labels), batch_size)
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    dev = resolve_device(device)
    model.to(dev).train()
    n = len(labels)
    if n == 0:
        raise ValueError("the training set is empty")
    gen = torch.Generator().manual_seed(seed)
    steps_per_epoch = (n + batch_size - 1) // batch_size
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch, pct_start=0.2)
    history = []
    bar = tqdm(total=epochs * steps_per_epoch, disable=not progress, desc="train classifier", leave=False)
    for epoch in range(epochs):
        t0, loss_sum, correct = time.perf_counter(), 0.0, 0
        for idx in torch.randperm(n, generator=gen).split(batch_size):
            x = random_shift(images[idx], augment, gen)  # (b, C, H, W)
            x = (random_flip(x, gen) if flips else x).to(dev)
            y = labels[idx].to(dev)  # (b,)
            logits = model(x)  # (b, K)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(1) == y).sum().item()
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.3f}")
        history.append(
            {
                "epoch": epoch + 1,
                "loss": loss_sum / n,
                "accuracy": correct / n,
                "lr": opt.param_groups[0]["lr"],
                "seconds": time.perf_counter() - t0,
            }
        )
    bar.close()
    model.eval()
    return history


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


def _as_param_dtype(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``x`` in the floating dtype of ``model``'s parameters (float64 / float16 images meet float32 weights)."""
    if torch.is_tensor(x) and x.is_floating_point():
        p = next((p for p in model.parameters() if p.is_floating_point()), None)
        if p is not None and p.dtype != x.dtype:
            return x.to(p.dtype)
    return x


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
