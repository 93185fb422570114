"""The training commands of ``python -m caelib`` (``caelib.cli``): ``train-classifier`` and ``train-cae``."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import torch

from .cli_args import UsageError, check_writable, data_source, load_black_box, load_data, log


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
    source = data_source(args)
    train, test = load_data(source, "train", args.max_images), load_data(source, "test")
    c, h, _ = train.image_shape
    torch.manual_seed(args.seed)
    model = SmallCNN(ClassifierConfig(channels=c, image_size=h, num_classes=train.num_classes, width=args.width))
    epochs = args.epochs or auto_epochs(len(train), args.batch_size)
    log(f"training a SmallCNN on {len(train)} images {train.image_shape} of {train.num_classes} classes "
         f"{list(train.class_names)}; {epochs} epochs" + ("" if args.epochs else " (auto: more for fewer images)"))
    history = train_classifier(model, train, epochs=epochs, batch_size=args.batch_size, lr=args.lr,
                               augment=args.augment, flips=args.flips, seed=args.seed, device=args.device,
                               progress=not args.quiet)
    model.cpu().eval()
    acc = evaluate_classifier(model, test)["accuracy"] if len(test) else float("nan")
    meta = {"data": source, "class_names": list(train.class_names), "test_accuracy": acc, "history": history,
            "command": "python -m caelib " + " ".join(sys.argv[1:])}
    save_classifier(out, model, meta=meta)
    log(f"test accuracy {acc:.3f} on {len(test)} images; saved {out}")
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
        source = data_source(args)
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
            log(f"resuming {out} from step {done} of {args.steps}")
        elif out.exists():   # --force: the old file stays until the new run's first checkpoint replaces it
            log(f"--force: training a new model; {out} is replaced at its first checkpoint")
        config = recipe(len(train), black_box=classifier is not None, critic=args.critic,
                        augment=None if args.augment == "auto" else args.augment == "on",
                        swap_class=args.swap_class_weight, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                        seed=args.seed, minutes=args.minutes)
        meta = {"data": source, "class_names": list(train.class_names),
                "command": "python -m caelib " + " ".join(sys.argv[1:])}
        world = distributed.world_size()
        log(f"training a CAE on {len(train)} images {train.image_shape} of {train.num_classes} classes "
             f"{list(train.class_names)}; {args.steps} steps of {args.batch_size} pairs"
             + (f" (fewer if they do not fit in {args.minutes:g} minutes)" if args.minutes else "")
             + (f" per process, {world} processes (DistributedDataParallel)" if world > 1 else "")
             + f" on {distributed.device(args.device)}; the black box as critic: "
             + (f"weight {config.weights.critic:g}" if config.weights.critic else "off")
             + f"; augmentation: {'on' if config.augment else 'off'}"
             + (f"; first {config.warmup_steps} warm-up steps of the class code alone" if config.warmup_steps else ""))
        result = train_cae(train, cfg, config, checkpoint=out, checkpoint_every=args.checkpoint_every,
                           critic=classifier if config.weights.critic else None, device=args.device,
                           progress=not args.quiet, meta=meta, test=test if len(test) else None, resume=not args.force,
                           classifier=classifier, verdict_images=500)
        if world > 1:
            agree = distributed.parameters_agree(result.cae) and distributed.parameters_agree(result.disc)
            log(f"all {world} ranks hold the same weights: {agree}")
            if not agree:
                raise RuntimeError("the ranks ended with different weights; please report this")
        log(f"{result.step} steps in {result.seconds:.0f} s; checkpoint {out}")
        if result.verdict is not None:   # the guards on a sample of the test split across its classes
            v = result.verdict
            log(f"{v.table()}\n  (black-box accuracy on these images {v.classifier_accuracy:.3f}; the CAE's code head "
                 f"reads the class of {v.report['code_accuracy']:.3f}; reconstruction error "
                 f"{v.report['recon_error']:.3f}; the checkpoint is written either way)\n{v.summary()}")
        elif distributed.is_main():
            log("no verdict: " + ("pass --classifier (the black box) to measure the guards" if classifier is None
                                   else "the test split holds no images"))
    finally:
        if joined:
            distributed.cleanup()
    return 0
