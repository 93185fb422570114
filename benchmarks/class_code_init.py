"""Does the pooled class encoder learn the classes from its first steps? PyTorch's default initialisation against
He initialisation (issue 25: the pooled encoder collapsed on lesions-kinds at one seed in three).

    python benchmarks/class_code_init.py [--set lesions-kinds] [--seeds 0 1 2 3 4] [--steps 500] [--threads 1]

For each seed: a new default CAE (``CAEConfig``, the data's size and classes); its class encoder's untrained code
spread over 200 test images (mean over the code's dimensions of the standard deviation across images); then the
class-code warm-up alone (``caelib.warmup.warm_up_class_code``, ``--steps`` steps of 64 images, on the labels) and
the code head's accuracy on 2,000 test images. "pytorch" re-draws the encoder's convolutions with PyTorch's default
(``reset_parameters``) before that; "he" keeps caelib's He initialisation. Writes nothing; the measured numbers are
in benchmarks/results/generalisation.md.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

import caelib
from caelib.cae import CAE, CAEConfig
from caelib.warmup import warm_up_class_code


def measure(train, test, seed: int, init: str, steps: int) -> dict:
    torch.manual_seed(seed)
    cae = CAE(CAEConfig(image_size=train.image_shape[1], channels=train.image_shape[0], num_classes=train.num_classes))
    if init == "pytorch":
        for m in cae.class_encoder.modules():
            if isinstance(m, nn.Conv2d):
                m.reset_parameters()
    pick = torch.randperm(len(test), generator=torch.Generator().manual_seed(0))[:2000]
    x, y = test.images[pick], test.labels[pick]
    with torch.no_grad():
        spread = float(cae.class_encoder(x[:200]).std(0).mean())
    t0 = time.perf_counter()
    losses = warm_up_class_code(cae, train.images, train.labels, steps, seed=seed, progress=False)
    cae.eval()
    with torch.no_grad():
        accuracy = float((cae.code_head(cae.class_encoder(x)).argmax(1) == y).float().mean())
    return {"spread": spread, "loss": sum(losses[-20:]) / 20, "accuracy": accuracy,
            "seconds": time.perf_counter() - t0}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--set", default="lesions-kinds")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    train, test = (caelib.load_dataset(args.set, split=split) for split in ("train", "test"))
    print(f"{args.set}, {args.steps} warm-up steps of 64 images\n\n| init | seed | untrained code spread | "
          "loss (last 20 steps) | code head test accuracy | seconds |\n|---|---|---|---|---|---|")
    for init in ("pytorch", "he"):
        for seed in args.seeds:
            r = measure(train, test, seed, init, args.steps)
            print(f"| {init} | {seed} | {r['spread']:.4f} | {r['loss']:.3f} | {r['accuracy']:.3f} | "
                  f"{r['seconds']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
