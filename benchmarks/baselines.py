"""Attribution baselines, one-vs-one questions and the shortcut classifier: the tables of notebook 07.

    python benchmarks/baselines.py [--parts quality one-vs-one shortcut] [--n 100] [--n-random 8]
                                   [--steps 32] [--threads 1] [--out benchmarks/results]

Three experiments, each with the shipped models (``caelib.pretrained``) and the library calls of
``caelib.baselines``:

1. **quality** (lesions, mnist): Integrated Gradients, DeepLift and Occlusion with each baseline of
   ``BASELINE_CHOICES`` (the counterfactual one of the black box's runner-up class, with the nearest reference
   among the deeper half of the class and with the medoid), and the CAE path map for comparison, explaining
   the black box's decision on ``--n`` test images (lesions: with a lesion). Metrics of ``caelib.evaluate``:
   localisation against the lesion masks,
   deletion / insertion / AOPC (the removed pixels become the same image for every row: the blurred image on
   the lesions, black on mnist), cascading randomisation on ``--n-random`` images.
2. **one-vs-one** (mnist digits the black box calls 3, against 8 and against 5; lesions-kinds "round" against
   "ring" and against "dark"): Integrated Gradients of z_t - z_c from the counterfactual baseline of class c
   (``one_vs_one``, nearest reference among the deeper half of the class) against IG of z_t from the blurred
   image and a random map. Measure: paste the map's top 10%
   pixels from the class-c counterfactual into the image; the share of images the black box then puts in
   class c (higher: the map found what separates t from c), and the |Spearman| between the "not c1" and
   "not c2" maps of the same images (lower: the two questions get different answers).
3. **shortcut** (lesions-shortcut): the cheating black box (it learnt the marker), test images with a marker
   and a lesion; every map's share of mass on the marker and on the lesion, localisation against the marker,
   faithfulness and randomisation; rows: the CAE maps of the default CAE and of the CAE trained with the black
   box as critic and of the CAE of the clean lesions (``pretrained("lesions")``: it never saw a marker), and the
   Captum methods with every baseline (the counterfactual one from each CAE). Also each
   CAE's ``shortcut_report`` (flip rate judged by the black box, where its counterfactual changes the image).

Writes ``baselines_<part>.md`` and ``baselines_<part>.csv`` (one row per experiment, data set, method, baseline
and metric: mean and 95% bootstrap interval) to ``--out``, and ``baselines.md``, the parts' reports together.
"""

from __future__ import annotations

import argparse
import csv
import platform
import sys
import time
import warnings
from pathlib import Path

import torch

import caelib
from caelib import baselines as bl
from caelib import evaluate as ev
from caelib import paths

METHODS = ("integrated-gradients", "deeplift", "occlusion")
EVAL_BASELINE = {"mnist": -1.0}      # what deletion / insertion put in place of a pixel (benchmarks/saliency.py)


def _setup(name: str, args, *, cae: str | None = None, cae_of: str | None = None):
    """Models, black box, training set and a bank; ``cae_of``: take the CAE shipped for that data set instead."""
    models = caelib.pretrained(name, cae=cae)
    if cae_of is not None:
        other = caelib.pretrained(cae_of)
        models.cae, models.meta = other.cae, other.meta
    clf = models.classifier.eval()
    train = caelib.load_dataset(name, split="train")
    pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(args.seed))[:args.bank]
    bank = paths.CodeBank.from_images(models.cae, train.images[pick], train.labels[pick], classifier=clf)
    return models, clf, train, bank


def _baselines(cae, bank, clf, train) -> dict:
    near, med = paths.NearestReference(bank, core=0.5), paths.MedoidReference(bank)
    return {"zero": 0.0, "blurred": bl.make_baseline("blurred"), "noise": bl.make_baseline("noise"),
            "mean": bl.make_baseline("mean", images=train.images),
            "counterfactual (nearest, core 0.5)": bl.CounterfactualBaseline(cae, near, classifier=clf),
            "counterfactual (medoid)": bl.CounterfactualBaseline(cae, med, classifier=clf)}


def _rows(out: list, experiment: str, dataset: str, results: dict, seed: int) -> None:
    for (method, baseline), scores in results.items():
        for metric, v in scores.items():
            v = v[torch.isfinite(v)]
            if len(v):
                mean, lo, hi = ev.mean_ci(v, seed=seed)
                out.append({"experiment": experiment, "dataset": dataset, "method": method, "baseline": baseline,
                            "metric": metric, "mean": round(mean, 4), "low": round(lo, 4), "high": round(hi, 4),
                            "n": len(v), "higher_is_better": ev.higher_is_better(metric)})


def quality(name: str, args, csv_rows: list) -> list[str]:
    t0 = time.perf_counter()
    models, clf, train, bank = _setup(name, args)
    test = caelib.load_dataset(name, split="test")
    order = torch.randperm(len(test), generator=torch.Generator().manual_seed(args.seed))
    keep = order[ev.has_evidence(test.masks[order])] if test.masks is not None else order
    x = test.images[keep][:args.n]
    masks = test.masks[keep][:args.n] if test.masks is not None else None
    target = caelib.predict_proba(clf, x).argmax(1)
    results = {}
    common = dict(masks=masks, eval_baseline=EVAL_BASELINE.get(name, caelib.saliency.DEFAULT_REPLACEMENT),
                  steps=args.steps, n_random=args.n_random, seed=args.seed)
    results[("cae-path", "(path to the medoid)")], _ = bl.score(
        bl.cae_explainer("cae-path", models.cae, paths.MedoidReference(bank)), clf, x, target, **common)
    for method in METHODS:
        for bname, base in _baselines(models.cae, bank, clf, train).items():
            t1 = time.perf_counter()
            results[(method, bname)], _ = bl.score(bl.captum_explainer(method, base), clf, x, target, **common)
            print(f"  quality {name:8s} {method:21s} {bname:25s} {time.perf_counter() - t1:5.1f} s", file=sys.stderr)
    _rows(csv_rows, "quality", name, results, args.seed)
    return [f"\n## Attribution quality by baseline: {name}\n",
            f"{len(x)} test images{' with a lesion' if masks is not None else ''}, the black box's decision explained; "
            f"bank of {len(bank)} training codes; deletion / insertion replace pixels by "
            f"{'black (-1)' if name in EVAL_BASELINE else 'the blurred image'} for every row; randomisation on "
            f"{args.n_random} images; {time.perf_counter() - t0:.0f} s. Mean [95% bootstrap interval].\n",
            bl.markdown_table(results, interval=True, seed=args.seed)]


def _paste_flip(clf, x, maps, cf, contrast: int, frac: float = 0.1) -> torch.Tensor:
    """(B,) 1 where pasting the top ``frac`` pixels of ``maps`` from ``cf`` into ``x`` makes the black box say
    ``contrast``."""
    flat = maps.flatten(1)
    k = max(1, int(frac * flat.shape[1]))
    top = torch.zeros_like(flat).scatter_(1, flat.topk(k, dim=1).indices, 1.0).view_as(maps) > 0
    mixed = torch.where(top.expand_as(x), cf, x)
    return (caelib.predict_proba(clf, mixed).argmax(1) == contrast).float()


def one_vs_one(name: str, target: int, contrasts: tuple[int, int], args, csv_rows: list) -> list[str]:
    t0 = time.perf_counter()
    models, clf, train, bank = _setup(name, args)
    test = caelib.load_dataset(name, split="test")
    mine = (caelib.predict_proba(clf, test.images).argmax(1) == target).nonzero().flatten()
    x = test.images[mine[torch.randperm(len(mine), generator=torch.Generator().manual_seed(args.seed))][:args.n]]
    near = paths.NearestReference(bank, core=0.5)
    names = test.class_names
    results, maps_by = {}, {}
    for c in contrasts:
        cf = bl.CounterfactualBaseline(models.cae, near, c)(x)
        candidates = {
            ("integrated-gradients, one-vs-one", "counterfactual (nearest, core 0.5)"):
                bl.one_vs_one("integrated-gradients", clf, x, target, c, cae=models.cae, reference=near),
            ("integrated-gradients, one-vs-rest", "blurred"):
                caelib.saliency.explain("integrated-gradients", clf, x, target),
            ("cae-path, towards c", "(path to the nearest)"):
                bl.one_vs_one("cae-path", clf, x, target, c, cae=models.cae, reference=near),
            ("random", "–"): caelib.saliency.explain("random", clf, x),
        }
        for key, maps in candidates.items():
            maps_by[key, c] = maps
            results[(f"{key[0]} [{names[target]} vs {names[c]}]", key[1])] = {
                "paste_flip": _paste_flip(clf, x, maps, cf, c),
                "cf_flip": (caelib.predict_proba(clf, cf).argmax(1) == c).float()}
    for key in {k for k, _ in maps_by}:
        if key[0] != "random":
            rho = ev.spearman(maps_by[key, contrasts[0]], maps_by[key, contrasts[1]]).abs()
            results[(f"{key[0]} [{names[target]} vs {names[contrasts[0]]} / {names[contrasts[1]]}]", key[1])] = {
                "similarity_between_contrasts": rho}
    _rows(csv_rows, "one-vs-one", name, results, args.seed)
    lines = [f"\n## One-vs-one on {name}: why {names[target]} and not {names[contrasts[0]]}, "
             f"and not {names[contrasts[1]]}?\n",
             f"{len(x)} test images the black box calls {names[target]}; {time.perf_counter() - t0:.0f} s. "
             "`paste_flip` ↑: share of images the black box puts in the contrast class after the map's top 10% pixels "
             "are pasted from the class-c counterfactual (the same counterfactual for every row); `cf_flip`: the "
             "counterfactual itself is put in class c (the ceiling); `similarity_between_contrasts` ↓: |Spearman| "
             "between the maps of the two questions. Mean [95% bootstrap interval].\n",
             "| question / method | baseline | metric | value |", "|---|---|---|---|"]
    for (m, b), s in results.items():
        for metric, v in s.items():
            mean, lo, hi = ev.mean_ci(v, seed=args.seed)
            lines.append(f"| {m} | {b} | {metric} | {mean:.3f} [{lo:.3f}, {hi:.3f}] |")
    return lines


def shortcut(args, csv_rows: list) -> list[str]:
    t0 = time.perf_counter()
    name = "lesions-shortcut"
    train, test = caelib.load_dataset(name, split="train"), caelib.load_dataset(name, split="test")
    both = bl.shortcut_images(test)
    x, lesion, marker = test.images[both][:args.n], test.masks[both][:args.n], test.marker_masks[both][:args.n]
    loaded = {"default CAE": _setup(name, args), "critic CAE": _setup(name, args, cae="critic"),
              "clean-data CAE": _setup(name, args, cae_of="lesions")}
    clf = loaded["default CAE"][1]
    target = caelib.predict_proba(clf, x).argmax(1)
    common = dict(masks=marker, regions={"marker": marker, "lesion": lesion}, steps=args.steps,
                  n_random=args.n_random, seed=args.seed)
    results, reports = {}, {}
    for v, (models, _, _, bank) in loaded.items():
        reports[v] = bl.shortcut_report(models.cae, clf, test, train, n=args.n_report, seed=args.seed)
        for method in ("cae", "cae-path", "cae-path-gradient"):
            results[(f"{method} ({v})", "(path to the medoid)")], _ = bl.score(
                bl.cae_explainer(method, models.cae, paths.MedoidReference(bank)), clf, x, target, **common)
    bank0 = loaded["default CAE"][3]
    bases = {k: b for k, b in _baselines(loaded["default CAE"][0].cae, bank0, clf, train).items()
             if not k.startswith("counterfactual")}
    for v, (models, _, _, bank) in loaded.items():
        bases[f"counterfactual ({v})"] = bl.CounterfactualBaseline(models.cae, paths.NearestReference(bank, core=0.5),
                                                                   classifier=clf)
    for method in METHODS:
        for bname, base in bases.items():
            t1 = time.perf_counter()
            results[(method, bname)], _ = bl.score(bl.captum_explainer(method, base), clf, x, target, **common)
            print(f"  shortcut {method:21s} {bname:28s} {time.perf_counter() - t1:5.1f} s", file=sys.stderr)
    _rows(csv_rows, "shortcut", name, results, args.seed)
    for v, rep in reports.items():
        for metric, value in rep.items():
            csv_rows.append({"experiment": "shortcut-cae", "dataset": name, "method": v, "baseline": "",
                             "metric": metric, "mean": round(value, 4), "low": "", "high": "", "n": args.n_report,
                             "higher_is_better": ""})
    area_m, area_l = float(marker.mean()), float(lesion.mean())
    lines = ["\n## The shortcut classifier: marker or lesion?\n",
             f"`lesions-shortcut-classifier.pt` was trained where a 3x3 marker gives the label away. {len(x)} test "
             f"images with a marker and a lesion; the black box calls {float((target == 1).float().mean()):.2f} of "
             f"them 'lesion'. The marker covers {area_m:.3f} of the image, the lesion {area_l:.3f} (the mass a map "
             "spread evenly would put there). Localisation columns are against the **marker** (what this black box "
             f"uses). {time.perf_counter() - t0:.0f} s. Mean [95% bootstrap interval].\n",
             bl.markdown_table(results, metrics=bl.SHORTCUT_METRICS, interval=True, seed=args.seed),
             "\nThe two CAEs judged by the shortcut black box (`caelib.baselines.shortcut_report`; counterfactual "
             "change: test images with marker and lesion swapped to the class-0 medoid, masks grown by 1 px):\n",
             "| CAE | " + " | ".join(next(iter(reports.values()))) + " |",
             "|---|" + "---|" * len(next(iter(reports.values())))]
    for v, rep in reports.items():
        train_s = loaded[v][0].meta.get("train_seconds")
        lines.append(f"| {v} ({train_s:.0f} s training) | " + " | ".join(f"{val:.3f}" for val in rep.values()) + " |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", nargs="+", default=["quality", "one-vs-one", "shortcut"],
                    choices=["quality", "one-vs-one", "shortcut"])
    ap.add_argument("--datasets", nargs="+", default=["lesions", "mnist"], choices=caelib.PRETRAINED)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--n-random", type=int, default=8)
    ap.add_argument("--n-report", type=int, default=500)
    ap.add_argument("--steps", type=int, default=32)
    ap.add_argument("--bank", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    warnings.filterwarnings("ignore", module="captum")
    warnings.filterwarnings("ignore", message=".*required_grads.*")
    args.out.mkdir(parents=True, exist_ok=True)
    parts = {"shortcut": lambda rows: shortcut(args, rows),
             "one-vs-one": lambda rows: one_vs_one("mnist", 3, (8, 5), args, rows)
             + one_vs_one("lesions-kinds", 1, (2, 3), args, rows),
             "quality": lambda rows: sum((quality(name, args, rows) for name in args.datasets), [])}
    for part in ("shortcut", "one-vs-one", "quality"):   # each part writes its own files, then the report joins them
        if part not in args.parts:
            continue
        t0 = time.perf_counter()
        rows: list[dict] = []
        lines = parts[part](rows)
        stem = args.out / f"baselines_{part.replace('-', '_')}"
        cmd = (f"python benchmarks/baselines.py --parts {part} --threads {args.threads} --n {args.n} "
               f"--n-random {args.n_random}")
        lines.append(f"\n(`{cmd}`: {time.perf_counter() - t0:.0f} s, {args.threads} torch thread(s) on 2 shared "
                     f"CPU cores, Python {platform.python_version()}, torch {torch.__version__}.)")
        stem.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
        with open(stem.with_suffix(".csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        print("\n".join(lines), flush=True)
    head = ["# Attribution baselines, one-vs-one, and the shortcut classifier", "",
            "Written by `python benchmarks/baselines.py` (each part also alone: `--parts shortcut`, `one-vs-one`, "
            "`quality`; their CSVs: `baselines_<part>.csv`).", "",
            "Arrows: ↑ higher is better, ↓ lower is better; the mass on marker / lesion has no direction (which one "
            "is right depends on what the black box uses). Best of each column in bold. Randomisation: |Spearman| of "
            "each map with the trained model's after re-initialising the black box's weight layers from the output "
            "down (top layer / all layers); the CAEs and the counterfactual baselines are not randomised."]
    body = [(args.out / f"baselines_{part}.md").read_text(encoding="utf-8")
            for part in ("shortcut", "one_vs_one", "quality") if (args.out / f"baselines_{part}.md").exists()]
    (args.out / "baselines.md").write_text("\n".join(head) + "\n" + "".join(body), encoding="utf-8")
    print(f"wrote {args.out}/baselines.md", file=sys.stderr)


if __name__ == "__main__":
    main()
