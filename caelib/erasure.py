"""Linear class erasure: an individual code that no linear probe can read the class from.

A CAE's individual code should carry an image's look, not its class. Trained CAEs leave a little class
information in it all the same: on the shipped lesions CAE a linear probe reads the class from the
individual code well above chance, because a lesion leaves a trace where it sits
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

Equal means are not the whole story when the classes differ in *spread*. The guarantee above is about
the loss (no linear predictor beats a constant one for any convex loss), not about accuracy: when one
class's codes vary more than another's along some direction, a linear probe fitted on a finite sample
picks up that direction and its argmax reads the class above chance. On an mnist CAE, whose classes
are the digits' very look, a ridge probe still read the digit well above chance from mean-erased codes
(``benchmarks/results/measured_choices.md``).
``spread_dims = r`` removes, besides the K - 1 mean directions, the r directions along which the class
covariances differ most: the top eigenvectors of sum_c p_c (S_c - S)^2, with S_c the covariance of class
c's (mean-erased) codes, p_c its share and S their weighted average. It is still one label-free
projection (QLEACE, in the LEACE paper, matches the covariances exactly but needs the label at test
time, which an encoder does not have). Notebook 04 shows both.

What it does not do: the guarantee is linear. A non-linear reader (k-nearest neighbours, a small
network) can still find class information in the erased codes, and notebook 04 measures that too.
"""

from __future__ import annotations

import torch
from torch import nn

from .conventions import device_of, evaluating


class ClassEraser(nn.Module):
    """Removes the span of the class-mean differences (and, with ``spread_dims``, of the directions where
    the class spreads differ most) from flattened codes (B, ...) of ``dim`` numbers.

    ``basis`` (dim, K - 1 + spread_dims) is an orthonormal basis of that span once fitted; all zeros (the
    state before :meth:`fit`) makes the eraser the identity. Its width is set by the fit and travels with
    the state dict."""

    def __init__(self, dim: int, num_classes: int):
        super().__init__()
        self.num_classes = num_classes
        self.register_buffer("basis", torch.zeros(dim, num_classes - 1))

    @property
    def fitted(self) -> bool:
        return bool(self.basis.abs().sum() > 0)

    @property
    def spread_dims(self) -> int:
        """How many spread directions the fitted basis holds besides the K - 1 mean directions."""
        return self.basis.shape[1] - (self.num_classes - 1)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        if not self.fitted:
            return codes
        flat = codes.flatten(1)
        basis = self.basis.to(flat.dtype)
        return (flat - (flat @ basis) @ basis.T).view_as(codes)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        saved = state_dict.get(prefix + "basis")
        if saved is not None and saved.ndim == 2 and saved.shape[0] == self.basis.shape[0] \
                and saved.shape[1] >= self.num_classes - 1:
            self.basis = torch.zeros_like(saved, dtype=self.basis.dtype, device=self.basis.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @torch.no_grad()
    def fit(self, codes: torch.Tensor, labels: torch.Tensor, *, spread_dims: int = 0) -> "ClassEraser":
        """Fit on raw (not yet erased) codes (N, ...) and labels (N,) in 0..K-1; every class must occur.
        ``spread_dims``: also remove that many directions where the class covariances differ most."""
        flat = codes.detach().flatten(1).to(self.basis)
        sums, counts, squares = self._class_sums(flat, labels, squares=spread_dims > 0)
        return self.fit_moments(sums, counts, squares, spread_dims=spread_dims)

    def _class_sums(self, flat: torch.Tensor, labels: torch.Tensor, *, squares: bool = False):
        """Per-class sums (K, dim), counts (K,) and, with ``squares``, sums of outer products (K, dim, dim)
        (else None) of flattened codes, in float64."""
        k, dim = self.num_classes, self.basis.shape[0]
        if flat.shape[1] != dim:
            raise ValueError(f"expected codes of {dim} numbers each, got {flat.shape[1]}")
        flat, labels = flat.double(), labels.to(flat.device, torch.long)
        if len(labels) and (labels.min() < 0 or labels.max() >= k):
            raise ValueError(f"labels must lie in 0..{k - 1}, got {int(labels.min())}..{int(labels.max())}")
        sums = torch.zeros(k, dim, dtype=flat.dtype, device=flat.device).index_add_(0, labels, flat)
        counts = torch.bincount(labels, minlength=k).to(flat.dtype)
        outer = None
        if squares:
            outer = torch.stack([flat[labels == c].T @ flat[labels == c] for c in range(k)])
        return sums, counts, outer

    @torch.no_grad()
    def fit_moments(self, sums: torch.Tensor, counts: torch.Tensor, squares: torch.Tensor | None = None, *,
                    spread_dims: int = 0) -> "ClassEraser":
        """Fit from per-class sums (K, dim), counts (K,) (all > 0) and, for ``spread_dims`` > 0, sums of
        outer products (K, dim, dim) of raw codes (what ``_class_sums`` adds up)."""
        k, dim = self.num_classes, self.basis.shape[0]
        if (counts == 0).any():
            raise ValueError(f"fitting the class eraser needs codes of each of the {k} classes; "
                             f"got class counts {[int(c) for c in counts]}")
        if not 0 <= spread_dims <= dim - (k - 1):
            raise ValueError(f"spread_dims must lie in 0..{dim - (k - 1)} (the code has {dim} numbers), "
                             f"got {spread_dims}")
        means = sums.double() / counts.double()[:, None]
        basis = self.mean_directions(means)
        if spread_dims:
            if squares is None:
                raise ValueError("spread_dims > 0 needs the per-class sums of outer products (squares)")
            covs = squares.double() / counts.double()[:, None, None] - means[:, :, None] * means[:, None, :]
            basis = torch.cat([basis, spread_directions(covs, counts, basis, spread_dims)], 1)
        if basis.shape == self.basis.shape:
            self.basis.copy_(basis)            # in place: a DDP-wrapped model keeps its buffer
        else:
            self.basis = basis.to(self.basis)  # another number of spread directions
        return self

    @staticmethod
    def mean_directions(class_means: torch.Tensor) -> torch.Tensor:
        """Orthonormal basis (dim, K - 1) of the span of the class means' differences."""
        diffs = (class_means - class_means.mean(0)).T.double()                # (dim, K), rank K - 1
        u, _, _ = torch.linalg.svd(diffs, full_matrices=False)
        return u[:, : len(class_means) - 1]


def spread_directions(class_covs: torch.Tensor, counts: torch.Tensor, removed: torch.Tensor,
                      r: int) -> torch.Tensor:
    """The ``r`` directions, orthogonal to ``removed`` (dim, m), along which the class covariances
    (K, dim, dim) differ most: the top eigenvectors of sum_c p_c (S_c - S)^2 with S_c the covariances of the
    codes projected off ``removed``, p_c = counts / counts.sum() and S = sum_c p_c S_c. (dim, r)."""
    p = (counts / counts.sum()).double()
    proj = torch.eye(class_covs.shape[1], dtype=torch.float64, device=class_covs.device) - removed @ removed.T
    covs = proj @ class_covs.double() @ proj
    dev = covs - (p[:, None, None] * covs).sum(0)
    m = (p[:, None, None] * (dev @ dev)).sum(0)
    _, vecs = torch.linalg.eigh((m + m.T) / 2)                                 # ascending eigenvalues
    return vecs[:, -r:].flip(1)


@torch.no_grad()
def raw_indiv_codes(cae, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """The individual-code encoder's output before the eraser, flattened: (N, C, H, W) -> (N, dim)."""
    with evaluating(cae):
        device = device_of(cae)
        return torch.cat([cae.indiv_encoder(xb.to(device)).flatten(1) for xb in images.split(batch_size)])


@torch.no_grad()
def fit_indiv_eraser(cae, images: torch.Tensor, labels: torch.Tensor, *, n: int = 6000, seed: int = 0,
                     batch_size: int = 500, spread_dims: int = 0):
    """Fit ``cae.indiv_eraser`` on the raw individual codes of up to ``n`` of ``images`` (a seeded random
    subset when there are more) with their ``labels``, a batch at a time (memory: the K class sums, and
    K dim x dim sums of outer products with ``spread_dims`` > 0); returns the CAE."""
    eraser = cae.indiv_eraser
    idx = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n].to(images.device)
    total = None
    for part in idx.split(batch_size):
        got = eraser._class_sums(raw_indiv_codes(cae, images[part], batch_size),
                                 labels[part.to(labels.device)], squares=spread_dims > 0)
        total = got if total is None else tuple(None if a is None else a + b for a, b in zip(total, got))
    eraser.fit_moments(*total, spread_dims=spread_dims)
    return cae
