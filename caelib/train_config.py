"""What a CAE training run is asked to do: ``TrainConfig``, and ``recipe``, the config chosen from the data and the
black box (as ``python -m caelib train-cae`` chooses it).

``recipe`` reads ``AUGMENT_BELOW``, ``CRITIC_WEIGHT`` and ``CRITIC_RECON_WEIGHT`` from this module when it is called,
so setting ``caelib.train_config.CRITIC_WEIGHT`` changes the recipe. The loop that runs a config is ``caelib.train``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .losses import LossWeights


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
    balance_pairs: bool = False        # with a critic: its term on each swap weighs more for class pairs
                                       # whose swaps it has lately refused (``caelib.pair_balance``)
    code_from_black_box: bool = False  # with a critic: the code head learns the black box's class
                                       # probabilities of each image instead of its label (distillation)
    warmup_steps: int = 0              # before the CAE's steps: the class encoder and code head alone learn
                                       # the code head's target for this many steps (``caelib.warmup``)
    seed: int = 0
    minutes: float | None = None       # a time budget: after TIME_PROBE_STEPS steps the measured pace cuts
                                       # `steps` to what fits (the schedule follows; ``steps_within``)

    def __post_init__(self):
        for name in ("steps", "erase_steps", "erase_spread_dims", "warmup_steps"):
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
        if self.minutes is not None and not self.minutes > 0:
            raise ValueError(f"TrainConfig.minutes (a time budget) must be > 0 or None, got {self.minutes!r}")


TIME_PROBE_STEPS = 20   # steps timed before a run with a time budget plans how many fit


def steps_within(config: TrainConfig, seconds_per_step: float, done: int = 0, spent: float = 0.0) -> int:
    """The training steps (``config.steps``'s role: before ``erase_steps``) that fit ``config.minutes`` at
    ``seconds_per_step``, for a run that has trained ``done`` steps in ``spent`` seconds: at most ``config.steps``,
    at least ``done``. The number depends on the machine's speed, so a run with a time budget is reproducible
    only on the same machine; ``steps`` alone is."""
    fit = done + int((config.minutes * 60 - spent) / max(seconds_per_step, 1e-9)) - config.erase_steps
    return max(done, min(config.steps, fit))


# The recipe that adapts to the data and the black box (``recipe``): differentiable augmentation below this many
# training images, and the black box as critic of the swaps (``CRITIC_WEIGHT``) and of the reconstructions
# (``CRITIC_RECON_WEIGHT``) when there is one. Chosen on the panel of benchmarks/generalisation.py (results:
# benchmarks/results/generalisation.md).
AUGMENT_BELOW = 2000
CRITIC_WEIGHT = 3.0
CRITIC_RECON_WEIGHT = 3.0
BALANCE_PAIRS = False
WARMUP_FRACTION = 0.25   # the class code's warm-up (caelib.warmup) takes this share of `steps` (500 of the default
                         # 2,000); chosen on the panel (benchmarks/results/generalisation.md)
DISTIL_CODE = False   # a candidate (benchmarks/class_encoder.py: the pooled encoder alone reads the classes better
                      # when distilled from the black box); in the CAE not better at four panel runs, two of
                      # them with the warm-up (benchmarks/results/generalisation.md)


def recipe(n_images: int, *, black_box: bool, critic: float | None = None, augment: bool | None = None,
           swap_class: float = 1.0, **config) -> TrainConfig:
    """The ``TrainConfig`` that ``python -m caelib train-cae`` chooses from the data and the black box.

    ``augment`` (None: on below ``AUGMENT_BELOW`` training images, where the discriminator would otherwise learn
    them by heart): ``diff_augment`` on what the discriminator sees.
    ``critic`` (None: ``CRITIC_WEIGHT`` when a black box is given, else 0; GANMEX's black box in the loop): the
    black box must give a swap its class-code donor's class; with it, the reconstructions must keep its decision
    (``CRITIC_RECON_WEIGHT``). ``swap_class``: the discriminator's class term on swaps. Before the CAE's steps the
    class encoder and code head learn the classes alone for ``WARMUP_FRACTION`` of ``steps``. Other keyword arguments
    (``steps``, ``batch_size``, ``lr``, ``seed``, ...) go to ``TrainConfig``. Pass the black box to ``train_cae``
    as ``critic=`` when ``config.weights.critic`` is not 0."""
    if critic is None:
        critic = CRITIC_WEIGHT if black_box else 0.0
    if critic and not black_box:
        raise ValueError("a critic weight needs the black box (pass the classifier that judges the swaps)")
    augment = n_images < AUGMENT_BELOW if augment is None else bool(augment)
    weights = LossWeights(critic=float(critic), critic_recon=CRITIC_RECON_WEIGHT if critic else 0.0,
                          swap_class=swap_class)
    config.setdefault("balance_pairs", BALANCE_PAIRS and bool(critic))
    config.setdefault("code_from_black_box", DISTIL_CODE and bool(critic))
    config.setdefault("warmup_steps", round(WARMUP_FRACTION * config.get("steps", TrainConfig.steps)))
    return TrainConfig(weights=weights, augment=augment, **config)
