"""The class code's start: the pooled class encoder's He initialisation, and the warm-up of the class encoder and
code head before the CAE's steps (``caelib.warmup``, ``TrainConfig.warmup_steps``)."""

from __future__ import annotations

import torch
from toys import MeanClassifier

import caelib
from caelib.cae import CAE, CAEConfig
from caelib.checkpoints import load_checkpoint
from caelib.data import ImageDataset
from caelib.train import recipe, train_cae
from caelib.warmup import warm_up_class_code


def _bright_or_dark(n: int, size: int = 8, seed: int = 0) -> ImageDataset:
    """Class 1: images brighter than 0 on average; class 0: darker (noise on top)."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(2).repeat(n // 2)
    images = (labels.float() - 0.5).view(-1, 1, 1, 1) * 0.8 + 0.3 * torch.randn(n, 1, size, size, generator=g)
    return ImageDataset(images.clamp(-1, 1), labels, class_names=("dark", "bright"))


def test_the_untrained_pooled_class_code_differs_between_images() -> None:
    """PyTorch's default initialisation made the six-layer pooled stack's code the same for every image (spread
    0.0002 over images): nothing for the code head to learn from. He initialisation keeps it apart."""
    torch.manual_seed(0)
    x = torch.rand(64, 1, 32, 32) * 2 - 1
    for seed in range(3):
        torch.manual_seed(seed)
        code = CAE(CAEConfig(image_size=32, channels=1, num_classes=4)).class_encoder(x).detach()
        assert code.std(0).mean() > 0.01, seed


def test_the_warm_up_trains_the_class_code_alone_and_leaves_the_random_state() -> None:
    ds = _bright_or_dark(64)
    torch.manual_seed(0)
    cae = CAE(CAEConfig(image_size=8, channels=1, num_classes=2, width=4))
    before = {k: v.clone() for k, v in cae.state_dict().items()}
    rng = torch.get_rng_state()
    losses = warm_up_class_code(cae, ds.images, ds.labels, 60, seed=0, progress=False)
    assert torch.equal(rng, torch.get_rng_state())
    assert len(losses) == 60 and sum(losses[-10:]) < 0.5 * sum(losses[:10])
    changed = {k for k, v in cae.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and all(k.startswith(("class_encoder.", "code_head.")) for k in changed), changed
    with torch.no_grad():
        read = cae.code_head(cae.class_encoder(ds.images)).argmax(1)
    assert (read == ds.labels).float().mean() > 0.9
    assert warm_up_class_code(cae, ds.images, ds.labels, 0, seed=0) == []


def test_the_warm_up_learns_the_black_boxs_decision_when_given_a_teacher() -> None:
    ds = _bright_or_dark(64)
    contrary = caelib.as_black_box(MeanClassifier(), num_classes=2)
    torch.manual_seed(0)
    cae = CAE(CAEConfig(image_size=8, channels=1, num_classes=2, width=4))
    flipped = ImageDataset(ds.images, 1 - ds.labels, class_names=ds.class_names)   # labels the teacher contradicts
    warm_up_class_code(cae, flipped.images, flipped.labels, 60, seed=0, teacher=contrary, progress=False)
    with torch.no_grad():
        read = cae.code_head(cae.class_encoder(ds.images)).argmax(1)
    assert (read == contrary(ds.images).argmax(1)).float().mean() > 0.9   # the teacher's, not the labels


def test_training_with_a_warm_up_resumes_exactly_and_the_recipe_reads_its_constant(tmp_path, monkeypatch) -> None:
    from caelib import train_config

    ds = _bright_or_dark(24)
    cfg = CAEConfig(image_size=8, channels=1, num_classes=2, width=4)
    config = caelib.TrainConfig(steps=4, batch_size=4, warmup_steps=5)
    whole = train_cae(ds, cfg, config, progress=False)
    plain = train_cae(ds, cfg, caelib.TrainConfig(steps=4, batch_size=4), progress=False)
    assert not torch.equal(whole.cae.code_head.weight, plain.cae.code_head.weight)   # the warm-up ran
    ck = tmp_path / "cae.pt"
    train_cae(ds, cfg, config, checkpoint=ck, stop_at=2, progress=False)
    other = caelib.TrainConfig(steps=4, batch_size=4, warmup_steps=9)   # (as train-cae's recipe gives for more steps)
    resumed = train_cae(ds, cfg, other, checkpoint=ck, progress=False)          # no second warm-up
    for (name, a), b in zip(whole.cae.state_dict().items(), resumed.cae.state_dict().values()):
        assert torch.equal(a, b), name
    meta = load_checkpoint(ck, kind="cae")["meta"]
    assert meta["train_config"]["warmup_steps"] == 5 and "resumes" not in meta   # what the run did, no change

    assert recipe(100, black_box=False, steps=2000).warmup_steps == round(train_config.WARMUP_FRACTION * 2000)
    monkeypatch.setattr(train_config, "WARMUP_FRACTION", 0.5)
    assert recipe(100, black_box=False, steps=30).warmup_steps == 15
    assert recipe(100, black_box=False).warmup_steps == caelib.TrainConfig().steps // 2
    assert recipe(100, black_box=False, steps=30, warmup_steps=0).warmup_steps == 0
