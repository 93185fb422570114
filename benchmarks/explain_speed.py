"""How long does one explanation take? CAE paths against Captum's attribution methods, per image.

    python benchmarks/explain_speed.py [--dataset lesions] [--threads 2] [--repeats 3] [--steps 11]

Times, in one run, on the same black box and the same test images (32x32): a whole CAE explanation
(``saliency_path.CAESaliency``: encode, pick the reference, a path of ``--steps`` steps decoded and
classified, the map) for the paper's variant (difference at the flip; the path stops at the flip) and
for the whole-path variant, against Captum's IntegratedGradients, Occlusion, Lime and KernelShap with the
settings printed in the table. Each method runs on 8 single images (batch 1) and on a batch of 64; the
table gives milliseconds per image (median over ``--repeats``) and each method's time as a multiple of
the CAE's. The reference bank (encoding training images, once per model) is set-up, not timed.
Taught alongside ``notebooks/05_paths.ipynb``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings

import torch

import caelib
from caelib import paths
from caelib.saliency_path import CAESaliency, Variant


def per_image_ms(fn, x: torch.Tensor, batch: int, repeats: int) -> float:
    """Median over ``repeats`` of the time per image of ``fn`` on ``x`` split into batches of ``batch``."""
    fn(x[:batch])                                                        # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for xb in x.split(batch):
            fn(xb)
        times.append((time.perf_counter() - t) / len(x) * 1000)
    return statistics.median(times)


def captum_methods(classifier, channels: int, size: int) -> dict:
    """name -> (settings, function(x) -> maps): Captum's methods explaining the black box's decision."""
    from captum.attr import IntegratedGradients, KernelShap, Lime, Occlusion

    cells = torch.arange((size // 4) ** 2).reshape(size // 4, size // 4)
    superpixels = cells.repeat_interleave(4, 0).repeat_interleave(4, 1)[None, None]   # (1, 1, H, W), 4x4 cells

    def decision(x):
        with torch.no_grad():
            return classifier(x).argmax(1)

    ig, occ = IntegratedGradients(classifier), Occlusion(classifier)
    lime, shap = Lime(classifier), KernelShap(classifier)
    return {
        "IntegratedGradients": ("50 steps, zero baseline",
                                lambda x: ig.attribute(x, target=decision(x), n_steps=50, internal_batch_size=1024)),
        "Occlusion": ("4x4 window, stride 2, zero",
                      lambda x: occ.attribute(x, target=decision(x), sliding_window_shapes=(channels, 4, 4),
                                              strides=(channels, 2, 2), perturbations_per_eval=64)),
        "Lime": ("200 samples, 4x4 superpixels",
                 lambda x: lime.attribute(x, target=decision(x), n_samples=200, perturbations_per_eval=200,
                                          feature_mask=superpixels.expand(len(x), channels, -1, -1))),
        "KernelShap": ("200 samples, 4x4 superpixels",
                       lambda x: shap.attribute(x, target=decision(x), n_samples=200, perturbations_per_eval=200,
                                                feature_mask=superpixels.expand(len(x), channels, -1, -1))),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="lesions", choices=caelib.PRETRAINED)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=11)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    warnings.filterwarnings("ignore", message="You are providing multiple inputs for Lime")  # one model per image

    models = caelib.pretrained(args.dataset)
    cae, classifier = models.cae.eval(), models.classifier.eval()
    train = caelib.load_dataset(args.dataset, split="train")
    test = caelib.load_dataset(args.dataset, split="test")
    x = test.images[torch.randperm(len(test), generator=torch.Generator().manual_seed(0))[:64]]
    bank = paths.CodeBank.from_images(cae, train.images, train.labels, classifier=classifier, n=3000)
    reference = paths.MedoidReference(bank)

    methods = {
        f"CAE difference (paper; {args.steps}-step path, stops at the flip)":
            ("medoid reference, straight", CAESaliency(cae, classifier, reference=reference, variant=Variant.DIFFERENCE,
                                                       steps=args.steps).attribute),
        f"CAE path (whole {args.steps}-step path)":
            ("medoid reference, straight", CAESaliency(cae, classifier, reference=reference, variant=Variant.PATH,
                                                       steps=args.steps).attribute),
        **captum_methods(classifier, x.shape[1], x.shape[-1]),
    }
    rows = {}
    for name, (settings, fn) in methods.items():
        rows[name] = (settings, per_image_ms(fn, x[:8], 1, args.repeats), per_image_ms(fn, x, 64, args.repeats))
        print(f"  timed {name}", flush=True)
    cae_name = next(iter(rows))
    _, ref1, ref64 = rows[cae_name]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\n{args.dataset}, 32x32, {args.threads} threads, {torch.__version__}, load average {load:.1f} "
          f"(on {os.cpu_count()} cores) when finished")
    print("\n| method | settings | ms / image, batch 1 | ms / image, batch 64 | x CAE (batch 1) | x CAE (batch 64) |")
    print("|---|---|---|---|---|---|")
    for name, (settings, t1, t64) in rows.items():
        print(f"| {name} | {settings} | {t1:.1f} | {t64:.2f} | {t1 / ref1:.1f} | {t64 / ref64:.1f} |")


if __name__ == "__main__":
    main()
