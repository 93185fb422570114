"""caelib: explaining image classifiers with counterfactuals (Class Association Embedding and friends).

The public surface (see README.md and the notebooks in ``notebooks/``)::

    ds = caelib.load_dataset("lesions", split="test")
    models = caelib.pretrained("lesions")          # .classifier (the black box), .cae, .disc
    class_code, indiv_code = models.cae.encode(ds.images[:8])
"""

from .cae import CAE, CAEConfig, Discriminator
from .classifier import BlackBox, ClassifierConfig, SmallCNN, as_black_box, predict_proba, train_classifier
from .data import DATASETS, ImageDataset, load_dataset, to_display
from .pretrained import PRETRAINED, Pretrained, pretrained, pretrained_recipe
from .train import LossWeights, TrainConfig, train_cae

__version__ = "0.1.0"

__all__ = [
    "CAE", "CAEConfig", "Discriminator", "BlackBox", "ClassifierConfig", "SmallCNN", "as_black_box",
    "predict_proba", "train_classifier", "DATASETS", "ImageDataset", "load_dataset", "to_display",
    "PRETRAINED", "Pretrained", "pretrained", "pretrained_recipe", "LossWeights", "TrainConfig", "train_cae",
]
