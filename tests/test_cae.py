"""The CAE model and its training loop: shapes, invariants, losses, exact resume, clear errors."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from dataclasses import replace

import pytest
import torch

from caelib.cae import CAE, CAEConfig, Discriminator
from caelib.checkpoints import CheckpointError
from caelib.data import ImageDataset, load_dataset
from caelib.train import LossWeights, PairSampler, TrainConfig, generator_losses, to_training_layout, train_cae

TINY = CAEConfig(width=4, n_res=1, mlp_dim=16, class_dim=4, disc_width=4)


@pytest.mark.parametrize("cfg", [CAEConfig(), CAEConfig(image_size=64, channels=3, num_classes=4, class_dim=6),
                                 CAEConfig(image_size=16, width=8, n_res=1), CAEConfig(indiv_downs=1),
                                 CAEConfig(indiv_downs=3, channels=3), CAEConfig.paper()])
def test_shapes_and_dtypes(cfg):
    cae, disc = CAE(cfg), Discriminator(cfg)
    x = torch.rand(3, cfg.channels, cfg.image_size, cfg.image_size) * 2 - 1
    class_code, indiv_code = cae.encode(x)
    assert class_code.shape == (3, cfg.class_dim) and class_code.dtype == torch.float32
    size = cfg.image_size // 2 ** cfg.indiv_downs
    assert indiv_code.shape == (3, cfg.width * 2 ** cfg.indiv_downs, size, size) == (3, cfg.indiv_channels,
                                                                                     cfg.indiv_size, cfg.indiv_size)
    out = cae.decode(indiv_code, class_code)
    assert out.shape == x.shape and out.dtype == torch.float32
    assert out.min() >= -1 and out.max() <= 1  # tanh output
    real, cls = disc(x)
    assert real.shape == (3,) and cls.shape == (3, cfg.num_classes)


def test_swap_with_itself_is_the_reconstruction():
    torch.manual_seed(0)
    cae = CAE(TINY).eval()
    x = torch.rand(4, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(cae.swap(x, x), cae.reconstruct(x))
        # swapping in another image's class code changes the output (the class code is used)
        assert not torch.allclose(cae.swap(x, x.flip(0)), cae.reconstruct(x))


@pytest.mark.parametrize("cfg", [CAEConfig(), CAEConfig(indiv_downs=1), CAEConfig(indiv_downs=3, num_classes=10)])
def test_training_layout_keeps_the_function_and_puts_instance_norm_in_nchw(cfg):
    """to_training_layout only moves memory: same outputs and gradients; channels-last exactly where no instance
    norm sits (else PyTorch copies around every instance norm on a CPU)."""
    torch.manual_seed(0)
    cae, disc = CAE(cfg), Discriminator(cfg)
    fast, fast_disc = CAE(cfg), Discriminator(cfg)
    fast.load_state_dict(cae.state_dict()), fast_disc.load_state_dict(disc.state_dict())
    to_training_layout(fast, fast_disc)
    cl = torch.channels_last

    def formats(module):  # of the conv weights whose two layouts differ (a 1-input-channel kernel is both)
        return {"cl" if p.is_contiguous(memory_format=cl) else "nchw" for p in module.parameters()
                if p.ndim == 4 and p.is_contiguous(memory_format=cl) != p.is_contiguous()}

    for part in (fast.class_encoder, fast.decoder.up, fast_disc):
        assert formats(part) == {"cl"}
    for part in (fast.indiv_encoder, fast.decoder.blocks):
        assert formats(part) == {"nchw"}
    x = torch.rand(6, 1, 32, 32) * 2 - 1
    outs = []
    for model, d in ((cae, disc), (fast, fast_disc)):
        # a smooth function of every part (the training losses' L1 terms make gradients jump at float rounding)
        y = model.decoder(model.indiv_code(x), model.class_encoder(x).flip(0))
        real, classes = d(y)
        (y.square().mean() + real.square().mean() + classes.square().mean()).backward()
        outs.append([y.detach()] + [p.grad for p in (*model.parameters(), *d.parameters()) if p.grad is not None])
    for plain, moved in zip(*outs):
        assert torch.allclose(plain, moved, atol=1e-6, rtol=1e-4)


FAULTS_SCRIPT = """
import resource, torch
from caelib.device import keep_freed_memory

def faults_per_round():  # a training step's pattern: many mid-sized tensors made, then all freed
    def churn():
        kept = [torch.ones(2 << 20) for _ in range(12)]  # 12 x 8 MB
        del kept
    churn(), churn()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        churn()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5

default = faults_per_round()
applied = keep_freed_memory()
print(default, applied, faults_per_round())
"""


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_keep_freed_memory_stops_the_page_faults_of_repeated_steps():
    """With glibc's thresholds, memory freed at the end of a step goes back to the system and the next step faults
    it in again (one fault per 4 kB page); after keep_freed_memory the allocator reuses it."""
    # glibc's starting thresholds (128 kB), held fixed: its own adaptive ones vary from process to process
    env = {**os.environ, "GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=131072:glibc.malloc.trim_threshold=131072"}
    out = subprocess.run([sys.executable, "-c", FAULTS_SCRIPT], capture_output=True, text=True, check=True, env=env)
    default, applied, kept = out.stdout.split()
    assert applied == "True"
    assert float(default) > 12 * 8 * 256 / 2          # at least half the pages of 96 MB faulted in each round
    assert float(kept) < float(default) / 20


def test_paper_config_is_much_larger():
    from caelib.cae import count_parameters
    assert count_parameters(CAE(CAEConfig.paper())) > 20 * count_parameters(CAE(CAEConfig()))


def test_paper_discriminator_has_the_authors_layer_sizes():
    """The authors' discriminator: 4x4 stride-2 convs 1 -> 64 -> 128 -> 256 -> 512, then two residual
    blocks of two 3x3 512-channel convs (the speed comparison needs all of them)."""
    from caelib.cae import count_parameters
    d = Discriminator(CAEConfig.paper(num_classes=2))
    convs = [m for m in d.features.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size[0], c.stride[0]) for c in convs] == [
        (1, 64, 4, 2), (64, 128, 4, 2), (128, 256, 4, 2), (256, 512, 4, 2)] + [(512, 512, 3, 1)] * 4
    conv_params = sum(c.weight.numel() + c.bias.numel() for c in convs)
    assert conv_params == 64 * 16 + 64 + 128 * 64 * 16 + 128 + 256 * 128 * 16 + 256 + 512 * 256 * 16 + 512 \
        + 4 * (512 * 512 * 9 + 512)
    assert count_parameters(Discriminator(CAEConfig())) < count_parameters(d) / 200  # caelib's: no blocks
    real, classes = d(torch.zeros(3, 1, 32, 32))
    assert real.shape == (3,) and classes.shape == (3, 2)


@pytest.mark.parametrize("bad, message", [
    (torch.zeros(2, 3, 32, 32), r"\(B, 1, 32, 32\).*CAEConfig\(image_size=32, channels=3\)"),
    (torch.zeros(2, 1, 28, 28), r"got \(2, 1, 28, 28\)"),
    (torch.full((2, 1, 32, 32), float("nan")), "NaN"),
    (torch.full((2, 1, 32, 32), 255.0), r"in \[-1, 1\]"),
    (torch.zeros(1, 32, 32), "add a batch dimension"),
])
def test_bad_inputs_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        CAE(TINY).encode(bad)


def test_decode_checks_batch_and_code_size():
    cae = CAE(TINY)
    s, c = cae.encode(torch.zeros(2, 1, 32, 32))
    with pytest.raises(ValueError, match="same batch size"):
        cae.decode(c, s[:1])
    with pytest.raises(ValueError, match="class codes of shape"):
        cae.decode(c, torch.zeros(2, 9))
    with pytest.raises(ValueError, match="same shape"):
        cae.swap(torch.zeros(2, 1, 32, 32), torch.zeros(3, 1, 32, 32))


def test_config_validation():
    with pytest.raises(ValueError, match="at least 2 classes"):
        CAEConfig(num_classes=1)
    with pytest.raises(ValueError, match="multiple of 4"):
        CAEConfig(image_size=30)
    with pytest.raises(ValueError, match="indiv_downs"):
        CAEConfig(indiv_downs=0)
    with pytest.raises(ValueError, match="indiv_downs"):
        CAEConfig(image_size=12, indiv_downs=3)
    with pytest.raises(ValueError, match="class_encoder must be 'pooled' or 'strided'"):
        CAEConfig(class_encoder="resnet")


def test_pair_sampler_mixes_same_and_cross_class_pairs():
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    sampler = PairSampler(labels, 3, same_fraction=0.25, seed=0)
    a, b = sampler(4000)
    same = (labels[a] == labels[b]).float().mean()
    assert abs(float(same) - 0.25) < 0.03
    # classes of a are drawn uniformly, whatever the class sizes
    counts = torch.bincount(labels[a], minlength=3).float() / 4000
    assert torch.allclose(counts, torch.full((3,), 1 / 3), atol=0.03)


def _tiny_data(n=64):
    ds = load_dataset("digits", "train", classes=(0, 1))
    return ds.subset(range(n))


def test_short_training_lowers_the_losses():
    ds = _tiny_data()
    cfg = replace(TINY, num_classes=2)
    torch.manual_seed(0)
    cae, disc = CAE(cfg), Discriminator(cfg)
    x = ds.images[:32]
    y = ds.labels[:32]
    order = torch.argsort(y)
    x, y = x[order], y[order]
    before, _ = generator_losses(cae, disc, x, x.flip(0), y, y.flip(0))
    res = train_cae(ds, cfg, TrainConfig(steps=60, batch_size=16, lr=3e-3), progress=False)
    after, _ = generator_losses(res.cae, res.disc, x, x.flip(0), y, y.flip(0))
    for name in ("recon", "cycle", "code_class", "indiv_code", "same_swap"):
        assert after[name] < before[name], f"{name}: {float(before[name]):.4f} -> {float(after[name]):.4f}"
    assert all(torch.isfinite(v) for v in after.values())
    assert [row["step"] for row in res.history][-1] == 60


def test_resume_is_exact(tmp_path):
    ds = _tiny_data()
    cfg = replace(TINY, num_classes=2)
    tc = TrainConfig(steps=8, batch_size=8)
    straight = train_cae(ds, cfg, tc, progress=False)
    path = tmp_path / "cae.pt"
    train_cae(ds, cfg, tc, checkpoint=path, progress=False, stop_at=4)  # interrupted after 4 of 8 steps
    resumed = train_cae(ds, cfg, tc, checkpoint=path, progress=False)
    for (k, a), (_, b) in zip(straight.cae.state_dict().items(), resumed.cae.state_dict().items()):
        assert torch.equal(a, b), k
    for (k, a), (_, b) in zip(straight.disc.state_dict().items(), resumed.disc.state_dict().items()):
        assert torch.equal(a, b), k


def test_checkpoint_of_another_config_is_refused(tmp_path):
    ds = _tiny_data()
    path = tmp_path / "cae.pt"
    train_cae(ds, replace(TINY, num_classes=2), TrainConfig(steps=2, batch_size=4), checkpoint=path, progress=False)
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match="width"):
        train_cae(ds, replace(TINY, num_classes=2, width=8), TrainConfig(steps=4, batch_size=4),
                  checkpoint=path, progress=False)
    assert path.read_bytes() == before  # nothing overwritten


def test_one_class_data_is_refused():
    ds = load_dataset("digits", "train", classes=(0, 1))
    one = ImageDataset(ds.images[ds.labels == 0], ds.labels[ds.labels == 0], class_names=("zero", "one"), name="one")
    with pytest.raises(ValueError, match="single class"):
        train_cae(one, replace(TINY, num_classes=2), TrainConfig(steps=1), progress=False)


def test_loss_weights_are_named_and_used():
    critic_terms = {"critic", "critic_recon"}
    names = set(LossWeights.__dataclass_fields__) - {"disc_class"} - critic_terms
    cae, disc = CAE(TINY), Discriminator(TINY)
    x = torch.rand(4, 1, 32, 32) * 2 - 1
    y = torch.tensor([0, 1, 0, 1])
    losses, _ = generator_losses(cae, disc, x, x.flip(0), y, y)
    assert set(losses) == names
    with_critic, _ = generator_losses(cae, disc, x, x.flip(0), y, y, critic=lambda z: z.flatten(1)[:, :2])
    assert set(with_critic) == names | critic_terms
    swaps_only, _ = generator_losses(cae, disc, x, x.flip(0), y, y, critic=lambda z: z.flatten(1)[:, :2],
                                     critic_recon=False)   # a critic_recon weight of 0: no extra black-box passes
    assert set(swaps_only) == names | {"critic"}


def test_minimal_change_is_the_cross_class_swaps_distance_to_their_reconstruction():
    torch.manual_seed(0)
    cae, disc = CAE(TINY), Discriminator(TINY)
    x = torch.rand(4, 1, 32, 32) * 2 - 1
    zeros = torch.zeros(4, dtype=torch.long)
    same, _ = generator_losses(cae, disc, x, x.flip(0), zeros, zeros)
    assert same["minimal_change"] == 0  # no cross-class pair, nothing to keep small
    ya, yb = torch.tensor([0, 0, 1, 1]), torch.tensor([1, 0, 0, 1])
    losses, x_sw = generator_losses(cae, disc, x, x.flip(0), ya, yb)
    rec = cae.decode(cae.indiv_encoder(torch.cat([x, x.flip(0)])), cae.class_encoder(torch.cat([x, x.flip(0)])))
    cross = torch.cat([ya != yb, ya != yb])
    assert torch.allclose(losses["minimal_change"], (x_sw[cross] - rec[cross]).abs().mean(), atol=1e-6)
