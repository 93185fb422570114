"""Every saliency method against every metric: the table of notebook 06, on the shipped models.

    python benchmarks/saliency.py [--datasets lesions lesions-kinds mnist] [--n 150] [--n-random 12]
                                  [--steps 32] [--threads 2] [--out benchmarks/results]

About 10 minutes with one torch thread on 2 shared cores (two training jobs running beside it), less on a
quiet machine; LIME, KernelSHAP and Occlusion take two thirds of it. ``--n 64`` for a quick look.

For each dataset, the shipped black box and CAE (``caelib.pretrained``), a reference bank of training images
the black box classifies correctly (CAE methods: ``MedoidReference``, 11-step straight paths), and ``--n``
test images drawn at random (with evidence, where the dataset has masks). Each method explains the black box's
decision. Per method (``caelib.saliency.METHODS``) and metric (``caelib.evaluate``), the mean over images and
its 95% percentile-bootstrap interval:

- localisation against the evidence masks (lesions only): pointing game, mask AUROC, top-k IoU, relevance mass;
- faithfulness: deletion and insertion areas and AOPC (``--steps`` steps; the replacement is ``BASELINE``:
  the blurred image, sigma 4 px, on the lesions, the black background on mnist);
- sanity: cascading randomisation of the black box's weight layers from the top, on the first ``--n-random``
  images: |Spearman| similarity of the maps after randomising the top layer and after all layers (lower is
  better; a map that ignores the model stays at 1);
- cost: milliseconds per image (wall clock on this machine, ``--threads`` torch threads).

Writes ``saliency.md`` and ``saliency.csv`` (one row per dataset, method and metric),
``saliency_randomisation.csv`` (similarity after each randomised layer) and ``saliency_examples_<dataset>.png``
(maps of six images, one row per method) to ``--out``.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import torch

import caelib
from caelib import evaluate as ev
from caelib import paths, saliency

COLUMNS = [  # (metric key, column title)
    ("pointing_game", "pointing game"), ("mask_auroc", "mask AUROC"), ("topk_iou", "top-k IoU"),
    ("relevance_mass", "relevance mass"), ("deletion_auc", "deletion AUC"), ("insertion_auc", "insertion AUC"),
    ("aopc", "AOPC"), ("randomisation_top", "rand. ρ (top layer)"), ("randomisation_all", "rand. ρ (all layers)"),
    ("ms_per_image", "ms / image"),
]
LOCALISATION = ("pointing_game", "mask_auroc", "topk_iou", "relevance_mass")
FAITHFULNESS = ("deletion_auc", "insertion_auc", "aopc")


# What a removed pixel becomes, in deletion / insertion and in the methods that take a baseline (IG, DeepLift,
# Occlusion, LIME, KernelSHAP): the blurred image (Gaussian, sigma 4 px) by default, since mid-grey draws a
# lesion of its own on the lesion images (caelib.saliency's docstring); on mnist the black background, the
# absence of a stroke (measured on 100 random test images with the shipped classifier: deletion area of a
# random order 0.54 vs 0.11 for IG with black, 0.43 vs 0.20 with the blurred image).
BASELINE = {"mnist": -1.0}


def explainers(methods, classifier, cae, reference, baseline):
    """{name: Explainer} for ``classifier``; CAE methods share one reference rule."""
    out = {}
    for name in methods:
        m = saliency.METHODS[name]
        opts = {"reference": reference} if m.needs_cae else {}
        if "baseline" in m.options:
            opts["baseline"] = baseline
        out[name] = saliency.Explainer(name, classifier, cae=cae, **opts)
    return out


def run_dataset(name: str, args, methods) -> tuple[list[dict], list[dict], dict]:
    """Measure every method on one dataset: (table rows, randomisation rows, notes)."""
    t_start = time.perf_counter()
    models = caelib.pretrained(name)
    clf, cae = models.classifier.eval(), models.cae
    train, test = caelib.load_dataset(name, split="train"), caelib.load_dataset(name, split="test")
    pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(args.seed))[:args.bank]  # all classes
    bank = paths.CodeBank.from_images(cae, train.images[pick], train.labels[pick], classifier=clf)
    reference = paths.MedoidReference(bank)
    order = torch.randperm(len(test), generator=torch.Generator().manual_seed(args.seed))   # mnist is sorted by class
    keep = order[ev.has_evidence(test.masks[order])] if test.masks is not None else order
    x, labels = test.images[keep][:args.n], test.labels[keep][:args.n]
    masks = test.masks[keep][:args.n] if test.masks is not None else None
    baseline = BASELINE.get(name, saliency.DEFAULT_REPLACEMENT)
    target = caelib.predict_proba(clf, x).argmax(1)                                 # explain the decision
    notes = {"n": len(x), "bank": len(bank), "accuracy": float((target == labels).float().mean()),
             "baseline": "black (-1)" if baseline == -1.0 else repr(baseline)}
    if masks is not None:
        area = masks.flatten(1).mean(1)
        notes["chance"] = {"pointing_game": float(area.mean()), "mask_auroc": 0.5,
                           "topk_iou": float((area / (2 - area)).mean()), "relevance_mass": float(area.mean())}
    rows, rand_rows, examples = [], [], {}
    for method in methods:
        t0 = time.perf_counter()
        torch.manual_seed(args.seed)          # LIME and KernelSHAP sample with torch's generator: same draws each run
        exp = explainers([method], clf, cae, reference, baseline)[method]
        maps = []
        elapsed = 0.0
        for xb, tb in zip(x.split(args.batch), target.split(args.batch)):
            ms, mb = ev.time_per_image(lambda z: exp.attribute(z, tb), xb)
            elapsed += ms * len(xb)
            maps.append(mb)
        maps = torch.cat(maps)                                                       # (n, 1, H, W)
        examples[method] = maps[:args.examples]
        values = {}
        if masks is not None:
            values.update(ev.localisation(maps, masks))
        values.update(ev.faithfulness(clf, x, maps, target, steps=args.steps, baseline=baseline))
        nr = min(args.n_random, len(x))
        rnd = ev.cascading_randomisation(
            lambda model, xb, tb: explainers([method], model, cae, reference, baseline)[method].attribute(xb, tb),
            clf, x[:nr], target[:nr], seed=args.seed)
        values["randomisation_top"], values["randomisation_all"] = rnd.top, rnd.full
        for i, layer in enumerate(rnd.layers):
            rand_rows.append({"dataset": name, "method": method, "step": i + 1, "layer": layer,
                              "spearman": round(float(rnd.similarity[i].mean()), 4), "n": nr})
        for key, v in values.items():
            mean, lo, hi = ev.mean_ci(v, seed=args.seed)
            rows.append(_row(name, method, key, mean, lo, hi, int(torch.isfinite(v).sum())))
        rows.append(_row(name, method, "ms_per_image", elapsed / len(x), float("nan"), float("nan"), len(x)))
        print(f"  {name:14s} {method:22s} {time.perf_counter() - t0:6.1f} s", file=sys.stderr, flush=True)
    notes["seconds"] = time.perf_counter() - t_start
    notes["layers"] = rnd.layers
    _figure(name, x[:args.examples], examples, None if masks is None else masks[:args.examples], args.out)
    return rows, rand_rows, notes


def _row(dataset, method, metric, mean, lo, hi, n):
    m = saliency.METHODS[method]
    return {"dataset": dataset, "method": method, "family": m.family, "metric": metric, "mean": mean, "low": lo,
            "high": hi, "n": n, "higher_is_better": ev.higher_is_better(metric)}


def _figure(name, x, examples, masks, out: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = caelib.viz.plot_saliency_grid(x, examples, masks=masks, size=0.9,
                                        title=f"{name}: saliency maps (rows: methods; red/cyan: evidence mask)")
    fig.savefig(out / f"saliency_examples_{name}.png", dpi=80)
    plt.close(fig)


def _fmt(r) -> str:
    if r is None:
        return "-"
    if r["metric"] == "ms_per_image":
        return f"{r['mean']:.1f}"
    return f"{r['mean']:.3f} [{r['low']:.3f}, {r['high']:.3f}]"


def _best(rows, metric, names):
    cand = [r for r in rows if r["metric"] == metric and r["method"] in names and r["mean"] == r["mean"]]
    if not cand:
        return None
    sign = 1 if ev.higher_is_better(metric) else -1
    return max(cand, key=lambda r: sign * r["mean"])


def markdown(dataset, rows, notes, methods) -> list[str]:
    """The table of one dataset and a plain summary of where CAE wins and loses."""
    by = {(r["method"], r["metric"]): r for r in rows}
    cols = [(k, t) for k, t in COLUMNS if any(r["metric"] == k for r in rows)]
    best = {k: _best(rows, k, methods) for k, _ in cols}
    lines = [f"\n## {dataset}\n",
             f"{notes['n']} test images{' with evidence' if 'chance' in notes else ''} (black-box accuracy on them "
             f"{notes['accuracy']:.3f}); reference bank of {notes['bank']} training codes; removed pixels become "
             f"{notes['baseline']}; {notes['seconds']:.0f} s. "
             "Mean [95% bootstrap interval] over images; best of each column in bold.\n",
             "| method | family | " + " | ".join(f"{t} {'↑' if ev.higher_is_better(k) else '↓'}"
                                                for k, t in cols) + " |",
             "|---|---|" + "---|" * len(cols)]
    for m in methods:
        cells = []
        for k, _ in cols:
            r = by.get((m, k))
            s = _fmt(r)
            cells.append(f"**{s}**" if r is not None and best[k] is not None and r["mean"] == best[k]["mean"] else s)
        lines.append(f"| {m} | {saliency.METHODS[m].family} | " + " | ".join(cells) + " |")
    cae = [m for m in methods if m in saliency.CAE_METHODS]
    others = [m for m in methods if m not in saliency.CAE_METHODS]
    lines.append("\nCAE against the other methods (best CAE variant vs best other method, by mean):\n")
    for k, title in cols:
        if k == "ms_per_image" or not cae:
            continue
        bc, bo = _best(rows, k, cae), _best(rows, k, others)
        if bc is None or bo is None:
            continue
        sign = 1 if ev.higher_is_better(k) else -1
        beaten = sign * bo["mean"] > sign * bc["mean"]
        overlap = not (bo["low"] > bc["high"] or bo["high"] < bc["low"])
        verdict = (f"**{bo['method']} ({saliency.METHODS[bo['method']].family}) beats every CAE variant**"
                   + (" (intervals overlap)" if overlap else "")) if beaten else "CAE is best"
        lines.append(f"- {title}: best CAE {bc['method']} {bc['mean']:.3f}, best other {bo['method']} "
                     f"{bo['mean']:.3f}: {verdict}")
    sanity = [m for m in methods if m in saliency.BASELINES]
    beaten_by_sanity = []
    for k, title in cols:
        if k in ("ms_per_image", "randomisation_top", "randomisation_all") or not cae or not sanity:
            continue
        bs = _best(rows, k, sanity)
        sign = 1 if ev.higher_is_better(k) else -1
        lost = [m for m in cae if (m, k) in by and sign * by[(m, k)]["mean"] < sign * bs["mean"]]
        if lost:
            beaten_by_sanity.append(f"- {title}: the {bs['method']} map ({bs['mean']:.3f}) beats "
                                    + ", ".join(f"{m} ({by[(m, k)]['mean']:.3f})" for m in lost))
    if beaten_by_sanity:
        lines.append("\nSanity baselines (no model) that beat a CAE variant, by mean:\n")
        lines += beaten_by_sanity
    if "chance" in notes and "random" in methods:
        lines.append("\nThe random map against chance (expected from the mask areas):\n")
        for k in LOCALISATION:
            r = by.get(("random", k))
            lines.append(f"- {k}: measured {_fmt(r)}, chance {notes['chance'][k]:.3f}")
    if "pointing_game" in dict(cols) and cae:
        bc = _best(rows, "pointing_game", cae)
        lines.append(f"\nGoal, CAE pointing game >= 0.95: best CAE variant {bc['method']} {bc['mean']:.3f}: "
                     f"{'met' if bc['mean'] >= 0.95 else 'NOT met'}.")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["lesions", "lesions-kinds", "mnist"], choices=caelib.PRETRAINED)
    ap.add_argument("--methods", nargs="+", default=list(saliency.METHODS), choices=list(saliency.METHODS))
    ap.add_argument("--n", type=int, default=150, help="test images per dataset (with evidence where masks exist)")
    ap.add_argument("--n-random", type=int, default=12, help="images for the cascading randomisation")
    ap.add_argument("--steps", type=int, default=32, help="deletion / insertion steps")
    ap.add_argument("--bank", type=int, default=3000, help="training images (a random draw) in the reference bank")
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--examples", type=int, default=6, help="images in the example figure")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    warnings.filterwarnings("ignore", module="captum")
    warnings.filterwarnings("ignore", message=".*required_grads.*")
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    all_rows, rand_rows, lines = [], [], []
    for name in args.datasets:
        rows, rr, notes = run_dataset(name, args, args.methods)
        all_rows += rows
        rand_rows += rr
        lines += markdown(name, rows, notes, args.methods)
        lines.append(f"\nRandomised layers, in order: {', '.join(notes['layers'])}.")
        write(args, all_rows, rand_rows, lines, time.perf_counter() - t0)         # after each dataset
    print((args.out / "saliency.md").read_text())
    print(f"\nwrote {args.out}/saliency.md, saliency.csv, saliency_randomisation.csv, saliency_examples_*.png "
          f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr)


def write(args, all_rows, rand_rows, lines, total: float) -> None:
    head = ["# Saliency methods against saliency metrics", "",
            "Command: `" + " ".join(["python benchmarks/saliency.py", *sys.argv[1:]]) + "` "
            f"({total:.0f} s in all; {args.threads} torch thread(s), {os.cpu_count()} CPU cores, "
            f"Python {platform.python_version()}, torch {torch.__version__}).", "",
            "Arrows: ↑ higher is better, ↓ lower is better (`caelib.evaluate.higher_is_better`). Maps explain the "
            "black box's decision. Deletion / insertion: "
            f"{args.steps} steps between the image and its baseline (the blurred image, Gaussian sigma 4 px; on "
            "mnist the black background; the same baseline for IG, DeepLift, Occlusion, LIME, KernelSHAP); AOPC "
            "over the first "
            "10% of pixels deleted. Randomisation: |Spearman| similarity of each map with the trained model's after "
            "re-initialising the weight layers from the output down (`caelib.evaluate.cascading_randomisation`); "
            "the CAE is not randomised (it is trained without the black box), so a CAE map can only change "
            "through the black box's decisions along the path. The sanity baselines ignore the model and stay at 1; "
            "a map that turns constant (nothing positive left) scores 0. Signed values per layer: "
            "`saliency_randomisation.csv`. "
            "Times are wall clock on a shared machine: compare them with each other, not across machines."]
    (args.out / "saliency.md").write_text("\n".join(head + lines) + "\n")
    with open(args.out / "saliency.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(all_rows[0]))
        w.writeheader()
        for r in all_rows:
            w.writerow({k: (round(v, 5) if isinstance(v, float) else v) for k, v in r.items()})
    with open(args.out / "saliency_randomisation.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rand_rows[0]))
        w.writeheader()
        w.writerows(rand_rows)


if __name__ == "__main__":
    main()
