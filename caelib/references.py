"""Reference rules: which real samples of the target class a counterfactual path heads to (from a ``CodeBank``).

Each rule has scikit-learn's shape: hyper-parameters in the constructor, ``fit(bank)`` learns from a bank and
returns the rule, then ``rule(codes, target)`` picks bank indices. ``NearestReference`` (the nearest real samples
of the target class, optionally among its core samples), ``MedoidReference`` (the class's medoid) and
``StrongReference`` (the central sample whose class code the black box reads as the class most often).
``MedoidReference(bank)`` fits at once. Used by ``paths.counterfactual_path(..., reference=)``; taught in
``notebooks/05_paths.ipynb``. Importable from ``caelib.paths`` too.
"""

from __future__ import annotations

from typing import Protocol

import torch

from .cae import CAE
from .classifier import predict_proba
from .codebank import DECODE_BATCH, CodeBank
from .conventions import Classifier
from .swap import decode_all, encode_all

__all__ = ["ReferenceRule", "NotFittedError", "NearestReference", "MedoidReference", "StrongReference",
           "check_classes", "summed_distance"]


class ReferenceRule(Protocol):
    """A rule that picks references from a ``CodeBank``, in scikit-learn's shape: its hyper-parameters go to the
    constructor, ``rule.fit(bank)`` computes what the rule needs from the bank, keeps the bank as ``rule.bank``
    and returns the rule; then ``rule(codes (B, D), target (B,))`` returns bank indices (B, R) of R references of
    each image's target class (``counterfactual_path`` reads their codes in ``rule.bank.codes``). The rules here
    also take the bank as their first argument and fit at once (``MedoidReference(bank)``); one used before
    ``fit`` raises ``NotFittedError``."""

    bank: CodeBank

    def fit(self, bank: CodeBank) -> "ReferenceRule": ...

    def __call__(self, codes: torch.Tensor, target: torch.Tensor) -> torch.Tensor: ...


class NotFittedError(ValueError):
    """A reference rule was used before ``fit(bank)``."""


class _BankRule:
    """What the rules share: ``bank`` is the fitted ``CodeBank`` (reading it before ``fit`` raises
    ``NotFittedError``, so every user of the rule gets the same clear error)."""

    _bank: CodeBank | None = None

    @property
    def bank(self) -> CodeBank:
        """The ``CodeBank`` the rule was fitted on."""
        if self._bank is None:
            name = type(self).__name__
            raise NotFittedError(f"this {name} is not fitted yet: call its fit(bank) with a CodeBank first, e.g. "
                                 f"rule = {name}(...).fit(bank), or pass the bank when you make it")
        return self._bank

    @staticmethod
    def _checked(bank) -> CodeBank:
        if not isinstance(bank, CodeBank):
            raise ValueError(f"fit needs a CodeBank (CodeBank.from_images(cae, images, labels)), got "
                             f"{type(bank).__name__}")
        return bank


class _OnePerClass(_BankRule):
    """A rule that gives every image of a class the same reference: ``_per_class()`` (K,) bank indices."""

    def _per_class(self) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, codes: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        check_classes(self.bank, target)
        return self._per_class()[target.cpu()][:, None]                                 # (B, 1)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def check_classes(bank: CodeBank, target: torch.Tensor) -> None:
    """Raise a ``ValueError`` unless ``bank`` holds a sample of every class of ``target`` (B,): what a reference
    rule checks before it picks references."""
    present = torch.bincount(bank.labels, minlength=bank.num_classes)
    missing = sorted({int(t) for t in target if int(t) >= len(present) or present[int(t)] == 0})
    if missing:
        raise ValueError(f"the reference bank holds no sample of class(es) {missing}; build it from images "
                         "that include these classes (CodeBank.from_images)")


def summed_distance(codes: torch.Tensor) -> torch.Tensor:
    """(N,) each of ``codes`` (N, D)'s summed Euclidean distance to all of them: the smallest is the medoid
    (the most typical real code), small ones are central."""
    return torch.cdist(codes, codes).sum(1)


class NearestReference(_BankRule):
    """The ``n`` real samples of the target class whose class codes lie nearest to the image's class code
    (Euclidean, in class-code space): the smallest change that reaches a real member of the class.

    The nearest members of a class sit at its border with the image's class, and a border code decoded
    with another image's individual code often stays on the near side of the black box's boundary.
    ``core`` in [0, 1) keeps only each class's samples deepest inside it: those whose ``CodeBank.depth``
    is at least the ``core`` quantile of their class (0: all samples; 0.8: the deepest 20%).
    ``NearestReference(n=3).fit(bank)`` or, at once, ``NearestReference(bank, n=3)``."""

    def __init__(self, bank: CodeBank | None = None, n: int = 1, core: float = 0.0):
        if n < 1:
            raise ValueError(f"n must be >= 1 references, got {n}")
        if not 0.0 <= core < 1.0:
            raise ValueError(f"core is a quantile in [0, 1), got {core}")
        self.n, self.core = n, core
        self.candidates: torch.Tensor | None = None      # (N,) bool, after fit: the bank samples a reference may be
        if bank is not None:
            self.fit(bank)

    def fit(self, bank: CodeBank) -> "NearestReference":
        """Keep ``bank`` and, with ``core``, mark each class's deepest samples as the candidates; returns the rule."""
        bank = self._checked(bank)
        candidates = torch.ones(len(bank), dtype=torch.bool)
        if self.core > 0:
            depth = bank.depth()
            for k in bank.labels.unique():
                mine = bank.labels == k
                candidates &= ~mine | (depth >= depth[mine].quantile(self.core))
        self._bank, self.candidates = bank, candidates
        return self

    def __call__(self, codes: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        bank = self.bank
        check_classes(bank, target)
        dist = torch.cdist(codes.float().cpu(), bank.codes)                           # (B, N)
        allowed = (bank.labels[None, :] == target.cpu()[:, None]) & self.candidates[None, :]
        dist = dist.masked_fill(~allowed, float("inf"))
        n = min(self.n, int(allowed.sum(1).min()))
        return dist.topk(n, dim=1, largest=False).indices                              # (B, n)

    def __repr__(self) -> str:
        return f"NearestReference(n={self.n}, core={self.core})"


class MedoidReference(_OnePerClass):
    """The target class's medoid: the real sample whose class code has the smallest summed distance to
    the class codes of its class (a typical member, unlike the mean, always a real code). Computed on at
    most ``max_per_class`` samples per class. ``MedoidReference().fit(bank)`` or, at once,
    ``MedoidReference(bank)``."""

    def __init__(self, bank: CodeBank | None = None, max_per_class: int = 2000):
        self.max_per_class = max_per_class
        self.medoids: torch.Tensor | None = None         # (K,) bank index of each class's medoid (-1: none), after fit
        if bank is not None:
            self.fit(bank)

    def fit(self, bank: CodeBank) -> "MedoidReference":
        """Find each class's medoid in ``bank``; returns the rule."""
        bank = self._checked(bank)
        medoids = torch.full((bank.num_classes,), -1, dtype=torch.long)
        for k in range(bank.num_classes):
            idx = (bank.labels == k).nonzero().flatten()[:self.max_per_class]
            if len(idx):
                medoids[k] = idx[summed_distance(bank.codes[idx]).argmin()]
        self._bank, self.medoids = bank, medoids
        return self

    def _per_class(self) -> torch.Tensor:
        return self.medoids


class StrongReference(_OnePerClass):
    """For each class, the real sample whose class code carries the class best *for the black box*: among
    the class's ``candidates`` most central samples (smallest summed distance to the class's codes), the
    one whose class code, decoded with the individual codes of ``probes`` bank images of other classes,
    the black box most often assigns to the class. Measured once, on the bank's (training) images, with the
    ``cae`` and the black box ``classifier`` given to the constructor; ``self.rates`` (K,) holds each chosen
    reference's rate. Needs a bank with images. ``StrongReference(cae, classifier).fit(bank)`` or, at once,
    ``StrongReference(cae, classifier, bank)``."""

    def __init__(self, cae: CAE, classifier: Classifier, bank: CodeBank | None = None, *, candidates: int = 30,
                 probes: int = 40, seed: int = 0, max_per_class: int = 2000):
        self.cae, self.classifier = cae, classifier
        self.candidates, self.probes, self.seed, self.max_per_class = candidates, probes, seed, max_per_class
        self.choice: torch.Tensor | None = None          # (K,) bank index of each class's reference, after fit
        self.rates: torch.Tensor | None = None           # (K,) how often the black box reads it as the class
        if bank is not None:
            self.fit(bank)

    def fit(self, bank: CodeBank) -> "StrongReference":
        """Measure the candidates of every class on ``bank``'s images and keep the strongest; returns the rule."""
        bank = self._checked(bank)
        if bank.images is None:
            raise ValueError("StrongReference needs a CodeBank with images (CodeBank.from_images)")
        gen = torch.Generator().manual_seed(self.seed)
        choice = torch.full((bank.num_classes,), -1, dtype=torch.long)
        rates = torch.zeros(bank.num_classes)
        for k in range(bank.num_classes):
            idx = (bank.labels == k).nonzero().flatten()[:self.max_per_class]
            others = (bank.labels != k).nonzero().flatten()
            if len(idx) == 0 or len(others) == 0:
                continue
            central = idx[summed_distance(bank.codes[idx]).argsort()[:self.candidates]]      # (n_c,)
            probe = others[torch.randperm(len(others), generator=gen)[:self.probes]]          # (n_p,)
            _, indiv = encode_all(self.cae, bank.images[probe])
            frames = decode_all(self.cae, indiv.repeat(len(central), 1, 1, 1),
                                bank.codes[central].repeat_interleave(len(probe), 0), batch_size=DECODE_BATCH)
            hits = (predict_proba(self.classifier, frames).argmax(1) == k).float().reshape(len(central), len(probe))
            best = int(hits.mean(1).argmax())              # ties: the more central candidate
            choice[k], rates[k] = central[best], hits[best].mean()
        self._bank, self.choice, self.rates = bank, choice, rates
        return self

    def _per_class(self) -> torch.Tensor:
        return self.choice
