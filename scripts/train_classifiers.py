"""Train and save the black-box classifiers shipped in ``data/`` (the one documented command).

    python scripts/train_classifiers.py                 # all of them
    python scripts/train_classifiers.py --only mnist    # just one (repeatable)

Each recipe trains a :class:`caelib.classifier.SmallCNN` on the CPU, prints its test accuracy and
training time, and stores both (with the recipe, seed and versions) in the checkpoint's meta.
``lesions-shortcut`` is trained on the shortcut *train* split, where a marker gives the label away;
its accuracy on the shortcut test split (marker uninformative) and on clean lesions shows it learnt
the marker: that is the point of the notebook that uses it.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from caelib.classifier import (
    ClassifierConfig,
    SmallCNN,
    evaluate_classifier,
    load_classifier,
    save_classifier,
    train_classifier,
)
from caelib.data import load_dataset

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Recipe:
    """How one shipped classifier is trained."""

    dataset: str  # caelib dataset name, train split used for training
    width: int = 8  # SmallCNN width (channels of the first stage)
    stages: int = 3  # SmallCNN stages
    epochs: int = 8  # passes over the training set
    lr: float = 1e-2  # peak learning rate of the one-cycle schedule
    batch_size: int = 64  # images per step
    augment: int = 2  # max random shift in pixels
    flips: bool = False  # random flips (only where the class does not depend on orientation)
    also_test_on: tuple[str, ...] = field(default=())  # other datasets whose test split is reported
    n_train: int | None = None  # training images (None: the dataset's full train split)


RECIPES: dict[str, Recipe] = {
    "lesions": Recipe("lesions", flips=True),
    "lesions-kinds": Recipe("lesions-kinds", flips=True),
    "mnist": Recipe("mnist", epochs=10),  # digits are not flip-invariant
    # no flips: the marker stays in its corner, so the shortcut is as easy to learn as it looks
    "lesions-shortcut": Recipe("lesions-shortcut", epochs=6, also_test_on=("lesions",)),
    # deliberately weak (notebook 09): 1000 training images for 3 epochs, so that it makes real mistakes,
    # most of them lesions it misses (measured: data/README.md)
    "lesions-weak": Recipe("lesions", epochs=3, flips=True, n_train=1000),
}


def train_one(name: str, recipe: Recipe, out_dir: Path, seed: int, progress: bool) -> dict:
    """Train, evaluate and save one classifier; returns its meta."""
    train_ds = load_dataset(recipe.dataset, "train", seed=seed, n=recipe.n_train)
    test_ds = load_dataset(recipe.dataset, "test", seed=seed)
    c, h, _ = train_ds.image_shape
    config = ClassifierConfig(
        channels=c, image_size=h, num_classes=train_ds.num_classes, width=recipe.width, stages=recipe.stages
    )
    torch.manual_seed(seed)
    model = SmallCNN(config)
    t0 = time.perf_counter()
    history = train_classifier(
        model,
        train_ds,
        epochs=recipe.epochs,
        lr=recipe.lr,
        batch_size=recipe.batch_size,
        augment=recipe.augment,
        flips=recipe.flips,
        seed=seed,
        device="cpu",
        progress=progress,
    )
    seconds = time.perf_counter() - t0
    test = {recipe.dataset: evaluate_classifier(model, test_ds)["accuracy"]}
    marker = getattr(test_ds, "marker_masks", None)
    if marker is not None:  # images whose marker contradicts the label: a shortcut model fails on these
        against = (marker.flatten(1).amax(1) > 0).long() != test_ds.labels
        test[f"{recipe.dataset} (marker contradicts label)"] = evaluate_classifier(
            model, test_ds.subset(torch.nonzero(against).flatten())
        )["accuracy"]
    for other in recipe.also_test_on:
        test[other] = evaluate_classifier(model, load_dataset(other, "test", seed=seed))["accuracy"]
    meta = {
        "dataset": recipe.dataset,
        "class_names": list(train_ds.class_names),
        "seed": seed,
        "recipe": dataclasses.asdict(recipe),
        "test_accuracy": test,
        "train_seconds": round(seconds, 1),
        "epoch_seconds": [round(e["seconds"], 1) for e in history],
        "history": history,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "command": f"python scripts/train_classifiers.py --only {name} --seed {seed}",
    }
    path = out_dir / f"{name}-classifier.pt"
    save_classifier(path, model, meta=meta)
    load_classifier(path)  # the file reads back
    accs = ", ".join(f"{k} test {v:.2%}" for k, v in test.items())
    print(
        f"{name:18s} {accs}; trained in {seconds:.1f} s ({recipe.epochs} epochs, "
        f"{seconds / recipe.epochs:.1f} s/epoch); {path.stat().st_size / 1024:.0f} KiB -> {path}",
        flush=True,
    )
    return meta


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", action="append", choices=sorted(RECIPES), help="train only this one")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "data", help="where the .pt files go")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name in args.only or RECIPES:
        train_one(name, RECIPES[name], args.out_dir, args.seed, progress=not args.no_progress)


if __name__ == "__main__":
    main()
