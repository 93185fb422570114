"""The black box: shapes, distinct ReLUs, training on tiny separable data, determinism, wrappers, files."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from caelib.checkpoints import CheckpointError
from caelib.classifier import (
    BlackBox,
    ClassifierConfig,
    SmallCNN,
    as_black_box,
    evaluate_classifier,
    load_classifier,
    predict_proba,
    random_flip,
    random_shift,
    save_classifier,
    train_classifier,
)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models train faster on one thread, and much faster when other processes share the CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class TinyDataset(torch.utils.data.Dataset):
    """Two easily separable classes of 8x8 images: a bright square top-left (0) or bottom-right (1)."""

    def __init__(self, n: int = 200, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.labels = torch.arange(n) % 2
        self.images = (0.3 * torch.randn(n, 1, 8, 8, generator=g) - 0.5).clamp(-1, 1)
        self.images[self.labels == 0, :, 1:4, 1:4] = 0.9
        self.images[self.labels == 1, :, 4:7, 4:7] = 0.9
        self.num_classes = 2

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        return {"image": self.images[i], "label": self.labels[i]}


TINY = ClassifierConfig(channels=1, image_size=8, num_classes=2, width=4, stages=2)


def _trained(seed: int = 0, epochs: int = 4, **kw) -> tuple[SmallCNN, list[dict]]:
    torch.manual_seed(seed)
    model = SmallCNN(TINY)
    history = train_classifier(
        model, TinyDataset(), epochs=epochs, batch_size=32, lr=1e-2, seed=seed, device="cpu", progress=False, **kw
    )
    return model, history


@pytest.mark.parametrize("batchnorm", [True, False])
def test_output_shape_and_last_conv(batchnorm):
    model = SmallCNN(ClassifierConfig(channels=3, image_size=32, num_classes=5, width=4, batchnorm=batchnorm))
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 5)
    assert isinstance(model.last_conv, nn.Conv2d) and model.last_conv.out_channels == 16
    assert model.last_conv is [m for m in model.modules() if isinstance(m, nn.Conv2d)][-1]
    assert isinstance(model.feature_layer, nn.ReLU)
    assert "last_conv.weight" not in model.state_dict()


def test_each_relu_is_its_own_module_and_not_inplace():
    model = SmallCNN(ClassifierConfig(stages=3))
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert len(relus) == 6
    assert len({id(m) for m in relus}) == len(relus)
    assert not any(m.inplace for m in relus)


def test_training_learns_separable_classes():
    model, history = _trained()
    assert history[-1]["loss"] < history[0]["loss"]
    result = evaluate_classifier(model, TinyDataset(n=100, seed=1))
    assert result["accuracy"] >= 0.95
    assert result["confusion"].shape == (2, 2) and result["confusion"].sum() == 100
    assert not model.training


def test_training_is_deterministic():
    a, _ = _trained(seed=3, epochs=1, augment=1, flips=True)
    b, _ = _trained(seed=3, epochs=1, augment=1, flips=True)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k


def test_random_shift_moves_content_and_keeps_shape():
    x = torch.zeros(3, 1, 8, 8)
    x[:, :, 4, 4] = 1
    out = random_shift(x, 2, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    assert torch.equal(out.sum((1, 2, 3)), x.sum((1, 2, 3)))
    assert torch.equal(random_shift(x, 0), x)


def test_random_flip_flips_some_images():
    x = torch.arange(64.0).reshape(1, 1, 8, 8).repeat(16, 1, 1, 1)
    out = random_flip(x, torch.Generator().manual_seed(0))
    variants = [x[0], x[0].flip(2), x[0].flip(1), x[0].flip(1).flip(2)]
    assert all(any(torch.equal(o, v) for v in variants) for o in out)
    assert 1 < len({tuple(o.flatten().tolist()) for o in out}) <= 4


def test_predict_proba_sums_to_one_and_restores_mode():
    model = SmallCNN(TINY).train()
    p = predict_proba(model, torch.rand(5, 1, 8, 8) * 2 - 1, batch_size=2)
    assert p.shape == (5, 2) and torch.allclose(p.sum(1), torch.ones(5))
    assert model.training


def test_black_box_shape_error_message():
    box = as_black_box(lambda x: torch.zeros(x.shape[0], 3), num_classes=2)
    with pytest.raises(ValueError, match=r"returned shape \(4, 3\).*K=2.*as_black_box\(model, num_classes=K"):
        box(torch.zeros(4, 1, 8, 8))


def test_black_box_wraps_callable_with_preprocess():
    seen = {}

    def rgb_model(x):  # expects (B, 3, 16, 16) images in [0, 1]
        seen["shape"], seen["min"] = tuple(x.shape), float(x.min())
        return x.mean((1, 2, 3))[:, None].repeat(1, 2)

    def preprocess(x):
        x = nn.functional.interpolate(x, size=16).repeat(1, 3, 1, 1)
        return (x + 1) / 2

    box = as_black_box(rgb_model, num_classes=2, preprocess=preprocess)
    assert isinstance(box, BlackBox) and as_black_box(box) is box
    out = box(-torch.ones(2, 1, 8, 8))
    assert out.shape == (2, 2) and seen == {"shape": (2, 3, 16, 16), "min": 0.0}


def test_black_box_of_small_cnn_infers_classes_and_checks_input():
    model = SmallCNN(TINY)
    box = as_black_box(model)
    assert box.num_classes == 2 and box.last_conv is model.last_conv and box.feature_layer is model.feature_layer
    assert list(box.parameters())  # the module is registered, so .to(device) and .eval() reach it
    pytest.importorskip("caelib.data")
    with pytest.raises(ValueError):
        box(torch.zeros(2, 3, 8, 8))  # wrong number of channels
    with pytest.raises(ValueError, match="num_classes"):
        as_black_box(lambda x: x)


def test_save_load_round_trip(tmp_path):
    model, _ = _trained(epochs=1)
    path = tmp_path / "clf.pt"
    save_classifier(path, as_black_box(model), meta={"test_accuracy": 1.0})
    loaded = load_classifier(path)
    assert loaded.config == TINY and not loaded.training
    assert loaded.meta["test_accuracy"] == 1.0 and "torch_version" in loaded.meta
    x = TinyDataset(n=4).images
    assert torch.allclose(loaded(x), model(x))


def test_load_classifier_refuses_other_kinds(tmp_path):
    from caelib.checkpoints import save_checkpoint

    save_checkpoint(tmp_path / "cae.pt", kind="cae", config={}, state={"cae": {}})
    with pytest.raises(CheckpointError, match="expected 'classifier'"):
        load_classifier(tmp_path / "cae.pt")


def test_predict_proba_keeps_each_modules_own_mode() -> None:
    """A user's eval-mode model (batch norm!) inside a wrapper must stay in eval mode after predict_proba."""
    user = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 64, 2)).eval()
    box = as_black_box(user, num_classes=2)
    assert not box.training, "the wrapper should report the wrapped model's eval mode"
    box.train()
    user[1].eval()                                  # a frozen batch norm inside a training model
    predict_proba(box, torch.rand(3, 1, 8, 8) * 2 - 1)
    assert box.training and user[0].training and not user[1].training


def test_small_cnn_refuses_wrong_channels_and_shapes_with_a_clear_message():
    model = SmallCNN(TINY)
    with pytest.raises(ValueError, match="1 channel"):
        model(torch.zeros(2, 3, 8, 8))
    with pytest.raises(ValueError, match="batch dimension"):
        model(torch.zeros(1, 8, 8))
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 2)
