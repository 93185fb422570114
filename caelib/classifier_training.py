"""Training the black box: ``train_classifier``, its augmentations (``random_shift``, ``random_flip``), ``auto_epochs``.

Taught in notebook 1 (data and the black box); importable from ``caelib.classifier`` too.
"""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .device import resolve_device

__all__ = ["random_shift", "random_flip", "AUTO_UPDATES", "MIN_EPOCHS", "MAX_EPOCHS", "auto_epochs",
           "train_classifier"]


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
    augment: int = 2,
    flips: bool = False,
    progress: bool = True,
) -> list[dict[str, float]]:
    """Train ``model`` on ``dataset`` (AdamW, one-cycle learning rate, cross-entropy); returns per-epoch history.

    The trainers' shape, shared with ``caelib.train_cae``: ``dataset`` and ``model`` (yours to build, so required
    and first here), both accepted by keyword; the model is trained in place.
    ``epochs``: None = ``auto_epochs`` (about 1,500 steps, 8 to 40 epochs: more epochs for fewer images).
    ``augment``: maximum random shift in pixels (0 = none; 2, the default, is what every shipped black box and
    ``train-classifier`` use); ``flips``: random left-right and up-down
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
