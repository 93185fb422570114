"""caelib.responsibility: multiple sufficient explanations (notebook 08), on a hand-written black box whose
answer is known: an image is "positive" when either of two squares is fully bright, so the two squares are
exactly its two minimal explanations."""

from __future__ import annotations

import sys

import pytest
import torch

from caelib import responsibility as rsp

H = 16
SQUARES = [(slice(2, 5), slice(2, 5)), (slice(10, 13), slice(9, 12))]


def square_masks() -> torch.Tensor:
    m = torch.zeros(len(SQUARES), H, H, dtype=torch.bool)
    for k, (ys, xs) in enumerate(SQUARES):
        m[k, ys, xs] = True
    return m


def toy_classifier(x: torch.Tensor) -> torch.Tensor:
    """Logits (B, 2): class 1 when the mean of either square exceeds 0.8 (all 9 of its pixels bright)."""
    means = torch.stack([x[:, 0, ys, xs].mean((1, 2)) for ys, xs in SQUARES], 1)   # (B, 2)
    return torch.stack([torch.full((len(x),), 0.8), means.max(1).values], 1)


def toy_images(which=(0, 1), n: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    x = -1 + 0.6 * torch.rand(n, 1, H, H, generator=g)          # dim background with texture
    for k in which:
        ys, xs = SQUARES[k]
        x[:, 0, ys, xs] = 1.0
    return x


CONFIG = rsp.ResponsibilityConfig(iters=12, min_box=1, spotlights=8, spotlight_radius=3.0)


def test_two_squares_give_two_explanations_on_different_squares():
    res = rsp.explain_multiple(toy_classifier, toy_images(), replacement=-1.0, config=CONFIG, progress=False)
    (r,) = res
    assert r.target == 1 and len(r) == 2
    land = rsp.lesion_landing(r.explanations, square_masks(), dilate=0)
    assert sorted(land.tolist()) == [0, 1]
    for e, k in zip(r.explanations, land):          # minimal: exactly the square, nothing else
        assert torch.equal(e, square_masks()[k])
    assert r.forward_passes > 0 and r.seconds > 0


def test_explanations_are_sufficient_and_responsibility_peaks_on_the_squares():
    x = toy_images()
    (r,) = rsp.explain_multiple(toy_classifier, x, replacement=-1.0, config=CONFIG, progress=False)
    mutants = torch.where(r.explanations[:, None], x, torch.full_like(x, -1.0))
    assert (toy_classifier(mutants).argmax(1) == 1).all()
    inside = square_masks().any(0)
    assert r.responsibility[inside].mean() > 5 * r.responsibility[~inside].mean()


def test_one_square_gives_one_explanation():
    (r,) = rsp.explain_multiple(toy_classifier, toy_images(which=(1,)), replacement=-1.0, config=CONFIG,
                                progress=False)
    assert len(r) == 1 and torch.equal(r.explanations[0], square_masks()[1])


def test_seeded_and_batched_like_one_by_one():
    x = torch.cat([toy_images(), toy_images(which=(0,))])
    a = rsp.explain_multiple(toy_classifier, x, replacement=-1.0, config=CONFIG, seed=3, progress=False)
    b = rsp.explain_multiple(toy_classifier, x[1:], replacement=-1.0, config=CONFIG, seed=4, progress=False)
    assert torch.equal(a[1].responsibility, b[0].responsibility)
    assert torch.equal(a[1].explanations, b[0].explanations)


def test_without_pruning_or_spotlights_fewer_explanations():
    cfg = rsp.ResponsibilityConfig(iters=12, min_box=1, spotlights=0)
    (r,) = rsp.explain_multiple(toy_classifier, toy_images(), replacement=-1.0, config=cfg, progress=False)
    assert len(r) == 1                                    # the global search alone finds one


def test_dice_and_selection():
    a = torch.zeros(4, 4, dtype=torch.bool)
    a[:2, :2] = True
    b = torch.zeros_like(a)
    b[:2, 1:3] = True
    assert float(rsp.dice(a, a)) == 1.0 and float(rsp.dice(a, b)) == 0.5
    assert float(rsp.dice(a, torch.zeros_like(a))) == 0.0
    kept = rsp.select_distinct(torch.stack([a, b, ~a]), max_dice=0.4)
    assert len(kept) == 2 and torch.equal(kept[1], ~a)
    assert len(rsp.select_distinct(torch.stack([a, b]), max_dice=0.5)) == 2


def test_lesion_landing():
    lesions = square_masks()
    straddle = lesions[0] | lesions[1]
    none = torch.zeros(H, H, dtype=torch.bool)
    near = torch.zeros(H, H, dtype=torch.bool)
    near[5, 5] = True                                        # touches square 0 only after growing by 1 px
    land = rsp.lesion_landing(torch.stack([lesions[1], straddle, none, near]), lesions)
    assert land.tolist() == [1, -1, -1, 0]
    assert rsp.lesion_landing(near[None], lesions, dilate=0).tolist() == [-1]


def test_bad_input_is_explained():
    with pytest.raises(ValueError, match="shape"):
        rsp.explain_multiple(toy_classifier, torch.zeros(H, H), progress=False)
    with pytest.raises(ValueError, match="max_dice"):
        rsp.ResponsibilityConfig(max_dice=2.0)
    with pytest.raises(TypeError, match="ResponsibilityConfig"):
        rsp.explain_multiple(toy_classifier, toy_images(), config={"iters": 3}, progress=False)
    with pytest.raises(ValueError, match="target"):
        rsp.explain_multiple(toy_classifier, toy_images(n=2), target=[1, 1, 1], progress=False)


def test_rex_missing_gives_install_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "rex_xai.explanation.multi_explanation", None)
    assert not rsp.rex_available()
    with pytest.raises(ImportError, match="--no-deps rex-xai"):
        rsp.rex_explain_multiple(toy_classifier, toy_images(), progress=False)


def test_rex_reference_runs_and_its_explanations_suffice():
    pytest.importorskip("rex_xai")
    x = toy_images()
    (r,) = rsp.rex_explain_multiple(toy_classifier, x, replacement=-1.0, min_box_size=1, spotlight_size=3,
                                    spotlight_step=1, iters=4, progress=False)
    assert r.target == 1 and len(r.candidates) >= 1
    mutants = torch.where(r.candidates[:, None], x, torch.full_like(x, -1.0))
    assert (toy_classifier(mutants).argmax(1) == 1).all()
    with pytest.raises(ValueError, match="CausalArgs"):
        rsp.rex_explain_multiple(toy_classifier, x, no_such_field=1, progress=False)


def test_two_squares_or_and_and():
    either, both = rsp.TwoSquares(), rsp.TwoSquares(need_both=True)
    x = either.image()
    cfg = rsp.ResponsibilityConfig(iters=12, min_box=1, spotlights=8, spotlight_radius=3.0)
    (r_or,) = rsp.explain_multiple(either, x, replacement=-1.0, config=cfg, progress=False)
    (r_and,) = rsp.explain_multiple(both, x, replacement=-1.0, config=cfg, progress=False)
    assert len(r_or) == 2 and len(r_and) == 1
    assert torch.equal(r_and.explanations[0], both.masks().any(0))     # the AND box needs both squares


def test_sufficiency():
    box = rsp.TwoSquares()
    x = box.image().repeat(2, 1, 1, 1)
    m = box.masks()[None].repeat(2, 1, 1, 1)                              # (2, 2, H, W)
    half = m.clone()
    half[:, 0, 2, 2] = False                                             # one pixel short of square A
    assert rsp.sufficiency(box, x, m, replacement=-1.0).all()
    assert rsp.sufficiency(box, x, half, replacement=-1.0).tolist() == [[False, True], [False, True]]
    assert not rsp.sufficiency(rsp.TwoSquares(need_both=True), x, m, replacement=-1.0).any()
    with pytest.raises(ValueError, match="masks"):
        rsp.sufficiency(box, x, m[0], replacement=-1.0)


def test_replacement_that_keeps_the_label_gives_no_explanation():
    (r,) = rsp.explain_multiple(toy_classifier, toy_images(), replacement=1.0, config=CONFIG, progress=False)
    assert len(r) == 0 and r.extras["replacement_keeps_label"] and r.forward_passes == 1
