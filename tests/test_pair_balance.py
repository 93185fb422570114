"""The critic's weights per class pair (caelib.pair_balance) and their place in training."""

import pytest
import torch

from caelib.cae import CAE, CAEConfig, Discriminator
from caelib.data import ImageDataset
from caelib.losses import generator_losses
from caelib.pair_balance import PairBalance
from caelib.train import LossWeights, TrainConfig, recipe, train_cae

TINY = CAEConfig(image_size=16, num_classes=3, width=4, n_res=1, mlp_dim=16, class_dim=4, disc_width=4)


def test_equal_miss_rates_give_every_pair_weight_one():
    w = PairBalance(4).weights()
    assert torch.allclose(w, torch.ones(4, 4))


def test_a_pair_the_black_box_keeps_refusing_weighs_most_and_is_clipped():
    pb = PairBalance(3, max_weight=4.0)
    source, donor = torch.tensor([2] * 8 + [0] * 8), torch.tensor([0] * 8 + [1] * 8)
    logits = torch.zeros(16, 3)
    logits[:8, 2] = 5.0          # swaps 2 -> 0 are read as 2: missed
    logits[8:, 1] = 5.0          # swaps 0 -> 1 are read as 1: hit
    for _ in range(200):
        pb.observe(source, donor, logits)
    assert pb.miss[2, 0] > 0.99 and pb.miss[0, 1] < 0.01
    assert pb.miss[1, 2] == 0.5                                       # never seen: unchanged
    assert torch.equal(pb.miss.diagonal(), torch.zeros(3))
    w = pb.weights()
    assert w[2, 0] == w.max() and w[0, 1] == w.min()
    assert w.max() <= 4.0 and w.min() >= 0.25
    assert torch.equal(w.diagonal(), torch.ones(3))


def test_observing_moves_a_pair_by_its_count():
    pb = PairBalance(2, rate=0.5)
    pb.observe(torch.tensor([0, 0]), torch.tensor([1, 1]), torch.tensor([[1.0, 0.0], [1.0, 0.0]]))  # 2 misses
    assert pb.miss[0, 1].item() == pytest.approx(0.5 + (1 - 0.5 ** 2) * (1 - 0.5))
    assert pb.miss[1, 0].item() == 0.5


def test_state_round_trips_and_a_wrong_state_is_refused():
    pb = PairBalance(3)
    pb.observe(torch.tensor([0]), torch.tensor([2]), torch.tensor([[3.0, 0.0, 0.0]]))
    other = PairBalance(3)
    other.load_state_dict(pb.state_dict())
    assert torch.equal(other.miss, pb.miss)
    with pytest.raises(ValueError, match=r"\(3, 3\) tensor"):
        other.load_state_dict({"miss": torch.zeros(2, 2)})
    with pytest.raises(ValueError, match="at least 2 classes"):
        PairBalance(1)


def test_with_equal_weights_the_critic_term_is_the_plain_one():
    torch.manual_seed(0)
    cae, disc = CAE(TINY), Discriminator(TINY)
    critic = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 3))
    x, y = torch.rand(6, 1, 16, 16) * 2 - 1, torch.tensor([0, 1, 2, 0, 1, 2])
    plain, _ = generator_losses(cae, disc, x, x.flip(0), y, y.flip(0), critic=critic)
    balanced, _ = generator_losses(cae, disc, x, x.flip(0), y, y.flip(0), critic=critic,
                                   pair_balance=PairBalance(3))
    assert torch.allclose(plain["critic"], balanced["critic"])
    assert torch.allclose(plain["critic_recon"], balanced["critic_recon"])


def test_training_with_balanced_pairs_resumes_exactly(tmp_path):
    g = torch.Generator().manual_seed(0)
    ds = ImageDataset(torch.rand(48, 1, 16, 16, generator=g) * 2 - 1, torch.arange(48) % 3,
                      class_names=("a", "b", "c"), name="noise")
    critic = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 3))
    cfg = TrainConfig(steps=8, batch_size=4, weights=LossWeights(critic=3, critic_recon=3), balance_pairs=True)
    ck = tmp_path / "cae.pt"
    train_cae(ds, TINY, cfg, critic=critic, checkpoint=ck, stop_at=4,
              progress=False)
    stored = torch.load(ck, weights_only=True)["state"]["pair_balance"]["miss"]
    assert stored.shape == (3, 3) and not torch.equal(stored, PairBalance(3).miss)   # it observed the swaps
    resumed = train_cae(ds, TINY, cfg, critic=critic, checkpoint=ck,
                        progress=False)
    whole = train_cae(ds, TINY, cfg, critic=critic, progress=False)
    for a, b in zip(resumed.cae.state_dict().values(), whole.cae.state_dict().values()):
        assert torch.equal(a, b)


def test_the_recipe_balances_pairs_only_with_a_black_box(monkeypatch):
    import caelib.train_config as tc

    monkeypatch.setattr(tc, "BALANCE_PAIRS", True)
    assert recipe(500, black_box=True).balance_pairs
    assert not recipe(500, black_box=False).balance_pairs
    assert not recipe(500, black_box=True, critic=0).balance_pairs
    monkeypatch.setattr(tc, "BALANCE_PAIRS", False)
    assert not recipe(500, black_box=True).balance_pairs
