"""Do counterfactual paths reach a flip, how do the two routes compare, and where do the path saliency
maps point? Notebook 05's measurements on whole test sets.

    python benchmarks/paths_quality.py [--datasets lesions mnist] [--n 1000] [--threads 1]

For each dataset, with the shipped black box and CAE, a reference bank of the training images the black
box classifies correctly, 11-step paths to the most likely other class:
1. flip rate (fraction of test images whose path reaches the target class; higher is better) per
   reference rule and route, per direction (black box's decision -> target), the mean step of the flip
   (0..10), the fraction already flipped at step 0 (the reconstruction) and the fraction whose decision
   changes at all (the paper's stopping rule);
2. straight vs graph route (``paths.compare_routes``, medoid reference) on the first 300 test images;
3. (datasets with evidence masks) the pointing game of each saliency variant on the test images of the
   classes with evidence, strict and with 1 pixel of tolerance, and its dependence on the smoothing.
Prints Markdown.
"""

from __future__ import annotations

import argparse
import time

import torch

import caelib
from caelib import paths
from caelib.saliency_path import DEFAULT_SMOOTH, WHOLE_PATH, CAESaliency, Variant, path_saliency, pointing_game


def flip_table(cae, classifier, x, rules: dict, routes: dict, names) -> None:
    print("\n| reference | route | flip rate (target reached) | by direction (rate, n) | mean flip step (0-10) | "
          "flipped at step 0 | decision changed (paper's rule) |")
    print("|---|---|---|---|---|---|---|")
    for rule_name, rule in rules.items():
        for route_name, route in routes.items():
            rep = paths.flip_report(cae, classifier, x, reference=rule, route=route, steps=11)
            by = ", ".join(f"{names[int(k.split('->')[0])]}->{names[int(k.split('->')[1])]} {r:.3f} ({n})"
                           for k, (r, n) in rep["by_direction"].items()) if len(names) <= 4 else \
                ", ".join(f"from {k}: {v:.3f}" for k, v in paths.by_source_class(rep, names).items())
            print(f"| {rule_name} | {route_name} | {rep['flip_rate']:.3f} | {by} | {rep['mean_flip_step']:.2f} | "
                  f"{rep['at_step_0']:.3f} | {rep['changed_rate']:.3f} |", flush=True)


def route_table(cae, classifier, disc, x, bank, reference, routes: dict) -> None:
    table = paths.compare_routes(cae, classifier, x, routes, reference=reference, bank=bank, disc=disc, steps=11)
    cols = ["off_manifold", "realism", "flip_rate", "flip_step", "roughness", "max_jump", "length"]
    print(f"\nRoutes on {len(x)} test images (medoid reference, 11 steps, whole paths): off_manifold lower is better, "
          "realism higher (the discriminator's logit; real images in the last row), flip_step = fraction of the path")
    print("\n| route | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    for name, row in table.items():
        print(f"| {name} | " + " | ".join(f"{row.get(c, float('nan')):.3f}" for c in cols) + " |")


def saliency_table(cae, classifier, x, masks, reference) -> None:
    print(f"\nPointing game (higher is better) on {len(x)} test images with evidence, medoid reference, straight route")
    print("\n| variant | smoothing (px) | pointing game | with 1 px tolerance |")
    print("|---|---|---|---|")
    for v in Variant:
        maps = CAESaliency(cae, classifier, reference=reference, variant=v).attribute(x)
        print(f"| {v.value} | {DEFAULT_SMOOTH[v]} | {pointing_game(maps, masks).mean():.3f} | "
              f"{pointing_game(maps, masks, 1).mean():.3f} |", flush=True)
    whole = paths.counterfactual_path(cae, classifier, x, reference=reference, steps=11, stop_at_flip=False)
    stopped = paths.counterfactual_path(cae, classifier, x, reference=reference, steps=11)
    print("\nSmoothing (Gaussian sigma, px) against the pointing game:\n")
    sigmas = [0.0, 1.0, 2.0, 3.0]
    print("| variant | " + " | ".join(f"sigma {s}" for s in sigmas) + " |")
    print("|---|" + "---|" * len(sigmas))
    for v in Variant:
        p = whole if v in WHOLE_PATH else stopped
        print(f"| {v.value} | " + " | ".join(
            f"{pointing_game(path_saliency(p, v, smooth=s, classifier=classifier), masks).mean():.3f}"
            for s in sigmas) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["lesions", "mnist"], choices=caelib.PRETRAINED)
    ap.add_argument("--n", type=int, default=1000, help="test images (the whole test set by default)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for name in args.datasets:
        t0 = time.time()
        models = caelib.pretrained(name)
        cae, classifier, disc = models.cae.eval(), models.classifier.eval(), models.disc
        train, test = caelib.load_dataset(name, split="train"), caelib.load_dataset(name, split="test")
        x = test.images[:args.n]
        bank = paths.CodeBank.from_images(cae, train.images, train.labels, classifier=classifier)
        medoid = paths.MedoidReference(bank)
        strong = paths.StrongReference(cae, classifier, bank)
        print(f"\n## {name}: {len(x)} test images, {len(bank)} training codes in the bank")
        graph = paths.GraphRoute(bank, k=10)
        flip_table(cae, classifier, x, {"strong": strong, "medoid": medoid},
                   {"straight": paths.StraightRoute(), "graph": graph}, test.class_names)
        flip_table(cae, classifier, x, {"nearest, core 0.8": paths.NearestReference(bank, core=0.8),
                                        "nearest": paths.NearestReference(bank)}, {"straight": paths.StraightRoute()},
                   test.class_names)
        route_table(cae, classifier, disc, x[:300], bank, medoid, {"straight": paths.StraightRoute(), "graph": graph})
        if test.masks is not None:
            has = test.masks[:args.n].flatten(1).amax(1) > 0
            saliency_table(cae, classifier, x[has], test.masks[:args.n][has], medoid)
        print(f"\n({name}: {time.time() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
