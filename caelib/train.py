"""Training a CAE: the visible loop (``train_cae``) that weights and optimises the named loss terms, with
checkpoints and exact resume.

What a run is asked to do is a ``TrainConfig`` (``caelib.train_config``, with ``recipe``, the config chosen from the
data and the black box); the loss terms and their weights are in ``caelib.losses``. Both are re-exported here, so
``from caelib.train import recipe, LossWeights, generator_losses`` keeps working.

The loop draws pairs of images (``PairSampler``), takes a generator step and a discriminator step on each batch,
and after ``config.steps`` fits a closed-form linear eraser that removes the class means' differences from the
individual code (``caelib.erasure``, after LEACE, Belrose et al. 2023), so that no linear probe reads the class
from it; optionally the decoder then adapts to it for ``erase_steps`` more steps.

Under ``torchrun`` (see ``caelib.distributed``) the same loop trains with DistributedDataParallel: each
process draws its own pairs (``batch_size`` pairs per process and step), gradients are averaged, and rank 0
alone writes checkpoints. Taught in ``notebooks/02_encoding.ipynb`` (one process) and notebook 10.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from . import distributed
from .cae import CAE, CAEConfig, Discriminator
from .checkpoints import (
    CheckpointError,
    clean_stale_temp_files,
    load_checkpoint,
    load_state,
    save_checkpoint,
    state_of,
)
from .device import keep_freed_memory
from .erasure import fit_indiv_eraser
from .losses import LossWeights, diff_augment, discriminator_losses, generator_losses
from .pair_balance import PairBalance
from .resume import FIXED_ON_RESUME, RESUME_STATE, check_resume, plain_config, started_with
from .train_config import (
    AUGMENT_BELOW,
    CRITIC_RECON_WEIGHT,
    CRITIC_WEIGHT,
    TIME_PROBE_STEPS,
    TrainConfig,
    recipe,
    steps_within,
)
from .verdict import Verdict
from .verdict import verdict as measure_verdict
from .warmup import warm_up_class_code

__all__ = [
    "train_cae", "TrainResult", "PairSampler", "GeneratorStep", "DiscriminatorStep", "to_training_layout",
    "FIXED_ON_RESUME", "RANK_SEED_STRIDE", "ERASER_REFIT_EVERY",
    # re-exported from caelib.train_config and caelib.losses (where they used to live)
    "TrainConfig", "recipe", "AUGMENT_BELOW", "CRITIC_WEIGHT", "CRITIC_RECON_WEIGHT",
    "LossWeights", "diff_augment", "generator_losses", "discriminator_losses",
]


class PairSampler:
    """Draws index pairs (a, b): a's class uniformly, then b of a's class with probability
    ``same_fraction``, else of a uniformly chosen other class. Its state lives in a torch Generator,
    so training resumes exactly."""

    def __init__(self, labels: torch.Tensor, num_classes: int, same_fraction: float, seed: int):
        labels = labels.cpu().long()
        self.order = torch.argsort(labels, stable=True)
        self.counts = torch.bincount(labels, minlength=num_classes)
        if (self.counts == 0).any():
            missing = [k for k in range(num_classes) if self.counts[k] == 0]
            raise ValueError(f"the training data has no images of class(es) {missing}; "
                             "every class needs images (or build the CAE with fewer classes)")
        self.starts = torch.cumsum(self.counts, 0) - self.counts
        self.k = num_classes
        self.same_fraction = same_fraction
        self.generator = torch.Generator().manual_seed(seed)

    def _pick(self, classes: torch.Tensor) -> torch.Tensor:
        u = torch.rand(classes.shape, generator=self.generator)
        return self.order[self.starts[classes] + (u * self.counts[classes]).long()]

    def __call__(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = self.generator
        ya = torch.randint(self.k, (n,), generator=g)
        same = torch.rand(n, generator=g) < self.same_fraction
        yb = torch.where(same, ya, (ya + torch.randint(1, self.k, (n,), generator=g)) % self.k)
        return self._pick(ya), self._pick(yb)

class GeneratorStep(nn.Module):
    """The generator's forward pass (``generator_losses``) as one module, so that DistributedDataParallel
    can wrap it: its parameters are the CAE's; the discriminator and the critic are used, not owned."""

    def __init__(self, cae: CAE, disc: Discriminator, critic: Callable | None = None, critic_recon: bool = True,
                 pair_balance: PairBalance | None = None, code_from_critic: bool = False):
        super().__init__()
        self.cae = cae
        self.frozen = (disc, critic)  # a tuple: not registered as submodules, so DDP leaves them alone
        self.critic_recon, self.pair_balance, self.code_from_critic = critic_recon, pair_balance, code_from_critic

    def forward(self, xa, xb, ya, yb, augment=None):
        disc, critic = self.frozen
        return generator_losses(self.cae, disc, xa, xb, ya, yb, critic, augment, self.critic_recon,
                                self.pair_balance, self.code_from_critic)


class DiscriminatorStep(nn.Module):
    """The discriminator's forward pass (``discriminator_losses``) as one module (for DDP)."""

    def __init__(self, disc: Discriminator):
        super().__init__()
        self.disc = disc

    def forward(self, x_real, y_real, x_fake, augment=None):
        return discriminator_losses(self.disc, x_real, y_real, x_fake, augment)


def to_training_layout(cae: CAE, disc: Discriminator) -> None:
    """Put each part of the two networks in the memory format it trains fastest in (in place).

    Channels-last runs the small convolutions of caelib's CAE faster on a CPU, but instance norm has
    no channels-last kernel there: PyTorch copies its input to the usual (NCHW) layout and back, and every
    conv next to it converts again. So the parts without instance norm (class-code encoder, the decoder's
    upsampling path and output conv, the discriminator) train channels-last and the instance-normed ones
    (individual-code encoder, AdaIN blocks) in NCHW (measured: benchmarks/results/measured_choices.md). The numbers
    computed are the same up to float rounding; ``train_cae`` hands the CAE back in the usual format."""
    for part in (cae.class_encoder, cae.decoder.up, cae.decoder.out, disc):
        part.to(memory_format=torch.channels_last)


RANK_SEED_STRIDE = 10_007  # rank r > 0 of a process group draws its pairs with seed + r * RANK_SEED_STRIDE
ERASER_REFIT_EVERY = 100   # steps between refits of the class eraser while the decoder adapts to it


@dataclass
class TrainResult:
    """What ``train_cae`` returns: the models and a history of the named losses; with ``test`` and a
    black box given, ``verdict``: the guards measured on the test split (``caelib.swap.verdict``)."""

    cae: CAE
    disc: Discriminator
    history: list[dict[str, float]]
    seconds: float
    step: int
    verdict: Verdict | None = None


def _cosine(step: int, steps: int, final: float) -> float:
    """The learning rate's factor at ``step``: cosine decay from 1 to ``final`` over ``steps``."""
    t = min(step / max(steps, 1), 1.0)
    return final + (1 - final) * 0.5 * (1 + math.cos(math.pi * t))


def train_cae(dataset, cae_config: CAEConfig | None = None, config: TrainConfig = TrainConfig(), *,
              model: CAE | None = None, checkpoint: str | Path | None = None, checkpoint_every: int = 500,
              callback: Callable[[int, dict, CAE], None] | None = None, callback_every: int = 200,
              critic: nn.Module | None = None, device: str = "auto", progress: bool = True,
              log_every: int = 10, stop_at: int | None = None, meta: dict | None = None,
              resume: bool = True, test=None, classifier: Callable | None = None,
              verdict_images: int = 500) -> TrainResult:
    """Train a CAE on ``dataset`` (``.images`` (N, C, H, W) in [-1, 1], ``.labels`` (N,)).

    The trainers' shape, shared with ``caelib.train_classifier``: the training data is ``dataset`` and the network
    ``model``, both accepted by keyword (``train_cae(dataset=ds, model=cae)``, ``train_classifier(model=net,
    dataset=ds)``); a given model is trained in place. Here ``model`` may be left out (a new CAE is built from
    ``cae_config``, by default from the data's shape and classes), so the data comes first; given, it is trained on
    from its weights (with a new discriminator) and ``cae_config``, if also given, must be its ``config``.
    ``checkpoint``: a path; if the file exists training resumes from it exactly (same weights as an
    uninterrupted run, on the CPU), and it is rewritten (atomically) every ``checkpoint_every`` steps
    and at the end. A resume keeps the checkpoint's learning rate, Adam settings and seed
    (``FIXED_ON_RESUME``): a ``config`` asking for others raises ``ValueError``; other changes (more steps,
    loss weights, batch size) apply from the resumed step on and are listed in the meta's ``"resumes"``.
    ``resume=False`` starts anew even when ``checkpoint`` exists; the old file stays until the first save
    replaces it (atomically). Temporary files left by a run killed during a save are deleted (with a warning).
    ``callback(step, losses, cae)`` runs every ``callback_every`` steps (e.g. to draw a
    sample grid). ``critic``: a frozen black box (images -> logits) used by the ``critic`` loss term.
    After ``config.steps`` the class eraser of the individual code is fitted (``config.erase_class``,
    see ``caelib.erasure``), then ``config.erase_steps`` more steps run at the final learning rate with
    it on, refitting it every ``ERASER_REFIT_EVERY`` steps and at the end.
    ``config.minutes`` (a time budget): after ``TIME_PROBE_STEPS`` steps the measured pace sets how many of
    ``config.steps`` fit (``steps_within``), the learning-rate schedule follows, and the checkpoint's meta keeps
    the plan (``"minutes_plan"``), which a resume with the same budget follows.
    ``stop_at``: stop (and checkpoint) after this many steps of the ``config.steps + config.erase_steps`` schedule, to
    continue later with the same call. ``meta``: extra plain values stored in the checkpoint's meta
    (e.g. where the data came from). ``test`` (a held-out dataset) and ``classifier`` (the black box; default
    ``critic``): after training, ``result.verdict`` holds the guards measured on ``verdict_images`` test images
    sampled across the classes (``caelib.swap.verdict``: each met or not, with what to try when not).

    Inside a ``torch.distributed`` process group (``torchrun``, ``caelib.distributed.setup()``) both
    networks train under DistributedDataParallel; rank r draws pairs with its own seed, rank 0 alone
    writes the checkpoint, shows progress and runs ``callback``. A resumed checkpoint restores every
    rank's pair stream when the number of processes is the same.
    """
    dev = distributed.device(device)
    if dev.type == "cpu":
        keep_freed_memory()  # each step reuses the memory the last one freed (no page faults; caelib.device)
    rank, world = distributed.rank(), distributed.world_size()
    images, labels = dataset.images, dataset.labels
    for name, every in (("checkpoint_every", checkpoint_every), ("log_every", log_every),
                        ("callback_every", callback_every)):
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"{name} must be a whole number of steps >= 1, got {every!r}")
    if len(labels) == 0:
        raise ValueError("the training data holds no images; a CAE needs images of at least two classes")
    if critic is None and (config.weights.critic or config.weights.critic_recon or config.code_from_black_box):
        raise ValueError("config weights the critic's terms (weights.critic / critic_recon) or distils the code head "
                         "from it (code_from_black_box) but no critic was given: pass the black box as critic=, or "
                         "set those weights to 0 and code_from_black_box to False")
    if model is not None:
        if not isinstance(model, CAE):
            raise TypeError(f"model must be a caelib CAE (or None: a new one), got {type(model).__name__}")
        if cae_config is not None and cae_config != model.config:
            raise ValueError("cae_config differs from model.config: pass one of them (the model's is used)")
        cae_config = model.config
    k = int(labels.max()) + 1 if cae_config is None else cae_config.num_classes
    if cae_config is None:
        c, h, _ = images.shape[1:]
        cae_config = CAEConfig(image_size=h, channels=c, num_classes=k)
    torch.manual_seed(config.seed)
    cae, disc = (CAE(cae_config) if model is None else model), Discriminator(cae_config)
    cae.check(images[:1], what="training images")
    if labels.min() < 0 or labels.max() >= cae_config.num_classes:
        raise ValueError(f"labels must lie in 0..{cae_config.num_classes - 1}, "
                         f"got {int(labels.min())}..{int(labels.max())}")
    if len(torch.unique(labels)) < 2:
        raise ValueError("the training data holds a single class; a CAE needs images of at least two classes")
    sampler = PairSampler(labels, cae_config.num_classes, config.same_class_fraction,
                          config.seed + rank * RANK_SEED_STRIDE)
    adam = dict(lr=config.lr, betas=(config.beta1, config.beta2), weight_decay=config.weight_decay)
    opt_g = torch.optim.AdamW(cae.parameters(), **adam)
    opt_d = torch.optim.AdamW(disc.parameters(), **adam)
    def lr_factor(s: int) -> float:   # reads `config` when called: a time budget's plan may shorten its steps
        return _cosine(s, config.steps, config.final_lr_fraction)

    sched_g = torch.optim.lr_scheduler.LambdaLR(opt_g, lr_factor)
    sched_d = torch.optim.lr_scheduler.LambdaLR(opt_d, lr_factor)
    minutes_plan: dict | None = None   # a time budget's plan, once made (kept in the checkpoint's meta)
    balance = PairBalance(cae_config.num_classes) if config.balance_pairs and critic is not None else None
    history: list[dict[str, float]] = []
    resumes: list[dict] = []
    step, seconds = 0, 0.0
    if checkpoint is not None and rank == 0:
        clean_stale_temp_files(checkpoint)
    if checkpoint is not None and resume and Path(checkpoint).exists():
        ck = load_checkpoint(checkpoint, kind="cae", expect_config=cae_config)
        st = ck["state"]
        load_state(cae, state_of(ck, "cae", checkpoint), "cae")
        load_state(disc, state_of(ck, "discriminator", checkpoint), "discriminator")
        if "opt_g" not in st:
            raise ValueError(f"{checkpoint} holds a finished model without optimiser state; it cannot be "
                             "resumed. Pass another checkpoint path to train a new model.")
        missing = [repr(r) for r in RESUME_STATE if not isinstance(st.get(r), dict)]
        missing += [] if isinstance(ck["meta"].get("step"), int) else ["the step it reached (meta 'step')"]
        if missing:
            raise CheckpointError(f"{checkpoint} is damaged or incomplete: a resume needs {', '.join(missing)}, "
                                  "which it lacks; pass another checkpoint path (or --force to replace it)")
        stored_plan = ck["meta"].get("minutes_plan")   # a time budget's plan holds when resumed with that budget
        if config.minutes and isinstance(stored_plan, dict) and stored_plan.get("minutes") == config.minutes:
            minutes_plan = stored_plan
            config = replace(config, steps=min(config.steps, int(stored_plan["steps"])))
        resumes = check_resume(checkpoint, ck["meta"], config, int(ck["meta"]["step"]))
        config = replace(config, **started_with(ck["meta"]))   # (the warm-up ran, or not, when it started)
        opt_g.load_state_dict(st["opt_g"]), opt_d.load_state_dict(st["opt_d"])
        sched_g.load_state_dict(st["sched_g"]), sched_d.load_state_dict(st["sched_d"])
        by_rank = st["rng"].get("pairs_by_rank")
        if world == 1:
            sampler.generator.set_state(st["rng"]["pairs"])
        elif by_rank is not None and len(by_rank) == world:
            sampler.generator.set_state(by_rank[rank])
        else:  # another number of processes: a fresh, still distinct stream per rank
            sampler.generator.manual_seed(config.seed + rank * RANK_SEED_STRIDE + int(ck["meta"]["step"]))
        if balance is not None and "pair_balance" in st:   # (a run that turns it on at a resume starts it anew)
            balance.load_state_dict(st["pair_balance"])
        step, seconds = int(ck["meta"]["step"]), float(ck["meta"].get("seconds", 0.0))
        history = list(ck["meta"].get("history", []))
    cae.to(dev).train(), disc.to(dev).train()
    to_training_layout(cae, disc)
    images, labels = images.to(dev), labels.to(dev)
    critic_grads = []   # the black box's own requires_grad flags, given back after training
    if critic is not None:
        critic = critic.to(dev).eval()
        for p in critic.parameters():
            critic_grads.append((p, p.requires_grad))
            p.requires_grad_(False)
    if step == 0 and config.warmup_steps and (stop_at is None or stop_at > 0):   # before DDP (which shares rank 0's)
        t_warm = time.perf_counter()
        warm_up_class_code(cae, images, labels, config.warmup_steps, seed=config.seed, lr=config.lr,
                           betas=(config.beta1, config.beta2), weight_decay=config.weight_decay,
                           teacher=critic if config.code_from_black_box else None, progress=progress and rank == 0)
        seconds += time.perf_counter() - t_warm
    w = config.weights
    gen_step = distributed.wrap(GeneratorStep(cae, disc, critic, w.critic_recon != 0, balance,
                                              config.code_from_black_box), dev)
    disc_step = distributed.wrap(DiscriminatorStep(disc), dev)

    def save(path):
        rng = {"pairs": sampler.generator.get_state()}
        if world > 1:  # a collective: every rank takes part, rank 0 writes
            rng["pairs_by_rank"] = distributed.gather(sampler.generator.get_state())
        if rank == 0:
            state = {"cae": cae.state_dict(), "discriminator": disc.state_dict(),
                     "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
                     "sched_g": sched_g.state_dict(), "sched_d": sched_d.state_dict(), "rng": rng,
                     **({} if balance is None else {"pair_balance": balance.state_dict()})}
            info = {**(meta or {}), "step": step, "seconds": seconds, "history": history,
                    "train_config": plain_config(config), "world_size": world}
            if resumes:
                info["resumes"] = resumes
            if minutes_plan is not None:
                info["minutes_plan"] = minutes_plan
            save_checkpoint(path, kind="cae", config=asdict(cae_config), state=state, meta=info)
        distributed.barrier()

    total = config.steps + config.erase_steps
    bar = tqdm(total=total, initial=step, desc="training CAE", disable=not progress or rank != 0)
    t0 = t_start = time.perf_counter()
    step_start = step
    end = total if stop_at is None else min(stop_at, total)
    while step < end:
        ia, ib = sampler(config.batch_size)
        xa, xb, ya, yb = images[ia], images[ib], labels[ia], labels[ib]
        # generator step (the discriminator is frozen here)
        disc.requires_grad_(False)
        augment = None
        if config.augment:   # drawn by (seed, step): a resumed run draws the same changes
            aug_gen = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
            augment = lambda x: diff_augment(x, aug_gen)  # noqa: E731
        g_losses, x_sw = gen_step(xa, xb, ya, yb, augment)
        g_total = sum(getattr(w, name) * value for name, value in g_losses.items())
        opt_g.zero_grad(set_to_none=True)
        g_total.backward()
        opt_g.step()
        # discriminator step on real images and the (detached) swaps
        disc.requires_grad_(True)
        d_losses = disc_step(torch.cat([xa, xb]), torch.cat([ya, yb]), x_sw, augment)
        d_total = d_losses["real_fake"] + w.disc_class * d_losses["disc_class"]
        opt_d.zero_grad(set_to_none=True)
        d_total.backward()
        opt_d.step()
        if config.minutes and minutes_plan is None and step + 1 == step_start + TIME_PROBE_STEPS:
            pace = max(distributed.gather((time.perf_counter() - t_start) / TIME_PROBE_STEPS))  # the slowest rank
            config = replace(config, steps=steps_within(config, pace, step + 1, seconds + time.perf_counter() - t0))
            total = config.steps + config.erase_steps
            end, bar.total = (total if stop_at is None else min(stop_at, total)), total
            minutes_plan = {"minutes": config.minutes, "steps": config.steps, "seconds_per_step": pace}
        sched_g.step(), sched_d.step()   # (after a time budget's plan: the schedule's next value follows it)
        step += 1
        bar.update(1)
        if config.erase_class and step >= config.steps and (
                (step - config.steps) % ERASER_REFIT_EVERY == 0 or step == total):
            fit_indiv_eraser(cae, images, labels, seed=config.seed,   # same subset on every rank
                             spread_dims=config.erase_spread_dims)
        if step % log_every == 0 or step == total:
            row = {"step": step, **{k: float(v.detach()) for k, v in g_losses.items()},
                   **{"d_" + k: float(v.detach()) for k, v in d_losses.items()}}
            history.append(row)
            bar.set_postfix(recon=f"{row['recon']:.3f}", swap=f"{row['swap_class']:.2f}",
                            adv=f"{row['adversarial']:.2f}")
        if callback is not None and step % callback_every == 0 and rank == 0:
            cae.eval()
            with torch.no_grad():
                callback(step, g_losses, cae)
            cae.train()
        if checkpoint is not None and (step % checkpoint_every == 0 or step == end):
            seconds += time.perf_counter() - t0
            t0 = time.perf_counter()
            save(checkpoint)
    bar.close()
    for p, flag in critic_grads:
        p.requires_grad_(flag)
    seconds += time.perf_counter() - t0
    cae.eval(), disc.eval()
    plain = torch.contiguous_format
    cae, disc = cae.to("cpu", memory_format=plain), disc.to("cpu", memory_format=plain)
    judge = classifier if classifier is not None else critic
    verdict = None
    if test is not None and judge is not None and len(test.labels) and rank == 0:
        judge = judge.cpu().eval() if isinstance(judge, nn.Module) else judge
        verdict = measure_verdict(cae, judge, test, n=verdict_images, seed=config.seed,
                          class_names=getattr(dataset, "class_names", None))
    return TrainResult(cae=cae, disc=disc, history=history, seconds=seconds, step=step, verdict=verdict)
