"""Warming up the class code before a CAE trains (``TrainConfig.warmup_steps``).

Inside the CAE the class code has two masters: the code head (weight 5) asks it to read the class, the decoder's
reconstruction and cycle terms (weight 10 each) ask it to carry whatever style helps them. On small evidence
(lesions-kinds) the class code sometimes never learns the classes inside the CAE (the code head ends at chance),
although the same encoder trained alone on the labels reads them at 0.98 after 1,000 steps
(benchmarks/results/generalisation.md). A warm-up trains the class encoder and the code head alone, on the labels
(or on the black box's class probabilities: distillation, Hinton, Vinyals & Dean 2015) for a few hundred steps, so
the CAE's steps start from a class code that already reads the class.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .cae import CAE
from .losses import code_class_loss

WARMUP_BATCH = 64   # images per warm-up step


def warm_up_class_code(cae: CAE, images: torch.Tensor, labels: torch.Tensor, steps: int, *, seed: int,
                       lr: float = 1e-3, betas: tuple[float, float] = (0.5, 0.999), weight_decay: float = 1e-4,
                       teacher: Callable | None = None, progress: bool = True) -> list[float]:
    """Train ``cae.class_encoder`` and ``cae.code_head`` alone for ``steps`` steps of ``WARMUP_BATCH`` images drawn
    with seed ``seed`` (AdamW with the given settings; the rest of the CAE is untouched). The target is the label,
    or with ``teacher`` (the frozen black box: images -> logits) its class probabilities. Returns the loss of each
    step. Draws from its own generator: the global random state is left as it was."""
    if steps <= 0:
        return []
    parts = list(cae.class_encoder.parameters()) + list(cae.code_head.parameters())
    opt = torch.optim.AdamW(parts, lr=lr, betas=betas, weight_decay=weight_decay)
    g = torch.Generator().manual_seed(seed)
    losses = []
    for _ in tqdm(range(steps), desc="warming up the class code", disable=not progress, leave=False):
        i = torch.randint(0, len(labels), (min(WARMUP_BATCH, len(labels)),), generator=g).to(labels.device)
        x = images[i]
        decided = None
        if teacher is not None:
            with torch.no_grad():
                decided = F.softmax(teacher(x), 1)
        loss = code_class_loss(cae.code_head(cae.class_encoder(x)), labels[i], decided)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses
