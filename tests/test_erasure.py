"""The class eraser of the individual code (caelib.erasure): what it guarantees, what it keeps, how it
is fitted in training and loaded from checkpoints, and what it does to the shipped lesions CAE."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

import caelib
from caelib import manifold
from caelib.cae import CAE, CAEConfig
from caelib.data import load_dataset
from caelib.erasure import ClassEraser, raw_indiv_codes
from caelib.train import TrainConfig, train_cae

TINY = CAEConfig(width=4, n_res=1, mlp_dim=16, class_dim=4, disc_width=4, num_classes=2)


def _shifted_codes(n=600, dim=40, k=3, seed=0):
    """Gaussian codes whose classes differ by a mean shift: linearly readable before erasure."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % k
    shifts = torch.randn(k, dim, generator=g) * 1.5
    return torch.randn(n, dim, generator=g) + shifts[labels], labels


def test_an_unfitted_eraser_is_the_identity():
    eraser = ClassEraser(12, 3)
    x = torch.randn(5, 3, 2, 2)
    assert not eraser.fitted and eraser(x) is x


def test_erased_codes_have_equal_class_means_and_no_linear_probe_reads_them():
    codes, labels = _shifted_codes()
    eraser = ClassEraser(40, 3).fit(codes[:400], labels[:400])
    basis = eraser.basis
    assert basis.shape == (40, 2) and torch.allclose(basis.T @ basis, torch.eye(2), atol=1e-5)
    erased = eraser(codes)
    means = torch.stack([erased[:400][labels[:400] == c].mean(0) for c in range(3)])
    assert (means - means.mean(0)).abs().max() < 1e-4         # equal on the codes it was fitted on
    raw = manifold.linear_probe_accuracy(codes[:400], labels[:400], codes[400:], labels[400:])
    after = manifold.linear_probe_accuracy(erased[:400], labels[:400], erased[400:], labels[400:])
    assert raw > 0.95 and after < 0.45, (raw, after)          # chance: 1/3
    # only the K - 1 directions go: what is orthogonal to them is untouched
    other = torch.randn(7, 40)
    other = other - (other @ basis) @ basis.T
    assert torch.allclose(eraser(other), other, atol=1e-5)


def test_fitting_needs_every_class_and_the_right_size():
    codes, labels = _shifted_codes(k=3)
    with pytest.raises(ValueError, match="each of the 3 classes"):
        ClassEraser(40, 3).fit(codes[labels < 2], labels[labels < 2])
    with pytest.raises(ValueError, match="codes of 30 numbers"):
        ClassEraser(30, 3).fit(codes, labels)


def test_weights_saved_before_the_eraser_load_as_the_same_model():
    torch.manual_seed(0)
    cae = CAE(TINY).eval()
    old = {k: v for k, v in cae.state_dict().items() if not k.startswith("indiv_eraser")}
    fresh = CAE(TINY).eval()
    fresh.load_state_dict(old)
    x = torch.rand(3, 1, 32, 32) * 2 - 1
    assert not fresh.indiv_eraser.fitted
    assert torch.equal(fresh.encode(x)[1], cae.encode(x)[1])
    with pytest.raises(RuntimeError, match="Unexpected key"):
        fresh.load_state_dict({**old, "not_a_weight": torch.zeros(1)})


def _tiny_data(n=64):
    return load_dataset("digits", "train", classes=(0, 1)).subset(range(n))


def test_training_fits_the_eraser_then_adapts_and_resumes_exactly(tmp_path):
    ds = _tiny_data()
    tc = TrainConfig(steps=4, erase_steps=3, batch_size=8)
    straight = train_cae(ds, TINY, tc, progress=False)
    assert straight.step == 7 and straight.cae.indiv_eraser.fitted
    raw = raw_indiv_codes(straight.cae, ds.images)
    means = torch.stack([straight.cae.indiv_eraser(raw[ds.labels == c]).mean(0) for c in (0, 1)])
    assert (means[0] - means[1]).abs().max() < 1e-4     # fitted at the end, on these training images
    path = tmp_path / "cae.pt"
    train_cae(ds, TINY, tc, checkpoint=path, progress=False, stop_at=5)   # stopped inside the eraser phase
    resumed = train_cae(ds, TINY, tc, checkpoint=path, progress=False)
    for (k, a), (_, b) in zip(straight.cae.state_dict().items(), resumed.cae.state_dict().items()):
        assert torch.equal(a, b), k
    off = train_cae(ds, TINY, replace(tc, erase_class=False, erase_steps=0), progress=False)
    assert off.step == 4 and not off.cae.indiv_eraser.fitted


def test_the_shipped_lesions_cae_hides_the_class_from_a_linear_probe():
    m = caelib.pretrained("lesions")
    assert m.cae.indiv_eraser.fitted
    tr, te = load_dataset("lesions", "train"), load_dataset("lesions", "test")
    g = torch.Generator().manual_seed(0)
    itr, ite = torch.randperm(len(tr), generator=g)[:1000], torch.randperm(len(te), generator=g)[:500]
    rep = manifold.code_space_report(m.cae, tr.images[itr], tr.labels[itr], te.images[ite], te.labels[ite])
    # measured: 0.516 erased against 0.798 before erasure, chance 0.504
    assert rep["individual code"]["probe"] < rep["chance"] + 0.05
    assert rep["individual code before erasure"]["probe"] > rep["chance"] + 0.2
    assert rep["class code"]["probe"] > 0.95


def test_fitting_in_batches_gives_the_basis_of_one_fit_on_all_codes():
    from caelib.erasure import fit_indiv_eraser

    torch.manual_seed(0)
    cae = CAE(replace(TINY, num_classes=3)).eval()
    images = torch.rand(90, 1, 32, 32) * 2 - 1
    labels = torch.arange(90) % 3
    whole = ClassEraser(cae.indiv_eraser.basis.shape[0], 3).fit(raw_indiv_codes(cae, images), labels)
    fit_indiv_eraser(cae, images, labels, batch_size=16)             # 6 batches, class sums added up
    a, b = cae.indiv_eraser.basis, whole.basis
    assert torch.allclose(a @ a.T, b @ b.T, atol=1e-5)                # the same projection (signs may differ)
    with pytest.raises(ValueError, match=r"labels must lie in 0\.\.2"):
        whole.fit(raw_indiv_codes(cae, images), labels + 1)
