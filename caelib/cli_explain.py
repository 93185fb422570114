"""The commands of ``python -m caelib`` (``caelib.cli``) that explain with trained models: ``explain`` (images
given on the command line) and ``tour`` (the whole pipeline with the shipped models, as a report folder)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Sequence

import torch

from .cli_args import UsageError, check_writable, data_source, load_black_box, load_data, log


def _class_names_of(model: Any) -> list[str] | None:
    net = getattr(model, "model", model)
    return (getattr(net, "meta", None) or {}).get("class_names")


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
        ref_source = data_source(args)
        if args.folder:   # flags left at their defaults take the CAE's values
            ref_source.update(image_size=cfg.image_size if args.image_size == 32 else args.image_size,
                              channels=cfg.channels if args.channels is None else args.channels, upscale=upscale)
    if not ref_source:
        raise UsageError("the CAE checkpoint does not say which images it was trained on: pass --folder or "
                         "--dataset with images of every class, for the references the paths head to")
    if upscale and not args.upscale:
        log(f"the CAE was trained with --upscale: images smaller than {cfg.image_size}x{cfg.image_size} are "
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
    log(f"reference images: {ref_source}")
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
        log(f"{image}: {r['decision']} ({r['probabilities'][r['decision']]:.2f}) -> {r['target']}: "
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
    log(f"report written to {Path(args.out) / 'index.html'} (and index.md) in {time.perf_counter() - t0:.1f} s")
    keys = ["classifier_accuracy", "swap_flip_rate", "recon_accuracy", "path_flip_rate", "pointing_game",
            "pointing_game_path_gradient"]
    log("  " + ", ".join(f"{k} {m[k]:.3f}" for k in keys if k in m))
    return 0
