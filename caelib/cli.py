"""``python -m caelib``: train, explain and tour from the command line (argparse; ``--help`` on every command).

    python -m caelib tour --out report                        # the whole pipeline, shipped models -> report/
    python -m caelib train-classifier --folder imgs --out clf.pt
    python -m caelib train-cae --folder imgs --steps 3000 --out cae.pt --classifier clf.pt   # resumes cae.pt
    torchrun --nproc_per_node 2 -m caelib train-cae ...       # the same with DistributedDataParallel
    python -m caelib explain a.png b.png --cae cae.pt --classifier clf.pt --out explained --json
    python -m caelib student-notebooks students/              # the notebooks without their solutions

Bad input (a folder with one class, an empty class folder, unreadable or too small images, a checkpoint for
other images, a classifier with another number of classes) ends with a message saying what to do and exit
code 2, before any file is written. Existing outputs are never replaced without ``--force``, except the
checkpoint ``train-cae`` resumes. ``CAELIB_DEBUG=1`` shows full tracebacks instead.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

PROG = "caelib"
EXIT_BAD_INPUT = 2


class UsageError(ValueError):
    """Bad input from the command line: reported as one line and exit code 2."""


def _log(*parts: Any) -> None:
    """Human-readable progress goes to stderr, so that stdout stays machine-readable (``--json``)."""
    from . import distributed

    if distributed.is_main():
        print(*parts, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------- data


def _add_data_args(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    g = p.add_argument_group("data (a built-in dataset or a folder of your images)")
    src = g.add_mutually_exclusive_group(required=required)
    src.add_argument("--dataset", help="a built-in dataset: lesions, lesions-kinds, mnist, digits, ...")
    src.add_argument("--folder", type=Path, help="a folder of images: one sub-folder per class (optionally under "
                     "train/ and test/), or the trainA/trainB/testA/testB layout")
    g.add_argument("--image-size", type=int, default=32, help="folders: images are resized (shorter side) and "
                   "centre-cropped to this size (default 32; a CAE needs a multiple of 4)")
    g.add_argument("--channels", type=int, choices=(1, 3), help="folders: 1 grey or 3 RGB (default: grey unless "
                   "some image has colour)")
    g.add_argument("--max-images", type=int, help="use at most this many training images (class-balanced)")
    g.add_argument("--skip-unreadable", action="store_true", help="skip images that cannot be read (default: stop)")
    g.add_argument("--upscale", action="store_true", help="enlarge images smaller than --image-size (default: stop)")


def _data_source(args: argparse.Namespace) -> dict[str, Any]:
    """Where the data comes from, as plain values (stored in checkpoints, so that ``explain`` finds it)."""
    if args.folder is not None:
        return {"dataset": "folder", "root": str(Path(args.folder).expanduser().resolve()),
                "image_size": args.image_size, "channels": args.channels, "upscale": args.upscale,
                "skip_unreadable": args.skip_unreadable}
    if args.channels is not None or args.image_size != 32:
        raise UsageError("--image-size and --channels apply to --folder; the built-in datasets are 32x32 "
                         "(lesions and mnist grey)")
    return {"dataset": args.dataset}


def load_data(source: dict[str, Any], split: str, n: int | None = None):
    """Load the ``split`` of a data source from :func:`_data_source`."""
    from .data import load_dataset

    kw = {k: v for k, v in source.items() if k != "dataset"}
    if "root" in kw and not Path(kw["root"]).is_dir():
        raise UsageError(f"image folder {kw['root']} does not exist; pass --folder with the folder of your images")
    return load_dataset(source["dataset"], split, n=n, **kw)


# ------------------------------------------------------------------------------------------- models


def load_black_box(spec: str) -> torch.nn.Module:
    """A black box from the command line: a classifier checkpoint written by ``train-classifier`` (or a shipped
    one), or ``FILE.py:FUNCTION`` / ``package.module:FUNCTION``, a function without arguments that returns
    your model, best wrapped with ``caelib.as_black_box(model, num_classes=K, preprocess=...)``."""
    from .classifier import as_black_box, load_classifier

    path = Path(spec).expanduser()
    if path.is_file():
        return as_black_box(load_classifier(path)).eval()
    where, sep, name = spec.rpartition(":")
    if not sep or not where or not name.isidentifier():
        raise UsageError(f"--classifier {spec!r}: no such file; pass a classifier checkpoint (.pt) or "
                         "FILE.py:FUNCTION / package.module:FUNCTION returning your model")
    if where.endswith(".py"):
        file = Path(where).expanduser()
        if not file.is_file():
            raise UsageError(f"--classifier {spec!r}: no Python file {file}")
        module_spec = importlib.util.spec_from_file_location(f"caelib_user_{file.stem}", file)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(where)
    factory = getattr(module, name, None)
    if not callable(factory):
        raise UsageError(f"--classifier {spec!r}: {where} has no function {name}")
    model = factory()
    if not callable(model):
        raise UsageError(f"--classifier {spec!r}: {name}() returned a {type(model).__name__}, not a model")
    model = as_black_box(model)
    return model.eval()


def _class_names_of(model: Any) -> list[str] | None:
    net = getattr(model, "model", model)
    return (getattr(net, "meta", None) or {}).get("class_names")


# ------------------------------------------------------------------------------------------- commands


def _check_new_file(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise UsageError(f"{path} exists; pass another --out, or --force to replace it")
    if path.exists() and path.is_dir():
        raise UsageError(f"{path} is a folder; --out needs a file name")


def cmd_train_classifier(args: argparse.Namespace) -> int:
    """Train the small CNN black box on a dataset or folder and save it."""
    from .classifier import ClassifierConfig, SmallCNN, evaluate_classifier, save_classifier, train_classifier

    out = Path(args.out)
    _check_new_file(out, args.force)
    source = _data_source(args)
    train, test = load_data(source, "train", args.max_images), load_data(source, "test")
    c, h, _ = train.image_shape
    torch.manual_seed(args.seed)
    model = SmallCNN(ClassifierConfig(channels=c, image_size=h, num_classes=train.num_classes, width=args.width))
    _log(f"training a SmallCNN on {len(train)} images {train.image_shape} of {train.num_classes} classes "
         f"{list(train.class_names)}")
    history = train_classifier(model, train, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                               augment=args.augment, flips=args.flips, seed=args.seed, device=args.device,
                               progress=not args.quiet)
    model.cpu().eval()
    acc = evaluate_classifier(model, test)["accuracy"] if len(test) else float("nan")
    meta = {"data": source, "class_names": list(train.class_names), "test_accuracy": acc, "history": history,
            "command": "python -m caelib " + " ".join(sys.argv[1:])}
    save_classifier(out, model, meta=meta)
    _log(f"test accuracy {acc:.3f} on {len(test)} images; saved {out}")
    return 0


def cmd_train_cae(args: argparse.Namespace) -> int:
    """Train a CAE on a dataset or folder; resume from --out when it exists."""
    from . import distributed
    from .cae import CAEConfig
    from .checkpoints import CheckpointError, load_checkpoint
    from .explain import check_classifier
    from .swap import quality_report
    from .train import LossWeights, TrainConfig, train_cae

    joined = distributed.setup(args.backend)
    try:
        source = _data_source(args)
        train = load_data(source, "train", args.max_images)
        test = load_data(source, "test")
        c, h, _ = train.image_shape
        cfg = CAEConfig(image_size=h, channels=c, num_classes=train.num_classes, width=args.width,
                        class_dim=args.class_dim, indiv_downs=args.indiv_downs)
        classifier = None
        if args.classifier:
            classifier = load_black_box(args.classifier)
            check_classifier(classifier, cfg, train.class_names)
        elif args.critic:
            raise UsageError("--critic needs --classifier (the black box that judges the swaps)")
        out = Path(args.out)
        if out.is_dir():
            raise UsageError(f"{out} is a folder; --out needs a checkpoint file name")
        if out.exists() and not args.force:
            try:
                ck = load_checkpoint(out, kind="cae", expect_config=cfg)
            except CheckpointError as err:
                raise UsageError(f"{err}. To resume it, train with the settings it was trained with (for a folder: "
                                 "--image-size and --channels); or pass a new --out, or --force to replace it") from err
            _log(f"resuming {out} from step {ck['meta'].get('step')} of {args.steps}")
        elif out.exists():
            if distributed.is_main():
                out.unlink()
            distributed.barrier()
        weights = LossWeights(critic=args.critic, swap_class=args.swap_class_weight)
        config = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                             weights=weights)
        meta = {"data": source, "class_names": list(train.class_names),
                "command": "python -m caelib " + " ".join(sys.argv[1:])}
        world = distributed.world_size()
        _log(f"training a CAE on {len(train)} images {train.image_shape} of {train.num_classes} classes "
             f"{list(train.class_names)}; {args.steps} steps of {args.batch_size} pairs"
             + (f" per process, {world} processes (DistributedDataParallel)" if world > 1 else "")
             + f" on {distributed.device(args.device)}")
        result = train_cae(train, cfg, config, checkpoint=out, checkpoint_every=args.checkpoint_every,
                           critic=classifier if args.critic else None, device=args.device,
                           progress=not args.quiet, meta=meta)
        if world > 1:
            agree = distributed.parameters_agree(result.cae) and distributed.parameters_agree(result.disc)
            _log(f"all {world} ranks hold the same weights: {agree}")
            if not agree:
                raise RuntimeError("the ranks ended with different weights; please report this")
        _log(f"{result.step} steps in {result.seconds:.0f} s; checkpoint {out}")
        if classifier is not None and distributed.is_main() and len(test):
            q = quality_report(result.cae, classifier, test, n=min(len(test), 500))
            _log(f"on {min(len(test), 500)} test images: swap flip rate {q['flip_mean']:.3f} (worst pair "
                 f"{q['flip_worst']:.3f}), black-box accuracy on reconstructions {q['recon_accuracy']:.3f}, "
                 f"reconstruction error {q['recon_error']:.3f}")
    finally:
        if joined:
            distributed.cleanup()
    return 0


def _load_explain_models(args: argparse.Namespace):
    """-> (cae, classifier, class names, reference data source, description)."""
    from .pretrained import PRETRAINED, load_cae, pretrained

    if args.cae is None:
        name = args.pretrained or "lesions"
        if name not in PRETRAINED:
            raise UsageError(f"--pretrained {name!r}: shipped models exist for {', '.join(PRETRAINED)}")
        models = pretrained(name)
        classifier = load_black_box(args.classifier) if args.classifier else models.classifier
        names = _class_names_of(models.classifier) or [str(k) for k in range(models.cae.config.num_classes)]
        return models.cae, classifier, names, {"dataset": name}, {"pretrained": name}
    if args.pretrained:
        raise UsageError("pass either --pretrained or --cae, not both")
    if not args.classifier:
        raise UsageError("--cae needs --classifier: the black box to explain (a checkpoint or FILE.py:FUNCTION)")
    cae, _, meta = load_cae(args.cae)
    classifier = load_black_box(args.classifier)
    names = meta.get("class_names") or _class_names_of(classifier) or [str(k) for k in range(cae.config.num_classes)]
    return cae, classifier, list(names), meta.get("data"), {"cae": str(args.cae), "classifier": args.classifier}


def _class_index(name: str, names: Sequence[str]) -> int:
    if name in names:
        return list(names).index(name)
    if name.isdigit() and int(name) < len(names):
        return int(name)
    raise UsageError(f"--target {name!r} is not a class; classes: {', '.join(names)} (or 0..{len(names) - 1})")


def _figure_names(images: Sequence[Path], out: Path) -> list[Path]:
    stems = [p.stem for p in images]
    return [out / (f"{s}.explained.png" if stems.count(s) == 1 else f"{s}-{i}.explained.png")
            for i, s in enumerate(stems)]


def cmd_explain(args: argparse.Namespace) -> int:
    """Explain images: the counterfactual path, the CAE saliency map and the black box's probabilities."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .data import read_images
    from .explain import check_classifier, explain_images, plot_explanation, reference_bank
    from .saliency_path import Variant

    images = [Path(p) for p in args.images]
    out = Path(args.out)
    figures = _figure_names(images, out)
    taken = [f for f in figures if f.exists()]
    if taken and not args.force:
        raise UsageError(f"{taken[0]} exists (and {len(taken) - 1} more); pass another --out, or --force to replace")
    cae, classifier, names, ref_source, models_used = _load_explain_models(args)
    cfg = cae.config
    check_classifier(classifier, cfg, names)
    if args.dataset or args.folder:
        ref_source = _data_source(args)
    if not ref_source:
        raise UsageError("the CAE checkpoint does not say which images it was trained on: pass --folder or "
                         "--dataset with images of every class, for the references the paths head to")
    x = read_images(images, channels=cfg.channels, image_size=cfg.image_size, upscale=args.upscale)
    target = None if args.target is None else _class_index(args.target, names)
    _log(f"reference images: {ref_source}")
    ref = load_data(ref_source, "train", n=args.bank_size)
    if ref.image_shape != (cfg.channels, cfg.image_size, cfg.image_size):
        raise UsageError(f"the reference images are {ref.image_shape} but the CAE works on "
                         f"{(cfg.channels, cfg.image_size, cfg.image_size)}; pass --image-size/--channels to match")
    bank = reference_bank(cae, classifier, ref.images, ref.labels, n=args.bank_size)
    expl = explain_images(cae, classifier, x, bank, target=target, steps=args.steps, variant=Variant(args.variant),
                          class_names=names)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for i, (image, fig_path) in enumerate(zip(images, figures)):
        fig = plot_explanation(expl, i, title=image.name)
        fig.savefig(fig_path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        results.append({"image": str(image), "figure": str(fig_path), **expl.record(i)})
        r = results[-1]
        _log(f"{image}: {r['decision']} ({r['probabilities'][r['decision']]:.2f}) -> {r['target']}: "
             + (f"flips at step {r['flip_step']} of {r['steps'] - 1}" if r["flipped"] else "no flip on the path")
             + f"; saliency peak at row {r['saliency_peak']['row']}, col {r['saliency_peak']['col']}; {fig_path}")
    report = {"models": models_used, "reference": f"medoid of each class among {len(bank)} class codes",
              "variant": args.variant, "class_names": list(names), "results": results}
    if args.json:
        print(json.dumps(report, indent=1))
    return 0


def cmd_tour(args: argparse.Namespace) -> int:
    """The whole pipeline with the shipped models, written as a report folder."""
    import time

    from .tour import run_tour

    t0 = time.perf_counter()
    m = run_tour(args.out, dataset=args.dataset, n_test=args.n_test, force=args.force, progress=not args.quiet)
    _log(f"report written to {Path(args.out) / 'index.html'} (and index.md) in {time.perf_counter() - t0:.1f} s")
    keys = ["classifier_accuracy", "swap_flip_rate", "recon_accuracy", "path_flip_rate", "pointing_game",
            "pointing_game_path_gradient"]
    _log("  " + ", ".join(f"{k} {m[k]:.3f}" for k in keys if k in m))
    return 0


def _default_notebooks() -> Path | None:
    folder = Path(__file__).resolve().parents[1] / "notebooks"
    return folder if folder.is_dir() else None


def cmd_student_notebooks(args: argparse.Namespace) -> int:
    """Write the student versions of the notebooks: solution regions replaced by nbgrader's stub."""
    from .student import write_student_notebooks

    src = args.notebooks or _default_notebooks()
    if src is None:
        raise UsageError("no notebooks/ folder next to the caelib package: pass --notebooks FOLDER")
    if not Path(src).exists():
        raise UsageError(f"--notebooks {src}: no such file or folder")
    done = write_student_notebooks(src, args.out_dir, force=args.force)
    for d in done:
        note = "" if d.regions else "   (no solution regions: copied without outputs)"
        print(f"{d.written}: {d.exercises} exercises, {d.regions} solution regions replaced "
              f"({d.lines_removed} solution lines removed){note}")
    print(f"{len(done)} student notebooks in {args.out_dir}: each solution region reads '# YOUR CODE HERE' / "
          "'raise NotImplementedError()'; exercises.check(...) tells a student whether an answer is right")
    return 0


# --------------------------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="caelib: explain image classifiers with Class "
                                     "Association Embedding counterfactuals. Without Jupyter, start with "
                                     "`python -m caelib tour`.")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
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
    p.add_argument("--n-test", type=int, default=1000, help="held-out images measured (default 1000)")
    p.add_argument("--force", action="store_true", help="replace a report already in --out")

    p = command("train-classifier", cmd_train_classifier, "train caelib's small CNN black box on a built-in dataset "
                "or a folder of images and save it", "example:\n  python -m caelib train-classifier --folder imgs "
                "--image-size 32 --out clf.pt")
    _add_data_args(p)
    p.add_argument("--out", type=Path, required=True, help="classifier checkpoint to write (.pt)")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-2, help="peak learning rate (one-cycle)")
    p.add_argument("--width", type=int, default=8, help="channels of the first stage")
    p.add_argument("--augment", type=int, default=2, help="random shifts of up to this many pixels")
    p.add_argument("--flips", action="store_true", help="random flips (only if the class ignores orientation)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (a GPU when present), cpu, cuda, cuda:1, ...")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")

    p = command("train-cae", cmd_train_cae, "train a CAE on a built-in dataset or a folder of images; resumes when "
                "the --out checkpoint exists", "examples:\n  python -m caelib train-cae --folder imgs --steps 3000 "
                "--out cae.pt --classifier clf.pt\n  torchrun --nproc_per_node 4 -m caelib train-cae --folder imgs "
                "--steps 20000 --out cae.pt   # DistributedDataParallel\n\nA GPU is used when present. Under "
                "torchrun every process trains on its own device (GPUs: NCCL; CPUs: gloo), --batch-size pairs each.")
    _add_data_args(p)
    p.add_argument("--out", type=Path, required=True, help="checkpoint (.pt): written every --checkpoint-every "
                   "steps; if it exists, training resumes from it")
    p.add_argument("--steps", type=int, default=2000, help="training steps (default 2000; caelib's shipped "
                   "CAEs use 1500-3000)")
    p.add_argument("--batch-size", type=int, default=32, help="pairs per step (per process under torchrun)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--width", type=int, default=8, help="CAE width (channels after the first conv)")
    p.add_argument("--class-dim", type=int, default=8, help="length of the class code")
    p.add_argument("--indiv-downs", type=int, default=2, choices=(1, 2, 3), help="downsamplings of the individual "
                   "code (1: a finer map that keeps thin structures; default 2)")
    p.add_argument("--swap-class-weight", type=float, default=1.0, help="weight of the loss that gives a swap its "
                   "class-code donor's class (the shipped lesions CAE uses 5 for small evidence)")
    p.add_argument("--classifier", help="the black box (checkpoint or FILE.py:FUNCTION): checked against the "
                   "data's classes, and measured against the CAE after training")
    p.add_argument("--critic", type=float, default=0.0, help="weight of the loss in which --classifier judges "
                   "the swaps (default 0: off)")
    p.add_argument("--checkpoint-every", type=int, default=200)
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
    p.add_argument("--steps", type=int, default=11, help="points on each path, ends included")
    p.add_argument("--variant", default="path", choices=[v.value for v in _variants()], help="saliency variant")
    p.add_argument("--bank-size", type=int, default=2000, help="reference images encoded (default 2000)")
    p.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    p.add_argument("--force", action="store_true", help="replace existing PNGs")
    _add_data_args(p, required=False)

    p = command("student-notebooks", cmd_student_notebooks, "write the student versions of the course notebooks: "
                "every '### BEGIN SOLUTION' ... '### END SOLUTION' region replaced by nbgrader's stub "
                "('# YOUR CODE HERE' / 'raise NotImplementedError()'), outputs cleared",
                "example:\n  python -m caelib student-notebooks students/\n\nnbgrader users can instead take the "
                "notebooks as they are: the solution cells carry nbgrader's metadata.")
    p.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="folder for the student notebooks")
    p.add_argument("--notebooks", type=Path, help="a folder of notebooks (NN_*.ipynb) or one notebook (default: "
                   "the notebooks/ folder of this checkout)")
    p.add_argument("--force", action="store_true", help="replace student notebooks already in OUT_DIR")
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
