"""Does the default recipe work on data nobody tuned it for? The panel of issue 25, run as a user would.

    python benchmarks/generalisation.py [--sets fashion-shirts-500 mnist ...] [--seeds 0 1 2] [--threads 2]
                                        [--steps 2000] [--cae-args "--indiv-downs 1"]
                                        [--recipe-constant BALANCE_PAIRS=True ...]
                                        [--out benchmarks/results/generalisation.md]

fashion-shirts-500-64px (on request, not in the default --sets) is the same data written to a folder as 64x64 PNGs
and read with ``--folder DIR --image-size 64``: what 64x64 images cost and whether the guards hold there.

For each panel set and seed, exactly README's commands with default settings (no per-set flag):
``python -m caelib train-classifier --dataset D [--max-images N] --seed S`` and
``python -m caelib train-cae --dataset D [--max-images N] --classifier CLF --seed S`` (in-process, through
``caelib.cli.main``), then, on the test split:
- the black box's accuracy; reconstructions classified correctly; swap flip rate, mean over ordered class pairs and
  the worst pair (``caelib.swap.verdict`` on 500 test images sampled across the classes: the same table train-cae
  prints, with its bars);
- medoid paths reach the target: the share of 200 correctly classified test images (sampled across the classes)
  whose 11-step straight path towards the most likely other class, with the medoid reference, flips the black box;
- deletion AUC (lower is better: the black box's probability as pixels are replaced, most salient first) on 100
  correctly classified test images, for the CAE path-gradient map (as shipped, and without its 1-px smoothing), the
  paper's CAE map (|x_cf - x|), Integrated Gradients, Occlusion and a random map;
- training time of the CAE (wall clock).
Each row is appended to ``--out`` (a Markdown table) as soon as it is measured, so a long run can stop any time.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import tempfile
import time
from pathlib import Path

import torch

import caelib
from caelib import cli, evaluate, paths, saliency, train_config
from caelib.classifier import load_classifier, predict_proba
from caelib.data import ImageDataset, save_image_folder, stratified_indices
from caelib.pretrained import load_cae
from caelib.swap import verdict

# name -> (built-in dataset, training images or None for all): K = 2, 4 and 10; small (500) and larger sets
PANEL = {
    "fashion-shirts-500": ("fashion-mnist-shirts", 500),
    "fashion-shirts-6000": ("fashion-mnist-shirts", 6000),
    "fashion-tops-500": ("fashion-mnist-tops", 500),
    "fashion-10-6000": ("fashion-mnist", 6000),
    "mnist": ("mnist", None),
    "digits": ("digits", None),
    "lesions-kinds": ("lesions-kinds", None),
    "fashion-shirts-500-64px": ("fashion-mnist-shirts", 500),
}
# sets written to a folder of larger PNGs (bilinear) and trained with --folder --image-size: the cost of 64x64 images
LARGER = {"fashion-shirts-500-64px": 64}
# deletion AUC of these maps: label -> (caelib.saliency method, its options). "unsmoothed": the path-gradient map
# without its 1-px Gaussian (chosen for localisation on lesions; deletion removes single pixels)
MAPS = {"CAE path-gradient": ("cae-path-gradient", {}),
        "CAE path-gradient unsmoothed": ("cae-path-gradient", {"smooth": 0.0}),
        "paper's CAE map": ("cae", {}), "IG": ("integrated-gradients", {}), "Occlusion": ("occlusion", {}),
        "random": ("random", {})}
COLUMNS = ["set", "seed", "K", "train images", "black box", "recon correct", "flip mean", "flip worst",
           "flip mean all donors", "flip worst all donors",
           "medoid path reaches", *[f"deletion {m}" for m in MAPS], "CAE minutes", "guards not met"]


def correctly_classified(classifier, test, n: int, seed: int) -> torch.Tensor:
    """Indices of up to ``n`` test images the black box gets right, sampled across the classes."""
    right = (predict_proba(classifier, test.images).argmax(1) == test.labels).nonzero().flatten()
    pick = stratified_indices(test.labels[right], min(n, len(right)), seed)
    return right[torch.as_tensor(pick)]


def write_larger(dataset: str, n_train: int | None, size: int, root: Path) -> list[str]:
    """Write ``dataset``'s training (``n_train`` images) and test splits to ``root/train`` and ``root/test`` as
    ``size`` x ``size`` PNGs, as a user's folder of larger images; the train-cae flags that read it."""
    for split, n in (("train", n_train), ("test", None)):
        ds = caelib.load_dataset(dataset, split=split, **({} if n is None else {"n": n}))
        big = torch.nn.functional.interpolate(ds.images, size=(size, size), mode="bilinear", align_corners=False)
        save_image_folder(ImageDataset(big.clamp(-1, 1), ds.labels, class_names=ds.class_names), root / split)
    return ["--folder", str(root), "--image-size", str(size)]


def measure(name: str, seed: int, steps: int | None, work: Path, cae_args: tuple[str, ...] = ()) -> dict:
    dataset, n_train = PANEL[name]
    data = ["--dataset", dataset] + ([] if n_train is None else ["--max-images", str(n_train)])
    folder = work / f"{name}-{seed}-images"      # a user's folder of larger images, for the LARGER sets
    if name in LARGER:
        data = write_larger(dataset, n_train, LARGER[name], folder)
    clf_path, cae_path = work / f"{name}-{seed}-classifier.pt", work / f"{name}-{seed}-cae.pt"
    cli.main(["train-classifier", *data, "--out", str(clf_path), "--seed", str(seed), "--quiet"])
    t0 = time.perf_counter()
    cli.main(["train-cae", *data, "--classifier", str(clf_path), "--out", str(cae_path), "--seed", str(seed),
              "--quiet", *([] if steps is None else ["--steps", str(steps)]), *cae_args])
    minutes = (time.perf_counter() - t0) / 60
    classifier, (cae, _, _) = load_classifier(clf_path), load_cae(cae_path)
    if name in LARGER:
        train, test = (caelib.load_dataset("folder", split=split, root=folder, image_size=LARGER[name])
                       for split in ("train", "test"))
    else:
        train = caelib.load_dataset(dataset, split="train", **({} if n_train is None else {"n": n_train}))
        test = caelib.load_dataset(dataset, split="test")
    v = verdict(cae, classifier, test, n=500, seed=seed, class_names=test.class_names)
    bank = paths.CodeBank.from_images(cae, train.images, train.labels, classifier=classifier)
    x = test.images[correctly_classified(classifier, test, 200, seed)]
    reach = paths.flip_report(cae, classifier, x, reference=paths.MedoidReference(bank))["flip_rate"]
    x = x[:100]
    deletion = {}
    for label, (method, options) in MAPS.items():
        maps = saliency.explain(method, classifier, x, cae=cae, bank=bank, **options)
        deletion[label] = float(evaluate.deletion_auc(classifier, x, maps).mean())
    g = {guard.name: guard for guard in v.guards}
    return {"set": name, "seed": seed, "K": cae.config.num_classes, "train images": len(train),
            "black box": v.classifier_accuracy, "recon correct": g["recon_accuracy"].value,
            "flip mean": g["flip_mean"].value, "flip worst": g["flip_worst"].value,
            "flip mean all donors": v.report["flip_mean"], "flip worst all donors": v.report["flip_worst"],
            "medoid path reaches": reach,
            **{f"deletion {m}": deletion[m] for m in MAPS}, "CAE minutes": minutes,
            "guards not met": ", ".join(guard.name for guard in v.failed) or "none"}


def row_text(row: dict) -> str:
    def cell(value):
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    return "| " + " | ".join(cell(row[c]) for c in COLUMNS) + " |"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sets", nargs="+", default=[s for s in PANEL if s not in LARGER], choices=list(PANEL),
                   help="default: every 32x32 set; fashion-shirts-500-64px (the same images at 64x64, from a "
                   "folder) on request")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--steps", type=int, help="CAE steps (default: train-cae's own default)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cae-args", default="", help="extra train-cae flags, the same for every set, to compare a "
                   "variant of the default (e.g. \"--indiv-downs 1\"); the issue's bars take none")
    p.add_argument("--recipe-constant", action="append", default=[], metavar="NAME=VALUE",
                   help="set a constant of caelib.train_config that the recipe reads (e.g. BALANCE_PAIRS=True, "
                   "CRITIC_WEIGHT=6), to measure a candidate default")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "generalisation.md")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    for item in args.recipe_constant:
        name, _, value = item.partition("=")
        if not name.isupper() or not hasattr(train_config, name):
            p.error(f"--recipe-constant {item}: caelib.train_config has no constant {name!r}")
        setattr(train_config, name, type(getattr(train_config, name))(ast.literal_eval(value)))
    if not args.out.exists():
        args.out.write_text("# The default recipe on the panel (issue 25)\n\nCommand: `python benchmarks/"
                            "generalisation.py` (rows appended as measured; see the script's docstring).\n")
    with open(args.out, "a", encoding="utf-8") as f:
        f.write(f"\n{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, {args.threads} threads, "
                f"steps {args.steps or 'default'}"
                + (f", train-cae {args.cae_args}" if args.cae_args else "")
                + "".join(f", {item}" for item in args.recipe_constant) + ":\n\n| " + " | ".join(COLUMNS) + " |\n|"
                + "---|" * len(COLUMNS) + "\n")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sets:
            for seed in args.seeds:
                line = row_text(measure(name, seed, args.steps, Path(tmp), tuple(args.cae_args.split())))
                print(line, flush=True)
                with open(args.out, "a", encoding="utf-8") as f:
                    f.write(line + "\n")


if __name__ == "__main__":
    main()
