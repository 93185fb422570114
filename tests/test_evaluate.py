"""Saliency metrics (caelib.evaluate): known answers for perfect, inverted and random maps, hand-built black
boxes for deletion/insertion, cascading randomisation on a tiny CNN, clear errors, parity with Quantus."""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from caelib import evaluate as ev
from caelib.classifier import ClassifierConfig, SmallCNN
from caelib.saliency import explain


def discs(n: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    """(n, 1, size, size) masks of one disc (radius 2-4 px) each, at random places."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    c = torch.randint(5, size - 5, (n, 2), generator=g)
    r = 2 + 2 * torch.rand(n, generator=g)
    d2 = (yy[None] - c[:, 0, None, None]) ** 2 + (xx[None] - c[:, 1, None, None]) ** 2
    return (d2 <= r[:, None, None] ** 2).float()[:, None]


class Evidence(nn.Module):
    """Hand-built black box: logit of class 1 = 4 x (mean brightness inside the evidence mask of each image
    - mean outside), class 0 = minus that. Deleting the evidence to 0 is exactly what lowers p(class 1)."""

    def __init__(self, masks):
        super().__init__()
        self.masks = masks

    def forward(self, x):
        m = self.masks.to(x)
        inside = (x * m).flatten(1).sum(1) / m.flatten(1).sum(1)
        outside = (x * (1 - m)).flatten(1).sum(1) / (1 - m).flatten(1).sum(1)
        s = 4 * (inside - outside)
        return torch.stack([-s, s], 1)


def test_every_metric_states_its_direction():
    """Directions are keyed by the metric function's name; table columns that report a metric under another
    key (REPORTED_AS) get that metric's direction."""
    metrics = {ev.pointing_game: True, ev.mask_auroc: True, ev.topk_iou: True, ev.relevance_mass: True,
               ev.deletion_auc: False, ev.insertion_auc: True, ev.aopc: True, ev.cascading_randomisation: False,
               ev.time_per_image: False}
    assert ev.HIGHER_IS_BETTER == {fn.__name__: up for fn, up in metrics.items()}
    for fn, up in metrics.items():
        assert fn.higher_is_better is up and ev.higher_is_better(fn.__name__) is up, fn.__name__
        assert getattr(ev, fn.__name__) is fn
    assert ev.REPORTED_AS == {"randomisation_similarity": "cascading_randomisation",
                              "randomisation_top": "cascading_randomisation",
                              "randomisation_all": "cascading_randomisation", "ms_per_image": "time_per_image"}
    for column in ev.REPORTED_AS:
        assert ev.higher_is_better(column) is False, column
    assert {*ev.LOCALISATION, "deletion_auc", "insertion_auc", "aopc"} <= set(ev.HIGHER_IS_BETTER)   # table keys
    assert ev.higher_is_better("mass_marker") is None


def test_a_map_equal_to_the_mask_scores_perfectly_and_its_inverse_scores_zero():
    masks = discs(20)
    maps = masks * (1 + 0.01 * torch.rand(masks.shape, generator=torch.Generator().manual_seed(1)))  # 0 outside
    for name, values in ev.localisation(maps, masks).items():
        torch.testing.assert_close(values, torch.ones(20), msg=name)
    inverse = 1.0 - maps
    for name, values in ev.localisation(inverse, masks).items():
        assert values.max() < 0.02, name


def test_random_maps_score_chance():
    masks = discs(300, seed=3)
    maps = torch.rand(masks.shape, generator=torch.Generator().manual_seed(4))
    area = masks.flatten(1).mean(1)                                                 # fraction a / N
    assert abs(ev.mask_auroc(maps, masks).mean() - 0.5) < 0.02
    assert abs(ev.pointing_game(maps, masks).mean() - area.mean()) < 0.03
    assert abs(ev.relevance_mass(maps, masks).mean() - area.mean()) < 0.005
    assert abs(ev.topk_iou(maps, masks).mean() - (area / (2 - area)).mean()) < 0.01


def test_ties_and_signs():
    masks = discs(4)
    flat = torch.ones_like(masks)
    torch.testing.assert_close(ev.mask_auroc(flat, masks), torch.full((4,), 0.5))     # all ties: chance
    torch.testing.assert_close(ev.relevance_mass(flat, masks), masks.flatten(1).mean(1))
    torch.testing.assert_close(ev.relevance_mass(torch.zeros_like(masks), masks), masks.flatten(1).mean(1))
    signed = masks - 2.0 * (1 - masks)                                              # negative outside: left out
    torch.testing.assert_close(ev.relevance_mass(signed, masks), torch.ones(4))
    assert ev.pointing_game(masks * 0 + (1 - masks), masks, tolerance=40).eq(1).all()   # the tolerance grows masks


def test_bad_input_raises_clear_errors():
    masks, maps = discs(3), torch.rand(3, 1, 32, 32)
    with pytest.raises(ValueError, match="unsqueeze"):
        ev.pointing_game(maps[:, 0], masks)
    with pytest.raises(ValueError, match="to_map"):
        ev.mask_auroc(maps.repeat(1, 3, 1, 1), masks)
    with pytest.raises(ValueError, match="NaN"):
        ev.topk_iou(maps.clone().fill_(float("nan")), masks)
    with pytest.raises(ValueError, match="same batch and size"):
        ev.relevance_mass(maps, masks[:, :, :16, :16])
    with pytest.raises(ValueError, match="same batch and size"):
        ev.pointing_game(maps, masks[:2])
    empty = masks.clone()
    empty[1] = 0
    with pytest.raises(ValueError, match="has_evidence"):
        ev.pointing_game(maps, empty)
    assert ev.has_evidence(empty).tolist() == [True, False, True]
    with pytest.raises(ValueError, match="only 0 and 1"):
        ev.mask_auroc(maps, masks * 0.5)
    x = torch.rand(3, 1, 32, 32) * 2 - 1
    with pytest.raises(ValueError, match="same batch and size"):
        ev.deletion_curve(Evidence(masks), x, maps[:2])
    with pytest.raises(ValueError, match="unsqueeze"):
        ev.deletion_curve(Evidence(masks), x[0], maps)


class Counting(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net, self.calls = net, []

    def forward(self, x):
        self.calls.append(len(x))
        return self.net(x)


def test_deletion_and_insertion_reward_the_evidence_and_are_batched():
    masks = discs(16, seed=5)
    g = torch.Generator().manual_seed(6)
    x = (torch.rand(16, 1, 32, 32, generator=g) * 0.4 - 0.7) + 1.2 * masks        # bright evidence
    box = Counting(Evidence(masks))
    perfect = masks + 0.01 * torch.rand(masks.shape, generator=g)
    random = torch.rand(masks.shape, generator=g)
    d_good = ev.deletion_curve(box, x, perfect, steps=32)
    assert box.calls == [16] * (1 + 33)           # one call for the target, then one per step for the batch
    d_rand = ev.deletion_curve(box, x, random, steps=32)
    assert (d_good.probs[:, 0] > 0.5).all()                                          # class 1 to begin with
    torch.testing.assert_close(d_good.probs[:, 0], d_rand.probs[:, 0])
    torch.testing.assert_close(d_good.probs[:, -1], d_rand.probs[:, -1])             # all deleted: the same
    assert d_good.fractions[0] == 0 and d_good.fractions[-1] == 1 and len(d_good.fractions) == 33
    assert (d_good.auc < d_rand.auc).all()
    i_good, i_rand = ev.insertion_curve(box, x, perfect, steps=32), ev.insertion_curve(box, x, random, steps=32)
    assert (i_good.auc > i_rand.auc).all()
    torch.testing.assert_close(i_good.probs[:, -1], d_good.probs[:, 0])             # all inserted: the image
    f_good, f_rand = ev.faithfulness(box, x, perfect, steps=32), ev.faithfulness(box, x, random, steps=32)
    assert (f_good["aopc"] > f_rand["aopc"]).all()
    torch.testing.assert_close(f_good["deletion_auc"], d_good.auc)
    torch.testing.assert_close(ev.aopc(box, x, perfect, steps=32), f_good["aopc"])     # faithfulness's call shape
    torch.testing.assert_close(d_good.aopc(), f_good["aopc"])
    # the replacement value is what a deleted pixel becomes: deleting everything to the image itself changes nothing
    same = ev.deletion_curve(box, x, random, steps=4, baseline=x)
    torch.testing.assert_close(same.probs, same.probs[:, :1].expand(-1, 5))


def test_aopc_by_hand():
    curve = ev.Curve(torch.tensor([0.0, 0.05, 0.1, 0.5, 1.0]), torch.tensor([[0.9, 0.5, 0.3, 0.1, 0.1]]))
    torch.testing.assert_close(curve.aopc(upto=0.1), torch.tensor([(0 + 0.4 + 0.6) / 3]))
    torch.testing.assert_close(curve.auc, torch.tensor([0.05 * 0.7 + 0.05 * 0.4 + 0.4 * 0.2 + 0.5 * 0.1]))


def test_spearman():
    a = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(ev.spearman(a, a), torch.ones(3))
    torch.testing.assert_close(ev.spearman(a, 2 * a + 1), torch.ones(3))          # ranks only
    torch.testing.assert_close(ev.spearman(a, -a), -torch.ones(3))
    flat = torch.ones_like(a)
    torch.testing.assert_close(ev.spearman(flat, flat), torch.ones(3))
    torch.testing.assert_close(ev.spearman(a, flat), torch.zeros(3))
    from scipy.stats import spearmanr

    b = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(1)).round(decimals=1)   # with ties
    want = [spearmanr(a[i].flatten(), b[i].flatten()).statistic for i in range(3)]
    torch.testing.assert_close(ev.spearman(a, b), torch.tensor(want, dtype=torch.float32))


def test_cascading_randomisation_changes_gradient_maps_and_not_model_free_ones():
    torch.manual_seed(0)
    clf = SmallCNN(ClassifierConfig(image_size=16, width=4, stages=2, num_classes=3)).eval()
    before = copy.deepcopy(clf.state_dict())
    x = torch.rand(6, 1, 16, 16, generator=torch.Generator().manual_seed(2)) * 2 - 1
    layers = ev.randomisable_layers(clf)
    assert layers[0] == "head" and layers[-1] == "features.0" and len(layers) == 5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        grad = ev.cascading_randomisation(lambda m, xb, t: explain("saliency", m, xb, t), clf, x)
        rand = ev.cascading_randomisation(lambda m, xb, t: explain("random", m, xb, t), clf, x)
        sobel = ev.cascading_randomisation(lambda m, xb, t: explain("sobel", m, xb, t), clf, x)
    assert grad.layers == layers and grad.similarity.shape == (5, 6)
    assert grad.full.mean() < 0.5 and grad.top.mean() < 0.99
    torch.testing.assert_close(rand.similarity, torch.ones(5, 6))                  # ignores the model: flagged
    torch.testing.assert_close(sobel.similarity, torch.ones(5, 6))
    assert all(torch.equal(v, clf.state_dict()[k]) for k, v in before.items())      # the original is untouched
    with pytest.raises(ValueError, match="nn.Module"):
        ev.cascading_randomisation(lambda m, xb, t: xb, lambda z: clf(z), x)


def test_mean_ci_and_time():
    v = torch.rand(200, generator=torch.Generator().manual_seed(0))
    m, lo, hi = ev.mean_ci(v)
    assert lo < m < hi and abs(m - float(v.mean())) < 1e-6
    assert hi - lo < 4 * 1.96 * float(v.std()) / math.sqrt(200)
    assert ev.mean_ci(torch.full((10,), 0.3)) == pytest.approx((0.3, 0.3, 0.3))
    assert all(math.isnan(z) for z in ev.mean_ci(torch.tensor([float("nan")])))
    ms, out = ev.time_per_image(lambda z: z * 2, torch.ones(4, 1, 2, 2))
    assert ms >= 0 and torch.equal(out, torch.full((4, 1, 2, 2), 2.0))


def test_the_shipped_black_box_loses_its_lesion_when_the_mask_is_deleted():
    import caelib

    try:
        clf = caelib.pretrained("lesions", with_cae=False).classifier
    except FileNotFoundError:
        pytest.skip("the shipped lesions classifier is missing")
    ds = caelib.load_dataset("lesions", split="test", n=64)
    keep = ev.has_evidence(ds.masks)
    x, masks = ds.images[keep][:16], ds.masks[keep][:16]
    g = torch.Generator().manual_seed(0)
    good = ev.faithfulness(clf, x, masks + 0.01 * torch.rand(masks.shape, generator=g), steps=16)
    rand = ev.faithfulness(clf, x, torch.rand(masks.shape, generator=g), steps=16)
    assert good["deletion_auc"].mean() < 0.5 * rand["deletion_auc"].mean()
    assert good["insertion_auc"].mean() > rand["insertion_auc"].mean() + 0.3
    assert good["aopc"].mean() > rand["aopc"].mean() + 0.2


# ---- parity with Quantus (a dev-only dependency) ---------------------------------------------------------

@pytest.fixture
def quantus():
    q = pytest.importorskip("quantus")
    if not hasattr(np, "trapz"):   # Quantus 0.6 calls np.trapz, removed in numpy 2: restore it for this test only
        np.trapz = np.trapezoid
        yield q
        del np.trapz
    else:
        yield q


def test_localisation_matches_quantus(quantus):
    masks = discs(12, seed=7)
    maps = torch.rand(masks.shape, generator=torch.Generator().manual_seed(8))     # continuous: no ties
    maps[::3] += 2 * masks[::3]                                                    # some good maps too
    x = torch.zeros(12, 1, 32, 32).numpy()
    y = np.zeros(12, dtype=int)
    kw = {"abs": False, "normalise": False, "disable_warnings": True}
    a, s = maps.numpy(), masks.numpy()
    for ours, theirs in [(ev.pointing_game, quantus.PointingGame), (ev.relevance_mass, quantus.RelevanceMassAccuracy),
                         (ev.mask_auroc, quantus.AUC)]:
        q = np.asarray(theirs(**kw)(model=None, x_batch=x, y_batch=y, a_batch=a, s_batch=s), dtype=np.float64)
        np.testing.assert_allclose(ours(maps, masks).numpy(), q, atol=1e-5, err_msg=theirs.__name__)


def test_deletion_matches_quantus_pixel_flipping(quantus):
    torch.manual_seed(0)
    clf = SmallCNN(ClassifierConfig(image_size=16, width=4, stages=2, num_classes=3)).eval()
    x = torch.rand(5, 1, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    maps = torch.rand(5, 1, 16, 16, generator=torch.Generator().manual_seed(2))
    y = clf(x).argmax(1)
    black = x.amin((1, 2, 3), keepdim=True)                                         # Quantus' "black" baseline
    ours = ev.deletion_curve(clf, x, maps, y, steps=16, baseline=black)            # 16 pixels a step
    pf = quantus.PixelFlipping(features_in_step=16, perturb_baseline="black", abs=False, normalise=False,
                               disable_warnings=True)
    kw = {"model": clf, "x_batch": x.numpy(), "y_batch": y.numpy(), "a_batch": maps.numpy(), "channel_first": True,
          "device": "cpu"}
    curve = np.asarray(pf(**kw))                                                    # after each step, no step 0
    np.testing.assert_allclose(ours.probs[:, 1:].numpy(), curve, atol=1e-5)
    pf.return_auc_per_sample = True                                                # Quantus: trapezoid, dx = 1
    np.testing.assert_allclose(np.trapezoid(ours.probs[:, 1:].numpy(), dx=1, axis=1), np.asarray(pf(**kw)),
                               atol=1e-4)
