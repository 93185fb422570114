"""Counterfactual paths, their routes and references, path saliency and the path widget (notebook 05).

Tiny untrained models (fast, deterministic) for the invariants; a hand-built CAE and black box whose
decision is known in closed form for the flip."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from toys import MeanCAE, MeanClassifier  # noqa: E402

from caelib import paths  # noqa: E402
from caelib.cae import CAE, CAEConfig  # noqa: E402
from caelib.saliency_path import (  # noqa: E402
    CAESaliency,
    Variant,
    gaussian_blur,
    path_gradients,
    path_saliency,
    pointing_game,
)
from caelib.swap import decode_all, encode_all  # noqa: E402

# the strided class encoder: untrained, its class codes differ between images more than the pooled one's (6 convs
# at PyTorch's initial scale), and these tests of the path machinery need codes that differ
CFG = CAEConfig(image_size=16, width=4, n_res=1, mlp_dim=16, class_dim=4, num_classes=3, disc_width=4,
                class_encoder="strided")


@pytest.fixture(scope="module")
def tiny():
    """(cae, classifier, bank, images): an untrained tiny CAE and black box (3 classes, 16x16)."""
    torch.manual_seed(0)
    cae = CAE(CFG).eval()
    clf = nn.Sequential(nn.Flatten(), nn.Linear(256, 3)).eval()   # a tiny linear black box
    with torch.no_grad():
        clf[1].weight.mul_(10)
    g = torch.Generator().manual_seed(1)
    images = torch.rand(60, 1, 16, 16, generator=g) * 2 - 1
    labels = torch.arange(60) % 3
    bank = paths.CodeBank.from_images(cae, images[:48], labels[:48])
    return cae, clf, bank, images[48:]


def _pattern(mean: float, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    p = torch.rand(1, 1, 8, 8, generator=g) * 0.4 - 0.2
    return p - p.mean() + mean


# ---- the path --------------------------------------------------------------------------------------------

def test_path_endpoints_are_the_image_code_and_the_reference_code(tiny):
    cae, clf, bank, x = tiny
    codes_x, indiv_x = encode_all(cae, x)
    for route in (paths.StraightRoute(), paths.GraphRoute(bank, k=4)):
        path = paths.counterfactual_path(cae, clf, x, reference=paths.MedoidReference(bank), route=route, steps=7,
                                         stop_at_flip=False)
        assert path.codes.shape == (len(x), 7, CFG.class_dim) and path.frames.shape == (len(x), 7, 1, 16, 16)
        torch.testing.assert_close(path.codes[:, 0], codes_x, atol=1e-5, rtol=0)
        torch.testing.assert_close(path.codes[:, -1], bank.codes[path.reference_index], atol=1e-5, rtol=0)
        torch.testing.assert_close(path.reference_code, bank.codes[path.reference_index])
        torch.testing.assert_close(path.reconstruction, decode_all(cae, indiv_x, codes_x), atol=1e-5, rtol=0)
        assert (bank.labels[path.reference_index] == path.target).all()
        torch.testing.assert_close(path.probs.sum(2), torch.ones(len(x), 7))


def test_batch_result_equals_per_image_result(tiny):
    cae, clf, bank, x = tiny
    ref = paths.NearestReference(bank)
    for stop in (True, False):
        batch = paths.counterfactual_path(cae, clf, x, reference=ref, steps=9, stop_at_flip=stop)
        for i in range(len(x)):
            one = paths.counterfactual_path(cae, clf, x[i:i + 1], reference=ref, steps=9, stop_at_flip=stop)
            assert int(one.flip_index[0]) == int(batch.flip_index[i]) and int(one.target[0]) == int(batch.target[i])
            torch.testing.assert_close(one.frames[0], batch.frames[i], atol=1e-5, rtol=0)
            torch.testing.assert_close(one.probs[0], batch.probs[i], atol=1e-5, rtol=0)


def test_default_target_is_the_most_likely_other_class(tiny):
    cae, clf, bank, x = tiny
    path = paths.counterfactual_path(cae, clf, x, reference=paths.MedoidReference(bank))
    p = torch.softmax(clf(x), 1).detach()
    assert (path.source == p.argmax(1)).all()
    p[torch.arange(len(x)), path.source] = -1
    assert (path.target == p.argmax(1)).all()


def test_flip_index_on_a_hand_built_black_box():
    cae, clf = MeanCAE(), MeanClassifier()
    x, ref = _pattern(-0.45), _pattern(0.55, seed=1)      # the mean goes -0.45, -0.35, ..., 0.55
    full = paths.counterfactual_path(cae, clf, x, reference=ref, steps=11, stop_at_flip=False)
    assert int(full.source[0]) == 0 and int(full.target[0]) == 1   # target from the reference's class
    assert int(full.flip_index[0]) == 5                             # first mean > 0: -0.45 + 0.5
    assert (full.probs[0, :5].argmax(1) == 0).all() and (full.probs[0, 5:].argmax(1) == 1).all()
    torch.testing.assert_close(full.frames[0, -1], x[0] + 1.0, atol=1e-5, rtol=0)    # keeps x's pattern
    torch.testing.assert_close(full.counterfactual, x + 0.5, atol=1e-5, rtol=0)
    stop = paths.counterfactual_path(cae, clf, x, reference=ref, steps=11, stop_at_flip=True)
    assert int(stop.flip_index[0]) == 5
    torch.testing.assert_close(stop.frames[0, :6], full.frames[0, :6])
    for s in range(6, 11):                                          # a stopped path stays at its flip
        torch.testing.assert_close(stop.frames[0, s], full.frames[0, 5])
        torch.testing.assert_close(stop.codes[0, s], full.codes[0, 5])
    half, whole = (path_saliency(p, Variant.PATH, smooth=0, normalise=False) for p in (stop, full))
    torch.testing.assert_close(half, torch.full_like(x, 0.5))      # 5 steps of 0.1 up to the flip ...
    torch.testing.assert_close(whole, torch.full_like(x, 1.0))     # ... 10 along the whole path
    never = paths.counterfactual_path(cae, clf, x, reference=_pattern(-0.1, seed=2), target=1, steps=11)
    assert int(never.flip_index[0]) == -1 and not never.flipped[0]
    torch.testing.assert_close(never.counterfactual, never.frames[:, -1])


def test_several_references_per_image(tiny):
    cae, clf, bank, x = tiny
    path = paths.counterfactual_path(cae, clf, x[:4], reference=paths.NearestReference(bank, n=3), steps=5)
    assert len(path) == 12
    assert path.image_index.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    torch.testing.assert_close(path.x, x[:4].repeat_interleave(3, 0))
    assert len(set(path.reference_index[:3].tolist())) == 3        # three different references
    one = path[4]
    assert len(one) == 1 and int(one.image_index[0]) == 1
    refs = torch.stack([x[4:6], x[6:8]], 0)                        # (B=2, R=2, C, H, W) images of your own
    target = (torch.softmax(clf(x[:2]), 1).argmax(1) + 1) % 3
    own = paths.counterfactual_path(cae, clf, x[:2], target=target, reference=refs, steps=4, stop_at_flip=False)
    assert len(own) == 4 and (own.reference_index == -1).all() and (own.target == target.repeat_interleave(2)).all()
    torch.testing.assert_close(own.codes[:, -1], encode_all(cae, x[4:8])[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(own.reference_code, encode_all(cae, x[4:8])[0], atol=1e-5, rtol=0)


def test_bad_input_gives_clear_errors(tiny):
    cae, clf, bank, x = tiny
    ref = paths.MedoidReference(bank)
    decision = torch.softmax(clf(x[:2]), 1).argmax(1)
    with pytest.raises(ValueError, match="already gives"):
        paths.counterfactual_path(cae, clf, x[:2], target=decision, reference=ref)
    for bad in (3, -1):
        with pytest.raises(ValueError, match=r"outside .*0\.\.2"):
            paths.counterfactual_path(cae, clf, x[:2], target=bad, reference=ref)
    with pytest.raises(ValueError, match="one class per image"):
        paths.counterfactual_path(cae, clf, x[:2], target=[1, 2, 0], reference=ref)
    for wrong in (torch.zeros(2, 1, 8, 8), torch.zeros(3, 1, 16, 16), torch.zeros(1, 16, 16)):
        with pytest.raises(ValueError, match="reference image needs the shape"):
            paths.counterfactual_path(cae, clf, x[:2], reference=wrong)
    with pytest.raises(ValueError, match="reference must be a rule"):
        paths.counterfactual_path(cae, clf, x[:2], reference="nearest")
    with pytest.raises(ValueError, match="steps >= 2"):
        paths.counterfactual_path(cae, clf, x[:2], reference=ref, steps=1)
    with pytest.raises(ValueError, match="unsqueeze"):
        paths.counterfactual_path(cae, clf, x[0], reference=ref)
    with pytest.raises(ValueError, match="same class"):            # a reference of the image's own class
        paths.counterfactual_path(MeanCAE(), MeanClassifier(), _pattern(-0.4), reference=_pattern(-0.3))


# ---- references and routes -------------------------------------------------------------------------------

def test_reference_rules_on_a_hand_built_bank():
    codes = torch.tensor([[0.0], [1.0], [2.0], [3.0], [10.0], [-5.0], [-4.0], [20.0]])
    labels = torch.tensor([1, 1, 1, 1, 1, 0, 0, 0])
    bank = paths.CodeBank(codes, labels)
    assert paths.MedoidReference(bank)(torch.zeros(1, 1), torch.tensor([1])).tolist() == [[2]]
    nearest = paths.NearestReference(bank, n=2)(torch.tensor([[2.6], [-4.2]]), torch.tensor([1, 0]))
    assert nearest.tolist() == [[3, 2], [6, 5]]
    core = paths.NearestReference(bank, core=0.7)                  # class 1's border codes (0, 1, 2) drop out
    assert core(torch.tensor([[0.1]]), torch.tensor([1])).tolist() == [[3]]   # depths 4, 5, 6, 7, 10 -> 7, 10 kept
    assert bank.depth()[0] == pytest.approx(4.0) and bank.depth()[4] == pytest.approx(10.0)
    with pytest.raises(ValueError, match="no sample of class"):
        paths.MedoidReference(bank)(torch.zeros(1, 1), torch.tensor([2]))


def test_reference_rules_have_scikit_learns_fit(tiny):
    """Hyper-parameters in the constructor, the work in fit(bank), which returns the rule; Rule(bank) fits at once;
    a rule used before fit says to call fit(bank), wherever it is used."""
    from caelib.baselines import CounterfactualBaseline

    cae, clf, bank, x = tiny
    codes = torch.randn(6, CFG.class_dim, generator=torch.Generator().manual_seed(2))
    target = torch.tensor([0, 1, 2, 2, 1, 0])
    other = paths.CodeBank(bank.codes.flip(0), bank.labels.flip(0), bank.images.flip(0))   # same, reordered
    makers = {"medoid": lambda b=None: paths.MedoidReference(b),
              "nearest": lambda b=None: paths.NearestReference(b, n=2, core=0.5),
              "strong": lambda b=None: paths.StrongReference(cae, clf, b, candidates=4, probes=3)}
    for name, make in makers.items():
        rule = make()
        with pytest.raises(paths.NotFittedError, match=r"fit\(bank\)"):
            rule(codes, target)
        with pytest.raises(ValueError, match=r"fit\(bank\)"):
            paths.counterfactual_path(cae, clf, x[:2], reference=rule)
        with pytest.raises(ValueError, match=r"fit\(bank\)"):
            CounterfactualBaseline(cae, rule, 0)
        with pytest.raises(ValueError, match="CodeBank"):
            rule.fit(bank.codes)
        assert rule.fit(bank) is rule, name
        assert rule.bank is bank
        picked = rule(codes, target)
        assert torch.equal(picked, make(bank)(codes, target)), name         # fit(bank) == Rule(bank)
        assert (bank.labels[picked] == target[:, None]).all(), name
        rule.fit(other)                                                     # fit again: the new bank's indices
        assert rule.bank is other
        assert torch.equal(rule(codes, target), len(bank) - 1 - picked) or name == "strong", name
    assert torch.equal(paths.MedoidReference().fit(bank).medoids, paths.MedoidReference(bank).medoids)


def _arc(n: int = 200) -> paths.CodeBank:
    """Codes on a half circle of radius 1 (D = 2): class 0 on the right half, class 1 on the left."""
    angle = torch.linspace(0, math.pi, n)
    return paths.CodeBank(torch.stack([angle.cos(), angle.sin()], 1), (angle > math.pi / 2).long())


def test_graph_route_stays_on_a_curved_manifold_the_straight_line_leaves():
    bank = _arc()
    start, end = torch.tensor([[1.0, 0.02]]), torch.tensor([[-1.0, 0.02]])
    graph, straight = paths.GraphRoute(bank, k=5)(start, end, 41), paths.StraightRoute()(start, end, 41)
    for route in (graph, straight):
        assert route.shape == (1, 41, 2)
        torch.testing.assert_close(route[0, 0], start[0])
        torch.testing.assert_close(route[0, -1], end[0])
    d_graph, d_straight = bank.distance_to_nearest(graph[0]).mean(), bank.distance_to_nearest(straight[0]).mean()
    assert d_graph < 0.02 and d_straight > 0.3              # the chord cuts across the empty middle
    step = graph[0].diff(dim=0).norm(dim=1)                        # evenly spaced along the polyline
    assert float(step.max() - step.min()) < 0.02
    assert float(step.sum()) == pytest.approx(math.pi, rel=0.02)   # the half circle's length


def test_graph_route_joins_separate_clusters():
    g = torch.Generator().manual_seed(0)
    codes = torch.cat([torch.randn(30, 3, generator=g) * 0.1, torch.randn(30, 3, generator=g) * 0.1 + 5])
    bank = paths.CodeBank(codes, torch.arange(60) // 30)
    route = paths.GraphRoute(bank, k=3)
    nodes = route.nodes(codes[:1] + 0.01, codes[59:60] + 0.01)[0]
    assert len(nodes) >= 2 and (bank.labels[nodes[0]] == 0) and (bank.labels[nodes[-1]] == 1)


def test_resample_polyline():
    pts = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    out = paths.resample_polyline(pts, 5)
    np.testing.assert_allclose(out, [[0, 0], [0.5, 0], [1, 0], [1, 0.5], [1, 1]])
    np.testing.assert_allclose(paths.resample_polyline(pts[:1].repeat(2, 0), 3), [[0, 0]] * 3)


def test_path_metrics_and_compare_routes(tiny):
    cae, clf, bank, x = tiny
    from caelib.cae import Discriminator

    disc = Discriminator(CFG).eval()
    table = paths.compare_routes(cae, clf, x, {"straight": paths.StraightRoute(), "graph": paths.GraphRoute(bank, k=4)},
                                 reference=paths.MedoidReference(bank), bank=bank, disc=disc, steps=6)
    assert set(table) == {"straight", "graph", "real images", "reconstructions"}
    for name in ("straight", "graph"):
        row = table[name]
        assert set(row) >= {"off_manifold", "flip_rate", "flip_step", "roughness", "max_jump", "realism", "length"}
        assert 0 <= row["flip_rate"] <= 1 and row["off_manifold"] >= 0
    assert table["graph"]["length"] >= table["straight"]["length"] - 1e-5   # the straight line is the shortest
    cae2, clf2 = MeanCAE(), MeanClassifier()
    p = paths.counterfactual_path(cae2, clf2, _pattern(-0.45), reference=_pattern(0.55, 1), steps=11,
                                  stop_at_flip=False)
    m = paths.path_metrics(p, paths.CodeBank(torch.tensor([[-0.45, 0.0], [0.55, 0.0]]), torch.tensor([0, 1])))
    assert float(m["flip_step"][0]) == pytest.approx(0.5) and float(m["flipped"][0]) == 1.0
    assert float(m["length"][0]) == pytest.approx(1.0, abs=1e-5)


def test_flip_report(tiny):
    cae, clf = MeanCAE(), MeanClassifier()
    x = torch.cat([_pattern(-0.45, i) for i in range(3)] + [_pattern(0.3, 9)])
    bank = paths.CodeBank(torch.tensor([[-0.5, 0.0], [-0.6, 0.0], [0.6, 0.0], [0.5, 0.0]]), torch.tensor([0, 0, 1, 1]))
    report = paths.flip_report(cae, clf, x, reference=paths.MedoidReference(bank), steps=11)
    assert report["flip_rate"] == 1.0 and report["n"] == 4
    assert set(report["by_direction"]) == {"0->1", "1->0"} and report["by_direction"]["0->1"] == (1.0, 3)
    assert paths.by_source_class(report, ["a", "b"]) == {"a": 1.0, "b": 1.0}


# ---- saliency from a path --------------------------------------------------------------------------------

def test_cae_saliency_has_captums_call_and_shape(tiny):
    cae, clf, bank, x = tiny
    for variant in Variant:
        sal = CAESaliency(cae, clf, reference=paths.MedoidReference(bank), variant=variant, steps=6)
        maps = sal.attribute(x)
        assert maps.shape == x.shape and maps.min() >= 0 and maps.max() <= 1 + 1e-6
        raw, _ = CAESaliency(cae, clf, reference=paths.MedoidReference(bank), variant=variant, steps=6,
                             normalise=False).explain(x)
        one, _ = CAESaliency(cae, clf, reference=paths.MedoidReference(bank), variant=variant, steps=6,
                             normalise=False).explain(x[2:3])
        assert raw[2].max() > 0                                    # (the untrained CAE changes little: compare
        torch.testing.assert_close(one[0], raw[2], atol=1e-2 * float(raw[2].max()) + 1e-6, rtol=0)
    decision = torch.softmax(clf(x), 1).argmax(1)
    sal = CAESaliency(cae, clf, reference=paths.MedoidReference(bank), steps=6)
    _, path = sal.explain(x, target=decision)                      # explain the decision: towards another class
    assert (path.target != decision).all()
    other = (decision + 1) % 3
    _, path = sal.explain(x, target=other)                         # explain another class: towards it
    assert (path.target == other).all()
    _, path = sal.explain(x, target=decision, contrast=other)
    assert (path.target == other).all()
    several = CAESaliency(cae, clf, reference=paths.NearestReference(bank, n=2), steps=5).attribute(x)
    assert several.shape == x.shape
    with pytest.raises(ValueError, match="outside"):
        sal.attribute(x, target=7)


def test_saliency_variants_by_hand(tiny):
    cae, clf, bank, x = tiny
    path = paths.counterfactual_path(cae, clf, x, reference=paths.MedoidReference(bank), steps=6, stop_at_flip=False)
    diff = path_saliency(path, Variant.DIFFERENCE, normalise=False)
    torch.testing.assert_close(diff, (path.counterfactual - path.x).abs())
    rec = path_saliency(path, Variant.RECONSTRUCTION, smooth=0, normalise=False)
    torch.testing.assert_close(rec, (path.counterfactual - path.frames[:, 0]).abs())
    i = 3
    p, f = path.target_probs[i], path.frames[i]
    whole = sum((f[s + 1] - f[s]).abs() for s in range(path.steps - 1))
    weighted = sum((f[s + 1] - f[s]).abs() * (abs(float(p[s + 1] - p[s])) + 1e-3) for s in range(path.steps - 1))
    torch.testing.assert_close(path_saliency(path, Variant.PATH, smooth=0, normalise=False)[i], whole)
    torch.testing.assert_close(path_saliency(path, Variant.PATH_WEIGHTED, smooth=0, normalise=False)[i], weighted,
                               atol=1e-9, rtol=1e-5)
    norm = path_saliency(path, Variant.PATH)
    torch.testing.assert_close(norm.flatten(1).amax(1), torch.ones(len(path)))
    stopped = paths.counterfactual_path(cae, clf, x, reference=paths.MedoidReference(bank), steps=6)
    upto = sum((f[s + 1] - f[s]).abs() for s in range(int(stopped.end_index[i])))   # a stopped path: to the flip
    torch.testing.assert_close(path_saliency(stopped, Variant.PATH, smooth=0, normalise=False)[i],
                               upto if int(stopped.end_index[i]) > 0 else torch.zeros_like(whole), atol=1e-6, rtol=1e-4)


def _margin(clf, images, path):
    out = clf(images)
    return out.gather(1, path.source[:, None])[:, 0] - out.gather(1, path.target[:, None])[:, 0]


def test_path_gradients_add_up_to_the_change_of_the_margin(tiny):
    cae, clf, bank, x = tiny
    path = paths.counterfactual_path(cae, clf, x, reference=paths.MedoidReference(bank), steps=6, stop_at_flip=False)
    with torch.no_grad():
        change = _margin(clf, path.x, path) - _margin(clf, path.frames[:, -1], path)
    # a linear black box has one gradient everywhere: exact with a single midpoint per segment
    torch.testing.assert_close(path_gradients(path, clf, substeps=1).flatten(1).sum(1), change, atol=1e-3, rtol=1e-4)
    torch.manual_seed(3)
    net = nn.Sequential(nn.Flatten(), nn.Linear(256, 32), nn.Tanh(), nn.Linear(32, 3)).eval()
    path = paths.counterfactual_path(cae, net, x, target=(torch.softmax(net(x), 1).argmax(1) + 1) % 3,
                                     reference=paths.MedoidReference(bank), steps=6, stop_at_flip=False)
    with torch.no_grad():
        change = _margin(net, path.x, path) - _margin(net, path.frames[:, -1], path)
    err = [float((path_gradients(path, net, substeps=n).flatten(1).sum(1) - change).abs().max()) for n in (1, 16)]
    assert err[1] < err[0] and err[1] < 0.02 * float(change.abs().max())   # the midpoint rule converges
    with pytest.raises(ValueError, match="substeps"):
        path_gradients(path, net, substeps=0)


def test_path_gradient_map_reads_the_black_box(tiny):
    cae, clf, bank, x = tiny
    path = paths.counterfactual_path(cae, clf, x, reference=paths.MedoidReference(bank), steps=6, stop_at_flip=False)
    with pytest.raises(ValueError, match="classifier="):
        path_saliency(path, Variant.PATH_GRADIENT)
    maps = path_saliency(path, Variant.PATH_GRADIENT, smooth=0, normalise=False, classifier=clf)
    torch.testing.assert_close(maps, path_gradients(path, clf).clamp_min(0))
    other = nn.Sequential(nn.Flatten(), nn.Linear(256, 3)).eval()     # same path, another black box's gradients
    changed = path_saliency(path, Variant.PATH_GRADIENT, smooth=0, normalise=False, classifier=other)
    assert (changed - maps).abs().max() > 0.1 * maps.abs().max()
    # where the black box does not look, the map is zero: a black box blind to the left half
    with torch.no_grad():
        blind = nn.Sequential(nn.Flatten(), nn.Linear(256, 3)).eval()
        blind[1].weight.view(3, 16, 16)[:, :, :8] = 0
    half = path_saliency(path, Variant.PATH_GRADIENT, smooth=0, normalise=False, classifier=blind)
    assert half[..., :8].abs().max() == 0 and half[..., 8:].max() > 0


def test_gaussian_blur():
    m = torch.zeros(1, 1, 9, 9)
    m[0, 0, 4, 4] = 1
    assert torch.equal(gaussian_blur(m, 0), m)
    b = gaussian_blur(m, 1.0)
    assert float(b.sum()) == pytest.approx(1.0, abs=1e-5) and b.argmax() == m.argmax() and b[0, 0, 4, 3] > 0


def test_pointing_game():
    maps = torch.zeros(3, 1, 8, 8)
    maps[:, 0, 2, 3] = 1.0
    masks = torch.zeros(3, 1, 8, 8)
    masks[0, 0, 2, 3] = 1                                          # hit
    masks[1, 0, 5, 5] = 1                                          # miss
    masks[2, 0, 2, 4] = 1                                          # one pixel off
    assert pointing_game(maps, masks).tolist() == [1.0, 0.0, 0.0]
    assert pointing_game(maps, masks, tolerance=1).tolist() == [1.0, 0.0, 1.0]
    with pytest.raises(ValueError):
        pointing_game(maps, masks[:2])


# ---- the widget ------------------------------------------------------------------------------------------

def test_path_explorer_draws_without_a_browser_and_computes_each_path_once(tiny, monkeypatch):
    pytest.importorskip("ipywidgets")
    from caelib import widgets

    cae, clf, bank, x = tiny
    calls = []
    real = paths.counterfactual_path

    def counting(*args, **kw):
        calls.append(1)
        return real(*args, **kw)
    monkeypatch.setattr(paths, "counterfactual_path", counting)
    ex = widgets.PathExplorer(cae, clf, x, torch.arange(len(x)) % 3, ["a", "b", "c"], steps=7,
                              references={"medoid": paths.MedoidReference(bank),
                                          "nearest": paths.NearestReference(bank)},
                              routes={"straight": paths.StraightRoute(), "graph": paths.GraphRoute(bank, k=4)})
    assert len(calls) == 1
    for step in range(7):                                          # the slider only indexes frames
        ex.step.value = step
        fig = ex.draw(step)
        assert len(fig.axes) >= 4
        plt.close(fig)
    assert len(calls) == 1
    path = ex.path()
    fig = ex.draw(3)
    img = fig.axes[1].images[0].get_array()
    np.testing.assert_allclose(img, ((path.frames[0, 3, 0] + 1) / 2).numpy(), atol=1e-6)
    plt.close(fig)
    ex.route.value = "graph"
    assert len(calls) == 2
    ex.route.value = "straight"                                    # back to a path already computed
    assert len(calls) == 2
    ex.target.value = int(path.source[0])                          # the image's own class: a message, no crash
    assert "already gives" in ex.message.value
    plt.close("all")


def test_strong_reference_picks_the_class_code_the_black_box_reads_as_the_class():
    cae, clf = MeanCAE(), MeanClassifier()
    images = torch.cat([_pattern(-0.5, 0), _pattern(-0.3, 1), _pattern(-0.1, 2), _pattern(-0.05, 3), _pattern(0.6, 4)])
    labels = torch.tensor([0, 0, 1, 1, 1])      # images 2, 3 are labelled 1 but their class codes read as class 0
    codes, _ = encode_all(cae, images)
    bank = paths.CodeBank(codes, labels, images)
    assert paths.MedoidReference(bank).medoids[1] == 3                 # the medoid of class 1 is a weak one
    strong = paths.StrongReference(cae, clf, bank)
    assert int(strong.choice[1]) == 4 and float(strong.rates[1]) == 1.0
    assert int(strong.choice[0]) in (0, 1) and float(strong.rates[0]) == 1.0
    picked = strong(torch.zeros(2, 2), torch.tensor([1, 0])).tolist()
    assert picked == [[int(strong.choice[1])], [int(strong.choice[0])]]
    path = paths.counterfactual_path(cae, clf, _pattern(-0.45, 5), reference=strong)
    assert bool(path.flipped[0]) and bool(path.changed[0])
    with pytest.raises(ValueError, match="with images"):
        paths.StrongReference(cae, clf, paths.CodeBank(codes, labels))
