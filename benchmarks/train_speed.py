"""How fast does a CAE train on this machine? Prints medians over repeats.

    python benchmarks/train_speed.py [--repeats 5] [--threads 2]

Measures, in one run: the fp32 matmul rate of the machine (the ceiling of any training step), one training
step (generator + discriminator, batch of 32 pairs, 32x32 grayscale) of caelib's default CAE and of the
paper-size configuration (``CAEConfig.paper()``, the authors' layer sizes) at the same input and batch:
images/s, the step's FLOPs (counted by ``torch.utils.flop_counter``), the FLOP rate as a fraction of the
matmul rate, and the speed ratio; the same for the configurations of the shipped lesions and mnist CAEs (their
individual codes are 16x16 and 4x4 where the default's is 8x8), of the default with the strided class encoder it
had before 2026-12-07, and of the default at 64x64 (a folder of larger images). All are timed in interleaved
rounds (a few steps of each in turn), so that a slow spell of a shared machine hits them all; a ratio is the ratio of
the medians, and the spread of the per-round ratios is printed too. Also prints the training time and quality of
the shipped CAEs, read from their checkpoints (measured when they were trained by ``scripts/train_cae.py``).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from caelib.cae import CAE, CAEConfig, Discriminator, count_parameters
from caelib.device import keep_freed_memory
from caelib.pretrained import CAE_RECIPES
from caelib.train import TrainConfig, discriminator_losses, generator_losses, to_training_layout

ROOT = Path(__file__).resolve().parents[1]


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * n ** 3 / statistics.median(times) / 1e9


def make_step(cfg: CAEConfig, batch: int):
    keep_freed_memory()                          # as caelib.train.train_cae does on the CPU (for every config)
    cae, disc = CAE(cfg), Discriminator(cfg)
    to_training_layout(cae, disc)                # both networks in the training loop's memory formats
    tc = TrainConfig()
    opt_g = torch.optim.AdamW(cae.parameters(), lr=tc.lr, betas=(tc.beta1, tc.beta2))
    opt_d = torch.optim.AdamW(disc.parameters(), lr=tc.lr, betas=(tc.beta1, tc.beta2))
    g = torch.Generator().manual_seed(0)
    xa = torch.rand(batch, cfg.channels, cfg.image_size, cfg.image_size, generator=g) * 2 - 1
    xb = torch.rand(batch, cfg.channels, cfg.image_size, cfg.image_size, generator=g) * 2 - 1
    ya, yb = torch.zeros(batch, dtype=torch.long), torch.ones(batch, dtype=torch.long)
    w = tc.weights

    def step():
        disc.requires_grad_(False)
        losses, x_sw = generator_losses(cae, disc, xa, xb, ya, yb)
        opt_g.zero_grad()
        sum(getattr(w, k) * v for k, v in losses.items()).backward()
        opt_g.step()
        disc.requires_grad_(True)
        d = discriminator_losses(disc, torch.cat([xa, xb]), torch.cat([ya, yb]), x_sw)
        opt_d.zero_grad()
        (d["real_fake"] + w.disc_class * d["disc_class"]).backward()
        opt_d.step()
    return step, count_parameters(cae)


def time_step(step, repeats: int) -> float:
    """Median seconds of ``repeats`` calls of ``step`` (already warmed up)."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=7, help="interleaved rounds")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=32, help="pairs per step")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    peak = matmul_gflops()
    print(f"threads {args.threads}; fp32 matmul (2048^2): {peak:.1f} GFLOP/s (median of 5); freed memory kept "
          f"for the next step (caelib.device.keep_freed_memory): {keep_freed_memory()}")
    configs = {"caelib default": CAEConfig(), "paper size": CAEConfig.paper(),
               "strided class enc": CAEConfig(class_encoder="strided"),   # the default before 2026-12-07
               "default at 64x64": CAEConfig(image_size=64)}               # a folder of 64x64 images
    for name in ("lesions", "mnist"):                    # the shipped models' own configurations, as well
        configs[f"shipped {name}"] = CAE_RECIPES[name].model
    steps, flops, params = {}, {}, {}
    for name, cfg in configs.items():
        steps[name], params[name] = make_step(cfg, args.batch)
        with FlopCounterMode(display=False) as counter:
            steps[name]()                                   # also the warm-up
        flops[name] = counter.get_total_flops()
        steps[name]()
    # interleaved rounds: 5 steps of caelib's CAE (their median), then 1 of the paper size, args.repeats times
    times: dict[str, list[float]] = {name: [] for name in configs}
    for _ in range(args.repeats):
        for name in configs:
            times[name].append(time_step(steps[name], 1 if name == "paper size" else 5))
    for name in configs:
        sec = statistics.median(times[name])
        print(f"{name:15s} params {params[name] / 1e6:6.2f}M  step {sec * 1000:8.1f} ms  "
              f"{2 * args.batch / sec:7.1f} images/s  {flops[name] / 1e9:6.1f} GFLOP/step  "
              f"{flops[name] / sec / 1e9:6.1f} GFLOP/s = {flops[name] / sec / 1e9 / peak:5.1%} of matmul")
    for name in configs:
        if name in ("paper size", "default at 64x64"):
            continue
        ratios = sorted(p / c for p, c in zip(times["paper size"], times[name]))
        ratio = statistics.median(times["paper size"]) / statistics.median(times[name])
        print(f"speed-up of {name} over the paper size at 32x32, batch {args.batch}: {ratio:.1f}x (ratio of "
              f"medians over {args.repeats} interleaved rounds; per round {ratios[0]:.1f}x .. {ratios[-1]:.1f}x)")
    for name, against in (("caelib default", "strided class enc"), ("default at 64x64", "caelib default")):
        ratios = sorted(a / b for a, b in zip(times[name], times[against]))
        ratio = statistics.median(times[name]) / statistics.median(times[against])
        print(f"step of {name} / step of {against}: {ratio:.2f}x (per round {ratios[0]:.2f}x .. {ratios[-1]:.2f}x)")
    from caelib.checkpoints import load_checkpoint
    for path in sorted((ROOT / "data").glob("*-cae.pt")):
        meta = load_checkpoint(path, kind="cae")["meta"]
        m = meta.get("metrics", {})
        print(f"{path.name}: trained {meta.get('steps')} steps in {meta.get('train_seconds', 0):.0f} s "
              f"({meta.get('threads')} thread(s)); flip mean {m.get('flip_mean', float('nan')):.3f}, "
              f"worst {m.get('flip_worst', float('nan')):.3f}, recon acc {m.get('recon_accuracy', float('nan')):.3f}")


if __name__ == "__main__":
    main()
