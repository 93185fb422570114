"""Train and save the CAEs shipped in ``data/`` (the one documented command), and measure them.

    python scripts/train_cae.py                   # all of them
    python scripts/train_cae.py --only lesions    # just one (repeatable)
    python scripts/train_cae.py --only lesions --fit-eraser   # only fit the class eraser of a shipped CAE

``--fit-eraser`` does to a shipped CAE trained before ``caelib.erasure`` existed what training now does
after its last step (for recipes with ``erase_steps=0``): fit the class eraser of the individual code on
the training set, measure again, and rewrite the file, keeping the training's metadata.

Each recipe trains a CAE on the CPU against the shipped black box's data, measures every quality bar
of ``data/README.md`` on the test split (with the shipped black box), and stores the numbers, the
training time, the recipe and the versions in the checkpoint's meta. The final file holds no
optimiser state (it is a few hundred kB); the resumable training checkpoint is kept under --work-dir.
"""

from __future__ import annotations

import argparse
import json
import platform
from dataclasses import asdict
from pathlib import Path

import torch

from caelib.cae import count_parameters
from caelib.checkpoints import save_checkpoint
from caelib.classifier import load_classifier
from caelib.data import load_dataset
from caelib.erasure import fit_indiv_eraser
from caelib.pretrained import CAE_RECIPES as RECIPES
from caelib.pretrained import CAERecipe as Recipe
from caelib.pretrained import load_cae
from caelib.swap import quality_report

ROOT = Path(__file__).resolve().parents[1]


def _data(recipe: Recipe, out_dir: Path):
    """The recipe's training and test splits and the shipped black box it is measured against."""
    train = load_dataset(recipe.dataset, "train", classes=recipe.classes)
    test = load_dataset(recipe.dataset, "test", classes=recipe.classes)
    return train, test, load_classifier(out_dir / f"{recipe.classifier}-classifier.pt")


def _measure(cae, classifier, test, train) -> dict:
    """Every quality bar of data/README.md; for a shortcut data set also what the black box (not the label) says."""
    report = quality_report(cae, classifier, test, train)
    if hasattr(test, "marker_masks"):
        from caelib.baselines import shortcut_report

        report.update(shortcut_report(cae, classifier, test, train))
    return report


def _row(name: str, report: dict, **extra) -> dict:
    """The printed summary: the numbers first, the per-pair flip rates last."""
    return {"name": name, **extra, **{k: v for k, v in report.items() if k != "flip_per_pair"},
            "flip_per_pair": report["flip_per_pair"]}


def train_one(name: str, recipe: Recipe, out_dir: Path, work_dir: Path, progress: bool) -> dict:
    train, test, classifier = _data(recipe, out_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    result = recipe.train_cae(train, classifier=classifier, checkpoint=work_dir / f"{name}-cae-training.pt",
                              progress=progress)
    report = _measure(result.cae, classifier, test, train)
    meta = {"metrics": report, "train_seconds": result.seconds, "steps": result.step,
            "threads": torch.get_num_threads(), "parameters": count_parameters(result.cae),
            "train_config": json.loads(json.dumps(asdict(recipe.train))), "dataset": recipe.dataset,
            "classifier": f"{recipe.classifier}-classifier.pt", "critic": recipe.critic,
            "history": result.history, "torch": torch.__version__, "python": platform.python_version(),
            "command": f"python scripts/train_cae.py --only {name} --threads {torch.get_num_threads()}"}
    save_checkpoint(out_dir / f"{name}-cae.pt", kind="cae", config=asdict(recipe.model),
                    state={"cae": result.cae.state_dict(), "discriminator": result.disc.state_dict()}, meta=meta)
    return _row(name, report, seconds=round(result.seconds, 1))


def fit_eraser(name: str, recipe: Recipe, out_dir: Path) -> dict:
    if recipe.train.erase_steps:
        raise SystemExit(f"{name}: its recipe trains {recipe.train.erase_steps} steps with the eraser on; "
                         "retrain it (without --fit-eraser)")
    path = out_dir / f"{name}-cae.pt"
    cae, disc, meta = load_cae(path)
    train, test, classifier = _data(recipe, out_dir)
    fit_indiv_eraser(cae, train.images, train.labels, seed=recipe.train.seed,
                     spread_dims=recipe.train.erase_spread_dims)
    report = _measure(cae, classifier, test, train)
    meta = {**meta, "metrics": report, "metrics_before_eraser": meta.get("metrics_before_eraser", meta.get("metrics")),
            "eraser": f"fitted on the trained weights by python scripts/train_cae.py --only {name} --fit-eraser",
            "eraser_spread_dims": recipe.train.erase_spread_dims}
    save_checkpoint(path, kind="cae", config=asdict(cae.config),
                    state={"cae": cae.state_dict(), "discriminator": disc.state_dict()}, meta=meta)
    return _row(name, report)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", choices=sorted(RECIPES), help="train only this one")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "data")
    parser.add_argument("--work-dir", type=Path, default=ROOT / "build" / "cae-training")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--fit-eraser", action="store_true",
                        help="only fit the class eraser of the shipped CAEs named by --only (no training)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.fit_eraser and not args.only:
        parser.error("--fit-eraser needs --only NAME")
    for name in args.only or RECIPES:
        if args.fit_eraser:
            row = fit_eraser(name, RECIPES[name], args.out_dir)
        else:
            row = train_one(name, RECIPES[name], args.out_dir, args.work_dir, progress=not args.no_progress)
        print(json.dumps(row, indent=1), flush=True)


if __name__ == "__main__":
    main()
