"""caelib: explaining image classifiers with counterfactuals (Class Association Embedding and friends).

The public surface (see README.md and the notebooks in ``notebooks/``)::

    ds, train = caelib.load_dataset("lesions", split="test"), caelib.load_dataset("lesions", split="train")
    models = caelib.pretrained("lesions")          # .classifier (the black box), .cae, .disc
    class_code, indiv_code = models.cae.encode(ds.images[:8])
    bank = caelib.CodeBank.from_images(models.cae, train.images, train.labels)   # real class codes
    path = caelib.counterfactual_path(models.cae, models.classifier, ds.images[:8],
                                      reference=caelib.NearestReference(bank))
    maps = caelib.CAESaliency(models.cae, models.classifier,
                              reference=caelib.MedoidReference(bank)).attribute(ds.images[:8])

Submodules: ``conventions`` (what every stage shares, each written once: the black box's type, mode and
device, the class asked about, the runner-up class, blur, dilation, what a removed pixel becomes; read it
first), ``data`` (datasets; built on ``splits``, ``synthetic`` (the lesion generator) and ``image_files`` (your
folders)), ``swap`` (code swapping and CAE quality), ``manifold`` (the class-code manifold), ``erasure``
(the class eraser of the individual code),
``paths`` (counterfactual paths), ``saliency_path`` (CAE saliency), ``saliency`` (every saliency method
with one call: ``saliency.explain("occlusion", classifier, x)``), ``evaluate`` (every metric, each with
its direction: ``evaluate.higher_is_better``), ``viz`` (figures),
``baselines`` (baselines for attribution; notebook 07, with ``counterfactual_baseline``, ``scoring`` and
``shortcut``), ``responsibility`` (several sufficient explanations of one decision; notebook 08, with
``sufficiency`` and ``rex_adapter``), ``misclass``
(counterfactuals of misclassified images; notebook 09), ``exercises`` (the notebooks' exercise checks),
``widgets`` (ipywidgets explorers; imports ipywidgets on use).
"""

from . import (
    baselines,
    conventions,
    erasure,
    evaluate,
    exercises,
    manifold,
    misclass,
    paths,
    responsibility,
    saliency,
    saliency_path,
    swap,
    viz,
)
from .cae import CAE, CAEConfig, Discriminator
from .classifier import BlackBox, ClassifierConfig, SmallCNN, as_black_box, predict_proba, train_classifier
from .data import DATASETS, ImageDataset, load_dataset, to_display
from .paths import (
    CodeBank,
    CounterfactualPath,
    GraphRoute,
    MedoidReference,
    NearestReference,
    StraightRoute,
    StrongReference,
    counterfactual_path,
)
from .pretrained import PRETRAINED, Pretrained, pretrained, pretrained_recipe
from .saliency_path import CAESaliency, Variant
from .train import LossWeights, TrainConfig, recipe, train_cae

__version__ = "0.1.0"

__all__ = [
    "CAE", "CAEConfig", "Discriminator", "BlackBox", "ClassifierConfig", "SmallCNN", "as_black_box",
    "predict_proba", "train_classifier", "DATASETS", "ImageDataset", "load_dataset", "to_display",
    "PRETRAINED", "Pretrained", "pretrained", "pretrained_recipe", "LossWeights", "TrainConfig", "recipe", "train_cae",
    "CodeBank", "CounterfactualPath", "GraphRoute", "MedoidReference", "NearestReference", "StraightRoute",
    "StrongReference", "counterfactual_path", "CAESaliency", "Variant",
    "baselines", "conventions", "erasure", "evaluate", "exercises", "manifold", "misclass", "paths", "responsibility",
    "saliency", "saliency_path", "swap", "viz",
]
