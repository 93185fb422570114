"""Training a CAE: a visible loop with named, weighted loss terms.

One step takes a batch of image pairs (x_a, x_b). Cross-class pairs teach the swap: ``decode(c_a, s_b)``
must look real and belong to b's class (the discriminator's class head says so), and re-encoding it
must give back both codes. The loss terms and their default weights follow Xie et al. (ICDE 2024,
arXiv 2406.07961) and MUNIT; see ``LossWeights``.

caelib's choices (measured; see ``data/README.md``), which stand for the paper's "building-block
coherency" scheme whose exact form is not public:

* A share of the pairs are same-class pairs, and a same-class swap must reconstruct the image
  (``same_swap``): all class codes of one class become interchangeable building blocks.
* A linear classifier reads the class from the class code (``code_class``). Without it the model can
  "solve" the swap objective by ignoring the class code and flipping every image, so that even plain
  reconstructions land in the wrong class.
* Optionally the frozen black box itself judges the swaps (``critic``; GANMEX's idea, Shih et al. 2020).
* After training, a closed-form linear eraser removes the class means' differences from the individual
  code (``caelib.erasure``, after LEACE, Belrose et al. 2023), so that no linear probe reads the class
  from it; optionally the decoder then adapts to it for ``erase_steps`` more steps.

Under ``torchrun`` (see ``caelib.distributed``) the same loop trains with DistributedDataParallel: each
process draws its own pairs (``batch_size`` pairs per process and step), gradients are averaged, and rank 0
alone writes checkpoints. Taught in ``notebooks/02_encoding.ipynb`` (one process) and notebook 10.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import torch
import torch.nn.functional as F
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
from .classifier import random_shift
from .device import keep_freed_memory
from .erasure import fit_indiv_eraser

if TYPE_CHECKING:
    from .swap import Verdict


@dataclass(frozen=True)
class LossWeights:
    """Weight of each named loss term of the generator (and of the discriminator's class term)."""

    recon: float = 10.0        # L1: decode(encode(x)) = x, both images of the pair
    class_code: float = 1.0    # L1: the swap, re-encoded, gives back the donor's class code
    indiv_code: float = 1.0    # L1: the swap, re-encoded, gives back its own individual code
    cycle: float = 10.0        # L1: re-encoded individual code + original class code = original image
    adversarial: float = 1.0   # the discriminator takes the swaps for real images
    swap_class: float = 1.0    # the discriminator's class head gives a swap its class-code donor's class
    code_class: float = 5.0    # caelib: a linear head reads the label from the class code (1 learnt
                               # the class code too slowly on a CPU budget: measured)
    same_swap: float = 1.0     # caelib: a swap between two images of one class reconstructs the image
                               # (10 held the flip rate back: measured)
    minimal_change: float = 0.0  # caelib option: a cross-class swap changes its image's reconstruction
                               # as little as it must (L1, a counterfactual's sparsity prior)
    critic: float = 0.0        # optional: the black box gives a swap its class-code donor's class
    critic_recon: float = 0.0  # optional: the black box decides a reconstruction as it decides the image
                               # (KL divergence of its class probabilities)
    disc_class: float = 2.0    # discriminator: class cross-entropy on real images


@dataclass(frozen=True)
class TrainConfig:
    """How a CAE is trained (not part of the architecture)."""

    steps: int = 2000                  # optimisation steps (one batch of pairs each)
    batch_size: int = 32               # pairs per step
    lr: float = 1e-3                   # Adam learning rate of both networks (paper: 1e-4 at batch 1)
    beta1: float = 0.5                 # Adam betas, as in the paper
    beta2: float = 0.999
    weight_decay: float = 1e-4         # decoupled (AdamW): Adam's coupled L2 silently killed the
                                       # class-code encoder, whose gradients start tiny
    final_lr_fraction: float = 0.1     # cosine decay of the learning rate down to lr x this
    same_class_fraction: float = 0.5   # share of same-class pairs (caelib's coherency choice)
    erase_class: bool = True           # fit the class eraser on the individual codes after `steps`
                                       # (caelib.erasure: no linear probe reads the class from them)
    erase_steps: int = 0               # then train this many more steps at the final learning rate with
                                       # the eraser on (refitted every ERASER_REFIT_EVERY steps), so the
                                       # decoder adapts to the erased codes
    erase_spread_dims: int = 0         # the eraser also removes this many directions where the class
                                       # spreads differ most (caelib.erasure; for classes that differ in
                                       # look, as digits do, equal means leave a probe above chance)
    weights: LossWeights = field(default_factory=LossWeights)
    augment: bool = False              # the discriminator sees shifted, cut-out images (``diff_augment``)
    seed: int = 0

    def __post_init__(self):
        for name in ("steps", "erase_steps", "erase_spread_dims"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise ValueError(f"TrainConfig.{name} must be a whole number >= 0, got {getattr(self, name)!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"TrainConfig.batch_size must be a whole number >= 1 (pairs per step), "
                             f"got {self.batch_size!r}")
        if not self.lr > 0:
            raise ValueError(f"TrainConfig.lr must be > 0, got {self.lr!r}")
        if not 0 <= self.same_class_fraction <= 1 or not 0 <= self.final_lr_fraction <= 1:
            raise ValueError("TrainConfig.same_class_fraction and final_lr_fraction must lie in [0, 1], got "
                             f"{self.same_class_fraction!r} and {self.final_lr_fraction!r}")


# The recipe that adapts to the data and the black box (``recipe``): differentiable augmentation below this many
# training images, and the black box as critic of the swaps (``CRITIC_WEIGHT``) and of the reconstructions
# (``CRITIC_RECON_WEIGHT``) when there is one. Chosen on the panel of benchmarks/generalisation.py (results:
# benchmarks/results/generalisation.md).
AUGMENT_BELOW = 2000
CRITIC_WEIGHT = 3.0
CRITIC_RECON_WEIGHT = 1.0


def recipe(n_images: int, *, black_box: bool, critic: float | None = None, augment: bool | None = None,
           swap_class: float = 1.0, **config) -> TrainConfig:
    """The ``TrainConfig`` that ``python -m caelib train-cae`` chooses from the data and the black box.

    ``augment`` (None: on below ``AUGMENT_BELOW`` training images, where the discriminator would otherwise learn
    them by heart): ``diff_augment`` on what the discriminator sees.
    ``critic`` (None: ``CRITIC_WEIGHT`` when a black box is given, else 0; GANMEX's black box in the loop): the
    black box must give a swap its class-code donor's class; with it, the reconstructions must keep its decision
    (``CRITIC_RECON_WEIGHT``). ``swap_class``: the discriminator's class term on swaps. Other keyword arguments
    (``steps``, ``batch_size``, ``lr``, ``seed``, ...) go to ``TrainConfig``. Pass the black box to ``train_cae``
    as ``critic=`` when ``config.weights.critic`` is not 0."""
    if critic is None:
        critic = CRITIC_WEIGHT if black_box else 0.0
    if critic and not black_box:
        raise ValueError("a critic weight needs the black box (pass the classifier that judges the swaps)")
    augment = n_images < AUGMENT_BELOW if augment is None else bool(augment)
    weights = LossWeights(critic=float(critic), critic_recon=CRITIC_RECON_WEIGHT if critic else 0.0,
                          swap_class=swap_class)
    return TrainConfig(weights=weights, augment=augment, **config)


# What a resumed run takes from its checkpoint (the optimisers' and the pair sampler's state), so that a resume
# cannot change it: train_cae refuses a config that asks for other values instead of ignoring them.
FIXED_ON_RESUME = ("lr", "beta1", "beta2", "weight_decay", "seed")


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


def diff_augment(x: torch.Tensor, generator: torch.Generator, shift: float = 0.125,
                 cutout: float = 0.5) -> torch.Tensor:
    """Differentiable augmentation of what the discriminator sees (Zhao et al., NeurIPS 2020, "DiffAugment"):
    each image is shifted by up to ``shift`` of its size (edges repeated) and a square of ``cutout`` of its
    side is set to 0, both at random. Real images and swaps get the same kind of change, and the gradient
    flows through it to the generator, so on a few hundred images the discriminator cannot memorise them
    (its class head otherwise learns 500 images by heart and stops teaching the swaps anything)."""
    b, _, h, w = x.shape
    x = random_shift(x, max(1, round(shift * min(h, w))), generator)
    ch, cw = max(1, round(h * cutout)), max(1, round(w * cutout))
    corner = torch.rand(b, 2, generator=generator).to(x.device)
    cy = (corner[:, 0] * (h - ch + 1)).long().view(b, 1, 1)
    cx = (corner[:, 1] * (w - cw + 1)).long().view(b, 1, 1)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    hole = (rows >= cy) & (rows < cy + ch) & (cols >= cx) & (cols < cx + cw)
    return x * (~hole).unsqueeze(1).to(x.dtype)


def _l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).abs().mean()


def generator_losses(cae: CAE, disc: Discriminator, xa, xb, ya, yb, critic: Callable | None = None,
                     augment: Callable | None = None,
                     critic_recon: bool = True) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """All generator loss terms for one batch of pairs; returns (named losses, the swaps). ``augment``: applied
    to what the discriminator sees (``diff_augment``). ``critic_recon``: with a ``critic``, also its term on the
    reconstructions (two more black-box passes; off when its weight is 0)."""
    x = torch.cat([xa, xb])                                  # (2B, C, H, W)
    y = torch.cat([ya, yb])
    s, c = cae.class_encoder(x), cae.indiv_code(x)           # (2B, D), (2B, Ci, h, w)
    sa, sb = s.chunk(2)
    ca, cb = c.chunk(2)
    s_sw, y_sw = torch.cat([sb, sa]), torch.cat([yb, ya])    # a's look with b's class, and back
    out = cae.decoder(torch.cat([c, c]), torch.cat([s, s_sw]))
    x_rec, x_sw = out.chunk(2)                               # (2B, ...) each
    s_re, c_re = cae.class_encoder(x_sw), cae.indiv_code(x_sw)
    x_cyc = cae.decoder(c_re, s)
    real_logit, cls_logit = disc(x_sw if augment is None else augment(x_sw))
    same = (y == y_sw)
    losses = {
        "recon": _l1(x_rec, x),
        "class_code": _l1(s_re, s_sw.detach()),  # target detached: it must not pull codes together
        "indiv_code": _l1(c_re, c),
        "cycle": _l1(x_cyc, x),
        "adversarial": F.binary_cross_entropy_with_logits(real_logit, torch.ones_like(real_logit)),
        "swap_class": F.cross_entropy(cls_logit, y_sw),
        "code_class": F.cross_entropy(cae.code_head(s), y),
        "same_swap": _l1(x_sw[same], x[same]) if same.any() else x.new_zeros(()),
        "minimal_change": _l1(x_sw[~same], x_rec[~same].detach()) if (~same).any() else x.new_zeros(()),
    }
    if critic is not None and critic_recon:
        logits = critic(torch.cat([x_sw, x_rec]))
        with torch.no_grad():
            decided = F.softmax(critic(x), 1)
        sw_logits, rec_logits = logits.split(len(x_sw))
        losses["critic"] = F.cross_entropy(sw_logits, y_sw)
        losses["critic_recon"] = F.kl_div(F.log_softmax(rec_logits, 1), decided, reduction="batchmean")
    elif critic is not None:
        losses["critic"] = F.cross_entropy(critic(x_sw), y_sw)
    return losses, x_sw


def discriminator_losses(disc: Discriminator, x_real, y_real, x_fake,
                         augment: Callable | None = None) -> dict[str, torch.Tensor]:
    """Real/fake cross-entropy on real images and (detached) swaps, and class cross-entropy on real ones."""
    x_fake = x_fake.detach()
    if augment is not None:
        x_real, x_fake = augment(x_real), augment(x_fake)
    real_logit, cls_logit = disc(x_real)
    fake_logit, _ = disc(x_fake)
    return {
        "real_fake": F.binary_cross_entropy_with_logits(real_logit, torch.ones_like(real_logit))
        + F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit)),
        "disc_class": F.cross_entropy(cls_logit, y_real),
    }


class GeneratorStep(nn.Module):
    """The generator's forward pass (``generator_losses``) as one module, so that DistributedDataParallel
    can wrap it: its parameters are the CAE's; the discriminator and the critic are used, not owned."""

    def __init__(self, cae: CAE, disc: Discriminator, critic: Callable | None = None, critic_recon: bool = True):
        super().__init__()
        self.cae = cae
        self.frozen = (disc, critic)  # a tuple: not registered as submodules, so DDP leaves them alone
        self.critic_recon = critic_recon

    def forward(self, xa, xb, ya, yb, augment=None):
        disc, critic = self.frozen
        return generator_losses(self.cae, disc, xa, xb, ya, yb, critic, augment, self.critic_recon)


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
    verdict: "Verdict | None" = None


def _cosine(cfg: TrainConfig) -> Callable[[int], float]:
    def factor(step: int) -> float:
        t = min(step / max(cfg.steps, 1), 1.0)
        return cfg.final_lr_fraction + (1 - cfg.final_lr_fraction) * 0.5 * (1 + math.cos(math.pi * t))
    return factor


def train_cae(dataset, cae_config: CAEConfig | None = None, config: TrainConfig = TrainConfig(), *,
              checkpoint: str | Path | None = None, checkpoint_every: int = 500,
              callback: Callable[[int, dict, CAE], None] | None = None, callback_every: int = 200,
              critic: nn.Module | None = None, device: str = "auto", progress: bool = True,
              log_every: int = 10, stop_at: int | None = None, meta: dict | None = None,
              resume: bool = True, test=None, classifier: Callable | None = None,
              verdict_images: int = 500) -> TrainResult:
    """Train a CAE on ``dataset`` (``.images`` (N, C, H, W) in [-1, 1], ``.labels`` (N,)).

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
    k = int(labels.max()) + 1 if cae_config is None else cae_config.num_classes
    if cae_config is None:
        c, h, _ = images.shape[1:]
        cae_config = CAEConfig(image_size=h, channels=c, num_classes=k)
    torch.manual_seed(config.seed)
    cae, disc = CAE(cae_config), Discriminator(cae_config)
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
    sched_g = torch.optim.lr_scheduler.LambdaLR(opt_g, _cosine(config))
    sched_d = torch.optim.lr_scheduler.LambdaLR(opt_d, _cosine(config))
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
        missing = [repr(r) for r in _RESUME_STATE if not isinstance(st.get(r), dict)]
        missing += [] if isinstance(ck["meta"].get("step"), int) else ["the step it reached (meta 'step')"]
        if missing:
            raise CheckpointError(f"{checkpoint} is damaged or incomplete: a resume needs {', '.join(missing)}, "
                                  "which it lacks; pass another checkpoint path (or --force to replace it)")
        resumes = _check_resume(checkpoint, ck["meta"], config, int(ck["meta"]["step"]))
        opt_g.load_state_dict(st["opt_g"]), opt_d.load_state_dict(st["opt_d"])
        sched_g.load_state_dict(st["sched_g"]), sched_d.load_state_dict(st["sched_d"])
        by_rank = st["rng"].get("pairs_by_rank")
        if world == 1:
            sampler.generator.set_state(st["rng"]["pairs"])
        elif by_rank is not None and len(by_rank) == world:
            sampler.generator.set_state(by_rank[rank])
        else:  # another number of processes: a fresh, still distinct stream per rank
            sampler.generator.manual_seed(config.seed + rank * RANK_SEED_STRIDE + int(ck["meta"]["step"]))
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
    w = config.weights
    gen_step = distributed.wrap(GeneratorStep(cae, disc, critic, critic_recon=w.critic_recon != 0), dev)
    disc_step = distributed.wrap(DiscriminatorStep(disc), dev)

    def save(path):
        rng = {"pairs": sampler.generator.get_state()}
        if world > 1:  # a collective: every rank takes part, rank 0 writes
            rng["pairs_by_rank"] = distributed.gather(sampler.generator.get_state())
        if rank == 0:
            state = {"cae": cae.state_dict(), "discriminator": disc.state_dict(),
                     "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
                     "sched_g": sched_g.state_dict(), "sched_d": sched_d.state_dict(), "rng": rng}
            info = {**(meta or {}), "step": step, "seconds": seconds, "history": history,
                    "train_config": _plain(asdict(config)), "world_size": world}
            if resumes:
                info["resumes"] = resumes
            save_checkpoint(path, kind="cae", config=asdict(cae_config), state=state, meta=info)
        distributed.barrier()

    total = config.steps + config.erase_steps
    bar = tqdm(total=total, initial=step, desc="training CAE", disable=not progress or rank != 0)
    t0 = time.perf_counter()
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
        sched_g.step(), sched_d.step()
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
        from .swap import verdict as measure

        judge = judge.cpu().eval() if isinstance(judge, nn.Module) else judge
        verdict = measure(cae, judge, test, n=verdict_images, seed=config.seed,
                          class_names=getattr(dataset, "class_names", None))
    return TrainResult(cae=cae, disc=disc, history=history, seconds=seconds, step=step, verdict=verdict)


_RESUME_STATE = ("opt_g", "opt_d", "sched_g", "sched_d", "rng")


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def _check_resume(checkpoint, stored_meta: dict, config: TrainConfig, step: int) -> list[dict]:
    """Refuse to resume with other ``FIXED_ON_RESUME`` values than the checkpoint's (they would be ignored);
    -> the checkpoint's list of resumes, plus this one when it changes other settings (the meta's record)."""
    resumes = list(stored_meta.get("resumes", []))
    stored = stored_meta.get("train_config")
    if not isinstance(stored, dict):   # written before caelib recorded it: nothing to compare
        return resumes
    old, new = _flat(stored), _flat(_plain(asdict(config)))
    fixed = [k for k in FIXED_ON_RESUME if k in old and old[k] != new[k]]
    if fixed:
        have = ", ".join(f"{k}={old[k]!r}" for k in fixed)
        want = ", ".join(f"{k}={new[k]!r}" for k in fixed)
        flags = " ".join(f"--{k} {old[k]}" for k in fixed if k in ("lr", "seed"))
        raise ValueError(f"{checkpoint} was trained with {have}, but this run asks for {want}; a resumed run "
                         "keeps them (its optimiser and pair sampler come from the checkpoint). Resume with the "
                         f"checkpoint's values{f' ({flags})' if flags else ''}, or start a new model (another "
                         "checkpoint path, or --force on the command line)")
    changed = {k: [old.get(k), new[k]] for k in new if old.get(k) != new[k]}
    if changed:
        resumes.append({"step": step, "changed": changed})
    return resumes


def _plain(d: dict) -> dict:
    """Dataclass dicts hold tuples and nested dicts only; keep them plain for ``weights_only`` loading."""
    return {k: (_plain(v) if isinstance(v, dict) else v) for k, v in d.items()}
