"""The shipped models: ``pretrained(name)`` loads the black box and the CAE trained for a dataset.

Files live in the repository's ``data/`` folder (``<name>-classifier.pt``, ``<name>-cae.pt``); the model
card ``data/README.md`` gives the command that reproduces each and its measured quality.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .cae import CAE, CAEConfig, Discriminator
from .checkpoints import config_from_dict, load_checkpoint, load_state
from .classifier import SmallCNN, load_classifier

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
PRETRAINED = ("lesions", "lesions-kinds", "mnist")


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
    load_state(cae, ck["state"]["cae"], "cae")
    load_state(disc, ck["state"]["discriminator"], "discriminator")
    return cae.eval(), disc.eval(), ck["meta"]


def pretrained(name: str, *, data_dir: str | Path | None = None, with_cae: bool = True) -> Pretrained:
    """The shipped black box and CAE for ``name`` (one of ``PRETRAINED``), on the CPU, in eval mode."""
    if name not in PRETRAINED:
        raise ValueError(f"no shipped models for {name!r}; available: {', '.join(PRETRAINED)}")
    folder = Path(data_dir) if data_dir is not None else DATA_DIR
    clf_path, cae_path = folder / f"{name}-classifier.pt", folder / f"{name}-cae.pt"
    for path in (clf_path, cae_path) if with_cae else (clf_path,):
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing; it ships with the caelib repository (data/). "
                                    f"Rebuild it with the command in data/README.md")
    classifier = load_classifier(clf_path).eval()
    cae = disc = None
    meta: dict = {}
    if with_cae:
        cae, disc, meta = load_cae(cae_path)
    return Pretrained(name=name, classifier=classifier, cae=cae, disc=disc, meta=meta)
