"""The two trainers keep one shape (issue 28): ``train_classifier`` and ``train_cae`` both take the training data as
``dataset`` and the network as ``model``, by keyword alike, and train a given model in place; old positional calls
(``train_classifier(model, ds)``, ``train_cae(ds, cae_config, config)``) keep working."""

from __future__ import annotations

import inspect

import pytest
import torch

import caelib
from caelib import CAE, CAEConfig, ClassifierConfig, SmallCNN, TrainConfig, train_cae, train_classifier
from caelib.data import ImageDataset

TRAINERS = {"train_classifier": train_classifier, "train_cae": train_cae}
BY_KEYWORD = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
CAE_CONFIG = CAEConfig(image_size=8, channels=1, num_classes=2, width=4)


def tiny_data() -> ImageDataset:
    g = torch.Generator().manual_seed(0)
    return ImageDataset(torch.rand(16, 1, 8, 8, generator=g) * 2 - 1, torch.arange(2).repeat(8), class_names=("a", "b"))


@pytest.mark.parametrize("name", sorted(TRAINERS))
def test_both_trainers_name_the_data_and_the_model_alike(name) -> None:
    params = inspect.signature(TRAINERS[name]).parameters
    for shared in ("dataset", "model"):
        assert shared in params and params[shared].kind in BY_KEYWORD, (name, shared)
    for shared in ("device", "progress"):
        assert params[shared].kind is inspect.Parameter.KEYWORD_ONLY, (name, shared)
    doc = inspect.getdoc(TRAINERS[name])
    other = "train_cae" if name == "train_classifier" else "train_classifier"
    assert "The trainers' shape, shared with ``caelib." + other + "``" in doc, name   # each says it, naming the other


def test_old_positional_orders_are_kept() -> None:
    assert list(inspect.signature(train_classifier).parameters)[:2] == ["model", "dataset"]
    assert list(inspect.signature(train_cae).parameters)[:3] == ["dataset", "cae_config", "config"]
    assert caelib.train_cae is train_cae and caelib.train_classifier is train_classifier


@pytest.mark.parametrize("name", sorted(TRAINERS))
def test_both_trainers_train_a_given_model_in_place_by_keyword(name) -> None:
    ds = tiny_data()
    torch.manual_seed(0)
    if name == "train_classifier":
        model = SmallCNN(ClassifierConfig(channels=1, image_size=8, num_classes=2, width=4, stages=2))
        kwargs = dict(epochs=1, batch_size=8)
    else:
        model = CAE(CAE_CONFIG)
        kwargs = dict(config=TrainConfig(steps=2, batch_size=4))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = TRAINERS[name](dataset=ds, model=model, device="cpu", progress=False, **kwargs)
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert any(not torch.equal(before[k], after[k]) for k in before if after[k].is_floating_point())
    if name == "train_cae":
        assert result.cae is model and result.step == 2


def test_train_cae_refuses_a_model_that_is_not_a_cae_or_disagrees_with_cae_config() -> None:
    ds, quick = tiny_data(), TrainConfig(steps=1, batch_size=4)
    with pytest.raises(TypeError, match="caelib CAE"):
        train_cae(ds, config=quick, model=torch.nn.Linear(2, 2), progress=False)
    with pytest.raises(ValueError, match="model.config"):
        train_cae(ds, CAEConfig(image_size=8, channels=1, num_classes=2, width=8), quick, model=CAE(CAE_CONFIG),
                  progress=False)
