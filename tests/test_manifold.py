"""The class-code manifold: the PCA plane and its inverse, decision maps with a known answer, smoothness,
and the measures of the code spaces on codes whose structure is known."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from torch import nn

from caelib import manifold
from caelib.cae import CAE, CAEConfig


class BrightnessCAE(nn.Module):
    """A stand-in CAE whose decoded image is uniformly tanh(class_code[0]) (individual code ignored)."""

    def decode(self, indiv_code, class_code):
        return torch.tanh(class_code[:, :1, None, None]).expand(-1, 1, 8, 8)


class BrightnessClassifier(nn.Module):
    """Class 1 for bright images, class 0 for dark ones."""

    def forward(self, x):
        m = x.mean(dim=(1, 2, 3)) * 20
        return torch.stack([-m, m], dim=1)


def test_plane_matches_sklearn_pca_and_inverts():
    from sklearn.decomposition import PCA

    codes = torch.randn(200, 5, generator=torch.Generator().manual_seed(0)) * torch.tensor([5, 2, 1, 0.5, 0.1])
    plane = manifold.fit_plane(codes)
    pts = plane.project(codes)
    ref = PCA(2).fit(codes.double().numpy())
    assert pts.shape == (200, 2)
    assert np.allclose(pts.numpy(), ref.transform(codes.double().numpy()), atol=1e-4)
    assert plane.explained[0] > plane.explained[1] > 0
    p = torch.randn(7, 2)
    assert torch.allclose(plane.project(plane.lift(p)), p, atol=1e-5)  # lift then project is the identity
    with pytest.raises(ValueError, match=r"\(N, 5\)"):
        plane.project(codes[:, :3])
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        plane.lift(torch.zeros(3, 3))


def test_decision_map_known_answer():
    plane = manifold.Plane(mean=torch.zeros(4), components=torch.eye(2, 4), explained=(0.5, 0.5))
    xs, ys = torch.linspace(-1, 1, 5), torch.linspace(-2, 2, 3)
    dmap = manifold.decision_map(BrightnessCAE(), BrightnessClassifier(), torch.zeros(1, 2, 2, 2), plane, xs, ys)
    assert dmap.probs.shape == (3, 5, 2) and dmap.images.shape == (3, 5, 1, 8, 8)
    assert torch.allclose(dmap.probs.sum(-1), torch.ones(3, 5), atol=1e-6)
    # PC 1 (the x axis) is the first class-code number, which sets the brightness: class 1 right of 0
    assert dmap.decision.tolist() == [[0, 0, 0, 1, 1]] * 3
    assert dmap.confidence[0, 2] == pytest.approx(0.5) and dmap.confidence[0, 0] > 0.99
    assert torch.allclose(dmap.images[1, 4], torch.full((1, 8, 8), float(np.tanh(1.0))))


def test_decision_map_with_a_real_cae_and_one_indiv_code():
    torch.manual_seed(0)
    cfg = CAEConfig(image_size=16, width=4, n_res=1, mlp_dim=16, class_dim=4, num_classes=3)
    cae = CAE(cfg).eval()
    clf = nn.Sequential(nn.Flatten(), nn.Linear(256, 3))
    x = torch.rand(20, 1, 16, 16) * 2 - 1
    codes, indiv = cae.encode(x)
    plane = manifold.fit_plane(codes.detach())
    xs, ys = manifold.grid_axes(plane.project(codes.detach()), n=6)
    assert xs.shape == ys.shape == (6,) and xs[0] < plane.project(codes.detach())[:, 0].min()
    dmap = manifold.decision_map(cae, clf, indiv[0].detach(), plane, xs, ys)  # (Ci, h, w) is accepted
    assert dmap.probs.shape == (6, 6, 3) and dmap.images.shape == (6, 6, 1, 16, 16)
    with pytest.raises(ValueError, match="one individual code"):
        manifold.decision_map(cae, clf, indiv[:2].detach(), plane, xs, ys)


def test_grid_smoothness():
    i, j = torch.meshgrid(torch.arange(4.0), torch.arange(4.0), indexing="ij")
    ramp = ((i + j) / 16).reshape(4, 4, 1, 1, 1).expand(4, 4, 1, 2, 2)  # smooth: every step is 1/16
    flat = manifold.grid_smoothness(torch.zeros(4, 4, 1, 2, 2))
    smooth = manifold.grid_smoothness(ramp)
    jumpy = ramp.clone()
    jumpy[:, 2:] += 1.0                                                         # a cliff between columns 1 and 2
    cliff = manifold.grid_smoothness(jumpy)
    assert flat["mean_step"] == 0
    assert smooth["jump_ratio"] == pytest.approx(1) and smooth["mean_step"] == pytest.approx(1 / 16)
    assert cliff["jump_ratio"] == pytest.approx(17)
    assert cliff["max_step"] == pytest.approx(1 + 1 / 16)
    with pytest.raises(ValueError, match="ny, nx"):
        manifold.grid_smoothness(torch.zeros(4, 1, 2, 2))


def clustered(n: int, seed: int):
    """Class codes in 3 tight clusters, and 'individual codes' that are noise unrelated to the class."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 3
    centres = torch.tensor([[5.0, 0, 0], [0, 5.0, 0], [0, 0, 5.0]])
    return centres[labels] + 0.3 * torch.randn(n, 3, generator=g), torch.randn(n, 2, 3, 3, generator=g), labels


def test_code_measures_separate_class_codes_from_noise():
    cls_tr, ind_tr, y_tr = clustered(150, 0)
    cls_te, ind_te, y_te = clustered(60, 1)
    assert manifold.knn_accuracy(cls_tr, y_tr, cls_te, y_te) == 1.0
    assert manifold.linear_probe_accuracy(cls_tr, y_tr, cls_te, y_te) == 1.0
    assert manifold.silhouette(cls_te, y_te) > 0.7
    assert manifold.knn_accuracy(ind_tr, y_tr, ind_te, y_te) < 0.6            # chance is 1/3
    assert manifold.linear_probe_accuracy(ind_tr, y_tr, ind_te, y_te) < 0.6
    assert abs(manifold.silhouette(ind_te, y_te)) < 0.1


def test_linear_probe_reads_one_informative_number_among_noise():
    """A class hidden in one of 100 noisy numbers (best possible accuracy 0.98): both probes find it."""
    from sklearn.linear_model import LogisticRegression

    g = torch.Generator().manual_seed(0)
    y = torch.arange(400) % 2
    codes = torch.randn(400, 100, generator=g)
    codes[:, 7] += 2.0 * (2 * y - 1)                                    # class 0 at -2, class 1 at +2
    tr, te = slice(0, 300), slice(300, 400)
    assert manifold.linear_probe_accuracy(codes[tr], y[tr], codes[te], y[te]) > 0.9
    logistic = manifold.linear_probe_accuracy(codes[tr], y[tr], codes[te], y[te],
                                              probe=LogisticRegression(max_iter=500))
    assert logistic > 0.9
    noise = manifold.linear_probe_accuracy(codes[tr, 8:], y[tr], codes[te, 8:], y[te])  # without number 7
    assert noise < 0.7


def test_code_space_report_keys_and_ranges():
    torch.manual_seed(0)
    cae = CAE(CAEConfig(image_size=16, width=4, n_res=1, mlp_dim=16, class_dim=4, num_classes=2)).eval()
    x, y = torch.rand(40, 1, 16, 16) * 2 - 1, torch.arange(40) % 2
    report = manifold.code_space_report(cae, x[:30], y[:30], x[30:], y[30:], k=3)
    assert set(report) == {"class code", "individual code", "pixels", "chance"} and report["chance"] == 0.5
    assert report["pixels"]["knn"] == manifold.knn_accuracy(x[:30], y[:30], x[30:], y[30:], k=3)
    for name in ("class code", "individual code", "pixels"):
        assert set(report[name]) == {"knn", "silhouette", "probe"}
        assert 0 <= report[name]["knn"] <= 1 and -1 <= report[name]["silhouette"] <= 1
        assert 0 <= report[name]["probe"] <= 1


def test_tsne_and_optional_umap():
    codes, _, _ = clustered(40, 0)
    z = manifold.tsne_2d(codes, perplexity=5)
    assert z.shape == (40, 2) and np.isfinite(z).all()
    if importlib.util.find_spec("umap") is None:
        with pytest.raises(ImportError, match="pip install umap-learn"):
            manifold.umap_2d(codes)
