"""Why was it misclassified? Several counterfactuals towards the true class, with their transitions.

After Suzuki, Kameya, Kutsuna and Mitsumoto ("Understanding the reason for misclassification by
generating counterfactual images", MVA 2021): for an image the black box gets wrong, generate *several*
counterfactual images of the true class, each with an attribution map, and the transitional images on
the way, to show what would have had to change for the right decision. They used a GAN; with CAE
(Xie et al., ICDE 2024) the counterfactuals come from several references of the true class and the
transitions are the frames of each counterfactual path (``caelib.paths``).

- ``misclassified``: the images the black box gets wrong;
- ``DiverseReference``: several references per image, the nearest ones and deliberately spread ones
  (farthest-point sampling over the true class's region of the class-code manifold);
- ``explain_misclassified``: all paths at once -> ``MisclassExplanation``, with each counterfactual's
  CAE map and one Captum map (``caelib.saliency``) computed on the counterfactual, what every
  counterfactual changes (``common``) and what varies between them (``varying``), how far apart the
  counterfactuals are (``distances``, ``diversity``) and how many are distinct (``distinct``);
- ``lands_on_mask`` / ``summary``: does the change land on the ground-truth evidence (a lesion the
  black box missed)? ``lesion_contrast`` measures how faint a lesion is.

Taught in ``notebooks/09_misclassifications.ipynb``; measured in ``benchmarks/misclass.py``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch

from .cae import CAE
from .classifier import predict_proba
from .conventions import Classifier, dilate
from .evaluate import pointing_game
from .paths import CodeBank, CounterfactualPath, Route, check_classes, counterfactual_path
from .references import MedoidReference, _BankRule
from .saliency import explain
from .saliency_path import Variant, path_saliency, scale_to_max

DEFAULT_TOL = 0.5   # two counterfactuals are distinct when their changes differ by >= half their size
# The CAE map of a counterfactual is |x_cf - x| (Xie et al.'s map), smoothed by 2 px. Not |x_cf - x_rec|: many
# misclassified images flip already at the reconstruction (step 0), where x_cf - x_rec is 0 and only
# x_cf - x shows what changed (the measurements: benchmarks/results/measured_choices.md).
MAP_SMOOTH = 2.0


def misclassified(classifier: Classifier, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Indices (E,) int64 of the images (N, C, H, W) in [-1, 1] whose black-box decision differs from
    their label (N,)."""
    labels = torch.as_tensor(labels, dtype=torch.long).cpu()
    if len(labels) != len(images):
        raise ValueError(f"need one label per image, got {len(labels)} labels for {len(images)} images")
    return (predict_proba(classifier, images).argmax(1) != labels).nonzero().flatten()


# ---- several references: near and spread ---------------------------------------------------------------

class DiverseReference(_BankRule):
    """``nearest + diverse`` references per image, all of the target class: the ``nearest`` bank samples
    nearest to the image's class code (the smallest changes), then ``diverse`` more by farthest-point
    sampling: each the class's sample farthest (in class-code space) from every reference picked so far,
    so that they spread over the class's region of the manifold. Outliers are left out: only samples
    whose distance to the class's medoid is within the ``spread`` quantile of the class are candidates
    for the diverse ones. Deterministic. Has the shape of the rules of ``caelib.references``:
    ``DiverseReference(nearest=2, diverse=3).fit(bank)`` or, at once, ``DiverseReference(bank, nearest=2,
    diverse=3)``; used before ``fit`` it raises ``references.NotFittedError``."""

    def __init__(self, bank: CodeBank | None = None, nearest: int = 2, diverse: int = 3, spread: float = 0.9):
        if nearest < 1 or diverse < 0:
            raise ValueError(f"need nearest >= 1 and diverse >= 0 references, got nearest={nearest}, "
                             f"diverse={diverse}")
        if not 0.0 < spread <= 1.0:
            raise ValueError(f"spread is a quantile in (0, 1], got {spread}")
        self.nearest, self.diverse, self.spread = nearest, diverse, spread
        self.typical: torch.Tensor | None = None     # (N,) bool, after fit: the candidates for the diverse picks
        if bank is not None:
            self.fit(bank)

    def fit(self, bank: CodeBank) -> "DiverseReference":
        """Keep ``bank`` and mark each class's typical samples (distance to the class's medoid within the ``spread``
        quantile) as the candidates for the diverse picks; returns the rule."""
        bank = self._checked(bank)
        medoids = MedoidReference(bank).medoids                                         # (K,) bank indices
        typical = torch.zeros(len(bank), dtype=torch.bool)
        for k in bank.labels.unique():
            idx = (bank.labels == k).nonzero().flatten()
            dist = (bank.codes[idx] - bank.codes[medoids[k]]).norm(dim=1)               # (n_k,)
            typical[idx[dist <= dist.quantile(self.spread)]] = True
        self._bank, self.typical = bank, typical
        return self

    @property
    def n(self) -> int:
        """References per image."""
        return self.nearest + self.diverse

    def __call__(self, codes: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        bank = self.bank
        check_classes(bank, target)
        codes, target = codes.float().cpu(), target.cpu()
        out = torch.empty(len(codes), self.n, dtype=torch.long)
        for b in range(len(codes)):
            mine = (bank.labels == target[b]).nonzero().flatten()
            if len(mine) < self.n:
                raise ValueError(f"the bank holds {len(mine)} samples of class {int(target[b])}, fewer than "
                                 f"the {self.n} references asked for; use fewer or a larger bank")
            near = torch.cdist(codes[b:b + 1], bank.codes[mine])[0].topk(self.nearest, largest=False).indices
            picked = mine[near].tolist()
            pool = mine[self.typical[mine]]
            pool_codes = bank.codes[pool]                                               # (P, D)
            dmin = torch.cdist(pool_codes, bank.codes[picked]).amin(1)                  # (P,)
            for _ in range(self.diverse):
                j = int(dmin.argmax())
                picked.append(int(pool[j]))
                dmin = torch.minimum(dmin, (pool_codes - pool_codes[j]).norm(dim=1))
            out[b] = torch.tensor(picked)
        return out                                                                      # (B, R)

    def __repr__(self) -> str:
        return f"DiverseReference(nearest={self.nearest}, diverse={self.diverse}, spread={self.spread})"


# ---- the explanation -------------------------------------------------------------------------------------

def change_distances(changes: torch.Tensor) -> torch.Tensor:
    """Pairwise distance (R, R) between R changes (R, C, H, W) (each a counterfactual minus the image's
    reconstruction): ``|d_i - d_j|_1 / mean(|d_i|_1, |d_j|_1)``, in [0, 2]; 0 = the same change, 2 = two
    changes with nothing in common. Two empty changes are at distance 0. Lower = more alike."""
    flat = changes.flatten(1).float()                                                  # (R, P)
    size = flat.abs().sum(1)                                                           # (R,)
    diff = torch.cdist(flat, flat, p=1)                                                # (R, R)
    return diff / ((size[:, None] + size[None, :]) / 2).clamp_min(1e-6)


def count_distinct(dist: torch.Tensor, order: torch.Tensor | None = None, tol: float = DEFAULT_TOL) -> int:
    """How many of R counterfactuals with pairwise distances ``dist`` (R, R) are distinct: walk them in
    ``order`` (default 0..R-1) and keep each one at distance >= ``tol`` from all kept so far."""
    kept: list[int] = []
    for i in (range(len(dist)) if order is None else order.tolist()):
        if all(float(dist[i, j]) >= tol for j in kept):
            kept.append(int(i))
    return len(kept)


@dataclass
class MisclassExplanation:
    """Several counterfactuals towards the true class for each of E misclassified images.

    ``index`` (E,) the images' indices in the batch given to ``explain_misclassified``; ``label`` (E,)
    their true class; ``predicted`` (E,) the black box's (wrong) decision; ``path`` the E x R
    counterfactual paths (``path.image_index`` in 0..E-1, ``path.target`` = the true class; the frames
    up to each flip are the transitional images); ``cae_maps`` (M, 1, H, W) each counterfactual's CAE map
    (|x_cf - x|, smoothed by ``MAP_SMOOTH`` px, each scaled to [0, 1]); ``method_maps`` (M, 1, H, W) the Captum method
    ``method`` on each counterfactual for the true class (scaled to [0, 1]); ``tol`` the distance from
    which two counterfactuals count as distinct."""

    index: torch.Tensor
    label: torch.Tensor
    predicted: torch.Tensor
    path: CounterfactualPath
    cae_maps: torch.Tensor
    method_maps: torch.Tensor
    method: str
    tol: float = DEFAULT_TOL

    def __len__(self) -> int:
        return len(self.index)

    @property
    def references(self) -> int:
        """R, counterfactual paths per image."""
        return len(self.path) // max(len(self), 1)

    def paths_of(self, e: int) -> torch.Tensor:
        """Indices (R,) into ``path`` of image ``e``'s paths."""
        return (self.path.image_index == e).nonzero().flatten()

    def found_paths(self, e: int) -> torch.Tensor:
        """Indices into ``path`` of image ``e``'s paths that reach the true class, smallest flip step first."""
        idx = self.paths_of(e)
        idx = idx[self.path.flipped[idx]]
        return idx[self.path.flip_index[idx].argsort(stable=True)]

    @property
    def n_found(self) -> torch.Tensor:
        """(E,) how many of each image's paths reach the true class."""
        return torch.zeros(len(self), dtype=torch.long).index_add_(0, self.path.image_index,
                                                                   self.path.flipped.long())

    @property
    def found(self) -> torch.Tensor:
        """(E,) bool: at least one counterfactual towards the true class (higher rate is better)."""
        return self.n_found > 0

    @property
    def at_step_0(self) -> torch.Tensor:
        """(E,) bool: the black box already gives the reconstruction the true class (the CAE's own error
        'corrects' the mistake; such counterfactuals explain the CAE more than the black box)."""
        first = self.path.flip_index == 0
        return torch.zeros(len(self), dtype=torch.long).index_add_(0, self.path.image_index, first.long()) > 0

    @property
    def changes(self) -> torch.Tensor:
        """(M, C, H, W) each counterfactual minus its image's reconstruction (signed)."""
        return self.path.counterfactual - self.path.reconstruction

    def distances(self, e: int) -> torch.Tensor:
        """(F, F) ``change_distances`` between image ``e``'s counterfactuals that reach the true class,
        in the order of ``found_paths(e)``."""
        return change_distances(self.changes[self.found_paths(e)])

    @property
    def distinct(self) -> torch.Tensor:
        """(E,) number of distinct counterfactuals (``count_distinct`` at ``tol``, smallest change first);
        0 where none reaches the true class."""
        return torch.tensor([count_distinct(self.distances(e), tol=self.tol) for e in range(len(self))],
                            dtype=torch.long)

    @property
    def diversity(self) -> torch.Tensor:
        """(E,) mean pairwise ``change_distances`` between an image's counterfactuals (higher = more
        diverse); NaN where fewer than two reach the true class."""
        out = torch.full((len(self),), float("nan"))
        for e in range(len(self)):
            d = self.distances(e)
            if len(d) >= 2:
                out[e] = d[~torch.eye(len(d), dtype=torch.bool)].mean()
        return out

    def common(self, e: int) -> torch.Tensor:
        """(1, H, W) what *every* counterfactual of image ``e`` changes: the pixel-wise minimum of their
        CAE maps (zeros where none reaches the true class)."""
        idx = self.found_paths(e)
        if len(idx) == 0:
            return torch.zeros_like(self.cae_maps[0])
        return self.cae_maps[idx].amin(0)

    def varying(self, e: int) -> torch.Tensor:
        """(1, H, W) what *some but not all* counterfactuals of image ``e`` change: maximum minus minimum
        of their CAE maps (zeros with fewer than two)."""
        idx = self.found_paths(e)
        if len(idx) == 0:
            return torch.zeros_like(self.cae_maps[0])
        m = self.cae_maps[idx]
        return m.amax(0) - m.amin(0)

    def transitions(self, m: int, n_frames: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
        """Path ``m``'s transitional images: ``n_frames`` evenly spaced frames from the reconstruction
        to the counterfactual (fewer when the flip comes early) -> (frames (T, C, H, W), steps (T,))."""
        end = int(self.path.end_index[m])
        steps = torch.linspace(0, end, n_frames).round().long().unique()
        return self.path.frames[m, steps], steps


def explain_misclassified(cae: CAE, classifier: Classifier, images: torch.Tensor, labels: torch.Tensor, *,
                          reference, route: Route | None = None, steps: int = 11,
                          method: str = "integrated-gradients", tol: float = DEFAULT_TOL,
                          progress: bool = False) -> MisclassExplanation:
    """Explain every image of ``images`` (N, C, H, W) in [-1, 1] that the black box gets wrong against
    ``labels`` (N,): counterfactual paths towards the true class from each reference of ``reference``
    (a rule, e.g. ``DiverseReference(bank)`` or ``paths.NearestReference(bank, n=5)``), with the CAE map
    and the Captum ``method`` (a name of ``saliency.METHODS``, computed on the counterfactual for the
    true class) of each. ``route`` / ``steps`` as in ``paths.counterfactual_path`` (paths stop at their
    flip). ``progress`` shows a bar over the three stages (find the mistakes, the paths, the maps). Raises
    ValueError when the black box gets every image right. Notebook 09."""
    from tqdm.auto import tqdm

    bar = tqdm(total=3, desc="explain the mistakes: find them", disable=not progress, leave=False)
    index = misclassified(classifier, images, labels)
    if len(index) == 0:
        bar.close()
        raise ValueError(f"the black box classifies all {len(images)} images correctly: nothing to explain; "
                         "pass more images or a weaker black box")
    x, label = images[index], torch.as_tensor(labels, dtype=torch.long).cpu()[index]
    predicted = predict_proba(classifier, x).argmax(1)
    bar.set_description(f"explain the mistakes: paths of {len(index)} images"), bar.update()
    path = counterfactual_path(cae, classifier, x, label, reference=reference, route=route, steps=steps)
    bar.set_description(f"explain the mistakes: {method} maps"), bar.update()
    cae_maps = scale_to_max(path_saliency(path, Variant.DIFFERENCE, smooth=MAP_SMOOTH, normalise=False)
                            .sum(1, keepdim=True))                                           # (M, 1, H, W)
    with warnings.catch_warnings():   # Captum's notes on batch sizes and on setting requires_grad: harmless here
        warnings.filterwarnings("ignore", message="Internal batch size")
        warnings.filterwarnings("ignore", message="Input Tensor 0 did not already require gradients")
        method_maps = scale_to_max(explain(method, classifier, path.counterfactual, target=path.target))
    bar.update(), bar.close()
    return MisclassExplanation(index=index, label=label, predicted=predicted, path=path, cae_maps=cae_maps,
                               method_maps=method_maps, method=method, tol=tol)


# ---- does the change land on the evidence? ----------------------------------------------------------------

def lands_on_mask(expl: MisclassExplanation, masks: torch.Tensor) -> dict[str, torch.Tensor]:
    """Pointing game (higher is better) of each counterfactual against the evidence ``masks`` (N, 1, H, W)
    of the images given to ``explain_misclassified`` (e.g. the lesion the black box missed). Only images
    with evidence (a non-empty mask) and counterfactuals that reach the true class count.

    Returns per counterfactual (F,): ``cae`` (its CAE map's maximum inside the mask), ``method`` (the
    Captum map on the counterfactual), and per image (G,): ``common`` (the ``common`` map), ``any`` (at
    least one counterfactual's CAE map), ``chance`` (the mask's area fraction: a random map's rate),
    ``image`` (which image, 0..E-1)."""
    m = masks[expl.index].float()                                                        # (E, 1, H, W)
    has = m.flatten(1).sum(1) > 0
    paths = expl.path.flipped & has[expl.path.image_index]
    own = m[expl.path.image_index[paths]]
    cae, method = pointing_game(expl.cae_maps[paths], own), pointing_game(expl.method_maps[paths], own)
    images = [e for e in range(len(expl)) if has[e] and expl.found[e]]
    per_image_any = torch.zeros(len(expl)).index_add_(0, expl.path.image_index[paths], cae)
    common = torch.stack([expl.common(e) for e in images]) if images else torch.zeros(0, *m.shape[1:])
    sel = torch.tensor(images, dtype=torch.long)
    return {"cae": cae, "method": method, "common": pointing_game(common, m[sel]) if images else torch.zeros(0),
            "any": (per_image_any[sel] > 0).float(), "chance": m[sel].flatten(1).mean(1), "image": sel}


def summary(expl: MisclassExplanation, masks: torch.Tensor | None = None) -> dict[str, float]:
    """The numbers of notebook 09 and ``benchmarks/misclass.py``: ``n`` misclassified images,
    ``found_rate`` (fraction with a counterfactual towards the true class; higher is better),
    ``at_step_0`` (fraction whose reconstruction the black box already gets right), ``mean_found``
    (counterfactual paths that reach the true class, per image), ``mean_distinct`` (distinct
    counterfactuals per image, over all E; ``mean_distinct_found`` over the images with one),
    ``diversity`` (mean pairwise distance, images with >= 2). With ``masks``: ``n_evidence`` (images with a
    non-empty mask and a counterfactual), ``lands_cae`` / ``lands_method`` (per counterfactual),
    ``lands_common`` / ``lands_any`` (per image), ``chance`` (mean mask area fraction)."""
    distinct, found = expl.distinct.float(), expl.found
    out = {"n": len(expl), "references": expl.references, "found_rate": float(found.float().mean()),
           "at_step_0": float(expl.at_step_0.float().mean()), "mean_found": float(expl.n_found.float().mean()),
           "mean_distinct": float(distinct.mean()),
           "mean_distinct_found": float(distinct[found].mean()) if found.any() else float("nan"),
           "diversity": float(torch.nanmean(expl.diversity))}
    if masks is not None:
        hit = lands_on_mask(expl, masks)
        nan = float("nan")
        out.update({"n_evidence": len(hit["image"]),
                    **{f"lands_{k}": float(hit[k].mean()) if len(hit[k]) else nan
                       for k in ("cae", "method", "common", "any")},
                    "chance": float(hit["chance"].mean()) if len(hit["chance"]) else nan})
    return out


def lesion_contrast(images: torch.Tensor, masks: torch.Tensor, ring: int = 2) -> torch.Tensor:
    """How much a lesion stands out (higher = more visible): the mean intensity inside its mask minus the
    mean in a ring ``ring`` pixels wide around it. Images (N, C, H, W), masks (N, 1, H, W) -> (N,), NaN
    for an empty mask."""
    m = masks.float().clamp(0, 1)
    around = dilate(m, ring) - m                                                       # (N, 1, H, W)
    x = images.mean(1, keepdim=True)
    inside = (x * m).flatten(1).sum(1) / m.flatten(1).sum(1)
    outside = (x * around).flatten(1).sum(1) / around.flatten(1).sum(1).clamp_min(1)
    return inside - outside


# what each number of ``summary`` means, in the words of notebook 09's tables
SUMMARY_NAMES = {
    "n": "misclassified images",
    "references": "references (counterfactuals) per image",
    "found_rate": "share of images with a counterfactual of the true class",
    "at_step_0": "share already right on the CAE's reconstruction (step 0)",
    "mean_found": "counterfactuals per image that reach the true class",
    "mean_distinct": "distinct counterfactuals per image",
    "mean_distinct_found": "distinct counterfactuals per image (images with one)",
    "diversity": "mean distance between an image's counterfactuals (0 same, 2 disjoint)",
    "n_evidence": "images with evidence (a mask) and a counterfactual",
    "lands_cae": "CAE map's peak inside the evidence (per counterfactual)",
    "lands_method": "Captum map's peak inside the evidence (per counterfactual)",
    "lands_common": "common map's peak inside the evidence (per image)",
    "lands_any": "some counterfactual's CAE map peaks inside the evidence (per image)",
    "chance": "chance of a peak inside the evidence (its area)",
}


def summary_table(summaries: dict[str, dict], *, caption: str | None = None, precision: int = 3):
    """``{run name: summary(...)}`` as one table (a pandas Styler): a row per number of ``summary``, named in
    words (``SUMMARY_NAMES``, the key in brackets), a column per run."""
    from .claims import table

    keys = list(dict.fromkeys(k for s in summaries.values() for k in s))
    rows = {f"{SUMMARY_NAMES.get(k, k)} ({k})": {run: s.get(k) for run, s in summaries.items()} for k in keys}
    return table(rows, index="summary", caption=caption, precision=precision)
