"""Why was it misclassified (caelib.misclass, notebook 09): hand-built models with known answers, the
figures and the explorer drawn without a browser."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from torch import nn  # noqa: E402
from toys import MeanCAE, MeanClassifier  # noqa: E402

from caelib import misclass, paths, viz  # noqa: E402
from caelib.cae import CAE, CAEConfig  # noqa: E402


def _pattern(mean: float, seed: int = 0, size: int = 8) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    p = torch.rand(1, 1, size, size, generator=g) * 0.4 - 0.2
    return p - p.mean() + mean


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def mean_world():
    """(cae, classifier, bank, images, labels): images 0-1 are class 1 by label but have a negative mean
    (the black box says 0: misclassified), image 2 is right."""
    cae, clf = MeanCAE(), MeanClassifier()
    means = [-0.6, -0.4, -0.2, 0.2, 0.4, 0.6, 0.8]
    bank_x = torch.cat([_pattern(m, seed=i) for i, m in enumerate(means)])
    bank = paths.CodeBank.from_images(cae, bank_x, torch.tensor([int(m > 0) for m in means]))
    x = torch.cat([_pattern(-0.1, 10), _pattern(-0.05, 11), _pattern(0.3, 12)])
    return cae, clf, bank, x, torch.tensor([1, 1, 1])


def test_misclassified_finds_the_wrong_decisions(mean_world):
    _, clf, _, x, y = mean_world
    assert misclass.misclassified(clf, x, y).tolist() == [0, 1]
    assert misclass.misclassified(clf, x, torch.tensor([0, 0, 1])).tolist() == []
    with pytest.raises(ValueError, match="one label per image"):
        misclass.misclassified(clf, x, y[:2])


def test_diverse_reference_takes_the_nearest_then_spreads_over_the_class():
    # class 1 on a line at 0, 1, ..., 9 (plus one far outlier at 100), class 0 elsewhere
    xs = [float(v) for v in range(10)] + [100.0]
    codes = torch.tensor([[v, 0.0] for v in xs] + [[-5.0, 0.0], [-6.0, 0.0]])
    labels = torch.tensor([1] * 11 + [0, 0])
    bank = paths.CodeBank(codes, labels)
    rule = misclass.DiverseReference(bank, nearest=1, diverse=2, spread=0.9)
    out = rule(torch.tensor([[2.2, 0.0]]), torch.tensor([1]))
    assert out.shape == (1, 3)
    picked = codes[out[0], 0].tolist()
    assert picked[0] == 2.0                      # the nearest
    assert picked[1] == 9.0                      # farthest typical sample from it (the outlier 100 is left out)
    assert picked[2] in (5.0, 6.0)               # then the one farthest from both
    assert (labels[out[0]] == 1).all()
    assert rule.n == 3 and "nearest=1" in repr(rule)
    with pytest.raises(ValueError, match="fewer than"):
        misclass.DiverseReference(bank, nearest=2, diverse=1)(torch.zeros(1, 2), torch.tensor([0]))
    with pytest.raises(ValueError, match="nearest >= 1"):
        misclass.DiverseReference(bank, nearest=0)
    with pytest.raises(ValueError, match="quantile"):
        misclass.DiverseReference(bank, spread=0.0)


def test_diverse_reference_fits_like_the_reference_rules():
    # the shape of caelib.references: settings in the constructor, fit(bank) returns the rule, a bank given to the
    # constructor fits at once, and a rule used before fit says to call fit
    codes = torch.tensor([[float(v), 0.0] for v in range(10)] + [[100.0, 0.0], [-5.0, 0.0], [-6.0, 0.0]])
    labels = torch.tensor([1] * 11 + [0, 0])
    bank = paths.CodeBank(codes, labels)
    x, t = torch.tensor([[2.2, 0.0], [7.6, 0.0], [-5.5, 0.0]]), torch.tensor([1, 1, 1])
    rule = misclass.DiverseReference(nearest=1, diverse=2, spread=0.9)
    with pytest.raises(paths.NotFittedError, match=r"fit\(bank\)"):
        rule(x, t)
    assert rule.fit(bank) is rule and rule.bank is bank
    at_once = misclass.DiverseReference(bank, nearest=1, diverse=2, spread=0.9)
    assert torch.equal(rule(x, t), at_once(x, t)) and torch.equal(rule.typical, at_once.typical)
    assert codes[rule(x, t)[0], 0].tolist()[:2] == [2.0, 9.0]      # the nearest, then the farthest typical sample
    assert not rule.typical[10]                                     # the outlier at 100 is no candidate
    with pytest.raises(ValueError, match="CodeBank"):
        misclass.DiverseReference().fit(codes)


def test_change_distances_and_distinct_by_hand():
    a = torch.zeros(1, 4, 4)
    a[0, 0, 0] = 1.0
    b = torch.zeros(1, 4, 4)
    b[0, 3, 3] = 1.0
    d = misclass.change_distances(torch.stack([a, a, b, 2 * a, torch.zeros_like(a)]))
    assert d[0, 1] == 0 and d[0, 2] == pytest.approx(2.0)            # the same change; disjoint changes
    assert d[0, 3] == pytest.approx(1 / 1.5)                          # |a - 2a| / mean(1, 2)
    assert d[4, 4] == 0 and torch.allclose(d, d.T)
    assert misclass.count_distinct(d, tol=0.5) == 4                   # a, b, 2a (0.67 from a), no change (2 from a)
    assert misclass.count_distinct(d[:3, :3], tol=0.5) == 2
    assert misclass.count_distinct(d[:3, :3], tol=2.5) == 1


def test_explain_misclassified_on_the_mean_world(mean_world):
    cae, clf, bank, x, y = mean_world
    rule = misclass.DiverseReference(bank, nearest=1, diverse=2)
    expl = misclass.explain_misclassified(cae, clf, x, y, reference=rule, method="saliency", steps=21)
    assert expl.index.tolist() == [0, 1] and expl.label.tolist() == [1, 1] and expl.predicted.tolist() == [0, 0]
    assert len(expl) == 2 and expl.references == 3 and len(expl.path) == 6
    assert (expl.path.target == 1).all()
    # every path heads to a class-1 reference (mean > 0), so each flips; the reconstruction is exact
    assert expl.found.all() and (expl.n_found == 3).all() and not expl.at_step_0.any()
    assert (clf(expl.path.counterfactual).argmax(1) == 1).all()
    # each counterfactual is the image shifted by a constant: its change is uniform, the common part too
    ch = expl.changes
    assert torch.allclose(ch, ch.mean(dim=(1, 2, 3), keepdim=True).expand_as(ch), atol=1e-5)
    assert expl.cae_maps.shape == (6, 1, 8, 8) and expl.method_maps.shape == (6, 1, 8, 8)
    assert float(expl.cae_maps.amax()) == pytest.approx(1.0)
    assert expl.common(0).shape == (1, 8, 8) and torch.allclose(expl.varying(0), torch.zeros(1, 8, 8), atol=1e-5)
    # a uniform shift by c_i: distance |c_i - c_j| / mean(c_i, c_j), from the flip steps
    d = expl.distances(0)
    c = ch[expl.found_paths(0)].mean(dim=(1, 2, 3))
    assert d[0, 1] == pytest.approx(float((c[0] - c[1]).abs() / ((c[0] + c[1]) / 2)), rel=1e-4)
    assert 1 <= int(expl.distinct[0]) <= 3
    frames, steps = expl.transitions(0, n_frames=4)
    assert steps[0] == 0 and steps[-1] == expl.path.end_index[0] and len(frames) == len(steps)
    s = misclass.summary(expl)
    assert s["n"] == 2 and s["found_rate"] == 1.0 and s["mean_found"] == 3.0
    with pytest.raises(ValueError, match="nothing to explain"):
        misclass.explain_misclassified(cae, clf, x[2:], y[2:], reference=misclass.DiverseReference(bank))


def test_lands_on_mask_is_the_pointing_game_of_the_maps(mean_world):
    cae, clf, bank, x, y = mean_world
    expl = misclass.explain_misclassified(cae, clf, x, y, reference=paths.NearestReference(bank, n=2),
                                          method="saliency")
    masks = torch.zeros(3, 1, 8, 8)
    masks[0, 0, 2:4, 2:4] = 1                      # image 0 has evidence; image 1 none (left out)
    maps = torch.zeros(4, 1, 8, 8)
    maps[0, 0, 2, 2] = 1.0                         # image 0, path 0: inside
    maps[1, 0, 6, 6] = 1.0                         # image 0, path 1: outside
    expl.cae_maps = maps
    expl.method_maps = maps.clone()
    hit = misclass.lands_on_mask(expl, masks)
    assert hit["cae"].tolist() == [1.0, 0.0] and hit["method"].tolist() == [1.0, 0.0]
    assert hit["any"].tolist() == [1.0] and hit["image"].tolist() == [0]
    assert hit["common"].tolist() == [0.0]         # min of the two maps is 0 everywhere: first pixel, outside
    assert hit["chance"].tolist() == [pytest.approx(4 / 64)]
    s = misclass.summary(expl, masks)
    assert s["n_evidence"] == 1 and s["lands_cae"] == 0.5 and s["lands_any"] == 1.0


def test_lesion_contrast():
    x = torch.full((2, 1, 12, 12), -0.5)
    x[0, 0, 4:7, 4:7] = 0.5                        # a bright lesion
    x[1, 0, 4:7, 4:7] = -0.3                       # a faint one
    masks = torch.zeros(2, 1, 12, 12)
    masks[:, 0, 4:7, 4:7] = 1
    c = misclass.lesion_contrast(x, masks)
    assert c[0] == pytest.approx(1.0) and c[1] == pytest.approx(0.2)


# ---- figures and the explorer, on a tiny untrained CAE ------------------------------------------------------

TINY = CAEConfig(image_size=16, width=4, n_res=1, mlp_dim=16, class_dim=4, num_classes=3, disc_width=4)
NAMES = ("zero", "one", "two")


@pytest.fixture(scope="module")
def tiny_expl():
    torch.manual_seed(0)
    cae = CAE(TINY).eval()
    clf = nn.Sequential(nn.Flatten(), nn.Linear(256, 3)).eval()
    with torch.no_grad():
        clf[1].weight.mul_(10)
    g = torch.Generator().manual_seed(1)
    images = torch.rand(40, 1, 16, 16, generator=g) * 2 - 1
    pred = clf(images).argmax(1)
    bank = paths.CodeBank.from_images(cae, images[:30], pred[:30])      # the black box's own classes
    x, wrong = images[30:], (pred[30:] + 1) % 3                          # every image mislabelled
    expl = misclass.explain_misclassified(cae, clf, x, wrong, reference=paths.NearestReference(bank, n=2),
                                          method="saliency", steps=5)
    masks = torch.zeros(10, 1, 16, 16)
    masks[:, :, 4:8, 4:8] = 1
    return expl, masks


def test_figures_draw(tiny_expl):
    expl, masks = tiny_expl
    fig = viz.plot_counterfactuals(expl, 0, NAMES, mask=masks[0], n_frames=3)
    assert isinstance(fig, Figure) and len(fig.axes) == 2 * (3 + 3) + 2 * 2     # + a colour bar per map
    assert "true" in fig.axes[0].get_title()
    fig = viz.plot_change_summary(expl, 1, mask=masks[1])
    assert "distinct" in fig.axes[3].get_title()
    m = int(expl.paths_of(2)[1])
    fig = viz.plot_misclass_step(expl, m, 1, NAMES, mask=masks[2])
    assert fig.axes[1].get_title().startswith("step 1:")


def test_misclass_explorer_wires_controls_to_the_drawing(tiny_expl):
    pytest.importorskip("ipywidgets")
    from caelib import widgets

    expl, masks = tiny_expl
    ex = widgets.MisclassExplorer(expl, NAMES, masks=masks)
    assert len(ex.image.options) == len(expl)
    ex.image.value = 3
    assert [v for _, v in ex.counterfactual.options] == expl.paths_of(3).tolist()
    m = ex.counterfactual.value
    assert ex.step.value == int(expl.path.end_index[m])
    ex.step.value = 0
    fig = ex.draw()
    assert fig.axes[1].get_title().startswith("step 0:")
    assert "counterfactuals reach" in ex.message.value
