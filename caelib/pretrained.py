"""The shipped models: ``pretrained(name)`` loads the black box and the CAE trained for a dataset.

Files live in the repository's ``data/`` folder (``<name>-classifier.pt``, ``<name>-cae.pt``); the model
card ``data/README.md`` gives the command that reproduces each and its measured quality.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .cae import CAE, CAEConfig, Discriminator
from .checkpoints import config_from_dict, load_checkpoint, load_state, state_of
from .classifier import SmallCNN, load_classifier
from .train import LossWeights, TrainConfig, train_cae

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
PRETRAINED = ("lesions", "lesions-kinds", "mnist")
# Shipped models whose black box is not meant to be right: the shortcut lesions' classifier learnt the marker
# (at chance on the test split by design), so the quality bars of PRETRAINED do not apply. Notebook 07.
PRETRAINED_EXTRA = ("lesions-shortcut",)
# Other CAEs shipped for a name: pretrained(name, cae=variant) loads data/<name>-<variant>-cae.pt
CAE_VARIANTS: dict[str, tuple[str, ...]] = {"lesions-shortcut": ("critic",)}


@dataclass(frozen=True)
class CAERecipe:
    """How a shipped CAE is trained (``scripts/train_cae.py`` and the notebooks' train-from-scratch: ``train_cae``)."""

    dataset: str
    model: CAEConfig
    train: TrainConfig
    classes: tuple[int, ...] | None = None
    extra: dict = field(default_factory=dict)
    critic: str | None = None   # the shipped black box (``data/<critic>-classifier.pt``) that judges the swaps

    @property
    def classifier(self) -> str:
        """The shipped black box this CAE is measured against (and, with ``critic``, trained against)."""
        return self.critic or self.dataset

    def train_cae(self, dataset, *, classifier=None, **kwargs):
        """Train this recipe's CAE on ``dataset`` (``caelib.train_cae`` with the recipe's configs). A recipe with a
        ``critic`` trains against the black box: pass it as ``classifier`` (e.g. ``pretrained(name).classifier``).
        Other keyword arguments (``callback``, ``checkpoint``, ``progress``, ...) go to ``train_cae``."""
        if self.critic and classifier is None:
            raise ValueError(f"this recipe trains with the {self.critic!r} black box as critic: pass it as "
                             f"classifier= (caelib.pretrained({self.critic!r}).classifier)")
        return train_cae(dataset, self.model, self.train, critic=classifier if self.critic else None, **kwargs)


# How each recipe was chosen, with what was measured: data/README.md, "How the recipes were chosen". The shipped
# CAEs were trained before the pooled class encoder became the default: their recipes keep the strided one.
_STRIDED = {"class_encoder": "strided"}
CAE_RECIPES: dict[str, CAERecipe] = {
    "lesions": CAERecipe("lesions", CAEConfig(num_classes=2, indiv_downs=1, **_STRIDED),
                         TrainConfig(steps=1500, lr=2e-3, weights=LossWeights(swap_class=5, minimal_change=2))),
    # lesions-kinds and mnist: with the black box in the loop (critic 3 on swaps, 1 on reconstructions)
    "lesions-kinds": CAERecipe("lesions-kinds", CAEConfig(num_classes=4, indiv_downs=1, **_STRIDED),
                               TrainConfig(steps=2500, lr=2e-3, erase_steps=400,
                                           weights=LossWeights(swap_class=5, minimal_change=2, critic=3,
                                                               critic_recon=1)),
                               critic="lesions-kinds"),
    "mnist": CAERecipe("mnist", CAEConfig(num_classes=10, indiv_downs=3, disc_width=8, disc_downs=2, **_STRIDED),
                       TrainConfig(steps=2800, lr=2e-3, seed=1, erase_steps=200, erase_spread_dims=64,
                                   weights=LossWeights(critic=3, critic_recon=1)),
                       critic="mnist"),
    # the "critic" CAE has the frozen shortcut black box judge its swaps instead of the discriminator's class head
    "lesions-shortcut": CAERecipe("lesions-shortcut", CAEConfig(num_classes=2, indiv_downs=1, **_STRIDED),
                                  TrainConfig(steps=1500, weights=LossWeights(swap_class=5))),
    "lesions-shortcut-critic": CAERecipe("lesions-shortcut", CAEConfig(num_classes=2, indiv_downs=1, **_STRIDED),
                                         TrainConfig(steps=1500, weights=LossWeights(swap_class=0, critic=5)),
                                         critic="lesions-shortcut"),
}


@dataclass
class Pretrained:
    """A dataset's shipped models: the black box, the CAE and its discriminator, and their metadata."""

    name: str
    classifier: SmallCNN
    cae: CAE | None
    disc: Discriminator | None
    meta: dict


def load_cae(path: str | Path) -> tuple[CAE, Discriminator, dict]:
    """Load a CAE checkpoint (``kind="cae"``) on the CPU in eval mode: (cae, discriminator, meta)."""
    ck = load_checkpoint(path, kind="cae")
    cfg = config_from_dict(CAEConfig, ck["config"])
    cae, disc = CAE(cfg), Discriminator(cfg)
    load_state(cae, state_of(ck, "cae", path), "cae")
    load_state(disc, state_of(ck, "discriminator", path), "discriminator")
    return cae.eval(), disc.eval(), ck["meta"]


def pretrained(name: str, *, data_dir: str | Path | None = None, with_cae: bool = True,
               cae: str | None = None) -> Pretrained:
    """The shipped black box and CAE for ``name`` (one of ``PRETRAINED`` or ``PRETRAINED_EXTRA``), on the CPU,
    in eval mode. ``cae``: another shipped CAE for ``name`` (``CAE_VARIANTS[name]``), e.g.
    ``pretrained("lesions-shortcut", cae="critic")``, the CAE trained with the black box as its critic."""
    if name not in PRETRAINED + PRETRAINED_EXTRA:
        raise ValueError(f"no shipped models for {name!r}; available: {', '.join(PRETRAINED + PRETRAINED_EXTRA)}")
    if cae is not None and cae not in CAE_VARIANTS.get(name, ()):
        raise ValueError(f"no shipped CAE {cae!r} for {name!r}; available: "
                         f"{', '.join(CAE_VARIANTS.get(name, ())) or 'none (pass cae=None)'}")
    folder = Path(data_dir) if data_dir is not None else DATA_DIR
    clf_path = folder / f"{name}-classifier.pt"
    cae_path = folder / (f"{name}-cae.pt" if cae is None else f"{name}-{cae}-cae.pt")
    for path in (clf_path, cae_path) if with_cae else (clf_path,):
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing; it ships with the caelib repository (data/). "
                                    f"Rebuild it with the command in data/README.md")
    classifier = load_classifier(clf_path).eval()
    model = disc = None
    meta: dict = {}
    if with_cae:
        model, disc, meta = load_cae(cae_path)
    return Pretrained(name=name, classifier=classifier, cae=model, disc=disc, meta=meta)


def pretrained_recipe(name: str) -> CAERecipe:
    """The recipe (model and training configs) of the shipped CAE for ``name``, to train it anew."""
    if name not in CAE_RECIPES:
        raise ValueError(f"no CAE recipe for {name!r}; available: {', '.join(CAE_RECIPES)}")
    return CAE_RECIPES[name]
