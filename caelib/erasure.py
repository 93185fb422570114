"""Linear class erasure: an individual code that no linear probe can read the class from.

A CAE's individual code should carry an image's look, not its class. Trained CAEs leave a little class
information in it all the same: on the shipped lesions CAE a linear probe reads the class from the
individual code with 0.80 accuracy (chance 0.50), because a lesion leaves a trace where it sits
(``benchmarks/results/individual_code.md``). That trace is mostly a shift of the class means.

Linear guardedness (Belrose et al. 2023, "LEACE: Perfect linear concept erasure in closed form") holds
exactly when every class has the same mean code: then no linear classifier does better than a constant
one (for any convex loss). The simplest map that makes the class means equal is the orthogonal
projection that removes the span of the K - 1 class-mean differences (the "mean projection" of
Haghighatkhah et al. 2022; INLP, Ravfogel et al. 2020, removes probe directions one at a time).
:class:`ClassEraser` is that projection, fitted in closed form on training codes; it removes K - 1 of
the code's thousands of dimensions, so the decoder keeps almost everything. caelib's CAE applies it at
the end of ``encode`` (``CAE.indiv_eraser``); ``caelib.train`` fits it after training and, if asked,
lets the decoder adapt to it for a few more steps.

What it does not do: the guarantee is linear. A non-linear reader (k-nearest neighbours, a small
network) can still find class information in the erased codes, and notebook 04 measures that too.
"""

from __future__ import annotations

import torch
from torch import nn


class ClassEraser(nn.Module):
    """Removes the span of the class-mean differences from flattened codes (B, ...) of ``dim`` numbers.

    ``basis`` (dim, K - 1) is an orthonormal basis of that span once fitted; all zeros (the state
    before :meth:`fit`) makes the eraser the identity."""

    def __init__(self, dim: int, num_classes: int):
        super().__init__()
        self.register_buffer("basis", torch.zeros(dim, num_classes - 1))

    @property
    def fitted(self) -> bool:
        return bool(self.basis.abs().sum() > 0)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        if not self.fitted:
            return codes
        flat = codes.flatten(1)
        basis = self.basis.to(flat.dtype)
        return (flat - (flat @ basis) @ basis.T).view_as(codes)

    @torch.no_grad()
    def fit(self, codes: torch.Tensor, labels: torch.Tensor) -> "ClassEraser":
        """Fit on raw (not yet erased) codes (N, ...) and labels (N,) in 0..K-1; every class must occur."""
        flat = codes.detach().flatten(1).to(self.basis)
        sums, counts = self._class_sums(flat, labels)
        return self.fit_means(sums / counts[:, None], counts)

    def _class_sums(self, flat: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-class sums (K, dim) and counts (K,) of flattened codes."""
        k, dim = self.basis.shape[1] + 1, self.basis.shape[0]
        if flat.shape[1] != dim:
            raise ValueError(f"expected codes of {dim} numbers each, got {flat.shape[1]}")
        flat, labels = flat.double(), labels.to(flat.device, torch.long)
        if len(labels) and (labels.min() < 0 or labels.max() >= k):
            raise ValueError(f"labels must lie in 0..{k - 1}, got {int(labels.min())}..{int(labels.max())}")
        sums = torch.zeros(k, dim, dtype=flat.dtype, device=flat.device).index_add_(0, labels, flat)
        return sums, torch.bincount(labels, minlength=k).to(flat.dtype)

    @torch.no_grad()
    def fit_means(self, class_means: torch.Tensor, counts: torch.Tensor | None = None) -> "ClassEraser":
        """Fit from the class means (K, dim) of raw codes; ``counts`` (K,), if given, must all be > 0."""
        k = self.basis.shape[1] + 1
        if counts is not None and (counts == 0).any():
            raise ValueError(f"fitting the class eraser needs codes of each of the {k} classes; "
                             f"got class counts {[int(c) for c in counts]}")
        diffs = (class_means - class_means.mean(0)).T.double()                # (dim, K), rank K - 1
        u, _, _ = torch.linalg.svd(diffs, full_matrices=False)
        self.basis.copy_(u[:, : k - 1].to(self.basis))                         # the K - 1 directions
        return self


@torch.no_grad()
def raw_indiv_codes(cae, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """The individual-code encoder's output before the eraser, flattened: (N, C, H, W) -> (N, dim)."""
    was_training = cae.training
    cae.eval()
    device = next(cae.parameters()).device
    codes = torch.cat([cae.indiv_encoder(xb.to(device)).flatten(1) for xb in images.split(batch_size)])
    cae.train(was_training)
    return codes


@torch.no_grad()
def fit_indiv_eraser(cae, images: torch.Tensor, labels: torch.Tensor, *, n: int = 6000, seed: int = 0,
                     batch_size: int = 500):
    """Fit ``cae.indiv_eraser`` on the raw individual codes of up to ``n`` of ``images`` (a seeded random
    subset when there are more) with their ``labels``, a batch at a time (memory: the K class sums); returns
    the CAE."""
    eraser = cae.indiv_eraser
    idx = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n].to(images.device)
    sums = counts = 0
    for part in idx.split(batch_size):
        s, c = eraser._class_sums(raw_indiv_codes(cae, images[part], batch_size), labels[part.to(labels.device)])
        sums, counts = sums + s, counts + c
    eraser.fit_means(sums / counts.clamp(min=1)[:, None], counts)
    return cae
