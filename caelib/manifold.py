"""The class-code manifold: where the class codes of real images lie, and what the black box says there.

Class codes of test images are embedded in 2-D (PCA, which can be inverted, so that any point of the
plane decodes to an image; t-SNE and, optionally, UMAP for a picture of the neighbourhoods). A
*decision map* decodes a grid of points of the PCA plane with one fixed individual code and colours each
cell by the black box's decision. Measures of the space (k-NN accuracy, silhouette, linear probes)
compare the class codes with the individual codes. Taught in ``notebooks/04_manifold.ipynb``.

After Xie et al., "Class Association Embedding", ICDE 2024 (t-SNE of class codes, the smoothness of
the class-code space). Embeddings and measures use scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .cae import CAE
from .classifier import predict_proba
from .conventions import Classifier, evaluating
from .erasure import raw_indiv_codes
from .swap import decode_all


def _numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x)


def _flat(codes) -> np.ndarray:
    """(N, ...) codes -> (N, F) float64 numpy (individual codes are spatial maps)."""
    a = _numpy(codes)
    return a.reshape(len(a), -1).astype(np.float64)


# ---- 2-D embeddings -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Plane:
    """The 2-D PCA plane of a set of class codes: ``project`` maps codes (N, D) to points (N, 2), and
    ``lift`` maps points (N, 2) back to codes (N, D) on the plane (inverse PCA). ``explained`` is the
    fraction of the codes' variance along each of the two axes."""

    mean: torch.Tensor          # (D,) mean class code
    components: torch.Tensor    # (2, D) orthonormal directions of largest variance
    explained: tuple[float, float]

    def project(self, codes: torch.Tensor) -> torch.Tensor:
        """(N, D) class codes -> (N, 2) coordinates on the plane."""
        if codes.ndim != 2 or codes.shape[1] != self.mean.shape[0]:
            raise ValueError(f"expected class codes of shape (N, {self.mean.shape[0]}), got {tuple(codes.shape)}")
        return (codes.float() - self.mean) @ self.components.T  # (N, 2)

    def lift(self, points: torch.Tensor) -> torch.Tensor:
        """(N, 2) points of the plane -> (N, D) class codes (the inverse PCA)."""
        points = torch.as_tensor(points, dtype=torch.float32)
        if points.ndim != 2 or points.shape[1] != 2:
            raise ValueError(f"expected points of shape (N, 2), got {tuple(points.shape)}")
        return self.mean + points @ self.components  # (N, D)


def fit_plane(class_codes: torch.Tensor) -> Plane:
    """Fit the PCA plane (scikit-learn's ``PCA(2)``) of class codes (N, D), N >= 2. Notebook 04."""
    from sklearn.decomposition import PCA

    if class_codes.ndim != 2 or len(class_codes) < 3:
        raise ValueError(f"expected at least 3 class codes of shape (N, D), got {tuple(class_codes.shape)}")
    pca = PCA(2).fit(_numpy(class_codes).astype(np.float64))
    return Plane(mean=torch.as_tensor(pca.mean_, dtype=torch.float32),
                 components=torch.as_tensor(pca.components_, dtype=torch.float32),
                 explained=tuple(float(v) for v in pca.explained_variance_ratio_))


def tsne_2d(codes: torch.Tensor, *, perplexity: float = 30.0, seed: int = 0) -> np.ndarray:
    """t-SNE (scikit-learn) of codes (N, ...) -> (N, 2) numpy. Distances between clusters mean little;
    only the neighbourhoods do, and there is no way back from the 2-D points to codes (use ``Plane``)."""
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    x = _flat(codes)
    tsne = TSNE(2, perplexity=min(perplexity, (len(x) - 1) / 3), init="pca", random_state=seed)
    with threadpool_limits(1):  # one thread: faster on a busy 2-core CPU (benchmarks/results/measured_choices.md)
        return tsne.fit_transform(x)


def umap_2d(codes: torch.Tensor, *, n_neighbors: int = 15, seed: int = 0) -> np.ndarray:
    """UMAP of codes (N, ...) -> (N, 2) numpy; needs the optional ``umap-learn`` package."""
    try:
        import umap
    except ImportError as err:
        raise ImportError("umap_2d needs the optional package umap-learn: pip install umap-learn "
                          "(its first call compiles for about 10 s)") from err
    return umap.UMAP(n_neighbors=n_neighbors, random_state=seed).fit_transform(_flat(codes))


# ---- decoding the plane: the decision map ------------------------------------------------------------

def grid_axes(points: torch.Tensor, n: int = 25, margin: float = 0.15) -> tuple[torch.Tensor, torch.Tensor]:
    """Two axes (n,) and (n,) spanning the range of ``points`` (N, 2), widened by ``margin`` of the range on
    each side: the cells of a decision map."""
    lo, hi = points.min(0).values, points.max(0).values
    pad = (hi - lo) * margin
    lo, hi = lo - pad, hi + pad
    return torch.linspace(float(lo[0]), float(hi[0]), n), torch.linspace(float(lo[1]), float(hi[1]), n)


def _one_indiv(indiv_code: torch.Tensor) -> torch.Tensor:
    if indiv_code.ndim == 3:
        indiv_code = indiv_code.unsqueeze(0)
    if indiv_code.ndim != 4 or len(indiv_code) != 1:
        raise ValueError(f"expected one individual code (1, Ci, h, w) or (Ci, h, w), got {tuple(indiv_code.shape)}")
    return indiv_code


@torch.no_grad()
def decode_points(cae: CAE, classifier: Classifier, indiv_code: torch.Tensor, plane: Plane,
                  points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode the points (P, 2) of ``plane`` with one fixed individual code (1, Ci, h, w): returns the
    images (P, C, H, W) in [-1, 1] and the black box's probabilities (P, K) (rows sum to 1)."""
    indiv = _one_indiv(indiv_code)
    codes = plane.lift(points)                                             # (P, D)
    images = decode_all(cae, indiv.expand(len(codes), *indiv.shape[1:]), codes)
    return images, predict_proba(classifier, images)


@dataclass
class DecisionMap:
    """The black box's decision over a grid of the class-code plane, for one individual code.

    ``xs`` (nx,), ``ys`` (ny,): the axes; ``probs`` (ny, nx, K): probabilities at each cell (row j = ys[j]);
    ``images`` (ny, nx, C, H, W) in [-1, 1]: the decoded images."""

    xs: torch.Tensor
    ys: torch.Tensor
    probs: torch.Tensor
    images: torch.Tensor

    @property
    def decision(self) -> torch.Tensor:
        """(ny, nx) the black box's class at each cell."""
        return self.probs.argmax(-1)

    @property
    def confidence(self) -> torch.Tensor:
        """(ny, nx) the probability of the decided class (low near a boundary)."""
        return self.probs.max(-1).values


def decision_map(cae: CAE, classifier: Classifier, indiv_code: torch.Tensor, plane: Plane,
                 xs: torch.Tensor, ys: torch.Tensor) -> DecisionMap:
    """Decode every point of the grid ``xs`` x ``ys`` of the PCA plane with the fixed individual code
    (1, Ci, h, w) and ask the black box: the class regions and their boundaries on the manifold, as seen
    from one image. One batched decode of nx * ny images. Notebook 04."""
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")                          # (ny, nx) each
    points = torch.stack([gx.flatten(), gy.flatten()], dim=1)               # (ny * nx, 2)
    images, probs = decode_points(cae, classifier, indiv_code, plane, points)
    ny, nx = len(ys), len(xs)
    return DecisionMap(xs=xs, ys=ys, probs=probs.reshape(ny, nx, -1), images=images.reshape(ny, nx, *images.shape[1:]))


def grid_smoothness(images: torch.Tensor) -> dict:
    """How smoothly decoded images change between neighbouring grid cells; ``images`` (ny, nx, C, H, W).

    Returns ``mean_step`` (mean |difference| of horizontally and vertically adjacent images, [-1, 1]
    scale; lower is smoother), ``max_step`` (the largest such step) and ``jump_ratio`` = max / median step
    (lower is smoother: near 1 means every step is alike, a large value means the image jumps somewhere,
    typically at a class boundary)."""
    if images.ndim != 5:
        raise ValueError(f"expected a grid of images (ny, nx, C, H, W), got {tuple(images.shape)}")
    steps = torch.cat([(images[:, 1:] - images[:, :-1]).abs().mean(dim=(2, 3, 4)).flatten(),
                       (images[1:] - images[:-1]).abs().mean(dim=(2, 3, 4)).flatten()])
    return {"mean_step": float(steps.mean()), "max_step": float(steps.max()),
            "jump_ratio": float(steps.max() / steps.median().clamp_min(1e-8))}


# ---- measures of the code spaces ---------------------------------------------------------------------

def knn_accuracy(train_codes: torch.Tensor, train_labels: torch.Tensor, test_codes: torch.Tensor,
                 test_labels: torch.Tensor, k: int = 5) -> float:
    """Accuracy of a k-nearest-neighbour classifier (Euclidean) on codes (N, ...) (higher is better: the
    codes of one class lie together)."""
    from sklearn.neighbors import KNeighborsClassifier

    knn = KNeighborsClassifier(k).fit(_flat(train_codes), _numpy(train_labels))
    return float(knn.score(_flat(test_codes), _numpy(test_labels)))


def silhouette(codes: torch.Tensor, labels: torch.Tensor) -> float:
    """Silhouette score of codes (N, ...) grouped by ``labels`` (N,), in [-1, 1] (higher is better: the
    classes form compact, separate clusters; near 0: they overlap)."""
    from sklearn.metrics import silhouette_score

    return float(silhouette_score(_flat(codes), _numpy(labels)))


def linear_probe(alphas: tuple[float, ...] = (0.1, 1.0, 10.0, 100.0, 1e3, 1e4)):
    """The default linear probe: standardised features and a ridge classifier whose regularisation is
    picked among ``alphas`` by leave-one-out on the training codes (closed form: a few seconds on
    thousands of 2048-number individual codes, where a logistic regression takes half a minute)."""
    from sklearn.linear_model import RidgeClassifierCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), RidgeClassifierCV(alphas=alphas))


def linear_probe_accuracy(train_codes: torch.Tensor, train_labels: torch.Tensor, test_codes: torch.Tensor,
                          test_labels: torch.Tensor, *, probe=None) -> float:
    """Held-out accuracy of a linear probe that reads the class from codes (N, ...). On class codes higher
    is better; on individual codes *lower* is better: near chance means the class lives in the class code
    only. ``probe``: any scikit-learn classifier (default ``linear_probe()``; e.g.
    ``make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))`` for a logistic probe)."""
    from sklearn.base import clone

    probe = linear_probe() if probe is None else clone(probe)
    probe.fit(_flat(train_codes), _numpy(train_labels))
    return float(probe.score(_flat(test_codes), _numpy(test_labels)))


@torch.no_grad()
def _codes_and_raw(cae: CAE, images: torch.Tensor, batch_size: int = 512):
    """(class codes, individual codes, individual codes before the class eraser), flattened, running each encoder
    once (the last two are the same while the eraser is unfitted)."""
    cae.check(images)
    with evaluating(cae):
        cls = torch.cat([cae.class_encoder(x) for x in images.split(batch_size)])
        raw = raw_indiv_codes(cae, images, batch_size)
        return cls, cae.indiv_eraser(raw), raw


def code_space_report(cae: CAE, train_images: torch.Tensor, train_labels: torch.Tensor,
                      test_images: torch.Tensor, test_labels: torch.Tensor, *, k: int = 5,
                      progress: bool = False) -> dict:
    """Compare the class codes with the individual codes on held-out images: for each, the k-NN accuracy,
    the silhouette score and a linear probe's accuracy (``linear_probe``), with the raw pixels as a
    reference, plus ``chance`` (the share of the commonest test class). The class code should score high
    on all three; the individual code, ideally, near chance. Pass random subsets (some datasets are
    sorted by class). Returns ``{"class code": {...}, "individual code": {...}, "pixels": {...},
    "chance": float}``, each inner dict with keys ``knn``, ``silhouette``, ``probe``; with a fitted class
    eraser (``caelib.erasure``) also ``"individual code before erasure"``. ``progress``: a tqdm bar over the
    code spaces (seconds each on a laptop CPU). Notebook 04."""
    (cls_tr, ind_tr, raw_tr), (cls_te, ind_te, raw_te) = _codes_and_raw(cae, train_images), _codes_and_raw(
        cae, test_images)
    spaces = [("class code", cls_tr, cls_te), ("individual code", ind_tr, ind_te)]
    if cae.indiv_eraser.fitted:
        spaces.append(("individual code before erasure", raw_tr, raw_te))
    report = {}
    spaces = spaces + [("pixels", train_images, test_images)]
    if progress:
        from tqdm.auto import tqdm

        spaces = tqdm(spaces, desc="code spaces")
    for name, tr, te in spaces:
        report[name] = {"knn": knn_accuracy(tr, train_labels, te, test_labels, k),
                        "silhouette": silhouette(te, test_labels),
                        "probe": linear_probe_accuracy(tr, train_labels, te, test_labels)}
    report["chance"] = float(torch.bincount(test_labels).max() / len(test_labels))
    return report
