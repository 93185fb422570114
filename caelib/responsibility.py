"""Several explanations of one decision, from causal responsibility (notebook 08).

An *explanation* of a black box's decision on an image is a small set of pixels that is sufficient on its
own: with every other pixel replaced, the black box still gives the same top label. An image can hold several
such sets (two lesions, either of which makes the scan "lesion"); a single saliency map blends them into one
picture and hides that each alone would do.

caelib's own implementation of the method of Chockler, Kelly and Kroening ("Multiple different black box
explanations for image classifiers", arXiv 2309.14309; MultiReX / MultEX, whose reference tool is the
``rex-xai`` package), written from the paper's description:

1. :func:`responsibility_map`: random box partitions, refined recursively. A box is cut at random into
   (up to) 4 parts; every subset of the parts is revealed (everything else replaced) and the black box
   judges each of these *mutants*. A part that turns a failing subset into a passing one is a cause; its
   responsibility is ``1 / (size of the smallest such passing subset)`` (1: the part alone suffices).
   Every pixel of a part gains the part's responsibility divided by the part's area (responsibility per
   pixel, so that the small boxes deep in a tree sharpen the map); the ``queue`` most responsible parts are cut
   again, inside the passing subset that made them causes. ``iters`` independent random trees are summed.
   All the mutants of one level of all trees go through the classifier as one batch.
2. :func:`sufficient_explanations`: pixels ranked by responsibility are revealed, most responsible first,
   until the black box gives its label back; those pixels are the explanation. Optional *pruning*
   (caelib's addition, not in the paper): if one connected piece of the explanation suffices alone, only
   that piece is kept (a global ranking can interleave pixels of two separate causes).
   Optional *trimming* (also caelib's): each selected explanation loses, one at a time, its least responsible
   pixel that it can do without, so that no single pixel can be dropped any more (locally minimal).
3. Spotlights: the same search restricted to a disc at a random place; a disc that finds nothing grows and
   moves towards the responsibility inside a twice larger disc (a simple hill climb; the paper leaves the
   move rule open). Each spotlight that succeeds yields a further candidate explanation.
4. :func:`select_distinct`: candidates are kept greedily when their Dice overlap with every explanation kept
   so far is at most ``max_dice``; by default the smallest candidates go first (caelib's choice: a smaller
   sufficient set is closer to minimal; ``smallest_first=False`` starts from the global explanation).

:func:`explain_multiple` runs all four on a batch of images (seeded, with a progress bar);
:func:`lesion_landing` says which lesion each explanation lands on (for data with per-lesion masks, such as
``load_dataset("lesions-two")``). What a hidden pixel becomes is ``replacement`` (default
``conventions.DEFAULT_REPLACEMENT``, the blurred image, the project's convention: on the lesion images
mid-grey would draw a lesion of its own; on mnist use -1, the black background).

Images are (B, C, H, W) in [-1, 1]; masks are (H, W) or (E, H, W) booleans (True = revealed pixel).

This module's one job is the algorithm. Notebook 08's other names are importable from here too
(``rsp.sufficiency``, ``rsp.rex_explain_multiple``, ...): checking given regions and the hand-made black box
``TwoSquares`` (``caelib.sufficiency``), the adapter to the reference tool rex-xai (``caelib.rex_adapter``) and
the figure ``plot_explanations`` (``caelib.viz``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .conventions import DEFAULT_REPLACEMENT, Classifier, device_of, evaluating, resolve_target
from .conventions import replacement as _replacement
from .data import check_images
from .rex_adapter import REX_MISSING, rex_available, rex_explain_multiple
from .sufficiency import TwoSquares, sufficiency
from .viz import plot_explanations

__all__ = ["ResponsibilityConfig", "MultiExplanation", "responsibility_map", "sufficient_explanations",
           "spotlight_explanations", "select_distinct", "trim", "dice", "explain_multiple", "lesion_landing",
           "plot_explanations", "REX_MISSING", "rex_available", "rex_explain_multiple", "sufficiency", "TwoSquares"]


@dataclass(frozen=True)
class ResponsibilityConfig:
    """Settings of :func:`explain_multiple` (defaults: measured on the 32x32 lesion images, notebook 08)."""

    iters: int = 20                # random partition trees summed into the responsibility map
    min_box: int = 2               # a box side shorter than 2 * min_box is not cut further (pixels)
    queue: int = 1                 # most responsible parts of a box refined further (ties broken at random)
    max_depth: int = 8             # levels of refinement at most
    grid: int = 32                 # coarse steps of the reveal-until-it-passes search (then pixel by pixel)
    prune: bool = True             # keep one connected piece of an explanation when it suffices alone
    trim: bool = True              # drop pixels of each kept explanation while it still suffices (greedy)
    spotlights: int = 10           # spotlight searches after the global explanation
    spotlight_radius: float = 4.0  # starting radius of a spotlight (pixels)
    spotlight_steps: int = 4       # tries per spotlight (each failed try grows the radius and moves the disc)
    spotlight_grow: float = 0.5    # relative growth of the radius after a failed try
    max_dice: float = 0.1          # an explanation is kept if its Dice with every kept one is <= max_dice
    smallest_first: bool = True    # select among the candidates smallest first (False: global one first)
    batch_size: int = 512          # mutants per forward pass

    def __post_init__(self) -> None:
        if self.iters < 1 or self.min_box < 1 or self.queue < 1 or self.grid < 1 or self.batch_size < 1:
            raise ValueError(f"iters, min_box, queue, grid and batch_size must be >= 1, got {self}")
        if not 0.0 <= self.max_dice <= 1.0:
            raise ValueError(f"max_dice is a Dice coefficient in [0, 1], got {self.max_dice}")


@dataclass
class MultiExplanation:
    """The explanations of one image: ``responsibility`` (H, W) >= 0; ``explanations`` (E, H, W) bool, the
    distinct ones kept, in the order of selection; ``candidates`` (N, H, W) bool, every sufficient set found
    before the Dice selection; ``target`` the label explained; ``forward_passes`` mutants judged by the black
    box; ``seconds`` wall clock; ``extras`` anything else (the decision; rex-xai's error, if any)."""

    responsibility: torch.Tensor
    explanations: torch.Tensor
    candidates: torch.Tensor
    target: int
    forward_passes: int = 0
    seconds: float = 0.0
    extras: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.explanations)


class _Judge:
    """The black box as an oracle: does a mutant (reveal mask over the image, rest replaced) keep the label?"""

    def __init__(self, classifier: Classifier, x: torch.Tensor, base: torch.Tensor, target: int,
                 batch_size: int) -> None:
        self.classifier, self.x, self.base, self.target = classifier, x, base, target   # x, base: (C, H, W)
        self.batch_size, self.calls = batch_size, 0
        self.device = device_of(classifier)

    @torch.no_grad()
    def __call__(self, reveal: torch.Tensor) -> torch.Tensor:
        """reveal (M, H, W) bool -> (M,) bool: the top label of the mutant is the target."""
        flat = reveal.reshape(-1, *reveal.shape[-2:])
        out = []
        with evaluating(self.classifier):
            for r in flat.split(self.batch_size):
                mutants = torch.where(r[:, None], self.x, self.base)                       # (m, C, H, W)
                out.append(self.classifier(mutants.to(self.device)).argmax(1).cpu() == self.target)
        self.calls += len(flat)
        return torch.cat(out).reshape(reveal.shape[:-2]) if out else torch.zeros(reveal.shape[:-2], dtype=torch.bool)


# ---- 1. the responsibility map ----------------------------------------------------------------------------

_SUBSETS = torch.tensor([[(s >> p) & 1 for p in range(4)] for s in range(16)], dtype=torch.bool)   # (16, 4)


def _box_mask(boxes: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """boxes (..., 4) as (y0, y1, x0, x1), ends excluded -> masks (..., H, W) bool."""
    yy, xx = torch.arange(h), torch.arange(w)
    b = boxes[..., None]
    inside_y = (yy >= b[..., 0, :]) & (yy < b[..., 1, :])                                 # (..., H)
    inside_x = (xx >= b[..., 2, :]) & (xx < b[..., 3, :])                                 # (..., W)
    return inside_y[..., :, None] & inside_x[..., None, :]


def _cut(lo: torch.Tensor, hi: torch.Tensor, min_box: int, g: torch.Generator) -> torch.Tensor:
    """A random cut point per box side in [lo + min_box, hi - min_box]; hi (no cut) where the side is too short."""
    room = hi - lo - 2 * min_box + 1                                                      # (N,) choices
    u = torch.rand(len(lo), generator=g)
    cut = lo + min_box + (u * room.clamp(min=1)).long()
    return torch.where(room >= 1, cut, hi)


def responsibility_map(judge: _Judge, h: int, w: int, config: ResponsibilityConfig,
                       g: torch.Generator) -> torch.Tensor:
    """The responsibility map (H, W) of the judged image (see the module docstring, step 1)."""
    resp = torch.zeros(h, w)
    n = config.iters
    boxes = torch.tensor([[0, h, 0, w]]).repeat(n, 1)                                     # (N, 4)
    context = torch.zeros(n, h, w, dtype=torch.bool)                                      # revealed outside the box
    for _ in range(config.max_depth):
        if not len(boxes):
            break
        y0, y1, x0, x1 = boxes.unbind(1)
        cy, cx = _cut(y0, y1, config.min_box, g), _cut(x0, x1, config.min_box, g)
        splittable = (cy < y1) | (cx < x1)
        boxes, context, y0, y1, x0, x1, cy, cx = (t[splittable] for t in (boxes, context, y0, y1, x0, x1, cy, cx))
        if not len(boxes):
            break
        parts = torch.stack([torch.stack([y0, cy, x0, cx], 1), torch.stack([y0, cy, cx, x1], 1),
                             torch.stack([cy, y1, x0, cx], 1), torch.stack([cy, y1, cx, x1], 1)], 1)  # (N, 4, 4)
        part_masks = _box_mask(parts, h, w)                                               # (N, 4, H, W)
        nonempty = part_masks.flatten(2).any(2)                                           # (N, 4)
        reveal = context[:, None] | (part_masks[:, None] & _SUBSETS[None, :, :, None, None]).any(2)  # (N, 16, H, W)
        passing = judge(reveal)                                                           # (N, 16)
        # part p is a cause in subset s: s passes, s without p fails; responsibility 1 / |s|
        without = torch.arange(16)[:, None] & ~(1 << torch.arange(4))[None, :]            # (16, 4) subset index
        fails_without = ~passing[:, without]                                              # (N, 16, 4)
        size = (_SUBSETS[None] & nonempty[:, None]).sum(2).clamp(min=1)                  # (N, 16)
        cause = passing[:, :, None] & fails_without & _SUBSETS[None] & nonempty[:, None]  # (N, 16, 4)
        r = torch.where(cause, 1.0 / size[:, :, None].float(), torch.zeros(()))          # (N, 16, 4)
        part_resp, witness = r.max(1)                                                     # (N, 4): best subset per part
        area = part_masks.flatten(2).sum(2).clamp(min=1)                                  # (N, 4)
        resp += ((part_resp / area)[:, :, None, None] * part_masks).sum((0, 1))          # responsibility per pixel
        # refine the `queue` most responsible parts of each box (ties at random), inside their witness subset
        score = part_resp + 1e-3 * torch.rand(part_resp.shape, generator=g) * (part_resp > 0)
        top = score.topk(min(config.queue, 4), dim=1).indices                             # (N, q)
        rows = torch.arange(len(boxes))[:, None].expand_as(top)
        keep = part_resp[rows, top] > 0
        node, part = rows[keep], top[keep]
        others = _SUBSETS[witness[node, part]] & ~F.one_hot(part, 4).bool()               # (M, 4)
        context = context[node] | (part_masks[node] & others[:, :, None, None]).any(1)
        boxes = parts[node, part]
    return resp


# ---- 2. sufficient explanations ---------------------------------------------------------------------------

def _components(mask: np.ndarray) -> list[np.ndarray]:
    """Connected pieces (8-neighbourhood) of a (H, W) boolean mask."""
    from scipy import ndimage

    labels, k = ndimage.label(mask, structure=np.ones((3, 3)))
    return [labels == i for i in range(1, k + 1)]


def sufficient_explanations(judge: _Judge, ranking: torch.Tensor, regions: torch.Tensor,
                            config: ResponsibilityConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """For each region (R, H, W) bool, the fewest top-ranked pixels of the region that make the black box
    give its label back: masks (R, H, W) bool and found (R,) bool. ``ranking`` (H, W): higher first (ties
    must be broken beforehand)."""
    r_count, h, w = regions.shape
    score = torch.where(regions, ranking, torch.full_like(ranking, -torch.inf)).flatten(1)     # (R, HW)
    order = score.argsort(1, descending=True)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(h * w).expand_as(order))                               # (R, HW)
    n = regions.flatten(1).sum(1)                                                               # (R,)
    frac = torch.arange(1, config.grid + 1) / config.grid
    ks = torch.ceil(n[:, None] * frac[None]).long()                                             # (R, G)
    ok = judge((rank[:, None, :] < ks[:, :, None]).reshape(r_count, config.grid, h, w))         # (R, G)
    found = ok.any(1) & (n > 0)
    first = torch.where(found, ok.float().argmax(1), torch.full_like(n, config.grid - 1))
    hi = ks[torch.arange(r_count), first]
    lo = torch.where(first > 0, ks[torch.arange(r_count), (first - 1).clamp(min=0)], torch.zeros_like(hi))
    width = int((hi - lo).max()) if r_count else 0
    if width > 1:   # pixel by pixel between the last failing and the first passing coarse step
        fine = (lo[:, None] + torch.arange(1, width + 1)[None]).clamp(max=hi[:, None])          # (R, W)
        ok_f = judge((rank[:, None, :] < fine[:, :, None]).reshape(r_count, width, h, w))
        hi = torch.where(ok_f.any(1), fine[torch.arange(r_count), ok_f.float().argmax(1)], hi)
    masks = (rank < hi[:, None]).reshape(r_count, h, w) & found[:, None, None]
    if config.prune:
        masks = torch.stack([_prune(judge, m) if f else m for m, f in zip(masks, found)]) if r_count else masks
    return masks, found


def _prune(judge: _Judge, mask: torch.Tensor) -> torch.Tensor:
    """The smallest connected piece of ``mask`` that suffices alone, else ``mask``."""
    pieces = _components(mask.numpy())
    if len(pieces) < 2:
        return mask
    pieces_t = torch.from_numpy(np.stack(pieces))                                               # (P, H, W)
    ok = judge(pieces_t)
    if not ok.any():
        return mask
    sizes = torch.where(ok, pieces_t.flatten(1).sum(1), torch.full((len(pieces),), 1 << 30))
    return pieces_t[sizes.argmin()]


def trim(judge: _Judge, mask: torch.Tensor, ranking: torch.Tensor) -> torch.Tensor:
    """Make a sufficient ``mask`` (H, W) locally minimal: drop, one at a time, the least responsible pixel whose
    removal keeps it sufficient, until no single pixel can go (caelib's addition; one batch per step)."""
    mask = mask.clone()
    while True:
        idx = torch.nonzero(mask.flatten())[:, 0]                                               # (m,)
        if len(idx) <= 1:
            return mask
        tries = mask.flatten().repeat(len(idx), 1)
        tries[torch.arange(len(idx)), idx] = False
        ok = judge(tries.reshape(len(idx), *mask.shape))
        if not ok.any():
            return mask
        score = torch.where(ok, ranking.flatten()[idx], torch.full((len(idx),), torch.inf))
        mask.view(-1)[idx[score.argmin()]] = False


# ---- 3. spotlights ----------------------------------------------------------------------------------------

def spotlight_explanations(judge: _Judge, ranking: torch.Tensor, config: ResponsibilityConfig,
                           g: torch.Generator) -> torch.Tensor:
    """Explanations found by ``config.spotlights`` spotlight searches (module docstring, step 3): (N, H, W)."""
    h, w = ranking.shape
    s = config.spotlights
    if s == 0:
        return torch.zeros(0, h, w, dtype=torch.bool)
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
                            indexing="ij")
    centre = torch.stack([torch.rand(s, generator=g) * (h - 1), torch.rand(s, generator=g) * (w - 1)], 1)  # (S, 2)
    radius = torch.full((s,), float(config.spotlight_radius))
    active = torch.ones(s, dtype=torch.bool)
    found_masks = []
    for _ in range(config.spotlight_steps):
        if not active.any():
            break
        idx = torch.nonzero(active)[:, 0]
        d2 = (yy - centre[idx, 0, None, None]) ** 2 + (xx - centre[idx, 1, None, None]) ** 2  # (A, H, W)
        masks, found = sufficient_explanations(judge, ranking, d2 <= radius[idx, None, None] ** 2, config)
        found_masks.append(masks[found])
        active[idx[found]] = False
        # the others grow and move to the responsibility-weighted centre of a disc twice as large
        lost = idx[~found]
        near = (d2[~found] <= (2 * radius[lost, None, None]) ** 2).float() * ranking.clamp(min=0)
        mass = near.sum((1, 2))
        moved = torch.stack([(near * yy).sum((1, 2)), (near * xx).sum((1, 2))], 1) / mass.clamp(min=1e-12)[:, None]
        centre[lost] = torch.where((mass > 0)[:, None], moved, centre[lost])
        radius[lost] = radius[lost] * (1 + config.spotlight_grow)
    return torch.cat(found_masks) if found_masks else torch.zeros(0, h, w, dtype=torch.bool)


# ---- 4. distinct explanations -----------------------------------------------------------------------------

def dice(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Dice overlap 2|a & b| / (|a| + |b|) of boolean masks (..., H, W) (broadcast); 0 for two empty masks."""
    inter = (a & b).flatten(-2).sum(-1).float()
    total = (a.flatten(-2).sum(-1) + b.flatten(-2).sum(-1)).float()
    return torch.where(total > 0, 2 * inter / total.clamp(min=1), torch.zeros(()))


def select_distinct(candidates: torch.Tensor, max_dice: float) -> torch.Tensor:
    """Keep candidates (N, H, W) in order when their Dice with every kept one is <= ``max_dice``."""
    kept: list[torch.Tensor] = []
    for c in candidates:
        if c.any() and all(float(dice(c, k)) <= max_dice for k in kept):
            kept.append(c)
    return torch.stack(kept) if kept else candidates[:0]


# ---- all together -----------------------------------------------------------------------------------------

def explain_multiple(classifier: Classifier, x: torch.Tensor, target=None, *, replacement=DEFAULT_REPLACEMENT,
                     config: ResponsibilityConfig = ResponsibilityConfig(), seed: int = 0,
                     progress: bool = True) -> list[MultiExplanation]:
    """Several distinct sufficient explanations of the black box's decision on each image of ``x``.

    ``classifier``: images (B, C, H, W) in [-1, 1] -> logits (B, K) (a module or any callable). ``x``: (B, C,
    H, W) in [-1, 1]. ``target``: the label explained, an int or (B,) ints; None = the black box's decision.
    ``replacement``: what a hidden pixel becomes (a number, a (C, H, W) tensor, or a callable of the images
    such as ``DEFAULT_REPLACEMENT``). Image i uses the random generator seeded with ``seed + i``. Returns one
    :class:`MultiExplanation` per image. When the black box gives the target even with every pixel hidden,
    nothing needs revealing: that image gets no explanation and ``extras["replacement_keeps_label"]`` is True
    (choose a replacement the black box does not read as the target). Chockler et al., arXiv 2309.14309;
    taught in notebook 08."""
    check_images(x)
    if not isinstance(config, ResponsibilityConfig):
        raise TypeError(f"config must be a ResponsibilityConfig, got {type(config).__name__}")
    with torch.no_grad(), evaluating(classifier):
        logits = classifier(x.to(device_of(classifier))).cpu()
    decision = logits.argmax(1)
    targets = resolve_target(target, *logits.shape, default=decision)
    bases = _replacement(replacement, x)                                                  # (B, C, H, W)
    h, w = x.shape[-2:]
    out = []
    for i in tqdm(range(len(x)), desc="multiple explanations", disable=not progress, leave=False):
        t0 = time.perf_counter()
        g = torch.Generator().manual_seed(seed + i)
        judge = _Judge(classifier, x[i], bases[i], int(targets[i]), config.batch_size)
        if judge(torch.zeros(1, h, w, dtype=torch.bool))[0]:   # nothing revealed and still the label: no question
            empty = torch.zeros(0, h, w, dtype=torch.bool)
            out.append(MultiExplanation(torch.zeros(h, w), empty, empty, int(targets[i]), judge.calls,
                                        time.perf_counter() - t0, {"decision": int(decision[i]),
                                                                   "replacement_keeps_label": True}))
            continue
        resp = responsibility_map(judge, h, w, config, g)
        ranking = resp + 1e-6 * torch.rand(h, w, generator=g)                              # ties at random
        everything = torch.ones(1, h, w, dtype=torch.bool)
        first, found = sufficient_explanations(judge, ranking, everything, config)
        spots = spotlight_explanations(judge, ranking, config, g)
        candidates = torch.cat([first[found], spots])
        if config.smallest_first:
            candidates = candidates[candidates.flatten(1).sum(1).argsort(stable=True)]
        kept = select_distinct(candidates, config.max_dice)
        if config.trim:
            kept = torch.stack([trim(judge, k, ranking) for k in kept]) if len(kept) else kept
        out.append(MultiExplanation(resp, kept, candidates, int(targets[i]), judge.calls,
                                    time.perf_counter() - t0, {"decision": int(decision[i]),
                                                               "replacement_keeps_label": False}))
    return out


def lesion_landing(explanations: torch.Tensor, lesion_masks: torch.Tensor, *, dilate: int = 1) -> torch.Tensor:
    """Which lesion each explanation lands on: (E,) ints, j when an explanation (E, H, W) touches lesion j
    (its mask (L, H, W) grown by ``dilate`` pixels) and no other lesion; -1 when it touches none or several."""
    if explanations.ndim != 3 or lesion_masks.ndim != 3:
        raise ValueError(f"expected explanations (E, H, W) and lesion masks (L, H, W), got "
                         f"{tuple(explanations.shape)} and {tuple(lesion_masks.shape)}")
    from .conventions import dilate as grow  # the argument ``dilate`` hides the module-level name

    grown = grow(lesion_masks[None], dilate)[0] > 0
    touch = (explanations[:, None].bool() & grown[None]).flatten(2).any(2)                # (E, L)
    return torch.where(touch.sum(1) == 1, touch.float().argmax(1), torch.full((len(explanations),), -1))
