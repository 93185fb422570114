"""One call for every saliency method (caelib.saliency): shapes, known answers on analytic models, parity
with Captum and with CAESaliency, and clear errors. Tiny untrained models, 16x16 images: fast."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from caelib import paths, saliency
from caelib.cae import CAE, CAEConfig
from caelib.classifier import ClassifierConfig, SmallCNN
from caelib.saliency import METHODS, Reduce, explain, to_map
from caelib.saliency_path import CAESaliency, Variant

CFG = CAEConfig(image_size=16, width=4, n_res=1, mlp_dim=16, class_dim=4, num_classes=3, disc_width=4)
FAST = {"integrated-gradients": {"n_steps": 8}, "lime": {"n_samples": 40}, "kernel-shap": {"n_samples": 40},
        "cae": {"steps": 5}, "cae-reconstruction": {"steps": 5}, "cae-path": {"steps": 5},
        "cae-path-weighted": {"steps": 5}}


@pytest.fixture(scope="module")
def tiny():
    """(classifier, cae, bank, images): an untrained SmallCNN and CAE for 3 classes of 16x16 images."""
    torch.manual_seed(0)
    clf = SmallCNN(ClassifierConfig(image_size=16, width=4, stages=2, num_classes=3)).eval()
    cae = CAE(CFG).eval()
    g = torch.Generator().manual_seed(1)
    images = torch.rand(40, 1, 16, 16, generator=g) * 2 - 1
    bank = paths.CodeBank.from_images(cae, images[:30], torch.arange(30) % 3)
    return clf, cae, bank, images[30:34]


class Linear(nn.Module):
    """logits = W x + b on flattened images: every gradient is known in closed form."""

    def __init__(self, c=2, h=8, w=8, k=3, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.shape = (c, h, w)
        self.fc = nn.Linear(c * h * w, k)
        with torch.no_grad():
            self.fc.weight.copy_(torch.randn(k, c * h * w, generator=g))
            self.fc.bias.zero_()

    def forward(self, x):
        return self.fc(x.flatten(1))


def test_registry_names_and_families():
    assert set(saliency.CAE_METHODS) == {"cae", "cae-reconstruction", "cae-path", "cae-path-weighted",
                                         "cae-path-gradient"}
    assert set(saliency.CAPTUM_METHODS) == {"saliency", "input-x-gradient", "integrated-gradients", "deeplift",
                                            "guided-backprop", "gradcam", "occlusion", "lime", "kernel-shap"}
    assert set(saliency.BASELINES) == {"random", "sobel", "centre"}
    assert set(METHODS) == set(saliency.CAE_METHODS) | set(saliency.CAPTUM_METHODS) | set(saliency.BASELINES)
    assert all(not METHODS[n].uses_model for n in saliency.BASELINES)


@pytest.mark.parametrize("name", list(METHODS))
def test_every_method_returns_a_finite_map_shaped_like_the_input(tiny, name):
    clf, cae, bank, x = tiny
    was = [p.clone() for p in clf.parameters()]
    clf.train()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        maps = explain(name, clf, x, cae=cae, bank=bank, **FAST.get(name, {}))
    assert maps.shape == (len(x), 1, 16, 16) and maps.dtype == torch.float32
    assert torch.isfinite(maps).all() and (maps >= 0).all()
    assert clf.training                                           # the training mode is restored
    clf.eval()
    assert all(torch.equal(a, b) for a, b in zip(was, clf.parameters()))   # and the weights untouched


def test_gradient_methods_on_a_linear_model_match_the_closed_form():
    model = Linear().eval()
    x = torch.rand(4, 2, 8, 8, generator=torch.Generator().manual_seed(2)) * 2 - 1
    t = torch.tensor([0, 1, 2, 1])
    w = model.fc.weight[t].detach().view(4, 2, 8, 8)                                # d logit_t / d x
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.testing.assert_close(explain("saliency", model, x, t), w.abs().sum(1, keepdim=True))
        torch.testing.assert_close(explain("input-x-gradient", model, x, t), (w * x).abs().sum(1, keepdim=True))
        # IG from the 0 baseline is exactly x * w for a linear model, at any number of steps
        torch.testing.assert_close(explain("integrated-gradients", model, x, t, n_steps=4, baseline=0.0),
                                   (w * x).abs().sum(1, keepdim=True), atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(explain("deeplift", model, x, t, baseline=0.0), (w * x).abs().sum(1, keepdim=True),
                                   atol=1e-5, rtol=1e-4)
        # occluding a 1x1 pixel (stride 1) with 0 removes exactly w * x from the logit: positive part kept
        occ = explain("occlusion", model, x, t, window=1, stride=1, baseline=0.0)
    torch.testing.assert_close(occ, (w * x).sum(1, keepdim=True).clamp_min(0), atol=1e-5, rtol=1e-4)


def test_default_target_is_the_black_box_decision(tiny):
    clf, _, _, x = tiny
    decision = clf(x).argmax(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.testing.assert_close(explain("saliency", clf, x), explain("saliency", clf, x, decision))
        other = (decision + 1) % 3
        assert not torch.allclose(explain("saliency", clf, x), explain("saliency", clf, x, other))


def test_captum_methods_are_captum_itself(tiny):
    from captum.attr import GuidedBackprop, LayerAttribution, LayerGradCam

    clf, _, _, x = tiny
    t = clf(x).argmax(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gb = GuidedBackprop(clf).attribute(x.clone(), target=t)
        torch.testing.assert_close(explain("guided-backprop", clf, x), gb.abs().sum(1, keepdim=True))
        cam = LayerGradCam(clf, clf.feature_layer).attribute(x, target=t, relu_attributions=True)
        up = LayerAttribution.interpolate(cam, (16, 16), "bilinear")
        torch.testing.assert_close(explain("gradcam", clf, x), up.detach())
        name = next(n for n, m in clf.named_modules() if m is clf.feature_layer)     # the layer by its name
        torch.testing.assert_close(explain("gradcam", clf, x, layer=name), up.detach())
        assert not torch.allclose(explain("gradcam", clf, x, layer="features.2"), up.detach())


def test_cae_entries_wrap_cae_saliency(tiny):
    clf, cae, bank, x = tiny
    ref = paths.MedoidReference(bank)
    for name, variant in [("cae", Variant.DIFFERENCE), ("cae-path", Variant.PATH)]:
        direct = CAESaliency(cae, clf, reference=ref, variant=variant, steps=5).attribute(x)
        torch.testing.assert_close(explain(name, clf, x, cae=cae, bank=bank, steps=5), direct.sum(1, keepdim=True))
        torch.testing.assert_close(explain(name, clf, x, cae=cae, reference=ref, steps=5), direct.sum(1, keepdim=True))


def test_sanity_baselines():
    x = torch.zeros(2, 1, 16, 16)
    x[1, :, :, 8:] = 1.0                                                           # a vertical edge
    centre = explain("centre", None, x)
    assert centre.flatten(1).argmax(1).tolist() == [7 * 16 + 7] * 2                # the first of the 4 centre pixels
    sobel = explain("sobel", None, x)
    assert sobel[0].abs().max() == 0                                               # a flat image has no edges
    assert (sobel[1, 0, :, 7:9] > 0).all() and sobel[1, 0, :, :6].abs().max() == 0
    r0, r0b, r1 = explain("random", None, x), explain("random", None, x), explain("random", None, x, seed=1)
    assert torch.equal(r0, r0b) and not torch.equal(r0, r1) and not torch.equal(r0[0], r0[1])


def test_to_map_reductions():
    a = torch.tensor([[1.0, -3.0], [-2.0, 0.5]]).view(1, 1, 2, 2).repeat(1, 2, 1, 1)
    torch.testing.assert_close(to_map(a, Reduce.ABS), 2 * a[:, :1].abs())
    torch.testing.assert_close(to_map(a, Reduce.POSITIVE), 2 * a[:, :1].clamp_min(0))
    torch.testing.assert_close(to_map(a, "signed"), 2 * a[:, :1])


def test_bad_input_raises_clear_errors(tiny):
    clf, cae, bank, x = tiny
    with pytest.raises(ValueError, match="unknown saliency method"):
        explain("smoothgrad", clf, x)
    with pytest.raises(ValueError, match="unsqueeze"):
        explain("saliency", clf, x[0])
    with pytest.raises(ValueError, match="NaN"):
        explain("saliency", clf, x.clone().fill_(float("nan")))
    with pytest.raises(ValueError, match="n_steps"):
        explain("saliency", clf, x, n_steps=3)
    with pytest.raises(ValueError, match="outside"):
        explain("saliency", clf, x, target=7)
    with pytest.raises(ValueError, match="one class per image"):
        explain("saliency", clf, x, target=[0, 1])
    with pytest.raises(ValueError, match="cae="):
        explain("cae", clf, x, bank=bank)
    with pytest.raises(ValueError, match="bank="):
        explain("cae-path", clf, x, cae=cae)
    with pytest.raises(ValueError, match="nn.Module"):
        explain("deeplift", lambda z: clf(z), x)
    with pytest.raises(ValueError, match="layer="):
        explain("gradcam", Linear(1, 16, 16), x)


def test_the_default_baseline_is_the_blurred_image():
    from caelib.saliency_path import gaussian_blur

    model = Linear().eval()
    x = torch.rand(4, 2, 8, 8, generator=torch.Generator().manual_seed(3)) * 2 - 1
    t = torch.tensor([0, 1, 2, 1])
    w = model.fc.weight[t].detach().view(4, 2, 8, 8)
    base = gaussian_blur(x, 4.0)
    torch.testing.assert_close(saliency.replacement(saliency.Blurred(4.0), x), base)
    torch.testing.assert_close(saliency.replacement(0.5, x), torch.full_like(x, 0.5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ig = explain("integrated-gradients", model, x, t, n_steps=4)               # exact for a linear model
    torch.testing.assert_close(ig, (w * (x - base)).abs().sum(1, keepdim=True), atol=1e-5, rtol=1e-4)
