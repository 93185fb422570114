"""The CAE's loss terms: each named term of one training step, its weight, and what the discriminator sees.

One step takes a batch of image pairs (x_a, x_b). Cross-class pairs teach the swap: ``decode(c_a, s_b)``
must look real and belong to b's class (the discriminator's class head says so), and re-encoding it
must give back both codes. The loss terms and their default weights follow Xie et al. (ICDE 2024,
arXiv 2406.07961) and MUNIT; see ``LossWeights``.

caelib's choices (measured; see ``data/README.md``), which stand for the paper's "building-block
coherency" scheme whose exact form is not public:

* A share of the pairs are same-class pairs, and a same-class swap must reconstruct the image
  (``same_swap``): all class codes of one class become interchangeable building blocks.
* A linear classifier reads the class from the class code (``code_class``). Without it the model can
  "solve" the swap objective by ignoring the class code and flipping every image, so that even plain
  reconstructions land in the wrong class.
* Optionally the frozen black box itself judges the swaps (``critic``; GANMEX's idea, Shih et al. 2020).

The loop that weights and optimises these terms is ``caelib.train``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from .cae import CAE, Discriminator
from .classifier import random_shift
from .pair_balance import PairBalance


@dataclass(frozen=True)
class LossWeights:
    """Weight of each named loss term of the generator (and of the discriminator's class term)."""

    recon: float = 10.0        # L1: decode(encode(x)) = x, both images of the pair
    class_code: float = 1.0    # L1: the swap, re-encoded, gives back the donor's class code
    indiv_code: float = 1.0    # L1: the swap, re-encoded, gives back its own individual code
    cycle: float = 10.0        # L1: re-encoded individual code + original class code = original image
    adversarial: float = 1.0   # the discriminator takes the swaps for real images
    swap_class: float = 1.0    # the discriminator's class head gives a swap its class-code donor's class
    code_class: float = 5.0    # caelib: a linear head reads the label from the class code (1 learnt
                               # the class code too slowly on a CPU budget: measured)
    same_swap: float = 1.0     # caelib: a swap between two images of one class reconstructs the image
                               # (10 held the flip rate back: measured)
    minimal_change: float = 0.0  # caelib option: a cross-class swap changes its image's reconstruction
                               # as little as it must (L1, a counterfactual's sparsity prior)
    critic: float = 0.0        # optional: the black box gives a swap its class-code donor's class
    critic_recon: float = 0.0  # optional: the black box decides a reconstruction as it decides the image
                               # (KL divergence of its class probabilities)
    disc_class: float = 2.0    # discriminator: class cross-entropy on real images


def diff_augment(x: torch.Tensor, generator: torch.Generator, shift: float = 0.125,
                 cutout: float = 0.5) -> torch.Tensor:
    """Differentiable augmentation of what the discriminator sees (Zhao et al., NeurIPS 2020, "DiffAugment"):
    each image is shifted by up to ``shift`` of its size (edges repeated) and a square of ``cutout`` of its
    side is set to 0, both at random. Real images and swaps get the same kind of change, and the gradient
    flows through it to the generator, so on a few hundred images the discriminator cannot memorise them
    (its class head otherwise learns 500 images by heart and stops teaching the swaps anything)."""
    b, _, h, w = x.shape
    x = random_shift(x, max(1, round(shift * min(h, w))), generator)
    ch, cw = max(1, round(h * cutout)), max(1, round(w * cutout))
    corner = torch.rand(b, 2, generator=generator).to(x.device)
    cy = (corner[:, 0] * (h - ch + 1)).long().view(b, 1, 1)
    cx = (corner[:, 1] * (w - cw + 1)).long().view(b, 1, 1)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    hole = (rows >= cy) & (rows < cy + ch) & (cols >= cx) & (cols < cx + cw)
    return x * (~hole).unsqueeze(1).to(x.dtype)


def _l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).abs().mean()


def code_class_loss(logits: torch.Tensor, labels: torch.Tensor, decided: torch.Tensor | None = None) -> torch.Tensor:
    """The code head's term: cross-entropy with ``labels``, or, given ``decided`` (the black box's class
    probabilities of the same images), the KL divergence from them (distillation, Hinton, Vinyals, Dean 2015).
    ``generator_losses``' ``code_class`` and the class code's warm-up (``caelib.warmup``) both use it."""
    if decided is None:
        return F.cross_entropy(logits, labels)
    return F.kl_div(F.log_softmax(logits, 1), decided, reduction="batchmean")


def generator_losses(cae: CAE, disc: Discriminator, xa, xb, ya, yb, critic: Callable | None = None,
                     augment: Callable | None = None, critic_recon: bool = True,
                     pair_balance: PairBalance | None = None,
                     code_from_critic: bool = False) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """All generator loss terms for one batch of pairs; returns (named losses, the swaps). ``augment``: applied
    to what the discriminator sees (``diff_augment``). ``critic_recon``: with a ``critic``, also its term on the
    reconstructions (two more black-box passes; off when its weight is 0). ``pair_balance``: with a ``critic``,
    weights its term on each swap by its class pair (``caelib.pair_balance``) and records the batch there.
    ``code_from_critic``: with a ``critic``, the code head learns the critic's class probabilities of each image
    instead of its label (distillation, Hinton, Vinyals, Dean 2015: the class code reads what the black box reads)."""
    x = torch.cat([xa, xb])                                  # (2B, C, H, W)
    y = torch.cat([ya, yb])
    s, c = cae.class_encoder(x), cae.indiv_code(x)           # (2B, D), (2B, Ci, h, w)
    sa, sb = s.chunk(2)
    ca, cb = c.chunk(2)
    s_sw, y_sw = torch.cat([sb, sa]), torch.cat([yb, ya])    # a's look with b's class, and back
    out = cae.decoder(torch.cat([c, c]), torch.cat([s, s_sw]))
    x_rec, x_sw = out.chunk(2)                               # (2B, ...) each
    s_re, c_re = cae.class_encoder(x_sw), cae.indiv_code(x_sw)
    x_cyc = cae.decoder(c_re, s)
    real_logit, cls_logit = disc(x_sw if augment is None else augment(x_sw))
    same = (y == y_sw)
    losses = {
        "recon": _l1(x_rec, x),
        "class_code": _l1(s_re, s_sw.detach()),  # target detached: it must not pull codes together
        "indiv_code": _l1(c_re, c),
        "cycle": _l1(x_cyc, x),
        "adversarial": F.binary_cross_entropy_with_logits(real_logit, torch.ones_like(real_logit)),
        "swap_class": F.cross_entropy(cls_logit, y_sw),
        "code_class": code_class_loss(cae.code_head(s), y),   # or from the critic's decision, below
        "same_swap": _l1(x_sw[same], x[same]) if same.any() else x.new_zeros(()),
        "minimal_change": _l1(x_sw[~same], x_rec[~same].detach()) if (~same).any() else x.new_zeros(()),
    }
    if critic is not None:
        if critic_recon or code_from_critic:
            with torch.no_grad():
                decided = F.softmax(critic(x), 1)
        if code_from_critic:
            losses["code_class"] = code_class_loss(cae.code_head(s), y, decided)
        logits = critic(torch.cat([x_sw, x_rec]) if critic_recon else x_sw)
        sw_logits = logits[:len(x_sw)]
        if pair_balance is None:
            losses["critic"] = F.cross_entropy(sw_logits, y_sw)
        else:
            weight = pair_balance.weights().to(x.device)[y, y_sw]
            losses["critic"] = (weight * F.cross_entropy(sw_logits, y_sw, reduction="none")).mean()
            pair_balance.observe(y, y_sw, sw_logits)
        if critic_recon:
            rec_logits = logits[len(x_sw):]
            losses["critic_recon"] = F.kl_div(F.log_softmax(rec_logits, 1), decided, reduction="batchmean")
    return losses, x_sw


def discriminator_losses(disc: Discriminator, x_real, y_real, x_fake,
                         augment: Callable | None = None) -> dict[str, torch.Tensor]:
    """Real/fake cross-entropy on real images and (detached) swaps, and class cross-entropy on real ones."""
    x_fake = x_fake.detach()
    if augment is not None:
        x_real, x_fake = augment(x_real), augment(x_fake)
    real_logit, cls_logit = disc(x_real)
    fake_logit, _ = disc(x_fake)
    return {
        "real_fake": F.binary_cross_entropy_with_logits(real_logit, torch.ones_like(real_logit))
        + F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit)),
        "disc_class": F.cross_entropy(cls_logit, y_real),
    }
