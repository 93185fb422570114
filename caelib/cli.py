"""``python -m caelib``: train, explain and tour from the command line (argparse; ``--help`` on every command).

    python -m caelib tour --out report                        # the whole pipeline, shipped models -> report/
    python -m caelib train-classifier --folder imgs --out clf.pt
    python -m caelib train-cae --folder imgs --steps 3000 --out cae.pt --classifier clf.pt   # resumes cae.pt
    torchrun --nproc_per_node 2 -m caelib train-cae ...       # the same with DistributedDataParallel
    python -m caelib explain a.png b.png --cae cae.pt --classifier clf.pt --out explained --json
    python -m caelib student-notebooks students/              # the notebooks without their solutions
    python -m caelib site course-site/                        # the course as a static website (offline)

Bad input (a folder with one class, an empty class folder, unreadable or too small images, a checkpoint for
other images, a classifier with another number of classes) ends with a message saying what to do and exit
code 2, before any file is written; so do numbers out of range (``--steps 0``, ``--batch-size -4``, an
``--image-size`` that is not a positive multiple of 4) and an ``--out`` that cannot be written (checked before
training). Existing outputs are never replaced without ``--force``, except the checkpoint ``train-cae``
resumes; ``train-cae --force`` keeps the old file until the new run's first checkpoint replaces it.
``CAELIB_DEBUG=1`` shows full tracebacks instead.

This module is the parser and :func:`main`; the commands are in ``caelib.cli_train`` (train-classifier,
train-cae), ``caelib.cli_explain`` (explain, tour) and ``caelib.cli_course`` (student-notebooks, site), the
argument checks and inputs they share in ``caelib.cli_args`` (re-exported here).
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from .cae import CAEConfig
from .classifier import ClassifierConfig, train_classifier
from .cli_args import (
    EXIT_BAD_INPUT,
    PROG,
    UsageError,
    add_data_args,
    check_writable,
    image_size,
    load_black_box,
    load_data,
    non_negative,
    positive,
    whole,
)
from .cli_course import cmd_site, cmd_student_notebooks
from .cli_explain import cmd_explain, cmd_tour
from .cli_train import cmd_train_cae, cmd_train_classifier
from .train import AUGMENT_BELOW, CRITIC_WEIGHT, TrainConfig

__all__ = ["PROG", "EXIT_BAD_INPUT", "UsageError", "main", "build_parser", "whole", "positive", "non_negative",
           "image_size", "check_writable", "load_data", "load_black_box", "cmd_tour", "cmd_train_classifier",
           "cmd_train_cae", "cmd_explain", "cmd_student_notebooks", "cmd_site"]


def _default(function: Callable, name: str) -> Any:
    """A keyword argument's default in the library, so that the command line cannot drift from it."""
    return inspect.signature(function).parameters[name].default


# --------------------------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="caelib: explain image classifiers with Class "
                                     "Association Embedding counterfactuals. Without Jupyter, start with "
                                     "`python -m caelib tour`.")
    parser.add_argument("--threads", type=whole(1), help="torch CPU threads (default: torch's choice)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, run: Callable[[argparse.Namespace], int], help: str, epilog: str = ""):
        p = sub.add_parser(name, help=help, description=textwrap.fill(help, 100), epilog=epilog,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(run=run)
        p.add_argument("--quiet", action="store_true", help="no progress bars")
        return p

    p = command("tour", cmd_tour, "run the whole pipeline on the default data with the shipped models and write a "
                "report folder (figures, index.md, index.html, metrics.json); about half a minute on 2 CPU cores",
                "example:\n  python -m caelib tour --out report && xdg-open report/index.html")
    p.add_argument("--out", type=Path, default=Path("caelib-tour"), help="report folder (default caelib-tour)")
    p.add_argument("--dataset", default="lesions", help="shipped models to tour: lesions (default), lesions-kinds, "
                   "mnist")
    p.add_argument("--n-test", type=whole(1), default=1000, help="held-out images measured (default 1000)")
    p.add_argument("--force", action="store_true", help="replace a report already in --out")

    p = command("train-classifier", cmd_train_classifier, "train caelib's small CNN black box on a built-in dataset "
                "or a folder of images and save it", "example:\n  python -m caelib train-classifier --folder imgs "
                "--image-size 32 --out clf.pt")
    add_data_args(p)
    p.add_argument("--out", type=Path, required=True, help="classifier checkpoint to write (.pt)")
    p.add_argument("--epochs", type=whole(1), help="passes over the training images (default: about 1,500 steps, "
                   "8 to 40 epochs: more for small sets)")
    p.add_argument("--batch-size", type=whole(1), default=_default(train_classifier, "batch_size"))
    p.add_argument("--lr", type=positive, default=_default(train_classifier, "lr"),
                   help="peak learning rate (one-cycle)")
    p.add_argument("--width", type=whole(1), default=ClassifierConfig.width, help="channels of the first stage")
    p.add_argument("--augment", type=whole(0), default=_default(train_classifier, "augment"),
                   help="random shifts of up to this many pixels")
    p.add_argument("--flips", action="store_true", help="random flips (only if the class ignores orientation)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (a GPU when present), cpu, cuda, cuda:1, ...")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")

    p = command("train-cae", cmd_train_cae, "train a CAE on a built-in dataset or a folder of images; resumes when "
                "the --out checkpoint exists", "examples:\n  python -m caelib train-cae --folder imgs --steps 3000 "
                "--out cae.pt --classifier clf.pt\n  torchrun --nproc_per_node 4 -m caelib train-cae --folder imgs "
                "--steps 20000 --out cae.pt   # DistributedDataParallel\n\nA GPU is used when present. Under "
                "torchrun every process trains on its own device (GPUs: NCCL; CPUs: gloo), --batch-size pairs each.")
    add_data_args(p)
    p.add_argument("--out", type=Path, required=True, help="checkpoint (.pt): written every --checkpoint-every "
                   "steps; if it exists, training resumes from it")
    p.add_argument("--steps", type=whole(1), default=TrainConfig.steps, help=f"training steps (default "
                   f"{TrainConfig.steps}; caelib's shipped "
                   "CAEs use 1500-3000)")
    p.add_argument("--minutes", type=positive, help="a time budget: after 20 steps the measured pace cuts --steps "
                   "to what fits in this many minutes (the learning-rate schedule follows; the number of steps then "
                   "depends on the machine, so only --steps alone is reproducible elsewhere)")
    p.add_argument("--batch-size", type=whole(1), default=TrainConfig.batch_size,
                   help="pairs per step (per process under torchrun)")
    p.add_argument("--lr", type=positive, default=TrainConfig.lr)
    p.add_argument("--width", type=whole(1), default=CAEConfig.width, help="CAE width (channels after the first conv)")
    p.add_argument("--class-dim", type=whole(1), default=CAEConfig.class_dim, help="length of the class code")
    p.add_argument("--indiv-downs", type=int, default=CAEConfig.indiv_downs, choices=(1, 2, 3),
                   help="downsamplings of the individual "
                   "code (1: a finer map that keeps thin structures; default 2)")
    p.add_argument("--swap-class-weight", type=non_negative, default=1.0, help="weight of the loss that gives a "
                   "swap its class-code donor's class (the shipped lesions CAE uses 5 for small evidence)")
    p.add_argument("--classifier", help="the black box (checkpoint or FILE.py:FUNCTION): checked against the "
                   "data's classes, and measured against the CAE after training")
    p.add_argument("--critic", type=non_negative, help="weight of the losses in which --classifier judges the swaps "
                   "(they must take the donor's class) and the reconstructions (they must keep its decision); "
                   f"default: {CRITIC_WEIGHT:g} with --classifier, 0 turns it off")
    p.add_argument("--augment", choices=("auto", "on", "off"), default="auto", help="the discriminator sees shifted, "
                   f"cut-out images (DiffAugment; default auto: on below {AUGMENT_BELOW:,} training images)")
    p.add_argument("--checkpoint-every", type=whole(1), default=200, help="steps between checkpoints (default 200)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (a GPU when present), cpu, cuda, ...")
    p.add_argument("--backend", choices=("gloo", "nccl"), help="torchrun's process-group backend (default: nccl "
                   "on GPUs, gloo on CPUs)")
    p.add_argument("--force", action="store_true", help="start anew, replacing --out, instead of resuming it")

    p = command("explain", cmd_explain, "explain images: for each, a PNG with the counterfactual path, the CAE "
                "saliency overlay and the black box's probabilities; --json prints the results",
                "examples:\n  python -m caelib explain scan1.png scan2.png --json          # shipped lesions models"
                "\n  python -m caelib explain a.png --cae cae.pt --classifier clf.pt --out explained\n"
                "  python -m caelib explain a.png --cae cae.pt --classifier my_model.py:load --folder imgs")
    p.add_argument("images", nargs="+", type=Path, help="image files (resized to the CAE's size)")
    p.add_argument("--out", type=Path, default=Path("explanations"), help="folder for the PNGs (default "
                   "explanations)")
    p.add_argument("--pretrained", help="shipped models to use (default lesions, unless --cae is given)")
    p.add_argument("--cae", type=Path, help="a CAE checkpoint from train-cae")
    p.add_argument("--classifier", help="the black box: a checkpoint from train-classifier, or FILE.py:FUNCTION / "
                   "package.module:FUNCTION returning your model wrapped with caelib.as_black_box")
    p.add_argument("--target", help="the class to head for (name or index; default: the most likely other class)")
    p.add_argument("--steps", type=whole(2), default=11, help="points on each path, ends included (>= 2)")
    p.add_argument("--variant", default="path", choices=[v.value for v in _variants()], help="saliency variant")
    p.add_argument("--bank-size", type=whole(1), default=2000, help="reference images encoded (default 2000)")
    p.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    p.add_argument("--force", action="store_true", help="replace existing PNGs")
    add_data_args(p, required=False)

    p = command("student-notebooks", cmd_student_notebooks, "write the student versions of the course notebooks: "
                "every '### BEGIN SOLUTION' ... '### END SOLUTION' region replaced by nbgrader's stub "
                "('# YOUR CODE HERE' / 'raise NotImplementedError()'), outputs cleared",
                "example:\n  python -m caelib student-notebooks students/\n\nnbgrader users can instead take the "
                "notebooks as they are: the solution cells carry nbgrader's metadata.")
    p.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="folder for the student notebooks")
    p.add_argument("--notebooks", type=Path, help="a folder of notebooks (NN_*.ipynb) or one notebook (default: "
                   "the notebooks/ folder of this checkout)")
    p.add_argument("--force", action="store_true", help="replace student notebooks already in OUT_DIR")

    p = command("site", cmd_site, "build the course as a static website (Sphinx + myst-nb): every notebook "
                "executed, with navigation; works offline from the files (open OUT_DIR/index.html); a few minutes "
                "on 2 CPU cores",
                "example:\n  python -m caelib site course-site/\n\nA notebook cell that raises fails the build.")
    p.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="folder for the site (a previous site there is "
                   "replaced; any other non-empty folder needs --force)")
    p.add_argument("--notebooks", type=Path, help="a folder of notebooks (NN_*.ipynb) (default: the notebooks/ "
                   "folder of this checkout)")
    p.add_argument("--timeout", type=whole(1), default=600, help="seconds per notebook cell (default 600)")
    p.add_argument("--force", action="store_true", help="write into a non-empty OUT_DIR that holds no previous "
                   "site (its other files are kept)")
    return parser


def _variants():
    from .saliency_path import Variant

    return list(Variant)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0, or 2 for bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from .checkpoints import CheckpointError

    try:
        with warnings.catch_warnings():   # library warnings (e.g. skipped files) as one plain line each
            warnings.showwarning = lambda message, *rest, **kw: print(f"{PROG} {args.command}: warning: {message}",
                                                                      file=sys.stderr)
            return args.run(args)
    except (ValueError, FileNotFoundError, FileExistsError, CheckpointError) as err:
        if os.environ.get("CAELIB_DEBUG") == "1":
            raise
        message = str(err).strip() or type(err).__name__
        print(f"{PROG} {args.command}: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
