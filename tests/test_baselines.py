"""Attribution baselines, one-vs-one questions and the shortcut tools (caelib.baselines), with the shipped models."""

from __future__ import annotations

import warnings

import pytest
import torch

import caelib
from caelib import baselines as bl
from caelib import paths, saliency

warnings.filterwarnings("ignore", module="captum")


@pytest.fixture(scope="module")
def lesions():
    torch.manual_seed(0)
    models = caelib.pretrained("lesions")
    train = caelib.load_dataset("lesions", split="train", n=600)
    test = caelib.load_dataset("lesions", split="test", n=64)
    bank = paths.CodeBank.from_images(models.cae, train.images, train.labels, classifier=models.classifier)
    return models, train, test, bank


@pytest.fixture(scope="module")
def shortcut():
    models = caelib.pretrained("lesions-shortcut", with_cae=False)
    test = caelib.load_dataset("lesions-shortcut", split="test", n=200)
    return models, test


def test_noise_baseline_is_fixed_and_in_range():
    x = torch.zeros(3, 1, 8, 8)
    a, b = bl.UniformNoise(seed=1)(x), bl.UniformNoise(seed=1)(x)
    assert torch.equal(a, b) and a.shape == x.shape
    assert a.min() >= -1 and a.max() <= 1 and a.std() > 0.4
    assert not torch.equal(a, bl.UniformNoise(seed=2)(x))


def test_mean_baseline_is_the_mean_image_and_checks_shapes():
    imgs = torch.stack([torch.full((1, 4, 4), -1.0), torch.full((1, 4, 4), 0.5)])
    base = bl.DatasetMean.of(imgs)(torch.zeros(5, 1, 4, 4))
    assert base.shape == (5, 1, 4, 4) and torch.allclose(base, torch.full_like(base, -0.25))
    with pytest.raises(ValueError, match="shape"):
        bl.DatasetMean.of(imgs)(torch.zeros(2, 1, 8, 8))


def test_make_baseline_names_and_errors():
    assert bl.make_baseline("zero") == 0.0
    assert isinstance(bl.make_baseline("blurred"), saliency.Blurred)
    with pytest.raises(ValueError, match="choose one of"):
        bl.make_baseline("gray")
    with pytest.raises(ValueError, match="cae="):
        bl.make_baseline("counterfactual")
    with pytest.raises(ValueError, match="images="):
        bl.make_baseline("mean")


def test_counterfactual_baseline_is_a_realistic_image_of_the_contrast_class(lesions):
    models, _, test, bank = lesions
    x = test.images[test.labels == 1][:16]
    # the nearest codes proposed in turn until the black box calls the decoded image normal (a counterfactual
    # for this black box), and the medoid
    for rule, clf in ((paths.NearestReference(bank, n=5, core=0.5), models.classifier),
                      (paths.MedoidReference(bank), None)):
        base = bl.CounterfactualBaseline(models.cae, rule, contrast=0, classifier=clf)(x)
        assert base.shape == x.shape and base.min() >= -1 and base.max() <= 1
        # the black box takes it for a normal image, and it is still the same scan (far closer to x than a
        # random normal image is)
        assert (caelib.predict_proba(models.classifier, base).argmax(1) == 0).float().mean() >= 0.8
        other = test.images[test.labels == 0][:16]
        assert (base - x).abs().mean() < 0.5 * (other - x).abs().mean()
    # contrast=None: the black box's runner-up class, here the other class
    runner = bl.CounterfactualBaseline(models.cae, paths.MedoidReference(bank), classifier=models.classifier)
    assert torch.equal(runner.classes(x), torch.zeros(len(x), dtype=torch.long))
    with pytest.raises(ValueError, match="contrast="):
        bl.CounterfactualBaseline(models.cae, paths.MedoidReference(bank))


def test_contrast_keeps_the_decisions_and_gives_the_logit_difference(lesions):
    models, _, test, _ = lesions
    x = test.images[:8]
    wrapped = bl.Contrast(models.classifier, 0)
    with torch.no_grad():
        z, d = models.classifier(x), wrapped(x)
    assert torch.allclose(d[:, 1], z[:, 1] - z[:, 0], atol=1e-5) and torch.all(d[:, 0] == 0)
    assert torch.allclose(caelib.predict_proba(wrapped, x), caelib.predict_proba(models.classifier, x), atol=1e-6)
    saliency.explain("deeplift", wrapped, x, 1)
    assert not models.classifier.training   # explaining the wrapper leaves the black box in eval mode
    with pytest.raises(ValueError, match="one class"):
        bl.Contrast(models.classifier, torch.tensor([0, 1]))


def test_one_vs_one_integrated_gradients_is_complete_from_the_counterfactual(lesions):
    """IG's completeness: the signed attributions sum to f(x) - f(baseline), with f = z_t - z_c."""
    models, _, test, bank = lesions
    x = test.images[test.labels == 1][:4]
    near = paths.NearestReference(bank, core=0.5)
    maps = bl.one_vs_one("integrated-gradients", models.classifier, x, 1, 0, cae=models.cae, reference=near,
                         reduce=saliency.Reduce.SIGNED, n_steps=128)
    base = bl.CounterfactualBaseline(models.cae, near, 0)(x)
    with torch.no_grad():
        f = lambda z: (models.classifier(z)[:, 1] - models.classifier(z)[:, 0])  # noqa: E731
        gap = f(x) - f(base)
    assert torch.allclose(maps.flatten(1).sum(1), gap, rtol=0.05, atol=0.05)
    assert (gap > 0).all()   # the counterfactual is on the other side of the decision
    with pytest.raises(ValueError, match="two classes"):
        bl.one_vs_one("deeplift", models.classifier, x, 1, 1, cae=models.cae, reference=near)


def test_mask_mass():
    maps = torch.zeros(3, 1, 4, 4)
    maps[0, 0, 0, 0] = 3.0
    maps[0, 0, 3, 3] = 1.0
    maps[1] = 1.0
    mask = torch.zeros(3, 1, 4, 4)
    mask[:, :, :2, :2] = 1
    m = bl.mask_mass(maps, mask)
    assert m[0] == pytest.approx(0.75) and m[1] == pytest.approx(0.25) and torch.isnan(m[2])
    assert bl.mask_mass(maps, mask, dilation=1)[1] == pytest.approx(9 / 16)


def test_the_shortcut_black_box_looks_at_the_marker(shortcut):
    """The premise of notebook 07, with Integrated Gradients from the blurred image: on images with a marker and
    a lesion, far more of the map lies on the 9-pixel marker than on the larger lesion."""
    models, test = shortcut
    both = bl.shortcut_images(test)[:12]
    x = test.images[both]
    assert (caelib.predict_proba(models.classifier, x).argmax(1) == 1).float().mean() > 0.9
    maps = saliency.explain("integrated-gradients", models.classifier, x, 1)
    on_marker = bl.mask_mass(maps, test.marker_masks[both]).mean()
    on_lesion = bl.mask_mass(maps, test.masks[both]).mean()
    assert on_marker > 0.3 and on_marker > 3 * on_lesion
    with pytest.raises(ValueError, match="marker_masks"):
        bl.shortcut_images(caelib.load_dataset("lesions", split="test", n=8))


def test_score_and_table(lesions):
    models, _, test, bank = lesions
    x, masks = test.images[test.labels == 1][:6], test.masks[test.labels == 1][:6]
    t = caelib.predict_proba(models.classifier, x).argmax(1)
    rows = {}
    for name, base in (("blurred", saliency.Blurred(4.0)), ("noise", bl.UniformNoise())):
        rows[("deeplift", name)], maps = bl.score(bl.captum_explainer("deeplift", base), models.classifier, x, t,
                                                  masks=masks, regions={"lesion": masks}, steps=8, n_random=2)
        assert maps.shape == (6, 1, 32, 32)
    s = rows[("deeplift", "blurred")]
    assert s["randomisation_top"].shape == (2,) and s["deletion_auc"].shape == (6,)
    assert torch.allclose(s["mass_lesion"], s["relevance_mass"], atol=1e-5)
    table = bl.markdown_table(rows)
    assert table.count("\n") == 3 and "mass on lesion" in table and "**" in table


def test_pretrained_cae_variants_are_named():
    with pytest.raises(ValueError, match="available: critic"):
        caelib.pretrained("lesions-shortcut", cae="nope")
    with pytest.raises(ValueError, match="no shipped CAE"):
        caelib.pretrained("lesions", cae="critic")


@pytest.mark.parametrize("variant", [None, "critic"])
def test_shipped_shortcut_caes_flip_the_cheating_black_box(variant):
    """Both shipped shortcut CAEs (data/README.md) redraw an image so that the shortcut black box changes its
    mind, and reconstruct it so that it does not."""
    models = caelib.pretrained("lesions-shortcut", cae=variant)
    train = caelib.load_dataset("lesions-shortcut", split="train", n=800)
    test = caelib.load_dataset("lesions-shortcut", split="test", n=200)
    rep = bl.shortcut_report(models.cae, models.classifier, test, train, n=100)
    assert rep["bb_flip_mean"] >= 0.9 and rep["bb_recon_agreement"] >= 0.95
    # the counterfactual changes the marker far more than its area would give
    assert rep["cf_marker_mass"] > 3 * rep["marker_area"]


def test_a_cae_that_never_saw_the_marker_cannot_flip_the_cheating_black_box(shortcut):
    """The clean lesions' CAE removes the lesion; the shortcut black box does not care (notebook 07)."""
    models, test = shortcut
    clf, cae = models.classifier, caelib.pretrained("lesions").cae
    train = caelib.load_dataset("lesions-shortcut", split="train", n=800)
    rep = bl.shortcut_report(cae, clf, test, train, n=100)
    assert rep["bb_flip_mean"] < 0.2


@pytest.mark.xfail(strict=True, reason="known and measured: the lr 2e-3 lesions CAE keeps the black box's decision "
                   "on 0.91 of the reconstructions of marked images (a marker it never saw); the lr 1e-3 one kept 1.00")
def test_the_clean_cae_reconstructs_the_unseen_marker_faithfully(shortcut):
    models, test = shortcut
    train = caelib.load_dataset("lesions-shortcut", split="train", n=800)
    rep = bl.shortcut_report(caelib.pretrained("lesions").cae, models.classifier, test, train, n=100)
    assert rep["bb_recon_agreement"] >= 0.95


def test_verified_counterfactual_baseline_takes_the_first_proposal_the_black_box_accepts(lesions):
    models, _, test, bank = lesions
    x = test.images[test.labels == 1][:32]
    rule = paths.NearestReference(bank, n=5, core=0.5)
    plain = bl.CounterfactualBaseline(models.cae, paths.NearestReference(bank, n=1, core=0.5), contrast=0)(x)
    checked = bl.CounterfactualBaseline(models.cae, rule, contrast=0, classifier=models.classifier)(x)
    ok_plain = caelib.predict_proba(models.classifier, plain).argmax(1) == 0
    ok_checked = caelib.predict_proba(models.classifier, checked).argmax(1) == 0
    assert torch.equal(checked[ok_plain], plain[ok_plain])   # the nearest is kept wherever it already works
    assert (ok_checked | ~ok_plain).all() and ok_checked.sum() >= ok_plain.sum()
