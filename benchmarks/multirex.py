"""Multiple explanations of one decision: caelib's implementation against the reference tool rex-xai 0.4.1.

    python benchmarks/multirex.py [--n 50] [--seed 0] [--threads 1] [--n-mnist 20] [--out benchmarks/results]
                                  [--no-rex]

About 5 minutes with one torch thread (``--n 50``; half of it rex-xai). The black box is the shipped ``lesions``
classifier (``caelib.pretrained("lesions")``, trained on one-lesion images); the images are the first ``--n`` test
images of ``lesions-two`` (two lesions each, on opposite sides of the organ) that it classifies as "lesion". Hidden
pixels become the blurred image (``caelib.conventions.DEFAULT_REPLACEMENT``) for both tools. Last, ``--n-mnist``
random mnist test digits with caelib's implementation (hidden pixels black).

First a check that the data really has two explanations: the classifier's decision with the first, the
second and both lesions (grown by 1 px) replaced by the blurred image, and with everything but one lesion
replaced. Then per tool (``caelib.responsibility.explain_multiple`` with its defaults;
``caelib.responsibility.rex_explain_multiple`` with a few settings for 32x32 images, rex-xai's defaults being
made for 224x224 ImageNet images):

- fraction of images with >= 2 explanations;
- fraction whose explanations land on two different lesions (``lesion_landing``: an explanation lands on a
  lesion when it touches that lesion, grown by 1 px, and not the other one);
- explanations per image, pixels per explanation, black-box calls per image, seconds per image (wall clock,
  one image at a time, ``--threads`` torch threads).

Writes ``multirex.md`` and ``multirex.csv`` to ``--out``.
"""

from __future__ import annotations

import argparse
import csv
import platform
import sys
import time
from pathlib import Path

import torch

import caelib
from caelib import responsibility as rsp
from caelib.conventions import DEFAULT_REPLACEMENT, dilate

REX_SETTINGS = {   # rex-xai settings tried (its defaults: min_box_size 10, spotlight_size 20, for 224x224 images)
    "rex-xai (min box 2, spotlight 6)": dict(min_box_size=2, spotlight_size=6, spotlight_step=2),
    "rex-xai (its defaults: min box 10, spotlight 20)": dict(min_box_size=10, spotlight_size=20, spotlight_step=5),
}
# Also tried on 60 images (an earlier caelib version beside it), not kept since no better and slower: min box 4 with
# spotlight 6 (>= 2 explanations 0.05, on two lesions 0.00, 1.75 s / image); the same with 50 iterations (0.05, 0.00,
# 4.2 s / image).


def two_lesion_images(n: int):
    """The black box, and the first ``n`` lesions-two test images it calls "lesion", with their lesion masks."""
    clf = caelib.pretrained("lesions", with_cae=False).classifier.eval()
    ds = caelib.load_dataset("lesions-two", split="test")
    pos = ds.labels == 1
    x, lesions = ds.images[pos], ds.lesion_masks[pos]
    says = caelib.predict_proba(clf, x).argmax(1) == 1
    return clf, x[says][:n], lesions[says][:n], float(says.float().mean())


def sufficiency_check(clf, x, lesions) -> dict[str, float]:
    """Fraction of images the black box calls "lesion" when lesions are removed or kept alone."""
    base = DEFAULT_REPLACEMENT(x)
    grown = dilate(lesions, 1)                                                 # (n, 2, H, W), 1 px margin
    a, b = grown[:, :1], grown[:, 1:]
    both = (a + b).clamp(max=1)
    cases = {"image": x, "lesion 1 removed": x * (1 - a) + base * a, "lesion 2 removed": x * (1 - b) + base * b,
             "both removed": x * (1 - both) + base * both, "only lesion 1 kept": x * a + base * (1 - a),
             "only lesion 2 kept": x * b + base * (1 - b)}
    return {k: float((caelib.predict_proba(clf, v).argmax(1) == 1).float().mean()) for k, v in cases.items()}


def summarise(tool: str, results, lesions) -> dict:
    landing = [rsp.lesion_landing(r.explanations, m) for r, m in zip(results, lesions)]
    sizes = [int(e.sum()) for r in results for e in r.explanations]
    errors = sum(r.extras.get("error") is not None for r in results)
    return {"tool": tool, "n": len(results),
            "frac_two_or_more": sum(len(r) >= 2 for r in results) / len(results),
            "frac_distinct_lesions": sum(len(set(l[l >= 0].tolist())) >= 2 for l in landing) / len(results),
            "explanations_per_image": sum(len(r) for r in results) / len(results),
            "pixels_per_explanation": sum(sizes) / max(1, len(sizes)),
            "calls_per_image": sum(r.forward_passes for r in results) / len(results),
            "seconds_per_image": sum(r.seconds for r in results) / len(results),
            "errors": errors}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    p.add_argument("--n-mnist", type=int, default=20, help="random mnist test digits (0: skip)")
    p.add_argument("--no-rex", action="store_true", help="skip rex-xai")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    clf, x, lesions, says = two_lesion_images(args.n)
    check = sufficiency_check(clf, x, lesions)
    rows = []
    config = rsp.ResponsibilityConfig()
    for name, cfg in [("caelib", config), ("caelib (no pruning)", rsp.ResponsibilityConfig(prune=False)),
                      ("caelib (global explanation first)", rsp.ResponsibilityConfig(smallest_first=False))]:
        res = rsp.explain_multiple(clf, x, config=cfg, seed=args.seed, progress=False)
        rows.append(summarise(name, res, lesions))
        print(f"  {name:40s} {rows[-1]['frac_two_or_more']:.2f} {rows[-1]['frac_distinct_lesions']:.2f} "
              f"{rows[-1]['seconds_per_image']:.3f} s/image", file=sys.stderr, flush=True)
    rex_note = ""
    if args.no_rex:
        rex_note = "rex-xai skipped (--no-rex)."
    elif not rsp.rex_available():
        rex_note = "rex-xai not installed: " + rsp.REX_MISSING
    else:
        import importlib.metadata as md

        rex_note = f"rex-xai {md.version('rex-xai')}."
        for name, kw in REX_SETTINGS.items():
            res = rsp.rex_explain_multiple(clf, x, seed=args.seed, max_dice=config.max_dice, progress=False, **kw)
            rows.append(summarise(name, res, lesions))
            print(f"  {name:40s} {rows[-1]['frac_two_or_more']:.2f} {rows[-1]['frac_distinct_lesions']:.2f} "
                  f"{rows[-1]['seconds_per_image']:.3f} s/image", file=sys.stderr, flush=True)
    mnist_line = ""
    if args.n_mnist:
        digits = caelib.load_dataset("mnist", split="test")
        pick = torch.randperm(len(digits), generator=torch.Generator().manual_seed(args.seed))[:args.n_mnist]
        mn = caelib.pretrained("mnist", with_cae=False).classifier.eval()
        res = rsp.explain_multiple(mn, digits.images[pick], replacement=-1.0, config=config, seed=args.seed,
                                   progress=False)
        counts = [len(r) for r in res]
        sizes = [int(e.sum()) for r in res for e in r.explanations]
        trivial = sum(r.extras["replacement_keeps_label"] for r in res)
        mnist_line = (f"mnist (shipped classifier, hidden pixels black, {len(res)} random test digits): "
                      f"{sum(c >= 2 for c in counts) / len(res):.2f} with >= 2 explanations (counts {counts}); "
                      f"{trivial} digit(s) the black box calls the same class with every pixel black (no explanation "
                      "needed, none given); "
                      f"smallest explanation {min(sizes)} px, median {sorted(sizes)[len(sizes) // 2]} px; "
                      f"{sum(r.seconds for r in res) / len(res):.2f} s / image.")
        print("  " + mnist_line, file=sys.stderr, flush=True)
    seconds = time.perf_counter() - t_start
    with open(args.out / "multirex.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in rows)
    lines = ["# Multiple explanations of one decision: caelib against rex-xai\n",
             f"Command: `python benchmarks/multirex.py --n {args.n} --threads {args.threads}` ({seconds:.0f} s in all; "
             f"{args.threads} torch thread(s), 2 shared CPU cores, Python {platform.python_version()}, "
             f"torch {torch.__version__}). {rex_note}\n",
             f"Black box: the shipped `lesions` classifier (trained on one-lesion images). Images: the first "
             f"{len(x)} `lesions-two` test images with label \"lesion\" that it calls \"lesion\" ({says:.3f} of them). "
             "Hidden pixels become the blurred image (Gaussian, sigma 4 px) for both tools.\n",
             "## Either lesion alone suffices\n",
             "Fraction called \"lesion\" (lesions grown by 1 px; removed = replaced by the blurred image):\n",
             "| " + " | ".join(check) + " |", "|" + "---|" * len(check),
             "| " + " | ".join(f"{v:.3f}" for v in check.values()) + " |\n",
             "## Explanations found\n",
             "| tool | images | >= 2 explanations ↑ | on two different lesions ↑ | explanations / image | "
             "pixels / explanation | black-box calls / image | s / image ↓ | tool errors |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['tool']} | {r['n']} | {r['frac_two_or_more']:.3f} | {r['frac_distinct_lesions']:.3f} | "
                     f"{r['explanations_per_image']:.2f} | {r['pixels_per_explanation']:.1f} | "
                     f"{r['calls_per_image']:.0f} | {r['seconds_per_image']:.3f} | {r['errors']} |")
    lines += ["",
              f"caelib: `caelib.responsibility.explain_multiple` with `{config}`. \"no pruning\" keeps the whole "
              "reveal-until-it-passes set; \"global explanation first\" selects the global explanation before the "
              "spotlights' (the paper's order) instead of the smallest first.",
              "rex-xai: its MultiSpotlight strategy through its Python API "
              "(`caelib.responsibility.rex_explain_multiple`: 10 spotlights, 20 iterations unless said, Dice threshold "
              f"{config.max_dice}, its own selection `separate_by` and first clause, as its command line does). Its "
              "hidden pixels are NaN, which the prediction function swaps for the blurred image, so both tools judge "
              "the same "
              "mutants. \"tool errors\": images where rex-xai 0.4.1's spotlight search raised `TypeError` (a spotlight "
              "that grows over the whole 32x32 image returns None); those images keep the explanations found before.",
              "An explanation \"lands on\" a lesion when it touches that lesion (grown by 1 px) and not the other; an "
              "image counts as \"on two different lesions\" when two of its explanations land on different lesions.",
              "Times are wall clock on a shared machine: compare them with each other, not across machines.",
              "", "## mnist\n", mnist_line or "skipped (--n-mnist 0)."]
    (args.out / "multirex.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out / 'multirex.md'} ({seconds:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
