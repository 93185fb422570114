"""The training recipe that adapts to the data and the black box (``caelib.train.recipe``): differentiable
augmentation for small sets, the black box as critic of swaps and reconstructions, classifier epochs that
grow for small sets, and flip rates measured on class-code donors the black box classifies correctly."""

from __future__ import annotations

import math

import pytest
import torch
from toys import MeanCAE, MeanClassifier

import caelib
from caelib.cae import CAEConfig
from caelib.classifier import auto_epochs
from caelib.data import ImageDataset
from caelib.swap import flip_rates, rates_on, swap_confusion
from caelib.train import AUGMENT_BELOW, CRITIC_RECON_WEIGHT, CRITIC_WEIGHT, diff_augment, recipe, train_cae


def test_diff_augment_cuts_a_hole_of_the_asked_size_and_passes_gradients() -> None:
    x = torch.full((6, 1, 16, 16), 0.5, requires_grad=True)
    out = diff_augment(x, torch.Generator().manual_seed(0), cutout=0.5)
    assert out.shape == x.shape
    # a constant image shifted with repeated borders stays constant: the only zeros are the 8x8 hole
    assert ((out == 0).flatten(1).sum(1) == 64).all()
    out.sum().backward()
    assert x.grad is not None and (x.grad.flatten(1).sum(1) == 256 - 64).all()
    again = diff_augment(x.detach(), torch.Generator().manual_seed(0), cutout=0.5)
    assert torch.equal(again, out.detach())                        # the same generator state, the same change


def test_diff_augment_shifts_by_whole_pixels() -> None:
    x = torch.arange(64.0).view(1, 1, 8, 8).repeat(20, 1, 1, 1)
    out = diff_augment(x, torch.Generator().manual_seed(1), shift=0.25, cutout=0.125)
    kept = out != 0
    # every kept pixel is some pixel of the image (no blending), and some images moved
    assert torch.isin(out[kept], x[0].flatten()).all()
    assert (out != x).flatten(1).any(1).sum() > 10


def test_recipe_follows_the_data_and_the_black_box() -> None:
    small, large = recipe(AUGMENT_BELOW - 1, black_box=True), recipe(AUGMENT_BELOW, black_box=True)
    assert small.augment and not large.augment
    assert small.weights.critic == CRITIC_WEIGHT and small.weights.critic_recon == CRITIC_RECON_WEIGHT
    none = recipe(500, black_box=False, steps=7, seed=3)
    assert none.weights.critic == 0 and none.weights.critic_recon == 0 and (none.steps, none.seed) == (7, 3)
    off = recipe(500, black_box=True, critic=0, augment=False)
    assert off.weights.critic == 0 and off.weights.critic_recon == 0 and not off.augment
    with pytest.raises(ValueError, match="needs the black box"):
        recipe(500, black_box=False, critic=1.0)


def test_classifier_epochs_grow_for_small_sets() -> None:
    assert auto_epochs(500, 64) == 40          # 8 steps an epoch: capped at 40 epochs (320 steps)
    assert auto_epochs(6000, 64) == 16         # 94 steps an epoch: about 1,500 steps
    assert auto_epochs(60000, 64) == 8         # at least 8 epochs
    assert auto_epochs(500, 64) > auto_epochs(6000, 64) > auto_epochs(60000, 64) - 1


def two_class_means(n: int = 40) -> tuple[torch.Tensor, torch.Tensor]:
    """Class 0: mean pixel -0.5; class 1: mean +0.5, except its last quarter at -0.2, which the mean
    classifier calls class 0 (misread donors)."""
    g = torch.Generator().manual_seed(0)
    noise = torch.rand(2 * n, 1, 4, 4, generator=g) * 0.2 - 0.1
    noise = noise - noise.mean((1, 2, 3), keepdim=True)
    means = torch.cat([torch.full((n,), -0.5), torch.full((n,), 0.5)])
    means[-n // 4:] = -0.2
    return noise + means.view(-1, 1, 1, 1), torch.arange(2).repeat_interleave(n)


def test_flip_rates_on_donors_the_black_box_gets_right() -> None:
    # MeanCAE's swap takes the donor's mean, so the mean classifier calls it what it calls the donor: swaps
    # from donors it gets right always flip; from every donor, only as often as it gets the donors right
    x, y = two_class_means()
    cae, black_box = MeanCAE(), caelib.as_black_box(MeanClassifier(), num_classes=2)
    right = rates_on(cae, black_box, x, y)
    assert right["per_pair"] == {(0, 1): 1.0, (1, 0): 1.0} and right["mean"] == 1.0
    every = flip_rates(swap_confusion(cae, black_box, x, y))
    assert every["per_pair"][(1, 0)] == 1.0 and 0.6 < every["per_pair"][(0, 1)] < 0.9
    no_donor = swap_confusion(cae, black_box, x, y, donors=y == 0)   # class 1 gives no class codes
    assert math.isnan(no_donor[0, 1, 1]) and not math.isnan(no_donor[1, 0, 0])
    assert flip_rates(no_donor)["per_pair"][(1, 0)] == 1.0 and flip_rates(no_donor)["mean"] == 1.0


def test_training_with_the_recipe_resumes_exactly(tmp_path) -> None:
    g = torch.Generator().manual_seed(0)
    ds = ImageDataset(torch.rand(24, 1, 8, 8, generator=g) * 2 - 1, torch.arange(2).repeat(12), class_names=("a", "b"))
    cfg = CAEConfig(image_size=8, channels=1, num_classes=2, width=4)
    black_box = caelib.as_black_box(MeanClassifier(), num_classes=2)
    config = recipe(len(ds), black_box=True, steps=4, batch_size=4)
    assert config.augment and config.weights.critic > 0
    whole = train_cae(ds, cfg, config, critic=black_box, progress=False)
    assert {"critic", "critic_recon"} <= set(whole.history[-1])
    ck = tmp_path / "cae.pt"
    train_cae(ds, cfg, config, critic=black_box, checkpoint=ck, stop_at=2, progress=False)
    resumed = train_cae(ds, cfg, config, critic=black_box, checkpoint=ck, progress=False)
    for (name, a), b in zip(whole.cae.state_dict().items(), resumed.cae.state_dict().values()):
        assert torch.equal(a, b), name


def test_training_gives_the_black_box_back_as_it_was() -> None:
    g = torch.Generator().manual_seed(0)
    ds = ImageDataset(torch.rand(16, 1, 8, 8, generator=g) * 2 - 1, torch.arange(2).repeat(8), class_names=("a", "b"))
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 2))
    black_box = caelib.as_black_box(model, num_classes=2)
    train_cae(ds, CAEConfig(image_size=8, channels=1, num_classes=2, width=4),
              recipe(len(ds), black_box=True, steps=1, batch_size=2), critic=black_box, progress=False)
    assert all(p.requires_grad for p in model.parameters())    # the user can go on training it


def test_command_line_defaults_are_the_librarys() -> None:
    from caelib.classifier import train_classifier
    from caelib.cli import build_parser

    parser = build_parser()
    cae_args = parser.parse_args(["train-cae", "--dataset", "digits", "--out", "x.pt"])
    config, arch = caelib.TrainConfig(), caelib.CAEConfig()
    assert (cae_args.steps, cae_args.batch_size, cae_args.lr) == (config.steps, config.batch_size, config.lr)
    assert (cae_args.width, cae_args.class_dim, cae_args.indiv_downs) == (arch.width, arch.class_dim,
                                                                         arch.indiv_downs)
    assert cae_args.critic is None and cae_args.augment == "auto"      # chosen by caelib.recipe
    clf_args = parser.parse_args(["train-classifier", "--dataset", "digits", "--out", "x.pt"])
    import inspect

    library = inspect.signature(train_classifier).parameters
    assert clf_args.epochs is None and library["epochs"].default is None    # both: auto_epochs
    assert (clf_args.batch_size, clf_args.lr, clf_args.augment) == (
        library["batch_size"].default, library["lr"].default, library["augment"].default)


def test_a_critic_weight_without_a_critic_is_refused_and_a_recipe_passes_its_critic() -> None:
    from caelib.pretrained import CAERecipe
    from caelib.train import LossWeights, TrainConfig

    g = torch.Generator().manual_seed(0)
    ds = ImageDataset(torch.rand(8, 1, 8, 8, generator=g) * 2 - 1, torch.arange(2).repeat(4), class_names=("a", "b"))
    cfg = CAEConfig(image_size=8, channels=1, num_classes=2, width=4)
    config = TrainConfig(steps=1, batch_size=2, weights=LossWeights(critic=1.0))
    with pytest.raises(ValueError, match="no critic was given"):
        train_cae(ds, cfg, config, progress=False)
    with pytest.raises(ValueError, match="no critic was given"):
        train_cae(ds, cfg, TrainConfig(steps=1, batch_size=2, weights=LossWeights(critic_recon=1.0)), progress=False)
    black_box = caelib.as_black_box(MeanClassifier(), num_classes=2)
    shipped_like = CAERecipe("toy", cfg, config, critic="toy")
    with pytest.raises(ValueError, match="pass it as classifier="):
        shipped_like.train_cae(ds, progress=False)
    assert "critic" in shipped_like.train_cae(ds, classifier=black_box, progress=False).history[-1]
    plain = CAERecipe("toy", cfg, TrainConfig(steps=1, batch_size=2))   # no critic: the classifier is not used
    assert "critic" not in plain.train_cae(ds, classifier=black_box, progress=False).history[-1]


def test_the_code_head_can_learn_the_black_boxs_decision_instead_of_the_label(monkeypatch) -> None:
    """``code_from_black_box`` (recipe constant ``DISTIL_CODE``): the code head's term is the KL divergence from
    the black box's class probabilities of each image, not the cross-entropy with its label; without a black box
    it is refused."""
    import torch.nn.functional as F

    from caelib import train_config
    from caelib.cae import CAE, Discriminator
    from caelib.losses import generator_losses

    torch.manual_seed(0)
    cfg = CAEConfig(image_size=8, channels=1, num_classes=2, width=4)
    cae, disc = CAE(cfg), Discriminator(cfg)
    black_box = caelib.as_black_box(MeanClassifier(), num_classes=2)
    g = torch.Generator().manual_seed(1)
    xa, xb = torch.rand(3, 1, 8, 8, generator=g) * 2 - 1, torch.rand(3, 1, 8, 8, generator=g) * 2 - 1
    ya, yb = torch.tensor([0, 0, 1]), torch.tensor([1, 1, 0])
    labels, _ = generator_losses(cae, disc, xa, xb, ya, yb, black_box)
    distilled, _ = generator_losses(cae, disc, xa, xb, ya, yb, black_box, code_from_critic=True)
    x = torch.cat([xa, xb])
    head = cae.code_head(cae.class_encoder(x))
    expected = F.kl_div(F.log_softmax(head, 1), F.softmax(black_box(x), 1), reduction="batchmean")
    torch.testing.assert_close(distilled["code_class"], expected)
    torch.testing.assert_close(labels["code_class"], F.cross_entropy(head, torch.cat([ya, yb])))
    assert not torch.isclose(labels["code_class"], distilled["code_class"])
    for name in set(labels) - {"code_class"}:
        torch.testing.assert_close(labels[name], distilled[name])

    assert not recipe(100, black_box=True).code_from_black_box          # off by default: a candidate
    monkeypatch.setattr(train_config, "DISTIL_CODE", True)
    assert recipe(100, black_box=True).code_from_black_box and not recipe(100, black_box=False).code_from_black_box
    ds = ImageDataset(torch.cat([xa, xb]), torch.cat([ya, yb]), class_names=("a", "b"))
    with pytest.raises(ValueError, match="no critic was given"):
        train_cae(ds, cfg, caelib.TrainConfig(steps=1, batch_size=2, code_from_black_box=True), progress=False)
