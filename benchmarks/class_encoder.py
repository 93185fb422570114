"""How well does each class-code encoder read the classes on its own? (issue 25: why reconstructions lose accuracy)

    python benchmarks/class_encoder.py [--sets mnist lesions-kinds fashion-mnist-shirts fashion-mnist-tops]
                                       [--seeds 0 1 2] [--steps 1000] [--threads 1]

A CAE's reconstruction takes the class its class encoder reads: on the panel, the share of reconstructions the black
box classifies correctly follows the accuracy of the CAE's code head on the test split, not the black box's. This
trains each ``CAEConfig.class_encoder`` ("strided", "pooled") with a linear head on the labels alone (``--steps``
steps of 64 images, AdamW as in ``TrainConfig``), and the pooled one on the black box's class probabilities instead
(distillation), and prints test accuracy beside the black box's (``python -m caelib train-classifier``, default
settings, same seed). Writes nothing; the measured numbers are in
benchmarks/results/generalisation.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

import caelib
from caelib import cli
from caelib.cae import CAEConfig, ClassEncoder
from caelib.classifier import load_classifier, predict_proba
from caelib.losses import code_class_loss

N_TRAIN = {"fashion-mnist-shirts": 6000, "fashion-mnist-tops": 500}   # as the panel subsamples them


def accuracy(predict, ds) -> float:
    with torch.no_grad():
        return float((predict(ds.images).argmax(1) == ds.labels).float().mean())


def encoder_alone(kind: str, train, test, steps: int, seed: int, teacher=None) -> tuple[float, float]:
    """Test and training accuracy of a class encoder + linear head trained on the labels, or, given ``teacher``
    (the black box's class probabilities of the training images), on those (distillation, Hinton et al. 2015)."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    cfg = CAEConfig(image_size=train.image_shape[1], channels=train.image_shape[0], num_classes=train.num_classes,
                    class_encoder=kind)
    net = nn.Sequential(ClassEncoder(cfg), nn.Linear(cfg.class_dim, cfg.num_classes))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, betas=(0.5, 0.999), weight_decay=1e-4)
    for _ in range(steps):
        i = torch.randint(0, len(train), (64,), generator=g)
        logits = net(train.images[i])
        loss = code_class_loss(logits, train.labels[i], None if teacher is None else teacher[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    return accuracy(net, test), accuracy(net, train)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sets", nargs="+", default=["mnist", "lesions-kinds", *N_TRAIN])
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    print("| data | seed | black box test | class encoder (on the labels unless said) | test | train | seconds |\n"
          "|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sets:
            n = N_TRAIN.get(name)
            train = caelib.load_dataset(name, split="train", **({} if n is None else {"n": n}))
            test = caelib.load_dataset(name, split="test")
            for seed in args.seeds:
                clf_path = Path(tmp) / f"{name}-{seed}.pt"
                cli.main(["train-classifier", "--dataset", name, "--out", str(clf_path), "--seed", str(seed),
                          "--quiet", *([] if n is None else ["--max-images", str(n)])])
                clf = load_classifier(clf_path)
                black_box = accuracy(lambda x: predict_proba(clf, x), test)
                teacher = predict_proba(clf, train.images)
                variants = (("strided", None), ("pooled", None), ("pooled, distilled from the black box", teacher))
                for kind, target in variants:
                    t0 = time.perf_counter()
                    on_test, on_train = encoder_alone(kind.split(",")[0], train, test, args.steps, seed, target)
                    print(f"| {name} | {seed} | {black_box:.3f} | {kind} | {on_test:.3f} | {on_train:.3f} | "
                          f"{time.perf_counter() - t0:.0f} |", flush=True)


if __name__ == "__main__":
    main()
