"""Train and save the CAEs shipped in ``data/`` (the one documented command), and measure them.

    python scripts/train_cae.py                   # all of them
    python scripts/train_cae.py --only lesions    # just one (repeatable)

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
from caelib.pretrained import CAE_RECIPES as RECIPES
from caelib.pretrained import CAERecipe as Recipe
from caelib.swap import quality_report
from caelib.train import train_cae

ROOT = Path(__file__).resolve().parents[1]


def train_one(name: str, recipe: Recipe, out_dir: Path, work_dir: Path, progress: bool) -> dict:
    train = load_dataset(recipe.dataset, "train", classes=recipe.classes)
    test = load_dataset(recipe.dataset, "test", classes=recipe.classes)
    classifier = load_classifier(out_dir / f"{recipe.classifier}-classifier.pt")
    work_dir.mkdir(parents=True, exist_ok=True)
    result = train_cae(train, recipe.model, recipe.train, checkpoint=work_dir / f"{name}-cae-training.pt",
                       critic=classifier if recipe.critic else None, progress=progress)
    report = quality_report(result.cae, classifier, test, train)
    if hasattr(test, "marker_masks"):   # a shortcut data set: what the black box (not the label) says
        from caelib.baselines import shortcut_report

        report.update(shortcut_report(result.cae, classifier, test, train))
    meta = {"metrics": report, "train_seconds": result.seconds, "steps": result.step,
            "threads": torch.get_num_threads(), "parameters": count_parameters(result.cae),
            "train_config": json.loads(json.dumps(asdict(recipe.train))), "dataset": recipe.dataset,
            "classifier": f"{recipe.classifier}-classifier.pt", "critic": recipe.critic,
            "history": result.history, "torch": torch.__version__, "python": platform.python_version(),
            "command": f"python scripts/train_cae.py --only {name} --threads {torch.get_num_threads()}"}
    save_checkpoint(out_dir / f"{name}-cae.pt", kind="cae", config=asdict(recipe.model),
                    state={"cae": result.cae.state_dict(), "discriminator": result.disc.state_dict()}, meta=meta)
    return {"name": name, "seconds": round(result.seconds, 1), **{k: v for k, v in report.items()
                                                                if k != "flip_per_pair"},
            "flip_per_pair": report["flip_per_pair"]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", choices=sorted(RECIPES), help="train only this one")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "data")
    parser.add_argument("--work-dir", type=Path, default=ROOT / "build" / "cae-training")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    for name in args.only or RECIPES:
        row = train_one(name, RECIPES[name], args.out_dir, args.work_dir, progress=not args.no_progress)
        print(json.dumps(row, indent=1), flush=True)


if __name__ == "__main__":
    main()
