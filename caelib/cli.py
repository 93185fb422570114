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
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import json
import os
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from .cae import CAEConfig
from .classifier import ClassifierConfig, train_classifier
from .train import AUGMENT_BELOW, CRITIC_WEIGHT, TrainConfig


def _default(function: Callable, name: str) -> Any:
    """A keyword argument's default in the library, so that the command line cannot drift from it."""
    return inspect.signature(function).parameters[name].default

PROG = "caelib"
EXIT_BAD_INPUT = 2


class UsageError(ValueError):
    """Bad input from the command line: reported as one line and exit code 2."""


def _log(*parts: Any) -> None:
    """Human-readable progress goes to stderr, so that stdout stays machine-readable (``--json``)."""
    from . import distributed

    if distributed.is_main():
        print(*parts, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------- argument value checks


def _number(convert: Callable[[str], Any], allowed: Callable[[Any], bool], rule: str, name: str):
    """An argparse ``type``: ``convert(text)`` when ``allowed`` holds for it; anything else is argparse's usage
    error (exit 2) with one line, ``rule`` (what is allowed) and the text given."""
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not allowed(value):
            raise argparse.ArgumentTypeError(f"{rule}, got {text!r}")
        return value
    parse.__name__ = name
    return parse


def whole(minimum: int) -> Callable[[str], int]:
    """An argparse ``type``: a whole number >= ``minimum``."""
    return _number(int, lambda v: v >= minimum, f"must be a whole number >= {minimum}", f"whole number >= {minimum}")


positive = _number(float, lambda v: 0 < v < float("inf"), "must be a number > 0", "number > 0")  # a learning rate
non_negative = _number(float, lambda v: 0 <= v < float("inf"), "must be a number >= 0", "number >= 0")  # a weight
image_size = _number(int, lambda v: v >= 4 and v % 4 == 0, "image size must be a positive multiple of 4 (e.g. 32)",
                     "image size")


def check_writable(path: Path, flag: str, *, folder: bool = False) -> None:
    """Raise ``UsageError`` unless ``path`` (a file, or with ``folder`` a folder) can be written, before any
    work starts: the nearest existing folder on its way must be a folder this process can write into."""
    path = Path(path).expanduser()
    if not folder and path.is_dir():
        raise UsageError(f"{flag} {path} is a folder; {flag} needs a file name")
    if folder and path.exists() and not path.is_dir():
        raise UsageError(f"{flag} {path} is a file; {flag} needs a folder")
    start = path if folder else path.parent
    where = start.absolute()
    while not where.exists():
        where = where.parent
    if not where.is_dir():
        raise UsageError(f"{flag} {path} cannot be created: {where} is a file, not a folder; pass another {flag}")
    import tempfile

    try:   # os.access says yes to root on a read-only file system: try it
        with tempfile.TemporaryFile(dir=where):
            pass
    except OSError as err:
        raise UsageError(f"{flag} {path} cannot be written ({err.strerror or type(err).__name__} in {where}); "
                         f"pass a {flag} in a folder you can write to") from None


# ---------------------------------------------------------------------------------------------- data


def _add_data_args(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    g = p.add_argument_group("data (a built-in dataset or a folder of your images)")
    src = g.add_mutually_exclusive_group(required=required)
    src.add_argument("--dataset", help="a built-in dataset: lesions, lesions-kinds, mnist, digits, "
                     "fashion-mnist (10 classes; fashion-mnist-shirts: Shirt vs T-shirt/top), ...")
    src.add_argument("--folder", type=Path, help="a folder of images: one sub-folder per class (optionally under "
                     "train/ and test/), or the trainA/trainB/testA/testB layout")
    g.add_argument("--image-size", type=image_size, default=32, help="folders: images are resized (shorter side) "
                   "and centre-cropped to this size, a positive multiple of 4 (default 32)")
    g.add_argument("--channels", type=int, choices=(1, 3), help="folders: 1 grey or 3 RGB (default: grey unless "
                   "some image has colour)")
    g.add_argument("--max-images", type=whole(1), help="use at most this many training images (class-balanced)")
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
    try:
        return load_dataset(source["dataset"], split, n=n, **kw)
    except ValueError as err:   # the library's hint names its argument; here the flag that sets it
        if "skip_unreadable=True" not in str(err):
            raise
        raise type(err)(str(err).replace("skip_unreadable=True", "--skip-unreadable")) from err


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
    from .classifier import (
        ClassifierConfig,
        SmallCNN,
        auto_epochs,
        evaluate_classifier,
        save_classifier,
        train_classifier,
    )

    out = Path(args.out)
    _check_new_file(out, args.force)
    check_writable(out, "--out")   # before the data is read and the model trained
    source = _data_source(args)
    train, test = load_data(source, "train", args.max_images), load_data(source, "test")
    c, h, _ = train.image_shape
    torch.manual_seed(args.seed)
    model = SmallCNN(ClassifierConfig(channels=c, image_size=h, num_classes=train.num_classes, width=args.width))
    epochs = args.epochs or auto_epochs(len(train), args.batch_size)
    _log(f"training a SmallCNN on {len(train)} images {train.image_shape} of {train.num_classes} classes "
         f"{list(train.class_names)}; {epochs} epochs" + ("" if args.epochs else " (auto: more for fewer images)"))
    history = train_classifier(model, train, epochs=epochs, batch_size=args.batch_size, lr=args.lr,
                               augment=args.augment, flips=args.flips, seed=args.seed, device=args.device,
                               progress=not args.quiet)
    model.cpu().eval()
    acc = evaluate_classifier(model, test)["accuracy"] if len(test) else float("nan")
    meta = {"data": source, "class_names": list(train.class_names), "test_accuracy": acc, "history": history,
            "command": "python -m caelib " + " ".join(sys.argv[1:])}
    save_classifier(out, model, meta=meta)
    _log(f"test accuracy {acc:.3f} on {len(test)} images; saved {out}")
    if len(test):
        counts = torch.bincount(test.labels, minlength=test.num_classes)
        majority = float(counts.max()) / len(test)
        if not acc > majority:
            warnings.warn(f"test accuracy {acc:.3f} is not above the majority-class rate {majority:.3f} (always "
                          f"answering {test.class_names[int(counts.argmax())]!r}): this black box has not learnt the "
                          "classes and is not worth explaining yet. Train longer (e.g. --epochs 40), with more "
                          "shifts (--augment 4; --flips if the class ignores orientation), or with more images")
    return 0


def cmd_train_cae(args: argparse.Namespace) -> int:
    """Train a CAE on a dataset or folder; resume from --out when it exists."""
    from . import distributed
    from .cae import CAEConfig
    from .checkpoints import CheckpointError, check_config, load_checkpoint
    from .explain import check_classifier
    from .train import recipe, train_cae

    joined = distributed.setup(args.backend)
    try:
        check_writable(Path(args.out), "--out")   # before the data is read and the model trained
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
                ck = load_checkpoint(out, kind="cae")
            except CheckpointError as err:
                raise UsageError(f"{err}; or pass a new --out, or --force to replace it with a new model") from err
            try:
                check_config(ck, cfg, out)
            except CheckpointError as err:
                raise UsageError(f"{err}. To resume it, train with the settings it was trained with (for a folder: "
                                 "--image-size and --channels); or pass a new --out, or --force to replace it") from err
            done = ck["meta"].get("step")
            if isinstance(done, int) and done > args.steps:
                raise UsageError(f"{out} has trained {done} steps already, more than --steps {args.steps}; pass "
                                 f"--steps {done} or more to resume it, or --force to start anew")
            _log(f"resuming {out} from step {done} of {args.steps}")
        elif out.exists():   # --force: the old file stays until the new run's first checkpoint replaces it
            _log(f"--force: training a new model; {out} is replaced at its first checkpoint")
        config = recipe(len(train), black_box=classifier is not None, critic=args.critic,
                        augment=None if args.augment == "auto" else args.augment == "on",
                        swap_class=args.swap_class_weight, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                        seed=args.seed)
        meta = {"data": source, "class_names": list(train.class_names),
                "command": "python -m caelib " + " ".join(sys.argv[1:])}
        world = distributed.world_size()
        _log(f"training a CAE on {len(train)} images {train.image_shape} of {train.num_classes} classes "
             f"{list(train.class_names)}; {args.steps} steps of {args.batch_size} pairs"
             + (f" per process, {world} processes (DistributedDataParallel)" if world > 1 else "")
             + f" on {distributed.device(args.device)}; the black box as critic: "
             + (f"weight {config.weights.critic:g}" if config.weights.critic else "off")
             + f"; augmentation: {'on' if config.augment else 'off'}")
        result = train_cae(train, cfg, config, checkpoint=out, checkpoint_every=args.checkpoint_every,
                           critic=classifier if config.weights.critic else None, device=args.device,
                           progress=not args.quiet, meta=meta, test=test if len(test) else None, resume=not args.force,
                           classifier=classifier, verdict_images=500)
        if world > 1:
            agree = distributed.parameters_agree(result.cae) and distributed.parameters_agree(result.disc)
            _log(f"all {world} ranks hold the same weights: {agree}")
            if not agree:
                raise RuntimeError("the ranks ended with different weights; please report this")
        _log(f"{result.step} steps in {result.seconds:.0f} s; checkpoint {out}")
        if result.verdict is not None:   # the guards on a sample of the test split across its classes
            v = result.verdict
            _log(f"{v.table()}\n  (black-box accuracy on these images {v.classifier_accuracy:.3f}; reconstruction "
                 f"error {v.report['recon_error']:.3f}; the checkpoint is written either way)\n{v.summary()}")
        elif distributed.is_main():
            _log("no verdict: " + ("pass --classifier (the black box) to measure the guards" if classifier is None
                                   else "the test split holds no images"))
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


def _decisions(classifier: Any, x: torch.Tensor, images: Sequence[Path]) -> list[int]:
    """The black box's decision on each image; NaN or inf scores end with a message naming the files."""
    from .classifier import NonFiniteOutputError
    from .conventions import evaluating

    with evaluating(classifier), torch.no_grad():
        try:
            logits = classifier(x)
            rows = (~torch.isfinite(logits).all(1)).nonzero().flatten().tolist()
        except NonFiniteOutputError as err:
            rows = err.rows
    if rows:
        bad = [str(images[i]) for i in rows]
        raise UsageError(f"the classifier returns NaN or inf scores for {', '.join(bad[:5])}"
                         + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
                         + "; a decision needs finite logits: check the model and its preprocessing on these images")
    return logits.argmax(1).tolist()


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
    check_writable(out, "--out", folder=True)
    cae, classifier, names, ref_source, models_used = _load_explain_models(args)
    cfg = cae.config
    check_classifier(classifier, cfg, names)
    # the preprocessing the CAE was trained with (train-cae records it): its image size and channels, and
    # --upscale: a CAE trained on enlarged small images explains such images without asking again
    upscale = args.upscale or bool((ref_source or {}).get("upscale"))
    if args.dataset or args.folder:
        ref_source = _data_source(args)
        if args.folder:   # flags left at their defaults take the CAE's values
            ref_source.update(image_size=cfg.image_size if args.image_size == 32 else args.image_size,
                              channels=cfg.channels if args.channels is None else args.channels, upscale=upscale)
    if not ref_source:
        raise UsageError("the CAE checkpoint does not say which images it was trained on: pass --folder or "
                         "--dataset with images of every class, for the references the paths head to")
    if upscale and not args.upscale:
        _log(f"the CAE was trained with --upscale: images smaller than {cfg.image_size}x{cfg.image_size} are "
             "enlarged, as in training")
    x = read_images(images, channels=cfg.channels, image_size=cfg.image_size, upscale=upscale)
    target = None if args.target is None else _class_index(args.target, names)
    decisions = _decisions(classifier, x, images)
    same = [str(p) for p, d in zip(images, decisions) if d == target]
    if same:
        raise UsageError(f"--target {names[target]!r} is the class the black box already gives {same[0]}"
                         + (f" (and {len(same) - 1} more image(s))" if len(same) > 1 else "")
                         + "; a counterfactual heads for another class: pass another --target, or leave it out "
                         "for the most likely other class")
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
    check_writable(args.out, "--out", folder=True)
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
    check_writable(args.out_dir, "OUT_DIR", folder=True)
    done = write_student_notebooks(src, args.out_dir, force=args.force)
    for d in done:
        note = "" if d.regions else "   (no solution regions: copied without outputs)"
        print(f"{d.written}: {d.exercises} exercises, {d.regions} solution regions replaced "
              f"({d.lines_removed} solution lines removed){note}")
    print(f"{len(done)} student notebooks in {args.out_dir}: each solution region reads '# YOUR CODE HERE' / "
          "'raise NotImplementedError()'; exercises.check(...) tells a student whether an answer is right")
    return 0


def cmd_site(args: argparse.Namespace) -> int:
    """Build the course website: the notebooks executed and rendered by Sphinx + myst-nb (caelib/site.py)."""
    from .site import build_site

    try:
        built = build_site(args.out_dir, notebooks=args.notebooks, force=args.force, timeout=args.timeout,
                           log=None if args.quiet else _log)
    except RuntimeError as err:                  # the build failed (e.g. a notebook cell raised): Sphinx's log
        print(f"{PROG} site: error: {err}", file=sys.stderr)
        return 1
    for name, r in built.reports.items():
        problems = [f"{len(r.raw_tables)} raw pipe tables"] * bool(r.raw_tables) + \
            [f"{len(r.bad_outputs)} error/warning outputs"] * bool(r.bad_outputs) + \
            ["no figure"] * (r.figures == 0 and name != "index")
        _log(f"  {name}: {r.figures} figures" + (f"; check: {', '.join(problems)}" if problems else ""))
    if built.warnings:
        _log(f"  Sphinx warnings ({len(built.warnings)}): " + "; ".join(built.warnings[:5]))
    print(f"site built in {built.seconds:.0f} s: {len(built.pages)} pages ({len(built.notebooks)} notebooks, the "
          f"index, search and general index) in {built.out_dir}; open {Path(built.out_dir) / 'index.html'}")
    return 0


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
    _add_data_args(p)
    p.add_argument("--out", type=Path, required=True, help="classifier checkpoint to write (.pt)")
    p.add_argument("--epochs", type=whole(1), help="passes over the training images (default: about 1,500 steps, "
                   "8 to 40 epochs: more for small sets)")
    p.add_argument("--batch-size", type=whole(1), default=_default(train_classifier, "batch_size"))
    p.add_argument("--lr", type=positive, default=_default(train_classifier, "lr"),
                   help="peak learning rate (one-cycle)")
    p.add_argument("--width", type=whole(1), default=ClassifierConfig.width, help="channels of the first stage")
    p.add_argument("--augment", type=whole(0), default=2, help="random shifts of up to this many pixels")
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
    p.add_argument("--steps", type=whole(1), default=TrainConfig.steps, help=f"training steps (default "
                   f"{TrainConfig.steps}; caelib's shipped "
                   "CAEs use 1500-3000)")
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
