"""Guided counterfactual paths: move an image's class code towards another class and watch the black box.

CAE explains one decision like this (Xie et al., "Class Association Embedding", ICDE 2024, arXiv
2406.07961): encode the image ``x`` into its class code and individual code, move the class code step by
step from where it is towards the class code of a *reference* of another class, decode every step with
``x``'s own individual code, and stop at the first step where the black box says the target class. That
decoded image is the counterfactual ``x_cf``; what changed on the way is the explanation.

Two choices the paper leaves open, and caelib offers both ways of each:

- the **reference** (``NearestReference``: the nearest real sample of the target class in class-code
  space, optionally among the class's core samples; ``MedoidReference``: the target class's medoid;
  ``StrongReference``: the central sample whose class code the black box most often reads as the class
  when swapped into other images; or any image(s) of your own);
- the **route** (``StraightRoute``: the straight line of the paper's code; ``GraphRoute``: the shortest
  path through a k-nearest-neighbour graph of the class codes of real images, which stays on the
  class-code manifold, as in the same authors' later code).

``path_metrics`` / ``compare_routes`` measure a route: how far its points lie from real class codes, the
discriminator's realism score along it, the flip rate, the step of the flip and the smoothness of the
probability curve. Saliency from a path is in ``caelib.saliency_path``. Taught in
``notebooks/05_paths.ipynb``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Protocol, Sequence

import numpy as np
import torch

from .cae import CAE
from .classifier import predict_proba
from .conventions import Classifier, resolve_target, runner_up
from .data import check_images
from .swap import decode_all, encode_all

STEP_CHUNK = 4     # with stop_at_flip, steps are decoded this many at a time; flipped paths drop out
DECODE_BATCH = 64  # frames per decoder call: small ones stay in the CPU cache (benchmarks/results/measured_choices.md)


# ---- a bank of real class codes ------------------------------------------------------------------------

@dataclass
class CodeBank:
    """The class codes of real images (usually the training set) with their labels: where references come
    from and what the graph route walks through.

    ``codes`` (N, D) float32, ``labels`` (N,) int64 in 0..K-1, ``images`` (N, C, H, W) in [-1, 1] or None
    (kept to show the reference used). ``num_classes`` defaults to ``labels.max() + 1``."""

    codes: torch.Tensor
    labels: torch.Tensor
    images: torch.Tensor | None = None
    num_classes: int = 0
    _nn: object = field(default=None, init=False, repr=False)

    def __post_init__(self):
        self.codes = torch.as_tensor(self.codes, dtype=torch.float32).detach().cpu()
        self.labels = torch.as_tensor(self.labels, dtype=torch.long).cpu()
        if self.codes.ndim != 2 or self.labels.shape != (len(self.codes),) or len(self.codes) < 2:
            raise ValueError(f"a CodeBank needs codes (N, D) and labels (N,) with N >= 2, got "
                             f"{tuple(self.codes.shape)} and {tuple(self.labels.shape)}")
        self.num_classes = max(self.num_classes, int(self.labels.max()) + 1)

    @classmethod
    def from_images(cls, cae: CAE, images: torch.Tensor, labels: torch.Tensor, *,
                    classifier: Classifier | None = None, n: int | None = None) -> "CodeBank":
        """Encode real images (N, C, H, W) in [-1, 1] (``n`` of them, sampled across the classes with
        ``data.stratified_indices``: the first ``n`` of a folder sorted by class would be one class; None:
        all). With ``classifier``, keep only the images the black box assigns to their label: a reference
        should be a sample the black box itself puts in the target class."""
        from .data import stratified_indices

        labels = torch.as_tensor(labels)
        if n is not None and n < len(labels):
            pick = torch.as_tensor(stratified_indices(labels, n, seed=0)).to(labels.device)
            images, labels = images[pick.to(images.device)], labels[pick]
        k = int(labels.max()) + 1
        if classifier is not None:
            keep = predict_proba(classifier, images).argmax(1) == labels.cpu()
            images, labels = images[keep], labels[keep]
        codes, _ = encode_all(cae, images)
        return cls(codes.cpu(), labels, images.cpu(), num_classes=k)

    def __len__(self) -> int:
        return len(self.codes)

    def distance_to_nearest(self, codes: torch.Tensor) -> torch.Tensor:
        """Euclidean distance (M,) from each of ``codes`` (M, D) to the nearest class code of the bank
        (lower: closer to the manifold of real codes)."""
        from sklearn.neighbors import NearestNeighbors

        if self._nn is None:
            self._nn = NearestNeighbors(n_neighbors=1).fit(self.codes.numpy())
        dist, _ = self._nn.kneighbors(codes.detach().cpu().reshape(-1, self.codes.shape[1]).numpy())
        return torch.as_tensor(dist[:, 0], dtype=torch.float32)

    def depth(self) -> torch.Tensor:
        """(N,) distance from each bank code to the nearest bank code of another class: small at the
        border between classes, large deep inside a class."""
        from sklearn.neighbors import NearestNeighbors

        out = torch.full((len(self),), float("inf"))
        for k in self.labels.unique():
            mine, other = self.labels == k, self.labels != k
            if other.any():
                dist, _ = NearestNeighbors(n_neighbors=1).fit(self.codes[other].numpy()).kneighbors(
                    self.codes[mine].numpy())
                out[mine] = torch.as_tensor(dist[:, 0], dtype=torch.float32)
        return out

    def spacing(self) -> float:
        """The median distance from a bank code to its nearest other bank code: the manifold's grain,
        to read ``distance_to_nearest`` against."""
        from sklearn.neighbors import NearestNeighbors

        dist, _ = NearestNeighbors(n_neighbors=2).fit(self.codes.numpy()).kneighbors(self.codes.numpy())
        return float(np.median(dist[:, 1]))


# ---- reference rules -----------------------------------------------------------------------------------

class ReferenceRule(Protocol):
    """A rule that picks references from a ``CodeBank``: ``rule(codes (B, D), target (B,))`` returns
    bank indices (B, R) of R references of each image's target class."""

    bank: CodeBank

    def __call__(self, codes: torch.Tensor, target: torch.Tensor) -> torch.Tensor: ...


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


class NearestReference:
    """The ``n`` real samples of the target class whose class codes lie nearest to the image's class code
    (Euclidean, in class-code space): the smallest change that reaches a real member of the class.

    The nearest members of a class sit at its border with the image's class, and a border code decoded
    with another image's individual code often stays on the near side of the black box's boundary.
    ``core`` in [0, 1) keeps only each class's samples deepest inside it: those whose ``CodeBank.depth``
    is at least the ``core`` quantile of their class (0: all samples; 0.8: the deepest 20%)."""

    def __init__(self, bank: CodeBank, n: int = 1, core: float = 0.0):
        if n < 1:
            raise ValueError(f"n must be >= 1 references, got {n}")
        if not 0.0 <= core < 1.0:
            raise ValueError(f"core is a quantile in [0, 1), got {core}")
        self.bank, self.n, self.core = bank, n, core
        self.candidates = torch.ones(len(bank), dtype=torch.bool)
        if core > 0:
            depth = bank.depth()
            for k in bank.labels.unique():
                mine = bank.labels == k
                self.candidates &= ~mine | (depth >= depth[mine].quantile(core))

    def __call__(self, codes: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        check_classes(self.bank, target)
        dist = torch.cdist(codes.float().cpu(), self.bank.codes)                      # (B, N)
        allowed = (self.bank.labels[None, :] == target.cpu()[:, None]) & self.candidates[None, :]
        dist = dist.masked_fill(~allowed, float("inf"))
        n = min(self.n, int(allowed.sum(1).min()))
        return dist.topk(n, dim=1, largest=False).indices                              # (B, n)

    def __repr__(self) -> str:
        return f"NearestReference(n={self.n}, core={self.core})"


class MedoidReference:
    """The target class's medoid: the real sample whose class code has the smallest summed distance to
    the class codes of its class (a typical member, unlike the mean, always a real code). Computed on at
    most ``max_per_class`` samples per class."""

    def __init__(self, bank: CodeBank, max_per_class: int = 2000):
        self.bank = bank
        self.medoids = torch.full((bank.num_classes,), -1, dtype=torch.long)
        for k in range(bank.num_classes):
            idx = (bank.labels == k).nonzero().flatten()[:max_per_class]
            if len(idx):
                self.medoids[k] = idx[summed_distance(bank.codes[idx]).argmin()]

    def __call__(self, codes: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        check_classes(self.bank, target)
        return self.medoids[target.cpu()][:, None]                                      # (B, 1)

    def __repr__(self) -> str:
        return "MedoidReference()"


class StrongReference:
    """For each class, the real sample whose class code carries the class best *for the black box*: among
    the class's ``candidates`` most central samples (smallest summed distance to the class's codes), the
    one whose class code, decoded with the individual codes of ``probes`` bank images of other classes,
    the black box most often assigns to the class. Measured once, on the bank's (training) images;
    ``self.rates`` (K,) holds each chosen reference's rate. Needs a bank with images."""

    def __init__(self, cae: CAE, classifier: Classifier, bank: CodeBank, *, candidates: int = 30, probes: int = 40,
                 seed: int = 0, max_per_class: int = 2000):
        if bank.images is None:
            raise ValueError("StrongReference needs a CodeBank with images (CodeBank.from_images)")
        gen = torch.Generator().manual_seed(seed)
        self.bank = bank
        self.choice = torch.full((bank.num_classes,), -1, dtype=torch.long)
        self.rates = torch.zeros(bank.num_classes)
        for k in range(bank.num_classes):
            idx = (bank.labels == k).nonzero().flatten()[:max_per_class]
            others = (bank.labels != k).nonzero().flatten()
            if len(idx) == 0 or len(others) == 0:
                continue
            central = idx[summed_distance(bank.codes[idx]).argsort()[:candidates]]      # (n_c,)
            probe = others[torch.randperm(len(others), generator=gen)[:probes]]          # (n_p,)
            _, indiv = encode_all(cae, bank.images[probe])
            frames = decode_all(cae, indiv.repeat(len(central), 1, 1, 1),
                                bank.codes[central].repeat_interleave(len(probe), 0), batch_size=DECODE_BATCH)
            hits = (predict_proba(classifier, frames).argmax(1) == k).float().reshape(len(central), len(probe))
            best = int(hits.mean(1).argmax())              # ties: the more central candidate
            self.choice[k], self.rates[k] = central[best], hits[best].mean()

    def __call__(self, codes: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        check_classes(self.bank, target)
        return self.choice[target.cpu()][:, None]                                       # (B, 1)

    def __repr__(self) -> str:
        return "StrongReference()"


# ---- routes --------------------------------------------------------------------------------------------

class Route(Protocol):
    """``route(start (B, D), end (B, D), steps) -> codes (B, steps, D)``, first = start, last = end."""

    def __call__(self, start: torch.Tensor, end: torch.Tensor, steps: int) -> torch.Tensor: ...


class StraightRoute:
    """The straight line from the image's class code to the reference's: ``(1 - t) s_x + t s_ref`` at
    ``steps`` evenly spaced t in [0, 1] (the paper's code uses t = 0, 0.2, ..., 1)."""

    def __call__(self, start: torch.Tensor, end: torch.Tensor, steps: int) -> torch.Tensor:
        t = torch.linspace(0, 1, steps, device=start.device)[None, :, None]          # (1, S, 1)
        return (1 - t) * start[:, None, :] + t * end[:, None, :]                       # (B, S, D)

    def __repr__(self) -> str:
        return "StraightRoute()"


def resample_polyline(points: np.ndarray, steps: int) -> np.ndarray:
    """``steps`` points evenly spaced by arc length along a polyline (m, D) from its first to its last
    point -> (steps, D). A polyline of length 0 gives ``steps`` copies of its point."""
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)                            # (m - 1,)
    arc = np.concatenate([[0.0], np.cumsum(seg)])                                    # (m,)
    if arc[-1] <= 0:
        return np.repeat(points[:1], steps, axis=0)
    t = np.linspace(0.0, arc[-1], steps)
    return np.stack([np.interp(t, arc, points[:, j]) for j in range(points.shape[1])], axis=1)


class GraphRoute:
    """The shortest path through a k-nearest-neighbour graph of the bank's real class codes, from the
    image's class code to the reference's, resampled evenly along the polyline: a route that stays
    near real codes (the class-code manifold) instead of cutting across empty space.

    The graph joins each bank code to its ``k`` nearest neighbours (edge weight = Euclidean distance,
    scikit-learn's ``NearestNeighbors``), made symmetric; separate components (classes far apart) are
    joined by their closest pair of codes so that every class can be reached. The start and the end
    join the graph through their own ``k`` nearest bank codes (the start only by outgoing edges, the
    end only by incoming ones, so no path runs through another image's start or end). Shortest paths
    come from scipy's ``csgraph.dijkstra``. ``nodes(start, end)`` gives the bank indices visited."""

    def __init__(self, bank: CodeBank, k: int = 10):
        from scipy.sparse import csgraph, csr_matrix
        from sklearn.neighbors import NearestNeighbors

        if k < 1:
            raise ValueError(f"k must be >= 1 neighbours, got {k}")
        self.bank, self.k = bank, min(k, len(bank) - 1)
        pts = bank.codes.numpy().astype(np.float64)
        self._nn = NearestNeighbors(n_neighbors=self.k).fit(pts)
        dist, ind = self._nn.kneighbors(pts, n_neighbors=self.k + 1)               # (N, k + 1), self included
        rows = np.arange(len(pts))[:, None].repeat(self.k + 1, 1)
        keep = ind != rows
        graph = csr_matrix((np.maximum(dist[keep], 1e-12), (rows[keep], ind[keep])), shape=(len(pts),) * 2)
        graph = graph.maximum(graph.T).tolil()                                     # symmetric
        n_comp, comp = csgraph.connected_components(graph, directed=False)
        while n_comp > 1:                                                          # join the components
            inside = np.flatnonzero(comp == np.bincount(comp).argmin())
            outside = np.flatnonzero(comp != comp[inside[0]])
            dist, j = NearestNeighbors(n_neighbors=1).fit(pts[outside]).kneighbors(pts[inside])
            a = int(dist[:, 0].argmin())
            u, v = int(inside[a]), int(outside[j[a, 0]])
            graph[u, v] = graph[v, u] = max(float(dist[a, 0]), 1e-12)
            n_comp, comp = csgraph.connected_components(graph, directed=False)
        self.graph = graph.tocsr()                                                 # (N, N) sparse
        self.n_components_joined = int(np.unique(comp).size)

    def nodes(self, start: torch.Tensor, end: torch.Tensor) -> list[np.ndarray]:
        """For each pair (start (B, D), end (B, D)): the bank indices of the codes the shortest path
        visits, in order (start and end themselves excluded)."""
        from scipy.sparse import csgraph, csr_matrix, hstack, vstack

        n, b = len(self.bank), len(start)
        s, e = start.detach().cpu().double().numpy(), end.detach().cpu().double().numpy()
        ds, js = self._nn.kneighbors(s)                                            # (B, k)
        de, je = self._nn.kneighbors(e)
        rows = np.arange(b).repeat(self.k)
        out_edges = csr_matrix((np.maximum(ds.ravel(), 1e-12), (rows, js.ravel())), shape=(b, n))  # start -> bank
        in_edges = csr_matrix((np.maximum(de.ravel(), 1e-12), (je.ravel(), rows)), shape=(n, b))   # bank -> end
        # node layout: bank 0..n-1, ends n..n+b-1, starts n+b..n+2b-1
        graph = vstack([hstack([self.graph, in_edges, csr_matrix((n, b))]),
                        csr_matrix((b, n + 2 * b)),
                        hstack([out_edges, csr_matrix((b, 2 * b))])]).tocsr()
        # no direct start -> end edge: it would always be the shortest (the straight line)
        _, pred = csgraph.dijkstra(graph, directed=True, indices=np.arange(n + b, n + 2 * b),
                                   return_predecessors=True)                       # (B, n + 2B)
        chains = []
        for i in range(b):                       # walk the predecessors back from end i to start i
            chain, node = [], int(pred[i, n + i])
            while 0 <= node < n:
                chain.append(node)
                node = int(pred[i, node])
            chains.append(np.array(chain[::-1], dtype=np.int64))
        return chains

    def __call__(self, start: torch.Tensor, end: torch.Tensor, steps: int) -> torch.Tensor:
        pts = self.bank.codes.numpy().astype(np.float64)
        s, e = start.detach().cpu().double().numpy(), end.detach().cpu().double().numpy()
        out = [resample_polyline(np.concatenate([s[i:i + 1], pts[chain], e[i:i + 1]]), steps)
               for i, chain in enumerate(self.nodes(start, end))]
        return torch.as_tensor(np.stack(out), dtype=torch.float32, device=start.device)  # (B, S, D)

    def __repr__(self) -> str:
        return f"GraphRoute(k={self.k})"


# ---- the path ------------------------------------------------------------------------------------------

@dataclass
class CounterfactualPath:
    """A batch of M counterfactual paths of S steps each (M = images x references per image).

    ``x`` (M, C, H, W) the images explained, in [-1, 1]; ``source`` (M,) the black box's decision on
    ``x``; ``target`` (M,) the class the path heads to; ``codes`` (M, S, D) the class codes along the
    path (step 0 = the image's own code); ``frames`` (M, S, C, H, W) each code decoded with the image's
    individual code (frame 0 = the reconstruction); ``probs`` (M, S, K) the black box's probabilities on
    the frames; ``flip_index`` (M,) the first step whose frame the black box assigns to ``target``
    (-1: none); ``reference_code`` (M, D); ``reference_index`` (M,) index into the ``CodeBank`` (-1 for a
    reference image of your own); ``image_index`` (M,) which input image each path explains;
    ``stop_at_flip``: if True, a path stops at its flip: later steps repeat the flip's code, frame and
    probabilities (they are not computed)."""

    x: torch.Tensor
    source: torch.Tensor
    target: torch.Tensor
    codes: torch.Tensor
    frames: torch.Tensor
    probs: torch.Tensor
    flip_index: torch.Tensor
    reference_code: torch.Tensor
    reference_index: torch.Tensor
    image_index: torch.Tensor
    stop_at_flip: bool = True

    def __len__(self) -> int:
        return len(self.x)

    @property
    def steps(self) -> int:
        """S, the number of points on each path (both ends included)."""
        return self.codes.shape[1]

    @property
    def flipped(self) -> torch.Tensor:
        """(M,) bool: did the black box reach the target class somewhere on the path?"""
        return self.flip_index >= 0

    @property
    def changed(self) -> torch.Tensor:
        """(M,) bool: did the black box leave its decision on ``x`` somewhere on the path (for any class:
        the paper's stopping rule; ``flipped`` asks for the target)?"""
        return (self.probs.argmax(2) != self.source[:, None]).any(1)

    @property
    def end_index(self) -> torch.Tensor:
        """(M,) the step of the counterfactual: the flip, or the last step where there is none."""
        return torch.where(self.flipped, self.flip_index, torch.full_like(self.flip_index, self.steps - 1))

    @property
    def counterfactual(self) -> torch.Tensor:
        """(M, C, H, W) ``x_cf``: the frame at the flip (the path's last frame where it does not flip)."""
        return self.frames[torch.arange(len(self)), self.end_index]

    @property
    def reconstruction(self) -> torch.Tensor:
        """(M, C, H, W) frame 0: the image decoded from its own two codes."""
        return self.frames[:, 0]

    @property
    def target_probs(self) -> torch.Tensor:
        """(M, S) the black box's probability of the target class along the path."""
        return self.probs.gather(2, self.target[:, None, None].expand(-1, self.steps, 1))[..., 0]

    def __getitem__(self, index) -> "CounterfactualPath":
        """The paths ``index`` (an int keeps a batch of one), e.g. ``path[3]`` or ``path[path.flipped]``."""
        if isinstance(index, int):
            index = slice(index, index + 1 if index != -1 else None)
        take = {name: getattr(self, name)[index] for name in (
            "x", "source", "target", "codes", "frames", "probs", "flip_index", "reference_code",
            "reference_index", "image_index")}
        return replace(self, **take)


def _as_target(target, source: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """Resolve ``target`` (None, an int, or (B,) ints) against the decisions ``source`` (B,)."""
    if target is None:
        return runner_up(probs, source)
    t = resolve_target(target, *probs.shape)
    same = (t == source).nonzero().flatten()
    if len(same):
        i = int(same[0])
        raise ValueError(f"target {int(t[i])} is the class the black box already gives image {i}: a "
                         "counterfactual needs another class; pass a different target, or target=None for "
                         "the most likely other class")
    return t


def _references(cae: CAE, classifier: Classifier, x: torch.Tensor, class_x: torch.Tensor, reference,
                target, source: torch.Tensor, probs_x: torch.Tensor):
    """-> (target (B,), reference codes (B, R, D), bank indices (B, R))."""
    b = len(x)
    if torch.is_tensor(reference):
        ref = reference
        if ref.ndim == 4:
            ref = ref[:, None]
        if ref.ndim != 5 or ref.shape[0] != b or ref.shape[2:] != x.shape[1:]:
            raise ValueError(f"a reference image needs the shape of the images: ({b}, *{tuple(x.shape[1:])}) "
                             f"for one reference per image or ({b}, R, *{tuple(x.shape[1:])}) for R each, got "
                             f"{tuple(reference.shape)}; or pass a rule such as NearestReference(bank)")
        r = ref.shape[1]
        if target is None:   # head for the class the black box gives the (first) reference
            ref_probs = predict_proba(classifier, ref[:, 0])
            same = ref_probs.argmax(1) == source
            if same.any():
                raise ValueError(f"the black box gives reference image {int(same.nonzero()[0])} the same class "
                                 "as its image; pick a reference of another class or pass target=")
            target = ref_probs.argmax(1)
        target = _as_target(target, source, probs_x)
        codes, _ = encode_all(cae, ref.reshape(-1, *ref.shape[2:]))
        return target, codes.reshape(b, r, -1), torch.full((b, r), -1, dtype=torch.long)
    if not callable(reference) or not hasattr(reference, "bank"):
        raise ValueError(f"reference must be a rule (NearestReference(bank), MedoidReference(bank)) or "
                         f"reference images, got {type(reference).__name__}")
    target = _as_target(target, source, probs_x)
    index = reference(class_x, target)                                              # (B, R)
    return target, reference.bank.codes[index].to(class_x.device), index


@torch.no_grad()
def _walk(cae: CAE, classifier: Classifier, indiv: torch.Tensor, codes: torch.Tensor, target: torch.Tensor,
          stop_at_flip: bool):
    """Decode and classify every step (or, with ``stop_at_flip``, steps in chunks until each path flips).
    -> frames (M, S, C, H, W), probs (M, S, K), flip_index (M,)."""
    m, s, d = codes.shape
    frames = probs = None
    flip = torch.full((m,), -1, dtype=torch.long)
    active = torch.arange(m)
    chunk = STEP_CHUNK if stop_at_flip and m * s > DECODE_BATCH else s   # a few frames: one go is cheaper
    for s0 in range(0, s, chunk):
        if len(active) == 0:
            break
        s1 = min(s, s0 + chunk)
        f = decode_all(cae, indiv[active].repeat_interleave(s1 - s0, 0), codes[active, s0:s1].reshape(-1, d),
                       batch_size=DECODE_BATCH)
        p = predict_proba(classifier, f)
        if frames is None:
            frames = torch.zeros(m, s, *f.shape[1:], dtype=f.dtype, device=f.device)
            probs = torch.zeros(m, s, p.shape[1])
        frames[active, s0:s1] = f.reshape(len(active), s1 - s0, *f.shape[1:])
        p = p.reshape(len(active), s1 - s0, -1)
        probs[active, s0:s1] = p
        hit = p.argmax(2) == target[active, None]                                   # (A, s1 - s0)
        new = hit.any(1) & (flip[active] < 0)
        flip[active[new]] = s0 + hit[new].float().argmax(1)
        if stop_at_flip:
            active = active[flip[active] < 0]
    return frames, probs, flip


def counterfactual_path(cae: CAE, classifier: Classifier, x: torch.Tensor, target=None, *, reference,
                        route: Route | None = None, steps: int = 11, stop_at_flip: bool = True) -> CounterfactualPath:
    """Counterfactual paths of a batch of images ``x`` (B, C, H, W) in [-1, 1], all at once.

    ``target``: the class to head for (an int, or (B,) ints); None = the class the black box finds most
    likely after its decision. ``reference``: a rule (``NearestReference(bank)``, ``MedoidReference(bank)``,
    ``NearestReference(bank, n=3)`` for three references per image) or reference images of your own,
    (B, C, H, W) or (B, R, C, H, W) (then ``target=None`` heads for the class the black box gives the
    reference). ``route``: ``StraightRoute()`` (default) or ``GraphRoute(bank)``. ``steps`` >= 2 points
    per path, ends included. ``stop_at_flip``: stop decoding a path at its flip (faster; later steps
    repeat the flip). Returns a ``CounterfactualPath`` of B x R paths.

    Raises ``ValueError`` for a target equal to the black box's decision, a target outside 0..K-1, or a
    reference of the wrong shape. After Xie et al., ICDE 2024; taught in notebook 05."""
    if not torch.is_tensor(x) or x.ndim != 4:
        got = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
        raise ValueError(f"expected a batch of images (B, C, H, W), got {got}; use x.unsqueeze(0) for one image")
    check_images(x, nonempty=True)
    if hasattr(cae, "check"):
        cae.check(x)
    if steps < 2:
        raise ValueError(f"a path needs steps >= 2 (both ends), got {steps}")
    route = StraightRoute() if route is None else route
    probs_x = predict_proba(classifier, x)                                          # (B, K)
    source = probs_x.argmax(1)
    class_x, indiv_x = encode_all(cae, x)                                           # (B, D), (B, Ci, h, w)
    target, ref_codes, ref_index = _references(cae, classifier, x, class_x, reference, target, source, probs_x)
    b, r, d = ref_codes.shape
    rep = torch.arange(b).repeat_interleave(r)                                      # (M,) image of each path
    start, end = class_x[rep], ref_codes.reshape(b * r, d)
    codes = route(start, end, steps)                                                # (M, S, D)
    frames, probs, flip = _walk(cae, classifier, indiv_x[rep], codes, target[rep], stop_at_flip)
    if stop_at_flip:    # a path that stops stays at its flip
        last = torch.where(flip >= 0, flip, torch.full_like(flip, steps - 1))
        sel = torch.minimum(torch.arange(steps)[None, :], last[:, None])            # (M, S)
        rows = torch.arange(len(rep))[:, None]
        codes, frames, probs = codes[rows, sel], frames[rows, sel], probs[rows, sel]
    return CounterfactualPath(x=x[rep], source=source[rep], target=target[rep], codes=codes, frames=frames,
                              probs=probs, flip_index=flip, reference_code=end, reference_index=ref_index.flatten(),
                              image_index=rep, stop_at_flip=stop_at_flip)


# ---- measuring a route ---------------------------------------------------------------------------------

@torch.no_grad()
def path_metrics(path: CounterfactualPath, bank: CodeBank, disc=None) -> dict[str, torch.Tensor]:
    """Per-path measures (M,) of a batch of paths (best computed with ``stop_at_flip=False``):

    - ``off_manifold`` (lower is better): mean distance of the path's codes to the nearest real class code
      of ``bank``, divided by the bank's own spacing (median nearest-neighbour distance; about 1 = as
      close as real codes are to each other);
    - ``realism`` (higher is better): the discriminator's mean real/fake logit over the frames (with
      ``disc``; compare with its score on real images);
    - ``flipped`` (1/0) and ``flip_step`` (the flip's step / (S - 1), NaN without a flip; lower = a
      smaller change suffices);
    - ``roughness`` (lower is better): mean |second difference| of the target probability along the path;
    - ``max_jump`` (lower = smoother): the largest change of the target probability between two steps;
    - ``length``: the route's length in class-code space."""
    m, s, d = path.codes.shape
    dist = bank.distance_to_nearest(path.codes.reshape(-1, d)).reshape(m, s)
    p = path.target_probs
    out = {
        "off_manifold": dist.mean(1) / max(bank.spacing(), 1e-12),
        "flipped": path.flipped.float(),
        "flip_step": torch.where(path.flipped, path.flip_index.float() / (s - 1), torch.tensor(float("nan"))),
        "roughness": p.diff(n=2, dim=1).abs().mean(1) if s > 2 else torch.zeros(m),
        "max_jump": p.diff(dim=1).abs().max(1).values,
        "length": path.codes.diff(dim=1).norm(dim=2).sum(1).cpu(),
    }
    if disc is not None:
        disc.eval()
        logits = torch.cat([disc(f)[0] for f in path.frames.reshape(-1, *path.frames.shape[2:]).split(512)])
        out["realism"] = logits.reshape(m, s).mean(1).cpu()
    return out


def summarise(metrics: dict[str, torch.Tensor]) -> dict[str, float]:
    """Means over paths of ``path_metrics`` (NaN-aware: ``flip_step`` over flipped paths only);
    ``flipped`` becomes the flip rate."""
    return {("flip_rate" if k == "flipped" else k): float(torch.nanmean(v.float())) for k, v in metrics.items()}


def compare_routes(cae: CAE, classifier: Classifier, x: torch.Tensor, routes: dict[str, Route], *, reference,
                   bank: CodeBank, disc=None, target=None, steps: int = 11) -> dict[str, dict[str, float]]:
    """Run every route of ``routes`` (name -> route) on the same images and references with
    ``stop_at_flip=False`` and summarise ``path_metrics``: {route name: {measure: mean}}, plus, with
    ``disc``, the discriminator's realism score of ``x`` itself (``"real images"``) and of its
    reconstructions (``"reconstructions"``: decoded, but with the image's own class code)."""
    table = {}
    for name, route in routes.items():
        path = counterfactual_path(cae, classifier, x, target, reference=reference, route=route, steps=steps,
                                   stop_at_flip=False)
        table[name] = summarise(path_metrics(path, bank, disc))
    if disc is not None:
        with torch.no_grad():
            table["real images"] = {"realism": float(disc.eval()(x)[0].mean())}
            cls, indiv = encode_all(cae, x)
            table["reconstructions"] = {"realism": float(disc(decode_all(cae, indiv, cls))[0].mean())}
    return table


def flip_report(cae: CAE, classifier: Classifier, images: torch.Tensor, *, reference, route: Route | None = None,
                steps: int = 11, batch_size: int = 256) -> dict[str, float | dict]:
    """How often a path reaches a flip (higher is better) and at which step, on many images (the
    default target, the most likely other class). Returns ``flip_rate``, ``mean_flip_step`` (mean flip
    index over flipped paths, 0..S-1), ``at_step_0`` (fraction flipped already at the reconstruction),
    ``changed_rate`` (fraction of paths on which the decision leaves the start class at all, the paper's
    rule; exact on stopped paths, since a path that stops has changed) and ``by_direction``
    {"a->b": (flip rate, count)} over the black box's decision a and the target b."""
    flips, steps_at, src, tgt, changed = [], [], [], [], []
    for xb in images.split(batch_size):
        p = counterfactual_path(cae, classifier, xb, reference=reference, route=route, steps=steps)
        flips.append(p.flipped), steps_at.append(p.flip_index), src.append(p.source), tgt.append(p.target)
        changed.append(p.changed)
    flipped, at, src, tgt = torch.cat(flips), torch.cat(steps_at), torch.cat(src), torch.cat(tgt)
    by = {}
    for a, b in sorted({(int(a), int(b)) for a, b in zip(src, tgt)}):
        sel = (src == a) & (tgt == b)
        by[f"{a}->{b}"] = (float(flipped[sel].float().mean()), int(sel.sum()))
    return {"flip_rate": float(flipped.float().mean()),
            "mean_flip_step": float(at[flipped].float().mean()) if flipped.any() else float("nan"),
            "at_step_0": float((at == 0).float().mean()), "changed_rate": float(torch.cat(changed).float().mean()),
            "n": len(flipped), "by_direction": by}


def by_source_class(report: dict, class_names: Sequence[str] | None = None) -> dict[str, float]:
    """Collapse ``flip_report``'s ``by_direction`` to the flip rate per starting class (the black box's
    decision on the image), weighted by counts."""
    acc: dict[int, list[float]] = {}
    for key, (rate, n) in report["by_direction"].items():
        a = int(key.split("->")[0])
        acc.setdefault(a, [0.0, 0])
        acc[a][0] += rate * n
        acc[a][1] += n
    name = (lambda a: class_names[a]) if class_names is not None else str
    return {name(a): s / n for a, (s, n) in sorted(acc.items())}
