"""Weights of the black box's swap term per ordered class pair, louder where swaps fail (``PairBalance``).

The verdict's worst-pair guard asks every ordered class pair (source image's class -> class-code donor's class) to
flip the black box; an average loss lets the pairs that are easy carry the mean while one pair stays at 0. So
the critic's cross-entropy on a swap is weighted by how often, lately, the black box has refused that pair's
swaps during training: a running miss rate per pair, read from the critic's own predictions on the training
batches (no extra pass through the black box). Weights are the miss rates (plus a floor) divided by their mean
over the cross-class pairs and clipped to [1 / ``max_weight``, ``max_weight``], so on average the term weighs
what it weighed before; same-class swaps keep weight 1.

The idea is distributionally robust optimisation over groups (Sagawa et al., "Distributionally Robust Neural
Networks for Group Shifts", ICLR 2020), with the class pairs as the groups and smoothed weights instead of an
exponentiated-gradient update. Used by ``caelib.train.train_cae`` when ``TrainConfig.balance_pairs`` is on.
"""

from __future__ import annotations

import torch

__all__ = ["PairBalance"]


class PairBalance:
    """Running miss rate of the black box on training swaps, per ordered class pair, and the weights from it.

    ``rate``: how far one observation of a pair moves its running rate (an exponential moving average over
    that pair's swaps); ``floor``: added to every miss rate before weighting (pairs that never miss keep some
    weight); ``max_weight``: the clip. The state (``state_dict``) is a plain tensor, saved in checkpoints."""

    def __init__(self, num_classes: int, rate: float = 0.05, floor: float = 0.05, max_weight: float = 4.0):
        if num_classes < 2:
            raise ValueError(f"PairBalance needs at least 2 classes, got {num_classes}")
        if not 0 < rate <= 1 or floor <= 0 or max_weight < 1:
            raise ValueError(f"PairBalance needs 0 < rate <= 1, floor > 0 and max_weight >= 1, got rate={rate}, "
                             f"floor={floor}, max_weight={max_weight}")
        self.k, self.rate, self.floor, self.max_weight = num_classes, rate, floor, max_weight
        self.cross = ~torch.eye(num_classes, dtype=torch.bool)
        self.miss = torch.where(self.cross, 0.5, 0.0)   # no evidence yet: every cross-class pair alike

    def weights(self) -> torch.Tensor:
        """(K, K) weights, row = source class, column = donor class: mean 1 over the cross-class pairs (before
        the clip), 1 on the diagonal."""
        m = self.miss[self.cross] + self.floor
        w = torch.ones(self.k, self.k)
        w[self.cross] = (m / m.mean()).clamp(1 / self.max_weight, self.max_weight)
        return w

    @torch.no_grad()
    def observe(self, source: torch.Tensor, donor: torch.Tensor, logits: torch.Tensor) -> None:
        """Update the running miss rates from one batch of swaps: ``source`` and ``donor`` classes (N,), the black
        box's ``logits`` on the swaps (N, K)."""
        source, donor = source.detach().cpu().long(), donor.detach().cpu().long()
        miss = (logits.detach().argmax(1).cpu() != donor).float()
        pair = source * self.k + donor
        n = torch.bincount(pair, minlength=self.k ** 2).float()
        missed = torch.bincount(pair, weights=miss, minlength=self.k ** 2)
        seen = (n > 0) & self.cross.view(-1)            # same-class swaps are not a pair's evidence
        step = 1 - (1 - self.rate) ** n[seen]          # n observations at once move the rate n steps' worth
        flat = self.miss.view(-1)
        flat[seen] += step * (missed[seen] / n[seen] - flat[seen])

    def state_dict(self) -> dict:
        return {"miss": self.miss.clone()}

    def load_state_dict(self, state: dict) -> None:
        miss = state.get("miss") if isinstance(state, dict) else None
        if not isinstance(miss, torch.Tensor) or miss.shape != (self.k, self.k):
            raise ValueError(f"a PairBalance state needs a ({self.k}, {self.k}) tensor 'miss', got {miss!r}")
        self.miss = miss.detach().clone().float()
