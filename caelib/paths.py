"""Guided counterfactual paths: move an image's class code towards another class and watch the black box.

CAE explains one decision like this (Xie et al., "Class Association Embedding", ICDE 2024, arXiv
2406.07961): encode the image ``x`` into its class code and individual code, move the class code step by
step from where it is towards the class code of a *reference* of another class, decode every step with
``x``'s own individual code, and stop at the first step where the black box says the target class. That
decoded image is the counterfactual ``x_cf``; what changed on the way is the explanation.

``counterfactual_path`` walks the paths, ``CounterfactualPath`` holds them; ``path_metrics`` /
``compare_routes`` measure a route (how far its points lie from real class codes, the discriminator's realism
score along it, the flip rate, the step of the flip, the smoothness of the probability curve) and
``flip_report`` counts flips on many images. Two choices the paper leaves open live in modules of their own,
and their names are importable from here too: the **reference** (``caelib.references``: ``NearestReference``,
``MedoidReference``, ``StrongReference``, or any image(s) of your own), picked from a ``CodeBank`` of real
class codes (``caelib.codebank``), and the **route** (``caelib.routes``: ``StraightRoute``, the straight line
of the paper's code; ``GraphRoute``, through a k-nearest-neighbour graph of real class codes, as in the same
authors' later code). Saliency from a path is in ``caelib.saliency_path``. Taught in
``notebooks/05_paths.ipynb``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import torch

from .cae import CAE
from .classifier import predict_proba
from .codebank import DECODE_BATCH, CodeBank
from .conventions import Classifier, resolve_target, runner_up
from .data import check_images
from .references import (
    MedoidReference,
    NearestReference,
    NotFittedError,
    ReferenceRule,
    StrongReference,
    check_classes,
    summed_distance,
)
from .routes import GraphRoute, Route, StraightRoute, resample_polyline
from .swap import decode_all, encode_all

__all__ = [
    "CounterfactualPath", "counterfactual_path", "path_metrics", "summarise", "compare_routes", "flip_report",
    "by_source_class", "STEP_CHUNK", "DECODE_BATCH",
    # re-exported: the bank, the reference rules and the routes (caelib.codebank, caelib.references, caelib.routes)
    "CodeBank", "ReferenceRule", "NotFittedError", "NearestReference", "MedoidReference", "StrongReference",
    "check_classes", "summed_distance", "Route", "StraightRoute", "GraphRoute", "resample_polyline",
]

STEP_CHUNK = 4     # with stop_at_flip, steps are decoded this many at a time; flipped paths drop out


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
