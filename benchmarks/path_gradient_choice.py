"""How the ``path-gradient`` CAE saliency map was chosen: smoothing and sign, on training images.

    python benchmarks/path_gradient_choice.py [--n 150] [--threads 2]

``caelib.saliency_path.Variant.PATH_GRADIENT`` integrates the black box's gradient along a counterfactual path
(``path_gradients``) and then keeps a part of it and smooths it. Those two choices are picked here on lesions
*training* images (with evidence masks), so that the test-set table of ``benchmarks/saliency.py`` does not choose
them: for each sign rule (positive part, absolute value) and Gaussian sigma, the four localisation metrics of
``caelib.evaluate`` and their mean. The shipped default (``DEFAULT_SMOOTH``) is the row with the best mean.
Writes ``benchmarks/results/path_gradient_choice.md``. About 20 s.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

import caelib
from caelib import evaluate as ev
from caelib import paths
from caelib.saliency_path import DEFAULT_SMOOTH, Variant, gaussian_blur, path_gradients

SIGMAS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)
SIGNS = {"positive part": lambda a: a.clamp_min(0), "absolute value": torch.abs}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=150)
    p.add_argument("--bank", type=int, default=3000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    models = caelib.pretrained("lesions")
    clf, cae = models.classifier.eval(), models.cae
    train = caelib.load_dataset("lesions", split="train")
    g = torch.Generator().manual_seed(args.seed)
    bank_pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:args.bank]
    bank = paths.CodeBank.from_images(cae, train.images[bank_pick], train.labels[bank_pick], classifier=clf)
    order = torch.randperm(len(train), generator=g)
    keep = order[ev.has_evidence(train.masks[order])][:args.n]
    x, masks = train.images[keep], train.masks[keep]
    path = paths.counterfactual_path(cae, clf, x, reference=paths.MedoidReference(bank), steps=11,
                                     stop_at_flip=False)
    attributions = path_gradients(path, clf)
    rows = []
    for sign, part in SIGNS.items():
        for sigma in SIGMAS:
            loc = ev.localisation(gaussian_blur(part(attributions), sigma).sum(1, keepdim=True), masks)
            means = {k: float(v.mean()) for k, v in loc.items()}
            rows.append((sign, sigma, means, sum(means.values()) / len(means)))
    best = max(rows, key=lambda r: r[3])
    keys = list(rows[0][2])
    lines = ["# Choosing the path-gradient map's smoothing and sign (benchmarks/path_gradient_choice.py)", "",
             f"Command: `python benchmarks/path_gradient_choice.py --threads {args.threads}` "
             f"({time.perf_counter() - t0:.0f} s). {len(x)} lesions *training* images with evidence, shipped "
             f"black box and CAE, 11-step straight paths to the medoid of the other class (whole path), "
             f"`path_gradients` with its default substeps; all metrics higher is better.", "",
             "| sign | sigma (px) | " + " | ".join(k.replace("_", " ") for k in keys) + " | mean |",
             "|---|---|" + "---|" * (len(keys) + 1)]
    for sign, sigma, means, mean in rows:
        mark = "**" if (sign, sigma) == best[:2] else ""
        lines.append(f"| {sign} | {sigma:g} | " + " | ".join(f"{means[k]:.3f}" for k in keys)
                     + f" | {mark}{mean:.3f}{mark} |")
    lines += ["", f"Best mean: {best[0]}, sigma {best[1]:g} px. Shipped default: positive part, sigma "
              f"{DEFAULT_SMOOTH[Variant.PATH_GRADIENT]:g} px."]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "path_gradient_choice.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
